"""Explanations: exact TreeSHAP values, reason codes an operator can act on.

Every score comes with its reasons. For a LightGBM model the SHAP values are
exact and cheap: LightGBM computes TreeSHAP itself (``pred_contrib=True``), the
same numbers the ``shap`` package's ``TreeExplainer`` returns for it (a test
checks they agree). They are additive on the model's raw score (log-odds for the
classifiers): the values of a row plus the expected value equal its raw score,
and :func:`shap_values` checks that before returning.

A *reason code* is one of the features that pushed a member's risk up the most,
rendered with the sentence template registered beside the feature definition
(:mod:`shequn_ml.features._registry`) in English and in Chinese, e.g. "no message
for 12 days" and "12天未发言" (``reason_1_en``, ``reason_1_zh``).

Member reasons come from the member's own features: the group-level family
(``group_context``, every value of which is the member's group's) is left out by
default, because "the group speaks 0.1 times per member" tells an operator nothing
about the member. :func:`group_signals` reports those once per group instead: the
group-level features that raised its members' risk most on average.

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
>>> reason_codes(shap_values(m, risky), risky, lang="en")["reason_1_en"].iloc[0].startswith("no message for")
True
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from shequn_ml.features._registry import GROUP_LEVEL_FAMILIES, FeatureDef, catalogue
from shequn_ml.features.pipeline import feature_catalogue

Lang = Literal["en", "zh", "both"]
#: The languages of the reason sentences, in column order.
LANGS = ("en", "zh")


def langs_of(lang: Lang) -> tuple[str, ...]:
    """The languages ``lang`` asks for: ``"both"`` is ``("en", "zh")``.

    >>> langs_of("zh")
    ('zh',)
    """
    if lang == "both":
        return LANGS
    if lang not in LANGS:
        raise ValueError(f"lang must be 'en', 'zh' or 'both', got {lang!r}")
    return (lang,)

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


def _tidy(text: str) -> str:
    """``"1.0"`` -> ``"1"`` (so "1 day" agrees in number), ``"-0"`` -> ``"0"``."""
    text = text.removesuffix(".0") if "%" not in text else text
    return text[1:] if text in ("-0", "-0%") else text


def _display(name: str, value: float) -> str:
    if not np.isfinite(value):
        return "?"
    if _is_percent(name):
        return _tidy(f"{value:.0%}")
    if abs(value - round(value)) < 1e-9 or abs(value) >= 10:
        return _tidy(f"{value:.0f}")
    return _tidy(f"{value:.1f}")


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
        out[mask] = [_tidy(format(v, spec)) for v in values[mask].tolist()]
    return out


def render_reason(name: str, value: float, lang: Lang = "both") -> str:
    """One feature's reason sentence for a member's value, in one language (or both).

    English sentences agree in number with the value shown ("1 coupon", "0
    coupons"); a negative value of a feature with a negative template reads as
    the past ("membership expired 1.5 days ago", not "expires in -1.5 days").

    >>> render_reason("days_since_speak", 12.4, "en")
    'no message for 12 days'
    >>> render_reason("days_since_speak", 1.0, "zh")
    '1天未发言'
    >>> render_reason("days_to_expiry", -1.5, "both")
    'membership expired 1.5 days ago / 会员已过期1.5天'
    """
    en, zh = _sentences(name, _definitions([name]).get(name), _display(name, value))
    return {"en": en, "zh": zh, "both": f"{en} / {zh}"}[lang]


def _sentences(name: str, fd: FeatureDef | None, shown: str) -> tuple[str, str]:
    """The (English, Chinese) sentence of a feature at a displayed value."""
    if fd is None or not fd.reason_en:
        return f"{name} = {shown}", f"{name} = {shown}"
    return fd.templates(shown)


def group_level_features(names: Sequence[str]) -> list[str]:
    """The columns among ``names`` whose values are their group's (:data:`GROUP_LEVEL_FAMILIES`)."""
    defs = _definitions(list(names))
    return [n for n in names if n in defs and defs[n].family in GROUP_LEVEL_FAMILIES]


def top_features(explanation: Explanation, k: int = 3, *, exclude: Collection[str] = ()) -> pd.DataFrame:
    """The ``k`` features with the largest positive contribution per row (NaN-padded).

    Ties are broken by column order, so the result is deterministic. Columns named
    in ``exclude`` are never chosen.
    """
    v = explanation.values.to_numpy(dtype=float, copy=True)
    v[np.isnan(v)] = -np.inf  # a missing value never pushes a score up
    cols = np.asarray(explanation.values.columns, dtype=object)
    if len(exclude):
        v[:, np.isin(cols, list(exclude))] = -np.inf
    k = min(k, v.shape[1])
    # k passes of argmax (the first maximum: ties go to the earlier column) instead of
    # sorting every row: the same as a stable descending argsort's first k columns
    order = np.empty((len(v), k), dtype=np.int64)
    fresh = np.empty((len(v), k), dtype=bool)  # a column not excluded, not NaN, not chosen before
    rows = np.arange(len(v))
    for i in range(k):
        order[:, i] = np.argmax(v, axis=1)
        fresh[:, i] = np.isfinite(v[rows, order[:, i]])
        v[rows, order[:, i]] = -np.inf
    positive = fresh & (np.take_along_axis(explanation.values.to_numpy(dtype=float), order, axis=1) > 0)
    names = np.where(positive, cols[order], None)
    return pd.DataFrame(names, index=explanation.values.index,
                        columns=[f"feature_{i + 1}" for i in range(order.shape[1])])


def reason_codes(explanation: Explanation, X: pd.DataFrame, k: int = 3, lang: Lang = "both", *,
                 group_level: bool = False, with_features: bool = False) -> pd.DataFrame:
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
        Which sentence columns to return.
    group_level : bool, default False
        Also let group-level features (:func:`group_level_features`) be reasons.
        By default a member's reasons are their own features; the group's are
        reported once per group by :func:`group_signals`.
    with_features : bool, default False
        Also return ``reason_<i>_feature``: the feature behind each reason ("" for none).

    Returns
    -------
    DataFrame
        Columns ``reason_<i>_en`` and/or ``reason_<i>_zh`` for i = 1 .. k (and
        ``reason_<i>_feature``); each sentence equals
        ``render_reason(feature, value, "en")`` (or ``"zh"``) for that row's feature.

    Notes
    -----
    Rendered per distinct (feature, displayed value), not per row: a million rows
    take a few seconds, not minutes.
    """
    langs = langs_of(lang)
    exclude = () if group_level else group_level_features(list(explanation.values.columns))
    top = top_features(explanation, k, exclude=exclude)
    return _render_top(top, X, langs, with_features, prefix="reason")


def _render_top(top: pd.DataFrame, X: pd.DataFrame, langs: tuple[str, ...], with_features: bool, *,
                prefix: str) -> pd.DataFrame:
    """Sentences for a table of chosen features (``feature_1`` ..), with values from ``X``."""
    defs = _definitions(list(X.columns))
    out = {}
    columns = {}
    for i, col in enumerate(top.columns):
        codes, names = pd.factorize(top[col].to_numpy(dtype=object))  # None -> -1
        texts = {lg: np.full(len(codes), "", dtype=object) for lg in LANGS}
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(names) + 1))
        for j, name in enumerate(names):
            rows = order[bounds[j]:bounds[j + 1]]
            if name not in columns:
                columns[name] = X[name].to_numpy(dtype=float)
            # hashing, not sorting, finds the distinct values (NaN is one of them); many
            # values show the same ("12 days"): each sentence is formatted once
            inverse, uniq = pd.factorize(columns[name][rows], use_na_sentinel=False)
            shown_of_value, shown = pd.factorize(_display_many(name, uniq))
            fd = defs.get(name)
            pairs = [_sentences(name, fd, t) for t in shown]
            for li, lg in enumerate(LANGS):
                rendered = np.array([p[li] for p in pairs], dtype=object)
                texts[lg][rows] = rendered[shown_of_value][inverse]
        if with_features:
            out[f"{prefix}_{i + 1}_feature"] = np.where(codes >= 0, top[col].to_numpy(dtype=object), "")
        for lg in langs:
            out[f"{prefix}_{i + 1}_{lg}"] = texts[lg]
    return pd.DataFrame(out, index=X.index)


def group_signals(explanation: Explanation, X: pd.DataFrame, groups: Sequence[object] | pd.Series, *,
                  k: int = 3, lang: Lang = "both", with_features: bool = False) -> pd.DataFrame:
    """Per group, the group-level features that raised its members' scores most.

    A group-level feature (:func:`group_level_features`) has one value per group;
    its SHAP value differs between members only through interactions. The signal
    of a group is its mean SHAP value over the group's rows; the ``k`` largest
    positive means are reported, rendered with the group's value.

    Parameters
    ----------
    explanation : Explanation
        From :func:`shap_values` on the rows of ``X``.
    X : DataFrame
        The rows' feature values.
    groups : sequence
        The group of each row (same length and order as ``X``).
    k : int, default 3
    lang : {"en", "zh", "both"}, default "both"
    with_features : bool, default False
        Also return ``group_signal_<i>_feature``.

    Returns
    -------
    DataFrame
        One row per group (sorted by ``group_id``): ``group_id``, ``members_explained``
        (the rows the mean is over) and ``group_signal_<i>_en`` / ``_zh`` for
        i = 1 .. k ("" where fewer group-level features raised the mean).

    Examples
    --------
    >>> ex = Explanation(pd.DataFrame({"group_size": [0.2, 0.4, -0.1], "days_since_speak": [1., 1., 1.]}), 0.)
    >>> X = pd.DataFrame({"group_size": [120., 120., 8.], "days_since_speak": [3., 4., 5.]})
    >>> group_signals(ex, X, ["g1", "g1", "g2"], lang="en")[["group_id", "group_signal_1_en"]].to_dict("list")
    {'group_id': ['g1', 'g2'], 'group_signal_1_en': ['the group has 120 members', '']}
    """
    langs = langs_of(lang)
    ids_given = np.asarray(groups, dtype=object)
    if len(ids_given) != len(X) or len(X) != len(explanation.values):
        raise ValueError(f"group_signals: {len(ids_given)} group ids for {len(X)} rows "
                         f"({len(explanation.values)} explained)")
    g = pd.Series(ids_given, index=explanation.values.index).astype(str)
    cols = group_level_features(list(explanation.values.columns))
    values = explanation.values[cols] if cols else pd.DataFrame(index=explanation.values.index)
    means = values.groupby(g.to_numpy(), sort=True).mean()
    ids = means.index if cols else pd.Index(sorted(set(g)))
    shown = X.loc[:, cols].groupby(g.to_numpy(), sort=True).mean().reindex(ids) if cols else \
        pd.DataFrame(index=ids)
    per_group = Explanation(means.reindex(ids).reset_index(drop=True), 0.0)
    if cols:
        top = top_features(per_group, k)
        for i in range(top.shape[1], k):  # fewer group-level columns than k
            top[f"feature_{i + 1}"] = None
    else:
        top = pd.DataFrame({f"feature_{i + 1}": [None] * len(ids) for i in range(k)})
    rendered = _render_top(top, shown.reset_index(drop=True), langs, with_features, prefix="group_signal")
    counts = g.value_counts().reindex(ids).to_numpy(dtype=np.int64)
    out = pd.DataFrame({"group_id": np.asarray(ids, dtype=object), "members_explained": counts})
    return pd.concat([out, rendered.reset_index(drop=True)], axis=1)


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
