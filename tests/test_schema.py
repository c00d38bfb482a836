from __future__ import annotations

import pytest

from shequn_ml import schema

DESIGN_EVENT_TYPES = (
    "join leave removed message reply mention reaction post question answer checkin invite "
    "red_packet_send red_packet_claim coupon_claim coupon_redeem purchase renew event_signup "
    "offline_attend"
).split()


def test_vocabulary_is_the_design_cards_with_a_meaning_each():
    assert set(DESIGN_EVENT_TYPES) <= set(schema.EVENT_TYPES)
    for e in schema.EVENT_TYPES.values():
        assert e.meaning.endswith("."), e
        assert e.category in {"membership", "speaking", "interaction", "benefit", "activity"}


def test_speaking_events_are_the_domains():
    assert schema.SPEAKING_EVENT_TYPES == {
        "message", "reply", "post", "question", "answer", "checkin"}
    assert {"reply", "mention", "invite"} <= schema.TARGETED_EVENT_TYPES
    assert schema.EXIT_EVENT_TYPES == {"leave", "removed"}


def test_tables_declare_required_columns_and_keys():
    assert [c.name for c in schema.EVENTS.required_columns] == [
        "ts", "group_id", "member_id", "event_type"]
    assert schema.MEMBERS.key == ("member_id", "group_id")
    assert set(schema.MEMBERS.column_names) == {
        "member_id", "group_id", "joined_at", "paid", "expires_at", "level", "invited_by",
        "kol_tag"}
    assert set(schema.GROUPS.column_names) == {
        "group_id", "created_at", "kind", "capacity", "term_days", "owner_id"}
    with pytest.raises(KeyError, match="no column 'nope'"):
        schema.EVENTS.column("nope")


def test_register_event_type_extends_and_refuses_bad_names(monkeypatch):
    monkeypatch.setattr(schema, "EVENT_TYPES", dict(schema.EVENT_TYPES))
    e = schema.register_event_type("live_stream_watch", "watched a live stream (直播).")
    assert schema.EVENT_TYPES["live_stream_watch"] is e
    # registering the same definition twice is harmless; a different one is refused
    schema.register_event_type("live_stream_watch", "watched a live stream (直播).")
    with pytest.raises(ValueError, match="already registered"):
        schema.register_event_type("live_stream_watch", "something else.")
    with pytest.raises(ValueError, match="lower-case snake_case"):
        schema.register_event_type("Live Stream", "x")


def test_contract_markdown_lists_every_column_and_type():
    md = schema.ContractDoc().markdown()
    for t in schema.TABLES.values():
        for c in t.columns:
            assert f"`{c.name}`" in md
    for name in schema.EVENT_TYPES:
        assert f"`{name}`" in md


def test_registered_speaking_type_joins_the_speaking_set(monkeypatch):
    monkeypatch.setattr(schema, "EVENT_TYPES", dict(schema.EVENT_TYPES))
    monkeypatch.setattr(schema, "SPEAKING_EVENT_TYPES", schema.SPEAKING_EVENT_TYPES)
    monkeypatch.setattr(schema, "TARGETED_EVENT_TYPES", schema.TARGETED_EVENT_TYPES)
    schema.register_event_type("voice_message", "sent a voice message.", "speaking",
                               speaking=True)
    assert "voice_message" in schema.SPEAKING_EVENT_TYPES


def test_docs_event_contract_is_generated_from_the_code():
    import subprocess
    import sys
    from pathlib import Path

    doc = Path(__file__).resolve().parents[1] / "docs" / "event-contract.md"
    generated = subprocess.run([sys.executable, "-m", "shequn_ml.schema"], capture_output=True,
                               text=True, check=True).stdout
    assert doc.read_text(encoding="utf-8") == generated, (
        "docs/event-contract.md is stale: run `python -m shequn_ml.schema > docs/event-contract.md`")
