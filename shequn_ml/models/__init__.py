"""Models: LightGBM silence and churn classifiers, the KOL ranker, and the baselines they must beat."""

from shequn_ml.models._classifier import ChurnModel, SilenceModel
from shequn_ml.models._ranker import KolModelSpec, KolRanker, load_kol_spec, query_sizes
from shequn_ml.models.baselines import BGNBDBaseline, RecencyRule, RFMLogistic

__all__ = ["BGNBDBaseline", "ChurnModel", "KolModelSpec", "KolRanker", "RFMLogistic", "RecencyRule",
           "SilenceModel", "load_kol_spec", "query_sizes"]
