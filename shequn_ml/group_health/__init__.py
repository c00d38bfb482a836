"""Group health (群健康), the fourth task: will a group die over the coming horizon?

A group *dies* over ``[t, t + h)`` when nobody speaks in it then, or when fewer than
``(1 - loss_share)`` of its speaking members of ``[t - h, t)`` speak (default: it loses
more than half). The groups that spoke in ``[t - h, t)`` are labelled
(:func:`group_health_labels`); features read only ts < t (:func:`group_features`).
See ``docs/group-health.md`` for the definitions and the measured results.

Modules
-------
``_labels``     the label and its population (:func:`group_health_labels`, :func:`group_population`)
``_features``   group-level features at a cutoff (:func:`group_features`, :data:`FEATURES`)
``_reasons``    English and Chinese reason templates (:data:`REASONS`, :func:`group_reasons`)
``_model``      :class:`GroupHealthModel` and the baselines :class:`ActivityTrendRule`,
                :class:`LastPeriodActivity`
``_evaluate``   :func:`evaluate_group_health`: one time split, every model, group bootstrap
``_score``      :func:`score_groups`: the groups table for the nightly job
``_lifecycle``  the simulator's true lifecycle stage and the agreement of a stage rule with it
``_spec``       ``models/group_health.yaml``

Examples
--------
>>> import pandas as pd
>>> from shequn_ml.io import read_events
>>> ev = read_events(pd.DataFrame({
...     "ts": ["2024-01-02", "2024-01-03", "2024-01-09", "2024-01-10"],
...     "group_id": "g", "member_id": ["a", "b", "a", "a"],
...     "event_type": ["message", "answer", "message", "message"]}))
>>> group_health_labels(ev, "2024-01-08", horizon_days=6)[["group_death", "reason"]].values.tolist()
[[0, '']]
"""

from shequn_ml.group_health._evaluate import (
    GroupHealthEvaluation,
    evaluate_group_health,
    group_bootstrap,
    score_metrics,
)
from shequn_ml.group_health._features import FEATURE_NAMES, FEATURES, group_features
from shequn_ml.group_health._labels import LABEL, group_health_labels, group_population
from shequn_ml.group_health._lifecycle import (
    LearnedStage,
    StageAgreement,
    stage_agreement,
    truth_lifecycle_stage,
)
from shequn_ml.group_health._model import ActivityTrendRule, GroupHealthModel, LastPeriodActivity
from shequn_ml.group_health._reasons import REASONS, STAGE_EN, STAGE_ZH, group_reasons, render_reason
from shequn_ml.group_health._score import SCORE_COLUMNS, score_groups
from shequn_ml.group_health._spec import GroupHealthSpec, load_group_health_spec

__all__ = [
    "FEATURES", "FEATURE_NAMES", "LABEL", "REASONS", "SCORE_COLUMNS", "STAGE_EN", "STAGE_ZH",
    "ActivityTrendRule", "GroupHealthEvaluation", "GroupHealthModel", "GroupHealthSpec",
    "LastPeriodActivity", "LearnedStage", "StageAgreement", "evaluate_group_health",
    "group_bootstrap", "group_features", "group_health_labels", "group_population", "group_reasons",
    "load_group_health_spec", "render_reason", "score_groups", "score_metrics", "stage_agreement",
    "truth_lifecycle_stage",
]
