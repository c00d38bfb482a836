"""Readers and writers for the tables of the event contract.

``read_events``, ``read_members`` and ``read_groups`` accept a CSV path, a
Parquet path (file or folder of parts) or an in-memory :class:`pandas.DataFrame`,
and return a normalised frame:

* timestamps as ``datetime64[ns, UTC]``: ISO-8601 strings (an offset is honoured,
  a naive time is taken as UTC) or epoch seconds, milliseconds, microseconds or
  nanoseconds, told apart per value by magnitude;
* ids as pandas categoricals of strings (``member_id`` and ``target_member_id``
  share one category set, so they compare directly);
* ``event_type`` as a categorical over the vocabulary in :mod:`shequn_ml.schema`
  (case and surrounding spaces are forgiven);
* duplicate ``event_id`` rows dropped (the first is kept) and reported.

Anything that makes the data unusable raises
:class:`~shequn_ml.validation.EventValidationError` naming the file, the column
and the first offending rows; repairs and suspect rows are reported as
:class:`~shequn_ml.validation.DataWarning`. Use :func:`validate_events` to get the
report without raising.

Examples
--------
>>> import pandas as pd
>>> from shequn_ml.io import read_events
>>> ev = read_events(pd.DataFrame({
...     "ts": ["2024-03-01T08:00:00+08:00", "1709251200"],
...     "group_id": ["g1", "g1"], "member_id": [1, 2],
...     "event_type": ["message", "Checkin"]}))
>>> ev["ts"].dt.strftime("%Y-%m-%d %H:%M").tolist()
['2024-03-01 00:00', '2024-03-01 00:00']
>>> ev["event_type"].tolist()
['message', 'checkin']
"""

from __future__ import annotations

import csv as _csv
import os
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from shequn_ml import schema
from shequn_ml.validation import (
    EventValidationError,
    Source,
    ValidationReport,
    closest_name,
)

PathOrFrame = str | os.PathLike[str] | pd.DataFrame

TIMESTAMP_DTYPE = pd.DatetimeTZDtype("ns", "UTC")

#: Column names users often have, mapped to the contract's.
COLUMN_ALIASES: dict[str, str] = {
    "timestamp": "ts",
    "time": "ts",
    "datetime": "ts",
    "created_at": "ts",
    "event_time": "ts",
    "user_id": "member_id",
    "uid": "member_id",
    "user": "member_id",
    "member": "member_id",
    "chat_id": "group_id",
    "room_id": "group_id",
    "group": "group_id",
    "type": "event_type",
    "event": "event_type",
    "action": "event_type",
    "target_id": "target_member_id",
    "to_member_id": "target_member_id",
}

_TRUE = {"true", "t", "yes", "y", "1", "1.0", "是", "paid"}
_FALSE = {"false", "f", "no", "n", "0", "0.0", "否", ""}


@dataclass
class ReadResult:
    """A normalised table and the report on it (``table`` is None when unusable)."""

    table: pd.DataFrame | None
    report: ValidationReport


# --------------------------------------------------------------------------- loading


def _describe_source(source: PathOrFrame, table: str, name: str | None) -> Source:
    if isinstance(source, pd.DataFrame):
        return Source(name or f"<{table} DataFrame>", "frame", table)
    path = Path(source)
    suffix = path.suffix.lower()
    kind = "parquet" if path.is_dir() or suffix in {".parquet", ".pq"} else \
        "excel" if suffix in EXCEL_SUFFIXES else "csv"
    return Source(name or str(path), kind, table)


EXCEL_SUFFIXES = {".xlsx", ".xlsm"}
_BINARY_MAGIC = {b"PK\x03\x04": "a zip archive (an .xlsx saved under another name?)",
                 b"\xd0\xcf\x11\xe0": "an old Excel .xls workbook", b"PAR1": "a Parquet file",
                 b"%PDF": "a PDF"}


def _csv_problem(path: Path) -> tuple[str | None, str | None]:
    """Look at a CSV's first bytes: (error, encoding to read it with).

    Returns an error for a binary file (it would otherwise be dumped into a message)
    or a header naming a column twice; the encoding is "gb18030" for text that is
    not UTF-8 but decodes as GB18030 (what Chinese Excel writes as "CSV").
    """
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    for magic, what in _BINARY_MAGIC.items():
        if head.startswith(magic):
            return (f"is not a CSV file: it is {what}; give a .csv (UTF-8), .parquet or .xlsx file", None)
    if b"\x00" in head:
        return ("is not a CSV file: it holds binary data (NUL bytes); save it as 'CSV UTF-8'", None)
    encoding = None
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the 64 KiB boundary
            try:
                with open(path, "rb") as fh:
                    fh.read().decode("gb18030")
                encoding = "gb18030"
            except UnicodeDecodeError:
                return ("is not UTF-8 text (nor GB18030): save it as 'CSV UTF-8'", None)
    first = head.decode(encoding or "utf-8", errors="replace").lstrip("\ufeff").splitlines()[:1]
    if first:
        names = [n.strip().strip('"') for n in next(_csv.reader(first))]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            return (f"the header names column(s) {', '.join(map(repr, twice))} more than once; keep one "
                    "of each", None)
    return None, encoding


def _load(source: PathOrFrame, src: Source, report: ValidationReport,
          table: schema.Table) -> pd.DataFrame | None:
    """Read the raw table; record a problem and return None if it cannot be read."""
    if isinstance(source, pd.DataFrame):
        return source
    path = Path(source)
    if not path.exists():
        report.add("error", "missing_file", None, "the file does not exist")
        return None
    try:
        # Ids and event types are read dictionary-encoded: they arrive as categoricals, so
        # millions of rows cost one hash pass over the distinct values only.
        coded = [c.name for c in table.columns if c.kind in ("id", "event_type")]
        if src.kind == "parquet":
            # Parquet keeps a dictionary per row group; merging hundreds of them costs more
            # than hashing the text once, except for the few distinct groups and event types.
            few = [c for c in coded if c in ("group_id", "event_type")]
            if path.is_dir():
                unified = _unified_part_schema(path, report)
                if unified is False:
                    return None
                if unified is not None:  # parts differ: read every part with every column
                    return ds.dataset(path, format="parquet", schema=unified).to_table() \
                        .to_pandas(self_destruct=True)
            schema_names = set(pq.read_schema(path).names) if path.is_file() else None
            wanted = [c for c in few if schema_names is None or c in schema_names]
            return pq.read_table(path, read_dictionary=wanted).to_pandas(self_destruct=True)
        if src.kind == "excel":
            ids = {c.name: str for c in table.columns if c.kind in ("id", "str", "event_type")}
            frame = pd.read_excel(path, dtype=ids)
            twice = sorted({str(c).split(".")[0] for c in frame.columns if str(c).rsplit(".", 1)[-1].isdigit()
                            and str(c).rsplit(".", 1)[0] in frame.columns})
            if twice:
                report.add("error", "duplicate_column", None,
                           f"the header names column(s) {', '.join(map(repr, twice))} more than once")
                return None
            return frame
        if path.stat().st_size == 0:
            return pd.DataFrame()
        problem, encoding = _csv_problem(path)
        if problem:
            report.add("error", "unreadable", None, problem)
            return None
        # Ids are read as text so that "007" stays "007"; everything else is inferred.
        types = {c.name: pa.string() for c in table.columns if c.kind == "str"}
        types.update({name: pa.dictionary(pa.int32(), pa.string()) for name in coded})
        opts = pacsv.ConvertOptions(column_types=types, strings_can_be_null=True)
        if encoding:
            report.add("warning", "encoding", None,
                       f"the file is not UTF-8; it was read as {encoding.upper()} (what Chinese Excel "
                       "writes); save it as 'CSV UTF-8' to be sure every character is right")
            return pacsv.read_csv(path, read_options=pacsv.ReadOptions(encoding=encoding),
                                  convert_options=opts).to_pandas()
        return pacsv.read_csv(path, convert_options=opts).to_pandas()
    except (pa.ArrowInvalid, OSError, ValueError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "Empty CSV file" in msg:
            return pd.DataFrame()
        report.add("error", "unreadable", None, f"cannot be read as {src.kind.upper()}: {msg}")
        return None


def _unified_part_schema(folder: Path, report: ValidationReport) -> pa.Schema | None | bool:
    """The schema of a folder of Parquet parts when the parts differ, else None.

    ``pq.read_table(folder)`` takes the first part's schema and drops, without a
    word, every column that only later parts have. When the parts differ the
    schemas are unified (a part without a column gets nulls); when a column has
    different types in two parts, an error naming both parts and the column is
    recorded and False returned.
    """
    files = sorted(ds.dataset(folder, format="parquet").files)
    schemas = [pq.read_schema(f) for f in files]
    if len(schemas) < 2 or all(sc.equals(schemas[0]) for sc in schemas[1:]):
        return None
    seen: dict[str, tuple[pa.DataType, str]] = {}
    for f, sc in zip(files, schemas, strict=True):
        for fld in sc:
            if fld.name in seen and not seen[fld.name][0].equals(fld.type):
                first_type, first_file = seen[fld.name]
                report.add("error", "part_schemas_differ", fld.name,
                           f"Parquet parts disagree on the type of this column: {Path(first_file).name} "
                           f"has {first_type}, {Path(f).name} has {fld.type}; write every part with the "
                           "same types")
                return False
            seen.setdefault(fld.name, (fld.type, f))
    return pa.unify_schemas(schemas)


# --------------------------------------------------------------------------- column parsers


def _unique_text(values: object) -> list[str | None]:
    """Text form of a small array of distinct values (integral floats lose '.0')."""
    out: list[str | None] = []
    for v in np.asarray(values, dtype=object):
        if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
            out.append(None)
        elif isinstance(v, float | np.floating) and float(v).is_integer():
            out.append(str(int(v)))
        else:
            out.append(str(v))
    return out


def _text_array(values: object) -> np.ndarray:
    """:func:`_unique_text` as an object array, without a Python loop over text or integer
    values (a million distinct member ids cost seconds in the loop)."""
    kind = pd.api.types.infer_dtype(values, skipna=True)
    if kind not in ("string", "integer"):
        return np.array(_unique_text(values) + [None], dtype=object)[:-1]
    s = pd.Series(values, copy=False)
    missing = s.isna().to_numpy()
    out = (s.astype(str) if kind == "integer" else s).to_numpy(dtype=object)
    if missing.any():
        out = out.copy()  # may be a read-only view of Arrow memory
        out[missing] = None
    return out


def _as_text(s: pd.Series) -> pd.Series:
    """Values as a nullable ``string`` column (integral floats without '.0')."""
    if pd.api.types.is_float_dtype(s.dtype):
        vals = s.to_numpy(dtype=float)
        finite = vals[~np.isnan(vals)]
        if (np.floor(finite) == finite).all():
            return s.astype("Int64").astype("string")
    return s.astype("string")


def parse_timestamps(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Parse a column to UTC timestamps.

    Parameters
    ----------
    s : Series
        ISO-8601 strings, epoch numbers (seconds, milliseconds, microseconds or
        nanoseconds, told apart by magnitude), or datetimes.

    Returns
    -------
    parsed : Series of datetime64[ns, UTC]
        NaT where the input was empty or did not parse.
    bad : ndarray of bool
        True where a non-empty value did not parse.

    Examples
    --------
    >>> import pandas as pd
    >>> ts, bad = parse_timestamps(pd.Series(["2024-01-01", "1704067200000", "soon"]))
    >>> ts.dt.strftime("%Y-%m-%d").tolist()[:2], bad.tolist()
    (['2024-01-01', '2024-01-01'], [False, False, True])
    """
    parsed, bad, far, _ = _parse_timestamps(s)
    return parsed, bad | far


def _excel_serial_days(s: pd.Series) -> np.ndarray:
    """True on each value of a numeric column whose values all look like Excel serial days.

    Excel stores dates as days since 1899-12-30 (45296.54 is 2024-01-04 12:57).
    Read as epoch seconds, every value would land within a day of 1970-01-01, which
    no real community export does, so a numeric column entirely in [20000, 80000)
    (the years 1954 .. 2119 as serial days) is taken for serial days.
    """
    none = np.zeros(len(s), bool)
    if not pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
        return none
    v = s.to_numpy(dtype=float, na_value=np.nan)
    present = np.isfinite(v)
    if not present.any() or not ((v[present] >= 2e4) & (v[present] < 8e4)).all():
        return none
    return present


def _beyond_ns(values: pd.Series) -> np.ndarray:
    """True where a datetime value (any unit) lies outside what nanoseconds can hold."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_convert(None)
    lo, hi = pd.Timestamp.min, pd.Timestamp.max
    return (values.notna() & ((values < lo) | (values > hi))).to_numpy(dtype=bool)


def check_tz(tz: str | None) -> str | None:
    """``tz`` if it names an IANA time zone (or is None), else a ValueError saying so."""
    if tz is None:
        return None
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {tz!r}: use an IANA name such as 'Asia/Shanghai' or "
                         "'UTC'") from None
    return tz


#: An ISO-8601 text whose time ends in a zone: Z or an offset such as +08:00 / +0800 / +08
#: (after the time's digits, so a date's "-01" is not taken for an offset).
_ZONED = r":\d\d(?::\d\d)?(?:[.,]\d+)?\s*(?:[zZ]|[+-]\d\d(?::?\d\d)?)\s*$"
#: A time of day in the text (date-only values are dates: read as midnight, no warning).
_TIMED = r"\d:\d\d"


def _localize(naive: pd.Series, tz: str) -> pd.Series:
    """Naive wall-clock datetimes in ``tz`` to UTC (NaT for times DST skips or repeats)."""
    return naive.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")


def _parse_timestamps(s: pd.Series, tz: str | None = None
                      ) -> tuple[pd.Series, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`parse_timestamps`, with out-of-range values apart (``far``, set to NaT) and
    the values that carried no zone (``naive``: read in ``tz``, UTC when None).

    A date such as 9999-12-31 (a common "never") parses at microsecond resolution;
    cast to nanoseconds it would wrap silently into the 1800s, so it is caught first.
    """
    present = s.notna().to_numpy()
    none = np.zeros(len(s), bool)
    if isinstance(s.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(s.dtype):
        far = _beyond_ns(s)
        if far.any():
            s = s.mask(far)
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            return s.dt.tz_convert("UTC").astype(TIMESTAMP_DTYPE), none, far, none
        naive = present & ~far
        utc = _localize(s, tz) if tz else s.dt.tz_localize("UTC")
        bad = naive & utc.isna().to_numpy()
        return utc.astype(TIMESTAMP_DTYPE), bad, far, naive
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        if pd.api.types.is_integer_dtype(s.dtype) and not s.hasnans:
            ns = _epoch_to_ns(s.to_numpy(dtype=np.int64))
        else:
            ns = _epoch_to_ns(s.to_numpy(dtype=float, na_value=np.nan))
        return _ns_series(ns, s.index), present & (ns == _NAT), none, none
    text = s if isinstance(s.dtype, pd.StringDtype) else s.astype("string")
    parsed = pd.Series(pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce"), index=s.index)
    zoneless = (parsed.notna() & ~text.str.contains(_ZONED, regex=True).fillna(False)).to_numpy(dtype=bool)
    naive = zoneless & text.str.contains(_TIMED, regex=True).fillna(False).to_numpy(dtype=bool) \
        if zoneless.any() else zoneless
    if tz and zoneless.any():
        naive = zoneless
        wall = pd.to_datetime(text[zoneless], format="ISO8601", errors="coerce")
        parsed = parsed.copy()
        parsed[zoneless] = _localize(pd.Series(wall, index=text.index[zoneless]), tz)
    far = _beyond_ns(parsed)
    if far.any():
        parsed = parsed.mask(far)
    ns = parsed.dt.tz_convert(None).to_numpy().astype("datetime64[ns]").view(np.int64)
    ns = ns.copy()
    failed = present & (ns == _NAT) & ~far
    if failed.any():
        # Epoch numbers written as text, e.g. a CSV column that mixes forms.
        nums = pd.to_numeric(pd.Series(text.to_numpy(dtype=object)[failed]), errors="coerce")
        ns[failed] = _epoch_to_ns(nums.to_numpy(dtype=float, na_value=np.nan))
        failed = present & (ns == _NAT) & ~far
    return _ns_series(ns, s.index), failed, far, naive & ~far


_NAT = np.iinfo(np.int64).min


def _ns_series(ns: np.ndarray, index: pd.Index) -> pd.Series:
    values = pd.DatetimeIndex(ns.view("datetime64[ns]")).tz_localize("UTC")
    return pd.Series(values, index=index)


def _epoch_to_ns(values: np.ndarray) -> np.ndarray:
    """Epoch numbers to int64 nanoseconds (NaT as int64 min), unit chosen by magnitude.

    Below 1e11 the number is seconds, below 1e14 milliseconds, below 1e17
    microseconds, otherwise nanoseconds. Integers are converted exactly; floats are
    rounded to the microsecond (a float cannot hold nanoseconds since 1970 exactly).
    """
    if values.dtype.kind in "iu":
        a = np.abs(values)
        factor = np.select([a < 10**11, a < 10**14, a < 10**17], [10**9, 10**6, 10**3], 1)
        return values.astype(np.int64) * factor.astype(np.int64)
    a = np.abs(values)
    to_us = np.select([a < 1e11, a < 1e14, a < 1e17], [1e6, 1e3, 1.0], default=1e-3)
    us = np.round(values * to_us)
    ok = np.isfinite(us) & (np.abs(us) < 9.2e15)
    out = np.full(len(values), _NAT, dtype=np.int64)
    out[ok] = us[ok].astype(np.int64) * 1000
    return out


def _parse_numbers(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        return s.astype(float), np.zeros(len(s), bool)
    num = pd.to_numeric(s.astype(object), errors="coerce").astype(float)
    return num, s.notna().to_numpy() & num.isna().to_numpy()


def _not_whole(values: pd.Series) -> np.ndarray:
    """True where a present number is negative or has a fractional part."""
    v = values.to_numpy(dtype=float)
    return ~np.isnan(v) & ((v < 0) | (np.floor(v) != v))


def _parse_bools(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.astype("boolean"), np.zeros(len(s), bool)
    text = s.astype(object).where(s.notna(), None).map(
        lambda v: None if v is None else str(v).strip().lower())
    out = pd.Series(pd.NA, index=s.index, dtype="boolean")
    out[text.isin(_TRUE).to_numpy()] = True
    is_false = text.isin(_FALSE).to_numpy() & text.notna().to_numpy()
    out[is_false] = False
    bad = text.notna().to_numpy() & out.isna().to_numpy()
    return out, bad


Factorized = dict[str, tuple[np.ndarray, object]]


def _factorize_ids(df: pd.DataFrame, table: schema.Table) -> Factorized:
    """``pd.factorize`` of each id column, once (validation and normalisation both read it)."""
    return {c.name: pd.factorize(df[c.name], use_na_sentinel=True)
            for c in table.columns if c.kind == "id" and c.name in df.columns}


def _categorical_ids(*cols: pd.Series, factorized: Factorized | None = None) -> list[pd.Series]:
    """Id columns as categoricals of strings over one shared, sorted category set.

    Works on the distinct values only (``pd.factorize``, or the given factorization
    by column name), so millions of rows with thousands of members cost one hash
    pass each.
    """
    known = factorized or {}
    factorized = [known[c.name] if c.name in known else pd.factorize(c, use_na_sentinel=True)
                  for c in cols]
    # surrounding whitespace is stripped: 'm1', 'm1 ' and ' m1' are one member (the
    # readers warn about it, see _check_padded_ids)
    texts = [_stripped(_text_array(uniques)) for _, uniques in factorized]
    every = np.concatenate(texts) if texts else np.zeros(0, dtype=object)
    every = every[pd.notna(every)]
    # sorted as Python sorts text (a million distinct ids: hashing and sorting, no Python loop)
    categories = pd.Index(np.sort(pd.unique(every).astype(object)))
    dtype = pd.CategoricalDtype(categories)
    out = []
    for (codes, _), ts, col in zip(factorized, texts, cols, strict=True):
        lookup = np.append(categories.get_indexer(ts), -1).astype(np.int32)
        new_codes = lookup[np.asarray(codes)]  # code -1 picks the trailing -1
        out.append(pd.Series(pd.Categorical.from_codes(new_codes, dtype=dtype), index=col.index))
    return out


def repeats_an_earlier_value(values: pd.Series) -> np.ndarray:
    """Mask of the non-null rows whose value appeared in an earlier row (exact).

    Equal to ``values.notna() & values.duplicated(keep="first")``, several times
    faster on tens of millions of distinct ids: 64-bit hashes of the values
    (Polars) are sorted, and only rows whose hash repeats are compared as text.
    Distinct hashes prove distinct values, so usually nothing is compared.

    >>> repeats_an_earlier_value(pd.Series(["a", "b", None, "a", None, "b", "c"])).tolist()
    [False, False, False, True, False, True, False]
    """
    import polars as pl

    present = values.notna().to_numpy()
    dup = np.zeros(len(values), bool)
    if present.sum() < 2:
        return dup
    text = values if isinstance(values.dtype, pd.StringDtype) else values.astype("string")
    hashes = pl.from_pandas(text).hash(seed=0).to_numpy()[present]
    ordered = np.sort(hashes)
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]
    if len(repeated) == 0:
        return dup
    rows = np.flatnonzero(present)[np.isin(hashes, repeated)]  # every copy of a value is here
    dup[rows] = values.iloc[rows].duplicated(keep="first").to_numpy()
    return dup


# --------------------------------------------------------------------------- table checks


def _check_columns(df: pd.DataFrame, table: schema.Table, report: ValidationReport) -> bool:
    """Missing required columns are errors; returns True when all are present."""
    missing = [c.name for c in table.required_columns if c.name not in df.columns]
    for name in missing:
        found = [c for c in df.columns if closest_name(str(c), [name], COLUMN_ALIASES) == name]
        hint = f"; found {found[0]!r}: rename it to {name!r}" if found else ""
        report.add(
            "error", "missing_column", name,
            f"required column is missing (the {table.name} table needs "
            f"{', '.join(c.name for c in table.required_columns)}; the file has "
            f"{', '.join(map(str, df.columns)) or 'no columns'}){hint}",
        )
    return not missing


def _parse_typed_columns(df: pd.DataFrame, table: schema.Table,
                         report: ValidationReport, tz: str | None = None) -> dict[str, pd.Series]:
    """Parse timestamp, number and bool columns; record what does not parse."""
    out: dict[str, pd.Series] = {}
    for col in table.columns:
        if col.name not in df.columns:
            continue
        raw = df[col.name]
        if col.kind == "timestamp":
            serial = _excel_serial_days(raw)
            if serial.any():
                report.add("error", "excel_serial_date", col.name,
                           f"{int(serial.sum())} values look like Excel serial day numbers (days since "
                           "1899-12-30, e.g. 45296.54 = 2024-01-04 12:57), not epoch seconds (they would "
                           "all fall on 1970-01-01/02): format the column as a date and time in Excel "
                           "before saving (yyyy-mm-dd hh:mm:ss), or convert: 1899-12-30 + days",
                           mask=serial, values=raw, index=df.index)
                out[col.name] = pd.Series(pd.NaT, index=raw.index, dtype=TIMESTAMP_DTYPE)
                continue
            parsed, bad, far, naive = _parse_timestamps(raw, tz)
            if naive.any() and tz is None:
                report.add("warning", "naive_timestamp", col.name,
                           f"{int(naive.sum())} timestamps carry no time zone; they were read as UTC. If "
                           "they are local time (WeChat and QQ exports are usually Asia/Shanghai), say so: "
                           "tz='Asia/Shanghai' (--tz Asia/Shanghai)", mask=naive, values=raw,
                           index=df.index)
            if far.any():
                report.add("error", "timestamp_out_of_range", col.name,
                           f"{int(far.sum())} timestamps lie outside {pd.Timestamp.min:%Y-%m-%d} .. "
                           f"{pd.Timestamp.max:%Y-%m-%d}, the range that can be stored (a placeholder "
                           "such as 9999-12-31 or 0001-01-01 for 'never'?): leave the cell empty or "
                           "remove the rows", mask=far, values=raw, index=df.index)
            if bad.any():
                report.add("error", "unparseable_timestamp", col.name,
                           f"{int(bad.sum())} values do not parse as timestamps (expected "
                           "ISO-8601 such as 2024-03-01T08:00:00+08:00, or epoch seconds or "
                           "milliseconds)", mask=bad, values=raw, index=df.index)
        elif col.kind in ("float", "int"):
            parsed, bad = _parse_numbers(raw)
            if bad.any():
                report.add("error", "not_a_number", col.name,
                           f"{int(bad.sum())} values are not numbers", mask=bad, values=raw,
                           index=df.index)
        elif col.kind == "bool":
            parsed, bad = _parse_bools(raw)
            if bad.any():
                report.add("error", "not_a_bool", col.name,
                           f"{int(bad.sum())} values are not true/false (expected true, false, "
                           "1, 0, yes, no)", mask=bad, values=raw, index=df.index)
        else:
            continue
        if not col.nullable:
            empty = raw.isna().to_numpy()
            if empty.any():
                report.add("error", "null_value", col.name,
                           f"{int(empty.sum())} rows have no {col.name}", mask=empty,
                           values=raw, index=df.index)
        out[col.name] = parsed
    return out


def _check_null_ids(df: pd.DataFrame, table: schema.Table, report: ValidationReport,
                    factorized: Factorized) -> None:
    for col in table.columns:
        if col.kind == "id" and not col.nullable and col.name in df.columns:
            codes, uniques = factorized[col.name]
            text = _text_array(uniques)
            present = pd.notna(text)
            stripped = pd.Series(np.where(present, text, ""), dtype=object).str.strip()
            blank = np.append(~present | (stripped == "").to_numpy(dtype=bool), True)
            empty = blank[np.asarray(codes)]
            if empty.any():
                report.add("error", "null_id", col.name,
                           f"{int(empty.sum())} rows have no {col.name}", mask=empty,
                           values=df[col.name], index=df.index)


def _stripped(texts: np.ndarray) -> np.ndarray:
    """Id texts without surrounding whitespace (None stays None)."""
    if len(texts) == 0:
        return texts
    out = pd.Series(texts, dtype=object).str.strip().to_numpy(dtype=object, copy=True)
    out[pd.isna(out)] = None
    return out


def _check_padded_ids(df: pd.DataFrame, table: schema.Table, report: ValidationReport,
                      factorized: Factorized) -> None:
    """Warn about ids with surrounding whitespace (they are read stripped)."""
    for col in table.columns:
        if col.kind != "id" or col.name not in factorized:
            continue
        codes, uniques = factorized[col.name]
        texts = _text_array(uniques)
        padded = np.append(pd.notna(texts) & (_stripped(texts) != texts), False)
        rows = padded[np.asarray(codes)]
        if rows.any():
            report.add("warning", "padded_id", col.name,
                       f"{int(rows.sum())} ids have spaces around them; they were stripped, so 'a ' "
                       "and 'a' are the same id", mask=rows, values=df[col.name], index=df.index)


def _check_float_ids(df: pd.DataFrame, table: schema.Table, report: ValidationReport) -> None:
    """Refuse ids stored as floats that are not whole or not exact (at or above 2**53).

    pandas stores an integer id column holding a NaN as float64; an 18-digit id then
    no longer equals itself as text, so a reply's target would match no member.
    """
    for col in table.columns:
        if col.kind != "id" or col.name not in df.columns:
            continue
        raw = df[col.name]
        if not pd.api.types.is_float_dtype(raw.dtype):
            continue
        v = raw.to_numpy(dtype=float, na_value=np.nan)
        finite = np.isfinite(v)
        bad = finite & ((v != np.round(v)) | (np.abs(v) >= 2.0**53))
        bad |= ~finite & ~np.isnan(v)
        if bad.any():
            report.add("error", "float_id", col.name,
                       f"{int(bad.sum())} ids are stored as floating-point numbers that are not whole "
                       "or too large to be exact (2**53 and above): store ids as text (in pandas, "
                       "read the column with dtype=str)", mask=bad, values=raw, index=df.index)


def _check_event_types(raw: pd.Series, report: ValidationReport,
                       index: pd.Index) -> pd.Series | None:
    """Normalise event types to the vocabulary's categorical; unknown ones are errors."""
    cat = raw.astype("category") if not isinstance(raw.dtype, pd.CategoricalDtype) else raw
    known = list(schema.EVENT_TYPES)
    mapping = {c: str(c).strip().lower() for c in cat.cat.categories}
    unknown = sorted({v for v in mapping.values() if v not in schema.EVENT_TYPES})
    for name in unknown:
        originals = [k for k, v in mapping.items() if v == name]
        mask = cat.isin(originals).to_numpy()
        guess = closest_name(name, known)
        hint = f"; did you mean '{guess}'?" if guess else (
            "; register it with shequn_ml.schema.register_event_type if it is yours")
        report.add("error", "unknown_event_type", "event_type",
                   f"unknown event type {originals[0]!r} in {int(mask.sum())} rows{hint} "
                   f"(known: {', '.join(known)})", mask=mask, values=raw, index=index)
    empty = cat.isna().to_numpy()
    if empty.any():
        report.add("error", "null_value", "event_type",
                   f"{int(empty.sum())} rows have no event_type", mask=empty, values=raw,
                   index=index)
    if unknown:
        return None
    codes = cat.cat.rename_categories([mapping[c] for c in cat.cat.categories]) \
        if len(set(mapping.values())) == len(mapping) else \
        cat.astype(object).map(lambda v: None if v is None else str(v).strip().lower())
    return codes.astype(pd.CategoricalDtype(known))


# --------------------------------------------------------------------------- events


def validate_events(source: PathOrFrame, *, name: str | None = None, tz: str | None = None) -> ReadResult:
    """Read and check an events table without raising.

    Parameters
    ----------
    source : path or DataFrame
        A CSV file, a Parquet file or folder, or a DataFrame with the columns of
        :data:`shequn_ml.schema.EVENTS`.
    name : str, optional
        How to name the source in messages (defaults to the path).
    tz : str, optional
        IANA time zone of timestamps written without one (e.g. ``"Asia/Shanghai"``).
        Without it they are read as UTC, with a warning.

    Returns
    -------
    ReadResult
        ``table`` is the normalised events (None when an error was found) and
        ``report`` lists every problem, errors and warnings alike.
    """
    tz = check_tz(tz)
    src = _describe_source(source, "events", name)
    report = ValidationReport(src)
    df = _load(source, src, report, schema.EVENTS)
    if df is None:
        return ReadResult(None, report)
    report.n_rows_read = len(df)
    if len(df) == 0:
        report.add("error", "empty", None,
                   f"the file has a header ({', '.join(map(str, df.columns))}) but no rows"
                   if len(df.columns) else "the file is empty: no header and no rows")
        return ReadResult(None, report)
    all_present = _check_columns(df, schema.EVENTS, report)
    typed = _parse_typed_columns(df, schema.EVENTS, report, tz)
    _check_float_ids(df, schema.EVENTS, report)
    factorized = _factorize_ids(df, schema.EVENTS)
    _check_null_ids(df, schema.EVENTS, report, factorized)
    _check_padded_ids(df, schema.EVENTS, report, factorized)
    event_type = _check_event_types(df["event_type"], report, df.index) \
        if "event_type" in df.columns else None

    if "amount" in typed:
        negative = (typed["amount"] < 0).to_numpy()
        if negative.any():
            report.add("error", "negative_amount", "amount",
                       f"{int(negative.sum())} amounts are negative (money amounts must be >= 0)",
                       mask=negative, values=df["amount"], index=df.index)
    if "text_len" in typed:
        bad = _not_whole(typed["text_len"])
        if bad.any():
            report.add("error", "bad_text_len", "text_len",
                       f"{int(bad.sum())} text lengths are not whole numbers >= 0",
                       mask=bad, values=df["text_len"], index=df.index)

    if event_type is not None:
        needs = event_type.isin(sorted(schema.TARGETED_EVENT_TYPES)).to_numpy()
        no_target = needs & (df["target_member_id"].isna().to_numpy()
                             if "target_member_id" in df.columns else True)
        if no_target.any():
            report.add("warning", "missing_target", "target_member_id",
                       f"{int(no_target.sum())} reply/mention/invite rows have no "
                       "target_member_id; they are kept but add no relationship edge",
                       mask=no_target, values=event_type, index=df.index)

    if not all_present or not report.ok:
        return ReadResult(None, report)

    # Build the normalised frame column by column, releasing each raw column once it is
    # converted when the raw frame is ours (read from a file): on 32M events this keeps
    # the peak near one copy of the data instead of two.
    owned = df is not source
    index = df.index

    def release(*cols: str) -> None:
        _release(df if owned else None, typed, cols)

    out = pd.DataFrame(index=pd.RangeIndex(len(df)))
    out["ts"] = typed["ts"].array
    release("ts")
    out["group_id"] = _categorical_ids(df["group_id"], factorized=factorized)[0].array
    release("group_id")
    id_cols = ["member_id"] + (["target_member_id"] if "target_member_id" in df.columns else [])
    for col, s in zip(id_cols, _categorical_ids(*(df[c] for c in id_cols), factorized=factorized),
                      strict=True):
        out[col] = s.array
    del factorized
    release(*id_cols)
    if "target_member_id" in out.columns:
        m_codes, t_codes = out["member_id"].cat.codes.to_numpy(), out["target_member_id"].cat.codes.to_numpy()
        own = (t_codes >= 0) & (t_codes == m_codes)
        if own.any():
            report.add("warning", "self_target", "target_member_id",
                       f"{int(own.sum())} events are aimed at their own sender (a self-reply or "
                       "self-mention); they count as speaking, never as a relationship or influence",
                       mask=own, values=event_type, index=df.index)
    out["event_type"] = event_type.array
    del event_type
    release("event_type")
    for col in ("event_id", "ref_event_id"):
        if col in df.columns:
            out[col] = _as_text(df[col]).array
            release(col)
    if "amount" in typed:
        out["amount"] = typed["amount"].array
        release("amount")
    if "text_len" in typed:
        out["text_len"] = typed["text_len"].astype("Int32").array
        release("text_len")
    extra = schema.unknown_columns(schema.EVENTS, df.columns)
    for col in extra:
        out[col] = df[col].array
    release(*list(df.columns))
    order = [c for c in schema.EVENTS.column_names if c in out.columns] + extra
    out = out[order]

    if "event_id" in out.columns:
        dup = repeats_an_earlier_value(out["event_id"])
        if dup.any():
            report.add("info", "duplicate_event_id", "event_id",
                       f"{int(dup.sum())} rows repeat an earlier event_id and were dropped "
                       "(the first occurrence is kept)", mask=dup, values=out["event_id"],
                       index=index)
            out = out.loc[~dup].reset_index(drop=True)
    report.n_rows_kept = len(out)
    if owned:  # hand the raw columns' memory back to the system (Arrow keeps it otherwise)
        pa.default_memory_pool().release_unused()
    return ReadResult(out, report)


def _release(raw: pd.DataFrame | None, typed: dict[str, pd.Series], cols: tuple[str, ...]) -> None:
    """Drop converted columns from the parsed values and, if given, the raw frame we own."""
    for col in cols:
        typed.pop(col, None)
        if raw is not None and col in raw.columns:
            del raw[col]


def read_events(source: PathOrFrame, *, name: str | None = None, tz: str | None = None) -> pd.DataFrame:
    """Read, normalise and validate an events table.

    Parameters
    ----------
    source : path or DataFrame
        A CSV file, a Parquet file or folder of parts, or a DataFrame.
    name : str, optional
        How to name the source in messages.
    tz : str, optional
        IANA time zone of timestamps written without one (a Beijing-time export:
        ``"Asia/Shanghai"``). Without it they are read as UTC, with a warning.

    Returns
    -------
    DataFrame
        Columns in contract order (optional ones only when present, unknown
        extra columns kept at the end), one row per distinct event, in input order.

    Raises
    ------
    EventValidationError
        When the data is unusable: the message names the file, the column and the
        first offending rows of every problem.

    Warns
    -----
    DataWarning
        For rows kept but suspect (a reply without a target) and for repairs
        (duplicate ``event_id`` rows dropped).
    """
    result = validate_events(source, name=name, tz=tz)
    result.report.raise_if_errors()
    result.report.emit_warnings()
    assert result.table is not None
    return result.table


# --------------------------------------------------------------------------- members, groups


def _validate_side_table(source: PathOrFrame, table: schema.Table,
                         name: str | None, tz: str | None = None) -> ReadResult:
    src = _describe_source(source, table.name, name)
    report = ValidationReport(src)
    df = _load(source, src, report, table)
    if df is None:
        return ReadResult(None, report)
    report.n_rows_read = len(df)
    if len(df) == 0:
        report.add("error", "empty", None, f"the {table.name} table is empty: no rows")
        return ReadResult(None, report)
    all_present = _check_columns(df, table, report)
    typed = _parse_typed_columns(df, table, report, tz)
    _check_float_ids(df, table, report)
    factorized = _factorize_ids(df, table)
    _check_null_ids(df, table, report, factorized)
    _check_padded_ids(df, table, report, factorized)
    for col in ("capacity", "level", "term_days"):
        if col in typed:
            bad = _not_whole(typed[col])
            if bad.any():
                report.add("error", "bad_integer", col,
                           f"{int(bad.sum())} values are not whole numbers >= 0", mask=bad,
                           values=df[col], index=df.index)
    if not all_present or not report.ok:
        return ReadResult(None, report)

    out = pd.DataFrame(index=pd.RangeIndex(len(df)))
    member_like = [c.name for c in table.columns
                   if c.kind == "id" and c.name != "group_id" and c.name in df.columns]
    if "group_id" in df.columns:
        out["group_id"] = _categorical_ids(df["group_id"], factorized=factorized)[0].array
    for col, s in zip(member_like, _categorical_ids(*(df[c] for c in member_like),
                                                    factorized=factorized), strict=True):
        out[col] = s.array
    for col in table.columns:
        if col.name in typed:
            s = typed[col.name]
            if col.kind == "int":
                s = s.astype("Int64")
            out[col.name] = s.array
        elif col.kind == "str" and col.name in df.columns:
            out[col.name] = _as_text(df[col.name]).astype("category").array
    extra = schema.unknown_columns(table, df.columns)
    for col in extra:
        out[col] = df[col].array
    out = out[[c for c in table.column_names if c in out.columns] + extra]

    dup = out.duplicated(subset=list(table.key), keep=False).to_numpy()
    if dup.any():
        report.add("error", "duplicate_key", ", ".join(table.key),
                   f"{int(dup.sum())} rows share a ({', '.join(table.key)}) with another row; "
                   f"the {table.name} table needs one row per key",
                   mask=dup, values=out[table.key[0]].astype(object), index=df.index)
        return ReadResult(None, report)
    report.n_rows_kept = len(out)
    return ReadResult(out, report)


def validate_members(source: PathOrFrame, *, name: str | None = None, tz: str | None = None) -> ReadResult:
    """Read and check a members table without raising (see :func:`read_members`)."""
    return _validate_side_table(source, schema.MEMBERS, name, check_tz(tz))


def validate_groups(source: PathOrFrame, *, name: str | None = None, tz: str | None = None) -> ReadResult:
    """Read and check a groups table without raising (see :func:`read_groups`)."""
    return _validate_side_table(source, schema.GROUPS, name, check_tz(tz))


def _reader(validate: Callable[..., ReadResult]) -> Callable[..., pd.DataFrame]:
    def read(source: PathOrFrame, *, name: str | None = None, tz: str | None = None) -> pd.DataFrame:
        result = validate(source, name=name, tz=tz)
        result.report.raise_if_errors()
        result.report.emit_warnings()
        assert result.table is not None
        return result.table
    return read


read_members = _reader(validate_members)
read_members.__name__ = "read_members"
read_members.__doc__ = """Read, normalise and validate a members table.

Parameters
----------
source : path or DataFrame
    Columns of :data:`shequn_ml.schema.MEMBERS`; ``member_id`` and ``group_id``
    are required and together unique.

Returns
-------
DataFrame
    Ids as categoricals, ``joined_at``/``expires_at`` as UTC timestamps, ``paid``
    and ``kol_tag`` as nullable booleans, ``level`` as nullable integers.

Raises
------
EventValidationError
    Naming the file, the column and the first offending rows.
"""

read_groups = _reader(validate_groups)
read_groups.__name__ = "read_groups"
read_groups.__doc__ = """Read, normalise and validate a groups table.

Parameters
----------
source : path or DataFrame
    Columns of :data:`shequn_ml.schema.GROUPS`; ``group_id`` is required and unique.

Returns
-------
DataFrame
    ``created_at`` as UTC timestamps, ``capacity`` as nullable integers.

Raises
------
EventValidationError
    Naming the file, the column and the first offending rows.
"""


# --------------------------------------------------------------------------- writing


def to_arrow(df: pd.DataFrame) -> pa.Table:
    """Convert a frame to Arrow without the index.

    pandas >= 3.1 warns when pyarrow reads a tz-aware column through
    ``Series.values``; the conversion itself is exact, so that one warning is
    silenced here rather than shown to every user.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Series.values returning an ndarray that drops")
        return pa.Table.from_pandas(df, preserve_index=False)


def write_text(text: str, path: str | os.PathLike[str]) -> Path:
    """Write a text file atomically (temporary file beside it, then rename)."""
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


def write_table(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write a table atomically: to a temporary file beside ``path``, then rename.

    A crash leaves either the old file or the new one, never half of one. The
    format follows the suffix: ``.csv`` writes CSV, anything else Parquet.

    Parameters
    ----------
    df : DataFrame
        The table.
    path : path
        Destination file.

    Returns
    -------
    Path
        The destination.
    """
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    try:
        if dest.suffix.lower() == ".csv":
            df.to_csv(tmp, index=False)
        else:
            pq.write_table(to_arrow(df), tmp)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


__all__ = [
    "COLUMN_ALIASES",
    "EventValidationError",
    "ReadResult",
    "check_tz",
    "parse_timestamps",
    "read_events",
    "read_groups",
    "read_members",
    "validate_events",
    "validate_groups",
    "validate_members",
    "write_table",
]
