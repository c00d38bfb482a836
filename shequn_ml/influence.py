"""Influence (头狼 / KOL): the future-influence label, HITS, and last period's influence.

A 头狼 is not the member who talks most but the one whose presence moves others:
people answer them, the people they invite stay, and what they organise draws a
crowd. This module measures exactly that, **after** a cutoff, as the label a
ranker learns; and, before the cutoff, two baselines it must beat.

The influence score of a member in a window [a, b)
-------------------------------------------------
Read only from the events with a <= ts < b of the member's group:

``responders``
    Distinct other members who replied to, @-mentioned or reacted to the member
    (``target_member_id`` is the member). Counting people, not events, keeps a
    single chatty partner from making someone a leader.
``kept_invitees``
    Distinct members the member invited (``invite`` with the invitee as target)
    who are *still active at b*: they spoke (any speaking event) at or after the
    invite and before b, and are still in the group at b (their last event in the
    window is not a ``leave``/``removed``; an exit at the same instant as another
    event counts as the later one, as in the population rule).
``organised``
    Distinct other members who took part in something the member organised. An
    ``event_signup`` or ``offline_attend`` event is credited to its organiser:
    the ``target_member_id`` when the event names one (the host of a 接龙 or
    the operator of an offline event); otherwise the member who made the
    *first* event of the same type in the same group on the same UTC day inside
    the window (the one who started the sign-up chain; a tie in time goes to the
    lowest member id). Nobody organises for themselves.

``influence = responders + invitee_weight * kept_invitees + organise_weight * organised``
(weights 2 and 1 by default: keeping a newcomer is worth two people answering).

The label
---------
:func:`influence_labels` scores every member present at the cutoff t (the
population rule of :mod:`shequn_ml.features.snapshots`) on the window
**[t, t + h)**, the same window the silence and churn labels read
(:mod:`shequn_ml.labels`). A member who leaves during the window keeps what they
earned before leaving. For learning to rank, the score becomes a graded
``relevance`` within each query group (one group at one cutoff):

* 0 when the influence is 0;
* otherwise 1 + the number of ``grade_quantiles`` (default 0.5, 0.75, 0.9) that
  the share of the group's *positive* scores strictly below the member's
  reaches: 1 for the lower half of the influential, 4 for their top tenth.

Equal scores get equal grades; a group whose only influential member scores 5
grades them 1, which is harmless because NDCG is normalised within each group.
``top_decile`` marks the members whose score is positive and among the group's
``ceil(n / 10)`` highest (ties at the boundary included): the set that
precision@k and recall@k look for.

With ``label="kol_tag"`` the operators' ``kol_tag`` from the members table is
the relevance (1 tagged, 0 not) and the ``top_decile`` set. The tag is an
export-time value: a member tagged after t leaks the future into a past cutoff,
so prefer the influence label for evaluation.

Baselines read before the cutoff
--------------------------------
:func:`last_period_influence` is the same score on **[t - h, t)** for the
members present at t: point-in-time legal, a strong "carry forward" baseline and
a feature. :func:`hits_authority` is the HITS authority (Kleinberg) of each
member in their group's reply/mention/reaction graph of the window before t.

Examples
--------
>>> import pandas as pd
>>> from shequn_ml.io import read_events
>>> ev = read_events(pd.DataFrame({
...     "ts": ["2024-01-01", "2024-01-01", "2024-01-01", "2024-01-11", "2024-01-12",
...            "2024-01-12T01:00Z", "2024-01-13"],
...     "group_id": "g",
...     "member_id": ["a", "b", "c", "b", "c", "d", "d"],
...     "event_type": ["join", "join", "join", "reply", "mention", "join", "message"],
...     "target_member_id": [None, None, None, "a", "a", None, None]}))
>>> lab = influence_labels(ev, "2024-01-10", horizon_days=14)
>>> lab[["member_id", "responders", "influence", "relevance"]].astype(str).values.tolist()
[['a', '2.0', '2.0', '1'], ['b', '0.0', '0.0', '0'], ['c', '0.0', '0.0', '0']]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from scipy import sparse

from shequn_ml import schema
from shequn_ml.features.snapshots import DAY_NS, EventHistory, Snapshot, as_cutoffs, distinct_sorted

KEY = ["group_id", "member_id", "cutoff"]
#: Events credited to an organiser.
ORGANISE_TYPES = ("event_signup", "offline_attend")
COMPONENTS = ("responders", "kept_invitees", "organised")
INVITEE_WEIGHT = 2.0
ORGANISE_WEIGHT = 1.0
GRADE_QUANTILES = (0.5, 0.75, 0.9)
#: Share of a query group that makes up its "top influence decile".
TOP_SHARE = 0.1
HITS_TOL = 1e-10
HITS_MAX_ITER = 1000
LabelKind = Literal["influence", "kol_tag"]

EventsLike = pd.DataFrame | EventHistory


def _history(events: EventsLike, members: pd.DataFrame | None,
             groups: pd.DataFrame | None) -> EventHistory:
    if isinstance(events, EventHistory):
        return events
    return EventHistory(events, members=members, groups=groups)


def _check_horizon(horizon_days: float) -> None:
    if not horizon_days > 0:
        raise ValueError(f"horizon_days must be a positive number of days, got {horizon_days}")


# ---------------------------------------------------------------------------- the score
def window_influence(history: EventHistory, snap: Snapshot, start_ns: int, end_ns: int, *,
                     invitee_weight: float = INVITEE_WEIGHT,
                     organise_weight: float = ORGANISE_WEIGHT) -> pd.DataFrame:
    """Influence components of the snapshot's population from events in [start, end).

    Parameters
    ----------
    history : EventHistory
        All events, sorted once.
    snap : Snapshot
        Gives the population (who is scored) and its row order; nothing else of
        the snapshot is read, so the window may lie after or before its cutoff.
    start_ns, end_ns : int
        Window bounds in UTC nanoseconds, start inclusive, end exclusive.
    invitee_weight, organise_weight : float
        Weights of ``kept_invitees`` and ``organised`` in ``influence``.

    Returns
    -------
    DataFrame
        ``responders``, ``kept_invitees``, ``organised`` and ``influence`` (floats),
        one row per population row, in population order.
    """
    lo = int(np.searchsorted(history.ts, start_ns, side="left"))
    hi = int(np.searchsorted(history.ts, end_ns, side="left"))
    g = history.g[lo:hi].astype(np.int64)
    m, t = history.m[lo:hi].astype(np.int64), history.t[lo:hi].astype(np.int64)
    e, ts = history.e[lo:hi], history.ts[lo:hi]
    n, n_all = snap.n, history.n_members

    def row(gs: np.ndarray, ms: np.ndarray) -> np.ndarray:
        """Population row of (group, member) pairs (-1 when not present at the cutoff)."""
        return snap.key_index.get_indexer(gs * n_all + ms) if len(gs) else np.zeros(0, np.int64)

    def per_row_distinct(rows: np.ndarray, who: np.ndarray) -> np.ndarray:
        ok = rows >= 0
        pairs = distinct_sorted(rows[ok].astype(np.int64) * n_all + who[ok])
        return np.bincount(pairs // n_all, minlength=n).astype(float)

    has_target = (t >= 0) & (t != m)
    # responders: distinct members responding to the member (schema.RESPONSES: a reply,
    # mention or reaction aimed at them; in a Q&A group also the askers they answered)
    resp, by_actor = history.responses(e, g, m, t)
    credited = np.where(by_actor, m, t)[resp]
    responder = np.where(by_actor, t, m)[resp]
    responders = per_row_distinct(row(g[resp], credited), responder)

    # kept invitees: invited in the window, spoke after the invite, still in the group at the end
    inv = history.type_lookup(["invite"])[e] & has_target
    kept = _kept_invitees(history, g, m, e, ts, row(g[inv], m[inv]), g[inv], t[inv], ts[inv], n)

    # organised: sign-ups and attendances credited to the target, else to the chain's starter
    org = history.type_lookup(ORGANISE_TYPES)[e]
    organiser = np.where(has_target, t, -1)
    chain = org & (t < 0)
    if chain.any():
        organiser[chain] = _chain_starters(g[chain], e[chain], m[chain], ts[chain])
    credit = org & (organiser >= 0) & (organiser != m)
    organised = per_row_distinct(row(g[credit], organiser[credit]), m[credit])

    influence = responders + invitee_weight * kept + organise_weight * organised
    return pd.DataFrame({"responders": responders, "kept_invitees": kept,
                         "organised": organised, "influence": influence})


def _kept_invitees(history: EventHistory, g: np.ndarray, m: np.ndarray, e: np.ndarray,
                   ts: np.ndarray, inviter_row: np.ndarray, inv_g: np.ndarray,
                   invitee: np.ndarray, inv_ts: np.ndarray, n: int) -> np.ndarray:
    """Distinct invitees per inviter row who spoke after the invite and are present at the end."""
    ok = inviter_row >= 0
    if not ok.any():
        return np.zeros(n)
    n_all = history.n_members
    pair = inviter_row[ok].astype(np.int64) * n_all + invitee[ok]
    # earliest invite of each (inviter, invitee) pair
    order = np.lexsort((inv_ts[ok], pair))
    pair, first_ts, pair_g = pair[order], inv_ts[ok][order], inv_g[ok][order]
    first = np.r_[True, pair[1:] != pair[:-1]]
    pair, first_ts, pair_g = pair[first], first_ts[first], pair_g[first]
    # each (group, member)'s last speaking, last staying and last exit instant in the window
    gm = g * n_all + m
    keys = distinct_sorted(gm)
    idx = np.searchsorted(keys, gm)
    lowest = np.iinfo(np.int64).min
    is_exit = history.type_lookup(schema.EXIT_EVENT_TYPES)[e]
    speaking = history.type_lookup(schema.SPEAKING_EVENT_TYPES)[e]
    last_spoke = np.full(len(keys), lowest)
    last_stay = np.full(len(keys), lowest)
    last_exit = np.full(len(keys), lowest)
    np.maximum.at(last_spoke, idx[speaking], ts[speaking])
    np.maximum.at(last_stay, idx[~is_exit], ts[~is_exit])
    np.maximum.at(last_exit, idx[is_exit], ts[is_exit])
    want = pair_g * n_all + pair % n_all
    at = np.minimum(np.searchsorted(keys, want), len(keys) - 1)  # keys holds the invites' groups
    kept = (keys[at] == want) & (last_spoke[at] >= first_ts) & (last_stay[at] > last_exit[at])
    return np.bincount(pair[kept] // n_all, minlength=n).astype(float)


def _chain_starters(g: np.ndarray, e: np.ndarray, m: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """For untargeted sign-ups: the member of the first event of each (group, type, UTC day)."""
    day = ts // DAY_NS
    day = day - day.min()
    block = (g * (int(e.max()) + 1) + e) * (int(day.max()) + 1) + day
    order = np.lexsort((m, ts, block))  # by block, then time, then member id: a tie is decided by id
    first = np.r_[True, block[order][1:] != block[order][:-1]]
    starter_of_block = pd.Series(m[order][first], index=block[order][first])
    return starter_of_block.reindex(block).to_numpy()


# ---------------------------------------------------------------------------- grades
def grade_within(score: np.ndarray, query: np.ndarray,
                 quantiles: Sequence[float] = GRADE_QUANTILES) -> np.ndarray:
    """Graded relevance 0..len(quantiles)+1 of scores within each query group.

    Parameters
    ----------
    score : ndarray of float
        Influence scores (>= 0).
    query : ndarray of int
        Query group of each score.
    quantiles : sequence of float, default (0.5, 0.75, 0.9)
        Increasing shares in (0, 1).

    Returns
    -------
    ndarray of int8
        0 where the score is 0; else 1 plus how many ``quantiles`` the share of
        the query's positive scores strictly below it reaches.

    Examples
    --------
    >>> grade_within(np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10.]), np.zeros(11, int)).tolist()
    [0, 1, 1, 1, 1, 1, 2, 2, 2, 3, 4]
    """
    q = np.asarray(quantiles, dtype=float)
    if len(q) == 0 or np.any(np.diff(q) <= 0) or q[0] <= 0 or q[-1] >= 1:
        raise ValueError(f"grade_quantiles must be increasing shares in (0, 1), got {list(quantiles)}")
    if len(q) + 1 > 30:
        raise ValueError(f"at most 29 grade_quantiles (LightGBM relevance < 31), got {len(q)}")
    score = np.asarray(score, dtype=float)
    out = np.zeros(len(score), np.int8)
    pos = score > 0
    if not pos.any():
        return out
    s = pd.Series(score[pos])
    qid = np.asarray(query)[pos]
    below = (s.groupby(qid).rank(method="min").to_numpy() - 1) / s.groupby(qid).transform("size").to_numpy()
    out[pos] = 1 + (below[:, None] >= q[None, :] - 1e-12).sum(axis=1)
    return out


def top_share_within(score: np.ndarray, query: np.ndarray, share: float = TOP_SHARE) -> np.ndarray:
    """Members with a positive score among their query's ``ceil(share * n)`` highest.

    Ties at the boundary are all included.

    >>> top_share_within(np.array([5., 3, 3, 0, 0, 0, 0, 0, 0, 0, 0]), np.zeros(11, int)).tolist()[:4]
    [True, True, True, False]
    """
    score = np.asarray(score, dtype=float)
    s = pd.Series(score)
    size = s.groupby(np.asarray(query)).transform("size").to_numpy()
    k = np.ceil(share * size - 1e-9)
    rank = s.groupby(np.asarray(query)).rank(method="min", ascending=False).to_numpy()
    return (rank <= k) & (score > 0)


# ---------------------------------------------------------------------------- labels
def influence_labels(
    events: EventsLike,
    cutoffs: object | Sequence[object],
    horizon_days: float,
    *,
    label: LabelKind = "influence",
    invitee_weight: float = INVITEE_WEIGHT,
    organise_weight: float = ORGANISE_WEIGHT,
    grade_quantiles: Sequence[float] = GRADE_QUANTILES,
    members: pd.DataFrame | None = None,
    groups: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Future influence of every member present at each cutoff, from [t, t + horizon).

    Parameters
    ----------
    events : DataFrame or EventHistory
        Normalised events (or an :class:`EventHistory` already built on them).
    cutoffs : timestamp or sequence
        Required cutoffs t.
    horizon_days : float
        Window length h in days.
    label : {"influence", "kol_tag"}, default "influence"
        Where ``relevance`` and ``top_decile`` come from: the graded influence
        score, or the members table's ``kol_tag`` (1/0; an export-time value, see
        the module notes on leakage).
    invitee_weight, organise_weight : float, default 2 and 1
        Weights of kept invitees and organised participants in the score.
    grade_quantiles : sequence of float, default (0.5, 0.75, 0.9)
        Cut points of the grades, see :func:`grade_within`.
    members, groups : DataFrame, optional
        Side tables: members who joined without acting, and ``kol_tag``.

    Returns
    -------
    DataFrame
        ``group_id``, ``member_id``, ``cutoff``, ``responders``,
        ``kept_invitees``, ``organised``, ``influence`` (floats), ``relevance``
        (int8) and ``top_decile`` (bool), sorted by the key.

    Raises
    ------
    ValueError
        For a non-positive horizon, bad quantiles, an unknown ``label``, or
        ``label="kol_tag"`` without a members table holding ``kol_tag``.
    """
    if label not in ("influence", "kol_tag"):
        raise ValueError(f"label must be 'influence' or 'kol_tag', got {label!r}")
    _check_horizon(horizon_days)
    history = _history(events, members, groups)
    tags = _kol_tags(history) if label == "kol_tag" else None
    parts = []
    for c in as_cutoffs(cutoffs):
        snap = history.at(c)
        end = snap.cutoff_ns + int(horizon_days * DAY_NS)
        comp = window_influence(history, snap, snap.cutoff_ns, end, invitee_weight=invitee_weight,
                                organise_weight=organise_weight)
        frame = pd.concat([snap.keys_frame(), comp], axis=1)
        score = comp["influence"].to_numpy()
        if tags is None:
            frame["relevance"] = grade_within(score, snap.pop_gi, grade_quantiles)
            frame["top_decile"] = top_share_within(score, snap.pop_gi)
        else:
            tagged = _tagged(snap, tags)
            frame["relevance"] = tagged.astype(np.int8)
            frame["top_decile"] = tagged
        parts.append(frame)
    return _finish(parts)


def _kol_tags(history: EventHistory) -> pd.MultiIndex:
    mt = history.members
    if mt is None or "kol_tag" not in mt.columns:
        raise ValueError("label='kol_tag' needs a members table with a kol_tag column (an operator's "
                         "头狼/KOL mark); pass members=read_members(...) or use label='influence'")
    on = mt.loc[mt["kol_tag"].fillna(False).astype(bool), ["group_id", "member_id"]]
    return pd.MultiIndex.from_arrays([on["group_id"].astype(str), on["member_id"].astype(str)])


def _tagged(snap: Snapshot, tags: pd.MultiIndex) -> np.ndarray:
    pop = snap.population
    mine = pd.MultiIndex.from_arrays([pop["group_id"].astype(str), pop["member_id"].astype(str)])
    return np.asarray(mine.isin(tags), dtype=bool)


def last_period_influence(
    events: EventsLike,
    cutoffs: object | Sequence[object],
    horizon_days: float,
    *,
    invitee_weight: float = INVITEE_WEIGHT,
    organise_weight: float = ORGANISE_WEIGHT,
    members: pd.DataFrame | None = None,
    groups: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Last period's influence, carried forward: the same score on [t - h, t).

    Reads only events before t, so it is a legal feature and a baseline for the
    label of the same cutoff. Scored for the members present at t.

    Returns
    -------
    DataFrame
        ``group_id``, ``member_id``, ``cutoff``, ``prev_responders``,
        ``prev_kept_invitees``, ``prev_organised``, ``prev_influence`` (floats).

    Examples
    --------
    >>> import pandas as pd
    >>> from shequn_ml.io import read_events
    >>> ev = read_events(pd.DataFrame({
    ...     "ts": ["2024-01-01", "2024-01-02", "2024-01-03"], "group_id": "g",
    ...     "member_id": ["a", "b", "b"], "event_type": ["join", "join", "reaction"],
    ...     "target_member_id": [None, None, "a"]}))
    >>> last_period_influence(ev, "2024-01-05", 7)["prev_influence"].tolist()
    [1.0, 0.0]
    """
    _check_horizon(horizon_days)
    history = _history(events, members, groups)
    parts = []
    for c in as_cutoffs(cutoffs):
        snap = history.at(c)
        start = snap.cutoff_ns - int(horizon_days * DAY_NS)
        comp = window_influence(history, snap, start, snap.cutoff_ns, invitee_weight=invitee_weight,
                                organise_weight=organise_weight)
        parts.append(pd.concat([snap.keys_frame(), comp.add_prefix("prev_")], axis=1))
    return _finish(parts)


def _finish(parts: list[pd.DataFrame]) -> pd.DataFrame:
    table = pd.concat(parts, ignore_index=True)
    return table.sort_values(KEY, kind="stable").reset_index(drop=True)


# ---------------------------------------------------------------------------- HITS
def hits_authority(
    events: EventsLike,
    cutoffs: object | Sequence[object],
    *,
    window_days: float = 90,
    members: pd.DataFrame | None = None,
    groups: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """HITS authority of every member in their group's interaction graph before the cutoff.

    The graph of a group at t has an edge a -> b weighted by how many replies,
    mentions and reactions a aimed at b in the ``window_days`` before t, both
    present at t (the edges of the relationship family's PageRank). A member
    is an *authority* when good *hubs* (members who respond to many
    authorities) respond to them. Values sum to 1 within each group with an
    edge; members nobody responded to, and every member of an edge-less group,
    get 0.

    Returns
    -------
    DataFrame
        ``group_id``, ``member_id``, ``cutoff``, ``hits_authority``.

    Examples
    --------
    >>> import pandas as pd
    >>> from shequn_ml.io import read_events
    >>> ev = read_events(pd.DataFrame({
    ...     "ts": ["2024-01-01"] * 3 + ["2024-01-02"] * 2, "group_id": "g",
    ...     "member_id": ["a", "b", "c", "b", "c"],
    ...     "event_type": ["join", "join", "join", "reply", "reply"],
    ...     "target_member_id": [None, None, None, "a", "a"]}))
    >>> hits_authority(ev, "2024-01-05")["hits_authority"].tolist()
    [1.0, 0.0, 0.0]
    """
    history = _history(events, members, groups)
    parts = []
    for c in as_cutoffs(cutoffs):
        snap = history.at(c)
        resp, by_actor = history.responses(snap.ev_e, snap.ev_g, snap.ev_m,
                                           snap.ev_t)
        src = np.where(by_actor, snap.ev_ti, snap.ev_pi)  # the responder's row
        dst = np.where(by_actor, snap.ev_pi, snap.ev_ti)  # the row responded to
        edge = resp & (snap.ev_age <= window_days) & (src >= 0) & (dst >= 0)
        n = snap.n
        pair, weight = np.unique(src[edge].astype(np.int64) * n + dst[edge], return_counts=True)
        frame = snap.keys_frame()
        frame["hits_authority"] = group_hits(pair // n, pair % n, weight.astype(float), snap.pop_gi,
                                             snap.n_groups)
        parts.append(frame)
    return _finish(parts)


def group_hits(src: np.ndarray, dst: np.ndarray, weight: np.ndarray, gi: np.ndarray,
               n_groups: int, tol: float = HITS_TOL, max_iter: int = HITS_MAX_ITER) -> np.ndarray:
    """HITS authorities of every node, each group a separate graph, by one power iteration.

    The iteration is :func:`networkx.hits`'s textbook form run on all groups at
    once: from uniform hubs, ``a = A^T h``, ``h = A a``, each scaled by its
    group's maximum, until the L1 change of a group's hubs is below ``tol``.
    Where a group's leading singular value is simple this is the principal
    singular vector networkx computes (a test checks they agree). Unlike
    networkx it never raises: a group still moving after ``max_iter`` keeps its
    last vector, which is fine for a baseline.

    Parameters
    ----------
    src, dst : ndarray of int
        Node indices of the directed edges (unique pairs within one group).
    weight : ndarray of float
        Edge weights (> 0).
    gi : ndarray of int
        Group index of each node; its length is the node count.
    n_groups : int
    tol : float, default 1e-10
    max_iter : int, default 1000

    Returns
    -------
    ndarray of float
        Authorities, summing to 1 within each group that has an edge, else 0.

    Examples
    --------
    >>> a = group_hits(np.array([0, 1]), np.array([2, 2]), np.ones(2), np.zeros(3, int), 1)
    >>> a.tolist()
    [0.0, 0.0, 1.0]
    """
    n = len(gi)
    if n == 0:
        return np.zeros(0)
    A = sparse.csr_matrix((weight, (src, dst)), shape=(n, n))
    At = A.T.tocsr()
    size = np.bincount(gi, minlength=n_groups).astype(float)
    h = 1.0 / size[gi]
    a = np.zeros(n)
    running = np.ones(n_groups, bool)
    # Groups are separate graphs: once most of the nodes belong to groups that have
    # converged, iterate on the others' rows and columns only. Each row keeps its
    # entries in order and each group its nodes in order, so every value is computed
    # exactly as on the whole matrix.
    nodes, A_on, At_on, g_on = np.arange(n), A, At, gi
    for _ in range(max_iter):
        h_on = h[nodes]
        a_new = At_on @ h_on
        h_new = A_on @ a_new
        h_new = h_new / _group_max(h_new, g_on, n_groups)[g_on]
        a_new = a_new / _group_max(a_new, g_on, n_groups)[g_on]
        change = np.bincount(g_on, weights=np.abs(h_new - h_on), minlength=n_groups)
        live = running[g_on]
        h[nodes] = np.where(live, h_new, h_on)
        a[nodes] = np.where(live, a_new, a[nodes])
        running &= change >= tol
        if not running.any():
            break
        keep = running[g_on]
        if keep.sum() < len(nodes) // 2:
            sel = np.flatnonzero(keep)
            nodes, g_on = nodes[sel], g_on[sel]
            A_on, At_on = A_on[sel][:, sel], At_on[sel][:, sel]
    total = np.bincount(gi, weights=a, minlength=n_groups)
    return np.divide(a, total[gi], out=np.zeros(n), where=total[gi] > 0)


def _group_max(x: np.ndarray, gi: np.ndarray, n_groups: int) -> np.ndarray:
    """Per-group maximum, 1 where it is 0 (an edge-less group stays at 0)."""
    best = np.zeros(n_groups)
    if len(gi) and (gi[1:] >= gi[:-1]).all():  # nodes sorted by group: one pass per group
        starts = np.flatnonzero(np.r_[True, gi[1:] != gi[:-1]])
        best[gi[starts]] = np.maximum(np.maximum.reduceat(x, starts), 0.0)
    else:
        np.maximum.at(best, gi, x)
    best[best <= 0] = 1.0
    return best


__all__ = [
    "COMPONENTS",
    "grade_within",
    "group_hits",
    "hits_authority",
    "influence_labels",
    "last_period_influence",
    "top_share_within",
    "window_influence",
]
