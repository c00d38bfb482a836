"""BG/NBD: the beta-geometric / negative-binomial "buy till you die" model.

Fader, Hardie & Lee (2005), "'Counting Your Customers' the Easy Way: An
Alternative to the Pareto/NBD Model", *Marketing Science* 24(2), 275-284.

Here a "customer" is a community member and a "transaction" is whatever
repeat activity is counted (for example a day on which the member spoke). The
model only needs three numbers per member, measured from that member's first
transaction:

``frequency`` (x)
    Number of *repeat* transactions: transaction periods minus one.
``recency`` (t_x)
    Time of the last transaction, measured from the first one (0 when x = 0).
``T``
    Length of observation: time from the first transaction to the end of the
    calibration period. All three in the same unit (weeks, days...).

What the model assumes
----------------------
1. While alive, a member transacts as a Poisson process with rate ``lambda``.
2. ``lambda`` varies across members as Gamma(shape ``r``, rate ``alpha``).
3. Right after each *repeat* transaction a member dies (goes silent for good)
   with probability ``p``; death is unobserved and cannot happen before the
   first repeat transaction, so a member with x = 0 is certainly alive.
4. ``p`` varies across members as Beta(``a``, ``b``).
5. ``lambda`` and ``p`` are independent.

The four parameters are fitted by maximum likelihood; from them and one
member's (x, t_x, T) the model gives the probability that the member is still
alive, the expected number of transactions in a future window, and the
probability of no transaction at all in that window, the last being the
natural BG/NBD score for "will go silent".
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted

__all__ = ["BGNBD", "simulate_bgnbd"]

PARAM_NAMES: tuple[str, ...] = ("r", "alpha", "a", "b")

# Parameters are optimised on the log scale, inside [exp(-_LOG_BOUND), exp(_LOG_BOUND)].
_LOG_BOUND = 25.0
# Half-width around a = 1, where the expected-transactions formula is 0/0 (a removable singularity).
_A_ONE_HALF_WIDTH = 1e-6

FloatArray = NDArray[np.float64]


# ----------------------------------------------------------------------------- input checks
def _as_float_vector(values: ArrayLike, name: str, where: str) -> FloatArray:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        found = type(values).__name__
        raise TypeError(f"{where}: {name} must be numeric (a number or a 1-D array of numbers); "
                        f"got {found} that cannot be read as numbers ({exc})") from None
    if arr.ndim > 1:
        raise ValueError(f"{where}: {name} must be a number or a 1-D array (one value per customer); "
                         f"got an array of shape {arr.shape}")
    return arr


def _positions(mask: NDArray[np.bool_]) -> str:
    idx = np.flatnonzero(np.atleast_1d(mask))
    shown = ", ".join(str(i) for i in idx[:5])
    more = f" and {len(idx) - 5} more" if len(idx) > 5 else ""
    return f"{len(idx)} value(s), at position(s) {shown}{more}"


def _first(arr: FloatArray, mask: NDArray[np.bool_]) -> float:
    return float(np.atleast_1d(arr)[np.flatnonzero(np.atleast_1d(mask))[0]])


def _check_customers(
    frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, *, where: str
) -> tuple[FloatArray, FloatArray, FloatArray, bool]:
    """Validate (x, t_x, T); return them as broadcast 1-D float arrays and whether all were scalars."""
    named = {"frequency": frequency, "recency": recency, "T": T}
    arrays = {name: _as_float_vector(v, name, where) for name, v in named.items()}
    lengths = {name: len(a) for name, a in arrays.items() if a.ndim == 1}
    if len(set(lengths.values())) > 1:
        found = ", ".join(f"{n}={k}" for n, k in lengths.items())
        raise ValueError(f"{where}: frequency, recency and T must have one value per customer "
                         f"(the same length); got lengths {found}")
    all_scalar = not lengths
    n = next(iter(lengths.values()), 1)
    x, tx, t_obs = (np.broadcast_to(a, (n,)).astype(float) for a in arrays.values())
    for name, a in zip(("frequency", "recency", "T"), (x, tx, t_obs), strict=True):
        bad = ~np.isfinite(a)
        if bad.any():
            raise ValueError(f"{where}: {name} must be finite; found NaN or infinity in {_positions(bad)} "
                             f"(first: {_first(a, bad)})")
        bad = a < 0
        if bad.any():
            raise ValueError(f"{where}: {name} must be >= 0; found negative {_positions(bad)} "
                             f"(first: {_first(a, bad)})")
    bad = x != np.round(x)
    if bad.any():
        raise ValueError(f"{where}: frequency must be a whole number of repeat transactions; found "
                         f"non-integer {_positions(bad)} (first: {_first(x, bad)})")
    bad = tx > t_obs
    if bad.any():
        i = np.flatnonzero(bad)[0]
        raise ValueError(f"{where}: recency must be <= T (the last transaction cannot come after the end "
                         f"of observation); found recency > T in {_positions(bad)} "
                         f"(first: recency={tx[i]}, T={t_obs[i]})")
    bad = (x == 0) & (tx != 0)
    if bad.any():
        i = np.flatnonzero(bad)[0]
        raise ValueError(f"{where}: recency must be 0 when frequency is 0 (with no repeat transaction the "
                         f"last transaction is the first); found recency != 0 with frequency 0 in "
                         f"{_positions(bad)} (first: recency={tx[i]})")
    return x, tx, t_obs, all_scalar


def _check_horizon(t: ArrayLike, n: int, all_scalar: bool, *, where: str) -> tuple[FloatArray, bool]:
    arr = _as_float_vector(t, "t", where)
    if arr.ndim == 1 and not all_scalar and len(arr) != n:
        raise ValueError(f"{where}: t must be a number or one value per customer ({n}); "
                         f"got length {len(arr)}")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ValueError(f"{where}: t must be finite; found NaN or infinity in {_positions(bad)}")
    bad = arr < 0
    if bad.any():
        raise ValueError(f"{where}: t (the length of the future window) must be >= 0; found negative "
                         f"{_positions(bad)} (first: {_first(arr, bad)})")
    return arr, arr.ndim == 0


def _finish(values: FloatArray, scalar: bool) -> FloatArray | float:
    return float(values[0]) if scalar else values


# ----------------------------------------------------------------------------- model formulas
def _log_likelihood_parts(
    r: float, alpha: float, a: float, b: float, x: FloatArray, tx: FloatArray, T: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Per-customer log-likelihood (eq. 6 of the paper) and the pieces its gradient needs.

    L = Gamma(r+x) alpha^r / Gamma(r) * [ B(a, b+x)/B(a, b) / (alpha+T)^(r+x)
                                          + 1{x>0} B(a+1, b+x-1)/B(a, b) / (alpha+t_x)^(r+x) ]
    The first term is "still alive at T", the second "died right after the last transaction".
    """
    has_repeat = x > 0
    x_pos = np.where(has_repeat, x, 1.0)  # keeps betaln(a+1, b+x-1) defined on rows where it is unused
    log_beta_ab = betaln(a, b)
    log_alive = betaln(a, b + x) - log_beta_ab - (r + x) * np.log(alpha + T)
    log_dead = np.where(has_repeat,
                        betaln(a + 1, b + x_pos - 1) - log_beta_ab - (r + x) * np.log(alpha + tx),
                        -np.inf)
    log_mix = np.logaddexp(log_alive, log_dead)
    ll = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + log_mix
    w_alive = np.exp(log_alive - log_mix)
    w_dead = np.exp(log_dead - log_mix)  # 0 where x == 0
    return ll, w_alive, w_dead, x_pos


def _log_likelihood(params: FloatArray, x: FloatArray, tx: FloatArray, T: FloatArray) -> FloatArray:
    r, alpha, a, b = params
    return _log_likelihood_parts(r, alpha, a, b, x, tx, T)[0]


def _objective(
    log_params: FloatArray, x: FloatArray, tx: FloatArray, T: FloatArray, penalizer_coef: float
) -> tuple[float, FloatArray]:
    """Mean negative log-likelihood plus L2 penalty, and its gradient w.r.t. the log-parameters."""
    params = np.exp(log_params)
    r, alpha, a, b = params
    ll, w_alive, w_dead, x_pos = _log_likelihood_parts(r, alpha, a, b, x, tx, T)
    psi_ab, psi_abx = digamma(a + b), digamma(a + b + x)
    d_r = (digamma(r + x) - digamma(r) + np.log(alpha)
           - w_alive * np.log(alpha + T) - w_dead * np.log(alpha + tx))
    d_alpha = r / alpha - (r + x) * (w_alive / (alpha + T) + w_dead / (alpha + tx))
    d_a = w_alive * (psi_ab - psi_abx) + w_dead * (digamma(a + 1) - digamma(a) + psi_ab - psi_abx)
    d_b = (w_alive * (digamma(b + x) - digamma(b) + psi_ab - psi_abx)
           + w_dead * (digamma(b + x_pos - 1) - digamma(b) + psi_ab - psi_abx))
    grad_ll = np.array([d_r.mean(), d_alpha.mean(), d_a.mean(), d_b.mean()])
    value = -ll.mean() + penalizer_coef * float(np.sum(params**2))
    grad = (-grad_ll + 2.0 * penalizer_coef * params) * params  # chain rule: d/d(log p) = p * d/dp
    return float(value), grad


def _log_odds_dead(
    r: float, alpha: float, a: float, b: float, x: FloatArray, tx: FloatArray, T: FloatArray
) -> FloatArray:
    """log[P(dead) / P(alive)] = log[a / (b+x-1)] + (r+x) log[(alpha+T) / (alpha+t_x)], for x > 0."""
    x_pos = np.where(x > 0, x, 1.0)
    return np.log(a) - np.log(b + x_pos - 1) + (r + x) * (np.log(alpha + T) - np.log(alpha + tx))


def _p_alive(r: float, alpha: float, a: float, b: float, x: FloatArray, tx: FloatArray,
             T: FloatArray) -> FloatArray:
    return np.where(x > 0, expit(-_log_odds_dead(r, alpha, a, b, x, tx, T)), 1.0)


def _expected_if_alive(t: FloatArray, r: float, alpha: float, a: float, b: float, x: FloatArray,
                       T: FloatArray) -> FloatArray:
    """E[transactions in (T, T+t] | alive at T]: the paper's eq. (10) numerator, with a != 1.

    Given alive at T, lambda ~ Gamma(r+x, alpha+T) and p ~ Beta(a, b+x), so this is the
    unconditional BG/NBD mean E[X(t)] with those updated parameters.
    """
    c = a + b + x - 1
    z = t / (alpha + T + t)
    log_discount = -(r + x) * np.log1p(t / (alpha + T))  # log[((alpha+T)/(alpha+T+t))^(r+x)]
    return c / (a - 1) * (1.0 - np.exp(log_discount) * hyp2f1(r + x, b + x, c, z))


# ----------------------------------------------------------------------------- estimator
class BGNBD(BaseEstimator):
    """BG/NBD buy-till-you-die model: who is still alive, and who will go silent.

    Each member transacts at their own Poisson rate ``lambda`` ~ Gamma(r, alpha)
    until, right after some repeat transaction, they drop out for good (with
    probability ``p`` ~ Beta(a, b) after each one). Dropout is never observed;
    the model infers it from a long gap since the last transaction relative to
    how often that member used to transact. See the module docstring for the
    assumptions in full.

    Parameters
    ----------
    penalizer_coef : float, default 0.0
        Weight of an L2 penalty ``penalizer_coef * (r^2 + alpha^2 + a^2 + b^2)``
        added to the *mean* negative log-likelihood (the convention of the
        ``lifetimes`` package). 0 gives the maximum-likelihood estimate; a small
        value (0.001-0.1) keeps the parameters finite on data with little signal.
        The penalty on ``alpha`` depends on the time unit.
    max_iter : int, default 2000
        Iteration cap for the L-BFGS-B optimiser.

    Attributes
    ----------
    params_ : dict of str to float
        Fitted ``r``, ``alpha`` (Gamma shape and rate of the transaction rate;
        mean rate ``r / alpha`` per time unit) and ``a``, ``b`` (Beta parameters
        of the dropout probability; mean ``a / (a + b)`` per repeat transaction).
    log_likelihood_ : float
        Total (not mean, not penalised) log-likelihood of the fitted data.
    n_iter_ : int
        Optimiser iterations used.

    Notes
    -----
    The optimiser works on log-parameters (so all four stay positive) from a
    start of ``r = a = b = 1`` and ``alpha`` set so the mean rate ``r / alpha``
    matches the data's repeat transactions per unit time; the analytic gradient
    is used. A ``ConvergenceWarning`` is raised if it stops without converging.

    Examples
    --------
    Simulate 5,000 members observed for 39 weeks, fit, and read the parameters
    back. ``r`` and ``alpha`` come out close to the truth; ``a`` and ``b`` are
    noisier, since only members with repeat transactions say anything about
    dropout:

    >>> import numpy as np
    >>> data = simulate_bgnbd(np.full(5000, 39.0), r=0.25, alpha=4.0, a=0.8, b=2.5, random_state=0)
    >>> model = BGNBD().fit(data["frequency"], data["recency"], data["T"])
    >>> {name: round(value, 1) for name, value in model.params_.items()}
    {'r': 0.3, 'alpha': 4.4, 'a': 0.9, 'b': 2.9}

    Two members with two repeat transactions each, observed for 39 weeks: the
    one whose last transaction was in week 35 is likely still around, the one
    silent since week 5 probably is not. A member with no repeat transaction
    has had no chance to drop out, so P(alive) is 1:

    >>> model.p_alive([2, 2, 0], [35.0, 5.0, 0.0], [39.0, 39.0, 39.0]).round(2)
    array([0.77, 0.12, 1.  ])

    The probability of no transaction in the next 4 weeks, and the expected
    number of transactions in them (scalars broadcast against arrays):

    >>> model.p_no_purchase(4.0, [2, 2, 0], [35.0, 5.0, 0.0], 39.0).round(2)
    array([0.86, 0.98, 0.98])
    >>> expected = model.conditional_expected_number_of_purchases_up_to_time
    >>> expected(4.0, [2, 2, 0], [35.0, 5.0, 0.0], 39.0).round(2)
    array([0.16, 0.02, 0.02])
    """

    def __init__(self, penalizer_coef: float = 0.0, max_iter: int = 2000) -> None:
        self.penalizer_coef = penalizer_coef
        self.max_iter = max_iter

    # ------------------------------------------------------------------ fit
    def fit(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> BGNBD:
        """Fit r, alpha, a, b by maximum (optionally penalised) likelihood.

        Parameters
        ----------
        frequency : array-like of int, shape (n_customers,)
            Repeat transactions x: transaction periods minus one (>= 0).
        recency : array-like of float, shape (n_customers,)
            Time t_x of the last transaction since the first (0 if x = 0, <= T).
        T : array-like of float, shape (n_customers,)
            Time from the first transaction to the end of the calibration period.

        Returns
        -------
        self : BGNBD
            With ``params_``, ``log_likelihood_`` and ``n_iter_`` set.

        Raises
        ------
        ValueError
            On invalid parameters or data: negative or non-finite values,
            non-integer frequency, recency > T, recency != 0 with frequency 0,
            mismatched lengths, or no customers.
        """
        where = "BGNBD.fit"
        if not (np.isfinite(self.penalizer_coef) and self.penalizer_coef >= 0):
            raise ValueError(f"{where}: penalizer_coef must be a finite number >= 0; "
                             f"got {self.penalizer_coef!r}")
        if isinstance(self.max_iter, bool) or not isinstance(self.max_iter, int | np.integer) \
                or self.max_iter < 1:
            raise ValueError(f"{where}: max_iter must be an integer >= 1; got {self.max_iter!r}")
        x, tx, t_obs, _ = _check_customers(frequency, recency, T, where=where)
        if len(x) == 0:
            raise ValueError(f"{where}: at least one customer is needed; got 0")

        rate = x.sum() / max(t_obs.sum(), np.finfo(float).tiny)
        start = np.array([1.0, 1.0 / max(rate, 1e-6), 1.0, 1.0])
        x0 = np.clip(np.log(start), -_LOG_BOUND + 1, _LOG_BOUND - 1)
        result = minimize(
            _objective, x0, args=(x, tx, t_obs, float(self.penalizer_coef)), jac=True,
            method="L-BFGS-B", bounds=[(-_LOG_BOUND, _LOG_BOUND)] * 4,
            options={"maxiter": int(self.max_iter), "ftol": 1e-14, "gtol": 1e-9},
        )
        params = np.exp(result.x)
        if not result.success and not _is_precision_stop(result, _objective, x, tx, t_obs,
                                                          float(self.penalizer_coef)):
            warnings.warn(f"{where}: the optimiser stopped without converging ({result.message}); "
                          f"the parameters may be inaccurate. Raise max_iter or add a small "
                          f"penalizer_coef.", ConvergenceWarning, stacklevel=2)
        self.params_: dict[str, float] = dict(zip(PARAM_NAMES, (float(p) for p in params), strict=True))
        self.log_likelihood_ = float(_log_likelihood(params, x, tx, t_obs).sum())
        self.n_iter_ = int(result.nit)
        return self

    # ------------------------------------------------------------------ predictions
    def _fitted(self) -> tuple[float, float, float, float]:
        check_is_fitted(self, "params_")
        p = self.params_
        return p["r"], p["alpha"], p["a"], p["b"]

    def p_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray | float:
        """P(alive at T | x, t_x, T): the probability the member has not dropped out.

        Equals 1 for x = 0 (no repeat transaction, so no chance yet to drop out);
        otherwise ``1 / (1 + a / (b + x - 1) * ((alpha + T) / (alpha + t_x))^(r + x))``,
        which grows with recency t_x and falls as the silence T - t_x grows.

        Parameters
        ----------
        frequency, recency, T : array-like or float
            As in ``fit``; scalars broadcast against arrays.

        Returns
        -------
        ndarray of shape (n_customers,), or float if every input is a scalar
            Values in [0, 1] (exactly 0 only by floating-point underflow).
        """
        r, alpha, a, b = self._fitted()
        x, tx, t_obs, scalar = _check_customers(frequency, recency, T, where="BGNBD.p_alive")
        return _finish(_p_alive(r, alpha, a, b, x, tx, t_obs), scalar)

    def conditional_expected_number_of_purchases_up_to_time(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray | float:
        """E[transactions in (T, T+t] | x, t_x, T]: the expected future count (eq. 10 of the paper).

        ``P(alive) * (a+b+x-1)/(a-1) * [1 - ((alpha+T)/(alpha+T+t))^(r+x)
        * 2F1(r+x, b+x; a+b+x-1; t/(alpha+T+t))]``: an alive member's expected
        count under the posterior Gamma(r+x, alpha+T) rate and Beta(a, b+x)
        dropout probability, times the chance they are alive at all. At a = 1,
        where the formula is 0/0, the limit is taken by interpolation.

        Parameters
        ----------
        t : array-like or float
            Length of the future window (>= 0), in the unit of T.
        frequency, recency, T : array-like or float
            As in ``fit``.

        Returns
        -------
        ndarray of shape (n_customers,), or float if every input is a scalar
        """
        r, alpha, a, b = self._fitted()
        where = "BGNBD.conditional_expected_number_of_purchases_up_to_time"
        x, tx, t_obs, scalar = _check_customers(frequency, recency, T, where=where)
        horizon, t_scalar = _check_horizon(t, len(x), scalar, where=where)
        if abs(a - 1.0) < _A_ONE_HALF_WIDTH:  # removable singularity: interpolate across a = 1
            lo, hi = 1.0 - _A_ONE_HALF_WIDTH, 1.0 + _A_ONE_HALF_WIDTH
            f_lo = _expected_if_alive(horizon, r, alpha, lo, b, x, t_obs)
            f_hi = _expected_if_alive(horizon, r, alpha, hi, b, x, t_obs)
            if_alive = f_lo + (a - lo) / (hi - lo) * (f_hi - f_lo)
        else:
            if_alive = _expected_if_alive(horizon, r, alpha, a, b, x, t_obs)
        expected = _p_alive(r, alpha, a, b, x, tx, t_obs) * if_alive
        return _finish(np.atleast_1d(expected), scalar and t_scalar)

    def p_no_purchase(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray | float:
        """P(no transaction in (T, T+t] | x, t_x, T): the "goes silent over the next t" score.

        A dead member never transacts again. An alive member can only drop out
        right after a transaction, so they make none in the window exactly when
        their next Poisson arrival falls after T + t; under the posterior rate
        ``lambda ~ Gamma(r+x, alpha+T)`` that has probability
        ``E[exp(-lambda t)] = ((alpha+T) / (alpha+T+t))^(r+x)``. Hence::

            p_no_purchase = 1 - P(alive) + P(alive) * ((alpha+T) / (alpha+T+t))^(r+x)

        It is 1 at t = 0, decreases in t, and tends to 1 - P(alive) as t grows.

        Parameters
        ----------
        t : array-like or float
            Length of the future window (>= 0), in the unit of T.
        frequency, recency, T : array-like or float
            As in ``fit``.

        Returns
        -------
        ndarray of shape (n_customers,), or float if every input is a scalar
            Probabilities in [0, 1].
        """
        r, alpha, a, b = self._fitted()
        where = "BGNBD.p_no_purchase"
        x, tx, t_obs, scalar = _check_customers(frequency, recency, T, where=where)
        horizon, t_scalar = _check_horizon(t, len(x), scalar, where=where)
        p_transact_if_alive = -np.expm1(-(r + x) * np.log1p(horizon / (alpha + t_obs)))
        result = 1.0 - _p_alive(r, alpha, a, b, x, tx, t_obs) * p_transact_if_alive
        return _finish(np.atleast_1d(np.clip(result, 0.0, 1.0)), scalar and t_scalar)


def _is_precision_stop(result: Any, objective: Any, *args: Any) -> bool:
    """L-BFGS-B can end with ABNORMAL line search at a true optimum, where f stops changing in
    floating point; accept that when the projected gradient is already negligible."""
    if "ABNORMAL" not in str(result.message):
        return False
    _, grad = objective(result.x, *args)
    at_bound = (np.abs(result.x) >= _LOG_BOUND - 1e-8) & (np.sign(grad) == -np.sign(result.x))
    return bool(np.all(at_bound | (np.abs(grad) < 1e-6)))


# ----------------------------------------------------------------------------- simulation
def simulate_bgnbd(
    T: ArrayLike, r: float, alpha: float, a: float, b: float, *, t_future: float = 0.0,
    random_state: int | np.random.Generator | None = None,
) -> pd.DataFrame:
    """Draw members from the BG/NBD model: for tests, examples and sanity checks.

    Each member gets ``lambda ~ Gamma(r, alpha)`` and ``p ~ Beta(a, b)``, makes
    repeat transactions at Poisson(lambda) times from their first one at 0,
    and drops out after a Geometric(p)-distributed number of them.

    Parameters
    ----------
    T : array-like of float
        Observation length of each member (one row per member).
    r, alpha, a, b : float
        Model parameters (all > 0).
    t_future : float, default 0
        Length of a window after T in which to also count transactions.
    random_state : int, Generator or None
        Seed for ``numpy.random.default_rng``.

    Returns
    -------
    DataFrame
        Columns ``frequency``, ``recency``, ``T`` (calibration summary),
        ``future`` (transactions in (T, T + t_future]) and ``alive`` (whether
        the member is still alive at T, which real data never shows).
    """
    rng = np.random.default_rng(random_state)
    t_obs = np.asarray(T, dtype=float)
    n = len(t_obs)
    lam = rng.gamma(r, 1.0 / alpha, size=n)
    p = rng.beta(a, b, size=n)
    lifetime_repeats = rng.geometric(np.clip(p, np.finfo(float).tiny, 1.0))  # repeats made before dropout
    arrivals_in_T = rng.poisson(lam * t_obs)
    x = np.minimum(lifetime_repeats, arrivals_in_T)
    # Given n arrivals in [0, T], their times are uniform order statistics; the x-th is T * Beta(x, n-x+1).
    has_repeat = x > 0
    recency = np.zeros(n)
    recency[has_repeat] = t_obs[has_repeat] * rng.beta(
        x[has_repeat], arrivals_in_T[has_repeat] - x[has_repeat] + 1)
    remaining = lifetime_repeats - x  # 0 once the member has dropped out
    future = np.minimum(remaining, rng.poisson(lam * t_future))
    return pd.DataFrame({"frequency": x, "recency": recency, "T": t_obs, "future": future,
                         "alive": remaining > 0})
