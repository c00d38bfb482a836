"""The line-based chat-log importer (shequn_ml/importers/linelog.py): Gitter rooms and IRC logs.

The real Gitter room (LiveChat study, /work/shared/data/gitter) is checked against
figures counted here line by line; the fixtures in tests/data/importers/linelog/ pin
exact values (a Gitter room and an #ubuntu IRC log with joins, a nick change, a kick,
quits and a day rollover) and the error messages.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from shequn_ml.importers import ImportFormatError, write_import
from shequn_ml.importers.linelog import read_line_log
from shequn_ml.io import read_events

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
FIX = REPO / "tests" / "data" / "importers" / "linelog"
IRC = FIX / "#ubuntu.2016-06-06.txt"


def _need(path: Path) -> Path:
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"the real data {path} is missing (CI is set)")
        pytest.skip(f"the real data {path} is not on this machine")
    return path


def _counts(result) -> dict[str, int]:
    return {str(k): int(v) for k, v in result.events["event_type"].value_counts().items() if v}


# --------------------------------------------------------------------------- the real room

@pytest.fixture(scope="module")
def room_path():
    return _need(SHARED / "gitter" / "gitter_gitter.txt.gz")


@pytest.fixture(scope="module")
def room(room_path):
    return read_line_log(room_path)


@pytest.fixture(scope="module")
def counted(room_path):
    """The room's figures, counted line by line without the importer."""
    lines = gzip.decompress(room_path.read_bytes()).decode("utf-8").split("\n")
    if lines[-1] == "":
        lines.pop()
    head = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\] <([^<>\s]+)>(?: (.*))?$")
    f = {"lines": len(lines), "messages": 0, "continuation": 0, "blank": 0, "duplicates": 0, "replies": 0,
         "mentions": 0, "questions": 0}
    seen_lines: set[tuple[str, str, str]] = set()
    logins: dict[str, str] = {}  # lower-case login -> as written, seen so far
    nick = r"[\w.~|\[\]`^{}\\-]+?"
    lead_at = re.compile(rf"^\s*@({nick})(?=[\s:,]|$)\.*\s*[:,]?(?:\s|$)")
    lead_name = re.compile(rf"^\s*({nick})\.*\s*[:,](?:\s|$)")

    def login(word: str) -> str | None:
        low = word.rstrip(".-~").lower()
        if low in logins:
            return logins[low]
        for k in range(len(low) - 1, 3, -1):  # a login glued to the next word, 4 characters or more
            if low[:k] in logins:
                return logins[low[:k]]
        return None

    for line in lines:
        m = head.match(line)
        if m is None:
            f["blank" if not line.strip() else "continuation"] += 1
            continue
        ts, sender, text = m.group(1), m.group(2), m.group(3) or ""
        if (ts, sender, text) in seen_lines:
            f["duplicates"] += 1
            continue
        seen_lines.add((ts, sender, text))
        f["messages"] += 1
        logins[sender.lower()] = sender
        lead = lead_at.match(text) or lead_name.match(text)
        target = None
        if lead and lead.group(1).rstrip(".-~").lower() in logins:
            target = login(lead.group(1))
            target = None if target == sender else target
        f["replies"] += target is not None
        f["questions"] += target is None and ("?" in text or "？" in text)
        named = {login(w) for w in re.findall(r"@([\w.~-]+)", text)} - {None, sender}
        f["mentions"] += len(named)
    return f


def test_real_room_rows_and_skips_match_the_lines(room, counted):
    c = _counts(room)
    speaking = c["message"] + c["question"] + c["reply"]
    assert speaking == counted["messages"] == 14_854 - 34
    assert room.skipped["continuation line"] == counted["continuation"]
    assert room.skipped["blank line"] == counted["blank"]
    assert room.skipped["duplicate message (same time, login and text)"] == counted["duplicates"] == 34
    assert counted["lines"] == speaking + sum(room.skipped[k] for k in (
        "continuation line", "blank line", "duplicate message (same time, login and text)"))
    assert room.events["member_id"].nunique() == 1752
    assert set(room.events["group_id"]) == {"gitter_gitter"}
    assert not {"join", "leave", "removed"} & set(c)  # the study's rooms have no system lines


def test_real_room_replies_mentions_questions_match(room, counted):
    c = _counts(room)
    assert c["reply"] == counted["replies"]
    assert c["mention"] == counted["mentions"]
    assert c["question"] == counted["questions"]
    ev = room.events
    replies = ev[ev["event_type"] == "reply"]
    assert replies["target_member_id"].notna().all()
    assert (replies["target_member_id"] != replies["member_id"]).all()
    mentions = ev[ev["event_type"] == "mention"]
    assert mentions["ref_event_id"].isin(ev["event_id"]).all()


def test_real_room_times_are_utc_and_text_is_not_stored(room, room_path, tmp_path):
    first = room.events.iloc[0]
    # "[2016-11-20 07:02:10] <abhisekp> But the real question is how did he end up in this room "
    assert first["ts"] == pd.Timestamp("2016-11-20 07:02:10", tz="UTC") and first["member_id"] == "abhisekp"
    assert first["text_len"] == len("But the real question is how did he end up in this room ")
    shanghai = read_line_log(room_path, tz="Asia/Shanghai")
    assert shanghai.events["ts"].iloc[0] == pd.Timestamp("2016-11-19 23:02:10", tz="UTC")
    paths = write_import(room, tmp_path / "out")
    assert len(read_events(paths["events"])) == len(room.events)
    df = pd.read_parquet(paths["events"])
    for col in df.columns:
        assert not df[col].astype(str).str.contains("real question").any(), col
    assert json.loads(paths["report"].read_text())["event_types"]["reply"] == _counts(room)["reply"]


# --------------------------------------------------------------------------- the Gitter fixture

def test_gitter_fixture_exact(tmp_path):
    r = read_line_log(FIX / "room.txt")
    assert _counts(r) == {"message": 4, "mention": 3, "reply": 2, "question": 1}
    ev = r.events.set_index("event_id")
    # "Hello@mgmanikandan87": that login has not spoken yet, so nobody is named
    assert ev.loc["linelog:room:1", "event_type"] == "question"
    assert pd.isna(ev.loc["linelog:room:1", "target_member_id"])
    assert ev.loc["linelog:room:2", ["member_id", "event_type", "target_member_id"]].tolist() == \
        ["mgmanikandan87", "reply", "ReaLau"]  # "realau: yes", case-insensitively
    assert ev.loc["linelog:room:7", ["event_type", "target_member_id"]].tolist() == ["reply", "ReaLau"]
    assert ev.loc["linelog:room:7:mention:1", "target_member_id"] == "mgmanikandan87"
    # "@MgManikandan87I think": the login glued to the next word
    assert ev.loc["linelog:room:9:mention:0", ["ref_event_id", "target_member_id"]].tolist() == \
        ["linelog:room:9", "mgmanikandan87"]
    assert ev.loc["linelog:room:10", "event_type"] == "message"  # "ReaLau: note to self"
    assert r.notes["self addressed (kept as message)"] == 1
    assert r.skipped["continuation line"] == 2
    assert r.skipped["duplicate message (same time, login and text)"] == 1
    assert r.notes["@names naming no login seen so far"] == 2
    # a .gz file reads the same
    gz = tmp_path / "room.txt.gz"
    gz.write_bytes(gzip.compress((FIX / "room.txt").read_bytes()))
    pd.testing.assert_frame_equal(read_line_log(gz).events, r.events)


# --------------------------------------------------------------------------- the IRC fixture

@pytest.fixture(scope="module")
def irc():
    return read_line_log(IRC, group_id="#ubuntu")


def test_irc_fixture_counts(irc):
    assert _counts(irc) == {"message": 5, "join": 3, "question": 2, "reply": 2, "leave": 2, "removed": 1,
                            "mention": 1}
    assert irc.skipped["system line: mode"] == 1
    assert irc.skipped["system line: unknown"] == 1  # "=== teward flips the table"
    assert irc.notes["actions (/me) as messages"] == 1
    assert irc.notes["quits as leave"] == 1


def test_irc_kick_join_leave_and_nick_change(irc):
    ev = irc.events.set_index("event_id")
    assert ev.loc["linelog:#ubuntu:13", ["member_id", "event_type"]].tolist() == ["spammer", "removed"]
    assert irc.notes["removals by an operator (kick)"] == 1
    joins = irc.events[irc.events["event_type"] == "join"]
    assert joins["member_id"].tolist() == ["superguest", "guest5351", "spammer"]
    leaves = irc.events[irc.events["event_type"] == "leave"]
    assert leaves["member_id"].tolist() == ["guest5351", "superguest"]  # asif's quit is guest5351's
    # after "guest5351 is now known as asif" the member keeps the first nick as id
    assert ev.loc["linelog:#ubuntu:7", "member_id"] == "guest5351"
    assert ev.loc["linelog:#ubuntu:8", ["event_type", "target_member_id"]].tolist() == ["reply", "guest5351"]
    # "guest5351: that nick is gone" after the change names nobody
    assert ev.loc["linelog:#ubuntu:9", "event_type"] == "message"
    assert irc.notes["names in text unresolved"] == 1
    nk = irc.nicknames.set_index(["member_id", "nickname"])
    assert ("guest5351", "guest5351") in nk.index and ("guest5351", "asif") in nk.index
    assert irc.members.set_index("member_id").loc["spammer", "joined_at"] == \
        pd.Timestamp("2016-06-06 23:40", tz="UTC")


def test_irc_times_dates_and_rollover(irc):
    ev = irc.events.set_index("event_id")
    # system lines take the time of the line before; the first one, the line after
    assert ev.loc["linelog:#ubuntu:1", "ts"] == pd.Timestamp("2016-06-06 23:16", tz="UTC")
    assert ev.loc["linelog:#ubuntu:4", "ts"] == pd.Timestamp("2016-06-06 23:18", tz="UTC")
    # [00:05] after [23:41]: the next day
    assert ev.loc["linelog:#ubuntu:16", "ts"] == pd.Timestamp("2016-06-07 00:05", tz="UTC")
    assert irc.notes["day rollovers"] == 1
    assert (irc.events["ts"].diff().dropna() >= pd.Timedelta(0)).all()
    berlin = read_line_log(IRC, tz="Europe/Berlin")
    assert berlin.events["ts"].iloc[1] == pd.Timestamp("2016-06-06 21:16", tz="UTC")
    assert set(berlin.events["group_id"]) == {"#ubuntu.2016-06-06"}  # default: the file name


def test_irc_write_import_is_valid(irc, tmp_path):
    paths = write_import(irc, tmp_path / "out")
    events = read_events(paths["events"])
    assert len(events) == len(irc.events)
    df = pd.read_parquet(paths["events"])
    for col in df.columns:
        assert not df[col].astype(str).str.contains("vending|livecd").any(), col


# --------------------------------------------------------------------------- errors

def test_unparseable_time_names_the_line_and_field():
    with pytest.raises(ImportFormatError, match=r"bad_time\.txt: line 3, field 'ts': unparseable time "
                                                r"'2016-13-01 08:00:00'"):
        read_line_log(FIX / "bad_time.txt")


def test_a_file_of_another_format_is_refused_at_its_first_line():
    with pytest.raises(ImportFormatError, match=r"not_a_log\.txt: line 1, field 'ts': expected "
                                                r"'\[YYYY-MM-DD HH:MM:SS\] <login> text'"):
        read_line_log(FIX / "not_a_log.txt")


def test_other_malformed_logs(tmp_path):
    undated = tmp_path / "channel.txt"
    shutil.copy(IRC, undated)
    with pytest.raises(ImportFormatError,
                       match=r"channel\.txt: line 2, field 'ts': the time '23:16' has no date"):
        read_line_log(undated)
    pasted = tmp_path / "pasted.txt"
    pasted.write_text("[2016-11-21 08:47:30] <a> look\n" + "a pasted line\n" * 20)
    with pytest.raises(ImportFormatError, match=r"pasted\.txt: line 2, field 'ts': 20 of 21 lines have no"):
        read_line_log(pasted)
    disentangled = tmp_path / "room.disentangled.txt"
    disentangled.write_text("3 [2016-11-21 08:47:30] <a> hi\n")
    with pytest.raises(ImportFormatError, match=r"line 1, field 'ts'.*\.disentangled file"):
        read_line_log(disentangled)
    broken = tmp_path / "room.txt.gz"
    broken.write_bytes(b"not gzip")
    with pytest.raises(ImportFormatError, match=r"room\.txt\.gz: file, field '<gzip>'"):
        read_line_log(broken)
    latin = tmp_path / "latin.txt"
    latin.write_bytes("[2016-11-21 08:47:30] <a> caf\u00e9\n".encode("latin-1"))
    with pytest.raises(ImportFormatError, match=r"latin\.txt: byte 29, field '<encoding>'"):
        read_line_log(latin)
