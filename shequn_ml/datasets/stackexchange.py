"""A Stack Exchange data-dump folder as the event contract, with leadership from outside the graph.

Reads the standard dump files of one site (``Posts.xml`` required;
``Comments.xml``, ``Users.xml``, ``Badges.xml`` and ``Votes.xml`` used when
present), one ``<row .../>`` per record, with a streaming parser
(:func:`xml.etree.ElementTree.iterparse`), so a large site is read in one pass
without holding its XML tree.

Mapping
-------
=============================  ==================================================
dump                           event contract
=============================  ==================================================
the site                       one group, ``group_id`` (default: the folder name)
user (``Users.xml``)           ``join`` at the user's ``CreationDate``; a members
                               row with ``joined_at``
question (``PostTypeId`` 1)    ``question`` by ``OwnerUserId``
answer (``PostTypeId`` 2)      ``answer`` by ``OwnerUserId``, ``target_member_id``
                               = the asker (owner of ``ParentId``),
                               ``ref_event_id`` = the question
comment (``Comments.xml``)     ``reply`` by ``UserId``, ``target_member_id`` = the
                               owner of the post commented on, ``ref_event_id`` =
                               the post
=============================  ==================================================

``event_id`` is ``"post 12"``, ``"comment 8"`` or ``"user 5"``; ids are the
dump's numbers as text. User ``-1`` (Community, the site's bot) is excluded:
its posts and comments are dropped and nothing is aimed at it. A record whose
owner is missing (a deleted account) cannot be attributed and is dropped.
An answer to one's own question keeps no target; a comment on one's own post,
or on a post whose owner is unknown or not in the dump, becomes a ``message``
(a speaking event without a target), since a reply is aimed at another member.
Other post types (tag wikis, moderator nominations) are skipped. Every one of
these is counted in ``notes``. Votes carry no voter, so they are not events;
they feed the leadership signals below.

Leadership from outside the interaction graph
---------------------------------------------
:class:`StackExchangeLeadership` holds what the site itself says about who leads,
each with a date, so it can be read after a cutoff only:

``reputation``
    One row per reputation change computed from ``Votes.xml`` (``VoteTypeId``
    2 up, 3 down, 1 accepted): an upvote gives the post's owner +10 on an answer
    and +5 on a question, a downvote -2, an accepted answer +15 to its owner
    (not when the asker accepts their own answer). These are
    :data:`REPUTATION_WEIGHTS`; Stack Exchange has given +10 for question
    upvotes since November 2019, pass ``reputation_weights`` to use that.
    Votes are dated to the day. Reputation from bounties, edits and
    association bonuses is not in the dump's votes and is not counted.
``accepted``
    Every accepted answer (``AcceptedAnswerId``) with its owner, the asker, and
    the acceptance date (the day of its ``VoteTypeId`` 1 vote; NaT if the dump
    has none); ``self_accepted`` marks an asker accepting their own answer.
``badges``
    Every badge with its date and class (``gold``, ``silver``, ``bronze``).
``final_reputation``
    ``Users.xml``'s ``Reputation``: the value at the export, which already
    contains everything after any past cutoff. It is for reference only and is
    **never a feature**.

:meth:`StackExchangeLeadership.between` sums them per member over a window.

Errors
------
A file that is not well-formed XML, a record missing a required attribute
(``Id``, ``PostTypeId``, ``CreationDate``; ``ParentId`` on an answer; ...), an
id that is not an integer, a date that does not parse, a badge class outside
1-3, or a repeated post or user ``Id`` raises
:class:`~shequn_ml.validation.EventValidationError` naming the file, the
attribute and the records as ``line N (Id=X)``.

Examples
--------
>>> import tempfile, pathlib
>>> site = pathlib.Path(tempfile.mkdtemp())
>>> head = '<?xml version="1.0" encoding="utf-8"?>\\n'
>>> _ = (site / "Posts.xml").write_text(head + '<posts>\\n'
...     '<row Id="1" PostTypeId="1" CreationDate="2021-05-01T10:00:00.000" OwnerUserId="7" />\\n'
...     '<row Id="2" PostTypeId="2" ParentId="1" CreationDate="2021-05-01T11:00:00.000" OwnerUserId="8" />\\n'
...     '</posts>\\n')
>>> _ = (site / "Comments.xml").write_text(head + '<comments>\\n'
...     '<row Id="3" PostId="2" CreationDate="2021-05-01T12:00:00.000" UserId="7" />\\n</comments>\\n')
>>> data = load_stackexchange(site, group_id="demo")
>>> data.events[["member_id", "event_type", "target_member_id"]].astype(object).fillna("-").values.tolist()
[['7', 'question', '-'], ['8', 'answer', '7'], ['7', 'reply', '8']]
>>> _ = (site / "Comments.xml").write_text(head + '<comments>\\n'
...     '<row Id="3" PostId="2" CreationDate="May 1st" UserId="7" />\\n</comments>\\n')
>>> load_stackexchange(site)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
shequn_ml.validation.EventValidationError: ...Comments.xml: column 'CreationDate': ...line 3 (Id=3): 'May 1st'
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from shequn_ml.datasets._common import CommunityData, Problems, show
from shequn_ml.io import read_events, read_groups, read_members
from shequn_ml.validation import MAX_ROWS_SHOWN

#: Users excluded everywhere: -1 is Community, the site's bot.
EXCLUDED_USERS = frozenset({-1})
#: Reputation per vote (see the module notes).
REPUTATION_WEIGHTS: dict[str, int] = {
    "upvote_answer": 10,
    "upvote_question": 5,
    "downvote": -2,
    "accepted": 15,
}
BADGE_CLASSES = {1: "gold", 2: "silver", 3: "bronze"}
#: The attributes read from each file, and which of them every record needs.
FILES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "Posts.xml": (("Id", "PostTypeId", "ParentId", "AcceptedAnswerId", "CreationDate", "OwnerUserId"),
                  ("Id", "PostTypeId", "CreationDate")),
    "Comments.xml": (("Id", "PostId", "CreationDate", "UserId"), ("Id", "PostId", "CreationDate")),
    "Users.xml": (("Id", "CreationDate", "Reputation"), ("Id", "CreationDate")),
    "Badges.xml": (("Id", "UserId", "Name", "Date", "Class", "TagBased"),
                   ("UserId", "Name", "Date", "Class")),
    "Votes.xml": (("Id", "PostId", "VoteTypeId", "CreationDate"), ("PostId", "VoteTypeId", "CreationDate")),
}
_ROW = re.compile(rb"<row[\s/>]")


@dataclass
class StackExchangeLeadership:
    """Leadership signals of a site, each dated (see the module notes).

    Attributes
    ----------
    reputation : DataFrame
        ``member_id``, ``ts``, ``delta``, ``reason`` (``upvote_answer``,
        ``upvote_question``, ``downvote``, ``accepted``), ``post_id``.
    accepted : DataFrame
        ``question_id``, ``answer_id``, ``member_id`` (the answerer),
        ``asker_id``, ``ts`` (acceptance day, NaT if unknown), ``self_accepted``.
    badges : DataFrame
        ``member_id``, ``ts``, ``name``, ``badge_class``, ``tag_based``.
    final_reputation : DataFrame
        ``member_id``, ``reputation`` at the export: reference only, never a feature.
    """

    reputation: pd.DataFrame
    accepted: pd.DataFrame
    badges: pd.DataFrame
    final_reputation: pd.DataFrame

    def between(self, start: object, end: object) -> pd.DataFrame:
        """Leadership earned in ``[start, end)``, per member.

        Parameters
        ----------
        start, end : timestamp
            The window (UTC; naive values are taken as UTC).

        Returns
        -------
        DataFrame
            Indexed by ``member_id`` (every member with any signal in the
            window): ``reputation_gain`` (sum of ``reputation.delta``),
            ``upvotes`` (upvotes received), ``accepted_answers`` (answers
            accepted in the window, self-accepted excluded) and
            ``gold_silver_badges``.
        """
        lo, hi = _utc(start), _utc(end)

        def inside(ts: pd.Series) -> np.ndarray:
            return ((ts >= lo) & (ts < hi)).to_numpy(dtype=bool, na_value=False)

        rep = self.reputation.loc[inside(self.reputation["ts"])]
        acc = self.accepted.loc[inside(self.accepted["ts"]) & ~self.accepted["self_accepted"].to_numpy()]
        bad = self.badges.loc[inside(self.badges["ts"])
                              & self.badges["badge_class"].isin(["gold", "silver"]).to_numpy()]
        up = rep["reason"].str.startswith("upvote").to_numpy(dtype=bool)
        parts = [rep.groupby("member_id")["delta"].sum().rename("reputation_gain"),
                 rep.loc[up].groupby("member_id").size().rename("upvotes"),
                 acc.groupby("member_id").size().rename("accepted_answers"),
                 bad.groupby("member_id").size().rename("gold_silver_badges")]
        out = pd.concat(parts, axis=1).fillna(0).astype(np.int64)
        out.index.name = "member_id"
        return out.sort_index()


@dataclass
class StackExchangeData(CommunityData):
    """A site in the event contract (see :class:`~shequn_ml.datasets.CommunityData`),
    plus its :class:`StackExchangeLeadership`."""

    leadership: StackExchangeLeadership | None = None


def _utc(value: object) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


class _XmlTable:
    """The needed attributes of every ``<row>`` of one dump file, and its errors."""

    def __init__(self, path: Path, name: str, fields: tuple[str, ...], required: tuple[str, ...]) -> None:
        self.path = path
        self.problems = Problems(name)
        self.frame = self._parse(fields)
        if self.frame is not None:
            for f in required:
                self.flag(self.frame[f].isna().to_numpy(), f, "missing_attribute",
                          f"{{n}} records have no {f} attribute (every record needs {', '.join(required)})")

    def _parse(self, fields: tuple[str, ...]) -> pd.DataFrame | None:
        cols: dict[str, list[str | None]] = {f: [] for f in fields}
        try:
            context = ET.iterparse(self.path, events=("start", "end"))
            _, root = next(context)
            for event, elem in context:
                if event == "end" and elem.tag == "row":
                    attrib = elem.attrib
                    for f in fields:
                        cols[f].append(attrib.get(f))
                    root.clear()
        except ET.ParseError as exc:
            line, column = exc.position
            msg = str(exc).split(":")[0]
            self.problems.add("not_xml", None, f"is not well-formed XML: {msg}",
                              rows=(f"line {line}, column {column + 1}",), count=1)
            return None
        frame = pd.DataFrame(cols, dtype=object)
        if frame.empty:
            self.problems.add("empty", None, "has no <row .../> records")
            return None
        return frame

    def labels(self, positions: np.ndarray) -> list[str]:
        """``line N (Id=X)`` of the records at ``positions`` (0-based record numbers)."""
        wanted = {int(p) for p in positions}
        line_of: dict[int, int] = {}
        seen = 0
        with open(self.path, "rb") as fh:
            for line_no, line in enumerate(fh, start=1):
                for _ in _ROW.finditer(line):
                    if seen in wanted:
                        line_of[seen] = line_no
                    seen += 1
                if len(line_of) == len(wanted):
                    break
        ids = self.frame["Id"] if self.frame is not None and "Id" in self.frame else None
        out = []
        for p in positions:
            where = f"line {line_of[int(p)]}" if int(p) in line_of else f"record {int(p) + 1}"
            if ids is not None and ids.iloc[p] is not None:
                where += f" (Id={ids.iloc[p]})"
            out.append(where)
        return out

    def flag(self, mask: np.ndarray, column: str, check: str, detail: str) -> None:
        hit = np.flatnonzero(mask)
        if not len(hit):
            return
        shown = hit[:MAX_ROWS_SHOWN]
        assert self.frame is not None
        values = self.frame[column].to_numpy(dtype=object)
        rows = [f"{label}: {show(values[p])}" for label, p in zip(self.labels(shown), shown, strict=True)]
        self.problems.add(check, column, detail.format(n=len(hit)), rows, count=len(hit))

    def ints(self, column: str) -> np.ndarray:
        """The column as floats (NaN where absent); values that are not integers are errors."""
        assert self.frame is not None
        raw = self.frame[column]
        num = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
        bad = raw.notna().to_numpy() & ~(np.isfinite(num) & (np.floor(num) == num))
        self.flag(bad, column, "not_an_integer", "{n} values are not integers")
        return np.where(bad, np.nan, num)

    def times(self, column: str) -> pd.Series:
        """The column as UTC timestamps; values that do not parse are errors."""
        assert self.frame is not None
        raw = self.frame[column]
        ts = pd.to_datetime(raw, format="ISO8601", utc=True, errors="coerce")
        self.flag((raw.notna() & ts.isna()).to_numpy(), column, "unparseable_timestamp",
                  "{n} values do not parse as timestamps (expected ISO-8601, e.g. 2021-04-27T15:06:44.553)")
        return ts

    def unique(self, column: str, values: np.ndarray) -> None:
        present = ~np.isnan(values)
        dup = present & pd.Series(values).duplicated(keep=False).to_numpy()
        self.flag(dup, column, "duplicate_id", "{n} records share an " + column + " with another record")


def _read(folder: Path, file: str, required_file: bool, notes: dict[str, int],
          errors: list[Problems]) -> _XmlTable | None:
    path = folder / file
    if not path.exists():
        if required_file:
            p = Problems(str(path))
            p.add("missing_file", None,
                  "the file does not exist (a Stack Exchange dump folder needs Posts.xml)")
            errors.append(p)
        else:
            notes[f"{path.stem.lower()}_file_missing"] = 1
        return None
    fields, required = FILES[file]
    table = _XmlTable(path, str(path), fields, required)
    errors.append(table.problems)
    return table if table.frame is not None else None


def _raise(errors: list[Problems]) -> None:
    bad = [p for p in errors if not p.ok]
    if not bad:
        return
    first = bad[0]
    for other in bad[1:]:  # one error listing every file's problems
        first.report.problems.extend(other.report.problems)
    first.raise_if_errors()


def _ids(values: np.ndarray) -> np.ndarray:
    """Integer-valued floats as id text ("17"), None where NaN."""
    out = np.full(len(values), None, dtype=object)
    ok = ~np.isnan(values)
    out[ok] = values[ok].astype(np.int64).astype(str)
    return out


def load_stackexchange(
    folder: str | os.PathLike[str],
    *,
    group_id: str | None = None,
    reputation_weights: dict[str, int] | None = None,
) -> StackExchangeData:
    """Read a Stack Exchange dump folder into the event contract and its leadership signals.

    Parameters
    ----------
    folder : path
        The site's folder with ``Posts.xml`` (and ``Comments.xml``,
        ``Users.xml``, ``Badges.xml``, ``Votes.xml`` when available).
    group_id : str, optional
        The site's group id (default: the folder's name).
    reputation_weights : dict, optional
        Overrides of :data:`REPUTATION_WEIGHTS` (keys ``upvote_answer``,
        ``upvote_question``, ``downvote``, ``accepted``).

    Returns
    -------
    StackExchangeData
        ``events``, ``members`` (one row per user, ``joined_at``; None without
        ``Users.xml``), ``groups`` (the site, ``created_at`` = its first event),
        ``leadership`` and ``notes`` (everything skipped, counted).

    Raises
    ------
    EventValidationError
        Naming the file, the attribute and the first offending records.
    """
    folder = Path(folder)
    weights = {**REPUTATION_WEIGHTS, **(reputation_weights or {})}
    unknown = sorted(set(weights) - set(REPUTATION_WEIGHTS))
    if unknown:
        raise ValueError(f"unknown reputation_weights keys {unknown}; expected {sorted(REPUTATION_WEIGHTS)}")
    group = group_id or folder.name
    notes: dict[str, int] = {}
    errors: list[Problems] = []
    tables = {f: _read(folder, f, f == "Posts.xml", notes, errors) for f in FILES}
    posts = tables["Posts.xml"]
    if posts is None:
        _raise(errors)
    assert posts is not None
    p_id, p_type = posts.ints("Id"), posts.ints("PostTypeId")
    p_parent, p_accepted = posts.ints("ParentId"), posts.ints("AcceptedAnswerId")
    p_owner, p_ts = posts.ints("OwnerUserId"), posts.times("CreationDate")
    posts.flag((p_type == 2) & np.isnan(p_parent), "ParentId", "missing_attribute",
               "{n} answers (PostTypeId 2) have no ParentId: the question they answer is unknown")
    posts.unique("Id", p_id)
    comments = tables["Comments.xml"]
    if comments is not None:
        c_id, c_post, c_user = comments.ints("Id"), comments.ints("PostId"), comments.ints("UserId")
        c_ts = comments.times("CreationDate")
    users = tables["Users.xml"]
    if users is not None:
        u_id, u_ts, u_rep = users.ints("Id"), users.times("CreationDate"), users.ints("Reputation")
        users.unique("Id", u_id)
    badge_table = tables["Badges.xml"]
    if badge_table is not None and badge_table.frame is not None:
        b_user, b_ts = badge_table.ints("UserId"), badge_table.times("Date")
        b_class = badge_table.ints("Class")
        badge_table.flag(~np.isnan(b_class) & ~np.isin(b_class, list(BADGE_CLASSES)), "Class",
                         "bad_badge_class", "{n} values are not a badge class (1 gold, 2 silver, 3 bronze)")
        b_name = badge_table.frame["Name"].to_numpy(dtype=object)
        b_tag = (badge_table.frame["TagBased"].fillna("").str.lower() == "true").to_numpy(dtype=bool)
    votes = tables["Votes.xml"]
    if votes is not None:
        v_post, v_type, v_ts = votes.ints("PostId"), votes.ints("VoteTypeId"), votes.times("CreationDate")
    _raise(errors)

    excluded = np.array(sorted(EXCLUDED_USERS), dtype=float)
    owner_of = pd.Series(p_owner, index=p_id)
    type_of = pd.Series(p_type, index=p_id)
    frames: list[pd.DataFrame] = []

    # -- users join
    members = None
    if users is not None:
        keep = ~np.isin(u_id, excluded)
        notes["community_user_rows"] = int((~keep).sum())
        frames.append(pd.DataFrame({"ts": u_ts[keep].to_numpy(), "member_id": _ids(u_id[keep]),
                                    "event_type": "join", "event_id": [f"user {i}" for i in _ids(u_id[keep])],
                                    "target_member_id": None, "ref_event_id": None}))
        members = pd.DataFrame({"member_id": _ids(u_id[keep]), "group_id": group,
                                "joined_at": u_ts[keep].to_numpy()})

    # -- questions and answers
    is_q, is_a = p_type == 1, p_type == 2
    notes["other_post_types"] = int((~is_q & ~is_a).sum())
    no_owner = np.isnan(p_owner)
    community = np.isin(p_owner, excluded)
    qa = is_q | is_a
    notes["posts_without_owner"] = int((qa & no_owner).sum())
    notes["community_posts"] = int((qa & community).sum())
    keep = qa & ~no_owner & ~community
    asker = owner_of.reindex(p_parent[keep & is_a]).to_numpy(dtype=float, copy=True)
    notes["answers_to_questions_not_in_dump"] = int(
        (~pd.Series(p_parent[keep & is_a]).isin(p_id[is_q]).to_numpy()).sum())
    target = np.full(int(keep.sum()), np.nan)
    ans_rows = is_a[keep]
    target[ans_rows] = asker
    self_answer = ans_rows & (target == p_owner[keep])
    notes["answers_to_own_question"] = int(self_answer.sum())
    target[self_answer | np.isin(target, excluded)] = np.nan
    ref = np.where(ans_rows, np.array([f"post {i}" for i in _ids(p_parent[keep])], dtype=object), None)
    frames.append(pd.DataFrame({
        "ts": p_ts[keep].to_numpy(), "member_id": _ids(p_owner[keep]),
        "event_type": np.where(ans_rows, "answer", "question"),
        "event_id": [f"post {i}" for i in _ids(p_id[keep])],
        "target_member_id": _ids(target), "ref_event_id": ref}))

    # -- comments
    if comments is not None:
        notes["comments_without_user"] = int(np.isnan(c_user).sum())
        notes["community_comments"] = int(np.isin(c_user, excluded).sum())
        keep = ~np.isnan(c_user) & ~np.isin(c_user, excluded)
        on_post = pd.Series(c_post[keep]).isin(p_id[qa]).to_numpy()
        tgt = owner_of.reindex(c_post[keep]).to_numpy(dtype=float, copy=True)
        tgt[~on_post] = np.nan
        notes["comments_on_posts_not_in_dump"] = int((~on_post).sum())
        notes["comments_on_posts_without_owner"] = int((on_post & np.isnan(tgt)).sum())
        own = tgt == c_user[keep]
        notes["comments_on_own_post"] = int(own.sum())
        tgt[own | np.isin(tgt, excluded)] = np.nan
        frames.append(pd.DataFrame({
            "ts": c_ts[keep].to_numpy(), "member_id": _ids(c_user[keep]),
            "event_type": np.where(np.isnan(tgt), "message", "reply"),
            "event_id": [f"comment {i}" for i in _ids(c_id[keep])],
            "target_member_id": _ids(tgt), "ref_event_id": [f"post {i}" for i in _ids(c_post[keep])]}))

    raw = pd.concat(frames, ignore_index=True)
    raw.insert(1, "group_id", group)
    raw = raw.sort_values(["ts", "event_id"], kind="stable").reset_index(drop=True)
    events = read_events(raw, name=str(folder))
    groups = read_groups(pd.DataFrame({"group_id": [group], "created_at": [events["ts"].min()]}))
    if members is not None:
        members = read_members(members)

    # -- leadership
    reputation = pd.DataFrame({"member_id": pd.Series([], dtype=object),
                               "ts": pd.Series([], dtype="datetime64[ns, UTC]"),
                               "delta": pd.Series([], dtype=np.int64), "reason": pd.Series([], dtype=object),
                               "post_id": pd.Series([], dtype=object)})
    accept_day = pd.Series([], dtype="datetime64[ns, UTC]")
    if votes is not None:
        ptype = type_of.reindex(v_post).to_numpy(dtype=float)
        owner = owner_of.reindex(v_post).to_numpy(dtype=float)
        counted = np.isin(v_type, [1, 2, 3])
        notes["votes_other_types"] = int((~counted).sum())
        attributable = counted & np.isin(ptype, [1, 2]) & ~np.isnan(owner) & ~np.isin(owner, excluded)
        reason = np.select([(v_type == 2) & (ptype == 2), (v_type == 2) & (ptype == 1), v_type == 3,
                            (v_type == 1) & (ptype == 2)],
                           ["upvote_answer", "upvote_question", "downvote", "accepted"], default="")
        # the asker accepting their own answer earns nothing
        parent = pd.Series(p_parent, index=p_id).reindex(v_post).to_numpy(dtype=float)
        self_acc = (reason == "accepted") & (owner_of.reindex(parent).to_numpy(dtype=float) == owner)
        ok = attributable & (reason != "") & ~self_acc
        notes["votes_unattributed"] = int((counted & ~ok).sum())
        reputation = pd.DataFrame({
            "member_id": _ids(owner[ok]), "ts": v_ts[ok].to_numpy(),
            "delta": np.array([weights[r] for r in reason[ok]], dtype=np.int64),
            "reason": reason[ok], "post_id": _ids(v_post[ok])})
        acc_votes = v_type == 1
        accept_day = pd.Series(v_ts[acc_votes].to_numpy(), index=v_post[acc_votes])
        accept_day = accept_day[~accept_day.index.duplicated(keep="first")]
    has_acc = is_q & ~np.isnan(p_accepted)
    ans = p_accepted[has_acc]
    answerer = owner_of.reindex(ans).to_numpy(dtype=float)
    known = ~np.isnan(answerer) & ~np.isin(answerer, excluded)
    accepted = pd.DataFrame({
        "question_id": _ids(p_id[has_acc][known]), "answer_id": _ids(ans[known]),
        "member_id": _ids(answerer[known]), "asker_id": _ids(p_owner[has_acc][known]),
        "ts": pd.Series(accept_day.reindex(ans[known]).to_numpy(), dtype="datetime64[ns, UTC]"),
        "self_accepted": answerer[known] == p_owner[has_acc][known]})
    notes["accepted_answers_unattributed"] = int((~known).sum())
    badges = pd.DataFrame(columns=["member_id", "ts", "name", "badge_class", "tag_based"])
    if badge_table is not None:
        keep = ~np.isin(b_user, excluded)
        badges = pd.DataFrame({
            "member_id": _ids(b_user[keep]), "ts": b_ts[keep].to_numpy(), "name": b_name[keep],
            "badge_class": [BADGE_CLASSES[int(k)] for k in b_class[keep]], "tag_based": b_tag[keep]})
    final = pd.DataFrame(columns=["member_id", "reputation"])
    if users is not None:
        keep = ~np.isin(u_id, excluded)
        final = pd.DataFrame({"member_id": _ids(u_id[keep]),
                              "reputation": pd.array(u_rep[keep], dtype="Int64")})
    leadership = StackExchangeLeadership(reputation, accepted, badges, final)
    return StackExchangeData(events, members, groups, notes, leadership)


__all__ = ["EXCLUDED_USERS", "REPUTATION_WEIGHTS", "StackExchangeData", "StackExchangeLeadership",
           "load_stackexchange"]
