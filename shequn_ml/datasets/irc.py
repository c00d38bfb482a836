"""IRC log slices with reply links (the Ubuntu ``events.csv.gz`` form) as the event contract.

The input is one CSV row per log line, as in the #ubuntu slices of Kummerfeld et
al., "A Large-Scale Corpus for Conversation Disentanglement" (ACL 2019), in the
form given in ``events.csv.gz`` (plain or gzipped CSV):

``sample`` (slice id), ``line`` (0-based line within the slice), ``date``
(``YYYY-MM-DD``), ``time`` (``HH:MM``), ``nick``, ``kind`` (``message``,
``action``, ``join``, ``leave``, ``nick_change``, ``mode``, ``other``) are
required; ``split``, ``cloak``, ``annotated``, ``reply_to_lines``,
``reply_to_nicks`` and ``text_len`` are used when present.

Mapping
-------
=========================  ======================================================
log                        event contract
=========================  ======================================================
a slice (``sample``)       a group; the groups table has one row per slice, with
                           ``created_at`` (its first line) and ``split``
``nick``                   ``member_id`` (surrounding spaces removed)
``message``, ``action``    ``reply`` aimed at the author of the first linked
                           line by another nick, when the line has reply links
                           (``reply_to_lines``); otherwise ``message``.
                           ``ref_event_id`` is the first linked line.
``join``, ``leave``        ``join``, ``leave``
``nick_change``, ``mode``, not events (counted in ``notes``); ``mode`` lines
``other``                  name the channel operators (below)
``sample`` + ``line``      ``event_id`` (``"2005-06-20.train-a#853"``)
``text_len``               ``text_len``
=========================  ======================================================

A reply's target is taken from the linked *line*, never from
``reply_to_nicks``: nicks may contain spaces (``Cal[] John``), so the
space-separated list of nicks is ambiguous, while line numbers are not. Links to a
line of the same nick (a continuation) make no reply. Lists of links may be
separated by spaces or ``;``. One line is one event, however many lines it links to.

Time
----
``ts`` is ``date`` + ``time``. Slices are read in line order, which is the order
of the log: a line without a time takes the previous line's (or, at the start,
the next one's), and each time the clock goes backwards the log is taken to have
wrapped past midnight: 24 hours are added from there on, or 12 hours in a slice
whose clock never shows an hour above 12 (the early logs use a 12-hour clock, e.g.
``12:59`` then ``01:00``). Times are minutes: lines in the same minute tie, and
line order breaks ties in the events table.

Leaders and bots
----------------
``leaders`` lists, per slice, every nick seen in that slice who is a channel
operator or an Ubuntu Member anywhere in the file:

* ``operator``: the nick set a channel mode (ops, voice, bans: the ``mode`` lines
  name the setter) in any slice; ``operator_here`` if in this slice;
* ``ubuntu_member``: some line of the nick carries an ``ubuntu/member/`` cloak
  (also ``.../ubuntu.member.x`` staff cloaks).

Status is taken as lasting across slices (a nick seen as an operator in one slice
is a leader in every slice it appears in); nick collisions over the years are
possible and not resolved. Services and bots are never leaders.

``bots`` lists every nick that is a bot: the known channel bots and services
(:data:`KNOWN_BOTS`: ubottu, ubotu, ubugtu, ubuntulog, ChanServ, NickServ, ...),
nicks with a ``/bot/`` cloak, and nicks matching :data:`BOT_PATTERN` (ending in
``bot`` or ``serv``, optionally followed by digits or underscores, e.g.
``FloodBot3``, ``MetaBot``). The pattern errs towards calling a bot-named human a
bot, which only removes them from leader rankings. Bots' lines stay events: they
are part of the channel; exclude them when ranking.

Errors
------
A missing column, a ``line`` that is not a whole number or repeats within a
slice, a date or time that does not parse, an unknown ``kind``, a missing nick,
a reply link that is not a line number or points to no earlier line of the slice,
or a ``text_len`` that is not a whole number raises
:class:`~shequn_ml.validation.EventValidationError` naming the file, the column
and the lines (``line 2`` is the first row after the header).

Examples
--------
>>> import tempfile, pathlib
>>> f = pathlib.Path(tempfile.mkdtemp()) / "events.csv"
>>> _ = f.write_text("sample,line,date,time,nick,kind,cloak,reply_to_lines,text_len\\n"
...     "s1,0,2005-06-20,12:58,op1,mode,,,20\\n"
...     "s1,1,2005-06-20,12:59,alice,message,,,30\\n"
...     "s1,2,2005-06-20,01:00,bob,message,,1,12\\n"
...     "s1,3,2005-06-20,01:01,ubottu,message,ubuntu/bot/ubottu,,80\\n")
>>> data = load_irc(f)
>>> data.events[["member_id", "event_type", "target_member_id"]].astype(object).fillna("-").values.tolist()
[['alice', 'message', '-'], ['bob', 'reply', 'alice'], ['ubottu', 'message', '-']]
>>> data.events["ts"].dt.strftime("%H:%M").tolist()  # a 12-hour clock wrapped
['12:59', '13:00', '13:01']
>>> data.leaders[["member_id", "operator"]].values.tolist(), data.bots["member_id"].tolist()
([['op1', True]], ['ubottu'])
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from shequn_ml.datasets._common import CommunityData, Problems
from shequn_ml.io import read_events, read_groups

REQUIRED = ("sample", "line", "date", "time", "nick", "kind")
OPTIONAL = ("split", "cloak", "annotated", "reply_to_lines", "reply_to_nicks", "text_len")
KINDS = ("message", "action", "join", "leave", "nick_change", "mode", "other")
#: Channel bots and network services, lower-case.
KNOWN_BOTS = frozenset({"ubottu", "ubotu", "ubugtu", "ubuntulog", "chanserv", "nickserv", "memoserv",
                        "operserv", "floodbot1", "floodbot2", "floodbot3", "floodbot4"})
#: Nicks that name themselves a bot or a service.
BOT_PATTERN = re.compile(r"(bot|serv)\d*_*$", re.IGNORECASE)
MEMBER_CLOAK = re.compile(r"(?:^|/)ubuntu[./]member[./]", re.IGNORECASE)
_HOUR = 3600 * 10**9


@dataclass
class IrcData(CommunityData):
    """IRC slices in the event contract (see :class:`~shequn_ml.datasets.CommunityData`).

    Attributes
    ----------
    leaders : DataFrame
        ``group_id``, ``member_id``, ``operator``, ``operator_here``,
        ``ubuntu_member``: the leaders seen in each slice (see the module notes).
    bots : DataFrame
        ``member_id``, ``reason`` (``known``, ``cloak`` or ``name``).
    """

    leaders: pd.DataFrame = field(default_factory=pd.DataFrame)
    bots: pd.DataFrame = field(default_factory=pd.DataFrame)


def is_bot(nick: str, cloak: str = "") -> bool:
    """Whether a nick is a bot or a service by the rules of the module notes.

    >>> is_bot("ubottu"), is_bot("FloodBot2"), is_bot("bottiger"), is_bot("x", "ubuntu/bot/x")
    (True, True, False, True)
    """
    return (nick.strip().lower() in KNOWN_BOTS or "/bot/" in cloak.lower()
            or bool(BOT_PATTERN.search(nick.strip())))


def _links(text: pd.Series) -> list[list[str]]:
    return [t.replace(";", " ").split() for t in text.tolist()]


def load_irc(path: str | os.PathLike[str], *, name: str | None = None) -> IrcData:
    """Read IRC log slices with reply links into the event contract, with leaders and bots.

    Parameters
    ----------
    path : path
        The CSV file (``.csv`` or ``.csv.gz``), one row per log line.
    name : str, optional
        How to name the file in messages (defaults to the path).

    Returns
    -------
    IrcData
        ``events``; ``groups`` (one row per slice: ``created_at``, and ``split``
        when the file has it); ``leaders``; ``bots``; ``notes`` counting the log
        lines not turned into events by kind, ``self_links`` (reply links to
        one's own lines only) and ``multi_links``.

    Raises
    ------
    EventValidationError
        Naming the file, the column and the first offending lines.
    """
    path = Path(path)
    label = name or str(path)
    problems = Problems(label)
    if not path.exists():
        problems.add("missing_file", None, "the file does not exist")
        problems.raise_if_errors()
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, compression="infer")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, OSError, UnicodeDecodeError, EOFError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        problems.add("unreadable", None, f"cannot be read as CSV: {first}")
        problems.raise_if_errors()
    missing = [c for c in REQUIRED if c not in raw.columns]
    for c in missing:
        problems.add("missing_column", c, f"required column is missing (an IRC slice file needs "
                     f"{', '.join(REQUIRED)}; the file has {', '.join(raw.columns)})")
    if len(raw) == 0 and not missing:
        problems.add("empty", None, "the file has a header but no rows")
    problems.raise_if_errors()
    for c in OPTIONAL:
        if c not in raw.columns:
            raw[c] = ""
    n = len(raw)
    labels = np.array([f"line {i + 2}" for i in range(n)], dtype=object)

    sample = raw["sample"].str.strip()
    problems.add_mask("null_id", "sample", "{n} rows have no sample (slice id)", (sample == "").to_numpy(),
                      labels, raw["sample"].to_numpy())
    line_num = pd.to_numeric(raw["line"], errors="coerce").to_numpy(dtype=float)
    bad_line = ~(np.isfinite(line_num) & (np.floor(line_num) == line_num) & (line_num >= 0))
    problems.add_mask("bad_line", "line", "{n} values are not line numbers (whole numbers >= 0)",
                      bad_line, labels, raw["line"].to_numpy())
    dup = ~bad_line & pd.DataFrame({"s": sample, "l": line_num}).duplicated(keep=False).to_numpy()
    problems.add_mask("duplicate_line", "line", "{n} rows repeat a line number of their slice", dup,
                      labels, raw["line"].to_numpy())
    kind = raw["kind"].str.strip().str.lower()
    problems.add_mask("unknown_kind", "kind", f"{{n}} rows have an unknown kind (known: {', '.join(KINDS)})",
                      ~kind.isin(KINDS).to_numpy(), labels, raw["kind"].to_numpy())
    nick = raw["nick"].str.strip()
    problems.add_mask("null_id", "nick", "{n} rows have no nick (only 'other' lines may lack one)",
                      ((nick == "") & (kind != "other")).to_numpy(), labels, raw["nick"].to_numpy())
    day = pd.to_datetime(raw["date"], format="%Y-%m-%d", errors="coerce")  # naive: UTC below
    problems.add_mask("unparseable_timestamp", "date", "{n} values are not dates (expected YYYY-MM-DD)",
                      day.isna().to_numpy(), labels, raw["date"].to_numpy())
    clock = raw["time"].str.strip()
    shaped = clock.str.fullmatch(r"\d{1,2}:\d{2}").to_numpy(dtype=bool)
    hours = pd.to_numeric(clock.str.slice(0, -3).where(shaped, None), errors="coerce").to_numpy(dtype=float)
    mins = pd.to_numeric(clock.str.slice(-2).where(shaped, None), errors="coerce").to_numpy(dtype=float)
    bad_time = (clock != "").to_numpy() & ~(shaped & (hours < 24) & (mins < 60))
    problems.add_mask("unparseable_timestamp", "time", "{n} values are not times (expected HH:MM)",
                      bad_time, labels, raw["time"].to_numpy())
    text_len = pd.to_numeric(raw["text_len"].replace("", None), errors="coerce")
    bad_len = (raw["text_len"] != "").to_numpy() & ~(
        (text_len >= 0) & (np.floor(text_len) == text_len)).to_numpy(dtype=bool, na_value=False)
    problems.add_mask("bad_text_len", "text_len", "{n} values are not whole numbers >= 0", bad_len, labels,
                      raw["text_len"].to_numpy())
    problems.raise_if_errors()

    # reply links: every one must be an earlier line of the same slice
    sample_arr = sample.to_numpy(dtype=object)
    row_of = {(s, int(v)): i for i, (s, v) in enumerate(zip(sample_arr, line_num, strict=True))}
    has_links = np.flatnonzero((raw["reply_to_lines"].str.strip() != "").to_numpy())
    links = dict(zip(has_links, _links(raw["reply_to_lines"].iloc[has_links]), strict=True))
    bad_link = np.zeros(n, bool)
    target_row = np.full(n, -1, np.int64)
    self_links = multi = 0
    nick_arr = nick.to_numpy(dtype=object)
    for i in has_links:
        toks = links[i]
        multi += len(toks) > 1
        rows = []
        for t in toks:
            r = row_of.get((sample_arr[i], int(t)), -1) if t.isdigit() and int(t) < line_num[i] else -1
            if r < 0:
                bad_link[i] = True
                break
            rows.append(r)
        if bad_link[i] or not rows:
            continue
        others = [r for r in rows if nick_arr[r] != nick_arr[i]]
        if others:
            target_row[i] = others[0]
        else:
            self_links += 1
        if target_row[i] < 0:
            target_row[i] = -2 - rows[0]  # no target; remember the referenced line
    problems.add_mask("bad_reply_link", "reply_to_lines",
                      "{n} reply links are not the line number of an earlier line of the same slice",
                      bad_link, labels, raw["reply_to_lines"].to_numpy())
    problems.raise_if_errors()

    # time: minutes from the date, in line order, with clock wraps
    order = np.lexsort((line_num, sample_arr))
    minutes = hours * 60 + mins
    frame = pd.DataFrame({"s": sample_arr, "min": minutes}).iloc[order]
    frame["min"] = frame.groupby("s", sort=False)["min"].transform(lambda m: m.ffill().bfill())
    back = (frame.groupby("s", sort=False)["min"].diff() < 0).astype(np.int64)
    wraps = back.groupby(frame["s"], sort=False).cumsum().to_numpy()
    twelve = frame.groupby("s", sort=False)["min"].transform("max").to_numpy() < 13 * 60
    offset_ns = (frame["min"].fillna(0).to_numpy() * 60 * 10**9).astype(np.int64) \
        + wraps * np.where(twelve, 12, 24) * _HOUR
    ts_ns = np.empty(n, np.int64)
    ts_ns[order] = day.to_numpy().astype("datetime64[ns]").view(np.int64)[order] + offset_ns

    # events
    speaking = kind.isin(["message", "action"]).to_numpy()
    member = kind.isin(["join", "leave"]).to_numpy()
    keep = order[(speaking | member)[order]]  # slice by slice, in line order
    has_t = target_row[keep] >= 0
    ref_row = np.where(target_row[keep] >= 0, target_row[keep],
                       np.where(target_row[keep] <= -2, -2 - target_row[keep], -1))
    event_id = (pd.Series(sample_arr) + "#" + pd.Series(line_num.astype(np.int64)).astype(str)).to_numpy()
    events = pd.DataFrame({
        "ts": pd.to_datetime(ts_ns[keep], unit="ns", utc=True),
        "group_id": sample_arr[keep],
        "member_id": nick_arr[keep],
        "event_type": np.where(speaking[keep], np.where(has_t, "reply", "message"), kind.to_numpy()[keep]),
        "event_id": event_id[keep],
        "target_member_id": np.where(has_t, nick_arr[np.maximum(target_row[keep], 0)], None),
        "ref_event_id": np.where(ref_row >= 0, event_id[np.maximum(ref_row, 0)], None),
        "text_len": text_len.to_numpy()[keep],
    })
    notes = {f"{k}_lines": int((kind == k).sum()) for k in ("nick_change", "mode", "other")}
    notes["self_links"] = int(self_links)
    notes["multi_links"] = int(multi)
    first = pd.DataFrame({"group_id": sample_arr, "ts": ts_ns, "split": raw["split"].to_numpy()})
    groups = first.groupby("group_id", sort=True).agg(created_at=("ts", "min"), split=("split", "first"))
    groups["created_at"] = pd.to_datetime(groups["created_at"], unit="ns", utc=True)
    groups = groups.reset_index()
    if (groups["split"] == "").all():
        groups = groups.drop(columns="split")

    # leaders and bots
    cloak = raw["cloak"].fillna("").to_numpy(dtype=object)
    lines = pd.DataFrame({"group_id": sample_arr, "member_id": nick_arr, "kind": kind.to_numpy(),
                          "cloak": cloak})
    lines = lines.loc[lines["member_id"] != ""]
    bot_rows = [(m, "known" if m.lower() in KNOWN_BOTS else "cloak" if "/bot/" in c.lower() else "name")
                for m, c in lines[["member_id", "cloak"]].drop_duplicates().itertuples(index=False)
                if is_bot(m, c)]
    bots = pd.DataFrame(bot_rows, columns=["member_id", "reason"]).drop_duplicates("member_id")
    bots = bots.sort_values("member_id").reset_index(drop=True)
    bot_set = set(bots["member_id"])
    mode = lines.loc[(lines["kind"] == "mode") & ~lines["member_id"].isin(bot_set)]
    ops = set(mode["member_id"])
    ops_here = set(zip(mode["group_id"], mode["member_id"], strict=True))
    members_cloak = set(lines.loc[lines["cloak"].str.contains(MEMBER_CLOAK), "member_id"]) - bot_set
    seen = lines[["group_id", "member_id"]].drop_duplicates()
    seen = seen.loc[seen["member_id"].isin(ops | members_cloak)]
    leaders = pd.DataFrame({
        "group_id": seen["group_id"].to_numpy(), "member_id": seen["member_id"].to_numpy(),
        "operator": seen["member_id"].isin(ops).to_numpy(),
        "operator_here": [k in ops_here for k in zip(seen["group_id"], seen["member_id"], strict=True)],
        "ubuntu_member": seen["member_id"].isin(members_cloak).to_numpy(),
    }).sort_values(["group_id", "member_id"]).reset_index(drop=True)
    return IrcData(read_events(events, name=label), None, read_groups(groups), notes, leaders=leaders,
                   bots=bots)


__all__ = ["BOT_PATTERN", "KNOWN_BOTS", "IrcData", "is_bot", "load_irc"]
