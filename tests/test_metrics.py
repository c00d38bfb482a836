from __future__ import annotations

import math

import numpy as np
import pytest

from shequn_ml.metrics import classification_metrics, expected_calibration_error, top_decile


def test_perfectly_calibrated_scores_have_small_ece():
    rng = np.random.default_rng(0)
    p = rng.random(200_000)
    y = (rng.random(len(p)) < p).astype(int)
    assert expected_calibration_error(y, p) < 0.005
    assert expected_calibration_error(y, np.clip(p + 0.1, 0, 1)) > 0.08


def test_top_decile_and_lift():
    y = np.array([1] * 10 + [0] * 90)
    precision, lift = top_decile(y, np.arange(100)[::-1].astype(float))
    assert precision == 1.0 and lift == pytest.approx(10.0)


def test_metrics_match_definitions_and_degenerate_cases():
    y = np.array([0, 1, 0, 1])
    m = classification_metrics(y, np.array([0.2, 0.8, 0.4, 0.6]))
    assert m["roc_auc"] == 1.0 and m["brier"] == pytest.approx((0.04 + 0.04 + 0.16 + 0.16) / 4)
    one_class = classification_metrics(np.zeros(5, int), np.full(5, 0.1))
    assert math.isnan(one_class["roc_auc"]) and one_class["brier"] == pytest.approx(0.01)
    unbounded = classification_metrics(y, np.array([3.0, 9.0, 4.0, 7.0]))  # a raw score
    assert unbounded["roc_auc"] == 1.0 and math.isnan(unbounded["log_loss"])


def test_ece_bins_are_equal_width_and_the_last_is_closed():
    from shequn_ml.metrics import expected_calibration_error as ece

    # 0.95 and 1.0 share the last bin (mean risk 0.975, rate 0.5); 0.05 is alone in the first
    y = np.array([0, 1, 0])
    p = np.array([0.05, 1.0, 0.95])
    assert ece(y, p) == pytest.approx((1 * 0.05 + 2 * 0.475) / 3)
    assert ece(y, p, n_bins=1) == pytest.approx(abs(1 / 3 - 2.0 / 3))


def test_ece_noise_floor_shrinks_with_rows_and_matches_calibrated_draws():
    from shequn_ml.metrics import ece_noise_floor

    rng = np.random.default_rng(3)
    p = rng.beta(2, 3, 1_735)
    floor = ece_noise_floor(p)
    assert 0.01 < floor < 0.035
    assert ece_noise_floor(np.tile(p, 100)) < floor / 5  # ~ 1/sqrt(rows)
    # a calibrated model's ECE on such a fold is spread around the floor, not near 0
    draws = [expected_calibration_error((rng.random(len(p)) < p).astype(int), p) for _ in range(50)]
    assert np.mean(draws) == pytest.approx(floor, rel=0.2)
    assert ece_noise_floor(p) == floor  # seeded
