"""Member roles: population, rules, reasons, head wolf, point in time, and the sample against true roles."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shequn_ml import roles as R
from shequn_ml import schema
from shequn_ml.features.snapshots import EventHistory
from shequn_ml.io import read_events, read_groups, read_members

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
T0 = pd.Timestamp("2024-01-01", tz="UTC")
CUT = T0 + pd.Timedelta(days=30)


def events(rows: list[tuple], **extra: list) -> pd.DataFrame:
    """rows of (day offset from 2024-01-01, group, member, type[, target[, text_len]])."""
    frame = pd.DataFrame({
        "ts": [T0 + pd.Timedelta(days=r[0]) for r in rows],
        "group_id": [r[1] for r in rows], "member_id": [r[2] for r in rows],
        "event_type": [r[3] for r in rows],
        "target_member_id": [r[4] if len(r) > 4 else None for r in rows],
        "text_len": [r[5] if len(r) > 5 else np.nan for r in rows], **extra})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # missing targets are warned about, not refused
        return read_events(frame)


def by_member(table: pd.DataFrame) -> pd.DataFrame:
    return table.set_index(table["group_id"] + "/" + table["member_id"])


def repeat(n: int, day: float, group: str, member: str, kind: str, target: str | None = None,
           text_len: float = np.nan) -> list[tuple]:
    return [(day + i * 0.01, group, member, kind, target, text_len) for i in range(n)]


# --------------------------------------------------------------------------- population


def test_one_row_per_present_member_and_none_for_the_gone_or_not_yet_joined():
    ev = events([
        (1, "g", "stays", "join"), (2, "g", "stays", "message"),
        (1, "g", "left", "join"), (5, "g", "left", "message"), (10, "g", "left", "leave"),
        (40, "g", "later", "join"), (41, "g", "later", "message"),      # joins after the cutoff
        (1, "g", "back", "join"), (3, "g", "back", "leave"), (8, "g", "back", "message"),
        (2, "h", "stays", "message"),                                    # the same member, a second group
        (29.9, "g", "removed", "join"), (29.95, "g", "removed", "removed"),
    ])
    members = read_members(pd.DataFrame({"member_id": ["listed", "listed_late"], "group_id": "g",
                                         "joined_at": ["2024-01-05T00:00Z", "2024-03-01T00:00Z"]}))
    out = R.assign_roles(ev, CUT, members=members)
    keys = list(zip(out["group_id"], out["member_id"], strict=True))
    assert keys == sorted({("g", "stays"), ("g", "back"), ("h", "stays"), ("g", "listed")})
    assert list(out.columns) == list(R.OUTPUT_COLUMNS)
    assert out["member_id"].map(type).eq(str).all() and out["group_id"].map(type).eq(str).all()
    assert out.set_index("member_id").loc["listed", "role"] == "lurker"  # never acted: present, silent
    assert set(out["role"]) <= set(R.ROLES)
    assert (out["role_zh"] == out["role"].map(R.ROLE_ZH)).all()
    # the baselines cover the same rows
    for base in (R.message_count_roles(ev, CUT, members=members),
                 R.majority_roles(ev, CUT, pd.DataFrame({"role": ["asker"]}), members=members)):
        assert list(zip(base["group_id"], base["member_id"], strict=True)) == keys


# --------------------------------------------------------------------------- the rules


def _community() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A chat group with one member of each kind, and a Q&A group."""
    rows = [(0.5, "g", m, "join") for m in ("think", "org", "ask", "chat", "quiet", "ritual", "spam", "fan")]
    rows += repeat(4, 10, "g", "think", "post")
    rows += repeat(6, 11, "g", "fan", "reply", "think")               # the thinker draws responses
    rows += repeat(3, 12, "g", "fan", "reaction", "think")
    rows += repeat(3, 10, "g", "org", "invite", "quiet") + repeat(2, 11, "g", "org", "red_packet_send")
    rows += repeat(2, 12, "g", "org", "message")
    rows += repeat(4, 13, "g", "ask", "question") + repeat(2, 13.5, "g", "ask", "message")
    rows += repeat(2, 14, "g", "think", "answer", "ask")
    rows += repeat(12, 15, "g", "chat", "message") + repeat(6, 16, "g", "chat", "reply", "fan")
    rows += repeat(8, 17, "g", "chat", "reaction", "fan")
    rows += repeat(12, 18, "g", "ritual", "checkin")                  # check-ins are not talk
    rows += repeat(5, 19, "g", "spam", "post")                        # long posts nobody answers
    rows += repeat(5, 20, "g", "fan", "message")
    rows += [(0.5, "qa", m, "join") for m in ("expert", "newbie", "commenter")]
    rows += repeat(5, 10, "qa", "newbie", "question") + repeat(5, 11, "qa", "expert", "answer", "newbie")
    rows += repeat(5, 12, "qa", "commenter", "reply", "expert") + repeat(4, 13, "qa", "commenter", "message")
    rows += [(40, "g", "quiet", "message")]                           # after the cutoff
    groups = read_groups(pd.DataFrame({"group_id": ["g", "qa"], "kind": ["free", "qa"]}))
    return events(rows), groups


def test_each_role_follows_its_definition():
    ev, groups = _community()
    out = by_member(R.assign_roles(ev, CUT, groups=groups))
    role = out["role"].to_dict()
    assert role == {"g/think": "thinker", "g/org": "organiser", "g/ask": "asker", "g/chat": "chatter",
                    "g/quiet": "lurker", "g/ritual": "lurker", "g/spam": "chatter", "g/fan": "chatter",
                    "qa/expert": "thinker", "qa/newbie": "asker", "qa/commenter": "chatter"}
    # the measures behind them
    assert out.loc["g/think", ["long_posts", "answers", "responses_received"]].tolist() == [4, 2, 9]
    assert out.loc["g/org", ["invites", "red_packets_sent", "organising", "talk"]].tolist() == [3, 2, 5, 2]
    assert out.loc["g/ritual", ["checkins", "talk"]].tolist() == [12, 0]
    chat = "18 messages in the last 28 days (18 short chat), 8 likes"
    assert out.loc["g/chat", "role_reason_en"] == chat
    assert out.loc["g/chat", "role_reason_zh"] == "近28天发言18次（闲聊短消息18条），点赞8次"
    assert out.loc["g/spam", "role_reason_en"] == "5 messages in the last 28 days (5 long posts or answers)"
    assert out.loc["g/spam", "responses_received"] == 0 and out.loc["g/spam", "thinker_lift"] > R.MIN_LIFT
    assert out.loc["qa/newbie", "answers_received"] == 5
    # a Q&A answer credits its author: it is content, not a response the answerer drew
    assert out.loc["qa/expert", "responses_received"] == 5 and out.loc["qa/newbie", "responses_received"] == 0
    # group-relative: g's average member said (4+2+2+6+2+18+5+11)/8 things
    assert out.loc["g/quiet", "group_talk_mean"] == pytest.approx((6 + 2 + 6 + 18 + 5 + 11) / 8)


def test_a_long_message_is_a_long_post_and_row_order_does_not_matter():
    rows = [(11, "g", "a", "message", None, float(R.LONG_TEXT_CHARS)), (12, "g", "a", "message", None, 20.0),
            (13, "g", "a", "reply", "b", R.LONG_TEXT_CHARS + 50.0), (14, "g", "b", "reply", "a", 10.0),
            (15, "g", "b", "question", None, R.LONG_TEXT_CHARS * 2.0),  # a long question stays a question
            (1, "g", "a", "post")]                                       # before the 28-day window
    ev = events(rows)
    out = by_member(R.assign_roles(ev, CUT))
    assert out.loc["g/a", ["long_posts", "short_talk", "talk"]].tolist() == [2, 1, 3]
    assert out.loc["g/b", ["long_posts", "questions", "short_talk"]].tolist() == [0, 1, 1]
    shuffled = events([rows[i] for i in (4, 2, 5, 0, 3, 1)])
    pd.testing.assert_frame_equal(R.assign_roles(shuffled, CUT), R.assign_roles(ev, CUT))


def test_a_history_from_other_events_is_refused():
    ev, _ = _community()
    other = events([(1, "g", "a", "message", None, 300.0)])
    with pytest.raises(ValueError, match=r"history was built from 1 events but events has \d+ rows"):
        R.assign_roles(ev, CUT, history=EventHistory(other))
    shifted = ev.copy()
    shifted["ts"] = shifted["ts"] + pd.Timedelta(seconds=1)
    shifted["text_len"] = 300.0
    with pytest.raises(ValueError, match="history was built from other events"):
        R.assign_roles(shifted, CUT, history=EventHistory(ev))


# --------------------------------------------------------------------------- reasons

_PLURAL_NOUNS = ("long post", "answer", "response", "message", "question", "like", "red packet", "sign-up",
                 "organising act")


def _plural_mistakes(text: str) -> list[str]:
    wrong = []
    for n, noun, s in re.findall(r"(?<![\d,.])(\d[\d,]*) (" + "|".join(_PLURAL_NOUNS) + r")(s?)\b", text):
        if (n == "1") != (s == ""):
            wrong.append(f"{n} {noun}{s}")
    for n, word in re.findall(r"(?<![\d,.])(\d[\d,]*) (person|people)\b", text):
        if (n == "1") != (word == "person"):
            wrong.append(f"{n} {word}")
    return wrong


def test_reasons_carry_the_members_numbers_with_singular_and_plural():
    rows = [(11, "g", "a", "post"), (12, "g", "b", "reply", "a"), *repeat(4, 13, "g", "b", "message"),
            (14, "g", "c", "invite", "d"), (15, "g", "c", "red_packet_send"), (1, "g", "d", "join"),
            (16, "g", "e", "question"), (17, "g", "e", "question"), (18, "g", "b", "answer", "e")]
    out = by_member(R.assign_roles(events(rows), CUT))
    assert out.loc["g/a", "role_reason_en"] == \
        "1 long post in the last 28 days, drawing 1 response from others"
    assert out.loc["g/a", "role_reason_zh"] == "近28天发了1条长帖，获得他人1次回应"
    assert out.loc["g/c", "role"] == "organiser"
    assert out.loc["g/c", "role_reason_en"] == "invited 1 person and sent 1 red packet in the last 28 days"
    assert out.loc["g/c", "role_reason_zh"] == "近28天邀请1人入群、发了1个红包"
    assert out.loc["g/e", "role_reason_en"].startswith(
        "asked 2 questions among 2 messages in the last 28 days")
    assert out.loc["g/e", "role_reason_en"].endswith(", drawing 1 answer")
    assert out.loc["g/d", "role_reason_en"] == \
        "no messages in the last 28 days (the group's average member: 1.8)"
    for text in out["role_reason_en"]:
        assert not _plural_mistakes(text), text
    # the checker itself finds each kind of mistake
    assert _plural_mistakes("1 responses, 2 message, 1 people, 3 person, 1 like, 10 likes") == \
        ["1 responses", "2 message", "1 people", "3 person"]


# --------------------------------------------------------------------------- head wolf


def test_head_wolf_is_the_best_ranked_present_member_of_each_group():
    ev, groups = _community()
    kol = pd.DataFrame({"group_id": ["g", "g", "g", "qa", "qa", "zz"],
                        "member_id": ["gone", "chat", "think", "newbie", "expert", "x"],
                        "kol_rank_in_group": [1, 2, 3, None, 1, 1],
                        "cutoff": CUT})
    stale = kol.assign(cutoff=CUT - pd.Timedelta(days=7), kol_rank_in_group=[9, 9, 1, 1, 9, 1])
    out = by_member(R.assign_roles(ev, CUT, groups=groups, kol=pd.concat([kol, stale])))
    # "gone" is not present, so the best present member of g is "chat"; stale rows are ignored
    assert out.index[out["is_head_wolf"]].tolist() == ["g/chat", "qa/expert"]
    assert (out.loc[out["is_head_wolf"], "role_zh_display"] == R.HEAD_WOLF_ZH).all()
    rest = out.loc[~out["is_head_wolf"]]
    assert (rest["role_zh_display"] == rest["role_zh"]).all()
    assert out.loc["g/chat", "role"] == "chatter"  # the role itself is kept
    assert out.loc["g/chat", "role_reason_en"].startswith(R.HEAD_WOLF_REASON_EN + "18 messages")
    assert out.loc["qa/expert", "role_reason_zh"].startswith(R.HEAD_WOLF_REASON_ZH)
    assert not R.assign_roles(ev, CUT, groups=groups)["is_head_wolf"].any()


# --------------------------------------------------------------------------- errors


def test_bad_input_names_what_was_expected_and_found():
    ev, _ = _community()
    with pytest.raises(ValueError, match=r"cutoff must be a date or time such as '2024-04-01'; got 'soon'"):
        R.assign_roles(ev, "soon")
    with pytest.raises(ValueError, match=r"window_days must be a positive number of days; got 0"):
        R.assign_roles(ev, CUT, window_days=0)
    with pytest.raises(ValueError, match=r"window_days must be a positive number of days; got -3.5"):
        R.message_count_roles(ev, CUT, window_days=-3.5)
    with pytest.raises(ValueError, match=r"kol table needs columns \['group_id', 'member_id', "
                                         r"'kol_rank_in_group'\]; missing \['kol_rank_in_group'\], "
                                         r"found \['group_id', 'member_id', 'kol_score'\]"):
        R.assign_roles(ev, CUT, kol=pd.DataFrame({"group_id": ["g"], "member_id": ["a"], "kol_score": [1.0]}))
    with pytest.raises(ValueError, match=r"kol table has no rows at cutoff 2024-01-31 00:00:00\+00:00"):
        R.assign_roles(ev, CUT, kol=pd.DataFrame({"group_id": ["g"], "member_id": ["a"],
                                                  "kol_rank_in_group": [1], "cutoff": ["2024-01-01"]}))
    with pytest.raises(ValueError, match=r"kol table repeats 1 \(group_id, member_id\) rows"):
        R.assign_roles(ev, CUT, kol=pd.DataFrame({"group_id": ["g", "g"], "member_id": ["a", "a"],
                                                  "kol_rank_in_group": [1, 2]}))
    with pytest.raises(ValueError, match=r"train_truth needs a 'role' column; found columns \['kind'\]"):
        R.majority_roles(ev, CUT, pd.DataFrame({"kind": ["x"]}))
    ok = pd.DataFrame({"group_id": ["g"], "member_id": ["a"], "role": ["asker"]})
    with pytest.raises(ValueError, match=r"truth needs columns \['group_id', 'member_id', 'role'\]; "
                                         r"missing \['role'\]"):
        R.evaluate_roles(ok, ok.drop(columns="role"))
    with pytest.raises(ValueError, match=r"assigned roles must be some of .*found \['guru'\]"):
        R.evaluate_roles(ok.assign(role="guru"), ok)
    with pytest.raises(ValueError, match=r"truth has 1 repeated \(group_id, member_id\) rows"):
        R.evaluate_roles(ok, pd.concat([ok, ok]))


def test_evaluate_roles_counts_by_hand():
    keys = {"group_id": "g", "member_id": list("abcdef")}
    assigned = pd.DataFrame({**keys, "role": ["asker", "asker", "lurker", "lurker", "chatter", "thinker"]})
    truth = pd.DataFrame({"group_id": "g", "member_id": list("abcde") + ["zz"],
                          "role": ["asker", "lurker", "lurker", "lurker", "lurker", "organiser"]})
    ev = R.evaluate_roles(assigned, truth)
    assert (ev.n, ev.n_without_truth) == (5, 1)  # f has no true role
    assert ev.confusion.loc["lurker"].tolist() == [0, 0, 1, 1, 2]
    assert ev.accuracy == pytest.approx(3 / 5)
    assert ev.per_role.loc["asker", ["precision", "recall"]].tolist() == [0.5, 1.0]
    assert ev.per_role.loc["lurker", ["precision", "recall", "support"]].tolist() == [1.0, 0.5, 4]
    f1 = {"asker": 2 / 3, "lurker": 2 / 3, "chatter": 0.0, "thinker": 0.0, "organiser": 0.0}
    assert ev.macro_f1 == pytest.approx(sum(f1.values()) / 5)


# --------------------------------------------------------------------------- point in time

TYPES = sorted(schema.EVENT_TYPES)
MEMBERS = ["a", "b", "c", "d", "e"]
CUTOFF_DAY = 30.0


def event_rows(min_day: float, max_day: float, max_size: int = 40):
    return st.lists(st.tuples(
        st.floats(min_value=min_day, max_value=max_day, allow_nan=False).map(lambda d: round(d, 3)),
        st.sampled_from(["g1", "g2"]), st.sampled_from(MEMBERS), st.sampled_from(TYPES),
        st.sampled_from([*MEMBERS, None]),
        st.one_of(st.just(np.nan), st.sampled_from([5.0, float(R.LONG_TEXT_CHARS), 900.0]))),
        min_size=1, max_size=max_size)


PROPERTY = settings(max_examples=30, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
QA_GROUPS = read_groups(pd.DataFrame({"group_id": ["g1", "g2"], "kind": ["qa", "free"]}))
KOL = pd.DataFrame({"group_id": ["g1", "g1", "g2"], "member_id": ["a", "b", "c"],
                    "kol_rank_in_group": [1, 2, 1]})


@PROPERTY
@given(past=event_rows(0, CUTOFF_DAY - 0.001), future=event_rows(CUTOFF_DAY, 60, 20))
def test_events_at_or_after_the_cutoff_never_change_any_role(past, future):
    cut = T0 + pd.Timedelta(days=CUTOFF_DAY)
    before = R.assign_roles(events(past), cut, groups=QA_GROUPS, kol=KOL)
    after = R.assign_roles(events(past + future), cut, groups=QA_GROUPS, kol=KOL)
    pd.testing.assert_frame_equal(before, after)
    base = R.message_count_roles(events(past), cut)
    pd.testing.assert_frame_equal(base, R.message_count_roles(events(past + future), cut))


@PROPERTY
@given(rows=event_rows(0, 45), seed=st.integers(0, 2**16))
def test_row_order_never_changes_roles(rows, seed):
    order = np.random.default_rng(seed).permutation(len(rows))
    cut = T0 + pd.Timedelta(days=CUTOFF_DAY)
    pd.testing.assert_frame_equal(R.assign_roles(events(rows), cut, groups=QA_GROUPS),
                                  R.assign_roles(events([rows[i] for i in order]), cut, groups=QA_GROUPS))


# --------------------------------------------------------------------------- the committed sample


@pytest.fixture(scope="module")
def sample():
    ev = read_events(SAMPLE / "events.parquet")
    mem, gr = read_members(SAMPLE / "members.parquet"), read_groups(SAMPLE / "groups.parquet")
    return ev, EventHistory(ev, members=mem, groups=gr), pd.read_parquet(SAMPLE / "truth_members.parquet")


@pytest.fixture(scope="module")
def training_truth(tmp_path_factory):
    """True roles of a small development world (another seed than the sample's 7)."""
    from shequn_ml.simulate import SimulationConfig, simulate

    out = tmp_path_factory.mktemp("roles-dev")
    simulate(SimulationConfig(n_members=500, n_groups=5, days=60, seed=101), out)
    return pd.read_parquet(out / "truth_members.parquet")


def test_on_the_sample_roles_beat_the_majority_class_and_the_message_count_rule(sample, training_truth):
    ev, history, truth = sample
    cutoff = "2024-04-01"
    assigned = R.assign_roles(ev, cutoff, history=history)
    ours = R.evaluate_roles(assigned, truth)
    rule = R.evaluate_roles(R.message_count_roles(ev, cutoff, history=history), truth)
    majority = R.evaluate_roles(R.majority_roles(ev, cutoff, training_truth, history=history), truth)
    assert ours.n == len(assigned) == majority.n  # every present member has a true role
    assert ours.macro_f1 > majority.macro_f1 and ours.macro_f1 > rule.macro_f1
    assert ours.accuracy > max(rule.accuracy, majority.accuracy)
    # the rule has no askers
    assert ours.per_role.loc["asker", "recall"] > rule.per_role.loc["asker", "recall"]
    assert ours.confusion.to_numpy().sum() == ours.n
    # every role is used, every row has reasons in both languages, in correct English
    assert set(assigned["role"]) == set(R.ROLES)
    assert assigned["role_reason_en"].str.len().gt(20).all()
    assert assigned["role_reason_zh"].str.len().gt(5).all()
    for text in assigned["role_reason_en"]:
        assert not _plural_mistakes(text), text
    askers = assigned.loc[assigned["role"] == "asker"]
    assert all(f"asked {int(q)} question" in s for q, s in zip(askers["questions"], askers["role_reason_en"],
                                                               strict=True))
    zh = assigned.loc[assigned["role"] == "chatter"]
    assert all(f"发言{int(t)}次" in s for t, s in zip(zh["talk"], zh["role_reason_zh"], strict=True))
