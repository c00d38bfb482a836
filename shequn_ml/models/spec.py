"""Model specs: task, label definition, LightGBM parameters, calibration, registry name.

Loaded from ``models/*.yaml`` and validated: an unknown key or a bad value is an
error naming the file and the key.

Examples
--------
>>> spec = ModelSpec(task="silence", name="shequn-silence", label={"horizon_days": 14})
>>> type(spec.build()).__name__, spec.build().get_params()["calibration"]
('SilenceModel', 'auto')
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt

from shequn_ml.models._classifier import ChurnModel, SilenceModel
from shequn_ml.specs import load_yaml_model


class LabelSpec(BaseModel):
    """How the label is made (see :mod:`shequn_ml.labels`)."""

    model_config = ConfigDict(extra="forbid")

    horizon_days: PositiveFloat = 14
    population: Literal["active", "all", "silent"] = "active"
    active_window_days: PositiveFloat = 30
    grace_days: float = Field(7, ge=0)


class LightGBMParams(BaseModel):
    """The estimator's parameters (see :class:`~shequn_ml.models.SilenceModel`)."""

    model_config = ConfigDict(extra="forbid")

    n_estimators: PositiveInt = 600
    learning_rate: PositiveFloat = 0.05
    #: leaves per tree, or candidates to choose between by validation ROC-AUC
    num_leaves: Annotated[int, Field(ge=2)] | Annotated[list[Annotated[int, Field(ge=2)]],
                                                          Field(min_length=1)] = 31
    min_child_samples: PositiveInt = 40
    subsample: float = Field(0.8, gt=0, le=1)
    colsample_bytree: float = Field(0.8, gt=0, le=1)
    reg_lambda: float = Field(1.0, ge=0)
    class_weight: Literal["balanced"] | None = "balanced"
    early_stopping_rounds: PositiveInt | None = 50
    #: validation-fold calibration map; "auto" picks sigmoid, beta or isotonic by
    #: cross-validated log-loss on that fold (see shequn_ml.models._classifier)
    calibration: Literal["auto", "sigmoid", "beta", "isotonic"] | None = "auto"
    #: "linear": boost the trees from a ridge logistic regression on the log-scaled
    #: features (shequn_ml.models._classifier.LinearStart)
    #: "linear_btyd": the same, with BG/NBD's P(dropped out) and expected speaking days as two
    #: more columns of the start (fitted on the training rows)
    #: "rfm": the start on the RFM baseline's columns only; a list: candidates, the highest
    #: validation ROC-AUC kept
    start: Literal["linear", "linear_btyd", "rfm"] | None | list[
        Literal["linear", "linear_btyd", "rfm"] | None] = None
    start_C: PositiveFloat = 0.1
    random_state: int = 0
    n_jobs: PositiveInt = 2


class WeightSpec(BaseModel):
    """How training rows are weighted (see :func:`training_weights`)."""

    model_config = ConfigDict(extra="forbid")

    #: a training cutoff this many days before the latest one weighs half as much (None: equal)
    recency_half_life_days: PositiveFloat | None = None
    #: each member's rows share one member's weight, so long-lived members do not dominate
    per_member: bool = False


def training_weights(cutoffs: object, members: object, spec: WeightSpec) -> object | None:
    """Weights of training rows, from their cutoffs and member ids (None when all are equal).

    ``0.5 ** (age / half_life)`` with age the days before the latest training cutoff,
    times ``1 / rows of the member`` with ``per_member``; the model rescales them to
    mean 1.

    >>> import pandas as pd
    >>> c = pd.to_datetime(["2024-01-01", "2024-01-31", "2024-01-31"])
    >>> training_weights(c, ["a", "a", "b"], WeightSpec(recency_half_life_days=30, per_member=True))
    array([0.25, 0.5 , 1.  ])
    """
    import numpy as np
    import pandas as pd

    if spec.recency_half_life_days is None and not spec.per_member:
        return None
    c = pd.to_datetime(pd.Series(np.asarray(cutoffs)))
    w = np.ones(len(c))
    if spec.recency_half_life_days is not None:
        age = (c.max() - c).dt.total_seconds().to_numpy() / 86_400
        w = w * 0.5 ** (age / spec.recency_half_life_days)
    if spec.per_member:
        m = pd.Series(np.asarray(members, dtype=object).astype(str))
        w = w / m.map(m.value_counts()).to_numpy(dtype=float)
    return w


class ModelSpec(BaseModel):
    """One model: what it predicts, how its label is made, how it is fitted and named."""

    model_config = ConfigDict(extra="forbid")

    task: Literal["silence", "churn"]
    name: str = Field(min_length=1, description="registered model name")
    label: LabelSpec = Field(default_factory=LabelSpec)
    params: LightGBMParams = Field(default_factory=LightGBMParams)
    weights: WeightSpec = Field(default_factory=WeightSpec)

    def build(self) -> SilenceModel | ChurnModel:
        """A fresh, unfitted estimator with these parameters."""
        cls = SilenceModel if self.task == "silence" else ChurnModel
        defaults = cls().get_params()
        given = self.params.model_dump(exclude_unset=True)
        return cls(**{**defaults, **given})


def load_model_spec(path: str | Path) -> ModelSpec:
    """Load and validate a model spec from YAML.

    Raises
    ------
    SpecError
        Naming the file and each bad key (an unknown key is an error too).
    """
    return load_yaml_model(path, ModelSpec)
