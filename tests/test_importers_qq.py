"""read_qq: QQ 消息管理器 text exports into the event contract."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from shequn_ml.importers import ImportFormatError, write_import
from shequn_ml.importers.qq import HEADER_LINE, name_id, read_qq
from shequn_ml.io import read_events, read_groups, read_members

DATA = Path(__file__).parent / "data" / "importers" / "qq"
CLUB = DATA / "reading-club.txt"
ALL16 = DATA / "export-all-utf16.txt"
TEXTS = ["大家早上好", "今天读第三章", "今天读第几章", "谢谢邀请，大家好", "加我领取免费课程",
         "写得很好", "第二段", "明天几点开始", "请使用新版手机QQ查收红包"]
RULE = "=" * 64


def _ev(result) -> pd.DataFrame:
    return result.events.set_index("event_id")


def _export(path: Path, body: list[str], encoding: str = "utf-8-sig", chat: str = "测试群") -> Path:
    lines = [HEADER_LINE, "", RULE, "消息分组:我的QQ群", RULE, f"消息对象:{chat}", RULE, "", *body, ""]
    path.write_bytes("\r\n".join(lines).encode(encoding))
    return path


def test_counts_by_event_type_and_skips():
    r = read_qq(CLUB)
    assert r.events["event_type"].value_counts().to_dict() == {
        "message": 5, "mention": 3, "join": 3, "reply": 2, "invite": 1, "red_packet_send": 1,
        "red_packet_claim": 1, "removed": 1, "leave": 1}
    assert dict(r.skipped) == {"recalled message": 1, "system message: group renamed": 1,
                               "system message: unknown": 1}
    assert r.notes["read as utf-8-sig"] == 1
    assert set(r.events["group_id"]) == {"读书会"}
    assert r.events["event_id"].is_unique


def test_removal_is_the_removed_members_event():
    ev = _ev(read_qq(CLUB))
    removed = ev[ev["event_type"] == "removed"]
    assert removed.index.tolist() == ["qq:L37"]          # 广告哥被管理员移出本群
    assert removed["member_id"].tolist() == ["10009"]
    assert not ((ev["event_type"] == "removed") & (ev["member_id"] == "10001")).any()
    leave = ev[ev["event_type"] == "leave"]
    assert leave["member_id"].tolist() == ["10003"]      # 小刚退出了本群。


def test_invite_join_and_name_only_member():
    r = read_qq(CLUB)
    ev = _ev(r)
    assert ev.loc["qq:L16", ["member_id", "event_type", "target_member_id"]].tolist() == [
        "10001", "invite", "10003"]                       # 阿明邀请小刚加入了本群。
    assert ev.loc["qq:L16.join1", ["member_id", "event_type"]].tolist() == ["10003", "join"]
    joins = ev[ev["event_type"] == "join"]["member_id"].tolist()
    assert joins == ["10003", "lilei@example.com", name_id("王五")]  # 王五 never spoke
    members = r.members.set_index("member_id")
    assert members.loc["10003", "invited_by"] == "10001"
    assert members.loc["10003", "joined_at"] == pd.Timestamp("2024-03-01 01:02", tz="UTC")
    assert r.nicknames.set_index("member_id").loc[name_id("王五"), "nickname"] == "王五"


def test_replies_and_mentions_resolve_through_the_book_at_that_time():
    ev = _ev(read_qq(CLUB))
    replies = ev[ev["event_type"] == "reply"]
    assert replies[["member_id", "target_member_id"]].values.tolist() == [
        ["10002", "10001"],   # "@阿明 今天读第几章？"
        ["10003", "10002"],   # "@红红 @全体成员 ...": 红红 is 小红's new card
    ]
    mentions = ev[ev["event_type"] == "mention"]
    assert mentions[["member_id", "target_member_id", "ref_event_id"]].values.tolist() == [
        ["10002", "10001", "qq:L13"], ["10002", "10003", "qq:L40"], ["10003", "10002", "qq:L51"]]
    assert ev.loc["qq:L40", "event_type"] == "message"   # a mention inside the text is no reply
    r = read_qq(CLUB)
    assert r.notes["mentions of everyone (@全体成员/@所有人)"] == 1


def test_text_len_multiline_and_placeholders():
    ev = _ev(read_qq(CLUB))
    assert ev.loc["qq:L9", "text_len"] == len("大家早上好\n今天读第三章")
    assert ev.loc["qq:L40", "text_len"] == len("大家看 @小刚 的笔记，写得很好\n\n第二段")
    assert ev.loc["qq:L22", "text_len"] == len("谢谢邀请，大家好")   # [表情] is not text
    assert pd.isna(ev.loc["qq:L25", "text_len"])                   # an image only


def test_red_packets_owner_and_capacity():
    r = read_qq(CLUB)
    ev = _ev(r)
    assert ev.loc["qq:L28", ["member_id", "event_type"]].tolist() == ["10001", "red_packet_send"]
    assert ev.loc["qq:L31", ["member_id", "event_type", "target_member_id"]].tolist() == [
        "10002", "red_packet_claim", "10001"]            # 小红领取了阿明的红包
    assert r.groups.set_index("group_id").loc["读书会", ["capacity", "owner_id"]].tolist() == [2000, "10001"]


def test_nickname_change_goes_to_the_display_table():
    r = read_qq(CLUB)
    cards = r.nicknames[r.nicknames["member_id"] == "10002"]
    assert cards["nickname"].tolist() == ["小红", "红红"]
    assert r.notes["nickname changes"] == 1
    assert "【群主】阿明" not in set(r.nicknames["nickname"])     # the title is stripped
    assert not set(r.events["member_id"]) & set(r.nicknames["nickname"])


def test_wall_clock_is_read_in_tz():
    assert _ev(read_qq(CLUB)).loc["qq:L9", "ts"] == pd.Timestamp("2024-03-01 01:00:05", tz="UTC")
    assert _ev(read_qq(CLUB, tz="UTC")).loc["qq:L9", "ts"] == pd.Timestamp("2024-03-01 09:00:05", tz="UTC")


@pytest.mark.parametrize("fixture", [CLUB, ALL16])
def test_text_is_in_no_output_and_write_import_reads_back(fixture, tmp_path):
    r = read_qq(fixture)
    out = write_import(r, tmp_path / "out")
    for key in ("events", "members", "groups", "nicknames"):
        df = pd.read_parquet(out[key])
        values = [str(v) for c in df.columns for v in df[c].tolist() if v is not None and not pd.isna(v)]
        for text in TEXTS:
            assert not any(text in v for v in values), (key, text)
    events = read_events(out["events"])
    assert len(events) == len(r.events)
    assert Counter(events["event_type"].astype(str)) == Counter(r.events["event_type"])
    read_members(out["members"])
    read_groups(out["groups"])


def test_utf16_export_of_two_chats_with_12_hour_times():
    r = read_qq(ALL16)
    assert r.notes["read as utf-16"] == 1
    assert r.notes["chat sections (消息对象)"] == 2
    ev = _ev(r)
    assert ev.loc["qq:L9", ["group_id", "ts"]].tolist() == [
        "跑步群", pd.Timestamp("2024-03-01 23:30", tz="UTC")]     # 2024-03-02 7:30:00 AM +08:00
    assert ev.loc["qq:L15", "ts"] == pd.Timestamp("2024-03-02 13:05", tz="UTC")  # 9:05:00 PM
    assert ev.loc["qq:L21", ["member_id", "event_type"]].tolist() == ["20003", "removed"]  # 被群主移出
    assert ev.loc["qq:L12", ["event_type", "target_member_id"]].tolist() == ["reply", "20001"]
    assert set(ev.loc[["qq:L30", "qq:L33"], "group_id"]) == {"读书会"}
    assert sorted(r.groups["group_id"]) == ["读书会", "跑步群"]
    ming = r.nicknames[r.nicknames["member_id"] == "10001"]["nickname"].tolist()
    assert ming == ["阿明", "明哥"]


def test_gb18030_and_bomless_utf16_are_detected(tmp_path):
    text = CLUB.read_text(encoding="utf-8-sig")
    expected = read_qq(CLUB).events.drop(columns="group_id")
    for enc in ("gb18030", "utf-16-le"):
        f = tmp_path / f"club-{enc}.txt"
        f.write_bytes(text.encode(enc))
        r = read_qq(f)
        assert r.notes[f"read as {enc}"] == 1
        pd.testing.assert_frame_equal(r.events.drop(columns="group_id"), expected)


def test_group_id_override():
    r = read_qq(ALL16, group_id="runners")
    assert set(r.events["group_id"]) == {"runners"}
    assert r.groups["group_id"].tolist() == ["runners"]


def test_malformed_date_names_file_line_and_field():
    with pytest.raises(ImportFormatError, match=r"malformed_time\.txt: line 15, field 'time': not a date"):
        read_qq(DATA / "malformed_time.txt")


def test_not_an_export_and_text_before_the_first_message(tmp_path):
    f = tmp_path / "chat.txt"
    f.write_text("2024-01-01 9:00:00 阿明(10001)\n你好\n", encoding="utf-8")
    with pytest.raises(ImportFormatError, match=r"chat\.txt: line 1, field 'header'"):
        read_qq(f)
    g = _export(tmp_path / "g.txt", ["这一行不是消息", "2024-01-01 9:00:00 阿明(10001)", "你好"])
    with pytest.raises(ImportFormatError, match=r"g\.txt: line 9, field 'message header'"):
        read_qq(g)
    h = _export(tmp_path / "h.txt", ["2024-01-01 25:00:00 阿明(10001)", "你好"])
    with pytest.raises(ImportFormatError, match=r"h\.txt: line 9, field 'time': not a time of day"):
        read_qq(h)


def test_unknown_system_line_is_counted_not_dropped(tmp_path):
    f = _export(tmp_path / "s.txt", [
        "2024-01-01 9:00:00 阿明(10001)", "你好", "",
        "2024-01-01 9:01:00 系统消息(10000)", "本群已开启全员禁言", "",
        "2024-01-01 9:02:00 系统消息(1000000)", "阿明撤回了一条消息", "",
    ])
    r = read_qq(f)
    assert r.events["event_type"].tolist() == ["message"]
    assert dict(r.skipped) == {"system message: unknown": 1, "recalled message": 1}


def test_brackets_in_nicknames_and_shared_names(tmp_path):
    f = _export(tmp_path / "b.txt", [
        "2024-01-01 9:00:00 (B)(456456)", "早", "",
        "2024-01-01 9:00:30 (o´・ω・`)σ<mail@someaddress.com>", "早", "",
        "2024-01-01 9:01:00 小王(20001)", "早", "",
        "2024-01-01 9:02:00 小王(20002)", "早", "",
        "2024-01-01 9:03:00 阿明(10001)", "@小王 在吗？", "",
        "2024-01-01 9:04:00 系统消息(10000)", "小王被管理员移出本群", "",
    ])
    r = read_qq(f)
    assert r.events["member_id"].tolist()[:2] == ["456456", "mail@someaddress.com"]
    assert r.nicknames.set_index("member_id").loc["456456", "nickname"] == "(B)"
    # two members carry 小王: the mention resolves to nobody, the removal is skipped and counted
    assert r.events["event_type"].tolist() == ["message"] * 4 + ["question"]
    assert r.skipped["system message: name ambiguous"] == 1
    assert r.notes["names in text ambiguous"] == 2


def test_qr_code_and_search_joins(tmp_path):
    f = _export(tmp_path / "j.txt", [
        "2024-01-01 9:00:00 阿明(10001)", "欢迎新朋友", "",
        "2024-01-01 9:01:00 系统消息(10000)", "王五通过扫描阿明分享的二维码加入本群。", "",
        "2024-01-01 9:02:00 系统消息(10000)", "赵六通过群号搜索加入本群", "",
    ])
    ev = read_qq(f).events.fillna({"target_member_id": "-"})
    assert ev[["member_id", "event_type", "target_member_id"]].values.tolist() == [
        ["10001", "message", "-"], ["10001", "invite", name_id("王五")], [name_id("王五"), "join", "-"],
        [name_id("赵六"), "join", "-"]]
