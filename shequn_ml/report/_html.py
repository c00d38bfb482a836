"""HTML building blocks of the report: escaped text, sortable tables, inline images, the page.

Nothing here reaches the network: styles and the sorting script are inline, images
are ``data:image/png;base64`` URIs, and no ``<link>``, external ``src`` or web font
is ever written.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd

from shequn_ml.report._data import STAGE_EN, STAGE_ZH


def esc(value: object) -> str:
    """Text for HTML (``&``, ``<``, ``>`` and quotes escaped); missing values are empty.

    >>> esc("<b>阿明</b>")
    '&lt;b&gt;阿明&lt;/b&gt;'
    """
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    return html.escape(str(value), quote=True)


def heading(level: int, zh: str, en: str, anchor: str | None = None) -> str:
    """A Chinese heading with its English in small text."""
    ident = f' id="{esc(anchor)}"' if anchor else ""
    return f'<h{level}{ident}>{esc(zh)} <small lang="en">{esc(en)}</small></h{level}>'


def image(data: bytes, alt: str, cls: str = "chart") -> str:
    """An ``<img>`` carrying its PNG inline."""
    b64 = base64.b64encode(data).decode("ascii")
    return f'<img class="{cls}" alt="{esc(alt)}" src="data:image/png;base64,{b64}">'


def note(text: str, cls: str = "note") -> str:
    """A paragraph of already-escaped HTML."""
    return f'<p class="{cls}">{text}</p>'


#: Tables longer than this are folded into a <details> (the rows are all there, one click away).
FOLD_ROWS = 40


def fold(content: str, n_rows: int, zh: str, en: str) -> str:
    """``content`` inside a closed <details> when it has more than :data:`FOLD_ROWS` rows."""
    if n_rows <= FOLD_ROWS:
        return content
    return (f'<details class="fold"><summary>{esc(zh)} <small lang="en">{esc(en)}</small></summary>'
            f"{content}</details>")


def _number(value: object) -> float:
    """``value`` as a float; NaN when it is missing or not a number."""
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return float("nan")


@dataclass
class Column:
    """One column of a rendered table.

    ``render(row)`` gives ``(html, sort_key, title)``: the cell's content (already
    escaped), the value the sorting script compares (a number for ``num`` columns,
    text otherwise; None sorts last) and an optional tooltip.
    """

    zh: str
    en: str
    render: Callable[[pd.Series], tuple[str, object, str | None]]
    kind: str = "text"


def text_col(key: str, zh: str, en: str) -> Column:
    def render(row: pd.Series) -> tuple[str, object, str | None]:
        v = row.get(key)
        return esc(v), (None if esc(v) == "" else str(v)), None

    return Column(zh, en, render)


def num_col(key: str, zh: str, en: str, digits: int = 0, *, pct: bool = False, risk: bool = False) -> Column:
    def render(row: pd.Series) -> tuple[str, object, str | None]:
        v = _number(row.get(key))
        if math.isnan(v):
            return '<span class="na">–</span>', None, None
        shown = f"{v * 100:.{digits}f}%" if pct else f"{v:,.{digits}f}"
        if shown.startswith("-") and not shown.strip("-0.,%"):
            shown = shown[1:]  # -0.00: rounded to zero, no sign
        if risk:
            alpha = min(max(float(v), 0.0), 1.0) * 0.55
            shown = f'<span class="risk" style="background:rgba(214,48,39,{alpha:.2f})">{shown}</span>'
        return shown, float(v), None

    return Column(zh, en, render, "num")


def stage_col(code: str = "lifecycle_stage", zh_key: str = "lifecycle_stage_zh",
              en_key: str = "lifecycle_stage_en") -> Column:
    def render(row: pd.Series) -> tuple[str, object, str | None]:
        s = _number(row.get(code))
        if math.isnan(s):
            zh = esc(row.get(zh_key)) or "无人在群"
            return f'<span class="stage">{zh}</span>', None, None
        k = int(s)
        zh = esc(row.get(zh_key)) or STAGE_ZH.get(k, "")
        en = esc(row.get(en_key)) or STAGE_EN.get(k, "")
        return f'<span class="stage s{k}">{zh}</span> <small lang="en">{en}</small>', float(k), None

    return Column("生命周期", "lifecycle stage", render, "num")


def list_col(key: str, zh: str, en: str, en_key: str | None = None) -> Column:
    """A cell listing texts (reasons) separated by "；", the English as the tooltip."""

    def render(row: pd.Series) -> tuple[str, object, str | None]:
        items = row.get(key) or []
        title = "; ".join(row.get(en_key) or []) if en_key else None
        body = "；".join(esc(x) for x in items)
        return body, ("；".join(items) or None), (title or None)

    return Column(zh, en, render)


def table(frame: pd.DataFrame, columns: Sequence[Column], *, ident: str | None = None,
          sortable: bool = True, cls: str = "") -> str:
    """A ``<table>``, each header clickable to sort by that column when ``sortable``."""
    head = []
    for c in columns:
        attrs = f' data-type="{c.kind}"'
        if sortable:
            attrs += ' tabindex="0" title="点击排序 click to sort"'
        head.append(f"<th{attrs}>{esc(c.zh)}<br><small lang=\"en\">{esc(c.en)}</small></th>")
    body = []
    for _, row in frame.iterrows():
        cells = []
        for c in columns:
            content, key, title = c.render(row)
            sort = "" if key is None else (repr(key) if isinstance(key, float) else esc(key))
            tip = f' title="{esc(title)}"' if title else ""
            cells.append(f'<td data-sort="{sort}"{tip}>{content}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    classes = " ".join(x for x in ("sortable" if sortable else "", cls) if x)
    ident_attr = f' id="{esc(ident)}"' if ident else ""
    return (f'<table{ident_attr} class="{classes}"><thead><tr>{"".join(head)}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


CSS = """
:root { --ink:#1d2433; --muted:#5b6478; --line:#dde3ec; --head:#24476f; --bg:#f6f8fb; }
* { box-sizing: border-box; }
body { margin:0; font-family:"Noto Sans CJK SC","PingFang SC","Microsoft YaHei","WenQuanYi Micro Hei",
  "Source Han Sans SC",system-ui,sans-serif; color:var(--ink); background:var(--bg); line-height:1.45; }
header { background:var(--head); color:#fff; padding:18px 28px 14px; }
header h1 { margin:0 0 4px; font-size:26px; }
header p { margin:0; color:#d7e3f4; font-size:14px; }
header small { color:#b9cbe4; }
nav { background:#fff; border-bottom:1px solid var(--line); padding:8px 28px; position:sticky; top:0;
  z-index:5; font-size:14px; }
nav a { margin-right:18px; color:var(--head); text-decoration:none; }
main { padding:8px 28px 40px; max-width:1500px; }
section { background:#fff; border:1px solid var(--line); border-radius:8px; margin:18px 0;
  padding:4px 20px 18px; }
h2 { font-size:21px; margin:16px 0 8px; color:var(--head); }
h3 { font-size:16px; margin:14px 0 6px; }
small { color:var(--muted); font-weight:normal; font-size:0.78em; }
h2 small, h3 small { margin-left:6px; }
.note { color:var(--muted); font-size:13px; margin:6px 0; }
.absent { background:#fff6e0; border-left:4px solid #e0a400; padding:6px 10px; color:#6b5200; }
table { border-collapse:collapse; font-size:13px; margin:6px 0 10px; width:100%; }
th { background:var(--head); color:#fff; text-align:left; padding:6px 8px; vertical-align:bottom;
  position:sticky; top:38px; }
th small { color:#cfdcee; }
table.sortable th { cursor:pointer; user-select:none; }
table.sortable th[aria-sort="ascending"]::after { content:" ▲"; }
table.sortable th[aria-sort="descending"]::after { content:" ▼"; }
td { border-bottom:1px solid var(--line); padding:5px 8px; vertical-align:top; }
tbody tr:nth-child(even) td { background:#fafbfd; }
.na { color:#aab; }
.risk { padding:1px 5px; border-radius:3px; }
.stage { padding:1px 6px; border-radius:3px; background:#eee; white-space:nowrap; }
.stage.s0 { background:#c6f0c2; } .stage.s1 { background:#ffe2a8; } .stage.s2 { background:#f7b9b4; }
details { border:1px solid var(--line); border-radius:6px; margin:6px 0; padding:2px 10px; }
summary { cursor:pointer; padding:4px 0; font-weight:600; }
summary small { font-weight:normal; }
img.chart { max-width:100%; height:auto; display:block; margin:8px 0; }
footer { color:var(--muted); font-size:12px; padding:0 28px 30px; }
"""

#: Click (or Enter on) a header to sort its table; again to reverse. Numbers compare as
#: numbers, text in Chinese collation order; empty cells stay last either way.
SORT_JS = """
(function () {
  function key(cell, num) {
    var v = cell.getAttribute('data-sort');
    if (v === null || v === '') return null;
    return num ? parseFloat(v) : v;
  }
  function sortBy(table, th, index) {
    var asc = th.getAttribute('aria-sort') !== 'ascending';
    var num = th.getAttribute('data-type') === 'num';
    table.querySelectorAll('thead th').forEach(function (h) { h.removeAttribute('aria-sort'); });
    th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a.cells[index], num), y = key(b.cells[index], num);
      if (x === null && y === null) return 0;
      if (x === null) return 1;
      if (y === null) return -1;
      var c = num ? x - y : x.localeCompare(y, 'zh');
      return asc ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  document.querySelectorAll('table.sortable').forEach(function (table) {
    table.querySelectorAll('thead th').forEach(function (th, index) {
      th.addEventListener('click', function () { sortBy(table, th, index); });
      th.addEventListener('keydown', function (e) {
        if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); sortBy(table, th, index); }
      });
    });
  });
})();
"""


def page(title: str, subtitle: str, nav: Sequence[tuple[str, str]], sections: Sequence[str],
         footer: str) -> str:
    """The whole self-contained page."""
    links = "".join(f'<a href="#{esc(a)}">{esc(t)}</a>' for a, t in nav)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{esc(title)}</h1><p>{subtitle}</p></header>"
        f"<nav>{links}</nav><main>{''.join(sections)}</main>"
        f"<footer>{footer}</footer><script>{SORT_JS}</script></body></html>\n"
    )
