"""LightGBM risk classifiers: ``SilenceModel`` and ``ChurnModel``.

Both are scikit-learn estimators (``get_params``/``set_params``, ``clone``,
``Pipeline``): the constructor only stores parameters, ``fit`` returns ``self``
and learned state ends in ``_``. ``fit`` takes a time-later validation fold,
used twice: LightGBM stops adding trees when the validation log-loss stops
improving, and a calibrator maps the raw scores to probabilities on it.

Why calibrate
-------------
Class weighting (``class_weight="balanced"``) helps the trees find the rare class
but inflates its probabilities. An operator reading "silence risk 0.8" needs that
to mean 8 in 10; a monotone map from the trees' probability to the observed rate,
fitted on the validation fold (later in time than the training cutoffs), restores
it. Expected calibration error is measured on the test fold, which neither step saw.

Which map
---------
``calibration`` names it:

- ``"sigmoid"``: Platt scaling, ``logit(q) = a * logit(p) + c`` (2 parameters).
  Reweighting classes shifts the log-odds of a well-fitted model by a constant,
  which this map undoes exactly.
- ``"beta"``: beta calibration (Kull, Silva Filho and Flach, AISTATS 2017),
  ``logit(q) = a * ln(p) - b * ln(1 - p) + c`` with ``a, b >= 0`` (3 parameters):
  the sigmoid map when ``a == b``, and the identity at ``a = b = 1, c = 0``; it also
  fits distortions that differ near 0 and near 1, as trees' scores often do.
- ``"isotonic"``: isotonic regression, any non-decreasing step function. The most
  flexible, and the noisiest when the validation fold is small: on the committed
  sample's silence task (2,050 validation rows) its cross-validated log-loss there
  was 0.509, against 0.483 for the sigmoid map.
- ``"auto"`` (default): the one of the three with the lowest 5-fold
  cross-validated log-loss on the validation fold, refitted on the whole fold.
  Small folds get a parametric map, large ones (hundreds of thousands of rows) can
  afford isotonic. The choice and every candidate's score are kept
  (``calibration_method_``, ``calibration_cv_log_loss_``). Log-loss, a proper
  scoring rule, chooses, not the expected calibration error that is reported.

Every map is non-decreasing in the raw score, so calibration never reorders members
(AUC and the top decile are those of the trees; ties may be added by isotonic).

Start from a linear model
-------------------------
``start="linear"`` fits, before any tree, a ridge-penalised logistic regression
(:class:`LinearStart`) on every numeric member-level feature (log-scaled where it is
never negative, then standardised; ``start_C`` is its inverse penalty), and the
trees are boosted from its log-odds (LightGBM's ``init_score``): each tree corrects
the linear model instead of starting from the base rate. On small communities a
linear model on recency and frequency is hard to beat (docs/results.md), because
its smooth monotone effects need few rows, while trees must learn each step from
data; starting from it, the trees only add what the rows support. When no tree
lowers the validation log-loss, none is kept (``best_iteration_ == 0``) and the
model *is* the linear start. Class weights are not used with a start (the start is
fitted on the natural label rate and the trees correct it on the same scale).
SHAP values stay exact: the linear part adds ``coef * z`` per feature (its
interventional SHAP value against the training mean), the trees their TreeSHAP
values (``linear_contributions``).

How big the trees
-----------------
``num_leaves`` may be a list of candidates, e.g. ``[7, 15]``: each is fitted (with
early stopping) and the one with the highest validation ROC-AUC is kept, the
smaller trees winning a tie. The right size depends on the data: on the committed
sample's churn task 7 leaves reached 0.742 validation AUC against 0.709 for 15 (whose
early stopping never stopped, 600 trees), while on a 100,000-member world 15 leaves
were 0.0016 ahead. Smaller trees also make exact TreeSHAP explanations cheaper
(about trees x leaves x depth^2 per row). The choice and every candidate's validation
AUC and tree count are kept (``num_leaves_``, ``num_leaves_search_``).
"""

from __future__ import annotations

import warnings

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.validation import check_is_fitted

from shequn_ml.models._validation import check_binary, check_frame


class _RiskModel(ClassifierMixin, BaseEstimator):
    """LightGBM binary classifier with early stopping and validation-fold calibration."""

    task = "risk"

    def __init__(
        self,
        n_estimators: int = 600,
        learning_rate: float = 0.05,
        num_leaves: int | list[int] = 31,
        min_child_samples: int = 40,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        reg_lambda: float = 1.0,
        class_weight: str | None = "balanced",
        early_stopping_rounds: int | None = 50,
        calibration: str | None = "auto",
        start: str | list[str | None] | None = None,
        start_C: float = 0.1,
        random_state: int = 0,
        n_jobs: int = 2,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.class_weight = class_weight
        self.early_stopping_rounds = early_stopping_rounds
        self.calibration = calibration
        self.start = start
        self.start_C = start_C
        self.random_state = random_state
        self.n_jobs = n_jobs

    # ------------------------------------------------------------------ fit
    def fit(self, X: pd.DataFrame, y: object, *, X_val: pd.DataFrame | None = None,
            y_val: object | None = None, sample_weight: object | None = None) -> _RiskModel:
        """Fit the trees on (X, y); stop early and calibrate on (X_val, y_val).

        Parameters
        ----------
        X : DataFrame
            Features of the training cutoffs (numeric or categorical columns;
            categorical columns are split on natively by LightGBM).
        y : array-like of 0/1
            Labels.
        X_val, y_val : DataFrame and array-like, optional
            The validation fold, from cutoffs later than every training cutoff.
            Without it the model uses all ``n_estimators`` trees and is not
            calibrated (``calibrated_`` is False).
        sample_weight : array-like of float, optional
            Non-negative weight of each training row, for the linear start and the
            trees (e.g. more weight on recent cutoffs). The validation fold is
            unweighted.

        Returns
        -------
        self
        """
        name = type(self).__name__
        if self.calibration not in (None, *CALIBRATIONS):
            raise ValueError(f"The 'calibration' parameter of {name} must be one of "
                             f"{', '.join(repr(c) for c in CALIBRATIONS)} or None. "
                             f"Got {self.calibration!r} instead.")
        starts = self._start_candidates()
        if not (isinstance(self.start_C, (int, float)) and self.start_C > 0):
            raise ValueError(f"The 'start_C' parameter of {name} must be a float > 0. "
                             f"Got {self.start_C!r} instead.")
        X = check_frame(X, where=f"{name}.fit")
        y = check_binary(y, len(X), where=f"{name}.fit")
        weight = None
        if sample_weight is not None:
            weight = np.asarray(sample_weight, dtype=float)
            if weight.shape != (len(X),) or not np.all(np.isfinite(weight)) or np.any(weight < 0) \
                    or not weight.sum() > 0:
                raise ValueError(f"{name}.fit: sample_weight must be one finite non-negative weight per "
                                 f"row of X ({len(X)}), not all zero; got shape {weight.shape}")
            weight = weight * (len(weight) / weight.sum())  # mean 1: start_C keeps its meaning
        self._weight = weight
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        self.categorical_features_ = [c for c in X.columns
                                      if isinstance(X[c].dtype, pd.CategoricalDtype)]
        self.classes_ = np.array([0, 1])
        has_val = X_val is not None and y_val is not None
        if has_val:
            X_val = check_frame(X_val, where=f"{name}.fit (validation)",
                                expected_columns=list(X.columns))
            y_val = check_binary(y_val, len(X_val), where=f"{name}.fit (validation)")
        candidates = self._leaf_candidates(has_val)
        if len(starts) > 1 and not has_val:
            raise ValueError(f"{name}.fit: start={list(self.start)} lists candidates to choose between "
                             "on the validation fold; pass X_val and y_val, or give one value.")
        self.start_search_ = {}
        best_auc, chosen = None, None
        for start in starts:  # in the order given: a tie keeps the earlier one
            self.start_ = self._build_start(start, X, y, weight)
            search, best_here = {}, None
            for leaves in candidates:  # ascending: a tie (or NaN) keeps the smaller trees
                booster, n_trees = self._fit_trees(X, y, X_val if has_val else None,
                                                   y_val if has_val else None, leaves)
                auc = float("nan")
                if len(candidates) > 1 or len(starts) > 1:
                    auc = _roc_auc(y_val, self._raw_with(booster, n_trees, X_val))
                if len(candidates) > 1:
                    search[leaves] = {"validation_roc_auc": auc, "trees": n_trees}
                if best_here is None or auc > best_here[0]:
                    best_here = (auc, booster, n_trees, leaves)
            if len(starts) > 1:
                self.start_search_[str(start)] = {"validation_roc_auc": best_here[0], "trees": best_here[2],
                                                  "num_leaves": best_here[3]}
            if best_auc is None or best_here[0] > best_auc:
                best_auc = best_here[0]
                chosen = (start, self.start_, search, *best_here[1:])
        (self.start_chosen_, self.start_, self.num_leaves_search_, self.booster_model_,
         self.best_iteration_, self.num_leaves_) = chosen
        self.calibrated_ = bool(has_val and self.calibration)
        self.calibrator_ = None
        self.calibration_method_ = None
        self.calibration_cv_log_loss_ = {}
        if self.calibrated_:
            raw = self._raw_proba(X_val)
            method = self.calibration
            if method == "auto":
                self.calibration_cv_log_loss_ = cross_validated_log_loss(
                    raw, y_val, random_state=self.random_state)
                method = min(self.calibration_cv_log_loss_, key=self.calibration_cv_log_loss_.get)
            self.calibration_method_ = method
            self.calibrator_ = fit_calibrator(method, raw, y_val)
        del self._weight
        return self

    def _start_candidates(self) -> list[str | None]:
        name = type(self).__name__
        given = self.start
        values = list(given) if isinstance(given, (list, tuple)) else [given]
        if not values or any(v not in STARTS for v in values):
            raise ValueError(f"The 'start' parameter of {name} must be one of "
                             f"{', '.join(repr(v) for v in STARTS)}, or a non-empty list of them. "
                             f"Got {given!r} instead.")
        return values

    def _build_start(self, start: str | None, X: pd.DataFrame, y: np.ndarray,
                     weight: np.ndarray | None) -> LinearStart | None:
        if start is None:
            return None
        columns = None
        if start == "rfm":
            from shequn_ml.models.baselines import RFM_COLUMNS

            columns = tuple(c for c in RFM_COLUMNS if c in X.columns)
        return LinearStart(C=self.start_C, btyd=start == "linear_btyd", columns=columns).fit(
            X, y, sample_weight=weight)

    def _leaf_candidates(self, has_val: bool) -> list[int]:
        name = type(self).__name__
        given = self.num_leaves
        many = isinstance(given, (list, tuple, np.ndarray))
        values = list(given) if many else [given]
        if not values or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                                 and v >= 2 for v in values):
            raise ValueError(f"The 'num_leaves' parameter of {name} must be an int >= 2 or a "
                             f"non-empty list of them. Got {given!r} instead.")
        if many and len(values) > 1 and not has_val:
            raise ValueError(f"{name}.fit: num_leaves={list(values)} lists candidates to choose "
                             "between on the validation fold; pass X_val and y_val, or give "
                             "one value.")
        return sorted({int(v) for v in values})

    def _fit_trees(self, X: pd.DataFrame, y: np.ndarray, X_val: pd.DataFrame | None,
                   y_val: np.ndarray | None, num_leaves: int) -> tuple[lgb.LGBMClassifier, int]:
        """One LightGBM fit (early-stopped on the validation fold if given); (model, trees)."""
        params = dict(
            objective="binary", n_estimators=self.n_estimators, learning_rate=self.learning_rate,
            num_leaves=num_leaves, min_child_samples=self.min_child_samples,
            subsample=self.subsample, subsample_freq=1 if self.subsample < 1 else 0,
            colsample_bytree=self.colsample_bytree, reg_lambda=self.reg_lambda,
            class_weight=self.class_weight, random_state=self.random_state, n_jobs=self.n_jobs,
            deterministic=True, force_row_wise=True, verbose=-1,
        )
        if self.start_ is not None:
            params["class_weight"] = None  # the start is fitted on the natural rate
        model = lgb.LGBMClassifier(**params)
        callbacks = []
        fit_kw: dict = {}
        if self.start_ is not None:
            fit_kw["init_score"] = self.start_.decision_function(X)
        if X_val is not None:
            fit_kw.update(eval_X=(X_val,), eval_y=(y_val,), eval_metric="binary_logloss")
            if self.start_ is not None:
                fit_kw["eval_init_score"] = [self.start_.decision_function(X_val)]
            if self.early_stopping_rounds:
                callbacks.append(lgb.early_stopping(self.early_stopping_rounds, verbose=False))
        model.fit(X, y, sample_weight=self._weight, callbacks=callbacks,
                  categorical_feature=self.categorical_features_ or "auto", **fit_kw)
        best = model.best_iteration_ if X_val is not None and self.early_stopping_rounds else 0
        n_trees = int(best) if best else int(self.n_estimators)
        if self.start_ is not None and X_val is not None and self.early_stopping_rounds:
            # early stopping counts from one tree; zero trees (the start alone) competes too
            alone = log_loss(y_val, _sigmoid(self.start_.decision_function(X_val)), labels=[0, 1])
            with_trees = log_loss(y_val, self._raw_with(model, n_trees, X_val), labels=[0, 1])
            if not with_trees < alone:
                n_trees = 0
        return model, n_trees

    # ------------------------------------------------------------------ predict
    @property
    def booster_(self) -> lgb.Booster:
        """The fitted LightGBM booster (for SHAP: ``booster_.predict(X, pred_contrib=True)``)."""
        check_is_fitted(self, "booster_model_")
        return self.booster_model_.booster_

    def _checked(self, X: pd.DataFrame, where: str) -> pd.DataFrame:
        check_is_fitted(self, "booster_model_")
        return check_frame(X, where=f"{type(self).__name__}.{where}",
                           expected_columns=list(self.feature_names_in_))

    def _margin_with(self, model: lgb.LGBMClassifier, n_trees: int, X: pd.DataFrame) -> np.ndarray:
        """Log-odds of the start (if any) plus the first ``n_trees`` trees of ``model``."""
        start = getattr(self, "start_", None)
        margin = np.zeros(len(X)) if start is None else start.decision_function(X)
        if n_trees > 0:
            margin = margin + model.predict(X, raw_score=True, num_iteration=n_trees)
        return margin

    def _raw_with(self, model: lgb.LGBMClassifier, n_trees: int, X: pd.DataFrame) -> np.ndarray:
        return _sigmoid(self._margin_with(model, n_trees, X))

    def _raw_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self._raw_with(self.booster_model_, self.best_iteration_, X)

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """Raw log-odds before calibration: the start's plus the trees' (what SHAP values add up to)."""
        X = self._checked(X, "decision_function")
        return self._margin_with(self.booster_model_, self.best_iteration_, X)

    def linear_contributions(self, X: pd.DataFrame) -> tuple[pd.DataFrame, float] | None:
        """The linear start's part of each row's log-odds, per feature, and its base value.

        None without a start. With one, ``values.sum(axis=1) + base`` is the start's
        log-odds; :func:`shequn_ml.explain.shap_values` adds these to the trees' values.
        """
        check_is_fitted(self, "booster_model_")
        if getattr(self, "start_", None) is None:
            return None
        X = self._checked(X, "linear_contributions")
        return self.start_.contributions(X)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated probabilities, shape (n, 2): column 1 is the risk."""
        X = self._checked(X, "predict_proba")
        p = self._raw_proba(X)
        if self.calibrator_ is not None:
            p = self.calibrator_.predict(p)
        p = np.clip(p, 0.0, 1.0)
        return np.column_stack([1.0 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """1 where the calibrated risk is at least 0.5."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def __sklearn_tags__(self):  # noqa: D105
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=float)))


class LinearStart:
    """Ridge logistic regression on log-scaled, standardised features: the trees' start.

    Every numeric member-level column is used. Group-level columns (the
    ``group_context`` family of :mod:`shequn_ml.features`: the group's size, pace,
    trend, lifecycle stage) are left to the trees: in a community of one group they
    take one value per cutoff, so they describe only time, and a linear effect of
    them extrapolates past the training cutoffs (on the rolling development folds
    of ``benchmarks/silence_dev_study.py`` leaving them out of the start lowered the
    mean ECE from 0.084 to 0.073 over five real data sets, AUC level). Trees, which
    cannot extrapolate, still use them where groups differ. A column never negative on the training rows is
    mapped by ``log1p`` (counts, days and shares alike: it tames long tails, so a
    linear effect of the log is the diminishing return recency and frequency show);
    others are kept as they are. Missing values are set to the training mean (a
    contribution of zero). Columns constant on the training rows, and categorical
    ones, get no coefficient. The penalty is an L2 ``1 / C`` on the standardised
    coefficients, so no column dominates by its units.

    Hand-written rather than a scikit-learn ``Pipeline`` so that each feature's
    contribution (``coef * z``) is available for exact SHAP values.

    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"days_since_speak": rng.exponential(5, 500), "n": rng.poisson(3, 500)})
    >>> y = (rng.random(500) < 1 / (1 + np.exp(1 - 0.4 * X.days_since_speak))).astype(int)
    >>> s = LinearStart().fit(X, y)
    >>> values, base = s.contributions(X)
    >>> bool(np.allclose(values.sum(axis=1) + base, s.decision_function(X)))
    True
    >>> bool(s.coef_[0] > 0)        # longer since speaking, likelier silent
    True
    """

    def __init__(self, C: float = 0.1, skip_families: tuple[str, ...] = ("group_context",),
                 btyd: bool = False, columns: tuple[str, ...] | None = None) -> None:
        self.C = C
        self.skip_families = skip_families
        self.btyd = btyd
        self.columns = columns

    def _transform(self, X: pd.DataFrame) -> np.ndarray:
        A = X[self.columns_].to_numpy(dtype=float, na_value=np.nan)
        A = np.where(self.logged_, np.log1p(np.clip(A, 0, None)), A)
        A = np.where(np.isnan(A), self.mean_, A)
        return (A - self.mean_) / self.scale_

    def fit(self, X: pd.DataFrame, y: np.ndarray, sample_weight: np.ndarray | None = None) -> LinearStart:
        cols = [c for c in X.columns if not isinstance(X[c].dtype, pd.CategoricalDtype)
                and _family(c) not in self.skip_families
                and (self.columns is None or c in self.columns)]
        A = X[cols].to_numpy(dtype=float, na_value=np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
            logged = np.nanmin(np.where(np.isnan(A), 0, A), axis=0) >= 0
            A = np.where(logged, np.log1p(np.clip(A, 0, None)), A)
            mean = np.nanmean(A, axis=0)
            mean = np.where(np.isnan(mean), 0.0, mean)
            A = np.where(np.isnan(A), mean, A)
            scale = A.std(axis=0)
        keep = scale > 1e-12
        self.columns_ = [c for c, k in zip(cols, keep, strict=True) if k]
        self.logged_, self.mean_, self.scale_ = logged[keep], mean[keep], scale[keep]
        self.coef_ = np.zeros(len(self.columns_))
        self.intercept_ = float(_logit(np.array([np.average(y, weights=sample_weight)]))[0])
        self.btyd_ = None
        if self.btyd and all(c in X.columns for c in BTYD_INPUTS) and np.unique(y).size == 2:
            try:
                self.btyd_ = _BtydSignals().fit(X)
            except ConvergenceWarning:  # BG/NBD did not converge even with its largest penalty
                self.btyd_ = None
        design = self._design(X)
        self.n_signals_ = design.shape[1] - len(self.columns_)
        self.coef_ = np.zeros(design.shape[1])
        if design.shape[1] and np.unique(y).size == 2:
            lr = LogisticRegression(C=self.C, max_iter=2000)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                lr.fit(design, y, sample_weight=sample_weight)
            self.coef_, self.intercept_ = lr.coef_[0].copy(), float(lr.intercept_[0])
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        return self

    def _design(self, X: pd.DataFrame) -> np.ndarray:
        """The standardised columns, then the standardised BG/NBD signals (if any)."""
        parts = [self._transform(X)] if self.columns_ else [np.empty((len(X), 0))]
        if self.btyd_ is not None:
            parts.append(self.btyd_.transform(X))
        return np.hstack(parts)

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """Log-odds of the start for each row."""
        design = self._design(X)
        if not design.shape[1]:
            return np.full(len(X), self.intercept_)
        return design @ self.coef_ + self.intercept_

    def contributions(self, X: pd.DataFrame) -> tuple[pd.DataFrame, float]:
        """Per-feature parts of the log-odds (zero for unused columns) and the base value.

        A column's part is ``coef * z``. The BG/NBD signals are functions of three
        columns (:data:`BTYD_INPUTS`); their part is split among those three by their
        exact Shapley values against the training means (8 evaluations per row), so
        the parts still add up to the log-odds and the base value is the intercept
        plus the signals' part at the training means.
        """
        values = pd.DataFrame(0.0, index=X.index, columns=list(self.feature_names_in_))
        k = len(self.columns_)
        if k:
            values[self.columns_] = self._transform(X) * self.coef_[:k]
        base = self.intercept_
        if self.btyd_ is not None:
            phi, at_mean = self.btyd_.shapley(X, self.coef_[k:])
            values[list(BTYD_INPUTS)] += phi
            base += at_mean
        return values, base


#: the engagement columns BG/NBD's (frequency, recency, T) are computed from
BTYD_INPUTS = ("days_since_first_speak", "active_days_total", "days_since_speak")
#: days ahead of the expected-speaking-days signal (the silence horizons used are 14-30 days;
#: the log of the expectation shifts by about a constant between them, which the intercept absorbs)
BTYD_AHEAD_DAYS = 28.0


class _BtydSignals:
    """BG/NBD fitted on the training rows, and the two signals the linear start reads.

    The signals are the log-odds that the member has dropped out and the log of the
    expected speaking days in the next :data:`BTYD_AHEAD_DAYS` days (given the
    member's own frequency, recency and age), each standardised on the training rows.
    Missing inputs, and the reference point of the Shapley split, are the training
    medians (active days rounded to a whole number, as BG/NBD needs).
    """

    def fit(self, X: pd.DataFrame) -> _BtydSignals:
        from shequn_ml.models.baselines import fit_bgnbd

        raw = self._inputs(X)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing column
            reference = np.nanmedian(raw, axis=0)
        reference = np.where(np.isnan(reference), 0.0, reference)
        reference[1] = np.round(reference[1])  # active days: a whole number
        self.reference_ = reference
        self.model_, _ = fit_bgnbd(*self._summary(self._filled(raw)))
        s = self._signals(self._filled(raw))
        self.mean_, self.scale_ = s.mean(axis=0), s.std(axis=0)
        self.scale_ = np.where(self.scale_ > 1e-12, self.scale_, 1.0)
        return self

    @staticmethod
    def _inputs(X: pd.DataFrame) -> np.ndarray:
        return X[list(BTYD_INPUTS)].to_numpy(dtype=float, na_value=np.nan)

    def _filled(self, raw: np.ndarray) -> np.ndarray:
        return np.where(np.isnan(raw), self.reference_, raw)

    @staticmethod
    def _summary(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        from shequn_ml.models.baselines import BGNBDBaseline

        frame = pd.DataFrame(raw, columns=list(BTYD_INPUTS))
        return BGNBDBaseline.summary(frame)

    def _signals(self, raw: np.ndarray) -> np.ndarray:
        from shequn_ml.models.btyd import _log_odds_dead

        x, r, T = self._summary(raw)
        p = self.model_.params_
        with np.errstate(all="ignore"):
            dead = np.where(x > 0, _log_odds_dead(p["r"], p["alpha"], p["a"], p["b"], x, r, T), -20.0)
            expected = self.model_.conditional_expected_number_of_purchases_up_to_time(
                BTYD_AHEAD_DAYS, x, r, T)
        dead = np.clip(np.nan_to_num(dead, nan=0.0, posinf=20.0, neginf=-20.0), -20.0, 20.0)
        expected = np.log1p(np.clip(np.nan_to_num(np.asarray(expected, dtype=float)), 0.0, None))
        return np.column_stack([dead, expected])

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        return (self._signals(self._filled(self._inputs(X))) - self.mean_) / self.scale_

    def shapley(self, X: pd.DataFrame, coef: np.ndarray) -> tuple[np.ndarray, float]:
        """Shapley values of ``coef @ signals`` over the three inputs, and its value at the reference."""
        raw = self._filled(self._inputs(X))
        n = len(BTYD_INPUTS)

        def value(mask: int) -> np.ndarray:
            mixed = raw.copy()
            for i in range(n):
                if not mask >> i & 1:
                    mixed[:, i] = self.reference_[i]
            return ((self._signals(mixed) - self.mean_) / self.scale_) @ coef

        v = {mask: value(mask) for mask in range(1 << n)}
        phi = np.zeros((len(raw), n))
        from math import factorial
        for i in range(n):
            for mask in range(1 << n):
                if mask >> i & 1:
                    continue
                size = bin(mask).count("1")
                w = factorial(size) * factorial(n - size - 1) / factorial(n)
                phi[:, i] += w * (v[mask | 1 << i] - v[mask])
        at_reference = ((self._signals(self.reference_[None, :]) - self.mean_) / self.scale_) @ coef
        return phi, float(at_reference[0])


def _family(column: str) -> str | None:
    """The feature family of a column of the library's catalogue (None for other columns)."""
    from shequn_ml.features._registry import family_of

    try:
        return family_of(column)
    except KeyError:
        pass
    from shequn_ml.features.pipeline import feature_catalogue

    feature_catalogue()  # the default spec's names, for features read back from a file
    try:
        return family_of(column)
    except KeyError:
        return None


def _roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    return float(roc_auc_score(y, score)) if np.unique(y).size == 2 else float("nan")


#: what the trees may be boosted from (see the module docstring)
STARTS = (None, "linear", "linear_btyd", "rfm")
#: calibration maps, in the order "auto" prefers on a tie (fewest parameters first)
CALIBRATIONS = ("auto", "sigmoid", "beta", "isotonic")
_EPS = 1e-6


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


class LogisticCalibrator:
    """Platt (``"sigmoid"``) or beta calibration: a logistic regression on maps of p.

    The coefficients are constrained to be non-negative, so the map never decreases
    in p: for beta calibration a negative coefficient is dropped and the regression
    refitted without it (Kull et al., 2017); a map with no positive coefficient left
    is the constant base rate.

    >>> rng = np.random.default_rng(0)
    >>> p = rng.random(5000)
    >>> y = (rng.random(5000) < p ** 2).astype(int)      # p is too high everywhere
    >>> c = LogisticCalibrator("beta").fit(p, y)
    >>> [round(float(v), 2) for v in c.predict(np.array([0.2, 0.5, 0.9]))]
    [0.04, 0.25, 0.82]
    """

    def __init__(self, kind: str = "beta") -> None:
        if kind not in ("sigmoid", "beta"):
            raise ValueError(f"kind must be 'sigmoid' or 'beta'; got {kind!r}")
        self.kind = kind

    def _design(self, p: np.ndarray) -> np.ndarray:
        p = np.clip(np.asarray(p, dtype=float), _EPS, 1 - _EPS)
        if self.kind == "sigmoid":
            return _logit(p).reshape(-1, 1)
        return np.column_stack([np.log(p), -np.log1p(-p)])

    def fit(self, p: np.ndarray, y: np.ndarray) -> LogisticCalibrator:
        y = np.asarray(y, dtype=int)
        Z = self._design(p)
        self.columns_ = list(range(Z.shape[1]))
        self.coef_ = np.zeros(Z.shape[1])
        self.intercept_ = float(_logit(np.array([y.mean()]))[0])
        if np.unique(y).size < 2:
            self.columns_ = []  # one class: the constant (clipped) rate
        while self.columns_:
            lr = LogisticRegression(C=1e6, solver="newton-cholesky", max_iter=200)
            with warnings.catch_warnings():  # (near-)separable folds: the last iterate will do
                warnings.simplefilter("ignore", ConvergenceWarning)
                lr.fit(Z[:, self.columns_], y)
            coef = lr.coef_[0]
            if (coef >= 0).all():
                self.coef_[self.columns_] = coef
                self.intercept_ = float(lr.intercept_[0])
                break
            self.columns_ = [c for c, v in zip(self.columns_, coef, strict=True) if v >= 0] \
                if (coef >= 0).any() else []
        return self

    def predict(self, p: np.ndarray) -> np.ndarray:
        """Calibrated probabilities for raw probabilities ``p``."""
        z = self._design(p) @ self.coef_ + self.intercept_
        return 1.0 / (1.0 + np.exp(-z))


def fit_calibrator(method: str, p: np.ndarray, y: np.ndarray) -> IsotonicRegression | LogisticCalibrator:
    """A fitted non-decreasing map from raw probabilities ``p`` to calibrated ones.

    Parameters
    ----------
    method : {"sigmoid", "beta", "isotonic"}
    p : array of float
        The trees' probabilities on the calibration rows.
    y : array of 0/1
        Their labels.

    Returns
    -------
    An object whose ``predict(p)`` gives calibrated probabilities.
    """
    if method == "isotonic":
        return IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p, y)
    if method in ("sigmoid", "beta"):
        return LogisticCalibrator(method).fit(p, y)
    raise ValueError(f"unknown calibration {method!r}; expected sigmoid, beta or isotonic")


def cross_validated_log_loss(p: np.ndarray, y: np.ndarray, *, n_splits: int = 5,
                             random_state: int = 0) -> dict[str, float]:
    """Out-of-fold log-loss of each calibration map on (p, y), by method.

    Stratified ``n_splits``-fold cross-validation over the rows; with fewer than
    ``n_splits`` rows of a class there is nothing to cross-validate and only
    ``"sigmoid"`` (the fewest parameters) is returned.

    >>> rng = np.random.default_rng(1)
    >>> p = rng.random(3000)
    >>> y = (rng.random(3000) < p).astype(int)
    >>> sorted(cross_validated_log_loss(p, y))
    ['beta', 'isotonic', 'sigmoid']
    """
    p = np.asarray(p, dtype=float)
    y = np.asarray(y, dtype=int)
    if np.bincount(y, minlength=2).min() < n_splits:
        return {"sigmoid": float("nan")}
    folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
    out = {}
    for method in CALIBRATIONS[1:]:
        q = np.empty(len(y))
        for fit_rows, held_out in folds.split(p.reshape(-1, 1), y):
            q[held_out] = fit_calibrator(method, p[fit_rows], y[fit_rows]).predict(p[held_out])
        out[method] = float(log_loss(y, np.clip(q, _EPS, 1 - _EPS), labels=[0, 1]))
    return out


class SilenceModel(_RiskModel):
    """Who will go silent (沉默): no speaking event over the coming horizon.

    A LightGBM classifier on point-in-time features, early-stopped and calibrated
    on a validation fold later in time than the training cutoffs.

    Parameters
    ----------
    n_estimators : int, default 600
        Upper bound on trees; early stopping picks ``best_iteration_``.
    num_leaves : int or list of int, default 31
        Leaves per tree; a list is a set of candidates, the one with the highest
        validation ROC-AUC is kept (needs the validation fold; see the module's notes).
    learning_rate, min_child_samples, subsample, colsample_bytree, reg_lambda
        LightGBM's parameters of the same names.
    class_weight : "balanced" or None, default "balanced"
        Reweights the rarer class while growing trees; calibration undoes the
        distortion of probabilities.
    early_stopping_rounds : int or None, default 50
        Stop when validation log-loss has not improved for this many trees.
    calibration : {"auto", "sigmoid", "beta", "isotonic", None}, default "auto"
        How raw scores become probabilities, fitted on the validation fold (see
        the module's notes): ``"auto"`` picks the map with the lowest 5-fold
        cross-validated log-loss on that fold; None leaves the trees' own.
    start : {"linear", None}, default None
        ``"linear"``: boost the trees from a ridge logistic regression on the
        log-scaled features (:class:`LinearStart`; see the module's notes), and
        keep no tree when none lowers the validation log-loss.
    start_C : float, default 0.1
        The start's inverse L2 penalty (on standardised features).
    random_state : int, default 0
        Seed: the same data and seed give the same model.
    n_jobs : int, default 2
        Threads.

    Attributes
    ----------
    feature_names_in_ : ndarray
        Columns seen in fit; later inputs are reordered to them (a missing or
        unexpected column is an error listing the difference).
    best_iteration_ : int
        Trees used at prediction (0: the linear start alone).
    start_ : LinearStart or None
        The fitted start.
    num_leaves_ : int
        Leaves per tree of the kept model (the choice when ``num_leaves`` is a list).
    num_leaves_search_ : dict
        With several candidates: each one's validation ROC-AUC and tree count.
    calibrated_ : bool
        Whether a calibrator was fitted.
    calibration_method_ : str or None
        The map used ("sigmoid", "beta" or "isotonic"; the choice of "auto").
    calibration_cv_log_loss_ : dict
        With ``"auto"``: each candidate's cross-validated log-loss on the validation fold.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"days_since_speak": rng.exponential(5, 2000),
    ...                   "speak_count_30d": rng.poisson(4, 2000)})
    >>> y = (rng.random(2000) < 1 / (1 + np.exp(2 - 0.3 * X.days_since_speak))).astype(int)
    >>> m = SilenceModel(n_estimators=100).fit(X[:1500], y[:1500], X_val=X[1500:], y_val=y[1500:])
    >>> m.predict_proba(X[:3]).shape, m.calibrated_
    ((3, 2), True)
    """

    task = "silence"


class ChurnModel(_RiskModel):
    """Who will churn (流失): leave, be removed, or not renew over the coming horizon.

    Same estimator as :class:`SilenceModel` (see its parameters); churn is rarer,
    so the defaults grow smaller leaves.

    Examples
    --------
    >>> ChurnModel().get_params()["min_child_samples"]
    80
    """

    task = "churn"

    def __init__(
        self,
        n_estimators: int = 600,
        learning_rate: float = 0.05,
        num_leaves: int | list[int] = 15,
        min_child_samples: int = 80,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        reg_lambda: float = 1.0,
        class_weight: str | None = "balanced",
        early_stopping_rounds: int | None = 50,
        calibration: str | None = "auto",
        start: str | list[str | None] | None = None,
        start_C: float = 0.1,
        random_state: int = 0,
        n_jobs: int = 2,
    ) -> None:
        super().__init__(
            n_estimators=n_estimators, learning_rate=learning_rate, num_leaves=num_leaves,
            min_child_samples=min_child_samples, subsample=subsample,
            colsample_bytree=colsample_bytree, reg_lambda=reg_lambda, class_weight=class_weight,
            early_stopping_rounds=early_stopping_rounds, calibration=calibration,
            start=start, start_C=start_C, random_state=random_state, n_jobs=n_jobs)
