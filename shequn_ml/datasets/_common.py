"""What every dataset adapter shares: the result type and errors that name file, field and rows.

An adapter reads a public format, checks every record it uses, and refuses a
malformed file with the same :class:`~shequn_ml.validation.EventValidationError`
the readers in :mod:`shequn_ml.io` raise: one line per problem, naming the file,
the field (column or XML attribute), how many records are affected and the first
of them with their values. The events it builds then pass through
:func:`shequn_ml.io.read_events`, so they are exactly the normalised contract.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from shequn_ml.validation import MAX_ROWS_SHOWN, Problem, Source, ValidationReport


@dataclass
class CommunityData:
    """A public data set in the event contract.

    Attributes
    ----------
    events : DataFrame
        Normalised events (:func:`shequn_ml.io.read_events`).
    members, groups : DataFrame or None
        Normalised side tables, where the format carries them.
    notes : dict of str to int
        What the adapter dropped or mapped, counted (e.g. ``duplicates_dropped``);
        nothing is dropped silently.
    """

    events: pd.DataFrame
    members: pd.DataFrame | None = None
    groups: pd.DataFrame | None = None
    notes: dict[str, int] = field(default_factory=dict)


class Problems:
    """Errors found in one file, raised together as one ``EventValidationError``.

    Parameters
    ----------
    name : str
        How to name the file in messages (its path, by default).
    table : str, default "events"
        The contract table the file feeds.
    """

    def __init__(self, name: str, table: str = "events") -> None:
        self.report = ValidationReport(Source(name, "csv", table))

    def add(self, check: str, column: str | None, detail: str, rows: Sequence[str] = (),
            count: int | None = None) -> None:
        """Record an error; ``rows`` are labels such as ``"line 4: 'x'"`` (first few shown)."""
        n = len(rows) if count is None else count
        self.report.problems.append(Problem("error", check, self.report.source, column, int(n),
                                            detail, tuple(rows[:MAX_ROWS_SHOWN])))

    def add_mask(self, check: str, column: str, detail: str, mask: np.ndarray,
                 labels: Sequence[str] | np.ndarray, values: Sequence[object] | np.ndarray) -> None:
        """Record an error for the records where ``mask`` is true, labelled and with their values."""
        hit = np.flatnonzero(np.asarray(mask, dtype=bool))
        if not len(hit):
            return
        rows = [f"{labels[i]}: {show(values[i])}" for i in hit[:MAX_ROWS_SHOWN]]
        self.add(check, column, detail.format(n=len(hit)), rows, count=len(hit))

    @property
    def ok(self) -> bool:
        return self.report.ok

    def raise_if_errors(self) -> None:
        """Raise :class:`~shequn_ml.validation.EventValidationError` if anything was recorded."""
        self.report.raise_if_errors()


def show(value: object) -> str:
    """A value as quoted in an error message (``<empty>`` for a missing one)."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return "<empty>"
    text = repr(str(value))
    return text if len(text) <= 40 else text[:37] + "..."


__all__ = ["CommunityData", "Problems", "show"]
