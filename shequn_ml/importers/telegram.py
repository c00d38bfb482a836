"""Telegram Desktop's JSON export (``result.json``), one chat or the whole account.

What this reads
---------------
Telegram Desktop → Settings → Advanced → Export Telegram data (or a chat's menu →
Export chat history) with format "Machine-readable JSON" writes ``result.json``.
The layout followed here is the one its writer produces, ``JsonWriter`` and
``SerializeMessage`` in tdesktop's
``Telegram/SourceFiles/export/output/export_output_json.cpp``
(https://github.com/telegramdesktop/tdesktop, read: the chat object ``{name, type,
id, messages}`` with ``type`` one of ``personal_chat``, ``bot_chat``,
``private_group``, ``private_supergroup``, ``public_supergroup``,
``private_channel``, ``public_channel``, ``saved_messages``; the account export
``{about, chats: {about, list: [...]}, left_chats: {...}}``; each message's
``id``, ``type`` (``message`` / ``service`` / ``unsupported``), ``date`` (local
wall time, no zone), ``date_unixtime`` (epoch seconds as a string), ``edited``,
``from`` / ``from_id`` (``user123``, ``channel456``) for messages and ``actor`` /
``actor_id`` with ``action`` for service messages, ``members`` (names) for
``invite_members``, ``remove_members`` and ``create_group``, ``inviter`` for
``join_group_by_link``, ``reply_to_message_id`` / ``reply_to_peer_id``,
``forwarded_from``, ``media_type``, ``photo``, ``text`` (a string, or a list of
strings and ``{type, text}`` parts), ``text_entities`` (``mention`` with text
``@username``, ``mention_name`` with ``user_id``, ``plain``, ``link``, ...) and, in
newer versions, ``reactions[{type, count, emoji, recent[{from, from_id, date}]}]``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import pandas as pd

from shequn_ml.importers._core import (
    EventBuilder,
    ImportFormatError,
    ImportResult,
    format_error,
    read_json,
    speaking_type,
    to_utc,
)

#: Chat types that are groups (a channel is a broadcast, a personal chat has two people).
GROUP_TYPES = frozenset({"private_group", "private_supergroup", "public_supergroup"})
#: Service actions that are not membership: counted as ``service: <action>``.
OTHER_ACTIONS = frozenset({
    "migrate_from_group", "migrate_to_supergroup", "pin_message", "edit_group_title",
    "edit_group_photo", "delete_group_photo", "clear_history", "create_channel", "score_in_game",
    "send_payment", "phone_call", "take_screenshot", "allow_sending_messages",
    "attach_menu_bot_allowed", "web_app_bot_allowed", "send_passport_values", "joined_telegram",
    "proximity_reached", "requested_phone_number", "group_call", "invite_to_group_call",
    "set_messages_ttl", "group_call_scheduled", "edit_chat_theme", "send_webview_data",
    "send_premium_gift", "topic_created", "topic_edit", "suggest_profile_photo", "requested_peer",
    "set_chat_wallpaper", "set_same_chat_wallpaper", "gift_code_prize", "giveaway_launch",
    "giveaway_results", "boost_apply", "refunded_payment", "send_stars_gift", "send_ton_gift",
    "stars_prize", "send_star_gift", "paid_messages_refund", "paid_messages_price_change",
    "todo_completions", "todo_append_tasks",
})
#: Service actions this importer turns into membership events.
MEMBERSHIP_ACTIONS = frozenset({"invite_members", "remove_members", "join_group_by_link",
                                "join_group_by_request", "create_group"})


def read_telegram(path: str | os.PathLike[str], *, tz: str = "UTC", chat: str | int | None = None,
                  group_id: str | None = None) -> ImportResult:
    """Read a Telegram Desktop ``result.json`` into the event contract.

    Parameters
    ----------
    path : path
        ``result.json`` of a single-chat export (``{name, type, id, messages}``) or of
        the whole account (``{chats: {list: [...]}, left_chats: ...}``).
    tz : str, default "UTC"
        Zone of the wall-clock times: ``date`` in exports too old to carry
        ``date_unixtime``, and the ``date`` of reactions. Telegram Desktop writes them
        in the exporting computer's zone, so pass that zone (``"Asia/Shanghai"``,
        ``"Europe/Moscow"``); ``date_unixtime`` needs none.
    chat : str or int, optional
        In an account export, the one chat to import, by name or id. Without it every
        group chat (``private_group``, ``private_supergroup``, ``public_supergroup``)
        is imported, each as its own group; the others are counted as skipped.
    group_id : str, optional
        The group id to use instead of the chat's id (one chat only).

    Returns
    -------
    ImportResult
        Events with member ids as in ``from_id`` (``user123``), groups keyed by chat
        id (``owner_id`` and ``created_at`` when the export holds ``create_group``;
        no capacity: 200,000 members per supergroup never binds), nicknames from
        ``from`` / ``actor``.

    Notes
    -----
    What maps to what:

    - A message: ``reply`` aimed at the author of ``reply_to_message_id`` (``ref`` =
      that message) when it is in the export; else ``question`` with a question mark,
      else ``message``; a forwarded message (``forwarded_from``) is a ``post``.
      Photos, stickers, files and voice messages are messages (their caption measured).
    - ``text_entities``: a ``mention_name`` (it carries ``user_id``) is a ``mention``
      of ``user<id>``; a ``mention`` (``@username``) is resolved through the names
      seen, so it resolves only where a member's shown name is the username.
    - ``reactions[].recent``: a ``reaction`` from each listed reactor to the author
      (at the reaction's ``date``, read in ``tz``); reactions counted beyond the
      listed ones are noted.
    - Service messages: ``invite_members`` is the actor's ``invite`` aimed at each
      member named plus that member's ``join`` (a member adding themselves, which is
      how joining a public group is written, is a ``join`` only);
      ``remove_members`` is each named member's ``removed`` (not the actor's), or a
      ``leave`` when the actor removed themselves; ``join_group_by_link`` is the
      actor's ``join`` plus the ``inviter``'s ``invite``; ``join_group_by_request``
      is a ``join``; ``create_group`` makes the actor the owner and invites the
      members named.

    Service messages name members by their display name, so those names are
    resolved through the names seen on their own messages and actions (the name a
    member carried then; tdesktop writes each peer's name as it was when the export
    ran, so a rename shows only across exports or slices of a long one). A member
    who never wrote or acted cannot be identified by name: that event is counted in
    ``skipped``, not guessed. Telegram has no red packets.

    Skipped and counted: other service actions (``service: pin_message``, ...), unknown
    ones (``service: unknown <action>``), ``unsupported`` messages, messages from a
    channel or without an author, and, in an account export, chats that are not
    groups.

    Raises
    ------
    ImportFormatError
        Not JSON, no ``messages`` / ``chats.list``, a message without ``id`` or
        ``type`` or a readable time, or a ``type`` the format does not have; the
        message names the file, the chat and message, and the field.
    ValueError
        ``chat`` matches no chat of the export, or ``group_id`` is given for several.

    Examples
    --------
    >>> import json, tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> export = {"name": "读书会", "type": "private_supergroup", "id": 42, "messages": [
    ...     {"id": 1, "type": "message", "date": "2024-01-01T08:00:00", "date_unixtime": "1704067200",
    ...      "from": "Ann", "from_id": "user1", "text": "hi all"},
    ...     {"id": 2, "type": "message", "date": "2024-01-01T08:01:00", "date_unixtime": "1704067260",
    ...      "from": "Bo", "from_id": "user2", "reply_to_message_id": 1, "text": "hello?"}]}
    >>> _ = (d / "result.json").write_text(json.dumps(export), encoding="utf-8")
    >>> r = read_telegram(d / "result.json")
    >>> r.events["event_type"].tolist(), r.events["target_member_id"].iloc[1]
    (['message', 'reply'], 'user1')
    """
    from shequn_ml.io import check_tz

    check_tz(tz)
    data = read_json(path)
    if not isinstance(data, Mapping):
        raise format_error(path, "top level", "<json>", "expected an object")
    b = EventBuilder("telegram")
    if "messages" in data:
        chats = [("top level", data)]
        single = True
    elif isinstance(data.get("chats"), Mapping) and "list" in data["chats"]:
        chats = []
        for key in ("chats", "left_chats"):
            lst = (data.get(key) or {}).get("list") or []
            if not isinstance(lst, list):
                raise format_error(path, key, "list", "expected a list of chats")
            chats += [(f"{key}.list[{i}]", c) for i, c in enumerate(lst)]
        single = False
    else:
        raise format_error(path, "top level", "messages",
                           "neither a chat export (messages) nor an account export (chats.list)")
    for where, c in chats:
        if not isinstance(c, Mapping):
            raise format_error(path, where, "<json>", "expected a chat object")
    if chat is not None:
        picked = [(w, c) for w, c in chats if str(c.get("id")) == str(chat) or c.get("name") == chat]
        if not picked:
            known = ", ".join(repr(c.get("name")) for _, c in chats[:10])
            raise ValueError(f"{path}: no chat named or numbered {chat!r}; chats: {known}")
        for _, c in chats:
            if not any(c is p for _, p in picked):
                b.skip("other chat", len(c.get("messages") or []))
        chats = picked
    elif not single:
        keep = []
        for w, c in chats:
            if c.get("type") in GROUP_TYPES:
                keep.append((w, c))
            else:
                b.skip(f"not a group chat ({c.get('type')})", len(c.get("messages") or []))
        chats = keep
    if group_id is not None and len(chats) > 1:
        raise ValueError(f"{path}: group_id= names one group, but {len(chats)} chats were selected; "
                         "pick one with chat=")
    for where, c in chats:
        _read_chat(b, c, path, where, tz, group_id)
    return b.result(source=path)


def _read_chat(b: EventBuilder, c: Mapping, path: str | os.PathLike[str], where: str, tz: str,
               group_id: str | None) -> None:
    if c.get("id") is None:
        raise format_error(path, where, "id", "missing")
    gid = group_id if group_id is not None else str(c["id"])
    label = f"chat {c.get('name')!r}"
    msgs = c.get("messages")
    if not isinstance(msgs, list):
        raise format_error(path, label, "messages", "expected a list")
    b.group(gid)
    # pass 1: times, authors and names, so names in service messages resolve at any time
    times: list[pd.Timestamp] = []
    author: dict[str, str] = {}
    for i, m in enumerate(msgs):
        at = f"{label}, message {i + 1}"
        if not isinstance(m, Mapping):
            raise format_error(path, at, "<json>", "expected a message object")
        if m.get("id") is None:
            raise format_error(path, at, "id", "missing")
        at = f"{label}, message {i + 1} (id {m['id']})"
        kind = m.get("type")
        if kind not in ("message", "service", "unsupported"):
            raise format_error(path, at, "type", f"expected message, service or unsupported, got {kind!r}")
        ts = _ts(m, path, at, tz) if kind != "unsupported" else None
        times.append(ts)
        if kind == "unsupported":
            continue
        who = _member(m.get("from_id") if kind == "message" else m.get("actor_id"))
        name = m.get("from") if kind == "message" else m.get("actor")
        if who is not None:
            if kind == "message":
                author[str(m["id"])] = who
            if name:
                b.nickname(who, str(name), ts)
        for rx in m.get("reactions") or []:
            for rc in (rx.get("recent") or []) if isinstance(rx, Mapping) else []:
                rwho = _member(rc.get("from_id")) if isinstance(rc, Mapping) else None
                if rwho is not None and rc.get("from"):
                    b.nickname(rwho, str(rc["from"]), _reaction_ts(rc, ts, tz))
    # pass 2: events
    for i, m in enumerate(msgs):
        at = f"{label}, message {i + 1} (id {m['id']})"
        kind = m["type"]
        if kind == "unsupported":
            b.skip("unsupported message")
        elif kind == "service":
            _service(b, m, times[i], gid, path, at)
        else:
            _message(b, m, times[i], gid, author, tz)


def _message(b: EventBuilder, m: Mapping, ts: pd.Timestamp, gid: str, author: Mapping[str, str],
             tz: str) -> None:
    raw = m.get("from_id")
    who = _member(raw)
    if who is None:
        b.skip("message from a channel (not a member)" if raw else "message without an author")
        return
    mid = str(m["id"])
    text = _plain(m.get("text"))
    target = ref = None
    if m.get("reply_to_message_id") is not None:
        rid = str(m["reply_to_message_id"])
        target = None if m.get("reply_to_peer_id") else author.get(rid)
        if target is None:
            b.note("reply target not in export")
        elif target == who:
            b.note("self reply kept as a message")
            target = None
        else:
            ref = rid
    if m.get("edited") or m.get("edited_unixtime"):
        b.note("edited messages (kept at their first time)")
    if m.get("forwarded_from") is not None and target is None:
        kind = "post"
    else:
        kind = speaking_type(text, is_reply=target is not None)
    b.event(mid, ts, who, kind, group_id=gid, target=target, ref=ref, text=text)
    done: set[str] = set()
    for k, ent in enumerate(_entities(m)):
        etype = ent.get("type")
        if etype == "mention_name":
            whom = _member(ent.get("user_id"))
            if whom is None:
                b.note("mention_name without user_id")
                continue
            b.note("mentions by user_id")
        elif etype == "mention":
            name = str(ent.get("text") or "").lstrip("@")
            whom = b.book.resolve(name, ts) if name else None
            if whom is None:
                continue
            b.note("mentions by @username resolved through names")
        else:
            continue
        if whom == who:
            b.skip("self mention")
        elif whom not in done:
            done.add(whom)
            b.event(f"{mid}:mention:{k}", ts, who, "mention", group_id=gid, target=whom, ref=mid)
    for i, rx in enumerate(m.get("reactions") or []):
        if not isinstance(rx, Mapping):
            continue
        recent = [rc for rc in rx.get("recent") or [] if isinstance(rc, Mapping)]
        try:
            extra = int(rx.get("count") or 0) - len(recent)
        except (TypeError, ValueError):
            extra = 0
        if extra > 0:
            b.note("reactions without a named reactor", extra)
        for j, rc in enumerate(recent):
            rwho = _member(rc.get("from_id"))
            if rwho is None:
                b.skip("reaction from a channel (not a member)")
            elif rwho == who:
                b.skip("self reaction")
            else:
                b.event(f"{mid}:reaction:{i}:{j}", _reaction_ts(rc, ts, tz), rwho,
                        "reaction", group_id=gid, target=who, ref=mid)


def _service(b: EventBuilder, m: Mapping, ts: pd.Timestamp, gid: str, path: str | os.PathLike[str],
             at: str) -> None:
    action = m.get("action")
    mid = str(m["id"])
    actor = _member(m.get("actor_id"))
    if action is None:
        b.skip("service: unknown (no action)")
        return
    if action not in MEMBERSHIP_ACTIONS:
        b.skip(f"service: {action}" if action in OTHER_ACTIONS else f"service: unknown {action}")
        if action == "create_channel" and actor is not None:
            b.group(gid, owner_id=actor, created_at=ts)
        return
    names = m.get("members") or []
    if not isinstance(names, list):
        raise format_error(path, at, "members", "expected a list of names")
    actor_name = b.book.name_at(actor, ts) if actor is not None else None
    if action in ("join_group_by_link", "join_group_by_request"):
        if actor is None:
            b.skip(f"service: {action} without an actor")
            return
        inviter_name = m.get("inviter")
        inviter = b.book.resolve(str(inviter_name), ts) if inviter_name else None
        if inviter_name and inviter is None:
            b.note("link inviter not identified by name")
        if inviter is not None and inviter != actor:
            b.event(f"{mid}:invite", ts, inviter, "invite", group_id=gid, target=actor)
        b.event(mid, ts, actor, "join", group_id=gid)
        return
    if action == "create_group":
        if actor is None:
            b.skip("service: create_group without an actor")
            return
        b.group(gid, owner_id=actor, created_at=ts)
        b.event(f"{mid}:join:owner", ts, actor, "join", group_id=gid)
    for k, name in enumerate(names):
        if not name:
            b.skip(f"service: {action}, member without a name")
            continue
        name = str(name)
        whom = actor if actor is not None and name.strip() == actor_name else b.book.resolve(name, ts)
        if whom is None:
            b.skip(f"service: {action}, member not identified by name")
            continue
        if action == "remove_members":
            if whom == actor:
                b.event(f"{mid}:leave:{k}", ts, whom, "leave", group_id=gid)
            else:
                b.event(f"{mid}:removed:{k}", ts, whom, "removed", group_id=gid)
            continue
        if whom == actor:
            if action == "invite_members":
                b.event(f"{mid}:join:{k}", ts, whom, "join", group_id=gid)
            continue
        if actor is not None:
            b.event(f"{mid}:invite:{k}", ts, actor, "invite", group_id=gid, target=whom)
        b.event(f"{mid}:join:{k}", ts, whom, "join", group_id=gid)


# --------------------------------------------------------------------------- small parts

def _member(v: object) -> str | None:
    """``from_id`` as a member id: ``user123`` (numbers from old exports get the prefix); None for
    channels and chats, which are not members."""
    if v is None or v == "" or isinstance(v, bool):
        return None
    if isinstance(v, (int, float)) or (isinstance(v, str) and v.isdigit()):
        return f"user{int(v)}"
    s = str(v)
    if s.startswith(("channel", "chat")):
        return None
    return s


def _ts(m: Mapping, path: str | os.PathLike[str], at: str, tz: str) -> pd.Timestamp:
    raw = m.get("date_unixtime")
    if raw not in (None, ""):
        if isinstance(raw, (int, float)) and not isinstance(raw, bool) or (
                isinstance(raw, str) and raw.strip().isdigit()):
            return pd.Timestamp(int(raw), unit="s", tz="UTC")
        raise format_error(path, at, "date_unixtime", f"expected epoch seconds, got {raw!r}")
    date = m.get("date")
    if date in (None, ""):
        raise format_error(path, at, "date_unixtime", "missing (and no date)")
    ts = to_utc([date], tz).iloc[0]
    if pd.isna(ts):
        raise format_error(path, at, "date", f"expected an ISO date-time, got {date!r}")
    return ts


def _reaction_ts(rc: Mapping, fallback: pd.Timestamp, tz: str) -> pd.Timestamp:
    date = rc.get("date")
    if not date:
        return fallback
    ts = to_utc([date], tz).iloc[0]
    return fallback if pd.isna(ts) else ts


def _plain(text: object) -> str:
    """The text of ``text``: a string, or a list of strings and ``{type, text}`` parts."""
    if isinstance(text, str):
        return text
    if isinstance(text, Sequence):
        return "".join(p if isinstance(p, str) else str(p.get("text") or "") if isinstance(p, Mapping)
                       else "" for p in text)
    return ""


def _entities(m: Mapping) -> list[Mapping]:
    ents = m.get("text_entities")
    if not isinstance(ents, list):
        ents = [p for p in m.get("text") or [] if isinstance(p, Mapping)] if isinstance(
            m.get("text"), list) else []
    return [e for e in ents if isinstance(e, Mapping)]


__all__ = ["GROUP_TYPES", "ImportFormatError", "read_telegram"]
