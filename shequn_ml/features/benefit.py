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

from shequn_ml.features._registry import days, feature
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
                f"claimed {{value}} [red packet|red packets] in {days(w)}", f"{w}天内抢红包{{value}}次")
    feature("coupon_claims_30d", FAMILY, 30, "coupons claimed in the last 30 days.",
            "claimed {value} [coupon|coupons] in 30 days", "30天内领券{value}张")
    feature("coupon_redeems_30d", FAMILY, 30, "coupons used in a purchase in the last 30 days.",
            "used {value} [coupon|coupons] in 30 days", "30天内用券{value}张")
    feature("purchases_90d", FAMILY, 90, "purchases in the last 90 days.",
            "made {value} [purchase|purchases] in 90 days", "90天内购买{value}次")
    feature("spend_90d", FAMILY, 90, "money spent on purchases and renewals in the last 90 days.",
            "spent {value} in 90 days", "90天内消费{value}元")
    feature("red_packets_sent_90d", FAMILY, 90, "red packets the member sent in the last 90 days.",
            "sent {value} [red packet|red packets] in 90 days", "90天内发红包{value}个")
    feature("benefit_only_share_90d", FAMILY, 90,
            "share of the member's events in the last 90 days that are benefit claims or fall "
            "right after a red packet or coupon went out (1 = comes only for benefits).",
            "comes mostly for red packets and coupons ({value} of activity)",
            "主要为红包和优惠券而来（占活动{value}）")
    feature("is_paid", FAMILY, None, "1 if the members table marks the member as paid (付费), else 0.",
            "paid member", "付费会员",
            reason_en_zero="free member (not paid)", reason_zh_zero="免费成员（未付费）")
    feature("days_to_expiry", FAMILY, None,
            "days from the cutoff to the paid membership's expiry (latest join or renewal plus the "
            "group's term); empty for free members or groups without term_days.",
            "membership expires in {value} [day|days]", "会员{value}天后到期",
            reason_en_negative="membership expired {value} [day|days] ago",
            reason_zh_negative="会员已过期{value}天")
    feature("renewals", FAMILY, None, "paid-membership renewals before the cutoff.",
            "renewed {value} [time|times]", "已续费{value}次")


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
    pi, e = snap.ev_pi[start:], snap.ev_e[start:]
    lookup = snap.history.type_lookup  # on the window's events only (these masks are not shared)
    mine = (pi >= 0) & ~lookup(["join", "leave", "removed"])[e]
    mine[:snap.window_start(window) - start] = False
    claims = mine & lookup(CLAIMS)[e]
    give = lookup(GIVEAWAYS)[e]
    halo = np.zeros(len(pi), bool)
    if give.any() and mine.any():
        mine_idx = np.flatnonzero(mine)
        halo[mine_idx] = _in_halo(snap, start, give, mine_idx, snap.spec.benefit_halo_hours * 3600 * 1e9)
    n_mine = np.bincount(pi[mine], minlength=snap.n).astype(float)
    n_benefit = np.bincount(pi[claims | (mine & halo)], minlength=snap.n).astype(float)
    return np.divide(n_benefit, n_mine, out=np.zeros(snap.n), where=n_mine > 0)


#: largest (groups x time buckets) table of marks :func:`_in_halo` uses to skip events
HALO_CELLS = 1 << 26


def _in_halo(snap: Snapshot, start: int, give: np.ndarray, rows: np.ndarray, halo_ns: float) -> np.ndarray:
    """Whether each of the events ``start + rows`` is at most ``halo_ns`` after the latest
    giveaway of its group at or before it (``give`` marks giveaways among the events from
    ``start``).

    The gap is computed as ``merge_asof`` then a column difference would: exact int64
    when every event has an earlier giveaway in its group, else through float64 (the
    looked-up time is a float column with NaN). Most events have no giveaway of their
    group in the hours before them; a table of (group, time bucket) marks finds those
    cheaply, and only the others are looked up.
    """
    ns, g = snap.ev_ns[start:], snap.ev_g[start:]
    give_pos = np.flatnonzero(give)
    n_codes = len(snap.history.group_categories)
    first = np.full(n_codes, np.iinfo(np.int64).max)
    np.minimum.at(first, g[give_pos], ns[give_pos])
    row_ns, row_g = ns[rows], g[rows]
    exact = not bool((row_ns < first[row_g]).any())  # every event has an earlier giveaway
    # A giveaway more than one bucket before an event's bucket is more than a bucket's width
    # (a power of two of ns, at least the halo and 1 ms to spare for float rounding) before
    # it, beyond the halo: only events with a giveaway of their group in their bucket or
    # the one before need the lookup.
    shift = max(int(np.ceil(halo_ns)) + 10**6, 1).bit_length()
    n_buckets = int((ns[-1] - ns[0]) >> shift) + 2
    look = None
    if n_codes * n_buckets <= max(HALO_CELLS, 4 * len(rows)):
        marks = np.zeros(n_codes * n_buckets, bool)
        marks[g[give_pos].astype(np.int64) * n_buckets + ((ns[give_pos] - ns[0]) >> shift) + 1] = True
        cell = row_g.astype(np.int64) * n_buckets
        cell += (row_ns - ns[0]) >> shift
        cell += 1
        look = marks[cell]
        look |= marks[cell - 1]
        del cell, marks
    out = np.zeros(len(rows), bool)
    candidates = rows if look is None else rows[look]
    if len(candidates) == 0:
        return out
    give_ns = _latest_at_or_before(snap, start, give, candidates)
    cand_ns = row_ns if look is None else row_ns[look]
    if exact:
        gap_ns = (cand_ns - give_ns).astype(float)
    else:
        gap_ns = np.where(np.isnan(give_ns), np.inf, cand_ns.astype(float) - give_ns)
    if look is None:
        return gap_ns <= halo_ns
    out[look] = gap_ns <= halo_ns
    return out


#: events looked up at once by :func:`_latest_at_or_before` (bounds its temporaries)
CHUNK = 1 << 21


def _latest_at_or_before(snap: Snapshot, start: int, give: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """For the events ``start + rows``, the time (ns) of the latest giveaway (``give``, over the
    events from ``start``) in the same group at or before it, NaN when none: what
    ``merge_asof(..., by="g", direction="backward")`` gives.

    Events are sorted by time, so an event's position stands for its time, except that
    equal times must match: each event is looked up at the last position of its run of
    equal times. The giveaways, keyed (group, position), are few and sorted once; each
    event is then one binary search among them.
    """
    ns, g = snap.ev_ns[start:], snap.ev_g[start:]
    span = np.int64(len(ns))
    give_pos = np.flatnonzero(give)
    give_key = g[give_pos].astype(np.int64) * span + give_pos
    order = np.argsort(give_key, kind="stable")
    give_key, give_pos = give_key[order], give_pos[order]
    out = np.empty(len(rows), np.int64)
    hit = np.empty(len(rows), bool)
    for lo in range(0, len(rows), CHUNK):
        r = rows[lo:lo + CHUNK]
        same_time_last = np.searchsorted(ns, ns[r], side="right") - 1  # ns is sorted
        key = g[r].astype(np.int64) * span + same_time_last
        at = np.searchsorted(give_key, key, side="right") - 1
        ok = at >= 0
        ok[ok] = g[give_pos[at[ok]]] == g[r[ok]]
        hit[lo:lo + CHUNK] = ok
        out[lo:lo + CHUNK] = ns[give_pos[np.maximum(at, 0)]]
    if hit.all():
        return out
    return np.where(hit, out, np.nan)
