"""Time splits: train on the past, stop early on the later past, test on the future.

A random split across time lets a model learn next month from next month. Here the
folds are made of whole cutoffs in time order, and a cutoff is admitted to an
earlier fold only when its label window ``[t, t + h)`` ends by the first cutoff of
the next fold, so **no training label window overlaps a validation or test label
window**. Cutoffs that would overlap are dropped and reported.

Examples
--------
>>> from shequn_ml.features import rolling_cutoffs
>>> cuts = rolling_cutoffs("2024-02-01", "2024-05-30", 7)
>>> s = time_split(cuts, horizon_days=14, n_validation=2, n_test=2)
>>> [len(s.train), len(s.validation), len(s.test), len(s.dropped)]
[12, 2, 2, 2]
>>> s.train[-1] + pd.Timedelta(days=14) <= s.validation[0]
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from shequn_ml.features.snapshots import as_cutoffs

FOLDS = ("train", "validation", "test")


class DataError(ValueError):
    """The data cannot support the requested work (too few cutoffs for a split, a
    fold with one label class only): fixable by the user with more data, more or
    further-apart cutoffs, or a shorter horizon. The command line prints the
    message, without a traceback, and exits 2."""


@dataclass(frozen=True)
class TimeSplit:
    """Cutoffs of each fold, in time order, and the ones dropped to avoid overlap."""

    train: list[pd.Timestamp]
    validation: list[pd.Timestamp]
    test: list[pd.Timestamp]
    horizon_days: float
    dropped: list[pd.Timestamp] = field(default_factory=list)

    def __post_init__(self) -> None:
        """Refuse folds out of time order or whose label windows overlap the next fold's."""
        h = pd.Timedelta(days=self.horizon_days)
        pairs = (("train", self.train, "validation", self.validation),
                 ("validation", self.validation, "test", self.test))
        for name, fold in (("train", self.train), ("validation", self.validation),
                           ("test", self.test)):
            if not fold:
                raise ValueError(f"the {name} fold has no cutoffs")
        for a, earlier, b, later in pairs:
            if max(earlier) + h > min(later):
                raise ValueError(
                    f"the {a} cutoff {max(earlier):%Y-%m-%d}'s {self.horizon_days:g}-day label "
                    f"window reaches past the first {b} cutoff {min(later):%Y-%m-%d}: the "
                    f"windows overlap, so {b} labels would be learned from; use time_split()")

    def fold_of(self, cutoffs: pd.Series) -> pd.Series:
        """The fold name of each cutoff ("train", "validation", "test" or "dropped")."""
        lookup = {c: f for f in FOLDS for c in getattr(self, f)}
        return cutoffs.map(lambda c: lookup.get(pd.Timestamp(c), "dropped")).astype(str)

    def describe(self) -> str:
        def span(cs: list[pd.Timestamp]) -> str:
            return f"{len(cs)} cutoffs {cs[0]:%Y-%m-%d}..{cs[-1]:%Y-%m-%d}" if cs else "none"

        return (f"train {span(self.train)}; validation {span(self.validation)}; "
                f"test {span(self.test)}; horizon {self.horizon_days:g} days; "
                f"{len(self.dropped)} cutoffs dropped to keep label windows apart")


def time_split(cutoffs: Sequence[object], horizon_days: float, *, n_validation: int = 1,
               n_test: int = 1) -> TimeSplit:
    """Split cutoffs into train < validation < test with non-overlapping label windows.

    Parameters
    ----------
    cutoffs : sequence of timestamps
        All cutoffs (any order; duplicates are merged).
    horizon_days : float
        Label window length h.
    n_validation, n_test : int, default 1
        How many of the latest usable cutoffs go to validation and to test.

    Returns
    -------
    TimeSplit

    Raises
    ------
    DataError
        When the cutoffs cannot give every fold at least one cutoff; the message
        says how many cutoffs, and how far apart, are needed (a ValueError).
    """
    if n_validation < 1 or n_test < 1:
        raise ValueError(f"n_validation and n_test must be >= 1, got {n_validation}, {n_test}")
    cuts = as_cutoffs(cutoffs)
    h = pd.Timedelta(days=horizon_days)
    test = cuts[-n_test:]
    rest = [c for c in cuts[:-n_test] if c + h <= test[0]]
    validation = rest[-n_validation:]
    train = [c for c in rest[:-n_validation] if c + h <= validation[0]] if validation else []
    if not train or len(validation) < n_validation or len(test) < n_test:
        raise DataError(
            f"{len(cuts)} cutoffs from {cuts[0]:%Y-%m-%d} to {cuts[-1]:%Y-%m-%d} cannot make "
            f"train, {n_validation} validation and {n_test} test cutoffs whose {horizon_days:g}-day "
            "label windows do not overlap: add earlier cutoffs, space them further apart, or "
            "shorten the horizon")
    kept = set(train) | set(validation) | set(test)
    return TimeSplit(train, validation, test, float(horizon_days),
                     dropped=[c for c in cuts if c not in kept])
