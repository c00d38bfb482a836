"""The future-influence label, last period's influence and HITS: exact windows, exact counts."""

from __future__ import annotations

import warnings

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shequn_ml.influence import (
    grade_within,
    group_hits,
    hits_authority,
    influence_labels,
    last_period_influence,
    top_share_within,
)
from shequn_ml.io import read_events, read_members

T0 = pd.Timestamp("2024-01-01", tz="UTC")
CUT = T0 + pd.Timedelta(days=10)


def ev(rows):
    """Events from (day, group, member, type[, target]) tuples; day may be fractional."""
    frame = pd.DataFrame([
        {"ts": T0 + pd.Timedelta(days=r[0]), "group_id": r[1], "member_id": r[2], "event_type": r[3],
         "target_member_id": r[4] if len(r) > 4 else None} for r in rows])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rows without targets are warned about, on purpose here
        return read_events(frame)


def by_member(table, col, group=None):
    t = table if group is None else table.loc[table["group_id"].astype(str) == group]
    return dict(zip(t["member_id"].astype(str), t[col].tolist(), strict=True))


def joined(*members, group="g", day=0):
    return [(day, group, m, "join") for m in members]


def test_responders_are_distinct_others_inside_the_half_open_window():
    rows = joined("lead", "a", "b", "c", "d") + joined("a", group="other")
    rows += [(9.9, "g", "a", "reply", "lead"),          # before t: not read
             (10, "g", "a", "reply", "lead"),           # exactly at t: read
             (11, "g", "a", "mention", "lead"),         # same responder again: counted once
             (12, "g", "b", "reaction", "lead"),
             (13, "g", "lead", "reply", "lead"),        # to oneself: not a responder
             (13, "other", "a", "reply", "lead"),       # another group: not this group's influence
             (23.999, "g", "c", "reply", "lead"),       # just inside [t, t + 14)
             (24, "g", "d", "reply", "lead")]           # at t + h: outside
    lab = influence_labels(ev(rows), CUT, horizon_days=14)
    assert by_member(lab, "responders", "g") == {"lead": 3, "a": 0, "b": 0, "c": 0, "d": 0}
    assert by_member(lab, "responders", "other") == {"a": 0}
    assert list(lab.columns) == ["group_id", "member_id", "cutoff", "responders", "kept_invitees",
                                 "organised", "influence", "relevance", "top_decile"]


def test_kept_invitees_spoke_after_the_invite_and_are_present_at_the_end():
    rows = joined("host") + [
        (11, "g", "host", "invite", "stays"), (11.01, "g", "stays", "join"),
        (12, "g", "stays", "message"),
        (11, "g", "host", "invite", "mute"), (11.01, "g", "mute", "join"),          # never speaks
        (11, "g", "host", "invite", "quits"), (11.01, "g", "quits", "join"),
        (12, "g", "quits", "message"), (13, "g", "quits", "leave"),                 # gone at the end
        (11, "g", "host", "invite", "back"), (11.01, "g", "back", "join"),
        (12, "g", "back", "leave"), (13, "g", "back", "message"),                   # left, came back
        (11, "g", "host", "invite", "late"), (11.01, "g", "late", "join"),
        (30, "g", "late", "message"),                                               # spoke after t + h
        (5, "g", "host", "invite", "early"), (5.01, "g", "early", "join"),          # invited before t
        (12, "g", "early", "message"),
        (12, "g", "host", "invite", "stays")]                                       # a second invite
    lab = influence_labels(ev(rows), CUT, horizon_days=14)
    assert by_member(lab, "kept_invitees")["host"] == 2  # stays and back
    assert by_member(lab, "influence")["host"] == 4.0     # invitee weight 2


def test_organised_credits_the_target_or_the_first_signer_of_the_day():
    rows = joined("host", "starter", "x", "y", "z", "w") + [
        (11, "g", "x", "event_signup", "host"), (11.1, "g", "y", "event_signup", "host"),
        (12, "g", "x", "event_signup", "host"),               # the same participant: once
        (12, "g", "host", "event_signup", "host"),            # nobody organises for themselves
        (13, "g", "x", "offline_attend", "host"),
        (14.2, "g", "starter", "event_signup"),               # an untargeted chain, day 14 (UTC)
        (14.3, "g", "z", "event_signup"), (14.4, "g", "w", "event_signup"),
        (15.1, "g", "w", "event_signup"), (15.1, "g", "z", "event_signup"),  # tie: lowest id (w) starts
    ]
    lab = influence_labels(ev(rows), CUT, horizon_days=14)
    got = by_member(lab, "organised")
    assert got == {"host": 2, "starter": 2, "x": 0, "y": 0, "z": 0, "w": 1}
    weighted = influence_labels(ev(rows), CUT, horizon_days=14, organise_weight=0.5)
    assert by_member(weighted, "influence")["host"] == 1.0


def test_grades_within_each_group_and_the_top_decile():
    score = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0, 3, 3], float)
    query = np.array([0] * 11 + [1] * 3)
    assert grade_within(score, query).tolist() == [0, 1, 1, 1, 1, 1, 2, 2, 2, 3, 4, 0, 1, 1]
    assert top_share_within(score, query).tolist() == [False] * 9 + [True, True, False, True, True]
    assert grade_within(np.zeros(3), np.zeros(3, int)).tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="increasing shares in \\(0, 1\\)"):
        grade_within(score, query, quantiles=[0.5, 0.4])


def test_groups_of_one_or_two_members():
    rows = joined("solo", group="one") + joined("a", "b", group="two") + [
        (11, "two", "a", "reply", "b"), (11, "one", "solo", "message")]
    lab = influence_labels(ev(rows), CUT, horizon_days=14)
    assert len(lab) == 3
    assert by_member(lab, "relevance", "one") == {"solo": 0}
    assert by_member(lab, "relevance", "two") == {"a": 0, "b": 1}
    assert by_member(lab, "top_decile", "two") == {"a": False, "b": True}
    assert lab["relevance"].dtype == np.int8


def test_kol_tag_label_reads_the_members_table():
    rows = joined("a", "b") + [(11, "g", "a", "reply", "b")]
    members = read_members(pd.DataFrame({"member_id": ["a", "b"], "group_id": "g",
                                         "kol_tag": [True, False]}))
    lab = influence_labels(ev(rows), CUT, 14, label="kol_tag", members=members)
    assert by_member(lab, "relevance") == {"a": 1, "b": 0}
    assert by_member(lab, "influence") == {"a": 0.0, "b": 1.0}  # the score is still reported
    with pytest.raises(ValueError, match="needs a members table with a kol_tag column"):
        influence_labels(ev(rows), CUT, 14, label="kol_tag")
    with pytest.raises(ValueError, match="label must be 'influence' or 'kol_tag'"):
        influence_labels(ev(rows), CUT, 14, label="tag")
    with pytest.raises(ValueError, match="horizon_days must be a positive"):
        influence_labels(ev(rows), CUT, 0)


def test_last_period_influence_is_the_same_score_one_horizon_earlier():
    rng = np.random.default_rng(1)
    people = [f"m{i}" for i in range(12)]
    rows = joined(*people)
    for _ in range(300):
        a, b = rng.choice(people, 2, replace=False)
        rows.append((float(rng.uniform(0.5, 40)), "g", a, str(rng.choice(["reply", "reaction"])), b))
    events = ev(rows)
    prev = last_period_influence(events, T0 + pd.Timedelta(days=30), 14)
    then = influence_labels(events, T0 + pd.Timedelta(days=16), 14)
    assert by_member(prev, "prev_influence") == by_member(then, "influence")
    assert by_member(prev, "prev_responders") == by_member(then, "responders")


# --------------------------------------------------------------------------- reads only its window
MEMBERS = ["a", "b", "c", "d"]
TYPES = ["message", "reply", "mention", "reaction", "invite", "event_signup", "offline_attend",
         "join", "leave", "removed", "checkin"]
event_rows = st.lists(st.tuples(
    st.floats(0, 40, allow_nan=False), st.sampled_from(["g", "h"]), st.sampled_from(MEMBERS),
    st.sampled_from(TYPES), st.sampled_from(MEMBERS + [None])), min_size=1, max_size=40)


def _labels(rows):
    lab = influence_labels(ev(rows), CUT, horizon_days=14)
    return lab.astype({"group_id": str, "member_id": str}).reset_index(drop=True)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base=event_rows, later=event_rows, earlier=event_rows)
def test_labels_read_nothing_outside_their_window(base, later, earlier):
    """Events at or after t + h, or non-exit events before t by members present at t, change nothing."""
    base = [(d, g, m, e, t) for d, g, m, e, t in base]
    before = _labels(base)
    # anything at or after t + h (= day 24), by anyone, even new members
    after = [(24 + d, g, m + "_new" if i % 3 == 0 else m, e, t)
             for i, (d, g, m, e, t) in enumerate(later)]
    pd.testing.assert_frame_equal(_labels(base + after), before)
    # non-exit events before t by members present at t leave the population as it was
    present = set(zip(before["group_id"], before["member_id"], strict=True))
    extra = [(d * 9.99 / 40, g, m, e, t) for d, g, m, e, t in earlier
             if (g, m) in present and e not in ("leave", "removed")]
    pd.testing.assert_frame_equal(_labels(base + extra), before)


# --------------------------------------------------------------------------- HITS
def test_group_hits_matches_networkx_on_each_group():
    rng = np.random.default_rng(0)
    sizes = [7, 12, 3]
    gi = np.repeat(np.arange(len(sizes)), sizes)
    offset = np.r_[0, np.cumsum(sizes)[:-1]]
    src, dst, w, graphs = [], [], [], []
    for k, n in enumerate(sizes):
        g = nx.DiGraph()
        g.add_nodes_from(range(n))
        for _ in range(3 * n):
            a, b = rng.choice(n, 2, replace=False)
            g.add_edge(int(a), int(b), weight=float(rng.integers(1, 5)))
        graphs.append(g)
        for a, b, d in g.edges(data=True):
            src.append(a + offset[k])
            dst.append(b + offset[k])
            w.append(d["weight"])
    got = group_hits(np.array(src), np.array(dst), np.array(w), gi, len(sizes))
    for k, g in enumerate(graphs):
        _, auth = nx.hits(g, max_iter=10_000, tol=1e-12)
        want = np.array([auth[i] for i in range(sizes[k])])
        np.testing.assert_allclose(got[gi == k], want, atol=1e-7)


def _hits_on_the_whole_matrix(src, dst, weight, gi, n_groups, tol=1e-10, max_iter=1000):
    """The plain form: every group iterated on the whole matrix, per-group maxima by ufunc.at."""
    from scipy import sparse

    def gmax(x):
        best = np.zeros(n_groups)
        np.maximum.at(best, gi, x)
        best[best <= 0] = 1.0
        return best

    n = len(gi)
    A = sparse.csr_matrix((weight, (src, dst)), shape=(n, n))
    At = A.T.tocsr()
    h, a = 1.0 / np.bincount(gi, minlength=n_groups).astype(float)[gi], np.zeros(n)
    running = np.ones(n_groups, bool)
    for _ in range(max_iter):
        a_new = At @ h
        h_new = A @ a_new
        h_new = h_new / gmax(h_new)[gi]
        a_new = a_new / gmax(a_new)[gi]
        change = np.bincount(gi, weights=np.abs(h_new - h), minlength=n_groups)
        live = running[gi]
        h, a = np.where(live, h_new, h), np.where(live, a_new, a)
        running &= change >= tol
        if not running.any():
            break
    total = np.bincount(gi, weights=a, minlength=n_groups)
    return np.divide(a, total[gi], out=np.zeros(n), where=total[gi] > 0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 25), min_size=1, max_size=12), st.integers(0, 2**31 - 1),
       st.integers(5, 400))
def test_group_hits_equals_the_whole_matrix_iteration_exactly(sizes, seed, max_iter):
    """Dropping converged groups from the iteration changes no value, not even the last bit."""
    rng = np.random.default_rng(seed)
    gi = np.repeat(np.arange(len(sizes)), sizes)
    offset = np.r_[0, np.cumsum(sizes)[:-1]]
    pairs = set()
    for k, n in enumerate(sizes):
        for _ in range(int(rng.integers(0, 3 * n + 1))):  # some groups get no edge at all
            a, b = rng.integers(0, n, 2)
            if a != b:
                pairs.add((int(a + offset[k]), int(b + offset[k])))
    pairs = sorted(pairs)
    src = np.array([p[0] for p in pairs], dtype=np.int64)
    dst = np.array([p[1] for p in pairs], dtype=np.int64)
    w = rng.integers(1, 5, len(pairs)).astype(float)
    got = group_hits(src, dst, w, gi, len(sizes), max_iter=max_iter)
    want = _hits_on_the_whole_matrix(src, dst, w, gi, len(sizes), max_iter=max_iter)
    np.testing.assert_array_equal(got, want)


def test_hits_authority_reads_the_window_before_the_cutoff_only():
    rows = joined("a", "b", "c", "d") + joined("x", "y", group="quiet") + [
        (2, "g", "b", "reply", "a"), (3, "g", "c", "reply", "a"), (4, "g", "d", "mention", "a"),
        (5, "g", "c", "reaction", "b"),
        (10, "g", "a", "reply", "c"), (11, "g", "b", "reply", "c"),   # at or after t: ignored
        (1, "quiet", "x", "message")]
    h = hits_authority(ev(rows), CUT)
    auth = by_member(h, "hits_authority", "g")
    assert auth["a"] > auth["b"] > 0 and auth["c"] == auth["d"] == 0
    assert sum(auth.values()) == pytest.approx(1.0)
    assert by_member(h, "hits_authority", "quiet") == {"x": 0.0, "y": 0.0}
    narrow = by_member(hits_authority(ev(rows), CUT, window_days=6.5), "hits_authority", "g")
    assert narrow == pytest.approx({"a": 0.5, "b": 0.5, "c": 0.0, "d": 0.0})  # days 4 and 5 only


def test_in_a_qa_group_an_answer_credits_the_answerer_and_in_a_chat_group_nothing():
    from shequn_ml import schema
    from shequn_ml.features import build_features
    from shequn_ml.io import read_groups

    assert schema.RESPONSES["qa"]["answer"] == "actor" and "answer" not in schema.RESPONSES["chat"]
    rows = joined("expert", "asker1", "asker2", "fan") + joined("expert", "asker1", group="chat")
    for day, group in ((2, "qa"), (12, "qa"), (2, "chat"), (12, "chat")):
        rows += [(day, group, "asker1", "question"), (day + 0.1, group, "expert", "answer", "asker1")]
    rows += joined("expert", "asker1", "asker2", "fan", group="qa")
    rows += [(12.2, "qa", "expert", "answer", "asker2"),
             (12.3, "qa", "fan", "reply", "expert")]          # a reply still credits its target
    events = ev(rows)
    groups = read_groups(pd.DataFrame({"group_id": ["qa", "chat", "g"], "kind": ["qa", "free", None]}))
    lab = influence_labels(events, CUT, horizon_days=14, groups=groups)
    assert by_member(lab, "responders", "qa")["expert"] == 3      # two askers answered + the fan
    assert by_member(lab, "responders", "qa")["asker1"] == 0      # being answered is no influence
    assert by_member(lab, "responders", "chat") == {"expert": 0, "asker1": 0}  # chat: no response
    later = CUT + pd.Timedelta(days=14)
    hits = by_member(hits_authority(events, later, groups=groups), "hits_authority", "qa")
    assert hits["expert"] == max(hits.values()) > hits["asker1"]
    feats = build_features(events, later, groups=groups).set_index(["group_id", "member_id"])
    assert feats.loc[("qa", "expert"), "partners_in"] == 3        # asker1, asker2, fan
    assert feats.loc[("qa", "asker1"), "partners_out"] == 1       # asker1 -> expert
    assert feats.loc[("chat", "expert"), "partners_in"] == 0
