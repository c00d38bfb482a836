"""The report's input tables: read, checked for the columns it needs, reasons split by language."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

#: Columns each input table must have; everything else is optional and used when present.
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "scores": ("group_id", "member_id"),
    "groups_table": ("group_id",),
    "contacts": ("group_id", "member_id"),
    "roles": ("group_id", "member_id"),
}
#: What each table is, for error messages.
DESCRIPTION = {
    "scores": "the scores table of shequn-ml score",
    "groups_table": "the groups table of the group-health scoring",
    "contacts": "the contact-list table of shequn-ml score",
    "roles": "the member-role table (shequn_ml.roles)",
}
N_REASONS = 3


class ReportInputError(ValueError):
    """A report input that cannot be used: names the file (or table) and the column."""


def read_report_table(path: str | os.PathLike[str], kind: str) -> pd.DataFrame:
    """Read one of the report's tables (Parquet, or CSV by suffix) and check its columns.

    Parameters
    ----------
    path : path
        The file: ``.csv`` is read as CSV, anything else as Parquet.
    kind : {"scores", "groups_table", "contacts", "roles"}
        Which table it is (sets the required columns, :data:`REQUIRED_COLUMNS`).

    Returns
    -------
    DataFrame

    Raises
    ------
    ReportInputError
        The file is missing or unreadable, or lacks a required column; the message
        names the file and the column.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "scores.csv"
    >>> _ = p.write_text("group_id,silence_risk\\ng1,0.5\\n")
    >>> try:
    ...     read_report_table(p, "scores")
    ... except ReportInputError as exc:
    ...     print(str(exc).replace(str(p), "scores.csv"))
    scores.csv: column 'member_id' is missing (the scores table of shequn-ml score needs group_id, \
member_id); it has group_id, silence_risk
    """
    if kind not in REQUIRED_COLUMNS:
        raise ValueError(f"kind must be one of {sorted(REQUIRED_COLUMNS)}, got {kind!r}")
    p = Path(path)
    if not p.exists():
        raise ReportInputError(f"{p}: no such file ({DESCRIPTION[kind]})")
    if p.is_dir() and p.suffix.lower() == ".csv":
        raise ReportInputError(f"{p}: is a folder, expected a CSV file ({DESCRIPTION[kind]})")
    try:
        table = pd.read_csv(p) if p.suffix.lower() == ".csv" else pd.read_parquet(p)
    except Exception as exc:  # pyarrow and the CSV parser raise many kinds
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ReportInputError(f"{p}: cannot be read as {'CSV' if p.suffix.lower() == '.csv' else 'Parquet'} "
                               f"({first})") from None
    return check_columns(table, kind, str(p))


def check_columns(table: pd.DataFrame, kind: str, name: str | None = None) -> pd.DataFrame:
    """``table`` with its id columns as text, after checking the required columns are there.

    Raises
    ------
    ReportInputError
        Naming the table (``name``, e.g. its file) and the first missing column.
    """
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"{kind} must be a pandas DataFrame, got {type(table).__name__}")
    label = name or kind
    missing = [c for c in REQUIRED_COLUMNS[kind] if c not in table.columns]
    if missing:
        has = ", ".join(map(str, table.columns[:12])) + (", ..." if table.shape[1] > 12 else "")
        raise ReportInputError(f"{label}: column {missing[0]!r} is missing ({DESCRIPTION[kind]} needs "
                               f"{', '.join(REQUIRED_COLUMNS[kind])}); it has {has or 'no columns'}")
    out = table.copy()
    for col in ("group_id", "member_id"):
        if col in out.columns:
            if out[col].isna().any():
                row = int(np.flatnonzero(out[col].isna().to_numpy())[0])
                raise ReportInputError(f"{label}: column {col!r} is empty in {int(out[col].isna().sum())} "
                                       f"rows; first rows: row {row}")
            out[col] = out[col].astype(str).astype(object)
    return out


def first_present(table: pd.DataFrame, names: Sequence[str]) -> str | None:
    """The first of ``names`` that is a column of ``table``."""
    return next((n for n in names if n in table.columns), None)


def split_reason(text: object) -> tuple[str, str]:
    """``(english, chinese)`` of one reason cell written as ``"English / 中文"``.

    >>> split_reason("no message for 12 days / 12天未发言")
    ('no message for 12 days', '12天未发言')
    >>> split_reason(None)
    ('', '')
    """
    if text is None or (isinstance(text, float) and np.isnan(text)) or text is pd.NA:
        return "", ""
    s = str(text).strip()
    en, sep, zh = s.rpartition(" / ")
    return (en.strip(), zh.strip()) if sep else (s, s)


def reasons(table: pd.DataFrame, prefix: str, lang: str) -> list[list[str]]:
    """The non-empty reasons of each row, in order, in ``lang`` ("en" or "zh").

    Reads the split layout (``<prefix>_reason_{k}_{lang}``) when present, else the
    combined one (``<prefix>_reason_{k}`` holding ``"English / 中文"``).

    >>> t = pd.DataFrame({"silence_reason_1": ["a / 甲"], "silence_reason_2": [None]})
    >>> reasons(t, "silence", "zh")
    [['甲']]
    >>> reasons(pd.DataFrame({"kol_reason_1_zh": ["乙"]}), "kol", "zh")
    [['乙']]
    """
    cols: list[pd.Series] = []
    for k in range(1, N_REASONS + 1):
        split, joined = f"{prefix}_reason_{k}_{lang}", f"{prefix}_reason_{k}"
        if split in table.columns:
            cols.append(table[split].map(lambda v: "" if _blank(v) else str(v).strip()))
        elif joined in table.columns:
            i = 0 if lang == "en" else 1
            cols.append(table[joined].map(lambda v, i=i: split_reason(v)[i]))
    if not cols:
        return [[] for _ in range(len(table))]
    values = np.column_stack([c.to_numpy(dtype=object) for c in cols])
    return [[v for v in row if v] for row in values]


def _blank(v: object) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) or not str(v).strip()
