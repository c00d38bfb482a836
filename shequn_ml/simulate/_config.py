"""The simulator's configuration: the size of the world and every mechanism's knob.

Every behaviour the simulator has is a named parameter here, with a default taken
from what operators report (see ``docs/simulator.md``). Setting a mechanism's knob
to its neutral value removes that mechanism, which is how the tests show that
each dynamic really comes from the mechanism that claims it: e.g.
``small_group_exponent=0`` makes per-capita activity independent of group size,
``contagion=0, leader_contagion=0`` makes members blind to partners leaving.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Role = Literal["thinker", "organiser", "asker", "chatter", "lurker"]
Management = Literal["none", "light", "active"]

#: Roles of a healthy (pyramid) group, in the order used by the simulator's arrays.
ROLES: tuple[Role, ...] = ("thinker", "organiser", "asker", "chatter", "lurker")
#: How much an operator runs a group, in the order used by the simulator's arrays.
MANAGEMENT_LEVELS: tuple[Management, ...] = ("none", "light", "active")


class SimulationError(ValueError):
    """The configured world cannot be built (e.g. the members do not fit in the groups).

    Raised before any file is written; the command line prints the message, without a
    traceback, and exits 2.
    """


class SimulationConfig(BaseModel):
    """Size, seed and world parameters of one simulated community.

    The world: ``n_groups`` WeChat (500 cap) and QQ (2,000 cap) groups, free
    traffic groups (流量型) and paid knowledge groups (付费社群) whose membership
    expires and must be renewed, some led by an opinion leader (意见领袖), run by
    operators who intervene more or less (red packets, check-in rituals,
    activities, offline events, content). ``n_members`` distinct members, a few in
    two or three groups, each with latent traits (role, activity, benefit
    sensitivity, leadership). Each group lives a lifecycle (honeymoon, doubt,
    breakup) that interventions slow down. ``docs/simulator.md`` gives every
    mechanism's formula.

    Parameters are grouped below as *size*, *composition*, *members* and
    *mechanisms*; every mechanism has a neutral value that switches it off.

    Examples
    --------
    >>> from shequn_ml.simulate import SimulationConfig
    >>> cfg = SimulationConfig(n_members=3000, n_groups=30, days=180, seed=7)
    >>> cfg.start.isoformat(), cfg.small_group_exponent
    ('2024-01-01', 0.5)
    >>> SimulationConfig(n_members=300, n_groups=3, days=60, contagion=0.0).contagion
    0.0
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    # ---- size and seed ------------------------------------------------------------
    n_members: int = Field(ge=10, description="Distinct members in the world.")
    n_groups: int = Field(ge=1, description="Groups (群) in the world.")
    days: int = Field(ge=14, le=3650, description="Days of history to simulate.")
    seed: int = Field(0, ge=0, description="Root seed; the same seed gives identical files.")
    start: dt.date = Field(dt.date(2024, 1, 1),
                           description="First simulated day (UTC midnight opens day 0).")

    # ---- composition of the world ---------------------------------------------------
    paid_share: float = Field(0.3, ge=0, le=1,
                              description="Share of groups that are paid knowledge groups.")
    qq_share: float = Field(0.15, ge=0, le=1,
                            description="Share of groups on QQ (cap 2,000) rather than WeChat "
                            "(cap 500).")
    led_share: float = Field(0.5, ge=0, le=1,
                             description="Share of groups built around an opinion leader.")
    leader_owner_share: float = Field(0.3, ge=0, le=1,
                                      description="Share of led groups whose leader is the owner.")
    management_shares: dict[Management, float] = Field(
        default_factory=lambda: {"none": 0.3, "light": 0.4, "active": 0.3},
        description="How groups are run: share with no interventions, light, active.")
    multi_group_share: float = Field(0.08, ge=0, le=1,
                                     description="Share of members in two or three groups.")
    size_sigma: float = Field(1.0, ge=0, description="Log-normal spread of group sizes.")
    min_group_size: int = Field(10, ge=2, description="Smallest group.")
    creation_window: float = Field(
        0.5, ge=0, lt=1,
        description="Groups are created uniformly over the first this-share of the days.")
    founding_share: tuple[float, float] = Field(
        (0.3, 0.7), description="Range of the share of a group's members who join on creation.")
    join_spread_days: float = Field(30.0, gt=0,
                                    description="Mean days after creation for later joiners.")
    invite_share: float = Field(0.6, ge=0, le=1,
                                description="Share of joiners invited by a member (拉新).")
    paid_terms_days: tuple[int, ...] = Field(
        (30, 90), min_length=1, description="Membership terms a paid group may sell (days).")

    # ---- members' latent traits -----------------------------------------------------
    role_shares: dict[Role, float] = Field(
        default_factory=lambda: {"thinker": 0.05, "organiser": 0.05, "asker": 0.15,
                                 "chatter": 0.25, "lurker": 0.5},
        description="Share of members in each role.")
    activity_median: float = Field(0.35, gt=0,
                                   description="Median speaking events per day of a chatter-"
                                   "weight member at full vitality in a 50-member group.")
    activity_sigma: float = Field(1.2, ge=0,
                                  description="Log-normal spread of members' activity (heavy "
                                  "tail; 0 makes members alike within a role).")
    benefit_only_share: float = Field(0.12, ge=0, le=1,
                                      description="Members who appear only for red packets and "
                                      "coupons (羊毛党).")
    spammer_share: float = Field(0.02, ge=0, le=1,
                                 description="Members who post ads and get removed (广告党).")
    leader_share: float = Field(0.02, ge=0, le=1,
                                description="Members with high leadership besides the groups' "
                                "opinion leaders (potential 头狼).")

    # ---- mechanisms -------------------------------------------------------------------
    small_group_exponent: float = Field(
        0.5, ge=0, description="Per-capita activity scales as (present/50)**-exponent "
        "(小群效应); 0 removes the small-group effect.")
    leader_attraction: float = Field(
        4.0, ge=0, description="Replies, reactions and mentions aim at a member with weight "
        "exp(leader_attraction * leadership); 0 removes leaders' pull.")
    contagion: float = Field(
        1.0, ge=0, description="Exit hazard is multiplied by 1 + contagion * (share of reply "
        "partners who left or went quiet); 0 removes partner contagion.")
    leader_contagion: float = Field(
        1.5, ge=0, description="Extra multiplier when the group's leader left or went quiet, "
        "full for members tied to the leader, 30% for the others; 0 removes it.")
    quiet_days: int = Field(14, ge=1, description="Days without speaking after which a member "
                            "counts as gone quiet for their partners.")
    decay_rate: float = Field(0.035, ge=0, description="Daily decay of a group's vitality in "
                              "the honeymoon; 0 removes the lifecycle decline.")
    doubt_strength: float = Field(0.5, ge=0, description="Decay grows by this times "
                                  "log(members / founding members) (质疑期).")
    low_quality_strength: float = Field(1.0, ge=0, description="Decay grows by this times the "
                                        "share of benefit-only members and spammers present.")
    breakup_threshold: float = Field(0.3, ge=0, description="Below this vitality the group is "
                                     "in the breakup stage (分手期).")
    breakup_multiplier: float = Field(1.5, ge=1, description="Decay multiplier in the breakup "
                                      "stage.")
    member_honeymoon: float = Field(1.0, ge=0, description="A new member's activity is "
                                    "multiplied by 1 + this * exp(-tenure / 14 days).")
    join_boost: float = Field(0.5, ge=0, description="New blood: vitality gained per day is "
                              "this times joiners / max(present, founders), at most 0.1.")
    leader_revival: float = Field(0.005, ge=0, description="Vitality gained per day a leader "
                                  "speaks, times their leadership (a leader revives a cold "
                                  "group).")
    leader_organise: float = Field(0.04, ge=0, description="Daily chance (times leadership "
                                   "and vitality) that a present leader organises an activity.")
    intervention_strength: float = Field(1.0, ge=0, description="Scales every intervention's "
                                         "effect on vitality; 0 makes interventions inert.")
    checkin_decay_cut: float = Field(0.3, ge=0, le=1, description="A daily check-in ritual "
                                     "cuts the vitality decay by this share.")
    checkin_rate: float = Field(0.5, ge=0, description="Base daily chance to check in when "
                                "the ritual runs (times vitality, engagement, role).")
    exit_rate: float = Field(0.0015, ge=0, description="Base daily hazard of leaving (退群).")
    decline_exit: float = Field(1.5, ge=0, description="Exit hazard is multiplied by 1 + this "
                                "* (1 - vitality): members leave dying groups.")
    paid_activity: float = Field(1.5, ge=0, description="Activity multiplier in paid groups "
                                 "(an entry threshold makes members more active).")
    paid_exit: float = Field(0.5, ge=0, description="Exit-hazard multiplier in paid groups.")
    invitee_retention: float = Field(0.7, ge=0, le=1, description="An invitee's exit hazard is "
                                     "multiplied by 1 - this * the inviter's leadership.")
    offline_retention: float = Field(0.5, ge=0, le=1, description="Attending an offline event "
                                     "multiplies the member's exit hazard by 1 - this, for good.")
    renew_base: float = Field(0.45, ge=0, le=1, description="Renewal chance of a member who "
                              "never speaks.")
    renew_engagement: float = Field(0.5, ge=0, le=1, description="Extra renewal chance of a "
                                    "member who speaks every week.")
    leader_exit_day: int | None = Field(None, ge=1, description="Scenario: on this day every "
                                        "opinion leader still present leaves (after acting).")

    @model_validator(mode="after")
    def _check(self) -> SimulationConfig:
        for name, shares in (("role_shares", self.role_shares),
                             ("management_shares", self.management_shares)):
            if sum(shares.values()) <= 0 or any(v < 0 for v in shares.values()):
                raise ValueError(f"{name} must be >= 0 and sum to more than 0; got {shares}")
        lo, hi = self.founding_share
        if not 0 < lo <= hi <= 1:
            raise ValueError(f"founding_share must satisfy 0 < low <= high <= 1; got {(lo, hi)}")
        if any(t < 7 for t in self.paid_terms_days):
            raise ValueError(f"paid_terms_days must be >= 7 (the simulator steps a week at a "
                             f"time); got {self.paid_terms_days}")
        if self.n_groups * self.min_group_size > self.n_members * (1 + self.multi_group_share):
            raise ValueError(
                f"n_members={self.n_members} is too few for n_groups={self.n_groups}: every "
                f"group needs at least min_group_size={self.min_group_size} members; use fewer "
                "groups or more members")
        if self.n_members > self.n_groups * 2000:
            raise ValueError(
                f"n_members={self.n_members} do not fit in n_groups={self.n_groups} groups "
                "(caps: 500 per WeChat group, 2,000 per QQ group); use more groups")
        if self.leader_exit_day is not None and self.leader_exit_day >= self.days:
            raise ValueError(f"leader_exit_day={self.leader_exit_day} must be < days={self.days}")
        return self

    def shares(self, name: Literal["role_shares", "management_shares"]) -> list[float]:
        """Normalised shares in the simulator's array order (see ROLES, MANAGEMENT_LEVELS)."""
        table = getattr(self, name)
        keys = ROLES if name == "role_shares" else MANAGEMENT_LEVELS
        values = [float(table.get(k, 0.0)) for k in keys]
        total = sum(values)
        return [v / total for v in values]
