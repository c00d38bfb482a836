"""Gitter room logs (the LiveChat study's ``[time] <login> text`` lines) as the event contract.

The raw room files of the LiveChat study of developers' chat on Gitter
(``gitter_gitter.txt.gz``, ``appium_appium.txt.gz``): one message a line,
``[YYYY-MM-DD HH:MM:SS] <login> text``, plain or gzipped, in time order. The
login is the sender's Gitter login (a GitHub login, or ``name_twitter``,
``name_gitlab``, ``ghost~id`` for a deleted account). A message that spanned
several lines in the room leaves its later lines without the ``[time] <login>``
head; they are continuation lines. The file has no join or leave lines and no
members or groups table. The study's ``.disentangled`` files (a dialog number
before each line) are another format and are refused.

Mapping
-------
=============================  ==================================================
log                            event contract
=============================  ==================================================
the whole file                 one group, ``group_id`` (default: the file name
                               before ``.txt``, e.g. ``"gitter_gitter"``)
``<login>``                    ``member_id``
``[YYYY-MM-DD HH:MM:SS]``      ``ts``, taken as UTC (see below)
a message addressed to a       ``reply``, ``target_member_id`` = the addressed
login of the room              login (the first one in the text)
any other message              ``message``
line number                    ``event_id`` (``"line 17"``)
continuation lines             not events; ``notes["unparsed_lines"]``
=============================  ==================================================

Time zone
---------
The files give no zone. The times are **assumed to be UTC**: the study
collected the rooms through Gitter's API, whose ``sent`` times are UTC, and
the README of the data says nothing else. A different zone would shift every
event by the same amount, which moves day boundaries but not the order.

Reply targets from the text
---------------------------
Gitter has no reply link; a reply is addressed in the text. A message is
addressed to a login when

* it starts with ``login:`` or ``login,`` (optionally ``@login:``), or
* it contains ``@login`` anywhere (``"Hello@mgmanikandan87"`` counts). The
  study's clean-up often glued the next word to the login
  (``"@MadLittleModsI think"``); when the word after ``@`` is no login, its
  longest beginning of at least :data:`MIN_GLUED` characters that is a login
  is taken (``notes["glued_mentions"]``).

Only logins seen as a sender in the same file count, matched case-insensitively
and written as the sender writes them (``@madlittlemods`` is ``MadLittleMods``);
``Hi, ...``, ``@all`` or an e-mail address address nobody. The target is the
first addressed login other than the sender; a message addressing only its own
sender stays a ``message`` (``notes["self_addressed"]``). ``notes`` also count
the replies found by each rule (``replies_prefix``, ``replies_at``) and the
``@`` words that named no login (``unresolved_at``).

Continuation lines and duplicates
---------------------------------
A line without the ``[time] <login>`` head after a message is a continuation
of that message (a line of a stack trace or of a pasted log): it is counted in
``notes["unparsed_lines"]`` and adds nothing (its text is not searched for
addressees). In the study's rooms they are 1.4 % (gitterHQ/gitter) and 3.4 %
(appium) of the lines; a file where more than :data:`MAX_UNPARSED_SHARE` of the
lines (and more than :data:`MIN_UNPARSED_REFUSED` lines) are continuations is
not this format and is refused. An exact duplicate message (same time, login
and text; mostly repeated empty or image-only messages) is **dropped**, the
first kept (``notes["duplicates_dropped"]``).

Errors
------
A line with the ``[...] <login>`` head whose time does not parse
(``[2016-13-01 08:00:00]``, ``[2016-11-21 08:47]``), text before the first
message, too many lines without the head, or a file with no message raises
:class:`~shequn_ml.validation.EventValidationError` naming the file, the field
(``ts``) and the lines.

Examples
--------
>>> import tempfile, pathlib
>>> f = pathlib.Path(tempfile.mkdtemp()) / "room.txt"
>>> _ = f.write_text("[2016-11-21 08:47:30] <ReaLau> Hello@mgmanikandan87\\n"
...     "[2016-11-21 08:48:02] <mgmanikandan87> realau: yes\\n"
...     "[2016-11-21 08:48:20] <ReaLau> @nobody hi\\n")
>>> data = load_gitter(f)
>>> data.events[["member_id", "event_type", "target_member_id"]].astype(object).fillna("-").values.tolist()
[['ReaLau', 'reply', 'mgmanikandan87'], ['mgmanikandan87', 'reply', 'ReaLau'], ['ReaLau', 'message', '-']]
>>> str(data.events["group_id"].iloc[0]), str(data.events["ts"].iloc[0]), data.events["event_id"].iloc[2]
('room', '2016-11-21 08:47:30+00:00', 'line 3')
>>> _ = f.write_text("[2016-11-21 08:47:30] <ReaLau> hi\\n[2016-11-21 8:48] <bob> hello\\n")
>>> from shequn_ml.validation import EventValidationError
>>> try:
...     load_gitter(f)
... except EventValidationError as err:
...     problem = err.report.errors[0]
>>> problem.column, problem.rows
('ts', ("line 2: '2016-11-21 8:48'",))
"""

from __future__ import annotations

import gzip
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from shequn_ml.datasets._common import CommunityData, Problems
from shequn_ml.io import read_events

#: The head of a message line: ``[time] <login> text`` (the text may be empty).
HEADER = r"^\[(?P<ts>[^\]]*)\] <(?P<sender>[^<>\s]+)>(?: (?P<text>.*))?$"
TS_FORMAT = "%Y-%m-%d %H:%M:%S"
#: A file with more continuation lines than this share of its lines (and more than
#: :data:`MIN_UNPARSED_REFUSED`) is refused.
MAX_UNPARSED_SHARE = 0.10
MIN_UNPARSED_REFUSED = 10
#: The shortest login taken from the beginning of a longer word after ``@``.
MIN_GLUED = 4

_PREFIX = re.compile(r"^\s*@?([\w.~-]+?)\.*\s*[:,]")
_AT = re.compile(r"@([\w.~-]+)")


def _read_lines(path: Path, problems: Problems) -> list[str] | None:
    """The lines of the file (without line ends); row i is line i + 1."""
    if not path.exists():
        problems.add("missing_file", None, "the file does not exist")
        return None
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        text = raw.decode("utf-8-sig")
    except (OSError, EOFError, gzip.BadGzipFile, UnicodeDecodeError) as exc:
        problems.add("unreadable", None, f"cannot be read as a UTF-8 text log: {str(exc).splitlines()[0]}")
        return None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the file ends with a line end
    return [line.rstrip("\r") for line in lines]


def _resolve(word: str, known: dict[str, str]) -> tuple[str | None, bool]:
    """The login an ``@`` word names (and whether it was glued to the next word), or None."""
    low = word.rstrip(".-~").lower()
    if low in known:
        return known[low], False
    for k in range(len(low) - 1, MIN_GLUED - 1, -1):
        if low[:k] in known:
            return known[low[:k]], True
    return None, False


def load_gitter(
    path: str | os.PathLike[str],
    *,
    group_id: str | None = None,
    name: str | None = None,
) -> CommunityData:
    """Read a Gitter room log (``[time] <login> text`` lines) into the event contract.

    Parameters
    ----------
    path : path
        The room file (plain text or ``.gz``).
    group_id : str, optional
        The one group all events belong to; defaults to the file name before
        ``.txt`` (``"appium_appium"`` for ``appium_appium.txt.gz``).
    name : str, optional
        How to name the file in messages (defaults to the path).

    Returns
    -------
    CommunityData
        ``events`` in the contract (``members`` and ``groups`` are None);
        ``notes`` counts ``lines``, ``messages`` (lines with the message head),
        ``unparsed_lines``, ``duplicates_dropped``, ``replies_prefix``,
        ``replies_at``, ``glued_mentions``, ``self_addressed`` and
        ``unresolved_at``.

    Raises
    ------
    EventValidationError
        Naming the file, the field and the first offending lines.
    """
    path = Path(path)
    label = name or str(path)
    problems = Problems(label)
    lines = _read_lines(path, problems)
    problems.raise_if_errors()
    assert lines is not None
    if group_id is None:
        group_id = path.name.split(".txt")[0] if ".txt" in path.name else path.name.split(".")[0]
    raw = pd.Series(lines, dtype=object)
    n = len(raw)
    labels = np.array([f"line {i + 1}" for i in range(n)], dtype=object)
    parts = raw.str.extract(HEADER) if n else pd.DataFrame(columns=["ts", "sender", "text"])
    headed = parts["sender"].notna().to_numpy()
    ts = pd.to_datetime(parts["ts"].where(headed), format=TS_FORMAT, errors="coerce", utc=True)
    message = headed & ts.notna().to_numpy()
    # a head whose time is no time: "[2016-11-21 8:48] <bob>"; "[debug] <x>" in a pasted log is text
    timelike = parts["ts"].str.match(r"\d").fillna(False).to_numpy(dtype=bool)
    problems.add_mask("unparseable_timestamp", "ts",
                      "{n} message lines have a time that does not parse (expected [YYYY-MM-DD HH:MM:SS])",
                      headed & timelike & ~message, labels, parts["ts"].to_numpy(dtype=object))
    if not message.any():
        hint = " (a .disentangled file, with a dialog number before each line, is not supported)" \
            if raw.str.match(r"\d+ \[").any() else ""
        problems.add("empty", "ts", "the file has no message lines (expected '[YYYY-MM-DD HH:MM:SS] "
                     f"<login> text' per line){hint}")
        problems.raise_if_errors()
    first = int(np.argmax(message))
    before = np.zeros(n, bool)
    before[:first] = raw.iloc[:first].str.strip().ne("").to_numpy(dtype=bool)
    problems.add_mask("no_message_head", "ts",
                      "{n} lines come before the first message line '[YYYY-MM-DD HH:MM:SS] <login> text'",
                      before, labels, raw.to_numpy())
    unparsed = ~message & ~(headed & timelike)
    if unparsed.sum() > max(MAX_UNPARSED_SHARE * n, MIN_UNPARSED_REFUSED):
        problems.add_mask("no_message_head", "ts",
                          f"{{n}} of {n} lines have no '[YYYY-MM-DD HH:MM:SS] <login>' head (more than "
                          f"{MAX_UNPARSED_SHARE:.0%} are continuation lines: this is not a Gitter room log)",
                          unparsed & ~before, labels, raw.to_numpy())
    problems.raise_if_errors()

    frame = pd.DataFrame({"ts": ts[message], "sender": parts["sender"][message],
                          "text": parts["text"][message].fillna(""), "line": np.flatnonzero(message) + 1})
    notes = {"lines": n, "messages": len(frame), "unparsed_lines": int(unparsed.sum())}
    dup = frame.duplicated(subset=["ts", "sender", "text"], keep="first").to_numpy()
    frame = frame.loc[~dup].reset_index(drop=True)
    notes["duplicates_dropped"] = int(dup.sum())

    # addressees: only logins that speak in this room, case-insensitively, as the sender writes them
    known: dict[str, str] = {}
    for login in frame["sender"].drop_duplicates():
        known.setdefault(login.lower(), login)
    text = frame["text"]
    prefix = text.str.extract(_PREFIX)[0].str.lower().to_numpy(dtype=object)
    sender_low = frame["sender"].str.lower().to_numpy(dtype=object)
    has_at = text.str.contains("@", regex=False).to_numpy(dtype=bool)
    texts = text.to_numpy(dtype=object)
    target = np.full(len(frame), None, dtype=object)
    counts = dict.fromkeys(("replies_prefix", "replies_at", "glued_mentions", "self_addressed",
                            "unresolved_at"), 0)
    for i in np.flatnonzero(pd.notna(prefix) | has_at):
        found: list[tuple[str, str, bool]] = []  # (login, rule, glued), in text order
        if isinstance(prefix[i], str) and prefix[i] in known:
            found.append((known[prefix[i]], "replies_prefix", False))
        if has_at[i]:
            for word in _AT.findall(texts[i]):
                login, glued = _resolve(word, known)
                if login is None:
                    counts["unresolved_at"] += 1
                else:
                    found.append((login, "replies_at", glued))
        others = [f for f in found if f[0].lower() != sender_low[i]]
        if others:
            target[i] = others[0][0]
            counts[others[0][1]] += 1
            counts["glued_mentions"] += others[0][2]
        elif found:
            counts["self_addressed"] += 1
    notes.update(counts)
    events = pd.DataFrame({
        "ts": frame["ts"],
        "group_id": group_id,
        "member_id": frame["sender"].to_numpy(dtype=object),
        "event_type": np.where(pd.notna(target), "reply", "message"),
        "event_id": [f"line {k}" for k in frame["line"].to_numpy()],
        "target_member_id": target,
    })
    return CommunityData(read_events(events, name=label), notes=notes)


__all__ = ["HEADER", "MAX_UNPARSED_SHARE", "MIN_GLUED", "MIN_UNPARSED_REFUSED", "load_gitter"]
