"""Explanations: exact TreeSHAP values, reason codes an operator can act on.

Every score comes with its reasons. For a LightGBM model the SHAP values are
exact and cheap: LightGBM computes TreeSHAP itself (``pred_contrib=True``), the
same numbers the ``shap`` package's ``TreeExplainer`` returns for it (a test
checks they agree). They are additive on the model's raw score (log-odds for the
classifiers): the values of a row plus the expected value equal its raw score,
and :func:`shap_values` checks that before returning.

A *reason code* is one of the features that pushed a member's risk up the most,
rendered with the sentence template registered beside the feature definition
(:mod:`shequn_ml.features._registry`), e.g. "no message for 12 days / 12天未发言".

Examples
--------
>>> import numpy as np, pandas as pd
>>> from shequn_ml.models import SilenceModel
>>> rng = np.random.default_rng(0)
>>> X = pd.DataFrame({"days_since_speak": rng.exponential(5, 1000),
...                   "speak_count_30d": rng.poisson(4, 1000).astype(float)})
>>> y = (X.days_since_speak > 6).astype(int)
>>> m = SilenceModel(n_estimators=30).fit(X, y)
>>> ex = shap_values(m, X[:5])
>>> bool(np.allclose(ex.values.sum(axis=1) + ex.expected_value, m.decision_function(X[:5])))
True
>>> risky = X[X.days_since_speak > 15][:1]  # long silent: recency pushes the risk up
>>> reason_codes(shap_values(m, risky), risky, lang="en").iloc[0, 0].startswith("no message for")
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from shequn_ml.features._registry import FeatureDef, catalogue
from shequn_ml.features.pipeline import feature_catalogue

Lang = Literal["en", "zh", "both"]

#: Additivity tolerance: values + expected value must give the raw score.
ADDITIVITY_TOL = 1e-6


@dataclass
class Explanation:
    """SHAP values of a batch of rows.

    Attributes
    ----------
    values : DataFrame
        One column per feature, one row per input row, in raw-score units
        (log-odds for the classifiers).
    expected_value : float
        The model's mean raw score: ``values.sum(axis=1) + expected_value`` is
        each row's raw score.
    """

    values: pd.DataFrame
    expected_value: float


#: Below this many rows LightGBM's own ``pred_contrib`` is as fast as the pattern method.
PATTERN_MIN_ROWS = 20_000


def shap_values(model: object, X: pd.DataFrame, *, check_additivity: bool = True,
                method: str = "auto") -> Explanation:
    """Exact TreeSHAP values of a fitted LightGBM-based model of this library.

    Parameters
    ----------
    model : SilenceModel, ChurnModel or KolRanker
        Anything with ``booster_``, ``best_iteration_`` and ``feature_names_in_``.
    X : DataFrame
        Features; reordered to the model's columns (missing columns are an error).
    check_additivity : bool, default True
        Verify that values plus expected value equal the raw score within
        :data:`ADDITIVITY_TOL`.
    method : {"auto", "lightgbm", "patterns"}, default "auto"
        ``"lightgbm"``: LightGBM's ``pred_contrib``. ``"patterns"``: the same
        values computed once per decision pattern of each tree
        (:mod:`shequn_ml.treeshap`; several times faster on many rows of small
        trees, equal to ``pred_contrib`` to rounding). ``"auto"``: patterns from
        :data:`PATTERN_MIN_ROWS` rows on.

    Returns
    -------
    Explanation
    """
    from shequn_ml.models._validation import check_frame
    from shequn_ml.treeshap import contributions

    if method not in ("auto", "lightgbm", "patterns"):
        raise ValueError(f"method must be 'auto', 'lightgbm' or 'patterns', got {method!r}")
    cols = list(model.feature_names_in_)
    X = check_frame(X, where="shap_values", expected_columns=cols)
    n_iter = getattr(model, "best_iteration_", None)
    numeric = not any(isinstance(X[c].dtype, pd.CategoricalDtype) for c in X.columns)
    if n_iter == 0:  # a linear start and no tree (LightGBM reads 0 as "every tree")
        contrib = np.zeros((len(X), len(cols) + 1))
    elif numeric and (method == "patterns" or (method == "auto" and len(X) >= PATTERN_MIN_ROWS)):
        contrib = contributions(model.booster_, X.to_numpy(dtype=np.float64), num_iteration=n_iter)
    else:
        contrib = model.booster_.predict(X, pred_contrib=True, num_iteration=n_iter)
    values = pd.DataFrame(contrib[:, :-1], columns=cols, index=X.index)
    base = contrib[:, -1]
    expected = float(base[0]) if len(base) else 0.0
    linear = model.linear_contributions(X) if hasattr(model, "linear_contributions") else None
    if linear is not None:  # the linear start's exact part (coef * z per feature)
        values = values + linear[0][cols].to_numpy()
        expected += linear[1]
    if check_additivity and len(X):
        raw = (model.decision_function(X) if hasattr(model, "linear_contributions")
               else model.booster_.predict(X, raw_score=True, num_iteration=n_iter))
        gap = np.abs(values.to_numpy().sum(axis=1) + expected - raw).max()
        if gap > ADDITIVITY_TOL:
            raise AssertionError(f"SHAP values do not add up to the raw score (max gap {gap:.2e})")
    return Explanation(values, expected)


def _definitions(names: list[str] | pd.Index) -> dict[str, FeatureDef]:
    """Feature definitions, registering the default spec's if some are unknown yet."""
    defs = catalogue()
    if any(n not in defs for n in names):
        defs = feature_catalogue()
    return defs


def _is_percent(name: str) -> bool:
    return name.endswith(("_share", "_share_30d", "_share_90d", "_pct_30d")) or name in (
        "reciprocity", "checkin_adherence_30d", "size_vs_capacity", "pagerank", "hits_authority")


def _display(name: str, value: float) -> str:
    if not np.isfinite(value):
        return "?"
    if _is_percent(name):
        return f"{value:.0%}"
    if abs(value - round(value)) < 1e-9 or abs(value) >= 10:
        return f"{value:.0f}"
    return f"{value:.1f}"


def _display_many(name: str, values: np.ndarray) -> np.ndarray:
    """``[_display(name, v) for v in values]``, with the branch chosen for all values at once."""
    values = np.asarray(values, dtype=float)
    out = np.full(len(values), "?", dtype=object)
    finite = np.isfinite(values)
    if _is_percent(name):
        specs = [(finite, ".0%")]
    else:
        with np.errstate(invalid="ignore"):  # inf - inf: not finite, shown as "?" anyway
            whole = finite & ((np.abs(values - np.round(values)) < 1e-9) | (np.abs(values) >= 10))
        specs = [(whole, ".0f"), (finite & ~whole, ".1f")]
    for mask, spec in specs:
        out[mask] = [format(v, spec) for v in values[mask].tolist()]
    return out


def render_reason(name: str, value: float, lang: Lang = "both") -> str:
    """One feature's reason sentence for a member's value.

    >>> render_reason("days_since_speak", 12.4, "both")
    'no message for 12 days / 12天未发言'
    """
    return _render(name, _definitions([name]).get(name), value, lang)


def _render(name: str, fd: FeatureDef | None, value: float, lang: Lang) -> str:
    return _sentence(name, fd, _display(name, value), lang)


def _sentence(name: str, fd: FeatureDef | None, shown: str, lang: Lang) -> str:
    if fd is None or not fd.reason_en:
        en, zh = f"{name} = {shown}", f"{name} = {shown}"
    else:
        en, zh = fd.reason_en.format(value=shown), fd.reason_zh.format(value=shown)
    return {"en": en, "zh": zh, "both": f"{en} / {zh}"}[lang]


def top_features(explanation: Explanation, k: int = 3) -> pd.DataFrame:
    """The ``k`` features with the largest positive contribution per row (NaN-padded).

    Ties are broken by column order, so the result is deterministic.
    """
    v = explanation.values.to_numpy(dtype=float, copy=True)
    v[np.isnan(v)] = -np.inf  # a missing value never pushes a score up
    k = min(k, v.shape[1])
    # k passes of argmax (the first maximum: ties go to the earlier column) instead of
    # sorting every row: the same as a stable descending argsort's first k columns
    order = np.empty((len(v), k), dtype=np.int64)
    rows = np.arange(len(v))
    for i in range(k):
        order[:, i] = np.argmax(v, axis=1)
        if i + 1 < k:
            v[rows, order[:, i]] = -np.inf
    v = explanation.values.to_numpy()
    cols = np.asarray(explanation.values.columns, dtype=object)
    names = cols[order]
    positive = np.take_along_axis(v, order, axis=1) > 0
    names = np.where(positive, names, None)
    return pd.DataFrame(names, index=explanation.values.index,
                        columns=[f"feature_{i + 1}" for i in range(order.shape[1])])


def reason_codes(explanation: Explanation, X: pd.DataFrame, k: int = 3,
                 lang: Lang = "both") -> pd.DataFrame:
    """Reason sentences for the ``k`` signals that pushed each score up the most.

    Parameters
    ----------
    explanation : Explanation
        From :func:`shap_values` on the same rows.
    X : DataFrame
        The rows' feature values (for the numbers in the sentences).
    k : int, default 3
        How many reasons per row; fewer when fewer features push the score up
        (the rest are empty strings).
    lang : {"en", "zh", "both"}, default "both"

    Returns
    -------
    DataFrame
        Columns ``reason_1`` .. ``reason_k``; each cell equals
        ``render_reason(feature, value, lang)`` for that row's feature.

    Notes
    -----
    Rendered per distinct (feature, displayed value), not per row: a million rows
    take a few seconds, not minutes.
    """
    top = top_features(explanation, k)
    defs = _definitions(explanation.values.columns)
    out = {}
    columns = {}
    for i, col in enumerate(top.columns):
        codes, names = pd.factorize(top[col].to_numpy(dtype=object))  # None -> -1
        texts = np.full(len(codes), "", dtype=object)
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(names) + 1))
        for k, name in enumerate(names):
            rows = order[bounds[k]:bounds[k + 1]]
            if name not in columns:
                columns[name] = X[name].to_numpy(dtype=float)
            # hashing, not sorting, finds the distinct values (NaN is one of them); many
            # values show the same ("12 days"): each sentence is formatted once
            inverse, uniq = pd.factorize(columns[name][rows], use_na_sentinel=False)
            shown_of_value, shown = pd.factorize(_display_many(name, uniq))
            fd = defs.get(name)
            rendered = np.array([_sentence(name, fd, t, lang) for t in shown], dtype=object)
            texts[rows] = rendered[shown_of_value][inverse]
        out[f"reason_{i + 1}"] = texts
    return pd.DataFrame(out, index=X.index)


def family_importance(explanation: Explanation) -> pd.Series:
    """Mean |SHAP| summed per feature family (engagement, benefit, ...), largest first."""
    defs = _definitions(explanation.values.columns)
    mean_abs = explanation.values.abs().mean()
    fam = [defs[c].family if c in defs else "other" for c in mean_abs.index]
    return mean_abs.groupby(fam).sum().sort_values(ascending=False)


def feature_importance(explanation: Explanation) -> pd.DataFrame:
    """Per-feature mean |SHAP| with its family, largest first."""
    defs = _definitions(explanation.values.columns)
    mean_abs = explanation.values.abs().mean().sort_values(ascending=False)
    return pd.DataFrame({
        "feature": mean_abs.index,
        "family": [defs[c].family if c in defs else "other" for c in mean_abs.index],
        "mean_abs_shap": mean_abs.to_numpy(),
    })
