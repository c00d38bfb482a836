"""Group health: the label's window, the features' cutoff, the model, the groups table, the truth stage."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score

from shequn_ml.features import build_features
from shequn_ml.features.pipeline import feature_catalogue
from shequn_ml.features.snapshots import EventHistory, rolling_cutoffs
from shequn_ml.group_health import (
    FEATURE_NAMES,
    REASONS,
    SCORE_COLUMNS,
    ActivityTrendRule,
    GroupHealthModel,
    LastPeriodActivity,
    LearnedStage,
    evaluate_group_health,
    group_features,
    group_health_labels,
    group_population,
    load_group_health_spec,
    render_reason,
    score_groups,
    stage_agreement,
    truth_lifecycle_stage,
)
from shequn_ml.io import read_events, read_groups, read_members
from shequn_ml.specs import SpecError
from shequn_ml.split import DataError

T0 = pd.Timestamp("2024-01-01", tz="UTC")
REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"


def ev(rows):
    """Events from (day, group, member, type) rows (targets are not needed here)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # replies without a target are warned about, not refused
        return read_events(pd.DataFrame([
            {"ts": T0 + pd.Timedelta(days=d), "group_id": g, "member_id": m, "event_type": e}
            for d, g, m, e in rows]))


def by_group(table: pd.DataFrame, col: str) -> dict[str, object]:
    return dict(zip(table["group_id"].astype(str), table[col].tolist(), strict=True))


# ---------------------------------------------------------------------------- the label
def test_label_definition_on_a_hand_made_table():
    # cutoff t = day 30, horizon 10: population window [20, 30), label window [30, 40)
    rows = [(1, g, "owner", "join") for g in ("alive", "fell", "silent", "quiet", "edge")]
    rows += [(21, "alive", m, "message") for m in "abc"]          # 3 speakers before
    rows += [(31, "alive", "a", "reply"), (39.9, "alive", "b", "post")]  # 2 after: 2 >= 1.5
    rows += [(25, "fell", m, "message") for m in "abcd"]          # 4 speakers before
    rows += [(32, "fell", "a", "message"), (33, "fell", "a", "question")]  # 1 after: 1 < 2
    rows += [(20, "silent", "a", "checkin"),                      # exactly t - h: inside
             (30 - 1e-6, "silent", "b", "message"),
             (31, "silent", "c", "join"), (33, "silent", "a", "reaction"),  # not speaking
             (40, "silent", "a", "message")]                      # exactly t + h: outside
    rows += [(19.9, "quiet", "a", "message"), (35, "quiet", "a", "message")]  # before the window
    rows += [(22, "edge", "a", "message"), (22, "edge", "b", "message"),
             (30, "edge", "c", "answer")]                         # exactly t: in the label window
    cut = T0 + pd.Timedelta(days=30)
    lab = group_health_labels(ev(rows), cut, horizon_days=10)
    assert by_group(lab, "group_death") == {"alive": 0, "fell": 1, "silent": 1, "edge": 0}
    assert by_group(lab, "reason") == {"alive": "", "fell": "speakers_fell", "silent": "silent",
                                       "edge": ""}
    assert by_group(lab, "speakers_before") == {"alive": 3, "fell": 4, "silent": 2, "edge": 2}
    assert by_group(lab, "speakers_after") == {"alive": 2, "fell": 1, "silent": 0, "edge": 1}
    assert by_group(lab, "speaking_events_after") == {"alive": 2, "fell": 2, "silent": 0, "edge": 1}
    # any loss at all counts with loss_share=0; none but silence with loss_share=1
    strict = group_health_labels(ev(rows), cut, horizon_days=10, loss_share=0.0)
    assert by_group(strict, "group_death") == {"alive": 1, "fell": 1, "silent": 1, "edge": 1}
    lenient = group_health_labels(ev(rows), cut, horizon_days=10, loss_share=1.0)
    assert by_group(lenient, "group_death") == {"alive": 0, "fell": 0, "silent": 1, "edge": 0}
    # the population, from before the cutoff only, is the one the model scores
    pop = group_population(ev(rows), cut, horizon_days=10)
    assert by_group(pop, "in_population") == {"alive": True, "fell": True, "silent": True,
                                              "quiet": False, "edge": True}


def test_label_errors_name_the_parameter():
    rows = [(1, "g", "a", "message")]
    with pytest.raises(ValueError, match=r"loss_share must be a share of speaking members in \[0, 1\]"):
        group_health_labels(ev(rows), T0 + pd.Timedelta(days=2), loss_share=1.5)
    with pytest.raises(ValueError, match="horizon_days must be a positive number of days"):
        group_health_labels(ev(rows), T0 + pd.Timedelta(days=2), horizon_days=0)
    with pytest.raises(TypeError, match="events must be a normalised events DataFrame"):
        group_health_labels([("x",)], T0)


GROUPS = ["g1", "g2"]
MEMBERS = ["a", "b", "c", "d"]
TYPES = ["message", "reply", "join", "leave", "reaction", "red_packet_send", "event_signup", "checkin"]


def event_rows(lo: float, hi: float, max_size: int = 30):
    return st.lists(st.tuples(st.floats(lo, hi, allow_nan=False).map(lambda d: round(d, 3)),
                              st.sampled_from(GROUPS), st.sampled_from(MEMBERS),
                              st.sampled_from(TYPES)), min_size=1, max_size=max_size)


PROPERTY = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
CUT, H = 30.0, 14.0


@PROPERTY
@given(rows=event_rows(0, CUT + H - 0.001), later=event_rows(CUT + H, 90, 15))
def test_events_at_or_after_the_window_never_change_a_label(rows, later):
    cut = T0 + pd.Timedelta(days=CUT)
    a = group_health_labels(ev(rows), cut, horizon_days=H)
    b = group_health_labels(ev(rows + later), cut, horizon_days=H)
    pd.testing.assert_frame_equal(a, b)
    assert a["group_death"].isin([0, 1]).all()


@PROPERTY
@given(rows=event_rows(0, CUT - 0.001), later=event_rows(CUT, 90, 15))
def test_events_at_or_after_the_cutoff_never_change_a_feature(rows, later):
    cut = T0 + pd.Timedelta(days=CUT)
    a = group_features(ev(rows), cut)
    b = group_features(ev(rows + later), cut)
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns) == ["group_id", "cutoff", *FEATURE_NAMES]


def test_features_on_a_hand_made_table():
    rows = [(0, "g", m, "join") for m in "abcd"]
    rows += [(1, "g", "a", "message"), (2, "g", "b", "reply"), (3, "g", "a", "message"),
             (5, "g", "a", "red_packet_send"), (6, "g", "c", "leave"), (8, "g", "a", "answer")]
    f = group_features(ev(rows), T0 + pd.Timedelta(days=10)).iloc[0]
    assert f["speak_events_28d"] == 4 and f["speakers_28d"] == 2
    assert f["speak_events_7d"] == 2 and f["speakers_7d"] == 1  # a, on days 3 and 8
    assert f["reply_share_28d"] == pytest.approx(2 / 4)         # a reply and an answer
    assert f["top_speaker_share_28d"] == pytest.approx(3 / 4)   # a made three of four
    assert f["members_present"] == 3 and f["exits_28d"] == 1 and f["joins_28d"] == 4
    assert f["active_share_28d"] == pytest.approx(2 / 3)        # a and b of a, b, d
    assert f["days_since_group_speak"] == pytest.approx(2)
    assert f["days_since_benefit"] == pytest.approx(5)
    assert f["days_since_activity"] == pytest.approx(f["age_days"] + 1)  # none: age + 1
    assert f["age_days"] == pytest.approx(10)
    assert np.isnan(f["paid_group"])                               # no groups table: unknown


# ---------------------------------------------------------------------------- the sample
@pytest.fixture(scope="module")
def sample():
    events = read_events(SAMPLE / "events.parquet")
    members = read_members(SAMPLE / "members.parquet")
    groups = read_groups(SAMPLE / "groups.parquet")
    return events, members, groups, EventHistory(events, members=members, groups=groups)


@pytest.fixture(scope="module")
def evaluation(sample):
    *_, history = sample
    cuts = rolling_cutoffs("2024-01-29", "2024-06-01", 7)
    return evaluate_group_health(history, None, None, cuts, n_validation=2, n_test=2, n_boot=200)


def test_lifecycle_stage_is_the_group_context_rule(sample):
    events, members, groups, history = sample
    cuts = [pd.Timestamp(c, tz="UTC") for c in ("2024-02-12", "2024-04-01", "2024-06-10")]
    ours = group_features(history, cuts)
    theirs = build_features(events, cuts, members=members, groups=groups)
    per_group = theirs.groupby(["group_id", "cutoff"], observed=True).first().reset_index()
    per_group["group_id"] = per_group["group_id"].astype(str)
    joined = per_group.merge(ours, on=["group_id", "cutoff"], validate="one_to_one")
    assert len(joined) == len(per_group) > 60
    np.testing.assert_array_equal(joined["lifecycle_stage"], joined["group_lifecycle_stage"])
    np.testing.assert_allclose(joined["activity_trend"], joined["group_activity_trend"], atol=1e-12)
    np.testing.assert_allclose(joined["age_days"], joined["group_age_days"], atol=1e-9)
    np.testing.assert_allclose(joined["capacity_use"], joined["size_vs_capacity"], atol=1e-12)
    assert set(joined["lifecycle_stage"]) == {0.0, 1.0, 2.0}


def test_sample_evaluation_compares_every_model_on_the_same_rows(evaluation):
    r = evaluation
    assert list(r.table.index) == ["lightgbm", "activity_trend_rule", "last_period_activity"]
    test = r.test_frame
    assert set(test["cutoff"]) == set(r.split.test) and (r.table["n"] == len(test)).all()
    assert r.positives["test"] == int(test["group_death"].sum()) > 0
    y = test["group_death"].to_numpy()
    for name, score in r.test_scores.items():
        assert r.table.loc[name, "roc_auc"] == pytest.approx(roc_auc_score(y, score))
        assert 0 <= r.table.loc[name, "ece"] <= 1
    # ranking is not calibration: the model's AUC is that of its calibrated probability too
    assert roc_auc_score(y, r.test_proba["lightgbm"]) == pytest.approx(r.table.loc["lightgbm", "roc_auc"])
    for name, row in r.bootstrap.iterrows():
        diff = r.table.loc["lightgbm", "roc_auc"] - r.table.loc[name, "roc_auc"]
        assert row["roc_auc_diff"] == pytest.approx(diff)
        assert row["roc_auc_diff_lo"] <= diff <= row["roc_auc_diff_hi"]
        # a few dozen test rows of 30 groups cannot tell the models apart
        assert row["roc_auc_diff_hi"] - row["roc_auc_diff_lo"] > 0.1
    assert "| lightgbm − last_period_activity |" in r.bootstrap_markdown()
    assert r.markdown().count("\n") == 4


def test_bootstrap_metrics_are_scikit_learns_with_weights_and_ties():
    from sklearn.metrics import average_precision_score

    from shequn_ml.group_health._evaluate import _Ranked

    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)
    score = np.round(rng.normal(size=300) + y, 1)  # many ties
    w = rng.integers(0, 4, 300).astype(float)
    auc, ap = _Ranked(y, score).auc_ap(w)
    assert auc == pytest.approx(roc_auc_score(y, score, sample_weight=w), abs=1e-12)
    assert ap == pytest.approx(average_precision_score(y, score, sample_weight=w), abs=1e-12)


def test_a_fold_with_one_class_is_a_data_error(sample):
    *_, history = sample
    early = rolling_cutoffs("2024-01-29", "2024-04-01", 7)  # no group dies in the first weeks
    with pytest.raises(DataError, match="the train fold of the group-health task has .* only label 0"):
        evaluate_group_health(history, None, None, early, n_validation=1, n_test=1, n_boot=10)


# ---------------------------------------------------------------------------- the estimator
def test_estimator_contract(evaluation):
    data = evaluation.test_frame
    X, y = data[FEATURE_NAMES], data["group_death"]
    for est in (GroupHealthModel(n_estimators=30, num_leaves=4), ActivityTrendRule(),
                LastPeriodActivity()):
        params = est.get_params()
        fresh = clone(est)
        assert fresh.get_params() == params
        assert not [k for k in vars(fresh) if k.endswith("_")]  # nothing learned before fit
        with pytest.raises(NotFittedError):
            fresh.predict_proba(X)
        assert fresh.fit(X, y) is fresh
        assert fresh.get_params() == params
        learned = [k for k in vars(fresh) if k not in params and not k.startswith("__")]
        assert learned and all(k.endswith("_") for k in learned), learned
        p = fresh.predict_proba(X)
        assert p.shape == (len(X), 2) and ((p >= 0) & (p <= 1)).all()
        np.testing.assert_array_equal(pickle.loads(pickle.dumps(fresh)).predict_proba(X), p)
    with pytest.raises(ValueError, match="ActivityTrendRule needs the column 'activity_trend'"):
        ActivityTrendRule().fit(X.drop(columns="activity_trend"), y)


def test_model_spec_builds_the_model_and_refuses_unknown_keys(tmp_path):
    spec = load_group_health_spec(REPO / "models" / "group_health.yaml")
    model = spec.build()
    assert isinstance(model, GroupHealthModel) and model.get_params()["start"] == "linear"
    assert spec.label.horizon_days == 28 and spec.label.loss_share == 0.5
    bad = tmp_path / "g.yaml"
    bad.write_text("task: group_health\nparams:\n  num_leafs: 4\n", encoding="utf-8")
    with pytest.raises(SpecError, match=r"g.yaml: key 'params.num_leafs': Extra inputs"):
        load_group_health_spec(bad)


# ---------------------------------------------------------------------------- scoring, reasons
def test_score_groups_gives_every_known_group_a_row_with_a_status(sample, evaluation):
    *_, history = sample
    model = evaluation.models["lightgbm"]
    for cutoff in ("2024-01-20", "2024-06-01"):
        table = score_groups(model, history, cutoff)
        assert list(table.columns) == SCORE_COLUMNS
        assert len(table) == 30 and table["group_id"].is_unique  # every group of the groups table
        scored = table["status"] == "scored"
        assert set(table["status"]) <= {"scored", "no_speaking_in_window", "not_created_by_cutoff"}
        assert table.loc[scored, "group_risk"].between(0, 1).all()
        assert table.loc[~scored, "group_risk"].isna().all()
        assert (table.loc[~scored, "note"] != "").all() and (table.loc[scored, "note"] == "").all()
        known = table["lifecycle_stage"].notna()
        mapping = {0: ("恋爱期", "honeymoon"), 1: ("质疑期", "doubt"), 2: ("分手期", "breakup")}
        for s, zh, en in zip(table.loc[known, "lifecycle_stage"], table.loc[known, "lifecycle_stage_zh"],
                             table.loc[known, "lifecycle_stage_en"], strict=True):
            assert mapping[int(s)] == (zh, en)
        for i in (1, 2, 3):  # both languages or neither
            en, zh = table[f"group_reason_{i}_en"], table[f"group_reason_{i}_zh"]
            assert ((en == "") == (zh == "")).all()
        assert (table.loc[scored, "group_reason_1_en"] != "").any()
    early = score_groups(model, history, "2024-01-20")
    late_groups = early.loc[early["status"] == "not_created_by_cutoff"]
    assert len(late_groups) > 5 and late_groups["note"].str.contains("at or after the cutoff").all()
    # the scored population is the label's
    pop = group_population(history, "2024-06-01")
    late = score_groups(model, history, "2024-06-01")
    assert sorted(late.loc[late["status"] == "scored", "group_id"]) == \
        sorted(pop.loc[pop["in_population"], "group_id"])
    # without a model: the same rows and stages, the scored ones stated instead
    bare = score_groups(None, history, "2024-06-01")
    assert (bare["status"] == "no_group_health_model").sum() == (late["status"] == "scored").sum()
    assert bare["group_risk"].isna().all() and (bare["note"] != "").all()
    pd.testing.assert_series_equal(bare["lifecycle_stage"], late["lifecycle_stage"])


def test_a_silent_group_is_listed_not_scored(evaluation):
    model = evaluation.models["lightgbm"]
    rows = [(d, "busy", m, "message") for d in range(1, 60) for m in "ab"]
    rows += [(1, "mute", "c", "message"), (2, "mute", "d", "join")]
    table = score_groups(model, ev(rows), T0 + pd.Timedelta(days=60))
    assert by_group(table, "status") == {"busy": "scored", "mute": "no_speaking_in_window"}
    assert by_group(table, "lifecycle_stage")["mute"] == 2.0   # quiet for 7 days: the rule's 分手期
    with pytest.raises(ValueError, match="score_groups needs a fitted GroupHealthModel"):
        score_groups(GroupHealthModel(), ev(rows), T0 + pd.Timedelta(days=60))


def test_reasons_read_like_sentences_in_both_languages():
    assert render_reason("speakers_28d", {"speakers_prev_28d": 40.0, "speakers_28d": 12.0}) == (
        "speaking members fell from 40 to 12 in 28 days", "28天内发言人数从40降到12")
    assert render_reason("speaker_trend_28d", {"speakers_prev_28d": 3.0, "speakers_28d": 5.0})[1] \
        == "28天内发言人数从3升到5"
    assert render_reason("exits_28d", {"exits_28d": 1.0})[0] == "1 member left or was removed in 28 days"
    assert render_reason("exits_28d", {"exits_28d": 3.0})[0] == "3 members left or were removed in 28 days"
    assert render_reason("benefit_events_28d", {"benefit_events_28d": 1.0})[0] == \
        "1 red packet or coupon in 28 days"
    assert render_reason("days_since_group_speak", {"days_since_group_speak": 1.0}) == (
        "nobody has spoken for 1 day", "已有1天无人发言")
    assert render_reason("days_since_group_speak", {"days_since_group_speak": 0.25})[0] == \
        "nobody has spoken for 6 hours"
    assert render_reason("days_since_benefit", {"days_since_benefit": 31.0, "age_days": 30.0})[0] == \
        "no red packet or coupon yet"
    assert render_reason("lifecycle_stage", {"lifecycle_stage": 2.0}) == (
        "the group is in its breakup stage", "群处于分手期")
    # every feature has a template, and none shadows a member-level feature of the registry
    assert set(REASONS) == set(FEATURE_NAMES)
    assert not set(FEATURE_NAMES) & set(feature_catalogue())


# ---------------------------------------------------------------------------- the truth stage
def test_truth_stage_follows_the_simulators_vitality():
    truth = truth_lifecycle_stage(SAMPLE, ["2024-03-01", "2024-06-01"])
    days = pd.read_parquet(SAMPLE / "truth_group_days.parquet")
    v = days.set_index(["group_id", "day"])["vitality"]
    row = truth.iloc[len(truth) // 2]
    d = (row["cutoff"] - T0).days
    first = days.loc[days["group_id"] == row["group_id"], "day"].min()
    assert row["vitality"] == pytest.approx(v[(row["group_id"], d)])
    assert row["vitality_before"] == pytest.approx(v[(row["group_id"], max(d - 28, first))])
    falling = truth["vitality"] < truth["vitality_before"]
    expected = np.where(truth["vitality"] < 0.3, 2, np.where(falling, 1, 0))
    np.testing.assert_array_equal(truth["truth_stage"], expected)
    assert (truth.loc[truth["cutoff"] == truth["cutoff"].max(), "truth_stage"] == 2).sum() > 15
    with pytest.raises(ValueError, match="must be a UTC midnight"):
        truth_lifecycle_stage(SAMPLE, ["2024-03-01 12:00"])
    with pytest.raises(ValueError, match="is outside the simulated days"):
        truth_lifecycle_stage(SAMPLE, ["2025-03-01"])


def test_stage_agreement_and_learned_stage():
    a = stage_agreement([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 2, 0])
    assert a.accuracy == pytest.approx(4 / 6) and a.n == 6
    assert a.confusion.to_numpy().tolist() == [[1, 0, 1], [1, 1, 0], [0, 0, 2]]  # rows: truth
    one = stage_agreement([2, 2, 2], [2, 2, 2])
    assert one.accuracy == 1.0 and np.isnan(one.kappa)  # kappa is undefined with one class
    with pytest.raises(ValueError, match=r"stages must be 0 \(honeymoon\), 1 \(doubt\) or 2"):
        stage_agreement([0, 3], [0, 1])
    with pytest.raises(ValueError, match="two equally long 1-d sequences"):
        stage_agreement([0, 1], [0])
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"speak_per_member_28d": rng.gamma(2, 4, 400), "x": rng.normal(size=400)})
    y = np.where(X["speak_per_member_28d"] < 4, 2, np.where(X["x"] < 0, 1, 0))
    m = LearnedStage()
    assert clone(m).get_params() == m.get_params() and m.fit(X, y) is m
    assert stage_agreement(m.predict(X), y).kappa > 0.7
    with pytest.raises(ValueError, match=r"y must hold one stage \(0, 1 or 2\) per row"):
        LearnedStage().fit(X, y + 5)
