"""The catalogue of features: one entry per output column, with its meaning.

Every family module registers its features here with :func:`feature`, so that the
docs (``docs/features.md``), the reason codes of the explanations and the mapping
from a model column back to its family all read one list and cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass

FAMILIES = ("engagement", "benefit", "relationship", "group_context")


@dataclass(frozen=True)
class FeatureDef:
    """One feature column.

    Parameters
    ----------
    name : str
        Column name in the feature table.
    family : str
        One of :data:`FAMILIES`.
    window_days : int or None
        Look-back window in days, or None for all history before the cutoff.
    meaning : str
        One sentence saying what the value is.
    reason_en, reason_zh : str
        Operator-readable sentence templates for reason codes, formatted with
        ``{value}`` (the member's value, rounded for display).
    """

    name: str
    family: str
    window_days: int | None
    meaning: str
    reason_en: str = ""
    reason_zh: str = ""


_CATALOGUE: dict[str, FeatureDef] = {}


def feature(name: str, family: str, window_days: int | None, meaning: str,
            reason_en: str = "", reason_zh: str = "") -> FeatureDef:
    """Register a feature definition and return it.

    Definitions that depend on a spec (a window in the meaning) are registered again
    when a spec with other values is used; the latest registration wins. A name
    may not move to another family.
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown feature family {family!r}; expected one of {FAMILIES}")
    fd = FeatureDef(name, family, window_days, meaning, reason_en, reason_zh)
    old = _CATALOGUE.get(name)
    if old is not None and old.family != family:
        raise ValueError(f"feature {name!r} is already in family {old.family!r}, not {family!r}")
    _CATALOGUE[name] = fd
    return fd


def catalogue() -> dict[str, FeatureDef]:
    """All registered features, by name (registration order)."""
    return dict(_CATALOGUE)


def family_of(name: str) -> str:
    """The family a feature column belongs to."""
    return _CATALOGUE[name].family
