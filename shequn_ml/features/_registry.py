"""The catalogue of features: one entry per output column, with its meaning.

Every family module registers its features here with :func:`feature`, so that the
docs (``docs/features.md``), the reason codes of the explanations and the mapping
from a model column back to its family all read one list and cannot drift.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FAMILIES = ("engagement", "benefit", "relationship", "group_context")
#: Families whose every value is the member's group's, not the member's own: they say
#: nothing an operator can do about one member, so member reasons leave them out by
#: default and report them once per group (:func:`shequn_ml.explain.group_signals`).
GROUP_LEVEL_FAMILIES = ("group_context",)

#: ``[singular|plural]`` in an English template: the form agreeing with the value shown.
_FORMS = re.compile(r"\[([^\[\]|]*)\|([^\[\]|]*)\]")


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
        ``{value}`` (the member's value, rounded for display). In English,
        ``[singular|plural]`` picks the form that agrees with the value shown
        (singular for 1 and -1 only: "1 coupon", "0 coupons", "1.5 days"; see
        :func:`render_template`).
    reason_en_negative, reason_zh_negative : str
        Templates for a negative value, formatted with its magnitude (e.g. a
        membership that "expired {value} [day|days] ago" instead of "expires in
        -1.5 days"); empty: the value is never negative, the main template is used.
    reason_en_zero, reason_zh_zero : str
        Templates for a value shown as 0, for a yes/no feature whose main sentence
        states the yes ("paid member"; zero: "free member"); empty: the main one.
    """

    name: str
    family: str
    window_days: int | None
    meaning: str
    reason_en: str = ""
    reason_zh: str = ""
    reason_en_negative: str = ""
    reason_zh_negative: str = ""
    reason_en_zero: str = ""
    reason_zh_zero: str = ""

    def templates(self, shown: str) -> tuple[str, str]:
        """The (English, Chinese) templates for a displayed value, and the value to put in.

        Returns the templates already filled (:func:`render_template`): the zero
        templates for "0", the negative ones (with the magnitude) for a negative value.
        """
        en, zh, value = self.reason_en, self.reason_zh, shown
        if shown in ("0", "0%") and self.reason_en_zero:
            en, zh = self.reason_en_zero, self.reason_zh_zero
        elif shown.startswith("-") and self.reason_en_negative:
            en, zh, value = self.reason_en_negative, self.reason_zh_negative, shown[1:]
        return render_template(en, value), render_template(zh, value)

    @property
    def group_level(self) -> bool:
        """True for a family whose value is the group's (:data:`GROUP_LEVEL_FAMILIES`)."""
        return self.family in GROUP_LEVEL_FAMILIES


_CATALOGUE: dict[str, FeatureDef] = {}


def feature(name: str, family: str, window_days: int | None, meaning: str,
            reason_en: str = "", reason_zh: str = "", *, reason_en_negative: str = "",
            reason_zh_negative: str = "", reason_en_zero: str = "", reason_zh_zero: str = "") -> FeatureDef:
    """Register a feature definition and return it.

    Definitions that depend on a spec (a window in the meaning) are registered again
    when a spec with other values is used; the latest registration wins. A name
    may not move to another family.
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown feature family {family!r}; expected one of {FAMILIES}")
    fd = FeatureDef(name, family, window_days, meaning, reason_en, reason_zh, reason_en_negative,
                    reason_zh_negative, reason_en_zero, reason_zh_zero)
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


def days(n: int) -> str:
    """A window length in words: ``days(1) == "1 day"``, ``days(30) == "30 days"``."""
    return f"{n} day" if n == 1 else f"{n} days"


def render_template(template: str, shown: str) -> str:
    """Fill a reason template with a displayed value, choosing ``[singular|plural]`` forms.

    The singular form is chosen only when the value shown is exactly ``1`` or ``-1``
    (English counts 0, 2 and 1.5 in the plural).

    >>> render_template("claimed {value} [coupon|coupons] in 30 days", "1")
    'claimed 1 coupon in 30 days'
    >>> render_template("{value} of the people they invited [is|are] still active", "0")
    '0 of the people they invited are still active'
    """
    one = shown in ("1", "-1")
    return _FORMS.sub(lambda m: m.group(1) if one else m.group(2), template).format(value=shown)


def template_text(template: str) -> str:
    """A template as the docs show it: the plural forms, ``{value}`` left in place."""
    return _FORMS.sub(lambda m: m.group(2), template)
