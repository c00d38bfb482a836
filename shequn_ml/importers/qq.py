"""QQ 消息管理器 (Message Manager) text exports as the event contract.

The desktop QQ client's 消息管理器 exports a chat, a message group or all chats as
one ``.txt`` file ("导出消息记录" → 文本文件). The file starts with a header, then
one section per chat, then the messages of that chat::

    消息记录（此消息记录为文本格式，不支持重新导入）

    ================================================================
    消息分组:我的QQ群
    ================================================================
    消息对象:读书会
    ================================================================

    2024-03-01 9:05:12 【群主】阿明(10001)
    早上好
    今天读第三章

    2024-03-01 9:06:40 小红<xiaohong@example.com>
    @阿明 好的

    2024-03-01 9:10:00 系统消息(10000)
    小刚加入本群。

A message is a first line ``YYYY-MM-DD H:MM:SS 昵称(QQ号)`` (or ``昵称<邮箱>`` for
members shown by e-mail; a few client locales write ``8:43:38 PM``) followed by
its text lines, up to the next message line; a blank line separates messages.
The nickname is the group card (群名片) the sender had then, with a title such as
``【管理员】`` in front in newer clients. There is no message id, no reply link
and no member list: everything else is read from the text.

Sources followed
----------------
* ``hikariyo/qq-chat-history`` (``qq_chat_history/parser.py``, the PyPI package
  ``qq-chat-history``): the message line is a date-time at the start of the line
  and the id is the *last* ``(...)`` or ``<...>`` on it, so nicknames may contain
  brackets (its ``tests/test_special_messages.py``: ``(B)(456456)``,
  ``(o´・ω・`)σ<mail@someaddress.com>``); blank lines inside a message are dropped.
* ChatLab's QQ parser (``qq-native-txt``, "QQ 官方导出 TXT 格式解析器"): the header
  ``消息记录（此消息记录为文本格式，不支持重新导入）``, ``消息对象:群名`` naming the
  chat, ``【管理员】`` title prefixes to strip, text lines until the next header.
* ``aoguai/QQtoExcel`` (``src/QQtoExcel.py``): the ``====`` / ``消息分组:`` /
  ``====`` / ``消息对象:`` / ``====`` section block repeated per chat in an
  "export all" file; its README tells users to re-save the export as UTF-8 BOM,
  i.e. the client does not write UTF-8 (UTF-16 LE with BOM, or GBK, depending on
  the client version), which is why this reader detects the encoding.
* A QQ log parser's tests (``parser_chat.test.ts``, found through the search
  index): ``2019-09-23 8:43:38 PM 系统消息(10000)`` / ``系统消息(1000000)`` senders
  for the gray system lines, ``真核生物独幕剧加入本群。`` for a join, and the
  templates ``X撤回了一条消息``, ``X撤回了成员Y的一条消息``, ``X邀请Y加入了本群。``.
* Red packets show as a message by the sender whose text starts with
  ``[QQ红包]`` (``[QQ红包]请使用新版手机QQ查收红包。`` in scripts that clean these
  exports, e.g. the word-cloud script found through the search index).

Mapping
-------
==================================  ===================================================
export                              event contract
==================================  ===================================================
``消息对象:群名``                    ``group_id`` (``group_id=`` replaces it); groups
                                    table ``capacity`` 2,000 (schema.PLATFORM_CAPACITY)
QQ number / e-mail                  ``member_id``
``昵称`` (title stripped)            the nickname display table; a new nickname for the
                                    same number is a nickname change (``notes``)
``【群主】`` title                   the group's ``owner_id``
message line number                 ``event_id`` (``qq:L12``; derived ``qq:L12.mention1``)
text                                ``text_len`` only; ``question`` when it asks
text starting with ``@昵称``          ``reply`` aimed at that member
every ``@昵称``                      a ``mention`` event to that member (``ref`` = message)
``[QQ红包]...``                      ``red_packet_send`` (amount unknown)
system ``X加入本群``                 X's ``join``
system ``X邀请Y加入了本群``          X's ``invite`` aimed at Y, and Y's ``join`` (also
                                    ``Y通过扫描X分享的二维码加入本群``)
system ``X被管理员移出本群``         X's ``removed`` (never the operator's)
system ``X退出了本群``               X's ``leave``
system ``X领取了Y的红包``            X's ``red_packet_claim`` aimed at Y
system ``X撤回了一条消息``           skipped, ``"recalled message"``
other system text                   skipped, ``"system message: unknown"``
==================================  ===================================================

Names in system lines and ``@`` mentions are nicknames: they are resolved through
the nickname book at that time (:class:`~shequn_ml.importers.NicknameBook`). A name
in a system line that no sender ever carried (a member who joined and never spoke)
gets a stable id made from a hash of the name (``name:1a2b...``), the name itself
going to the display table; a name that is ambiguous then is skipped and counted.

Performance
-----------
The file is streamed line by line with one compiled regular expression, times are
converted in one vectorised step, and the event rows are built once:
``benchmarks/bench_import.py`` imports a 1M-message export in well under a minute
(see ``docs/benchmarks.md``).
"""

from __future__ import annotations

import codecs
import datetime as _dt
import hashlib
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from shequn_ml import schema
from shequn_ml.importers._core import EventBuilder, ImportResult, NicknameBook, format_error

#: The first line of every 消息管理器 text export.
HEADER_LINE = "消息记录（此消息记录为文本格式，不支持重新导入）"
#: Sender ids the client uses for gray system lines.
SYSTEM_IDS = frozenset({"10000", "1000000"})

_HEAD = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2}) (\d{1,2}):(\d{2}):(\d{2})(?: ?([AaPp][Mm]))? "
                   r"(.*?)(?:\((\d+)\)|<([^<>\s]+)>)\s*$")
_RULE = re.compile(r"^={20,}\s*$")
_TITLE = re.compile(r"^(?:【([^】]*)】\s*)+")
_PLACEHOLDER = re.compile(r"\[(?:图片|表情|语音|视频|文件|闪照|动画表情)\]")
#: ``@`` not preceded by an e-mail's user part; the name runs to the next ``@`` or line end.
_AT = re.compile(r"(?<![A-Za-z0-9._%+\-])@([^\n@]{1,40})")
_EVERYONE = ("全体成员", "所有人", "all")
_UNIX_DAY0 = _dt.date(1970, 1, 1).toordinal()

# system line templates (QQ)
_Q_RECALL = re.compile(r"撤回了(?:一条|成员.*的一条)(?:成员)?消息")
_Q_INVITE = re.compile(r"^(.+?)邀请(.+?)加入了?本群")
_Q_QR = re.compile(r"^(.+?)通过扫描(.+?)分享的二维码加入了?本群")
_Q_VIA = re.compile(r"^(.+?)通过.+?加入了?本群")
_Q_JOIN = re.compile(r"^(.+?)(?:已经|已)?加入了?本群")
_Q_REMOVED = re.compile(r"^(.+?)被(.*?)移出了?本群")
_Q_LEAVE = re.compile(r"^(.+?)(?:已)?退出了?(?:本群|该群)")
_Q_CLAIM = re.compile(r"^(.+?)领取了(.+?)的(?:QQ)?红包")
_Q_RENAME = re.compile(r"修改了?群名称|修改群名为")
_Q_OWNER = re.compile(r"^(.+?)(?:已)?成为(?:了)?新群主")


# --------------------------------------------------------------------------- shared helpers
# (also used by shequn_ml.importers.wechat)

def name_id(name: str) -> str:
    """A stable member id for someone known only by a nickname (``name:`` + 12 hex digits).

    The nickname itself never goes into the events; it goes to the display table.

    >>> name_id("小刚") == name_id(" 小刚 "), name_id("小刚")[:5], len(name_id("小刚"))
    (True, 'name:', 17)
    """
    return "name:" + hashlib.sha1(name.strip().encode("utf-8")).hexdigest()[:12]


class SystemNames:
    """Resolves the nicknames written in system lines to member ids, for one import.

    ``你`` / ``You`` is the exporting user (``self_id``). A name some sender carried
    resolves through the book at that time; a name nobody ever carried gets
    :func:`name_id` (recorded for the display table by :meth:`finish`); a known but
    ambiguous or stale name resolves to None (the caller skips and counts it).
    """

    def __init__(self, builder: EventBuilder, self_id: str | None = None,
                 aliases: dict[str, set[str]] | None = None, book: NicknameBook | None = None) -> None:
        self.builder = builder
        self.book = book if book is not None else builder.book
        self.self_id = self_id
        self.aliases = aliases or {}
        self._placeholders: dict[str, tuple[str, pd.Timestamp]] = {}

    def resolve(self, name: str, ts: pd.Timestamp) -> str | None:
        name = name.strip().strip('"“”')
        if not name:
            return None
        if name in ("你", "You", "you"):
            if self.self_id is None:
                return None
            self.builder.note("system lines naming the exporting user (你)")
            return self.self_id
        book = self.book
        if book.known(name):
            return book.resolve(name, ts)
        alias = self.aliases.get(name)
        if alias and len(alias) == 1:
            self.builder.note("names resolved through the account nickname")
            return next(iter(alias))
        pid = name_id(name)
        if pid not in self._placeholders:
            self._placeholders[pid] = (name, ts)
            self.builder.note("members known only by name in system lines")
        return pid

    def finish(self) -> None:
        """Record the name-only members' names in the display table."""
        for pid, (name, ts) in self._placeholders.items():
            self.builder.nickname(pid, name, ts)


def split_names(text: str, names: SystemNames, ts: pd.Timestamp) -> list[str]:
    """Member ids of a ``、``-separated name list (the whole text first, if it is one name)."""
    text = text.strip().strip('"“”')
    if names.book.known(text) or "、" not in text:
        parts = [text]
    else:
        parts = [p.strip().strip('"“”') for p in text.split("、")]
    out = []
    for p in parts:
        m = names.resolve(p, ts)
        if m is None:
            names.builder.skip("system message: name ambiguous")
        elif m not in out:
            out.append(m)
    return out


def mention_targets(builder: EventBuilder, candidates: Iterable[str], ts: pd.Timestamp,
                    author: str, book: NicknameBook | None = None) -> list[tuple[int, str]]:
    """Members named by ``@`` candidates, as (candidate index, member id), each member once.

    A candidate is the text after an ``@``; the longest beginning of it that is a
    known nickname names the member who carried it at ``ts`` (so ``@阿明你好`` and
    ``@Tom Lee 好`` both work). ``@全体成员`` / ``@所有人`` name everybody and nobody in
    particular (counted in ``notes``); a mention of the author is dropped (counted).
    ``book`` is the group's nickname book (default: the builder's).
    """
    book = book if book is not None else builder.book
    out: list[tuple[int, str]] = []
    seen: set[str] = set()
    for i, c in enumerate(candidates):
        c = c.rstrip()
        if c.startswith(_EVERYONE):
            builder.note("mentions of everyone (@全体成员/@所有人)")
            continue
        hit = None
        for k in range(len(c), 0, -1):
            name = c[:k]
            if book.known(name):
                hit = book.resolve(name, ts)
                break
        else:
            builder.note("mentions of unknown names")
        if hit is None:
            continue
        if hit == author:
            builder.note("self mentions dropped")
            continue
        if hit not in seen:
            seen.add(hit)
            out.append((i, hit))
    return out


class _Emitter:
    """Event ids for the events of one record: the first gets the record's id, others a suffix."""

    def __init__(self, builder: EventBuilder, base: str, ts: pd.Timestamp, group: str) -> None:
        self.builder, self.base, self.ts, self.group = builder, base, ts, group
        self.counts: dict[str, int] = {}

    def __call__(self, event_type: str, member: str, target: str | None = None) -> None:
        n = self.counts.get(event_type, 0) + 1
        self.counts[event_type] = n
        first = sum(self.counts.values()) == 1
        eid = self.base if first else f"{self.base}.{event_type}{n}"
        self.builder.event(eid, self.ts, member, event_type, group_id=self.group, target=target)


# --------------------------------------------------------------------------- reading

def _encoding_of(path: Path) -> str | None:
    """The encoding a BOM (or UTF-16 without one) says, else None (try UTF-8, then GB18030)."""
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if len(head) >= 64:
        zeros_odd = head[1::2].count(0) / max(1, len(head[1::2]))
        zeros_even = head[0::2].count(0) / max(1, len(head[0::2]))
        if zeros_odd > 0.3 and zeros_even < 0.05:
            return "utf-16-le"
        if zeros_even > 0.3 and zeros_odd < 0.05:
            return "utf-16-be"
    return None


class _Message:
    """One message of pass one: where, when, who, and what the text showed (not the text)."""

    __slots__ = ("body", "cands", "days", "group", "hms", "kind", "lead", "line", "member", "nick",
                 "sys", "text_len", "title")

    def __init__(self, line: int, days: int, hms: int, nick: str, member: str, title: str | None,
                 group: str | None) -> None:
        self.line, self.days, self.hms, self.nick, self.member = line, days, hms, nick, member
        self.title, self.group = title, group
        self.body: list[str] | None = []
        self.kind = "message"
        self.text_len: int | None = None
        self.cands: list[str] | None = None
        self.lead = False
        self.sys: list[str] | None = None

    def close(self) -> None:
        """Measure the finished message's text and drop it (system lines keep theirs)."""
        text = _text_of(self.body or [])
        self.body = None
        if self.member in SYSTEM_IDS:
            self.kind = "system"
            self.sys = [t for t in text.split("\n") if t.strip()] or [""]
            return
        if text.startswith("[QQ红包]"):
            self.kind = "red_packet_send"
            return
        clean = _PLACEHOLDER.sub("", text).strip() if "[" in text else text
        self.text_len = len(clean) if clean else None
        if "?" in clean or "？" in clean:
            self.kind = "question"
        if "@" in clean:
            self.cands = [m.group(1) for m in _AT.finditer(clean)]
            self.lead = clean.startswith("@") and bool(self.cands)


def _parse(path: Path, lines: Iterator[str]) -> tuple[list[_Message], list[str]]:
    """Pass one: the messages (line, local time, sender, section, text measures) and sections."""
    messages: list[_Message] = []
    sections: list[str] = []
    days_of: dict[str, int] = {}
    header_seen = False
    group: str | None = None
    cur: _Message | None = None
    pending: list[str] = []  # '====' lines after a message: a section rule, or text of the message
    head_match = _HEAD.match
    strings: dict[str, str] = {}  # one string object per distinct nickname / id (memory)
    same = strings.setdefault
    lineno = 0
    for raw in lines:
        lineno += 1
        line = raw.rstrip("\r\n")
        if not header_seen:
            s = line.strip().lstrip("\ufeff")
            if not s:
                continue
            if s != HEADER_LINE:
                raise format_error(path, f"line {lineno}", "header",
                                   f"expected {HEADER_LINE!r} (a QQ 消息管理器 text export), got {s[:60]!r}")
            header_seen = True
            continue
        c0 = line[:1]
        if c0.isdigit() and (m := head_match(line)) is not None:
            if cur is not None:
                if pending:
                    cur.body.extend(pending)
                cur.close()
            pending.clear()
            y, mo, d, hh, mi, ss, ampm, nick, qq, mail = m.groups()
            key = line[:m.end(3)]
            days = days_of.get(key)
            if days is None:
                try:
                    days = _dt.date(int(y), int(mo), int(d)).toordinal() - _UNIX_DAY0
                except ValueError:
                    raise format_error(path, f"line {lineno}", "time",
                                       f"not a date: {key!r}") from None
                days_of[key] = days
            h, mn, sc = int(hh), int(mi), int(ss)
            if ampm is not None:
                if not 1 <= h <= 12:
                    raise format_error(path, f"line {lineno}", "time", f"hour {h} with {ampm}")
                h = h % 12 + (12 if ampm.upper() == "PM" else 0)
            if h > 23 or mn > 59 or sc > 59:
                raise format_error(path, f"line {lineno}", "time",
                                   f"not a time of day: {hh}:{mi}:{ss}")
            title = None
            nick = nick.strip()
            if nick.startswith("【") and (t := _TITLE.match(nick)) is not None:
                title = t.group(0)
                nick = nick[t.end():].strip()
            member = qq or mail
            cur = _Message(lineno, days, h * 3600 + mn * 60 + sc, same(nick, nick), same(member, member),
                           title, group)
            messages.append(cur)
            continue
        if c0 == "消" and line.startswith(("消息对象:", "消息对象：", "消息分组:", "消息分组：")):
            if cur is not None:
                cur.close()
            cur = None
            pending.clear()
            if line.startswith("消息对象"):
                group = line[5:].strip()
                if not group:
                    raise format_error(path, f"line {lineno}", "消息对象", "empty chat name")
                sections.append(group)
            continue
        if c0 == "=" and _RULE.match(line):
            if cur is not None:
                pending.append(line)
            continue
        if cur is None:
            if line.strip():
                raise format_error(path, f"line {lineno}", "message header",
                                   f"text before the first message line: {line.strip()[:60]!r} "
                                   "(expected 'YYYY-MM-DD H:MM:SS 昵称(QQ号)')")
            continue
        if pending:
            cur.body.extend(pending)
            pending.clear()
        cur.body.append(line)
    if cur is not None:
        cur.close()
    if not header_seen:
        raise format_error(path, "line 1", "header", f"empty file; expected {HEADER_LINE!r}")
    return messages, sections


def _text_of(body: list[str]) -> str:
    """The message text: its lines without the blank lines around them."""
    if len(body) == 1:
        return body[0].strip()
    while body and not body[-1].strip():
        body.pop()
    start = 0
    while start < len(body) and not body[start].strip():
        start += 1
    return "\n".join(body[start:]).strip()


def _utc(path: Path, messages: list[_Message], tz: str, builder: EventBuilder) -> list[pd.Timestamp]:
    """The messages' wall-clock times in ``tz`` as UTC Timestamps (one vectorised step)."""
    from shequn_ml.io import check_tz

    check_tz(tz)
    local = np.fromiter((m.days * 86400 + m.hms for m in messages), dtype="int64", count=len(messages))
    naive = pd.DatetimeIndex(local.astype("datetime64[s]"))
    zoned = naive.tz_localize(tz, ambiguous="NaT", nonexistent="shift_forward")
    bad = np.flatnonzero(zoned.isna())
    if len(bad):  # wall times repeated by a DST change: the earlier instant
        earlier = naive[bad].tz_localize(tz, ambiguous=np.ones(len(bad), dtype=bool),
                                         nonexistent="shift_forward")
        values = zoned.asi8.copy()
        values[bad] = earlier.asi8
        zoned = pd.DatetimeIndex(values.view("datetime64[ns]")).tz_localize("UTC")
        builder.note("wall-clock times repeated by a DST change, read as the earlier instant", len(bad))
    return list(zoned.tz_convert("UTC"))


def _system(builder: EventBuilder, names: SystemNames, text: str, emit: _Emitter,
            ts: pd.Timestamp, group: str) -> None:
    """One QQ system line as events, or a counted skip."""
    text = text.strip().rstrip("。.")
    if _Q_RECALL.search(text):
        builder.skip("recalled message")
        return
    if (m := _Q_INVITE.match(text) or _Q_QR.match(text)) is not None:
        invitee_text, inviter_text = ((m.group(2), m.group(1)) if m.re is _Q_INVITE
                                      else (m.group(1), m.group(2)))
        inviter = names.resolve(inviter_text, ts)
        invitees = split_names(invitee_text, names, ts)
        for who in invitees:
            if inviter is not None and inviter != who:
                emit("invite", inviter, who)
            emit("join", who)
        if not invitees:
            builder.skip("system message: name ambiguous")
        return
    if (m := _Q_REMOVED.match(text)) is not None:
        removed = split_names(m.group(1), names, ts)
        for who in removed:
            emit("removed", who)
        return
    if (m := _Q_VIA.match(text) or _Q_JOIN.match(text)) is not None:
        for who in split_names(m.group(1), names, ts):
            emit("join", who)
        return
    if (m := _Q_LEAVE.match(text)) is not None:
        for who in split_names(m.group(1), names, ts):
            emit("leave", who)
        return
    if (m := _Q_CLAIM.match(text)) is not None:
        claimer, sender = names.resolve(m.group(1), ts), names.resolve(m.group(2), ts)
        if claimer is None:
            builder.skip("system message: name ambiguous")
        else:
            emit("red_packet_claim", claimer, sender if sender != claimer else None)
        return
    if _Q_RENAME.search(text):
        builder.skip("system message: group renamed")
        return
    if (m := _Q_OWNER.match(text)) is not None:
        owner = names.resolve(m.group(1), ts)
        if owner is not None:
            builder.group(group, owner_id=owner)
        builder.skip("system message: new owner (owner_id set)")
        return
    builder.skip("system message: unknown")


def read_qq(path: str | os.PathLike[str], *, tz: str = "Asia/Shanghai",
            group_id: str | None = None) -> ImportResult:
    """Read a QQ 消息管理器 text export (``.txt``) into the event contract.

    Parameters
    ----------
    path : path
        The ``.txt`` file the desktop QQ client's message manager wrote ("导出消息记录",
        text format). UTF-8 with or without BOM, UTF-16 (with BOM, as the client
        writes it) and GB18030/GBK are detected; ``notes`` say which was used.
    tz : str, default "Asia/Shanghai"
        The IANA zone of the export's wall-clock times (the exporting computer's
        zone; QQ writes local time without an offset).
    group_id : str, optional
        The group of every event; by default the ``消息对象:`` name of each section.

    Returns
    -------
    ImportResult
        Events (``message``/``question``/``reply``/``mention``/``red_packet_send``
        from members' messages; ``join``/``invite``/``removed``/``leave``/
        ``red_packet_claim`` from system lines), members, groups (capacity 2,000,
        owner from a ``【群主】`` title), the nickname display table, and what was
        skipped by reason (recalls, renames, unknown system lines).

    Raises
    ------
    ImportFormatError
        When the file is not such an export (no header line, text before the first
        message) or a message line's date or time is impossible; the message names
        the file, the line and the field.

    Notes
    -----
    There is no reply link in this format: a message that starts with ``@昵称`` is
    a ``reply`` to that member (the member who carried the nickname then), and
    every ``@昵称`` is a ``mention``. The text itself is never kept, only its
    length (without ``[图片]``-style placeholders; None when nothing else is left).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "群.txt"
    >>> _ = f.write_text("消息记录（此消息记录为文本格式，不支持重新导入）\\n\\n"
    ...                  "================================================================\\n"
    ...                  "消息分组:我的QQ群\\n"
    ...                  "================================================================\\n"
    ...                  "消息对象:读书会\\n"
    ...                  "================================================================\\n\\n"
    ...                  "2024-03-01 9:05:12 阿明(10001)\\n早上好\\n\\n"
    ...                  "2024-03-01 9:06:40 小红(10002)\\n@阿明 今天读哪章？\\n\\n"
    ...                  "2024-03-01 9:10:00 系统消息(10000)\\n阿明邀请小刚加入了本群。\\n",
    ...                  encoding="utf-8-sig")
    >>> r = read_qq(f)
    >>> r.events["event_type"].tolist()
    ['message', 'reply', 'mention', 'invite', 'join']
    >>> r.events.loc[1, ["member_id", "target_member_id"]].tolist()  # 小红 replies to 阿明
    ['10002', '10001']
    >>> r.events.loc[4, "member_id"].startswith("name:")  # 小刚 never spoke: an id from the name
    True
    """
    path = Path(path)
    enc = _encoding_of(path)
    tried = [enc] if enc else ["utf-8", "gb18030"]
    messages: list[_Message] = []
    sections: list[str] = []
    used = tried[0]
    for i, enc_try in enumerate(tried):
        try:
            with open(path, encoding=enc_try, newline=None) as fh:
                messages, sections = _parse(path, fh)
            used = enc_try
            break
        except UnicodeDecodeError as exc:
            if i + 1 < len(tried):
                continue
            raise format_error(path, f"byte {exc.start} of a read block", "<encoding>",
                               f"not {enc_try} text ({exc.reason})") from None
    builder = EventBuilder("qq", group_id=group_id)
    builder.note(f"read as {used}")
    if len(sections) > 1:
        builder.note("chat sections (消息对象)", len(sections))
    default_group = group_id if group_id is not None else (sections[0] if sections else path.stem)
    if not sections and group_id is None:
        builder.note("group id from the file name (no 消息对象 line)")
    stamps = _utc(path, messages, tz, builder)

    # nicknames first (all of them), so names in text resolve to later speakers too; one book
    # per chat, as a group card (群名片) belongs to one group
    books: dict[str, NicknameBook] = {}
    names_of: dict[str, SystemNames] = {}
    last: dict[tuple[str, str], str] = {}
    for msg, ts in zip(messages, stamps, strict=True):
        if msg.member in SYSTEM_IDS:
            continue
        group = group_id if group_id is not None else (msg.group or default_group)
        key = (group, msg.member)
        prev = last.get(key)
        if prev != msg.nick:
            if prev is not None:
                builder.note("nickname changes")
            last[key] = msg.nick
            builder.nickname(msg.member, msg.nick, ts)
            book = books.get(group)
            if book is None:
                book = books[group] = NicknameBook()
            book.observe(msg.member, msg.nick, ts)

    capacity = schema.PLATFORM_CAPACITY["qq"]
    for g in dict.fromkeys([group_id] if group_id is not None else (sections or [default_group])):
        builder.group(g, capacity=capacity)

    event = builder.event
    for msg, ts in zip(messages, stamps, strict=True):
        group = group_id if group_id is not None else (msg.group or default_group)
        book = books.get(group)
        if book is None:
            book = books[group] = NicknameBook()
        eid = f"L{msg.line}"
        kind = msg.kind
        if kind == "system":
            names = names_of.get(group)
            if names is None:
                names = names_of[group] = SystemNames(builder, book=book)
            emit = _Emitter(builder, eid, ts, group)
            for t in msg.sys:
                _system(builder, names, t, emit, ts, group)
            continue
        if msg.title is not None and "群主" in msg.title:
            builder.group(group, owner_id=msg.member)
        if kind == "red_packet_send":
            event(eid, ts, msg.member, kind, group_id=group)
            continue
        targets: list[tuple[int, str]] = []
        if msg.cands:
            targets = mention_targets(builder, msg.cands, ts, msg.member, book)
        if msg.lead and targets and targets[0][0] == 0:
            builder.note("reply targets from a leading @name")
            event(eid, ts, msg.member, "reply", group_id=group, target=targets[0][1],
                  text_len=msg.text_len)
        else:
            event(eid, ts, msg.member, kind, group_id=group, text_len=msg.text_len)
        for k, (_, t) in enumerate(targets, 1):
            event(f"{eid}.mention{k}", ts, msg.member, "mention", group_id=group, target=t, ref=eid)
    for names in names_of.values():
        names.finish()
    for book in books.values():
        for what, n in book.misses.items():
            builder.note(f"names in text {what}", n)
    return builder.result(path)


__all__ = ["HEADER_LINE", "SYSTEM_IDS", "read_qq"]
