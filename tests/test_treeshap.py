"""Exact TreeSHAP by decision patterns (shequn_ml/treeshap.py) equals LightGBM's pred_contrib."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shequn_ml.treeshap import contributions, parse_trees


def _fit(X: np.ndarray, y: np.ndarray, **params) -> lgb.Booster:
    base = {"objective": "binary", "verbose": -1, "min_data_in_leaf": 5, "deterministic": True,
            "num_threads": 1}
    return lgb.train({**base, **params}, lgb.Dataset(X, y), num_boost_round=params.pop("rounds", 15))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), leaves=st.integers(2, 31), nan_share=st.sampled_from([0.0, 0.1, 0.5]),
       zero_as_missing=st.booleans(), use_missing=st.booleans(), ties=st.booleans())
def test_patterns_give_lightgbms_values(seed, leaves, nan_share, zero_as_missing, use_missing, ties):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(600, 6))
    if ties:  # few distinct values: thresholds between them, many rows on each side
        X = np.round(X * 2) / 2
    X[rng.random(X.shape) < nan_share] = np.nan
    X[rng.random(X.shape) < 0.1] = 0.0
    y = (np.nan_to_num(X[:, 0]) + np.nan_to_num(X[:, 1]) * (X[:, 2] > 0) + rng.normal(size=600) > 0)
    booster = _fit(X, y.astype(int), num_leaves=leaves, zero_as_missing=zero_as_missing,
                   use_missing=use_missing)
    probe = rng.normal(size=(400, 6))
    probe[rng.random(probe.shape) < 0.2] = np.nan
    probe[rng.random(probe.shape) < 0.2] = 0.0
    probe = np.vstack([probe, X])  # training rows sit exactly on both sides of the thresholds
    expected = booster.predict(probe, pred_contrib=True)
    got = contributions(booster, probe)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)


def test_equal_on_the_librarys_models_and_used_by_shap_values(logged_quickstart):
    from shequn_ml.explain import shap_values

    result = logged_quickstart[0]
    models = [(r.models["lightgbm"], r.test_frame[r.feature_names]) for r in result.tasks.values()]
    models.append((result.kol.model, result.kol.test_frame[list(result.kol.model.feature_names_in_)]))
    for model, X in models:
        big = pd.concat([X] * (25_000 // len(X) + 1), ignore_index=True)
        ref = shap_values(model, big, method="lightgbm")
        fast = shap_values(model, big)  # auto: patterns at this size, additivity checked
        assert len(big) >= 25_000
        np.testing.assert_allclose(fast.values.to_numpy(), ref.values.to_numpy(), rtol=0, atol=1e-9)
        assert fast.expected_value == pytest.approx(ref.expected_value, abs=1e-9)


def test_categorical_splits_fall_back_to_pred_contrib():
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"c": pd.Categorical(rng.integers(0, 5, 500)), "x": rng.normal(size=500)})
    y = ((X["c"].cat.codes % 2 == 0) ^ (X["x"] > 0)).astype(int)
    booster = lgb.train({"objective": "binary", "verbose": -1, "min_data_in_leaf": 5,
                         "min_data_per_group": 5, "cat_smooth": 1}, lgb.Dataset(X, y), 10)
    assert parse_trees(booster) is None
    codes = X.assign(c=X["c"].cat.codes.astype(float)).to_numpy()
    np.testing.assert_allclose(contributions(booster, codes), booster.predict(codes, pred_contrib=True))
