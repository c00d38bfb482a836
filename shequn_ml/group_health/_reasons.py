"""Reasons in words, English and Chinese, for the signals that raised a group's risk.

Each feature of :data:`~shequn_ml.group_health._features.FEATURES` has a template in
:data:`REASONS`: a function of the group's feature row returning ``(english, chinese)``.
A template may read the feature's companions (the speakers of the previous window for a
fall in speakers), so a reason reads "speaking members fell from 40 to 12 in 28 days /
28天内发言人数从40降到12", and counts agree with their nouns ("1 member", "2 members").
These templates are this module's own: they are not registered in the member-level
feature registry (:mod:`shequn_ml.features._registry`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from shequn_ml.explain import Explanation, top_features

Row = Mapping[str, float]
Template = Callable[[Row], tuple[str, str]]

STAGE_EN = {0: "honeymoon", 1: "doubt", 2: "breakup"}
STAGE_ZH = {0: "恋爱期", 1: "质疑期", 2: "分手期"}


def _num(x: float) -> str:
    """A count or an amount as shown: whole numbers without decimals, others with one."""
    if x is None or not math.isfinite(x):
        return "?"
    if abs(x - round(x)) < 0.05 or abs(x) >= 10:
        return f"{x:.0f}"
    return f"{x:.1f}"


def _pct(x: float) -> str:
    return "?" if x is None or not math.isfinite(x) else f"{x:.0%}"


def _n(x: float, one: str, many: str) -> str:
    """``"1 member"``, ``"2 members"``, ``"1.5 events"``: the noun agrees with the number shown."""
    shown = _num(x)
    return f"{shown} {one if shown == '1' else many}"


def _span(days: float) -> tuple[str, str]:
    """A span of days in words: hours under a day, else days."""
    if days is None or not math.isfinite(days):
        return "?", "?"
    if days < 1:
        hours = max(1, int(round(days * 24)))
        return _n(hours, "hour", "hours"), f"{hours}小时"
    return _n(days, "day", "days"), f"{_num(days)}天"


def _change(en_subject: str, zh_subject: str, before: float, now: float,
            period_en: str = "in 28 days", period_zh: str = "28天内") -> tuple[str, str]:
    """"X fell from a to b in 28 days" (rose / stayed), in both languages."""
    a, b = _num(before), _num(now)
    if a == b:
        return f"{en_subject} stayed at {b} {period_en}", f"{period_zh}{zh_subject}保持在{b}"
    if now < before:
        return f"{en_subject} fell from {a} to {b} {period_en}", f"{period_zh}{zh_subject}从{a}降到{b}"
    return f"{en_subject} rose from {a} to {b} {period_en}", f"{period_zh}{zh_subject}从{a}升到{b}"


def _speak_change(r: Row) -> tuple[str, str]:
    return _change("speaking events", "发言次数", r["speak_events_prev_28d"], r["speak_events_28d"])


def _speaker_change(r: Row) -> tuple[str, str]:
    return _change("speaking members", "发言人数", r["speakers_prev_28d"], r["speakers_28d"])


def _pace_change(r: Row) -> tuple[str, str]:
    base, recent = r["speak_per_day_prev_42d"], r["speak_per_day_14d"]
    a, b = _num(base), _num(recent)
    when_en, when_zh = "(the last 14 days against the 42 before)", "（近14天对比此前42天）"
    if a == b:
        return (f"the group's speaking stayed at {b} a day {when_en}",
                f"日均发言保持在{b}次{when_zh}")
    verb_en, verb_zh = ("fell", "降到") if recent < base else ("rose", "升到")
    return (f"the group's speaking {verb_en} from {a} to {b} a day {when_en}",
            f"日均发言从{a}次{verb_zh}{b}次{when_zh}")


def _since(what_en: str, what_zh: str, never_en: str, never_zh: str,
           column: str) -> Template:
    def render(r: Row) -> tuple[str, str]:
        value, age = r[column], r.get("age_days", math.nan)
        if math.isfinite(age) and value > age:  # the fill value: none since the group began
            return never_en, never_zh
        en, zh = _span(value)
        return f"{what_en} for {en}", f"{zh}{what_zh}"
    return render


def _benefits(r: Row) -> tuple[str, str]:
    n = r["benefit_events_28d"]
    return (f"{_n(n, 'red packet or coupon', 'red packets or coupons')} in 28 days",
            f"28天内有{_num(n)}次红包或优惠券")


def _activities(r: Row) -> tuple[str, str]:
    n = r["activity_events_28d"]
    return (f"{_n(n, 'activity sign-up or offline attendance', 'activity sign-ups or offline attendances')}"
            " in 28 days", f"28天内有{_num(n)}次活动报名或线下参与")


def _exits(r: Row) -> tuple[str, str]:
    n = r["exits_28d"]
    verb = "left or was removed" if _num(n) == "1" else "left or were removed"
    return f"{_n(n, 'member', 'members')} {verb} in 28 days", f"28天内有{_num(n)}人退群或被移出"


def _joins(r: Row) -> tuple[str, str]:
    n = r["joins_28d"]
    return f"{_n(n, 'member', 'members')} joined in 28 days", f"28天内有{_num(n)}人入群"


def _kind(r: Row) -> tuple[str, str]:
    v = r["paid_group"]
    if not math.isfinite(v):
        return "the group's kind (free or paid) is unknown", "群类型（免费或付费）未知"
    return ("a paid group", "付费群") if v >= 0.5 else ("a free group", "免费群")


def _stage(r: Row) -> tuple[str, str]:
    v = r["lifecycle_stage"]
    s = int(v) if math.isfinite(v) else -1
    if s not in STAGE_EN:
        return "the lifecycle stage is unknown", "生命周期阶段未知"
    return f"the group is in its {STAGE_EN[s]} stage", f"群处于{STAGE_ZH[s]}"


def _quiet_for(r: Row) -> tuple[str, str]:
    en, zh = _span(r["days_since_group_speak"])
    return f"nobody has spoken for {en}", f"已有{zh}无人发言"


#: the reason template of every group-health feature
REASONS: dict[str, Template] = {
    "speak_events_7d": lambda r: (f"{_n(r['speak_events_7d'], 'speaking event', 'speaking events')} "
                                  "in the last 7 days", f"近7天群内发言{_num(r['speak_events_7d'])}次"),
    "speak_events_28d": _speak_change,
    "speak_events_prev_28d": _speak_change,
    "activity_trend_28d": _speak_change,
    "speak_per_day_14d": _pace_change,
    "speak_per_day_prev_42d": _pace_change,
    "activity_trend": _pace_change,
    "speakers_7d": lambda r: (f"{_n(r['speakers_7d'], 'member', 'members')} spoke in the last 7 days",
                              f"近7天有{_num(r['speakers_7d'])}人发言"),
    "speakers_28d": _speaker_change,
    "speakers_prev_28d": _speaker_change,
    "speaker_trend_28d": _speaker_change,
    "joins_28d": _joins,
    "exits_28d": _exits,
    "members_present": lambda r: (f"the group has {_n(r['members_present'], 'member', 'members')}",
                                  f"群内现有{_num(r['members_present'])}人"),
    "capacity_use": lambda r: (f"the group is {_pct(r['capacity_use'])} full",
                               f"群人数达到上限的{_pct(r['capacity_use'])}"),
    "newcomer_share": lambda r: (f"{_pct(r['newcomer_share'])} of members joined less than 14 days ago",
                                 f"入群不到14天的新人占{_pct(r['newcomer_share'])}"),
    "active_share_28d": lambda r: (f"{_pct(r['active_share_28d'])} of members spoke in the last 28 days",
                                   f"近28天{_pct(r['active_share_28d'])}的成员发过言"),
    "median_member_days_since_speak": lambda r: (
        f"half the members have been silent for {_span(r['median_member_days_since_speak'])[0]} or more",
        f"一半成员已有{_span(r['median_member_days_since_speak'])[1]}以上未发言"),
    "speak_per_member_28d": lambda r: (
        f"{_n(r['speak_per_member_28d'], 'speaking event', 'speaking events')} per member in 28 days",
        f"28天人均发言{_num(r['speak_per_member_28d'])}次"),
    "reply_share_28d": lambda r: (f"{_pct(r['reply_share_28d'])} of the talk is replies",
                                  f"回复占发言的{_pct(r['reply_share_28d'])}"),
    "top_speaker_share_28d": lambda r: (
        f"one member makes {_pct(r['top_speaker_share_28d'])} of the talk",
        f"一名成员贡献了{_pct(r['top_speaker_share_28d'])}的发言"),
    "days_since_group_speak": _quiet_for,
    "days_since_benefit": _since("no red packet or coupon", "没有红包或优惠券",
                                 "no red packet or coupon yet", "还没有发过红包或优惠券",
                                 "days_since_benefit"),
    "benefit_events_28d": _benefits,
    "days_since_activity": _since("no activity or offline event", "没有活动或线下聚会",
                                  "no activity or offline event yet", "还没有办过活动或线下聚会",
                                  "days_since_activity"),
    "activity_events_28d": _activities,
    "age_days": lambda r: (f"the group is {_span(r['age_days'])[0]} old",
                           f"群已建立{_span(r['age_days'])[1]}"),
    "paid_group": _kind,
    "lifecycle_stage": _stage,
}


def render_reason(feature: str, row: Row) -> tuple[str, str]:
    """The (English, Chinese) reason of one feature for one group's feature row.

    >>> render_reason("speakers_28d", {"speakers_prev_28d": 40.0, "speakers_28d": 12.0})
    ('speaking members fell from 40 to 12 in 28 days', '28天内发言人数从40降到12')
    >>> render_reason("exits_28d", {"exits_28d": 1.0})[0]
    '1 member left or was removed in 28 days'
    """
    template = REASONS.get(feature)
    if template is None:
        value = row.get(feature, math.nan)
        return f"{feature} = {_num(value)}", f"{feature} = {_num(value)}"
    try:
        return template(row)
    except KeyError:  # a companion column is missing from the row
        value = row.get(feature, math.nan)
        return f"{feature} = {_num(value)}", f"{feature} = {_num(value)}"


def group_reasons(explanation: Explanation, X: pd.DataFrame, k: int = 3) -> pd.DataFrame:
    """The ``k`` features that pushed each group's risk up the most, in words.

    Parameters
    ----------
    explanation : Explanation
        SHAP values of the rows (:func:`shequn_ml.explain.shap_values`); only positive
        contributions become reasons (:func:`shequn_ml.explain.top_features`).
    X : DataFrame
        The rows' group features (the templates read the values and their companions).
    k : int, default 3

    Returns
    -------
    DataFrame
        ``group_reason_{i}_en`` and ``group_reason_{i}_zh`` for i = 1..k, on ``X``'s index;
        an empty string where fewer than i features raised the risk.
    """
    top = top_features(explanation, k)
    records = X.to_dict("records")
    out: dict[str, list[str]] = {}
    for i, col in enumerate(top.columns, start=1):
        en, zh = [], []
        for name, row in zip(top[col].tolist(), records, strict=True):
            if name is None or (isinstance(name, float) and np.isnan(name)):
                en.append("")
                zh.append("")
                continue
            e, z = render_reason(str(name), row)
            en.append(e)
            zh.append(z)
        out[f"group_reason_{i}_en"] = en
        out[f"group_reason_{i}_zh"] = zh
    for i in range(len(top.columns) + 1, k + 1):  # fewer features than k
        out[f"group_reason_{i}_en"] = [""] * len(X)
        out[f"group_reason_{i}_zh"] = [""] * len(X)
    return pd.DataFrame(out, index=X.index)
