"""Building the world before time starts: members' traits, groups, who is in which group.

Everything here is drawn once from the world's own random stream, so the world is
the same whatever chunk size the simulation later runs with. Group dynamics then
use one stream per group (see :mod:`shequn_ml.simulate._dynamics`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from shequn_ml.simulate import _tables as T
from shequn_ml.simulate._config import SimulationConfig, SimulationError

#: Member caps of the two platforms (WeChat, QQ).
WECHAT_CAP, QQ_CAP = 500, 2000


@dataclass
class World:
    """The static world: latent member traits, group settings and memberships.

    Members are indexed 0..n_members-1 and groups 0..n_groups-1. A membership of a
    member in a group is a *slot*; group ``g``'s slots are
    ``slot_ptr[g]:slot_ptr[g + 1]``, ordered by join day with the owner first.
    """

    cfg: SimulationConfig
    # members (global traits)
    role: np.ndarray  # int8, index into ROLES
    activity: np.ndarray  # speaking events per day at full vitality, 50-member group
    benefit: np.ndarray  # benefit sensitivity in [0, 1]
    benefit_only: np.ndarray  # bool: appears only for red packets and coupons
    spammer: np.ndarray  # bool: posts ads
    leadership: np.ndarray  # in [0, 1]: the 头狼 trait
    # groups
    paid: np.ndarray  # bool
    qq: np.ndarray  # bool
    management: np.ndarray  # int8, index into MANAGEMENT_LEVELS
    led: np.ndarray  # bool
    ritual: np.ndarray  # bool: runs a daily check-in ritual
    created_day: np.ndarray  # int
    created_ms: np.ndarray  # ms after the creation day's midnight
    term_days: np.ndarray  # paid membership term (0 for free groups)
    price: np.ndarray  # fee per term (0 for free groups)
    leader_slot: np.ndarray  # local slot of the opinion leader, -1 if none
    # memberships
    slot_ptr: np.ndarray
    slot_member: np.ndarray
    slot_join_day: np.ndarray
    slot_founding: np.ndarray
    slot_level: np.ndarray
    slot_kol_tag: np.ndarray

    @property
    def n_groups(self) -> int:
        return len(self.paid)

    @property
    def capacity(self) -> np.ndarray:
        return np.where(self.qq, QQ_CAP, WECHAT_CAP)


def build_world(cfg: SimulationConfig, rng: np.random.Generator) -> World:
    """Draw the static world from ``rng``.

    Raises
    ------
    SimulationError
        If the members cannot fill the groups within their caps and minimum size.
    """
    n, g = cfg.n_members, cfg.n_groups
    traits = _member_traits(cfg, rng)
    paid = rng.random(g) < cfg.paid_share
    qq = rng.random(g) < cfg.qq_share
    management = rng.choice(3, size=g, p=cfg.shares("management_shares")).astype(np.int8)
    led = rng.random(g) < cfg.led_share
    ritual = (paid & (management > 0)) | ((management == 2) & (rng.random(g) < 0.5))
    created_day = np.minimum((rng.random(g) * cfg.creation_window * cfg.days).astype(np.int64),
                             cfg.days - 2)
    created_ms = rng.integers(1_000, 6 * T.HOUR_MS, size=g)
    terms = np.asarray(cfg.paid_terms_days)
    term_days = np.where(paid, terms[rng.integers(0, len(terms), size=g)], 0)
    price = np.where(paid, np.round(term_days * rng.uniform(1.5, 4.0, size=g)), 0.0)

    counts = np.ones(n, dtype=np.int64)
    multi = rng.random(n) < cfg.multi_group_share
    counts[multi] = np.minimum(2 + (rng.random(int(multi.sum())) < 0.3), g)
    caps = np.where(qq, QQ_CAP, WECHAT_CAP)
    sizes = _group_sizes(rng, int(counts.sum()), caps, cfg.min_group_size, cfg.size_sigma)
    slot_group, slot_member = _assign(rng, counts, sizes)

    ptr = np.zeros(g + 1, dtype=np.int64)
    ptr[1:] = np.cumsum(sizes)
    member = np.empty_like(slot_member)
    join_day = np.empty(len(slot_member), dtype=np.int64)
    founding = np.zeros(len(slot_member), dtype=bool)
    leader_slot = np.full(g, -1, dtype=np.int64)
    order = np.argsort(slot_group, kind="stable")
    for k in range(g):
        lo, hi = ptr[k], ptr[k + 1]
        mem = rng.permutation(slot_member[order[lo:hi]])
        size = hi - lo
        lo_share, hi_share = cfg.founding_share
        n_found = int(np.clip(round(rng.uniform(lo_share, hi_share) * size), 2, size))
        room = cfg.days - 1 - int(created_day[k])
        if room < 1:
            n_found = size
        days = np.full(size, created_day[k], dtype=np.int64)
        if size > n_found:
            mean = cfg.join_spread_days
            u = rng.random(size - n_found) * (1 - np.exp(-room / mean))
            offset = np.minimum(np.floor(-mean * np.log1p(-u)), room - 1).astype(np.int64)
            days[n_found:] = created_day[k] + 1 + np.sort(offset)
        member[lo:hi] = mem
        join_day[lo:hi] = days
        founding[lo:hi] = np.arange(size) < n_found
        owner = mem[0]
        traits["role"][owner] = 1  # the operator organises
        traits["benefit_only"][owner] = traits["spammer"][owner] = False
        traits["activity"][owner] = max(traits["activity"][owner], cfg.activity_median)
        if led[k]:
            s = 0 if rng.random() < cfg.leader_owner_share else 1
            leader = mem[s]
            leader_slot[k] = s
            traits["leadership"][leader] = max(traits["leadership"][leader], rng.beta(8, 2))
            traits["role"][leader] = rng.choice([0, 1])
            traits["benefit_only"][leader] = traits["spammer"][leader] = False
            traits["activity"][leader] = max(traits["activity"][leader],
                                             cfg.activity_median * 0.5)

    lead = traits["leadership"][member]
    act = traits["activity"][member]
    p_tag = np.where(lead > 0.5, 0.75,
                     np.where(act >= np.quantile(traits["activity"], 0.95), 0.1, 0.005))
    kol_tag = rng.random(len(member)) < p_tag
    slot_paid = np.repeat(paid, sizes)
    level = np.clip(np.round(np.log2(1 + 4 * act / cfg.activity_median)
                             + rng.normal(0, 0.7, len(member))), 0, 5).astype(np.int64)
    level += slot_paid
    return World(
        cfg=cfg, **traits, paid=paid, qq=qq, management=management, led=led, ritual=ritual,
        created_day=created_day, created_ms=created_ms, term_days=term_days, price=price,
        leader_slot=leader_slot, slot_ptr=ptr, slot_member=member, slot_join_day=join_day,
        slot_founding=founding, slot_level=level, slot_kol_tag=kol_tag,
    )


def _member_traits(cfg: SimulationConfig, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Latent traits of every member: role, activity, benefit sensitivity, leadership."""
    n = cfg.n_members
    role = rng.choice(5, size=n, p=cfg.shares("role_shares")).astype(np.int8)
    # A chatter's median is activity_median; roles scale it (a lurker speaks 3% as much).
    activity = (cfg.activity_median * rng.lognormal(0.0, cfg.activity_sigma, n)
                * T.ROLE_SPEAK[role] / T.ROLE_SPEAK[3])
    benefit_only = rng.random(n) < cfg.benefit_only_share
    spammer = ~benefit_only & (rng.random(n) < cfg.spammer_share)
    benefit = np.where(benefit_only, rng.uniform(0.8, 1.0, n), rng.beta(1.5, 5.0, n))
    activity = np.where(benefit_only, activity * 0.05, activity)
    activity = np.where(spammer, cfg.activity_median, activity)
    leadership = np.where(rng.random(n) < cfg.leader_share, rng.beta(6, 3, n),
                          rng.beta(1, 30, n))
    leadership[benefit_only | spammer] = np.minimum(leadership[benefit_only | spammer], 0.1)
    return {"role": role, "activity": activity, "benefit": benefit,
            "benefit_only": benefit_only, "spammer": spammer, "leadership": leadership}


def _group_sizes(rng: np.random.Generator, n_slots: int, caps: np.ndarray, low: int,
                 sigma: float) -> np.ndarray:
    """Heavy-tailed group sizes in [low, cap] that add up to ``n_slots``."""
    g = len(caps)
    if low * g > n_slots:
        raise SimulationError(f"{n_slots} memberships cannot give {g} groups at least {low} members")
    if caps.sum() < n_slots:
        raise SimulationError(
            f"{n_slots} memberships do not fit in {g} groups (caps: 500 per WeChat group, "
            f"2,000 per QQ group; these groups hold {int(caps.sum())}); use more groups "
            "or a larger qq_share")
    raw = rng.lognormal(0.0, sigma, g)
    lo_s, hi_s = 0.0, float(n_slots) / raw.min() + 1.0
    for _ in range(200):  # bisection on the scale: the clipped sum is monotone in it
        mid = (lo_s + hi_s) / 2
        if np.clip(raw * mid, low, caps).sum() < n_slots:
            lo_s = mid
        else:
            hi_s = mid
    x = np.clip(raw * hi_s, low, caps)
    sizes = np.floor(x).astype(np.int64)
    short = n_slots - int(sizes.sum())
    if short > 0:
        frac = np.where(sizes < caps, x - sizes + 1e-9, -1.0)
        sizes[np.argsort(-frac, kind="stable")[:short]] += 1
    elif short < 0:
        sizes[np.argsort(-(sizes - low), kind="stable")[:-short]] -= 1
    return sizes


def _assign(rng: np.random.Generator, counts: np.ndarray,
            sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Deal memberships to groups: member m gets ``counts[m]`` distinct groups."""
    tokens = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    rng.shuffle(tokens)
    group = np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)
    key = group * len(counts) + tokens
    order = np.argsort(key, kind="stable")
    dup = np.zeros(len(key), dtype=bool)
    dup[order[1:]] = key[order[1:]] == key[order[:-1]]
    if dup.any():  # a member dealt twice into one group: swap with someone elsewhere
        # A multiset, not a set: a member dealt three times into one group, or a swap
        # partner that is itself one of the copies, must not make a pair look free.
        taken = Counter(zip(group.tolist(), tokens.tolist(), strict=True))

        def swap(i: int, j: int) -> bool:
            gi, gj, mi, mj = int(group[i]), int(group[j]), int(tokens[i]), int(tokens[j])
            if gi == gj or taken[gj, mi] or taken[gi, mj]:
                return False
            taken.subtract(((gi, mi), (gj, mj)))
            taken.update(((gj, mi), (gi, mj)))
            tokens[i], tokens[j] = mj, mi
            return True

        for i in np.flatnonzero(dup):
            for _ in range(1000):
                if swap(int(i), int(rng.integers(len(tokens)))):
                    break
            else:  # no partner drawn at random: look at every slot, in order
                if taken[int(group[i]), int(tokens[i])] > 1:
                    next((j for j in range(len(tokens)) if swap(int(i), j)), None)
        left = sorted(k for k, c in taken.items() if c > 1)
        if left:
            raise SimulationError(f"could not deal {len(left)} memberships to distinct groups "
                                  f"(e.g. member {left[0][1]} twice in group {left[0][0]}); use "
                                  "more groups or another seed")
    return group, tokens
