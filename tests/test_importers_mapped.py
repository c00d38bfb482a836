"""The generic CSV / Excel importer: a mapping file, the label table, removals charged right."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from shequn_ml import schema
from shequn_ml.importers import ImportFormatError, read_mapped, write_import
from shequn_ml.importers.labels import LABELS, event_type_of, normalise_label
from shequn_ml.io import read_events, read_groups, read_members
from shequn_ml.specs import SpecError

DATA = Path(__file__).parent / "data" / "importers" / "mapped"
CSV = DATA / "scrm_actions.csv"
MAPPING = DATA / "scrm_mapping.yaml"

#: Counts by event type of scrm_actions.csv through scrm_mapping.yaml.
EXPECTED_TYPES = {"join": 5, "question": 2, "reply": 2, "red_packet_claim": 2, "removed": 2, "invite": 1,
                  "message": 1, "red_packet_send": 1, "checkin": 1, "mention": 1, "reaction": 1,
                  "post": 1, "purchase": 1, "leave": 1}

#: The texts of the fixture's 内容 column: none may reach an output.
TEXTS = ["大家好，我是阿明", "这本书哪里能买到？", "京东有，链接稍后发", "谢谢！好的", "今天读到哪了",
         "本周共读《三体》第一部", "群聊名称已修改", "低价好书", "spam.example", "百年孤独"]

BASE = {"columns": {"时间": "ts", "成员ID": "member_id", "行为": "event_type", "对象ID": "target_member_id"},
        "constants": {"group_id": "g1"}}


@pytest.fixture(scope="module")
def result():
    return read_mapped(CSV, MAPPING)


def _by_id(result, event_id: str) -> dict:
    rows = result.events.loc[result.events["event_id"] == event_id]
    assert len(rows) == 1, event_id
    return rows.iloc[0].to_dict()


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


# --------------------------------------------------------------------------- the fixture


def test_counts_by_event_type_and_what_was_skipped(result):
    assert result.events["event_type"].value_counts().to_dict() == EXPECTED_TYPES
    assert len(result.events) == 22
    assert dict(result.skipped) == {"unknown label: 抽奖": 2, "unknown label: 系统提示": 1,
                                    "ignored label: 群公告": 1}
    assert dict(result.notes) == {"removals re-assigned from the operator to the removed member": 1,
                                  "joins derived from invites": 1, "reply targets from @name": 1,
                                  "mention targets from @name": 1}
    assert sorted(result.events["group_id"].unique()) == ["读书会1群", "读书会2群"]
    assert result.format == "csv"


def test_unknown_labels_are_listed_in_the_summary(result):
    summary = result.summary()
    assert "unknown label: 抽奖 2" in summary
    assert "unknown label: 系统提示 1" in summary
    assert "removals re-assigned from the operator to the removed member 1" in summary


def test_removal_by_the_owner_is_the_removed_members_event(result):
    removed = result.events.loc[result.events["event_type"] == "removed"]
    assert sorted(removed["member_id"]) == ["wx_lei", "wx_spam"]
    spam = _by_id(result, "csv:line19")  # 群主小周 移出群聊 wx_spam
    assert (spam["member_id"], spam["event_type"], spam["group_id"]) == ("wx_spam", "removed", "读书会1群")
    # 被移出群聊 with no object names the removed member in the member column
    assert _by_id(result, "csv:line25")["member_id"] == "wx_lei"
    owner = result.events.loc[result.events["member_id"] == "wx_owner", "event_type"]
    assert sorted(owner) == ["invite", "join", "red_packet_send"]


def test_removal_actor_member_keeps_the_member_column(tmp_path):
    path = _write(tmp_path / "r.csv",
                  "时间,成员ID,行为,对象ID\n2024-03-01 10:00,wx_spam,被移出群聊,wx_owner\n")
    r = read_mapped(path, {**BASE, "removal_actor": "member"})
    assert r.events[["member_id", "event_type"]].values.tolist() == [["wx_spam", "removed"]]
    assert r.events["target_member_id"].isna().all()
    assert dict(r.notes) == {}


def test_the_154_removals_of_the_issue_go_to_154_removed_members(tmp_path):
    lines = "".join(f"2024-03-01 10:{i // 60:02d}:{i % 60:02d},群主,移出群聊,m{i:03d}\n" for i in range(154))
    path = _write(tmp_path / "removals.csv", "时间,成员ID,行为,对象ID\n" + lines)
    r = read_mapped(path, BASE)
    assert (r.events["event_type"] == "removed").sum() == 154
    assert r.events["member_id"].nunique() == 154
    assert "群主" not in set(r.events["member_id"])
    assert r.notes["removals re-assigned from the operator to the removed member"] == 154


def test_operator_column_names_who_performed_removals_and_invites(tmp_path):
    path = _write(tmp_path / "ops.csv",
                  "时间,成员,操作人,行为\n"
                  "2024-03-01 09:00,wx_a,wx_owner,邀请入群\n"
                  "2024-03-01 09:30,wx_b,wx_owner,入群\n"
                  "2024-03-02 10:00,wx_a,wx_owner,踢出\n"
                  "2024-03-02 11:00,wx_owner,wx_owner,移出群聊\n")
    m = {"columns": {"时间": "ts", "成员": "member_id", "操作人": "operator", "行为": "event_type"},
         "constants": {"group_id": "g1"}}
    r = read_mapped(path, m)
    rows = r.events[["event_id", "member_id", "event_type", "target_member_id"]].fillna("-").values.tolist()
    assert rows == [["csv:line2", "wx_owner", "invite", "wx_a"], ["csv:line2:join", "wx_a", "join", "-"],
                    ["csv:line3:invite", "wx_owner", "invite", "wx_b"], ["csv:line3", "wx_b", "join", "-"],
                    ["csv:line4", "wx_a", "removed", "-"]]
    assert dict(r.skipped) == {"removal naming only its operator": 1}
    invited = r.members.set_index("member_id")["invited_by"]
    assert invited["wx_a"] == "wx_owner" and invited["wx_b"] == "wx_owner"


def test_invite_is_the_inviters_event_plus_the_invitees_join(result):
    invite = _by_id(result, "csv:line3")
    assert (invite["member_id"], invite["event_type"], invite["target_member_id"]) == (
        "wx_owner", "invite", "wx_ming")
    join = _by_id(result, "csv:line3:join")
    assert (join["member_id"], join["event_type"], join["ts"]) == ("wx_ming", "join", invite["ts"])
    members = result.members.set_index(["group_id", "member_id"])
    assert members.loc[("读书会1群", "wx_ming"), "invited_by"] == "wx_owner"
    assert members.loc[("读书会1群", "wx_ming"), "joined_at"] == pd.Timestamp("2024-03-01 01:05", tz="UTC")


def test_replies_mentions_reactions_and_questions(result):
    reply = _by_id(result, "csv:line7")  # 对象ID names the one replied to
    assert (reply["member_id"], reply["event_type"], reply["target_member_id"]) == (
        "wx_ming", "reply", "wx_hong")
    at_reply = _by_id(result, "csv:line8")  # "@阿明 谢谢！好的": the target from the nickname
    assert (at_reply["member_id"], at_reply["event_type"], at_reply["target_member_id"]) == (
        "wx_hong", "reply", "wx_ming")
    mention = _by_id(result, "csv:line13")  # "@明哥 ...": 阿明 renamed himself 明哥 that morning
    assert (mention["member_id"], mention["event_type"], mention["target_member_id"]) == (
        "wx_hong", "mention", "wx_ming")
    like = _by_id(result, "csv:line14")
    assert (like["member_id"], like["event_type"], like["target_member_id"]) == (
        "wx_hong", "reaction", "wx_ming")
    assert _by_id(result, "csv:line6")["event_type"] == "question"  # 发言 with ？
    assert _by_id(result, "csv:line24")["event_type"] == "question"  # 提问
    assert _by_id(result, "csv:line5")["event_type"] == "message"


def test_red_packets_and_amounts(result):
    assert _by_id(result, "csv:line9")["event_type"] == "red_packet_send"
    assert _by_id(result, "csv:line9")["amount"] == 20.0  # ¥20.00
    assert _by_id(result, "csv:line11")["amount"] == pytest.approx(6.10)  # 6.10元
    assert _by_id(result, "csv:line22")["amount"] == 1099.0  # "¥1,099.00"
    claims = result.events.loc[result.events["event_type"] == "red_packet_claim"]
    assert sorted(claims["member_id"]) == ["wx_hong", "wx_ming"]


def test_nicknames_go_to_the_display_table_with_the_change(result):
    ming = result.nicknames.loc[(result.nicknames["member_id"] == "wx_ming")
                                & (result.nicknames["group_id"] == "读书会1群")]
    assert ming["nickname"].tolist() == ["阿明", "明哥"]
    assert ming["first_seen"].tolist() == [pd.Timestamp("2024-03-01 02:00", tz="UTC"),
                                           pd.Timestamp("2024-03-02 00:00", tz="UTC")]
    assert "nickname" not in result.events.columns


def test_text_is_measured_and_never_stored(result, tmp_path):
    assert _by_id(result, "csv:line5")["text_len"] == len("大家好，我是阿明")
    assert pd.isna(_by_id(result, "csv:line2")["text_len"])  # a join has no text
    paths = write_import(result, tmp_path / "out", inputs=[CSV])
    for name in ("events", "members", "groups", "nicknames"):
        table = pd.read_parquet(paths[name])
        assert "text" not in table.columns
        cells = " ".join(map(str, table.astype(str).to_numpy().ravel()))
        for text in TEXTS:
            assert text not in cells, (name, text)
    report = Path(paths["report"]).read_text(encoding="utf-8")
    assert not any(t in report for t in TEXTS)


def test_written_import_passes_the_readers(result, tmp_path):
    paths = write_import(result, tmp_path / "out", inputs=[CSV, MAPPING])
    events = read_events(paths["events"])  # warnings are errors in the test suite
    assert len(events) == 22
    assert events["event_type"].value_counts()[lambda s: s > 0].to_dict() == EXPECTED_TYPES
    assert len(read_members(paths["members"])) == 7
    assert sorted(read_groups(paths["groups"])["group_id"].astype(str)) == ["读书会1群", "读书会2群"]


def test_times_are_read_in_the_given_zone(result):
    # 09:00 in Shanghai
    assert _by_id(result, "csv:line2")["ts"] == pd.Timestamp("2024-03-01 01:00", tz="UTC")
    utc = read_mapped(CSV, MAPPING, tz="UTC")
    assert _by_id(utc, "csv:line2")["ts"] == pd.Timestamp("2024-03-01 09:00", tz="UTC")


def test_time_notations_of_chinese_tools(tmp_path):
    path = _write(tmp_path / "t.csv", "时间,成员ID,行为,对象ID\n"
                  "2024年3月1日 20:15,a,发言,\n2024/3/1 20:16,a,发言,\n1709295420,a,发言,\n"
                  "1709295480000,a,发言,\n2024-03-01T20:19:00+08:00,a,发言,\n")
    ts = read_mapped(path, BASE).events["ts"].dt.strftime("%H:%M").tolist()
    assert ts == ["12:15", "12:16", "12:17", "12:18", "12:19"]


# --------------------------------------------------------------------------- encodings and workbooks


def test_gb18030_copy_reads_the_same(result):
    assert (DATA / "scrm_actions_gb18030.csv").read_bytes() != CSV.read_bytes()
    gb = read_mapped(DATA / "scrm_actions_gb18030.csv", MAPPING)
    pd.testing.assert_frame_equal(gb.events, result.events)
    assert dict(gb.skipped) == dict(result.skipped)


def test_wrong_declared_encoding_is_a_format_error(tmp_path):
    mapping = tmp_path / "m.yaml"
    mapping.write_text(MAPPING.read_text(encoding="utf-8") + "encoding: utf-8\n", encoding="utf-8")
    gb = DATA / "scrm_actions_gb18030.csv"
    with pytest.raises(ImportFormatError, match=r"scrm_actions_gb18030\.csv: byte \d+, field '<encoding>': "
                       "not utf-8 text"):
        read_mapped(gb, mapping)


def _workbook(path: Path, rows: list[list[object]], sheet: str = "成员行为") -> Path:
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active.title = "说明"
    wb.active.append(["导出说明：本表由 SCRM 导出"])
    ws = wb.create_sheet(sheet)
    ws.append(["时间", "群名", "成员ID", "昵称", "行为", "对象ID", "金额"])
    for r in rows:
        ws.append(r)
    wb.save(path)
    return path


def test_xlsx_sheet_with_date_cells_and_number_ids(tmp_path):
    path = _workbook(tmp_path / "export.xlsx", [
        [dt.datetime(2024, 3, 1, 9, 0), "读书会1群", 10001, "阿明", "入群", None, None],
        [dt.datetime(2024, 3, 1, 9, 30), "读书会1群", 10002, "小红", "发红包", None, 8.8],
        [dt.datetime(2024, 3, 1, 9, 31), "读书会1群", 10001, "阿明", "抢红包", None, 2.0],
        ["2024-03-02 10:00:00", "读书会1群", 99999, "群主", "移出群聊", 10001, None],
        [dt.datetime(2024, 3, 2, 11, 0), "读书会1群", 10002, "小红", "抽奖", None, None],
    ])
    mapping = {"columns": {"时间": "ts", "群名": "group_id", "成员ID": "member_id", "昵称": "nickname",
                           "行为": "event_type", "对象ID": "target_member_id", "金额": "amount"}}
    r = read_mapped(path, mapping, sheet="成员行为")
    ev = r.events
    assert ev[["event_id", "member_id", "event_type"]].values.tolist() == [
        ["csv:成员行为:row2", "10001", "join"], ["csv:成员行为:row3", "10002", "red_packet_send"],
        ["csv:成员行为:row4", "10001", "red_packet_claim"], ["csv:成员行为:row5", "10001", "removed"]]
    assert ev["ts"].iloc[0] == pd.Timestamp("2024-03-01 01:00", tz="UTC")
    assert ev["amount"].iloc[1] == pytest.approx(8.8)
    assert dict(r.skipped) == {"unknown label: 抽奖": 1}
    assert set(r.nicknames["nickname"]) == {"阿明", "小红", "群主"}
    # the first sheet is the export's notes, which have none of the mapped columns
    with pytest.raises(ImportFormatError, match=r"export\.xlsx: column '时间' \(mapped to ts by mapping\) is "
                       "not in the file; columns found: 导出说明：本表由 SCRM 导出"):
        read_mapped(path, mapping)
    with pytest.raises(ImportFormatError, match=r"export\.xlsx: no sheet '明细' \(sheets: 说明, 成员行为\)"):
        read_mapped(path, mapping, sheet="明细")
    assert read_mapped(path, mapping, sheet=1).events.equals(ev)


def test_xlsx_unparseable_time_names_sheet_row_and_column(tmp_path):
    path = _workbook(tmp_path / "bad.xlsx", [
        [dt.datetime(2024, 3, 1, 9, 0), "g", "a", "阿明", "入群", None, None],
        ["昨天下午", "g", "b", "小红", "入群", None, None],
    ])
    m = {"columns": {"时间": "ts", "群名": "group_id", "成员ID": "member_id", "行为": "event_type"}}
    with pytest.raises(ImportFormatError, match=r"bad\.xlsx: sheet 成员行为 row 3, field '时间': cannot read "
                       "'昨天下午' as a time"):
        read_mapped(path, m, sheet="成员行为")


# --------------------------------------------------------------------------- errors


def test_unparseable_time_names_file_line_and_column():
    with pytest.raises(ImportFormatError, match=r"malformed_time\.csv: line 4, field '时间': cannot read "
                       r"'2024-03-01 25:61:00' as a time \(.*Asia/Shanghai\)"):
        read_mapped(DATA / "malformed_time.csv", MAPPING)


def test_line_with_extra_fields_names_file_and_line():
    with pytest.raises(ImportFormatError, match=r"malformed_fields\.csv: line 6, field '<csv>': 9 fields, "
                       "the header has 8"):
        read_mapped(DATA / "malformed_fields.csv", MAPPING)


def test_quoted_line_breaks_count_physical_lines(tmp_path):
    path = _write(tmp_path / "q.csv", '时间,成员ID,行为,内容\n2024-03-01 10:00,a,发言,"第一行\n第二行"\n'
                  "not a time,a,发言,x\n")
    m = {"columns": {"时间": "ts", "成员ID": "member_id", "行为": "event_type", "内容": "text"},
         "constants": {"group_id": "g"}}
    with pytest.raises(ImportFormatError, match=r"q\.csv: line 4, field '时间'"):
        read_mapped(path, m)


def test_mapped_column_missing_names_file_column_and_columns_found(tmp_path):
    path = _write(tmp_path / "x.csv", "时间,成员,行为\n2024-03-01 10:00,a,发言\n")
    with pytest.raises(ImportFormatError, match=r"x\.csv: column '成员ID' \(mapped to member_id by "
                       "mapping\\) is not in the file; columns found: 时间, 成员, 行为$"):
        read_mapped(path, BASE)


def test_missing_member_is_a_format_error(tmp_path):
    path = _write(tmp_path / "m.csv",
                  "时间,成员ID,行为,对象ID\n2024-03-01 10:00,a,发言,\n2024-03-01 10:01,,发言,\n")
    with pytest.raises(ImportFormatError, match=r"m\.csv: line 3, field '成员ID': missing"):
        read_mapped(path, BASE)


def test_repeated_event_id_is_a_format_error(tmp_path):
    path = _write(tmp_path / "d.csv",
                  "id,时间,成员ID,行为\n7,2024-03-01 10:00,a,发言\n7,2024-03-01 10:01,b,发言\n")
    m = {"columns": {"id": "event_id", "时间": "ts", "成员ID": "member_id", "行为": "event_type"},
         "constants": {"group_id": "g"}}
    with pytest.raises(ImportFormatError,
                       match=r"d\.csv: line 3, field 'id': repeats the event id '7' of line 2"):
        read_mapped(path, m)


@pytest.mark.parametrize(("extra", "match"), [
    ("labels:\n  抽奖: lottery\n",
     r"key 'labels': label '抽奖' maps to 'lottery', which is not an event type"),
    ("removal_actor: owner\n", r"key 'removal_actor': Input should be 'target' or 'member'"),
    ("colums: {}\n", r"key 'colums': Extra inputs are not permitted"),
    ("constants:\n  member_id: x\n", r"key 'constants': 'member_id' cannot be a constant"),
    ("encoding: klingon\n", r"key 'encoding': unknown encoding 'klingon'"),
])
def test_malformed_mapping_names_the_file_and_the_key(tmp_path, extra, match):
    mapping = tmp_path / "bad_mapping.yaml"
    mapping.write_text(MAPPING.read_text(encoding="utf-8") + extra, encoding="utf-8")
    with pytest.raises(SpecError, match=r"bad_mapping\.yaml: " + match):
        read_mapped(CSV, mapping)


def test_mapping_without_required_columns_or_group(tmp_path):
    with pytest.raises(SpecError, match=r"mapping: key 'columns': no column is mapped to member_id"):
        read_mapped(CSV, {"columns": {"时间": "ts", "行为": "event_type"}})
    with pytest.raises(SpecError,
                       match=r"mapping: key 'columns': '成员ID' and '对象ID' both map to 'member_id'"):
        read_mapped(CSV, {"columns": {"时间": "ts", "成员ID": "member_id", "对象ID": "member_id"}})
    no_group = {"columns": {"时间": "ts", "成员ID": "member_id", "行为": "event_type"}}
    with pytest.raises(SpecError, match=r"mapping: key 'columns': no column is mapped to group_id"):
        read_mapped(CSV, no_group)
    with pytest.raises(SpecError, match=r"scrm_mapping\.yaml: key 'columns\.群名': the mapping takes "
                       "the group from a column"):
        read_mapped(CSV, MAPPING, group_id="g9")
    bad_yaml = tmp_path / "broken.yaml"
    bad_yaml.write_text("columns:\n  时间: ts\n   成员ID: member_id\n", encoding="utf-8")
    with pytest.raises(SpecError, match=r"broken\.yaml: not valid YAML at line 3"):
        read_mapped(CSV, bad_yaml)


def test_group_argument_overrides_the_constant(tmp_path):
    path = _write(tmp_path / "g.csv", "时间,成员ID,行为,对象ID\n2024-03-01 10:00,a,发言,\n")
    assert read_mapped(path, BASE).events["group_id"].tolist() == ["g1"]
    assert read_mapped(path, BASE, group_id="读书会2群").events["group_id"].tolist() == ["读书会2群"]


def test_mapping_labels_extend_and_override_the_table(tmp_path):
    path = _write(tmp_path / "l.csv", "时间,成员ID,行为,对象ID\n2024-03-01 10:00,a,抽奖,\n"
                  "2024-03-01 10:01,a, 签到 ,\n2024-03-01 10:02,a,CheckIn,\n2024-03-01 10:03,a,系统消息,\n")
    r = read_mapped(path, {**BASE, "labels": {"抽奖": "event_signup", "签到": "offline_attend",
                                              "系统消息": None}})
    assert r.events["event_type"].tolist() == ["event_signup", "offline_attend", "checkin"]
    assert dict(r.skipped) == {"ignored label: 系统消息": 1}


# --------------------------------------------------------------------------- the label table


def test_label_table_maps_to_contract_types_only():
    assert set(LABELS.values()) <= set(schema.EVENT_TYPES)
    assert set(LABELS.values()) == set(schema.EVENT_TYPES)  # every type has a Chinese label
    assert all(normalise_label(k) == k for k in LABELS)
    for label, expected in [("入群", "join"), ("加入群聊", "join"), ("进群", "join"), ("退出群聊", "leave"),
                            ("被移出群聊", "removed"), ("踢出", "removed"), ("引用", "reply"),
                            ("艾特", "mention"), ("@", "mention"), ("表情回应", "reaction"),
                            ("文章", "post"), ("解答", "answer"), ("打卡", "checkin"), ("拉新", "invite"),
                            ("发红包", "red_packet_send"), ("抢红包", "red_packet_claim"),
                            ("领券", "coupon_claim"), ("用券", "coupon_redeem"), ("下单", "purchase"),
                            ("续费", "renew"), ("接龙", "event_signup"), ("到场", "offline_attend")]:
        assert event_type_of(label) == expected, label


def test_labels_match_without_whitespace_and_ascii_case():
    assert event_type_of("  加入 群聊\u3000") == "join"
    assert event_type_of("RED_PACKET_CLAIM") == "red_packet_claim"
    assert event_type_of("Reply") == "reply"
    assert event_type_of("抽奖") is None
    assert event_type_of("入群", {"入群": None}) is None  # a mapping may silence a built-in label
