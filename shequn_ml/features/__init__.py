"""Point-in-time features: engagement, benefit, relationship and group context.

>>> from shequn_ml.features import build_features, FeatureSpec, rolling_cutoffs
"""

from shequn_ml.features._registry import FAMILIES, FeatureDef, catalogue, family_of
from shequn_ml.features.pipeline import KEY, build_features, feature_columns
from shequn_ml.features.snapshots import EventHistory, Snapshot, rolling_cutoffs, to_cutoff
from shequn_ml.features.spec import FeatureSpec, SpecError, load_feature_spec

__all__ = [
    "FAMILIES",
    "KEY",
    "EventHistory",
    "FeatureDef",
    "FeatureSpec",
    "Snapshot",
    "SpecError",
    "build_features",
    "catalogue",
    "family_of",
    "feature_columns",
    "load_feature_spec",
    "rolling_cutoffs",
    "to_cutoff",
]
