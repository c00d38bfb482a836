"""企业微信 会话内容存档 importer: the fixture's events, who did what to whom, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from shequn_ml.importers import ImportFormatError, write_import
from shequn_ml.importers.wecom import read_wecom
from shequn_ml.io import read_events

DATA = Path(__file__).parent / "data" / "importers" / "wecom"
CHAT = DATA / "chat.jsonl"
SNAPSHOTS = [DATA / "members.json", DATA / "members-later.json"]
ROOM = "wrOgQhDgAAcwMTB7YmDkbeBsgT_AAAA"


@pytest.fixture(scope="module")
def result():
    return read_wecom(CHAT, members=SNAPSHOTS)


def _ev(result, event_id):
    row = result.events.loc[result.events["event_id"] == f"wecom:{event_id}"]
    assert len(row) == 1, event_id
    return row.iloc[0]


def _texts() -> list[str]:
    out = []
    for line in CHAT.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        content = (rec.get("text") or {}).get("content")
        if content:
            out.append(content)
            out.extend(w for w in content.split() if len(w) > 2 and not w.startswith("@"))
    return out


def test_counts_by_event_type_and_skips(result):
    assert result.events["event_type"].value_counts().to_dict() == {
        "join": 6, "mention": 5, "reply": 4, "invite": 3, "message": 3, "red_packet_send": 2,
        "removed": 1, "leave": 1, "post": 1, "question": 1}
    assert dict(result.skipped) == {
        "agreement notice (同意存档)": 1, "call record": 1, "duplicate record (same msgid)": 1,
        "message type: unknown qydiskfile": 1, "not a group chat": 1, "recalled message": 1,
        "switched enterprise": 1}
    assert set(result.events["group_id"]) == {ROOM}


def test_removal_is_the_removed_members_event_and_leave_is_voluntary(result):
    removed = result.events[result.events["event_type"] == "removed"]
    assert removed["member_id"].tolist() == ["wmDave0004"]
    assert removed["ts"].iloc[0] == pd.Timestamp("2024-03-02 00:00", tz="UTC")
    assert result.events.loc[result.events["event_type"] == "leave", "member_id"].tolist() == ["wmEve0005"]
    # the owner who removed Dave gets no exit event
    assert "zhangsan" not in set(result.events.loc[result.events["event_type"].isin(["removed", "leave"]),
                                                   "member_id"])


def test_invites_come_from_the_invitor_and_joins_from_join_time(result):
    inv = result.events[result.events["event_type"] == "invite"]
    assert sorted(zip(inv["member_id"], inv["target_member_id"], strict=True)) == [
        ("zhangsan", "wmAlice0001"), ("zhangsan", "wmBob0002"), ("zhangsan", "wmDave0004")]
    joins = result.events[result.events["event_type"] == "join"].set_index("member_id")["ts"]
    assert joins["wmCarol0003"] == pd.Timestamp("2024-03-01 03:00", tz="UTC")  # QR code: no invite
    members = result.members.set_index("member_id")
    assert members.loc["wmBob0002", "invited_by"] == "zhangsan"
    assert pd.isna(members.loc["wmCarol0003", "invited_by"])
    assert members.loc["wmAlice0001", "joined_at"] == pd.Timestamp("2024-03-01 01:00", tz="UTC")
    group = result.groups.set_index("group_id").loc[ROOM]
    assert group["owner_id"] == "zhangsan" and group["capacity"] == 500
    assert group["created_at"] == pd.Timestamp("2024-03-01", tz="UTC")


def test_replies_and_mentions_resolve_names_as_they_were_then(result):
    first = _ev(result, "1003")
    assert (first["event_type"], first["target_member_id"]) == ("reply", "zhangsan")
    assert _ev(result, "1004")["target_member_id"] == "wmAlice0001"
    mentions = result.events[result.events["event_id"].str.startswith("wecom:1004:mention")]
    assert mentions["target_member_id"].tolist() == ["wmAlice0001", "wmCarol0003"]
    assert mentions["ref_event_id"].unique().tolist() == ["wecom:1004"]
    # Bob was 老王 until the later snapshot, 王老板 after it
    assert _ev(result, "1011")["target_member_id"] == "wmBob0002"   # @老王 before the rename
    assert _ev(result, "1016")["target_member_id"] == "wmBob0002"   # @王老板 after it
    late = _ev(result, "1017")                                       # @老王 after it: nobody
    assert late["event_type"] == "question" and pd.isna(late["target_member_id"])
    assert result.notes["names in text unresolved"] == 1
    everyone = _ev(result, "1014")                                   # @所有人 is no member
    assert everyone["event_type"] == "message" and pd.isna(everyone["target_member_id"])
    nick = result.nicknames[result.nicknames["member_id"] == "wmBob0002"]
    assert nick["nickname"].tolist() == ["老王", "王老板"]
    assert nick["first_seen"].iloc[1] == pd.Timestamp("2024-03-03", tz="UTC")


def test_red_packets_are_sends_in_yuan(result):
    rp = result.events[result.events["event_type"] == "red_packet_send"]
    assert list(zip(rp["member_id"], rp["amount"], strict=True)) == [
        ("zhangsan", 88.88), ("wmAlice0001", 5.0)]


def test_written_output_passes_the_reader_and_holds_no_text(result, tmp_path):
    paths = write_import(result, tmp_path / "out")
    events = read_events(paths["events"])
    assert len(events) == len(result.events) == 27
    texts = _texts()
    assert "欢迎大家来到读书会" in texts
    for name in ("events", "members", "groups", "nicknames"):
        table = pd.read_parquet(paths[name])
        cells = {str(v) for col in table.columns for v in table[col].tolist()}
        assert not [t for t in texts if any(t in c for c in cells)], name
    assert _ev(result, "1002")["text_len"] == len("欢迎大家来到读书会")
    report = json.loads(paths["report"].read_text(encoding="utf-8"))
    assert report["skipped"]["recalled message"] == 1


def test_without_snapshots_names_stay_unresolved():
    r = read_wecom(CHAT)
    counts = r.events["event_type"].value_counts().to_dict()
    assert "mention" not in counts and "reply" not in counts and "join" not in counts
    assert counts["question"] == 2 and counts["message"] == 6


def test_group_id_selects_one_room(tmp_path):
    rows = [{"msgid": "a", "action": "send", "from": "u1", "roomid": "r1", "msgtime": 1709251200000,
             "msgtype": "text", "text": {"content": "hi"}},
            {"msgid": "b", "action": "send", "from": "u2", "roomid": "r2", "msgtime": 1709251200000,
             "msgtype": "text", "text": {"content": "hi"}}]
    f = tmp_path / "two.jsonl"
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    r = read_wecom(f, group_id="r2")
    assert r.events["member_id"].tolist() == ["u2"] and r.skipped["other group chat"] == 1


def test_wall_clock_msgtime_is_read_in_tz(tmp_path):
    f = tmp_path / "scrm.jsonl"
    f.write_text(json.dumps({"msgid": "a", "action": "send", "from": "u1", "roomid": "r1",
                             "msgtime": "2024-03-01 08:00:00", "msgtype": "image", "image": {}}) + "\n",
                 encoding="utf-8")
    assert read_wecom(f).events["ts"].iloc[0] == pd.Timestamp("2024-03-01 00:00", tz="UTC")
    assert read_wecom(f, tz="UTC").events["ts"].iloc[0] == pd.Timestamp("2024-03-01 08:00", tz="UTC")


def test_malformed_msgtime_names_file_line_and_field():
    with pytest.raises(ImportFormatError, match=r"chat-bad-msgtime\.jsonl: line 3, field 'msgtime'"):
        read_wecom(DATA / "chat-bad-msgtime.jsonl")


def test_bad_json_and_missing_fields_are_format_errors(tmp_path):
    good = json.dumps({"msgid": "a", "action": "send", "from": "u1", "roomid": "r1",
                       "msgtime": 1709251200000, "msgtype": "image"})
    f = tmp_path / "broken.jsonl"
    f.write_text(good + "\n{not json\n", encoding="utf-8")
    with pytest.raises(ImportFormatError, match=r"broken\.jsonl: line 2, field '<json>'"):
        read_wecom(f)
    f.write_text(good + "\n" + json.dumps({"msgid": "b", "action": "send", "roomid": "r1"}) + "\n",
                 encoding="utf-8")
    with pytest.raises(ImportFormatError, match=r"broken\.jsonl: line 2, field 'from': missing"):
        read_wecom(f)
    bad_snap = tmp_path / "members.json"
    bad_snap.write_text(json.dumps({"group_chat": {"chat_id": "r1", "member_list": [{"join_time": 1}]}}),
                        encoding="utf-8")
    with pytest.raises(ImportFormatError, match=r"members\.json: top level group_chat\.member_list\[0\], "
                                                r"field 'userid'"):
        read_wecom(f, members=bad_snap)


def test_unknown_message_type_is_counted_not_dropped(result):
    assert result.skipped["message type: unknown qydiskfile"] == 1
    assert "wecom:1012" not in set(result.events["event_id"])
