"""Ranking metrics, the candidate table, and the KOL evaluation on a small simulated world."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import ndcg_score

from shequn_ml.features import rolling_cutoffs
from shequn_ml.io import read_events, read_groups, read_members
from shequn_ml.models._ranker import KolModelSpec, KolRanker, query_sizes
from shequn_ml.ranking import (
    BASELINES,
    evaluate_kol,
    expected_in_top_k,
    kol_candidates,
    ndcg_at_k,
    rank_within,
    ranking_metrics,
)
from shequn_ml.simulate import SimulationConfig, simulate

HORIZON = 28


# --------------------------------------------------------------------------- metrics
@pytest.mark.parametrize("k", [1, 5, 10])
def test_ndcg_matches_scikit_learn_with_and_without_ties(k, seed):
    rng = np.random.default_rng(seed)
    for n in (2, 3, 7, 25, 60):
        rel = rng.integers(0, 5, n)
        rel[0] = max(rel[0], 1)
        for score in (rng.normal(size=n), rng.integers(0, 3, n).astype(float)):  # the second has ties
            want = ndcg_score([np.exp2(rel) - 1], [score], k=k)
            assert ndcg_at_k(rel, score, k) == pytest.approx(want, abs=1e-12)
    assert math.isnan(ndcg_at_k(np.zeros(4), rng.normal(size=4), 10))


def test_ties_are_averaged_and_nan_ranks_last():
    assert expected_in_top_k(np.array([2.0, 1, 1, 1, np.nan]), 2).tolist() == pytest.approx(
        [1, 1 / 3, 1 / 3, 1 / 3, 0])
    assert ndcg_at_k(np.array([1, 0]), np.array([np.nan, 0.0]), 1) == 0.0


def test_ranking_metrics_skip_trivial_queries_and_pool_leaders():
    t = pd.DataFrame({
        "cutoff": 1, "group_id": ["solo", "zero", "zero", "q", "q", "q", "q"],
        "s": [1.0, 2, 1, 4, 3, 2, 1],
        "relevance": [3, 0, 0, 0, 2, 1, 0],
        "top_decile": [True, False, False, False, True, False, False],
        "leader": [True, True, False, False, False, False, True]})
    m = ranking_metrics(t, "s", leader="leader", k=2)
    assert m["n_queries"] == 1.0  # "solo" has one member, "zero" no relevance
    assert m["ndcg@5"] == pytest.approx(ndcg_score([[0, 3, 1, 0]], [[4, 3, 2, 1]], k=5))
    assert m["precision@k"] == 0.5 and m["recall@k"] == 1.0
    assert m["leader_recall"] == 0.5  # "zero"'s leader is ranked first, "q"'s last; "solo" skipped
    empty = ranking_metrics(t.loc[t["group_id"] == "solo"], "s")
    assert math.isnan(empty["ndcg@10"]) and empty["n_queries"] == 0.0


def test_rank_within_breaks_ties_by_member_id_whatever_the_row_order():
    t = pd.DataFrame({"cutoff": 1, "group_id": ["g", "g", "g", "h", "h"],
                      "member_id": ["m3", "m1", "m2", "z", "a"], "s": [1.0, 1.0, 2.0, 0.0, 0.0]})
    assert rank_within(t, "s").tolist() == [3, 2, 1, 2, 1]
    shuffled = t.sample(frac=1, random_state=3)
    ranks = pd.Series(rank_within(t, "s"), index=t.index)
    assert rank_within(shuffled, "s").tolist() == ranks.loc[shuffled.index].tolist()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([1, 2]), st.sampled_from(["g", "h", "gg"]),
                          st.text("abé", min_size=1, max_size=3),
                          st.one_of(st.just(float("nan")), st.sampled_from([0.0, -0.0, 1.0, 2.5]))),
                min_size=0, max_size=25, unique_by=lambda r: (r[0], r[1], r[2])))
def test_rank_within_equals_a_sort_by_query_then_score_then_member(rows):
    """The integer lexsort gives the ranks of a plain sort (missing scores last)."""
    t = pd.DataFrame(rows, columns=["cutoff", "group_id", "member_id", "s"])
    t["group_id"] = t["group_id"].astype("category")
    got = rank_within(t, "s")
    ref = t.assign(g=t["group_id"].astype(str), neg=-t["s"].fillna(-np.inf))
    ref = ref.sort_values(["cutoff", "g", "neg", "member_id"], kind="stable")
    ref["rank"] = ref.groupby(["cutoff", "g"]).cumcount() + 1
    assert got.tolist() == ref["rank"].reindex(t.index).tolist()


# --------------------------------------------------------------------------- candidates
def test_candidate_table_ranks_and_explains(seed):
    rng = np.random.default_rng(seed)
    n_groups, size = 30, 12
    frame = pd.DataFrame({
        "group_id": np.repeat([f"g{i:02d}" for i in range(n_groups)], size),
        "member_id": [f"m{i:03d}" for i in range(n_groups * size)],
        "cutoff": pd.Timestamp("2024-03-01", tz="UTC"),
        "partners_in": rng.poisson(3, n_groups * size).astype(float),
        "noise": rng.normal(size=n_groups * size),
        "constant": 1.0})
    y = np.minimum(frame["partners_in"].to_numpy() // 2, 4).astype(int)
    model = KolRanker(n_estimators=30, min_child_samples=5, n_jobs=1).fit(
        frame[["partners_in", "noise", "constant"]], y, group=[size] * n_groups)
    frame["noise"] = 0.0  # ties in score within a group, to be broken by member id
    cand = kol_candidates(model, frame.sample(frac=1, random_state=seed))
    assert list(cand.columns) == ["group_id", "member_id", "cutoff", "score", "rank", "feature_1",
                                  "feature_2", "feature_3"]
    assert len(cand) == len(frame)
    for _, block in cand.groupby("group_id"):
        assert block["rank"].tolist() == list(range(1, size + 1))
        assert (np.diff(block["score"].to_numpy()) <= 0).all()
        tied = block.loc[block["score"].duplicated(keep=False)]
        for _, same in tied.groupby("score"):
            assert same["member_id"].tolist() == sorted(same["member_id"].tolist())
    contrib = model.contributions(frame.set_index("member_id").loc[cand["member_id"],
                                                                   ["partners_in", "noise", "constant"]])
    top = cand["feature_1"].to_numpy()
    has = pd.notna(top)
    assert has.any()
    best = contrib.drop(columns="expected_value").idxmax(axis=1).to_numpy()
    assert (top[has] == best[has]).all()
    assert cand["feature_3"].isna().all() or set(cand["feature_3"].dropna()) <= {"partners_in", "noise"}
    assert "constant" not in set(cand[["feature_1", "feature_2", "feature_3"]].stack())  # never raises it
    short = kol_candidates(model, frame, top_n=2)
    assert len(short) == 2 * n_groups and set(short["rank"]) == {1, 2}
    with pytest.raises(ValueError, match="features lack columns the model needs: \\['noise'\\]"):
        kol_candidates(model, frame.drop(columns="noise"))


# --------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("kol_world")
    simulate(SimulationConfig(n_members=1500, n_groups=12, days=150, seed=3), out)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ev = read_events(out / "events.parquet")
    return out, ev, read_members(out / "members.parquet"), read_groups(out / "groups.parquet")


@pytest.fixture(scope="module")
def result(world):
    out, ev, members, groups = world
    last = pd.Timestamp("2024-05-30", tz="UTC") - pd.Timedelta(days=HORIZON)  # windows end in the data
    cuts = rolling_cutoffs("2024-01-22", last, 7)
    spec = KolModelSpec(label={"horizon_days": HORIZON}, params={"n_jobs": 1})
    return evaluate_kol(ev, cuts, HORIZON, members=members, groups=groups, truth_dir=out,
                        model_spec=spec, n_validation=2, n_test=3)


def test_every_model_is_scored_on_the_same_test_queries(result):
    table = result.table
    assert list(table.index) == ["lightgbm_ranker", *BASELINES, "oracle"]
    assert list(table.columns) == ["ndcg@5", "ndcg@10", "precision@k", "recall@k", "leader_recall",
                                   "ndcg_vs_oracle", "n_queries"]
    assert table["n_queries"].nunique() == 1 and table["n_queries"].iloc[0] >= 25
    for name, row in table.drop(columns="n_queries").iterrows():
        assert row.between(0, 1.5).all(), name
    assert (table.drop(columns=["n_queries", "ndcg_vs_oracle"]) <= 1).all().all()
    assert table.loc["oracle", "ndcg_vs_oracle"] == 1.0
    assert result.oracle_coverage == 1.0
    split = result.split
    assert max(split.train) + pd.Timedelta(days=HORIZON) <= min(split.validation)
    assert max(split.validation) + pd.Timedelta(days=HORIZON) <= min(split.test)
    assert result.queries["test"] == result.candidates.groupby(["cutoff", "group_id"],
                                                               observed=True).ngroups


def test_the_ranker_beats_the_message_count(result):
    table = result.table
    assert table.loc["lightgbm_ranker", "ndcg@10"] > table.loc["message_count", "ndcg@10"]
    # the truth carries the signal: ranking by true expected replies beats counting messages
    assert table.loc["oracle", "ndcg@10"] > table.loc["message_count", "ndcg@10"]


def test_leader_recall_tells_rankings_apart(result):
    """Past recognition finds the planted leaders well above chance (a constant score)."""
    chance = ranking_metrics(result.scores.assign(constant=0.0), "constant", leader="truth_leader")
    assert 0 < chance["leader_recall"] < 0.3
    for name in ("reply_partners", "pagerank", "oracle"):
        assert result.table.loc[name, "leader_recall"] > 1.5 * chance["leader_recall"], name


def test_markdown_states_split_rows_and_table(result):
    text = result.markdown("small world")
    assert text.startswith("### small world")
    assert "horizon 28 days" in text and "rows / query groups" in text
    assert "| lightgbm_ranker |" in text and "| oracle |" in text and "| message_count |" in text


def test_evaluation_refuses_a_spec_with_another_horizon(world):
    out, ev, members, groups = world
    with pytest.raises(ValueError, match="horizon \\(14 days\\) differs from the evaluation's \\(28 days\\)"):
        evaluate_kol(ev, rolling_cutoffs("2024-02-01", "2024-04-01", 7), 28,
                     model_spec=KolModelSpec(label={"horizon_days": 14}))


def test_query_sizes_and_candidates_agree_on_the_test_fold(result):
    cand = result.candidates
    rows, sizes = query_sizes(cand)
    assert sizes.max() <= result.k and (rows["rank"] <= result.k).all()


def test_kol_command_prints_the_table_and_writes_candidates(world, tmp_path, capsys):
    from shequn_ml.cli import main

    out, *_ = world
    spec = Path(__file__).resolve().parents[1] / "models" / "kol.yaml"
    candidates = tmp_path / "candidates.parquet"
    code = main(["kol", "--data", str(out), "--spec", str(spec), "--from", "2024-01-22",
                 "--to", "2024-05-02", "--candidates", str(candidates), "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "| lightgbm_ranker |" in printed and "| oracle |" in printed
    table = pd.read_parquet(candidates)
    assert {"group_id", "member_id", "cutoff", "score", "rank", "feature_1"} <= set(table.columns)
    ranks = table.groupby(["group_id", "cutoff"], observed=True)["rank"]
    assert (ranks.min() == 1).all() and (ranks.max() == ranks.size()).all()
