"""头狼 / KOL ranking: metrics, the ranked candidate table, and the evaluation.

Everything here is judged per *query group*, one group (群) at one cutoff,
because an operator acts on one group's list at a time: "who in this group should
I cultivate?". Scores are only compared within a query.

Metrics (:func:`ranking_metrics`)
---------------------------------
``ndcg@5``, ``ndcg@10``
    Normalised discounted cumulative gain of the ranking at depth 5 and 10, with
    exponential gain ``2**relevance - 1`` (the gain LightGBM's lambdarank
    optimises) and discount ``1 / log2(position + 1)``. Tied scores are
    *averaged* over their orderings (scikit-learn's ``ndcg_score`` default), so a
    baseline with many equal scores is neither helped nor hurt by how ties fall.
    Averaged over the query groups with at least 2 members and some nonzero
    relevance (a one-member list is trivially perfect; an all-zero one has no
    ideal order).
``precision@k``, ``recall@k``
    Of the top influence decile (``top_decile`` from
    :func:`~shequn_ml.influence.influence_labels`): the share of the top
    ``min(k, n)`` places it fills, and the share of it found there; expected
    values under random tie-breaking. Averaged over the same query groups.
``leader_recall``
    Simulator only. Truth leaders are the members with ``opinion_leader`` or a
    latent ``leadership`` above 0.5 (the simulator's own threshold: only they
    organise activities). Pooled over all test query groups with at least 2
    members: of all truth leaders present, the expected share ranked in their
    group's top k. It asks whether the latent 头狼 trait is found, which the
    influence label rewards only when a leader acts in the window: many
    simulated leaders rarely speak, so a ranker that forecasts influence well
    can still find few of them (past recognition, ``partners_in`` or PageRank,
    finds more). Read it beside the chance level, ranking by a constant score.
``ndcg_vs_oracle``
    ``ndcg@10`` as a fraction of the oracle's, whose ranking is the simulator's
    true ``expected_replies`` (default) or ``leadership``, scored by the same
    code. Expected replies forecast the label's largest part, not the whole of
    it (distinct responders, kept invitees and organising are not in it), so it
    is a reference, not a ceiling: a model can exceed 1. Latent leadership is a
    poor ranking of *realised* influence (NDCG@10 0.30 against 0.69 for expected
    replies on a 1,500-member world), hence the default.

Examples
--------
>>> import numpy as np
>>> round(ndcg_at_k(np.array([3, 2, 0, 1]), np.array([0.9, 0.8, 0.7, 0.6]), k=4), 4)
0.9926
>>> ndcg_at_k(np.array([0, 1]), np.array([1.0, 1.0]), k=1)  # a tie: the average of both orders
0.5
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from shequn_ml.features import FeatureSpec, build_features, feature_columns
from shequn_ml.features._registry import feature
from shequn_ml.features.snapshots import EventHistory, as_cutoffs
from shequn_ml.influence import (
    INVITEE_WEIGHT,
    ORGANISE_WEIGHT,
    hits_authority,
    influence_labels,
    last_period_influence,
)
from shequn_ml.models._ranker import KolModelSpec, KolRanker, query_sizes
from shequn_ml.split import DataError, TimeSplit, time_split

KEY = ["group_id", "member_id", "cutoff"]
QUERY = ["cutoff", "group_id"]
METRICS = ("ndcg@5", "ndcg@10", "precision@k", "recall@k", "leader_recall", "ndcg_vs_oracle",
           "n_queries")
#: Baselines: a feature column each, ranked as is (higher first).
BASELINES = {
    "message_count": "speak_count_30d",
    "reply_partners": "partners_in",
    "pagerank": "pagerank",
    "hits_authority": "hits_authority",
    "last_period_influence": "prev_influence",
}
#: A truth member with latent leadership above this is a leader (the simulator's threshold).
LEADERSHIP_THRESHOLD = 0.5


# ---------------------------------------------------------------------------- metrics
def _blocks(score: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Order by score (desc, NaN last), tie blocks, discounts and P(position < k) per block."""
    s = np.where(np.isnan(score), -np.inf, score)
    order = np.argsort(-s, kind="stable")
    s = s[order]
    block = np.cumsum(np.r_[0, s[1:] != s[:-1]]) if len(s) else np.zeros(0, np.int64)
    pos = np.arange(len(s))
    disc = np.where(pos < k, 1.0 / np.log2(pos + 2.0), 0.0)
    size = np.bincount(block).astype(float)
    in_top = np.bincount(block, weights=(pos < k).astype(float)) / size
    return order, block, np.bincount(block, weights=disc), in_top


def ndcg_at_k(relevance: np.ndarray, score: np.ndarray, k: int) -> float:
    """NDCG@k of one query, gain ``2**rel - 1``, tied scores averaged over their orders.

    Equals ``sklearn.metrics.ndcg_score([2**rel - 1], [score], k=k)``; NaN when
    every relevance is 0. NaN scores rank last.

    Parameters
    ----------
    relevance : ndarray of int
        Graded relevance of each member.
    score : ndarray of float
        The ranking score (higher first).
    k : int
        Depth.
    """
    rel = np.asarray(relevance, dtype=float)
    gain = np.exp2(rel) - 1.0
    ideal = np.sort(gain)[::-1][:k]
    idcg = float((ideal / np.log2(np.arange(len(ideal)) + 2.0)).sum())
    if idcg <= 0:
        return math.nan
    order, block, block_disc, _ = _blocks(np.asarray(score, dtype=float), k)
    mean_gain = np.bincount(block, weights=gain[order]) / np.bincount(block)
    return float((mean_gain * block_disc).sum() / idcg)


def expected_in_top_k(score: np.ndarray, k: int) -> np.ndarray:
    """Probability that each member is in the top k when ties are broken at random.

    >>> expected_in_top_k(np.array([3.0, 1.0, 1.0, 0.0]), 2).tolist()
    [1.0, 0.5, 0.5, 0.0]
    """
    score = np.asarray(score, dtype=float)
    order, block, _, in_top = _blocks(score, k)
    out = np.empty(len(score))
    out[order] = in_top[block]
    return out


def ranking_metrics(table: pd.DataFrame, score: str, *, relevance: str = "relevance",
                    top: str = "top_decile", leader: str | None = None, k: int = 10,
                    query: Sequence[str] = QUERY) -> dict[str, float]:
    """NDCG@5, NDCG@10, precision@k and recall@k of the top decile (and leader recall).

    Parameters
    ----------
    table : DataFrame
        One row per member and query, with the ``query`` columns, the ``score``
        to rank by, ``relevance`` (int grades) and ``top`` (bool).
    score : str
        Column to rank by, higher first; NaN ranks last.
    leader : str, optional
        A bool column of truth leaders: adds ``leader_recall``.
    k : int, default 10
        Depth of precision, recall and leader recall.

    Returns
    -------
    dict
        ``ndcg@5``, ``ndcg@10``, ``precision@k``, ``recall@k`` (means over the
        query groups with >= 2 members and some nonzero relevance),
        ``leader_recall`` (pooled; NaN without ``leader`` or leaders) and
        ``n_queries``. See the module docstring.

    Examples
    --------
    >>> t = pd.DataFrame({"cutoff": 1, "group_id": "g", "s": [3.0, 2, 1, 0],
    ...                   "relevance": [0, 2, 1, 0], "top_decile": [False, True, False, False]})
    >>> m = ranking_metrics(t, "s", k=1)
    >>> round(m["ndcg@5"], 4), m["precision@k"], m["recall@k"], m["n_queries"]
    (0.659, 0.0, 0.0, 1.0)
    """
    sums = dict.fromkeys(("ndcg@5", "ndcg@10", "precision@k", "recall@k"), 0.0)
    n_q = 0
    leaders_found = leaders_total = 0.0
    s_all = table[score].to_numpy(dtype=float)
    r_all = table[relevance].to_numpy(dtype=float)
    t_all = table[top].to_numpy(dtype=bool)
    l_all = table[leader].to_numpy(dtype=bool) if leader is not None else None
    for rows in table.groupby(list(query), sort=False, observed=True).indices.values():
        if len(rows) < 2:
            continue
        s = s_all[rows]
        if l_all is not None:
            lead = l_all[rows]
            leaders_total += lead.sum()
            leaders_found += expected_in_top_k(s, k)[lead].sum()
        r = r_all[rows]
        if not (r > 0).any():
            continue
        n_q += 1
        sums["ndcg@5"] += ndcg_at_k(r, s, 5)
        sums["ndcg@10"] += ndcg_at_k(r, s, 10)
        hit = expected_in_top_k(s, k)[t_all[rows]].sum()
        sums["precision@k"] += hit / min(k, len(rows))
        n_top = t_all[rows].sum()
        sums["recall@k"] += hit / n_top if n_top else 0.0
    out = {name: float(v / n_q) if n_q else math.nan for name, v in sums.items()}
    out["leader_recall"] = float(leaders_found / leaders_total) if leaders_total else math.nan
    out["n_queries"] = float(n_q)
    return out


# ---------------------------------------------------------------------------- features
def define_kol_features(horizon_days: float, window_days: int) -> None:
    """Register the ranker's extra columns, so docs and reason codes can name them."""
    h = int(round(horizon_days))
    feature("prev_responders", "relationship", h,
            f"distinct members who replied to, mentioned or reacted to the member in the last {h} days.",
            "{value} [member|members] answered them lately", "近期有{value}人回应TA")
    feature("prev_kept_invitees", "relationship", h,
            f"members the member invited in the last {h} days who are still present.",
            "{value} [invitee|invitees] still here", "邀请的{value}人仍在群内")
    feature("prev_organised", "relationship", h,
            f"distinct members who signed up for activities the member organised in the last {h} days.",
            "{value} [member|members] joined their activities", "{value}人参加TA组织的活动")
    feature("prev_influence", "relationship", h,
            f"last {h} days' influence score (responders + weighted kept invitees and sign-ups).",
            "recent influence score {value}", "近期影响力{value}")
    feature("hits_authority", "relationship", window_days,
            f"HITS authority in the group's reply/mention graph over {window_days} days (1 = the top).",
            "sought out by others (authority {value})", "被他人频繁回应（权威度{value}）")


def kol_features(
    events: pd.DataFrame,
    cutoffs: object | Sequence[object],
    horizon_days: float,
    spec: FeatureSpec | None = None,
    *,
    members: pd.DataFrame | None = None,
    groups: pd.DataFrame | None = None,
    invitee_weight: float = INVITEE_WEIGHT,
    organise_weight: float = ORGANISE_WEIGHT,
    history: EventHistory | None = None,
    progress: bool = False,
    base: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The ranker's features: :func:`~shequn_ml.features.build_features` plus two influence signals.

    Added columns, both point in time (read before the cutoff):
    ``prev_responders``, ``prev_kept_invitees``, ``prev_organised``,
    ``prev_influence`` (:func:`~shequn_ml.influence.last_period_influence` on
    [t - horizon, t)), and ``hits_authority``
    (:func:`~shequn_ml.influence.hits_authority` over the spec's
    ``relationship_window_days``).

    Parameters
    ----------
    events, members, groups : DataFrame
        Normalised tables.
    cutoffs : timestamp or sequence
        Required cutoffs t.
    horizon_days : float
        The label's horizon h: the last-period window is [t - h, t).
    spec : FeatureSpec, optional
        Families and windows (default spec when omitted).
    invitee_weight, organise_weight : float
        The influence score's weights; use the label's.
    history : EventHistory, optional
        The same events already prepared (saves sorting them again).
    progress : bool, default False
        Show a progress bar over cutoffs.
    base : DataFrame, optional
        ``build_features(events, cutoffs, spec, ...)`` already computed (the batch
        job shares it with the risk models); computed here when omitted.

    Returns
    -------
    DataFrame
        One row per (group_id, member_id, cutoff) present at the cutoff, sorted by
        the key; float feature columns.
    """
    spec = spec or FeatureSpec()
    define_kol_features(horizon_days, spec.relationship_window_days)
    table = base if base is not None else build_features(events, cutoffs, spec, members=members,
                                                         groups=groups, progress=progress)
    if history is None:
        history = EventHistory(events, members=members, groups=groups)
    cuts = as_cutoffs(cutoffs)
    prev = last_period_influence(history, cuts, horizon_days, invitee_weight=invitee_weight,
                                 organise_weight=organise_weight)
    hits = hits_authority(history, cuts, window_days=spec.relationship_window_days)
    for extra in (prev, hits):
        table = table.merge(extra, on=KEY, how="left", validate="one_to_one")
    return table


# ---------------------------------------------------------------------------- candidates
def dense_rank(values: pd.Series) -> np.ndarray:
    """Each value's position among the sorted distinct values (equal values, equal rank;
    missing values last): sorting by it is sorting by the values, over integers.

    >>> dense_rank(pd.Series(["b", "a", "b", None])).tolist()
    [1, 0, 1, 2]
    """
    codes, uniques = pd.factorize(values, sort=False)
    rank = np.empty(len(uniques) + 1, np.int64)
    rank[pd.Index(uniques).argsort()] = np.arange(len(uniques))
    rank[-1] = len(uniques)  # code -1 (missing) picks this
    return rank[np.asarray(codes)]


def rank_within(table: pd.DataFrame, score: str, query: Sequence[str] = QUERY) -> np.ndarray:
    """1-based rank of each row in its query: score descending, then member_id ascending.

    >>> t = pd.DataFrame({"cutoff": 1, "group_id": "g", "member_id": ["b", "a", "c"], "s": [1.0, 1, 2]})
    >>> rank_within(t, "s").tolist()
    [3, 2, 1]
    """
    # every key as the rank of its value among the column's distinct values, so the sort
    # is one lexsort over integers (categoricals by their text, as before)
    keys = [dense_rank(table[c].astype(str) if isinstance(table[c].dtype, pd.CategoricalDtype)
                        else table[c]) for c in query]
    s = np.nan_to_num(table[score].to_numpy(dtype=float), nan=-np.inf)
    member = dense_rank(table["member_id"].astype(str))
    order = np.lexsort([member, -s] + keys[::-1])
    idx = np.arange(len(order))
    if len(order):
        start = np.zeros(len(order), bool)
        start[0] = True
        for k in keys:
            ks = k[order]
            start[1:] |= ks[1:] != ks[:-1]
    else:
        start = np.zeros(0, bool)
    first = np.maximum.accumulate(np.where(start, idx, 0))
    rank = np.empty(len(order), np.int64)
    rank[order] = idx - first + 1
    return rank


def kol_candidates(model: KolRanker, features: pd.DataFrame, *, top_n: int | None = None,
                   n_features: int = 3) -> pd.DataFrame:
    """The ranked 头狼 / KOL candidate table of every group at every cutoff.

    Parameters
    ----------
    model : KolRanker
        Fitted.
    features : DataFrame
        ``group_id``, ``member_id``, ``cutoff`` and the model's feature columns
        (from :func:`kol_features`); other columns are ignored.
    top_n : int, optional
        Keep only the first ``top_n`` of each group (explanations are computed
        for the kept rows only).
    n_features : int, default 3
        How many of the features that raised the score most to name.

    Returns
    -------
    DataFrame
        ``group_id``, ``member_id``, ``cutoff``, ``score``, ``rank`` (1 = most
        likely 头狼; ties broken by member id) and ``feature_1`` ..
        ``feature_{n_features}``: the features with the largest *positive*
        exact TreeSHAP contribution to the member's score (LightGBM's
        ``pred_contrib``), largest first; None where fewer features raised it.
        Sorted by cutoff, group and rank.

    Raises
    ------
    ValueError
        Listing the model's feature columns missing from ``features``.
    """
    cols = list(model.feature_names_in_)
    missing = [c for c in KEY + cols if c not in features.columns]
    if missing:
        raise ValueError(f"kol_candidates: features lack columns the model needs: {missing[:10]}"
                         f"{' ...' if len(missing) > 10 else ''}; build them with kol_features()")
    out = features[KEY].copy()
    out["score"] = model.predict(features[cols])
    out["rank"] = rank_within(out, "score")
    if top_n is not None:
        out = out.loc[out["rank"] <= top_n]
    contrib = model.contributions(features.loc[out.index, cols]).drop(columns="expected_value")
    v = contrib.to_numpy()
    order = np.argsort(-v, axis=1, kind="stable")[:, :n_features]
    names = np.asarray(contrib.columns, dtype=object)[order]
    names = np.where(np.take_along_axis(v, order, axis=1) > 0, names, None)
    for i in range(order.shape[1]):
        out[f"feature_{i + 1}"] = names[:, i]
    sort = pd.DataFrame({"c": out["cutoff"].to_numpy(), "g": out["group_id"].astype(str).to_numpy(),
                         "r": out["rank"].to_numpy()}, index=out.index)
    return out.loc[sort.sort_values(["c", "g", "r"], kind="stable").index].reset_index(drop=True)


# ---------------------------------------------------------------------------- evaluation
@dataclass
class KolEvaluation:
    """The 头狼 / KOL comparison on the test fold.

    Attributes
    ----------
    table : DataFrame
        One row per model (``lightgbm_ranker``, each baseline, ``oracle`` with a
        truth folder), columns :data:`METRICS`.
    split : TimeSplit
    rows, queries : dict
        Rows and query groups per fold.
    relevance_rate : dict
        Share of rows with nonzero relevance per fold.
    k : int
        Depth of precision, recall and leader recall.
    label : str
        "influence" or "kol_tag".
    oracle_score : str or None
        The truth column the oracle ranks by.
    oracle_coverage : float or None
        Share of test rows the oracle scored.
    model : KolRanker
        The fitted ranker.
    candidates : DataFrame
        :func:`kol_candidates` of the test cutoffs (top ``k`` per group).
    scores : DataFrame
        The test rows: key, ``relevance``, ``top_decile``, every model's score
        (one column per row of ``table``, the baselines under their feature
        names) and ``truth_leader`` with a truth folder; for further analysis,
        e.g. ``ranking_metrics(scores, "lightgbm_ranker")`` on a subset.
    seconds : dict
        Wall time of each stage.
    test_frame : DataFrame
        The test rows' key and the ranker's feature columns (for explanations).
    """

    table: pd.DataFrame
    split: TimeSplit
    rows: dict[str, int]
    queries: dict[str, int]
    relevance_rate: dict[str, float]
    k: int
    label: str
    model: KolRanker
    candidates: pd.DataFrame
    scores: pd.DataFrame
    oracle_score: str | None = None
    oracle_coverage: float | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    test_frame: pd.DataFrame | None = None

    def markdown(self, title: str | None = None) -> str:
        """The split, the fold sizes and the comparison table, as markdown."""
        lines = [f"### {title}", ""] if title else []
        lines += [f"**kol** ({self.label} label) — {self.split.describe()}.", "",
                  "rows / query groups (share with nonzero relevance): " + ", ".join(
                      f"{f} {self.rows[f]:,} / {self.queries[f]:,} ({self.relevance_rate[f]:.3f})"
                      for f in self.rows) + f". precision, recall and leader recall at k={self.k}."]
        if self.oracle_score is not None:
            lines.append(f"Oracle ranks by the simulator's true `{self.oracle_score}`; it scored "
                         f"{self.oracle_coverage:.1%} of test rows.")
        cols = [c for c in METRICS if c in self.table.columns]
        lines += ["", "| model | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
        for name, row in self.table[cols].iterrows():
            cells = ["" if (isinstance(v, float) and math.isnan(v)) else
                     (f"{v:.0f}" if c == "n_queries" else f"{v:.4f}") for c, v in row.items()]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        return "\n".join(lines)


def _truth_scores(truth_dir: str | Path, cutoffs: Sequence[pd.Timestamp], horizon_days: float,
                  oracle_score: str) -> pd.DataFrame:
    """The oracle's score and the truth-leader flag of every member present at each cutoff."""
    from shequn_ml.simulate import load_truth, oracle

    truth = load_truth(truth_dir)
    mem = truth.members
    lead = (mem["opinion_leader"].astype(bool) | (mem["leadership"] > LEADERSHIP_THRESHOLD)).to_numpy()
    leaders = pd.DataFrame({"group_id": mem["group_id"].astype(str).to_numpy(),
                            "member_id": mem["member_id"].astype(str).to_numpy(), "truth_leader": lead})
    leaders = leaders.groupby(["group_id", "member_id"], as_index=False)["truth_leader"].any()
    parts = []
    for c in cutoffs:
        o = oracle(truth, c, int(round(horizon_days)))
        parts.append(pd.DataFrame({"group_id": o["group_id"].astype(str).to_numpy(),
                                   "member_id": o["member_id"].astype(str).to_numpy(), "cutoff": c,
                                   "oracle": o[oracle_score].to_numpy(dtype=float)}))
    return pd.concat(parts, ignore_index=True).merge(leaders, on=["group_id", "member_id"], how="left")


def evaluate_kol(
    events: pd.DataFrame,
    cutoffs: Sequence[object],
    horizon_days: float,
    *,
    members: pd.DataFrame | None = None,
    groups: pd.DataFrame | None = None,
    spec: FeatureSpec | None = None,
    truth_dir: str | Path | None = None,
    model_spec: KolModelSpec | None = None,
    n_validation: int = 2,
    n_test: int = 2,
    k: int = 10,
    oracle_score: str = "expected_replies",
    random_state: int = 0,
    progress: bool = False,
) -> KolEvaluation:
    """The KOL ranker against every baseline, on one time split, on the same test rows.

    Features at every cutoff (:func:`kol_features`), influence labels on
    [t, t + h) (:func:`~shequn_ml.influence.influence_labels`), a time split
    whose label windows do not overlap (:func:`~shequn_ml.split.time_split`).
    The ranker is fitted on the training cutoffs and stops early on the
    validation cutoffs' NDCG@10; the baselines need no fitting. All are scored on
    the test cutoffs, which nothing was fitted or tuned on.

    Parameters
    ----------
    events, members, groups : DataFrame
        Normalised tables (:mod:`shequn_ml.io`).
    cutoffs : sequence of timestamps
        Rolling cutoffs; their label windows must lie inside the data.
    horizon_days : float
        Label window h; also the window of the last-period baseline.
    spec : FeatureSpec, optional
        Feature families and windows; it must produce ``speak_count_30d``,
        ``partners_in`` and ``pagerank`` (the default spec does).
    truth_dir : path, optional
        A simulator output folder: adds the ``oracle`` row, ``leader_recall``
        and ``ndcg_vs_oracle``.
    model_spec : KolModelSpec, optional
        The ranker's parameters and label settings (``models/kol.yaml``); its
        ``label.horizon_days`` must equal ``horizon_days``.
    n_validation, n_test : int, default 2
        Cutoffs in the validation and test folds.
    k : int, default 10
        Depth of precision, recall and leader recall.
    oracle_score : {"expected_replies", "leadership"}, default "expected_replies"
        What the oracle ranks by.
    random_state : int, default 0
        The ranker's seed.

    Returns
    -------
    KolEvaluation
        With ``table`` and ``markdown()``.
    """
    if oracle_score not in ("expected_replies", "leadership"):
        raise ValueError(f"oracle_score must be 'expected_replies' or 'leadership', got {oracle_score!r}")
    model_spec = model_spec or KolModelSpec(label={"horizon_days": horizon_days})
    lab = model_spec.label
    if lab.horizon_days != horizon_days:
        raise ValueError(f"the kol model spec's horizon ({lab.horizon_days:g} days) differs from the "
                         f"evaluation's ({horizon_days:g} days)")
    seconds: dict[str, float] = {}
    clock = time.perf_counter()
    split = time_split(cutoffs, horizon_days, n_validation=n_validation, n_test=n_test)
    used = split.train + split.validation + split.test
    history = EventHistory(events, members=members, groups=groups)
    features = kol_features(events, used, horizon_days, spec, members=members, groups=groups,
                            invitee_weight=lab.invitee_weight, organise_weight=lab.organise_weight,
                            history=history, progress=progress)
    missing = [c for c in BASELINES.values() if c not in features.columns]
    if missing:
        raise ValueError(f"the feature spec does not produce the baselines' columns {missing}: keep the "
                         "engagement and relationship families and a 30-day window")
    seconds["features"] = time.perf_counter() - clock
    clock = time.perf_counter()
    labels = influence_labels(history, used, horizon_days, label=lab.label, invitee_weight=lab.invitee_weight,
                              organise_weight=lab.organise_weight, grade_quantiles=lab.grade_quantiles)
    seconds["labels"] = time.perf_counter() - clock
    cols = feature_columns(features)
    data = labels[KEY + ["relevance", "top_decile"]].merge(features, on=KEY, how="inner",
                                                           validate="one_to_one")
    data["fold"] = split.fold_of(data["cutoff"]).to_numpy()
    parts, sizes = {}, {}
    for f in ("train", "validation", "test"):
        parts[f], sizes[f] = query_sizes(data.loc[data["fold"] == f])
        if not (parts[f]["relevance"] > 0).any():
            raise DataError(f"the {f} fold has no member with nonzero influence ({len(parts[f])} rows): "
                             "use more cutoffs, a longer horizon, or more data")
    train, val, test = parts["train"], parts["validation"], parts["test"]
    clock = time.perf_counter()
    model = model_spec.build().set_params(random_state=random_state)
    model.fit(train[cols], train["relevance"], group=sizes["train"], X_val=val[cols],
              y_val=val["relevance"], group_val=sizes["validation"])
    seconds["fit"] = time.perf_counter() - clock
    test = test.copy()
    test["lightgbm_ranker"] = model.predict(test[cols])
    scores = {"lightgbm_ranker": "lightgbm_ranker", **BASELINES}
    leader_col, coverage = None, None
    if truth_dir is not None:
        truth = _truth_scores(truth_dir, split.test, horizon_days, oracle_score)
        keys = test[KEY].astype({"group_id": str, "member_id": str})
        joined = keys.merge(truth, on=KEY, how="left", validate="one_to_one")
        coverage = float(joined["oracle"].notna().mean()) if len(joined) else math.nan
        test["oracle"] = joined["oracle"].to_numpy()
        test["truth_leader"] = joined["truth_leader"].fillna(False).to_numpy(dtype=bool)
        leader_col = "truth_leader"
        scores["oracle"] = "oracle"
    clock = time.perf_counter()
    results = {name: ranking_metrics(test, col, leader=leader_col, k=k) for name, col in scores.items()}
    table = pd.DataFrame(results).T
    if "oracle" in results:
        table["ndcg_vs_oracle"] = table["ndcg@10"] / results["oracle"]["ndcg@10"]
    else:
        table["ndcg_vs_oracle"] = math.nan
    table = table[list(METRICS)]
    candidates = kol_candidates(model, test, top_n=k)
    seconds["score"] = time.perf_counter() - clock
    kept = KEY + ["relevance", "top_decile"] + list(dict.fromkeys(scores.values())) \
        + ([leader_col] if leader_col else [])
    return KolEvaluation(
        table=table, split=split, rows={f: len(p) for f, p in parts.items()},
        queries={f: len(s) for f, s in sizes.items()},
        relevance_rate={f: float((p["relevance"] > 0).mean()) for f, p in parts.items()},
        k=k, label=lab.label, model=model, candidates=candidates, scores=test[kept].reset_index(drop=True),
        oracle_score=oracle_score if truth_dir is not None else None, oracle_coverage=coverage,
        seconds=seconds, test_frame=test[KEY + cols].reset_index(drop=True))


__all__ = [
    "BASELINES",
    "KolEvaluation",
    "evaluate_kol",
    "expected_in_top_k",
    "kol_candidates",
    "kol_features",
    "ndcg_at_k",
    "rank_within",
    "ranking_metrics",
]
