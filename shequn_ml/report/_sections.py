"""The report's sections, each a piece of HTML made from the tables of :mod:`._data`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from shequn_ml.report import _charts as charts
from shequn_ml.report._data import (
    ROLE_ZH,
    ROLES,
    STAGE_EN,
    STAGE_ZH,
    SURVIVAL_AT,
    Curve,
    Memberships,
    km_by,
    km_curve,
)
from shequn_ml.report._html import (
    Column,
    esc,
    fold,
    heading,
    image,
    list_col,
    note,
    num_col,
    stage_col,
    table,
    text_col,
)

#: Per-group lists (contacts, KOL candidates) open on the page for this many riskiest groups.
OPEN_GROUPS = 3
#: Join cohorts drawn on the cohort chart (the latest ones; the table lists every cohort).
MAX_COHORTS = 12


def _absent(zh: str, en: str) -> str:
    return note(f'{esc(zh)} <small lang="en">{esc(en)}</small>', "note absent")


def _pct(v: float) -> str:
    return "–" if not np.isfinite(v) else f"{v:.0%}"


def _stage_line(health: pd.DataFrame) -> str:
    if "lifecycle_stage" not in health.columns:
        return ""
    codes = pd.to_numeric(health["lifecycle_stage"], errors="coerce")
    parts = [f'<span class="stage s{k}">{STAGE_ZH[k]}</span> {int((codes == k).sum())}' for k in STAGE_ZH]
    empty = int(codes.isna().sum())
    if empty:
        parts.append(f'<span class="stage">无人在群</span> {empty}')
    return note("生命周期 <small lang=\"en\">lifecycle stages</small>： " + " · ".join(parts))


def health_section(health: pd.DataFrame, order: Sequence[str], *, from_table: bool) -> str:
    """The group health table, riskiest first, every column sortable."""
    t = health.set_index("group_id").loc[list(order)].reset_index()
    has_risk = "group_risk" in t.columns and pd.to_numeric(t["group_risk"], errors="coerce").notna().any()
    cols: list[Column] = [text_col("group_id", "群", "group")]
    if has_risk:
        cols.append(num_col("group_risk", "群风险", "group risk", 0, pct=True, risk=True))
    cols += [stage_col(),
             num_col("activity_trend", "活跃趋势", "activity trend", 2),
             num_col("speakers_recent", "近28天发言人数", "speakers, 28 days"),
             num_col("members_present", "在群人数", "members present"),
             num_col("speaking_7d", "近7天发言", "speaking events, 7 days"),
             num_col("share_members_at_risk", "高风险成员占比", "share of members at risk", 0, pct=True,
                     risk=True),
             text_col("kol_top", "头狼候选", "top KOL candidate")]
    for c in t.columns:
        if c.startswith("role_share_") or (c.startswith("share_") and c != "share_members_at_risk"):
            role = c.removeprefix("role_share_").removeprefix("share_")
            cols.append(num_col(c, ROLE_ZH.get(role, role), f"share {role}", 0, pct=True))
    zh_reasons = [c for c in (f"group_reason_{k}_zh" for k in (1, 2, 3)) if c in t.columns]
    if zh_reasons:
        t["_reasons_zh"] = [[str(v) for v in row if isinstance(v, str) and v] for row in
                            t[zh_reasons].astype(object).to_numpy()]
        en = [c.replace("_zh", "_en") for c in zh_reasons if c.replace("_zh", "_en") in t.columns]
        t["_reasons_en"] = ([[str(v) for v in row if isinstance(v, str) and v]
                             for row in t[en].astype(object).to_numpy()] if en else [[]] * len(t))
        cols.append(list_col("_reasons_zh", "主要原因", "reasons", "_reasons_en"))
    if "note" in t.columns and t["note"].fillna("").astype(str).str.strip().ne("").any():
        cols.append(text_col("note", "说明", "note"))
    parts = [f'<section id="health">{heading(2, "群健康", "group health")}']
    if from_table and has_risk:
        parts.append(note("群风险：群在预测期内沉默或失去大部分发言成员的概率（群健康模型）。"
                          '<small lang="en">group risk: the group-health model\'s probability that the group '
                          "goes silent or loses most of its speakers over the horizon.</small>"))
    else:
        parts.append(_absent("未提供群风险（--groups-table）：此表没有群风险一栏；生命周期由规则根据活跃趋势和成员增减判断。",
                             "Group risk is absent: no groups table was given. The stage is the library's "
                             "rule (group_context.lifecycle_stage) on the events before the cutoff."))
    parts.append(_stage_line(t))
    parts.append(note(f"共 {len(t)} 个群，按风险从高到低排列；点击表头排序。"
                      f'<small lang="en">{len(t)} groups, riskiest first; click a header to sort.</small>'))
    parts.append(table(t, cols, ident="group-health"))
    parts.append("</section>")
    return "".join(parts)


def activity_section(charted: Sequence[str], n_groups: int, weekly: pd.DataFrame,
                     stages: pd.DataFrame) -> str:
    """Weekly speaking and lifecycle stage over time: the community's stage mix, then one panel a group."""
    parts = [f'<section id="activity">{heading(2, "活跃度与生命周期", "activity and lifecycle over time")}']
    if len(stages):
        parts.append(image(charts.stage_mix_chart(stages), "各阶段群数 groups per lifecycle stage, weekly"))
    if charted:
        parts.append(image(charts.activity_chart(charted, weekly, stages),
                           "每周发言与生命周期 weekly speaking events and lifecycle stage per group"))
    shown = (f"图中为风险最高的 {len(charted)} 个群（共 {n_groups} 个）。" if len(charted) < n_groups
             else f"图中为全部 {n_groups} 个群，按风险从高到低。")
    parts.append(note(f"{shown}柱：每周发言次数；底色：该周末的生命周期（绿 恋爱期，黄 质疑期，红 分手期）。"
                      f'<small lang="en">Bars: speaking events per week; shading: the stage at the end '
                      f"of that week. {len(charted)} of {n_groups} groups charted, riskiest first.</small>"))
    parts.append("</section>")
    return "".join(parts)


def _curve_rows(curves: Sequence[Curve], name: str) -> pd.DataFrame:
    rows = []
    for c in curves:
        row = {name: c.label, "n": c.n, "exits": c.exits,
               "median": c.median_days if np.isfinite(c.median_days) else np.nan}
        for d in SURVIVAL_AT:
            row[f"s{d}"] = c.at[d]
        rows.append(row)
    return pd.DataFrame(rows)


def _curve_table(curves: Sequence[Curve], name: str, zh: str, en: str, ident: str) -> str:
    cols = [text_col(name, zh, en), num_col("n", "成员数", "memberships"),
            num_col("exits", "已退出", "exits")]
    cols += [num_col(f"s{d}", f"{d}天留存", f"still in after {d} days", 0, pct=True) for d in SURVIVAL_AT]
    cols.append(num_col("median", "中位留存天数", "median days (– not reached)", 0))
    return table(_curve_rows(curves, name), cols, ident=ident)


def retention_section(ms: Memberships, charted: Sequence[str], order: Sequence[str]) -> str:
    """Kaplan-Meier retention by join month and by group, charts and tables."""
    t = ms.table
    parts = [f'<section id="retention">{heading(2, "留存曲线", "retention (Kaplan-Meier)")}']
    if not len(t):
        parts.append(_absent("截止日前没有入群记录，无法计算留存。",
                             "No membership started before the cutoff."))
        return "".join(parts) + "</section>"
    everyone = km_curve(t["duration_days"].to_numpy(), t["observed"].to_numpy(), "全部 all")
    longest = float(t["duration_days"].max()) or 1.0
    parts.append(note(
        "每条成员关系从入群算起，到第一次退群或被移出为止；截止日仍在群的成员按截止日删失（Kaplan-Meier）。"
        f"全社群 {everyone.n:,} 条成员关系，{everyone.exits:,} 条已退出；"
        + "，".join(f"{d}天留存 {_pct(everyone.at[d])}" for d in SURVIVAL_AT) + "。"
        '<small lang="en">Each membership runs from joining to the first leave or removal; members still '
        "present are censored at the cutoff (Kaplan-Meier). A re-join is not a new spell."
        "</small>"))
    if ms.dropped:
        parts.append(note(f"{ms.dropped:,} 条成员关系的入群时间未知（首个事件即退群），未计入。"
                          f'<small lang="en">{ms.dropped:,} memberships with an unknown start were left out.'
                          "</small>"))
    cohorts = km_by(t, "cohort")
    parts.append(heading(3, "按入群月份", "by join cohort (month of joining, UTC)"))
    parts.append(image(charts.km_chart(cohorts[-MAX_COHORTS:],
                                       charts.label("按入群月份留存", "retention by join month"),
                                       reference=everyone, max_days=longest),
                       "按入群月份的留存曲线 retention by join cohort"))
    parts.append(_curve_table(cohorts, "cohort", "入群月份", "join month", "retention-cohorts"))
    parts.append(heading(3, "按群", "by group"))
    by_group = {c.label: c for c in km_by(t, "group_id")}
    drawn = [by_group[g] for g in charted if g in by_group]
    if drawn:
        parts.append(image(charts.km_small_multiples(drawn, everyone, longest),
                           "各群留存曲线 retention per group"))
    listed = [by_group[g] for g in order if g in by_group]
    parts.append(fold(_curve_table(listed, "group", "群", "group", "retention-groups"), len(listed),
                      f"全部 {len(listed)} 个群的留存表", f"retention table of all {len(listed)} groups"))
    parts.append("</section>")
    return "".join(parts)


def _group_summary(g: str, health: pd.DataFrame, count: int, unit: str) -> str:
    row = health.loc[health["group_id"] == g]
    stage = ""
    if len(row) and "lifecycle_stage" in row.columns and pd.notna(row["lifecycle_stage"].iloc[0]):
        k = int(row["lifecycle_stage"].iloc[0])
        stage = f' · <span class="stage s{k}">{STAGE_ZH[k]}</span> <small lang="en">{STAGE_EN[k]}</small>'
    risk = ""
    if len(row) and "group_risk" in row.columns and pd.notna(row["group_risk"].iloc[0]):
        risk = f" · 群风险 {float(row['group_risk'].iloc[0]):.0%}"
    return f"{esc(g)}{stage}{risk} · {count} {unit}"


def _per_group(frame: pd.DataFrame, order: Sequence[str], health: pd.DataFrame, cols: Sequence[Column],
               unit: str, ident: str) -> str:
    by_group = dict(tuple(frame.groupby("group_id", sort=False)))
    parts = []
    for i, g in enumerate(g for g in order if g in by_group):
        rows = by_group[g]
        opened = " open" if i < OPEN_GROUPS else ""
        parts.append(f'<details class="{ident}" data-group="{esc(g)}"{opened}><summary>'
                     f"{_group_summary(g, health, len(rows), unit)}</summary>"
                     f"{table(rows, cols)}</details>")
    return "".join(parts)


def contacts_section(contacts: pd.DataFrame, order: Sequence[str], health: pd.DataFrame, *,
                     from_table: bool, n: int) -> str:
    """Whom to reach in each group, riskiest group first, each list collapsible."""
    parts = [f'<section id="contacts">{heading(2, "联系名单", "contact lists")}']
    if from_table:
        parts.append(note("来自联系名单表：每群值得联系的成员，按优先级排列，附建议的联系方式与原因。"
                          '<small lang="en">From the contact-list table: the members worth reaching in each '
                          "group, in its order, with the suggested action and the reasons.</small>"))
    else:
        parts.append(_absent(f"未提供联系名单表（--contacts）：以下为每群沉默风险最高的 {n} 名成员"
                             "（已沉默成员没有沉默风险，不在此列）。",
                             f"No contact-list table was given: these are the {n} members of each group with "
                             "the highest silence risk in the scores (already-silent members have none)."))
    if not len(contacts):
        parts.append(_absent("没有可列出的成员。", "No member to list."))
        return "".join(parts) + "</section>"
    cols = [num_col("rank", "序", "rank"), text_col("member", "成员", "member")]
    if contacts["tier"].astype(str).str.strip().ne("").any():
        cols.append(text_col("tier", "风险等级", "tier"))
    cols += [num_col("silence_risk", "沉默风险", "silence risk", 0, pct=True, risk=True),
             num_col("churn_risk", "流失风险", "churn risk", 0, pct=True, risk=True)]
    if contacts["action_zh"].astype(str).str.strip().ne("").any():
        cols.append(_action_col())
    cols.append(list_col("reasons_zh", "原因", "reasons (hover: English)", "reasons_en"))
    parts.append(_per_group(contacts, order, health, cols, "人", "contacts"))
    parts.append("</section>")
    return "".join(parts)


def _action_col() -> Column:
    def render(row: pd.Series) -> tuple[str, object, str | None]:
        zh, en = str(row.get("action_zh") or ""), str(row.get("action_en") or "")
        return esc(zh), (zh or None), (en if en and en != zh else None)

    return Column("建议行动", "suggested action", render)


def kol_section(kol: pd.DataFrame, order: Sequence[str], health: pd.DataFrame, k: int) -> str:
    """The top 头狼 / KOL candidates of each group with the reasons the ranker gives."""
    parts = [f'<section id="kol">{heading(2, "头狼候选", "KOL candidates")}']
    if not len(kol):
        parts.append(_absent("评分表没有 KOL 排名（kol_rank_in_group）。",
                             "The scores table has no KOL ranking (kol_rank_in_group)."))
        return "".join(parts) + "</section>"
    parts.append(note(f"每群 KOL 排名前 {k} 的成员（排名只在群内可比），附推高排名的三个信号。"
                      f'<small lang="en">The top {k} of each group by the KOL ranker (scores compare within '
                      "a group only), with the three signals that raised each score most.</small>"))
    cols = [num_col("rank", "群内排名", "rank in group"), text_col("member", "成员", "member"),
            num_col("kol_score", "KOL 分", "KOL score", 2)]
    if kol["role_zh"].astype(str).str.strip().ne("").any():
        cols.append(text_col("role_zh", "角色", "role"))
    cols.append(list_col("reasons_zh", "原因", "reasons (hover: English)", "reasons_en"))
    parts.append(_per_group(kol, order, health, cols, "人", "kol"))
    parts.append("</section>")
    return "".join(parts)


def roles_section(counts: pd.DataFrame | None, charted: Sequence[str], order: Sequence[str],
                  head_wolves: pd.Series | None) -> str:
    """The role pyramid per group (and of the whole community), with a table of counts."""
    parts = [f'<section id="roles">{heading(2, "角色金字塔", "role pyramid")}']
    if counts is None:
        parts.append(_absent("未提供角色表（--roles）：没有角色金字塔。",
                             "Roles are absent: no roles table was given, so there is no role pyramid."))
        return "".join(parts) + "</section>"
    parts.append(note("健康的群是金字塔：少数思考者、组织者在上，求教者、清谈者居中，围观者在底。条宽：该角色占群成员的比例。"
                      '<small lang="en">A healthy group is a pyramid: few thinkers and organisers on top, '
                      "askers and chatters in the middle, lurkers at the base. Bar width: the role's share "
                      "of the group.</small>"))
    drawn = [g for g in charted if g in counts.index]
    parts.append(image(charts.pyramid_chart(drawn, counts), "角色金字塔 role pyramids"))
    t = counts.reindex([g for g in order if g in counts.index]).reset_index()
    t["total"] = t[list(ROLES)].sum(axis=1)
    cols = [text_col("group_id", "群", "group")]
    cols += [num_col(r, ROLE_ZH[r], r) for r in ROLES]
    cols.append(num_col("total", "合计", "members"))
    if head_wolves is not None and len(head_wolves):
        t["head_wolf"] = head_wolves.reindex(t["group_id"]).fillna("").to_numpy(dtype=object)
        cols.append(text_col("head_wolf", "头狼", "head wolf"))
    parts.append(fold(table(t, cols, ident="roles-table"), len(t), f"全部 {len(t)} 个群的角色人数",
                      f"role counts of all {len(t)} groups"))
    parts.append("</section>")
    return "".join(parts)
