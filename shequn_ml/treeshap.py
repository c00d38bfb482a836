"""Exact TreeSHAP for LightGBM models, fast when trees are small: one pass per decision pattern.

Path-dependent TreeSHAP (Lundberg et al. 2020, LightGBM's ``pred_contrib``) walks
every node of a tree for every row. But a tree's SHAP values for a row depend on
the row **only through the direction it takes at each internal node** (at a node
whose feature is in the coalition the row's branch is followed, otherwise both
branches are weighted by cover): rows that agree on every split of a tree get
exactly the same values from it. A tree with 6 internal nodes has at most 64 such
*decision patterns*, whatever the number of rows.

So, per tree: compute each row's decision at every internal node (vectorised, with
LightGBM's own rules for missing values), find the distinct patterns, ask LightGBM
for the exact ``pred_contrib`` of that one tree (``start_iteration=i,
num_iteration=1``) on one representative row per pattern, and give every row its
pattern's values. The values are LightGBM's own, summed over trees in the same
order, so they equal ``booster.predict(X, pred_contrib=True)`` to rounding (the
tests check 1e-9 on the library's models; :func:`shequn_ml.explain.shap_values`
also checks additivity on every call).

It pays when trees are small (the library's models have 7 leaves: at most 64
patterns per tree) and rows are many. Trees with categorical splits or linear
leaves are not handled: :func:`contributions` falls back to ``pred_contrib``.

Examples
--------
>>> import numpy as np, lightgbm as lgb
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(2000, 5)); X[::7, 2] = np.nan
>>> y = (X[:, 0] + np.nan_to_num(X[:, 2]) > 0).astype(int)
>>> booster = lgb.train({"objective": "binary", "num_leaves": 7, "verbose": -1}, lgb.Dataset(X, y), 20)
>>> fast = contributions(booster, X)
>>> bool(np.abs(fast - booster.predict(X, pred_contrib=True)).max() < 1e-9)
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: LightGBM's kZeroThreshold: |x| at or below it counts as zero ("missing" under missing_type Zero).
ZERO_THRESHOLD = 1e-35
#: Decision patterns are packed into an int64: trees with more internal nodes fall back.
MAX_INTERNAL_NODES = 62
CHUNK_ROWS = 250_000
#: Trees with at most this many internal nodes keep a pattern -> slot lookup of 2**n entries.
DENSE_MAX_NODES = 14
_MISSING = {"None": 0, "Zero": 1, "NaN": 2}


@dataclass(frozen=True)
class TreeSplits:
    """The internal nodes of one tree, in any fixed order."""

    feature: np.ndarray       # int, split feature index
    threshold: np.ndarray     # float64
    default_left: np.ndarray  # bool
    missing: np.ndarray       # 0 None, 1 Zero, 2 NaN


def parse_trees(booster: object, num_iteration: int | None = None) -> list[TreeSplits] | None:
    """Each tree's numerical splits, or None when some tree cannot be handled here."""
    model = booster.dump_model(num_iteration=num_iteration if num_iteration else -1)
    if model.get("num_tree_per_iteration", 1) != 1:
        return None
    trees = []
    for info in model["tree_info"]:
        feats, thr, left, miss = [], [], [], []
        stack = [info["tree_structure"]]
        while stack:
            node = stack.pop()
            if "split_index" not in node:
                if "leaf_coeff" in node or "leaf_features" in node:  # linear tree
                    return None
                continue
            if node.get("decision_type") != "<=":  # categorical split
                return None
            feats.append(int(node["split_feature"]))
            thr.append(float(node["threshold"]))
            left.append(bool(node["default_left"]))
            miss.append(_MISSING[str(node.get("missing_type", "None"))])
            stack.extend((node["left_child"], node["right_child"]))
        if len(feats) > MAX_INTERNAL_NODES:
            return None
        trees.append(TreeSplits(np.asarray(feats, np.int64), np.asarray(thr, np.float64),
                                np.asarray(left, bool), np.asarray(miss, np.int8)))
    return trees


def decision_patterns(tree: TreeSplits, XT: np.ndarray) -> np.ndarray:
    """Each row's directions at the tree's internal nodes, packed as an int64 (bit set = left).

    ``XT`` is the feature matrix transposed, shape (n_features, n_rows), so each
    feature is one contiguous row. LightGBM's rule (``Tree::NumericalDecision``): a
    NaN becomes 0 unless missing values are NaN-typed; a missing value (NaN, or zero
    under ``Zero``) goes the default way; otherwise ``x <= threshold`` goes left.
    """
    pattern = np.zeros(XT.shape[1], np.int64)
    for j in range(len(tree.feature)):
        v = XT[tree.feature[j]]
        nan = np.isnan(v)
        kind = tree.missing[j]
        if kind != 2 and nan.any():
            v = np.where(nan, 0.0, v)
        if kind == 2:
            missing = nan
        elif kind == 1:
            missing = np.abs(v) <= ZERO_THRESHOLD
        else:
            missing = None
        with np.errstate(invalid="ignore"):
            left = v <= tree.threshold[j]
        if missing is not None and missing.any():
            left = np.where(missing, tree.default_left[j], left)
        pattern |= left.astype(np.int64) << j
    return pattern


class _PatternTable:
    """One tree's SHAP values per decision pattern, filled lazily from LightGBM.

    Trees with at most :data:`DENSE_MAX_NODES` internal nodes keep a lookup from
    pattern to slot (int32, 2**nodes entries) and the values of the patterns seen
    so far, across row chunks; larger trees group each chunk's rows by pattern.
    """

    def __init__(self, n_internal: int, n_out: int) -> None:
        self.dense = n_internal <= DENSE_MAX_NODES
        if self.dense:
            self.slot = np.full(1 << n_internal, -1, np.int32)
            self.values = np.zeros((0, n_out))
        self.cols = np.zeros(n_out, bool)

    def lookup(self, pattern: np.ndarray, X: np.ndarray, booster: object, tree_index: int
               ) -> tuple[np.ndarray, np.ndarray]:
        """(values, index) with ``values[index]`` the values of every row."""
        if not self.dense:
            uniq, first, inverse = np.unique(pattern, return_index=True, return_inverse=True)
            values = booster.predict(X[first], pred_contrib=True, start_iteration=tree_index,
                                     num_iteration=1)
            self.cols |= np.any(values != 0, axis=0)
            return values, inverse.reshape(-1)
        index = self.slot[pattern]
        unseen = np.flatnonzero(index < 0)
        if len(unseen):
            # one row per new pattern (any row of a pattern has its values): no sort needed
            example = np.full(len(self.slot), -1, np.int64)
            example[pattern[unseen]] = unseen
            new = np.flatnonzero(example >= 0)
            values = booster.predict(X[example[new]], pred_contrib=True, start_iteration=tree_index,
                                     num_iteration=1)
            self.slot[new] = np.arange(len(self.values), len(self.values) + len(new), dtype=np.int32)
            self.values = np.vstack([self.values, values])
            self.cols |= np.any(values != 0, axis=0)
            index = self.slot[pattern]
        return self.values, index


def contributions(booster: object, X: np.ndarray, *, num_iteration: int | None = None) -> np.ndarray:
    """Exact SHAP values of a LightGBM booster, as ``booster.predict(X, pred_contrib=True)``.

    Parameters
    ----------
    booster : lightgbm.Booster
    X : array of shape (n, n_features)
        Float features in the booster's column order.
    num_iteration : int, optional
        Trees used (default: all).

    Returns
    -------
    ndarray of shape (n, n_features + 1)
        One column per feature, then the expected value.
    """
    X = np.asarray(X, dtype=np.float64)
    trees = parse_trees(booster, num_iteration)
    if trees is None:
        return booster.predict(X, pred_contrib=True, num_iteration=num_iteration)
    n_out = X.shape[1] + 1
    tables = [_PatternTable(len(t.feature), n_out) for t in trees]
    out = np.empty((len(X), n_out))
    for start in range(0, len(X), CHUNK_ROWS):
        chunk = np.ascontiguousarray(X[start:start + CHUNK_ROWS])
        XT = np.ascontiguousarray(chunk.T)
        accT = np.zeros((n_out, len(chunk)))
        for i, tree in enumerate(trees):
            table, index = tables[i].lookup(decision_patterns(tree, XT), chunk, booster, i)
            for c in np.flatnonzero(tables[i].cols):
                accT[c] += table[:, c][index]
        out[start:start + CHUNK_ROWS] = accT.T
    return out


__all__ = ["TreeSplits", "contributions", "decision_patterns", "parse_trees"]
