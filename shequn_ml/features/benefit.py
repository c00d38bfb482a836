"""Benefit: red packets, coupons, purchases, and paid membership.

"A discount card can matter more than an opinion leader": some members appear only
when there is a red packet or a coupon. ``benefit_only_share_90d`` measures that:
the share of a member's events in the last 90 days (joins and exits aside) that are
benefit claims or that
happen within ``spec.benefit_halo_hours`` after a red packet or coupon went out in
the group.

Paid membership, point in time
------------------------------
A paid member's expiry at a cutoff is their latest ``join`` or ``renew`` event
before the cutoff plus the group's ``term_days`` (groups table). The members
table's ``expires_at`` is an export-time value that already contains renewals
made after any past cutoff, so it is never read as a feature.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from shequn_ml.features._registry import feature
from shequn_ml.features.snapshots import Snapshot
from shequn_ml.features.spec import FeatureSpec

FAMILY = "benefit"
CLAIMS = ("red_packet_claim", "coupon_claim", "coupon_redeem")
GIVEAWAYS = ("red_packet_send", "coupon_claim")
MONEY_IN = ("purchase", "renew")


def define(spec: FeatureSpec) -> None:
    """Register this family's features for ``spec`` (windows decide the names)."""
    for w in spec.windows:
        feature(f"red_packet_claims_{w}d", FAMILY, w, f"red packets claimed in the last {w} days.",
                f"claimed {{value}} red packets in {w} days", f"{w}天内抢红包{{value}}次")
    feature("coupon_claims_30d", FAMILY, 30, "coupons claimed in the last 30 days.",
            "claimed {value} coupons in 30 days", "30天内领券{value}张")
    feature("coupon_redeems_30d", FAMILY, 30, "coupons used in a purchase in the last 30 days.",
            "used {value} coupons in 30 days", "30天内用券{value}张")
    feature("purchases_90d", FAMILY, 90, "purchases in the last 90 days.",
            "made {value} purchases in 90 days", "90天内购买{value}次")
    feature("spend_90d", FAMILY, 90, "money spent on purchases and renewals in the last 90 days.",
            "spent {value} in 90 days", "90天内消费{value}元")
    feature("red_packets_sent_90d", FAMILY, 90, "red packets the member sent in the last 90 days.",
            "sent {value} red packets in 90 days", "90天内发红包{value}个")
    feature("benefit_only_share_90d", FAMILY, 90,
            "share of the member's events in the last 90 days that are benefit claims or fall "
            "right after a red packet or coupon went out (1 = comes only for benefits).",
            "comes mostly for red packets and coupons ({value} of activity)",
            "主要为红包和优惠券而来（占活动{value}）")
    feature("is_paid", FAMILY, None, "1 if the members table marks the member as paid (付费), else 0.",
            "paid member", "付费会员")
    feature("days_to_expiry", FAMILY, None,
            "days from the cutoff to the paid membership's expiry (latest join or renewal plus the "
            "group's term); empty for free members or groups without term_days.",
            "membership expires in {value} days", "会员{value}天后到期")
    feature("renewals", FAMILY, None, "paid-membership renewals before the cutoff.",
            "renewed {value} times", "已续费{value}次")


def compute(snap: Snapshot) -> pd.DataFrame:
    """Benefit features of every member present at the snapshot's cutoff."""
    define(snap.spec)
    out: dict[str, np.ndarray] = {}
    for w in snap.spec.windows:
        out[f"red_packet_claims_{w}d"] = snap.count_of(["red_packet_claim"], w)
    out["coupon_claims_30d"] = snap.count_of(["coupon_claim"], 30)
    out["coupon_redeems_30d"] = snap.count_of(["coupon_redeem"], 30)
    out["purchases_90d"] = snap.count_of(["purchase"], 90)
    out["spend_90d"] = snap.total_of(MONEY_IN, 90, snap.ev_amount)
    out["red_packets_sent_90d"] = snap.count_of(["red_packet_send"], 90)
    out["benefit_only_share_90d"] = _benefit_only_share(snap)
    out["is_paid"] = snap.paid().astype(float)
    out["days_to_expiry"] = snap.days_to_expiry()
    out["renewals"] = snap.count_of(["renew"])
    return pd.DataFrame(out)


def _benefit_only_share(snap: Snapshot) -> np.ndarray:
    window = 90
    # only the last window + 1 days matter: events are sorted by time, so that is a suffix
    start = snap.window_start(window + 1)
    pi = snap.ev_pi[start:]
    mine = (pi >= 0) & ~snap.of_type(["join", "leave", "removed"])[start:]
    mine[:snap.window_start(window) - start] = False
    claims = mine & snap.of_type(CLAIMS)[start:]
    give = snap.of_type(GIVEAWAYS)[start:]
    halo = np.zeros(len(pi), bool)
    if give.any() and mine.any():
        mine_idx = np.flatnonzero(mine)
        give_ns = _latest_at_or_before(snap, start, give, mine_idx)
        ns = snap.ev_ns[start:][mine_idx]
        if give_ns.dtype.kind == "i":
            gap_ns = (ns - give_ns).astype(float)
        else:  # some without a giveaway (NaN): the times go through float64, as in a float column
            gap_ns = np.where(np.isnan(give_ns), np.inf, ns.astype(float) - give_ns)
        halo[mine_idx] = gap_ns <= snap.spec.benefit_halo_hours * 3600 * 1e9
    n_mine = np.bincount(pi[mine], minlength=snap.n).astype(float)
    n_benefit = np.bincount(pi[claims | (mine & halo)], minlength=snap.n).astype(float)
    return np.divide(n_benefit, n_mine, out=np.zeros(snap.n), where=n_mine > 0)


def _latest_at_or_before(snap: Snapshot, start: int, give: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """For the events ``start + rows``, the time (ns) of the latest giveaway (``give``, over the
    events from ``start``) in the same group at or before it, NaN when none: what
    ``merge_asof(..., by="g", direction="backward")`` gives.

    Walks the events in group-then-time order (computed once per history): a running
    "latest giveaway so far" read at the end of each run of equal times, so that a
    giveaway at the same time counts whatever its position. Positions are int32 to keep
    the temporaries small.
    """
    order = snap.history.group_order
    sel = order[(order >= start) & (order < snap.n_events)]  # by group, then time
    sel -= start
    pos = np.int32 if len(sel) < 2**31 else np.int64
    idx = np.arange(len(sel), dtype=pos)
    g, ns = snap.ev_g[start:][sel], snap.ev_ns[start:][sel]
    new_group = np.r_[True, g[1:] != g[:-1]]
    del g
    group_start = np.maximum.accumulate(np.where(new_group, idx, 0))
    latest = np.maximum.accumulate(np.where(give[sel], idx, -1))
    new_run = new_group | np.r_[True, ns[1:] != ns[:-1]]
    del new_group
    run_last = (np.r_[np.flatnonzero(new_run)[1:], len(sel)] - 1).astype(pos)
    run_of = np.cumsum(new_run, dtype=pos)
    run_of -= 1
    del new_run
    at = latest[run_last[run_of]]
    del latest, run_last, run_of
    hit = at >= group_start
    del group_start
    where = np.empty(len(sel), pos)
    where[sel] = idx
    del sel, idx
    q = where[rows]
    del where
    hit, at = hit[q], at[q]
    if hit.all():
        return ns[at]
    out = np.full(len(rows), np.nan)
    out[hit] = ns[at[hit]]
    return out
