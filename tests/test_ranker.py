"""KolRanker: the estimator contract, query-group checks, and the model spec.

The models here use one thread: on small data it is as fast, and LightGBM's OpenMP threads
slow down by two orders of magnitude when the machine's cores are busy with other work.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from shequn_ml.features.spec import SpecError
from shequn_ml.models._ranker import KolModelSpec, KolRanker, load_kol_spec, query_sizes
from shequn_ml.ranking import ranking_metrics

REPO = Path(__file__).resolve().parents[1]


def synthetic(n_queries: int, seed: int, size: tuple[int, int] = (5, 60)):
    """Query groups of members whose influence grade follows a known function of the features."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(size[0], size[1], n_queries)
    n = int(sizes.sum())
    X = pd.DataFrame({
        "speak_count_30d": rng.poisson(5, n).astype(float),
        "partners_in": rng.poisson(2, n).astype(float),
        "resonance": rng.gamma(1.0, 0.5, n),
        "noise": rng.normal(size=n),
    })
    latent = np.log1p(X["speak_count_30d"]) * (0.5 + X["resonance"]) + 0.3 * X["partners_in"] \
        + rng.normal(0, 0.5, n)
    y = np.digitize(latent, [1.5, 2.5, 3.5, 4.5]).astype(int)
    return X, y, sizes


@pytest.fixture(scope="module")
def data():
    X, y, sizes = synthetic(120, 0)
    cut = np.cumsum(sizes)
    tr, va = cut[79], cut[99]
    return ((X[:tr], y[:tr], sizes[:80]), (X[tr:va], y[tr:va], sizes[80:100]),
            (X[va:], y[va:], sizes[100:]))


def _fit(est, data):
    (Xtr, ytr, gtr), (Xva, yva, gva), _ = data
    return est.fit(Xtr, ytr, group=gtr, X_val=Xva, y_val=yva, group_val=gva)


def test_estimator_contract(data, seed):
    est = KolRanker(n_estimators=60, random_state=seed, n_jobs=1)
    Xte = data[2][0]
    params = est.get_params()
    fresh = clone(est)
    assert fresh.get_params() == params
    with pytest.raises(NotFittedError):
        fresh.predict(Xte)
    assert _fit(fresh, data) is fresh
    assert fresh.get_params() == params  # fit changed no parameter
    assert 1 <= fresh.best_iteration_ <= 60 and "ndcg@10" in fresh.best_score_
    p = fresh.predict(Xte)
    assert p.shape == (len(Xte),) and np.isfinite(p).all()
    back = pickle.loads(pickle.dumps(fresh))
    np.testing.assert_array_equal(back.predict(Xte), p)
    np.testing.assert_array_equal(_fit(clone(est), data).predict(Xte), p)  # same seed, same result
    np.testing.assert_allclose(fresh.predict(Xte[Xte.columns[::-1]]), p)  # column order irrelevant
    contrib = fresh.contributions(Xte)
    np.testing.assert_allclose(contrib.sum(axis=1), p, atol=1e-6)  # exact TreeSHAP adds up
    with pytest.raises(ValueError, match="columns differ from those seen in fit: missing \\['noise'\\]"):
        fresh.predict(Xte.drop(columns="noise"))


def test_the_ranker_learns_the_order(data):
    model = _fit(KolRanker(n_jobs=1), data)
    Xte, yte, gte = data[2]
    table = pd.DataFrame({"cutoff": 1, "group_id": np.repeat(np.arange(len(gte)), gte),
                          "relevance": yte, "top_decile": yte == 4,
                          "model": model.predict(Xte), "noise": Xte["noise"].to_numpy()})
    learned = ranking_metrics(table, "model")
    assert learned["ndcg@10"] > 0.85
    assert learned["ndcg@10"] > ranking_metrics(table, "noise")["ndcg@10"] + 0.3


def test_refuses_group_sizes_that_do_not_add_up(data):
    (Xtr, ytr, gtr), (Xva, yva, gva), _ = data
    n = len(Xtr)
    with pytest.raises(ValueError, match=f"expected {n - 1} rows from the group sizes, got {n}"):
        KolRanker(n_jobs=1).fit(Xtr, ytr, group=np.r_[gtr[:-1], gtr[-1] - 1])
    with pytest.raises(ValueError, match=r"fit \(validation\): the query group sizes add up to "
                                         f"{len(Xva) + 5} rows, but X has {len(Xva)}"):
        KolRanker(n_jobs=1).fit(Xtr, ytr, group=gtr, X_val=Xva, y_val=yva, group_val=np.r_[gva, 5])
    with pytest.raises(ValueError, match="query group sizes are required"):
        KolRanker(n_jobs=1).fit(Xtr, ytr)
    with pytest.raises(ValueError, match="must be positive integers; got \\[0\\]"):
        KolRanker(n_jobs=1).fit(Xtr, ytr, group=np.r_[gtr, 0])
    with pytest.raises(ValueError, match="needs X_val, y_val and group_val together"):
        KolRanker(n_jobs=1).fit(Xtr, ytr, group=gtr, X_val=Xva, y_val=yva)
    with pytest.raises(ValueError, match="LightGBM's lambdarank takes fewer than 10000"):
        KolRanker(n_jobs=1).fit(pd.DataFrame({"x": np.zeros(10_000)}), np.r_[1, np.zeros(9_999, int)],
                        group=[10_000])


def test_refuses_relevance_it_cannot_learn(data):
    (Xtr, ytr, gtr), _, _ = data
    with pytest.raises(ValueError, match="integer relevance grades 0..30; got \\[31\\]"):
        KolRanker(n_jobs=1).fit(Xtr, np.r_[ytr[:-1], 31], group=gtr)
    with pytest.raises(ValueError, match="got \\[0.5\\]"):
        KolRanker(n_jobs=1).fit(Xtr, np.r_[ytr[:-1], 0.5], group=gtr)
    with pytest.raises(ValueError, match="every relevance grade is 0"):
        KolRanker(n_jobs=1).fit(Xtr, np.zeros(len(Xtr), int), group=gtr)
    with pytest.raises(ValueError, match="one relevance grade per row"):
        KolRanker(n_jobs=1).fit(Xtr, ytr[:-1], group=gtr)
    with pytest.raises(ValueError, match="The 'eval_at' parameter of KolRanker must be an int >= 1"):
        KolRanker(eval_at=0).fit(Xtr, ytr, group=gtr)


def test_query_groups_of_one_or_two_members():
    X, y, sizes = synthetic(200, 3, size=(1, 3))
    assert set(sizes.tolist()) == {1, 2}
    model = KolRanker(n_estimators=20, min_child_samples=5, n_jobs=1).fit(X, y, group=sizes)
    assert model.best_iteration_ == 20  # no validation fold: every tree is used
    assert np.isfinite(model.predict(X)).all()


def test_query_sizes_sorts_rows_into_blocks():
    t = pd.DataFrame({"cutoff": pd.to_datetime(["2024-02-01", "2024-01-01", "2024-01-01", "2024-01-01"]),
                      "group_id": pd.Categorical(["g", "h", "g", "h"]),
                      "member_id": pd.Categorical(["a", "c", "b", "a"]), "x": [1, 2, 3, 4]})
    rows, sizes = query_sizes(t)
    assert rows["x"].tolist() == [3, 4, 2, 1] and sizes.tolist() == [1, 2, 1]
    shuffled, again = query_sizes(t.sample(frac=1, random_state=1))
    pd.testing.assert_frame_equal(shuffled, rows)
    np.testing.assert_array_equal(again, sizes)


def test_model_spec_file_loads_and_builds(tmp_path):
    spec = load_kol_spec(REPO / "models" / "kol.yaml")
    assert spec.task == "kol" and spec.label.label == "influence"
    model = spec.build()
    assert isinstance(model, KolRanker)
    assert model.get_params()["eval_at"] == spec.params.eval_at
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: kol\nparams:\n  n_trees: 3\n", encoding="utf-8")
    with pytest.raises(SpecError, match="bad.yaml: key 'params.n_trees': Extra inputs"):
        load_kol_spec(bad)
    with pytest.raises(ValueError, match="increasing shares in \\(0, 1\\)"):
        KolModelSpec(label={"grade_quantiles": [0.9, 0.5]})


def test_tie_break_orders_only_members_the_trees_score_equally():
    X, y, sizes = synthetic(60, 3)
    cut = int(sizes[:40].sum())
    fit = dict(group=sizes[:40], X_val=X[cut:], y_val=y[cut:], group_val=sizes[40:])
    plain = KolRanker(n_estimators=3, min_child_samples=20, n_jobs=1).fit(X[:cut], y[:cut], **fit)
    broken = KolRanker(n_estimators=3, min_child_samples=20, n_jobs=1,
                       tie_break="partners_in").fit(X[:cut], y[:cut], **fit)
    raw, score = plain.predict(X), broken.predict(X)
    np.testing.assert_array_equal(broken.decision_function(X), raw)  # SHAP explains the trees
    assert np.abs(score - raw).max() < 1e-7
    tied = raw == raw[np.argmax(raw)]
    assert tied.sum() > 1  # three small trees: many equal scores
    order = np.argsort(-score[tied], kind="stable")
    assert np.all(np.diff(X["partners_in"].to_numpy()[tied][order]) <= 0)
    # scores the trees tell apart keep their order
    lo, hi = raw < np.median(raw), raw > np.median(raw)
    assert score[hi].min() > score[lo].max()


def test_tie_break_candidates_are_chosen_on_validation():
    X, y, sizes = synthetic(60, 4)
    X = X.assign(anti=-X["partners_in"])
    cut = int(sizes[:40].sum())
    m = KolRanker(n_estimators=3, min_child_samples=20, n_jobs=1, tie_break=["anti", "partners_in"]).fit(
        X[:cut], y[:cut], group=sizes[:40], X_val=X[cut:], y_val=y[cut:], group_val=sizes[40:])
    assert set(m.tie_break_search_) == {"anti", "partners_in"}
    assert m.tie_break_ == "partners_in"
    assert m.tie_break_search_["partners_in"] > m.tie_break_search_["anti"]


@pytest.mark.parametrize("tie_break, val, match", [
    ("reputation", True, r"'tie_break' parameter of KolRanker must name feature columns; \['reputation'\]"),
    (["noise", "partners_in"], False, "lists candidates to choose between on the validation fold")])
def test_tie_break_is_checked(tie_break, val, match):
    X, y, sizes = synthetic(20, 5)
    cut = int(sizes[:15].sum())
    kw = dict(X_val=X[cut:], y_val=y[cut:], group_val=sizes[15:]) if val else {}
    with pytest.raises(ValueError, match=match):
        KolRanker(n_estimators=3, n_jobs=1, tie_break=tie_break).fit(X[:cut], y[:cut], group=sizes[:15], **kw)
