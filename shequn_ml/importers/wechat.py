"""WeChat group chats as exported by 留痕 / WeChatMsg (CSV) as the event contract.

WeChatMsg (the open-source PC tool later named 留痕 / MemoTrace, repository
``LC044/WeChatMsg``) decrypts the PC client's database and exports one chat per
CSV file, written with Python's ``csv`` module in ``utf-8-sig`` (UTF-8 with BOM,
so Excel opens it). Two headers exist:

* the older one (``app/util/exporter/exporter_csv.py``), one row per row of the
  client's ``MSG`` table plus the sender's contact::

      localId,TalkerId,Type,SubType,IsSender,CreateTime,Status,StrContent,StrTime,Remark,NickName,Sender

  ``CreateTime`` is unix seconds (``StrTime`` is the same instant formatted in the
  exporting computer's zone: this reader uses ``CreateTime``); ``Type`` /
  ``SubType`` are the client's message types; ``IsSender`` is 1 for the exporting
  user's own messages; ``Remark`` / ``NickName`` / ``Sender`` are, in a group chat,
  the sender's display name, account nickname and wxid (``msg[13]`` in the
  exporter); ``TalkerId`` is the chat.
* the newer one (``exporter/exporter_csv.py`` of the ``wxManager`` rewrite)::

      消息ID,类型,发送人,时间,内容,备注,昵称,更多信息

  ``消息ID`` is the message's server id, ``类型`` the type's Chinese name
  (``MessageType.name`` in ``wxManager/model/message.py``: 文本, 图片, 引用消息,
  红包, 转账, 系统消息, 拍一拍, ...), ``发送人`` the sender's display name, ``时间``
  the wall clock in the export's zone, ``内容`` the message as text (a quote is
  ``text\\n引用：name: quoted``, a red packet ``【红包】: title``), ``备注`` /
  ``昵称`` the sender's contact remark and nickname at export time. This header
  carries **no wxid**: a member's id is :func:`~shequn_ml.importers.qq.name_id` of
  their ``昵称`` (export-time account nickname; else ``发送人``), stable within one
  export; two accounts with one nickname become one member. Prefer the older
  header when the tool offers it.

Sources followed
----------------
* ``LC044/WeChatMsg``: ``app/util/exporter/exporter_csv.py`` (the older columns,
  ``utf-8-sig``, group rows take Remark/NickName/wxid from ``msg[13]``),
  ``app/DataBase/msg.py`` (``StrTime`` is ``strftime(... CreateTime, 'unixepoch',
  'localtime')``; ``TalkerId`` is not the sender in group chats),
  ``app/util/compress_content.py`` (``parser_reply``: a quote's XML
  ``appmsg/refermsg`` with ``displayname``, ``content``, and the ``chatusr`` /
  ``svrid`` of the quoted message).
* ``wxManager/model/message.py`` and ``exporter/exporter_csv.py`` in forks of the
  same repository (e.g. ``zprolab/WeChatMsg``): the newer columns, the type names,
  ``QuoteMessage.to_text`` (``{content}\\n引用：{display_name}: {quoted}``),
  ``RedEnvelopeMessage.to_text`` (``【红包】: {title}``), message types 49 with
  sub-type 57 (quote), 2000 (transfer), 2001 (red packet).
* The system message templates, from ``wechaty/puppet-padlocal``
  (``message-parser-room-join.ts``, ``-room-leave.ts``, ``-room-topic.ts``):
  ``"X"邀请"Y"加入了群聊``, ``你邀请"Y"加入了群聊``, ``"X"邀请你加入了群聊``,
  ``" Y"通过扫描"X"分享的二维码加入群聊``, ``"Y"通过扫描你分享的二维码加入群聊``,
  ``你将"Y"移出了群聊``, ``你被"X"移出群聊``, ``"X"修改群名为“N”``; ``"X"将"Y"移出了群聊``
  as in WeChat bots' room-leave tests; names of several invitees joined by ``、``.
  ``@name`` mentions end with U+2005 (a four-per-em space) in the client's text,
  as WeChat bots write them (``"@%s\\u2005%s"``).

Mapping
-------
=====================================  ==============================================
export                                 event contract
=====================================  ==============================================
``TalkerId`` ending in ``@chatroom``   ``group_id`` (else the file name without
                                       ``_utf8``; ``group_id=`` replaces it); groups
                                       table ``capacity`` 500
``Sender`` (wxid)                      ``member_id``; ``IsSender=1`` rows are
                                       ``self_id`` (default ``"self"``, noted)
``Remark`` or ``NickName`` / ``发送人``  the nickname display table (changes noted)
``localId`` / ``消息ID``                ``event_id`` (``wechat:123``; derived events
                                       ``wechat:123.mention1``, ``.join1``, ...)
Type 1 / 文本                          ``message`` (``question`` when it asks);
                                       ``reply`` when it starts with ``@name``
every ``@name``                        ``mention`` of that member, ``ref`` = message
Type 3, 34, 43, 47, 42, 48             ``message`` without ``text_len``
Type 49 (links, files, mini programs)  ``post``
Type 49/57 / 引用消息                   ``reply`` aimed at the quoted message's
                                       sender (``chatusr``, else the quoted name
                                       through the nickname book)
Type 49/2001 / 红包                     ``red_packet_send`` (amount unknown)
Type 49/2000 / 转账                     skipped, ``"transfer"`` (no contract type)
Type 10000 / 10002 / 系统消息           system templates (below)
=====================================  ==============================================

System messages (names are display names: resolved through the nickname book at
that time; ``你`` is the exporting user; a name no sender carried gets an id from a
hash of the name): invites give the inviter's ``invite`` aimed at each invitee and
the invitee's ``join``; ``将"Y"移出了群聊`` gives **Y's** ``removed``;
``"X"退出了群聊`` X's ``leave``; ``X领取了Y的红包`` X's ``red_packet_claim`` aimed at
Y; ``"X"已成为新群主`` sets the group's ``owner_id``; renames (``修改群名为``), recalls
(``撤回了一条消息``), pats (``拍了拍``) and every unknown text are counted in
``skipped``.
"""

from __future__ import annotations

import csv
import html
import io
import os
import re
from pathlib import Path

import pandas as pd

from shequn_ml import schema
from shequn_ml.importers._core import EventBuilder, ImportResult, format_error, speaking_type, to_utc
from shequn_ml.importers.qq import _AT, SystemNames, _Emitter, mention_targets, name_id, split_names

#: The older WeChatMsg CSV header.
LEGACY_COLUMNS = ("localId", "TalkerId", "Type", "SubType", "IsSender", "CreateTime", "Status",
                  "StrContent", "StrTime", "Remark", "NickName", "Sender")
#: The newer (wxManager) CSV header.
NEW_COLUMNS = ("消息ID", "类型", "发送人", "时间", "内容", "备注", "昵称", "更多信息")

_MEDIA_TYPES = {3: "image", 34: "voice", 43: "video", 47: "sticker", 42: "card", 48: "location"}
#: 类型 names of the newer header and what they become.
_NEW_KINDS = {
    "文本": "text", "引用消息": "quote", "红包": "red_packet", "转账": "transfer", "系统消息": "system",
    "图片": "media", "视频": "media", "语音": "media", "表情包": "media", "位置分享": "media",
    "个人/公众号名片": "media", "企业微信名片": "media",
    "文件": "post", "分享链接": "post", "小程序": "post", "视频号": "post", "音乐分享": "post",
    "收藏笔记": "post", "合并转发的聊天记录": "post",
    "拍一拍": "pat", "音视频通话": "call", "未知类型": "unknown",
}
_SKIP_REASONS = {"transfer": "transfer (no contract event type)", "pat": "pat (拍一拍)",
                 "call": "voice/video call", "unknown": "unknown message type"}

_Q = r'["“”]'
_W_RECALL = re.compile(r"撤回了一条消息")
_W_INVITE = re.compile(rf"^{_Q} ?(.+?){_Q}邀请{_Q}(.+){_Q}加入了群聊")
_W_YOU_INVITE = re.compile(rf"^你邀请{_Q}(.+){_Q}加入了群聊")
_W_INVITE_YOU_AND = re.compile(rf"^{_Q}(.+?){_Q}邀请你和{_Q}(.+?){_Q}加入了群聊")
_W_INVITE_YOU = re.compile(rf"^{_Q}(.+?){_Q}邀请你加入了群聊")
_W_QR = re.compile(rf"^{_Q} ?(.+?){_Q}通过扫描{_Q}(.+?){_Q}分享的二维码加入群聊")
_W_QR_YOU = re.compile(rf"^{_Q} ?(.+?){_Q}通过扫描你分享的二维码加入群聊")
_W_REMOVED = re.compile(rf"^(?:{_Q}.+?{_Q}|你)将{_Q}(.+){_Q}移出了群聊")
_W_YOU_REMOVED = re.compile(rf"^你被{_Q}(.+?){_Q}移出群聊")
_W_LEAVE = re.compile(rf"^{_Q}(.+?){_Q}(?:已)?退出了群聊")
_W_RENAME = re.compile(r"修改群名为")
_W_CLAIM = re.compile(r"^(.+?)领取了(.+?)的红包")
_W_OWNER = re.compile(rf"^(?:{_Q}(.+?){_Q}|(你))已成为新群主")
_W_PAT = re.compile(r"拍了拍")
_XML_FIELD = {f: re.compile(rf"<{f}>(?:<!\[CDATA\[)?(.*?)(?:\]\]>)?</{f}>", re.S)
              for f in ("title", "chatusr", "displayname", "svrid")}


def _decode(path: Path) -> tuple[str, str]:
    """The file's text and the encoding used: UTF-8 (with or without BOM), else GB18030."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig"), "utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as exc:
        raise format_error(path, f"byte {exc.start}", "<encoding>",
                           "neither UTF-8 nor GB18030 text") from None


def _int(path: Path, where: str, field: str, value: str, default: int | None = None) -> int:
    v = value.strip()
    if not v and default is not None:
        return default
    try:
        return int(v)
    except ValueError:
        raise format_error(path, where, field, f"expected an integer, got {value[:40]!r}") from None


class _Row:
    __slots__ = ("eid", "group", "kind", "line", "member", "nick", "quote_id", "quote_name",
                 "quote_user", "text", "ts")

    def __init__(self, eid: str, line: int, member: str, nick: str, group: str, kind: str,
                 text: str) -> None:
        self.eid, self.line, self.member, self.nick = eid, line, member, nick
        self.group, self.kind, self.text = group, kind, text
        self.quote_user: str | None = None
        self.quote_name: str | None = None
        self.quote_id: str | None = None
        self.ts: pd.Timestamp | None = None


def _records(path: Path, text: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and (first line, fields) of every record."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise format_error(path, "line 1", "<header>", "empty file") from None
    except csv.Error as exc:
        raise format_error(path, "line 1", "<header>", str(exc)) from None
    out = []
    start = reader.line_num + 1
    try:
        for fields in reader:
            if fields:
                out.append((start, fields))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise format_error(path, f"line {start}", "<csv>", str(exc)) from None
    return [h.strip() for h in header], out


def _quote_from_text(row: _Row, content: str) -> None:
    """``text\\n引用：name: quoted`` (wxManager's QuoteMessage.to_text)."""
    body, sep, rest = content.partition("\n引用：")
    if sep:
        row.text = body
        name, colon, _ = rest.partition(": ")
        if colon:
            row.quote_name = name.strip()


def _quote_from_xml(row: _Row, content: str) -> None:
    """The client's ``appmsg`` XML with ``refermsg`` (WeChatMsg's parser_reply)."""
    ref = content[content.find("<refermsg>"):]

    def field(name: str, where: str) -> str | None:
        m = _XML_FIELD[name].search(where)
        return html.unescape(m.group(1)).strip() if m and m.group(1).strip() else None

    title = field("title", content[:content.find("<refermsg>")])
    row.text = title or ""
    user = field("chatusr", ref)
    row.quote_user = user if user and not user.endswith("@chatroom") else None
    row.quote_name = field("displayname", ref)
    row.quote_id = field("svrid", ref)


def _legacy(path: Path, records: list[tuple[int, list[str]]], builder: EventBuilder,
            default_group: str, group_id: str | None,
            self_id: str) -> tuple[list[_Row], dict[str, set[str]]]:
    """Rows of the older header, and each account nickname's wxids (for names in system texts)."""
    rows: list[_Row] = []
    aliases: dict[str, set[str]] = {}
    secs: list[int] = []
    self_rows = 0
    for line, f in records:
        where = f"record at line {line}"
        if len(f) != len(LEGACY_COLUMNS):
            raise format_error(path, where, "<fields>",
                               f"expected {len(LEGACY_COLUMNS)} fields, got {len(f)}")
        local_id, talker, typ, sub, is_sender, created, _st, content, _str_time, remark, nick, sender = f
        if not local_id.strip():
            raise format_error(path, where, "localId", "missing")
        t = _int(path, where, "Type", typ)
        s = _int(path, where, "SubType", sub, default=0)
        mine = _int(path, where, "IsSender", is_sender, default=0) == 1
        secs.append(_int(path, where, "CreateTime", created))
        group = group_id if group_id is not None else (talker.strip() if "@chatroom" in talker
                                                          else default_group)
        if t == 1:
            kind = "text"
        elif t in _MEDIA_TYPES:
            kind = "media"
        elif t == 49:
            kind = {57: "quote", 2001: "red_packet", 2000: "transfer", 62: "pat"}.get(s, "post")
        elif t in (10000, 10002):
            kind = "system"
        elif t == 50:
            kind = "call"
        else:
            kind = "unknown"
        member = self_id if mine else sender.strip()
        if mine:
            self_rows += 1
        row = _Row(local_id.strip(), line, member, (remark or nick).strip(), group, kind, content)
        if not member and kind != "system":
            raise format_error(path, where, "Sender", "missing for a message not sent by the exporting user")
        if kind == "quote":
            if "<refermsg>" in content:
                _quote_from_xml(row, content)
            else:
                _quote_from_text(row, content)
        rows.append(row)
        if nick.strip() and member and kind != "system":
            aliases.setdefault(nick.strip(), set()).add(member)
    if self_rows:
        builder.note(f"messages by the exporting user under id {self_id!r} (IsSender=1)", self_rows)
    stamps = to_utc(secs, "UTC", unit="s")
    for row, ts in zip(rows, stamps, strict=True):
        if pd.isna(ts):
            raise format_error(path, f"record at line {row.line}", "CreateTime", "not unix seconds")
        row.ts = ts
    builder.note("times from CreateTime (unix seconds; StrTime ignored)")
    return rows, aliases


def _new(path: Path, records: list[tuple[int, list[str]]], builder: EventBuilder, group: str,
         tz: str) -> list[_Row]:
    """Rows of the newer header (member ids from the export-time nickname)."""
    rows: list[_Row] = []
    times: list[str] = []
    for line, f in records:
        where = f"record at line {line}"
        if len(f) < 5:
            raise format_error(path, where, "<fields>", f"expected {len(NEW_COLUMNS)} fields, got {len(f)}")
        f = f + [""] * (len(NEW_COLUMNS) - len(f))
        msg_id, type_name, shown, when, content, _remark, nick = (x.strip() for x in f[:7])
        content = f[4]
        if not msg_id:
            raise format_error(path, where, "消息ID", "missing")
        if not when:
            raise format_error(path, where, "时间", "missing")
        kind = _NEW_KINDS.get(type_name)
        if kind is None:
            builder.note(f"类型 {type_name!r} not known to this reader")
            kind = "unknown"
        account = nick or shown
        member = name_id(account) if account else ""
        if not member and kind != "system":
            raise format_error(path, where, "发送人", "missing for a member's message")
        row = _Row(msg_id, line, member, shown or nick, group, kind, content)
        if kind == "quote":
            _quote_from_text(row, content)
        rows.append(row)
        times.append(when)
    builder.note("member ids from the export-time 昵称 (this header has no wxid)")
    stamps = to_utc(times, tz)
    for row, ts, when in zip(rows, stamps, times, strict=True):
        if pd.isna(ts):
            raise format_error(path, f"record at line {row.line}", "时间",
                               f"expected a wall-clock time such as 2024-03-01 09:05:12, got {when[:40]!r}")
        row.ts = ts
    return rows


def _system(builder: EventBuilder, names: SystemNames, text: str, emit: _Emitter,
            ts: pd.Timestamp, group: str, self_id: str) -> None:
    """One WeChat system message as events, or a counted skip."""
    text = html.unescape(text).strip()
    if "<sysmsg" in text or "<revokemsg" in text:
        m = re.search(r"<replacemsg>(?:<!\[CDATA\[)?(.*?)(?:\]\]>)?</replacemsg>", text, re.S)
        text = m.group(1).strip() if m else text
    text = text.replace("$revoke$", "").strip()
    if _W_RECALL.search(text):
        builder.skip("recalled message")
        return

    def invite(inviter: str | None, invitees: list[str]) -> None:
        if not invitees:
            builder.skip("system message: name ambiguous")
        for who in invitees:
            if inviter is not None and inviter != who:
                emit("invite", inviter, who)
            emit("join", who)

    if (m := _W_QR.match(text)) is not None:
        return invite(names.resolve(m.group(2), ts), split_names(m.group(1), names, ts))
    if (m := _W_QR_YOU.match(text)) is not None:
        return invite(self_id, split_names(m.group(1), names, ts))
    if (m := _W_YOU_INVITE.match(text)) is not None:
        return invite(self_id, split_names(m.group(1), names, ts))
    if (m := _W_INVITE_YOU_AND.match(text)) is not None:
        return invite(names.resolve(m.group(1), ts), [self_id, *split_names(m.group(2), names, ts)])
    if (m := _W_INVITE_YOU.match(text)) is not None:
        return invite(names.resolve(m.group(1), ts), [self_id])
    if (m := _W_INVITE.match(text)) is not None:
        return invite(names.resolve(m.group(1), ts), split_names(m.group(2), names, ts))
    if (m := _W_YOU_REMOVED.match(text)) is not None:
        emit("removed", self_id)
        return
    if (m := _W_REMOVED.match(text)) is not None:
        for who in split_names(m.group(1), names, ts):
            emit("removed", who)
        return
    if (m := _W_LEAVE.match(text)) is not None:
        for who in split_names(m.group(1), names, ts):
            emit("leave", who)
        return
    if _W_RENAME.search(text):
        builder.skip("system message: group renamed")
        return
    if (m := _W_CLAIM.match(text)) is not None:
        claimer, sender = names.resolve(m.group(1), ts), names.resolve(m.group(2), ts)
        if claimer is None:
            builder.skip("system message: name ambiguous")
        else:
            emit("red_packet_claim", claimer, sender if sender != claimer else None)
        return
    if (m := _W_OWNER.match(text)) is not None:
        owner = self_id if m.group(2) else names.resolve(m.group(1), ts)
        if owner is not None:
            builder.group(group, owner_id=owner)
        builder.skip("system message: new owner (owner_id set)")
        return
    if _W_PAT.search(text):
        builder.skip("pat (拍一拍)")
        return
    builder.skip("system message: unknown")


def read_wechat(path: str | os.PathLike[str], *, tz: str = "Asia/Shanghai", group_id: str | None = None,
                self_id: str | None = None) -> ImportResult:
    """Read a WeChat group chat exported by 留痕 / WeChatMsg (CSV) into the event contract.

    Parameters
    ----------
    path : path
        One chat's ``.csv`` as WeChatMsg writes it (``聊天记录/<chat>/<chat>_utf8.csv``
        with the older header, ``<chat>.csv`` with the newer one). UTF-8 (with BOM,
        as written) is tried first, then GB18030 (a file re-saved by Excel on a
        Chinese system); ``notes`` say which was used.
    tz : str, default "Asia/Shanghai"
        The IANA zone of the newer header's ``时间`` wall clock. The older header's
        ``CreateTime`` is unix seconds and needs no zone.
    group_id : str, optional
        The group of every event; by default the ``TalkerId`` when it is a
        ``...@chatroom`` id, else the file name (without ``_utf8``).
    self_id : str, optional
        The member id of the exporting user (``IsSender=1`` rows and ``你`` in
        system messages); default ``"self"``.

    Returns
    -------
    ImportResult
        Events, members, groups (capacity 500), the nickname display table, and
        the skipped records by reason (transfers, pats, recalls, renames, unknown
        system texts).

    Raises
    ------
    ImportFormatError
        For a header that is neither WeChatMsg header, a record with the wrong
        number of fields, a missing id or sender, or a time that does not parse;
        the message names the file, the record's line and the field.

    Examples
    --------
    >>> import csv, tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "读书会_utf8.csv"
    >>> with open(f, "w", newline="", encoding="utf-8-sig") as fh:
    ...     w = csv.writer(fh)
    ...     w.writerows([LEGACY_COLUMNS,
    ...                  [1, "1@chatroom", 1, 0, 0, 1709255112, 2, "早上好", "", "阿明", "阿明", "wxid_a"],
    ...                  [2, "1@chatroom", 1, 0, 0, 1709255200, 2, "@阿明\u2005今天读哪章？", "",
    ...                   "小红", "红", "wxid_b"],
    ...                  [3, "1@chatroom", 10000, 0, 0, 1709255300, 4, '"阿明"邀请"小刚"加入了群聊', "",
    ...                   "", "", ""]])
    >>> r = read_wechat(f)
    >>> r.events["event_type"].tolist()
    ['message', 'reply', 'mention', 'invite', 'join']
    >>> r.events.loc[1, ["member_id", "target_member_id"]].tolist()
    ['wxid_b', 'wxid_a']
    """
    path = Path(path)
    text, encoding = _decode(path)
    header, records = _records(path, text)
    self_id = self_id or "self"
    builder = EventBuilder("wechat", group_id=group_id)
    builder.note(f"read as {encoding}")
    stem = path.stem[:-5] if path.stem.endswith("_utf8") else path.stem
    default_group = group_id if group_id is not None else stem
    if tuple(header[:len(LEGACY_COLUMNS)]) == LEGACY_COLUMNS:
        rows, aliases = _legacy(path, records, builder, default_group, group_id, self_id)
        if group_id is None and any("@chatroom" not in r.group for r in rows):
            builder.note("group id from the file name (TalkerId is not a chatroom id)")
    elif tuple(header[:5]) == NEW_COLUMNS[:5]:
        rows, aliases = _new(path, records, builder, default_group, tz), {}
        if group_id is None:
            builder.note("group id from the file name")
    else:
        raise format_error(path, "line 1", "<header>",
                           f"not a WeChatMsg CSV header: expected {','.join(LEGACY_COLUMNS)} or "
                           f"{','.join(NEW_COLUMNS)}, got {','.join(header)[:80]!r}")

    rows.sort(key=lambda r: r.ts.value)  # the export is in time order; keep it so if it is not
    last: dict[str, str] = {}
    for r in rows:
        if r.kind == "system" or not r.member or not r.nick:
            continue
        prev = last.get(r.member)
        if prev != r.nick:
            if prev is not None:
                builder.note("nickname changes")
            last[r.member] = r.nick
            builder.nickname(r.member, r.nick, r.ts)
    names = SystemNames(builder, self_id=self_id, aliases=aliases)
    for g in dict.fromkeys(r.group for r in rows):
        builder.group(g, capacity=schema.PLATFORM_CAPACITY["wechat"])

    seen: dict[str, int] = {}
    ids = {r.eid for r in rows}
    for r in rows:
        eid = r.eid
        if eid in seen:  # several MSG databases merged: local ids can repeat
            seen[eid] += 1
            eid = f"{eid}-{seen[eid]}"
            builder.note("repeated message ids given a suffix")
        else:
            seen[eid] = 1
        kind, ts, group, member = r.kind, r.ts, r.group, r.member
        if kind in _SKIP_REASONS:
            builder.skip(_SKIP_REASONS[kind])
            continue
        if kind == "system":
            _system(builder, names, r.text, _Emitter(builder, eid, ts, group), ts, group, self_id)
            continue
        if kind == "red_packet":
            builder.event(eid, ts, member, "red_packet_send", group_id=group)
            continue
        if kind == "media":
            builder.event(eid, ts, member, "message", group_id=group)
            continue
        if kind == "post":
            builder.event(eid, ts, member, "post", group_id=group)
            continue
        content = r.text or ""
        if kind == "text" and content.lstrip().startswith(("<msg", "<?xml")):
            builder.skip("text message holding XML")
            continue
        targets = []
        if "@" in content:
            targets = mention_targets(builder, [m.group(1) for m in _AT.finditer(content)], ts, member)
        target = ref = None
        if kind == "quote":
            if r.quote_user:
                target = r.quote_user
                builder.note("reply targets from the quoted message's sender")
            elif r.quote_name:
                known = builder.book.known(r.quote_name)
                target = builder.book.resolve(r.quote_name, ts) if known else None
                if target is not None:
                    builder.note("reply targets from the quoted name")
            if target is None:
                builder.note("quotes whose author could not be told")
            if r.quote_id is not None and r.quote_id in ids:
                ref = r.quote_id
        elif targets and content.lstrip().startswith("@") and targets[0][0] == 0:
            target = targets[0][1]
            builder.note("reply targets from a leading @name")
        if target == member:
            builder.note("self quotes kept as messages")
            target = None
        etype = speaking_type(content, is_reply=target is not None)
        builder.event(eid, ts, member, etype, group_id=group, target=target, ref=ref, text=content)
        for k, (_, t) in enumerate(targets, 1):
            builder.event(f"{eid}.mention{k}", ts, member, "mention", group_id=group, target=t, ref=eid)
    names.finish()
    return builder.result(path)


__all__ = ["LEGACY_COLUMNS", "NEW_COLUMNS", "read_wechat"]
