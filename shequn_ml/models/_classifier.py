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
to mean 8 in 10; isotonic regression fitted on the validation fold, later in time
than the training cutoffs, restores it. Expected calibration error is measured on
the test fold, which neither step saw.
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted

from shequn_ml.models._validation import check_binary, check_frame


class _RiskModel(ClassifierMixin, BaseEstimator):
    """LightGBM binary classifier with early stopping and validation-fold calibration."""

    task = "risk"

    def __init__(
        self,
        n_estimators: int = 600,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        min_child_samples: int = 40,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        reg_lambda: float = 1.0,
        class_weight: str | None = "balanced",
        early_stopping_rounds: int | None = 50,
        calibration: str | None = "isotonic",
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
        self.random_state = random_state
        self.n_jobs = n_jobs

    # ------------------------------------------------------------------ fit
    def fit(self, X: pd.DataFrame, y: object, *, X_val: pd.DataFrame | None = None,
            y_val: object | None = None) -> _RiskModel:
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

        Returns
        -------
        self
        """
        name = type(self).__name__
        if self.calibration not in (None, "isotonic", "sigmoid"):
            raise ValueError(f"The 'calibration' parameter of {name} must be 'isotonic', 'sigmoid' "
                             f"or None. Got {self.calibration!r} instead.")
        X = check_frame(X, where=f"{name}.fit")
        y = check_binary(y, len(X), where=f"{name}.fit")
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
        params = dict(
            objective="binary", n_estimators=self.n_estimators, learning_rate=self.learning_rate,
            num_leaves=self.num_leaves, min_child_samples=self.min_child_samples,
            subsample=self.subsample, subsample_freq=1 if self.subsample < 1 else 0,
            colsample_bytree=self.colsample_bytree, reg_lambda=self.reg_lambda,
            class_weight=self.class_weight, random_state=self.random_state, n_jobs=self.n_jobs,
            deterministic=True, force_row_wise=True, verbose=-1,
        )
        self.booster_model_ = lgb.LGBMClassifier(**params)
        callbacks = []
        fit_kw: dict = {}
        if has_val:
            fit_kw.update(eval_X=(X_val,), eval_y=(y_val,), eval_metric="binary_logloss")
            if self.early_stopping_rounds:
                callbacks.append(lgb.early_stopping(self.early_stopping_rounds, verbose=False))
        self.booster_model_.fit(X, y, callbacks=callbacks,
                                categorical_feature=self.categorical_features_ or "auto", **fit_kw)
        best = self.booster_model_.best_iteration_ if has_val and self.early_stopping_rounds else 0
        self.best_iteration_ = int(best) if best else int(self.n_estimators)
        self.calibrated_ = bool(has_val and self.calibration)
        self.calibrator_ = None
        if self.calibrated_:
            raw = self._raw_proba(X_val)
            if self.calibration == "isotonic":
                self.calibrator_ = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
                self.calibrator_.fit(raw, y_val)
            else:
                self.calibrator_ = LogisticRegression(C=1e6)
                self.calibrator_.fit(_logit(raw).reshape(-1, 1), y_val)
        return self

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

    def _raw_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.booster_model_.predict_proba(X, num_iteration=self.best_iteration_)[:, 1]

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """Raw log-odds of the trees (what SHAP values add up to), before calibration."""
        X = self._checked(X, "decision_function")
        return self.booster_model_.predict(X, raw_score=True, num_iteration=self.best_iteration_)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated probabilities, shape (n, 2): column 1 is the risk."""
        X = self._checked(X, "predict_proba")
        p = self._raw_proba(X)
        if self.calibrator_ is not None:
            if isinstance(self.calibrator_, IsotonicRegression):
                p = self.calibrator_.predict(p)
            else:
                p = self.calibrator_.predict_proba(_logit(p).reshape(-1, 1))[:, 1]
        p = np.clip(p, 0.0, 1.0)
        return np.column_stack([1.0 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """1 where the calibrated risk is at least 0.5."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def __sklearn_tags__(self):  # noqa: D105
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


class SilenceModel(_RiskModel):
    """Who will go silent (沉默): no speaking event over the coming horizon.

    A LightGBM classifier on point-in-time features, early-stopped and calibrated
    on a validation fold later in time than the training cutoffs.

    Parameters
    ----------
    n_estimators : int, default 600
        Upper bound on trees; early stopping picks ``best_iteration_``.
    learning_rate, num_leaves, min_child_samples, subsample, colsample_bytree, reg_lambda
        LightGBM's parameters of the same names.
    class_weight : "balanced" or None, default "balanced"
        Reweights the rarer class while growing trees; calibration undoes the
        distortion of probabilities.
    early_stopping_rounds : int or None, default 50
        Stop when validation log-loss has not improved for this many trees.
    calibration : {"isotonic", "sigmoid", None}, default "isotonic"
        How raw scores become probabilities, fitted on the validation fold.
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
        Trees used at prediction.
    calibrated_ : bool
        Whether a calibrator was fitted.

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
        num_leaves: int = 15,
        min_child_samples: int = 80,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        reg_lambda: float = 1.0,
        class_weight: str | None = "balanced",
        early_stopping_rounds: int | None = 50,
        calibration: str | None = "isotonic",
        random_state: int = 0,
        n_jobs: int = 2,
    ) -> None:
        super().__init__(
            n_estimators=n_estimators, learning_rate=learning_rate, num_leaves=num_leaves,
            min_child_samples=min_child_samples, subsample=subsample,
            colsample_bytree=colsample_bytree, reg_lambda=reg_lambda, class_weight=class_weight,
            early_stopping_rounds=early_stopping_rounds, calibration=calibration,
            random_state=random_state, n_jobs=n_jobs)
