"""Baselines a practitioner would use instead of this library, fitted the same way.

Each baseline is a scikit-learn classifier on the same feature table as the
LightGBM models, trained on the same training cutoffs and scored on the same test
cutoffs, so the comparison table compares models, not data.

``RecencyRule``
    The rule of thumb: the longer since a member last spoke, the likelier they go
    silent. Its probabilities are an isotonic (monotone) map of the recency,
    fitted on the training fold; its ranking is the recency itself.
``RFMLogistic``
    Logistic regression on recency, frequency and monetary value (log-scaled and
    standardised), plus tenure: the classic RFM churn model.
``BGNBDBaseline``
    A buy-till-you-die model (BG/NBD) over each member's speaking days: repeat
    active days, the recency of the last one and the age since the first. Its
    score is ``1 - P(alive)`` (``score="p_alive"``) or the model's probability of
    no speaking day within the horizon (``score="p_no_purchase"``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.utils.validation import check_is_fitted

from shequn_ml.models._validation import check_binary, check_frame


class _ScoreThenCalibrate(ClassifierMixin, BaseEstimator):
    """Shared machinery: a raw score per row, mapped to probabilities by isotonic
    regression fitted on the training fold."""

    def _score(self, X: pd.DataFrame) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _fit_score(self, X: pd.DataFrame, y: np.ndarray) -> None:
        """Fit whatever the score needs (nothing for a rule)."""

    def fit(self, X: pd.DataFrame, y: object) -> _ScoreThenCalibrate:
        X = check_frame(X, where=f"{type(self).__name__}.fit")
        y = check_binary(y, len(X), where=f"{type(self).__name__}.fit")
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.classes_ = np.array([0, 1])
        self._fit_score(X, y)
        self.calibrator_ = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip",
                                              increasing=True).fit(self._score(X), y)
        return self

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """The raw score (higher = riskier), with its full ranking resolution."""
        check_is_fitted(self, "calibrator_")
        return self._score(X)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        score = self.decision_function(X)  # checks the model is fitted
        p = self.calibrator_.predict(score)
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


class RecencyRule(_ScoreThenCalibrate):
    """Risk rises with days since the last speaking event.

    Parameters
    ----------
    feature : str, default "days_since_speak"
        The recency column (``days_since_any_event`` suits churn).

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"days_since_speak": [1.0, 3.0, 20.0, 40.0]})
    >>> RecencyRule().fit(X, [0, 0, 1, 1]).predict(X).tolist()
    [0, 0, 1, 1]
    """

    def __init__(self, feature: str = "days_since_speak") -> None:
        self.feature = feature

    def _score(self, X: pd.DataFrame) -> np.ndarray:
        if self.feature not in X.columns:
            raise ValueError(f"RecencyRule needs the column {self.feature!r}; got {list(X.columns)[:8]}...")
        return X[self.feature].to_numpy(dtype=float)


RFM_COLUMNS = ("days_since_speak", "speak_count_30d", "speak_count_90d", "active_days_30d",
               "spend_90d", "tenure_days")


def _log1p_nonnegative(a: np.ndarray) -> np.ndarray:
    return np.log1p(np.clip(np.nan_to_num(a), 0, None))


class RFMLogistic(_ScoreThenCalibrate):
    """Logistic regression on recency, frequency, monetary value and tenure.

    Parameters
    ----------
    columns : tuple of str
        The RFM columns, log1p-scaled and standardised.
    C : float, default 1.0
        Inverse regularisation strength.
    """

    def __init__(self, columns: tuple[str, ...] = RFM_COLUMNS, C: float = 1.0) -> None:
        self.columns = columns
        self.C = C

    def _fit_score(self, X: pd.DataFrame, y: np.ndarray) -> None:
        missing = [c for c in self.columns if c not in X.columns]
        if missing:
            raise ValueError(f"RFMLogistic needs the columns {missing}, which are not in X")
        self.pipeline_ = make_pipeline(
            FunctionTransformer(_log1p_nonnegative),
            StandardScaler(), LogisticRegression(C=self.C, max_iter=1000))
        self.pipeline_.fit(X[list(self.columns)].to_numpy(dtype=float), y)

    def _score(self, X: pd.DataFrame) -> np.ndarray:
        return self.pipeline_.predict_proba(X[list(self.columns)].to_numpy(dtype=float))[:, 1]


class BGNBDBaseline(_ScoreThenCalibrate):
    """BG/NBD over speaking days: members "die" after some active day and never return.

    Parameters
    ----------
    score : {"p_alive", "p_no_purchase"}, default "p_alive"
        ``1 - P(alive)``, or P(no speaking day in the next ``horizon_days``).
    horizon_days : float, default 30
        Horizon for ``p_no_purchase``.
    max_fit_rows : int, default 50_000
        Rows (member-cutoffs) used to fit the four BG/NBD parameters, sampled
        with a fixed seed; scoring uses every row.
    penalizer_coef : float, default 1e-6
        Ridge penalty on the parameters (see :class:`~shequn_ml.models.btyd.BGNBD`).
    """

    def __init__(self, score: str = "p_alive", horizon_days: float = 30,
                 max_fit_rows: int = 50_000, penalizer_coef: float = 1e-6) -> None:
        self.score = score
        self.horizon_days = horizon_days
        self.max_fit_rows = max_fit_rows
        self.penalizer_coef = penalizer_coef

    @staticmethod
    def summary(X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(frequency, recency, T) in days from the engagement features."""
        T = np.maximum(X["days_since_first_speak"].to_numpy(dtype=float), 1e-3)
        active = X["active_days_total"].to_numpy(dtype=float)
        x = np.maximum(active - 1, 0)
        recency = np.where(x > 0, T - X["days_since_speak"].to_numpy(dtype=float), 0.0)
        return x, np.clip(recency, 0, T), T

    def _fit_score(self, X: pd.DataFrame, y: np.ndarray) -> None:
        if self.score not in ("p_alive", "p_no_purchase"):
            raise ValueError(f"The 'score' parameter of BGNBDBaseline must be 'p_alive' or "
                             f"'p_no_purchase'. Got {self.score!r} instead.")
        x, r, T = self.summary(X)
        self.model_, self.penalizer_coef_ = fit_bgnbd(x, r, T, penalizer_coef=self.penalizer_coef,
                                                      max_fit_rows=self.max_fit_rows)

    def _score(self, X: pd.DataFrame) -> np.ndarray:
        x, r, T = self.summary(X)
        if self.score == "p_alive":
            return 1.0 - self.model_.p_alive(x, r, T)
        return self.model_.p_no_purchase(self.horizon_days, x, r, T)


def fit_bgnbd(x: np.ndarray, r: np.ndarray, T: np.ndarray, *, penalizer_coef: float = 1e-6,
              max_fit_rows: int = 50_000) -> tuple[object, float]:
    """Fit BG/NBD on (frequency, recency, T) rows; (fitted model, ridge penalty used).

    At most ``max_fit_rows`` rows (sampled with a fixed seed) are used. The BG/NBD
    likelihood is nearly flat along a/b when few members drop out; a tiny ridge
    penalty pins the fit. If the optimiser still does not converge, the penalty
    grows 100-fold, up to 1e-2.
    """
    from shequn_ml.models.btyd import BGNBD

    if len(x) > max_fit_rows:
        pick = np.random.default_rng(0).choice(len(x), max_fit_rows, replace=False)
        x, r, T = x[pick], r[pick], T[pick]
    coef = penalizer_coef
    while True:
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            try:
                return BGNBD(penalizer_coef=coef).fit(x, r, T), coef
            except ConvergenceWarning:
                if coef >= 1e-2:
                    raise
                coef = max(coef * 100, 1e-6)
