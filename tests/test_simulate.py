"""The community simulator: its dynamics, its determinism, its contract and its oracle.

Each dynamics test runs the world twice, with the mechanism on and with its knob at
the neutral value, and asserts both sides: the effect is there when the mechanism
is on and gone when it is off, so the test fails if the mechanism is removed.
Worlds are small (a second or two each); the seed is the ``seed`` fixture, so
``SHEQUN_TEST_SEED=N pytest tests/test_simulate.py`` sweeps them.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pydantic
import pytest

from shequn_ml import schema
from shequn_ml.simulate import SimulationConfig, SimulationTruth, load_truth, oracle, simulate

SPEAKING = sorted(schema.SPEAKING_EVENT_TYPES)
#: Chat: speaking without the check-in ritual (which everyone does alike).
MESSAGES = sorted(schema.SPEAKING_EVENT_TYPES - {"checkin"})
ORIGINALS = ["message", "question", "post"]


def run(tmp_path: Path, name: str, **params: object) -> tuple[Path, pd.DataFrame, SimulationTruth]:
    """Simulate into tmp_path/name; return the folder, the events (with ``day``), the truth."""
    out = tmp_path / name
    simulate(SimulationConfig(**params), out)
    events = pq.read_table(out / "events.parquet").to_pandas()
    truth = load_truth(out)
    events["day"] = ((events["ts"] - truth.start) // pd.Timedelta(days=1)).astype(int)
    return out, events, truth


#: The default world shared by the contract, oracle and leadership tests.
WORLD = {"n_members": 1500, "n_groups": 15, "days": 120, "paid_share": 0.4,
         "paid_terms_days": (30, 60), "seed": 11 + int(os.environ.get("SHEQUN_TEST_SEED", "0"))}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame, SimulationTruth]:
    return run(tmp_path_factory.mktemp("world"), "w", **WORLD)


# --------------------------------------------------------------------------------- dynamics


def _top20_share(events: pd.DataFrame, truth: SimulationTruth, min_size: int) -> list[float]:
    """Share of messages produced by each large group's most active 20% of members."""
    speak = events[events["event_type"].isin(MESSAGES)]
    shares = []
    for g, mem in truth.members.groupby("group_id"):
        if len(mem) < min_size:
            continue
        counts = (speak[speak["group_id"] == g]["member_id"].value_counts()
                  .reindex(mem["member_id"], fill_value=0).sort_values(ascending=False))
        top = int(np.ceil(0.2 * len(counts)))
        shares.append(counts.iloc[:top].sum() / counts.sum())
    assert shares, "the world has no large group to test"
    return shares


def test_top_20_percent_of_members_produce_most_messages_in_large_groups(tmp_path, seed):
    big = {"n_members": 2000, "n_groups": 6, "days": 90, "seed": seed + 1}
    _, events, truth = run(tmp_path, "on", **big)
    on = _top20_share(events, truth, min_size=200)
    assert min(on) > 0.6 and np.mean(on) > 0.7, on

    # everyone alike: one role, no heavy tail, no benefit-only members or spammers
    _, events, truth = run(tmp_path, "off", **big, activity_sigma=0.0,
                           role_shares={"chatter": 1.0}, benefit_only_share=0.0,
                           spammer_share=0.0)
    off = _top20_share(events, truth, min_size=200)
    assert max(off) < 0.55, off


def _per_capita_ratio(events: pd.DataFrame, truth: SimulationTruth) -> float:
    """Median speaking events per present member-day: small groups (<= 40) over large (>= 150).

    Medians, because one heavy talker makes a 12-member group look busy.
    """
    speak = events[events["event_type"].isin(SPEAKING)].groupby("group_id").size()
    member_days = truth.group_days.groupby("group_id")["n_present"].sum()
    size = truth.groups.set_index("group_id")["n_memberships"]
    per_capita = speak.reindex(size.index, fill_value=0) / member_days.reindex(size.index)
    small, large = per_capita[size <= 40], per_capita[size >= 150]
    assert len(small) >= 3 and len(large) >= 3, size.tolist()
    return float(small.median() / large.median())


def test_small_groups_have_higher_per_capita_activity(tmp_path, seed):
    # all else equal: free groups of one age, lightly run, none built around a leader
    sizes = {"n_members": 4000, "n_groups": 50, "days": 60, "seed": seed + 2, "size_sigma": 1.2,
             "paid_share": 0.0, "led_share": 0.0, "management_shares": {"light": 1.0},
             "creation_window": 0.0}
    _, events, truth = run(tmp_path, "on", **sizes)
    on = _per_capita_ratio(events, truth)
    assert on > 1.8  # typically 3
    # without the effect, what is left is noise between groups (and the owner, who
    # posts the operator's content, weighs more in a small group)
    _, events, truth = run(tmp_path, "off", **sizes, small_group_exponent=0.0)
    off = _per_capita_ratio(events, truth)
    assert off < 1.6 and on > 1.8 * off


def _day90_over_first_month(events: pd.DataFrame, truth: SimulationTruth) -> float:
    """Speaking events in the week of age 84-90 over the first month's weekly average."""
    created = truth.groups.set_index("group_id")["created_day"]
    speak = events[events["event_type"].isin(SPEAKING)]
    age = speak["day"] - speak["group_id"].map(created).astype(int)
    first_month = (age < 28).sum() / 4
    return float(((age >= 84) & (age < 91)).sum() / first_month)


def test_an_unmanaged_group_goes_quiet_within_three_months(tmp_path, seed):
    life = {"n_members": 1000, "n_groups": 10, "days": 100, "seed": seed + 3,
            "creation_window": 0.05}
    _, events, truth = run(tmp_path, "none", **life, management_shares={"none": 1.0})
    unmanaged = _day90_over_first_month(events, truth)
    assert unmanaged < 0.15

    # interventions slow the decline ...
    _, events, truth = run(tmp_path, "active", **life, management_shares={"active": 1.0})
    assert _day90_over_first_month(events, truth) > 2 * unmanaged
    # ... and without the lifecycle's decay the group does not go quiet at all
    _, events, truth = run(tmp_path, "no_decay", **life, management_shares={"none": 1.0},
                           decay_rate=0.0)
    assert _day90_over_first_month(events, truth) > 0.4


def _distinct_repliers_per_message(events: pd.DataFrame, truth: SimulationTruth) -> pd.DataFrame:
    """Per member with 5+ original messages: distinct repliers, originals, leadership."""
    replies = events[events["event_type"].isin(["reply", "answer"])]
    distinct = replies.groupby(["group_id", "target_member_id"])["member_id"].nunique()
    distinct.index.names = ["group_id", "member_id"]
    own = events[events["event_type"].isin(ORIGINALS)].groupby(["group_id", "member_id"]).size()
    m = truth.members.set_index(["group_id", "member_id"])[["leadership"]]
    m = m.join(distinct.rename("distinct")).join(own.rename("own")).fillna(0)
    m = m[m["own"] >= 5]
    m["per_message"] = m["distinct"] / m["own"]
    return m


def test_leaders_receive_replies_from_more_distinct_members(tmp_path, world, seed):
    _, events, truth = world
    m = _distinct_repliers_per_message(events, truth)
    leaders, others = m[m["leadership"] > 0.5], m[m["leadership"] <= 0.5]
    assert len(leaders) >= 5
    assert leaders["distinct"].mean() > 1.4 * others["distinct"].mean()  # typically 2.5x
    assert leaders["per_message"].mean() > 1.4 * others["per_message"].mean()  # typically 3x

    # without leaders' pull, a leader draws replies like anyone with as many messages
    _, events, truth = run(tmp_path, "flat", **WORLD, leader_attraction=0.0)
    m = _distinct_repliers_per_message(events, truth)
    leaders, others = m[m["leadership"] > 0.5], m[m["leadership"] <= 0.5]
    assert leaders["per_message"].mean() < 1.25 * others["per_message"].mean()


def _repliers_to_leaders(tmp_path: Path, name: str, day: int, horizon: int,
                         **params: object) -> tuple[float, float, int]:
    """Mean true exit hazard and churn rate in [day, day+horizon) of the members who
    replied to their group's leader in the weeks before ``day`` and were still there.

    Replies of the last week are left out: the simulator draws a week at a time, so
    a forced exit may reshuffle the draws of the days before it in the same week.
    """
    out, events, truth = run(tmp_path, name, **params)
    leaders = truth.groups.set_index("group_id")["leader_id"]
    before = events[(events["day"] < day - 7)
                    & events["event_type"].isin(["reply", "answer"])]
    tied = before[before["target_member_id"] == before["group_id"].map(leaders)]
    tied = tied[["group_id", "member_id"]].drop_duplicates()
    m = truth.members.merge(tied, on=["group_id", "member_id"])
    m = m[m["exit_day"].isna() | (m["exit_day"] >= day)]
    daily = truth.daily(day, day + horizon)
    hazard = float(daily.loc[daily["membership"].isin(m["membership"]), "exit"].mean())
    churn = float(m["exit_day"].between(day, day + horizon - 1).mean())
    return hazard, churn, len(m)


def test_a_leaders_departure_raises_the_churn_of_those_who_replied_to_them(tmp_path, seed):
    # every group led by a member (not the owner), all actively run so leaders stay vocal,
    # all free so that renewal decisions add no noise; the same seed with and without the
    # leaders leaving on day 60
    led = {"n_members": 1500, "n_groups": 10, "days": 100, "seed": seed + 4, "led_share": 1.0,
           "leader_owner_share": 0.0, "creation_window": 0.1, "paid_share": 0.0,
           "management_shares": {"active": 1.0}}
    gone = _repliers_to_leaders(tmp_path, "gone", 60, 30, **led, leader_exit_day=60)
    stay = _repliers_to_leaders(tmp_path, "stay", 60, 30, **led)
    assert gone[2] == stay[2] >= 50  # the same repliers in both runs
    assert gone[0] > 1.25 * stay[0]  # their true hazard rises (1.6-2.2x) ...
    assert gone[1] >= stay[1]  # ... and as many or (usually) more of them leave

    # without contagion the leader's departure leaves their repliers' hazard alone
    calm = {**led, "contagion": 0.0, "leader_contagion": 0.0}
    gone = _repliers_to_leaders(tmp_path, "gone_calm", 60, 30, **calm, leader_exit_day=60)
    stay = _repliers_to_leaders(tmp_path, "stay_calm", 60, 30, **calm)
    assert gone[0] < 1.15 * stay[0]


# --------------------------------------------------------------------------------- determinism


def _bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_the_same_seed_gives_byte_identical_files(tmp_path, world, seed):
    cfg = SimulationConfig(**WORLD)
    first = _bytes(world[0])
    assert set(first) == {"events.parquet", "members.parquet", "groups.parquet",
                          "truth_members.parquet", "truth_daily.parquet",
                          "truth_groups.parquet", "truth_group_days.parquet", "simulation.json"}
    simulate(cfg, tmp_path / "again")
    assert _bytes(tmp_path / "again") == first
    # spilling to scratch files every few thousand events changes nothing either
    simulate(cfg, tmp_path / "spilled", spill_events=5_000)
    assert _bytes(tmp_path / "spilled") == first
    simulate(cfg.model_copy(update={"seed": cfg.seed + 1}), tmp_path / "other")
    assert _bytes(tmp_path / "other")["events.parquet"] != first["events.parquet"]


def test_parallel_workers_give_the_same_files(tmp_path, seed):
    cfg = SimulationConfig(n_members=300, n_groups=4, days=40, seed=seed)
    simulate(cfg, tmp_path / "one")
    simulate(cfg, tmp_path / "two", n_jobs=2)
    assert _bytes(tmp_path / "two") == _bytes(tmp_path / "one")


# --------------------------------------------------------------------------------- contract


def test_the_output_passes_the_projects_own_validation(world):
    from shequn_ml.io import read_events, read_groups, read_members

    out, _, truth = world
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not even a DataWarning
        events = read_events(out / "events.parquet")
        members = read_members(out / "members.parquet")
        groups = read_groups(out / "groups.parquet")
    assert len(events) == pq.ParquetFile(out / "events.parquet").metadata.num_rows
    assert set(events["event_type"].astype(str)) <= set(schema.EVENT_TYPES)
    assert len(members) == len(truth.members) and len(groups) == truth.config.n_groups


def test_events_obey_the_contract_and_membership_order(world):
    out, ev, truth = world
    assert str(ev["ts"].dtype) in ("datetime64[ms, UTC]", "datetime64[ns, UTC]")
    assert ev["event_id"].is_unique
    key = list(zip(ev["ts"], ev["event_id"], strict=True))
    assert key == sorted(key)  # sorted by (ts, event_id)

    needs = ev["event_type"].isin(sorted(schema.TARGETED_EVENT_TYPES))
    assert ev.loc[needs, "target_member_id"].notna().all()
    refs = ev[ev["ref_event_id"].notna()]
    when = ev.set_index("event_id")["ts"]
    assert refs["ref_event_id"].isin(when.index).all()
    assert (when.loc[refs["ref_event_id"]].to_numpy() < refs["ts"].to_numpy()).all()
    assert (ev["amount"].dropna() >= 0).all()
    speaking = ev["event_type"].isin(SPEAKING)
    assert ev.loc[speaking, "text_len"].notna().all() and (ev["text_len"].dropna() >= 1).all()
    assert ev.loc[~speaking, "text_len"].isna().all()

    # a join first, nothing after leaving, at most one exit, for every membership
    first = ev.groupby(["group_id", "member_id"]).first()["event_type"]
    assert (first.isin(["join"])).all()
    exits = ev[ev["event_type"].isin(["leave", "removed"])]
    assert not exits.duplicated(["group_id", "member_id"]).any()
    last = ev.groupby(["group_id", "member_id"]).last()["event_type"]
    gone = exits.set_index(["group_id", "member_id"]).index
    assert last.loc[gone].isin(["leave", "removed"]).all()
    assert ev["event_type"].eq("join").sum() == len(truth.members)

    members = pq.read_table(out / "members.parquet").to_pandas()
    joins = ev[ev["event_type"] == "join"].set_index(["group_id", "member_id"])["ts"]
    m = members.set_index(["group_id", "member_id"])
    assert (m["joined_at"] == joins.loc[m.index]).all()
    assert members["member_id"].nunique() == truth.config.n_members
    multi = members.groupby("member_id").size()
    assert 0 < (multi > 1).mean() < 0.2 and multi.max() <= 3


def test_paid_memberships_expire_unless_renewed(world):
    out, ev, truth = world
    members = pq.read_table(out / "members.parquet").to_pandas()
    paid = members[members["paid"]]
    assert len(paid) and paid["expires_at"].notna().all()
    assert members.loc[~members["paid"], "expires_at"].isna().all()
    t = truth.members.set_index(["group_id", "member_id"])
    lapsed = t[t["exit_cause"] == "non_renewal"].index
    assert len(lapsed) > 0
    leaves = ev[ev["event_type"] == "leave"].set_index(["group_id", "member_id"])["ts"]
    expiry = paid.set_index(["group_id", "member_id"])["expires_at"]
    assert (leaves.loc[lapsed] == expiry.loc[lapsed]).all()  # leave at the final expiry
    renew = ev[ev["event_type"] == "renew"]
    assert len(renew) and (renew["amount"] > 0).all()
    kinds = pd.read_parquet(out / "groups.parquet").set_index("group_id")["kind"]
    assert (renew["group_id"].map(kinds) == "paid").all()


def test_operators_tag_some_but_not_all_true_leaders(world):
    out, _, truth = world
    members = pq.read_table(out / "members.parquet").to_pandas()
    t = members.merge(truth.members, on=["group_id", "member_id"])
    leaders = t[t["leadership"] > 0.5]
    assert 0.4 < leaders["kol_tag"].mean() < 1.0  # some, not all
    assert t.loc[t["kol_tag"], "leadership"].le(0.5).any()  # and some noise


# --------------------------------------------------------------------------------- oracle


def test_the_oracle_is_calibrated_against_what_happened(world):
    out, ev, truth = world
    cutoff, h = pd.Timestamp("2024-03-01", tz="UTC"), 30
    probs = oracle(out, cutoff, h)
    assert list(probs.columns[:5]) == ["group_id", "member_id", "p_silence", "p_churn",
                                       "p_silent_or_gone"]
    assert {"leadership", "expected_replies"} <= set(probs.columns)
    for col in ("p_silence", "p_churn", "p_silent_or_gone"):
        assert probs[col].between(0, 1).all()

    window = ev[(ev["ts"] > cutoff) & (ev["ts"] <= cutoff + pd.Timedelta(days=h))]
    spoke = window[window["event_type"].isin(SPEAKING)].groupby(["group_id", "member_id"]).size()
    left = window[window["event_type"].isin(["leave", "removed"])]
    key = pd.MultiIndex.from_frame(probs[["group_id", "member_id"]])
    silent = ~key.isin(spoke.index)
    churned = key.isin(pd.MultiIndex.from_frame(left[["group_id", "member_id"]]))
    n = len(probs)
    assert n > 300
    # observed rates match the oracle's mean probability within 4 standard errors
    for observed, predicted in ((churned, probs["p_churn"]),
                                (silent, probs["p_silent_or_gone"]),
                                (silent[~churned], probs.loc[~churned, "p_silence"])):
        se = np.sqrt(predicted.mean() * (1 - predicted.mean()) / len(predicted))
        assert abs(observed.mean() - predicted.mean()) < 4 * se + 0.005
    # and it ranks: the silent among those who stayed had a higher p_silence
    stayed = probs[~churned]
    assert stayed.loc[silent[~churned], "p_silence"].mean() > \
        stayed.loc[~silent[~churned], "p_silence"].mean() + 0.3
    replies = window[window["event_type"].isin(["reply", "answer"])]
    got = replies.groupby(["group_id", "target_member_id"]).size()
    got.index.names = ["group_id", "member_id"]
    got = got.reindex(key, fill_value=0).to_numpy()
    assert np.corrcoef(got, probs["expected_replies"])[0, 1] > 0.5


def test_the_oracle_covers_exactly_the_members_present_at_the_cutoff(world):
    out, ev, truth = world
    cutoff = pd.Timestamp("2024-02-15", tz="UTC")
    probs = oracle(truth, cutoff.date(), 14)  # a loaded truth and a date work too
    before = ev[ev["ts"] < cutoff]
    joined = before[before["event_type"] == "join"].set_index(["group_id", "member_id"]).index
    gone = before[before["event_type"].isin(["leave", "removed"])]
    present = joined.difference(pd.MultiIndex.from_frame(gone[["group_id", "member_id"]]))
    assert pd.MultiIndex.from_frame(probs[["group_id", "member_id"]]).sort_values().equals(
        present.sort_values())


def test_the_oracle_refuses_a_window_outside_the_simulation(world):
    out = world[0]
    with pytest.raises(ValueError, match="must be a UTC midnight"):
        oracle(out, "2024-02-01 12:00", 14)
    with pytest.raises(ValueError, match="inside the simulated period"):
        oracle(out, "2024-04-20", 30)
    with pytest.raises(ValueError, match="inside the simulated period"):
        oracle(out, "2023-12-01", 30)
    with pytest.raises(FileNotFoundError, match="not the output folder of simulate"):
        oracle(out / "nowhere", "2024-02-01", 14)


def test_truth_rates_cover_every_member_day_after_joining(world):
    _, _, truth = world
    daily = truth.daily()
    expected = (truth.config.days - 1 - truth.members["join_day"]).sum()
    assert len(daily) == expected
    assert (daily["speak"] >= 0).all() and (daily["exit"] >= 0).all()
    assert str(daily["speak"].dtype) == "float32"


# --------------------------------------------------------------------------------- config


def test_config_errors_name_the_problem():
    with pytest.raises(pydantic.ValidationError, match="contagoin"):
        SimulationConfig(n_members=100, n_groups=2, days=30, contagoin=0.0)
    with pytest.raises(pydantic.ValidationError, match="too few for n_groups"):
        SimulationConfig(n_members=100, n_groups=20, days=30)
    with pytest.raises(pydantic.ValidationError, match="do not fit"):
        SimulationConfig(n_members=10_000, n_groups=2, days=30)
    with pytest.raises(pydantic.ValidationError, match="paid_terms_days"):
        SimulationConfig(n_members=100, n_groups=2, days=30, paid_terms_days=(3,))


def test_simulate_refuses_a_plain_dict(tmp_path):
    with pytest.raises(TypeError, match="SimulationConfig"):
        simulate({"n_members": 100, "n_groups": 2, "days": 30}, tmp_path)  # type: ignore[arg-type]
