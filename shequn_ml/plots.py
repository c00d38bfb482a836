"""Plots people would rather look at than read: calibration, gains, SHAP summaries.

Helpers beside the models, not inside them: each takes arrays or an
:class:`~shequn_ml.explain.Explanation` and returns a matplotlib ``Figure``
(drawn with the non-interactive Agg backend, so they work on a server).
:func:`save_png` writes one atomically.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> p = rng.random(500); y = (rng.random(500) < p).astype(int)
>>> fig = calibration_plot(y, {"model": p})
>>> [ax.get_xlabel() for ax in fig.axes]  # the curve above, the histogram of risks below
['', 'predicted risk']
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from shequn_ml.explain import Explanation, feature_importance  # noqa: E402


def calibration_plot(y: np.ndarray, scores: Mapping[str, np.ndarray], n_bins: int = 10,
                     title: str = "calibration on the test cutoffs") -> Figure:
    """Observed rate against mean predicted risk per bin, one line per model."""
    fig, (ax, hist) = plt.subplots(2, 1, figsize=(6, 6.5), height_ratios=[3, 1], sharex=True)
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect")
    y = np.asarray(y, dtype=float)
    for name, p in scores.items():
        p = np.asarray(p, dtype=float)
        bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
        xs, ys = [], []
        for b in range(n_bins):
            sel = bins == b
            if sel.sum() >= 5:
                xs.append(p[sel].mean())
                ys.append(y[sel].mean())
        ax.plot(xs, ys, marker="o", label=name)
        hist.hist(p, bins=n_bins, range=(0, 1), histtype="step", label=name)
    ax.set_ylabel("observed rate")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize="small")
    hist.set_xlabel("predicted risk")
    hist.set_ylabel("members")
    fig.tight_layout()
    return fig


def cumulative_gains_plot(y: np.ndarray, scores: Mapping[str, np.ndarray],
                          title: str = "cumulative gains on the test cutoffs") -> Figure:
    """Share of all positives caught when contacting the top x% by score, per model."""
    fig, ax = plt.subplots(figsize=(6, 5))
    y = np.asarray(y, dtype=float)
    total = max(y.sum(), 1.0)
    frac = np.arange(1, len(y) + 1) / len(y)
    for name, p in scores.items():
        order = np.argsort(-np.asarray(p, dtype=float), kind="stable")
        ax.plot(frac, np.cumsum(y[order]) / total, label=name)
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="random")
    ax.set_xlabel("share of members contacted (highest risk first)")
    ax.set_ylabel("share of positives caught")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    return fig


def shap_bar_plot(explanation: Explanation, max_features: int = 20,
                  title: str = "mean |SHAP| per feature") -> Figure:
    """Horizontal bars of mean |SHAP| per feature, coloured by family."""
    table = feature_importance(explanation).head(max_features).iloc[::-1]
    families = sorted(table["family"].unique())
    colours = {f: plt.get_cmap("tab10")(i) for i, f in enumerate(families)}
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(table) + 1.5))
    ax.barh(table["feature"], table["mean_abs_shap"], color=[colours[f] for f in table["family"]])
    for f in families:
        ax.barh([], [], color=colours[f], label=f)
    ax.set_xlabel("mean |SHAP value| (log-odds)")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    return fig


def shap_beeswarm_plot(explanation: Explanation, X: object, max_features: int = 20,
                       title: str = "SHAP values per member") -> Figure:
    """The shap package's beeswarm (summary) plot on a new figure."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        import shap

    fig = plt.figure()
    shap.summary_plot(explanation.values.to_numpy(), X, feature_names=list(explanation.values.columns),
                      max_display=max_features, show=False, plot_size=(8, 0.35 * max_features + 1.5))
    fig = plt.gcf()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def save_png(fig: Figure, path: str | os.PathLike[str], dpi: int = 110) -> Path:
    """Save a figure as PNG atomically and close it."""
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".png", dir=dest.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, format="png", dpi=dpi)
        os.replace(tmp, dest)
    finally:
        Path(tmp).unlink(missing_ok=True)
        plt.close(fig)
    return dest
