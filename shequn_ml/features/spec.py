"""Feature-set specs: which families, which windows. Loaded from ``features/*.yaml``.

Examples
--------
>>> spec = FeatureSpec(windows=[7, 30])
>>> spec.families
['engagement', 'benefit', 'relationship', 'group_context']
>>> FeatureSpec(windows=[30, 7, 7]).windows
[7, 30]
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    field_validator,
)

from shequn_ml.specs import SpecError, format_validation_error, load_yaml_model

__all__ = ["Family", "FeatureSpec", "SpecError", "format_validation_error", "load_feature_spec"]

Family = Literal["engagement", "benefit", "relationship", "group_context"]


class FeatureSpec(BaseModel):
    """Which signals to compute at each cutoff.

    Parameters
    ----------
    name : str
        A label for the spec, logged with experiments.
    families : list of str
        Feature families to compute, any of engagement, benefit, relationship,
        group_context.
    windows : list of int
        Look-back windows in days for the windowed counts (e.g. 7/14/30/90).
    trend_recent_days, trend_baseline_days : int
        The activity trend compares the daily rate in the last
        ``trend_recent_days`` with the rate in the ``trend_baseline_days`` before.
    benefit_halo_hours : float
        An event within this many hours after a red packet or coupon is sent in
        the group counts as "around a benefit event".
    relationship_window_days : int
        Window for reply/mention/reaction edges of the relationship family.
    quiet_days : int
        A partner with no speaking event for this many days counts as gone quiet.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = "default"
    families: list[Family] = Field(
        default_factory=lambda: ["engagement", "benefit", "relationship", "group_context"],
        min_length=1)
    windows: list[PositiveInt] = Field(default_factory=lambda: [7, 14, 30, 90], min_length=1)
    trend_recent_days: int = Field(14, gt=0)
    trend_baseline_days: int = Field(42, gt=0)
    benefit_halo_hours: float = Field(2.0, gt=0)
    relationship_window_days: int = Field(90, gt=0)
    quiet_days: int = Field(14, gt=0)

    @field_validator("windows")
    @classmethod
    def _sorted_unique(cls, v: list[int]) -> list[int]:
        return sorted(set(v))

    @field_validator("families")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        return list(dict.fromkeys(v))


def load_feature_spec(path: str | Path) -> FeatureSpec:
    """Load and validate a feature spec from YAML.

    Raises
    ------
    SpecError
        Naming the file and each bad key (an unknown key is an error too).
    """
    return load_yaml_model(path, FeatureSpec)
