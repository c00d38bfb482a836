"""Relationship features: partners, reciprocity, resonance, PageRank, invites, offline ties."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shequn_ml.features import EventHistory, FeatureSpec, build_features, catalogue, relationship
from shequn_ml.features.relationship import group_pagerank
from shequn_ml.io import read_events, read_members

pytestmark = pytest.mark.filterwarnings(
    "ignore:.*aimed at their own sender:shequn_ml.validation.DataWarning")  # self-replies on purpose

T0 = pd.Timestamp("2024-01-01", tz="UTC")
CUTOFF = T0 + pd.Timedelta(days=100)
SPEC = FeatureSpec()  # relationship window 90 days, quiet after 14 days

COLUMNS = ["partners_out", "partners_in", "reciprocity", "resonance", "pagerank", "pagerank_x_size",
           "is_group_top_central", "ties_to_top_central", "invites_sent", "invitees_active",
           "invitees_active_share", "partners_quiet_or_left", "partners_quiet_or_left_share",
           "offline_co_attendees"]


def events(rows: list[tuple]) -> pd.DataFrame:
    """rows of (day offset from 2024-01-01 or a timestamp, group, member, type[, target])."""
    recs = []
    for r in rows:
        when, g, m, e = r[:4]
        ts = T0 + pd.Timedelta(days=when) if isinstance(when, int | float) else pd.Timestamp(when)
        recs.append({"ts": ts, "group_id": g, "member_id": m, "event_type": e,
                     "target_member_id": r[4] if len(r) > 4 else None})
    return read_events(pd.DataFrame(recs))


def by_member(snap, frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame.index = [f"{g}/{m}" for g, m in zip(snap.population["group_id"].astype(str),
                                               snap.population["member_id"].astype(str), strict=True)]
    return frame


def compute_at(ev, cutoff=CUTOFF, **tables) -> pd.DataFrame:
    snap = EventHistory(ev, **tables).at(cutoff, SPEC)
    return by_member(snap, relationship.compute(snap))


def random_events(seed: int, n_groups: int = 4, n_members: int = 14, n_events: int = 400,
                  days: int = 120) -> pd.DataFrame:
    """A messy random history: whole-hour timestamps (many ties), exits, cross-group targets."""
    rng = np.random.default_rng(seed)
    types = np.array(["message", "reply", "mention", "reaction", "invite", "offline_attend", "leave",
                      "join", "checkin", "red_packet_send", "event_signup"])
    weights = np.array([20, 20, 12, 10, 6, 8, 2, 3, 4, 2, 2], float)
    e = rng.choice(types, n_events, p=weights / weights.sum())
    m = rng.integers(0, n_members, n_events)
    t = rng.integers(0, n_members + 3, n_events)  # some targets never appear as actors
    targeted = np.isin(e, ["reply", "mention", "invite"]) | ((e == "reaction") & (rng.random(n_events) < .8))
    hours = rng.integers(0, days * 24 // 6, n_events) * 6
    offline = e == "offline_attend"  # offline events on a few days, so attendees meet
    k = int(offline.sum())
    hours[offline] = rng.choice(np.arange(5, days, 10), k) * 24 + rng.integers(0, 24, k)
    return read_events(pd.DataFrame({
        "ts": T0 + pd.to_timedelta(hours, unit="h"),
        "group_id": [f"g{i}" for i in rng.integers(0, n_groups, n_events)],
        "member_id": [f"m{i:02d}" for i in m],
        "event_type": e,
        "target_member_id": [f"m{j:02d}" if k else None for j, k in zip(t, targeted, strict=True)],
    }))


# --------------------------------------------------------------------------- values by hand


@pytest.fixture(scope="module")
def hand() -> pd.DataFrame:
    ev = events([
        *[(0, "g", m, "join") for m in "abcdef"],
        (95, "g", "a", "message"), (95, "g", "b", "message"), (50, "g", "c", "message"),
        (99, "g", "d", "message"), (80, "g", "e", "leave"), (90, "g", "f", "message"),
        (20, "g", "a", "reply", "b"), (30, "g", "a", "reply", "b"), (40, "g", "a", "mention", "c"),
        (45, "g", "a", "reaction", "e"),
        (5, "g", "a", "reply", "d"),                          # 95 days ago: outside the window
        (60, "g", "b", "reply", "a"), (61, "g", "c", "reaction", "a"),
        (62, "g", "a", "reply", "a"),                         # self-reply: speaking, but no edge
        (70, "g", "f", "reply", "a"),
        (61, "g", "c", "reaction"),                           # no target: no edge
        (1, "g", "a", "invite", "d"), (1, "g", "a", "invite", "e"), (1, "g", "a", "invite", "x"),
        (2, "g", "a", "invite", "d"),                         # invited again: one invitee
        ("2024-01-11T09:00Z", "g", "a", "offline_attend"), ("2024-01-11T10:00Z", "g", "b", "offline_attend"),
        ("2024-01-11T10:00Z", "g", "e", "offline_attend"), ("2024-01-11T20:00Z", "g", "c", "offline_attend"),
        ("2024-01-11T10:00Z", "h", "z", "offline_attend"),   # same day, other group
        ("2024-01-12T10:00Z", "g", "a", "offline_attend"), ("2024-01-12T11:00Z", "g", "d", "offline_attend"),
        ("2024-01-13T10:00Z", "g", "a", "offline_attend"), ("2024-01-13T11:00Z", "g", "a", "offline_attend"),
        ("2024-01-21T23:30Z", "g", "c", "offline_attend"),
        ("2024-01-22T07:30+08:00", "g", "d", "offline_attend"),  # 23:30 UTC the day before: with c
        ("2024-01-23T00:30Z", "g", "b", "offline_attend"),  # next UTC day: alone
        (99, "h", "z", "message"),                            # a group of one
        (90, "k", "p", "message"), (91, "k", "q", "message"),   # no edges; r only in members table
        (90, "t", "v", "reply", "u"), (90, "t", "u", "reply", "v"), (90, "t", "w", "message"),  # a tie
    ])
    members = read_members(pd.DataFrame({"member_id": ["r"], "group_id": ["k"],
                                         "joined_at": ["2024-01-05"]}))
    return compute_at(ev, members=members)


def test_columns_are_the_registered_family(hand):
    assert list(hand.columns) == COLUMNS
    assert all(catalogue()[c].family == "relationship" for c in COLUMNS)
    assert all(hand.dtypes == np.float64)
    assert sorted(hand.index) == ["g/a", "g/b", "g/c", "g/d", "g/f", "h/z", "k/p", "k/q", "k/r",
                                  "t/u", "t/v", "t/w"]


def test_partners_reciprocity_and_resonance_by_hand(hand):
    got = hand.loc[["g/a", "g/b", "g/c", "g/d", "g/f"],
                   ["partners_out", "partners_in", "reciprocity", "resonance"]]
    expected = pd.DataFrame(
        [[3, 3, 2 / 3, 2 / 4],   # out b, c, e (left); in b, c, f; 4 speaking: 2 replies, self-reply, msg
         [1, 1, 1, 2 / 2],       # a replied to b twice; b spoke twice
         [1, 1, 1, 0 / 1],
         [0, 0, 0, 0 / 1],       # a's reply to d is outside the window
         [1, 0, 0, 0 / 2]],
        index=got.index, columns=got.columns, dtype=float)
    pd.testing.assert_frame_equal(got, expected)


def test_partners_gone_quiet_or_left_by_hand(hand):
    # a's partners: b and f are active, c last spoke 50 days ago, e left
    assert hand.loc["g/a", "partners_quiet_or_left"] == 2
    assert hand.loc["g/a", "partners_quiet_or_left_share"] == 0.5
    assert hand.loc[["g/b", "g/c", "g/d", "g/f"], "partners_quiet_or_left"].tolist() == [0, 0, 0, 0]
    assert hand.loc["g/d", "partners_quiet_or_left_share"] == 0


def test_invites_by_hand(hand):
    # four invite events, three invitees: d (still active), e (left), x (never in the group)
    assert hand.loc["g/a", ["invites_sent", "invitees_active", "invitees_active_share"]].tolist() == \
        [4, 1, pytest.approx(1 / 3)]
    assert hand.loc["g/b", ["invites_sent", "invitees_active", "invitees_active_share"]].tolist() == \
        [0, 0, 0]


def test_offline_co_attendance_by_hand(hand):
    got = hand["offline_co_attendees"]
    # Jan 11: a, b, c, e (left, still counted); Jan 12: a, d; Jan 21 UTC: c, d; Jan 23: b alone
    assert got[["g/a", "g/b", "g/c", "g/d", "g/f", "h/z"]].tolist() == [4, 3, 4, 2, 0, 0]


def test_pagerank_and_most_central_by_hand(hand):
    g = nx.DiGraph()
    g.add_nodes_from("abcdf")
    g.add_weighted_edges_from([("a", "b", 2), ("a", "c", 1), ("b", "a", 1), ("c", "a", 1), ("f", "a", 1)])
    want = nx.pagerank(g, alpha=0.85, tol=1e-13, max_iter=10_000)
    for m, v in want.items():
        assert hand.loc[f"g/{m}", "pagerank"] == pytest.approx(v, abs=1e-9)
        assert hand.loc[f"g/{m}", "pagerank_x_size"] == pytest.approx(5 * v, abs=1e-8)
    assert hand.loc[["g/a", "g/b", "g/c", "g/d", "g/f"], "is_group_top_central"].tolist() == [1, 0, 0, 0, 0]
    assert hand.loc[["g/a", "g/b", "g/c", "g/d", "g/f"], "ties_to_top_central"].tolist() == [0, 3, 2, 0, 1]


def test_group_of_one_and_groups_without_edges(hand):
    # a group with no interactions has no central member to flag
    assert hand.loc["h/z"].to_dict() == {**dict.fromkeys(COLUMNS, 0.0), "pagerank": 1.0,
                                         "pagerank_x_size": 1.0}
    k = hand.loc[["k/p", "k/q", "k/r"]]
    assert k["pagerank"].tolist() == pytest.approx([1 / 3] * 3)  # isolated: the teleport share
    assert k["pagerank_x_size"].tolist() == pytest.approx([1.0] * 3)
    assert k["is_group_top_central"].tolist() == [0, 0, 0]  # no edges: nobody is central
    # u and v tie for the most central; u comes first by id
    t = hand.loc[["t/u", "t/v", "t/w"]]
    assert t["pagerank"]["t/u"] == pytest.approx(t["pagerank"]["t/v"], rel=1e-12)
    assert t["is_group_top_central"].tolist() == [1, 0, 0]
    assert t["ties_to_top_central"].tolist() == [0, 2, 0]


def test_empty_population_gives_an_empty_frame():
    ev = events([(5, "g", "a", "message"), (6, "g", "b", "reply", "a"), (7, "g", "a", "invite", "c"),
                 (8, "g", "a", "offline_attend"), (8, "g", "b", "offline_attend"),
                 (9, "g", "a", "leave"), (9, "g", "b", "removed")])
    for cutoff in (T0, T0 + pd.Timedelta(days=10)):  # before anything; after everyone left
        got = compute_at(ev, cutoff=cutoff)
        assert list(got.columns) == COLUMNS and len(got) == 0


# --------------------------------------------------------------------------- PageRank


def test_group_pagerank_matches_networkx_on_every_group():
    ev = random_events(7, n_groups=6, n_members=12, n_events=600)
    snap = EventHistory(ev).at(T0 + pd.Timedelta(days=100), SPEC)
    got = by_member(snap, relationship.compute(snap))["pagerank"]
    # the graph, built independently with pandas: present members, in-window targeted
    # reply/mention/reaction events between two different present members
    raw = ev.astype({"group_id": str, "member_id": str, "target_member_id": str, "event_type": str})
    raw = raw.loc[(raw["ts"] < snap.cutoff) & (raw["ts"] >= snap.cutoff - pd.Timedelta(days=90))
                  & raw["event_type"].isin(["reply", "mention", "reaction"])
                  & (raw["member_id"] != raw["target_member_id"])]
    present = snap.population.astype({"group_id": str, "member_id": str})
    checked = 0
    for gid, members in present.groupby("group_id")["member_id"]:
        graph = nx.DiGraph()
        graph.add_nodes_from(members)
        e = raw.loc[(raw["group_id"] == gid) & raw["member_id"].isin(members)
                    & raw["target_member_id"].isin(members)]
        for (u, v), w in e.groupby(["member_id", "target_member_id"]).size().items():
            graph.add_edge(u, v, weight=float(w))
        want = nx.pagerank(graph, alpha=0.85, tol=1e-13, max_iter=10_000, weight="weight")
        for m, v in want.items():
            assert got[f"{gid}/{m}"] == pytest.approx(v, abs=1e-6)
        assert got[[f"{gid}/{m}" for m in members]].sum() == pytest.approx(1.0, abs=1e-9)
        checked += graph.number_of_edges() > 0
    assert checked >= 4


def test_group_pagerank_directly():
    # group 0: a chain 0 -> 1 -> 2; group 1: one node; group 2: a cycle with a weighted edge
    src, dst = np.array([0, 1, 4, 5, 5]), np.array([1, 2, 5, 4, 6])
    w = np.array([1.0, 1.0, 3.0, 1.0, 1.0])
    gi = np.array([0, 0, 0, 1, 2, 2, 2])
    pr = group_pagerank(src, dst, w, gi, 3)
    graph = nx.DiGraph()
    graph.add_nodes_from([4, 5, 6])
    graph.add_weighted_edges_from([(4, 5, 3.0), (5, 4, 1.0), (5, 6, 1.0)])
    want = nx.pagerank(graph, tol=1e-13, max_iter=10_000)
    assert pr[[4, 5, 6]] == pytest.approx([want[4], want[5], want[6]], abs=1e-9)
    assert pr[3] == 1.0
    assert np.bincount(gi, weights=pr) == pytest.approx([1, 1, 1])
    assert group_pagerank(np.array([], int), np.array([], int), np.array([]), np.array([], int), 0).size == 0


def test_group_pagerank_of_each_group_is_exactly_its_own():
    """Groups stop iterating one by one (and leave the work set): no value may depend on others."""
    rng = np.random.default_rng(11)
    sizes = rng.integers(1, 25, 40)
    gi = np.repeat(np.arange(len(sizes)), sizes)
    start = np.r_[0, np.cumsum(sizes)[:-1]]
    edges = []
    for g, (s0, k) in enumerate(zip(start, sizes, strict=True)):
        n_edges = 0 if g % 3 == 0 else int(rng.integers(0, 3 * k))  # a third have no edges
        u, v = rng.integers(0, k, n_edges), rng.integers(0, k, n_edges)
        edges += [(s0 + a, s0 + b) for a, b in zip(u, v, strict=True) if a != b]
    pairs, w = np.unique(np.array(edges, dtype=np.int64).reshape(-1, 2), axis=0, return_counts=True)
    full = group_pagerank(pairs[:, 0], pairs[:, 1], w.astype(float), gi, len(sizes))
    for s0, k in zip(start, sizes, strict=True):
        mine = (pairs[:, 0] >= s0) & (pairs[:, 0] < s0 + k)
        alone = group_pagerank(pairs[mine, 0] - s0, pairs[mine, 1] - s0, w[mine].astype(float),
                               np.zeros(k, np.int64), 1)
        np.testing.assert_array_equal(full[s0:s0 + k], alone)
        graph = nx.DiGraph()
        graph.add_nodes_from(range(k))
        graph.add_weighted_edges_from((a - s0, b - s0, float(c))
                                      for (a, b), c in zip(pairs[mine], w[mine], strict=True))
        want = nx.pagerank(graph, tol=1e-13, max_iter=10_000)
        assert alone == pytest.approx([want[i] for i in range(k)], abs=1e-9)


# --------------------------------------------------------------------------- purity, order


def _compute(ev: pd.DataFrame, cutoff) -> pd.DataFrame:
    return compute_at(ev, cutoff=cutoff)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_each_group_alone_gives_identical_values(seed):
    ev = random_events(seed)
    cutoff = T0 + pd.Timedelta(days=100)
    full = _compute(ev, cutoff)
    for gid in ev["group_id"].cat.categories:
        alone = _compute(ev.loc[ev["group_id"] == gid].reset_index(drop=True), cutoff)
        mine = full.loc[full.index.str.startswith(f"{gid}/")]
        pd.testing.assert_frame_equal(alone, mine, check_exact=True)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), cut_day=st.integers(20, 125))
def test_shuffling_event_rows_changes_nothing(seed, cut_day):
    ev = random_events(seed, n_events=250)
    cutoff = T0 + pd.Timedelta(days=cut_day)
    base = _compute(ev, cutoff)
    shuffled = ev.sample(frac=1.0, random_state=seed % 1000).reset_index(drop=True)
    pd.testing.assert_frame_equal(_compute(shuffled, cutoff), base, check_exact=True)
    alone_gid = str(ev["group_id"].iloc[0])
    alone = _compute(shuffled.loc[shuffled["group_id"] == alone_gid].reset_index(drop=True), cutoff)
    pd.testing.assert_frame_equal(alone, base.loc[base.index.str.startswith(f"{alone_gid}/")],
                                  check_exact=True)


def test_build_features_with_the_default_spec_includes_the_family():
    ev = random_events(3)
    table = build_features(ev, [T0 + pd.Timedelta(days=60), T0 + pd.Timedelta(days=100)])
    assert set(COLUMNS) | {"groups_in"} <= set(table.columns)
    assert {"group_size", "group_lifecycle_stage", "speak_count_7d", "spend_90d"} <= set(table.columns)
    assert table[COLUMNS].notna().all().all()
    per_group = table.groupby(["cutoff", "group_id"], observed=True)["pagerank"].sum()
    assert per_group.to_numpy() == pytest.approx(1.0, abs=1e-9)
    flags = table.groupby(["cutoff", "group_id"], observed=True)["is_group_top_central"].sum()
    in_edges = table.groupby(["cutoff", "group_id"], observed=True)["partners_in"].sum()
    assert (flags == (in_edges > 0).astype(float)).all()  # one flag per group with interactions
