"""Disentangled Slack chats (the MSR 2020 ``<message conversation_id=...>`` XML) as the event contract.

The files of "Software-related Slack Chats with Disentangled Conversations"
(Chatterjee, Damevski, Kraft, Pollock, MSR 2020), e.g.
``racket-general-2017.xml.gz``: plain or gzipped XML, a ``<slack>`` root with
the team and channel, then one element per message::

    <message conversation_id="1">
      <ts>2017-12-31T11:38:10.000028</ts>
      <user>Marnie</user>
      <text>&lt;@Carlyn&gt; hackett is so fun</text>
    </message>

``user`` is a pseudonym given by the data set's authors, ``<@Name>`` in the text
a mention of another pseudonym (``<@U0702F2CE|name>`` where the authors left a
Slack id), and ``conversation_id`` the conversation a disentanglement model put
the message in, numbered per file. Several files (one per year) are read
together as one channel; the files are read with a streaming parser
(:func:`xml.etree.ElementTree.iterparse`).

Mapping
-------
=============================  ==================================================
XML                            event contract
=============================  ==================================================
the files together             one group, ``group_id`` (default
                               ``"racket-general"``)
``<user>``                     ``member_id``
``<ts>``                       ``ts``; a time without a zone is taken as UTC
``<text>`` mentioning another  ``reply``, ``target_member_id`` = the first such
known user                     user (``notes["replies_mention"]``)
otherwise, a message after     ``reply``, ``target_member_id`` = the author of
another user's in its          the most recent earlier message of the
conversation                   conversation by another user, ``ref_event_id`` =
                               that message (``notes["replies_conversation"]``)
any other message              ``message``
file and position              ``event_id`` (``"racket-general-2018:0"``: the
                               file name without ``.xml``/``.xml.gz``, and the
                               message's 0-based place in the file)
=============================  ==================================================

A known user is one who sends a message in any of the files read. Mentions of
oneself (``notes["self_mentions"]``) or of names that never send
(``notes["unknown_mentions"]``: users who left, Slack ids) and ``<!channel>``
address nobody. A conversation is one ``conversation_id`` of one file
(``"racket-general-2018#12"``), since the numbers restart in every file; a
message without ``conversation_id`` is in none (``notes["no_conversation"]``).
"Earlier" is by ``ts`` (the files are in time order). Text is only searched for
mentions; it is not kept.

Times are taken as UTC: the files give ISO-8601 times without a zone, and
Slack's own message times (``ts``) are Unix seconds, i.e. UTC.

Duplicates and pseudonyms across files
--------------------------------------
A message in two files (same ``ts``, user and text) is kept once, the first
read (``notes["duplicates_dropped"]``). A folder is read in name order.

The pseudonyms are **not** documented to be stable across files, and in the
racket channel they are not: the ten most active users of 2017, 2018 and 2019
share no name, only 5 of 85 (2017) and 144 (2018) names appear in both years
(4 of 144 and 106 between 2018 and 2019), and every mention in a file names a
sender of that same file. Each yearly file evidently has its own pseudonyms, so
member histories end at each file's end, and a name in two files is probably
two people merged. ``notes["users_in_several_files"]`` counts such names. Read
one file at a time for member histories.

Errors
------
A file that is not well-formed XML, a message without ``ts`` or ``user``, a
``ts`` that does not parse, or files with no message at all raise
:class:`~shequn_ml.validation.EventValidationError` naming the file, the field
(``ts``, ``user``) and the messages as ``line N``.

Examples
--------
>>> import tempfile, pathlib
>>> f = pathlib.Path(tempfile.mkdtemp()) / "chat-2018.xml"
>>> m = '<message conversation_id="{}"><ts>{}</ts><user>{}</user><text>{}</text></message>'
>>> _ = f.write_text("<slack>" + m.format(1, "2018-01-01T10:00:00.1", "Ann", "how do I ...?")
...     + m.format(1, "2018-01-01T10:01:00.2", "Bob", "like this")
...     + m.format(2, "2018-01-01T10:02:00.3", "Cy", "&lt;@Ann&gt; see the docs") + "</slack>")
>>> data = load_slack_disentangled(f, group_id="chat")
>>> data.events[["member_id", "event_type", "target_member_id"]].astype(object).fillna("-").values.tolist()
[['Ann', 'message', '-'], ['Bob', 'reply', 'Ann'], ['Cy', 'reply', 'Ann']]
>>> data.events["event_id"].tolist(), data.events["ref_event_id"].astype(object).fillna("-").tolist()
(['chat-2018:0', 'chat-2018:1', 'chat-2018:2'], ['-', 'chat-2018:0', '-'])
>>> data.notes["replies_mention"], data.notes["replies_conversation"]
(1, 1)
"""

from __future__ import annotations

import gzip
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from shequn_ml.datasets._common import CommunityData, Problems, show
from shequn_ml.io import read_events
from shequn_ml.validation import MAX_ROWS_SHOWN

#: A mention in the text: ``<@Name>`` or ``<@ID|name>`` (the name before ``|`` is matched).
MENTION = re.compile(r"<@([^>|\s]+)(?:\|[^>]*)?>")
_MESSAGE = re.compile(rb"<message\b")


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".xml.gz", ".xml"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _files(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[Path]:
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(q for q in p.iterdir() if q.name.endswith((".xml", ".xml.gz")))
        else:
            out.append(p)
    return out


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


class _SlackFile:
    """The messages of one file (one row each, in file order) and its errors."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.stem = _stem(path)
        self.problems = Problems(str(path))
        self.frame = self._parse()

    def _parse(self) -> pd.DataFrame | None:
        if not self.path.exists():
            self.problems.add("missing_file", None, "the file does not exist")
            return None
        cols: dict[str, list[str | None]] = {"conversation": [], "ts": [], "user": [], "text": []}
        try:
            with _open(self.path) as fh:
                context = ET.iterparse(fh, events=("start", "end"))
                _, root = next(context)
                for event, elem in context:
                    if event == "end" and elem.tag == "message":
                        cols["conversation"].append(elem.get("conversation_id"))
                        cols["ts"].append(elem.findtext("ts"))
                        cols["user"].append(elem.findtext("user"))
                        cols["text"].append("\n".join(t.text for t in elem.iterfind("text") if t.text))
                        root.clear()
        except ET.ParseError as exc:
            line, column = exc.position
            msg = str(exc).split(":")[0]
            self.problems.add("not_xml", None, f"is not well-formed XML: {msg}",
                              rows=(f"line {line}, column {column + 1}",), count=1)
            return None
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            self.problems.add("unreadable", None, f"cannot be read: {str(exc).splitlines()[0]}")
            return None
        frame = pd.DataFrame(cols, dtype=object)
        if frame.empty:
            self.problems.add("empty", None, "has no <message> elements")
            return None
        return frame

    def labels(self, positions: np.ndarray) -> list[str]:
        """``line N`` of the messages at ``positions`` (0-based message numbers)."""
        wanted = {int(p) for p in positions}
        line_of: dict[int, int] = {}
        seen = 0
        with _open(self.path) as fh:
            for line_no, line in enumerate(fh, start=1):
                for _ in _MESSAGE.finditer(line):
                    if seen in wanted:
                        line_of[seen] = line_no
                    seen += 1
                if len(line_of) == len(wanted):
                    break
        return [f"line {line_of[int(p)]}" if int(p) in line_of else f"message {int(p) + 1}"
                for p in positions]

    def flag(self, mask: np.ndarray, column: str, check: str, detail: str) -> None:
        hit = np.flatnonzero(mask)
        if not len(hit):
            return
        assert self.frame is not None
        shown = hit[:MAX_ROWS_SHOWN]
        values = self.frame[column].to_numpy(dtype=object)
        rows = [f"{label}: {show(values[p])}" for label, p in zip(self.labels(shown), shown, strict=True)]
        self.problems.add(check, column, detail.format(n=len(hit)), rows, count=len(hit))


def _raise(errors: list[Problems]) -> None:
    bad = [p for p in errors if not p.ok]
    if not bad:
        return
    first = bad[0]
    for other in bad[1:]:  # one error listing every file's problems
        first.report.problems.extend(other.report.problems)
    first.raise_if_errors()


def load_slack_disentangled(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    group_id: str = "racket-general",
) -> CommunityData:
    """Read disentangled Slack chat XML files into the event contract.

    Parameters
    ----------
    paths : path, folder or list of paths
        One file (``.xml`` or ``.xml.gz``), several, or a folder (all its
        ``*.xml`` and ``*.xml.gz`` files, in name order).
    group_id : str, default "racket-general"
        The one group all events belong to (the channel).

    Returns
    -------
    CommunityData
        ``events`` in the contract (``members`` and ``groups`` are None);
        ``notes`` counts ``files``, ``messages``, ``duplicates_dropped``,
        ``replies_mention``, ``replies_conversation``, ``self_mentions``,
        ``unknown_mentions``, ``no_conversation`` and ``users_in_several_files``.

    Raises
    ------
    EventValidationError
        Naming the file, the field and the first offending messages.
    """
    files = _files(paths)
    if not files:
        problems = Problems(str(paths))
        problems.add("missing_file", None, "no .xml or .xml.gz file given (or in the folder)")
        problems.raise_if_errors()
    parsed = [_SlackFile(p) for p in files]
    parts = []
    for k, f in enumerate(parsed):
        frame = f.frame
        if frame is None:
            continue
        ts_text = frame["ts"].str.strip()
        user = frame["user"].str.strip()
        f.flag(ts_text.fillna("").eq("").to_numpy(), "ts", "missing_value", "{n} messages have no <ts>")
        f.flag(user.fillna("").eq("").to_numpy(), "user", "missing_value", "{n} messages have no <user>")
        ts = pd.to_datetime(ts_text, format="ISO8601", utc=True, errors="coerce")
        f.flag((ts_text.fillna("").ne("") & ts.isna()).to_numpy(), "ts", "unparseable_timestamp",
               "{n} values do not parse as timestamps (expected ISO-8601, e.g. 2017-12-31T11:38:10.000028)")
        conv = frame["conversation"].str.strip()
        parts.append(pd.DataFrame({
            "ts": ts, "user": user, "text": frame["text"],
            "conversation": (f.stem + "#" + conv).where(conv.fillna("").ne(""), None),
            "event_id": [f"{f.stem}:{i}" for i in range(len(frame))],
            "file": k, "pos": np.arange(len(frame)),
        }))
    _raise([f.problems for f in parsed])
    frame = pd.concat(parts, ignore_index=True)
    notes = {"files": len(parsed), "messages": len(frame)}
    dup = frame.duplicated(subset=["ts", "user", "text"], keep="first").to_numpy()
    frame = frame.loc[~dup].sort_values(["ts", "file", "pos"], kind="stable").reset_index(drop=True)
    notes["duplicates_dropped"] = int(dup.sum())

    known = set(frame["user"])
    users = frame["user"].to_numpy(dtype=object)
    event_ids = frame["event_id"].to_numpy(dtype=object)
    target = np.full(len(frame), None, dtype=object)
    ref = np.full(len(frame), None, dtype=object)
    counts = dict.fromkeys(("replies_mention", "replies_conversation", "self_mentions",
                            "unknown_mentions"), 0)
    for i, text in enumerate(frame["text"].to_numpy(dtype=object)):
        if "<@" not in text:
            continue
        for who in MENTION.findall(text):
            if who == users[i]:
                counts["self_mentions"] += 1
            elif who not in known:
                counts["unknown_mentions"] += 1
            elif target[i] is None:
                target[i] = who
    counts["replies_mention"] = int(pd.notna(target).sum())
    # conversations: the last author, and the last before them who was someone else
    last: dict[str, tuple[str, int]] = {}
    before: dict[str, tuple[str, int]] = {}
    for i, c in enumerate(frame["conversation"].to_numpy(dtype=object)):
        if c is None:
            continue
        prev = last.get(c)
        other = prev if prev is not None and prev[0] != users[i] else before.get(c)
        if target[i] is None and other is not None:
            target[i], ref[i] = other[0], event_ids[other[1]]
            counts["replies_conversation"] += 1
        if prev is not None and prev[0] != users[i]:
            before[c] = prev
        last[c] = (users[i], i)
    notes.update(counts)
    notes["no_conversation"] = int(frame["conversation"].isna().sum())
    per_file = frame.drop_duplicates(["user", "file"])["user"].value_counts()
    notes["users_in_several_files"] = int((per_file > 1).sum())
    events = pd.DataFrame({
        "ts": frame["ts"],
        "group_id": group_id,
        "member_id": users,
        "event_type": np.where(pd.notna(target), "reply", "message"),
        "event_id": event_ids,
        "target_member_id": target,
        "ref_event_id": ref,
    })
    name = str(files[0]) if len(files) == 1 else f"{files[0].parent} ({len(files)} files)"
    return CommunityData(read_events(events, name=name), notes=notes)


__all__ = ["MENTION", "load_slack_disentangled"]
