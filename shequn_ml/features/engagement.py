"""Engagement: how much, how recently and how steadily a member speaks.

Speaking events are the ones :data:`shequn_ml.schema.SPEAKING_EVENT_TYPES` marks
(message, reply, post, question, answer, checkin). A member who has never spoken
has ``days_since_speak`` equal to their tenure: silent since they entered.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from shequn_ml import schema
from shequn_ml.features._registry import days, feature
from shequn_ml.features.snapshots import Snapshot, distinct_sorted
from shequn_ml.features.spec import FeatureSpec

FAMILY = "engagement"


def define(spec: FeatureSpec) -> None:
    """Register this family's features for ``spec`` (windows decide the names)."""
    windows, spec_recent, spec_base = spec.windows, spec.trend_recent_days, spec.trend_baseline_days
    for w in windows:
        feature(f"speak_count_{w}d", FAMILY, w,
                f"speaking events (message, reply, post, question, answer, check-in) in the last {w} days.",
                f"spoke {{value}} [time|times] in {days(w)}", f"{w}天内发言{{value}}次")
        feature(f"active_days_{w}d", FAMILY, w, f"distinct days with a speaking event in the last {w} days.",
                f"active on {{value}} [day|days] of the last {w}", f"近{w}天活跃{{value}}天")
    feature("days_since_speak", FAMILY, None,
            "days since the last speaking event (tenure if the member never spoke).",
            "no message for {value} [day|days]", "{value}天未发言")
    feature("days_since_any_event", FAMILY, None,
            "days since the last event of any kind, including reactions and claims.",
            "no activity of any kind for {value} [day|days]", "{value}天无任何互动")
    feature("days_since_first_speak", FAMILY, None,
            "days since the member's first speaking event in the group (tenure if never).",
            "first spoke {value} [day|days] ago", "{value}天前首次发言")
    feature("active_days_total", FAMILY, None,
            "distinct days with a speaking event, all history before the cutoff.",
            "active on {value} [day|days] in all", "累计活跃{value}天")
    feature("ever_spoke", FAMILY, None, "1 if the member has ever spoken in the group, else 0.",
            "has spoken in the group", "曾在群内发言",
            reason_en_zero="has never spoken in the group", reason_zh_zero="入群后从未发言")
    feature("longest_streak_days", FAMILY, None,
            "longest run of consecutive days with a speaking event.",
            "longest speaking streak is {value} [day|days]", "最长连续发言{value}天")
    feature("current_streak_days", FAMILY, None,
            "consecutive days with a speaking event ending the day before the cutoff.",
            "current speaking streak is {value} [day|days]", "当前连续发言{value}天")
    feature("speak_trend", FAMILY, spec_recent + spec_base,
            f"log ratio of the daily speaking rate in the last {spec_recent} days to the "
            f"{spec_base} days before (negative: slowing down).",
            "speaking less than before (trend {value})", "发言频率下降（趋势{value}）")
    feature("checkin_adherence_30d", FAMILY, 30,
            "share of the group's check-in days in the last 30 days on which the member checked in.",
            "checked in on {value} of the group's check-in days", "打卡参与率{value}")
    feature("speak_share_30d", FAMILY, 30,
            "the member's share of all speaking events in the group in the last 30 days.",
            "share of the group's talk is {value}", "占群发言比例{value}")
    feature("activity_rank_pct_30d", FAMILY, 30,
            "percentile of the member's 30-day speaking count within the group (1 = most active).",
            "activity rank percentile in the group is {value}", "群内活跃度排名百分位{value}")
    feature("tenure_days", FAMILY, None, "days since the member (last) entered the group.",
            "in the group for {value} [day|days]", "入群{value}天")


def compute(snap: Snapshot) -> pd.DataFrame:
    """Engagement features of every member present at the snapshot's cutoff.

    Parameters
    ----------
    snap : Snapshot
        The events before the cutoff and the population then.

    Returns
    -------
    DataFrame
        One row per population row, in population order.
    """
    spec = snap.spec
    define(spec)
    speaking = schema.SPEAKING_EVENT_TYPES
    out: dict[str, np.ndarray] = {}
    speak_all = snap.mask(speaking)
    day = np.floor(snap.ev_age[speak_all] - 1e-12).astype(np.int64)  # 0 = the day before t
    pi = snap.ev_pi[speak_all]
    # distinct (member, day) pairs with speech, sorted by member then day
    p_member, p_day = _member_days(pi, day, snap.n)
    for w in spec.windows:
        out[f"speak_count_{w}d"] = snap.count_of(speaking, w)
        inside = p_day < w
        out[f"active_days_{w}d"] = np.bincount(p_member[inside], minlength=snap.n).astype(float)

    tenure = snap.tenure_days
    last_speak_age = snap.extreme(speak_all, snap.ev_age, "min", np.nan)
    out["days_since_speak"] = np.where(np.isnan(last_speak_age), tenure, last_speak_age)
    last_any_age = snap.last_event_age()
    out["days_since_any_event"] = np.where(np.isnan(last_any_age), tenure, last_any_age)
    first_speak_age = snap.extreme(speak_all, snap.ev_age, "max", np.nan)
    out["days_since_first_speak"] = np.where(np.isnan(first_speak_age), tenure, first_speak_age)
    out["active_days_total"] = np.bincount(p_member, minlength=snap.n).astype(float)
    out["ever_spoke"] = (~np.isnan(last_speak_age)).astype(float)
    out["longest_streak_days"], out["current_streak_days"] = _streaks(p_member, p_day, snap.n)

    recent, base = spec.trend_recent_days, spec.trend_baseline_days
    n_recent = snap.count_of(speaking, recent)
    n_base = snap.count_of(speaking, recent + base) - n_recent  # counts: exact in float
    # rates per day over the part of each window the member was present for
    days_recent = np.clip(tenure, 0, recent)
    days_base = np.clip(tenure - recent, 0, base)
    rate_recent = n_recent / np.maximum(days_recent, 1.0)
    rate_base = n_base / np.maximum(days_base, 1.0)
    out["speak_trend"] = np.where(days_base > 0, np.log1p(rate_recent) - np.log1p(rate_base), 0.0)

    out["checkin_adherence_30d"] = _checkin_adherence(snap)
    c30 = snap.count_of(speaking, 30)
    group_talk = np.bincount(snap.pop_gi, weights=c30, minlength=snap.n_groups)
    denom = group_talk[snap.pop_gi]
    out["speak_share_30d"] = np.divide(c30, denom, out=np.zeros(snap.n), where=denom > 0)
    ranks = pd.Series(c30).groupby(snap.pop_gi).rank(method="average", pct=True)
    out["activity_rank_pct_30d"] = ranks.to_numpy() if snap.n else np.zeros(0)
    out["tenure_days"] = tenure
    return pd.DataFrame(out)


#: largest (members x days) table of booleans :func:`_member_days` fills instead of sorting
MEMBER_DAY_CELLS = 2**27


def _member_days(pi: np.ndarray, day: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (row, day) pairs, sorted by row then day, as ``(rows, days)``.

    The pairs are keyed ``row * 1_000_000 + day`` (days from 0 to 999,999). When the
    (rows x days) table is small enough, marking it and reading the marks back in
    order gives the same sorted pairs without sorting.
    """
    if len(day) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    lo, hi = int(day.min()), int(day.max())
    n_days = hi + 1
    if lo >= 0 and hi < 1_000_000 and n * n_days <= max(MEMBER_DAY_CELLS, 16 * len(day)):
        seen = np.zeros(n * n_days, bool)
        seen[pi.astype(np.int64) * n_days + day] = True
        cells = np.flatnonzero(seen)
        return cells // n_days, cells % n_days
    pairs = distinct_sorted(pi.astype(np.int64) * 1_000_000 + day)
    return pairs // 1_000_000, pairs % 1_000_000


def _streaks(p_member: np.ndarray, p_day: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Longest and current runs of consecutive speaking days per member.

    ``p_member``/``p_day`` are distinct (member, day-before-cutoff) pairs sorted by
    member then day ascending (day 0 is the day just before the cutoff).
    """
    longest = np.zeros(n)
    current = np.zeros(n)
    if len(p_member) == 0:
        return longest, current
    # a new run starts where the member changes or the day is not the previous day + 1
    new_run = np.ones(len(p_member), bool)
    new_run[1:] = (p_member[1:] != p_member[:-1]) | (p_day[1:] != p_day[:-1] + 1)
    run_id = np.cumsum(new_run) - 1
    run_len = np.bincount(run_id).astype(float)
    run_member = p_member[new_run]
    run_start_day = p_day[new_run]
    np.maximum.at(longest, run_member, run_len)
    # the current streak is the run that starts at day 0 (ends just before the cutoff)
    at_cutoff = run_start_day == 0
    current[run_member[at_cutoff]] = run_len[at_cutoff]
    return longest, current


def _checkin_adherence(snap: Snapshot) -> np.ndarray:
    """Member check-in days / group check-in days, over the last 30 days (0 if none)."""
    m = snap.mask(["checkin"], 30, actor_present=False)
    day = np.floor(snap.ev_age[m] - 1e-12).astype(np.int64)
    gi = snap.ev_gi[m]
    pi = snap.ev_pi[m]
    ok = gi >= 0
    group_days = distinct_sorted(gi[ok].astype(np.int64) * 1000 + day[ok])
    n_group_days = np.bincount(group_days // 1000, minlength=snap.n_groups).astype(float)
    present = pi >= 0
    member_days = distinct_sorted(pi[present].astype(np.int64) * 1000 + day[present])
    n_member_days = np.bincount(member_days // 1000, minlength=snap.n).astype(float)
    denom = n_group_days[snap.pop_gi]
    return np.divide(n_member_days, denom, out=np.zeros(snap.n), where=denom > 0)
