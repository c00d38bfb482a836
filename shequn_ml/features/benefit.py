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
        out[f"red_packet_claims_{w}d"] = snap.count(snap.mask(["red_packet_claim"], w))
    out["coupon_claims_30d"] = snap.count(snap.mask(["coupon_claim"], 30))
    out["coupon_redeems_30d"] = snap.count(snap.mask(["coupon_redeem"], 30))
    out["purchases_90d"] = snap.count(snap.mask(["purchase"], 90))
    out["spend_90d"] = snap.total(snap.mask(MONEY_IN, 90), snap.ev_amount)
    out["red_packets_sent_90d"] = snap.count(snap.mask(["red_packet_send"], 90))
    out["benefit_only_share_90d"] = _benefit_only_share(snap)
    out["is_paid"] = snap.paid().astype(float)
    out["days_to_expiry"] = snap.days_to_expiry()
    out["renewals"] = snap.count(snap.mask(["renew"]))
    return pd.DataFrame(out)


def _benefit_only_share(snap: Snapshot) -> np.ndarray:
    window = 90
    membership = snap.history.type_lookup(["join", "leave", "removed"])[snap.ev_e]
    mine = (snap.ev_pi >= 0) & (snap.ev_age <= window) & ~membership
    claims = mine & snap.history.type_lookup(CLAIMS)[snap.ev_e]
    give = snap.history.type_lookup(GIVEAWAYS)[snap.ev_e] & (snap.ev_age <= window + 1)
    halo = np.zeros(len(snap.ev_e), bool)
    if give.any() and mine.any():
        # for each of the member's events, the latest giveaway in the same group at or before it
        mine_idx = np.flatnonzero(mine)
        left = pd.DataFrame({"ns": snap.ev_ns[mine_idx], "g": snap.ev_g[mine_idx],
                             "row": mine_idx})
        right = pd.DataFrame({"ns": snap.ev_ns[give], "g": snap.ev_g[give],
                              "give_ns": snap.ev_ns[give]})
        # events are sorted by time already, so both sides are sorted on "ns"
        hit = pd.merge_asof(left, right, on="ns", by="g", direction="backward")
        gap_ns = (hit["ns"] - hit["give_ns"]).to_numpy(dtype=float, na_value=np.inf)
        halo[hit["row"].to_numpy()] = gap_ns <= snap.spec.benefit_halo_hours * 3600 * 1e9
    n_mine = snap.count(mine)
    n_benefit = snap.count(claims | (mine & halo))
    return np.divide(n_benefit, n_mine, out=np.zeros(snap.n), where=n_mine > 0)
