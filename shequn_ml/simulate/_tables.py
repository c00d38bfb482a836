"""The simulator's fixed behaviour tables: what each role does, what each intervention does.

These are the numbers ``docs/simulator.md`` prints; they are constants rather than
configuration because they describe the shape of the world (a lurker mostly
watches, a red packet is grabbed within a minute), while the strength of each
*mechanism* is a :class:`~shequn_ml.simulate.SimulationConfig` parameter.
Arrays indexed by role follow :data:`~shequn_ml.simulate._config.ROLES`; a sixth
row, :data:`SPAM`, is the behaviour of ad posters (广告党).
"""

from __future__ import annotations

import numpy as np

from shequn_ml import schema

# ---- event types ------------------------------------------------------------------------
#: Event types the simulator writes, by the integer code used in its arrays.
EVENT_NAMES: tuple[str, ...] = (
    "join", "leave", "removed", "message", "reply", "mention", "reaction", "post",
    "question", "answer", "checkin", "invite", "red_packet_send", "red_packet_claim",
    "coupon_claim", "coupon_redeem", "purchase", "renew", "event_signup", "offline_attend",
)
_unknown = set(EVENT_NAMES) - set(schema.EVENT_TYPES)
if _unknown:  # pragma: no cover - guards against a vocabulary rename in schema.py
    raise ImportError(f"simulator event types missing from shequn_ml.schema: {sorted(_unknown)}")
CODE: dict[str, int] = {name: i for i, name in enumerate(EVENT_NAMES)}
JOIN, LEAVE, REMOVED = CODE["join"], CODE["leave"], CODE["removed"]
MESSAGE, REPLY, MENTION, REACTION = CODE["message"], CODE["reply"], CODE["mention"], \
    CODE["reaction"]
POST, QUESTION, ANSWER, CHECKIN = CODE["post"], CODE["question"], CODE["answer"], \
    CODE["checkin"]
INVITE, RP_SEND, RP_CLAIM = CODE["invite"], CODE["red_packet_send"], CODE["red_packet_claim"]
COUPON_CLAIM, COUPON_REDEEM, PURCHASE = CODE["coupon_claim"], CODE["coupon_redeem"], \
    CODE["purchase"]
RENEW, SIGNUP, OFFLINE = CODE["renew"], CODE["event_signup"], CODE["offline_attend"]

#: Speaking event types (the silence label's "speaking"), as codes.
SPEAKING_CODES = np.array([CODE[n] for n in EVENT_NAMES if schema.EVENT_TYPES[n].speaking])

# ---- roles --------------------------------------------------------------------------------
SPAM = 5  # row index of the ad posters' behaviour in the role tables
#: Speaking multiplier by role (thinker, organiser, asker, chatter, lurker).
ROLE_SPEAK = np.array([1.5, 1.5, 1.0, 2.5, 0.08])
#: What a speaking event is, by role: shares of message, reply, question, answer, post.
TALK_TYPES = np.array([MESSAGE, REPLY, QUESTION, ANSWER, POST])
ROLE_TALK_MIX = np.array([
    [0.30, 0.25, 0.05, 0.20, 0.20],  # thinker: answers and shares content
    [0.45, 0.35, 0.05, 0.05, 0.10],  # organiser
    [0.35, 0.20, 0.35, 0.05, 0.05],  # asker (求教者)
    [0.55, 0.40, 0.02, 0.02, 0.01],  # chatter (清谈者)
    [0.60, 0.30, 0.05, 0.03, 0.02],  # lurker (潜水党), when they do speak
    [0.20, 0.00, 0.00, 0.00, 0.80],  # spam: ads as posts
])
ROLE_TALK_CUM = np.cumsum(ROLE_TALK_MIX, axis=1)
#: Share of a role's talk that is an original message others can reply to.
ROLE_ORIGINAL = ROLE_TALK_MIX[:, [0, 2, 4]].sum(axis=1)
#: Share of a role's talk that is a reply or an answer (aimed at someone).
ROLE_RESPONSE = ROLE_TALK_MIX[:, [1, 3]].sum(axis=1)
#: How much a role's messages draw replies, before leadership.
ROLE_ATTRACT = np.array([2.0, 1.2, 1.5, 1.0, 1.0, 0.2])
#: Reactions (点赞) per day at full vitality: onlookers react more than they talk.
ROLE_REACT = np.array([0.2, 0.3, 0.2, 0.4, 0.15, 0.0])
#: Relative propensity to take part in a check-in ritual.
ROLE_CHECKIN = np.array([0.6, 0.8, 0.5, 0.5, 0.15, 0.0])
#: Exit-hazard multiplier by role.
ROLE_EXIT = np.array([0.7, 0.6, 1.0, 0.9, 1.3, 1.0])
#: A member's exit hazard, and their chance of letting a paid membership lapse, are
#: multiplied by 1 - this * leadership (leaders are invested in the group).
LEADER_COMMITMENT = 0.7
#: Mentions (@) per speaking event.
MENTION_RATE = 0.08
#: Exit-hazard multiplier of benefit-only members (they leave when the benefits stop).
BENEFIT_ONLY_EXIT = 2.0
#: Extra daily removal hazard of an ad poster in a managed group, and for everyone.
SPAM_REMOVAL, BASE_REMOVAL = 0.05, 0.0002
#: Benefit-sensitive members' extra speaking on a red-packet or coupon day (a "谢谢老板").
BENEFIT_TALK = 0.6

# ---- interventions -------------------------------------------------------------------------
INTERVENTIONS: tuple[str, ...] = ("content", "red_packet", "coupon", "activity", "offline")
#: Expected interventions per day, by management level (none, light, active).
INTERVENTION_RATES = np.array([
    [0.0, 0.0, 0.0, 0.0, 0.0],
    [0.3, 0.1, 0.05, 0.03, 0.0],
    [0.8, 0.3, 0.1, 0.12, 1 / 45],
])
#: Vitality gained per intervention (scaled by ``intervention_strength``).
INTERVENTION_BOOST = np.array([0.005, 0.015, 0.008, 0.03, 0.08])
#: Days between an offline event's announcement and the event.
OFFLINE_LEAD_DAYS = 5
#: Chance that a member who signed up for an offline event attends.
OFFLINE_SHOW = 0.75
#: Speaking multiplier for a member who attended an offline event.
OFFLINE_SPEAK = 1.2
#: Chance that a coupon is used (then a purchase follows).
COUPON_REDEEM_P = 0.3
#: Ceiling of a group's vitality.
VITALITY_MAX = 1.2

# ---- members' engagement drift ---------------------------------------------------------------
#: Log-engagement is an AR(1) process with this daily persistence and stationary sd.
ENGAGEMENT_RHO, ENGAGEMENT_SD = float(np.exp(-1 / 30)), 0.5
MEMBER_HONEYMOON_DAYS = 14.0
REFERENCE_GROUP_SIZE = 50.0

# ---- times ---------------------------------------------------------------------------------
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
#: Share of activity by Beijing hour (UTC+8); the simulator works in UTC days.
_BEIJING_HOURS = np.array([
    0.020, 0.010, 0.005, 0.003, 0.003, 0.005, 0.015, 0.035, 0.050, 0.060, 0.060, 0.055,
    0.065, 0.050, 0.045, 0.045, 0.045, 0.045, 0.050, 0.060, 0.075, 0.080, 0.070, 0.045,
])
UTC_HOUR_CUM = np.cumsum(np.roll(_BEIJING_HOURS, -8) / _BEIJING_HOURS.sum())
#: Mean delay (ms) of an event after the one it answers, by event type code.
DELAY_MS = {
    REPLY: 8 * 60_000, ANSWER: 25 * 60_000, REACTION: 5 * 60_000, RP_CLAIM: 40_000,
    SIGNUP: 45 * 60_000, COUPON_REDEEM: 3 * HOUR_MS, PURCHASE: 3_000, INVITE: 5 * 60_000,
    JOIN: 90 * 60_000,
}
#: Median text length by speaking type (log-normal, sd 0.8).
TEXT_LEN_MEDIAN = {MESSAGE: 14, REPLY: 10, QUESTION: 30, ANSWER: 60, POST: 400, CHECKIN: 20}
