"""SNAP-style temporal edge lists (``src dst unix_ts``) as the event contract.

The format of SNAP's temporal networks (CollegeMsg, email-Eu-core-temporal,
sx-*, wiki-talk-temporal): one interaction per line, three fields separated by
spaces or tabs, ``SRC DST UNIX_SECONDS``. Lines starting with ``#`` and blank
lines are skipped; one header line (the first non-comment line, recognised by a
third field that is not a number, e.g. ``source target weight``) is skipped.
Gzipped files (``.gz``) are read directly.

Mapping
-------
===================  ========================================================
file                 event contract
===================  ========================================================
the whole file       one group, ``group_id`` (default ``"snap"``)
``SRC``              ``member_id``: who sent the message
``DST``              ``target_member_id``: whom it was aimed at
``UNIX_SECONDS``     ``ts`` (seconds since 1970-01-01 UTC; fractions allowed)
each line            one event of ``event_type`` (default ``reply``)
line number          ``event_id`` (``"line 17"``), so every event traces back
===================  ========================================================

Why ``reply``: an edge list carries no threads, only that SRC addressed DST. In
the contract a ``reply`` is the speaking event aimed at another member, and it
is the one speaking type that makes a relationship edge (``partners_in``,
PageRank) and counts the target as responded to. Pass ``event_type="message"``
to keep the target without making edges. A line with ``SRC == DST`` (a
self-loop) becomes a plain ``message`` without a target, because the contract
aims a reply at *another* member; their count is ``notes["self_loops"]``.

Duplicates
----------
Exact duplicate lines (same SRC, DST and time) are **dropped** by default
(``duplicates="drop"``, the first is kept; ``notes["duplicates_dropped"]``):
in a one-second-resolution log they are far likelier to be a double record than
two messages between the same pair in the same second. ``duplicates="keep"``
keeps them all (``notes["duplicates_kept"]``).

The format carries no members or groups table: ``members`` and ``groups`` are
None, and a member enters the population at their first message.

Errors
------
A line with other than three fields, a time that is not a number, or a file
with no edge at all raises :class:`~shequn_ml.validation.EventValidationError`
naming the file, the field (``src``, ``dst``, ``unix_ts``) and the lines.

Examples
--------
>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "msgs.txt").write_text("src dst ts\\n1 2 1082040961\\n2 1 1082044561\\n")
>>> data = load_snap(folder / "msgs.txt", group_id="college")
>>> data.events[["member_id", "event_type", "target_member_id"]].astype(object).fillna("-").values.tolist()
[['1', 'reply', '2'], ['2', 'reply', '1']]
>>> str(data.events["ts"].iloc[0])
'2004-04-15 14:56:01+00:00'
>>> _ = (folder / "bad.txt").write_text("1 2 1082040961\\n2 1 soon\\n")
>>> from shequn_ml.validation import EventValidationError
>>> try:
...     load_snap(folder / "bad.txt", name="bad.txt")
... except EventValidationError as err:
...     problem = err.report.errors[0]
>>> problem.source.name, problem.column, problem.rows
('bad.txt', 'unix_ts', ("line 2: 'soon'",))
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from shequn_ml.datasets._common import CommunityData, Problems
from shequn_ml.io import read_events

FIELDS = ("src", "dst", "unix_ts")


def _read_lines(path: Path, problems: Problems) -> pd.Series | None:
    """Every line of the file as text, one row per line (so row i is line i + 1)."""
    if not path.exists():
        problems.add("missing_file", None, "the file does not exist")
        return None
    try:
        raw = pd.read_csv(path, sep="\x01", header=None, names=["raw"], dtype=str,
                          quoting=csv.QUOTE_NONE, skip_blank_lines=False, na_filter=False,
                          compression="infer", engine="c")
    except pd.errors.EmptyDataError:
        return pd.Series([], dtype=str)
    except (pd.errors.ParserError, OSError, UnicodeDecodeError, EOFError) as exc:
        problems.add("unreadable", None, f"cannot be read as a text edge list: {str(exc).splitlines()[0]}")
        return None
    return raw["raw"]


def load_snap(
    path: str | os.PathLike[str],
    *,
    group_id: str = "snap",
    duplicates: Literal["drop", "keep"] = "drop",
    event_type: Literal["reply", "message"] = "reply",
    name: str | None = None,
) -> CommunityData:
    """Read a SNAP temporal edge list (``src dst unix_ts``) into the event contract.

    Parameters
    ----------
    path : path
        The edge list (plain text or ``.gz``).
    group_id : str, default "snap"
        The one group all events belong to.
    duplicates : {"drop", "keep"}, default "drop"
        What to do with exact duplicate lines (see the module notes).
    event_type : {"reply", "message"}, default "reply"
        The event type of each line with ``src != dst``.
    name : str, optional
        How to name the file in messages (defaults to the path).

    Returns
    -------
    CommunityData
        ``events`` in the contract (``members`` and ``groups`` are None);
        ``notes`` counts ``lines``, ``edges``, ``duplicates_dropped`` or
        ``duplicates_kept``, ``self_loops`` and ``header_lines``.

    Raises
    ------
    EventValidationError
        Naming the file, the field and the first offending lines.
    ValueError
        For a bad ``duplicates`` or ``event_type`` argument.
    """
    if duplicates not in ("drop", "keep"):
        raise ValueError(f"duplicates must be 'drop' or 'keep', got {duplicates!r}")
    if event_type not in ("reply", "message"):
        raise ValueError(f"event_type must be 'reply' or 'message', got {event_type!r}")
    path = Path(path)
    problems = Problems(name or str(path))
    lines = _read_lines(path, problems)
    if lines is None:
        problems.raise_if_errors()
    assert lines is not None
    text = lines.str.strip()
    content = ((text != "") & ~text.str.startswith("#")).to_numpy()
    line_no = np.arange(1, len(text) + 1)
    if not content.any():
        problems.add("empty", None, "the file has no edge lines (expected 'SRC DST UNIX_SECONDS' per line)")
        problems.raise_if_errors()
    parts = text[content].str.split(expand=True)
    parts = parts.reindex(columns=range(max(4, parts.shape[1])))
    nums = line_no[content]
    labels = np.array([f"line {n}" for n in nums], dtype=object)
    raw_line = text[content].to_numpy(dtype=object)
    ts_text = parts[2].to_numpy(dtype=object)
    secs = pd.to_numeric(parts[2], errors="coerce").to_numpy(dtype=float)
    n_fields = parts.notna().sum(axis=1).to_numpy()
    header = np.zeros(len(parts), bool)
    header[0] = n_fields[0] == 3 and np.isnan(secs[0])  # e.g. "source target weight"
    body = ~header
    problems.add_mask("field_count", "unix_ts",
                      "{n} lines do not have exactly three fields (expected 'SRC DST UNIX_SECONDS')",
                      body & (n_fields != 3), labels, raw_line)
    three = body & (n_fields == 3)
    problems.add_mask("not_a_time", "unix_ts",
                      "{n} values are not Unix times (expected seconds since 1970, e.g. 1082040961)",
                      three & ~np.isfinite(secs), labels, ts_text)
    problems.raise_if_errors()

    keep = body
    src = parts[0].to_numpy(dtype=object)[keep]
    dst = parts[1].to_numpy(dtype=object)[keep]
    secs = secs[keep]
    frame = pd.DataFrame({"src": src, "dst": dst, "secs": secs, "line": nums[keep]})
    notes = {"lines": len(text), "header_lines": int(header.sum()), "edges": len(frame)}
    dup = frame.duplicated(subset=["src", "dst", "secs"], keep="first").to_numpy()
    if duplicates == "drop":
        frame = frame.loc[~dup]
        notes["duplicates_dropped"] = int(dup.sum())
    else:
        notes["duplicates_kept"] = int(dup.sum())
    self_loop = (frame["src"] == frame["dst"]).to_numpy()
    notes["self_loops"] = int(self_loop.sum())
    events = pd.DataFrame({
        "ts": pd.to_datetime(np.round(frame["secs"].to_numpy() * 1e6).astype(np.int64), unit="us", utc=True),
        "group_id": group_id,
        "member_id": frame["src"].to_numpy(),
        "event_type": np.where(self_loop, "message", event_type),
        "event_id": [f"line {n}" for n in frame["line"].to_numpy()],
        "target_member_id": np.where(self_loop, None, frame["dst"].to_numpy()),
    })
    return CommunityData(read_events(events, name=name or str(path)), notes=notes)


__all__ = ["FIELDS", "load_snap"]
