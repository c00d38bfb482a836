"""A Slack workspace export (the admin's "Export data" ZIP, unpacked or not) as the event contract.

What this reads
---------------
The layout Slack documents in "How to read Slack data exports",
https://slack.com/help/articles/220556107-How-to-read-Slack-data-exports (read: the
JSON export holds ``channels.json``, ``users.json``, ``integration_logs.json`` and,
for wider exports, ``groups.json`` (private channels), ``dms.json`` and
``mpims.json``; one folder per conversation with one ``YYYY-MM-DD.json`` file per
day, each a list of messages). The message fields are those of Slack's message
event, https://docs.slack.dev/reference/events/message and its subtype pages, as
typed in ``@slack/types`` ``events/message.ts`` (read: ``GenericMessageEvent``
with ``user``, ``text``, ``ts``, ``thread_ts``, ``parent_user_id``, ``reactions
[{name, count, users}]``, ``bot_id``; ``ChannelJoinMessageEvent`` with
``inviter``; ``ChannelLeaveMessageEvent``; ``BotMessageEvent``;
``ThreadBroadcastMessageEvent``; ``FileShareMessageEvent``; ``MeMessageEvent``;
channel topic / purpose / name / archive subtypes). A real export was read too:
houstondatavis/slack-export (2015-06 to 2016-07, 1,382 messages in 16 channel
folders), whose older messages carry the ``file_share`` / ``file_comment``
subtypes that current exports replaced by a ``files`` list.

``ts`` is epoch seconds with microseconds as a string (``"1433558319.000002"``)
and is also the message's id within its channel; a thread reply carries its
thread's ``thread_ts`` (the parent's ``ts``). Mentions are written in ``text`` as
``<@U061A1R2R>`` or ``<@U061A1R2R|micahstubbs>``; ``<!channel>``, ``<!here>`` and
``<!everyone>`` address everybody.
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath

import pandas as pd

from shequn_ml.importers._core import (
    EventBuilder,
    ImportResult,
    format_error,
    read_json,
    speaking_type,
)

#: A daily file of a conversation folder.
DAY_FILE = re.compile(r"^\d{4}-\d{2}-\d{2}\.json$")
#: A member mention in message text: ``<@U123>`` or ``<@U123|name>`` (``W`` ids on Enterprise Grid).
MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
#: Everyone-mentions: ``<!channel>``, ``<!here>``, ``<!everyone>`` (optionally ``|label``).
EVERYONE = re.compile(r"<!(?:channel|here|everyone)(?:\|[^>]*)?>")
#: Conversation metadata files of an export, in the order they are read.
META_FILES = ("channels.json", "groups.json", "mpims.json", "dms.json")

#: Subtypes that are a member speaking, and the event type they become.
SPEAKING_SUBTYPES = {None: "message", "me_message": "message", "thread_broadcast": "message",
                     "file_share": "post"}
#: Subtypes of joining and leaving a conversation.
JOIN_SUBTYPES = frozenset({"channel_join", "group_join"})
LEAVE_SUBTYPES = frozenset({"channel_leave", "group_leave"})
#: Known subtypes that are not a member's act in the contract (skipped, counted by name).
SYSTEM_SUBTYPES = frozenset({
    "bot_add", "bot_remove", "bot_enable", "bot_disable", "channel_archive", "channel_unarchive",
    "channel_name", "channel_purpose", "channel_topic", "channel_posting_permissions",
    "channel_convert_to_private", "channel_convert_to_public", "group_archive", "group_unarchive",
    "group_name", "group_purpose", "group_topic", "pinned_item", "unpinned_item", "reminder_add",
    "message_changed", "message_deleted", "message_replied", "tombstone", "joiner_notification",
    "slackbot_response", "ekm_access_denied", "sh_room_created", "sh_room_shared", "huddle_thread",
    "channel_canvas_updated", "file_mention", "assistant_app_thread",
})
#: The text of a leave that names who removed the member (not a documented subtype: Slack
#: records removals as ``channel_leave``; this shape is read when the text carries it).
_REMOVED_BY = re.compile(r"\bremoved\b.*?\bby <@([UW][A-Z0-9]+)(?:\|[^>]*)?>", re.IGNORECASE)
#: Link markup ``<https://...|label>``, dropped before looking for a question mark.
_LINK = re.compile(r"<[^<>]*>")
#: The uploader's name Slack writes at the start of a ``file_share`` text.
_UPLOADED = re.compile(r"^<@[UW][A-Z0-9]+(?:\|[^>]*)?>\s*")
SLACKBOT = "USLACKBOT"


class _Export:
    """The files of an export: a folder, or the ZIP Slack hands out."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.zip = zipfile.ZipFile(path) if path.is_file() else None
        if self.zip is not None:
            names = [n for n in self.zip.namelist() if not n.endswith("/")]
            # an export zipped with its folder: strip the common top folder
            tops = {PurePosixPath(n).parts[0] for n in names}
            self.root = tops.pop() + "/" if len(tops) == 1 and not any(
                n.count("/") == 0 for n in names) else ""
            self.names = {n[len(self.root):] for n in names if n.startswith(self.root)}

    def label(self, name: str) -> str:
        return f"{self.path}!{name}" if self.zip is not None else str(self.path / name)

    def exists(self, name: str) -> bool:
        return name in self.names if self.zip is not None else (self.path / name).is_file()

    def json(self, name: str) -> object:
        if self.zip is None:
            return read_json(self.path / name)
        raw = self.zip.read(self.root + name)
        try:
            return json.loads(raw.decode("utf-8-sig"))
        except json.JSONDecodeError as exc:
            raise format_error(self.label(name), f"line {exc.lineno} column {exc.colno}", "<json>",
                               exc.msg) from None
        except UnicodeDecodeError as exc:
            raise format_error(self.label(name), f"byte {exc.start}", "<encoding>",
                               "not UTF-8 text") from None

    def folders(self) -> dict[str, list[str]]:
        """Conversation folder -> its daily files (sorted), for folders holding any."""
        out: dict[str, list[str]] = {}
        if self.zip is not None:
            for n in self.names:
                parts = PurePosixPath(n).parts
                if len(parts) == 2:
                    out.setdefault(parts[0], []).append(parts[1])
        else:
            for d in self.path.iterdir():
                if d.is_dir():
                    out[d.name] = [f.name for f in d.iterdir() if f.is_file()]
        return {k: sorted(v) for k, v in out.items() if any(DAY_FILE.match(f) for f in v)}


def _epoch(value: object, label: str, where: str, field: str) -> pd.Timestamp:
    """Slack's ``"1433558319.000002"`` (or a number) as a UTC timestamp, exactly to the microsecond."""
    text = str(value).strip()
    m = re.fullmatch(r"(\d+)(?:\.(\d{1,9}))?", text)
    if m is None:
        raise format_error(label, where, field, f"expected epoch seconds such as '1433558319.000002', "
                           f"got {str(value)[:40]!r}")
    frac = (m.group(2) or "").ljust(9, "0")
    return pd.Timestamp(int(m.group(1)) * 1_000_000_000 + int(frac), tz="UTC")


def _display_name(user: Mapping[str, object]) -> str | None:
    profile = user.get("profile") if isinstance(user.get("profile"), Mapping) else {}
    for v in (profile.get("display_name"), user.get("real_name"), profile.get("real_name"), user.get("name")):
        if isinstance(v, str) and v.strip():
            return v.strip()
    return None


def read_slack_export(path: str | os.PathLike[str], *, tz: str = "UTC",
                      channels: Iterable[str] | None = None) -> ImportResult:
    """Read a Slack workspace export (folder or ZIP) into the event contract.

    A Slack workspace admin gets the export from *Workspace settings → Import/Export
    Data → Export*: a ZIP with ``users.json``, ``channels.json`` (plus
    ``groups.json``, ``dms.json``, ``mpims.json`` for wider exports) and one folder
    per conversation holding one ``YYYY-MM-DD.json`` file per day (a list of
    messages). Pass the unpacked folder or the ZIP itself.

    Parameters
    ----------
    path : path
        The export folder, or the ZIP file.
    tz : str, default "UTC"
        Slack's times are epoch seconds, so they carry no zone and ``tz`` changes
        nothing; it is checked (an unknown zone is an error) for symmetry with the
        other importers.
    channels : iterable of str, optional
        Only these conversations (folder names such as ``"general"``, or channel
        ids such as ``"C061A2UGJ"``); default: every folder with daily files.

    Returns
    -------
    ImportResult
        ``format`` ``"slack"``; every conversation is one group.

    Notes
    -----
    ==========================================  =============================================
    export                                      event contract
    ==========================================  =============================================
    a conversation folder                       one group; ``group_id`` is the **folder name**,
                                                i.e. the channel name (``"general"``; a DM
                                                folder is named by its id)
    ``channels.json`` ``creator`` / ``created``  the group's ``owner_id`` / ``created_at``
    ``channels.json`` ``members``               members-table rows of that group (members
                                                with no join in the history get no
                                                ``joined_at``)
    ``users.json`` display name                 the nickname table (``profile.display_name``,
                                                else ``real_name``, else ``name``); a
                                                message's own ``user_profile`` is a dated
                                                sighting
    a message (no subtype, ``me_message``)      ``message``, or ``question`` when its text
                                                (links removed) has a question mark
    ``file_share``                              ``post`` (the member shared a file)
    ``thread_ts`` != ``ts``, ``thread_broadcast``  ``reply``; target = ``parent_user_id``, else
                                                the author of the message whose ``ts`` is
                                                the ``thread_ts``; ``ref`` = that message
    ``file_comment``                            ``reply`` by ``comment.user`` to the file's
                                                owner ``file.user``
    ``<@U…>`` in ``text``                       a ``mention`` from the author to each member
                                                named (once per message; ``ref`` = it)
    ``reactions[].users``                       a ``reaction`` from each user, target = the
                                                message's author, ``ts`` = the message's
    ``channel_join`` / ``group_join``           ``join``; with ``inviter``, also the
                                                inviter's ``invite`` aimed at the member
    ``channel_leave`` / ``group_leave``         ``leave`` (``removed`` when the text says
                                                "removed ... by <@U…>", see below)
    ==========================================  =============================================

    Event ids are ``<channel>:<ts>`` (``ts`` is unique only within a channel);
    mentions, reactions and invites add ``:mention:<k>``, ``:reaction:<name>:<user>``
    and ``:invite``.

    Skipped and counted in ``skipped``: bot messages (``bot_message``, Slackbot,
    users with ``is_bot``) as ``"bot message"``; the known system subtypes
    (topic, purpose, rename, archive, pins, ``bot_add``, edits and deletions
    ``message_changed`` / ``message_deleted``, ...) as ``"system message:
    <subtype>"``; a subtype this importer does not know as ``"system message:
    unknown"`` (and ``notes["unknown subtype <name>"]``); self mentions and self
    reactions; reactions on messages not imported; a repeated ``ts`` in a channel
    (``"duplicate message (same ts)"``); files in a folder that are not daily
    files.

    Counted in ``notes``: reactions, because **Slack records no reaction time**
    (each is dated at its message: ``"reactions dated at their message"``);
    reactions Slack counted beyond the listed users; ``<!channel>`` / ``<!here>``;
    thread replies to one's own message or to a message not in the export (kept
    as ``message`` / ``question``, not replies); workspace admins and owners
    (``is_admin`` / ``is_owner``: the contract has no column for them; each
    channel's creator is its group's ``owner_id``); deleted users.

    Removals: Slack's export has no removal subtype; a member removed by an admin
    leaves a ``channel_leave`` record. When its text names the remover
    (``"<@U2> was removed from #x by <@U1>"``) the event is ``removed``
    (``notes["removals from leave text"]``); otherwise it is ``leave``.

    Raises
    ------
    ImportFormatError
        A file that is not JSON (names the file, line and column), a daily file
        that is not a list, a message without ``ts`` or with an unparseable one,
        a message without ``user`` that is no bot's (names the file, the record
        number, 1-based, and the field); ``users.json`` or all conversation lists
        missing.

    Examples
    --------
    >>> import json, tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> users = [{"id": "U1", "name": "ann"}, {"id": "U2", "name": "bob"}]
    >>> _ = (d / "users.json").write_text(json.dumps(users))
    >>> _ = (d / "channels.json").write_text(json.dumps([{"id": "C1", "name": "general", "creator": "U1"}]))
    >>> (d / "general").mkdir()
    >>> _ = (d / "general" / "2024-01-01.json").write_text(json.dumps([
    ...     {"type": "message", "user": "U1", "text": "hi <@U2>", "ts": "1704067200.000100",
    ...      "reactions": [{"name": "+1", "users": ["U2"], "count": 1}]},
    ...     {"type": "message", "user": "U2", "text": "hello", "ts": "1704067260.000200",
    ...      "thread_ts": "1704067200.000100", "parent_user_id": "U1"}]))
    >>> r = read_slack_export(d)
    >>> r.events[["member_id", "event_type", "target_member_id"]].fillna("-").values.tolist()
    [['U1', 'message', '-'], ['U1', 'mention', 'U2'], ['U2', 'reaction', 'U1'], ['U2', 'reply', 'U1']]
    >>> r.groups[["group_id", "owner_id"]].values.tolist()
    [['general', 'U1']]
    """
    from shequn_ml.io import check_tz

    check_tz(tz)
    root = Path(path)
    if not root.exists():
        raise format_error(root, "file", "<path>", "does not exist")
    export = _Export(root)
    if not export.exists("users.json"):
        raise format_error(export.label("users.json"), "file", "<file>",
                           "missing: a Slack export has users.json, channels.json and one folder per channel")
    users = export.json("users.json")
    if not isinstance(users, list):
        raise format_error(export.label("users.json"), "top level", "<json>", "expected a list of users")
    b = EventBuilder("slack")
    bots: set[str] = {SLACKBOT}
    names: dict[str, str] = {}
    admins = deleted = 0
    for i, u in enumerate(users):
        if not isinstance(u, Mapping) or not u.get("id"):
            raise format_error(export.label("users.json"), f"record {i + 1}", "id", "missing")
        uid = str(u["id"])
        if u.get("is_bot"):
            bots.add(uid)
        admins += bool(u.get("is_admin") or u.get("is_owner"))
        deleted += bool(u.get("deleted"))
        name = _display_name(u)
        if name:
            names[uid] = name

    meta: dict[str, Mapping[str, object]] = {}
    found_meta = False
    for fname in META_FILES:
        if not export.exists(fname):
            continue
        found_meta = True
        convs = export.json(fname)
        if not isinstance(convs, list):
            raise format_error(export.label(fname), "top level", "<json>", "expected a list of conversations")
        for i, c in enumerate(convs):
            if not isinstance(c, Mapping) or not (c.get("name") or c.get("id")):
                raise format_error(export.label(fname), f"record {i + 1}", "name", "missing")
            meta[str(c.get("name") or c.get("id"))] = c
    if not found_meta:
        raise format_error(export.label("channels.json"), "file", "<file>",
                           "missing: a Slack export lists its conversations in channels.json "
                           "(or groups.json, dms.json, mpims.json)")
    folders = export.folders()
    if channels is not None:
        wanted = {str(c) for c in channels}
        ids = {str(m.get("id")): name for name, m in meta.items() if m.get("id")}
        chosen = {ids.get(c, c) for c in wanted}
        unknown = sorted(c for c in chosen if c not in folders)
        if unknown:
            raise ValueError(f"{root}: no conversation folder {unknown}; the export has {sorted(folders)}")
        folders = {k: v for k, v in folders.items() if k in chosen}

    last_ts = pd.Timestamp(0, tz="UTC")
    for folder in sorted(folders):
        info = meta.get(folder)
        if info is None:
            b.note("conversation folder not in channels.json")
            info = {}
        created = info.get("created")
        b.group(folder, owner_id=str(info["creator"]) if info.get("creator") else None,
                created_at=_epoch(created, export.label("channels.json"), folder, "created")
                if created not in (None, "", 0, "0") else None)
        ts_seen = _read_channel(b, export, folder, folders[folder], bots, names)
        for uid in info.get("members") or []:
            b.member(str(uid), folder)
        if ts_seen is not None:
            last_ts = max(last_ts, ts_seen)
    for uid, name in names.items():
        if uid not in bots:
            b.nickname(uid, name, last_ts)  # users.json is a snapshot at the export
    if admins:
        b.note("workspace admins/owners in users.json (not in the contract)", admins)
    if deleted:
        b.note("deleted users in users.json", deleted)
    result = b.result(source=root)
    # the display table is per group; a user with no event in any group has no row there
    quiet = result.nicknames["group_id"].isna()
    if quiet.any():
        result.notes["display names of users with no event (not in the nickname table)"] += int(
            result.nicknames.loc[quiet, "member_id"].nunique())
        result.nicknames = result.nicknames.loc[~quiet].reset_index(drop=True)
    return result


def _read_channel(b: EventBuilder, export: _Export, folder: str, files: list[str], bots: set[str],
                  names: Mapping[str, str]) -> pd.Timestamp | None:
    """Add one conversation's events; return its latest message time."""
    msgs: list[tuple[pd.Timestamp, int, str, str, Mapping[str, object]]] = []
    for k, fname in enumerate(files):
        name = f"{folder}/{fname}"
        if not DAY_FILE.match(fname):
            b.skip("file not a daily YYYY-MM-DD.json")
            continue
        label = export.label(name)
        day = export.json(name)
        if not isinstance(day, list):
            raise format_error(label, "top level", "<json>", "expected a list of messages")
        for i, m in enumerate(day):
            where = f"record {i + 1}"
            if not isinstance(m, Mapping):
                raise format_error(label, where, "<json>", "expected a message object")
            if m.get("ts") in (None, ""):
                raise format_error(label, where, "ts", "missing")
            ts = _epoch(m["ts"], label, where, "ts")
            msgs.append((ts, k * 1_000_000 + i, label, where, m))
    msgs.sort(key=lambda r: (r[0], r[1]))
    authors: dict[str, str] = {}
    for _, _, _, _, m in msgs:
        if m.get("user") and str(m["ts"]) not in authors:
            authors[str(m["ts"])] = str(m["user"])
    seen: set[str] = set()
    for ts, _, label, where, m in msgs:
        key = str(m["ts"])
        if key in seen:
            b.skip("duplicate message (same ts)")
            continue
        seen.add(key)
        _message(b, folder, ts, key, label, where, m, bots, authors, names)
    return msgs[-1][0] if msgs else None


def _message(b: EventBuilder, g: str, ts: pd.Timestamp, key: str, label: str, where: str,
             m: Mapping[str, object], bots: set[str], authors: Mapping[str, str],
             names: Mapping[str, str]) -> None:
    sub = m.get("subtype")
    sub = str(sub) if sub else None
    eid = f"{g}:{key}"
    user = str(m["user"]) if m.get("user") else None
    reactions = m.get("reactions") or []
    if sub == "bot_message" or (user in bots) or (user is None and m.get("bot_id")):
        b.skip("bot message")
        _skip_reactions(b, reactions)
        return
    if sub in JOIN_SUBTYPES or sub in LEAVE_SUBTYPES:
        who = user or _required(m, "user", label, where)
        if sub in JOIN_SUBTYPES:
            inviter = m.get("inviter")
            if inviter and str(inviter) != who:
                b.event(f"{eid}:invite", ts, str(inviter), "invite", group_id=g, target=who)
            b.event(eid, ts, who, "join", group_id=g)
        else:
            text = str(m.get("text") or "")
            by = _REMOVED_BY.search(text)
            if by and by.group(1) != who:
                b.note("removals from leave text")
                b.event(eid, ts, who, "removed", group_id=g)
            else:
                b.event(eid, ts, who, "leave", group_id=g)
        _skip_reactions(b, reactions)
        return
    if sub == "file_comment":
        comment = m.get("comment") if isinstance(m.get("comment"), Mapping) else {}
        file = m.get("file") if isinstance(m.get("file"), Mapping) else {}
        author = user or (str(comment["user"]) if comment.get("user") else None)
        if author is None:
            raise format_error(label, where, "comment.user", "missing")
        owner = str(file["user"]) if file.get("user") else None
        text = str(comment.get("comment") or "")
        is_reply = owner is not None and owner != author and owner not in bots
        b.event(eid, ts, author, speaking_type(_LINK.sub("", text), is_reply=is_reply), group_id=g,
                target=owner if is_reply else None, text=text)
        _mentions(b, eid, ts, author, g, text)
        _reactions(b, eid, ts, author, g, reactions)
        return
    if sub not in SPEAKING_SUBTYPES:
        if sub in SYSTEM_SUBTYPES:
            b.skip(f"system message: {sub}")
        else:
            b.skip("system message: unknown")
            b.note(f"unknown subtype {sub}")
        _skip_reactions(b, reactions)
        return
    author = user or _required(m, "user", label, where)
    profile = m.get("user_profile")
    if isinstance(profile, Mapping):
        b.nickname(author, _display_name({"profile": profile, "real_name": profile.get("real_name"),
                                          "name": profile.get("name")}), ts)
    elif author not in names and m.get("username"):
        b.nickname(author, str(m["username"]).strip("<>@").split("|")[-1], ts)
    text = str(m.get("text") or "")
    thread = m.get("thread_ts")
    target = ref = None
    if thread and str(thread) != key:
        parent = m.get("parent_user_id") or authors.get(str(thread))
        if parent is None:
            b.note("thread reply whose parent is not in the export (kept as message)")
        elif str(parent) == author:
            b.note("thread reply to own message (kept as message)")
        elif str(parent) in bots:
            b.note("thread reply to a bot message (kept as message)")
        else:
            target, ref = str(parent), f"{g}:{thread}"
    elif sub == "thread_broadcast":
        b.note("thread broadcast without thread_ts (kept as message)")
    kind = SPEAKING_SUBTYPES[sub]
    if kind == "message" or target is not None:
        kind = speaking_type(_LINK.sub("", text), is_reply=target is not None)
    b.event(eid, ts, author, kind, group_id=g, target=target, ref=ref, text=text)
    # a file_share's text opens with Slack's own "<@U1|ann> uploaded a file:", no mention
    _mentions(b, eid, ts, author, g, _UPLOADED.sub("", text) if sub == "file_share" else text)
    _reactions(b, eid, ts, author, g, reactions)


def _required(m: Mapping[str, object], field: str, label: str, where: str) -> str:
    if not m.get(field):
        raise format_error(label, where, field, "missing")
    return str(m[field])


def _mentions(b: EventBuilder, eid: str, ts: pd.Timestamp, author: str, g: str, text: str) -> None:
    done: list[str] = []
    for uid in MENTION.findall(text):
        if uid == author:
            b.skip("self mention")
        elif uid not in done:
            done.append(uid)
    for k, uid in enumerate(done):
        b.event(f"{eid}:mention:{k}", ts, author, "mention", group_id=g, target=uid, ref=eid)
    n_all = len(EVERYONE.findall(text))
    if n_all:
        b.note("mention of everyone (<!channel>, <!here>, <!everyone>)", n_all)


def _reactions(b: EventBuilder, eid: str, ts: pd.Timestamp, author: str, g: str, reactions: object) -> None:
    if not isinstance(reactions, list):
        return
    for r in reactions:
        if not isinstance(r, Mapping):
            continue
        users = [str(u) for u in r.get("users") or []]
        name = str(r.get("name") or "?")
        for u in dict.fromkeys(users):
            if u == author:
                b.skip("self reaction")
                continue
            b.event(f"{eid}:reaction:{name}:{u}", ts, u, "reaction", group_id=g, target=author, ref=eid)
            b.note("reactions dated at their message")
        count = r.get("count")
        if isinstance(count, int) and count > len(users):
            b.note("reactions counted beyond the listed users (not events)", count - len(users))


def _skip_reactions(b: EventBuilder, reactions: object) -> None:
    n = sum(len(r.get("users") or []) for r in reactions if isinstance(r, Mapping)) \
        if isinstance(reactions, list) else 0
    if n:
        b.skip("reaction on a message not imported", n)


__all__ = ["read_slack_export"]
