"""Problems found in input tables, and the report that carries them to the user.

Every check in :mod:`shequn_ml.io` ends here as a :class:`Problem`: which file,
which column, how many rows, and the first offending rows with their values, in
words a community operator can act on. A :class:`ValidationReport` collects them;
an ``error`` makes the data unusable and :meth:`ValidationReport.raise_if_errors`
turns it into one :class:`EventValidationError` whose message lists them all.

Row references
--------------
Rows are named the way the user will look for them: ``line N`` in a CSV file
(the header is line 1), ``row N`` (0-based) in a Parquet file, and ``index N`` (the
index label) in an in-memory DataFrame.
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

Severity = Literal["error", "warning", "info"]
SourceKind = Literal["csv", "parquet", "frame"]

#: How many offending rows a message quotes.
MAX_ROWS_SHOWN = 5


class EventValidationError(ValueError):
    """Input data is not usable; the message lists every problem found.

    Attributes
    ----------
    report : ValidationReport
        The full report, with each problem's rows.
    """

    def __init__(self, report: ValidationReport) -> None:
        self.report = report
        super().__init__(report.format_problems(severities=("error",)))


class DataWarning(UserWarning):
    """Input data is usable, but something in it was dropped or is suspect."""


@dataclass(frozen=True)
class Source:
    """Where a table came from, for messages."""

    name: str
    kind: SourceKind
    table: str = "events"

    def row_label(self, position: int, index_label: object = None) -> str:
        if self.kind == "csv":
            return f"line {position + 2}"
        if self.kind == "parquet":
            return f"row {position}"
        return f"index {index_label if index_label is not None else position}"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one column of one table.

    Parameters
    ----------
    severity : {"error", "warning", "info"}
        ``error`` makes the data unusable; ``warning`` is counted and the data
        used; ``info`` reports a repair (such as dropped duplicates).
    check : str
        Short stable code, e.g. ``"unparseable_timestamp"``.
    source : Source
        The file or frame the rows are in.
    column : str or None
        The column at fault, if one is.
    count : int
        How many rows are affected.
    detail : str
        What is wrong and what was expected, in one sentence.
    rows : tuple of str
        Labels of the first offending rows (``line 4``), with their values.
    """

    severity: Severity
    check: str
    source: Source
    column: str | None
    count: int
    detail: str
    rows: tuple[str, ...] = ()

    def format(self) -> str:
        where = f"{self.source.name}: "
        if self.column is not None:
            where += f"column '{self.column}': "
        text = where + self.detail
        if self.rows:
            more = f" (and {self.count - len(self.rows)} more)" if self.count > len(self.rows) else ""
            text += "; first rows: " + ", ".join(self.rows) + more
        return text


@dataclass
class ValidationReport:
    """What a reader found in one table.

    Attributes
    ----------
    source : Source
        The table's origin.
    problems : list of Problem
        Everything found, errors first once :meth:`sorted_problems` is used.
    n_rows_read : int
        Rows in the input.
    n_rows_kept : int
        Rows in the normalised output (after dropping duplicates).
    """

    source: Source
    problems: list[Problem] = field(default_factory=list)
    n_rows_read: int = 0
    n_rows_kept: int = 0

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        """True when the data is usable (no errors)."""
        return not self.errors

    def add(
        self,
        severity: Severity,
        check: str,
        column: str | None,
        detail: str,
        *,
        mask: np.ndarray | pd.Series | None = None,
        values: pd.Series | None = None,
        index: pd.Index | None = None,
        count: int | None = None,
    ) -> Problem:
        """Record a problem; ``mask`` marks offending rows by position."""
        rows: tuple[str, ...] = ()
        if mask is not None:
            m = np.asarray(mask, dtype=bool)
            positions = np.flatnonzero(m)
            count = len(positions) if count is None else count
            shown = positions[:MAX_ROWS_SHOWN]
            labels = []
            for pos in shown:
                idx_label = index[pos] if index is not None else None
                label = self.source.row_label(int(pos), idx_label)
                if values is not None:
                    label += f": {_show_value(values.iloc[pos])}"
                labels.append(label)
            rows = tuple(labels)
        problem = Problem(severity, check, self.source, column, int(count or 0), detail, rows)
        self.problems.append(problem)
        return problem

    def format_problems(self, severities: Sequence[Severity] = ("error", "warning", "info")) -> str:
        chosen = [p for p in self.problems if p.severity in severities]
        if not chosen:
            return f"{self.source.name}: no problems found"
        head = {
            "error": "error",
            "warning": "warning",
            "info": "note",
        }
        lines = []
        for p in sorted(chosen, key=lambda p: ("error", "warning", "info").index(p.severity)):
            lines.append(f"{head[p.severity]}: {p.format()}")
        return "\n".join(lines)

    def raise_if_errors(self) -> None:
        """Raise :class:`EventValidationError` if any error was found."""
        if self.errors:
            raise EventValidationError(self)

    def emit_warnings(self, stacklevel: int = 3) -> None:
        """Issue each warning and note as a :class:`DataWarning`."""
        for p in self.problems:
            if p.severity != "error":
                warnings.warn(p.format(), DataWarning, stacklevel=stacklevel)


def _show_value(v: object) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA or v is pd.NaT:
        return "<empty>"
    text = repr(v) if isinstance(v, str) else str(v)
    return text if len(text) <= 40 else text[:37] + "..."


def closest_name(name: str, candidates: Sequence[str], aliases: dict[str, str] | None = None) -> str | None:
    """The known name a user most likely meant, or None.

    >>> closest_name("mesage", ["message", "reply"])
    'message'
    >>> closest_name("timestamp", ["ts"], aliases={"timestamp": "ts"})
    'ts'
    """
    key = str(name).strip().lower()
    if aliases and key in aliases:
        return aliases[key]
    match = difflib.get_close_matches(key, list(candidates), n=1, cutoff=0.6)
    return match[0] if match else None
