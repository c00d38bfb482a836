"""企业微信 会话内容存档 (WeCom chat archive), decrypted to JSON lines, plus group-member snapshots.

What this reads
---------------
An enterprise that enables 会话内容存档 pulls its members' chats with the archive SDK
(``GetChatData``, then ``DecryptData``); each decrypted record is one JSON object,
and SCRM tools and in-house scripts keep them one per line. The record layout
followed here is the official one, "获取会话内容" → 消息格式,
https://developer.work.weixin.qq.com/document/path/91774 (read: the common fields
``msgid``, ``action`` (``send`` / ``recall`` / ``switch``), ``from``, ``tolist``,
``roomid`` (empty for a 1:1 chat), ``msgtime`` (epoch milliseconds) and ``msgtype``,
with one body per type: 文本 ``text{content}``, 图片, 撤回消息 ``revoke{pre_msgid}``,
同意会话 ``agree`` / ``disagree``, 语音, 视频, 名片, 位置, 表情, 文件, 链接,
小程序 ``weapp``, 会话记录 ``chatrecord``, 待办 ``todo``, 投票 ``vote``, 填表
``collect``, 红包 ``redpacket{type, wish, totalcnt, totalamount}`` (amount in 分),
会议, 切换企业日志 (``action: switch``), 在线文档 ``docmsg``, ``markdown``, 图文
``news``, 日程 ``calendar``, 混合 ``mixed``, 互通红包 ``external_redpacket``,
视频号 ``sphfeed``, 音视频通话 ...). SCRM re-exports sometimes write ``msgtime`` as a
numeric string, which is accepted too.

Who joined, who invited whom and the group nicknames are not in the archive: they
come from the customer-group detail API, "获取客户群详情" ``externalcontact/groupchat/get``,
https://developer.work.weixin.qq.com/document/path/92122 (the same response is
documented for 代开发 apps at /document/path/96338; read: ``group_chat`` with
``chat_id``, ``name``, ``owner``, ``create_time``, ``member_list[{userid, type,
join_time, join_scene (1 直接邀请, 2 邀请链接, 3 扫描群二维码), invitor{userid},
group_nickname, name}]`` and ``admin_list``). Pass the saved response(s) as
``members=``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence

import pandas as pd

from shequn_ml import schema
from shequn_ml.importers._core import (
    EventBuilder,
    ImportFormatError,
    ImportResult,
    format_error,
    read_json,
    speaking_type,
    to_utc,
)

#: Message types that share content (a link, a mini-program, an article, a forwarded
#: chat record, a file, a Channels video): ``post`` events.
POST_TYPES = frozenset({"link", "weapp", "news", "docmsg", "doc", "chatrecord", "sphfeed", "file"})
#: Message types that are the member speaking without text to measure: ``message`` events.
PLAIN_TYPES = frozenset({"image", "voice", "video", "emotion", "location", "card", "todo", "vote",
                         "collect", "calendar", "meeting"})
#: Text-bearing types: ``message`` / ``question`` / ``reply`` by their text, plus mentions.
TEXT_TYPES = frozenset({"text", "markdown", "mixed"})
#: Red packets: ``red_packet_send`` with the amount in yuan.
RED_PACKET_TYPES = frozenset({"redpacket", "external_redpacket"})
#: Records that are not a member acting in the group, counted by these reasons.
NOTICE_TYPES = {
    "agree": "agreement notice (同意存档)",
    "disagree": "agreement notice (同意存档)",
    "revoke": "recalled message",
    "meeting_voice_call": "call record",
    "voip_doc_share": "call record",
    "voiptext": "call record",
    "meeting_notification": "meeting notice",
}
#: WeCom customer groups hold at most 500 members, like WeChat groups.
CAPACITY = schema.PLATFORM_CAPACITY["wechat"]
#: ``join_scene`` codes of ``groupchat/get``.
JOIN_SCENES = {1: "direct invite", 2: "invite link", 3: "QR code"}

_EVERYONE = ("所有人", "all", "All", "everyone")
_TOKEN = re.compile(r"[^\s\u2005\u2006@]+")


def read_wecom(path: str | os.PathLike[str], *,
               members: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
               tz: str = "Asia/Shanghai", group_id: str | None = None) -> ImportResult:
    """Read a decrypted 企业微信 会话内容存档 (one JSON record a line) into the event contract.

    Parameters
    ----------
    path : path
        The JSON-lines file: one decrypted archive record per line (blank lines are
        ignored). Records without ``roomid`` are 1:1 chats and are skipped; every
        ``roomid`` is a group.
    members : path or list of paths, optional
        Saved ``groupchat/get`` responses (``{"group_chat": {...}}``; a file may also
        hold a list of them, one per group). Several files of the same group taken at
        different times show nickname changes: put ``"snapshot_time"`` (epoch seconds;
        an extension, the API does not return it) at the top of each to date its
        names, otherwise names count from each member's ``join_time``.
    tz : str, default "Asia/Shanghai"
        Zone of wall-clock text times (some SCRM re-exports write ``msgtime`` or
        ``join_time`` as ``2024-03-01 09:30:00``). Epoch times need no zone.
    group_id : str, optional
        Import only this ``roomid`` (the others are counted as "other group chat").

    Returns
    -------
    ImportResult
        Events, members (``joined_at``, ``invited_by``), groups (``owner_id``,
        ``created_at``, capacity 500), nicknames, and what was skipped.

    Notes
    -----
    What maps to what:

    - ``text`` / ``markdown`` / ``mixed``: ``message``, or ``question`` with a question
      mark; a text that opens with ``@昵称`` is a ``reply`` aimed at that member. Every
      ``@昵称`` resolved through the snapshot names (the one the member carried then)
      is a ``mention`` event from the author (``ref`` = the message). ``@所有人`` is
      not a member and is only counted.
    - ``redpacket`` / ``external_redpacket``: ``red_packet_send``, amount =
      ``totalamount / 100`` (分 to 元). The archive does not record who claimed a
      share, so there are no ``red_packet_claim`` events.
    - ``link``, ``weapp``, ``news``, ``docmsg``, ``chatrecord``, ``sphfeed``, ``file``:
      ``post``. Images, voice, video, stickers, location, cards, todo, vote, forms,
      calendar and meetings: ``message`` without ``text_len``.
    - Snapshot: ``join_time`` is the member's ``join``; ``invitor`` is the inviter's
      ``invite`` aimed at the member (``join_scene`` 1 direct invite, 2 invite link,
      3 QR code); ``owner`` is ``groups.owner_id``; ``group_nickname`` (else ``name``)
      goes to the nickname table.
    - SCRM extension: departed members, as entries with ``deleted_time`` (epoch
      seconds) and ``quit_scene`` in ``member_list`` or in a ``deleted_member_list``
      / ``quit_member_list`` beside it. ``quit_scene`` 0 (left by themselves) is the
      member's ``leave``, 1 (removed by the owner or an admin) the member's
      ``removed``; the codes are those of the official 客户群变更事件 callback. The
      official API lists current members only.

    Skipped and counted: ``action: recall`` ("recalled message"), ``action: switch``
    ("switched enterprise"), 1:1 chats ("not a group chat"), agreement notices, call
    records, unknown message types ("message type: unknown <type>").

    Raises
    ------
    ImportFormatError
        A line that is not JSON or not an object, a missing ``msgid`` / ``action`` /
        ``from`` / ``msgtime`` / ``msgtype``, an unreadable time or amount; the message
        names the file, the line and the field.

    Examples
    --------
    >>> import json, tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> rows = [{"msgid": "m1", "action": "send", "from": "u1", "tolist": ["u2"], "roomid": "r1",
    ...          "msgtime": 1704067200000, "msgtype": "text", "text": {"content": "大家好"}},
    ...         {"msgid": "m2", "action": "send", "from": "u2", "tolist": ["u1"], "roomid": "r1",
    ...          "msgtime": 1704067260000, "msgtype": "redpacket",
    ...          "redpacket": {"type": 2, "wish": "恭喜发财", "totalcnt": 5, "totalamount": 1000}}]
    >>> _ = (d / "chat.jsonl").write_text("\\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    >>> r = read_wecom(d / "chat.jsonl")
    >>> r.events[["member_id", "event_type", "amount"]].to_dict("records")
    [{'member_id': 'u1', 'event_type': 'message', 'amount': nan}, \
{'member_id': 'u2', 'event_type': 'red_packet_send', 'amount': 10.0}]
    """
    from shequn_ml.io import check_tz

    check_tz(tz)
    b = EventBuilder("wecom")
    names: set[str] = set()
    seen: set[str] = set()
    snapshots = [members] if isinstance(members, (str, os.PathLike)) else list(members or [])
    for snap in snapshots:
        _read_snapshot(b, names, seen, snap, tz, group_id)
    _read_archive(b, names, seen, path, tz, group_id)
    return b.result(source=path)


# --------------------------------------------------------------------------- snapshot

def _read_snapshot(b: EventBuilder, names: set[str], seen: set[str], path: str | os.PathLike[str],
                   tz: str, only: str | None) -> None:
    data = read_json(path)
    chats = data if isinstance(data, list) else [data]
    for k, resp in enumerate(chats):
        where = f"record {k + 1}" if isinstance(data, list) else "top level"
        if not isinstance(resp, Mapping):
            raise format_error(path, where, "group_chat", "expected a groupchat/get response object")
        chat = resp.get("group_chat", resp if "chat_id" in resp else None)
        if not isinstance(chat, Mapping):
            raise format_error(path, where, "group_chat", "missing")
        gid = chat.get("chat_id")
        if not gid:
            raise format_error(path, f"{where} group_chat", "chat_id", "missing")
        gid = str(gid)
        if only is not None and gid != only:
            b.skip("snapshot of another group", 1)
            continue
        snap_ts = _time(resp.get("snapshot_time"), "s", tz, path, where, "snapshot_time", optional=True)
        created = _time(chat.get("create_time"), "s", tz, path, f"{where} group_chat", "create_time",
                        optional=True)
        b.group(gid, owner_id=_opt_str(chat.get("owner")), created_at=created, capacity=CAPACITY)
        admins = chat.get("admin_list") or []
        if admins and _first(seen, f"admins:{gid}"):
            b.note("group admins listed (not in the contract)", len(admins))
        current = chat.get("member_list") or []
        departed = [*(chat.get("deleted_member_list") or []), *(chat.get("quit_member_list") or [])]
        for label, rows in (("member_list", current), ("deleted_member_list", departed)):
            if not isinstance(rows, list):
                raise format_error(path, f"{where} group_chat", label, "expected a list")
            for i, m in enumerate(rows):
                _snapshot_member(b, names, seen, m, gid, snap_ts, tz, path,
                                 f"{where} group_chat.{label}[{i}]")


def _snapshot_member(b: EventBuilder, names: set[str], seen: set[str], m: object, gid: str,
                     snap_ts: pd.Timestamp | None, tz: str, path: str | os.PathLike[str],
                     where: str) -> None:
    if not isinstance(m, Mapping):
        raise format_error(path, where, "userid", "expected a member object")
    uid = m.get("userid")
    if not uid:
        raise format_error(path, where, "userid", "missing")
    uid = str(uid)
    joined = _time(m.get("join_time"), "s", tz, path, where, "join_time", optional=True)
    left = _time(m.get("deleted_time"), "s", tz, path, where, "deleted_time", optional=True)
    named_at = snap_ts if snap_ts is not None else joined
    nick = m.get("group_nickname") or m.get("name")
    if nick and named_at is not None:
        b.nickname(uid, str(nick), named_at)
        names.add(str(nick).strip())
    elif nick:
        b.note("nickname without a time (no join_time or snapshot_time)")
    base = f"member:{gid}:{uid}"
    if joined is not None and _first(seen, f"{base}:join"):
        scene = m.get("join_scene")
        b.note(f"join scene: {JOIN_SCENES.get(scene, f'unknown {scene}')}")
        inviter = (m.get("invitor") or {}).get("userid") if isinstance(m.get("invitor"), Mapping) else None
        if inviter and str(inviter) != uid:
            b.event(f"{base}:invite", joined, str(inviter), "invite", group_id=gid, target=uid)
        b.event(f"{base}:join", joined, uid, "join", group_id=gid)
    elif joined is None:
        b.member(uid, gid)
    if left is not None and _first(seen, f"{base}:exit"):
        scene = m.get("quit_scene")
        if scene in (1, "1"):
            b.event(f"{base}:exit", left, uid, "removed", group_id=gid)
        else:
            if scene not in (0, "0"):
                b.note("exit without quit_scene taken as leave")
            b.event(f"{base}:exit", left, uid, "leave", group_id=gid)


def _first(seen: set[str], event_id: str) -> bool:
    """Whether ``event_id`` is new (a later snapshot or a re-pulled record repeats events)."""
    if event_id in seen:
        return False
    seen.add(event_id)
    return True


# --------------------------------------------------------------------------- archive

def _read_archive(b: EventBuilder, names: set[str], seen: set[str], path: str | os.PathLike[str],
                  tz: str, only: str | None) -> None:
    by_length = sorted(names, key=len, reverse=True)
    with open(path, encoding="utf-8-sig") as fh:
        for n, line in enumerate(_lines(fh, path), start=1):
            if not line.strip():
                continue
            where = f"line {n}"
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise format_error(path, where, "<json>", exc.msg) from None
            if not isinstance(rec, dict):
                raise format_error(path, where, "<json>", "expected one JSON object per line")
            _record(b, by_length, seen, rec, path, where, tz, only)


def _lines(fh, path: str | os.PathLike[str]) -> Iterable[str]:
    n = 0
    while True:
        try:
            line = fh.readline()
        except UnicodeDecodeError:
            raise format_error(path, f"line {n + 1}", "<encoding>", "not UTF-8 text") from None
        if not line:
            return
        n += 1
        yield line


def _record(b: EventBuilder, names: list[str], seen: set[str], rec: dict, path: str | os.PathLike[str],
            where: str, tz: str, only: str | None) -> None:
    msgid = str(_req(rec, "msgid", path, where))
    action = _req(rec, "action", path, where)
    if not _first(seen, f"msg:{msgid}"):
        b.skip("duplicate record (same msgid)")
        return
    if action == "switch":
        b.skip("switched enterprise")
        return
    if action == "recall":
        b.skip("recalled message")
        return
    if action != "send":
        b.skip(f"action: unknown {action}")
        return
    sender = str(_req(rec, "from", path, where))
    ts = _time(_req(rec, "msgtime", path, where), "ms", tz, path, where, "msgtime")
    msgtype = str(_req(rec, "msgtype", path, where))
    room = rec.get("roomid")
    if not room:
        b.skip("not a group chat")
        return
    room = str(room)
    if only is not None and room != only:
        b.skip("other group chat")
        return
    body = rec.get(msgtype)
    if msgtype in RED_PACKET_TYPES:
        packet = body if isinstance(body, Mapping) else rec.get("redpacket")
        if not isinstance(packet, Mapping):
            raise format_error(path, where, msgtype, "missing red packet body")
        fen = packet.get("totalamount")
        try:
            amount = None if fen is None else float(fen) / 100.0
        except (TypeError, ValueError):
            raise format_error(path, where, f"{msgtype}.totalamount",
                               f"expected an amount in 分, got {fen!r}") from None
        if amount is not None and amount < 0:
            raise format_error(path, where, f"{msgtype}.totalamount", f"negative amount {fen!r}")
        b.event(msgid, ts, sender, "red_packet_send", group_id=room, amount=amount)
    elif msgtype in TEXT_TYPES:
        text = _text_of(msgtype, body)
        _speak(b, names, msgid, ts, sender, room, text)
    elif msgtype in POST_TYPES:
        b.event(msgid, ts, sender, "post", group_id=room)
    elif msgtype in PLAIN_TYPES:
        b.event(msgid, ts, sender, "message", group_id=room)
    elif msgtype in NOTICE_TYPES:
        b.skip(NOTICE_TYPES[msgtype])
    else:
        b.skip(f"message type: unknown {msgtype}")


def _text_of(msgtype: str, body: object) -> str:
    if not isinstance(body, Mapping):
        return ""
    if msgtype == "text":
        return str(body.get("content") or "")
    if msgtype == "markdown":
        info = body.get("info")
        return str((info.get("content") if isinstance(info, Mapping) else body.get("content")) or "")
    # mixed: {"item": [{"type": "text", "content": "{\"content\": ...}"}, ...]}
    parts = []
    for item in body.get("item") or []:
        if isinstance(item, Mapping) and item.get("type") == "text":
            content = item.get("content")
            if isinstance(content, str):
                try:
                    content = json.loads(content)
                except json.JSONDecodeError:
                    parts.append(content)
                    continue
            if isinstance(content, Mapping):
                parts.append(str(content.get("content") or ""))
    return "".join(parts)


def _speak(b: EventBuilder, names: list[str], msgid: str, ts: pd.Timestamp, sender: str, room: str,
           text: str) -> None:
    mentioned = mentions_in(text, names)
    targets: list[str] = []
    reply_to = None
    for k, name in enumerate(mentioned):
        if name in _EVERYONE:
            b.note("mention of everyone (@所有人)")
            continue
        who = b.book.resolve(name, ts)
        if who is None:
            continue
        if who == sender:
            b.skip("self mention")
            continue
        if k == 0 and text.lstrip().startswith("@"):
            reply_to = who  # a text that opens with @昵称 answers that member
        if who not in targets:
            targets.append(who)
    if reply_to is not None:
        b.note("reply targets from @name")
    kind = speaking_type(text, is_reply=reply_to is not None)
    b.event(msgid, ts, sender, kind, group_id=room, target=reply_to, text=text)
    for i, who in enumerate(targets):
        b.event(f"{msgid}:mention:{i}", ts, sender, "mention", group_id=room, target=who, ref=msgid)


def mentions_in(text: str, names: Iterable[str]) -> list[str]:
    """The names ``@``-mentioned in ``text``: the longest known name after each ``@``.

    WeCom writes a mention as ``@昵称`` followed by a space (often U+2005); a
    nickname may itself contain spaces, so known names are matched first, longest
    first, and an unknown name is taken up to the next space.

    >>> mentions_in("@客服 小张 你好 @老王\\u2005在吗", ["客服 小张", "老王"])
    ['客服 小张', '老王']
    >>> mentions_in("email a@b.cn", [])
    []
    """
    known = sorted(set(names), key=len, reverse=True)
    out = []
    for m in re.finditer("@", text):
        i = m.start()
        if i > 0 and text[i - 1].isascii() and text[i - 1].isalnum():
            continue  # an e-mail address, not a mention
        rest = text[i + 1:]
        best = next((n for n in known if n and rest.startswith(n)), None)
        if best is None:
            tok = _TOKEN.match(rest)
            best = tok.group(0) if tok else None
        if best:
            out.append(best)
    return out


# --------------------------------------------------------------------------- small parts

def _req(rec: Mapping[str, object], key: str, path: str | os.PathLike[str], where: str) -> object:
    v = rec.get(key)
    if v is None or v == "":
        raise format_error(path, where, key, "missing")
    return v


def _opt_str(v: object) -> str | None:
    return None if v in (None, "") else str(v)


def _time(v: object, unit: str, tz: str, path: str | os.PathLike[str], where: str, field: str, *,
          optional: bool = False) -> pd.Timestamp | None:
    """An epoch number (``unit`` s or ms, also as digits in a string) or wall-clock text in ``tz``."""
    if v is None or v == "" or v == 0:
        if optional:
            return None
        raise format_error(path, where, field, "missing")
    if isinstance(v, bool):
        raise format_error(path, where, field, f"expected an epoch time, got {v!r}")
    if isinstance(v, (int, float)) or (isinstance(v, str) and v.strip().isdigit()):
        try:
            return pd.Timestamp(int(v), unit=unit, tz="UTC")
        except (ValueError, OverflowError, pd.errors.OutOfBoundsDatetime):
            raise format_error(path, where, field, f"epoch time out of range: {v!r}") from None
    ts = to_utc([v], tz).iloc[0]
    if pd.isna(ts):
        raise format_error(path, where, field, f"expected epoch {unit} or a date-time, got {v!r}")
    return ts


__all__ = ["ImportFormatError", "mentions_in", "read_wecom"]
