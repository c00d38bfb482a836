"""The group-health model and the two baselines it must beat.

``GroupHealthModel`` is the library's LightGBM risk classifier
(:class:`shequn_ml.models._classifier._RiskModel`, the machinery of ``SilenceModel``):
early stopping on a validation fold later in time than the training cutoffs, then a
calibration map fitted on that fold. Only its defaults differ, for small data: a
community of 30 groups gives a few hundred (group, cutoff) rows, so the trees start
from a ridge logistic regression on the log-scaled features (``start="linear"``), are
small (4 or 7 leaves, chosen on the validation fold), need 20 rows per leaf, take small
steps and a stronger L2 penalty on their leaf values; the calibration map is the
two-parameter sigmoid.

Baselines (scikit-learn classifiers on the same feature table, fitted on the training
cutoffs, isotonic-calibrated there like :mod:`shequn_ml.models.baselines`):

``ActivityTrendRule``
    The group activity trend rule: the more the group's daily speaking fell (the
    lifecycle rule's ``activity_trend``, last 14 days against the 42 before), the higher
    the risk. Its ranking is ``-activity_trend``.
``LastPeriodActivity``
    Last period's activity: a logistic regression on ``log1p`` of the group's speaking
    events in the last 28 days (fewer messages, higher risk).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from shequn_ml.models._classifier import _RiskModel
from shequn_ml.models.baselines import RFMLogistic, _ScoreThenCalibrate


class GroupHealthModel(_RiskModel):
    """Which groups will die (群解散 / 沉寂): go silent or lose most speakers over the horizon.

    A LightGBM classifier on the group-level features of
    :func:`~shequn_ml.group_health.group_features`, boosted from a ridge logistic start,
    early-stopped and calibrated on a validation fold later than the training cutoffs.
    The parameters are those of :class:`shequn_ml.models.SilenceModel`; the defaults
    suit a few hundred training rows.

    Parameters
    ----------
    n_estimators : int, default 400
        Upper bound on trees; early stopping picks ``best_iteration_``.
    learning_rate : float, default 0.03
    num_leaves : int or sequence of int, default (4, 7)
        Candidates; the one with the higher validation ROC-AUC is kept (a tie: 4).
    min_child_samples : int, default 20
    subsample, colsample_bytree : float, default 0.8
    reg_lambda : float, default 5.0
        L2 penalty on leaf values.
    class_weight : "balanced" or None, default "balanced"
        Not used with a start (the start is fitted on the natural rate).
    early_stopping_rounds : int or None, default 50
    calibration : {"auto", "sigmoid", "beta", "isotonic", None}, default "sigmoid"
        Platt scaling on the validation fold. A community's validation fold is tens to
        hundreds of rows with a handful of deaths: on the committed sample (60 rows, 9
        deaths) ``"auto"`` chose isotonic regression, whose steps gave an ECE of 0.22 on
        the test cutoffs (docs/group-health.md).
    start : {"linear", None}, default "linear"
        Boost from :class:`~shequn_ml.models._classifier.LinearStart`; when no tree lowers
        the validation log-loss none is kept and the model is the linear start.
    start_C : float, default 0.1
    random_state : int, default 0
    n_jobs : int, default 1
        Threads. One: on a few hundred rows LightGBM's threads cost more than they save
        (the committed sample's fit took 1.1-1.5 s with one thread, 3-5 s with two).

    Attributes
    ----------
    feature_names_in_, best_iteration_, start_, num_leaves_, num_leaves_search_,
    calibrated_, calibration_method_, calibration_cv_log_loss_
        As for :class:`~shequn_ml.models.SilenceModel`.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"activity_trend": rng.normal(-0.3, 0.5, 600),
    ...                   "speakers_28d": rng.poisson(30, 600).astype(float)})
    >>> y = (rng.random(600) < 1 / (1 + np.exp(2 + 3 * X.activity_trend))).astype(int)
    >>> m = GroupHealthModel().fit(X[:400], y[:400], X_val=X[400:], y_val=y[400:])
    >>> m.predict_proba(X[:2]).shape, m.calibrated_, m.start_ is not None
    ((2, 2), True, True)
    """

    task = "group_health"

    def __init__(
        self,
        n_estimators: int = 400,
        learning_rate: float = 0.03,
        num_leaves: int | tuple[int, ...] | list[int] = (4, 7),
        min_child_samples: int = 20,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        reg_lambda: float = 5.0,
        class_weight: str | None = "balanced",
        early_stopping_rounds: int | None = 50,
        calibration: str | None = "sigmoid",
        start: str | None = "linear",
        start_C: float = 0.1,
        random_state: int = 0,
        n_jobs: int = 1,
    ) -> None:
        super().__init__(
            n_estimators=n_estimators, learning_rate=learning_rate, num_leaves=num_leaves,
            min_child_samples=min_child_samples, subsample=subsample,
            colsample_bytree=colsample_bytree, reg_lambda=reg_lambda, class_weight=class_weight,
            early_stopping_rounds=early_stopping_rounds, calibration=calibration,
            start=start, start_C=start_C, random_state=random_state, n_jobs=n_jobs)


class ActivityTrendRule(_ScoreThenCalibrate):
    """Risk rises as the group's activity trend falls: the ranking is ``-X[feature]``.

    Parameters
    ----------
    feature : str, default "activity_trend"
        The trend column (log ratio of recent to earlier daily speaking).

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"activity_trend": [0.4, 0.1, -0.5, -1.2]})
    >>> ActivityTrendRule().fit(X, [0, 0, 1, 1]).predict(X).tolist()
    [0, 0, 1, 1]
    """

    def __init__(self, feature: str = "activity_trend") -> None:
        self.feature = feature

    def _score(self, X: pd.DataFrame) -> np.ndarray:
        if self.feature not in X.columns:
            raise ValueError(f"ActivityTrendRule needs the column {self.feature!r}, which is not in X "
                             f"(columns: {list(X.columns)[:8]}...)")
        return -X[self.feature].to_numpy(dtype=float)


class LastPeriodActivity(RFMLogistic):
    """A logistic regression on ``log1p`` of last period's speaking events (standardised).

    Parameters
    ----------
    columns : tuple of str, default ("speak_events_28d",)
    C : float, default 1.0

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"speak_events_28d": [400.0, 120.0, 8.0, 1.0]})
    >>> LastPeriodActivity().fit(X, [0, 0, 1, 1]).predict(X).tolist()
    [0, 0, 1, 1]
    """

    def __init__(self, columns: tuple[str, ...] = ("speak_events_28d",), C: float = 1.0) -> None:
        super().__init__(columns=columns, C=C)
