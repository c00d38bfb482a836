"""One group's life: true daily rates, the draws they generate, and what happened.

A group is simulated on its own, with its own random stream, a week at a time.
Each week every member and every day of the week is handled at once, as a
``(days, members)`` numpy array, so the cost is a few hundred numpy calls per
group-week rather than a Python step per event:

1. the operator plans each day's interventions (content, red packets, coupons,
   activities, offline events) from the group's management level;
2. the group's *vitality* is rolled forward day by day: it decays (faster as the
   group grows past its founders and fills with low-quality members, faster
   again once it is dying) and is lifted by interventions, new blood and its
   leaders (who revive a cold group by speaking and organising);
3. every member who has joined gets each day's *true rates*: a speaking intensity
   and an exit hazard, from their latent traits, the day's vitality, the group's
   size, their tenure, a slowly drifting engagement, and how many of their reply
   partners (and their leader) have left or gone quiet;
4. exits are drawn (non-renewal on an expiry day, leaving, removal); a member
   acts on the day they leave, then goes;
5. present members act: speaking events (Poisson), reactions, mentions,
   check-ins, red-packet and coupon claims, sign-ups. Replies, answers and
   reactions go to the same day's messages with weights that favour leaders;
6. members join, some invited by a member present that day.

The *feedback* state (who has gone quiet or left among one's partners, the
number present, the leaders' revival) is read at the start of each week; the
rest varies daily. Rates are also computed for members who have left ("ghost"
rates: what their rates would be had they stayed), because the oracle needs
them for a window in which a member might leave. A member's rates never depend
on their own draws (only on traits, the group and other members), so
``exp(-sum of speaking intensity)`` is exactly the probability of saying nothing,
given the group's realised history. Clock times are drawn afterwards, all at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shequn_ml.simulate import _tables as T
from shequn_ml.simulate._world import World

#: Days simulated per vectorised step (the feedback state is refreshed this often).
BLOCK_DAYS = 7
# rho**(b+1) and the lower-triangular rho**(b-j): an AR(1) week in one product
_AR_POWERS = T.ENGAGEMENT_RHO ** np.arange(1, BLOCK_DAYS + 1)
_AR_MIX = np.tril(T.ENGAGEMENT_RHO ** np.subtract.outer(np.arange(BLOCK_DAYS),
                                                       np.arange(BLOCK_DAYS)).clip(0))
#: Exit causes in the truth tables, by code.
EXIT_CAUSES: tuple[str | None, ...] = (None, "leave", "removed", "non_renewal")
_NEVER = np.iinfo(np.int64).max // 4


@dataclass
class GroupResult:
    """Everything one group's simulation produced, as compact arrays.

    Events are sorted by time; ``seq`` of an event is its position, and ``ref`` is
    the ``seq`` of the event referred to (-1 for none). Member columns are global
    member indices (-1 for none). Slot arrays are per membership (see World).
    """

    group: int
    ts: np.ndarray
    member: np.ndarray
    etype: np.ndarray
    target: np.ndarray
    ref: np.ndarray
    amount: np.ndarray
    text_len: np.ndarray
    joined_ms: np.ndarray
    expires_ms: np.ndarray
    invited_by: np.ndarray
    exit_day: np.ndarray
    exit_cause: np.ndarray
    reply_weight: np.ndarray
    daily_slot: np.ndarray
    daily_day: np.ndarray
    daily_speak: np.ndarray
    daily_exit: np.ndarray
    vitality: np.ndarray
    n_present: np.ndarray
    reply_norm: np.ndarray
    interventions: np.ndarray

    @property
    def n_events(self) -> int:
        return len(self.ts)


class _Records:
    """Event records of one group, appended a batch at a time.

    ``anchor`` is the record whose time this one's time follows (a reply follows
    its message, an invite precedes its join); ``fixed`` pins a time of day (ms).
    Scalars are stored as they come and expanded once at the end: a group adds
    tens of thousands of small batches, and building arrays per batch would cost
    more than the simulation itself.
    """

    FIELDS = ("day", "slot", "etype", "target", "ref", "anchor", "fixed", "amount")

    def __init__(self) -> None:
        self.parts: list[tuple[object, ...]] = []
        self.sizes: list[int] = []
        self.n = 0

    def add(self, day: int | np.ndarray, slot: np.ndarray, etype: int | np.ndarray, *,
            target: int | np.ndarray = -1, ref: int | np.ndarray = -1,
            anchor: int | np.ndarray | None = None, fixed: int = -1,
            amount: float | np.ndarray = np.nan) -> np.ndarray:
        k = len(slot)
        if k == 0:
            return np.empty(0, dtype=np.int64)
        self.parts.append((day, slot, etype, target, ref, ref if anchor is None else anchor,
                           fixed, amount))
        self.sizes.append(k)
        self.n += k
        return np.arange(self.n - k, self.n)

    def arrays(self) -> dict[str, np.ndarray]:
        sizes = np.asarray(self.sizes, dtype=np.int64)
        out = {}
        for i, f in enumerate(self.FIELDS):
            dtype = np.float64 if f == "amount" else np.int64
            column = [p[i] for p in self.parts]
            is_array = np.array([isinstance(v, np.ndarray) for v in column], dtype=bool)
            scalars = np.array([0 if a else v for v, a in zip(column, is_array, strict=True)],
                               dtype=dtype)
            values = np.repeat(scalars, sizes)
            if is_array.any():
                values[np.repeat(is_array, sizes)] = np.concatenate(
                    [v for v, a in zip(column, is_array, strict=True) if a])
            out[f] = values
        return out


def pick_same_day(rng: np.random.Generator, cand_day: np.ndarray, cand_w: np.ndarray,
                  query_day: np.ndarray, n_days: int) -> np.ndarray:
    """For each query, a candidate of the same day drawn with probability ∝ weight.

    ``cand_day`` must be sorted. Returns candidate positions, -1 where a query's
    day has no candidate. One cumulative sum serves every day: a query of day
    ``b`` draws uniformly inside day ``b``'s stretch of the cumulative weights.
    """
    if len(query_day) == 0:
        return np.empty(0, dtype=np.int64)
    cum = np.concatenate(([0.0], np.cumsum(cand_w)))
    ends = np.cumsum(np.bincount(cand_day, minlength=n_days))
    end = ends[query_day]
    lo, hi = cum[end - np.bincount(cand_day, minlength=n_days)[query_day]], cum[end]
    u = lo + rng.random(len(query_day)) * (hi - lo)
    pos = np.minimum(np.searchsorted(cum, u, side="right") - 1, end - 1)
    return np.where(hi > lo, pos, -1)


class _GroupSim:
    """The state of one group during its simulation (see the module docstring)."""

    def __init__(self, world: World, g: int, rng: np.random.Generator) -> None:
        cfg = self.cfg = world.cfg
        self.world, self.g, self.rng = world, g, rng
        lo, hi = int(world.slot_ptr[g]), int(world.slot_ptr[g + 1])
        m = self.m = hi - lo
        self.mem = world.slot_member[lo:hi]
        self.join_day = world.slot_join_day[lo:hi]
        self.n_found = int(world.slot_founding[lo:hi].sum())
        spam = world.spammer[self.mem]
        self.role = world.role[self.mem].astype(np.int64)
        self.brole = np.where(spam, T.SPAM, self.role)  # behaviour row in the role tables
        self.lead = world.leadership[self.mem]
        self.benefit = world.benefit[self.mem]
        self.low_quality = world.benefit_only[self.mem] | spam
        self.paid = bool(world.paid[g])
        self.mgmt = int(world.management[g])
        self.ritual = bool(world.ritual[g])
        self.c0 = int(world.created_day[g])
        self.term = int(world.term_days[g])
        self.price = float(world.price[g])
        self.leader = int(world.leader_slot[g])

        # static per-member rates
        self.base_speak = world.activity[self.mem] * (cfg.paid_activity if self.paid else 1.0)
        self.attract = np.exp(cfg.leader_attraction * self.lead) * T.ROLE_ATTRACT[self.brole]
        self.reply_weight = self.attract * T.ROLE_ORIGINAL[self.brole]
        self.response_share = T.ROLE_RESPONSE[self.brole]
        self.invite_w = 0.3 + 5.0 * self.lead + (self.role == 1)
        self.base_exit = (cfg.exit_rate * T.ROLE_EXIT[self.brole]
                          * (1.0 - T.LEADER_COMMITMENT * self.lead)
                          * (cfg.paid_exit if self.paid else 1.0)
                          * np.where(world.benefit_only[self.mem], T.BENEFIT_ONLY_EXIT, 1.0))
        self.removal = T.BASE_REMOVAL + np.where(spam & (self.mgmt > 0), T.SPAM_REMOVAL, 0.0)
        self.base_exit[0] = self.removal[0] = 0.0  # the owner does not leave their own group
        self.p_rp = np.minimum(0.95, 0.05 + 0.9 * self.benefit)
        self.p_coupon = 0.02 + 0.5 * self.benefit
        self.benefit_talk = self.benefit**3 * T.BENEFIT_TALK
        self.is_leader = self.lead > 0.5
        self.boost = T.INTERVENTION_BOOST * cfg.intervention_strength

        # state
        n_days = cfg.days
        self.n_active = np.searchsorted(self.join_day, np.arange(n_days + 1), side="left")
        self.x = rng.normal(0.0, T.ENGAGEMENT_SD, m)  # log-engagement, drifts daily
        self.exited = np.zeros(m, dtype=bool)
        self.exit_day = np.full(m, -1, dtype=np.int64)
        self.exit_cause = np.zeros(m, dtype=np.int8)
        self.last_spoke = self.join_day.copy()
        self.partners = np.zeros((m, m), dtype=np.float32)
        self.degree = np.zeros(m)
        self.invitee_mult = np.ones(m)
        self.offline = np.zeros(m, dtype=bool)
        self.expiry = self.join_day + self.term if self.paid else np.full(m, _NEVER)
        self.expiry[0] = _NEVER  # the owner does not pay for their own group
        self.expires_final = self.expiry.copy()
        self.invited_by = np.full(m, -1, dtype=np.int64)
        self.join_rec = np.full(m, -1, dtype=np.int64)
        self.pending: list[tuple[int, np.ndarray, int]] = []  # offline: day, sign-ups, post
        self.vitality = 1.0
        self.leader_gain = 0.0  # daily vitality gain from leaders, carried to the next week
        self.speak_mat = np.zeros((n_days, m), dtype=np.float32)
        self.exit_mat = np.zeros((n_days, m), dtype=np.float32)
        self.vit_out = np.full(n_days, np.nan, dtype=np.float32)
        self.npres_out = np.zeros(n_days, dtype=np.int32)
        self.qnorm_out = np.zeros(n_days, dtype=np.float32)
        self.interv_out = np.zeros((n_days, len(T.INTERVENTIONS)), dtype=np.int16)
        self.rec = _Records()

    # ------------------------------------------------------------------------ helpers
    def link(self, a: np.ndarray, b: np.ndarray) -> None:
        """Record reply partnerships (both ways) between slots a[i] and b[i]."""
        if len(a) == 0:
            return
        m = self.m
        pairs = np.unique(np.minimum(a, b) * m + np.maximum(a, b))
        pa, pb = pairs // m, pairs % m
        new = self.partners[pa, pb] == 0
        pa, pb = pa[new], pb[new]
        self.partners[pa, pb] = self.partners[pb, pa] = 1.0
        np.add.at(self.degree, pa, 1.0)
        np.add.at(self.degree, pb, 1.0)

    # ------------------------------------------------------------------------ the run
    def run(self) -> GroupResult:
        for d0 in range(self.c0, self.cfg.days, BLOCK_DAYS):
            self.block(d0, min(d0 + BLOCK_DAYS, self.cfg.days))
        return self.result()

    def block(self, d0: int, d1: int) -> None:
        cfg, rng = self.cfg, self.rng
        n_b = d1 - d0
        days = np.arange(d0, d1)
        k = int(self.n_active[d1])  # everyone who has joined by the end of the week
        joins = self.n_active[d0 + 1:d1 + 1] - self.n_active[d0:d1]  # joining each day
        here = ~self.exited[:k]
        n_here = int(here.sum())  # present now or joining this week

        # 1. the operator's plan, on the days the owner is in the group
        owner_ok = (days > self.c0) & ~self.exited[0]
        if self.leader == 0 and cfg.leader_exit_day is not None:
            owner_ok &= days <= cfg.leader_exit_day
        n_int = np.zeros((n_b, len(T.INTERVENTIONS)), dtype=np.int64)
        if self.mgmt > 0 and owner_ok.any():
            n_int = rng.poisson(T.INTERVENTION_RATES[self.mgmt], size=(n_b, len(T.INTERVENTIONS)))
            n_int[~owner_ok] = 0
            if self.paid:
                n_int[:, 2] = 0  # coupons are a traffic-group tool
        ritual = owner_ok if self.ritual else np.zeros(n_b, dtype=bool)

        # 2. vitality, day by day
        lowq = float(self.low_quality[:k][here].mean()) if n_here else 0.0
        rate = (cfg.decay_rate
                * (1.0 + cfg.doubt_strength * max(0.0, np.log(max(n_here, 1) / self.n_found)))
                * (1.0 + cfg.low_quality_strength * lowq))
        gains = n_int @ self.boost + self.leader_gain
        if d0 > self.c0:
            gains = gains + np.minimum(0.1, cfg.join_boost * joins / max(n_here, self.n_found))
        vit = np.empty(n_b)
        v = self.vitality
        for b in range(n_b):
            vit[b] = v
            r = (rate * (cfg.breakup_multiplier if v < cfg.breakup_threshold else 1.0)
                 * (1.0 - cfg.checkin_decay_cut if ritual[b] else 1.0))
            v = min(T.VITALITY_MAX, v * np.exp(-r) + gains[b])
        self.vitality = v
        self.vit_out[d0:d1] = vit
        self.interv_out[d0:d1] = n_int

        # 3. true rates of everyone who has joined
        active = days[:, None] > self.join_day[None, :k]
        # log-engagement: an AR(1) walk, x[b] = rho x[b-1] + noise, for the week at once
        eps = rng.standard_normal((n_b, k)) * (T.ENGAGEMENT_SD
                                              * np.sqrt(1 - T.ENGAGEMENT_RHO**2))
        xs = _AR_POWERS[:n_b, None] * self.x[None, :k] + _AR_MIX[:n_b, :n_b] @ eps
        self.x[:k] = xs[-1]
        tenure = np.maximum(days[:, None] - self.join_day[None, :k], 0)
        eng = np.exp(xs) * (1.0 + cfg.member_honeymoon
                            * np.exp(-tenure / T.MEMBER_HONEYMOON_DAYS))
        small_group = (max(n_here, 1) / T.REFERENCE_GROUP_SIZE) ** (-cfg.small_group_exponent)
        lost = self.exited[:k] | (d0 - self.last_spoke[:k] >= cfg.quiet_days)
        cm = np.ones(k)
        if self.degree[:k].any():
            lost_n = self.partners[:k, :k] @ lost.astype(np.float32)
            cm += cfg.contagion * lost_n / np.maximum(self.degree[:k], 1.0)
        if 0 <= self.leader < k and lost[self.leader]:
            cm += cfg.leader_contagion * np.where(self.partners[:k, self.leader] > 0, 1.0, 0.3)
        offline = self.offline[:k]
        lam = (self.base_speak[:k] * small_group / (1.0 + 0.5 * (cm - 1.0))
               * np.where(offline, T.OFFLINE_SPEAK, 1.0)) * vit[:, None] * eng
        benefit_day = (n_int[:, 1] + n_int[:, 2]) > 0
        if benefit_day.any():
            lam += benefit_day[:, None] * self.benefit_talk[:k]
        lam_eff, p_ci = lam, None
        if ritual.any():
            p_ci = np.minimum(0.95, cfg.checkin_rate * (np.minimum(vit, 1.0) * ritual)[:, None]
                              * eng * T.ROLE_CHECKIN[self.brole[:k]])
            lam_eff = lam - np.log1p(-p_ci)
        per_member = (self.base_exit[:k] * self.invitee_mult[:k] * cm
                      * np.where(offline, 1.0 - cfg.offline_retention, 1.0))
        decline = 1.0 + cfg.decline_exit * np.maximum(0.0, 1.0 - vit)
        hazard = decline[:, None] * per_member + self.removal[:k]
        h_total = hazard
        due = np.zeros((n_b, k), dtype=bool)
        p_renew = np.ones((n_b, k))
        if self.paid:
            due = (self.expiry[:k][None, :] == days[:, None]) & active
            if due.any():
                lapse = 1.0 - (cfg.renew_base + cfg.renew_engagement
                               * -np.expm1(-7.0 * lam_eff)) / cm
                pr = np.clip(1.0 - lapse * (1.0 - T.LEADER_COMMITMENT * self.lead[:k]),
                             0.02, 0.98)
                p_renew = np.where(due, pr, 1.0)
                h_total = hazard - np.log(p_renew)
                self.expiry[:k] += self.term * due.any(axis=0)
        self.speak_mat[d0:d1, :k] = np.where(active, lam_eff, 0.0)
        self.exit_mat[d0:d1, :k] = np.where(active, h_total, 0.0)

        # 4. exits: the first day a member leaves, is removed or does not renew
        avail = active & ~self.exited[None, :k]
        nonrenew = due & (rng.random((n_b, k)) >= p_renew)
        quits = (rng.random((n_b, k)) < -np.expm1(-hazard)) | nonrenew
        forced = cfg.leader_exit_day is not None and d0 <= cfg.leader_exit_day < d1 \
            and 0 <= self.leader < k and avail[cfg.leader_exit_day - d0, self.leader]
        if forced:
            quits[cfg.leader_exit_day - d0, self.leader] = True
        quits &= avail
        out = quits.any(axis=0)
        first = np.where(out, quits.argmax(axis=0), n_b)
        present = avail & (np.arange(n_b)[:, None] <= first[None, :])
        self.exits(d0, first, out, nonrenew, hazard, forced)
        renewed = due & present & ~nonrenew
        if renewed.any():
            rb, ri = np.nonzero(renewed)
            self.rec.add(d0 + rb, ri, T.RENEW, amount=self.price)
            self.expires_final[ri] = self.expiry[ri]

        # 5. present members act
        spoke = self.talk(d0, n_b, lam, present, eng, vit, p_ci)
        n_hosted = self.activities(d0, n_b, n_int, lam, present, vit, spoke)
        if spoke.any():
            last = n_b - 1 - spoke[::-1].argmax(axis=0)
            said = spoke.any(axis=0)
            self.last_spoke[:k][said] = d0 + last[said]
        # leaders who spoke or organised lift next week's vitality, per day
        lead_days = float((spoke * (self.lead[:k] * self.is_leader[:k])).sum())
        self.leader_gain = (cfg.leader_revival * lead_days + self.boost[3] * n_hosted) / n_b

        # what the oracle needs about the group
        self.npres_out[d0:d1] = present.sum(axis=1)
        den = (present * self.reply_weight[:k] * lam_eff).sum(axis=1)
        num = (present * self.response_share[:k] * lam).sum(axis=1)
        self.qnorm_out[d0:d1] = np.where(den > 0, num / np.maximum(den, 1e-300), 0.0)

        # 6. joins, with inviters among the members present that day
        self.joins(d0, d1, present)

    def exits(self, d0: int, first: np.ndarray, out: np.ndarray, nonrenew: np.ndarray,
              hazard: np.ndarray, forced: bool) -> None:
        # one draw per member, used or not, so that a scenario's forced exit does not
        # shift the random stream of everyone else
        u = self.rng.random(len(out))
        gone = np.flatnonzero(out)
        if len(gone) == 0:
            return
        b = first[gone]
        non = nonrenew[b, gone]
        removed = ~non & (u[gone] < self.removal[gone] / np.maximum(hazard[b, gone], 1e-12))
        if forced:
            removed &= gone != self.leader
        self.exit_cause[gone] = np.where(non, 3, np.where(removed, 2, 1))
        self.exited[gone] = True
        self.exit_day[gone] = d0 + b
        self.rec.add(d0 + b[non], gone[non], T.LEAVE, fixed=T.DAY_MS - 1)
        self.rec.add(d0 + b[~non & ~removed], gone[~non & ~removed], T.LEAVE)
        self.rec.add(d0 + b[removed], gone[removed], T.REMOVED)

    def talk(self, d0: int, n_b: int, lam: np.ndarray, present: np.ndarray, eng: np.ndarray,
             vit: np.ndarray, p_ci: np.ndarray | None) -> np.ndarray:
        """Speaking events, replies, reactions, mentions and check-ins; returns who spoke."""
        rng, rec = self.rng, self.rec
        k = lam.shape[1]
        lam_p = lam * present
        counts = rng.poisson(lam_p)
        spoke = counts > 0
        flat = np.repeat(np.arange(n_b * k), counts.ravel())
        tb, ti = flat // k, flat % k
        u = rng.random(len(ti))
        ttype = T.TALK_TYPES[(u[:, None] >= T.ROLE_TALK_CUM[self.brole[ti], :4]).sum(axis=1)]
        pos = np.full(len(ti), -1, dtype=np.int64)
        orig = np.flatnonzero((ttype == T.MESSAGE) | (ttype == T.QUESTION) | (ttype == T.POST))
        orig_w = self.attract[ti[orig]]
        rep = np.flatnonzero(ttype == T.REPLY)
        pos[rep] = _at(orig, pick_same_day(rng, tb[orig], orig_w, tb[rep], n_b))
        qs = np.flatnonzero(ttype == T.QUESTION)
        ans = np.flatnonzero(ttype == T.ANSWER)
        pos[ans] = _at(qs, pick_same_day(rng, tb[qs], np.ones(len(qs)), tb[ans], n_b))
        aimed = (ttype == T.REPLY) | (ttype == T.ANSWER)
        bad = aimed & ((pos < 0) | (ti[np.maximum(pos, 0)] == ti))
        ttype[bad] = T.MESSAGE
        pos[bad] = -1
        has = pos >= 0
        tslot = np.where(has, ti[np.maximum(pos, 0)], -1)
        first = rec.n
        rec.add(d0 + tb, ti, ttype, target=tslot, ref=np.where(has, first + pos, -1))
        self.link(ti[has], tslot[has])

        react = rng.poisson(T.ROLE_REACT[self.brole[:k]] * np.minimum(vit, 1.0)[:, None]
                            * eng * present)
        flat = np.repeat(np.arange(n_b * k), react.ravel())
        rb, ri = flat // k, flat % k
        on = _at(orig, pick_same_day(rng, tb[orig], orig_w, rb, n_b))
        author = _at(ti, on)
        keep = (on >= 0) & (author != ri)
        rec.add(d0 + rb[keep], ri[keep], T.REACTION, target=author[keep], ref=first + on[keep])

        ment = rng.poisson(lam_p * T.MENTION_RATE)
        flat = np.repeat(np.arange(n_b * k), ment.ravel())
        mb, mi = flat // k, flat % k
        pb, pi = np.nonzero(present)
        whom = _at(pi, pick_same_day(rng, pb, self.attract[pi], mb, n_b))
        keep = (whom >= 0) & (whom != mi)
        rec.add(d0 + mb[keep], mi[keep], T.MENTION, target=whom[keep])

        if p_ci is not None:
            checked = (rng.random((n_b, k)) < p_ci) & present
            cb, cidx = np.nonzero(checked)
            rec.add(d0 + cb, cidx, T.CHECKIN)
            spoke |= checked
        return spoke

    def activities(self, d0: int, n_b: int, n_int: np.ndarray, lam: np.ndarray,
                   present: np.ndarray, vit: np.ndarray, spoke: np.ndarray) -> int:
        """Interventions, leader-organised activities and offline events, for the week.

        Every kind is drawn for all its occurrences in the week at once: one row
        per red packet or announcement, one column per member. Returns the number
        of activities leaders organised.
        """
        cfg, rng, rec = self.cfg, self.rng, self.rec
        k = lam.shape[1]
        week = np.arange(n_b)
        not_owner = np.arange(k) != 0

        b = np.repeat(week, n_int[:, 0])  # content posted by the operator
        rec.add(d0 + b, np.zeros(len(b), dtype=np.int64), T.POST)
        spoke[b, 0] = True

        pb = np.repeat(week, n_int[:, 1])  # red packets: grabbed fast, first come first served
        if len(pb):
            amount = np.round(rng.lognormal(np.log(50.0), 0.7, len(pb)), 2)
            send = rec.add(d0 + pb, np.zeros(len(pb), dtype=np.int64), T.RP_SEND, amount=amount)
            keen = 0.5 + 0.5 * np.minimum(vit[pb], 1.0)
            want = ((rng.random((len(pb), k)) < self.p_rp[:k] * keen[:, None])
                    & present[pb] & not_owner)
            shares = np.maximum(10, present[pb].sum(axis=1) // 5)
            order = np.where(want, rng.random(want.shape), 2.0).argsort(axis=1).argsort(axis=1)
            sp, sm = np.nonzero(want & (order < shares[:, None]))
            cut = rng.exponential(1.0, len(sp))
            total = np.bincount(sp, cut, minlength=len(pb))
            rec.add(d0 + pb[sp], sm, T.RP_CLAIM, ref=send[sp],
                    amount=np.round(amount[sp] * cut / np.maximum(total[sp], 1e-12), 2))

        n2 = n_int[:, 2]  # coupons: claimed by the benefit-sensitive, some used in a purchase
        if n2.any():
            p = 1.0 - (1.0 - self.p_coupon[:k])[None, :] ** n2[:, None]
            cb, cm = np.nonzero((rng.random((n_b, k)) < p) & present)
            claim = rec.add(d0 + cb, cm, T.COUPON_CLAIM)
            used = rng.random(len(cb)) < T.COUPON_REDEEM_P
            n_used = int(used.sum())
            red = rec.add(d0 + cb[used], cm[used], T.COUPON_REDEEM, ref=claim[used],
                          amount=np.round(rng.uniform(5, 30, n_used)))
            rec.add(d0 + cb[used], cm[used], T.PURCHASE, ref=red,
                    amount=np.round(rng.lognormal(np.log(99.0), 0.6, n_used), 2))

        # activities (接龙, quizzes...) by the operator or by a leader, and offline events
        leaders = np.flatnonzero(self.is_leader[:k] & not_owner)
        hb, hosts = np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        if len(leaders):
            p_org = cfg.leader_organise * self.lead[leaders] * np.minimum(vit, 1.0)[:, None]
            hb, hl = np.nonzero((rng.random((n_b, len(leaders))) < p_org) & present[:, leaders])
            hosts = leaders[hl]
        n_off = int(n_int[:, 4].sum())
        ab = np.concatenate([np.repeat(week, n_int[:, 3]), hb, np.repeat(week, n_int[:, 4])])
        if len(ab):
            host = np.concatenate([np.zeros(int(n_int[:, 3].sum()), dtype=np.int64), hosts,
                                   np.zeros(n_off, dtype=np.int64)])
            keen = np.where(np.arange(len(ab)) >= len(ab) - n_off, 0.5, 1.0)
            post = rec.add(d0 + ab, host, T.POST)
            spoke[ab, host] = True
            p_signup = np.clip(0.02 + 0.5 * -np.expm1(-lam[ab]) + 0.15 * (self.role[:k] == 1),
                               0.0, 0.9) * keen[:, None]
            signed = ((rng.random((len(ab), k)) < p_signup) & present[ab]
                      & (np.arange(k)[None, :] != host[:, None]))
            sa, sm = np.nonzero(signed)
            rec.add(d0 + ab[sa], sm, T.SIGNUP, target=host[sa], ref=post[sa])
            for row in range(len(ab) - n_off, len(ab)):
                self.pending.append((d0 + int(ab[row]) + T.OFFLINE_LEAD_DAYS, sm[sa == row],
                                    int(post[row])))
        for item in [p for p in self.pending if d0 <= p[0] < d0 + n_b]:
            self.pending.remove(item)
            day, signed_up, ann = item
            came = signed_up[present[day - d0, signed_up]]
            came = came[rng.random(len(came)) < T.OFFLINE_SHOW]
            rec.add(day, came, T.OFFLINE, target=0, ref=ann, anchor=-1)
            self.offline[came] = True
        self.interv_out[d0:d0 + n_b, 3] += np.bincount(hb, minlength=n_b).astype(np.int16)
        return len(hosts)

    def joins(self, d0: int, d1: int, present: np.ndarray) -> None:
        """Members joining in days d0..d1-1; newcomers act from the next day."""
        cfg, rng, rec = self.cfg, self.rng, self.rec
        # slots are sorted by join day: those joining in d0..d1-1 are a contiguous range
        lo, hi = int(self.n_active[d0]), int(self.n_active[d1])
        if d0 == self.c0:  # the owner creates the group and pulls in the founders
            founders = np.arange(int(self.n_active[d0 + 1]))
            lo = len(founders)
            self.join_rec[0] = rec.add(d0, founders[:1], T.JOIN,
                                       fixed=int(self.world.created_ms[self.g]))[0]
            rest = founders[1:]
            self.join_rec[rest] = rec.add(d0, rest, T.JOIN, anchor=self.join_rec[0])
            inviters = np.zeros(len(rest), dtype=np.int64)
            self._invited(d0 + np.zeros(len(rest), dtype=np.int64), inviters, rest)
        new = np.arange(lo, hi)
        if len(new) == 0:
            return
        jday = self.join_day[new]
        self.join_rec[new] = rec.add(jday, new, T.JOIN)
        invited = rng.random(len(new)) < cfg.invite_share
        pb, pi = np.nonzero(present)
        who = _at(pi, pick_same_day(rng, pb, self.invite_w[pi], jday[invited] - d0, d1 - d0))
        ok = who >= 0
        self._invited(jday[invited][ok], who[ok], new[invited][ok])

    def _invited(self, day: np.ndarray, inviters: np.ndarray, invitees: np.ndarray) -> None:
        self.rec.add(day, inviters, T.INVITE, target=invitees, anchor=self.join_rec[invitees])
        self.invited_by[invitees] = inviters
        self.invitee_mult[invitees] = 1.0 - self.cfg.invitee_retention * self.lead[inviters]
        self.link(inviters, invitees)

    # ------------------------------------------------------------------------ output
    def result(self) -> GroupResult:
        r = self.rec.arrays()
        t = _clock(r, self.join_rec, self.rng)
        order = np.lexsort((np.arange(len(t)), t))
        seq = np.empty(len(t), dtype=np.int64)
        seq[order] = np.arange(len(t))
        start_ms = _start_ms(self.world)
        ref = r["ref"][order]
        etype = r["etype"][order].astype(np.int8)
        target = r["target"][order]
        mem = self.mem
        mask = np.arange(self.cfg.days)[None, :] > self.join_day[:, None]
        slots, days = np.nonzero(mask)
        has_expiry = self.paid & (self.expires_final < _NEVER)
        exp_ms = start_ms + (np.where(has_expiry, self.expires_final, 0) + 1) * T.DAY_MS - 1
        return GroupResult(
            group=self.g,
            ts=start_ms + t[order],
            member=mem[r["slot"][order]].astype(np.int32),
            etype=etype,
            target=np.where(target >= 0, mem[np.maximum(target, 0)], -1).astype(np.int32),
            ref=np.where(ref >= 0, seq[np.maximum(ref, 0)], -1),
            amount=r["amount"][order],
            text_len=_text_len(etype, self.rng),
            joined_ms=start_ms + t[self.join_rec],
            expires_ms=np.where(has_expiry, exp_ms, -1),
            invited_by=np.where(self.invited_by >= 0, mem[np.maximum(self.invited_by, 0)], -1),
            exit_day=self.exit_day,
            exit_cause=self.exit_cause,
            reply_weight=self.reply_weight,
            daily_slot=slots.astype(np.int32),
            daily_day=days.astype(np.int16),
            daily_speak=self.speak_mat.T[mask],
            daily_exit=self.exit_mat.T[mask],
            vitality=self.vit_out,
            n_present=self.npres_out,
            reply_norm=self.qnorm_out,
            interventions=self.interv_out,
        )


def simulate_group(world: World, g: int, rng: np.random.Generator) -> GroupResult:
    """Simulate group ``g`` of ``world`` from its creation to the last day.

    Parameters
    ----------
    world : World
        The static world (traits, memberships, group settings).
    g : int
        Index of the group.
    rng : numpy.random.Generator
        The group's own stream; the result depends on nothing else.

    Returns
    -------
    GroupResult
    """
    return _GroupSim(world, g, rng).run()


def _at(values: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """``values[pos]``, and -1 where ``pos`` is -1 (also when ``values`` is empty)."""
    if len(values) == 0:
        return np.full(len(pos), -1, dtype=np.int64)
    return np.where(pos >= 0, values[np.maximum(pos, 0)], -1)


def _start_ms(world: World) -> int:
    return int(np.datetime64(world.cfg.start.isoformat(), "ms").astype(np.int64))


def _clock(r: dict[str, np.ndarray], join_rec: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Times (ms since the first day's midnight) for every record of a group.

    Free events follow the daily rhythm of Chinese chat (peaks at noon and 21:00
    Beijing time); a reply, answer, reaction, claim or sign-up follows the event it
    answers after an exponential delay; an invite precedes its join; a member's
    exit comes after everything they did that day. Nothing crosses midnight: day
    ``d``'s events lie strictly inside ``[start + d, start + d + 1)``.
    """
    n = len(r["day"])
    day0 = r["day"] * T.DAY_MS
    t = np.full(n, -1, dtype=np.int64)
    etype = r["etype"]
    anchor = r["anchor"]
    free = anchor < 0
    nf = int(free.sum())
    hour = np.searchsorted(T.UTC_HOUR_CUM, rng.random(nf), side="right")
    offset = hour * T.HOUR_MS + rng.integers(0, T.HOUR_MS, nf)
    t[free] = day0[free] + np.clip(offset, 1, T.DAY_MS - 1000)
    fixed = r["fixed"] >= 0
    t[fixed] = day0[fixed] + r["fixed"][fixed]
    mean = np.zeros(len(T.EVENT_NAMES))
    for code, ms in T.DELAY_MS.items():
        mean[code] = ms
    resolved = free.copy()
    creation_day = r["day"][join_rec[0]]
    owner_join = t[join_rec[0]]
    for _ in range(8):
        ready = np.flatnonzero(~resolved & resolved[np.maximum(anchor, 0)])
        if len(ready) == 0:
            break
        a = t[anchor[ready]]
        delay = 1.0 + rng.exponential(mean[etype[ready]])
        u = rng.random(len(ready))
        back = etype[ready] == T.INVITE
        # an invite on the creation day cannot precede the owner creating the group
        lower = np.where(r["day"][ready] == creation_day, owner_join, day0[ready])
        room = np.where(back, a - lower - 1, day0[ready] + T.DAY_MS - 3 - a)
        step = np.maximum(1, np.minimum(delay, np.maximum(room, 1) * u)).astype(np.int64)
        t[ready] = a + np.where(back, -step, step)
        resolved[ready] = True
    if not resolved.all():  # pragma: no cover - anchors form a forest of depth < 8
        raise RuntimeError("event timing did not resolve")
    exits = np.flatnonzero(((etype == T.LEAVE) | (etype == T.REMOVED)) & ~fixed)
    if len(exits):
        key = r["slot"] * (r["day"].max() + 1) + r["day"]
        ekey = np.unique(key[exits])
        own = np.flatnonzero(np.isin(key, ekey) & (etype != T.LEAVE) & (etype != T.REMOVED))
        last = np.full(len(ekey), -1, dtype=np.int64)
        np.maximum.at(last, np.searchsorted(ekey, key[own]), t[own])
        lk = last[np.searchsorted(ekey, key[exits])]
        gap = 1 + rng.integers(1_000, 600_000, len(exits))
        t[exits] = np.minimum(np.maximum(t[exits], lk + gap), day0[exits] + T.DAY_MS - 2)
    return t


def _text_len(etype: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Text lengths for speaking events (log-normal by type); -1 (null) for the rest."""
    median = np.zeros(len(T.EVENT_NAMES))
    for code, v in T.TEXT_LEN_MEDIAN.items():
        median[code] = v
    mu = median[etype]
    draw = np.maximum(1, np.round(np.maximum(mu, 1) * rng.lognormal(0.0, 0.8, len(etype))))
    return np.where(mu > 0, draw, -1).astype(np.int32)
