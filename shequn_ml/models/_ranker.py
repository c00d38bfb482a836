"""``KolRanker``: LightGBM lambdarank for 头狼 / KOL candidates, and its model spec.

A ranker learns an *order* within each query group, here one group (群) at one
cutoff: who in this group will have the most influence over the coming horizon
(:mod:`shequn_ml.influence`). Rows arrive as consecutive blocks, one block per
query, and ``group`` lists the block sizes; the sizes must add up to the rows,
or every later block would be read as the wrong group. :func:`query_sizes`
sorts a table into blocks and returns the sizes.

Like the risk classifiers (:mod:`shequn_ml.models._classifier`) it is a
scikit-learn estimator: the constructor only stores parameters, ``fit`` returns
``self``, learned state ends in ``_``, and a later validation fold stops the
boosting when its NDCG@``eval_at`` stops improving.

Examples
--------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> X = pd.DataFrame({"partners_in": rng.poisson(3, 600).astype(float),
...                   "noise": rng.normal(size=600)})
>>> y = np.minimum(X["partners_in"].to_numpy() // 2, 4).astype(int)
>>> sizes = [30] * 20
>>> m = KolRanker(n_estimators=40, min_child_samples=5, n_jobs=1).fit(X[:450], y[:450], group=sizes[:15],
...     X_val=X[450:], y_val=y[450:], group_val=sizes[15:])
>>> m.predict(X[:3]).shape
(3,)
>>> KolRanker().fit(X, y, group=[100, 100])  # doctest: +ELLIPSIS
Traceback (most recent call last):
ValueError: KolRanker.fit: the query group sizes add up to 200 rows, but X has 600: expected 200 ...
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import lightgbm as lgb
import numpy as np
import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    field_validator,
)
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from shequn_ml.models._validation import check_frame
from shequn_ml.specs import load_yaml_model

#: LightGBM's default label gains (2**i - 1) are defined for relevance 0..30.
MAX_RELEVANCE = 30
#: LightGBM refuses query groups this large or larger.
MAX_QUERY_ROWS = 10_000
#: Size of the tie-breaking term (see ``KolRanker``'s ``tie_break``): below any gap between
#: two different sums of leaf values that matters, far above float64 resolution of scores ~1.
TIE_EPS = 1e-7
QUERY = ["cutoff", "group_id"]


def query_sizes(table: pd.DataFrame, by: Sequence[str] = QUERY) -> tuple[pd.DataFrame, np.ndarray]:
    """Sort a table into query blocks and return it with the block sizes.

    Parameters
    ----------
    table : DataFrame
        Rows keyed by ``by`` (default: ``cutoff`` then ``group_id``), e.g. a
        feature table joined to its labels.
    by : sequence of str
        The columns that identify a query group.

    Returns
    -------
    (DataFrame, ndarray of int)
        The rows sorted by ``by`` then ``member_id`` (when present), and the size
        of each consecutive block: what :meth:`KolRanker.fit` takes as ``group``.

    Examples
    --------
    >>> t = pd.DataFrame({"cutoff": [2, 1, 1], "group_id": ["g", "g", "h"], "member_id": ["a", "b", "c"]})
    >>> rows, sizes = query_sizes(t)
    >>> rows["member_id"].tolist(), sizes.tolist()
    (['b', 'c', 'a'], [1, 1, 1])
    """
    cols = list(by) + (["member_id"] if "member_id" in table.columns else [])
    keys = {c: (table[c].astype(str) if isinstance(table[c].dtype, pd.CategoricalDtype) else table[c])
            for c in cols}
    order = pd.DataFrame(keys).sort_values(cols, kind="stable").index
    rows = table.loc[order].reset_index(drop=True)
    sizes = rows.groupby(list(by), sort=False, observed=True).size().to_numpy()
    return rows, sizes.astype(np.int64)


def check_groups(group: object, n_rows: int, *, where: str) -> np.ndarray:
    """Query group sizes: positive integers that add up to the rows.

    Raises
    ------
    ValueError
        Naming the expected and the actual row count, and how to build sizes.
    """
    if group is None:
        raise ValueError(f"{where}: query group sizes are required (group=[rows of query 1, rows of "
                         "query 2, ...]); build them with shequn_ml.models._ranker.query_sizes(table)")
    sizes = np.asarray(group)
    if sizes.ndim != 1 or len(sizes) == 0 or not np.issubdtype(sizes.dtype, np.number):
        raise ValueError(f"{where}: group must be a 1-d sequence of query group sizes; got {group!r:.80}")
    if np.any(sizes != np.round(sizes)) or np.any(sizes < 1):
        raise ValueError(f"{where}: query group sizes must be positive integers; got "
                         f"{sizes[(sizes != np.round(sizes)) | (sizes < 1)][:5].tolist()}")
    sizes = sizes.astype(np.int64)
    total = int(sizes.sum())
    if total != n_rows:
        raise ValueError(
            f"{where}: the query group sizes add up to {total} rows, but X has {n_rows}: expected "
            f"{total} rows from the group sizes, got {n_rows}. Each size counts the consecutive rows "
            "of one query (one group at one cutoff); sort the rows by query and count them with "
            "query_sizes(table)")
    if sizes.max() >= MAX_QUERY_ROWS:
        raise ValueError(f"{where}: a query group has {sizes.max()} rows; LightGBM's lambdarank takes "
                         f"fewer than {MAX_QUERY_ROWS} per query: split very large groups")
    return sizes


def check_relevance(y: object, n: int, *, where: str) -> np.ndarray:
    """Graded relevance: integers 0..30, one per row, not all 0."""
    arr = np.asarray(y)
    if arr.ndim != 1 or len(arr) != n:
        raise ValueError(f"{where}: y must be one relevance grade per row ({n}); got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) or np.any(arr != np.round(arr)) \
            or np.any(arr < 0) or np.any(arr > MAX_RELEVANCE):
        bad = sorted(set(np.unique(arr).tolist()) - set(range(MAX_RELEVANCE + 1)))[:5]
        raise ValueError(f"{where}: y must hold integer relevance grades 0..{MAX_RELEVANCE}; got {bad}")
    if not np.any(arr > 0):
        raise ValueError(f"{where}: every relevance grade is 0: there is nothing to rank")
    return arr.astype(np.int64)


class KolRanker(BaseEstimator):
    """Who will lead (头狼 / KOL): LightGBM lambdarank within each group at a cutoff.

    Parameters
    ----------
    n_estimators : int, default 500
        Upper bound on trees; early stopping picks ``best_iteration_``.
    learning_rate, num_leaves, min_child_samples, subsample, colsample_bytree, reg_lambda
        LightGBM's parameters of the same names (defaults 0.05, 7, 50, 0.8, 0.8,
        1.0). Small trees with large leaves: a community yields only a few hundred
        query groups per fold, and the validation NDCG peaks after a few dozen
        trees with LightGBM's default 31 leaves.
    eval_at : int, default 10
        Early stopping watches the validation fold's NDCG at this depth.
    early_stopping_rounds : int or None, default 50
        Stop when validation NDCG@``eval_at`` has not improved for this many trees.
    random_state : int, default 0
        Seed: the same data, parameters and seed give the same model.
    n_jobs : int, default 2
        Threads. Use 1 on a machine whose cores are busy with other work:
        LightGBM's OpenMP threads then wait on each other (a 60-tree fit took 34 s
        with 2 threads and 0.24 s with 1 on a shared 2-core machine).
    tie_break : str, list of str or None, default None
        A feature column that orders members the trees score equally, or candidate
        columns to choose between on the validation fold (the one whose tie-broken
        ranking has the highest validation NDCG@``eval_at``; the first on a tie). On
        a small community early stopping keeps few small trees (5 on Stack Exchange
        cardano), whose scores take a few dozen values: 8 members shared the top
        score there. Metrics average over the orders of tied members, and so would an
        operator reading the list at random; ordering them by a strong single signal
        (last period's influence, PageRank, reply partners) does better. The term
        added is below ``TIE_EPS`` (1e-7), so it reorders only scores that are equal
        or within 1e-7 of each other; SHAP values explain the trees' part
        (:meth:`decision_function`).

    Attributes
    ----------
    feature_names_in_ : ndarray
        Columns seen in fit; later inputs are reordered to them.
    best_iteration_ : int
        Trees used at prediction.
    booster_ : lightgbm.Booster
        The fitted booster, e.g. for ``booster_.predict(X, pred_contrib=True)``.
    tie_break_ : str or None
        The column that breaks ties; ``tie_break_search_`` holds each candidate's
        validation NDCG when several were given.

    Notes
    -----
    Scores are comparable only within a query group: rank members of one group
    at one cutoff by them (:func:`shequn_ml.ranking.kol_candidates` does, with
    ties broken by member id).
    """

    def __init__(
        self,
        n_estimators: int = 500,
        learning_rate: float = 0.05,
        num_leaves: int = 7,
        min_child_samples: int = 50,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        reg_lambda: float = 1.0,
        eval_at: int = 10,
        early_stopping_rounds: int | None = 50,
        random_state: int = 0,
        n_jobs: int = 2,
        tie_break: str | list[str] | None = None,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.eval_at = eval_at
        self.early_stopping_rounds = early_stopping_rounds
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.tie_break = tie_break

    def fit(self, X: pd.DataFrame, y: object, group: Sequence[int] | np.ndarray | None = None, *,
            X_val: pd.DataFrame | None = None, y_val: object | None = None,
            group_val: Sequence[int] | np.ndarray | None = None) -> KolRanker:
        """Fit the ranker on query blocks; stop early on the validation blocks.

        Parameters
        ----------
        X : DataFrame
            Features, rows in consecutive query blocks.
        y : array-like of int
            Graded relevance 0..30 per row (e.g. ``influence_labels(...)["relevance"]``).
        group : sequence of int
            Rows of each consecutive query block; must add up to ``len(X)``.
        X_val, y_val, group_val : optional
            The validation fold (later cutoffs), in the same form. Without it all
            ``n_estimators`` trees are used.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            When the group sizes do not add up to the rows ("expected N rows from
            the group sizes, got M"), a grade is outside 0..30, or the validation
            columns differ from the training ones.
        """
        name = type(self).__name__
        X = check_frame(X, where=f"{name}.fit")
        sizes = check_groups(group, len(X), where=f"{name}.fit")
        y = check_relevance(y, len(X), where=f"{name}.fit")
        has_val = X_val is not None or y_val is not None or group_val is not None
        if has_val:
            if X_val is None or y_val is None or group_val is None:
                raise ValueError(f"{name}.fit: the validation fold needs X_val, y_val and group_val "
                                 "together")
            X_val = check_frame(X_val, where=f"{name}.fit (validation)", expected_columns=list(X.columns))
            sizes_val = check_groups(group_val, len(X_val), where=f"{name}.fit (validation)")
            y_val = check_relevance(y_val, len(X_val), where=f"{name}.fit (validation)")
        if not (isinstance(self.eval_at, int | np.integer) and self.eval_at >= 1):
            raise ValueError(f"The 'eval_at' parameter of {name} must be an int >= 1. "
                             f"Got {self.eval_at!r} instead.")
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        self.categorical_features_ = [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]
        self.ranker_ = lgb.LGBMRanker(
            objective="lambdarank", n_estimators=self.n_estimators, learning_rate=self.learning_rate,
            num_leaves=self.num_leaves, min_child_samples=self.min_child_samples,
            subsample=self.subsample, subsample_freq=1 if self.subsample < 1 else 0,
            colsample_bytree=self.colsample_bytree, reg_lambda=self.reg_lambda,
            random_state=self.random_state, n_jobs=self.n_jobs, deterministic=True,
            force_row_wise=True, verbose=-1)
        callbacks = []
        fit_kw: dict = {}
        if has_val:
            fit_kw.update(eval_X=(X_val,), eval_y=(y_val,), eval_group=[sizes_val],
                          eval_at=[int(self.eval_at)], eval_metric="ndcg")
            if self.early_stopping_rounds:
                callbacks.append(lgb.early_stopping(self.early_stopping_rounds, verbose=False))
        self.ranker_.fit(X, y, group=sizes, callbacks=callbacks,
                         categorical_feature=self.categorical_features_ or "auto", **fit_kw)
        best = self.ranker_.best_iteration_ if has_val and self.early_stopping_rounds else 0
        self.best_iteration_ = int(best) if best else int(self.ranker_.booster_.current_iteration())
        self.best_score_ = dict(self.ranker_.best_score_.get("valid_0", {})) if has_val else {}
        self._fit_tie_break(X, X_val if has_val else None, y_val if has_val else None,
                            sizes_val if has_val else None)
        return self

    def _fit_tie_break(self, X: pd.DataFrame, X_val: pd.DataFrame | None, y_val: np.ndarray | None,
                       sizes_val: np.ndarray | None) -> None:
        name = type(self).__name__
        given = self.tie_break
        candidates = [] if given is None else [given] if isinstance(given, str) else list(given)
        missing = [c for c in candidates if c not in X.columns]
        if missing or (given is not None and not candidates):
            raise ValueError(f"The 'tie_break' parameter of {name} must name feature columns; "
                             f"{missing or given!r} not among the {X.shape[1]} columns of X")
        if len(candidates) > 1 and X_val is None:
            raise ValueError(f"{name}.fit: tie_break={candidates} lists candidates to choose between "
                             "on the validation fold; pass X_val, y_val and group_val, or give one column")
        self.tie_scale_ = {}
        for c in candidates:
            v = np.abs(X[c].to_numpy(dtype=float, na_value=np.nan))
            v = v[np.isfinite(v) & (v > 0)]
            self.tie_scale_[c] = float(np.median(v)) if len(v) else 1.0
        self.tie_break_search_ = {}
        self.tie_break_ = candidates[0] if candidates else None
        if len(candidates) > 1:
            from shequn_ml.ranking import ndcg_at_k  # ranking imports this module

            raw = self.ranker_.predict(X_val, num_iteration=self.best_iteration_)
            bounds = np.concatenate([[0], np.cumsum(sizes_val)])
            for c in candidates:
                score = raw + self._tie_term(X_val, c)
                self.tie_break_search_[c] = float(np.mean([
                    ndcg_at_k(y_val[a:b], score[a:b], int(self.eval_at))
                    for a, b in zip(bounds[:-1], bounds[1:], strict=True) if np.any(y_val[a:b] > 0)]))
            self.tie_break_ = max(candidates, key=lambda c: (self.tie_break_search_[c], -candidates.index(c)))

    def _tie_term(self, X: pd.DataFrame, column: str) -> np.ndarray:
        """``TIE_EPS * v / (|v| + scale)``: increasing in the column's value, below ``TIE_EPS``."""
        v = np.nan_to_num(X[column].to_numpy(dtype=float, na_value=np.nan), nan=0.0)
        return TIE_EPS * v / (np.abs(v) + self.tie_scale_[column])

    @property
    def booster_(self) -> lgb.Booster:
        """The fitted LightGBM booster."""
        check_is_fitted(self, "ranker_")
        return self.ranker_.booster_

    def _checked(self, X: pd.DataFrame, where: str) -> pd.DataFrame:
        check_is_fitted(self, "ranker_")
        return check_frame(X, where=f"{type(self).__name__}.{where}",
                           expected_columns=list(self.feature_names_in_))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Ranking scores (higher ranks first); comparable only within a query group.

        The trees' scores (:meth:`decision_function`), plus the tie-breaking term
        when ``tie_break`` is set.
        """
        X = self._checked(X, "predict")
        score = self.ranker_.predict(X, num_iteration=self.best_iteration_)
        if getattr(self, "tie_break_", None) is not None:
            score = score + self._tie_term(X, self.tie_break_)
        return score

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """The trees' raw scores, without the tie-breaking term (what SHAP values add up to)."""
        X = self._checked(X, "decision_function")
        return self.ranker_.predict(X, num_iteration=self.best_iteration_)

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Exact TreeSHAP values (LightGBM's ``pred_contrib``), one column per feature.

        The row sums plus the ``expected_value`` column equal :meth:`predict`.
        """
        X = self._checked(X, "contributions")
        contrib = self.ranker_.booster_.predict(X, pred_contrib=True, num_iteration=self.best_iteration_)
        cols = list(self.feature_names_in_) + ["expected_value"]
        return pd.DataFrame(contrib, columns=cols, index=X.index)

    def __sklearn_tags__(self):  # noqa: D105
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.estimator_type = "ranker"
        return tags


# ---------------------------------------------------------------------------- spec
class KolLabelSpec(BaseModel):
    """How the influence label is made (see :func:`shequn_ml.influence.influence_labels`)."""

    model_config = ConfigDict(extra="forbid")

    horizon_days: PositiveFloat = 28
    label: Literal["influence", "kol_tag"] = "influence"
    invitee_weight: float = Field(2.0, ge=0)
    organise_weight: float = Field(1.0, ge=0)
    grade_quantiles: list[float] = Field(default_factory=lambda: [0.5, 0.75, 0.9], min_length=1,
                                         max_length=29)

    @field_validator("grade_quantiles")
    @classmethod
    def _increasing(cls, v: list[float]) -> list[float]:
        if any(b <= a for a, b in zip(v, v[1:], strict=False)) or v[0] <= 0 or v[-1] >= 1:
            raise ValueError(f"must be increasing shares in (0, 1), got {v}")
        return v


class KolParams(BaseModel):
    """The ranker's parameters (see :class:`KolRanker`)."""

    model_config = ConfigDict(extra="forbid")

    n_estimators: PositiveInt = 500
    learning_rate: PositiveFloat = 0.05
    num_leaves: int = Field(7, ge=2)
    min_child_samples: PositiveInt = 50
    subsample: float = Field(0.8, gt=0, le=1)
    colsample_bytree: float = Field(0.8, gt=0, le=1)
    reg_lambda: float = Field(1.0, ge=0)
    eval_at: PositiveInt = 10
    early_stopping_rounds: PositiveInt | None = 50
    random_state: int = 0
    n_jobs: PositiveInt = 2
    #: a feature column ordering members the trees score equally, or candidates chosen on validation
    tie_break: str | list[str] | None = None


class KolModelSpec(BaseModel):
    """The 头狼 / KOL ranker: its label and its LightGBM parameters.

    Examples
    --------
    >>> spec = KolModelSpec(name="shequn-kol", label={"horizon_days": 21})
    >>> spec.build().get_params()["eval_at"], spec.label.grade_quantiles
    (10, [0.5, 0.75, 0.9])
    """

    model_config = ConfigDict(extra="forbid")

    task: Literal["kol"] = "kol"
    name: str = Field("shequn-kol", min_length=1, description="registered model name")
    label: KolLabelSpec = Field(default_factory=KolLabelSpec)
    params: KolParams = Field(default_factory=KolParams)

    def build(self) -> KolRanker:
        """A fresh, unfitted ranker with these parameters."""
        return KolRanker(**{**KolRanker().get_params(), **self.params.model_dump(exclude_unset=True)})


def load_kol_spec(path: str | Path) -> KolModelSpec:
    """Load and validate a KOL model spec (``models/kol.yaml``).

    Raises
    ------
    SpecError
        Naming the file and each bad key (an unknown key is an error too).
    """
    return load_yaml_model(path, KolModelSpec)


__all__ = ["KolLabelSpec", "KolModelSpec", "KolParams", "KolRanker", "check_groups", "load_kol_spec",
           "query_sizes"]
