"""Labels: what happened after a cutoff. Silence, churn.

Features at cutoff t read events with ts < t; labels read only the window
**[t, t + h)** that follows it. The two never overlap and leave no gap (an event
exactly at t belongs to the label window), so a label can never leak into a
feature of the same cutoff. Labels are made for the members present at t, by the
same population rule as the features (:mod:`shequn_ml.features.snapshots`).

Silence (沉默)
    1 when the member makes no speaking event (message, reply, post, question,
    answer, check-in) in the window. A member who leaves during the window and
    says nothing before leaving counts as silent: at scoring time nobody knows
    who will leave, and an operator wants both. By default only members who spoke
    in the ``active_window_days`` before t are labelled ("active members going
    quiet"); ``population="all"`` labels every present member, including lurkers
    who were silent already; ``population="silent"`` labels only those already
    silent (no speaking event in the look-back, still in the group): for them
    ``1 - silence`` is re-activation (they speak again in the window), what the
    operator's re-activation score predicts.

Churn (流失)
    1 when the member leaves (退群) or is removed in the window, or when a paid
    membership runs out in it and is not renewed within ``grace_days``. The
    expiry is point in time: the latest ``join`` or ``renew`` before t plus the
    group's ``term_days``. Only expiries with ``expiry + grace_days`` inside the
    window are judged, so the label reads nothing after t + h.

Examples
--------
>>> import pandas as pd
>>> from shequn_ml.io import read_events
>>> ev = read_events(pd.DataFrame({
...     "ts": ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-12", "2024-01-13"],
...     "group_id": "g", "member_id": ["a", "a", "b", "b", "a"],
...     "event_type": ["join", "message", "message", "message", "leave"]}))
>>> silence_labels(ev, "2024-01-10", horizon_days=7)[["member_id", "silence"]].values.tolist()
[['a', 1], ['b', 0]]
>>> churn_labels(ev, "2024-01-10", horizon_days=7)[["member_id", "churn"]].values.tolist()
[['a', 1], ['b', 0]]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from shequn_ml import schema
from shequn_ml.features.snapshots import DAY_NS, EventHistory, Snapshot, as_cutoffs

KEY = ["group_id", "member_id", "cutoff"]
Population = Literal["active", "all", "silent"]
POPULATIONS = ("active", "all", "silent")


def _window(history: EventHistory, snap: Snapshot, horizon_days: float) -> tuple[slice, np.ndarray]:
    """Events in [t, t + h) and the population row of each actor (-1 if not present at t)."""
    if horizon_days <= 0:
        raise ValueError(f"horizon_days must be a positive number of days, got {horizon_days}")
    lo = snap.n_events
    hi = int(np.searchsorted(history.ts, snap.cutoff_ns + int(horizon_days * DAY_NS), side="left"))
    sl = slice(lo, hi)
    keys = history.g[sl].astype(np.int64) * history.n_members + history.m[sl]
    return sl, snap.key_index.get_indexer(keys)


def _check_history(events: pd.DataFrame | EventHistory, members, groups) -> EventHistory:
    if isinstance(events, EventHistory):
        return events
    return EventHistory(events, members=members, groups=groups)


def silence_labels(
    events: pd.DataFrame | EventHistory,
    cutoffs: object | Sequence[object],
    horizon_days: float,
    *,
    population: Population = "active",
    active_window_days: float = 30,
    members: pd.DataFrame | None = None,
    groups: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Silence labels: no speaking event in [t, t + horizon).

    Parameters
    ----------
    events : DataFrame or EventHistory
        Normalised events (or an :class:`EventHistory` already built on them).
    cutoffs : timestamp or sequence
        Required cutoffs t.
    horizon_days : float
        Window length h in days.
    population : {"active", "all", "silent"}, default "active"
        "active" labels only members who spoke in the ``active_window_days``
        before t; "all" labels every member present at t; "silent" only those
        present who did not speak in it (re-activation is ``1 - silence``).
    active_window_days : float, default 30
        Look-back that defines "active" (read from before t, like a feature).
    members, groups : DataFrame, optional
        Side tables, for members who joined without acting.

    Returns
    -------
    DataFrame
        ``group_id``, ``member_id``, ``cutoff``, ``silence`` (0/1 int8).
    """
    if population not in POPULATIONS:
        raise ValueError(f"population must be one of {', '.join(map(repr, POPULATIONS))}, "
                         f"got {population!r}")
    history = _check_history(events, members, groups)
    speaking = history.codes_of(schema.SPEAKING_EVENT_TYPES)
    parts = []
    for c in as_cutoffs(cutoffs):
        snap = history.at(c)
        sl, pi = _window(history, snap, horizon_days)
        spoke_after = np.zeros(snap.n, bool)
        hit = np.isin(history.e[sl], speaking) & (pi >= 0)
        spoke_after[pi[hit]] = True
        keep = _in_population(snap, population, active_window_days)
        frame = snap.keys_frame()
        frame["silence"] = (~spoke_after).astype(np.int8)
        parts.append(frame.loc[keep])
    return _finish(parts)


def _in_population(snap: Snapshot, population: Population, active_window_days: float) -> np.ndarray:
    """Rows of the snapshot's population that the silence label is defined for."""
    if population == "all":
        return np.ones(snap.n, bool)
    active = snap.count(snap.mask(schema.SPEAKING_EVENT_TYPES, active_window_days)) > 0
    return ~active if population == "silent" else active


def silence_population(
    events: pd.DataFrame | EventHistory,
    cutoffs: object | Sequence[object],
    *,
    population: Population = "active",
    active_window_days: float = 30,
    members: pd.DataFrame | None = None,
    groups: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Who the silence label (and so the silence model) is defined for at each cutoff.

    Reads only events before the cutoff, so scoring can use it: the same rule as
    :func:`silence_labels`, without the label.

    Returns
    -------
    DataFrame
        ``group_id``, ``member_id``, ``cutoff`` of every present member and
        ``in_population`` (bool).

    Examples
    --------
    >>> import pandas as pd
    >>> from shequn_ml.io import read_events
    >>> ev = read_events(pd.DataFrame({
    ...     "ts": ["2024-01-01", "2024-01-02", "2024-01-09"], "group_id": "g",
    ...     "member_id": ["a", "a", "b"], "event_type": ["message", "join", "join"]}))
    >>> silence_population(ev, "2024-01-10")[["member_id", "in_population"]].values.tolist()
    [['a', True], ['b', False]]
    """
    if population not in POPULATIONS:
        raise ValueError(f"population must be one of {', '.join(map(repr, POPULATIONS))}, "
                         f"got {population!r}")
    history = _check_history(events, members, groups)
    parts = []
    for c in as_cutoffs(cutoffs):
        snap = history.at(c)
        frame = snap.keys_frame()
        frame["in_population"] = _in_population(snap, population, active_window_days)
        parts.append(frame)
    return _finish(parts)


def churn_labels(
    events: pd.DataFrame | EventHistory,
    cutoffs: object | Sequence[object],
    horizon_days: float,
    *,
    grace_days: float = 7,
    members: pd.DataFrame | None = None,
    groups: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Churn labels: exit in [t, t + horizon), or a paid term that lapses in it.

    Parameters
    ----------
    events : DataFrame or EventHistory
        Normalised events (or an :class:`EventHistory`).
    cutoffs : timestamp or sequence
        Required cutoffs t.
    horizon_days : float
        Window length h in days.
    grace_days : float, default 7
        A paid member whose term ends at e has until e + grace to renew; only
        terms with e + grace < t + h are judged.
    members, groups : DataFrame, optional
        ``members.paid`` and ``groups.term_days`` enable non-renewal churn.

    Returns
    -------
    DataFrame
        ``group_id``, ``member_id``, ``cutoff``, ``churn`` (0/1 int8) and
        ``churn_reason`` ("left", "removed", "not_renewed" or "").
    """
    history = _check_history(events, members, groups)
    leave = history.codes_of(["leave"])
    removed = history.codes_of(["removed"])
    renew = history.codes_of(["renew"])
    parts = []
    for c in as_cutoffs(cutoffs):
        snap = history.at(c)
        sl, pi = _window(history, snap, horizon_days)
        reason = np.full(snap.n, "", dtype=object)
        e = history.e[sl]
        for codes, why in ((removed, "removed"), (leave, "left")):
            hit = np.isin(e, codes) & (pi >= 0)
            reason[pi[hit]] = why
        lapsed = _lapsed_terms(history, snap, sl, pi, horizon_days, grace_days, renew)
        reason[(reason == "") & lapsed] = "not_renewed"
        frame = snap.keys_frame()
        frame["churn"] = (reason != "").astype(np.int8)
        frame["churn_reason"] = reason.astype(str)
        parts.append(frame)
    return _finish(parts)


def _lapsed_terms(history: EventHistory, snap: Snapshot, sl: slice, pi: np.ndarray,
                  horizon_days: float, grace_days: float, renew: np.ndarray) -> np.ndarray:
    """Paid members whose term (latest join/renew before t + term_days) ends inside the
    window with no renewal by expiry + grace (and expiry + grace before t + h)."""
    expiry_in = snap.days_to_expiry()  # days after t; NaN when not a paid term
    paid = ~np.isnan(expiry_in)
    out = np.zeros(snap.n, bool)
    judged = paid & (expiry_in >= 0) & (expiry_in + grace_days < horizon_days)
    if not judged.any():
        return out
    renewed = np.zeros(snap.n, bool)
    ren = np.flatnonzero(np.isin(history.e[sl], renew) & (pi >= 0))
    age_after = (history.ts[sl][ren] - snap.cutoff_ns) / DAY_NS
    ok = age_after < expiry_in[pi[ren]] + grace_days
    renewed[pi[ren][ok]] = True
    out[judged & ~renewed] = True
    return out


def _finish(parts: list[pd.DataFrame]) -> pd.DataFrame:
    table = pd.concat(parts, ignore_index=True)
    return table.sort_values(KEY, kind="stable").reset_index(drop=True)
