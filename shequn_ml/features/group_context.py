"""Group context: the group a member is in, broadcast to each of its present members.

The domain: big groups show an 80/20 pattern and small ones stay active (小群效应);
a group goes silent within about three months unless it is run, through a
honeymoon (恋爱期), a doubt (质疑期) and a breakup (分手期) stage; red packets,
coupons, sign-up chains and offline events keep it alive. Every value here is a
function of one group's events before the cutoff (and its row of the groups
table), the same for all of the group's members.

Definitions
-----------
group_size
    Members present at the cutoff.
size_vs_capacity
    ``group_size`` over the group's ``capacity`` in the groups table; when the
    table or the value is missing, over 500, the WeChat cap
    (:data:`shequn_ml.schema.PLATFORM_CAPACITY`).
group_age_days
    Days since the group started: the earliest of ``created_at`` (groups table,
    when given), the group's first event before the cutoff, and the entry of its
    earliest present member.
Group speaking
    Speaking events (:data:`shequn_ml.schema.SPEAKING_EVENT_TYPES`) by anyone in
    the group, including members who have left since.
group_activity_trend
    ``log1p(r_recent) - log1p(r_base)`` of the group's daily speaking rate in the
    last ``spec.trend_recent_days`` and in the ``spec.trend_baseline_days`` before,
    each rate over the part of its window the group existed for (at least one
    day); 0 for a group younger than the recent window. As
    ``engagement.speak_trend``, for the group.
group_lifecycle_stage
    A numeric code, from these rules, first match wins:

    * **2, decline (分手期)**: the group is quiet (no speaking event in the last 7
      days, and at least 7 days old), or its trend is at most -0.7 (the daily
      rate fell to about half or less), or its trend is below -0.1 and its
      membership is not growing;
    * **1, doubt (质疑期)**: its trend is below -0.1 (activity falling) and its
      membership is growing;
    * **0, honeymoon (恋爱期)**: otherwise, i.e. activity is not falling. A young
      group is in its honeymoon; an older group that keeps its activity stays at 0.

    Membership is *growing* when more present members entered in the last
    ``spec.trend_recent_days`` days than ``leave``/``removed`` events happened in
    that time. The thresholds are :data:`FALLING`, :data:`COLLAPSING` and
    :data:`QUIET_DAYS`.
group_top20_speak_share_30d
    Share of the 30-day speaking events of present members made by the group's
    top 20% most active present members (``ceil(0.2 * group_size)`` of them; who
    among tied members is "top" does not change the sum); 0 when nobody spoke.
group_newcomer_share
    Share of present members whose tenure is under 14 days.
group_days_since_benefit, group_benefit_events_14d
    Red packets sent (``red_packet_send``) and coupons claimed (``coupon_claim``,
    the sign that coupons went out) in the group: days since the latest one, or
    ``group_age_days + 1`` when there has been none (longer ago than the group
    exists, so trees can split it off without a missing value), and how many in the
    last 14 days.
group_days_since_signup_or_offline, group_signup_or_offline_14d
    The same for ``event_signup`` (activities, 接龙) and ``offline_attend`` events.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from shequn_ml import schema
from shequn_ml.features._registry import days, feature
from shequn_ml.features.benefit import GIVEAWAYS
from shequn_ml.features.snapshots import DAY_NS, Snapshot
from shequn_ml.features.spec import FeatureSpec

FAMILY = "group_context"
DEFAULT_CAPACITY = schema.PLATFORM_CAPACITY["wechat"]
ACTIVITIES = ("event_signup", "offline_attend")
NEWCOMER_DAYS = 14
RECENT_DAYS = 14
#: trend (log1p rate difference) below which activity counts as falling
FALLING = -0.1
#: trend at or below which activity has collapsed (the daily rate about halved)
COLLAPSING = -0.7
#: a group with no speaking event for this many days is quiet
QUIET_DAYS = 7

LIFECYCLE = {0: "honeymoon (恋爱期)", 1: "doubt (质疑期)", 2: "decline (分手期)"}


def define(spec: FeatureSpec) -> None:
    """Register this family's features for ``spec`` (the trend windows go into the meanings)."""
    recent, base = spec.trend_recent_days, spec.trend_baseline_days
    feature("group_size", FAMILY, None, "members present in the group at the cutoff.",
            "the group has {value} [member|members]", "所在群有{value}人")
    feature("size_vs_capacity", FAMILY, None,
            "group size over the group's member cap (groups table capacity, else 500, the WeChat cap).",
            "the group is {value} full", "群人数达到上限的{value}")
    feature("group_age_days", FAMILY, None,
            "days since the group started: the earliest of created_at (groups table), its first event "
            "and its earliest present member's entry.",
            "the group is {value} [day|days] old", "群已建立{value}天")
    for w in (7, 30):
        feature(f"group_speak_per_member_{w}d", FAMILY, w,
                f"speaking events in the group in the last {w} days (by anyone, including members who "
                "left since) per present member.",
                f"the group speaks {{value}} [time|times] per member in {days(w)}",
                f"群内{w}天人均发言{{value}}次")
    feature("group_activity_trend", FAMILY, recent + base,
            f"log ratio of the group's daily speaking rate in the last {recent} days to the {base} "
            "days before (negative: the group is slowing down).",
            "the group is talking less than before (trend {value})", "群活跃度下降（趋势{value}）")
    feature("group_lifecycle_stage", FAMILY, recent + base,
            "group lifecycle stage: 0 honeymoon (activity not falling), 1 doubt (activity falling "
            "while membership grows), 2 decline (quiet for 7 days, activity halved, or falling "
            "without growth).",
            "the group is in lifecycle stage {value} (0 honeymoon, 1 doubt, 2 decline)",
            "群处于生命周期第{value}阶段（0恋爱期，1质疑期，2分手期）")
    feature("group_top20_speak_share_30d", FAMILY, 30,
            "share of the present members' 30-day speaking events made by the top 20% most active of "
            "them (0 when nobody spoke).",
            "the top 20% of the group do {value} of the talking", "群内前20%成员贡献了{value}的发言")
    feature("group_newcomer_share", FAMILY, NEWCOMER_DAYS,
            f"share of present members who entered less than {NEWCOMER_DAYS} days ago.",
            "{value} of the group are newcomers", "群内新人占{value}")
    feature("group_days_since_benefit", FAMILY, None,
            "days since the last red packet sent or coupon claimed in the group (group age + 1 if none).",
            "no red packet or coupon in the group for {value} [day|days]", "群内{value}天没有红包或优惠券")
    feature("group_benefit_events_14d", FAMILY, RECENT_DAYS,
            "red packets sent and coupons claimed in the group in the last 14 days.",
            "{value} [red packet or coupon|red packets or coupons] in the group in 14 days",
            "群内14天有{value}次红包或领券")
    feature("group_days_since_signup_or_offline", FAMILY, None,
            "days since the last activity sign-up or offline-event attendance in the group "
            "(group age + 1 if none).",
            "no group activity or offline event for {value} [day|days]", "群内{value}天没有活动或线下聚会")
    feature("group_signup_or_offline_14d", FAMILY, RECENT_DAYS,
            "activity sign-ups and offline-event attendances in the group in the last 14 days.",
            "{value} activity [sign-up or offline attendance|sign-ups or offline attendances] in 14 days",
            "群内14天有{value}次活动报名或线下参与")


def compute(snap: Snapshot) -> pd.DataFrame:
    """Group-context features of every member present at the snapshot's cutoff.

    Parameters
    ----------
    snap : Snapshot
        The events before the cutoff and the population then.

    Returns
    -------
    DataFrame
        One row per population row, in population order; every value is its group's.
    """
    spec = snap.spec
    define(spec)
    gi, n_groups = snap.pop_gi, snap.n_groups
    g: dict[str, np.ndarray] = {}
    size = np.bincount(gi, minlength=n_groups).astype(float)
    g["group_size"] = size
    g["size_vs_capacity"] = size / _capacity(snap)
    age = _age_days(snap)
    g["group_age_days"] = age

    ev_age = snap.ev_age
    speak = snap.mask(schema.SPEAKING_EVENT_TYPES, actor_present=False)  # anyone's, left or not
    for w in (7, 30):
        g[f"group_speak_per_member_{w}d"] = snap.group_count(speak & (ev_age <= w)) / size
    recent, base = spec.trend_recent_days, spec.trend_baseline_days
    n_recent = snap.group_count(speak & (ev_age <= recent))
    n_base = snap.group_count(speak & (ev_age > recent) & (ev_age <= recent + base))
    days_recent = np.clip(age, 0, recent)
    days_base = np.clip(age - recent, 0, base)
    rate_recent = n_recent / np.maximum(days_recent, 1.0)
    rate_base = n_base / np.maximum(days_base, 1.0)
    trend = np.where(days_base > 0, np.log1p(rate_recent) - np.log1p(rate_base), 0.0)
    g["group_activity_trend"] = trend

    tenure = snap.tenure_days
    entered = np.bincount(gi, weights=tenure < recent, minlength=n_groups)
    exits = snap.group_count(snap.mask(schema.EXIT_EVENT_TYPES, recent, actor_present=False))
    quiet = (snap.group_count(speak & (ev_age <= QUIET_DAYS)) == 0) & (age >= QUIET_DAYS)
    g["group_lifecycle_stage"] = lifecycle_stage(trend, quiet, entered > exits)

    # snap.count keeps present actors only
    g["group_top20_speak_share_30d"] = _top_share(snap.count(speak & (ev_age <= 30)), gi, n_groups)
    g["group_newcomer_share"] = np.bincount(gi, weights=tenure < NEWCOMER_DAYS,
                                            minlength=n_groups) / size
    g["group_days_since_benefit"], g["group_benefit_events_14d"] = _since_and_count(
        snap, GIVEAWAYS, age)
    g["group_days_since_signup_or_offline"], g["group_signup_or_offline_14d"] = _since_and_count(
        snap, ACTIVITIES, age)
    return pd.DataFrame({k: v[gi] for k, v in g.items()})


def lifecycle_stage(trend: np.ndarray, quiet: np.ndarray, growing: np.ndarray) -> np.ndarray:
    """The lifecycle code of each group (see the module docstring for the rule).

    >>> lifecycle_stage(np.array([0.2, -0.3, -0.3, -0.9, 0.0]),
    ...                 np.array([False, False, False, False, True]),
    ...                 np.array([True, True, False, True, True])).tolist()
    [0.0, 1.0, 2.0, 2.0, 2.0]
    """
    falling = trend < FALLING
    decline = quiet | (trend <= COLLAPSING) | (falling & ~growing)
    return np.where(decline, 2.0, np.where(falling, 1.0, 0.0))


def _capacity(snap: Snapshot) -> np.ndarray:
    cap = np.full(snap.n_groups, float(DEFAULT_CAPACITY))
    table = snap.history.groups
    if table is None or "capacity" not in table.columns:
        return cap
    value = _group_values(snap, table, table["capacity"].to_numpy(dtype=float, na_value=np.nan))
    return np.where(value > 0, value, cap)  # NaN compares False: default


def _age_days(snap: Snapshot) -> np.ndarray:
    """Days since the earliest of created_at, the first event and the earliest entry."""
    start = np.full(snap.n_groups, np.iinfo(np.int64).max)
    np.minimum.at(start, snap.pop_gi, snap.population["entry_ns"].to_numpy(np.int64))
    ok = snap.ev_gi >= 0
    np.minimum.at(start, snap.ev_gi[ok], snap.ev_ns[ok])
    age = (snap.cutoff_ns - start) / DAY_NS
    table = snap.history.groups
    if table is not None and "created_at" in table.columns:
        created = table["created_at"]
        missing = created.isna().to_numpy()
        ns = np.where(missing, snap.cutoff_ns, created.dt.tz_convert(None).to_numpy().view(np.int64))
        days = np.where(missing, np.nan, (snap.cutoff_ns - ns) / DAY_NS)
        age = np.fmax(age, _group_values(snap, table, days))  # NaN (no created_at): event-based age
    return age


def _group_values(snap: Snapshot, table: pd.DataFrame, values: np.ndarray) -> np.ndarray:
    """A groups-table column per group of the snapshot (NaN for groups not in the table)."""
    series = pd.Series(values, index=table["group_id"].astype(str).to_numpy())
    names = snap.history.group_categories[snap.group_codes].astype(str)
    return series.reindex(names).to_numpy(dtype=float)


def _top_share(counts: np.ndarray, gi: np.ndarray, n_groups: int) -> np.ndarray:
    """Share of each group's total made by its ceil(20%) largest member counts."""
    size = np.bincount(gi, minlength=n_groups)
    k = (size + 4) // 5  # ceil(size / 5), in integers
    order = np.lexsort((-counts, gi))  # by group, most active first
    g_sorted = gi[order]
    start = np.r_[0, np.cumsum(size)[:-1]] if n_groups else np.zeros(0, np.int64)
    rank = np.arange(len(order)) - start[g_sorted]
    top = np.bincount(g_sorted, weights=np.where(rank < k[g_sorted], counts[order], 0.0),
                      minlength=n_groups)
    total = np.bincount(gi, weights=counts, minlength=n_groups)
    return np.divide(top, total, out=np.zeros(n_groups), where=total > 0)


def _since_and_count(snap: Snapshot, types: tuple[str, ...],
                     age: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Days since the group's latest event of ``types`` (age + 1 if none), and those in 14 days."""
    m = snap.mask(types, actor_present=False) & (snap.ev_gi >= 0)
    last = np.full(snap.n_groups, np.inf)
    np.minimum.at(last, snap.ev_gi[m], snap.ev_age[m])
    since = np.where(np.isfinite(last), last, age + 1.0)
    return since, snap.group_count(m & (snap.ev_age <= RECENT_DAYS))
