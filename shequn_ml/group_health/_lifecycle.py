"""The lifecycle stage (恋爱期 → 质疑期 → 分手期) judged against the simulator's vitality.

Truth stage
-----------
The simulator (:mod:`shequn_ml.simulate`, ``docs/simulator.md``) gives every group a
daily *vitality* ``V``: 1 at creation, at most 1.2, multiplying every member's speaking
rate. It decays each day at a rate that grows as the group fills past its founders and
with low-quality members (the doubt mechanisms) and by ``breakup_multiplier`` once
``V < breakup_threshold`` (the simulator's own 分手期); interventions, joiners and
leaders add to it. ``truth_group_days.vitality`` of day ``D`` is ``V`` at the start of
that day, a function of days before ``D`` only, so for a cutoff at the midnight opening
day ``D`` the truth stage is, first match wins:

* **2, breakup (分手期)**: ``V[D] < breakup_threshold`` (0.3, read from the world's
  configuration): the regime in which the simulator accelerates the decay;
* **1, doubt (质疑期)**: ``V[D] < V[D - 28]``: vitality fell over the last 28 days (for a
  group younger than 28 days, against its creation value of 1);
* **0, honeymoon (恋爱期)**: otherwise: vitality at least where it was 28 days ago.

The definition is fixed from the simulator's mechanics (its threshold, its notion of
decay), not fitted to agree with any rule: a group that decays from birth is in doubt
from its first week, as the simulator's rates say, even though the member-level
honeymoon (new members talk more) keeps its talk up for a while.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning, UndefinedMetricWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import cohen_kappa_score, confusion_matrix
from sklearn.utils.validation import check_is_fitted

from shequn_ml.features.snapshots import as_cutoffs
from shequn_ml.group_health._reasons import STAGE_EN, STAGE_ZH
from shequn_ml.models._validation import check_frame

STAGES = (0, 1, 2)
TRUTH_WINDOW_DAYS = 28


def truth_lifecycle_stage(truth: object, cutoffs: object | Sequence[object], *,
                          window_days: int = TRUTH_WINDOW_DAYS) -> pd.DataFrame:
    """The simulator's true lifecycle stage of every group created before each cutoff.

    Parameters
    ----------
    truth : path or SimulationTruth
        A simulator output folder (:func:`shequn_ml.simulate.simulate`) or its
        :func:`~shequn_ml.simulate.load_truth`.
    cutoffs : timestamp or sequence
        UTC midnights inside the simulated period.
    window_days : int, default 28
        How far back "falling" looks.

    Returns
    -------
    DataFrame
        ``group_id`` (str), ``cutoff``, ``vitality`` (at the cutoff), ``vitality_before``
        (``window_days`` earlier, or 1 at creation), ``truth_stage`` (0/1/2).

    Raises
    ------
    ValueError
        If a cutoff is not a UTC midnight or lies outside the simulated days.

    Examples
    --------
    >>> from pathlib import Path
    >>> import shequn_ml
    >>> sample = Path(shequn_ml.__file__).parents[1] / "data" / "sample"
    >>> t = truth_lifecycle_stage(sample, ["2024-03-01", "2024-06-01"])
    >>> sorted(t["truth_stage"].unique().tolist())
    [0, 1, 2]
    """
    from shequn_ml.simulate import load_truth

    if not (isinstance(window_days, int | np.integer) and window_days > 0):
        raise ValueError(f"window_days must be a positive whole number of days, got {window_days!r}")
    if isinstance(truth, str | os.PathLike):
        truth = load_truth(truth)
    cfg = truth.config
    days = truth.group_days[["group_id", "day", "vitality"]].copy()
    days["group_id"] = days["group_id"].astype(str)
    created = days.groupby("group_id")["day"].min()
    v = days.set_index(["group_id", "day"])["vitality"].astype(float)
    parts = []
    for c in as_cutoffs(cutoffs):
        d = truth.day_of(c)
        if not 0 <= d < cfg.days:
            raise ValueError(f"cutoff {c:%Y-%m-%d} is outside the simulated days "
                             f"({cfg.start} + {cfg.days} days)")
        groups = created.index[created.to_numpy() < d]
        now = v.reindex(pd.MultiIndex.from_arrays([groups, np.full(len(groups), d)])).to_numpy()
        ref_day = np.maximum(d - window_days, created.reindex(groups).to_numpy())
        before = v.reindex(pd.MultiIndex.from_arrays([groups, ref_day])).to_numpy()
        stage = np.where(now < cfg.breakup_threshold, 2, np.where(now < before, 1, 0))
        parts.append(pd.DataFrame({"group_id": np.asarray(groups, dtype=object), "cutoff": c,
                                   "vitality": now, "vitality_before": before,
                                   "truth_stage": stage.astype(np.int64)}))
    return pd.concat(parts, ignore_index=True)


@dataclass
class StageAgreement:
    """How well a stage assignment agrees with the truth on the same rows."""

    accuracy: float
    kappa: float
    confusion: pd.DataFrame
    n: int

    def markdown(self) -> str:
        """The confusion matrix (rows: truth, columns: assigned) as a markdown table."""
        head = "| truth \\ assigned | " + " | ".join(self.confusion.columns) + " |"
        lines = [head, "|---|" + "---:|" * len(self.confusion.columns)]
        for name, row in self.confusion.iterrows():
            lines.append(f"| {name} | " + " | ".join(str(int(v)) for v in row) + " |")
        return "\n".join(lines)


def _stage_names() -> list[str]:
    return [f"{s} {STAGE_EN[s]} {STAGE_ZH[s]}" for s in STAGES]


def stage_agreement(assigned: object, truth: object) -> StageAgreement:
    """Accuracy, Cohen's kappa and the confusion matrix of stages (0/1/2) against the truth.

    >>> a = stage_agreement([0, 1, 2, 2], [0, 2, 2, 2])
    >>> a.accuracy, round(a.kappa, 3), int(a.confusion.iloc[2, 1])
    (0.75, 0.556, 1)
    """
    a = np.asarray(assigned, dtype=float)
    t = np.asarray(truth, dtype=float)
    if a.shape != t.shape or a.ndim != 1:
        raise ValueError(f"assigned and truth must be two equally long 1-d sequences; got shapes "
                         f"{a.shape} and {t.shape}")
    if not (np.isin(a, STAGES).all() and np.isin(t, STAGES).all()):
        raise ValueError("stages must be 0 (honeymoon), 1 (doubt) or 2 (breakup); got values "
                         f"{sorted(set(np.unique(a)) | set(np.unique(t)))[:6]}")
    a, t = a.astype(int), t.astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # one class everywhere: kappa undefined
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        kappa = float(cohen_kappa_score(t, a, labels=list(STAGES))) if len(t) else float("nan")
    cm = confusion_matrix(t, a, labels=list(STAGES))
    names = _stage_names()
    return StageAgreement(float((a == t).mean()) if len(t) else float("nan"), kappa,
                          pd.DataFrame(cm, index=names, columns=names), len(t))


class LearnedStage(ClassifierMixin, BaseEstimator):
    """A multinomial logistic regression from group features to the lifecycle stage.

    Meant to be fitted on one simulated world's truth stages and judged on another's.
    Columns never negative on the training rows are ``log1p``-scaled; all are
    standardised; missing values are set to the training mean.

    Parameters
    ----------
    C : float, default 1.0
        Inverse L2 penalty (on standardised features).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"speak_per_member_28d": rng.gamma(2, 4, 300),
    ...                   "activity_trend": rng.normal(-0.3, 0.5, 300)})
    >>> y = np.where(X.speak_per_member_28d < 3, 2, np.where(X.activity_trend < 0, 1, 0))
    >>> m = LearnedStage().fit(X, y)
    >>> float((m.predict(X) == y).mean()) > 0.8
    True
    """

    def __init__(self, C: float = 1.0) -> None:
        self.C = C

    def _transform(self, X: pd.DataFrame) -> np.ndarray:
        A = X[self.columns_].to_numpy(dtype=float, na_value=np.nan)
        A = np.where(self.logged_, np.log1p(np.clip(A, 0, None)), A)
        A = np.where(np.isnan(A), self.mean_, A)
        return (A - self.mean_) / self.scale_

    def fit(self, X: pd.DataFrame, y: object) -> LearnedStage:
        X = check_frame(X, where="LearnedStage.fit")
        y = np.asarray(y)
        if y.shape != (len(X),) or not np.isin(y, STAGES).all():
            raise ValueError(f"LearnedStage.fit: y must hold one stage (0, 1 or 2) per row of X "
                             f"({len(X)}); got shape {y.shape}")
        if not (isinstance(self.C, int | float) and self.C > 0):
            raise ValueError(f"The 'C' parameter of LearnedStage must be a float > 0. Got {self.C!r} "
                             "instead.")
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        cols = [c for c in X.columns if not isinstance(X[c].dtype, pd.CategoricalDtype)]
        A = X[cols].to_numpy(dtype=float, na_value=np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
            logged = np.nanmin(np.where(np.isnan(A), 0, A), axis=0) >= 0
            A = np.where(logged, np.log1p(np.clip(A, 0, None)), A)
            mean = np.nan_to_num(np.nanmean(A, axis=0))
            scale = np.where(np.isnan(A), mean, A).std(axis=0)
        keep = scale > 1e-12
        self.columns_ = [c for c, k in zip(cols, keep, strict=True) if k]
        self.logged_, self.mean_, self.scale_ = logged[keep], mean[keep], scale[keep]
        self.model_ = LogisticRegression(C=self.C, max_iter=5000)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.model_.fit(self._transform(X), y.astype(int))
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "model_")
        X = check_frame(X, where="LearnedStage.predict_proba",
                        expected_columns=list(self.feature_names_in_))
        return self.model_.predict_proba(self._transform(X))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
