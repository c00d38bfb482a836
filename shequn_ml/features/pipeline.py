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


def family_frames(snap: Snapshot) -> list[pd.DataFrame]:
    """Each family of ``snap.spec`` at one snapshot, one row per population row."""
    parts = []
    for family in snap.spec.families:
        part = family_function(family)(snap)
        if len(part) != snap.n:
            raise AssertionError(f"family {family} returned {len(part)} rows for {snap.n} members")
        parts.append(part.reset_index(drop=True))
    return parts


def features_at(snap: Snapshot) -> pd.DataFrame:
    """All families of ``snap.spec`` at one snapshot, keyed by (group_id, member_id, cutoff)."""
    return pd.concat([snap.keys_frame(), *family_frames(snap)], axis=1)


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
            "is in {value} [group|groups]", "同时在{value}个群")


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
    history: EventHistory | None = None,
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
    history : EventHistory, optional
        ``EventHistory(events, members=members, groups=groups)`` if the caller has
        already built it (the batch job shares one between its steps); built here
        otherwise.

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
    if history is None:
        history = EventHistory(events, members=members, groups=groups)
    cuts = as_cutoffs(cutoffs)
    iterator = cuts
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(cuts, desc="features", unit="cutoff")
    # the populations first: they fix the rows and their sorted order, so that each cutoff's
    # values go straight to their place in the result (no per-cutoff copies to concatenate)
    codes = []
    for i, c in enumerate(cuts):
        g, m = history.population_codes(c)
        codes.append((g, m, np.full(len(g), i)))
    history.memberships.drop_entry_exit()  # every population is known: free what found them
    order = _key_order(history, codes)
    at = np.empty(len(order), np.int64)  # sorted position of each row of the concatenation
    at[order] = np.arange(len(order))
    cross = "relationship" in spec.families
    values, names, keys, start = None, [], [], 0
    for c in iterator:
        snap = history.at(c, spec)
        parts = family_frames(snap)
        if values is None:
            names = [col for part in parts for col in part.columns]
            values = np.empty((len(order), len(names) + cross))
        block = np.empty((snap.n, len(names)))  # this cutoff's values, then to their sorted rows
        j = 0
        for part in parts:
            block[:, j:j + part.shape[1]] = part.to_numpy(dtype=np.float64)
            j += part.shape[1]
        del parts
        values[at[start:start + snap.n], :len(names)] = block  # whole rows: about 3x faster per part
        keys.append(snap.keys_frame())
        start += snap.n
        del snap, block  # before the next snapshot is built: one at a time in memory
    if cross:
        define_cross_group()
        names.append("groups_in")
        values[at, -1] = _groups_in(history, codes)
    key_table = pd.concat(keys, ignore_index=True).take(order).reset_index(drop=True)
    return pd.concat([key_table, pd.DataFrame(values, columns=names, copy=False)], axis=1)


def _groups_in(history: EventHistory, codes: list[tuple[np.ndarray, ...]]) -> np.ndarray:
    """Groups each row's member is in at its cutoff (rows in concatenation order), as
    :func:`add_cross_group_features` counts them."""
    if not codes:
        return np.zeros(0)
    _, m, cut = (np.concatenate(parts) for parts in zip(*codes, strict=True))
    _, inverse, counts = np.unique(cut.astype(np.int64) * history.n_members + m, return_inverse=True,
                                   return_counts=True)
    return counts[inverse].astype(float)


def _key_order(history: EventHistory, codes: list[tuple[np.ndarray, ...]]) -> np.ndarray:
    """The row order of ``sort_values(KEY, kind="stable")`` on the concatenated tables.

    The id columns hold text, so they sort as text: each category's rank among the
    categories sorted the same way, then one integer ``lexsort`` (stable) instead of
    a sort on strings.
    """
    if not codes:
        return np.zeros(0, np.int64)
    g, m, cut = (np.concatenate(parts) for parts in zip(*codes, strict=True))
    return np.lexsort((cut, _text_rank(history.member_categories)[m],
                       _text_rank(history.group_categories)[g]))


def _text_rank(categories: pd.Index) -> np.ndarray:
    """Rank of each category when its text is sorted (as the table's text column sorts)."""
    text = pd.Series(np.asarray(categories.astype(str), dtype=object))
    rank = np.empty(len(text), np.int64)
    rank[text.sort_values(kind="stable").index.to_numpy()] = np.arange(len(text))
    return rank


def feature_columns(table: pd.DataFrame) -> list[str]:
    """The feature columns of a feature table (everything but the key)."""
    return [c for c in table.columns if c not in KEY]
