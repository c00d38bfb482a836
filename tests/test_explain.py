"""SHAP values: exact, additive, equal to the shap package's; reason codes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shequn_ml.explain import (
    Explanation,
    family_importance,
    feature_importance,
    reason_codes,
    render_reason,
    shap_values,
    top_features,
)
from shequn_ml.models import ChurnModel, SilenceModel


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(1)
    n = 3000
    X = pd.DataFrame({
        "days_since_speak": rng.exponential(6, n),
        "speak_count_30d": rng.poisson(5, n).astype(float),
        "benefit_only_share_90d": rng.random(n),
        "partners_quiet_or_left_share": rng.random(n),
        "group_size": rng.integers(5, 500, n).astype(float),
    })
    logit = 0.3 * X.days_since_speak - 0.2 * X.speak_count_30d + 2 * X.benefit_only_share_90d - 2
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    model = SilenceModel(n_estimators=120, random_state=0).fit(X[:2000], y[:2000], X_val=X[2000:],
                                                               y_val=y[2000:])
    return model, X


SHAP_LIST_WARNING = "ignore:LightGBM binary classifier with TreeExplainer:UserWarning"


@pytest.mark.filterwarnings(SHAP_LIST_WARNING)
def test_values_equal_the_shap_packages_tree_explainer(fitted):
    shap = pytest.importorskip("shap")
    model, X = fitted
    ours = shap_values(model, X[:300])
    # the model predicts with its first best_iteration_ trees: give shap exactly those trees
    import lightgbm as lgb

    truncated = lgb.Booster(model_str=model.booster_.model_to_string(
        num_iteration=model.best_iteration_))
    assert truncated.num_trees() == model.best_iteration_ < model.n_estimators
    theirs = shap.TreeExplainer(truncated).shap_values(X[:300])
    theirs = theirs[1] if isinstance(theirs, list) else theirs
    np.testing.assert_allclose(ours.values.to_numpy(), theirs, atol=1e-6)


@pytest.mark.filterwarnings(SHAP_LIST_WARNING)
def test_shap_package_agrees_on_a_full_model():
    shap = pytest.importorskip("shap")
    rng = np.random.default_rng(2)
    X = pd.DataFrame({"a": rng.normal(size=500), "b": rng.normal(size=500)})
    y = (X.a + rng.normal(size=500) > 0).astype(int)
    model = ChurnModel(n_estimators=40, calibration=None, early_stopping_rounds=None).fit(X, y)
    ours = shap_values(model, X)
    theirs = shap.TreeExplainer(model.booster_).shap_values(X)
    theirs = theirs[1] if isinstance(theirs, list) else theirs
    np.testing.assert_allclose(ours.values.to_numpy(), theirs, atol=1e-6)


def test_additivity_on_the_raw_score(fitted):
    model, X = fitted
    ex = shap_values(model, X)
    np.testing.assert_allclose(ex.values.sum(axis=1) + ex.expected_value,
                               model.decision_function(X), atol=1e-6)


def test_reason_codes_are_the_top_positive_signals(fitted):
    model, X = fitted
    ex = shap_values(model, X[:200])
    top = top_features(ex, 3)
    values = ex.values.to_numpy()
    for i in range(200):
        names = [n for n in top.iloc[i] if isinstance(n, str)]
        contrib = ex.values.iloc[i]
        assert all(contrib[n] > 0 for n in names)
        assert len(names) == min(3, int((values[i] > 0).sum()))
        if names:
            assert contrib[names[0]] == contrib.max()
    reasons = reason_codes(ex, X[:200], lang="both")
    assert list(reasons.columns) == ["reason_1", "reason_2", "reason_3"]
    row = int(np.argmax(ex.values["days_since_speak"].to_numpy()))
    assert top.iloc[row, 0] == "days_since_speak"
    days = round(X["days_since_speak"].iloc[row])
    assert reasons.iloc[row, 0] == f"no message for {days} days / {days}天未发言"


def test_every_reason_cell_is_its_feature_rendered_with_the_row_value(fitted):
    model, X = fitted
    X = X[:300].copy()
    X.iloc[::7, X.columns.get_loc("days_since_speak")] = np.nan  # missing values render as "?"
    ex = shap_values(model, X)
    top, reasons = top_features(ex, 3), reason_codes(ex, X, lang="zh")
    for i in range(len(X)):
        for j in range(3):
            name = top.iloc[i, j]
            want = render_reason(name, float(X[name].iloc[i]), "zh") if isinstance(name, str) else ""
            assert reasons.iloc[i, j] == want


def test_rendering_and_rows_without_positive_signals():
    assert render_reason("benefit_only_share_90d", 0.8, "en") == \
        "comes mostly for red packets and coupons (80% of activity)"
    assert render_reason("partners_quiet_or_left_share", 0.75, "zh").endswith("75%")
    assert render_reason("not_a_feature", 2.5, "en") == "not_a_feature = 2.5"
    ex = Explanation(pd.DataFrame({"days_since_speak": [-1.0, 0.5]}), 0.0)
    reasons = reason_codes(ex, pd.DataFrame({"days_since_speak": [3.0, 9.0]}), k=1, lang="en")
    assert reasons["reason_1"].tolist() == ["", "no message for 9 days"]


def test_importance_sums_per_family(fitted):
    model, X = fitted
    ex = shap_values(model, X[:500])
    fam = family_importance(ex)
    assert set(fam.index) == {"engagement", "benefit", "relationship", "group_context"}
    assert fam.sum() == pytest.approx(ex.values.abs().mean().sum())
    table = feature_importance(ex)
    assert table["mean_abs_shap"].is_monotonic_decreasing
    assert table.set_index("feature").loc["group_size", "family"] == "group_context"


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 8), st.integers(0, 40), st.integers(1, 5), st.integers(0, 2**31 - 1))
def test_top_features_equal_a_stable_descending_sort(n_cols, n_rows, k, seed):
    rng = np.random.default_rng(seed)
    # few distinct values, so ties are common; zeros and negatives too
    v = rng.choice([-1.0, 0.0, 0.25, 0.5, 2.0], size=(n_rows, n_cols))
    ex = Explanation(pd.DataFrame(v, columns=[f"f{j}" for j in range(n_cols)]), 0.0)
    top = top_features(ex, k)
    order = np.argsort(-v, axis=1, kind="stable")[:, :k]
    for i in range(n_rows):
        want = [f"f{j}" if v[i, j] > 0 else None for j in order[i]]
        assert [n if isinstance(n, str) else None for n in top.iloc[i]] == want


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["days_since_speak", "reciprocity", "pagerank", "msg_share_30d", "x"]),
       st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64),
                          st.integers(-1000, 1000).map(lambda i: i / 20),
                          st.integers(-10**6, 10**6).map(float)), max_size=30))
def test_vectorised_display_equals_the_scalar_one(name, values):
    from shequn_ml.explain import _display, _display_many

    assert _display_many(name, np.array(values, dtype=float)).tolist() == \
        [_display(name, v) for v in values]
