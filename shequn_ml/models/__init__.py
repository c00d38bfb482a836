"""Models: LightGBM silence and churn classifiers, and the baselines they must beat."""

from shequn_ml.models._classifier import ChurnModel, SilenceModel
from shequn_ml.models.baselines import BGNBDBaseline, RecencyRule, RFMLogistic

__all__ = ["BGNBDBaseline", "ChurnModel", "RFMLogistic", "RecencyRule", "SilenceModel"]
