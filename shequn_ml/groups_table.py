"""The groups table of the nightly job: one row per group, what an operator reads first.

It joins, per group:

* the group-health scores (:func:`shequn_ml.group_health.score_groups`): status, risk
  of dying over the horizon, lifecycle stage, activity trend, speakers, members, three
  reasons;
* the share of its scored members at risk (:func:`at_risk_share`: in the high tier 高
  of silence or churn, or without tiers at a risk of at least :data:`AT_RISK`);
* its role mix (:func:`role_shares` of :func:`shequn_ml.roles.assign_roles`) and its
  头狼 (the top of the KOL ranking);
* the group-level signals that raised its members' risks, reported once per group
  instead of in every member's reasons (``scoring.group_signal_table``).

Examples
--------
>>> import pandas as pd
>>> scores = pd.DataFrame({"group_id": ["g", "g", "h"], "member_id": ["a", "b", "c"],
...                        "status": "scored", "silence_tier": ["高", "低", "中"]})
>>> at_risk_share(scores).to_dict()
{'g': 0.5, 'h': 0.0}
>>> role_shares(pd.DataFrame({"group_id": ["g", "g"], "member_id": ["a", "b"],
...                           "role": ["lurker", "thinker"]}))["role_share_lurker"].to_dict()
{'g': 0.5}
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from shequn_ml.roles import ROLE_ZH, ROLES

#: Without tiers, a member is at risk from this calibrated probability on.
AT_RISK = 0.5
#: The tier that counts as at risk.
HIGH_TIER = "高"
RISK_COLUMNS = ("silence_risk", "churn_risk")
TIER_COLUMNS = ("silence_tier", "churn_tier")


def at_risk_share(scores: pd.DataFrame) -> pd.Series:
    """Share of each group's scored members at risk, indexed by ``group_id``.

    At risk: in the high tier (高) of any task with a tier column, or, when the table
    has no tiers, at a risk of at least :data:`AT_RISK` in any task.
    """
    s = scores.loc[scores["status"] == "scored"] if "status" in scores.columns else scores
    tiers = [c for c in TIER_COLUMNS if c in s.columns]
    risky = np.zeros(len(s), bool)
    if tiers:
        for c in tiers:
            risky |= (s[c].astype(object) == HIGH_TIER).to_numpy()
    else:
        for c in RISK_COLUMNS:
            if c in s.columns:
                risky |= (pd.to_numeric(s[c], errors="coerce").fillna(0.0) >= AT_RISK).to_numpy()
    return pd.Series(risky, index=s["group_id"].astype(str).to_numpy()).groupby(level=0).mean()


def role_counts(roles: pd.DataFrame) -> pd.DataFrame:
    """Members per role (columns :data:`shequn_ml.roles.ROLES`) of each group (index ``group_id``).

    Reads ``role`` (English names) or, without it, ``role_zh``.

    >>> role_counts(pd.DataFrame({"group_id": ["g", "g", "h"], "member_id": ["a", "b", "a"],
    ...                           "role": ["lurker", "lurker", "thinker"]})).to_dict("index")
    {'g': {'thinker': 0, 'organiser': 0, 'asker': 0, 'chatter': 0, 'lurker': 2}, \
'h': {'thinker': 1, 'organiser': 0, 'asker': 0, 'chatter': 0, 'lurker': 0}}
    """
    if "role" in roles.columns:
        role = roles["role"].astype(str)
    elif "role_zh" in roles.columns:
        back = {v: k for k, v in ROLE_ZH.items()}
        role = roles["role_zh"].astype(str).map(back)
    else:
        raise ValueError("the roles table has neither a 'role' nor a 'role_zh' column")
    unknown = sorted(set(role.dropna()) - set(ROLES))
    if unknown or role.isna().any():
        raise ValueError(f"the roles table: column 'role' has values that are not roles: "
                         f"{unknown[:5] or ['(empty)']}; expected {', '.join(ROLES)}")
    counts = pd.crosstab(roles["group_id"].astype(str).to_numpy(), role.to_numpy())
    counts = counts.reindex(columns=list(ROLES), fill_value=0)
    counts.index.name = "group_id"
    counts.columns.name = None
    return counts


def role_shares(roles: pd.DataFrame) -> pd.DataFrame:
    """``role_share_<role>`` per group (index ``group_id``): the group's role mix."""
    counts = role_counts(roles)
    shares = counts.div(counts.sum(axis=1).replace(0, np.nan), axis=0)
    return shares.add_prefix("role_share_")


def groups_table(group_scores: pd.DataFrame, scores: pd.DataFrame, *, roles: pd.DataFrame | None = None,
                 signals: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per group of ``group_scores``, joined with the member-level views.

    Parameters
    ----------
    group_scores : DataFrame
        :func:`shequn_ml.group_health.score_groups` output (every known group, with a status).
    scores : DataFrame
        The members table of :func:`shequn_ml.scoring.score_members` (``group_id``,
        ``status``, risks or tiers, ``kol_rank_in_group``).
    roles : DataFrame, optional
        :func:`shequn_ml.roles.assign_roles` output: adds ``role_share_<role>`` and
        ``head_wolf`` (the member flagged ``is_head_wolf``).
    signals : DataFrame, optional
        Per-group signals keyed by ``group_id`` (``scoring.group_signal_table``).

    Returns
    -------
    DataFrame
        ``group_scores``'s columns, then ``share_members_at_risk`` (NaN for a group with
        no scored member), ``members_scored``, the role shares, ``head_wolf`` and the
        signal columns; sorted by ``group_id``.
    """
    out = group_scores.copy()
    out["group_id"] = out["group_id"].astype(str)
    ids = out["group_id"].to_numpy()
    out["share_members_at_risk"] = at_risk_share(scores).reindex(ids).to_numpy(dtype=float)
    scored = scores.loc[scores["status"] == "scored"] if "status" in scores.columns else scores
    n = scored["group_id"].astype(str).value_counts()
    out["members_scored"] = n.reindex(ids, fill_value=0).to_numpy(dtype=np.int64)
    if roles is not None:
        shares = role_shares(roles)
        for c in shares.columns:
            out[c] = shares[c].reindex(ids).to_numpy(dtype=float)
        flagged = roles["is_head_wolf"].astype(bool) if "is_head_wolf" in roles.columns else False
        wolf = roles.loc[flagged] if "is_head_wolf" in roles.columns else roles.iloc[:0]
        head = pd.Series(wolf["member_id"].astype(str).to_numpy(),
                         index=wolf["group_id"].astype(str).to_numpy())
        out["head_wolf"] = head[~head.index.duplicated()].reindex(ids).fillna("").to_numpy(dtype=object)
    if signals is not None and len(signals.columns) > 1:
        sig = signals.assign(group_id=signals["group_id"].astype(str)).set_index("group_id")
        sig = sig.reindex(ids)
        for c in sig.columns:
            col = sig[c]
            out[c] = (col.fillna(0).astype(np.int64) if c.endswith("_members_explained")
                      else col.fillna("").astype(object)).to_numpy()
    return out.sort_values("group_id", kind="stable").reset_index(drop=True)


def operator_tables(events: pd.DataFrame, history: object, cutoff: object, scores: pd.DataFrame, *,
                    signals: pd.DataFrame | None = None, model: object | None = None,
                    horizon_days: float = 28.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The nightly job's groups table and roles table at ``cutoff``, from a scored members table.

    Roles are assigned from behaviour before the cutoff with the 头狼 taken from the
    scores' ``kol_rank_in_group`` (when it has one); groups are scored by the
    group-health ``model`` when the community has one, else listed with their stage,
    trend and counts and the status ``no_group_health_model``.

    Parameters
    ----------
    events : DataFrame
        The normalised events the scores were computed from.
    history : EventHistory
        ``EventHistory(events, members=..., groups=...)``.
    cutoff : timestamp
        The scores' cutoff.
    scores : DataFrame
        :func:`shequn_ml.scoring.score_members` output.
    signals : DataFrame, optional
        Per-group signals (``scoring.group_signal_table``).
    model : GroupHealthModel, optional
        The community's group-health model.
    horizon_days : float, default 28
        The group-health label horizon (its population window).

    Returns
    -------
    (groups, roles) : DataFrames
        :func:`groups_table` output and :func:`shequn_ml.roles.assign_roles` output.
    """
    from shequn_ml.group_health import score_groups
    from shequn_ml.roles import assign_roles

    kol = None
    if "kol_rank_in_group" in scores.columns:
        kol = scores.loc[scores["kol_rank_in_group"].notna(), ["group_id", "member_id", "kol_rank_in_group"]]
        kol = kol.astype({"group_id": str, "member_id": str})
    roles = assign_roles(events, cutoff, history=history, kol=kol)
    group_scores = score_groups(model, history, cutoff, horizon_days=horizon_days)
    return groups_table(group_scores, scores, roles=roles, signals=signals), roles
