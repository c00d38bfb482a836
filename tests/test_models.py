"""The estimator contract for every public model, and what each model promises."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import log_loss
from sklearn.pipeline import make_pipeline

from shequn_ml.metrics import classification_metrics, expected_calibration_error
from shequn_ml.models import ChurnModel, RecencyRule, RFMLogistic, SilenceModel


def synthetic(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Features shaped like the library's, with a known risk function."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({
        "days_since_speak": rng.exponential(8, n),
        "speak_count_30d": rng.poisson(5, n).astype(float),
        "speak_count_90d": rng.poisson(15, n).astype(float),
        "active_days_30d": rng.integers(0, 30, n).astype(float),
        "spend_90d": rng.gamma(1, 20, n),
        "tenure_days": rng.uniform(1, 200, n),
        "noise": rng.normal(size=n),
    })
    logit = -1.0 + 0.25 * X["days_since_speak"] - 0.3 * X["speak_count_30d"] \
        + 1.5 * np.sin(X["tenure_days"] / 30)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


@pytest.fixture(scope="module")
def data():
    X, y = synthetic(6000, 0)
    return X[:4000], y[:4000], X[4000:5000], y[4000:5000], X[5000:], y[5000:]


ESTIMATORS = [SilenceModel(n_estimators=80), SilenceModel(n_estimators=80, start="linear"),
              ChurnModel(n_estimators=80),
              ChurnModel(n_estimators=40, num_leaves=[3, 15]), RecencyRule(), RFMLogistic()]


def _fit(est, data):
    Xtr, ytr, Xva, yva, _, _ = data
    if isinstance(est, SilenceModel | ChurnModel):
        return est.fit(Xtr, ytr, X_val=Xva, y_val=yva)
    return est.fit(Xtr, ytr)


@pytest.mark.parametrize("est", ESTIMATORS, ids=lambda e: f"{type(e).__name__}"
                         f"{'-leaf-search' if isinstance(getattr(e, 'num_leaves', 0), list) else ''}")
def test_estimator_contract(est, data):
    _, _, _, _, Xte, _ = data
    params = est.get_params()
    fresh = clone(est)
    assert fresh.get_params() == params
    with pytest.raises(NotFittedError):
        fresh.predict_proba(Xte)
    assert _fit(fresh, data) is fresh
    assert fresh.get_params() == params  # fit changed no parameter
    p = fresh.predict_proba(Xte)
    assert p.shape == (len(Xte), 2) and np.allclose(p.sum(axis=1), 1)
    assert ((p >= 0) & (p <= 1)).all()
    # pickles and round-trips to the same scores
    back = pickle.loads(pickle.dumps(fresh))
    np.testing.assert_array_equal(back.predict_proba(Xte), p)
    # same seed, same result
    np.testing.assert_array_equal(_fit(clone(est), data).predict_proba(Xte), p)
    # column order does not matter
    np.testing.assert_allclose(fresh.predict_proba(Xte[Xte.columns[::-1]]), p)


def test_lightgbm_model_beats_rules_and_is_calibrated(data):
    Xtr, ytr, Xva, yva, Xte, yte = data
    m = SilenceModel(random_state=1).fit(Xtr, ytr, X_val=Xva, y_val=yva)
    lgbm = classification_metrics(yte, m.predict_proba(Xte)[:, 1])
    rule = classification_metrics(yte, RecencyRule().fit(Xtr, ytr).predict_proba(Xte)[:, 1])
    assert lgbm["roc_auc"] > rule["roc_auc"] + 0.02
    assert m.calibrated_ and m.best_iteration_ < m.n_estimators  # early stopping happened
    assert lgbm["ece"] < 0.05
    # without calibration, class weighting inflates risk: calibration must reduce the error
    raw = SilenceModel(random_state=1, calibration=None).fit(Xtr, ytr, X_val=Xva, y_val=yva)
    assert expected_calibration_error(yte, raw.predict_proba(Xte)[:, 1]) > lgbm["ece"]


def test_decision_function_is_the_raw_tree_score(data):
    Xtr, ytr, Xva, yva, Xte, _ = data
    m = ChurnModel(n_estimators=50).fit(Xtr, ytr, X_val=Xva, y_val=yva)
    raw = m.decision_function(Xte)
    contrib = m.booster_.predict(Xte, pred_contrib=True, num_iteration=m.best_iteration_)
    np.testing.assert_allclose(contrib.sum(axis=1), raw, atol=1e-9)


def test_categorical_features_are_native(data):
    Xtr, ytr, Xva, yva, Xte, _ = data
    cats = pd.CategoricalDtype(["free", "paid"])
    add = lambda X: X.assign(kind=pd.Series(np.where(X["noise"] > 0, "paid", "free"),  # noqa: E731
                                            index=X.index).astype(cats))
    m = SilenceModel(n_estimators=30).fit(add(Xtr), ytr, X_val=add(Xva), y_val=yva)
    assert m.categorical_features_ == ["kind"]
    assert m.predict_proba(add(Xte)).shape[0] == len(Xte)


def test_input_errors_say_what_was_expected(data):
    Xtr, ytr, Xva, yva, _, _ = data
    with pytest.raises(TypeError, match="X must be a pandas DataFrame of features; got ndarray"):
        SilenceModel().fit(Xtr.to_numpy(), ytr)
    with pytest.raises(ValueError, match="y must hold 0/1 labels; got values"):
        SilenceModel().fit(Xtr, ytr * 2)
    with pytest.raises(ValueError, match="y has only the label 0"):
        SilenceModel().fit(Xtr, np.zeros(len(Xtr), int))
    with pytest.raises(ValueError, match=r"columns differ from those seen in fit: missing \['noise'\]"):
        m = SilenceModel(n_estimators=5).fit(Xtr, ytr)
        m.predict_proba(Xtr.drop(columns="noise"))
    with pytest.raises(ValueError, match="The 'calibration' parameter of SilenceModel must be"):
        SilenceModel(calibration="platt").fit(Xtr, ytr, X_val=Xva, y_val=yva)
    with pytest.raises(TypeError, match=r"numeric or categorical; got 'name' \("):
        SilenceModel().fit(Xtr.assign(name="x"), ytr)


def test_works_inside_a_pipeline(data):
    Xtr, ytr, _, _, Xte, _ = data
    pipe = make_pipeline(RecencyRule())
    assert pipe.fit(Xtr, ytr).predict_proba(Xte).shape == (len(Xte), 2)


def test_no_validation_means_no_calibration(data):
    Xtr, ytr, _, _, Xte, _ = data
    m = SilenceModel(n_estimators=20).fit(Xtr, ytr)
    assert not m.calibrated_ and m.best_iteration_ == 20


def test_leaf_candidates_keep_the_best_validation_auc(data):
    from sklearn.metrics import roc_auc_score

    Xtr, ytr, Xva, yva, Xte, _ = data
    m = ChurnModel(n_estimators=60, num_leaves=[15, 2, 7]).fit(Xtr, ytr, X_val=Xva, y_val=yva)
    assert sorted(m.num_leaves_search_) == [2, 7, 15]
    aucs = {k: v["validation_roc_auc"] for k, v in m.num_leaves_search_.items()}
    assert m.num_leaves_ == max(aucs, key=aucs.get)
    # each candidate's recorded AUC is that of a model fitted alone with its size
    for leaves, found in m.num_leaves_search_.items():
        alone = ChurnModel(n_estimators=60, num_leaves=leaves, calibration=None).fit(
            Xtr, ytr, X_val=Xva, y_val=yva)
        assert alone.best_iteration_ == found["trees"]
        assert roc_auc_score(yva, alone.predict_proba(Xva)[:, 1]) == pytest.approx(
            found["validation_roc_auc"], abs=1e-12)
        if leaves == m.num_leaves_:  # and the kept model is that model
            np.testing.assert_array_equal(alone.decision_function(Xte), m.decision_function(Xte))
    dumped = m.booster_.dump_model()["tree_info"]
    assert max(t["num_leaves"] for t in dumped) <= m.num_leaves_


def test_leaf_candidates_tie_keeps_the_smaller_trees(data):
    Xtr, ytr, Xva, yva, _, _ = data
    # 1,000 rows per leaf at least: 4,000 rows allow 4 leaves, so 7 and 15 grow the same trees
    m = ChurnModel(n_estimators=30, num_leaves=[15, 7], min_child_samples=1000).fit(
        Xtr, ytr, X_val=Xva, y_val=yva)
    found = m.num_leaves_search_
    assert found[7] == found[15] and m.num_leaves_ == 7


def test_leaf_candidates_need_a_validation_fold(data):
    Xtr, ytr, _, _, _, _ = data
    with pytest.raises(ValueError, match=r"num_leaves=\[7, 15\] lists candidates.*pass X_val"):
        ChurnModel(num_leaves=[7, 15]).fit(Xtr, ytr)
    with pytest.raises(ValueError, match="must be an int >= 2 or a non-empty list"):
        ChurnModel(num_leaves=[1, 7]).fit(Xtr, ytr)
    m = ChurnModel(n_estimators=10, num_leaves=[5]).fit(Xtr, ytr)  # one candidate: no choice to make
    assert m.num_leaves_ == 5 and m.num_leaves_search_ == {}


def test_model_spec_files_load_and_build(tmp_path):
    from pathlib import Path

    from shequn_ml.features import SpecError
    from shequn_ml.models.spec import load_model_spec

    repo = Path(__file__).resolve().parents[1]
    silence = load_model_spec(repo / "models" / "silence.yaml")
    churn = load_model_spec(repo / "models" / "churn.yaml")
    assert isinstance(silence.build(), SilenceModel) and isinstance(churn.build(), ChurnModel)
    assert churn.build().get_params()["num_leaves"] == [7, 15]
    assert silence.label.horizon_days == 14 and silence.label.population == "active"
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: silence\nname: x\nparams:\n  num_leafs: 3\n  learning_rate: -1\n")
    with pytest.raises(SpecError) as info:
        load_model_spec(bad)
    assert f"{bad}: " in str(info.value)
    assert "key 'params.num_leafs': Extra inputs are not permitted" in str(info.value)
    assert "key 'params.learning_rate': Input should be greater than 0" in str(info.value)


# ---------------------------------------------------------------- calibration maps
def _distorted(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Raw scores distorted the way class weighting and trees distort them: odds x3,
    then bent more near 0 than near 1; labels drawn from the true probabilities."""
    q = rng.uniform(0.02, 0.98, n)
    odds = 3 * q / (1 - q)
    return (odds / (1 + odds)) ** 0.7, (rng.random(n) < q).astype(int)


@pytest.mark.parametrize("method", ["sigmoid", "beta", "isotonic"])
def test_each_calibration_map_is_monotone_and_undoes_a_known_distortion(method):
    from shequn_ml.models._classifier import fit_calibrator

    rng = np.random.default_rng(0)
    raw, y = _distorted(5000, rng)
    raw_held, y_held = _distorted(100_000, rng)
    assert expected_calibration_error(y_held, raw_held) > 0.2
    cal = fit_calibrator(method, raw, y)
    assert expected_calibration_error(y_held, cal.predict(raw_held)) < 0.02
    grid = np.linspace(0, 1, 2001)
    assert (np.diff(cal.predict(grid)) >= 0).all(), "calibration must never reorder members"


def test_beta_calibration_stays_non_decreasing_when_the_data_is_not():
    from shequn_ml.models._classifier import LogisticCalibrator

    rng = np.random.default_rng(1)
    p = rng.random(20_000)
    grid = np.linspace(0, 1, 2001)
    hump = (rng.random(len(p)) < 4 * p * (1 - p)).astype(int)  # rises, then falls
    c = LogisticCalibrator("beta").fit(p, hump)
    assert (c.coef_ >= 0).all() and c.coef_[1] == 0  # the falling part is dropped, not fitted
    assert (np.diff(c.predict(grid)) >= 0).all()
    falling = (rng.random(len(p)) < 1 - p).astype(int)
    for kind in ("beta", "sigmoid"):
        c = LogisticCalibrator(kind).fit(p, falling)
        q = c.predict(grid)
        assert (c.coef_ == 0).all() and np.allclose(q, falling.mean()), kind  # the base rate


def test_auto_calibration_picks_the_best_cross_validated_map(data):
    Xtr, ytr, Xva, yva, _, _ = data
    X_held, y_held = synthetic(40_000, 1)  # a large held-out fold from the same world
    m = SilenceModel(random_state=1).fit(Xtr, ytr, X_val=Xva, y_val=yva)
    assert m.get_params()["calibration"] == "auto"
    scores = m.calibration_cv_log_loss_
    assert set(scores) == {"sigmoid", "beta", "isotonic"}
    assert m.calibration_method_ == min(scores, key=scores.get)
    p = m.predict_proba(X_held)[:, 1]
    order = np.argsort(m.decision_function(X_held), kind="stable")
    assert (np.diff(p[order]) >= 0).all(), "calibrated risk must be monotone in the raw score"
    raw = SilenceModel(random_state=1, calibration=None).fit(Xtr, ytr, X_val=Xva, y_val=yva)
    ece_raw = expected_calibration_error(y_held, raw.predict_proba(X_held)[:, 1])
    ece_cal = expected_calibration_error(y_held, p)
    assert ece_cal < 0.025 and ece_cal < ece_raw / 2, (ece_cal, ece_raw)


def test_auto_calibration_on_a_tiny_validation_fold_uses_the_simplest_map(data):
    Xtr, ytr, Xva, yva, _, _ = data
    yva = np.asarray(yva)
    few = np.r_[np.flatnonzero(yva == 1)[:3], np.flatnonzero(yva == 0)[:40]]
    m = SilenceModel(n_estimators=30, early_stopping_rounds=None).fit(
        Xtr, ytr, X_val=Xva.iloc[few], y_val=yva[few])
    assert m.calibration_method_ == "sigmoid" and m.calibrated_


# ---------------------------------------------------------------- linear start (issue 17)
def test_linear_start_trees_correct_what_the_linear_model_misses(data):
    """The synthetic risk has a sine of tenure a linear model cannot fit: trees must add it."""
    Xtr, ytr, Xva, yva, Xte, yte = data
    m = SilenceModel(start="linear", random_state=0).fit(Xtr, ytr, X_val=Xva, y_val=yva)
    alone = m.start_.decision_function(Xte)
    assert m.best_iteration_ > 0
    from sklearn.metrics import roc_auc_score
    assert roc_auc_score(yte, m.predict_proba(Xte)[:, 1]) > roc_auc_score(yte, alone) + 0.01
    # the start's coefficients have the known signs (log-scaled recency up, frequency down)
    coef = dict(zip(m.start_.columns_, m.start_.coef_, strict=True))
    assert coef["days_since_speak"] > 0 and coef["speak_count_30d"] < 0


def test_linear_start_keeps_no_tree_when_none_helps():
    """What the trees learn on the training rows reverses on the validation rows: no tree is kept."""
    rng = np.random.default_rng(3)
    n = 3000
    X = pd.DataFrame({"days_since_speak": rng.exponential(6, n), "noise": rng.normal(size=n)})
    z = -1.0 + 0.8 * np.log1p(X["days_since_speak"]) + 1.5 * np.sign(X["noise"]) * (X.index < 2000)
    z = z - 1.5 * np.sign(X["noise"]) * (X.index >= 2000)
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    m = SilenceModel(start="linear", calibration=None).fit(X[:2000], y[:2000], X_val=X[2000:],
                                                           y_val=y[2000:])
    assert m.best_iteration_ == 0
    np.testing.assert_allclose(m.decision_function(X[2000:]), m.start_.decision_function(X[2000:]))
    from shequn_ml.explain import shap_values
    ex = shap_values(m, X[2000:2050])
    np.testing.assert_allclose(ex.values.sum(axis=1) + ex.expected_value,
                               m.decision_function(X[2000:2050]), atol=1e-9)
    assert ex.expected_value == pytest.approx(m.start_.intercept_)


def test_linear_start_shap_values_add_up_with_trees(data):
    Xtr, ytr, Xva, yva, Xte, _ = data
    from shequn_ml.explain import shap_values
    m = SilenceModel(start="linear", n_estimators=60).fit(Xtr, ytr, X_val=Xva, y_val=yva)
    ex = shap_values(m, Xte[:200])
    np.testing.assert_allclose(ex.values.sum(axis=1) + ex.expected_value, m.decision_function(Xte[:200]),
                               atol=1e-6)
    lin, base = m.linear_contributions(Xte[:200])
    assert base == pytest.approx(m.start_.intercept_) and not np.allclose(lin.to_numpy(), 0)


def test_linear_start_handles_missing_and_constant_columns(data):
    Xtr, ytr, Xva, yva, Xte, _ = data
    add = lambda X: X.assign(days_to_expiry=np.where(X["noise"] > 0.5, np.nan, 3.0),  # noqa: E731
                             constant=1.0)
    m = SilenceModel(start="linear", n_estimators=30).fit(add(Xtr), ytr, X_val=add(Xva), y_val=yva)
    assert "constant" not in m.start_.columns_
    assert np.isfinite(m.predict_proba(add(Xte))[:, 1]).all()


@pytest.mark.parametrize("bad, match", [({"start": "spline"}, "'start' parameter of SilenceModel must be"),
                                        ({"start": "linear", "start_C": 0}, "'start_C' parameter")])
def test_linear_start_parameters_are_checked(data, bad, match):
    Xtr, ytr, Xva, yva, _, _ = data
    with pytest.raises(ValueError, match=match):
        SilenceModel(**bad).fit(Xtr, ytr, X_val=Xva, y_val=yva)


def test_linear_start_leaves_group_level_features_to_the_trees(data):
    Xtr, ytr, Xva, yva, Xte, _ = data
    # a group-level column that, as in a one-group community, only tracks time (and the label)
    add = lambda X, y: X.assign(group_activity_trend=np.where(y == 1, 1.0, 0.0)  # noqa: E731
                                + np.random.default_rng(0).normal(0, 0.5, len(X)))
    m = SilenceModel(start="linear", n_estimators=40).fit(add(Xtr, ytr), ytr, X_val=add(Xva, yva),
                                                          y_val=yva)
    assert "group_activity_trend" not in m.start_.columns_
    assert set(m.start_.columns_) == set(Xtr.columns)  # every member-level column kept
    lin, _ = m.linear_contributions(add(Xte, np.zeros(len(Xte))))
    assert (lin["group_activity_trend"] == 0).all()
    # the trees still see it
    assert "group_activity_trend" in m.booster_.feature_name()


def test_sample_weight_reweights_the_start_and_the_trees(data):
    Xtr, ytr, Xva, yva, Xte, _ = data
    plain = SilenceModel(start="linear", n_estimators=40).fit(Xtr, ytr, X_val=Xva, y_val=yva)
    ones = SilenceModel(start="linear", n_estimators=40).fit(Xtr, ytr, X_val=Xva, y_val=yva,
                                                             sample_weight=np.full(len(Xtr), 3.0))
    # weights are rescaled to mean 1: a constant weight changes nothing
    np.testing.assert_allclose(plain.predict_proba(Xte), ones.predict_proba(Xte), atol=1e-9)
    # weight only the rows where the label is 1: the start's base rate moves up
    w = np.where(np.asarray(ytr) == 1, 1.0, 0.2)
    tilted = SilenceModel(start="linear", n_estimators=40).fit(Xtr, ytr, X_val=Xva, y_val=yva,
                                                               sample_weight=w)
    assert tilted.start_.intercept_ > plain.start_.intercept_


@pytest.mark.parametrize("weight, match", [(np.ones(3), "one finite non-negative weight per row"),
                                           ("neg", "one finite non-negative weight per row"),
                                           ("zero", "not all zero")])
def test_sample_weight_is_checked(data, weight, match):
    Xtr, ytr, _, _, _, _ = data
    w = {"neg": -np.ones(len(Xtr)), "zero": np.zeros(len(Xtr))}.get(weight, weight) \
        if isinstance(weight, str) else weight
    with pytest.raises(ValueError, match=match):
        SilenceModel(n_estimators=5).fit(Xtr, ytr, sample_weight=w)


def test_training_weights_share_a_members_weight_and_halve_with_age():
    from shequn_ml.models.spec import WeightSpec, training_weights

    cut = pd.to_datetime(["2024-01-01", "2024-01-08", "2024-01-15", "2024-01-15"])
    member = ["a", "a", "a", "b"]
    assert training_weights(cut, member, WeightSpec()) is None
    np.testing.assert_allclose(training_weights(cut, member, WeightSpec(per_member=True)),
                               [1 / 3, 1 / 3, 1 / 3, 1.0])
    np.testing.assert_allclose(training_weights(cut, member, WeightSpec(recency_half_life_days=14)),
                               [0.5, 0.5 ** 0.5, 1.0, 1.0])


def test_committed_silence_spec_weights_members_equally():
    from pathlib import Path

    from shequn_ml.models.spec import load_model_spec

    spec = load_model_spec(Path(__file__).resolve().parents[1] / "models" / "silence.yaml")
    assert spec.weights.per_member and spec.weights.recency_half_life_days is None


def _bgnbd_rows(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Members drawn from BG/NBD, as the engagement columns, labelled silent over 28 days."""
    from shequn_ml.models.btyd import simulate_bgnbd

    rng = np.random.default_rng(seed)
    s = simulate_bgnbd(rng.uniform(20, 300, n), r=0.6, alpha=4.0, a=0.8, b=2.5, t_future=28,
                       random_state=seed)
    X = pd.DataFrame({"days_since_first_speak": s["T"], "active_days_total": s["frequency"] + 1.0,
                      "days_since_speak": s["T"] - s["recency"], "noise": rng.normal(size=n)})
    return X, (s["future"] == 0).to_numpy(dtype=int)


def test_btyd_start_reads_bgnbd_signals_and_its_shap_values_add_up():
    from shequn_ml.explain import shap_values
    from shequn_ml.models._classifier import BTYD_INPUTS

    X, y = _bgnbd_rows(6000, 1)
    tr, va, te = slice(0, 3000), slice(3000, 4500), slice(4500, None)
    btyd = SilenceModel(start="linear_btyd", n_estimators=60).fit(X[tr], y[tr], X_val=X[va], y_val=y[va])
    plain = SilenceModel(start="linear", n_estimators=60).fit(X[tr], y[tr], X_val=X[va], y_val=y[va])
    assert btyd.start_.btyd_ is not None and btyd.start_.n_signals_ == 2
    # the start alone: BG/NBD's own quantities describe these members better than log-scaled columns
    loss = lambda m: log_loss(y[te], 1 / (1 + np.exp(-m.start_.decision_function(X[te]))))  # noqa: E731
    assert loss(btyd) < loss(plain)
    ex = shap_values(btyd, X[te][:300])
    np.testing.assert_allclose(ex.values.sum(axis=1) + ex.expected_value,
                               btyd.decision_function(X[te][:300]), atol=1e-6)
    lin, base = btyd.linear_contributions(X[te][:300])
    np.testing.assert_allclose(lin.sum(axis=1) + base, btyd.start_.decision_function(X[te][:300]),
                               atol=1e-9)
    assert set(lin.columns[np.abs(lin).sum() > 0]) <= set(BTYD_INPUTS) | {"noise"}


def test_btyd_start_without_its_columns_is_the_linear_start(data):
    Xtr, ytr, Xva, yva, Xte, _ = data
    a = SilenceModel(start="linear_btyd", n_estimators=30).fit(Xtr, ytr, X_val=Xva, y_val=yva)
    b = SilenceModel(start="linear", n_estimators=30).fit(Xtr, ytr, X_val=Xva, y_val=yva)
    assert a.start_.btyd_ is None
    np.testing.assert_allclose(a.predict_proba(Xte), b.predict_proba(Xte))


def test_start_candidates_are_chosen_on_validation_auc(data):
    Xtr, ytr, Xva, yva, Xte, _ = data
    m = SilenceModel(start=["rfm", "linear"], n_estimators=40).fit(Xtr, ytr, X_val=Xva, y_val=yva)
    assert set(m.start_search_) == {"rfm", "linear"}
    best = max(m.start_search_, key=lambda k: m.start_search_[k]["validation_roc_auc"])
    assert m.start_chosen_ == best
    # the chosen candidate is the model: refitting with it alone gives the same scores
    alone = SilenceModel(start=best, n_estimators=40).fit(Xtr, ytr, X_val=Xva, y_val=yva)
    np.testing.assert_allclose(m.predict_proba(Xte), alone.predict_proba(Xte))
    rfm = SilenceModel(start="rfm", n_estimators=40).fit(Xtr, ytr, X_val=Xva, y_val=yva)
    assert "noise" not in rfm.start_.columns_ and "days_since_speak" in rfm.start_.columns_


@pytest.mark.parametrize("start, match", [
    (["linear", "spline"], r"'start' parameter of SilenceModel must be one of None, 'linear'"),
    ([], r"or a non-empty list of them")])
def test_start_candidates_are_checked(data, start, match):
    Xtr, ytr, Xva, yva, _, _ = data
    with pytest.raises(ValueError, match=match):
        SilenceModel(start=start).fit(Xtr, ytr, X_val=Xva, y_val=yva)


def test_start_candidates_need_a_validation_fold(data):
    Xtr, ytr, _, _, _, _ = data
    with pytest.raises(ValueError, match="lists candidates to choose between on the validation fold"):
        SilenceModel(start=["linear", "rfm"]).fit(Xtr, ytr)
