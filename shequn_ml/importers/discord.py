"""DiscordChatExporter's JSON export of one Discord channel.

What this reads
---------------
DiscordChatExporter (https://github.com/Tyrrrz/DiscordChatExporter) exports a
channel, thread or DM with ``--format Json`` as one file. The layout followed here
is the one its writer produces, ``JsonMessageWriter.cs``
(``DiscordChatExporter.Core/Exporting/``, read: the root ``{guild{id, name,
iconUrl}, channel{id, type, categoryId, category, name, topic}, dateRange,
exportedAt, messages[...], messageCount}``; each message's ``id``, ``type`` (the
``MessageKind`` name: ``Default``, ``RecipientAdd``, ``RecipientRemove``, ``Call``,
``ChannelNameChange``, ``ChannelIconChange``, ``ChannelPinnedMessage``,
``GuildMemberJoin``, ``ThreadCreated``, ``Reply``; a kind the exporter does not
name is written as its number), ``timestamp`` (ISO 8601 with offset),
``timestampEdited``, ``isPinned``, ``content``, ``author{id, name, discriminator,
nickname, color, isBot, roles, avatarUrl}``, ``attachments``, ``embeds``,
``stickers``, ``reactions[{emoji, count, users[{id, name, nickname, isBot}]}]``,
``mentions[{id, name, nickname, isBot}]`` and ``reference{type, messageId,
channelId, guildId}``). The meaning of ``RecipientAdd`` / ``RecipientRemove``
(the first mentioned user is the one added or removed; removing oneself is leaving)
follows its ``PlainTextMessageExtensions.GetFallbackContent``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

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

#: System message kinds that are not membership: counted as ``system message: <kind>``.
OTHER_KINDS = frozenset({"Call", "ChannelNameChange", "ChannelIconChange", "ChannelPinnedMessage",
                         "ThreadCreated"})
#: Kinds that are a member writing.
SPEAKING_KINDS = frozenset({"Default", "Reply"})


def read_discord(path: str | os.PathLike[str], *, tz: str = "UTC",
                 group_id: str | None = None) -> ImportResult:
    """Read a DiscordChatExporter JSON file (one channel) into the event contract.

    Parameters
    ----------
    path : path
        The ``.json`` file DiscordChatExporter wrote for one channel, thread or DM.
    tz : str, default "UTC"
        Zone for timestamps written without an offset (DiscordChatExporter writes the
        offset, so it matters only for hand-edited files).
    group_id : str, optional
        The group id to use instead of the channel id.

    Returns
    -------
    ImportResult
        The group is the channel (``group_id`` = channel id; a Discord server has
        no member cap to record, so no capacity); member ids are Discord user ids;
        each ``nickname`` (the server display name, else the user name) is in the
        nickname table at the time it was seen, so a nickname change shows as two
        rows.

    Notes
    -----
    What maps to what:

    - ``Default``: ``question`` with a question mark, ``post`` when it shares a link
      (an embed with a URL) or forwards a message, else ``message``. ``Reply``: a
      ``reply`` aimed at the author of ``reference.messageId`` (``ref`` = it) when
      that message is in the export, else by its text as ``Default``.
    - ``mentions``: a ``mention`` from the author to each user mentioned.
    - ``reactions[].users``: a ``reaction`` from each user to the author. The export
      has no reaction time, so it carries the message's time.
    - ``GuildMemberJoin``: the author's ``join``. ``RecipientAdd``: the author's
      ``invite`` aimed at the user added (the first mention) plus that user's
      ``join``. ``RecipientRemove``: the removed user's ``removed``, or the author's
      ``leave`` when they removed themselves.

    Skipped and counted: bot messages and bot reactions or mentions ("bot
    message", ...), other system messages (``system message: ChannelPinnedMessage``,
    ...), unknown kinds (``system message: unknown <kind>``), self-mentions and
    self-reactions. Discord has no red packets.

    Raises
    ------
    ImportFormatError
        Not JSON, no ``channel.id`` or ``messages``, a message without ``id``,
        ``type``, ``author.id`` or a readable ``timestamp``; the message names the
        file, the message and the field.

    Examples
    --------
    >>> import json, tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> export = {"guild": {"id": "1", "name": "Book club"}, "channel": {"id": "10", "name": "general"},
    ...     "messages": [
    ...     {"id": "100", "type": "GuildMemberJoin", "timestamp": "2024-01-01T08:00:00+00:00",
    ...      "content": "", "author": {"id": "7", "name": "ann", "nickname": "Ann", "isBot": False}},
    ...     {"id": "101", "type": "Default", "timestamp": "2024-01-01T08:01:00+00:00",
    ...      "content": "hello?", "author": {"id": "7", "name": "ann", "nickname": "Ann", "isBot": False}}]}
    >>> _ = (d / "general.json").write_text(json.dumps(export), encoding="utf-8")
    >>> read_discord(d / "general.json").events["event_type"].tolist()
    ['join', 'question']
    """
    from shequn_ml.io import check_tz

    check_tz(tz)
    data = read_json(path)
    if not isinstance(data, Mapping):
        raise format_error(path, "top level", "<json>", "expected an object")
    channel = data.get("channel")
    if not isinstance(channel, Mapping) or not channel.get("id"):
        raise format_error(path, "top level", "channel.id", "missing")
    msgs = data.get("messages")
    if not isinstance(msgs, list):
        raise format_error(path, "top level", "messages", "missing or not a list")
    gid = group_id if group_id is not None else str(channel["id"])
    b = EventBuilder("discord", group_id=gid)
    b.group(gid)
    # pass 1: times, authors, nicknames
    rows = []
    author_of: dict[str, str] = {}
    bots: set[str] = set()
    for i, m in enumerate(msgs):
        at = f"message {i + 1}"
        if not isinstance(m, Mapping):
            raise format_error(path, at, "<json>", "expected a message object")
        if not m.get("id"):
            raise format_error(path, at, "id", "missing")
        at = f"message {i + 1} (id {m['id']})"
        if not m.get("type"):
            raise format_error(path, at, "type", "missing")
        author = m.get("author")
        if not isinstance(author, Mapping) or not author.get("id"):
            raise format_error(path, at, "author.id", "missing")
        ts = _ts(m.get("timestamp"), tz, path, at)
        who = str(author["id"])
        author_of[str(m["id"])] = who
        if author.get("isBot"):
            bots.add(who)
        else:
            b.nickname(who, _display(author), ts)
        for u in m.get("mentions") or []:
            if isinstance(u, Mapping) and u.get("id") and not u.get("isBot"):
                b.nickname(str(u["id"]), _display(u), ts)
        rows.append((m, ts, who))
    # pass 2: events
    for m, ts, who in rows:
        kind = str(m["type"])
        if who in bots:
            b.skip("bot message")
            continue
        mid = str(m["id"])
        if kind in SPEAKING_KINDS:
            _speak(b, m, mid, ts, who, kind, author_of, bots)
        elif kind == "GuildMemberJoin":
            b.event(mid, ts, who, "join")
        elif kind in ("RecipientAdd", "RecipientRemove"):
            _recipient(b, m, mid, ts, who, kind)
        elif kind in OTHER_KINDS:
            b.skip(f"system message: {kind}")
        else:
            b.skip(f"system message: unknown {kind}")
    return b.result(source=path)


def _speak(b: EventBuilder, m: Mapping, mid: str, ts: pd.Timestamp, who: str, kind: str,
           author_of: Mapping[str, str], bots: set[str]) -> None:
    text = str(m.get("content") or "")
    ref_msg = m.get("reference") if isinstance(m.get("reference"), Mapping) else {}
    forward = ref_msg.get("type") == "Forward" or m.get("forwardedMessage") is not None
    target = ref = None
    if kind == "Reply" and not forward:
        rid = ref_msg.get("messageId")
        target = author_of.get(str(rid)) if rid else None
        if target is None:
            b.note("reply target not in export")
        elif target in bots:
            b.note("reply to a bot kept as a message")
            target = None
        elif target == who:
            b.note("self reply kept as a message")
            target = None
        else:
            ref = str(rid)
    if target is not None:
        etype = "reply"
    elif forward or any(isinstance(e, Mapping) and e.get("url") for e in m.get("embeds") or []):
        etype = "post"
    else:
        etype = speaking_type(text)
    b.event(mid, ts, who, etype, target=target, ref=ref, text=text)
    done: set[str] = set()
    for k, u in enumerate(m.get("mentions") or []):
        if not isinstance(u, Mapping) or not u.get("id"):
            continue
        whom = str(u["id"])
        if u.get("isBot") or whom in bots:
            b.skip("bot mention")
        elif whom == who:
            b.skip("self mention")
        elif whom not in done:
            done.add(whom)
            b.event(f"{mid}:mention:{k}", ts, who, "mention", target=whom, ref=mid)
    for i, rx in enumerate(m.get("reactions") or []):
        if not isinstance(rx, Mapping):
            continue
        users = [u for u in rx.get("users") or [] if isinstance(u, Mapping) and u.get("id")]
        try:
            extra = int(rx.get("count") or 0) - len(users)
        except (TypeError, ValueError):
            extra = 0
        if extra > 0:
            b.note("reactions without a listed user", extra)
        for j, u in enumerate(users):
            rwho = str(u["id"])
            if u.get("isBot") or rwho in bots:
                b.skip("bot reaction")
            elif rwho == who:
                b.skip("self reaction")
            else:
                b.nickname(rwho, _display(u), ts)
                b.event(f"{mid}:reaction:{i}:{j}", ts, rwho, "reaction", target=who, ref=mid)


def _recipient(b: EventBuilder, m: Mapping, mid: str, ts: pd.Timestamp, who: str, kind: str) -> None:
    first = next((u for u in m.get("mentions") or [] if isinstance(u, Mapping) and u.get("id")), None)
    if first is None:
        b.skip(f"system message: {kind} without a recipient")
        return
    whom = str(first["id"])
    if kind == "RecipientAdd":
        if whom != who:
            b.event(f"{mid}:invite", ts, who, "invite", target=whom)
        b.event(mid, ts, whom, "join")
    elif whom == who:
        b.event(mid, ts, who, "leave")
    else:
        b.event(mid, ts, whom, "removed")


def _display(user: Mapping) -> str:
    return str(user.get("nickname") or user.get("name") or "")


def _ts(raw: object, tz: str, path: str | os.PathLike[str], at: str) -> pd.Timestamp:
    if raw in (None, ""):
        raise format_error(path, at, "timestamp", "missing")
    ts = to_utc([raw], tz).iloc[0]
    if pd.isna(ts):
        raise format_error(path, at, "timestamp", f"expected an ISO 8601 date-time, got {raw!r}")
    return ts


__all__ = ["ImportFormatError", "read_discord"]
