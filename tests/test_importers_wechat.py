"""read_wechat: WeChatMsg / 留痕 CSV exports (both headers) into the event contract."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from shequn_ml.importers import ImportFormatError, write_import
from shequn_ml.importers.qq import name_id
from shequn_ml.importers.wechat import LEGACY_COLUMNS, NEW_COLUMNS, read_wechat
from shequn_ml.io import read_events, read_groups, read_members

DATA = Path(__file__).parent / "data" / "importers" / "wechat"
LEGACY = DATA / "reading-club_utf8.csv"
NEW = DATA / "reading-club.csv"
GROUP = "44318811920@chatroom"
#: Message texts of the fixtures: none may reach any output.
TEXTS = ["大家早上好，今天读第三章", "谢谢邀请，大家好", "加微信领取免费课程", "今天读第几章", "明天见",
         "收到，谢谢群主", "欢迎欢迎", "我改了群昵称", "恭喜发财"]


def _ev(result) -> pd.DataFrame:
    return result.events.set_index("event_id")


def _strings(df: pd.DataFrame) -> list[str]:
    return [str(v) for c in df.columns for v in df[c].tolist() if v is not None and not pd.isna(v)]


def test_legacy_header_counts_by_event_type_and_skips():
    r = read_wechat(LEGACY)
    assert r.events["event_type"].value_counts().to_dict() == {
        "message": 7, "reply": 3, "mention": 3, "invite": 3, "join": 3, "red_packet_claim": 2,
        "removed": 2, "red_packet_send": 1, "post": 1}
    assert dict(r.skipped) == {
        "recalled message": 1, "system message: group renamed": 1, "system message: unknown": 1,
        "system message: new owner (owner_id set)": 1, "transfer (no contract event type)": 1}
    assert r.notes["read as utf-8-sig"] == 1
    assert set(r.events["group_id"]) == {GROUP}
    assert r.events["event_id"].is_unique


def test_legacy_removal_is_the_removed_members_event_not_the_operators():
    ev = _ev(read_wechat(LEGACY))
    removed = ev[ev["event_type"] == "removed"]
    # 你将"广告哥"移出了群聊 (the exporting user removes), "阿明"将"李雷"移出了群聊
    assert removed["member_id"].tolist() == ["wxid_spam", "wxid_lei"]
    assert removed.index.tolist() == ["wechat:13", "wechat:22"]
    assert removed["target_member_id"].isna().all()


def test_legacy_invites_and_joins():
    r = read_wechat(LEGACY)
    ev = r.events
    invites = ev[ev["event_type"] == "invite"][["member_id", "target_member_id"]].values.tolist()
    wangwu = name_id("王五")  # joined by QR code and never spoke: an id from the name
    assert invites == [["wxid_ming", "wxid_gang"], ["wxid_ming", "wxid_lei"], ["wxid_ming", wangwu]]
    joins = ev[ev["event_type"] == "join"]
    assert joins["member_id"].tolist() == ["wxid_gang", "wxid_lei", wangwu]
    assert joins["event_id"].tolist() == ["wechat:4.join1", "wechat:4.join2", "wechat:23.join1"]
    members = r.members.set_index("member_id")
    assert members.loc["wxid_gang", "invited_by"] == "wxid_ming"
    assert members.loc[wangwu, "joined_at"] == pd.Timestamp("2024-03-01 01:22", tz="UTC")
    nick = r.nicknames.set_index("member_id")
    assert nick.loc[wangwu, "nickname"] == "王五"


def test_legacy_replies_quotes_and_mentions():
    ev = _ev(read_wechat(LEGACY))
    replies = ev[ev["event_type"] == "reply"]
    assert replies[["member_id", "target_member_id"]].values.tolist() == [
        ["wxid_hong", "wxid_ming"],   # "@阿明 今天读第几章？" (a leading @name)
        ["wxid_lei", "wxid_gang"],    # the quote (49/57): chatusr of the quoted message
        ["wxid_lei", "wxid_hong"],    # "@红红 @小刚 明天见": 红红 is 小红's new name
    ]
    assert ev.loc["wechat:7", "text_len"] == len("欢迎欢迎")
    mentions = ev[ev["event_type"] == "mention"]
    assert mentions[["member_id", "target_member_id", "ref_event_id"]].values.tolist() == [
        ["wxid_hong", "wxid_ming", "wechat:3"],
        ["wxid_lei", "wxid_hong", "wechat:16"],
        ["wxid_lei", "wxid_gang", "wechat:16"],
    ]


def test_legacy_red_packets_owner_capacity_and_self():
    r = read_wechat(LEGACY)
    ev = _ev(r)
    assert ev.loc["wechat:8", ["member_id", "event_type"]].tolist() == ["wxid_ming", "red_packet_send"]
    claims = ev[ev["event_type"] == "red_packet_claim"]
    assert claims[["member_id", "target_member_id"]].values.tolist() == [
        ["wxid_hong", "wxid_ming"], ["self", "wxid_ming"]]  # 你领取了阿明的红包
    assert r.groups.set_index("group_id").loc[GROUP, ["capacity", "owner_id"]].tolist() == [500, "wxid_ming"]
    assert ev.loc["wechat:11", "member_id"] == "self"
    assert r.notes["messages by the exporting user under id 'self' (IsSender=1)"] == 1
    mine = read_wechat(LEGACY, self_id="wxid_me").events
    assert set(mine.loc[mine["event_id"].isin(["wechat:10", "wechat:11"]), "member_id"]) == {"wxid_me"}
    assert "self" not in set(mine["member_id"])


def test_legacy_times_come_from_createtime():
    ev = _ev(read_wechat(LEGACY, tz="America/New_York"))  # the zone does not matter for epoch seconds
    assert ev.loc["wechat:2", "ts"] == pd.Timestamp("2024-03-01 09:01", tz="Asia/Shanghai")


def test_nickname_change_goes_to_the_display_table():
    r = read_wechat(LEGACY)
    hong = r.nicknames[r.nicknames["member_id"] == "wxid_hong"]
    assert hong["nickname"].tolist() == ["小红", "红红"]
    assert hong["first_seen"].tolist() == [pd.Timestamp("2024-03-01 01:02", tz="UTC"),
                                           pd.Timestamp("2024-03-01 01:14", tz="UTC")]
    assert r.notes["nickname changes"] == 1
    assert "小红" not in set(r.events["member_id"]) | set(r.events["target_member_id"].dropna())


@pytest.mark.parametrize("fixture", [LEGACY, NEW])
def test_text_is_in_no_output_and_write_import_reads_back(fixture, tmp_path):
    r = read_wechat(fixture)
    out = write_import(r, tmp_path / "out")
    tables = {"events": pd.read_parquet(out["events"]), "members": pd.read_parquet(out["members"]),
              "groups": pd.read_parquet(out["groups"]), "nicknames": pd.read_parquet(out["nicknames"])}
    for name, df in tables.items():
        values = _strings(df)
        for text in TEXTS:
            assert not any(text in v for v in values), (name, text)
    events = read_events(out["events"])
    assert len(events) == len(r.events)
    assert Counter(events["event_type"].astype(str)) == Counter(r.events["event_type"])
    read_members(out["members"])
    read_groups(out["groups"])
    assert out["report"].exists()


def test_new_header_counts_ids_and_quotes():
    r = read_wechat(NEW)
    assert r.events["event_type"].value_counts().to_dict() == {
        "message": 6, "reply": 3, "mention": 3, "invite": 2, "join": 2, "red_packet_send": 1,
        "red_packet_claim": 1, "removed": 1, "post": 1}
    assert dict(r.skipped) == {
        "pat (拍一拍)": 1, "recalled message": 1, "system message: group renamed": 1,
        "system message: new owner (owner_id set)": 1, "system message: unknown": 1,
        "transfer (no contract event type)": 1}
    ming, hong, gang, lei, ad = (name_id(n) for n in ("Ming", "Hong", "Gang", "Lei", "AD"))
    ev = _ev(r)
    assert set(ev["group_id"]) == {"reading-club"}
    quote = ev.loc["wechat:8120000000000000007"]
    assert quote[["member_id", "event_type", "target_member_id", "text_len"]].tolist() == [
        lei, "reply", gang, len("欢迎欢迎")]  # 引用：小刚: ... resolved through the book
    removed = ev[ev["event_type"] == "removed"]
    assert removed["member_id"].tolist() == [ad]  # "阿明"将"广告哥"移出了群聊: never 阿明's event
    invites = ev[ev["event_type"] == "invite"][["member_id", "target_member_id"]].values.tolist()
    assert invites == [[ming, gang], [ming, lei]]
    last = ev.loc["wechat:8120000000000000014"]
    assert last[["event_type", "target_member_id"]].tolist() == ["reply", hong]
    assert r.groups.set_index("group_id").loc["reading-club", "owner_id"] == ming
    assert r.notes["member ids from the export-time 昵称 (this header has no wxid)"] == 1


def test_new_header_wall_clock_is_read_in_tz():
    first = _ev(read_wechat(NEW)).loc["wechat:8120000000000000002", "ts"]
    assert first == pd.Timestamp("2024-03-01 01:01", tz="UTC")
    utc = _ev(read_wechat(NEW, tz="UTC")).loc["wechat:8120000000000000002", "ts"]
    assert utc == pd.Timestamp("2024-03-01 09:01", tz="UTC")


def test_gb18030_file_is_read_and_says_so(tmp_path):
    f = tmp_path / "reading-club.csv"
    f.write_bytes(NEW.read_text(encoding="utf-8-sig").encode("gb18030"))
    r = read_wechat(f)
    assert r.notes["read as gb18030"] == 1
    pd.testing.assert_frame_equal(r.events, read_wechat(NEW).events)


def test_group_id_override():
    r = read_wechat(LEGACY, group_id="book-club")
    assert set(r.events["group_id"]) == {"book-club"}
    assert r.groups["group_id"].tolist() == ["book-club"]


def test_malformed_createtime_names_file_record_and_field():
    with pytest.raises(ImportFormatError,
                       match=r"malformed_createtime\.csv: record at line 3, field 'CreateTime': "
                             r"expected an integer"):
        read_wechat(DATA / "malformed_createtime.csv")


def test_malformed_wall_clock_names_file_record_and_field():
    with pytest.raises(ImportFormatError, match=r"malformed_time\.csv: record at line 3, field '时间'"):
        read_wechat(DATA / "malformed_time.csv")


def test_unknown_header_and_wrong_field_count(tmp_path):
    f = tmp_path / "other.csv"
    f.write_text("time,sender,text\n2024-01-01,a,b\n", encoding="utf-8")
    with pytest.raises(ImportFormatError, match=r"other\.csv: line 1, field '<header>': not a WeChatMsg"):
        read_wechat(f)
    g = tmp_path / "short.csv"
    g.write_text(",".join(LEGACY_COLUMNS) + "\n1,x@chatroom,1,0,0,1709254800\n", encoding="utf-8")
    with pytest.raises(ImportFormatError, match=r"short\.csv: record at line 2, field '<fields>'"):
        read_wechat(g)


def _legacy_file(path: Path, rows: list[list[object]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8-sig") as fh:
        w = csv.writer(fh)
        w.writerow(LEGACY_COLUMNS)
        w.writerows(rows)
    return path


def test_unknown_system_message_is_counted_not_dropped(tmp_path):
    f = _legacy_file(tmp_path / "g_utf8.csv", [
        [1, "9@chatroom", 1, 0, 0, 1709254800, 2, "你好", "", "甲", "甲", "wxid_a"],
        [2, "9@chatroom", 10000, 0, 0, 1709254860, 4, "群聊已被解散（示例的未知系统消息）", "", "", "", ""],
        [3, "9@chatroom", 99, 0, 0, 1709254900, 2, "?", "", "甲", "甲", "wxid_a"],
    ])
    r = read_wechat(f)
    assert r.skipped["system message: unknown"] == 1
    assert r.skipped["unknown message type"] == 1
    assert r.events["event_type"].tolist() == ["message"]


def test_shared_nickname_is_ambiguous_and_counted(tmp_path):
    f = _legacy_file(tmp_path / "g_utf8.csv", [
        [1, "9@chatroom", 1, 0, 0, 1709254800, 2, "早", "", "小王", "W1", "wxid_1"],
        [2, "9@chatroom", 1, 0, 0, 1709254860, 2, "早", "", "小王", "W2", "wxid_2"],
        [3, "9@chatroom", 1, 0, 0, 1709254900, 2, "@小王\u2005在吗", "", "甲", "甲", "wxid_a"],
        [4, "9@chatroom", 10000, 0, 0, 1709254960, 4, '"甲"将"小王"移出了群聊', "", "", "", ""],
    ])
    r = read_wechat(f)
    assert r.events["event_type"].tolist() == ["message", "message", "message"]
    assert r.skipped["system message: name ambiguous"] == 1
    assert r.notes["names in text ambiguous"] == 2


def test_columns_of_the_newer_header_are_the_documented_ones():
    assert NEW_COLUMNS == ("消息ID", "类型", "发送人", "时间", "内容", "备注", "昵称", "更多信息")


def test_text_starting_with_a_bracket_is_a_message(tmp_path):
    f = _legacy_file(tmp_path / "g_utf8.csv", [
        [1, "9@chatroom", 1, 0, 0, 1709254800, 2, "<3 爱你们", "", "甲", "甲", "wxid_a"],
        [2, "9@chatroom", 1, 0, 0, 1709254860, 2, "<msg><emoji/></msg>", "", "甲", "甲", "wxid_a"],
    ])
    r = read_wechat(f)
    assert r.events[["event_type", "text_len"]].values.tolist() == [["message", len("<3 爱你们")]]
    assert r.skipped["text message holding XML"] == 1
