"""DiscordChatExporter JSON importer: the fixture's events, who did what to whom, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from shequn_ml.importers import ImportFormatError, write_import
from shequn_ml.importers.discord import read_discord
from shequn_ml.io import read_events

DATA = Path(__file__).parent / "data" / "importers" / "discord"
CHANNEL = DATA / "general.json"
ANN, BOB, CHEN, DANA, BOT = ("111111111111111111", "222222222222222222", "333333333333333333",
                             "444444444444444444", "555555555555555555")


@pytest.fixture(scope="module")
def result():
    return read_discord(CHANNEL)


def _ev(result, n):
    row = result.events.loc[result.events["event_id"] == f"discord:10000000000000000{n:02d}"]
    assert len(row) == 1, n
    return row.iloc[0]


def _of(result, event_type):
    return result.events[result.events["event_type"] == event_type]


def test_counts_by_event_type_and_skips(result):
    assert result.events["event_type"].value_counts().to_dict() == {
        "message": 4, "join": 3, "reaction": 2, "mention": 2, "reply": 1, "question": 1, "post": 1,
        "invite": 1, "removed": 1, "leave": 1}
    assert dict(result.skipped) == {
        "bot mention": 1, "bot message": 1, "self reaction": 1,
        "system message: ChannelPinnedMessage": 1, "system message: ThreadCreated": 1,
        "system message: unknown 24": 1}


def test_group_is_the_channel(result):
    assert result.events["group_id"].unique().tolist() == ["900000000000000001"]
    group = result.groups.set_index("group_id").loc["900000000000000001"]
    assert "capacity" not in result.groups or pd.isna(group.get("capacity"))
    other = read_discord(CHANNEL, group_id="book-club-general")
    assert other.events["group_id"].unique().tolist() == ["book-club-general"]


def test_removal_invite_and_leave(result):
    removed = _of(result, "removed")
    assert removed["member_id"].tolist() == [BOB]   # Ann removed Bob: Bob's event
    assert ANN not in set(_of(result, "removed")["member_id"]) | set(_of(result, "leave")["member_id"])
    assert _of(result, "leave")["member_id"].tolist() == [DANA]
    inv = _of(result, "invite")
    assert list(zip(inv["member_id"], inv["target_member_id"], strict=True)) == [(ANN, DANA)]
    assert sorted(_of(result, "join")["member_id"]) == sorted([BOB, CHEN, DANA])
    assert result.members.set_index("member_id").loc[DANA, "invited_by"] == ANN


def test_replies_mentions_and_reactions(result):
    reply = _ev(result, 4)
    assert (reply["event_type"], reply["target_member_id"], reply["ref_event_id"]) == (
        "reply", ANN, "discord:1000000000000000003")
    assert _ev(result, 10)["event_type"] == "message"      # replied-to message not in the export
    assert _ev(result, 16)["event_type"] == "message"      # a reply to a bot
    assert result.notes["reply target not in export"] == 1
    ment = _of(result, "mention")
    assert list(zip(ment["member_id"], ment["target_member_id"], strict=True)) == [(CHEN, ANN), (CHEN, BOB)]
    assert _ev(result, 5)["event_type"] == "question"
    rx = _of(result, "reaction")
    assert rx["member_id"].tolist() == [BOB, CHEN] and set(rx["target_member_id"]) == {ANN}
    assert set(rx["ts"]) == {pd.Timestamp("2024-03-01 00:10", tz="UTC")}   # the message's time
    assert _ev(result, 8)["event_type"] == "post"          # a shared link with its embed


def test_bots_are_skipped_everywhere(result):
    assert BOT not in set(result.events["member_id"]) | set(result.events["target_member_id"].dropna())
    assert "discord:1000000000000000006" not in set(result.events["event_id"])


def test_nickname_change_shows_as_two_rows(result):
    nick = result.nicknames[result.nicknames["member_id"] == BOB]
    assert nick["nickname"].tolist() == ["Bobby", "Bob the Reader"]
    assert nick["first_seen"].iloc[1] == pd.Timestamp("2024-03-02 01:00", tz="UTC")
    # no nickname set: the user name is shown
    assert result.nicknames.set_index("member_id").loc[CHEN, "nickname"] == "chen"


def test_written_output_passes_the_reader_and_holds_no_text(result, tmp_path):
    paths = write_import(result, tmp_path / "out")
    assert len(read_events(paths["events"])) == len(result.events) == 17
    export = json.loads(CHANNEL.read_text(encoding="utf-8"))
    texts = [m["content"] for m in export["messages"] if len(m["content"]) > 6]
    assert "Welcome everyone!" in texts
    for name in ("events", "members", "groups", "nicknames"):
        table = pd.read_parquet(paths[name])
        cells = {str(v) for col in table.columns for v in table[col].tolist()}
        assert not [t for t in texts if any(t in c for c in cells)], name
    assert _ev(result, 3)["text_len"] == len("Welcome everyone!")


def test_timestamps_keep_their_offset_and_naive_ones_use_tz(result, tmp_path):
    assert _ev(result, 1)["ts"] == pd.Timestamp("2024-03-01 00:00", tz="UTC")   # +08:00 in the file
    f = tmp_path / "naive.json"
    f.write_text(json.dumps({"channel": {"id": "1"}, "messages": [
        {"id": "9", "type": "Default", "timestamp": "2024-03-01T08:00:00", "content": "x",
         "author": {"id": "7", "name": "a", "isBot": False}}]}), encoding="utf-8")
    assert read_discord(f, tz="Asia/Shanghai").events["ts"].iloc[0] == pd.Timestamp("2024-03-01", tz="UTC")


def test_malformed_message_names_file_message_and_field():
    with pytest.raises(ImportFormatError,
                       match=r"general-bad\.json: message 2 \(id 1000000000000000002\), field 'author\.id'"):
        read_discord(DATA / "general-bad.json")


def test_other_format_errors(tmp_path):
    f = tmp_path / "x.json"
    f.write_text(json.dumps({"guild": {}, "messages": []}), encoding="utf-8")
    with pytest.raises(ImportFormatError, match=r"x\.json: top level, field 'channel\.id'"):
        read_discord(f)
    f.write_text(json.dumps({"channel": {"id": "1"}, "messages": [
        {"id": "9", "type": "Default", "timestamp": "last tuesday", "author": {"id": "7"}}]}),
        encoding="utf-8")
    with pytest.raises(ImportFormatError, match=r"message 1 \(id 9\), field 'timestamp'"):
        read_discord(f)


def test_unknown_system_message_is_counted(result):
    assert result.skipped["system message: unknown 24"] == 1
    assert "discord:1000000000000000014" not in set(result.events["event_id"])
