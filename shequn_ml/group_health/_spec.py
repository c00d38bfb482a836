"""The group-health spec (``models/group_health.yaml``): label, split and model parameters."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt

from shequn_ml.group_health._model import GroupHealthModel
from shequn_ml.models.spec import LightGBMParams
from shequn_ml.specs import load_yaml_model


class GroupLabelSpec(BaseModel):
    """How the group-death label is made (:func:`~shequn_ml.group_health.group_health_labels`)."""

    model_config = ConfigDict(extra="forbid")

    horizon_days: PositiveFloat = 28.0
    loss_share: float = Field(0.5, ge=0, le=1)


class GroupSplitSpec(BaseModel):
    """The time split: weekly cutoffs, how many go to validation and to test."""

    model_config = ConfigDict(extra="forbid")

    every_days: PositiveInt = 7
    n_validation: PositiveInt = 3
    n_test: PositiveInt = 4


class GroupHealthSpec(BaseModel):
    """The group-health task: what it predicts, how it is split and fitted, its registry name.

    >>> spec = GroupHealthSpec(name="g", params={"num_leaves": [4]})
    >>> spec.build().get_params()["num_leaves"], spec.build().get_params()["start"]
    ([4], 'linear')
    """

    model_config = ConfigDict(extra="forbid")

    task: str = Field("group_health", pattern="^group_health$")
    name: str = Field("shequn-group-health", min_length=1, description="registered model name")
    label: GroupLabelSpec = Field(default_factory=GroupLabelSpec)
    split: GroupSplitSpec = Field(default_factory=GroupSplitSpec)
    params: LightGBMParams = Field(default_factory=LightGBMParams)

    def build(self) -> GroupHealthModel:
        """A fresh, unfitted model: the spec's parameters over :class:`GroupHealthModel`'s defaults."""
        defaults = GroupHealthModel().get_params()
        return GroupHealthModel(**{**defaults, **self.params.model_dump(exclude_unset=True)})


def load_group_health_spec(path: str | Path) -> GroupHealthSpec:
    """Load and validate ``models/group_health.yaml`` (an unknown key is a ``SpecError``)."""
    return load_yaml_model(path, GroupHealthSpec)
