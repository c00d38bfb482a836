"""The snapshot machinery's shortcuts give what the plain computations they replace give.

``EventHistory`` prepares per-key arrays once so that a cutoff's population is a few
gathers; windows are slices of the time-sorted events; distinct (member, day) pairs
come from a table of marks; the benefit halo looks up the latest giveaway without
``merge_asof``. Each is checked here, exactly, against the direct computation on
messy random histories (ties in time, exits and re-entries, members-table rows).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shequn_ml import schema
from shequn_ml.features import EventHistory, FeatureSpec, benefit, build_features
from shequn_ml.features.engagement import _member_days
from shequn_ml.features.snapshots import distinct_sorted
from shequn_ml.io import read_events, read_groups, read_members

T0 = pd.Timestamp("2024-01-01", tz="UTC")
TYPES = ["join", "leave", "removed", "message", "reply", "mention", "reaction", "checkin", "invite",
         "red_packet_send", "red_packet_claim", "coupon_claim", "coupon_redeem", "purchase", "renew",
         "offline_attend", "event_signup"]
FAST = settings(max_examples=30, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def random_world(seed: int, n_events: int = 300, step_hours: int = 6):
    """Events on a coarse time grid (many ties), a members table with lurkers and late joiners."""
    rng = np.random.default_rng(seed)
    n_members, n_groups = 12, 3
    e = rng.choice(TYPES, n_events)
    frame = pd.DataFrame({
        "ts": T0 + pd.to_timedelta(rng.integers(0, 60 * 24 // step_hours, n_events) * step_hours, unit="h"),
        "group_id": [f"g{x}" for x in rng.integers(0, n_groups, n_events)],
        "member_id": [f"m{x}" for x in rng.integers(0, n_members, n_events)],
        "event_type": e,
        "target_member_id": [f"m{x}" if x < n_members + 2 else None
                             for x in rng.integers(0, n_members + 6, n_events)],
        "amount": np.where(rng.random(n_events) < 0.4, rng.random(n_events) * 50, np.nan),
    })
    k = 10
    members = pd.DataFrame({
        "group_id": [f"g{x}" for x in rng.integers(0, n_groups + 1, k)],
        "member_id": [f"m{x}" for x in rng.integers(0, n_members + 4, k)],
        "joined_at": T0 + pd.to_timedelta(rng.integers(-5, 70, k), unit="D"),
        "paid": rng.random(k) < 0.5,
    }).drop_duplicates(["group_id", "member_id"])
    members.loc[members.index[:2], "joined_at"] = pd.NaT
    groups = pd.DataFrame({"group_id": [f"g{i}" for i in range(n_groups)], "term_days": [30, np.nan, 7]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return (read_events(frame), read_members(members.reset_index(drop=True)), read_groups(groups))


def population_by_groupby(snap) -> pd.DataFrame:
    """The population rule as a plain group-by over the events before the cutoff."""
    h = snap.history
    lo = np.iinfo(np.int64).min
    is_exit = h.type_lookup(schema.EXIT_EVENT_TYPES)[snap.ev_e]
    frame = pd.DataFrame({"g": snap.ev_g, "m": snap.ev_m, "ns": snap.ev_ns,
                          "exit_ns": np.where(is_exit, snap.ev_ns, lo),
                          "stay_ns": np.where(~is_exit, snap.ev_ns, lo)})
    agg = frame.groupby(["g", "m"]).agg(first_ns=("ns", "min"), last_exit=("exit_ns", "max"),
                                        last_stay=("stay_ns", "max"))
    mt = h.members
    if mt is not None:
        joined = mt["joined_at"].dt.tz_convert(None).to_numpy().view(np.int64)
        ok = mt["joined_at"].notna().to_numpy() & (joined < snap.cutoff_ns)
        g = h.group_categories.get_indexer(mt["group_id"].astype(str).to_numpy()[ok])
        m = h.member_categories.get_indexer(mt["member_id"].astype(str).to_numpy()[ok])
        keep = (g >= 0) & (m >= 0)
        extra = pd.DataFrame({"g": g[keep], "m": m[keep], "first_ns": joined[ok][keep], "last_exit": lo,
                              "last_stay": joined[ok][keep]}).set_index(["g", "m"])
        agg = pd.concat([agg, extra]).groupby(level=["g", "m"]).agg(
            {"first_ns": "min", "last_exit": "max", "last_stay": "max"})
    agg = agg.loc[agg["last_stay"] > agg["last_exit"]]
    back = np.zeros(len(agg), np.int64)  # first event after the last exit (0 when none)
    for i, (key, last_exit) in enumerate(zip(agg.index, agg["last_exit"], strict=True)):
        if last_exit != lo:
            mine = frame.loc[(frame["g"] == key[0]) & (frame["m"] == key[1]) & (frame["ns"] > last_exit)]
            back[i] = mine["ns"].min() if len(mine) else 0
    entry = np.where(agg["last_exit"] == lo, agg["first_ns"], back)
    return pd.DataFrame({"g": agg.index.get_level_values("g").astype(np.int32),
                         "m": agg.index.get_level_values("m").astype(np.int32), "entry_ns": entry})


@FAST
@given(seed=st.integers(0, 2**32 - 1), cut_hours=st.integers(-10, 62 * 24))
def test_population_equals_the_groupby_rule(seed, cut_hours):
    ev, members, _ = random_world(seed)
    history = EventHistory(ev, members=members)
    snap = history.at(T0 + pd.Timedelta(hours=cut_hours))
    expected = population_by_groupby(snap)
    got = snap.population[["g", "m", "entry_ns"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    # every event's row, and its target's, as an index lookup of the (group, member) key would give
    keys = pd.Index(expected["g"].to_numpy(np.int64) * history.n_members + expected["m"])
    np.testing.assert_array_equal(snap.ev_pi, keys.get_indexer(snap.ev_g.astype(np.int64)
                                                                * history.n_members + snap.ev_m))
    has_t = snap.ev_t >= 0
    ti = keys.get_indexer(snap.ev_g.astype(np.int64) * history.n_members + np.where(has_t, snap.ev_t, 0))
    np.testing.assert_array_equal(snap.ev_ti, np.where(has_t, ti, -1))
    # last event of any kind per row: the min age over the row's events
    np.testing.assert_array_equal(snap.last_event_age(),
                                  snap.extreme(snap.ev_pi >= 0, snap.ev_age, "min", np.nan))


@FAST
@given(seed=st.integers(0, 2**32 - 1), cut_hours=st.integers(0, 62 * 24),
       window=st.sampled_from([0.5, 1, 7, 13.25, 30, 90, 400]))
def test_windows_and_counts_equal_the_masks_they_replace(seed, cut_hours, window):
    ev, members, _ = random_world(seed)
    snap = EventHistory(ev, members=members).at(T0 + pd.Timedelta(hours=cut_hours))
    np.testing.assert_array_equal(snap.within(window), snap.ev_age <= window)
    for types in (schema.SPEAKING_EVENT_TYPES, ["red_packet_claim"], ["purchase", "renew"]):
        plain = snap.history.type_lookup(types)[snap.ev_e] & (snap.ev_age <= window) & (snap.ev_pi >= 0)
        np.testing.assert_array_equal(snap.mask(types, window), plain)
        np.testing.assert_array_equal(snap.count_of(types, window), snap.count(plain))
        np.testing.assert_array_equal(snap.total_of(types, window, snap.ev_amount),
                                      snap.total(plain, snap.ev_amount))
        anyone = snap.history.type_lookup(types)[snap.ev_e] & (snap.ev_age <= window)
        np.testing.assert_array_equal(snap.group_count_of(types, window), snap.group_count(anyone))


@FAST
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 50))
def test_member_days_equal_the_sorted_keys(seed, n):
    rng = np.random.default_rng(seed)
    pi = rng.integers(0, 7, n)
    day = rng.integers(-1 if seed % 3 == 0 else 0, 40, n)  # day -1: an event within 1e-12 days
    pairs = distinct_sorted(pi.astype(np.int64) * 1_000_000 + day)
    rows, days = _member_days(pi, day, 7)
    np.testing.assert_array_equal(rows, pairs // 1_000_000)
    np.testing.assert_array_equal(days, pairs % 1_000_000)


@FAST
@given(seed=st.integers(0, 2**32 - 1), cut_hours=st.integers(0, 62 * 24), start=st.integers(0, 200))
def test_latest_giveaway_equals_merge_asof(seed, cut_hours, start):
    ev, members, _ = random_world(seed)
    snap = EventHistory(ev, members=members).at(T0 + pd.Timedelta(hours=cut_hours))
    start = min(start, snap.n_events)
    give = snap.history.type_lookup(benefit.GIVEAWAYS)[snap.ev_e[start:]]
    rows = np.flatnonzero(snap.ev_pi[start:] >= 0)
    if not give.any() or not len(rows):
        return
    got = benefit._latest_at_or_before(snap, start, give, rows)
    ns, g = snap.ev_ns[start:], snap.ev_g[start:]
    left = pd.DataFrame({"ns": ns[rows], "g": g[rows]})
    right = pd.DataFrame({"ns": ns[give], "g": g[give], "give_ns": ns[give]})
    expected = pd.merge_asof(left, right, on="ns", by="g", direction="backward")["give_ns"].to_numpy()
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_pipeline_sorts_rows_by_key_text(seed):
    ev, members, groups = random_world(seed, n_events=200)
    cuts = [T0 + pd.Timedelta(days=d) for d in (5, 20, 40, 61)]
    table = build_features(ev, cuts, FeatureSpec(), members=members, groups=groups)
    resorted = table.sort_values(["group_id", "member_id", "cutoff"], kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(table, resorted, check_exact=True)


@FAST
@given(seed=st.integers(0, 2**32 - 1), cut_hours=st.integers(0, 62 * 24), start=st.integers(0, 200),
       halo_hours=st.sampled_from([1e-6, 0.5, 2.0, 6.0, 13.0, 48.0]))
def test_halo_equals_merge_asof_then_the_gap(seed, cut_hours, start, halo_hours):
    ev, members, _ = random_world(seed, step_hours=3)
    snap = EventHistory(ev, members=members).at(T0 + pd.Timedelta(hours=cut_hours))
    start = min(start, snap.n_events)
    give = snap.history.type_lookup(benefit.GIVEAWAYS)[snap.ev_e[start:]]
    rows = np.flatnonzero(snap.ev_pi[start:] >= 0)
    if not give.any() or not len(rows):
        return
    halo_ns = halo_hours * 3600 * 1e9
    ns, g = snap.ev_ns[start:], snap.ev_g[start:]
    left = pd.DataFrame({"ns": ns[rows], "g": g[rows], "row": rows})
    right = pd.DataFrame({"ns": ns[give], "g": g[give], "give_ns": ns[give]})
    hit = pd.merge_asof(left, right, on="ns", by="g", direction="backward")
    expected = (hit["ns"] - hit["give_ns"]).to_numpy(dtype=float, na_value=np.inf) <= halo_ns
    np.testing.assert_array_equal(benefit._in_halo(snap, start, give, rows, halo_ns), expected)
