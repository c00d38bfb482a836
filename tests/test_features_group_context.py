"""Group-context features: size, age, activity, lifecycle stage, concentration, benefits."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shequn_ml.features import EventHistory, FeatureSpec, build_features, catalogue, group_context
from shequn_ml.io import read_events, read_groups, read_members

pytestmark = pytest.mark.filterwarnings(
    "ignore:.*aimed at their own sender:shequn_ml.validation.DataWarning")  # self-replies on purpose

T0 = pd.Timestamp("2024-01-01", tz="UTC")
CUTOFF = T0 + pd.Timedelta(days=100)
SPEC = FeatureSpec()  # trend: last 14 days against the 42 before

COLUMNS = ["group_size", "size_vs_capacity", "group_age_days", "group_speak_per_member_7d",
           "group_speak_per_member_30d", "group_activity_trend", "group_lifecycle_stage",
           "group_top20_speak_share_30d", "group_newcomer_share", "group_days_since_benefit",
           "group_benefit_events_14d", "group_days_since_signup_or_offline",
           "group_signup_or_offline_14d"]


def events(rows: list[tuple]) -> pd.DataFrame:
    """rows of (day offset from 2024-01-01, group, member, type[, target])."""
    return read_events(pd.DataFrame({
        "ts": [T0 + pd.Timedelta(days=r[0]) for r in rows],
        "group_id": [r[1] for r in rows], "member_id": [r[2] for r in rows],
        "event_type": [r[3] for r in rows],
        "target_member_id": [r[4] if len(r) > 4 else None for r in rows]}))


def per_group(snap, frame: pd.DataFrame) -> pd.DataFrame:
    """One row per group, after checking every member of a group got the same values."""
    frame = frame.copy()
    frame.index = snap.population["group_id"].astype(str).to_numpy()
    assert (frame.groupby(level=0).nunique() <= 1).all().all()
    return frame.groupby(level=0).first()


def compute_at(ev, cutoff=CUTOFF, **tables) -> tuple[object, pd.DataFrame]:
    snap = EventHistory(ev, **tables).at(cutoff, SPEC)
    return snap, group_context.compute(snap)


def random_history(seed: int, n_groups: int = 4, n_members: int = 14, n_events: int = 400,
                   days: int = 120):
    """Random events (whole 6-hour slots: many ties), a members and a groups table."""
    rng = np.random.default_rng(seed)
    types = np.array(["message", "reply", "checkin", "join", "leave", "removed", "red_packet_send",
                      "coupon_claim", "event_signup", "offline_attend", "reaction"])
    weights = np.array([30, 10, 8, 6, 3, 1, 3, 3, 3, 3, 5], float)
    e = rng.choice(types, n_events, p=weights / weights.sum())
    hours = rng.integers(0, days * 24 // 6, n_events) * 6
    groups = [f"g{i}" for i in range(n_groups)]
    ev = read_events(pd.DataFrame({
        "ts": T0 + pd.to_timedelta(hours, unit="h"),
        "group_id": rng.choice(groups, n_events),
        "member_id": [f"m{i:02d}" for i in rng.integers(0, n_members, n_events)],
        "event_type": e,
        "target_member_id": [f"m{i:02d}" if k == "reply" else None
                             for i, k in zip(rng.integers(0, n_members, n_events), e, strict=True)]}))
    members = read_members(pd.DataFrame({
        "member_id": ["quiet1", "quiet2"], "group_id": groups[:2],
        "joined_at": [T0 + pd.Timedelta(days=int(d)) for d in rng.integers(0, days, 2)]}))
    gt = read_groups(pd.DataFrame({
        "group_id": groups[:2], "capacity": [200, None],
        "created_at": [T0 - pd.Timedelta(days=int(rng.integers(0, 30))), None]}))
    return ev, members, gt


# --------------------------------------------------------------------------- values by hand


@pytest.fixture(scope="module")
def hand():
    rows = [(0, "up", f"u{i}", "join") for i in range(1, 7)]
    rows += [(95, "up", "u1", "message")] * 5 + [(96, "up", "u2", "reply", "u1")] * 5
    rows += [(80, "up", "u3", "checkin")] * 5 + [(98, "up", "u4", "post")] * 2
    rows += [(99, "up", "u5", "message"), (50, "up", "u6", "message")]
    rows += [(95, "up", "u1", "red_packet_send"), (70, "up", "u2", "coupon_claim"),
             (97, "up", "u3", "red_packet_claim"), (97, "up", "u3", "reaction")]  # not speaking
    # activity halves while newcomers arrive: doubt
    rows += [(0, "fall", f"o{i}", "join") for i in range(1, 4)]
    rows += [(d, "fall", "o1", "message") for d in range(44, 86)]   # 1 a day in the baseline
    rows += [(d, "fall", "o2", "message") for d in range(93, 100)]  # 0.5 a day lately
    rows += [(90, "fall", "n1", "join"), (95, "fall", "n2", "join"),
             (97, "fall", "o1", "event_signup"), (60, "fall", "o2", "offline_attend")]
    # the same fall, but a member leaves and nobody joins: decline
    rows += [(0, "shrink", f"x{i}", "join") for i in range(1, 5)] + [(92, "shrink", "x4", "leave")]
    rows += [(d, "shrink", "x1", "message") for d in range(44, 86)]
    rows += [(d, "shrink", "x1", "message") for d in range(93, 100)]
    # quiet for three weeks: decline
    rows += [(0, "quiet", "q1", "join"), (0, "quiet", "q2", "join"), (80, "quiet", "q1", "message")]
    # activity collapses though a newcomer joins: decline
    rows += [(0, "collapse", "c1", "join"), (95, "collapse", "c2", "join"), (99, "collapse", "c1", "message")]
    rows += [(d, "collapse", "c1", "message") for d in range(44, 86) for _ in range(2)]
    # a group of one, a day old
    rows += [(99, "solo", "s1", "join")]
    # its first event is at day 90, but a member (members table) entered at day 30
    rows += [(90, "mt", "y1", "message")]
    members = read_members(pd.DataFrame({"member_id": ["y0"], "group_id": ["mt"],
                                         "joined_at": [T0 + pd.Timedelta(days=30)]}))
    groups = read_groups(pd.DataFrame({
        "group_id": ["up", "fall", "shrink"], "capacity": [200, None, 2000],
        "created_at": ["2023-12-01", None, "2024-03-01"]}))  # shrink: created after its first event
    snap, frame = compute_at(events(rows), members=members, groups=groups)
    return frame, per_group(snap, frame)


def test_columns_are_the_registered_family(hand):
    frame, g = hand
    assert list(frame.columns) == COLUMNS
    assert all(catalogue()[c].family == "group_context" for c in COLUMNS)
    assert all(frame.dtypes == np.float64)
    assert sorted(g.index) == ["collapse", "fall", "mt", "quiet", "shrink", "solo", "up"]


def test_size_capacity_and_age(hand):
    _, g = hand
    assert g["group_size"].to_dict() == {"collapse": 2, "fall": 5, "mt": 2, "quiet": 2, "shrink": 3,
                                         "solo": 1, "up": 6}
    assert g.loc["up", "size_vs_capacity"] == 6 / 200
    assert g.loc["fall", "size_vs_capacity"] == 5 / 500   # capacity missing: the WeChat cap
    assert g.loc["shrink", "size_vs_capacity"] == 3 / 2000
    assert g.loc["solo", "size_vs_capacity"] == 1 / 500   # not in the groups table
    assert g["group_age_days"].to_dict() == {
        "up": (CUTOFF - pd.Timestamp("2023-12-01", tz="UTC")).days,  # created_at
        "fall": 100, "shrink": 100,  # first event (shrink's created_at is later than that)
        "quiet": 100, "collapse": 100, "solo": 1, "mt": 70}          # mt: the member who entered first


def test_speaking_per_member_and_concentration(hand):
    _, g = hand
    up = g.loc["up"]
    assert up["group_speak_per_member_7d"] == 13 / 6   # u1 5, u2 5, u4 2, u5 1
    assert up["group_speak_per_member_30d"] == 18 / 6  # and u3's 5 check-ins 20 days ago
    # 30-day counts 5, 5, 5, 2, 1, 0: the top ceil(20% of 6) = 2 members made 10 of 18
    assert up["group_top20_speak_share_30d"] == 10 / 18
    # o1 16 (days 70-85), o2 7: the top ceil(20% of 5) = 1 member made 16 of 23
    assert g.loc["fall", "group_top20_speak_share_30d"] == 16 / 23
    assert g.loc["solo", "group_top20_speak_share_30d"] == 0.0  # nobody spoke
    assert g.loc["solo", "group_speak_per_member_7d"] == 0.0


def test_trend_and_lifecycle_stage(hand):
    _, g = hand
    assert g.loc["up", "group_activity_trend"] == pytest.approx(math.log1p(13 / 14) - math.log1p(6 / 42))
    assert g.loc["fall", "group_activity_trend"] == pytest.approx(math.log1p(0.5) - math.log1p(1.0))
    assert g.loc["shrink", "group_activity_trend"] == pytest.approx(math.log1p(0.5) - math.log1p(1.0))
    assert g.loc["collapse", "group_activity_trend"] == pytest.approx(math.log1p(1 / 14) - math.log1p(2))
    assert g.loc["solo", "group_activity_trend"] == 0.0  # younger than the recent window
    assert g["group_lifecycle_stage"].to_dict() == {
        "up": 0, "solo": 0,                  # activity not falling
        "fall": 1,                           # falling while two newcomers joined
        "shrink": 2,                         # falling, one left and nobody joined
        "quiet": 2, "mt": 2,                 # no speaking event in the last 7 days
        "collapse": 2}                       # rate fell from 2 a day to 1 in 14 days


def test_newcomers_benefits_and_activities(hand):
    _, g = hand
    assert g["group_newcomer_share"].to_dict() == {"up": 0, "fall": 2 / 5, "shrink": 0, "quiet": 0,
                                                   "collapse": 1 / 2, "solo": 1, "mt": 1 / 2}
    assert g.loc["up", ["group_days_since_benefit", "group_benefit_events_14d"]].tolist() == [5, 1]
    # no red packet or coupon ever: the group's age + 1
    assert g.loc["fall", ["group_days_since_benefit", "group_benefit_events_14d"]].tolist() == [101, 0]
    assert g.loc["solo", "group_days_since_benefit"] == 2
    assert g.loc["fall", ["group_days_since_signup_or_offline", "group_signup_or_offline_14d"]].tolist() \
        == [3, 1]
    assert g.loc["up", "group_days_since_signup_or_offline"] == g.loc["up", "group_age_days"] + 1


def test_lifecycle_rule_thresholds():
    trend = np.array([-0.1, -0.1001, -0.1001, -0.7, -0.69, 0.5, 0.5])
    quiet = np.array([False, False, False, False, False, False, True])
    growing = np.array([False, True, False, True, True, True, True])
    assert group_context.lifecycle_stage(trend, quiet, growing).tolist() == [0, 1, 2, 2, 1, 0, 2]


def test_empty_population_gives_an_empty_frame():
    ev = events([(5, "g", "a", "message"), (6, "g", "a", "red_packet_send"), (9, "g", "a", "leave")])
    for cutoff in (T0, T0 + pd.Timedelta(days=10)):  # before anything; after everyone left
        _, frame = compute_at(ev, cutoff=cutoff)
        assert list(frame.columns) == COLUMNS and len(frame) == 0


# --------------------------------------------------------------------------- purity, order


def _keyed(snap, frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame.index = [f"{g}/{m}" for g, m in zip(snap.population["group_id"].astype(str),
                                               snap.population["member_id"].astype(str), strict=True)]
    return frame


def _compute(ev, cutoff, **tables) -> pd.DataFrame:
    snap, frame = compute_at(ev, cutoff, **tables)
    return _keyed(snap, frame)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_each_group_alone_gives_identical_values(seed):
    ev, members, groups = random_history(seed)
    cutoff = T0 + pd.Timedelta(days=100)
    full = _compute(ev, cutoff, members=members, groups=groups)
    for gid in ev["group_id"].cat.categories:
        alone = _compute(ev.loc[ev["group_id"] == gid].reset_index(drop=True), cutoff,
                         members=members.loc[members["group_id"] == gid].reset_index(drop=True),
                         groups=groups)
        mine = full.loc[full.index.str.startswith(f"{gid}/")]
        pd.testing.assert_frame_equal(alone, mine, check_exact=True)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), cut_day=st.integers(3, 125))
def test_shuffling_event_rows_changes_nothing(seed, cut_day):
    ev, members, groups = random_history(seed, n_events=250)
    cutoff = T0 + pd.Timedelta(days=cut_day)
    base = _compute(ev, cutoff, members=members, groups=groups)
    shuffled = ev.sample(frac=1.0, random_state=seed % 1000).reset_index(drop=True)
    pd.testing.assert_frame_equal(_compute(shuffled, cutoff, members=members, groups=groups), base,
                                  check_exact=True)


def test_build_features_with_the_default_spec_includes_the_family():
    ev, members, groups = random_history(4)
    table = build_features(ev, [T0 + pd.Timedelta(days=60), T0 + pd.Timedelta(days=100)],
                           members=members, groups=groups)
    assert set(COLUMNS) <= set(table.columns)
    assert {"speak_count_7d", "spend_90d", "pagerank_x_size", "groups_in"} <= set(table.columns)
    assert table[COLUMNS].notna().all().all()
    sizes = table.groupby(["cutoff", "group_id"], observed=True).agg(
        n=("member_id", "size"), size=("group_size", "first"))
    assert (sizes["n"] == sizes["size"]).all()
    assert set(table["group_lifecycle_stage"]) <= {0.0, 1.0, 2.0}
