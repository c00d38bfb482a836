"""Telegram Desktop result.json importer: the fixture's events, who did what to whom, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from shequn_ml.importers import ImportFormatError, write_import
from shequn_ml.importers.telegram import _plain, read_telegram
from shequn_ml.io import read_events

DATA = Path(__file__).parent / "data" / "importers" / "telegram"
CHAT = DATA / "result.json"
ACCOUNT = DATA / "result-account.json"


@pytest.fixture(scope="module")
def result():
    return read_telegram(CHAT, tz="Asia/Shanghai")


def _ev(result, event_id):
    row = result.events.loc[result.events["event_id"] == f"telegram:{event_id}"]
    assert len(row) == 1, event_id
    return row.iloc[0]


def _of(result, event_type):
    return result.events[result.events["event_type"] == event_type]


def test_counts_by_event_type_and_skips(result):
    assert result.events["event_type"].value_counts().to_dict() == {
        "join": 5, "message": 4, "invite": 3, "mention": 2, "reply": 2, "reaction": 2, "post": 1,
        "removed": 1, "leave": 1, "question": 1}
    assert dict(result.skipped) == {
        "message from a channel (not a member)": 1,
        "service: invite_members, member not identified by name": 1,
        "service: migrate_from_group": 1, "service: pin_message": 1,
        "service: unknown edit_chat_banner": 1, "unsupported message": 1}
    assert set(result.events["group_id"]) == {"1234567890"}


def test_removal_is_the_removed_members_event_not_the_operators(result):
    removed = _of(result, "removed")
    assert removed["member_id"].tolist() == ["user102"]          # Bob, named "Bobby" by then
    assert removed["ts"].iloc[0] == pd.Timestamp("2024-03-01 02:00", tz="UTC")
    assert "user101" not in set(removed["member_id"])             # Ann removed him
    assert _of(result, "leave")["member_id"].tolist() == ["user105"]   # Eve removed herself


def test_invites_and_joins(result):
    inv = _of(result, "invite")
    assert list(zip(inv["member_id"], inv["target_member_id"], strict=True)) == [
        ("user101", "user102"), ("user101", "user103"), ("user101", "user104")]
    assert sorted(_of(result, "join")["member_id"]) == ["user101", "user102", "user103", "user104", "user105"]
    members = result.members.set_index("member_id")
    assert members.loc["user104", "invited_by"] == "user101"      # join_group_by_link with inviter
    assert pd.isna(members.loc["user105", "invited_by"])          # added herself: a join only
    group = result.groups.set_index("group_id").loc["1234567890"]
    assert group["owner_id"] == "user101"
    assert group["created_at"] == pd.Timestamp("2024-03-01", tz="UTC")


def test_replies_mentions_and_reactions(result):
    reply = _ev(result, 7)
    assert (reply["event_type"], reply["target_member_id"], reply["ref_event_id"]) == (
        "reply", "user101", "telegram:3")
    assert _ev(result, 12)["target_member_id"] == "user103"
    lost = _ev(result, 20)   # replies to a message outside the export: a question by its text
    assert lost["event_type"] == "question" and pd.isna(lost["target_member_id"])
    ment = _of(result, "mention")
    assert list(zip(ment["member_id"], ment["target_member_id"], strict=True)) == [
        ("user102", "user104"),   # @dana_w, a username that is also her shown name
        ("user104", "user102")]   # mention_name with user_id 102
    assert result.notes["names in text unresolved"] == 2   # @chen_reads and the invitee "Frank"
    rx = _of(result, "reaction")
    assert rx["member_id"].tolist() == ["user102", "user103"]
    assert set(rx["target_member_id"]) == {"user101"}
    assert rx["ts"].tolist() == [pd.Timestamp("2024-03-01 01:30", tz="UTC"),
                                 pd.Timestamp("2024-03-01 01:31", tz="UTC")]
    assert result.notes["reactions without a named reactor"] == 1
    assert _ev(result, 11)["event_type"] == "post"   # forwarded


def test_reaction_dates_are_wall_clock_in_tz():
    r = read_telegram(CHAT)   # tz="UTC": the +08:00 wall clock read as UTC is 8 hours late
    assert _of(r, "reaction")["ts"].iloc[0] == pd.Timestamp("2024-03-01 09:30", tz="UTC")
    # message times come from date_unixtime and do not move
    assert _ev(r, 7)["ts"] == pd.Timestamp("2024-03-01 00:07", tz="UTC")


def test_nickname_change_is_kept_with_its_time(result):
    nick = result.nicknames[result.nicknames["member_id"] == "user102"]
    assert nick["nickname"].tolist() == ["Bob", "Bobby"]
    assert nick["first_seen"].tolist() == [pd.Timestamp("2024-03-01 00:04", tz="UTC"),
                                           pd.Timestamp("2024-03-01 01:00", tz="UTC")]


def test_written_output_passes_the_reader_and_holds_no_text(result, tmp_path):
    paths = write_import(result, tmp_path / "out")
    assert len(read_events(paths["events"])) == len(result.events) == 22
    export = json.loads(CHAT.read_text(encoding="utf-8"))
    texts = [t for t in (_plain(m.get("text")) for m in export["messages"]) if len(t) > 3]
    assert "欢迎大家来读书会" in texts
    for name in ("events", "members", "groups", "nicknames"):
        table = pd.read_parquet(paths[name])
        cells = {str(v) for col in table.columns for v in table[col].tolist()}
        assert not [t for t in texts if any(t in c for c in cells)], name
    assert _ev(result, 3)["text_len"] == len("欢迎大家来读书会")


def test_account_export_imports_every_group_chat():
    r = read_telegram(ACCOUNT)
    assert sorted(r.events["group_id"].unique()) == ["1234567890", "555", "888"]
    assert r.skipped["not a group chat (personal_chat)"] == 2
    assert r.skipped["not a group chat (public_channel)"] == 1
    run = r.events[r.events["group_id"] == "555"]
    assert run["event_type"].tolist() == ["join", "invite", "join", "message"]
    assert r.groups.set_index("group_id").loc["555", "owner_id"] == "user101"


def test_account_export_chat_by_name_or_id():
    by_name = read_telegram(ACCOUNT, chat="跑步群")
    by_id = read_telegram(ACCOUNT, chat=555, group_id="run-club")
    assert by_name.events["group_id"].unique().tolist() == ["555"]
    assert by_id.events["group_id"].unique().tolist() == ["run-club"]
    assert len(by_id.events) == len(by_name.events) == 4
    with pytest.raises(ValueError, match="no chat named or numbered 'nope'"):
        read_telegram(ACCOUNT, chat="nope")
    with pytest.raises(ValueError, match="names one group"):
        read_telegram(ACCOUNT, group_id="x")


def test_old_export_without_unixtime_reads_date_in_tz(tmp_path):
    f = tmp_path / "old.json"
    f.write_text(json.dumps({"name": "g", "type": "private_group", "id": 1, "messages": [
        {"id": 1, "type": "message", "date": "2019-05-01T20:00:00", "from": "A", "from_id": 5,
         "text": "hi"}]}), encoding="utf-8")
    r = read_telegram(f, tz="Europe/Moscow")
    assert r.events["ts"].iloc[0] == pd.Timestamp("2019-05-01 17:00", tz="UTC")
    assert r.events["member_id"].iloc[0] == "user5"   # numeric from_id of old exports


def test_malformed_time_names_file_chat_message_and_field():
    with pytest.raises(ImportFormatError,
                       match=r"result-bad\.json: chat '读书会', message 2 \(id 4\), field 'date_unixtime'"):
        read_telegram(DATA / "result-bad.json")


def test_other_format_errors(tmp_path):
    f = tmp_path / "result.json"
    f.write_text('{"name": "g", "messages": [', encoding="utf-8")
    with pytest.raises(ImportFormatError, match=r"result\.json: line 1 column \d+, field '<json>'"):
        read_telegram(f)
    f.write_text(json.dumps({"name": "g", "id": 1, "messages": [{"id": 1, "type": "story"}]}),
                 encoding="utf-8")
    with pytest.raises(ImportFormatError, match=r"message 1 \(id 1\), field 'type'"):
        read_telegram(f)
    f.write_text(json.dumps({"about": "x"}), encoding="utf-8")
    with pytest.raises(ImportFormatError, match=r"top level, field 'messages'"):
        read_telegram(f)


def test_unknown_service_action_is_counted(result):
    assert result.skipped["service: unknown edit_chat_banner"] == 1
    assert "telegram:16" not in set(result.events["event_id"])
