"""Metrics for risk scores, in one function, so every model is judged the same way.

Examples
--------
>>> import numpy as np
>>> y = np.array([0, 0, 1, 1, 0, 1, 0, 0, 1, 0])
>>> p = np.array([.1, .2, .8, .7, .3, .9, .2, .1, .6, .4])
>>> m = classification_metrics(y, p)
>>> m["roc_auc"], m["precision_top_decile"], m["lift_top_decile"]
(1.0, 1.0, 2.5)
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

METRICS = ("roc_auc", "pr_auc", "log_loss", "brier", "ece", "precision_top_decile",
           "lift_top_decile", "base_rate", "n")


def expected_calibration_error(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> float:
    """Expected calibration error: the count-weighted mean |observed rate - mean risk|
    over ``n_bins`` equal-width bins of predicted risk.

    The bins split [0, 1] into ``n_bins`` equal intervals, the last one closed
    (a risk of 1.0 falls in it); empty bins count for nothing. This is the usual
    binned estimator (Naeini, Cooper and Hauskrecht, AAAI 2015; Guo et al., ICML
    2017, used 15 bins), with the 10 bins of a reliability diagram
    (:func:`shequn_ml.plots.calibration_plot`).

    It is biased upwards on few rows: labels drawn from exactly the predicted
    probabilities still give a positive ECE, about 0.02 for 1,700 rows with a base
    rate near 0.4, and shrinking as one over the square root of the rows.
    :func:`ece_noise_floor` estimates that floor for given probabilities, so that a
    figure can be read against it.

    >>> expected_calibration_error(np.array([0, 1]), np.array([0.0, 1.0]))
    0.0
    """
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    total = 0.0
    for b in range(n_bins):
        sel = bins == b
        if sel.any():
            total += sel.sum() * abs(y[sel].mean() - p[sel].mean())
    return float(total / len(y)) if len(y) else math.nan


def ece_noise_floor(p: np.ndarray, n_bins: int = 10, n_draws: int = 200, seed: int = 0) -> float:
    """The ECE that sampling noise alone gives these probabilities: the mean
    :func:`expected_calibration_error` over ``n_draws`` label sets drawn from ``p``
    itself (so perfectly calibrated by construction).

    An ECE near this floor is as good as the number of rows can show; the floor
    is not subtracted from anything.

    >>> rng = np.random.default_rng(0)
    >>> small, large = ece_noise_floor(rng.random(1_700)), ece_noise_floor(rng.random(170_000))
    >>> 0.01 < small < 0.03, large < 0.003
    (True, True)
    """
    p = np.asarray(p, dtype=float)
    if len(p) == 0:
        return math.nan
    rng = np.random.default_rng(seed)
    draws = [expected_calibration_error((rng.random(len(p)) < p).astype(int), p, n_bins)
             for _ in range(n_draws)]
    return float(np.mean(draws))


def top_decile(y: np.ndarray, score: np.ndarray) -> tuple[float, float]:
    """Precision among the 10% highest scores (ties broken by position) and its lift."""
    y = np.asarray(y, dtype=float)
    k = max(1, int(math.ceil(0.1 * len(y))))
    order = np.argsort(-np.asarray(score, dtype=float), kind="stable")[:k]
    precision = float(y[order].mean())
    base = float(y.mean())
    return precision, precision / base if base > 0 else math.nan


def classification_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """ROC-AUC, PR-AUC, log-loss, Brier score, ECE, top-decile precision and lift.

    Parameters
    ----------
    y : array of 0/1
        Labels.
    p : array of float
        Predicted probabilities of label 1. Rank-only metrics (AUC, PR-AUC,
        top decile) need only an order; the others need probabilities in [0, 1].

    Returns
    -------
    dict
        Keys of :data:`METRICS`; NaN where a metric is undefined (one class only).
    """
    y = np.asarray(y).astype(int)
    p = np.asarray(p, dtype=float)
    out = {k: math.nan for k in METRICS}
    out["n"] = float(len(y))
    out["base_rate"] = float(y.mean()) if len(y) else math.nan
    if len(y) == 0:
        return out
    both = 0 < y.sum() < len(y)
    if both:
        out["roc_auc"] = float(roc_auc_score(y, p))
        out["pr_auc"] = float(average_precision_score(y, p))
    if np.all((p >= 0) & (p <= 1)):
        pc = np.clip(p, 1e-6, 1 - 1e-6)
        out["log_loss"] = float(log_loss(y, pc, labels=[0, 1]))
        out["brier"] = float(brier_score_loss(y, p))
        out["ece"] = expected_calibration_error(y, p)
    out["precision_top_decile"], out["lift_top_decile"] = top_decile(y, p)
    return out
