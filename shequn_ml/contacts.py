"""What an operator acts on: risk tiers that hold still, and whom to contact with what.

Tiers
-----
Each calibrated risk (``silence_risk``, ``churn_risk``) is put in a tier: 高 (high),
中 (medium) or 低 (low), by two thresholds on the probability (:class:`TierPolicy`;
defaults: high from 0.6, low below 0.3). A nightly list that reshuffles members
between tiers on noise teaches operators to ignore it, so the tiers have
*hysteresis* against the previous night's: a member moves up across a threshold
only when the risk passes it by ``margin``, and down only when it falls below it by
``margin``. A member with no tier last night (new, or not scored then) gets the
plain thresholds; a member without a score tonight gets no tier (empty).
:func:`tier_churn` measures how many members changed tier between two nights.

The contact list
----------------
:func:`contact_list` picks, per group, the members most worth reaching tonight:
ranked by *priority* = risk × value, where risk is the larger of the two risks and

    value = 1 + influence_weight × influence + paid_weight × paid

``influence`` is the member's place in the group's 头狼 / KOL ranking (1 for the
top-ranked member, 0 for the last; 0 without a KOL score) and ``paid`` is 1 for a
member the members table marks paid (付费). With the default weights (1 and 1) a
paid 头狼 counts three times an ordinary free member at the same risk.

Each entry carries a suggested kind of action (:func:`suggest_action`), tied to
the feature family of the member's top reason:

============================  =====================================================
``renewal_reminder`` 续费提醒  a paid member whose churn reasons include the
                              membership itself (its expiry, renewals): remind them
                              to renew
``offer_benefit`` 送福利       top reason from the benefit family (comes for red
                              packets and coupons): a red packet or a coupon
``introduce`` 引荐             top reason from the relationship family (reply
                              partners went quiet or left, few partners): introduce
                              them to active members
``check_in`` 私聊问候          anything else: a personal check-in
============================  =====================================================

Examples
--------
>>> policy = TierPolicy()
>>> policy.assign([0.59, 0.61, 0.66, 0.2, np.nan], previous=["中", "中", "中", "中", "高"]).tolist()
['中', '中', '高', '低', '']
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from shequn_ml.explain import Lang, langs_of

#: The tiers, lowest first: 低 (low), 中 (medium), 高 (high).
TIERS = ("低", "中", "高")
#: The tiers' English names.
TIER_NAMES = {"低": "low", "中": "medium", "高": "high"}
#: The tier column of each risk task.
TIER_COLUMN = {"silence": "silence_tier", "churn": "churn_tier"}
RISK_COLUMN = {"silence": "silence_risk", "churn": "churn_risk"}
KEY = ["group_id", "member_id"]
N_REASONS = 3

#: Features of the paid membership itself: among a paid member's churn reasons, a renewal reminder.
MEMBERSHIP_FEATURES = ("days_to_expiry", "renewals", "is_paid")
#: action code -> (English, Chinese).
ACTIONS = {
    "renewal_reminder": ("renewal reminder: the paid membership is about to lapse", "续费提醒：会员即将到期"),
    "offer_benefit": ("offer a benefit: a red packet or a coupon", "送福利：发红包或优惠券"),
    "introduce": ("introduce them to active members", "引荐：介绍给活跃群友"),
    "check_in": ("personal check-in by private message", "私聊问候"),
}


# ---------------------------------------------------------------------------- tiers
@dataclass(frozen=True)
class TierPolicy:
    """Thresholds on a calibrated probability, with hysteresis.

    Parameters
    ----------
    high : float, default 0.6
        A risk at or above it is 高 (high).
    low : float, default 0.3
        A risk below it is 低 (low); between the two, 中 (medium).
    margin : float, default 0.05
        Hysteresis: against the previous night's tier, a member moves up across a
        threshold only at ``threshold + margin`` or more, and down across it only
        below ``threshold - margin``. 0 turns it off. ``benchmarks/tier_stability.py``
        measures what it does (docs/scoring.md).
    """

    high: float = 0.6
    low: float = 0.3
    margin: float = 0.05

    def __post_init__(self) -> None:
        if not (0 < self.low < self.high < 1):
            raise ValueError(f"TierPolicy needs 0 < low < high < 1, got low={self.low!r}, high={self.high!r}")
        if not (0 <= self.margin < (self.high - self.low) / 2):
            raise ValueError(f"TierPolicy margin must be at least 0 and below half the gap between the "
                             f"thresholds ({(self.high - self.low) / 2:g}), got {self.margin!r}")

    def _codes(self, risk: np.ndarray, shift: float) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            code = np.where(risk >= self.high + shift, 2, np.where(risk >= self.low + shift, 1, 0))
        return np.where(np.isfinite(risk), code, -1)

    def assign(self, risk: Sequence[float] | np.ndarray,
               previous: Sequence[object] | np.ndarray | None = None) -> np.ndarray:
        """The tier of each risk ("" where the risk is missing).

        Parameters
        ----------
        risk : array of float
            Calibrated probabilities; NaN for members without a score.
        previous : array of str, optional
            Last night's tier of the same members ("", None or NaN where they had
            none). Without it, the plain thresholds.

        Returns
        -------
        ndarray of str
        """
        r = np.asarray(risk, dtype=float)
        code = self._codes(r, 0.0)
        if previous is not None:
            prev = tier_codes(previous)
            if len(prev) != len(r):
                raise ValueError(f"TierPolicy.assign: {len(prev)} previous tiers for {len(r)} risks")
            up, down = self._codes(r, self.margin), self._codes(r, -self.margin)
            held = np.where(up > prev, up, np.where(down < prev, down, prev))
            code = np.where((prev >= 0) & (code >= 0), held, code)
        return tier_labels(code)


def tier_codes(tiers: Sequence[object] | np.ndarray | pd.Series) -> np.ndarray:
    """Tier labels as 0 (低), 1 (中), 2 (高); -1 for none ("" , None, NaN)."""
    values = pd.Series(np.asarray(tiers, dtype=object))
    return values.map({t: i for i, t in enumerate(TIERS)}).fillna(-1).to_numpy(dtype=np.int64)


def tier_labels(codes: np.ndarray) -> np.ndarray:
    """0, 1, 2 -> 低, 中, 高; -1 -> ""."""
    labels = np.array(("",) + TIERS, dtype=object)
    return labels[np.asarray(codes, dtype=np.int64) + 1]


def tier_churn(prev: pd.DataFrame, curr: pd.DataFrame, column: str = "silence_tier") -> float:
    """Share of the members tiered on both nights whose tier changed.

    Parameters
    ----------
    prev, curr : DataFrame
        Two nights' tables with ``group_id``, ``member_id`` and ``column``.
    column : str, default "silence_tier"

    Returns
    -------
    float
        Changed / members with a tier in both tables; NaN when there are none.

    Examples
    --------
    >>> keys = {"group_id": ["g"] * 3, "member_id": ["x", "y", "z"]}
    >>> a = pd.DataFrame({**keys, "silence_tier": ["高", "中", ""]})
    >>> b = pd.DataFrame({**keys, "silence_tier": ["高", "低", "低"]})
    >>> tier_churn(a, b)
    0.5
    """
    for name, t in (("prev", prev), ("curr", curr)):
        missing = [c for c in [*KEY, column] if c not in t.columns]
        if missing:
            raise ValueError(f"tier_churn: {name} has no column {missing[0]!r}")
    a = pd.DataFrame({"group_id": prev["group_id"].astype(str).to_numpy(dtype=object),
                      "member_id": prev["member_id"].astype(str).to_numpy(dtype=object),
                      "a": tier_codes(prev[column])})
    b = pd.DataFrame({"group_id": curr["group_id"].astype(str).to_numpy(dtype=object),
                      "member_id": curr["member_id"].astype(str).to_numpy(dtype=object),
                      "b": tier_codes(curr[column])})
    both = a.merge(b, on=KEY, how="inner", validate="one_to_one")
    both = both.loc[(both["a"] >= 0) & (both["b"] >= 0)]
    if not len(both):
        return float("nan")
    return float((both["a"] != both["b"]).mean())


def previous_tiers(previous: pd.DataFrame | str | os.PathLike[str], cutoff: pd.Timestamp,
                   policy: TierPolicy | None = None) -> pd.DataFrame:
    """Last night's tiers from its scores table (a DataFrame or a Parquet/CSV file).

    The table must be from an earlier cutoff. A table written before tiers existed
    (no ``silence_tier`` column) is tiered from its risk with the plain thresholds.

    Returns
    -------
    DataFrame
        ``group_id``, ``member_id`` (str) and ``silence_tier``, ``churn_tier``
        ("" where none).

    Raises
    ------
    shequn_ml.split.DataError
        A file that cannot be read, a table without keys, or one from this cutoff or later.
    """
    from shequn_ml.split import DataError

    where = "the previous scores"
    if not isinstance(previous, pd.DataFrame):
        path = Path(previous)
        where = f"previous scores {path}"
        try:
            table = (pd.read_csv(path, encoding="utf-8-sig") if path.suffix.lower() == ".csv"
                     else pd.read_parquet(path))
        except FileNotFoundError:
            raise DataError(f"{where} does not exist") from None
        except Exception as exc:  # noqa: BLE001 - any unreadable file is the same message
            raise DataError(f"{where} cannot be read: {type(exc).__name__}: {exc}") from None
    else:
        table = previous
    missing = [c for c in KEY if c not in table.columns]
    if missing:
        raise DataError(f"{where}: no column {missing[0]!r} (give the table an earlier "
                        "`shequn-ml score` wrote)")
    if "cutoff" in table.columns and len(table):
        then = pd.to_datetime(table["cutoff"], utc=True).max()
        if then >= cutoff:
            raise DataError(f"{where} are of the cutoff {then:%Y-%m-%d %H:%M}, not before this run's "
                            f"{cutoff:%Y-%m-%d %H:%M}: give the scores of an earlier night")
    policy = policy or TierPolicy()
    out = pd.DataFrame({"group_id": table["group_id"].astype(str).to_numpy(dtype=object),
                        "member_id": table["member_id"].astype(str).to_numpy(dtype=object)})
    for task, col in TIER_COLUMN.items():
        if col in table.columns:
            codes = tier_codes(table[col].to_numpy(dtype=object))
            out[col] = tier_labels(codes)
        elif RISK_COLUMN[task] in table.columns:
            out[col] = policy.assign(table[RISK_COLUMN[task]].to_numpy(dtype=float))
        else:
            out[col] = ""
    if out.duplicated(KEY).any():
        raise DataError(f"{where}: a (group_id, member_id) appears more than once")
    return out


# ---------------------------------------------------------------------------- actions
def suggest_action(top_feature: str | None, *, paid: bool = False,
                   churn_features: Sequence[str | None] = ()) -> str:
    """The kind of action for a member, from their top reason's feature family.

    Parameters
    ----------
    top_feature : str or None
        The feature behind the member's first reason (of the task with the larger risk).
    paid : bool, default False
        The member is a paid member (付费).
    churn_features : sequence of str
        The features behind the member's churn reasons.

    Returns
    -------
    str
        A key of :data:`ACTIONS`: ``renewal_reminder`` for a paid member whose churn
        reasons include the membership (:data:`MEMBERSHIP_FEATURES`), else
        ``offer_benefit`` for a top reason of the benefit family, ``introduce`` for
        the relationship family, ``check_in`` otherwise.

    Examples
    --------
    >>> suggest_action("benefit_only_share_90d")
    'offer_benefit'
    >>> suggest_action("partners_quiet_or_left_share")
    'introduce'
    >>> suggest_action("days_since_speak", paid=True, churn_features=["days_to_expiry"])
    'renewal_reminder'
    >>> suggest_action(None)
    'check_in'
    """
    if paid and any(f in MEMBERSHIP_FEATURES for f in churn_features):
        return "renewal_reminder"
    family = _family(top_feature)
    if family == "benefit" and top_feature not in MEMBERSHIP_FEATURES:
        return "offer_benefit"
    if family == "relationship":
        return "introduce"
    return "check_in"


def _family(name: str | None) -> str | None:
    if not isinstance(name, str) or not name:
        return None
    from shequn_ml.features._registry import catalogue
    from shequn_ml.features.pipeline import feature_catalogue

    defs = catalogue()
    if name not in defs:
        defs = feature_catalogue()
    fd = defs.get(name)
    return fd.family if fd is not None else None


# ---------------------------------------------------------------------------- contact list
#: The contact list's columns before the reasons (``nickname`` only when the scores have it).
CONTACT_COLUMNS = ["group_id", "rank", "member_id", "nickname", "cutoff", "tier", "silence_risk",
                   "churn_risk", "influence", "paid", "value", "priority", "action_code", "action_en",
                   "action_zh", "reason_task"]


def contact_list(scores: pd.DataFrame, members: pd.DataFrame | None = None, *, per_group: int = 10,
                 influence_weight: float = 1.0, paid_weight: float = 1.0,
                 lang: Lang = "both") -> pd.DataFrame:
    """Per group, the ``per_group`` members most worth reaching, by risk × value.

    Parameters
    ----------
    scores : DataFrame
        The scores table (:func:`shequn_ml.scoring.score_members`), with the
        reason columns of ``lang`` and the ``<task>_reason_<k>_feature`` columns.
    members : DataFrame, optional
        The members table; its ``paid`` column says who is a paid member (none without it).
    per_group : int, default 10
        Entries per group at most.
    influence_weight, paid_weight : float, default 1.0
        Weights of the value (module docstring).
    lang : {"en", "zh", "both"}, default "both"
        Languages of the action and reason columns.

    Returns
    -------
    DataFrame
        One row per entry, sorted by ``group_id`` and ``rank`` (1 = reach first):
        :data:`CONTACT_COLUMNS` (``action_en`` / ``action_zh`` per ``lang``), then
        ``reason_<k>_en`` / ``reason_<k>_zh``: the reasons of ``reason_task``, the
        task with the larger risk. Members without a risk (not scored, left) are
        not listed; ``tier`` is the higher of their two tiers.

    Examples
    --------
    >>> s = pd.DataFrame({"group_id": ["g", "g", "g"], "member_id": ["a", "b", "c"],
    ...                   "status": ["scored", "scored", "left_before_cutoff"],
    ...                   "silence_risk": [0.7, 0.2, np.nan], "churn_risk": [0.1, 0.5, np.nan],
    ...                   "kol_rank_in_group": pd.array([2, 1, None], dtype="Int64")})
    >>> contact_list(s, lang="en")[["rank", "member_id", "value", "priority"]].to_dict("list")
    {'rank': [1, 2], 'member_id': ['b', 'a'], 'value': [2.0, 1.0], 'priority': [1.0, 0.7]}
    """
    langs = langs_of(lang)
    if not isinstance(per_group, (int, np.integer)) or isinstance(per_group, bool) or per_group < 1:
        raise ValueError(f"per_group must be a positive integer, got {per_group!r}")
    for name, w in (("influence_weight", influence_weight), ("paid_weight", paid_weight)):
        if not (isinstance(w, (int, float)) and np.isfinite(w) and w >= 0):
            raise ValueError(f"{name} must be a number >= 0, got {w!r}")
    missing = [c for c in [*KEY, "status"] if c not in scores.columns]
    if missing:
        raise ValueError(f"contact_list: the scores have no column {missing[0]!r}")
    t = scores.reset_index(drop=True)
    n = len(t)
    risk = {task: (t[col].to_numpy(dtype=float) if col in t.columns else np.full(n, np.nan))
            for task, col in RISK_COLUMN.items()}
    with np.errstate(invalid="ignore"):
        best = np.fmax(risk["silence"], risk["churn"])
    keep = np.isfinite(best) & (t["status"].to_numpy(dtype=object) == "scored")
    g = t["group_id"].astype(str).to_numpy(dtype=object)
    m = t["member_id"].astype(str).to_numpy(dtype=object)
    # influence: the place in the group's KOL ranking, 1 (top) .. 0 (last)
    rank = (t["kol_rank_in_group"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
            if "kol_rank_in_group" in t.columns else np.full(n, np.nan))
    ranked = pd.Series(np.isfinite(rank)).groupby(g).transform("sum").to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        influence = np.where(ranked > 1, 1 - (rank - 1) / (ranked - 1), 1.0)
    influence = np.where(np.isfinite(rank), influence, 0.0)
    paid = np.zeros(n, dtype=bool)
    if members is not None and len(members) and "paid" in members.columns:
        mt = pd.DataFrame({"group_id": members["group_id"].astype(str).to_numpy(dtype=object),
                           "member_id": members["member_id"].astype(str).to_numpy(dtype=object),
                           "paid": members["paid"].fillna(False).astype(bool).to_numpy()})
        mt = mt.groupby(KEY, sort=False)["paid"].any()
        paid = mt.reindex(pd.MultiIndex.from_arrays([g, m])).fillna(False).to_numpy(dtype=bool)
    value = 1.0 + influence_weight * influence + paid_weight * paid
    with np.errstate(invalid="ignore"):
        priority = best * value
    frame = pd.DataFrame({"_row": np.arange(n), "group_id": g, "member_id": m,
                          "priority": priority}).loc[keep]
    frame = frame.sort_values(["group_id", "priority", "member_id"], ascending=[True, False, True],
                              kind="stable")
    frame["rank"] = frame.groupby("group_id", sort=False).cumcount() + 1
    frame = frame.loc[frame["rank"] <= per_group]
    rows = frame["_row"].to_numpy(dtype=np.int64)
    # the task whose risk is larger gives the reasons (a missing risk never wins)
    s, c = risk["silence"][rows], risk["churn"][rows]
    task = np.where(np.isfinite(s) & (~np.isfinite(c) | (s > c)), "silence", "churn")
    out = pd.DataFrame({"group_id": g[rows], "rank": frame["rank"].to_numpy(dtype=np.int64),
                        "member_id": m[rows]})
    if "nickname" in t.columns:
        out["nickname"] = t["nickname"].to_numpy(dtype=object)[rows]
    if "cutoff" in t.columns:
        out["cutoff"] = t["cutoff"].iloc[rows].reset_index(drop=True)
    tiers = np.full(len(rows), -1)
    for col in TIER_COLUMN.values():
        if col in t.columns:
            tiers = np.maximum(tiers, tier_codes(t[col].to_numpy(dtype=object)[rows]))
    out["tier"] = tier_labels(tiers)
    out["silence_risk"], out["churn_risk"] = s, c
    out["influence"], out["paid"] = influence[rows], paid[rows]
    out["value"], out["priority"] = value[rows], priority[rows]

    def feature_at(which: str, k: int) -> np.ndarray:
        col = f"{which}_reason_{k}_feature"
        if col not in t.columns:
            return np.full(len(rows), "", dtype=object)
        return t[col].to_numpy(dtype=object)[rows]

    top = np.where(task == "silence", feature_at("silence", 1), feature_at("churn", 1))
    churn_feats = list(zip(*(feature_at("churn", k) for k in range(1, N_REASONS + 1)), strict=True)) \
        if len(rows) else []
    codes = [suggest_action(f if isinstance(f, str) and f else None, paid=bool(p), churn_features=cf)
             for f, p, cf in zip(top, paid[rows], churn_feats, strict=True)]
    out["action_code"] = np.array(codes, dtype=object)
    for i, lg in enumerate(("en", "zh")):
        if lg in langs:
            out[f"action_{lg}"] = np.array([ACTIONS[a][i] for a in codes], dtype=object)
    out["reason_task"] = task.astype(object)
    for k in range(1, N_REASONS + 1):
        for lg in langs:
            sil = t.get(f"silence_reason_{k}_{lg}")
            chu = t.get(f"churn_reason_{k}_{lg}")
            a = sil.to_numpy(dtype=object)[rows] if sil is not None else np.full(len(rows), "", dtype=object)
            b = chu.to_numpy(dtype=object)[rows] if chu is not None else np.full(len(rows), "", dtype=object)
            out[f"reason_{k}_{lg}"] = np.where(task == "silence", a, b)
    reasons = [c for c in out.columns if c.startswith("reason_") and c != "reason_task"]
    cols = [c for c in CONTACT_COLUMNS if c in out.columns] + reasons
    return out[cols].reset_index(drop=True)


def contact_columns(lang: Lang = "both", *, nickname: bool = False) -> list[str]:
    """The columns :func:`contact_list` returns for ``lang`` (scores with a cutoff column)."""
    langs = langs_of(lang)
    cols = [c for c in CONTACT_COLUMNS if c != "nickname" or nickname]
    cols = [c for c in cols if not c.startswith("action_") or c == "action_code" or c[-2:] in langs]
    return cols + [f"reason_{k}_{lg}" for k in range(1, N_REASONS + 1) for lg in langs]


__all__ = ["ACTIONS", "MEMBERSHIP_FEATURES", "TIERS", "TIER_COLUMN", "TIER_NAMES", "TierPolicy",
           "contact_columns", "contact_list", "previous_tiers", "suggest_action", "tier_churn",
           "tier_codes", "tier_labels"]
