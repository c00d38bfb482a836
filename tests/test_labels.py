"""Silence and churn labels: exact windows, populations, non-renewal."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shequn_ml.features import build_features
from shequn_ml.io import read_events, read_groups, read_members
from shequn_ml.labels import churn_labels, silence_labels

T0 = pd.Timestamp("2024-01-01", tz="UTC")


def ev(rows):
    return read_events(pd.DataFrame([
        {"ts": T0 + pd.Timedelta(days=d), "group_id": g, "member_id": m, "event_type": e}
        for d, g, m, e in rows]))


def labels_of(table, col):
    return dict(zip(table["member_id"].astype(str), table[col].tolist(), strict=True))


def test_silence_window_is_half_open_and_population_is_explicit():
    rows = [(0, "g", m, "join") for m in ("talker", "quiet", "lurker", "edge", "late")]
    rows += [(5, "g", "talker", "message"), (12, "g", "talker", "question"),
             (6, "g", "quiet", "message"), (25, "g", "quiet", "message"),   # after the window
             (8, "g", "edge", "message"), (10, "g", "edge", "checkin"),     # exactly at t
             (9, "g", "late", "message"), (24.999, "g", "late", "post")]    # just inside
    cut = T0 + pd.Timedelta(days=10)
    active = silence_labels(ev(rows), cut, horizon_days=15)
    assert labels_of(active, "silence") == {"talker": 0, "quiet": 1, "edge": 0, "late": 0}
    everyone = silence_labels(ev(rows), cut, horizon_days=15, population="all")
    assert labels_of(everyone, "silence")["lurker"] == 1
    assert len(everyone) == 5
    narrow = silence_labels(ev(rows), cut, horizon_days=15, active_window_days=3)
    assert set(labels_of(narrow, "silence")) == {"edge", "late"}  # spoke on days 8 and 9 only
    # the already silent: everyone present the narrow look-back leaves out; "quiet" speaks again
    silent = silence_labels(ev(rows), cut, horizon_days=15, active_window_days=3, population="silent")
    assert labels_of(silent, "silence") == {"talker": 0, "quiet": 1, "lurker": 1}
    assert set(silent["member_id"].astype(str)) | set(narrow["member_id"].astype(str)) == \
        set(everyone["member_id"].astype(str))
    with pytest.raises(ValueError, match="population must be one of 'active', 'all', 'silent'"):
        silence_labels(ev(rows), cut, 15, population="some")
    with pytest.raises(ValueError, match="horizon_days must be a positive"):
        silence_labels(ev(rows), cut, 0)


def test_silence_counts_a_leaver_who_said_nothing():
    rows = [(0, "g", "a", "join"), (1, "g", "a", "message"), (12, "g", "a", "leave"),
            (0, "g", "b", "join"), (1, "g", "b", "message"), (11, "g", "b", "message"),
            (12, "g", "b", "leave")]
    table = silence_labels(ev(rows), T0 + pd.Timedelta(days=10), 14)
    assert labels_of(table, "silence") == {"a": 1, "b": 0}


def test_churn_exits_and_reasons():
    rows = [(0, "g", m, "join") for m in ("stay", "quit", "kicked", "gone_before", "after")]
    rows += [(3, "g", "gone_before", "leave"), (12, "g", "quit", "leave"),
             (13, "g", "kicked", "removed"), (40, "g", "after", "leave")]
    table = churn_labels(ev(rows), T0 + pd.Timedelta(days=10), 14)
    assert labels_of(table, "churn") == {"stay": 0, "quit": 1, "kicked": 1, "after": 0}
    assert labels_of(table, "churn_reason")["kicked"] == "removed"
    assert labels_of(table, "churn_reason")["quit"] == "left"


def test_churn_non_renewal_uses_point_in_time_expiry():
    rows = [(0, "g", m, "join") for m in ("renews", "lapses", "free", "late_expiry", "grace")]
    rows += [(18, "g", "renews", "renew"), (26, "g", "grace", "renew")]  # grace: after day 20
    members = read_members(pd.DataFrame({
        "member_id": ["renews", "lapses", "free", "late_expiry", "grace"], "group_id": "g",
        "paid": [True, True, False, True, True],
        # export-time expiry dates are ignored: they contain the future
        "expires_at": ["2030-01-01"] * 5}))
    groups = read_groups(pd.DataFrame({"group_id": ["g"], "term_days": [20]}))
    # late_expiry joined later so its term ends after the window
    rows = [r for r in rows if r[2] != "late_expiry"] + [(9, "g", "late_expiry", "join")]
    table = churn_labels(ev(rows), T0 + pd.Timedelta(days=10), 25, grace_days=7,
                         members=members, groups=groups)
    # window [10, 35); terms end on day 20 (joined day 0), judged since 20 + 7 < 35, and on
    # day 29 for late_expiry, not judged since 29 + 7 >= 35
    assert labels_of(table, "churn") == {
        "renews": 0, "lapses": 1, "free": 0, "late_expiry": 0, "grace": 0}
    assert labels_of(table, "churn_reason")["lapses"] == "not_renewed"
    # with a window too short to see expiry + grace, nobody is judged
    short = churn_labels(ev(rows), T0 + pd.Timedelta(days=10), 14, grace_days=7,
                         members=members, groups=groups)
    assert short["churn"].sum() == 0


def test_labels_share_the_feature_population():
    rows = [(0, "g", "a", "join"), (1, "g", "a", "message"), (2, "h", "b", "message"),
            (3, "g", "c", "join"), (4, "g", "c", "leave"), (20, "g", "d", "join")]
    events = ev(rows)
    cut = T0 + pd.Timedelta(days=10)
    keys = build_features(events, cut)[["group_id", "member_id"]].astype(str).values.tolist()
    churn = churn_labels(events, cut, 30)[["group_id", "member_id"]].astype(str).values.tolist()
    assert keys == churn == [["g", "a"], ["h", "b"]]


@settings(max_examples=30, deadline=None)
@given(
    days=st.lists(st.floats(0, 40, allow_nan=False), min_size=1, max_size=30),
    who=st.lists(st.sampled_from(["a", "b", "c"]), min_size=30, max_size=30),
    what=st.lists(st.sampled_from(["message", "leave", "join", "reaction", "removed"]),
                  min_size=30, max_size=30),
    later=st.lists(st.floats(24, 80, allow_nan=False), max_size=10),
)
def test_labels_never_read_after_the_window(days, who, what, later):
    rows = [(d, "g", who[i], what[i]) for i, d in enumerate(days)]
    extra = [(d, "g", who[i], what[i]) for i, d in enumerate(later)]
    cut, h = T0 + pd.Timedelta(days=10), 14  # window [10, 24): 'later' starts at 24
    for fn in (silence_labels, churn_labels):
        a = fn(ev(rows), cut, h)
        b = fn(ev(rows + extra), cut, h)
        pd.testing.assert_frame_equal(a.astype({"group_id": str, "member_id": str}),
                                      b.astype({"group_id": str, "member_id": str}))
    assert np.isin(silence_labels(ev(rows), cut, h)["silence"], [0, 1]).all()
