"""The report's charts: matplotlib figures drawn off-screen, returned as PNG bytes.

Chinese labels need a font with CJK glyphs. :func:`cjk_font` finds one among the
fonts matplotlib knows and, since matplotlib's font list is cached and misses a font
installed after the cache was made, among the font files on disk. Without one the
charts are labelled in English only (the HTML around them stays Chinese).
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

from shequn_ml.report._data import ROLE_ZH, ROLES, STAGE_EN, STAGE_ZH, Curve

#: Families known to carry Chinese glyphs, tried first (their names are cheap to match).
CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans SC", "Source Han Sans SC",
                "WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "Droid Sans Fallback", "AR PL UMing CN",
                "PingFang SC", "Microsoft YaHei", "SimHei", "Heiti SC")
_CJK_FILE_HINTS = ("cjk", "wqy", "wenquanyi", "droidsansfallback", "sourcehan", "uming", "ukai", "simhei",
                   "msyh", "pingfang", "notosanssc")
_PROBE = "群"
STAGE_COLOUR = {0: "#c6f0c2", 1: "#ffe2a8", 2: "#f7b9b4"}
BAR = "#3b6fb6"
DPI = 100
COLS = 5


@functools.cache
def cjk_font() -> str | None:
    """The name of a font that draws Chinese, registered with matplotlib; None when there is none."""
    from matplotlib import font_manager as fm

    def draws_chinese(path: str) -> bool:
        try:
            return ord(_PROBE) in fm.get_font(path).get_charmap()
        except Exception:  # an unreadable font file is not a candidate
            return False

    known = {f.name: f.fname for f in fm.fontManager.ttflist}
    for name in CJK_FAMILIES:
        if name in known and draws_chinese(known[name]):
            return name
    for f in fm.fontManager.ttflist:
        if any(h in f.fname.lower().replace("-", "").replace("_", "") for h in _CJK_FILE_HINTS) \
                and draws_chinese(f.fname):
            return f.name
    for path in sorted(fm.findSystemFonts()):  # installed after matplotlib's cache was built
        flat = path.lower().replace("-", "").replace("_", "")
        if any(h in flat for h in _CJK_FILE_HINTS) and "serif" not in flat and "bold" not in flat \
                and draws_chinese(path):
            fm.fontManager.addfont(path)
            return fm.FontProperties(fname=path).get_name()
    return None


def label(zh: str, en: str) -> str:
    """``"中文 English"`` when a CJK font is there, else the English alone."""
    return f"{zh} {en}" if cjk_font() else en


def _with_font(draw: Callable[..., bytes]) -> Callable[..., bytes]:
    """Run a chart function with the CJK font first in matplotlib's font list (text is laid out
    when the figure is saved, so the whole function runs inside the setting)."""

    @functools.wraps(draw)
    def wrapped(*args: object, **kwargs: object) -> bytes:
        import matplotlib

        font = cjk_font()
        rc = {"font.family": "sans-serif", "font.sans-serif": [font, "DejaVu Sans"]} if font else {}
        with matplotlib.rc_context(rc):
            return draw(*args, **kwargs)

    return wrapped


def png(fig: Figure) -> bytes:
    """The figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def _grid(n: int, panel_w: float = 2.9, panel_h: float = 1.9, top: float = 0.55) -> tuple[Figure, list]:
    """A grid of ``n`` panels, :data:`COLS` a row, ``top`` inches kept free for a legend or title.

    Margins are fixed rather than solved by a layout engine: with dozens of panels the
    constrained layout takes seconds per chart.
    """
    rows = max(1, math.ceil(n / COLS))
    cols = min(COLS, max(n, 1))
    width, height = panel_w * cols, panel_h * rows + top
    fig = Figure(figsize=(width, height), dpi=DPI)
    fig.subplots_adjust(left=0.35 / width, right=1 - 0.1 / width, bottom=0.3 / height,
                        top=1 - (top + 0.25) / height, wspace=0.25, hspace=0.55 * 1.9 / panel_h)
    axes = fig.subplots(rows, cols, squeeze=False).ravel().tolist()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


@_with_font
def stage_mix_chart(stages: pd.DataFrame) -> bytes:
    """Groups in each lifecycle stage, week by week (stacked bars): the community's course."""
    counts = pd.crosstab(stages["at"], stages["stage"]).reindex(columns=list(STAGE_ZH), fill_value=0)
    counts = counts.sort_index()
    fig = Figure(figsize=(7.2, 2.6), dpi=DPI, layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(counts))
    bottom = np.zeros(len(counts))
    edge = {0: "#4c9a45", 1: "#d99a1e", 2: "#c8453c"}
    for k in STAGE_ZH:
        v = counts[k].to_numpy(dtype=float)
        ax.bar(x, v, bottom=bottom, color=STAGE_COLOUR[k], edgecolor=edge[k], lw=0.6,
               label=label(STAGE_ZH[k], STAGE_EN[k]))
        bottom += v
    step = max(1, len(counts) // 8)
    ax.set_xticks(x[::step], [f"{t:%m-%d}" for t in counts.index[::step]], fontsize=8)
    ax.set_ylabel(label("群数", "groups"))
    ax.set_title(label("每周各生命周期阶段的群数", "groups per lifecycle stage, week by week"), fontsize=10)
    ax.legend(fontsize=8, ncol=3, loc="upper left", frameon=False)
    ax.set_ylim(0, max(float(bottom.max()), 1.0) * 1.25)
    return png(fig)


@_with_font
def activity_chart(groups: Sequence[str], weekly: pd.DataFrame, stages: pd.DataFrame) -> bytes:
    """Small multiples: weekly speaking events of each group, the background shaded by its stage.

    Each week is shaded by the stage the rule gave at that week's end (green
    honeymoon, amber doubt, red breakup); a week with nobody present is white.
    """
    fig, axes = _grid(len(groups))
    by_group = dict(tuple(weekly.groupby("group_id", sort=False)))
    stage_by = {(g, t): s for g, t, s in stages[["group_id", "at", "stage"]].itertuples(index=False)}
    for ax, g in zip(axes, groups, strict=True):
        w = by_group.get(g)
        if w is None:
            ax.set_title(g, fontsize=9)
            continue
        w = w.sort_values("week_end")
        x = np.arange(len(w))
        heights = w["speaking"].to_numpy(dtype=float)
        top = max(float(heights.max()), 1.0) * 1.08
        strip = np.ones((1, len(w), 3))
        for i, t in enumerate(w["week_end"]):
            s = stage_by.get((g, t))
            if s is not None and np.isfinite(s):
                strip[0, i] = to_rgb(STAGE_COLOUR[int(s)])
        ax.imshow(strip, extent=(-0.5, len(w) - 0.5, 0, top), aspect="auto", interpolation="nearest",
                  zorder=0)
        ax.bar(x, heights, color=BAR, width=0.8, zorder=1)
        ax.set_ylim(0, top)
        last = stage_by.get((g, w["week_end"].max()))
        now = (STAGE_ZH[int(last)] if cjk_font() else STAGE_EN[int(last)]) if last is not None \
            and np.isfinite(last) else "-"
        ax.set_title(f"{g} · {now}", fontsize=9)
        ticks = [0, len(w) - 1] if len(w) > 1 else [0]
        ax.set_xticks(ticks, [f"{t:%m-%d}" for t in w["week_end"].iloc[ticks]], fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
        ax.set_xlim(-0.5, len(w) - 0.5)
    from matplotlib.patches import Patch

    handles = [Patch(color=STAGE_COLOUR[k], label=label(STAGE_ZH[k], STAGE_EN[k])) for k in STAGE_ZH]
    handles.append(Patch(color=BAR, label=label("每周发言", "speaking events per week")))
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 1.0), ncol=4, fontsize=8,
               frameon=False)
    return png(fig)


@_with_font
def km_chart(curves: Sequence[Curve], title: str, *, reference: Curve | None = None,
             max_days: float | None = None) -> bytes:
    """Kaplan-Meier curves of several strata on one chart (the reference, e.g. everyone, dashed)."""
    fig = Figure(figsize=(7.2, 3.8), dpi=DPI, layout="constrained")
    ax = fig.subplots()
    if reference is not None:
        sf = reference.table["survival"]
        ax.step(sf.index, sf.to_numpy(), where="post", color="#555", ls="--", lw=1.5,
                label=f"{reference.label} (n={reference.n})")
    colours = _colours(len(curves))
    for c, colour in zip(curves, colours, strict=True):
        sf = c.table["survival"]
        ax.step(sf.index, sf.to_numpy(), where="post", color=colour, lw=1.4, label=f"{c.label} (n={c.n})")
    ax.set_ylim(0, 1.02)
    if max_days:
        ax.set_xlim(0, max_days)
    ax.set_xlabel(label("入群天数", "days since joining"))
    ax.set_ylabel(label("仍在群比例", "share still in the group"))
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2 if len(curves) > 6 else 1, loc="lower left", frameon=False)
    return png(fig)


@_with_font
def km_small_multiples(curves: Sequence[Curve], reference: Curve | None, max_days: float) -> bytes:
    """One panel per group: its Kaplan-Meier curve with 95% band, everyone's curve dashed."""
    fig, axes = _grid(len(curves))
    for ax, c in zip(axes, curves, strict=True):
        if reference is not None:
            ref = reference.table["survival"]
            ax.step(ref.index, ref.to_numpy(), where="post", color="#888", ls="--", lw=1)
        t = c.table
        ax.fill_between(t.index, t["lower"].to_numpy(), t["upper"].to_numpy(), step="post", color=BAR,
                        alpha=0.2, lw=0)
        ax.step(t.index, t["survival"].to_numpy(), where="post", color=BAR, lw=1.4)
        ax.set_ylim(0, 1.02)
        ax.set_xlim(0, max_days)
        ax.set_title(f"{c.label} (n={c.n})", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle(label("各群留存（虚线：全社群）", "retention per group (dashed: whole community)"),
                 fontsize=10)
    return png(fig)


@_with_font
def pyramid_chart(groups: Sequence[str], counts: pd.DataFrame, *, total: bool = True) -> bytes:
    """Role pyramids: one panel per group (the first the whole community when ``total``).

    Each role is a bar centred on the axis, thinkers on top, lurkers at the base; its
    width is the role's share of the group's members.
    """
    panels: list[tuple[str, pd.Series]] = []
    if total:
        panels.append((label("全社群", "all groups"), counts.sum(axis=0)))
    for g in groups:
        if g in counts.index:
            panels.append((g, counts.loc[g]))
    fig, axes = _grid(len(panels), panel_h=2.1, top=0.05)
    fig.subplots_adjust(left=0.55 / (2.9 * min(COLS, max(len(panels), 1))), wspace=0.45)
    names = [ROLE_ZH[r] if cjk_font() else r for r in ROLES]
    colours = ["#7b3294", "#c2a5cf", "#5aae61", "#a6dba0", "#bdbdbd"]
    for ax, (title, row) in zip(axes, panels, strict=True):
        values = row.reindex(list(ROLES)).fillna(0).to_numpy(dtype=float)
        share = values / values.sum() if values.sum() else values
        y = np.arange(len(ROLES))[::-1]
        ax.barh(y, share, left=-share / 2, color=colours, height=0.8)
        for yi, v, sh in zip(y, values, share, strict=True):
            ax.text(sh / 2 + 0.03, yi, f"{int(v)}", ha="left", va="center", fontsize=7)
        ax.set_xlim(-0.55, 0.7)
        ax.set_yticks(y, names, fontsize=7)
        ax.tick_params(axis="y", length=0)
        ax.set_xticks([])
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)
        ax.set_title(f"{title} (n={int(values.sum())})", fontsize=9)
    return png(fig)


def _colours(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]
