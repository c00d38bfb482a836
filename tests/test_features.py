"""Feature pipeline: snapshots, engagement, benefit, specs, and point-in-time properties."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shequn_ml.features import (
    EventHistory,
    FeatureSpec,
    SpecError,
    benefit,
    build_features,
    engagement,
    feature_columns,
    load_feature_spec,
    rolling_cutoffs,
    to_cutoff,
)
from shequn_ml.io import read_events, read_groups, read_members

REPO = Path(__file__).resolve().parents[1]
T0 = pd.Timestamp("2024-01-01", tz="UTC")


def events(rows: list[tuple], **extra_cols) -> pd.DataFrame:
    """rows of (day offset from 2024-01-01, group, member, type[, target[, amount]])."""
    recs = []
    for r in rows:
        day, g, m, e = r[:4]
        recs.append({"ts": T0 + pd.Timedelta(days=day), "group_id": g, "member_id": m,
                     "event_type": e, "target_member_id": r[4] if len(r) > 4 else None,
                     "amount": r[5] if len(r) > 5 else np.nan})
    return read_events(pd.DataFrame(recs))


def snap_at(ev, day, spec=None, **kw):
    return EventHistory(ev, **kw).at(T0 + pd.Timedelta(days=day), spec or FeatureSpec())


def by_member(snap, frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame.index = [f"{g}/{m}" for g, m in zip(snap.population["group_id"].astype(str),
                                               snap.population["member_id"].astype(str),
                                               strict=True)]
    return frame


# --------------------------------------------------------------------------- cutoffs, population


def test_cutoff_helpers():
    assert to_cutoff("2024-03-01T08:00:00+08:00") == pd.Timestamp("2024-03-01T00:00Z")
    assert len(rolling_cutoffs("2024-01-01", "2024-03-01", 7)) == 9
    with pytest.raises(ValueError, match="every_days must be a positive"):
        rolling_cutoffs("2024-01-01", "2024-03-01", 0)
    with pytest.raises(ValueError, match="is before start"):
        rolling_cutoffs("2024-03-01", "2024-01-01")


def test_population_rules():
    ev = events([
        (0, "g", "joined", "join"),
        (1, "g", "no_join", "message"),           # enters at first event
        (2, "g", "left", "join"), (5, "g", "left", "leave"),
        (2, "g", "back", "join"), (3, "g", "back", "leave"), (6, "g", "back", "message"),
        (1, "g", "same_ts", "message"), (4, "g", "same_ts", "removed"), (4, "g", "same_ts", "reaction"),
        (20, "g", "future", "join"),              # not yet joined at the cutoff
        (3, "h", "joined", "message"),            # a second group
    ])
    snap = snap_at(ev, 10)
    pop = by_member(snap, snap.population)
    assert sorted(pop.index) == ["g/back", "g/joined", "g/no_join", "h/joined"]
    tenure = pd.Series(snap.tenure_days, index=pop.index)
    assert tenure["g/joined"] == 10 and tenure["g/no_join"] == 9
    assert tenure["g/back"] == 4  # re-entered at day 6, after leaving on day 3
    # at day 5 exactly, the leave on day 5 is not yet visible (ts < cutoff)
    early = snap_at(ev, 5)
    assert "g/left" in by_member(early, early.population).index


def test_members_table_adds_silent_members():
    ev = events([(0, "g", "a", "message")])
    members = read_members(pd.DataFrame({"member_id": ["a", "lurker", "later"],
                                         "group_id": ["g", "g", "g"],
                                         "joined_at": ["2024-01-01", "2024-01-02", "2024-02-01"]}))
    snap = snap_at(ev, 10, members=members)
    assert sorted(snap.population["member_id"].astype(str)) == ["a", "lurker"]
    f = by_member(snap, engagement.compute(snap))
    assert f.loc["g/lurker", "ever_spoke"] == 0
    assert f.loc["g/lurker", "days_since_speak"] == 9  # silent since joining on day 1


# --------------------------------------------------------------------------- engagement


@pytest.fixture
def engaged():
    rows = [(0, "g", m, "join") for m in ("a", "b", "c", "d")]
    # a speaks on days 1,2,3 and 7,8,9 (cutoff day 10): streaks 3 and 3, current 3
    rows += [(d + 0.5, "g", "a", "message") for d in (1, 2, 3, 7, 8, 9)]
    rows += [(8.5, "g", "a", "reply", "b")]
    # b spoke early only
    rows += [(1.2, "g", "b", "question"), (1.3, "g", "b", "reaction", "a")]
    # check-in ritual: group has check-ins on days 5, 6, 9; c checked in on 5 and 9
    rows += [(5.1, "g", "c", "checkin"), (9.1, "g", "c", "checkin"), (6.1, "g", "a", "checkin"),
             (9.2, "g", "a", "checkin")]
    return events(rows)


def test_engagement_pinned_values(engaged):
    snap = snap_at(engaged, 10, FeatureSpec(windows=[7, 30]))
    f = by_member(snap, engagement.compute(snap))
    a, b, c, d = (f.loc[f"g/{m}"] for m in "abcd")
    # a, last 7 days (ts >= day 3): messages 3.5, 7.5, 8.5, 9.5, reply 8.5, checkins 6.1, 9.2
    assert a["speak_count_7d"] == 7 and a["speak_count_30d"] == 9
    assert a["active_days_7d"] == 5  # days 3, 6, 7, 8, 9
    assert a["longest_streak_days"] == 4 and a["current_streak_days"] == 4  # 6-9
    assert a["days_since_speak"] == pytest.approx(10 - 9.5)
    assert b["days_since_speak"] == pytest.approx(10 - 1.2)
    assert b["days_since_any_event"] == pytest.approx(10 - 1.3)
    assert b["current_streak_days"] == 0 and b["longest_streak_days"] == 1
    assert d["ever_spoke"] == 0 and d["days_since_speak"] == 10 and d["speak_count_30d"] == 0
    assert a["days_since_first_speak"] == pytest.approx(8.5) and a["active_days_total"] == 7
    assert d["days_since_first_speak"] == 10 and d["active_days_total"] == 0
    assert c["checkin_adherence_30d"] == pytest.approx(2 / 3)
    assert a["checkin_adherence_30d"] == pytest.approx(2 / 3)
    total = 9 + 1 + 2
    assert a["speak_share_30d"] == pytest.approx(9 / total)
    assert a["activity_rank_pct_30d"] == 1.0 and d["activity_rank_pct_30d"] == 0.25
    assert a["tenure_days"] == 10


def test_speak_trend_sign():
    rows = [(0, "g", m, "join") for m in ("up", "down")]
    rows += [(50 + i * 0.5, "g", "up", "message") for i in range(12)]  # recent burst
    rows += [(5 + i, "g", "down", "message") for i in range(30)]       # early only
    snap = snap_at(events(rows), 60, FeatureSpec(trend_recent_days=14, trend_baseline_days=42))
    f = by_member(snap, engagement.compute(snap))
    assert f.loc["g/up", "speak_trend"] > 0 > f.loc["g/down", "speak_trend"]


# --------------------------------------------------------------------------- benefit


def test_benefit_pinned_values():
    ev = events([
        (0, "g", "hunter", "join"), (0, "g", "fan", "join"), (0, "g", "owner", "join"),
        (10, "g", "owner", "red_packet_send", None, 50.0),
        (10.02, "g", "hunter", "red_packet_claim", None, 2.0),
        (10.05, "g", "hunter", "message"),       # within 2 hours of the red packet
        (12, "g", "fan", "message"), (13, "g", "fan", "message"),
        (14, "g", "fan", "purchase", None, 30.0), (15, "g", "fan", "renew", None, 99.0),
        (15.5, "g", "fan", "coupon_claim"), (16, "g", "fan", "coupon_redeem"),
    ])
    groups = read_groups(pd.DataFrame({"group_id": ["g"], "term_days": [30]}))
    members = read_members(pd.DataFrame({"member_id": ["fan", "hunter"], "group_id": ["g", "g"],
                                         "paid": [True, False],
                                         "expires_at": ["2030-01-01", None]}))
    snap = snap_at(ev, 20, FeatureSpec(windows=[7, 30]), members=members, groups=groups)
    f = by_member(snap, benefit.compute(snap))
    h, fan = f.loc["g/hunter"], f.loc["g/fan"]
    assert h["red_packet_claims_30d"] == 1 and h["red_packet_claims_7d"] == 0
    assert h["benefit_only_share_90d"] == 1.0  # the claim and the message right after it
    assert fan["purchases_90d"] == 1 and fan["spend_90d"] == 129.0
    assert fan["coupon_claims_30d"] == 1 and fan["coupon_redeems_30d"] == 1
    assert fan["benefit_only_share_90d"] == pytest.approx(2 / 6)  # coupon claim + redeem
    assert f.loc["g/owner", "red_packets_sent_90d"] == 1
    assert fan["is_paid"] == 1 and h["is_paid"] == 0
    # renewed on day 15, term 30 days: expires day 45, cutoff day 20 (not the exported 2030)
    assert fan["days_to_expiry"] == pytest.approx(25)
    assert np.isnan(h["days_to_expiry"])
    assert fan["renewals"] == 1


# --------------------------------------------------------------------------- specs and docs


def test_default_spec_file_loads_and_is_the_default():
    assert load_feature_spec(REPO / "features" / "default.yaml") == FeatureSpec()


def test_spec_errors_name_file_and_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("windows: [7, -1]\nfamilys: [engagement]\n")
    with pytest.raises(SpecError) as info:
        load_feature_spec(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: ")
    assert "key 'windows.1': Input should be greater than 0" in msg
    assert "key 'familys': Extra inputs are not permitted" in msg
    path.write_text("- just a list\n")
    with pytest.raises(SpecError, match="expected a mapping"):
        load_feature_spec(path)


def test_docs_features_md_is_generated_from_the_code():
    generated = subprocess.run([sys.executable, "-m", "shequn_ml.features.docs"],
                               capture_output=True, text=True, check=True).stdout
    doc = (REPO / "docs" / "features.md").read_text(encoding="utf-8")
    assert doc == generated, "docs/features.md is stale: python -m shequn_ml.features.docs > docs/features.md"


# --------------------------------------------------------------------------- properties

TYPES = ["join", "leave", "message", "reply", "mention", "reaction", "checkin", "invite",
         "red_packet_send", "red_packet_claim", "coupon_claim", "purchase", "renew",
         "offline_attend", "event_signup", "removed", "post"]
MEMBERS = ["a", "b", "c", "d", "e"]
CUTOFF_DAY = 30.0
_FAMILIES = list(FeatureSpec().families)  # every family


def event_rows(min_day: float, max_day: float, max_size: int = 40):
    return st.lists(
        st.tuples(
            st.floats(min_value=min_day, max_value=max_day, allow_nan=False).map(
                lambda d: round(d, 3)),
            st.sampled_from(["g1", "g2", "g3"]),
            st.sampled_from(MEMBERS),
            st.sampled_from(TYPES),
            st.sampled_from(MEMBERS + [None]),
            st.one_of(st.just(np.nan), st.floats(min_value=0, max_value=100)),
        ),
        min_size=1, max_size=max_size,
    )


def _frame(rows) -> pd.DataFrame:
    return pd.DataFrame([{"ts": T0 + pd.Timedelta(days=r[0]), "group_id": r[1],
                          "member_id": r[2], "event_type": r[3], "target_member_id": r[4],
                          "amount": r[5]} for r in rows])


def _features(frame: pd.DataFrame, cutoffs) -> pd.DataFrame:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # missing targets are warned about, not refused
        ev = read_events(frame)
    return build_features(ev, cutoffs, FeatureSpec(families=_FAMILIES))


PROPERTY = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
CUTS = [T0 + pd.Timedelta(days=CUTOFF_DAY)]


@PROPERTY
@given(past=event_rows(0, CUTOFF_DAY - 0.001), future=event_rows(CUTOFF_DAY, 60, 20))
def test_events_at_or_after_the_cutoff_never_change_features(past, future):
    before = _features(_frame(past), CUTS)
    after = _features(_frame(past + future), CUTS)
    pd.testing.assert_frame_equal(_plain(before), _plain(after))


@PROPERTY
@given(rows=event_rows(0, 45), seed=st.integers(0, 2**16))
def test_shuffling_rows_never_changes_features(rows, seed):
    frame = _frame(rows)
    shuffled = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    cuts = [T0 + pd.Timedelta(days=d) for d in (10, 30, 46)]
    pd.testing.assert_frame_equal(_plain(_features(frame, cuts)),
                                  _plain(_features(shuffled, cuts)))


@PROPERTY
@given(rows=event_rows(0, 45))
def test_one_row_per_present_member_and_none_for_the_not_yet_joined(rows):
    frame = _frame(rows)
    table = _features(frame, CUTS)
    keys = list(zip(table["group_id"].astype(str), table["member_id"].astype(str), strict=True))
    assert len(keys) == len(set(keys))
    expected = set()
    for (g, m), hist in frame.groupby(["group_id", "member_id"]):
        hist = hist.loc[hist["ts"] < CUTS[0]].sort_values("ts", kind="stable")
        if hist.empty:
            continue  # not yet joined: no row
        # present unless the latest event before the cutoff is an exit (exit wins ties)
        last_ts = hist["ts"].max()
        last = hist.loc[hist["ts"] == last_ts, "event_type"]
        if not last.isin(["leave", "removed"]).any():
            expected.add((g, m))
    assert set(keys) == expected


def _plain(table: pd.DataFrame) -> pd.DataFrame:
    out = table.copy()
    out["group_id"] = out["group_id"].astype(str)
    out["member_id"] = out["member_id"].astype(str)
    return out.reset_index(drop=True)


def test_build_features_keys_and_types(engaged):
    table = build_features(engaged, rolling_cutoffs("2024-01-05", "2024-01-12", 7))
    assert list(table.columns[:3]) == ["group_id", "member_id", "cutoff"]
    assert table["cutoff"].nunique() == 2
    assert all(table[c].dtype == np.float64 for c in feature_columns(table))
    with pytest.raises(ValueError, match="at least one cutoff"):
        build_features(engaged, [])
