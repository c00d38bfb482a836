"""build_report and write_report: one self-contained HTML page per community."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from shequn_ml.features.snapshots import EventHistory
from shequn_ml.report import _data as data
from shequn_ml.report import _sections as sections
from shequn_ml.report._html import esc, page
from shequn_ml.report._inputs import ReportInputError, check_columns

DEFAULT_TITLE = "社群运营报告"
#: Groups drawn on the per-group charts (riskiest first); every table lists all groups.
MAX_GROUP_CHARTS = 30
#: Members per group on a contact list made from the scores (a contacts table is shown whole).
CONTACTS_PER_GROUP = 10
#: KOL candidates per group.
KOL_PER_GROUP = 5
#: Weeks of history on the activity and lifecycle charts.
WEEKS = 26


def build_report(
    events: pd.DataFrame,
    members: pd.DataFrame | None,
    groups: pd.DataFrame | None,
    scores: pd.DataFrame,
    *,
    groups_table: pd.DataFrame | None = None,
    contacts: pd.DataFrame | None = None,
    roles: pd.DataFrame | None = None,
    cutoff: object = None,
    title: str = DEFAULT_TITLE,
    max_group_charts: int = MAX_GROUP_CHARTS,
    contacts_per_group: int = CONTACTS_PER_GROUP,
    kol_per_group: int = KOL_PER_GROUP,
    weeks: int = WEEKS,
) -> str:
    """The operator's report of one community at one cutoff, as one self-contained HTML page.

    The page needs no network: its styles and its table-sorting script are inline and
    its charts are PNG images inside the page (``data:`` URIs). It shows, in Chinese
    with English in small text: the group health table (sortable, with lifecycle
    stages), each group's weekly activity and stage, retention curves by join month
    and by group (Kaplan-Meier), the contact lists, the 头狼 / KOL candidates with
    their reasons, and the role pyramid of each group. ``docs/report.md`` says what
    each part is computed from.

    Parameters
    ----------
    events : DataFrame
        Normalised events (:func:`shequn_ml.io.read_events`); only events strictly
        before the cutoff are read.
    members, groups : DataFrame or None
        Normalised side tables (``joined_at`` starts memberships; ``created_at`` and
        ``capacity`` feed the lifecycle rule).
    scores : DataFrame
        The scores table of ``shequn-ml score`` (needs ``group_id``, ``member_id``;
        reasons in either layout: ``<task>_reason_{k}`` holding ``"English / 中文"``,
        or ``<task>_reason_{k}_en`` and ``_zh``).
    groups_table : DataFrame, optional
        The group-health scores (``group_id``, ``group_risk``, ``lifecycle_stage``,
        ``lifecycle_stage_zh``, reasons ...). Without it the table is computed from the
        events, and the page says that group risk is absent.
    contacts : DataFrame, optional
        The contact lists (``group_id``, ``member_id``, a rank, tiers, action,
        reasons). Without it, each group's members with the highest silence risk.
    roles : DataFrame, optional
        One row per member with ``role`` (or ``role_zh``); without it the page says
        roles are absent.
    cutoff : date or timestamp, optional
        The night of the report; by default the scores table's ``cutoff`` (which must
        then hold one value). Given with a scores table of another cutoff, an error.
    title : str
        The page title.
    max_group_charts : int
        Groups drawn on the per-group charts, riskiest first (tables list all groups).
    contacts_per_group, kol_per_group : int
        Members per group on a contact list made from the scores, and KOL candidates.
    weeks : int
        Weeks of history on the activity and lifecycle charts.

    Returns
    -------
    str
        The HTML page.

    Raises
    ------
    ReportInputError
        A table lacks a required column, the cutoffs disagree, or there is no event
        before the cutoff; the message names the table and the column.
    """
    for name, value in (("max_group_charts", max_group_charts), ("contacts_per_group", contacts_per_group),
                        ("kol_per_group", kol_per_group), ("weeks", weeks)):
        if not isinstance(value, int) or value < (0 if name == "max_group_charts" else 1):
            raise ValueError(f"{name} must be an integer of at least "
                             f"{0 if name == 'max_group_charts' else 1}, got {value!r}")
    scores = check_columns(scores, "scores", "the scores table")
    groups_table = check_columns(groups_table, "groups_table", "the groups table") \
        if groups_table is not None else None
    contacts = check_columns(contacts, "contacts", "the contacts table") if contacts is not None else None
    roles = check_columns(roles, "roles", "the roles table") if roles is not None else None
    t = data.resolve_cutoff(cutoff, scores)
    for table, name in ((groups_table, "the groups table"), (contacts, "the contacts table")):
        if table is not None:
            data.check_cutoff(table, t, name)
    ev = data.before(events, t)
    if not len(ev):
        raise ReportInputError(f"the events: no event before the cutoff {t:%Y-%m-%d %H:%M} UTC")
    try:
        counts = data.role_counts(roles) if roles is not None else None
    except ValueError as exc:  # named for the report's user, like every other input problem
        raise ReportInputError(str(exc)) from None

    history = EventHistory(events, members, groups)
    stages = data.stage_history(history, t, weeks)
    weekly = data.weekly_activity(ev, t, weeks)
    known = data.known_groups(ev, groups, t, scores, groups_table, contacts, roles)
    health = data.group_health(ev, history, t, known, stages, groups_table, scores, roles)
    order = data.risk_order(health)
    charted = order[:max_group_charts]
    ms = data.memberships(ev, members, t)
    contact = data.contact_lists(scores, contacts, contacts_per_group)
    kol = data.kol_candidates(scores, roles, kol_per_group)
    wolves = _head_wolves(roles)

    body = [
        sections.health_section(health, order, from_table=groups_table is not None),
        sections.activity_section(charted, len(order), weekly, stages),
        sections.retention_section(ms, charted, order),
        sections.contacts_section(contact, order, health, from_table=contacts is not None,
                                  n=contacts_per_group),
        sections.kol_section(kol, order, health, kol_per_group),
        sections.roles_section(counts, charted, order, wolves),
    ]
    scored = int((scores["status"] == "scored").sum()) if "status" in scores.columns else len(scores)
    subtitle = (f"截至 {t:%Y-%m-%d %H:%M} UTC · {len(order)} 个群 · {scored:,} 名成员已评分 "
                f'<small lang="en">as of {t:%Y-%m-%d %H:%M} UTC · {len(order)} groups · {scored:,} members '
                "scored</small>")
    nav = [("health", "群健康"), ("activity", "活跃度与生命周期"), ("retention", "留存曲线"),
           ("contacts", "联系名单"), ("kol", "头狼候选"), ("roles", "角色金字塔")]
    from shequn_ml import __version__

    footer = (f"shequn_ml {esc(__version__)} · 只读取截止日前的事件 "
              '<small lang="en">events before the cutoff '
              f"only</small> · 图表最多 {max_group_charts} 个群 <small lang=\"en\">charts show at most "
              f"{max_group_charts} groups, riskiest first; tables list all</small>")
    return page(title, subtitle, nav, body, footer)


def _head_wolves(roles: pd.DataFrame | None) -> pd.Series | None:
    if roles is None or "is_head_wolf" not in roles.columns:
        return None
    w = roles.loc[roles["is_head_wolf"].fillna(False).astype(bool)]
    label = data.member_label(w)
    return pd.Series(label.to_numpy(), index=w["group_id"].to_numpy()).groupby(level=0).agg("、".join)


def write_report(html: str, path: str | os.PathLike[str]) -> Path:
    """Write the page atomically (temporary file beside it, then rename); the path written.

    >>> import tempfile, pathlib
    >>> p = write_report("<!DOCTYPE html><title>t</title>", pathlib.Path(tempfile.mkdtemp()) / "r.html")
    >>> p.read_text(encoding="utf-8")[:15]
    '<!DOCTYPE html>'
    """
    from shequn_ml.io import write_text

    return write_text(html, path)
