"""The operator's report: one self-contained HTML page per community (``shequn-ml report``).

:func:`build_report` turns the events, the scores table of ``shequn-ml score`` and,
when there are, the groups, contacts and roles tables into one HTML page that opens
without a network: the group health table (sortable, with lifecycle stages
恋爱期 / 质疑期 / 分手期), each group's weekly activity and stage, Kaplan-Meier
retention by join month and by group, the contact lists, the 头狼 / KOL candidates
with reasons, and the role pyramid per group. :func:`write_report` writes it
atomically. See ``docs/report.md``.

Modules: ``_inputs`` (reading and checking the tables), ``_data`` (what is shown,
computed), ``_charts`` (matplotlib PNGs), ``_html`` (escaping, sortable tables, the
page), ``_sections`` (one function per section), ``_build`` (the two public calls).

Examples
--------
>>> from shequn_ml.report import REQUIRED_COLUMNS
>>> REQUIRED_COLUMNS["scores"]
('group_id', 'member_id')
"""

from shequn_ml.report._build import DEFAULT_TITLE, build_report, write_report
from shequn_ml.report._inputs import REQUIRED_COLUMNS, ReportInputError, read_report_table

__all__ = ["DEFAULT_TITLE", "REQUIRED_COLUMNS", "ReportInputError", "build_report", "read_report_table",
           "write_report"]
