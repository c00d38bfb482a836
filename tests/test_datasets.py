"""The dataset adapters on slices of the real files, checked against counts made here.

Every expected figure is computed in the test from the raw text (line splits,
regular expressions, the csv module), never by the adapter's own code. The real
data lives in ../shared/data relative to the repository; a test that needs a
folder that is absent is skipped with the reason.
"""

from __future__ import annotations

import collections
import csv
import gzip
import html
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shequn_ml.datasets import load_gitter, load_irc, load_slack_disentangled, load_snap, load_stackexchange
from shequn_ml.validation import EventValidationError

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
COLLEGE = DATA / "collegemsg" / "CollegeMsg.txt"
SE = DATA / "se-cardano"
IRC = DATA / "ubuntu-irc" / "events.csv.gz"
GITTER = DATA / "gitter"
RACKET = DATA / "slack-racket"


def need(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"real data not found at {path} (the shared data folder ../shared/data is absent)")


def triples(events: pd.DataFrame) -> collections.Counter:
    """(member, event type, target or None) of every event, counted."""
    cols = events[["member_id", "event_type", "target_member_id"]].astype(object)
    return collections.Counter(
        (m, e, None if t is None or (isinstance(t, float) and np.isnan(t)) else t)
        for m, e, t in cols.itertuples(index=False))


# --------------------------------------------------------------------------- SNAP


@pytest.fixture
def college_slice(tmp_path: Path) -> tuple[Path, list[str]]:
    need(COLLEGE)
    with open(COLLEGE, encoding="utf-8") as fh:
        lines = [next(fh) for _ in range(6000)]  # header + 5,999 messages, with duplicates
    path = tmp_path / "college.txt"
    path.write_text("".join(lines), encoding="utf-8")
    return path, lines


def test_snap_slice_matches_raw_counts(college_slice: tuple[Path, list[str]]) -> None:
    path, lines = college_slice
    edges = [tuple(line.split()) for line in lines[1:]]
    distinct = list(dict.fromkeys(edges))
    assert len(edges) - len(distinct) >= 2, "the slice should contain duplicates"
    data = load_snap(path, group_id="college")
    ev = data.events
    assert len(ev) == len(distinct)
    assert data.notes["duplicates_dropped"] == len(edges) - len(distinct)
    assert data.notes["header_lines"] == 1
    assert set(ev["event_type"].astype(str)) == {"reply"}
    assert set(ev["group_id"].astype(str)) == {"college"}
    expected = collections.Counter((s, "reply", d) for s, d, _ in distinct)
    assert triples(ev) == expected
    secs = [int(t) for _, _, t in edges]
    assert ev["ts"].min() == pd.Timestamp(min(secs), unit="s", tz="UTC")
    assert ev["ts"].max() == pd.Timestamp(max(secs), unit="s", tz="UTC")
    assert ev["member_id"].nunique() == len({s for s, _, _ in edges})


def test_snap_keeps_duplicates_and_reads_gzip(college_slice: tuple[Path, list[str]], tmp_path: Path) -> None:
    _, lines = college_slice
    gz = tmp_path / "college.txt.gz"
    with gzip.open(gz, "wt", encoding="utf-8") as fh:
        fh.write("# Directed temporal network\n" + "".join(lines[1:]))  # a SNAP comment, no header
    data = load_snap(gz, duplicates="keep", event_type="message")
    assert len(data.events) == len(lines) - 1
    assert data.notes["header_lines"] == 0
    assert set(data.events["event_type"].astype(str)) == {"message"}
    assert data.events["target_member_id"].notna().all()


def test_snap_refuses_malformed_lines(tmp_path: Path) -> None:
    path = tmp_path / "edges.txt"
    path.write_text("src dst ts\n1 2 1082040961\n# note\n3 4 1082040962\n5 6 yesterday\n"
                    "7 8 1082040963 9\n9 1\n", encoding="utf-8")
    with pytest.raises(EventValidationError) as err:
        load_snap(path)
    msg = str(err.value)
    assert str(path) in msg
    assert "column 'unix_ts'" in msg
    assert "line 5: 'yesterday'" in msg
    assert "line 6: '7 8 1082040963 9'" in msg and "line 7: '9 1'" in msg
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing here\n\n", encoding="utf-8")
    with pytest.raises(EventValidationError, match="empty.txt: the file has no edge lines"):
        load_snap(empty)


# --------------------------------------------------------------------------- Stack Exchange

SE_ROWS = {"Posts.xml": 400, "Comments.xml": 300, "Users.xml": 600, "Badges.xml": 300, "Votes.xml": 600}


def attrs(line: str) -> dict[str, str]:
    return dict(re.findall(r'(\w+)="([^"]*)"', line))


@pytest.fixture
def se_slice(tmp_path: Path) -> tuple[Path, dict[str, list[dict[str, str]]]]:
    """The first rows of each dump file, as a dump folder, and those rows' attributes."""
    need(SE)
    folder = tmp_path / "se-slice"
    folder.mkdir()
    rows: dict[str, list[dict[str, str]]] = {}
    for name, n in SE_ROWS.items():
        text = (SE / name).read_text(encoding="utf-8-sig").splitlines()
        body = [line for line in text if line.lstrip().startswith("<row")][:n]
        root = text[1].strip()
        (folder / name).write_text("\n".join([text[0], root, *body, root.replace("<", "</")]) + "\n",
                                   encoding="utf-8")
        rows[name] = [attrs(line) for line in body]
    return folder, rows


def test_stackexchange_slice_matches_raw_counts(se_slice) -> None:
    folder, rows = se_slice
    posts = rows["Posts.xml"]
    owner = {p["Id"]: p.get("OwnerUserId") for p in posts if p["PostTypeId"] in ("1", "2")}
    expected: collections.Counter = collections.Counter()
    for u in rows["Users.xml"]:
        if u["Id"] != "-1":
            expected[(u["Id"], "join", None)] += 1
    for p in posts:
        who = p.get("OwnerUserId")
        if p["PostTypeId"] not in ("1", "2") or who in (None, "-1"):
            continue
        if p["PostTypeId"] == "1":
            expected[(who, "question", None)] += 1
        else:
            asker = owner.get(p["ParentId"])
            expected[(who, "answer", asker if asker not in (None, "-1", who) else None)] += 1
    for c in rows["Comments.xml"]:
        who = c.get("UserId")
        if who in (None, "-1"):
            continue
        to = owner.get(c["PostId"])
        if to in (None, "-1", who):
            expected[(who, "message", None)] += 1
        else:
            expected[(who, "reply", to)] += 1
    data = load_stackexchange(folder, group_id="cardano")
    assert triples(data.events) == expected
    made = collections.Counter(e for _, e, t in expected.elements() if t is not None)
    assert made["answer"] > 50 and made["reply"] > 50  # the slice has targets of both kinds
    kinds = collections.Counter(p["PostTypeId"] for p in posts)
    assert (data.events["event_type"] == "question").sum() <= kinds["1"]
    assert set(data.events["group_id"].astype(str)) == {"cardano"}
    assert len(data.members) == sum(u["Id"] != "-1" for u in rows["Users.xml"])
    assert data.notes["other_post_types"] == sum(k for t, k in kinds.items() if t not in ("1", "2"))

    # leadership: reputation from votes, accepted answers, badges
    ptype = {p["Id"]: p["PostTypeId"] for p in posts}
    parent = {p["Id"]: p.get("ParentId") for p in posts}
    rep: collections.Counter = collections.Counter()
    for v in rows["Votes.xml"]:
        pid, vt = v["PostId"], v["VoteTypeId"]
        who = owner.get(pid)
        if who in (None, "-1") or vt not in ("1", "2", "3"):
            continue
        if vt == "2":
            rep[who] += 10 if ptype[pid] == "2" else 5
        elif vt == "3":
            rep[who] -= 2
        elif ptype[pid] == "2" and owner.get(parent[pid]) != who:
            rep[who] += 15
    got = data.leadership.reputation.groupby("member_id")["delta"].sum()
    assert len(rep) > 20
    assert dict(got.items()) == dict(rep)
    accepted = [p for p in posts if p.get("AcceptedAnswerId") in owner
                and owner[p["AcceptedAnswerId"]] not in (None, "-1")]
    assert len(data.leadership.accepted) == len(accepted)
    gold_silver = sum(b["Class"] in ("1", "2") and b["UserId"] != "-1" for b in rows["Badges.xml"])
    assert data.leadership.badges["badge_class"].isin(["gold", "silver"]).sum() == gold_silver
    window = data.leadership.between("2021-04-01", "2022-01-01")
    assert window["reputation_gain"].sum() == sum(rep.values())


def test_stackexchange_refuses_malformed_records(se_slice) -> None:
    folder, _ = se_slice
    lines = (folder / "Posts.xml").read_text(encoding="utf-8").splitlines()
    row_id = attrs(lines[3])["Id"]
    lines[3] = lines[3].replace('CreationDate="2021', 'CreationDate="soon 2021', 1)
    lines[5] = re.sub(r' PostTypeId="\d+"', "", lines[5])
    missing_id = attrs(lines[5])["Id"]
    (folder / "Posts.xml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(EventValidationError) as err:
        load_stackexchange(folder)
    msg = str(err.value)
    assert f"{folder / 'Posts.xml'}: column 'CreationDate'" in msg
    assert f"line 4 (Id={row_id}): 'soon 2021" in msg
    assert "column 'PostTypeId': 1 records have no PostTypeId attribute" in msg
    assert f"line 6 (Id={missing_id})" in msg

    (folder / "Posts.xml").write_text("\n".join(lines[:8]) + "\n<row Id=\"9\n", encoding="utf-8")
    with pytest.raises(EventValidationError, match=r"Posts.xml: is not well-formed XML: .*line 9, column 1"):
        load_stackexchange(folder)
    (folder / "Posts.xml").unlink()
    with pytest.raises(EventValidationError, match=r"Posts.xml: the file does not exist"):
        load_stackexchange(folder)


# --------------------------------------------------------------------------- IRC

IRC_SLICES = ("2004-11-15_03", "2005-08-08_01", "2005-12-03.train-c")


@pytest.fixture
def irc_slice(tmp_path: Path) -> tuple[Path, list[dict[str, str]]]:
    need(IRC)
    with gzip.open(IRC, "rt", encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        fields = reader.fieldnames
        rows = [r for r in reader if r["sample"] in IRC_SLICES]
    path = tmp_path / "irc.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return path, rows


def test_irc_slice_matches_raw_counts(irc_slice) -> None:
    path, rows = irc_slice
    nick_at = {(r["sample"], int(r["line"])): r["nick"].strip() for r in rows}
    expected: collections.Counter = collections.Counter()
    for r in rows:
        who = r["nick"].strip()
        if r["kind"] in ("join", "leave"):
            expected[(who, r["kind"], None)] += 1
        elif r["kind"] in ("message", "action"):
            linked = [nick_at[(r["sample"], int(t))] for t in re.split(r"[ ;]+", r["reply_to_lines"].strip())
                      if t]
            others = [n for n in linked if n != who]
            expected[(who, "reply", others[0]) if others else (who, "message", None)] += 1
    data = load_irc(path)
    ev = data.events
    assert triples(ev) == expected
    assert (ev["event_type"] == "reply").sum() > 100
    assert set(ev["group_id"].astype(str)) == set(IRC_SLICES)
    assert data.notes["mode_lines"] == sum(r["kind"] == "mode" for r in rows)
    assert data.groups.set_index("group_id")["split"].astype(str).to_dict() == {
        r["sample"]: r["split"] for r in rows}

    # leaders: mode setters (not services) and ubuntu/member cloaks; bots
    ops = {r["nick"] for r in rows if r["kind"] == "mode"} - {"ChanServ"}
    cloaked = {r["nick"] for r in rows if "ubuntu/member/" in r["cloak"]}
    assert ops and cloaked
    got = data.leaders
    assert set(got.loc[got["operator"], "member_id"]) == ops
    assert set(got.loc[got["ubuntu_member"], "member_id"]) == cloaked
    assert {"ubotu"} <= set(data.bots["member_id"])
    assert not set(data.bots["member_id"]) & (ops | cloaked)


def test_irc_time_follows_line_order_across_clock_wraps(irc_slice) -> None:
    path, rows = irc_slice
    data = load_irc(path)
    ev = data.events.assign(line=data.events["event_id"].str.split("#").str[1].astype(int))
    one = ev.loc[ev["group_id"] == "2004-11-15_03"].sort_values("line")
    assert one["ts"].is_monotonic_increasing
    # this slice's 12-hour clock goes from 12:59 to 01:00: one minute, not eleven hours back
    times = [(int(r["line"]), r["time"]) for r in rows if r["sample"] == "2004-11-15_03" and r["time"]]
    before = max(line for line, t in times if t == "12:59")
    after = min(line for line, t in times if t == "01:00")
    ts = one.set_index("line")["ts"]
    near = lambda line: ts[ts.index <= line].iloc[-1]  # noqa: E731 - the last event at or before the line
    assert near(after) - near(before) == pd.Timedelta(minutes=1)


def test_irc_refuses_malformed_rows(tmp_path: Path) -> None:
    text = ("sample,line,date,time,nick,kind,reply_to_lines\n"
            "s,0,2005-01-01,10:00,a,message,\n"
            "s,1,2005-01-01,10:01,b,shout,\n"
            "s,2,2005-01-01,25:99,c,message,\n"
            "s,3,2005-01-01,10:03,d,message,7\n"
            "s,4,2005-01-01,10:04,e,message,x\n")
    path = tmp_path / "bad.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write(text)
    with pytest.raises(EventValidationError) as err:
        load_irc(path)
    msg = str(err.value)
    assert f"{path}: column 'kind': 1 rows have an unknown kind" in msg and "line 3: 'shout'" in msg
    assert "column 'time'" in msg and "line 4: '25:99'" in msg
    # reply links are checked once the rows themselves are sound
    fixed = text.replace("shout", "message").replace("25:99", "10:02")
    path.write_bytes(gzip.compress(fixed.encode()))
    with pytest.raises(EventValidationError) as err:
        load_irc(path)
    msg = str(err.value)
    assert "column 'reply_to_lines': 2 reply links are not the line number of an earlier line" in msg
    assert "line 5: '7'" in msg and "line 6: 'x'" in msg
    no_kind = tmp_path / "nokind.csv"
    no_kind.write_text(text.replace(",kind,", ",type,"), encoding="utf-8")
    with pytest.raises(EventValidationError, match=r"nokind.csv: column 'kind': required column is missing"):
        load_irc(no_kind)


# --------------------------------------------------------------------------- Gitter

GITTER_LOG = """\
[2016-11-21 08:47:30] <ReaLau> Hello@mgmanikandan87
[2016-11-21 08:48:02] <mgmanikandan87> realau: yes
[2016-11-21 08:48:10] <carol> Hi, all: @nobody knows
[2016-11-21 08:48:20] <ReaLau> ReaLau: note to self
    at Foo.bar(Baz.java:12)
[2016-11-21 08:47:30] <ReaLau> Hello@mgmanikandan87
[2016-11-21 08:49:00] <carol> @ReaLauthanks for that
[2016-11-21 08:49:30] <carol> @nobody @mgmanikandan87 and @ReaLau
[2016-11-21 08:50:00] <ReaLau> see the guide, mgmanikandan87: it helps
[2016-11-21 08:50:30] <carol> @Dave, are you there?
[2016-11-21 08:51:00] <dave> Carol, yes
"""


def test_gitter_reply_rules(tmp_path: Path) -> None:
    path = tmp_path / "room_room.txt.gz"
    path.write_bytes(gzip.compress(GITTER_LOG.replace("\n", "\r\n").encode()))
    data = load_gitter(path)
    ev = data.events
    got = ev[["event_id", "member_id", "event_type", "target_member_id"]].astype(object).fillna("-")
    assert got.values.tolist() == [
        ["line 1", "ReaLau", "reply", "mgmanikandan87"],  # "@name" glued to the word before
        ["line 2", "mgmanikandan87", "reply", "ReaLau"],  # "name:" at the start, any case
        ["line 3", "carol", "message", "-"],  # "Hi," and "@nobody" name no sender of the room
        ["line 4", "ReaLau", "message", "-"],  # addressed to oneself
        ["line 7", "carol", "reply", "ReaLau"],  # "@ReaLauthanks": the login glued to the next word
        ["line 8", "carol", "reply", "mgmanikandan87"],  # the first login in the text
        ["line 9", "ReaLau", "message", "-"],  # "name:" only counts at the start
        ["line 10", "carol", "reply", "dave"],  # dave speaks later in the file
        ["line 11", "dave", "reply", "carol"],
    ]
    assert set(ev["group_id"].astype(str)) == {"room_room"}
    assert str(ev["ts"].iloc[0]) == "2016-11-21 08:47:30+00:00"
    notes = data.notes
    assert (notes["lines"], notes["messages"], notes["unparsed_lines"]) == (11, 10, 1)
    assert notes["duplicates_dropped"] == 1
    # "@Dave," at the start is a prefix
    assert (notes["replies_prefix"], notes["replies_at"], notes["glued_mentions"]) == (3, 3, 1)
    assert notes["self_addressed"] == 1
    assert load_gitter(path, group_id="g").events["group_id"].astype(str).unique().tolist() == ["g"]


def test_gitter_refuses_malformed_lines(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("[2016-11-21 08:47:30] <a> hi\n[2016-11-21 08:48:00] <b> hello\n"
                   "[2016-11-21 8:48] <c> late\n[2016-13-01 00:00:00] <d> never\n", encoding="utf-8")
    with pytest.raises(EventValidationError,
                       match=r"bad.txt: column 'ts': 2 message lines have a time that does not parse.*"
                             r"line 3: '2016-11-21 8:48', line 4: '2016-13-01 00:00:00'"):
        load_gitter(bad)
    stray = tmp_path / "stray.txt"
    stray.write_text("a stray line\n[2016-11-21 08:47:30] <a> hi\n", encoding="utf-8")
    with pytest.raises(EventValidationError, match=r"stray.txt: column 'ts': 1 lines come before the first "
                                                   r"message line.*line 1: 'a stray line'"):
        load_gitter(stray)
    log = tmp_path / "log.txt"
    log.write_text("[2016-11-21 08:47:30] <a> my log:\n" + "[ADB] some output\n" * 20, encoding="utf-8")
    with pytest.raises(EventValidationError, match=r"log.txt: column 'ts': 20 of 21 lines have no"):
        load_gitter(log)


GITTER_HEAD = re.compile(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\] <(\S+?)> ?(.*)")


@pytest.mark.parametrize("room", ["gitter_gitter", "appium_appium"])
def test_gitter_rooms_match_raw_counts(room: str) -> None:
    path = GITTER / f"{room}.txt.gz"
    need(path)
    lines = gzip.decompress(path.read_bytes()).decode("utf-8").split("\r\n")[:-1]
    parsed = [(i + 1, m.groups()) for i, line in enumerate(lines) if (m := GITTER_HEAD.fullmatch(line))]
    distinct = {g: i for i, g in reversed(parsed)}  # first line of each (time, login, text)
    started = time.perf_counter()
    data = load_gitter(path)
    assert time.perf_counter() - started < 5
    ev = data.events
    assert len(ev) == len(distinct) == len(parsed) - data.notes["duplicates_dropped"]
    assert data.notes["unparsed_lines"] == len(lines) - len(parsed)
    assert 0 < data.notes["unparsed_lines"] < 0.05 * len(lines)
    assert sorted(ev["event_id"]) == sorted(f"line {i}" for i in distinct.values())
    senders = {login for _, (_, login, _) in parsed}
    assert ev["member_id"].nunique() == len(senders) > 1000
    assert ev["ts"].min() == pd.Timestamp(parsed[0][1][0], tz="UTC")
    assert ev["ts"].max() == pd.Timestamp(parsed[-1][1][0], tz="UTC")
    # every reply is aimed at another sender of the room whom its text addresses
    text = {f"line {i}": t for i, (_, _, t) in parsed}
    replies = ev.loc[ev["event_type"] == "reply"]
    assert len(replies) > 3000
    aimed = replies[["event_id", "member_id", "target_member_id"]].astype(str)
    for eid, who, to in aimed.itertuples(index=False):
        said = text[eid].lower()
        assert to in senders and to != who
        assert "@" + to.lower() in said or re.match(rf"\s*@?{re.escape(to.lower())}\.*\s*[:,]", said), eid
    # a message naming another sender exactly after "@" is a reply
    lower = {s.lower() for s in senders}
    for eid, who, kind in ev[["event_id", "member_id", "event_type"]].astype(str).itertuples(index=False):
        named = {w.rstrip(".-~").lower() for w in re.findall(r"@([\w.~-]+)", text[eid])} & lower
        if named - {who.lower()}:
            assert kind == "reply", eid


# --------------------------------------------------------------------------- Slack (disentangled XML)

def slack_xml(*messages: tuple[str, str, str, str]) -> str:
    """A file of ``(conversation_id, ts, user, text)`` messages, one element per line."""
    body = "".join(f'  <message conversation_id="{c}"><ts>{t}</ts><user>{u}</user><text>{html.escape(x)}'
                   "</text></message>\n" for c, t, u, x in messages)
    return f"<slack>\n  <team_domain>t</team_domain>\n{body}</slack>\n"


def test_slack_mentions_conversations_and_duplicates(tmp_path: Path) -> None:
    folder = tmp_path / "chat"
    folder.mkdir()
    (folder / "chat-2017.xml").write_text(slack_xml(
        ("1", "2017-12-30T10:00:00.000001", "Ann", "how do I read a port?"),
        ("1", "2017-12-30T10:01:00.000002", "Bob", "with read-line"),
        ("1", "2017-12-30T10:02:00.000003", "Bob", "or port->string"),
        ("2", "2017-12-30T10:03:00.000004", "Cy", "<@Ann> see the docs, <@Bob>"),
        ("2", "2017-12-30T10:04:00.000005", "Cy", "<@Cy> <@Nobody> <!channel> hello"),
        ("3", "2017-12-30T10:05:00.000006", "Dee", "first in its conversation"),
    ), encoding="utf-8")
    with gzip.open(folder / "chat-2018.xml.gz", "wt", encoding="utf-8") as fh:
        fh.write(slack_xml(
            ("1", "2017-12-30T10:05:00.000006", "Dee", "first in its conversation"),  # also in 2017
            ("1", "2018-01-02T09:00:00.5", "Ann", "thanks!"),  # conversation 1 of 2018, not of 2017
            ("1", "2018-01-02T09:01:00.5", "Bob", "<@U0702F2CE|someone> np"),
        ))
    data = load_slack_disentangled(folder, group_id="chat")
    got = data.events[["event_id", "member_id", "event_type", "target_member_id", "ref_event_id"]]
    assert got.astype(object).fillna("-").values.tolist() == [
        ["chat-2017:0", "Ann", "message", "-", "-"],
        ["chat-2017:1", "Bob", "reply", "Ann", "chat-2017:0"],
        ["chat-2017:2", "Bob", "reply", "Ann", "chat-2017:0"],  # the last message by someone else
        ["chat-2017:3", "Cy", "reply", "Ann", "-"],  # the first mention of a known user
        ["chat-2017:4", "Cy", "message", "-", "-"],  # only oneself, an unknown name and the channel
        ["chat-2017:5", "Dee", "message", "-", "-"],
        ["chat-2018:1", "Ann", "message", "-", "-"],
        ["chat-2018:2", "Bob", "reply", "Ann", "chat-2018:1"],  # the mention names no sender
    ]
    assert str(data.events["ts"].iloc[6]) == "2018-01-02 09:00:00.500000+00:00"
    notes = data.notes
    assert (notes["files"], notes["messages"], notes["duplicates_dropped"]) == (2, 9, 1)
    assert (notes["replies_mention"], notes["replies_conversation"]) == (1, 3)
    # Ann and Bob speak in both files; Dee's 2018 message was the dropped duplicate
    assert (notes["self_mentions"], notes["unknown_mentions"], notes["users_in_several_files"]) == (1, 2, 2)
    one = load_slack_disentangled(folder / "chat-2018.xml.gz")
    assert len(one.events) == 3 and set(one.events["group_id"].astype(str)) == {"racket-general"}
    assert len(load_slack_disentangled([folder / "chat-2017.xml", folder / "chat-2018.xml.gz"]).events) == 8


def test_slack_refuses_malformed_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text("<slack>\n  <message conversation_id=\"1\"><ts>2018-01-01T00:00:00</ts>\n"
                   "  <user>A</message>\n</slack>\n", encoding="utf-8")
    with pytest.raises(EventValidationError, match=r"bad.xml: is not well-formed XML: mismatched .*line 3"):
        load_slack_disentangled(bad)
    fields = tmp_path / "fields.xml"
    fields.write_text(slack_xml(("1", "2018-01-01T00:00:00", "A", "x"), ("1", "soon", "B", "y"),
                                ("1", "2018-01-01T00:01:00", "", "z")), encoding="utf-8")
    with pytest.raises(EventValidationError) as err:
        load_slack_disentangled([fields, bad])
    msg = str(err.value)
    assert "fields.xml: column 'ts': 1 values do not parse as timestamps" in msg and "line 4: 'soon'" in msg
    assert "fields.xml: column 'user': 1 messages have no <user>" in msg and "line 5" in msg
    assert "bad.xml: is not well-formed XML" in msg
    (tmp_path / "empty").mkdir()
    with pytest.raises(EventValidationError, match=r"empty: no .xml or .xml.gz file"):
        load_slack_disentangled(tmp_path / "empty")


SLACK_MESSAGE = re.compile(r'<message conversation_id="(\d+)">\s*<ts>(.*?)</ts>\s*<user>(.*?)</user>'
                           r"(.*?)</message>", re.DOTALL)


def test_slack_racket_matches_raw_counts() -> None:
    need(RACKET)
    files = sorted(RACKET.glob("*.xml.gz"))
    raw = []  # (file stem, position, conversation, ts, user, text)
    for f in files:
        body = gzip.decompress(f.read_bytes()).decode("utf-8")
        stem = f.name.removesuffix(".xml.gz")
        for i, (c, ts, user, rest) in enumerate(SLACK_MESSAGE.findall(body)):
            text = html.unescape("".join(re.findall(r"<text>(.*?)</text>", rest, re.DOTALL)))
            raw.append((stem, i, f"{stem}#{c}", pd.Timestamp(ts, tz="UTC"), user, text))
    assert len(raw) == sum(gzip.decompress(f.read_bytes()).count(b"<message ") for f in files)
    data = load_slack_disentangled(RACKET)
    ev = data.events
    assert len(ev) == len(raw) - data.notes["duplicates_dropped"] and data.notes["duplicates_dropped"] == 0
    users = {r[4] for r in raw}
    assert ev["member_id"].nunique() == len(users) > 300
    expected: collections.Counter = collections.Counter()
    history: dict[str, list[str]] = collections.defaultdict(list)
    for _, _, conv, _, user, text in sorted(raw, key=lambda r: r[3]):
        named = [n for n in re.findall(r"<@([^>|]+)", text) if n in users and n != user]
        earlier = [u for u in history[conv] if u != user]
        to = named[0] if named else earlier[-1] if earlier else None
        expected[(user, "reply" if to else "message", to)] += 1
        history[conv].append(user)
    assert triples(ev) == expected
    assert data.notes["replies_mention"] > 4000 and data.notes["replies_conversation"] > 14000
    # the yearly files do not overlap in time, and few pseudonyms recur across them (see slack_xml)
    spans = ev.assign(stem=ev["event_id"].str.split(":").str[0]).groupby("stem")["ts"].agg(["min", "max"])
    assert (spans["min"].iloc[1:].to_numpy() > spans["max"].iloc[:-1].to_numpy()).all()
    per_year = collections.defaultdict(set)
    for stem, _, _, _, user, _ in raw:
        per_year[stem].add(user)
    several = sum(sum(u in s for s in per_year.values()) > 1 for u in users)
    assert data.notes["users_in_several_files"] == several < 0.05 * len(users)
