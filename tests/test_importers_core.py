"""The importers' shared core: nickname resolution, time zones, pseudonyms, writing as one set."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from shequn_ml.importers._core import (
    OUTPUT_FILES,
    REPORT_FILE,
    EventBuilder,
    NicknameBook,
    format_error,
    pseudonymise,
    speaking_type,
    to_utc,
    write_import,
)
from shequn_ml.io import read_events
from shequn_ml.outputs import OutputPathError


def t(day: str) -> pd.Timestamp:
    return pd.Timestamp(day, tz="UTC")


def test_nickname_book_follows_renames_and_refuses_shared_names():
    book = NicknameBook()
    book.observe("u1", "阿明", t("2024-01-01"))
    book.observe("u1", "明哥", t("2024-02-01"))   # u1 renames
    book.observe("u2", "阿明", t("2024-03-01"))   # u2 takes the old name
    book.observe("u3", "小红", t("2024-01-01"))
    book.observe("u4", "小红", t("2024-01-02"))   # two members share a name
    assert book.resolve("阿明", t("2024-01-15")) == "u1"
    assert book.resolve("明哥", t("2024-02-15")) == "u1"
    # nobody seen by then carries it: the member first seen later under it (present, not yet seen)
    assert book.resolve("阿明", t("2024-02-15")) == "u2"
    assert book.resolve("阿明", t("2024-03-15")) == "u2"
    assert book.resolve("小红", t("2024-01-05")) is None   # ambiguous
    assert book.resolve("老王", t("2024-01-05")) is None   # unknown
    assert dict(book.misses) == {"unresolved": 1, "ambiguous": 1}


def test_nickname_table_spans_each_name_from_first_to_last_sighting():
    book = NicknameBook()
    for day, name in [("2024-01-01", "A"), ("2024-01-05", "A"), ("2024-02-01", "B"), ("2024-03-01", "A")]:
        book.observe("u", name, t(day))
    table = book.table("g").set_index("nickname")
    assert table.loc["A", "first_seen"] == t("2024-01-01") and table.loc["A", "last_seen"] == t("2024-03-01")
    assert table.loc["B", "first_seen"] == table.loc["B", "last_seen"] == t("2024-02-01")


def test_wall_clock_text_is_read_in_the_given_zone_and_offsets_are_kept():
    out = to_utc(["2024-01-01 08:00:00", "2024-01-01T08:00:00+09:00", "not a time"], "Asia/Shanghai")
    assert out.iloc[0] == t("2024-01-01 00:00") and out.iloc[1] == t("2023-12-31 23:00")
    assert pd.isna(out.iloc[2])
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Base'"):
        to_utc(["2024-01-01"], "Mars/Base")


def test_speaking_type_and_format_error_wording():
    assert [speaking_type(x) for x in ("好吗？", "ok?", "好的")] == ["question", "question", "message"]
    assert speaking_type("好吗？", is_reply=True) == "reply"
    assert str(format_error("a.json", "record 3", "ts", "missing")) == "a.json: record 3, field 'ts': missing"


def _builder() -> EventBuilder:
    b = EventBuilder("demo", group_id="g1")
    b.nickname("wxid_owner", "群主", t("2024-01-01"))
    b.event("1", t("2024-01-01"), "wxid_owner", "join")
    b.event("2", t("2024-01-02"), "wxid_owner", "invite", target="wxid_new")
    b.event("3", t("2024-01-02"), "wxid_new", "join")
    b.event("4", t("2024-01-03"), "wxid_new", "reply", target="wxid_owner", ref="2", text="谢谢邀请！")
    b.skip("system message: unknown")
    return b


def test_builder_records_memberships_invites_and_drops_text():
    r = _builder().result("demo.csv")
    members = r.members.set_index("member_id")
    assert members.loc["wxid_new", "invited_by"] == "wxid_owner"
    assert members.loc["wxid_new", "joined_at"] == t("2024-01-02")
    reply = r.events.iloc[3]
    assert (reply["event_id"], reply["ref_event_id"], reply["text_len"]) == ("demo:4", "demo:2", 5)
    assert "谢谢" not in r.events.to_csv()
    assert r.report()["skipped"] == {"system message: unknown": 1}


def test_pseudonymise_is_keyed_stable_and_covers_every_member_column():
    r = _builder().result("demo.csv")
    a, b, other = pseudonymise(r, "k1"), pseudonymise(r, "k1"), pseudonymise(r, "k2")
    assert a.events.equals(b.events)
    assert not a.events["member_id"].equals(other.events["member_id"])
    text = a.events.to_csv() + a.members.to_csv() + a.nicknames.to_csv()
    assert "wxid_" not in text
    # the same member gets the same pseudonym in every column and table
    owner = a.events.loc[a.events["event_type"] == "invite", "member_id"].iloc[0]
    assert a.events.loc[a.events["event_type"] == "reply", "target_member_id"].iloc[0] == owner
    assert a.nicknames["member_id"].iloc[0] == owner
    with pytest.raises(ValueError, match="non-empty key"):
        pseudonymise(r, "")


def test_write_import_writes_a_validated_set_and_refuses_to_overwrite_the_export(tmp_path):
    r = _builder().result("demo.csv")
    paths = write_import(r, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted([*OUTPUT_FILES, REPORT_FILE])
    events = read_events(paths["events"])
    assert events["event_type"].astype(str).tolist() == ["join", "invite", "join", "reply"]
    report = json.loads(paths["report"].read_text(encoding="utf-8"))
    assert report["events"] == 4 and report["skipped"] == {"system message: unknown": 1}
    export = tmp_path / "export"
    export.mkdir()
    with pytest.raises(OutputPathError, match="it would be overwritten"):
        write_import(r, export, inputs=[export])


def test_write_import_writes_nothing_when_the_tables_are_refused(tmp_path):
    b = EventBuilder("demo", group_id="g1")
    b.event("1", pd.NaT, "u1", "message")     # an importer bug: a record without a time
    with pytest.raises(ValueError, match="ts"):
        write_import(b.result("bad.csv"), tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
