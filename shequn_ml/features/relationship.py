"""Relationship: whom a member talks with, who answers them, whom they bring in and keep.

The domain says a 头狼 / KOL is the member others respond to, who invites people who
stay, and whose ties hold the group together; and that a member whose partners
left is about to follow. This family measures those ties from the events before
the cutoff, one group at a time.

Edges
-----
An *edge* is a ``reply``, ``mention`` or ``reaction`` event with a target member
(``target_member_id``) in the last ``spec.relationship_window_days`` days, from the
actor to the target, inside the event's group. Self-edges (a member replying to
themself) are ignored. Partners are counted whether or not they are still in the
group; the PageRank graph keeps only edges between members present at the cutoff.

A partner or invitee is *active* when they are present at the cutoff and spoke
(:data:`shequn_ml.schema.SPEAKING_EVENT_TYPES`) within the last ``spec.quiet_days``
days; otherwise they *went quiet or left*.

PageRank
--------
Each group is its own directed graph over its present members, an edge weighted by
the number of interactions. PageRank uses damping 0.85, a uniform teleport within
the group, and spreads the rank of members with no out-edge (dangling) uniformly
over the group, so a group's values sum to 1 and a member with no edge gets the
teleport share. All groups are solved at once by power iteration on one
block-diagonal sparse matrix; each group stops on its own when its L1 change falls
below 1e-10, so a group's values do not depend on the other groups in the data.
``pagerank_x_size`` (PageRank times the group's size; 1 is the average member) is
comparable across group sizes. The group's *most central member* has the highest
PageRank; values within a relative 1e-9 of the highest are ties, and a tie goes to
the lowest member code (the alphabetically first ``member_id``). In a group with no
edges every member ties, so that is the first member by id.

Purity
------
Every value of a member is a function of their own group's events only (the
composite keys below never join two groups), and of the set of events, not their
order: ties in time cannot change a value.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from scipy import sparse

from shequn_ml import schema
from shequn_ml.features._registry import feature
from shequn_ml.features.snapshots import DAY_NS, Snapshot
from shequn_ml.features.snapshots import distinct_sorted as _distinct
from shequn_ml.features.spec import FeatureSpec

FAMILY = "relationship"
DAMPING = 0.85
#: a group's power iteration stops when the L1 change of its PageRank vector is below this
PAGERANK_TOL = 1e-10
PAGERANK_MAX_ITER = 1000
#: PageRank values within this relative distance of the group's maximum tie for "most central"
TOP_TIE_RTOL = 1e-9


def define(spec: FeatureSpec) -> None:
    """Register this family's features for ``spec`` (its windows go into the meanings)."""
    w, q = spec.relationship_window_days, spec.quiet_days
    feature("partners_out", FAMILY, w,
            f"distinct members this member replied to, @-mentioned or reacted to in the last {w} days.",
            "reached out to {value} different [member|members]", "主动互动过{value}位群友")
    feature("partners_in", FAMILY, w,
            f"distinct members who replied to, @-mentioned or reacted to this member in the last {w} days.",
            "{value} different [member|members] responded to them", "{value}位群友回应过TA")
    feature("reciprocity", FAMILY, w,
            f"share of the members this member reached out to in the last {w} days who also reached "
            "back (0 with nobody reached).",
            "{value} of the people they reach out to reach back", "主动互动的人中{value}有回应")
    feature("resonance", FAMILY, w,
            f"replies received per speaking event sent in the last {w} days "
            "(replies received / max(1, own speaking events)).",
            "gets {value} [reply|replies] per message", "每次发言收到{value}条回复")
    feature("pagerank", FAMILY, w,
            f"PageRank in the group's reply/mention/reaction graph of the last {w} days "
            "(damping 0.85; sums to 1 over the group's present members).",
            "central in the group's conversations (PageRank {value})", "群内互动中心度{value}")
    feature("pagerank_x_size", FAMILY, w,
            "PageRank times the group's present member count: 1 is an average member, comparable "
            "across group sizes.",
            "{value}× as central as an average member", "互动中心度是群内平均水平的{value}倍")
    feature("is_group_top_central", FAMILY, w,
            f"1 if the member has the group's highest PageRank (last {w} days; a tie goes to the "
            "lowest member id), else 0.",
            "is the most central member of the group", "是群内互动最核心的成员",
            reason_en_zero="is not the group's most central member",
            reason_zh_zero="不是群内互动最核心的成员")
    feature("ties_to_top_central", FAMILY, w,
            f"interactions in either direction in the last {w} days with the group's most central "
            "member (0 for that member).",
            "{value} [interaction|interactions] with the group's most central member",
            "与群内最核心成员互动{value}次")
    feature("invites_sent", FAMILY, None, "invite events (拉新) the member sent before the cutoff.",
            "invited people {value} [time|times]", "拉新{value}次")
    feature("invitees_active", FAMILY, None,
            f"distinct members this member invited who are still in the group and spoke in the "
            f"last {q} days.",
            "{value} of the people they invited [is|are] still active", "邀请的人中{value}人仍活跃")
    feature("invitees_active_share", FAMILY, None,
            f"share of the member's distinct invitees still in the group who spoke in the last {q} "
            "days (0 with no invitees).",
            "{value} of the people they invited are still active", "邀请的人中仍活跃的占{value}")
    feature("partners_quiet_or_left", FAMILY, w,
            f"distinct partners (either direction, last {w} days) who left the group or have not "
            f"spoken in the last {q} days.",
            "{value} of their conversation partners went quiet or left", "{value}个互动对象已沉默或退群")
    feature("partners_quiet_or_left_share", FAMILY, w,
            f"share of the member's distinct partners (last {w} days) who left or have not spoken "
            f"in the last {q} days (0 with no partners).",
            "{value} of their conversation partners went quiet or left", "互动对象中已沉默或退群的占{value}")
    feature("offline_co_attendees", FAMILY, None,
            "distinct other members who attended an offline event (线下活动) in the group on the same "
            "UTC day as this member, before the cutoff.",
            "met {value} [member|members] at offline events", "线下活动中结识{value}位群友")


def compute(snap: Snapshot) -> pd.DataFrame:
    """Relationship features of every member present at the snapshot's cutoff.

    Parameters
    ----------
    snap : Snapshot
        The events before the cutoff and the population then.

    Returns
    -------
    DataFrame
        One row per population row, in population order.
    """
    spec = snap.spec
    define(spec)
    n, n_all = snap.n, snap.history.n_members
    window = spec.relationship_window_days
    out: dict[str, np.ndarray] = {}
    active = snap.count_of(schema.SPEAKING_EVENT_TYPES, spec.quiet_days) > 0

    # the window's events are a suffix (events are sorted by time): select within it
    ws = snap.window_start(window)
    ev_t, ev_m = snap.ev_t[ws:], snap.ev_m[ws:]
    # responses (schema.RESPONSES): a reply, mention or reaction goes from its actor to its
    # target; in a Q&A group an answer goes from the asker to the answerer, who is credited
    resp, by_actor = snap.history.responses(snap.ev_e[ws:], snap.ev_g[ws:], ev_m, ev_t)
    keep = resp & (snap.ev_gi[ws:] >= 0)
    edge = ws + np.flatnonzero(keep)
    flip = by_actor[keep]
    a_row, t_row = snap.ev_pi[edge], snap.target_rows(edge)  # population rows, -1 when not present
    src, dst = np.where(flip, t_row, a_row), np.where(flip, a_row, t_row)
    actor = np.where(flip, snap.ev_t[edge], snap.ev_m[edge])   # member codes: responder ...
    target = np.where(flip, snap.ev_m[edge], snap.ev_t[edge])  # ... and the one responded to
    # (member row, partner member code) as one int64 key; the row fixes the group
    has_src, has_dst = src >= 0, dst >= 0
    out_keys = np.sort(src[has_src].astype(np.int64) * n_all + target[has_src])
    in_pairs = _distinct(dst[has_dst].astype(np.int64) * n_all + actor[has_dst])
    first = np.r_[True, out_keys[1:] != out_keys[:-1]] if len(out_keys) else np.zeros(0, bool)
    out_pairs = out_keys[first]
    out_edges = np.diff(np.r_[np.flatnonzero(first), len(out_keys)])  # edges per distinct pair
    out["partners_out"] = _per_row(out_pairs // n_all, n)
    out["partners_in"] = _per_row(in_pairs // n_all, n)
    # both sorted and distinct: a stable sort of the two merges them; a repeat is in both
    both_ways = np.sort(np.concatenate([out_pairs, in_pairs]), kind="stable")
    repeat = both_ways[1:] == both_ways[:-1]
    mutual = both_ways[1:][repeat]
    partners = both_ways[np.r_[True, ~repeat]] if len(both_ways) else both_ways
    out["reciprocity"] = _share(_per_row(mutual // n_all, n), out["partners_out"])

    is_reply = _of_type(snap, ["reply"], snap.ev_e[edge])
    received = _per_row(dst[is_reply & has_dst], n)
    sent = snap.count_of(schema.SPEAKING_EVENT_TYPES, window)
    out["resonance"] = received / np.maximum(sent, 1.0)

    gi = snap.pop_gi
    size = np.bincount(gi, minlength=snap.n_groups).astype(float)
    both = has_src & has_dst
    # edges between present members, counted per (source, target) row pair: the distinct out
    # pairs whose partner is present (rows of a group are in member order, so their order is
    # that of (source row, target row))
    out_partner = _partner_rows(snap, out_pairs)
    linked = out_partner >= 0
    pr = group_pagerank(out_pairs[linked] // n_all, out_partner[linked], out_edges[linked].astype(float),
                        gi, snap.n_groups)
    out["pagerank"] = pr
    out["pagerank_x_size"] = pr * size[gi]
    top = _top_rows(pr, snap.population["m"].to_numpy(), gi, snap.n_groups)
    is_top = np.zeros(n)
    is_top[top[out["partners_in"][top] > 0]] = 1.0  # an edge-less group has no central member
    out["is_group_top_central"] = is_top
    s, d = src[both], dst[both]
    with_top = np.concatenate([s[d == top[gi[s]]], d[s == top[gi[d]]]])
    out["ties_to_top_central"] = _per_row(with_top, n)

    out["invites_sent"] = snap.count_of(["invite"])
    invite = np.flatnonzero(snap.mask(["invite"]))
    invite = invite[(snap.ev_t[invite] >= 0) & (snap.ev_t[invite] != snap.ev_m[invite])]
    owner, kept = _distinct_flagged(snap.ev_pi[invite].astype(np.int64) * n_all + snap.ev_t[invite],
                                    _is_active(snap.target_rows(invite), active), n_all)
    out["invitees_active"] = _per_row(owner[kept], n)
    out["invitees_active_share"] = _share(out["invitees_active"], _per_row(owner, n))

    # partners either way, each flagged by whether they went quiet or left
    owner, gone = partners // n_all, ~_is_active(_partner_rows(snap, partners), active)
    out["partners_quiet_or_left"] = _per_row(owner[gone], n)
    out["partners_quiet_or_left_share"] = _share(out["partners_quiet_or_left"], _per_row(owner, n))

    out["offline_co_attendees"] = _co_attendees(snap)
    return pd.DataFrame(out)


def _of_type(snap: Snapshot, names: Iterable[str], codes: np.ndarray | None = None) -> np.ndarray:
    """Whether each event (or each of ``codes``) is of one of the named types (a table lookup)."""
    lookup = np.zeros(len(snap.history.event_type_names) + 1, bool)  # the extra slot catches -1
    lookup[snap.history.codes_of(names)] = True
    return lookup[snap.ev_e if codes is None else codes]


def _partner_rows(snap: Snapshot, pairs: np.ndarray) -> np.ndarray:
    """Population row of the partner in each (row, partner member code) key, -1 if not present.

    The partner is in the row's group; population rows are sorted by (group, member) key.
    """
    n_all = snap.history.n_members
    rows = pairs // n_all
    keys = snap.population["g"].to_numpy().astype(np.int64)[rows] * n_all + pairs % n_all
    return snap.key_index.get_indexer(keys)  # a hash lookup: faster than a binary search here


def _distinct_flagged(keys: np.ndarray, flag: np.ndarray, n_all: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (row, member) keys with a flag that is a function of the key: (row, flag) each.

    The flag rides in the lowest bit, so one sort finds the distinct pairs.
    """
    both = _distinct(keys * 2 + flag)
    return both // 2 // n_all, (both & 1).astype(bool)


def _per_row(rows: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(rows, minlength=n).astype(float)


def _share(part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    return np.divide(part, whole, out=np.zeros(len(part)), where=whole > 0)


def _is_active(rows: np.ndarray, active: np.ndarray) -> np.ndarray:
    """Present (row >= 0) and spoke lately, for population rows that may be -1."""
    if len(active) == 0:
        return np.zeros(len(rows), bool)
    return (rows >= 0) & active[np.maximum(rows, 0)]


def group_pagerank(src: np.ndarray, dst: np.ndarray, weight: np.ndarray, gi: np.ndarray,
                   n_groups: int, damping: float = DAMPING, tol: float = PAGERANK_TOL,
                   max_iter: int = PAGERANK_MAX_ITER) -> np.ndarray:
    """PageRank of every node, each group a separate graph, solved all at once.

    Parameters
    ----------
    src, dst : ndarray of int
        Node indices of the directed edges (unique pairs, both ends in one group).
    weight : ndarray of float
        Edge weights (> 0).
    gi : ndarray of int
        Group index of each node (0 .. n_groups - 1); its length is the node count.
    n_groups : int
        Number of groups.
    damping : float, default 0.85
        Probability of following an edge rather than teleporting within the group.
    tol : float, default 1e-10
        A group stops iterating when the L1 change of its vector falls below this.
    max_iter : int, default 1000
        Safety bound; with damping < 1 the iteration converges long before.

    Returns
    -------
    ndarray of float
        One value per node; each group's values sum to 1. Dangling nodes spread
        their rank uniformly over their group, as :func:`networkx.pagerank` does.

    Examples
    --------
    >>> import numpy as np
    >>> pr = group_pagerank(np.array([0]), np.array([1]), np.array([1.0]), np.array([0, 0, 1]), 2)
    >>> np.round(pr, 4).tolist()
    [0.3509, 0.6491, 1.0]
    """
    n = len(gi)
    if n == 0:
        return np.zeros(0)
    size = np.bincount(gi, minlength=n_groups).astype(float)
    out_w = np.bincount(src, weights=weight, minlength=n)
    # column-stochastic transition, transposed: row = destination; sorted column indices
    # keep every row's sum in one order, so a group's values do not depend on the others
    pt = sparse.csr_matrix((weight / out_w[src], (dst, src)), shape=(n, n))
    pt.sort_indices()
    is_dangling = out_w == 0
    result = np.empty(n)
    # the nodes still iterated (ascending), their group, 1 / group size, dangling positions
    nodes, node_gi = np.arange(n), gi
    inv_size = 1.0 / size[gi]
    dangling = np.flatnonzero(is_dangling)
    x = inv_size.copy()
    running = np.ones(n_groups, bool)
    for _ in range(max_iter):
        lost = np.bincount(node_gi[dangling], weights=x[dangling], minlength=n_groups)
        y = damping * (pt @ x) + (damping * lost[node_gi] + (1.0 - damping)) * inv_size
        change = np.bincount(node_gi, weights=np.abs(y - x), minlength=n_groups)
        x = np.where(running[node_gi], y, x)
        running &= change >= tol
        done = ~running[node_gi]
        if done.all():
            break
        if 2 * done.sum() > len(nodes):  # drop the finished groups' nodes from the work
            result[nodes[done]] = x[done]
            keep = np.flatnonzero(~done)
            nodes, node_gi, inv_size, x = nodes[keep], node_gi[keep], inv_size[keep], x[keep]
            pt = pt[keep][:, keep]
            pt.sort_indices()
            dangling = np.flatnonzero(is_dangling[nodes])
    result[nodes] = x
    return result


def _top_rows(pr: np.ndarray, member: np.ndarray, gi: np.ndarray, n_groups: int) -> np.ndarray:
    """Row of each group's most central member: highest PageRank, ties to the lowest member code."""
    if len(pr) == 0:
        return np.zeros(0, np.int64)
    best = np.full(n_groups, -np.inf)
    np.maximum.at(best, gi, pr)
    candidate = pr >= best[gi] * (1.0 - TOP_TIE_RTOL)
    order = np.lexsort((member, gi))
    rows = order[candidate[order]]
    groups, first = np.unique(gi[rows], return_index=True)
    top = np.zeros(n_groups, np.int64)
    top[groups] = rows[first]
    return top


def _co_attendees(snap: Snapshot) -> np.ndarray:
    """Distinct other members at an offline event of the same group on the same UTC day."""
    n_all = snap.history.n_members
    m = np.flatnonzero(snap.of_type(["offline_attend"]) & (snap.ev_gi >= 0))
    if len(m) == 0:
        return np.zeros(snap.n)
    day = snap.ev_ns[m] // DAY_NS
    day -= day.min()
    g = snap.ev_g[m].astype(np.int64)
    _, group_day = np.unique(g * (int(day.max()) + 1) + day, return_inverse=True)
    # distinct (group-day, member) attendances, sorted by group-day then member
    att, first = np.unique(group_day.astype(np.int64) * n_all + snap.ev_m[m], return_index=True)
    block, who = att // n_all, att % n_all
    row = snap.ev_pi[m[first]]  # the population row of (group, who): the actor's of that event
    start = np.flatnonzero(np.r_[True, block[1:] != block[:-1]])
    block_id = np.cumsum(np.r_[True, block[1:] != block[:-1]]) - 1
    size = np.diff(np.r_[start, len(att)])
    # every present attendee against every attendee of the same group-day
    left_att = np.flatnonzero(row >= 0)
    reps = size[block_id[left_att]]
    left = np.repeat(left_att, reps)
    offset = np.arange(len(left)) - np.repeat(np.cumsum(reps) - reps, reps)
    right = start[block_id[left]] + offset
    other = left != right
    pairs = _distinct(row[left[other]].astype(np.int64) * n_all + who[right[other]])
    return _per_row(pairs // n_all, snap.n)
