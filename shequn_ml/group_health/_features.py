"""Group-level features at a cutoff t: one row per group that exists at t, read from ts < t.

Every value is a function of one group's events before the cutoff, its members present
then and its row of the groups table. Windows are ``[t - w, t)``: an event ``w`` days or
less before the cutoff is in the ``w``-day window. "Speaking" is
:data:`shequn_ml.schema.SPEAKING_EVENT_TYPES`, by anyone in the group (including members
who have left since), as the group-context family counts it. The meaning of each column
is in :data:`FEATURES`; its reason sentence in :mod:`shequn_ml.group_health._reasons`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from shequn_ml import schema
from shequn_ml.features import group_context
from shequn_ml.features.benefit import GIVEAWAYS
from shequn_ml.features.snapshots import EventHistory, Snapshot, as_cutoffs
from shequn_ml.features.spec import FeatureSpec
from shequn_ml.group_health._common import (
    JOIN_TYPES,
    REPLY_TYPES,
    GroupTable,
    age_days,
    as_history,
    distinct_per_group,
    existing,
)

KEY = ["group_id", "cutoff"]
RECENT, LONG = 7, 28

#: every feature column, with its meaning (the order of the feature table)
FEATURES: dict[str, str] = {
    "speak_events_7d": "speaking events in the group in the last 7 days.",
    "speak_events_28d": "speaking events in the group in the last 28 days.",
    "speak_events_prev_28d": "speaking events in the 28 days before those (days 29-56 before t).",
    "activity_trend_28d": "log1p of the daily speaking rate in the last 28 days minus that of the "
                          "28 days before, each over the part of its window the group existed for "
                          "(0 when the group is younger than 28 days).",
    "speak_per_day_14d": "speaking events per day in the last 14 days (the lifecycle rule's recent "
                         "window, over the days the group existed).",
    "speak_per_day_prev_42d": "speaking events per day in the 42 days before those (the rule's "
                              "baseline window).",
    "activity_trend": "the lifecycle rule's trend: log1p(daily rate, last 14 days) - log1p(daily "
                      "rate, 42 days before), 0 for a group younger than 14 days "
                      "(shequn_ml.features.group_context.group_activity_trend).",
    "speakers_7d": "distinct members who spoke in the group in the last 7 days.",
    "speakers_28d": "distinct members who spoke in the group in the last 28 days.",
    "speakers_prev_28d": "distinct members who spoke in the 28 days before those.",
    "speaker_trend_28d": "log((speakers_28d + 1) / (speakers_prev_28d + 1)); 0 when the group is "
                         "younger than 28 days.",
    "joins_28d": "join events in the group in the last 28 days.",
    "exits_28d": "leave and removed events in the group in the last 28 days.",
    "members_present": "members present at the cutoff.",
    "capacity_use": "members present over the group's cap (groups table capacity, else 500).",
    "newcomer_share": "share of present members who entered less than 14 days ago.",
    "active_share_28d": "share of present members who spoke in the last 28 days.",
    "median_member_days_since_speak": "median over present members of the days since they last "
                                      "spoke (their tenure when they never did).",
    "speak_per_member_28d": "speaking events in 28 days per member present.",
    "reply_share_28d": "share of the 28-day speaking events that are replies or answers to someone "
                       "(0 with none).",
    "top_speaker_share_28d": "share of the 28-day speaking events made by the group's most active "
                             "member (0 with none).",
    "days_since_group_speak": "days since the group's last speaking event (age + 1 with none).",
    "days_since_benefit": "days since the last red packet sent or coupon claimed (age + 1 with none).",
    "benefit_events_28d": "red packets sent and coupons claimed in the last 28 days.",
    "days_since_activity": "days since the last activity sign-up or offline attendance (age + 1 "
                           "with none).",
    "activity_events_28d": "activity sign-ups and offline attendances in the last 28 days.",
    "age_days": "days since the group started: the earliest of created_at, its first event and "
                "its earliest present member's entry.",
    "paid_group": "1 for a paid group (groups table kind 'paid'), 0 for another kind, missing when "
               "unknown.",
    "lifecycle_stage": "the existing lifecycle rule (shequn_ml.features.group_context."
                       "lifecycle_stage): 0 honeymoon 恋爱期, 1 doubt 质疑期, 2 breakup 分手期.",
}
FEATURE_NAMES: list[str] = list(FEATURES)


def _count(g: np.ndarray, n: int, weights: np.ndarray | None = None) -> np.ndarray:
    return np.bincount(g, weights=weights, minlength=n).astype(float)


def _rate_trend(n_recent: np.ndarray, n_base: np.ndarray, age: np.ndarray, recent: float,
                base: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Daily rates of two consecutive windows (each over the days the group existed, at least
    one) and ``log1p(recent) - log1p(base)`` (0 with no baseline days), as group_context."""
    age = np.nan_to_num(age, nan=0.0)
    days_recent = np.clip(age, 0, recent)
    days_base = np.clip(age - recent, 0, base)
    r_recent = n_recent / np.maximum(days_recent, 1.0)
    r_base = n_base / np.maximum(days_base, 1.0)
    trend = np.where(days_base > 0, np.log1p(r_recent) - np.log1p(r_base), 0.0)
    return r_recent, r_base, trend


def _since(snap: Snapshot, types: frozenset[str] | tuple[str, ...], n: int,
           fill: np.ndarray) -> np.ndarray:
    """Days since each group's latest event of ``types`` (``fill`` where there is none)."""
    sel = np.flatnonzero(snap.history.type_lookup(types)[snap.ev_e])
    out = fill.copy()
    if len(sel):
        g = snap.ev_g[sel][::-1]  # latest first
        codes, first = np.unique(g, return_index=True)
        out[codes] = snap.ev_age[sel][::-1][first]
    return out


def features_at(snap: Snapshot, table: GroupTable) -> pd.DataFrame:
    """The feature table of one snapshot: ``group_id``, ``cutoff`` and :data:`FEATURE_NAMES`,
    one row per group existing at the cutoff (in group-code order)."""
    h = snap.history
    n = len(h.group_categories)
    spec = snap.spec
    g_all, e_all, age_all = snap.ev_g, snap.ev_e, snap.ev_age
    speak_lut = h.type_lookup(schema.SPEAKING_EVENT_TYPES)
    pop_g = snap.population["g"].to_numpy()
    present = _count(pop_g, n)
    age = age_days(table, snap)
    f: dict[str, np.ndarray] = {}

    def window(lo_days: float | None, hi_days: float) -> slice:
        """Events with lo < age <= hi (``lo`` None: from the cutoff back to ``hi``)."""
        start = snap.window_start(hi_days)
        stop = snap.n_events if lo_days is None else snap.window_start(lo_days)
        return slice(start, stop)

    def speaking(sl: slice) -> np.ndarray:
        return np.flatnonzero(speak_lut[e_all[sl]]) + sl.start

    def speak_count(sl: slice) -> np.ndarray:
        return _count(g_all[speaking(sl)], n)

    def speakers(sl: slice) -> np.ndarray:
        idx = speaking(sl)
        return distinct_per_group(g_all[idx], snap.ev_m[idx], h.n_members, n)

    w7, w28, prev28 = window(None, RECENT), window(None, LONG), window(LONG, 2 * LONG)
    f["speak_events_7d"] = speak_count(w7)
    f["speak_events_28d"] = speak_count(w28)
    f["speak_events_prev_28d"] = speak_count(prev28)
    f["activity_trend_28d"] = _rate_trend(f["speak_events_28d"], f["speak_events_prev_28d"], age,
                                          LONG, LONG)[2]
    recent, base = spec.trend_recent_days, spec.trend_baseline_days
    n_recent = speak_count(window(None, recent))
    n_base = speak_count(window(recent, recent + base))
    f["speak_per_day_14d"], f["speak_per_day_prev_42d"], trend = _rate_trend(
        n_recent, n_base, age, recent, base)
    f["activity_trend"] = trend
    f["speakers_7d"] = speakers(w7)
    f["speakers_28d"] = speakers(w28)
    f["speakers_prev_28d"] = speakers(prev28)
    f["speaker_trend_28d"] = np.where(np.nan_to_num(age) > LONG,
                                      np.log1p(f["speakers_28d"]) - np.log1p(f["speakers_prev_28d"]),
                                      0.0)
    join_lut, exit_lut = h.type_lookup(JOIN_TYPES), h.type_lookup(schema.EXIT_EVENT_TYPES)
    f["joins_28d"] = _count(g_all[w28][join_lut[e_all[w28]]], n)
    f["exits_28d"] = _count(g_all[w28][exit_lut[e_all[w28]]], n)
    f["members_present"] = present
    f["capacity_use"] = present / table.capacity
    tenure = snap.tenure_days
    with np.errstate(invalid="ignore", divide="ignore"):
        f["newcomer_share"] = np.where(present > 0, _count(pop_g, n, tenure < group_context.NEWCOMER_DAYS)
                                       / present, np.nan)
    # present members' own speaking: when each last spoke, whether within 28 days
    idx = speaking(slice(0, snap.n_events))
    rows = snap.ev_pi[idx]
    keep = rows >= 0
    last_age = np.full(snap.n, np.inf)
    np.minimum.at(last_age, rows[keep], age_all[idx][keep])
    since = np.where(np.isfinite(last_age), last_age, tenure)
    with np.errstate(invalid="ignore", divide="ignore"):
        f["active_share_28d"] = np.where(present > 0, _count(pop_g, n, last_age <= LONG) / present,
                                         np.nan)
    f["median_member_days_since_speak"] = _group_median(pop_g, since, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        f["speak_per_member_28d"] = f["speak_events_28d"] / np.maximum(present, 1.0)
    idx28 = speaking(w28)
    replies = _count(g_all[idx28][h.type_lookup(REPLY_TYPES)[e_all[idx28]]], n)
    total = f["speak_events_28d"]
    f["reply_share_28d"] = np.divide(replies, total, out=np.zeros(n), where=total > 0)
    f["top_speaker_share_28d"] = _top_share(g_all[idx28], snap.ev_m[idx28], h.n_members, n, total)
    fill = np.nan_to_num(age) + 1.0
    f["days_since_group_speak"] = _since(snap, schema.SPEAKING_EVENT_TYPES, n, fill)
    f["days_since_benefit"] = _since(snap, GIVEAWAYS, n, fill)
    f["benefit_events_28d"] = _count(g_all[w28][h.type_lookup(GIVEAWAYS)[e_all[w28]]], n)
    f["days_since_activity"] = _since(snap, group_context.ACTIVITIES, n, fill)
    f["activity_events_28d"] = _count(
        g_all[w28][h.type_lookup(group_context.ACTIVITIES)[e_all[w28]]], n)
    f["age_days"] = age
    f["paid_group"] = table.is_paid
    # the existing lifecycle rule, on its own inputs (group_context.compute's definitions)
    entered = _count(pop_g, n, tenure < recent)
    exits_recent = _count(g_all[window(None, recent)][exit_lut[e_all[window(None, recent)]]], n)
    quiet = (speak_count(window(None, group_context.QUIET_DAYS)) == 0) \
        & (np.nan_to_num(age) >= group_context.QUIET_DAYS)
    f["lifecycle_stage"] = group_context.lifecycle_stage(trend, quiet, entered > exits_recent)

    rows_out = np.flatnonzero(existing(table, snap, present))
    frame = pd.DataFrame({"group_id": table.names[rows_out]})
    frame["cutoff"] = pd.DatetimeIndex([snap.cutoff] * len(rows_out), tz="UTC") if len(rows_out) \
        else pd.DatetimeIndex([], tz="UTC")
    for name in FEATURE_NAMES:
        frame[name] = f[name][rows_out].astype(float)
    return frame


def _group_median(g: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    out = np.full(n, np.nan)
    if len(g):
        s = pd.Series(values).groupby(g).median()
        out[s.index.to_numpy()] = s.to_numpy()
    return out


def _top_share(g: np.ndarray, m: np.ndarray, n_members: int, n: int, total: np.ndarray) -> np.ndarray:
    """Share of each group's events made by its single most active member."""
    out = np.zeros(n)
    if len(g):
        keys, counts = np.unique(g.astype(np.int64) * n_members + m, return_counts=True)
        top = np.zeros(n)
        np.maximum.at(top, (keys // n_members).astype(np.int64), counts.astype(float))
        np.divide(top, total, out=out, where=total > 0)
    return out


def group_features(
    events: pd.DataFrame | EventHistory,
    cutoffs: object | Sequence[object],
    *,
    members: pd.DataFrame | None = None,
    groups: pd.DataFrame | None = None,
    spec: FeatureSpec | None = None,
) -> pd.DataFrame:
    """Group-level features at each cutoff, from events before it only.

    Parameters
    ----------
    events : DataFrame or EventHistory
        Normalised events (:func:`shequn_ml.io.read_events`) or a history built on them.
    cutoffs : timestamp or sequence
        Required cutoffs t; features read only events with ts < t.
    members, groups : DataFrame, optional
        Normalised side tables (join dates of members who never acted; created_at,
        capacity and kind of each group). Ignored when ``events`` is a history.
    spec : FeatureSpec, optional
        Only its trend windows are read (``trend_recent_days``, ``trend_baseline_days``),
        so that ``lifecycle_stage`` and ``activity_trend`` are the group-context family's.

    Returns
    -------
    DataFrame
        One row per (group_id, cutoff) of every group existing at the cutoff (created
        before it, or with an event or a member before it), sorted by cutoff and group;
        ``group_id`` (str), ``cutoff`` and one float column per :data:`FEATURES` entry.

    Examples
    --------
    >>> import pandas as pd
    >>> from shequn_ml.io import read_events
    >>> ev = read_events(pd.DataFrame({
    ...     "ts": ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-20"],
    ...     "group_id": ["g", "g", "g", "h"], "member_id": ["a", "a", "b", "c"],
    ...     "event_type": ["join", "message", "answer", "message"]}))
    >>> f = group_features(ev, "2024-01-10")
    >>> f[["group_id", "speak_events_28d", "speakers_28d", "reply_share_28d"]].values.tolist()
    [['g', 2.0, 2.0, 0.5]]
    """
    history = as_history(events, members, groups)
    spec = spec or FeatureSpec()
    table = GroupTable(history)
    parts = [features_at(history.at(c, spec), table) for c in as_cutoffs(cutoffs)]
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(KEY, kind="stable").reset_index(drop=True)
