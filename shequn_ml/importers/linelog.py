"""Line-based chat logs (``[time] <login> text``: Gitter room logs, IRC logs) as the event contract.

What this reads
---------------
One message a line, ``[time] <login> text``, plain or gzipped. Two public
descriptions were followed:

* the Gitter room files of the LiveChat study, "Developers' live chat on
  Gitter" (https://github.com/LiveChat2021/LiveChat, folder ``data/``; read: the
  README of the data, one message a line ``[2016-11-21 08:47:30] <ReaLau>
  Hello@mgmanikandan87``, the sender's Gitter login, no join or leave lines,
  replies addressed in the text), the same files the dataset adapter
  :func:`shequn_ml.datasets.gitter.load_gitter` reads (its line pattern and its
  ``@`` resolution are reused here);
* the #ubuntu IRC logs as published at https://irclogs.ubuntu.com and in the raw
  files of Kummerfeld et al., "A Large-Scale Corpus for Conversation
  Disentanglement" (ACL 2019, https://github.com/jkkummerfeld/irc-disentanglement,
  ``data/``; read: the raw files and the data README, lines ``[02:18] <teward>
  superguest: no.``, actions ``[06:01]  * nick goes ...``, and system lines
  without a time, ``=== nick [ident@host]  has joined #ubuntu``, ``... has left
  #ubuntu []``, ``... has quit [reason]``, ``=== andre__ is now known as
  kxkdsxr``). The same system lines are read with irssi's ``-!-`` and the
  ``***`` prefix, and a kick, ``nick was kicked from #chan by op [reason]``, as
  irssi writes it.
"""

from __future__ import annotations

import datetime as dt
import gzip
import os
import re
from pathlib import Path

import pandas as pd

from shequn_ml.datasets.gitter import _AT, HEADER, MAX_UNPARSED_SHARE, MIN_UNPARSED_REFUSED
from shequn_ml.datasets.gitter import _resolve as _resolve_glued
from shequn_ml.importers._core import EventBuilder, ImportResult, format_error, speaking_type, to_utc

_HEAD = re.compile(HEADER)
#: An action (``/me``): ``[06:01]  * nick goes to the vending machine``.
_ACTION = re.compile(r"^\[(?P<ts>[^\]]*)\]\s+\* (?P<sender>[^\s*]\S*)(?: (?P<text>.*))?$")
#: A system line: an optional ``[time]``, then ``===``, ``-!-``, ``***``, ``-->`` or ``<--``.
_SYSTEM = re.compile(r"^(?:\[(?P<ts>\d[^\]]*)\]\s*)?(?:===|-!-|\*\*\*|-->|<--)\s+(?P<body>.*)$")
#: Log markers (irssi ``--- Log opened ...``, ``--- Day changed ...``).
_MARKER = re.compile(r"^(?:\[[^\]]*\]\s*)?---\s")
_HOST = r"(?:\s+(?:\[[^\]]*\]|\([^)]*\)))?\s*"
_SYSTEM_BODIES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("join", re.compile(rf"^(?P<nick>\S+){_HOST}has joined\b")),
    ("join", re.compile(r"^Joins: (?P<nick>\S+)")),
    ("leave", re.compile(rf"^(?P<nick>\S+){_HOST}has left\b")),
    ("leave", re.compile(r"^Parts: (?P<nick>\S+)")),
    ("quit", re.compile(rf"^(?P<nick>\S+){_HOST}has quit\b")),
    ("quit", re.compile(r"^Quits: (?P<nick>\S+)")),
    ("nick", re.compile(r"^(?P<nick>\S+) is now known as (?P<new>\S+)")),
    ("kick", re.compile(r"^(?P<nick>\S+) was kicked from \S+ by (?P<op>\S+)")),
    ("kick", re.compile(r"^(?P<nick>\S+) was kicked by (?P<op>\S+)")),
    ("kick", re.compile(r"^(?P<op>\S+) has kicked (?P<nick>\S+)")),
    ("mode", re.compile(r"^(?:mode/\S+|\S+ sets mode\b|ServerMode/)")),
    ("topic", re.compile(r"^(?:Topic\b|\S+ changed the topic\b|\S+ has changed the topic\b)")),
)
#: A reply's leading address: ``name:`` / ``name,`` / ``@name:`` / ``@name`` (IRC nick characters too).
_NICK = r"[\w.~|\[\]`^{}\\-]+?"
_PREFIX = re.compile(rf"^\s*(?:@(?P<at>{_NICK})(?=[\s:,]|$)|(?P<name>{_NICK}))"
                     r"\.*\s*(?(at)[:,]?|[:,])(?:\s|$)")
#: Time inside the brackets: a full date and time (optionally zoned), or a time of day only.
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d\d:?\d\d)?$")
_TIME_ONLY = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")
_FILE_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_MODE_CHARS = "@+%&~"


def _lines(path: Path) -> list[str]:
    try:
        raw = path.read_bytes()
        if path.suffix == ".gz":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise format_error(path, "file", "<gzip>" if path.suffix == ".gz" else "<file>",
                           f"cannot be read: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                           ) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise format_error(path, f"byte {exc.start}", "<encoding>", "not UTF-8 text") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def read_line_log(path: str | os.PathLike[str], *, tz: str = "UTC",
                  group_id: str | None = None) -> ImportResult:
    """Read a ``[time] <login> text`` chat log (Gitter room, IRC channel) into the event contract.

    Parameters
    ----------
    path : path
        The log (plain text or ``.gz``), one line per message or system line.
    tz : str, default "UTC"
        The IANA zone of the times in the log, which carry none (a time written
        with an offset, ``[2021-03-29T14:09:34Z]``, keeps it). Both sources this
        importer was written to log in UTC: the Gitter study collected the rooms
        from Gitter's API, whose times are UTC, and irclogs.ubuntu.com logs in UTC.
        Logs a client wrote on a desktop are in that desktop's zone: say which.
    group_id : str, optional
        The one group of the whole file; default: the file name before ``.txt``
        (``"gitter_gitter"`` for ``gitter_gitter.txt.gz``).

    Returns
    -------
    ImportResult
        ``format`` ``"linelog"``.

    Notes
    -----
    =======================================  ================================================
    log line                                 event contract
    =======================================  ================================================
    ``[time] <login> text``                  ``message`` (``question`` with a question mark)
    ... opening with ``name:`` / ``name,``   ``reply``, target = the member called ``name``
    / ``@name``                              then (a login seen so far, through the
                                             time-aware nickname book, case-insensitively)
    ``@name`` anywhere                       a ``mention`` to that member (once per
                                             message; a login glued to the next word,
                                             ``@MadLittleModsI think``, is found as the
                                             dataset adapter does)
    ``[time]  * nick text`` (IRC ``/me``)    ``message`` / ``question``
    ``=== nick [host] has joined #c``        ``join``
    ``... has left #c`` / ``... has quit``   ``leave`` (a quit leaves every channel)
    ``nick was kicked from #c by op``        ``removed`` for ``nick`` (the operator is noted)
    ``old is now known as new``              no event: the member keeps their id (their
                                             first nick), ``new`` enters the nickname table
    =======================================  ================================================

    ``member_id`` is the login (for IRC: the first nick a member used in the
    file; a nick change keeps it). Event ids are ``<group>:<line number>``;
    mentions add ``:mention:<k>``. Times: ``[YYYY-MM-DD HH:MM:SS]`` (seconds
    optional, ISO 8601 with an offset accepted); IRC's ``[HH:MM]`` takes its date
    from the file name (``2016-06-06_02.raw.txt``, ``#ubuntu.2016-06-06.txt``), a
    time earlier than the one before it by more than 12 hours starting the next
    day (``notes["day rollovers"]``). System lines without a time take the time
    of the message before them (the first ones: the message after them).

    Skipped and counted in ``skipped``: continuation lines (a line without the
    ``[time] <login>`` head after a message: a pasted log or stack trace; its text
    is not searched for names), blank lines, exact duplicate messages (same
    time, login and text; the first is kept, as the dataset adapter does), mode
    and topic lines and log markers (``"system line: mode"``, ...), a system
    line this importer does not know (``"system line: unknown"``), self
    mentions.

    Raises
    ------
    ImportFormatError
        A line with the message head whose time does not parse (names the line
        and field ``ts``), text before the first message, a time of day with no
        date in the file name, more than 10 % continuation lines (not this format:
        a ``.disentangled`` file, a CSV), an unreadable or non-UTF-8 file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "room.txt"
    >>> _ = f.write_text("[2016-11-21 08:47:30] <ReaLau> Hello all\\n"
    ...     "[2016-11-21 08:48:02] <mgmani> realau: yes, ask @ReaLau?\\n"
    ...     "   a pasted line\\n")
    >>> r = read_line_log(f)
    >>> r.events[["member_id", "event_type", "target_member_id"]].fillna("-").values.tolist()
    [['ReaLau', 'message', '-'], ['mgmani', 'reply', 'ReaLau'], ['mgmani', 'mention', 'ReaLau']]
    >>> dict(r.skipped), r.events["event_id"].iloc[1]
    ({'continuation line': 1}, 'linelog:room:2')
    """
    from shequn_ml.io import check_tz

    check_tz(tz)
    path = Path(path)
    if not path.is_file():
        raise format_error(path, "file", "<path>", "does not exist")
    lines = _lines(path)
    if group_id is None:
        group_id = path.name.split(".txt")[0] if ".txt" in path.name else path.name.split(".")[0]
    g = str(group_id)
    b = EventBuilder("linelog", group_id=g)

    # pass 1: classify every line
    recs: list[dict[str, object]] = []  # kind, line, ts (raw text or None), ...
    continuation: list[int] = []
    first_message = None
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            b.skip("blank line")
            continue
        m = _HEAD.match(line) or _ACTION.match(line)
        if m is not None and m.group("ts")[:1].isdigit():
            kind = "action" if m.re is _ACTION else "message"
            recs.append({"kind": kind, "line": n, "raw": m.group("ts").strip(),
                         "nick": m.group("sender").lstrip(_MODE_CHARS) or m.group("sender"),
                         "text": m.group("text") or ""})
            first_message = first_message or n
            continue
        s = _SYSTEM.match(line)
        if s is not None:
            body = s.group("body")
            for kind, pattern in _SYSTEM_BODIES:
                sm = pattern.match(body)
                if sm is not None:
                    recs.append({"kind": kind, "line": n, "raw": (s.group("ts") or "").strip() or None,
                                 **sm.groupdict()})
                    break
            else:
                b.skip("system line: unknown")
            continue
        if _MARKER.match(line):
            b.skip("system line: log marker")
            continue
        if first_message is None and not recs:
            hint = (" (a .disentangled file, with a dialog number before each line, is another format)"
                    if re.match(r"^\d+ \[", line) else "")
            raise format_error(path, f"line {n}", "ts",
                               f"expected '[YYYY-MM-DD HH:MM:SS] <login> text', got {line[:40]!r}{hint}")
        continuation.append(n)
    if not any(r["kind"] in ("message", "action") for r in recs):
        raise format_error(path, "line 1", "ts", "the file has no message line "
                           "('[YYYY-MM-DD HH:MM:SS] <login> text')")
    if len(continuation) > max(MAX_UNPARSED_SHARE * len(lines), MIN_UNPARSED_REFUSED):
        raise format_error(path, f"line {continuation[0]}", "ts",
                           f"{len(continuation)} of {len(lines)} lines have no '[time] <login>' head "
                           f"(more than {MAX_UNPARSED_SHARE:.0%}): not a line-based chat log")
    if continuation:
        b.skip("continuation line", len(continuation))

    # pass 2: times
    _times(recs, path, tz, b)

    # pass 3: events in line order
    alias: dict[str, str] = {}   # lower-case nick -> member id (first nick)
    known: dict[str, str] = {}   # lower-case nick -> nick as written, seen so far
    seen: set[tuple[object, ...]] = set()
    for r in recs:
        ts, n, kind = r["ts"], r["line"], r["kind"]
        eid = f"{g}:{n}"
        if kind in ("message", "action"):
            nick, text = str(r["nick"]), str(r["text"])
            key = (r["raw"], nick, text)
            if key in seen:
                b.skip("duplicate message (same time, login and text)")
                continue
            seen.add(key)
            mid = alias.setdefault(nick.lower(), nick)
            known[nick.lower()] = nick
            b.nickname(mid, nick, ts)
            if kind == "action":
                b.note("actions (/me) as messages")
            _speak(b, eid, ts, mid, text, known)
            continue
        if kind in ("mode", "topic"):
            b.skip(f"system line: {kind}")
            continue
        nick = str(r["nick"])
        mid = alias.setdefault(nick.lower(), nick)
        if kind == "join":
            known[nick.lower()] = nick
            b.nickname(mid, nick, ts)
            b.event(eid, ts, mid, "join")
        elif kind in ("leave", "quit"):
            b.event(eid, ts, mid, "leave")
            if kind == "quit":
                b.note("quits as leave")
        elif kind == "kick":
            b.event(eid, ts, mid, "removed")
            b.note("removals by an operator (kick)")
        elif kind == "nick":
            new = str(r["new"])
            alias[new.lower()] = mid
            known[new.lower()] = new
            b.nickname(mid, new, ts)
            b.note("nickname changes")
    return b.result(source=path)


def _times(recs: list[dict[str, object]], path: Path, tz: str, b: EventBuilder) -> None:
    """Set ``ts`` (UTC) on every record: parse, date time-of-day lines, fill system lines."""
    file_date = _FILE_DATE.search(path.name)
    day = dt.date(*map(int, file_date.groups())) if file_date else None
    prev: dt.datetime | None = None
    walls: list[str] = []
    idx: list[int] = []
    for i, r in enumerate(recs):
        raw = r["raw"]
        if raw is None:
            continue
        raw = str(raw)
        if _DATETIME.match(raw):
            walls.append(raw)
        elif (t := _TIME_ONLY.match(raw)) is not None:
            if day is None:
                raise format_error(path, f"line {r['line']}", "ts",
                                   f"the time {raw!r} has no date and the file name has none "
                                   "(name the file with its date, e.g. 2016-06-06.txt)")
            h, mi, s = int(t.group(1)), int(t.group(2)), int(t.group(3) or 0)
            if h > 23 or mi > 59 or s > 59:
                raise format_error(path, f"line {r['line']}", "ts", f"unparseable time {raw!r}")
            cur = dt.datetime.combine(day, dt.time(h, mi, s))
            if prev is not None and cur + dt.timedelta(hours=12) < prev:
                day += dt.timedelta(days=1)
                cur += dt.timedelta(days=1)
                b.note("day rollovers")
            prev = cur
            walls.append(cur.strftime("%Y-%m-%d %H:%M:%S"))
        else:
            raise format_error(path, f"line {r['line']}", "ts",
                               f"unparseable time {raw!r} (expected YYYY-MM-DD HH:MM:SS or HH:MM)")
        idx.append(i)
    parsed = to_utc(walls, tz) if walls else pd.Series([], dtype="datetime64[ns, UTC]")
    for k, (i, value) in enumerate(zip(idx, parsed, strict=True)):
        if pd.isna(value):
            raise format_error(path, f"line {recs[i]['line']}", "ts",
                               f"unparseable time {walls[k]!r} (expected YYYY-MM-DD HH:MM:SS)")
        recs[i]["ts"] = value
    last = None
    pending: list[dict[str, object]] = []
    for r in recs:
        if "ts" in r:
            last = r["ts"]
            for p in pending:
                p["ts"] = last
            pending = []
        elif last is not None:
            r["ts"] = last
        else:
            pending.append(r)
    untimed = sum(1 for r in recs if r["raw"] is None)
    if untimed:
        b.note("system lines timed by their neighbour", untimed)


def _speak(b: EventBuilder, eid: str, ts: pd.Timestamp, mid: str, text: str, known: dict[str, str]) -> None:
    """One message: reply target from its leading address, mentions from ``@name``."""
    def member(word: str) -> str | None:
        nick, _ = _resolve_glued(word, known)
        return None if nick is None else b.book.resolve(nick, ts)

    target = None
    p = _PREFIX.match(text)
    if p is not None:
        word = p.group("at") or p.group("name")
        who = member(word) if word.rstrip(".-~").lower() in known else None
        if who is not None and who != mid:
            target = who
            b.note("reply targets from a leading name")
        elif who == mid:
            b.note("self addressed (kept as message)")
    b.event(eid, ts, mid, speaking_type(text, is_reply=target is not None), target=target, text=text)
    done: list[str] = []
    if "@" in text:
        for word in _AT.findall(text):
            who = member(word)
            if who is None:
                b.note("@names naming no login seen so far")
            elif who == mid:
                b.skip("self mention")
            elif who not in done:
                done.append(who)
    for k, who in enumerate(done):
        b.event(f"{eid}:mention:{k}", ts, mid, "mention", target=who, ref=eid)


__all__ = ["read_line_log"]
