"""BG/NBD: published CDNOW figures, exact identities, simulation checks and input validation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import quad
from scipy.optimize import check_grad
from scipy.special import betaln
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from shequn_ml.models.btyd import BGNBD, _log_likelihood, _objective, simulate_bgnbd

CDNOW = Path(__file__).parent / "data" / "cdnow_summary.csv"

# Fader, Hardie & Lee (2005), section 5: maximum-likelihood estimates on the CDNOW sample.
PUBLISHED = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PUBLISHED_LOG_LIKELIHOOD = -9582.4


def _with_params(**params: float) -> BGNBD:
    """A model with parameters set by hand, as if fitted."""
    model = BGNBD()
    model.params_ = {name: float(params[name]) for name in ("r", "alpha", "a", "b")}
    return model


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return pd.read_csv(CDNOW)


@pytest.fixture(scope="module")
def cdnow_model(cdnow: pd.DataFrame) -> BGNBD:
    return BGNBD().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])


# ----------------------------------------------------------------------------- published figures
def test_cdnow_data_is_the_published_sample(cdnow: pd.DataFrame) -> None:
    assert list(cdnow.columns) == ["frequency", "recency", "T"]
    assert len(cdnow) == 2357
    assert (cdnow["frequency"] == 0).sum() == 1411  # the paper: 1,411 of 2,357 made no repeat purchase
    assert cdnow["T"].max() <= 39


def test_cdnow_fit_matches_published_parameters(cdnow_model: BGNBD) -> None:
    for name, published in PUBLISHED.items():
        got = cdnow_model.params_[name]
        assert got == pytest.approx(published, rel=0.01, abs=0.01), name
    assert cdnow_model.log_likelihood_ == pytest.approx(PUBLISHED_LOG_LIKELIHOOD, abs=0.1)
    assert cdnow_model.n_iter_ >= 1


def test_cdnow_expected_purchases_for_published_customer(cdnow_model: BGNBD) -> None:
    # The paper's worked example: x = 2, t_x = 30.43, T = 38.86 expects 1.226 purchases in the next 39 weeks.
    expected = cdnow_model.conditional_expected_number_of_purchases_up_to_time(39, 2, 30.43, 38.86)
    assert isinstance(expected, float)
    assert expected == pytest.approx(1.226, abs=0.001)


def test_log_likelihood_at_published_parameters(cdnow: pd.DataFrame, cdnow_model: BGNBD) -> None:
    arrays = [cdnow[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T")]
    at_published = _log_likelihood(np.array(list(PUBLISHED.values())), *arrays).sum()
    assert at_published == pytest.approx(PUBLISHED_LOG_LIKELIHOOD, abs=0.5)
    assert cdnow_model.log_likelihood_ >= at_published  # the fit is the maximum


# ----------------------------------------------------------------------------- exact identities
def test_p_alive_is_one_without_repeat_transactions(cdnow: pd.DataFrame, cdnow_model: BGNBD) -> None:
    none = cdnow[cdnow["frequency"] == 0]
    p = cdnow_model.p_alive(none["frequency"], none["recency"], none["T"])
    np.testing.assert_array_equal(p, 1.0)
    some = cdnow[cdnow["frequency"] > 0]
    p = cdnow_model.p_alive(some["frequency"], some["recency"], some["T"])
    assert np.all((p > 0) & (p < 1))


def test_p_no_purchase_is_a_probability_decreasing_in_t(cdnow: pd.DataFrame, cdnow_model: BGNBD) -> None:
    x, tx, T = (cdnow[c] for c in ("frequency", "recency", "T"))
    horizons = [0.0, 0.5, 1.0, 4.0, 13.0, 39.0, 520.0]
    curves = np.stack([cdnow_model.p_no_purchase(t, x, tx, T) for t in horizons])
    assert np.all((curves >= 0) & (curves <= 1))
    np.testing.assert_array_equal(curves[0], 1.0)  # nothing can happen in an empty window
    steps = np.diff(curves, axis=0)
    assert np.all(steps <= 0)  # less likely to stay silent over a longer window...
    # ...strictly, unless P(alive) is so small that 1 - P(alive) * (...) rounds to the same float.
    clearly_alive = cdnow_model.p_alive(x, tx, T) > 1e-6
    assert np.all(steps[:, clearly_alive] < 0)
    # As t grows it tends to 1 - P(alive), but only like t^-(r+x): with r = 0.24 some members transact
    # so rarely that even 10^12 weeks is not long enough, so look very far out.
    far = cdnow_model.p_no_purchase(1e60, x, tx, T)
    np.testing.assert_allclose(far, 1 - cdnow_model.p_alive(x, tx, T), rtol=0, atol=1e-9)


def test_p_no_purchase_for_alive_member_is_posterior_laplace_transform(cdnow_model: BGNBD) -> None:
    p = cdnow_model.params_
    # With x = 0 the member is alive for sure, so only the Gamma(r, alpha + T) term is left.
    got = cdnow_model.p_no_purchase(10.0, 0, 0.0, 30.0)
    assert got == pytest.approx(((p["alpha"] + 30) / (p["alpha"] + 40)) ** p["r"], rel=1e-12)


def _expected_by_quadrature(model: BGNBD, t: float, x: int, tx: float, T: float) -> float:
    """P(alive) * E_p[(1 - E_lambda[exp(-lambda p t)]) / p], p ~ Beta(a, b+x), lambda ~ Gamma(r+x, alpha+T).

    An alive member with rate lambda and dropout p makes (1 - exp(-lambda p t)) / p purchases
    on average in a window t: the eq. (10) hypergeometric is this integral in closed form.
    """
    p = model.params_
    shape, rate, b_post = p["r"] + x, p["alpha"] + T, p["b"] + x

    def given_p(q: float) -> float:
        if q == 0.0:
            return shape * t / rate
        return -np.expm1(-shape * np.log1p(q * t / rate)) / q

    integral, _ = quad(given_p, 0.0, 1.0, weight="alg", wvar=(p["a"] - 1, b_post - 1), epsabs=1e-13)
    return model.p_alive(x, tx, T) * integral / np.exp(betaln(p["a"], b_post))


@pytest.mark.parametrize("t", [0.5, 39.0, 1000.0])
@pytest.mark.parametrize(("x", "tx", "T"),
                         [(0, 0.0, 38.0), (2, 30.43, 38.86), (7, 5.0, 35.0), (29, 38.0, 38.5)])
def test_conditional_expectation_matches_numerical_integration(
    cdnow_model: BGNBD, t: float, x: int, tx: float, T: float
) -> None:
    got = cdnow_model.conditional_expected_number_of_purchases_up_to_time(t, x, tx, T)
    assert got == pytest.approx(_expected_by_quadrature(cdnow_model, t, x, tx, T), rel=1e-7)


def test_conditional_expectation_is_continuous_through_a_equal_one() -> None:
    args = (39.0, [0, 2, 10], [0.0, 30.0, 12.0], 38.0)
    model = _with_params(r=0.5, alpha=3.0, a=1.0, b=2.0)
    at_one = model.conditional_expected_number_of_purchases_up_to_time(*args)
    assert np.all(np.isfinite(at_one))
    for a in (1 - 1e-4, 1 + 1e-4, 1 + 3e-7):
        near = _with_params(r=0.5, alpha=3.0, a=a, b=2.0)
        np.testing.assert_allclose(near.conditional_expected_number_of_purchases_up_to_time(*args), at_one,
                                   rtol=1e-3)
    assert at_one[1] == pytest.approx(_expected_by_quadrature(model, 39.0, 2, 30.0, 38.0), rel=1e-6)


def test_predictions_broadcast_and_accept_per_customer_horizons(cdnow_model: BGNBD) -> None:
    many = cdnow_model.p_no_purchase([1.0, 4.0, 13.0], 2, 30.43, 38.86)
    one_by_one = [cdnow_model.p_no_purchase(t, 2, 30.43, 38.86) for t in (1.0, 4.0, 13.0)]
    np.testing.assert_allclose(many, one_by_one, rtol=1e-14)
    assert isinstance(cdnow_model.p_alive(2, 30.43, 38.86), float)
    assert cdnow_model.p_alive(pd.Series([2, 0]), [30.43, 0.0], 38.86).shape == (2,)


# ----------------------------------------------------------------------------- simulation
def test_predictions_match_simulated_outcomes(seed: int) -> None:
    truth = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}
    T = np.random.default_rng(seed).uniform(27, 39, size=200_000)
    data = simulate_bgnbd(T, **truth, t_future=13.0, random_state=seed)
    model = _with_params(**truth)
    x, tx = data["frequency"], data["recency"]
    p_alive = model.p_alive(x, tx, T)
    p_silent = model.p_no_purchase(13.0, x, tx, T)
    expected = model.conditional_expected_number_of_purchases_up_to_time(13.0, x, tx, T)
    for group in (data["frequency"] >= 0, data["frequency"] == 0, data["frequency"].between(1, 3),
                  data["frequency"] >= 4):
        g = group.to_numpy()
        se = np.sqrt(0.25 / g.sum())
        assert p_alive[g].mean() == pytest.approx(data["alive"][g].mean(), abs=5 * se)
        assert p_silent[g].mean() == pytest.approx((data["future"][g] == 0).mean(), abs=5 * se)
        count_se = data["future"][g].std() / np.sqrt(g.sum())
        assert expected[g].mean() == pytest.approx(data["future"][g].mean(), abs=5 * count_se)


def test_fit_maximises_likelihood_on_simulated_data(seed: int) -> None:
    truth = np.array([0.5, 2.0, 1.5, 4.0])
    data = simulate_bgnbd(np.full(4000, 52.0), *truth, random_state=seed)
    arrays = [data[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T")]
    model = BGNBD().fit(*arrays)
    fitted = np.array(list(model.params_.values()))
    assert model.log_likelihood_ >= _log_likelihood(truth, *arrays).sum()
    _, grad = _objective(np.log(fitted), *arrays, 0.0)
    assert np.max(np.abs(grad)) < 1e-5
    # The rate parameters are well identified even from 4,000 members.
    assert fitted[0] / fitted[1] == pytest.approx(truth[0] / truth[1], rel=0.1)


def test_gradient_matches_finite_differences(cdnow: pd.DataFrame) -> None:
    arrays = [cdnow[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T")]
    for log_params in (np.log([0.24, 4.4, 0.79, 2.4]), np.log([2.0, 0.5, 5.0, 0.1])):
        for penalizer in (0.0, 0.1):
            err = check_grad(lambda z, p=penalizer: _objective(z, *arrays, p)[0],
                             lambda z, p=penalizer: _objective(z, *arrays, p)[1], log_params)
            assert err < 1e-5


def test_penalizer_shrinks_parameters(cdnow: pd.DataFrame, cdnow_model: BGNBD) -> None:
    penalised = BGNBD(penalizer_coef=0.01).fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    assert sum(v**2 for v in penalised.params_.values()) < sum(v**2 for v in cdnow_model.params_.values())
    assert penalised.log_likelihood_ < cdnow_model.log_likelihood_


def test_sklearn_conventions() -> None:
    model = BGNBD(penalizer_coef=0.5, max_iter=10)
    assert clone(model).get_params() == {"penalizer_coef": 0.5, "max_iter": 10}
    assert not hasattr(model, "params_")
    with pytest.raises(NotFittedError):
        model.p_alive(1, 1.0, 2.0)


# ----------------------------------------------------------------------------- input validation
@pytest.mark.parametrize(
    ("frequency", "recency", "T", "match"),
    [
        ([1, -1], [1.0, 0.0], [2.0, 2.0],
         r"frequency must be >= 0; found negative 1 value\(s\), at position\(s\) 1"),
        ([1, 1], [1.0, -0.5], [2.0, 2.0], r"recency must be >= 0.*first: -0.5"),
        ([1, 1], [1.0, 1.0], [2.0, -2.0], r"T must be >= 0"),
        ([1, 2], [3.0, 1.0], [2.0, 2.0], r"recency must be <= T .*first: recency=3.0, T=2.0"),
        ([0, 2], [0.5, 1.0], [2.0, 2.0], r"recency must be 0 when frequency is 0.*first: recency=0.5"),
        ([1, np.nan], [1.0, 1.0], [2.0, 2.0], r"frequency must be finite; found NaN or infinity"),
        ([1, 1], [1.0, 1.0], [2.0, np.inf], r"T must be finite; found NaN or infinity.*first: inf"),
        ([1, 1, 1], [1.0, 1.0], [2.0, 2.0, 2.0],
         r"one value per customer \(the same length\); got lengths frequency=3, recency=2, T=3"),
        ([1.5], [1.0], [2.0], r"frequency must be a whole number of repeat transactions.*first: 1.5"),
        ([[1]], [1.0], [2.0], r"frequency must be a number or a 1-D array.*shape \(1, 1\)"),
    ],
)
def test_invalid_customers_are_rejected_with_what_was_found(frequency, recency, T, match) -> None:
    with pytest.raises(ValueError, match=match):
        BGNBD().fit(frequency, recency, T)
    with pytest.raises(ValueError, match=match):
        _with_params(**PUBLISHED).p_alive(frequency, recency, T)


def test_invalid_arguments_are_rejected() -> None:
    model = _with_params(**PUBLISHED)
    with pytest.raises(TypeError, match=r"frequency must be numeric .*got list"):
        model.p_alive(["a lot"], [1.0], [2.0])
    with pytest.raises(ValueError, match=r"t \(the length of the future window\) must be >= 0.*first: -1.0"):
        model.p_no_purchase(-1.0, 1, 1.0, 2.0)
    with pytest.raises(ValueError, match=r"t must be a number or one value per customer \(2\); got length 3"):
        model.conditional_expected_number_of_purchases_up_to_time([1.0, 2.0, 3.0], [1, 1], [1.0, 1.0], 2.0)
    with pytest.raises(ValueError, match=r"at least one customer is needed; got 0"):
        BGNBD().fit([], [], [])
    with pytest.raises(ValueError, match=r"penalizer_coef must be a finite number >= 0; got -1"):
        BGNBD(penalizer_coef=-1).fit([1], [1.0], [2.0])
    with pytest.raises(ValueError, match=r"max_iter must be an integer >= 1; got 0"):
        BGNBD(max_iter=0).fit([1], [1.0], [2.0])


# ----------------------------------------------------------------------------- properties
_positive = st.floats(0.05, 20.0)


@settings(max_examples=200, deadline=None)
@given(r=_positive, alpha=_positive, a=_positive, b=_positive, x=st.integers(1, 50),
       T=st.floats(0.1, 200.0), fractions=st.tuples(st.floats(0.0, 1.0), st.floats(0.0, 1.0)))
def test_p_alive_is_in_unit_interval_and_non_decreasing_in_recency(
    r: float, alpha: float, a: float, b: float, x: int, T: float, fractions: tuple[float, float]
) -> None:
    model = _with_params(r=r, alpha=alpha, a=a, b=b)
    early, late = sorted(f * T for f in fractions)
    p_early, p_late = model.p_alive([x, x], [early, late], [T, T])
    assert 0 < p_early <= 1
    assert 0 < p_late <= 1
    assert p_early <= p_late * (1 + 1e-12)
