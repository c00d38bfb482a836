"""Member roles (社群角色) from behaviour before a cutoff, with the reason in words.

A healthy group is a pyramid of roles (``../shared/domain.md``): 思考者 thinker,
组织者 organiser, 求教者 asker, 清谈者 chatter and 围观者 lurker (潜水党), with a
头狼 (lead wolf, KOL) at the top. :func:`assign_roles` gives every member present
in a group at a cutoff exactly one of the five roles, from what they did in the
``window_days`` before it, and flags the 头狼 from a KOL ranking when one is given.

Method
------
Each member's behaviour in the window is counted (:data:`MEASURES`) and compared
with the **group's own profile**, so that the same rules fit a lively WeChat group
and a slow Q&A site. No model is trained and no true role is read: the rules
follow the domain's definitions of the roles, with thresholds that are module
constants (below). Three of them (:data:`MIN_LIFT`, :data:`MIN_SIGNATURE`,
:data:`MIN_ORGANISING`) were compared with nearby values on a development simulator
world that no reported figure comes from (``docs/roles.md``).

1. **Lurker (围观者)**: present but said nothing in the window, or at most
   :data:`LURKER_MAX_TALK` time(s) while the group's average member said at least
   ``1 / LURKER_GROUP_SHARE`` times as much; and fewer than :data:`MIN_ORGANISING`
   organising acts. Check-ins (打卡) are a ritual every role takes part in and are
   not counted as talk; likes are not talk either.
2. For everyone else, three *lifts*: the member's share of a role's signature
   behaviour in their talk, divided by the group's share. Shares are shrunk
   towards the group's with :data:`PRIOR_EVENTS` pseudo-events, so a member with
   two messages cannot reach an extreme share::

       lift = (count + PRIOR_EVENTS * group_rate) / ((talk + PRIOR_EVENTS) * group_rate)

   * thinker (思考者): ``long_posts + answers`` (original long content and answers),
     at least :data:`MIN_SIGNATURE` of them, counted only when the member also draws
     responses: their responses received per talk event, lifted the same way, is at
     least :data:`MIN_RESPONSE_LIFT`;
   * organiser (组织者): ``organising`` = invites, red packets sent, sign-ups to the
     activities they host (announcements that drew sign-ups) and their own activity
     sign-ups and offline attendance, at least :data:`MIN_ORGANISING` of them;
   * asker (求教者): ``questions``, at least :data:`MIN_SIGNATURE`.

   The role with the highest lift of at least :data:`MIN_LIFT` wins (ties: thinker,
   organiser, asker).
3. **Chatter (清谈者)**: everyone else who speaks: messages, replies, likes, small
   talk, with no signature behaviour above the group's.

The group's rates (``group_rate``) are totals over the members present at the
cutoff; a group whose members said nothing in the window uses the rates of all
groups together, and every rate is at least :data:`RATE_FLOOR`. In a Q&A group
(``groups.kind`` in :data:`shequn_ml.schema.QA_KINDS`) an answer credits the
answerer (:data:`shequn_ml.schema.RESPONSES`); it is the answerer's content, not a
response they drew, so ``responses_received`` counts only the responses aimed at a
member (replies, @-mentions, likes by others) in every kind of group.

Point in time
-------------
Everything is read from :class:`~shequn_ml.features.snapshots.Snapshot` (events with
ts < cutoff and the population then), plus ``text_len`` of the same events (the
prefix before the cutoff) when the events carry it.

Examples
--------
>>> import pandas as pd
>>> from shequn_ml.io import read_events
>>> rows = [("a", "post", None)] * 3 + [("b", "reply", "a")] * 4 + [("b", "message", None)] * 4 \\
...     + [("c", "question", None)] * 3 + [("d", "join", None)]
>>> ev = read_events(pd.DataFrame({
...     "ts": pd.date_range("2024-03-01", periods=len(rows), freq="h", tz="UTC"), "group_id": "g",
...     "member_id": [r[0] for r in rows], "event_type": [r[1] for r in rows],
...     "target_member_id": [r[2] for r in rows]}))
>>> roles = assign_roles(ev, "2024-03-10")
>>> roles[["member_id", "role", "role_zh"]].values.tolist()
[['a', 'thinker', '思考者'], ['b', 'chatter', '清谈者'], ['c', 'asker', '求教者'], ['d', 'lurker', '围观者']]
>>> roles.loc[0, "role_reason_en"]
'3 long posts in the last 28 days, drawing 4 responses from others'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from shequn_ml import schema
from shequn_ml.features.snapshots import EventHistory, Snapshot, to_cutoff

# ---------------------------------------------------------------------------- vocabulary
_T = schema.EVENT_TYPES  # a KeyError here at import means the vocabulary was renamed
MESSAGE, REPLY, POST = _T["message"].name, _T["reply"].name, _T["post"].name
QUESTION, ANSWER, CHECKIN = _T["question"].name, _T["answer"].name, _T["checkin"].name
REACTION, INVITE = _T["reaction"].name, _T["invite"].name
RED_PACKET_SEND = _T["red_packet_send"].name
#: Activity events (sign-ups, offline attendance): the schema's ``activity`` family.
ACTIVITY_TYPES: frozenset[str] = schema.event_types_where(category="activity")

#: The five roles, top of the pyramid first.
ROLES: tuple[str, ...] = ("thinker", "organiser", "asker", "chatter", "lurker")
#: Chinese names of the roles.
ROLE_ZH: dict[str, str] = {"thinker": "思考者", "organiser": "组织者", "asker": "求教者",
                           "chatter": "清谈者", "lurker": "围观者"}
#: What ``role_zh_display`` shows for the top member of a group's KOL ranking.
HEAD_WOLF_ZH = "头狼"
#: What the reasons of the head wolf start with.
HEAD_WOLF_REASON_EN, HEAD_WOLF_REASON_ZH = "top of the group's KOL ranking; ", "群内KOL排名第一；"

# ---------------------------------------------------------------------------- thresholds
#: A lurker said at most this many things in the window ...
LURKER_MAX_TALK = 1
#: ... and less than this share of what the group's average member said (anyone who
#: said nothing is a lurker).
LURKER_GROUP_SHARE = 0.5
#: Pseudo-events that shrink a member's shares towards the group's.
PRIOR_EVENTS = 4.0
#: A role's lift must reach this (1.5 times the group's rate, after shrinking) ...
MIN_LIFT = 1.5
#: ... and rest on at least this many questions (asker) or long posts and answers (thinker) ...
MIN_SIGNATURE = 1
#: ... or organising acts (organiser; fewer than this also leaves a quiet member a lurker).
MIN_ORGANISING = 2
#: A thinker's responses received per talk event, lifted against the group's, is at
#: least this: their content draws responses.
MIN_RESPONSE_LIFT = 0.5
#: A message or reply this long (``text_len``, characters) counts as a long post.
LONG_TEXT_CHARS = 200
#: The smallest group rate a lift divides by (a group where nobody asks).
RATE_FLOOR = 0.01

#: The behaviour measures in the output, each counted over the window (``group_talk_mean``
#: and the lifts are group-relative).
MEASURES: dict[str, str] = {
    "talk": "speaking events except check-ins: messages, replies, posts, questions, answers.",
    "short_talk": "talk that is neither a long post, an answer nor a question (small talk).",
    "long_posts": f"posts (分享), and messages or replies of at least {LONG_TEXT_CHARS} characters.",
    "answers": "answers to questions.",
    "questions": "questions asked (求教).",
    "responses_received": "replies, @-mentions and likes aimed at the member by others.",
    "answers_received": "answers aimed at the member (to their questions).",
    "reactions": "likes (点赞) the member gave.",
    "checkins": "check-ins (打卡); measured, not used by the rules.",
    "invites": "members the member invited (拉新).",
    "red_packets_sent": "red packets the member sent (发红包).",
    "signups_received": "sign-ups and offline attendance for activities the member hosted.",
    "signups": "the member's own activity sign-ups (接龙) and offline attendance.",
    "organising": "invites + red_packets_sent + signups_received + signups.",
    "group_talk_mean": "talk per member present in the group.",
    "group_question_rate": "questions per talk event in the group (the asker lift's group rate).",
    "thinker_lift": "long_posts + answers per talk event against the group's (shrunk).",
    "organiser_lift": "organising per talk event against the group's (shrunk).",
    "asker_lift": "questions per talk event against the group's (shrunk).",
    "response_lift": "responses_received per talk event against the group's (shrunk).",
}
_COUNTS = ("talk", "short_talk", "long_posts", "answers", "questions", "responses_received",
           "answers_received", "reactions", "checkins", "invites", "red_packets_sent",
           "signups_received", "signups", "organising")
KEY = ["group_id", "member_id"]
OUTPUT_COLUMNS: tuple[str, ...] = (
    "group_id", "member_id", "role", "role_zh", "is_head_wolf", "role_zh_display",
    "role_reason_en", "role_reason_zh", *MEASURES)
KOL_COLUMNS = ("group_id", "member_id", "kol_rank_in_group")


# ---------------------------------------------------------------------------- public API
def assign_roles(
    events: pd.DataFrame,
    cutoff: object,
    *,
    members: pd.DataFrame | None = None,
    groups: pd.DataFrame | None = None,
    window_days: float = 28.0,
    kol: pd.DataFrame | None = None,
    history: EventHistory | None = None,
) -> pd.DataFrame:
    """One role per member present in a group at ``cutoff``, from behaviour before it.

    Parameters
    ----------
    events : DataFrame
        Normalised events (:func:`shequn_ml.io.read_events`). Only events with
        ts < cutoff are read.
    cutoff : timestamp or str
        Required; naive values are UTC.
    members, groups : DataFrame, optional
        Normalised side tables: ``members.joined_at`` adds members who never acted
        (lurkers), ``groups.kind`` marks Q&A communities.
    window_days : float, default 28.0
        How far back behaviour is counted.
    kol : DataFrame, optional
        A KOL ranking with ``group_id``, ``member_id`` and ``kol_rank_in_group``
        (e.g. the scores table of :func:`shequn_ml.scoring.score_members`; with a
        ``cutoff`` column, only this cutoff's rows are read). The member present at
        the cutoff with the best (lowest) rank in each group is the 头狼.
    history : EventHistory, optional
        ``EventHistory(events, members=members, groups=groups)`` when the caller has
        it already; it must be built from ``events``.

    Returns
    -------
    DataFrame
        :data:`OUTPUT_COLUMNS`, one row per (group, member) present at the cutoff,
        sorted by group and member: ``group_id``, ``member_id`` (str), ``role``
        (one of :data:`ROLES`), ``role_zh``, ``is_head_wolf``, ``role_zh_display``
        (头狼 for the head wolf, else ``role_zh``), ``role_reason_en``,
        ``role_reason_zh`` and the measures of :data:`MEASURES`.

    Raises
    ------
    ValueError
        If the cutoff is not a date or time, ``window_days`` is not positive, the
        ``kol`` table lacks a column or repeats a member, or ``history`` was built
        from other events.

    Examples
    --------
    >>> from pathlib import Path
    >>> import shequn_ml
    >>> from shequn_ml.io import read_events, read_groups, read_members
    >>> sample = Path(shequn_ml.__file__).parents[1] / "data" / "sample"
    >>> ev = read_events(sample / "events.parquet")
    >>> roles = assign_roles(ev, "2024-04-01", members=read_members(sample / "members.parquet"),
    ...                      groups=read_groups(sample / "groups.parquet"))
    >>> sorted(set(roles["role"])) == sorted(ROLES)
    True
    >>> row = roles[roles["role"] == "asker"].iloc[0]
    >>> row["role_reason_en"].startswith("asked ")
    True
    """
    c = _check_cutoff(cutoff)
    window = _check_window(window_days)
    kol_table = _check_kol(kol, c) if kol is not None else None
    if history is None:
        history = EventHistory(events, members=members, groups=groups)
    text_len = _sorted_text_len(events, history)
    snap = history.at(c)
    measures = role_measures(snap, window, text_len)
    role = _decide(measures)
    out = _keys(snap)
    out["role"] = role
    out["role_zh"] = [ROLE_ZH[r] for r in role]
    out["is_head_wolf"] = _head_wolf(out, kol_table)
    out["role_zh_display"] = np.where(out["is_head_wolf"], HEAD_WOLF_ZH, out["role_zh"])
    en, zh = role_reasons(role, measures, window)
    wolf = out["is_head_wolf"].to_numpy()
    out["role_reason_en"] = [HEAD_WOLF_REASON_EN + s if w else s for s, w in zip(en, wolf, strict=True)]
    out["role_reason_zh"] = [HEAD_WOLF_REASON_ZH + s if w else s for s, w in zip(zh, wolf, strict=True)]
    for name in MEASURES:
        out[name] = measures[name]
    return _sorted(out)[list(OUTPUT_COLUMNS)]


def majority_roles(
    events: pd.DataFrame,
    cutoff: object,
    train_truth: pd.DataFrame,
    *,
    members: pd.DataFrame | None = None,
    groups: pd.DataFrame | None = None,
    history: EventHistory | None = None,
) -> pd.DataFrame:
    """Baseline: every present member gets the most common role of a training world.

    Parameters
    ----------
    events, cutoff, members, groups, history
        As in :func:`assign_roles`.
    train_truth : DataFrame
        True roles of another world (a ``role`` column), e.g. a development
        simulator run's ``truth_members.parquet``; ties go to the first of :data:`ROLES`.

    Returns
    -------
    DataFrame
        ``group_id``, ``member_id``, ``role``, ``role_zh``, sorted like :func:`assign_roles`.

    Examples
    --------
    >>> import pandas as pd
    >>> from shequn_ml.io import read_events
    >>> ev = read_events(pd.DataFrame({"ts": ["2024-01-01"], "group_id": "g", "member_id": "a",
    ...                                "event_type": "message"}))
    >>> train = pd.DataFrame({"role": ["lurker", "lurker", "asker"]})
    >>> majority_roles(ev, "2024-01-02", train)["role"].tolist()
    ['lurker']
    """
    if "role" not in train_truth.columns:
        raise ValueError(f"train_truth needs a 'role' column; found columns {list(train_truth.columns)}")
    counts = train_truth["role"].astype(str).value_counts()
    unknown = sorted(set(counts.index) - set(ROLES))
    if unknown or counts.empty:
        raise ValueError(f"train_truth roles must be some of {list(ROLES)}; found {unknown or 'no rows'}")
    top = max(ROLES, key=lambda r: (counts.get(r, 0), -ROLES.index(r)))
    snap = _snapshot(events, cutoff, members, groups, history)
    out = _keys(snap)
    out["role"] = top
    out["role_zh"] = ROLE_ZH[top]
    return _sorted(out)


#: The message-count rule: at most this many talk events in the window is a lurker, more a chatter.
RULE_LURKER_MAX_TALK = 1


def message_count_roles(
    events: pd.DataFrame,
    cutoff: object,
    *,
    members: pd.DataFrame | None = None,
    groups: pd.DataFrame | None = None,
    window_days: float = 28.0,
    history: EventHistory | None = None,
) -> pd.DataFrame:
    """Baseline: a fixed threshold on the message count only.

    A member with at most :data:`RULE_LURKER_MAX_TALK` talk events (``talk`` of
    :data:`MEASURES`) in the window is a lurker, anyone else a chatter: activity as
    the only sign of a role.

    Returns
    -------
    DataFrame
        ``group_id``, ``member_id``, ``role``, ``role_zh``, ``talk``, sorted like
        :func:`assign_roles`.

    Examples
    --------
    >>> import pandas as pd
    >>> from shequn_ml.io import read_events
    >>> ev = read_events(pd.DataFrame({"ts": ["2024-01-01", "2024-01-01", "2024-01-02"], "group_id": "g",
    ...                                "member_id": ["a", "a", "b"], "event_type": "message"}))
    >>> message_count_roles(ev, "2024-01-05")["role"].tolist()
    ['chatter', 'lurker']
    """
    window = _check_window(window_days)
    snap = _snapshot(events, cutoff, members, groups, history)
    talk = snap.count_of(_talk_types(), window)
    out = _keys(snap)
    role = np.where(talk > RULE_LURKER_MAX_TALK, "chatter", "lurker")
    out["role"] = role
    out["role_zh"] = [ROLE_ZH[r] for r in role]
    out["talk"] = talk
    return _sorted(out)


@dataclass(frozen=True)
class RoleEvaluation:
    """Assigned roles against true roles.

    Attributes
    ----------
    confusion : DataFrame
        Counts; rows are the true roles, columns the assigned ones (:data:`ROLES` order).
    macro_f1 : float
        Mean F1 over the five roles (a role absent from both sides counts as 0).
    accuracy : float
    per_role : DataFrame
        ``precision``, ``recall``, ``f1`` and ``support`` (true count) per role.
    n : int
        Rows compared (assigned rows with a true role).
    n_without_truth : int
        Assigned rows that have no true role (not compared).
    """

    confusion: pd.DataFrame
    macro_f1: float
    accuracy: float
    per_role: pd.DataFrame
    n: int
    n_without_truth: int


def evaluate_roles(assigned: pd.DataFrame, truth: pd.DataFrame) -> RoleEvaluation:
    """Confusion matrix, macro-F1, accuracy and per-role precision and recall.

    Parameters
    ----------
    assigned : DataFrame
        ``group_id``, ``member_id``, ``role`` (from :func:`assign_roles` or a baseline).
    truth : DataFrame
        ``group_id``, ``member_id``, ``role``: one row per membership, e.g. the
        simulator's ``truth_members.parquet``.

    Returns
    -------
    RoleEvaluation

    Raises
    ------
    ValueError
        If a table lacks a column, ``truth`` repeats a membership, or a role is
        not one of :data:`ROLES`.

    Examples
    --------
    >>> keys = {"group_id": "g", "member_id": ["x", "y", "z"]}
    >>> a = pd.DataFrame({**keys, "role": ["asker", "lurker", "lurker"]})
    >>> t = pd.DataFrame({**keys, "role": ["asker", "lurker", "chatter"]})
    >>> ev = evaluate_roles(a, t)
    >>> round(ev.accuracy, 3), int(ev.confusion.loc["chatter", "lurker"])
    (0.667, 1)
    """
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    for name, table in (("assigned", assigned), ("truth", truth)):
        missing = [c for c in (*KEY, "role") if c not in table.columns]
        if missing:
            raise ValueError(f"{name} needs columns {[*KEY, 'role']}; missing {missing}, "
                             f"found {list(table.columns)}")
        bad = sorted(set(table["role"].astype(str)) - set(ROLES))
        if bad:
            raise ValueError(f"{name} roles must be some of {list(ROLES)}; found {bad}")
    t = _plain_keys(truth)[[*KEY, "role"]]
    dup = t.duplicated(KEY)
    if dup.any():
        first = t.loc[dup, KEY].head(3).values.tolist()
        raise ValueError(f"truth has {int(dup.sum())} repeated (group_id, member_id) rows, e.g. {first}")
    a = _plain_keys(assigned)[[*KEY, "role"]]
    both = a.merge(t, on=KEY, how="left", suffixes=("", "_true"))
    has = both["role_true"].notna()
    y_true = both.loc[has, "role_true"].astype(str).to_numpy()
    y_pred = both.loc[has, "role"].astype(str).to_numpy()
    labels = list(ROLES)
    cm = confusion_matrix(y_true, y_pred, labels=labels) if len(y_true) else np.zeros((5, 5), int)
    confusion = pd.DataFrame(cm, index=pd.Index(labels, name="true"),
                             columns=pd.Index(labels, name="assigned"))
    if len(y_true):
        p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
        macro = float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0))
        acc = float(accuracy_score(y_true, y_pred))
    else:
        p = r = f = np.zeros(5)
        s = np.zeros(5, int)
        macro = acc = float("nan")
    per_role = pd.DataFrame({"precision": p, "recall": r, "f1": f, "support": s},
                            index=pd.Index(labels, name="role"))
    return RoleEvaluation(confusion, macro, acc, per_role, int(has.sum()), int((~has).sum()))


# ---------------------------------------------------------------------------- measures
def role_measures(snap: Snapshot, window_days: float, text_len: np.ndarray | None = None) -> pd.DataFrame:
    """The behaviour measures of :data:`MEASURES` for every row of ``snap.population``.

    Parameters
    ----------
    snap : Snapshot
        Events before the cutoff and the population then.
    window_days : float
        How far back to count.
    text_len : ndarray, optional
        ``text_len`` of the history's events in its (time) order; only the prefix
        before the cutoff is read.

    Returns
    -------
    DataFrame
        One row per population row, in population order.
    """
    h, n = snap.history, snap.n
    start = snap.window_start(window_days)
    win = slice(start, snap.n_events)
    talk_types = _talk_types()
    m: dict[str, np.ndarray] = {}
    m["talk"] = snap.count_of(talk_types, window_days)
    m["questions"] = snap.count_of([QUESTION], window_days)
    m["answers"] = snap.count_of([ANSWER], window_days)
    long_posts = snap.count_of([POST], window_days)
    if text_len is not None:
        tl = text_len[:snap.n_events][win]
        long_mask = snap.of_type([MESSAGE, REPLY])[win] & (np.nan_to_num(tl, nan=0.0) >= LONG_TEXT_CHARS)
        pi = snap.ev_pi[win][long_mask]
        long_posts += np.bincount(pi[pi >= 0], minlength=n)
    m["long_posts"] = long_posts
    m["short_talk"] = np.maximum(m["talk"] - m["long_posts"] - m["answers"] - m["questions"], 0.0)
    e, g, a, t = snap.ev_e[win], snap.ev_g[win], snap.ev_m[win], snap.ev_t[win]
    target_row = snap.target_rows(win)
    is_resp, credits_actor = h.responses(e, g, a, t)
    aimed = is_resp & ~credits_actor & (target_row >= 0)
    m["responses_received"] = np.bincount(target_row[aimed], minlength=n).astype(float)
    answered = snap.of_type([ANSWER])[win] & (target_row >= 0)
    m["answers_received"] = np.bincount(target_row[answered], minlength=n).astype(float)
    m["reactions"] = snap.count_of([REACTION], window_days)
    m["checkins"] = snap.count_of([CHECKIN], window_days)
    m["invites"] = snap.count_of([INVITE], window_days)
    m["red_packets_sent"] = snap.count_of([RED_PACKET_SEND], window_days)
    hosted = snap.of_type(ACTIVITY_TYPES)[win] & (target_row >= 0)
    m["signups_received"] = np.bincount(target_row[hosted], minlength=n).astype(float)
    m["signups"] = snap.count_of(ACTIVITY_TYPES, window_days)
    m["organising"] = m["invites"] + m["red_packets_sent"] + m["signups_received"] + m["signups"]

    gi, n_groups = snap.pop_gi, snap.n_groups
    members_in = np.bincount(gi, minlength=n_groups).astype(float)

    def group_sum(x: np.ndarray) -> np.ndarray:
        return np.bincount(gi, weights=x, minlength=n_groups)

    g_talk = group_sum(m["talk"])
    m["group_talk_mean"] = np.divide(g_talk, members_in, out=np.zeros(n_groups), where=members_in > 0)[gi]
    pooled_talk = float(g_talk.sum())

    def group_rate(count: np.ndarray) -> np.ndarray:
        g_count = group_sum(count)
        pooled = float(g_count.sum()) / pooled_talk if pooled_talk > 0 else 0.0
        rate = np.divide(g_count, g_talk, out=np.full(n_groups, pooled), where=g_talk > 0)
        return np.maximum(rate, RATE_FLOOR)[gi]

    def lift(count: np.ndarray, rate: np.ndarray) -> np.ndarray:
        return (count + PRIOR_EVENTS * rate) / ((m["talk"] + PRIOR_EVENTS) * rate)

    content = m["long_posts"] + m["answers"]
    m["group_question_rate"] = group_rate(m["questions"])
    m["thinker_lift"] = lift(content, group_rate(content))
    m["organiser_lift"] = lift(m["organising"], group_rate(m["organising"]))
    m["asker_lift"] = lift(m["questions"], m["group_question_rate"])
    m["response_lift"] = lift(m["responses_received"], group_rate(m["responses_received"]))
    return pd.DataFrame({name: m[name] for name in MEASURES})


def _decide(m: pd.DataFrame) -> np.ndarray:
    """The role of each row of a :func:`role_measures` table (the rules of the module notes)."""
    talk = m["talk"].to_numpy()
    lifts = np.column_stack([
        np.where((m["long_posts"] + m["answers"] >= MIN_SIGNATURE)
                 & (m["response_lift"] >= MIN_RESPONSE_LIFT), m["thinker_lift"], 0.0),
        np.where(m["organising"] >= MIN_ORGANISING, m["organiser_lift"], 0.0),
        np.where(m["questions"] >= MIN_SIGNATURE, m["asker_lift"], 0.0),
    ]) if len(m) else np.zeros((0, 3))
    best = lifts.argmax(axis=1) if len(m) else np.zeros(0, int)
    top = lifts.max(axis=1) if len(m) else np.zeros(0)
    role = np.where(top >= MIN_LIFT, np.array(ROLES[:3])[best], "chatter").astype(object)
    below = talk < LURKER_GROUP_SHARE * m["group_talk_mean"].to_numpy()
    quiet = (talk == 0) | ((talk <= LURKER_MAX_TALK) & below)
    lurker = quiet & (m["organising"].to_numpy() < MIN_ORGANISING)
    role[lurker] = "lurker"
    return role.astype(str)


# ---------------------------------------------------------------------------- reasons
def _en(n: float, singular: str, plural: str | None = None) -> str:
    """``1 reply``, ``2 replies``: a count with the right English noun form."""
    k = int(round(n))
    return f"{k:,} {singular if k == 1 else (plural or singular + 's')}"


def _and(parts: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    parts = list(parts)
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def role_reasons(role: Sequence[str], m: pd.DataFrame, window_days: float) -> tuple[list[str], list[str]]:
    """The reason for each row's role in English and Chinese, with the member's own numbers.

    Parameters
    ----------
    role : sequence of str
        One role per row of ``m``.
    m : DataFrame
        The measures (:func:`role_measures`).
    window_days : float
        The window the counts cover.

    Returns
    -------
    (list of str, list of str)
        ``role_reason_en`` and ``role_reason_zh``.

    Examples
    --------
    >>> m = pd.DataFrame({k: [0.0] for k in MEASURES})
    >>> m[["talk", "questions", "answers_received", "group_question_rate"]] = [[3.0, 2.0, 1.0, 0.05]]
    >>> en, zh = role_reasons(["asker"], m, 28)
    >>> print(en[0])
    asked 2 questions among 3 messages in the last 28 days (67%; the group: 5%), drawing 1 answer
    >>> print(zh[0])
    近28天发言3次，其中提问2次（占67%，群内5%），获得1条解答
    """
    w = f"{float(window_days):g}"
    counts = m[list(_COUNTS)].round().astype(np.int64).to_dict("records")
    extra = m[["group_talk_mean", "group_question_rate"]].to_numpy(dtype=float)
    en: list[str] = []
    zh: list[str] = []
    for r, i, (talk_mean, q_rate) in zip(role, counts, extra, strict=True):
        e, z = _REASONS[r](i, w, talk_mean, q_rate)
        en.append(e)
        zh.append(z)
    return en, zh


def _thinker_reason(i: dict[str, int], w: str, *_: float) -> tuple[str, str]:
    made = [(_en(i["long_posts"], "long post"), f"{i['long_posts']}条长帖", i["long_posts"]),
            (_en(i["answers"], "answer"), f"{i['answers']}条解答", i["answers"])]
    made = [x for x in made if x[2]]
    return (f"{_and([x[0] for x in made])} in the last {w} days, drawing "
            f"{_en(i['responses_received'], 'response')} from others",
            f"近{w}天发了{'和'.join(x[1] for x in made)}，获得他人{i['responses_received']}次回应")


def _organiser_reason(i: dict[str, int], w: str, *_: float) -> tuple[str, str]:
    acts = [("invites", "invited " + _en(i["invites"], "person", "people"), f"邀请{i['invites']}人入群"),
            ("red_packets_sent", "sent " + _en(i["red_packets_sent"], "red packet"),
             f"发了{i['red_packets_sent']}个红包"),
            ("signups_received", "hosted activities that drew " + _en(i["signups_received"], "sign-up"),
             f"发起的活动有{i['signups_received']}人次报名"),
            ("signups", "made " + _en(i["signups"], "activity sign-up"), f"报名参加活动{i['signups']}次")]
    done = [a for a in acts if i[a[0]]]
    return (f"{_and([a[1] for a in done])} in the last {w} days",
            f"近{w}天{'、'.join(a[2] for a in done)}")


def _asker_reason(i: dict[str, int], w: str, _talk_mean: float, q_rate: float) -> tuple[str, str]:
    share = i["questions"] / max(i["talk"], 1)
    got = i["answers_received"]
    return (f"asked {_en(i['questions'], 'question')} among {_en(i['talk'], 'message')} in the last {w} days "
            f"({share:.0%}; the group: {q_rate:.0%})" + (f", drawing {_en(got, 'answer')}" if got else ""),
            f"近{w}天发言{i['talk']}次，其中提问{i['questions']}次（占{share:.0%}，群内{q_rate:.0%}）"
            + (f"，获得{got}条解答" if got else ""))


def _chatter_reason(i: dict[str, int], w: str, *_: float) -> tuple[str, str]:
    content = i["long_posts"] + i["answers"]
    kinds = [(i["short_talk"], f"{i['short_talk']:,} short chat", f"闲聊短消息{i['short_talk']}条"),
             (i["questions"], _en(i["questions"], "question"), f"提问{i['questions']}次"),
             (content, _en(content, "long post or answer", "long posts or answers"),
              f"长帖或解答{content}条")]
    kinds = [k for k in kinds if k[0]]
    said = "no messages" if i["talk"] == 0 else _en(i["talk"], "message")
    en = f"{said} in the last {w} days" + (f" ({', '.join(k[1] for k in kinds)})" if kinds else "")
    zh = f"近{w}天" + ("未发言" if i["talk"] == 0 else f"发言{i['talk']}次") \
        + (f"（{'，'.join(k[2] for k in kinds)}）" if kinds else "")
    extra = [(i["reactions"], _en(i["reactions"], "like"), f"点赞{i['reactions']}次"),
             (i["organising"], _en(i["organising"], "organising act"), f"组织类行为{i['organising']}次")]
    extra = [k for k in extra if k[0]]
    if extra:
        en += ", " + _and([k[1] for k in extra])
        zh += "，" + "，".join(k[2] for k in extra)
    return en, zh


def _lurker_reason(i: dict[str, int], w: str, talk_mean: float, _q_rate: float) -> tuple[str, str]:
    likes = i["reactions"]
    mean = f"{talk_mean:.1f}".removesuffix(".0")
    said = "no messages" if i["talk"] == 0 else _en(i["talk"], "message")
    return (said + (f" and {_en(likes, 'like')}" if likes else "")
            + f" in the last {w} days (the group's average member: {mean})",
            f"近{w}天" + ("未发言" if i["talk"] == 0 else f"仅发言{i['talk']}次")
            + (f"，点赞{likes}次" if likes else "") + f"（群内人均发言{mean}次）")


_REASONS = {"thinker": _thinker_reason, "organiser": _organiser_reason, "asker": _asker_reason,
            "chatter": _chatter_reason, "lurker": _lurker_reason}


# ---------------------------------------------------------------------------- helpers
def _talk_types() -> frozenset[str]:
    """Speaking event types except the check-in ritual (read at call time: registered types count)."""
    return frozenset(schema.SPEAKING_EVENT_TYPES - {CHECKIN})


def _check_cutoff(cutoff: object) -> pd.Timestamp:
    try:
        return to_cutoff(cutoff)
    except (ValueError, TypeError) as err:
        raise ValueError(f"cutoff must be a date or time such as '2024-04-01'; got {cutoff!r}") from err


def _check_window(window_days: object) -> float:
    try:
        w = float(window_days)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        w = float("nan")
    if not np.isfinite(w) or w <= 0:
        raise ValueError(f"window_days must be a positive number of days; got {window_days!r}")
    return w


def _check_kol(kol: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    if not isinstance(kol, pd.DataFrame):
        raise ValueError(f"kol must be a DataFrame with columns {list(KOL_COLUMNS)}; "
                         f"got {type(kol).__name__}")
    missing = [c for c in KOL_COLUMNS if c not in kol.columns]
    if missing:
        raise ValueError(f"kol table needs columns {list(KOL_COLUMNS)}; missing {missing}, "
                         f"found {list(kol.columns)}")
    table = kol
    if "cutoff" in kol.columns:
        at = pd.to_datetime(kol["cutoff"], utc=True) == cutoff
        if not at.any():
            found = sorted({str(c) for c in pd.to_datetime(kol["cutoff"], utc=True).unique()})[:5]
            raise ValueError(f"kol table has no rows at cutoff {cutoff}; cutoffs found: {found}")
        table = kol.loc[at]
    table = _plain_keys(table)[list(KOL_COLUMNS)]
    rank = pd.to_numeric(table["kol_rank_in_group"], errors="coerce")
    bad = rank.isna() & table["kol_rank_in_group"].notna()
    if bad.any():
        shown = table.loc[bad, "kol_rank_in_group"].head(3).tolist()
        raise ValueError(f"kol_rank_in_group must be numbers; found {shown}")
    dup = table.duplicated(KEY)
    if dup.any():
        raise ValueError(f"kol table repeats {int(dup.sum())} (group_id, member_id) rows, e.g. "
                         f"{table.loc[dup, KEY].head(3).values.tolist()}")
    return table.assign(kol_rank_in_group=rank).dropna(subset=["kol_rank_in_group"])


def _head_wolf(out: pd.DataFrame, kol: pd.DataFrame | None) -> np.ndarray:
    """True for the present member with the best (lowest) KOL rank in each group; ties, which
    :func:`~shequn_ml.ranking.rank_within` never makes, go to the first member id."""
    flag = np.zeros(len(out), bool)
    if kol is None or kol.empty or out.empty:
        return flag
    rank = out[KEY].merge(kol, on=KEY, how="left")["kol_rank_in_group"].to_numpy(dtype=float)
    group, member = out["group_id"].to_numpy(), out["member_id"].to_numpy()
    order = np.lexsort([member, np.nan_to_num(rank, nan=np.inf), group])
    g = group[order]
    first = np.r_[True, g[1:] != g[:-1]] if len(g) else np.zeros(0, bool)
    flag[order[first & np.isfinite(rank[order])]] = True
    return flag


def _sorted_text_len(events: pd.DataFrame, history: EventHistory) -> np.ndarray | None:
    """``text_len`` in the history's event order (the same stable sort by time), or None."""
    if len(events) != len(history.ts):
        raise ValueError(f"history was built from {len(history.ts):,} events but events has "
                         f"{len(events):,} rows; pass history=EventHistory(events, members=members, "
                         "groups=groups)")
    if "text_len" not in events.columns:
        return None
    tl = pd.to_numeric(events["text_len"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    if not np.isfinite(tl).any():
        return None
    col = events["ts"]
    ts = col.dt.tz_convert(None).to_numpy().view(np.int64) if isinstance(col.dtype, pd.DatetimeTZDtype) \
        else col.to_numpy(dtype="datetime64[ns]").view(np.int64)
    if len(ts) >= 2 and not bool((ts[1:] >= ts[:-1]).all()):
        order = np.argsort(ts, kind="stable")
        ts, tl = ts[order], tl[order]
    if not np.array_equal(ts, history.ts):
        raise ValueError("history was built from other events (their times differ); "
                         "pass history=EventHistory(events, members=members, groups=groups)")
    return tl


def _snapshot(events: pd.DataFrame, cutoff: object, members: pd.DataFrame | None,
              groups: pd.DataFrame | None, history: EventHistory | None) -> Snapshot:
    c = _check_cutoff(cutoff)
    if history is None:
        history = EventHistory(events, members=members, groups=groups)
    return history.at(c)


def _keys(snap: Snapshot) -> pd.DataFrame:
    pop = snap.population
    return pd.DataFrame({"group_id": pop["group_id"].astype(str).to_numpy(dtype=object),
                         "member_id": pop["member_id"].astype(str).to_numpy(dtype=object)})


def _plain_keys(table: pd.DataFrame) -> pd.DataFrame:
    out = table.copy()
    for c in KEY:
        out[c] = out[c].astype(str).to_numpy(dtype=object)
    return out


def _sorted(out: pd.DataFrame) -> pd.DataFrame:
    return out.sort_values(KEY, kind="stable").reset_index(drop=True)
