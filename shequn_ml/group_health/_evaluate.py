"""Group health on one time split: the model and both baselines on the same test rows.

:func:`evaluate_group_health` builds the group features and labels at every cutoff of a
:func:`~shequn_ml.split.time_split` (train < validation < test, label windows apart),
fits :class:`GroupHealthModel` on the training cutoffs (early stopping and calibration
on the validation cutoffs) and the baselines on the training cutoffs, and scores all
three on the test cutoffs, which nothing was fitted or tuned on.

Ranking metrics (ROC-AUC, PR-AUC, top decile) are computed from each model's ranking
score (``decision_function``: the baselines' full-resolution rule, not their isotonic
steps, so ties do not cost them), calibration metrics (log-loss, Brier, ECE) from its
probabilities. The model's advantage is given with a **group bootstrap**: groups are
drawn with replacement (all test rows of a drawn group come along, since a group's
cutoffs are not independent), and the AUC difference is recomputed on each draw.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from shequn_ml.features.snapshots import EventHistory
from shequn_ml.features.spec import FeatureSpec
from shequn_ml.group_health._common import as_history
from shequn_ml.group_health._features import FEATURE_NAMES, KEY, group_features
from shequn_ml.group_health._labels import LABEL, group_health_labels
from shequn_ml.group_health._model import ActivityTrendRule, GroupHealthModel, LastPeriodActivity
from shequn_ml.metrics import classification_metrics, ece_noise_floor
from shequn_ml.split import DataError, TimeSplit, time_split

MODEL = "lightgbm"
BASELINES = ("activity_trend_rule", "last_period_activity")
COLUMNS = ["roc_auc", "pr_auc", "ece", "ece_noise_floor", "log_loss", "brier", "precision_top_decile",
           "lift_top_decile", "base_rate", "n"]


def score_metrics(y: np.ndarray, proba: np.ndarray, score: np.ndarray) -> dict[str, float]:
    """:func:`shequn_ml.metrics.classification_metrics` with the ranking metrics taken from
    ``score`` (any real ranking) and the calibration metrics from ``proba``, plus
    ``ece_noise_floor`` (:func:`shequn_ml.metrics.ece_noise_floor`: the ECE that perfectly
    calibrated probabilities would show on so few rows)."""
    out = classification_metrics(y, proba)
    out["ece_noise_floor"] = ece_noise_floor(proba) if len(y) else math.nan
    if len(y):
        ranked = classification_metrics(y, rankdata(score) / len(score))  # an order in (0, 1]
        for k in ("roc_auc", "pr_auc", "precision_top_decile", "lift_top_decile"):
            out[k] = ranked[k]
    return out


class _Ranked:
    """One score's distinct values, in descending order, for weighted AUC and AP on many draws."""

    def __init__(self, y: np.ndarray, score: np.ndarray) -> None:
        uniq, inv = np.unique(-np.asarray(score, dtype=float), return_inverse=True)  # highest first
        self.inv, self.k, self.y = inv, len(uniq), y.astype(float)

    def auc_ap(self, w: np.ndarray) -> tuple[float, float]:
        """Weighted ROC-AUC (ties count half) and average precision (as scikit-learn's)."""
        pos = np.bincount(self.inv, weights=w * self.y, minlength=self.k)
        neg = np.bincount(self.inv, weights=w * (1 - self.y), minlength=self.k)
        P, N = pos.sum(), neg.sum()
        below = N - np.cumsum(neg)  # negatives scored lower than each value
        auc = float((pos * (below + 0.5 * neg)).sum() / (P * N))
        tp, fp = np.cumsum(pos), np.cumsum(neg)
        seen = (tp + fp) > 0
        precision = np.divide(tp, tp + fp, out=np.zeros(self.k), where=seen)
        ap = float((np.diff(np.r_[0.0, tp / P]) * precision).sum())
        return auc, ap


def group_bootstrap(y: np.ndarray, scores: dict[str, np.ndarray], groups: np.ndarray,
                    against: str, *, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Group-bootstrap 95% intervals of ``AUC(against) - AUC(other)`` for every other model.

    Parameters
    ----------
    y : array of 0/1
        Test labels.
    scores : dict of arrays
        Ranking score of each model on the same rows.
    groups : array
        The group of each row; draws are of whole groups (a drawn group's rows weigh as
        many times as it was drawn).
    against : str
        The model whose advantage is measured (a key of ``scores``).
    n_boot : int, default 1000
    seed : int, default 0

    Returns
    -------
    DataFrame
        One row per other model: ``roc_auc_diff``, ``roc_auc_diff_lo``, ``roc_auc_diff_hi``
        (the point difference and the 2.5% and 97.5% quantiles of the draws), the same for
        ``pr_auc`` (average precision), ``share_not_better`` (draws where the ROC-AUC
        difference is <= 0) and ``n_boot`` (draws with both classes).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 400); g = np.repeat(np.arange(40), 10)
    >>> s = {"good": y + rng.normal(0, 0.5, 400), "noise": rng.normal(size=400)}
    >>> b = group_bootstrap(y, s, g, "good", n_boot=200)
    >>> bool(b.loc["noise", "roc_auc_diff_lo"] > 0)
    True
    >>> from sklearn.metrics import roc_auc_score
    >>> diff = roc_auc_score(y, s["good"]) - roc_auc_score(y, s["noise"])
    >>> bool(np.isclose(b.loc["noise", "roc_auc_diff"], diff))
    True
    """
    y = np.asarray(y, dtype=int)
    codes, uniq = pd.factorize(np.asarray(groups))
    rng = np.random.default_rng(seed)
    ranked = {k: _Ranked(y, v) for k, v in scores.items()}
    others = [k for k in scores if k != against]
    ones = np.ones(len(y))
    base = ranked[against].auc_ap(ones)
    point = {k: np.subtract(base, ranked[k].auc_ap(ones)) for k in others}
    diffs: dict[str, list[np.ndarray]] = {k: [] for k in others}
    for _ in range(n_boot):
        w = np.bincount(rng.integers(0, len(uniq), len(uniq)), minlength=len(uniq))[codes].astype(float)
        wp = (w * y).sum()
        if wp == 0 or wp == w.sum():
            continue  # one class only in this draw
        b = ranked[against].auc_ap(w)
        for k in others:
            diffs[k].append(np.subtract(b, ranked[k].auc_ap(w)))
    rows = {}
    for k in others:
        d = np.array(diffs[k]).reshape(-1, 2)
        lo, hi = (np.quantile(d, [0.025, 0.975], axis=0) if len(d)
                  else np.full((2, 2), np.nan))
        rows[k] = {"roc_auc_diff": point[k][0], "roc_auc_diff_lo": lo[0], "roc_auc_diff_hi": hi[0],
                   "pr_auc_diff": point[k][1], "pr_auc_diff_lo": lo[1], "pr_auc_diff_hi": hi[1],
                   "share_not_better": float((d[:, 0] <= 0).mean()) if len(d) else np.nan,
                   "n_boot": float(len(d))}
    return pd.DataFrame(rows).T


@dataclass
class GroupHealthEvaluation:
    """The comparison on the test cutoffs, and what it was made from."""

    table: pd.DataFrame
    bootstrap: pd.DataFrame
    split: TimeSplit
    rows: dict[str, int]
    positives: dict[str, int]
    label_rate: dict[str, float]
    #: deaths by reason ("silent", "speakers_fell") in each fold
    reasons: dict[str, dict[str, int]] = field(default_factory=dict)
    models: dict[str, object] = field(default_factory=dict)
    validation_metrics: dict[str, float] = field(default_factory=dict)
    #: the test fold: keys, label, reason and features
    test_frame: pd.DataFrame | None = None
    #: ranking score of each model on ``test_frame``'s rows
    test_scores: dict[str, np.ndarray] = field(default_factory=dict)
    #: probability of each model on ``test_frame``'s rows
    test_proba: dict[str, np.ndarray] = field(default_factory=dict)
    feature_names: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        """The test-fold metrics, one row per model, as a markdown table."""
        cols = [c for c in COLUMNS if c in self.table.columns]
        lines = ["| model | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
        for name, row in self.table[cols].iterrows():
            cells = [_cell(c, v) for c, v in zip(cols, row, strict=True)]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def bootstrap_markdown(self) -> str:
        """The model's ROC-AUC and PR-AUC advantage over each baseline, with group-bootstrap 95%
        intervals, as a markdown table."""
        lines = ["| model − baseline | ΔROC-AUC | 95% interval | ΔPR-AUC | 95% interval | "
                 "draws not better |", "|---|---:|---:|---:|---:|---:|"]
        for name, r in self.bootstrap.iterrows():
            lines.append(f"| {MODEL} − {name} | {r.roc_auc_diff:+.3f} | "
                         f"[{r.roc_auc_diff_lo:+.3f}, {r.roc_auc_diff_hi:+.3f}] | "
                         f"{r.pr_auc_diff:+.3f} | [{r.pr_auc_diff_lo:+.3f}, {r.pr_auc_diff_hi:+.3f}] | "
                         f"{r.share_not_better:.1%} |")
        return "\n".join(lines)

    def describe(self) -> str:
        """One line per fold: cutoffs, rows, positives."""
        return "; ".join(f"{f}: {self.rows[f]} rows, {self.positives[f]} deaths "
                         f"({self.label_rate[f]:.1%}; {self.reasons[f]['silent']} silent, "
                         f"{self.reasons[f]['speakers_fell']} lost speakers)"
                         for f in ("train", "validation", "test"))


def _cell(column: str, value: float) -> str:
    if isinstance(value, float) and math.isnan(value):
        return ""
    return f"{value:.0f}" if column == "n" else f"{value:.3f}"


def evaluate_group_health(
    events: pd.DataFrame | EventHistory,
    members: pd.DataFrame | None,
    groups: pd.DataFrame | None,
    cutoffs: Sequence[object],
    *,
    horizon_days: float = 28.0,
    loss_share: float = 0.5,
    n_validation: int = 3,
    n_test: int = 4,
    model: GroupHealthModel | None = None,
    spec: FeatureSpec | None = None,
    n_boot: int = 1000,
    random_state: int = 0,
) -> GroupHealthEvaluation:
    """Fit the group-health model and its baselines on one time split; score the test cutoffs.

    Parameters
    ----------
    events : DataFrame or EventHistory
        Normalised events (or a history built on them with the side tables).
    members, groups : DataFrame or None
        Normalised side tables.
    cutoffs : sequence of timestamps
        All cutoffs; :func:`~shequn_ml.split.time_split` assigns them to folds.
    horizon_days, loss_share : float
        The label (:func:`~shequn_ml.group_health.group_health_labels`).
    n_validation, n_test : int, default 3 and 4
        Cutoffs in the validation and test folds.
    model : GroupHealthModel, optional
        Unfitted; the defaults when omitted (``random_state`` is set on it).
    spec : FeatureSpec, optional
        The trend windows of the lifecycle rule.
    n_boot : int, default 1000
        Group-bootstrap draws for the intervals of the AUC differences.
    random_state : int, default 0

    Returns
    -------
    GroupHealthEvaluation

    Raises
    ------
    DataError
        When the cutoffs cannot make the split, or a fold has one label class only.

    Examples
    --------
    >>> from pathlib import Path
    >>> import shequn_ml
    >>> from shequn_ml.io import read_events, read_groups, read_members
    >>> from shequn_ml.features import rolling_cutoffs
    >>> d = Path(shequn_ml.__file__).parents[1] / "data" / "sample"
    >>> ev, mb, gr = (read_events(d / "events.parquet"), read_members(d / "members.parquet"),
    ...               read_groups(d / "groups.parquet"))
    >>> r = evaluate_group_health(ev, mb, gr, rolling_cutoffs("2024-01-29", "2024-06-01", 7),
    ...                           n_validation=2, n_test=2, n_boot=50)
    >>> list(r.table.index)
    ['lightgbm', 'activity_trend_rule', 'last_period_activity']
    """
    split = time_split(cutoffs, horizon_days, n_validation=n_validation, n_test=n_test)
    used = split.train + split.validation + split.test
    history = as_history(events, members, groups)
    features = group_features(history, used, spec=spec)
    labels = group_health_labels(history, used, horizon_days=horizon_days, loss_share=loss_share)
    data = labels.merge(features, on=KEY, how="inner", validate="one_to_one")
    data["fold"] = split.fold_of(data["cutoff"]).to_numpy()
    parts = {f: data.loc[data["fold"] == f].reset_index(drop=True)
             for f in ("train", "validation", "test")}
    for f, part in parts.items():
        if part[LABEL].nunique() < 2:
            raise DataError(
                f"the {f} fold of the group-health task has {len(part)} rows and only label "
                f"{part[LABEL].iloc[0] if len(part) else 'none'}: use more cutoffs, more groups, "
                "a longer horizon or a smaller loss_share")
    train, val, test = parts["train"], parts["validation"], parts["test"]
    cols = FEATURE_NAMES
    main = model if model is not None else GroupHealthModel()
    main.set_params(random_state=random_state)
    fitted: dict[str, object] = {
        MODEL: main.fit(train[cols], train[LABEL], X_val=val[cols], y_val=val[LABEL]),
        "activity_trend_rule": ActivityTrendRule().fit(train[cols], train[LABEL]),
        "last_period_activity": LastPeriodActivity().fit(train[cols], train[LABEL]),
    }
    y = test[LABEL].to_numpy()
    results, scores, proba = {}, {}, {}
    for name, est in fitted.items():
        proba[name] = est.predict_proba(test[cols])[:, 1]
        scores[name] = est.decision_function(test[cols])
        results[name] = score_metrics(y, proba[name], scores[name])
    validation = classification_metrics(val[LABEL].to_numpy(), main.predict_proba(val[cols])[:, 1])
    boot = group_bootstrap(y, scores, test["group_id"].to_numpy(), MODEL, n_boot=n_boot,
                           seed=random_state)
    return GroupHealthEvaluation(
        table=pd.DataFrame(results).T[COLUMNS], bootstrap=boot, split=split,
        rows={f: len(p) for f, p in parts.items()},
        positives={f: int(p[LABEL].sum()) for f, p in parts.items()},
        label_rate={f: float(p[LABEL].mean()) for f, p in parts.items()},
        reasons={f: {r: int((p["reason"] == r).sum()) for r in ("silent", "speakers_fell")}
                 for f, p in parts.items()},
        models=fitted, validation_metrics=validation,
        test_frame=test.drop(columns="fold"), test_scores=scores, test_proba=proba,
        feature_names=list(cols))
