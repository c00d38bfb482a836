"""The batch scoring core (shequn_ml/scoring.py): rows in equal rows out, statuses, scores, reasons."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shequn_ml import schema
from shequn_ml.io import read_events, read_groups, read_members
from shequn_ml.scoring import OUTPUT_COLUMNS, STATUSES, ModelBundle, output_columns, score_members

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning",
                                        "ignore::UserWarning:mlflow")

CUTOFF = pd.Timestamp("2024-05-01", tz="UTC")


@pytest.fixture(scope="module")
def bundles(logged_quickstart):
    """In-memory bundles of the quickstart's fitted models (no registry)."""
    result = logged_quickstart[0]
    out = {task: ModelBundle(task, r.models["lightgbm"], result.feature_spec,
                             result.model_specs[task].label, f"shequn-{task}", "test")
           for task, r in result.tasks.items()}
    out["kol"] = ModelBundle("kol", result.kol.model, result.feature_spec, result.kol_spec.label,
                             "shequn-kol", "test")
    return out


@pytest.fixture(scope="module")
def world(logged_quickstart):
    """The quickstart's simulated world, plus the awkward members a nightly job meets.

    Added to the members table: a cold-start member (joined a live group before the
    cutoff, no event), a member who joins after the cutoff, and two members of an
    empty group (a group in the groups table with no event at all).
    """
    root = logged_quickstart[3]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        events = read_events(root / "data" / "events.parquet")
        members_raw = pd.read_parquet(root / "data" / "members.parquet")
        groups_raw = pd.read_parquet(root / "data" / "groups.parquet")
    live = str(events["group_id"].iloc[0])
    extra = pd.DataFrame({
        "member_id": ["cold_start", "future_joiner", "empty_1", "empty_2"],
        "group_id": [live, live, "g_empty", "g_empty"],
        "joined_at": pd.to_datetime(["2024-04-20", "2024-05-10", "2024-04-01", "2024-06-01"], utc=True),
    })
    members_raw = pd.concat([members_raw, extra], ignore_index=True)
    g = groups_raw.iloc[[0]].copy()
    g["group_id"] = "g_empty"
    groups_raw = pd.concat([groups_raw, g], ignore_index=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return events, read_members(members_raw), read_groups(groups_raw)


@pytest.fixture(scope="module")
def scored(world, bundles):
    events, members, groups = world
    return score_members(events, CUTOFF, bundles, members=members, groups=groups)


def _independent_statuses(events: pd.DataFrame, members: pd.DataFrame) -> pd.Series:
    """Expected status of every (group, member), computed with plain pandas."""
    before = events.loc[events["ts"] < CUTOFF].sort_values("ts", kind="stable")
    last = before.groupby(["group_id", "member_id"], observed=True)["event_type"].agg(
        lambda s: s.iloc[-1]).astype(str)
    exits = set(schema.EXIT_EVENT_TYPES)
    status = {(str(g), str(m)): ("left_before_cutoff" if t in exits else "scored")
              for (g, m), t in last.items()}
    active_groups = set(before["group_id"].astype(str))
    for row in members.itertuples():
        key = (str(row.group_id), str(row.member_id))
        if key in status:
            continue
        if pd.isna(row.joined_at) or row.joined_at >= CUTOFF:
            status[key] = "not_joined_by_cutoff"
        elif key[0] not in active_groups:
            status[key] = "no_usable_history"
        else:
            status[key] = "scored"
    return pd.Series(status).sort_index()


def test_rows_in_equal_rows_out_with_a_stated_status(world, scored):
    events, members, _ = world
    table = scored.table
    assert list(table.columns) == OUTPUT_COLUMNS
    expected = _independent_statuses(events, members)
    assert len(table) == len(expected) == scored.counts["rows_in"] == scored.counts["rows_out"]
    got = table.set_index(["group_id", "member_id"])["status"].sort_index()
    got.index = got.index.to_flat_index()
    assert got.to_dict() == expected.to_dict()
    assert set(table["status"]) <= set(STATUSES)
    by_member = table.set_index("member_id")
    assert by_member.loc["cold_start", "status"] == "scored"
    assert by_member.loc["future_joiner", "status"] == "not_joined_by_cutoff"
    assert by_member.loc["empty_1", "status"] == "no_usable_history"
    assert by_member.loc["empty_2", "status"] == "not_joined_by_cutoff"
    assert (table.loc[table["status"] != "scored", "note"].str.len() > 0).all()
    assert sum(scored.counts[f"status.{s}"] for s in STATUSES) == len(table)
    assert not table.duplicated(["group_id", "member_id"]).any()


def test_scores_are_the_models_own_and_missing_only_with_a_reason(world, bundles, scored):
    from shequn_ml.features import build_features
    from shequn_ml.labels import silence_population

    events, members, groups = world
    table = scored.table.set_index(["group_id", "member_id"])
    is_scored = table["status"] == "scored"
    assert table.loc[is_scored, "churn_risk"].between(0, 1).all()
    assert table.loc[is_scored, "kol_score"].notna().all()
    assert table.loc[~is_scored, ["silence_risk", "churn_risk", "kol_score"]].isna().all().all()
    features = build_features(events, [CUTOFF], bundles["churn"].feature_spec, members=members,
                              groups=groups)
    keys = pd.MultiIndex.from_frame(features[["group_id", "member_id"]].astype(str))
    X = features[bundles["churn"].feature_names]
    np.testing.assert_allclose(table.loc[keys, "churn_risk"].to_numpy(),
                               bundles["churn"].estimator.predict_proba(X)[:, 1], atol=1e-12)
    pop = silence_population(events, [CUTOFF], members=members, groups=groups)
    inside = pd.MultiIndex.from_frame(pop.loc[pop["in_population"], ["group_id", "member_id"]].astype(str))
    outside = pd.MultiIndex.from_frame(pop.loc[~pop["in_population"], ["group_id", "member_id"]].astype(str))
    assert table.loc[inside, "silence_risk"].between(0, 1).all()
    assert table.loc[outside, "silence_risk"].isna().all()
    assert table.loc[outside, "note"].str.contains("already silent").all()
    assert len(inside) > 0 and len(outside) > 0


def test_reasons_and_kol_ranks(scored):
    from shequn_ml.explain import render_reason
    from shequn_ml.features._registry import catalogue

    table = scored.table
    s = table.loc[table["status"] == "scored"]
    assert (s["churn_reason_1_en"].str.len() > 0).mean() > 0.9
    with_silence = s.loc[s["silence_risk"].notna()]
    assert (with_silence["silence_reason_1_en"].str.len() > 0).mean() > 0.9
    defs = catalogue()
    for task in ("silence", "churn", "kol"):
        for k in (1, 2, 3):
            en, zh, feat = (table[f"{task}_reason_{k}_{p}"] for p in ("en", "zh", "feature"))
            # one language per cell, both present together with the feature behind them
            assert not en.str.contains(" / ").any() and not zh.str.contains(" / ").any()
            assert ((en != "") == (zh != "")).all() and ((en != "") == (feat != "")).all()
            assert zh[zh != ""].str.contains(r"[\u4e00-\u9fff]").all()
            assert not en.str.contains(r"[\u4e00-\u9fff]").any()
            # member reasons are the member's own features, never the group's
            assert not any(defs[f].family == "group_context" for f in set(feat) - {""})
        unscored = table.loc[table["status"] != "scored", [f"{task}_reason_{i}_en" for i in (1, 2, 3)]]
        assert (unscored == "").all().all()
    # each sentence is its feature's template filled in (the values are checked in test_explain)
    for task in ("silence", "churn"):
        pairs = s[[f"{task}_reason_1_{p}" for p in ("feature", "en", "zh")]].drop_duplicates()
        for feat, en, zh in pairs.itertuples(index=False):
            if not feat:
                continue
            d = defs[feat]
            for text, templates in ((en, (d.reason_en, d.reason_en_zero, d.reason_en_negative)),
                                    (zh, (d.reason_zh, d.reason_zh_zero, d.reason_zh_negative))):
                patterns = [re.sub(r"\\\[([^|\]]*)\\\|([^\]]*)\\\]", r"(?:\1|\2)",
                                   re.escape(t)).replace(re.escape("{value}"), ".+?") for t in templates if t]
                assert any(re.fullmatch(p, text) for p in patterns), (feat, text, templates)
    assert render_reason("days_since_speak", 3.0, "en") == "no message for 3 days"
    for _, grp in s.groupby("group_id"):
        ranks = grp["kol_rank_in_group"].to_numpy(dtype=int)
        assert sorted(ranks) == list(range(1, len(grp) + 1))
        order = grp.sort_values("kol_rank_in_group")["kol_score"].to_numpy()
        assert (np.diff(order) <= 0).all()
    assert table.loc[table["status"] != "scored", "kol_rank_in_group"].isna().all()
    assert set(table["silence_model_version"]) == {"shequn-silence/test"}


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 20 * 24), st.sampled_from(["message", "leave", "join", "reply"])),
                min_size=1, max_size=30))
def test_events_at_or_after_the_cutoff_change_nothing(world, bundles, scored, later):
    events, members, groups = world
    keys = scored.table[["group_id", "member_id"]]
    picks = keys.sample(len(later), replace=True, random_state=len(later)).reset_index(drop=True)
    extra = pd.DataFrame({
        "ts": [CUTOFF + pd.Timedelta(hours=h) for h, _ in later],
        "group_id": picks["group_id"], "member_id": picks["member_id"],
        "event_type": [e for _, e in later], "event_id": [f"late-{i}" for i in range(len(later))],
    })
    raw = pd.concat([events.astype({c: object for c in events.columns if c != "ts"}), extra],
                    ignore_index=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        more = read_events(raw)
    again = score_members(more, CUTOFF, {"churn": bundles["churn"], "kol": bundles["kol"]},
                          members=members, groups=groups)
    cols = ["group_id", "member_id", "status", "churn_risk", "churn_tier", "kol_score", "kol_rank_in_group",
            "churn_reason_1_en", "churn_reason_1_zh", "churn_reason_1_feature", "kol_reason_1_en"]
    pd.testing.assert_frame_equal(again.table[cols], scored.table[cols])


def test_bad_bundles_are_refused(bundles):
    from shequn_ml.models.spec import LabelSpec

    with pytest.raises(ValueError, match="unknown task"):
        score_members(pd.DataFrame(), CUTOFF, {"loyalty": bundles["churn"]})
    with pytest.raises(TypeError, match="needs a KolLabelSpec"):
        ModelBundle("kol", bundles["kol"].estimator, bundles["kol"].feature_spec, LabelSpec())


def _roster_by_group_by(events: pd.DataFrame, members: pd.DataFrame | None,
                        cutoff: pd.Timestamp) -> pd.DataFrame:
    """The roster's rule written as a plain group-by (the reference for the per-pair index)."""
    before = events.loc[events["ts"] < cutoff]
    is_exit = before["event_type"].astype(str).isin(schema.EXIT_EVENT_TYPES)
    lo = pd.Timestamp.min.tz_localize("UTC")
    frame = pd.DataFrame({"group_id": before["group_id"].astype(str),
                          "member_id": before["member_id"].astype(str),
                          "exit": before["ts"].where(is_exit, lo), "stay": before["ts"].where(~is_exit, lo)})
    agg = frame.groupby(["group_id", "member_id"]).agg(exit=("exit", "max"), stay=("stay", "max"))
    agg = agg.reset_index()
    agg["status"] = np.where(agg["stay"] > agg["exit"], "present", "left_before_cutoff")
    rows = [agg[["group_id", "member_id", "status"]]]
    if members is not None:
        listed = pd.DataFrame({"group_id": members["group_id"].astype(str),
                               "member_id": members["member_id"].astype(str)})
        joined = members["joined_at"]
        listed["status"] = np.where(joined.notna() & (joined < cutoff), "present", "not_joined_by_cutoff")
        listed = listed.drop_duplicates(["group_id", "member_id"])
        acted = pd.MultiIndex.from_frame(agg[["group_id", "member_id"]])
        rows.append(listed.loc[~pd.MultiIndex.from_frame(listed[["group_id", "member_id"]]).isin(acted)])
    return pd.concat(rows, ignore_index=True).sort_values(["group_id", "member_id"]).reset_index(drop=True)


@settings(max_examples=40, deadline=None)
@given(rows=st.lists(st.tuples(st.integers(0, 40), st.sampled_from(["g1", "g2"]), st.sampled_from("abcd"),
                               st.sampled_from(["message", "leave", "removed", "join", "reply"])),
                     min_size=1, max_size=30),
       listed=st.lists(st.tuples(st.sampled_from(["g1", "g2", "g3"]), st.sampled_from("abcde"),
                                 st.one_of(st.none(), st.integers(0, 40))), max_size=8,
                       unique_by=lambda r: (r[0], r[1])),
       cut_day=st.integers(0, 41))
def test_the_roster_follows_the_group_by_rule(rows, listed, cut_day):
    """Statuses read from the per-pair index equal a group-by over the events before the cutoff
    (ties between an exit and another event at the same instant count as gone)."""
    from shequn_ml.features.snapshots import EventHistory
    from shequn_ml.scoring import roster

    t0 = pd.Timestamp("2024-01-01", tz="UTC")
    raw = pd.DataFrame({"ts": [t0 + pd.Timedelta(days=d) for d, *_ in rows], "group_id": [r[1] for r in rows],
                        "member_id": [r[2] for r in rows], "event_type": [r[3] for r in rows]})
    joined = [None if r[2] is None else t0 + pd.Timedelta(days=r[2]) for r in listed]
    members_raw = pd.DataFrame({"group_id": [r[0] for r in listed], "member_id": [r[1] for r in listed],
                                "joined_at": pd.to_datetime(joined, utc=True)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        events = read_events(raw)
        members = read_members(members_raw) if len(members_raw) else None
    cutoff = t0 + pd.Timedelta(days=cut_day)
    got = roster(EventHistory(events, members=members), cutoff)
    got = got.sort_values(["group_id", "member_id"]).reset_index(drop=True)
    want = _roster_by_group_by(events, members, cutoff)
    pd.testing.assert_frame_equal(got.astype(str), want.astype(str))


def test_one_language_gives_only_its_columns_and_the_same_sentences(world, bundles, scored):
    events, members, groups = world
    en = score_members(events, CUTOFF, bundles, members=members, groups=groups, lang="en",
                       contacts_per_group=3)
    assert list(en.table.columns) == output_columns("en")
    assert not [c for c in en.table.columns if c.endswith("_zh")]
    pd.testing.assert_frame_equal(en.table, scored.table[output_columns("en")])
    assert "action_zh" not in en.contacts.columns and "reason_1_en" in en.contacts.columns
    assert en.contacts.groupby("group_id").size().max() == 3
    with pytest.raises(ValueError, match=r"lang must be 'en', 'zh' or 'both', got 'de'"):
        score_members(events, CUTOFF, bundles, members=members, groups=groups, lang="de")


def test_group_level_reasons_are_an_option_and_reported_once_per_group(world, bundles, scored):
    from shequn_ml.features._registry import catalogue

    events, members, groups = world
    defs = catalogue()
    sig = scored.group_signals
    scored_groups = set(scored.table.loc[scored.table["status"] == "scored", "group_id"])
    assert set(sig["group_id"]) == scored_groups and sig["group_id"].is_unique
    for task in ("silence", "churn"):
        feats = set(sig[[f"{task}_group_signal_{k}_feature" for k in (1, 2, 3)]].stack()) - {""}
        assert feats and all(defs[f].family == "group_context" for f in feats)
        n = scored.table.loc[scored.table[f"{task}_risk"].notna()].groupby("group_id").size()
        assert sig.set_index("group_id")[f"{task}_members_explained"].reindex(n.index).tolist() == n.tolist()
    assert (sig["churn_group_signal_1_en"] != "").mean() > 0.5
    both = score_members(events, CUTOFF, {"churn": bundles["churn"]}, members=members, groups=groups,
                         group_level=True, contacts_per_group=None)
    feats = both.table[[f"churn_reason_{k}_feature" for k in (1, 2, 3)]].stack()
    assert any(defs[f].family == "group_context" for f in set(feats) - {""})
    assert both.contacts is None


def test_tiers_follow_the_thresholds_and_hold_against_the_previous_night(world, bundles, scored):
    from shequn_ml.contacts import TierPolicy
    from shequn_ml.split import DataError

    events, members, groups = world
    t = scored.table
    for task in ("silence", "churn"):
        risk, tier = t[f"{task}_risk"], t[f"{task}_tier"]
        assert (tier[risk.isna()] == "").all()
        assert (tier[risk >= 0.6] == "高").all() and (tier[risk < 0.3] == "低").all()
        assert (tier[(risk >= 0.3) & (risk < 0.6)] == "中").all()
        assert scored.counts[f"{task}_tier.high"] == (tier == "高").sum()
    assert scored.tier_changes == {}
    # last night: every member's risk a little lower, then a lot lower
    tonight = CUTOFF + pd.Timedelta(days=1)
    for shift in (0.04, 0.3):
        prev = t.assign(cutoff=CUTOFF, silence_risk=t["silence_risk"] - shift,
                        churn_risk=t["churn_risk"] - shift)
        prev = prev.assign(**{f"{k}_tier": TierPolicy().assign(prev[f"{k}_risk"])
                              for k in ("silence", "churn")})
        again = score_members(events, tonight, bundles, members=members, groups=groups, previous=prev,
                              contacts_per_group=None)
        now = again.table.set_index(["group_id", "member_id"])
        before = prev.set_index(["group_id", "member_id"])["silence_tier"].reindex(now.index)
        before = before.fillna("").to_numpy(dtype=object)
        plain = TierPolicy(margin=0.0).assign(now["silence_risk"])
        held = now["silence_tier"].to_numpy(dtype=object)
        moved = (before != "") & (held != "") & (before != held)
        plain_moved = (before != "") & (plain != "") & (before != plain)
        assert moved.sum() <= plain_moved.sum()
        if shift == 0.04:  # within the margin: the tiers of last night hold
            assert moved.sum() < 0.5 * plain_moved.sum()
        else:              # a real change: they move
            assert moved.sum() > 0.8 * plain_moved.sum() > 0
        both = (before != "") & (held != "")
        assert again.tier_changes["silence_tier"] == pytest.approx(moved.sum() / both.sum())
    with pytest.raises(DataError, match=r"not before this run's 2024-05-01"):
        score_members(events, CUTOFF, bundles, members=members, groups=groups, previous=t)


def test_the_contact_list_is_of_scored_members_capped_per_group(world, scored):
    _, members, _ = world
    c = scored.contacts
    assert c.groupby("group_id").size().max() <= 10
    table = scored.table.set_index(["group_id", "member_id"])
    rows = table.loc[pd.MultiIndex.from_frame(c[["group_id", "member_id"]])]
    assert (rows["status"] == "scored").all()
    np.testing.assert_allclose(c["churn_risk"], rows["churn_risk"])
    # ranked by priority within each group; priority = the larger risk x value
    np.testing.assert_allclose(c["priority"], np.fmax(c["silence_risk"], c["churn_risk"]) * c["value"])
    assert (c.groupby("group_id")["priority"].diff().dropna() <= 0).all()
    assert set(c["action_code"]) <= {"renewal_reminder", "offer_benefit", "introduce", "check_in"}
    paid = members.loc[members["paid"].fillna(False).astype(bool), ["group_id", "member_id"]].astype(str)
    is_paid = pd.MultiIndex.from_frame(c[["group_id", "member_id"]]).isin(pd.MultiIndex.from_frame(paid))
    assert (c["paid"].to_numpy() == is_paid).all()
    assert (c.loc[c["action_code"] == "renewal_reminder", "paid"]).all()
