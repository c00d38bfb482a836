"""``build_features``: the point-in-time feature table at one or many cutoffs.

For each cutoff t the events are cut to ts < t (:class:`~shequn_ml.features.snapshots.Snapshot`),
the population present at t is found, and each family in the spec computes its
columns from that snapshot alone. Every family is a pure function of one group's
events: it groups by (group, member) and never mixes groups, so the same code runs
per group under Spark. The only cross-group signal, how many groups a member is
in, is joined afterwards from the population.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from shequn_ml.features._registry import FeatureDef, catalogue, feature
from shequn_ml.features.snapshots import EventHistory, Snapshot, as_cutoffs
from shequn_ml.features.spec import FeatureSpec

KEY = ["group_id", "member_id", "cutoff"]

FamilyFn = Callable[[Snapshot], pd.DataFrame]


def family_function(family: str) -> FamilyFn:
    """The ``compute(snapshot)`` function of a feature family module."""
    return importlib.import_module(f"shequn_ml.features.{family}").compute


def features_at(snap: Snapshot) -> pd.DataFrame:
    """All families of ``snap.spec`` at one snapshot, keyed by (group_id, member_id, cutoff)."""
    parts = [snap.keys_frame()]
    for family in snap.spec.families:
        part = family_function(family)(snap)
        if len(part) != snap.n:
            raise AssertionError(f"family {family} returned {len(part)} rows for {snap.n} members")
        parts.append(part.reset_index(drop=True))
    return pd.concat(parts, axis=1)


def feature_catalogue(spec: FeatureSpec | None = None) -> dict[str, FeatureDef]:
    """Every feature the spec produces (default spec when omitted), by name, with its
    family, window, meaning and reason templates."""
    spec = spec or FeatureSpec()
    for family in spec.families:
        importlib.import_module(f"shequn_ml.features.{family}").define(spec)
    if "relationship" in spec.families:
        define_cross_group()
    return {k: v for k, v in catalogue().items()}


def define_cross_group() -> None:
    """Register the features joined across groups after the per-group families."""
    feature("groups_in", "relationship", None,
            "number of groups the member is present in at the cutoff (across the community).",
            "is in {value} groups", "同时在{value}个群")


def add_cross_group_features(table: pd.DataFrame) -> pd.DataFrame:
    """Join the signals that need more than one group: groups a member is in at the cutoff."""
    define_cross_group()
    counts = table.groupby(["cutoff", "member_id"], observed=True)["group_id"].transform("size")
    table["groups_in"] = counts.to_numpy(dtype=float)
    return table


def build_features(
    events: pd.DataFrame,
    cutoffs: object | Sequence[object],
    spec: FeatureSpec | None = None,
    *,
    members: pd.DataFrame | None = None,
    groups: pd.DataFrame | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Point-in-time features for every member present at each cutoff.

    Parameters
    ----------
    events : DataFrame
        Normalised events (:func:`shequn_ml.io.read_events`).
    cutoffs : timestamp or sequence of timestamps
        Required: there is no default "now". Features at t read only events with
        ts < t. Use :func:`~shequn_ml.features.snapshots.rolling_cutoffs` for a
        rolling list.
    spec : FeatureSpec, optional
        Families and windows; the default spec when omitted.
    members, groups : DataFrame, optional
        Normalised side tables (paid status, join dates, capacity, term length).
    progress : bool, default False
        Show a progress bar over cutoffs.

    Returns
    -------
    DataFrame
        One row per (group_id, member_id, cutoff) of members present at the
        cutoff, sorted by cutoff, group and member; one float column per feature
        (see ``docs/features.md``).

    Examples
    --------
    >>> import pandas as pd
    >>> from shequn_ml.io import read_events
    >>> ev = read_events(pd.DataFrame({
    ...     "ts": ["2024-01-01", "2024-01-02", "2024-01-09"], "group_id": "g",
    ...     "member_id": ["a", "a", "b"], "event_type": ["join", "message", "message"]}))
    >>> f = build_features(ev, ["2024-01-05", "2024-01-10"])
    >>> f[["member_id", "speak_count_7d", "days_since_speak"]].astype(str).values.tolist()
    [['a', '1.0', '3.0'], ['a', '0.0', '8.0'], ['b', '1.0', '1.0']]
    """
    spec = spec or FeatureSpec()
    history = EventHistory(events, members=members, groups=groups)
    cuts = as_cutoffs(cutoffs)
    iterator = cuts
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(cuts, desc="features", unit="cutoff")
    tables = [features_at(history.at(c, spec)) for c in iterator]
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=KEY)
    if "relationship" in spec.families:
        table = add_cross_group_features(table)
    table = table.sort_values(KEY, kind="stable").reset_index(drop=True)
    value_cols = [c for c in table.columns if c not in KEY]
    table[value_cols] = table[value_cols].astype(np.float64)
    return table


def feature_columns(table: pd.DataFrame) -> list[str]:
    """The feature columns of a feature table (everything but the key)."""
    return [c for c in table.columns if c not in KEY]
