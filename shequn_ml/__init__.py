"""shequn_ml: silence, churn and KOL models for online communities (社群).

The public API is this namespace::

    import shequn_ml as sq

    events = sq.read_events("events.parquet", tz="Asia/Shanghai")
    cutoffs = sq.rolling_cutoffs("2024-02-05", "2024-06-10", 7)
    features = sq.build_features(events, cutoffs)
    labels = sq.silence_labels(events, cutoffs, horizon_days=14)

Names are imported on first use, so ``import shequn_ml`` is quick and MLflow, Spark
and plotting load only when asked for.

>>> import shequn_ml as sq
>>> sq.SilenceModel.__name__, sq.read_events.__module__
('SilenceModel', 'shequn_ml.io')
>>> sq.no_such_name
Traceback (most recent call last):
...
AttributeError: module 'shequn_ml' has no attribute 'no_such_name'
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

#: public name -> the module that defines it
_PUBLIC: dict[str, str] = {
    # reading and validation
    "read_events": "shequn_ml.io", "read_members": "shequn_ml.io", "read_groups": "shequn_ml.io",
    "validate_events": "shequn_ml.io",
    "read_export": "shequn_ml.importers", "write_import": "shequn_ml.importers._core",
    "pseudonymise": "shequn_ml.importers._core",
    # features, labels, split
    "build_features": "shequn_ml.features.pipeline", "feature_catalogue": "shequn_ml.features.pipeline",
    "rolling_cutoffs": "shequn_ml.features.snapshots",
    "silence_labels": "shequn_ml.labels", "churn_labels": "shequn_ml.labels",
    "influence_labels": "shequn_ml.influence", "time_split": "shequn_ml.split",
    # models
    "SilenceModel": "shequn_ml.models._classifier", "ChurnModel": "shequn_ml.models._classifier",
    "KolRanker": "shequn_ml.models._ranker", "RFMLogistic": "shequn_ml.models.baselines",
    "RecencyRule": "shequn_ml.models.baselines", "BGNBDBaseline": "shequn_ml.models.baselines",
    "load_model_spec": "shequn_ml.models.spec", "load_kol_spec": "shequn_ml.models._ranker",
    # evaluation, explanations, scoring
    "evaluate_risk": "shequn_ml.evaluation", "evaluate_kol": "shequn_ml.ranking",
    "classification_metrics": "shequn_ml.metrics", "ranking_metrics": "shequn_ml.ranking",
    "shap_values": "shequn_ml.explain", "reason_codes": "shequn_ml.explain",
    "score_members": "shequn_ml.scoring",
    # experiments (the simulator is the subpackage shequn_ml.simulate)
    "load_experiment": "shequn_ml.experiment", "run_experiment": "shequn_ml.experiment",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str) -> object:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'shequn_ml' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC])

