"""Any CSV or Excel table of member actions, read through a mapping file.

Many operators have no chat export at all but a table: an SCRM tool's
"member behaviour" download (成员行为明细), a 群管 bot's log, or a spreadsheet kept
by hand. One row is one action: when, which group, which member, what they did
(``行为``: 入群, 发言, 被移出群聊, 抢红包...), sometimes whom it was aimed at and an
amount. The columns are named differently by every tool, so a small mapping
file says which column is which; the action words are read through the
built-in table of :mod:`shequn_ml.importers.labels`, which the mapping can
extend.

Formats followed
----------------
- CSV as described by RFC 4180 (https://www.rfc-editor.org/rfc/rfc4180: one
  record a line, a header line first, fields in double quotes may hold commas
  and line breaks, ``""`` is a quote inside a quoted field), read with Python's
  :mod:`csv` module. Excel's "CSV UTF-8" adds a byte-order mark; Chinese
  Windows tools write GB18030 (GBK), the encoding named in Python's codec list
  (https://docs.python.org/3/library/codecs.html#standard-encodings).
- ``.xlsx`` workbooks (Office Open XML, ECMA-376) through openpyxl's read-only
  mode as its documentation describes it
  (https://openpyxl.readthedocs.io/en/stable/optimized.html: ``load_workbook(...,
  read_only=True)``, rows read lazily, the workbook closed after reading; cells
  formatted as dates come back as ``datetime``). ``data_only=True`` reads a
  formula's last computed value (openpyxl.reader.excel.load_workbook).

The mapping file
----------------
.. code-block:: yaml

    columns:            # column in the file -> column of the contract
      时间: ts
      群名: group_id
      成员ID: member_id
      昵称: nickname      # to the nickname display table, never into events
      行为: event_type    # read through the label table
      对象ID: target_member_id
      金额: amount
      内容: text          # measured (text_len) and dropped
    labels:             # extra or overriding labels; null = ignore on purpose
      抽奖: event_signup
      系统提示: null
    constants:          # a value for every row (when the file has no such column,
      group_id: 读书会1群 # or to fill its empty cells)
    encoding: gb18030   # optional; default: UTF-8 (with or without BOM), else GB18030
    removal_actor: target

``columns`` may map to the contract's columns (``ts``, ``group_id``,
``member_id``, ``event_type``, ``target_member_id``, ``event_id``,
``ref_event_id``, ``amount``, ``text_len``) and to three more: ``text`` (its
length is kept as ``text_len``, the text is dropped), ``nickname`` (the display
name of the row's member at that time) and ``operator`` (who performed a
removal or an invite). ``ts`` and ``member_id`` must be mapped; ``event_type``
and ``group_id`` mapped or given as ``constants``.

What maps to what
-----------------
- A label (after the mapping's ``labels:``, then :data:`~shequn_ml.importers.labels.LABELS`,
  then the contract's own names) gives the event type. An unknown label is not
  an error: the row is counted in :attr:`ImportResult.skipped` as
  ``"unknown label: 抽奖"``, and the summary lists it, so the mapping can be
  extended.
- **Removals.** Tools log 移出群聊 as the *operator's* row: the member column
  names the group owner and an object column names who was removed. With
  ``removal_actor: target`` (the default), a removal whose target column names
  a member becomes the removed member's ``removed`` event, and
  ``notes["removals re-assigned from the operator to the removed member"]``
  counts them. ``removal_actor: member`` says the member column already is the
  removed member. With an ``operator`` column, the member column is the removed
  member (unless a target column names another one); a removal naming only its
  operator is skipped (``"removal naming only its operator"``) rather than
  charged to them.
- **Invites.** An invite is the inviter's ``invite`` aimed at the invitee
  (inviter: the ``operator`` column when mapped, else the member column;
  invitee: the target column, else the member column), plus the invitee's
  ``join`` (id ``<row>:join``). A ``join`` row with an operator other than the
  member is an invite too. An invite without an invitee is skipped.
- A ``message`` whose text asks (``?`` / ``？``) is a ``question``. A reply
  without a target takes the first ``@昵称`` of its text that resolves (the
  nickname each member had at that time, from the ``nickname`` column), else it
  is kept as a message or question (``notes``). Every other ``@昵称`` in a speaking
  row's text that resolves to another member adds a ``mention`` event (id
  ``<row>:m1``, ``ref_event_id`` = the row). A mention row without a target and
  without a resolvable ``@昵称`` is skipped.
- Amounts may carry ``¥``, ``元`` or thousands commas; a negative amount (a
  refund) is skipped and counted.
- ``event_id``: the mapped column, else ``line N`` of the CSV / ``<sheet>
  row N`` of the workbook (``csv:line7``, stable across runs of the same file).
- Times: ``2024-03-01 20:15:00``, ``2024/3/1 20:15``, ``2024年3月1日 20:15`` are
  wall clock in ``tz`` (default Asia/Shanghai); an offset in the text is kept;
  10 or 13 digits are epoch seconds or milliseconds; Excel date cells are wall
  clock in ``tz``.

Errors
------
A mapped column missing from the file, an unparseable time, a missing member
or group, a line with the wrong number of fields or an undecodable byte raise
:class:`~shequn_ml.importers._core.ImportFormatError` naming the file, the row
(``line N`` of a CSV, the header being line 1; ``sheet S row N`` of a workbook)
and the column. A malformed mapping raises
:class:`~shequn_ml.specs.SpecError` naming the mapping file and the key.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from shequn_ml import schema
from shequn_ml.importers._core import (
    EventBuilder,
    ImportFormatError,
    ImportResult,
    format_error,
    speaking_type,
    to_utc,
)
from shequn_ml.importers.labels import event_type_of, normalise_label
from shequn_ml.specs import SpecError, format_validation_error

#: The name of the format (prefix of event ids, ``ImportResult.format``).
FORMAT = "csv"

#: Contract columns a source column may map to.
CONTRACT_COLUMNS = ("ts", "group_id", "member_id", "event_type", "target_member_id", "event_id",
                    "ref_event_id", "amount", "text_len")
#: Further targets: measured then dropped, the display table, who performed a removal / invite.
EXTRA_COLUMNS = ("text", "nickname", "operator")
#: Columns ``constants:`` may set.
CONSTANT_COLUMNS = ("group_id", "event_type")

ColumnName = Literal["ts", "group_id", "member_id", "event_type", "target_member_id", "event_id",
                     "ref_event_id", "amount", "text_len", "text", "nickname", "operator"]

_SPEAKING_WITH_TEXT = ("message", "question", "reply", "post", "answer", "checkin")
_MENTION = re.compile(r"[@＠]([^\s@＠\u2005,，:：;；]+)")
_EPOCH = re.compile(r"\d{10}(?:\.\d+)?|\d{13}")
_CN_DATE = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日?")
_AMOUNT_NOISE = re.compile(r"[¥￥$,，元\s]|RMB|CNY", re.IGNORECASE)


class ColumnMapping(BaseModel):
    """A mapping file, validated (unknown keys are errors).

    Attributes
    ----------
    columns : dict of str to str
        Column of the file -> column of the contract (or ``text``, ``nickname``,
        ``operator``).
    labels : dict of str to str or None
        Extra labels and their event types, looked up before the built-in table;
        None ignores a label on purpose (counted as ``"ignored label: ..."``).
    constants : dict of str to str
        ``group_id`` and/or ``event_type`` for every row (filling empty cells of a
        mapped column).
    encoding : str, optional
        The CSV's encoding; default UTF-8 (byte-order mark or not), else GB18030.
    removal_actor : {"target", "member"}
        Whom the member column names on a removal row that also names a target:
        ``target`` (default) means the member column is the operator and the
        target was removed; ``member`` means the member column was removed.
    """

    model_config = ConfigDict(extra="forbid")

    columns: dict[str, ColumnName]
    labels: dict[str, str | None] = {}
    constants: dict[str, str] = {}
    encoding: str | None = None
    removal_actor: Literal["target", "member"] = "target"

    @field_validator("columns")
    @classmethod
    def _columns(cls, v: dict[str, str]) -> dict[str, str]:
        out: dict[str, str] = {}
        seen: dict[str, str] = {}
        for src, dest in v.items():
            name = str(src).strip()
            if not name:
                raise ValueError("a column name is empty")
            if dest in seen:
                raise ValueError(f"{seen[dest]!r} and {name!r} both map to {dest!r}")
            seen[dest] = name
            out[name] = dest
        missing = [c for c in ("ts", "member_id") if c not in seen]
        if missing:
            raise ValueError(f"no column is mapped to {' or '.join(missing)} (required)")
        return out

    @field_validator("labels")
    @classmethod
    def _labels(cls, v: dict[str, str | None]) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        for label, etype in v.items():
            key = normalise_label(label)
            if not key:
                raise ValueError("a label is empty")
            if etype is not None:
                etype = etype.strip().lower()
                if etype not in schema.EVENT_TYPES:
                    raise ValueError(f"label {label!r} maps to {etype!r}, which is not an event type "
                                     f"(known: {', '.join(schema.EVENT_TYPES)})")
            out[key] = etype
        return out

    @field_validator("constants", mode="before")
    @classmethod
    def _constants(cls, v: object) -> object:
        if not isinstance(v, Mapping):
            return v
        out = {}
        for k, value in v.items():
            if k not in CONSTANT_COLUMNS:
                raise ValueError(f"{k!r} cannot be a constant (only {', '.join(CONSTANT_COLUMNS)})")
            if value is None or not str(value).strip():
                raise ValueError(f"{k!r} is empty")
            value = str(value).strip()
            if k == "event_type" and event_type_of(value) is None:
                raise ValueError(f"event_type {value!r} is not an event type or a known label")
            out[k] = value
        return out

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                codecs.lookup(v)
            except LookupError:
                raise ValueError(f"unknown encoding {v!r} (e.g. utf-8, utf-8-sig, gb18030)") from None
        return v

    @model_validator(mode="after")
    def _event_type_given(self) -> ColumnMapping:
        if "event_type" not in self.columns.values() and "event_type" not in self.constants:
            raise ValueError("no column is mapped to event_type and constants has no event_type")
        return self

    def source_of(self, dest: str) -> str | None:
        """The file's column mapped to ``dest``, if any."""
        return next((s for s, d in self.columns.items() if d == dest), None)


def load_mapping(mapping: str | os.PathLike[str] | Mapping[str, object]) -> tuple[ColumnMapping, str]:
    """A mapping (YAML file or dict) validated, and how to name it in messages.

    Raises
    ------
    SpecError
        Naming the mapping file (``mapping`` for a dict) and each bad key.

    Examples
    --------
    >>> m, name = load_mapping({"columns": {"时间": "ts", "成员": "member_id", "行为": "event_type"},
    ...                         "constants": {"group_id": "g1"}})
    >>> name, m.source_of("member_id"), m.removal_actor
    ('mapping', '成员', 'target')
    >>> load_mapping({"columns": {"时间": "ts", "成员": "member"}})
    Traceback (most recent call last):
    ...
    shequn_ml.specs.SpecError: mapping: key 'columns.成员': Input should be 'ts', 'group_id', \
'member_id', 'event_type', 'target_member_id', 'event_id', 'ref_event_id', 'amount', 'text_len', \
'text', 'nickname' or 'operator'
    """
    import yaml

    if isinstance(mapping, Mapping):
        data, name = dict(mapping), "mapping"
    else:
        name = str(mapping)
        try:
            data = yaml.safe_load(Path(mapping).read_text(encoding="utf-8-sig")) or {}
        except OSError as exc:
            raise SpecError(f"{name}: cannot be read: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise SpecError(f"{name}: not UTF-8 text (save the mapping file as UTF-8)") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or "malformed"
            raise SpecError(f"{name}: not valid YAML{where}: {problem}") from None
        if not isinstance(data, dict):
            raise SpecError(f"{name}: expected a mapping of keys to values, found {type(data).__name__}")
    try:
        return ColumnMapping(**data), name
    except ValidationError as exc:
        raise SpecError(f"{name}: {format_validation_error(exc).replace('Value error, ', '')}") from None
    except TypeError as exc:  # a non-string key at the top level
        raise SpecError(f"{name}: {exc}") from None


# --------------------------------------------------------------------------- reading the table


@dataclass(frozen=True)
class _Row:
    where: str  # "line 7" / "sheet 明细 row 7", for messages
    rid: str  # the generated event id: "line7" / "明细:row7"
    cells: list[str]


def _decode(path: str | os.PathLike[str], raw: bytes, encoding: str | None) -> str:
    tried = [encoding] if encoding else ["utf-8-sig", "gb18030"]
    for enc in tried:
        try:
            text = raw.decode(enc)
        except UnicodeDecodeError as exc:
            last = exc
            continue
        return text.removeprefix("\ufeff")
    names = " nor ".join(tried)
    raise format_error(path, f"byte {last.start}", "<encoding>",
                       f"not {names} text (set encoding: in the mapping)")


def _read_csv(path: str | os.PathLike[str], encoding: str | None) -> tuple[list[str], Iterator[_Row]]:
    text = _decode(path, Path(path).read_bytes(), encoding)
    delimiter = "\t" if Path(path).suffix.lower() == ".tsv" else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise format_error(path, "line 1", "<header>", str(exc)) from None
    if header is None or not any(h.strip() for h in header):
        raise ImportFormatError(f"{path}: the file is empty: no header line")
    header = [h.strip() for h in header]

    def rows() -> Iterator[_Row]:
        start = reader.line_num + 1
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise format_error(path, f"line {start}", "<csv>", str(exc)) from None
            line, start = start, reader.line_num + 1
            if not any(c.strip() for c in cells):
                continue
            if len(cells) > len(header) and not any(c.strip() for c in cells[len(header):]):
                cells = cells[:len(header)]
            if len(cells) != len(header):
                raise format_error(path, f"line {line}", "<csv>",
                                   f"{len(cells)} fields, the header has {len(header)}")
            yield _Row(f"line {line}", f"line{line}", cells)

    return header, rows()


def _cell_text(v: object) -> str:
    """An Excel cell as text: whole floats without ``.0``, dates in ISO form."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, dt.datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, dt.date | dt.time):
        return v.isoformat()
    return str(v)


def _read_xlsx(path: str | os.PathLike[str], sheet: str | int | None) -> tuple[list[str], Iterator[_Row]]:
    import zipfile

    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError) as exc:
        raise ImportFormatError(f"{path}: not an .xlsx workbook ({exc})") from None
    try:
        names = wb.sheetnames
        if sheet is None:
            ws = wb.worksheets[0]
        elif isinstance(sheet, int):
            if not 0 <= sheet < len(names):
                raise ImportFormatError(f"{path}: no sheet number {sheet} (sheets: {', '.join(names)})")
            ws = wb.worksheets[sheet]
        elif sheet in names:
            ws = wb[sheet]
        else:
            raise ImportFormatError(f"{path}: no sheet {sheet!r} (sheets: {', '.join(names)})")
        ws.reset_dimensions()  # some tools write wrong dimensions; read what is there
        values = [[_cell_text(v) for v in row] for row in ws.iter_rows(values_only=True)]
        title = ws.title
    finally:
        wb.close()
    first = next((i for i, r in enumerate(values) if any(c.strip() for c in r)), None)
    if first is None:
        raise ImportFormatError(f"{path}: sheet {title!r} is empty: no header row")
    header = [h.strip() for h in values[first]]

    def rows() -> Iterator[_Row]:
        for i in range(first + 1, len(values)):
            cells = values[i][:len(header)]
            if not any(c.strip() for c in cells):
                continue
            cells += [""] * (len(header) - len(cells))
            yield _Row(f"sheet {title} row {i + 1}", f"{title}:row{i + 1}", cells)

    return header, rows()


def _read_table(path: str | os.PathLike[str], encoding: str | None,
                sheet: str | int | None) -> tuple[list[str], Iterator[_Row]]:
    suffix = Path(path).suffix.lower()
    if not Path(path).is_file():
        raise ImportFormatError(f"{path}: no such file")
    if suffix in (".xlsx", ".xlsm"):
        return _read_xlsx(path, sheet)
    if sheet is not None:
        raise ValueError(f"sheet= is for .xlsx workbooks; {path} is not one")
    if suffix in (".csv", ".tsv", ".txt"):
        return _read_csv(path, encoding)
    if suffix == ".xls":
        raise ImportFormatError(f"{path}: .xls (Excel 97-2003) files are not read: save the sheet as "
                                ".xlsx or CSV")
    raise ImportFormatError(f"{path}: expected a .csv, .tsv or .xlsx file, got {suffix or 'no suffix'!r}")


# --------------------------------------------------------------------------- cells


def _times(path: str | os.PathLike[str], cells: list[str], rows: list[_Row], column: str,
           tz: str) -> pd.Series:
    """The time column as UTC; the first unreadable cell is a format error naming its row."""
    s = pd.Series(cells, dtype=object).map(lambda v: _CN_DATE.sub(r"\1-\2-\3", v.strip()))
    epoch = s.map(lambda v: bool(_EPOCH.fullmatch(v)))
    out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns, UTC]")
    text = ~epoch & (s != "")
    if text.any():
        out[text] = to_utc(s[text].reset_index(drop=True), tz).to_numpy()
    if epoch.any():
        ms = epoch & (s.str.len() == 13)
        if ms.any():
            out[ms] = to_utc(s[ms].reset_index(drop=True), tz, unit="ms").to_numpy()
        sec = epoch & ~ms
        if sec.any():
            out[sec] = to_utc(s[sec].reset_index(drop=True), tz, unit="s").to_numpy()
    bad = out.isna().to_numpy()
    if bad.any():
        i = int(bad.argmax())
        value = cells[i].strip()
        detail = "missing" if not value else (
            f"cannot read {value!r} as a time (expected e.g. 2024-03-01 20:15:00, wall clock in {tz})")
        raise format_error(path, rows[i].where, column, detail)
    return out


def _amount(path: str | os.PathLike[str], row: _Row, column: str, value: str) -> float | None:
    if not value:
        return None
    try:
        return float(_AMOUNT_NOISE.sub("", value))
    except ValueError:
        raise format_error(path, row.where, column, f"expected an amount such as 12.50, got {value!r}") \
            from None


def _text_len(path: str | os.PathLike[str], row: _Row, column: str, value: str) -> int | None:
    if not value:
        return None
    try:
        n = float(value)
    except ValueError:
        n = -1.0
    if n < 0 or not n.is_integer():
        raise format_error(path, row.where, column, f"expected a whole number >= 0, got {value!r}")
    return int(n)


# --------------------------------------------------------------------------- the importer


def read_mapped(path: str | os.PathLike[str], mapping: str | os.PathLike[str] | Mapping[str, object], *,
                tz: str = "Asia/Shanghai", sheet: str | int | None = None,
                group_id: str | None = None) -> ImportResult:
    """Read a CSV or ``.xlsx`` table of member actions through a mapping file.

    Parameters
    ----------
    path : path
        A ``.csv`` (UTF-8 with or without BOM, or GB18030), ``.tsv`` or ``.xlsx``
        file with a header row.
    mapping : path or dict
        The mapping (YAML file or the same as a dict): ``columns``, ``labels``,
        ``constants``, ``encoding``, ``removal_actor`` (see the module docs).
    tz : str, default "Asia/Shanghai"
        IANA zone of times written without an offset (the wall clock of the tool
        that exported them).
    sheet : str or int, optional
        The workbook's sheet (name, or 0-based number); default the first.
    group_id : str, optional
        The group of every row, overriding ``constants.group_id`` (for one mapping
        used with the exports of several groups). Refused when the mapping maps a
        group column.

    Returns
    -------
    ImportResult
        Events with ids ``csv:<event id or line N>``, nicknames from the
        ``nickname`` column, unknown labels in ``skipped``.

    Raises
    ------
    ImportFormatError
        A mapped column missing in the file (naming the columns found), an
        unreadable time, a missing member or group, a line with the wrong number
        of fields, an undecodable byte: naming the file, the row and the column.
    SpecError
        A malformed mapping, naming the mapping file and the key.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "actions.csv").write_text(
    ...     "时间,成员ID,行为,对象ID\\n"
    ...     "2024-03-01 09:00:00,u1,入群,\\n"
    ...     "2024-03-01 10:00:00,u1,发言,\\n"
    ...     "2024-03-02 10:00:00,owner,移出群聊,u1\\n"
    ...     "2024-03-02 11:00:00,u2,抽奖,\\n", encoding="utf-8")
    >>> m = {"columns": {"时间": "ts", "成员ID": "member_id", "行为": "event_type",
    ...                  "对象ID": "target_member_id"}, "constants": {"group_id": "读书会1群"}}
    >>> result = read_mapped(folder / "actions.csv", m)
    >>> result.events[["member_id", "event_type"]].values.tolist()
    [['u1', 'join'], ['u1', 'message'], ['u1', 'removed']]
    >>> str(result.events["ts"].iloc[0]), dict(result.skipped)
    ('2024-03-01 01:00:00+00:00', {'unknown label: 抽奖': 1})
    >>> dict(result.notes)
    {'removals re-assigned from the operator to the removed member': 1}
    """
    from shequn_ml.io import check_tz

    check_tz(tz)
    spec, spec_name = load_mapping(mapping)
    group_col = spec.source_of("group_id")
    if group_id is not None and group_col is not None:
        raise SpecError(f"{spec_name}: key 'columns.{group_col}': the mapping takes the group from a "
                        f"column, and a group ({group_id!r}) was given too: give one or the other")
    fallback_group = group_id if group_id is not None else spec.constants.get("group_id")
    if group_col is None and fallback_group is None:
        raise SpecError(f"{spec_name}: key 'columns': no column is mapped to group_id and constants has "
                        "no group_id: map one, set one, or give the group (--group)")

    header, row_iter = _read_table(path, spec.encoding, sheet)
    index: dict[str, int] = {}
    for src, dest in spec.columns.items():
        hits = [i for i, h in enumerate(header) if h == src]
        if not hits:
            found = ", ".join(h for h in header if h) or "none"
            raise ImportFormatError(f"{path}: column {src!r} (mapped to {dest} by {spec_name}) is not in "
                                    f"the file; columns found: {found}")
        if len(hits) > 1:
            raise ImportFormatError(f"{path}: column {src!r} (mapped to {dest} by {spec_name}) appears "
                                    f"{len(hits)} times in the header")
        index[dest] = hits[0]
    rows = list(row_iter)

    def col(dest: str) -> list[str]:
        i = index.get(dest)
        return [""] * len(rows) if i is None else [r.cells[i].strip() for r in rows]

    src = {dest: s for s, dest in spec.columns.items()}
    times = list(_times(path, col("ts"), rows, src["ts"], tz))  # Timestamps, boxed once
    members, groups, labels = col("member_id"), col("group_id"), col("event_type")
    targets, operators, nicknames = col("target_member_id"), col("operator"), col("nickname")
    event_ids, refs, texts = col("event_id"), col("ref_event_id"), col("text")
    amounts, text_lens = col("amount"), col("text_len")
    text_mapped = "text" in index

    b = EventBuilder(FORMAT, group_id=fallback_group)
    for i in range(len(rows)):  # display names first: @昵称 resolves against all of them
        if nicknames[i] and members[i]:
            b.nickname(members[i], nicknames[i], times[i])

    first_seen: dict[str, str] = {}
    for i, row in enumerate(rows):
        ts = times[i]
        raw_label = labels[i] or spec.constants.get("event_type", "")
        if not raw_label:
            b.skip("no label")
            continue
        etype = event_type_of(raw_label, spec.labels)
        if etype is None:
            ignored = normalise_label(raw_label) in spec.labels
            b.skip(f"{'ignored' if ignored else 'unknown'} label: {raw_label}")
            continue
        member = members[i]
        if not member:
            raise format_error(path, row.where, src["member_id"], "missing")
        group = groups[i] or fallback_group
        if not group:
            raise format_error(path, row.where, src["group_id"], "missing (and no constants.group_id)")
        eid = event_ids[i] or row.rid
        if eid in first_seen:
            raise format_error(path, row.where, src.get("event_id", "<event id>"),
                               f"repeats the event id {eid!r} of {first_seen[eid]}")
        first_seen[eid] = row.where
        target, operator = targets[i] or None, operators[i] or None
        amount = _amount(path, row, src.get("amount", ""), amounts[i])
        if amount is not None and amount < 0:
            b.skip("negative amount (refund)")
            continue
        text = texts[i] if text_mapped and texts[i] else None
        text_len = _text_len(path, row, src.get("text_len", ""), text_lens[i])
        ref = refs[i] or None
        common = {"group_id": group, "amount": amount}

        if etype == "removed":
            removed = target if spec.removal_actor == "target" and target and target != member else member
            if operator is not None and removed == operator:
                b.skip("removal naming only its operator")
                continue
            if removed != member:
                b.note("removals re-assigned from the operator to the removed member")
            b.event(eid, ts, removed, "removed", **common)
            continue
        if etype == "invite" or (etype == "join" and operator and operator != member):
            if etype == "invite":
                inviter = operator or member
                invitee = next((m for m in (target, member if operator else None)
                                if m and m != inviter), None)
                invite_id, join_id = eid, f"{eid}:join"
            else:
                inviter, invitee = operator, member
                invite_id, join_id = f"{eid}:invite", eid
                b.note("invites from joins naming an operator")
            if invitee is None:
                b.skip("invite without an invitee")
                continue
            b.event(invite_id, ts, inviter, "invite", target=invitee, **common)
            b.event(join_id, ts, invitee, "join", group_id=group)
            if etype == "invite":
                b.note("joins derived from invites")
            continue

        named = _named_members(b, text, ts, member) if etype in _SPEAKING_WITH_TEXT + ("mention",) else []
        if etype == "mention":
            aimed = [target] if target else named
            if not aimed:
                b.skip("mention without a target")
                continue
            for k, m in enumerate(aimed):
                b.event(eid if k == 0 else f"{eid}:m{k + 1}", ts, member, "mention", target=m,
                        ref=ref, text=text if k == 0 else None, text_len=text_len if k == 0 else None,
                        **common)
            if not target:
                b.note("mention targets from @name", len(aimed))
            continue
        if etype == "reply" and not target:
            if named:  # the @name addressing the reply is its target, not a further mention
                target, named = named[0], named[1:]
                b.note("reply targets from @name")
            else:
                etype = speaking_type(text)
                b.note("replies without a target kept as messages")
        elif etype == "message":
            etype = speaking_type(text)
        b.event(eid, ts, member, etype, target=target, ref=ref, text=text, text_len=text_len, **common)
        for k, m in enumerate(named):
            b.event(f"{eid}:m{k + 1}", ts, member, "mention", target=m, ref=eid, group_id=group)
        if named:
            b.note("mentions from @name in text", len(named))
    return b.result(source=path)


def _named_members(b: EventBuilder, text: str | None, ts: pd.Timestamp, author: str) -> list[str]:
    """The members ``@昵称`` in ``text`` name at ``ts`` (each once, never the author)."""
    if not text or ("@" not in text and "＠" not in text):
        return []
    out: list[str] = []
    for name in _MENTION.findall(text):
        if not b.book.known(name):
            b.note("@names matching no nickname")
            continue
        m = b.book.resolve(name, ts)
        if m is not None and m != author and m not in out:
            out.append(m)
    return out


__all__ = ["CONTRACT_COLUMNS", "ColumnMapping", "EXTRA_COLUMNS", "load_mapping", "read_mapped"]
