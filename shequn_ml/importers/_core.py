"""What every importer shares: the result type, nickname resolution, time zones, writing.

An importer turns one export format into the event contract of
:mod:`shequn_ml.schema`. Each format module builds rows with an
:class:`EventBuilder` and returns an :class:`ImportResult`; :func:`write_import`
validates the tables with the library's own readers and writes them together
(events, members, groups, the nickname display table and the import report) as
one output set, or nothing.

Rules every importer follows
----------------------------
- Text is never stored: a message keeps only ``text_len`` (and is typed
  ``question`` when it asks, see :func:`speaking_type`).
- A reply aims at the author of the message replied to; a mention is a
  ``mention`` event from the author to each member mentioned; a reaction is a
  ``reaction`` event from the reactor to the author.
- A removal is the removed member's ``removed`` event, whoever the export names
  as acting; an invite is the inviter's ``invite`` aimed at the invitee, plus the
  invitee's ``join``.
- What is not imported is counted in :attr:`ImportResult.skipped` under a reason,
  never dropped silently; an unknown system message is counted too.
- Timestamps without a zone are read in an explicit IANA zone (the importer's
  ``tz`` argument, defaulting to the format's own zone), never silently as UTC.
- Nicknames go to a separate display table, never into the events.

Examples
--------
>>> b = EventBuilder("demo", group_id="g1")
>>> b.nickname("u1", "阿明", pd.Timestamp("2024-01-01", tz="UTC"))
>>> b.event("m1", pd.Timestamp("2024-01-02", tz="UTC"), "u1", "message", text="大家好")
'demo:m1'
>>> result = b.result(source="demo.txt")
>>> result.events[["member_id", "event_type", "text_len"]].to_dict("records")
[{'member_id': 'u1', 'event_type': 'message', 'text_len': 3}]
>>> b.book.resolve("阿明", pd.Timestamp("2024-03-01", tz="UTC"))
'u1'
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import json
import os
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from shequn_ml import schema

#: Columns of the nickname display table written beside the events.
NICKNAME_COLUMNS = ("member_id", "group_id", "nickname", "first_seen", "last_seen")

_QUESTION = re.compile(r"[?？]")


class ImportFormatError(ValueError):
    """A malformed export: the message names the file, the line or record, and the field.

    The command line prints it as one line and exits with code 2.
    """


def format_error(path: str | os.PathLike[str], where: str, field: str, detail: str) -> ImportFormatError:
    """The one-line error for a malformed record.

    >>> str(format_error("chat.txt", "line 12", "time", "expected YYYY-MM-DD H:MM:SS, got 'x'"))
    "chat.txt: line 12, field 'time': expected YYYY-MM-DD H:MM:SS, got 'x'"
    """
    return ImportFormatError(f"{path}: {where}, field {field!r}: {detail}")


def speaking_type(text: str | None, *, is_reply: bool = False) -> str:
    """The speaking event type of a chat message: ``reply``, ``question`` or ``message``.

    A reply stays a reply (it needs its target); otherwise a message with a question
    mark (ASCII or full-width) is a ``question`` (求教), else a ``message``.

    >>> speaking_type("有人知道吗？"), speaking_type("好的"), speaking_type("?", is_reply=True)
    ('question', 'message', 'reply')
    """
    if is_reply:
        return "reply"
    if text and _QUESTION.search(text):
        return "question"
    return "message"


def to_utc(values: object, tz: str, *, unit: str | None = None) -> pd.Series:
    """Timestamps as UTC: epoch numbers (``unit`` = "s" or "ms"), or wall-clock text in ``tz``.

    Text carrying its own offset (``2024-01-01T08:00:00+08:00``) keeps it; text
    without one is read as the wall clock of ``tz``. Unparseable values become NaT
    (the importer reports them as a format error naming the record).

    >>> to_utc(["2024-01-01 08:00:00"], "Asia/Shanghai").iloc[0]
    Timestamp('2024-01-01 00:00:00+0000', tz='UTC')
    >>> to_utc([1704067200], "Asia/Shanghai", unit="s").iloc[0]
    Timestamp('2024-01-01 00:00:00+0000', tz='UTC')
    """
    from shequn_ml.io import check_tz

    check_tz(tz)
    s = pd.Series(values)
    if unit is not None:
        return pd.to_datetime(pd.to_numeric(s, errors="coerce"), unit=unit, utc=True)
    text = s.astype("string")
    zoned = text.str.contains(r"(?:[zZ]|[+-]\d\d:?\d\d)\s*$", regex=True).fillna(False)
    out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns, UTC]")
    if zoned.any():
        out[zoned] = pd.to_datetime(text[zoned], utc=True, errors="coerce", format="ISO8601")
    if (~zoned).any():
        wall = pd.to_datetime(text[~zoned], errors="coerce", format="mixed")
        local = wall.dt.tz_localize(tz, ambiguous="NaT", nonexistent="shift_forward")
        out[~zoned] = local.dt.tz_convert("UTC")
    return out


class NicknameBook:
    """Who carried which display name when, for resolving ``@昵称`` and ``name:`` in text.

    Nicknames change, and two members can share one: :meth:`resolve` answers with
    the member whose most recent name at that time (the latest observation not
    after it, else their first) is the one asked for, and with None when nobody or
    more than one member carried it then. Members not yet seen at that time count
    only when no member seen by then carries the name. Unresolved and ambiguous names are
    counted in :attr:`misses`.

    Examples
    --------
    >>> t = lambda d: pd.Timestamp(d, tz="UTC")
    >>> book = NicknameBook()
    >>> book.observe("u1", "Ann", t("2024-01-01"))
    >>> book.observe("u1", "Annie", t("2024-02-01"))
    >>> book.observe("u2", "Ann", t("2024-03-01"))
    >>> book.resolve("Ann", t("2024-01-15")), book.resolve("Ann", t("2024-03-15"))
    ('u1', 'u2')
    >>> book.resolve("Bob", t("2024-03-15")) is None, dict(book.misses)
    (True, {'unresolved': 1})
    """

    def __init__(self) -> None:
        self._times: dict[str, list[int]] = defaultdict(list)
        self._names: dict[str, list[str]] = defaultdict(list)
        self._ever: dict[str, set[str]] = defaultdict(set)
        self._last: dict[tuple[str, str], int] = {}
        self.misses: Counter[str] = Counter()

    def observe(self, member_id: str, nickname: str | None, ts: pd.Timestamp) -> None:
        """Record that ``member_id`` showed ``nickname`` at ``ts`` (observe in time order)."""
        if not nickname:
            return
        nickname = nickname.strip()
        ns = ts.value
        key = (member_id, nickname)
        self._last[key] = max(self._last.get(key, ns), ns)
        times, names = self._times[member_id], self._names[member_id]
        if names and names[-1] == nickname and times[-1] <= ns:
            return
        i = bisect.bisect_right(times, ns)
        times.insert(i, ns)
        names.insert(i, nickname)
        self._ever[nickname].add(member_id)

    def name_at(self, member_id: str, ts: pd.Timestamp) -> str | None:
        """The nickname ``member_id`` carried at ``ts`` (their first one before any record)."""
        times = self._times.get(member_id)
        if not times:
            return None
        i = bisect.bisect_right(times, ts.value) - 1
        return self._names[member_id][max(i, 0)]

    def resolve(self, nickname: str, ts: pd.Timestamp) -> str | None:
        """The one member called ``nickname`` at ``ts``, or None (counted in :attr:`misses`)."""
        nickname = nickname.strip()
        ever = sorted(self._ever.get(nickname, ()))
        # members seen by then carrying the name; failing that, members first seen later under it
        hits = [m for m in ever if self._times[m][0] <= ts.value and self.name_at(m, ts) == nickname]
        if not hits:
            hits = [m for m in ever if self._times[m][0] > ts.value and self._names[m][0] == nickname]
        if len(hits) == 1:
            return hits[0]
        self.misses["ambiguous" if hits else "unresolved"] += 1
        return None

    def known(self, nickname: str) -> bool:
        """Whether anybody ever carried ``nickname``."""
        return nickname.strip() in self._ever

    def table(self, group_id: str | None) -> pd.DataFrame:
        """The display table: one row per (member, group, nickname) with first and last sighting."""
        rows = []
        for m, names in self._names.items():
            times = self._times[m]
            spans: dict[str, list[int]] = {}
            for name, ns in zip(names, times, strict=True):
                lo_hi = spans.setdefault(name, [ns, self._last[(m, name)]])
                lo_hi[0] = min(lo_hi[0], ns)
            for name, (lo, hi) in spans.items():
                rows.append((m, group_id, name, lo, hi))
        df = pd.DataFrame(rows, columns=list(NICKNAME_COLUMNS))
        for c in ("first_seen", "last_seen"):
            df[c] = pd.to_datetime(df[c].astype("int64"), utc=True)
        return df.sort_values(["member_id", "first_seen"], kind="stable").reset_index(drop=True)


@dataclass
class ImportResult:
    """One export in the event contract, with what was skipped and why.

    Attributes
    ----------
    format : str
        The importer's name (``slack``, ``wechat``, ...).
    source : str
        The input path, for messages and the report.
    events : DataFrame
        Contract columns; ``ts`` in UTC; ids as strings.
    members, groups : DataFrame
        Side tables (``members`` keyed by member and group, with ``joined_at`` and
        ``invited_by`` where the export shows them; ``groups`` with capacity and
        owner where known).
    nicknames : DataFrame
        The display table (:data:`NICKNAME_COLUMNS`); scoring joins it back for the
        operator's list.
    skipped : Counter
        Records not imported, by reason (``"system message: unknown"``, ...).
    notes : Counter
        What was derived, counted (``"reply targets from @name"``, ...).
    """

    format: str
    source: str
    events: pd.DataFrame
    members: pd.DataFrame
    groups: pd.DataFrame
    nicknames: pd.DataFrame
    skipped: Counter[str] = field(default_factory=Counter)
    notes: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        """A few lines for the command line: counts by event type, skipped by reason."""
        by_type = self.events["event_type"].value_counts()
        lines = [f"imported {self.source} ({self.format}): {len(self.events):,} events, "
                 f"{self.events['member_id'].nunique():,} members, "
                 f"{self.events['group_id'].nunique():,} groups",
                 "  events: " + ", ".join(f"{t} {n:,}" for t, n in by_type.items())]
        if self.skipped:
            lines.append("  skipped: " + ", ".join(f"{r} {n:,}" for r, n in sorted(self.skipped.items())))
        if self.notes:
            lines.append("  derived: " + ", ".join(f"{r} {n:,}" for r, n in sorted(self.notes.items())))
        return "\n".join(lines)

    def report(self) -> dict[str, object]:
        """The import report written beside the tables (JSON-able)."""
        return {
            "format": self.format,
            "source": self.source,
            "events": int(len(self.events)),
            "members": int(self.events["member_id"].nunique()) if len(self.events) else 0,
            "groups": int(self.events["group_id"].nunique()) if len(self.events) else 0,
            "event_types": {str(k): int(v) for k, v in self.events["event_type"].value_counts().items()},
            "skipped": dict(sorted((k, int(v)) for k, v in self.skipped.items())),
            "derived": dict(sorted((k, int(v)) for k, v in self.notes.items())),
        }


class EventBuilder:
    """Collects events, memberships and nicknames for one export, then makes an ImportResult.

    Parameters
    ----------
    format : str
        The importer's name; also the prefix of generated event ids.
    group_id : str, optional
        The default group of every event (exports of one chat).

    Notes
    -----
    Events are kept in the order added; ``event`` returns the event id, so a
    derived event (a mention) can refer to its message through ``ref_event_id``.
    """

    def __init__(self, format: str, group_id: str | None = None) -> None:
        self.format = format
        self.group_id = group_id
        self.book = NicknameBook()
        self.skipped: Counter[str] = Counter()
        self.notes: Counter[str] = Counter()
        self._rows: list[tuple] = []
        self._members: dict[tuple[str, str], dict[str, object]] = {}
        self._groups: dict[str, dict[str, object]] = {}

    def nickname(self, member_id: str, nickname: str | None, ts: pd.Timestamp) -> None:
        """Record a display name seen for a member (see :class:`NicknameBook`)."""
        self.book.observe(str(member_id), nickname, ts)

    def event(self, event_id: str, ts: pd.Timestamp, member_id: str, event_type: str, *,
              group_id: str | None = None, target: str | None = None, ref: str | None = None,
              amount: float | None = None, text: str | None = None,
              text_len: int | None = None) -> str:
        """Add one event; ``text`` is measured (its length kept) and dropped."""
        if event_type not in schema.EVENT_TYPES:
            raise ValueError(f"importer {self.format}: {event_type!r} is not a contract event type")
        g = group_id if group_id is not None else self.group_id
        if g is None:
            raise ValueError(f"importer {self.format}: event {event_id} has no group")
        if text is not None and text_len is None:
            text_len = len(text)
        self._rows.append((f"{self.format}:{event_id}", ts, str(g), str(member_id), event_type,
                           None if target is None else str(target),
                           None if ref is None else f"{self.format}:{ref}", amount, text_len))
        if event_type in ("join", "invite") or (g, str(member_id)) not in self._members:
            self._member(str(member_id), str(g))
        if event_type == "join":
            m = self._members[(str(g), str(member_id))]
            if m.get("joined_at") is None:
                m["joined_at"] = ts
        if event_type == "invite" and target is not None:
            invitee = self._member(str(target), str(g))
            invitee.setdefault("invited_by", str(member_id))
        return f"{self.format}:{event_id}"

    def _member(self, member_id: str, group_id: str) -> dict[str, object]:
        return self._members.setdefault((group_id, member_id), {"member_id": member_id,
                                                                 "group_id": group_id})

    def member(self, member_id: str, group_id: str | None = None, **attrs: object) -> None:
        """Set member-table attributes (``joined_at``, ``invited_by``, ``paid``, ...)."""
        m = self._member(str(member_id), str(group_id if group_id is not None else self.group_id))
        m.update({k: v for k, v in attrs.items() if v is not None})

    def group(self, group_id: str | None = None, **attrs: object) -> None:
        """Set group-table attributes (``capacity``, ``owner_id``, ``created_at``, ``kind``)."""
        g = str(group_id if group_id is not None else self.group_id)
        self._groups.setdefault(g, {"group_id": g}).update({k: v for k, v in attrs.items() if v is not None})

    def skip(self, reason: str, n: int = 1) -> None:
        """Count records not imported, by reason."""
        self.skipped[reason] += n

    def note(self, what: str, n: int = 1) -> None:
        """Count something derived (e.g. reply targets resolved from ``@name``)."""
        self.notes[what] += n

    def result(self, source: str | os.PathLike[str]) -> ImportResult:
        """The collected tables as an :class:`ImportResult`."""
        cols = ["event_id", "ts", "group_id", "member_id", "event_type", "target_member_id",
                "ref_event_id", "amount", "text_len"]
        events = pd.DataFrame(self._rows, columns=cols)
        events["ts"] = pd.to_datetime(events["ts"], utc=True)
        events["amount"] = pd.to_numeric(events["amount"], errors="coerce").astype("float64")
        events["text_len"] = pd.array(events["text_len"], dtype="Int64")
        for g in events["group_id"].unique():
            self._groups.setdefault(str(g), {"group_id": str(g)})
        members = pd.DataFrame(list(self._members.values()))
        if "member_id" not in members:
            members = pd.DataFrame(columns=["member_id", "group_id"])
        groups = pd.DataFrame(list(self._groups.values()))
        if "group_id" not in groups:
            groups = pd.DataFrame(columns=["group_id"])
        nicknames = _nicknames_per_group(self.book.table(None), events)
        for what, n in self.book.misses.items():
            self.notes[f"names in text {what}"] += n
        return ImportResult(self.format, str(source), events, members, groups, nicknames,
                            Counter(self.skipped), Counter(self.notes))


def _nicknames_per_group(book: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """Attach each nickname sighting to the groups its member appears in."""
    if book.empty:
        return book.assign(group_id=pd.Series(dtype="string"))
    pairs = events[["member_id", "group_id"]].drop_duplicates()
    out = book.drop(columns="group_id").merge(pairs, on="member_id", how="left")
    return out[list(NICKNAME_COLUMNS)].reset_index(drop=True)


# --------------------------------------------------------------------------- personal data

#: Columns holding member ids, by table.
_MEMBER_ID_COLUMNS: dict[str, tuple[str, ...]] = {
    "events": ("member_id", "target_member_id"),
    "members": ("member_id", "invited_by"),
    "groups": ("owner_id",),
    "nicknames": ("member_id",),
}


def pseudonymise(result: ImportResult, key: str | bytes) -> ImportResult:
    """Replace every member id by a keyed hash (HMAC-SHA256, 16 hex digits, prefix ``p_``).

    The same key gives the same ids every night, so histories join up; without the
    key the ids cannot be traced back. The key is never written anywhere by the
    library: pass it from an environment variable or a secret store.

    >>> b = EventBuilder("demo", group_id="g")
    >>> _ = b.event("1", pd.Timestamp("2024-01-01", tz="UTC"), "wxid_abc", "message")
    >>> a = pseudonymise(b.result("x"), "k").events["member_id"].iloc[0]
    >>> a == pseudonymise(b.result("x"), "k").events["member_id"].iloc[0], a.startswith("p_")
    (True, True)
    """
    if not key:
        raise ValueError("pseudonymise needs a non-empty key")
    k = key.encode("utf-8") if isinstance(key, str) else key

    def h(v: object) -> object:
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
            return v
        return "p_" + hmac.new(k, str(v).encode("utf-8"), hashlib.sha256).hexdigest()[:16]

    tables = {"events": result.events, "members": result.members, "groups": result.groups,
              "nicknames": result.nicknames}
    out = {}
    for name, df in tables.items():
        df = df.copy()
        for c in _MEMBER_ID_COLUMNS[name]:
            if c in df:
                df[c] = df[c].map(h)
        out[name] = df
    return ImportResult(result.format, result.source, out["events"], out["members"], out["groups"],
                        out["nicknames"], Counter(result.skipped), Counter(result.notes))


# --------------------------------------------------------------------------- writing

#: The files :func:`write_import` writes into its folder.
OUTPUT_FILES = ("events.parquet", "members.parquet", "groups.parquet", "nicknames.parquet")
REPORT_FILE = "import-report.json"


def validated_tables(result: ImportResult) -> dict[str, pd.DataFrame]:
    """The events, members and groups through the library's readers (errors raised, warnings shown).

    Raises
    ------
    EventValidationError
        When the importer produced rows the contract refuses (a bug in the
        importer or an export the importer does not understand).
    """
    from shequn_ml.io import read_events, read_groups, read_members

    name = f"{result.source} (imported as {result.format})"
    events = read_events(result.events, name=name)
    members = read_members(result.members, name=f"{name}, members")
    groups = read_groups(result.groups, name=f"{name}, groups")
    return {"events": events, "members": members, "groups": groups}


def write_import(result: ImportResult, out: str | os.PathLike[str], *,
                 inputs: Iterable[str | os.PathLike[str]] = ()) -> dict[str, Path]:
    """Validate and write an import into folder ``out``: all files together, or none.

    Parameters
    ----------
    result : ImportResult
        What an importer returned (pseudonymised or not).
    out : path
        The folder; created if missing. Existing files of a previous import are
        replaced as one set.
    inputs : paths
        The export's files, which must not be overwritten.

    Returns
    -------
    dict of str to Path
        ``events``, ``members``, ``groups``, ``nicknames`` and ``report``.
    """
    from shequn_ml.io import to_arrow
    from shequn_ml.outputs import check_outputs, write_output_set

    folder = Path(out)
    dests = {n.split(".")[0]: folder / n for n in OUTPUT_FILES}
    check_outputs([*dests.values(), folder / REPORT_FILE],
                  {f"export {i + 1}": p for i, p in enumerate(inputs)})
    tables = validated_tables(result)
    tables["nicknames"] = result.nicknames
    import pyarrow.parquet as pq

    def writer(df: pd.DataFrame):
        return lambda tmp: pq.write_table(to_arrow(df), tmp)

    files = {dests[n]: writer(tables[n]) for n in ("events", "members", "groups", "nicknames")}
    manifest = write_output_set(files, folder / REPORT_FILE, result.report())
    return {**dests, "report": manifest}


def read_json(path: str | os.PathLike[str]) -> object:
    """A JSON file, or an :class:`ImportFormatError` naming the file and the position."""
    try:
        with open(path, encoding="utf-8-sig") as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise format_error(path, f"line {exc.lineno} column {exc.colno}", "<json>", exc.msg) from None
    except UnicodeDecodeError as exc:
        raise format_error(path, f"byte {exc.start}", "<encoding>",
                           "not UTF-8 text") from None


def require(record: Mapping[str, object], key: str, path: str | os.PathLike[str], where: str) -> object:
    """``record[key]``, or an :class:`ImportFormatError` naming file, record and field."""
    if key not in record or record[key] is None:
        raise format_error(path, where, key, "missing")
    return record[key]


__all__ = [
    "EventBuilder",
    "ImportFormatError",
    "ImportResult",
    "NICKNAME_COLUMNS",
    "NicknameBook",
    "OUTPUT_FILES",
    "REPORT_FILE",
    "format_error",
    "pseudonymise",
    "read_json",
    "require",
    "speaking_type",
    "to_utc",
    "validated_tables",
    "write_import",
]
