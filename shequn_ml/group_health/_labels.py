"""The group-death label: a group goes silent, or loses most of its speakers, over [t, t + h).

Definition
----------
For a cutoff t and a horizon h (days), with *speaking* the event types of
:data:`shequn_ml.schema.SPEAKING_EVENT_TYPES` by anyone in the group:

* **population**: the groups that exist at t (created before it in the groups table, or
  with an event or a present member before it) and have at least one speaking event in
  ``[t - h, t)``. A group already silent is not asked whether it will die.
* ``speakers_before``: distinct members with a speaking event in the group in
  ``[t - h, t)``; ``speakers_after``: the same in ``[t, t + h)`` (anyone, including members
  who join after t); ``speaking_events_after``: speaking events in ``[t, t + h)``.
* **label** ``group_death`` = 1 when the group has no speaking event in ``[t, t + h)``
  (``reason = "silent"``), or when ``speakers_after < (1 - loss_share) * speakers_before``
  (``reason = "speakers_fell"``: with the default ``loss_share = 0.5``, it lost more than
  half of its speaking members); else 0.

The label reads only ``[t, t + h)`` (the counts before t decide the population and the
threshold, as a feature would): an event at or after ``t + h`` never changes it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from shequn_ml import schema
from shequn_ml.features.snapshots import DAY_NS, EventHistory, as_cutoffs
from shequn_ml.group_health._common import (
    GroupTable,
    as_history,
    check_horizon,
    distinct_per_group,
    existing,
)

LABEL = "group_death"
LABEL_COLUMNS = ["group_id", "cutoff", LABEL, "reason", "speakers_before", "speakers_after",
                 "speaking_events_before", "speaking_events_after"]


def _check_loss_share(loss_share: float) -> float:
    if not (isinstance(loss_share, int | float) and 0 <= loss_share <= 1):
        raise ValueError(f"loss_share must be a share of speaking members in [0, 1], got {loss_share!r}")
    return float(loss_share)


def _speaking_counts(history: EventHistory, sl: slice, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Speaking events and distinct speakers per group code among the events ``sl``."""
    idx = np.flatnonzero(history.type_lookup(schema.SPEAKING_EVENT_TYPES)[history.e[sl]]) + sl.start
    g = history.g[idx]
    return (np.bincount(g, minlength=n).astype(float),
            distinct_per_group(g, history.m[idx], history.n_members, n))


def group_population(
    events: pd.DataFrame | EventHistory,
    cutoffs: object | Sequence[object],
    *,
    horizon_days: float = 28.0,
    members: pd.DataFrame | None = None,
    groups: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Which groups the label (and so the model) is defined for at each cutoff.

    Reads only events before the cutoff, so scoring can use it: the groups that exist at
    t, with ``in_population`` True when they have a speaking event in ``[t - h, t)``.

    Returns
    -------
    DataFrame
        ``group_id`` (str), ``cutoff``, ``in_population`` (bool), ``speaking_events_before``.

    Examples
    --------
    >>> import pandas as pd
    >>> from shequn_ml.io import read_events
    >>> ev = read_events(pd.DataFrame({
    ...     "ts": ["2024-01-01", "2024-01-09"], "group_id": ["g", "h"],
    ...     "member_id": ["a", "b"], "event_type": ["message", "join"]}))
    >>> group_population(ev, "2024-01-10")[["group_id", "in_population"]].values.tolist()
    [['g', True], ['h', False]]
    """
    h = check_horizon(horizon_days)
    history = as_history(events, members, groups)
    table = GroupTable(history)
    n = len(history.group_categories)
    parts = []
    for c in as_cutoffs(cutoffs):
        snap = history.at(c)
        before, _ = _speaking_counts(history, slice(snap.window_start(h), snap.n_events), n)
        present = np.bincount(snap.population["g"].to_numpy(), minlength=n)
        rows = np.flatnonzero(existing(table, snap, present))
        parts.append(pd.DataFrame({
            "group_id": table.names[rows],
            "cutoff": pd.DatetimeIndex([snap.cutoff] * len(rows), tz="UTC") if len(rows)
            else pd.DatetimeIndex([], tz="UTC"),
            "in_population": before[rows] > 0,
            "speaking_events_before": before[rows].astype(np.int64)}))
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["cutoff", "group_id"], kind="stable").reset_index(drop=True)


def group_health_labels(
    events: pd.DataFrame | EventHistory,
    cutoffs: object | Sequence[object],
    *,
    horizon_days: float = 28.0,
    members: pd.DataFrame | None = None,
    groups: pd.DataFrame | None = None,
    loss_share: float = 0.5,
) -> pd.DataFrame:
    """Group-death labels at each cutoff (see the module docstring for the definition).

    Parameters
    ----------
    events : DataFrame or EventHistory
        Normalised events, or a history built on them.
    cutoffs : timestamp or sequence
        Required cutoffs t.
    horizon_days : float, default 28
        The window h: the label reads ``[t, t + h)``, the population ``[t - h, t)``.
    members, groups : DataFrame, optional
        Side tables (groups: ``created_at``, for groups that exist before their first event).
    loss_share : float, default 0.5
        The group also dies when fewer than ``(1 - loss_share)`` times its speakers of
        ``[t - h, t)`` speak in ``[t, t + h)``.

    Returns
    -------
    DataFrame
        One row per group of the population at each cutoff, sorted by cutoff and group:
        ``group_id`` (str), ``cutoff``, ``group_death`` (0/1 int8), ``reason`` ("silent",
        "speakers_fell" or ""), ``speakers_before``, ``speakers_after``,
        ``speaking_events_before``, ``speaking_events_after`` (int64).

    Raises
    ------
    ValueError
        If ``horizon_days`` is not positive or ``loss_share`` is outside [0, 1].

    Examples
    --------
    >>> import pandas as pd
    >>> from shequn_ml.io import read_events
    >>> ev = read_events(pd.DataFrame({
    ...     "ts": ["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-12", "2024-01-05"],
    ...     "group_id": ["g", "g", "g", "g", "h"], "member_id": ["a", "b", "c", "a", "d"],
    ...     "event_type": ["message", "message", "answer", "message", "post"]}))
    >>> lab = group_health_labels(ev, "2024-01-08", horizon_days=7)
    >>> lab[["group_id", "group_death", "reason", "speakers_before", "speakers_after"]].values.tolist()
    [['g', 1, 'speakers_fell', 3, 1], ['h', 1, 'silent', 1, 0]]
    """
    h = check_horizon(horizon_days)
    share = _check_loss_share(loss_share)
    history = as_history(events, members, groups)
    table = GroupTable(history)
    n = len(history.group_categories)
    parts = []
    for c in as_cutoffs(cutoffs):
        snap = history.at(c)
        before = slice(snap.window_start(h), snap.n_events)
        hi = int(np.searchsorted(history.ts, snap.cutoff_ns + int(h * DAY_NS), side="left"))
        after = slice(snap.n_events, hi)
        ev_before, sp_before = _speaking_counts(history, before, n)
        ev_after, sp_after = _speaking_counts(history, after, n)
        present = np.bincount(snap.population["g"].to_numpy(), minlength=n)
        rows = np.flatnonzero(existing(table, snap, present) & (ev_before > 0))
        silent = ev_after[rows] == 0
        fell = ~silent & (sp_after[rows] < (1.0 - share) * sp_before[rows])
        frame = pd.DataFrame({
            "group_id": table.names[rows],
            "cutoff": pd.DatetimeIndex([snap.cutoff] * len(rows), tz="UTC") if len(rows)
            else pd.DatetimeIndex([], tz="UTC"),
            LABEL: (silent | fell).astype(np.int8),
            "reason": np.where(silent, "silent", np.where(fell, "speakers_fell", "")),
            "speakers_before": sp_before[rows].astype(np.int64),
            "speakers_after": sp_after[rows].astype(np.int64),
            "speaking_events_before": ev_before[rows].astype(np.int64),
            "speaking_events_after": ev_after[rows].astype(np.int64),
        })
        parts.append(frame)
    out = pd.concat(parts, ignore_index=True)[LABEL_COLUMNS]
    return out.sort_values(["cutoff", "group_id"], kind="stable").reset_index(drop=True)
