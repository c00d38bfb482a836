"""The event contract: the one place that says what shequn_ml reads.

Every table the library accepts is described here, column by column, and every
event type has one line of meaning. The readers in :mod:`shequn_ml.io` and the
checks in :mod:`shequn_ml.validation` read these definitions; nothing else in the
library hard-codes a column name or an event type list.

Tables
------
events (required)
    One row per event. ``ts``, ``group_id``, ``member_id`` and ``event_type`` are
    required; ``event_id``, ``target_member_id``, ``ref_event_id``, ``amount`` and
    ``text_len`` are optional.
members (optional)
    One row per (member_id, group_id): join date, paid status, expiry, level, who
    invited them, and an operator's ``kol_tag``.
groups (optional)
    One row per group: creation date, kind, capacity (500 for WeChat, 2,000 for QQ)
    and owner.

Normalised types
----------------
``timestamp`` columns become ``datetime64[ns, UTC]`` (from ISO-8601 strings, with
or without an offset, or from epoch seconds / milliseconds / microseconds /
nanoseconds, told apart by magnitude); ``id`` columns become pandas categoricals of
strings (integer codes, which keeps millions of rows small); ``event_type`` becomes a
categorical over the known vocabulary.

Examples
--------
>>> from shequn_ml import schema
>>> schema.EVENT_TYPES["reply"].speaking
True
>>> sorted(schema.SPEAKING_EVENT_TYPES)[:3]
['answer', 'checkin', 'message']
>>> [c.name for c in schema.EVENTS.required_columns]
['ts', 'group_id', 'member_id', 'event_type']
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

ColumnKind = Literal["timestamp", "id", "event_type", "float", "int", "bool", "str"]


@dataclass(frozen=True)
class Column:
    """One column of a table in the contract.

    Parameters
    ----------
    name : str
        Column name as it appears in the file.
    kind : {"timestamp", "id", "event_type", "float", "int", "bool", "str"}
        Logical type; decides how the reader normalises it.
    required : bool
        Whether a file without this column is refused.
    meaning : str
        One sentence for the docs and for error messages.
    nullable : bool
        Whether missing values are allowed in the column when it is present.
    """

    name: str
    kind: ColumnKind
    required: bool
    meaning: str
    nullable: bool = True


@dataclass(frozen=True)
class Table:
    """A table of the contract: its columns and its key."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    meaning: str

    @property
    def required_columns(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.required)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"table {self.name!r} has no column {name!r}")

    def columns_of_kind(self, kind: ColumnKind) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.kind == kind)


@dataclass(frozen=True)
class EventType:
    """One entry of the event-type vocabulary.

    Parameters
    ----------
    name : str
        The value of ``event_type`` in the events table.
    meaning : str
        One line saying what happened.
    category : str
        Coarse family: ``membership``, ``speaking``, ``interaction``,
        ``benefit`` or ``activity``.
    speaking : bool
        Counts as the member speaking. Silence (沉默) means no speaking event.
    needs_target : bool
        Aimed at another member; a row without ``target_member_id`` is
        counted and warned about.
    """

    name: str
    meaning: str
    category: str
    speaking: bool = False
    needs_target: bool = False


_VOCABULARY: tuple[EventType, ...] = (
    EventType("join", "the member joined the group (入群).", "membership"),
    EventType("leave", "the member left the group of their own accord (退群).", "membership"),
    EventType("removed", "an operator removed the member from the group (被移出).", "membership"),
    EventType("message", "the member sent an ordinary chat message.", "speaking", speaking=True),
    EventType(
        "reply",
        "the member replied to another member's message (target_member_id is the author).",
        "speaking",
        speaking=True,
        needs_target=True,
    ),
    EventType(
        "mention",
        "the member @-mentioned another member (target_member_id is the one mentioned).",
        "interaction",
        needs_target=True,
    ),
    EventType(
        "reaction",
        "the member reacted to (liked, 点赞) another member's message.",
        "interaction",
    ),
    EventType(
        "post", "the member shared long content, an article or a link (分享).", "speaking",
        speaking=True,
    ),
    EventType("question", "the member asked the group a question (求教).", "speaking", speaking=True),
    EventType("answer", "the member answered a question.", "speaking", speaking=True),
    EventType("checkin", "the member took part in the check-in ritual (打卡, 签到).", "speaking",
              speaking=True),
    EventType(
        "invite",
        "the member invited someone into the group (拉新; target_member_id is the invitee).",
        "interaction",
        needs_target=True,
    ),
    EventType("red_packet_send", "the member sent a red packet (发红包); amount is the sum.",
              "benefit"),
    EventType("red_packet_claim", "the member claimed a share of a red packet (抢红包).", "benefit"),
    EventType("coupon_claim", "the member claimed a coupon (领券).", "benefit"),
    EventType("coupon_redeem", "the member used a coupon in a purchase (用券).", "benefit"),
    EventType("purchase", "the member bought something; amount is what they paid.", "benefit"),
    EventType("renew", "the member renewed a paid membership (续费); amount is the fee.", "benefit"),
    EventType("event_signup", "the member signed up for an activity or a sign-up chain (接龙).",
              "activity"),
    EventType("offline_attend", "the member attended an offline event (线下活动).", "activity"),
)

#: The event-type vocabulary, by name. Extend it with :func:`register_event_type`.
EVENT_TYPES: dict[str, EventType] = {e.name: e for e in _VOCABULARY}


def register_event_type(
    name: str,
    meaning: str,
    category: str = "activity",
    *,
    speaking: bool = False,
    needs_target: bool = False,
) -> EventType:
    """Add an event type to the vocabulary, for communities with events of their own.

    Parameters
    ----------
    name : str
        Lower-case name as it appears in ``event_type``.
    meaning : str
        One line saying what happened.
    category : str, default "activity"
        Coarse family, see :class:`EventType`.
    speaking : bool, default False
        Whether it counts as speaking for the silence label.
    needs_target : bool, default False
        Whether rows should carry ``target_member_id``.

    Returns
    -------
    EventType
        The registered entry.

    Raises
    ------
    ValueError
        If the name is not lower-case snake case or clashes with a different
        definition already registered.
    """
    if not name or name != name.strip().lower() or not name.replace("_", "").isalnum():
        raise ValueError(
            f"event type names are lower-case snake_case words; got {name!r}"
        )
    new = EventType(name, meaning, category, speaking=speaking, needs_target=needs_target)
    old = EVENT_TYPES.get(name)
    if old is not None and old != new:
        raise ValueError(f"event type {name!r} is already registered as {old}")
    EVENT_TYPES[name] = new
    _refresh_derived_sets()
    return new


def _refresh_derived_sets() -> None:
    """Re-derive the module's event-type sets after the vocabulary changed.

    Read them as ``schema.SPEAKING_EVENT_TYPES`` (attribute access), not through
    ``from schema import ...``, to see registered types.
    """
    global SPEAKING_EVENT_TYPES, TARGETED_EVENT_TYPES
    SPEAKING_EVENT_TYPES = event_types_where(speaking=True)
    TARGETED_EVENT_TYPES = event_types_where(needs_target=True)


def event_types_where(**flags: bool) -> frozenset[str]:
    """Names of the event types whose attributes equal ``flags``.

    >>> "message" in event_types_where(speaking=True)
    True
    """
    return frozenset(
        e.name for e in EVENT_TYPES.values() if all(getattr(e, k) == v for k, v in flags.items())
    )


#: Event types that count as the member speaking (used by the silence label).
SPEAKING_EVENT_TYPES: frozenset[str] = event_types_where(speaking=True)
#: Event types that should carry ``target_member_id``.
TARGETED_EVENT_TYPES: frozenset[str] = event_types_where(needs_target=True)
#: Event types that end a membership.
EXIT_EVENT_TYPES: frozenset[str] = frozenset({"leave", "removed"})

#: What counts as responding to a member, and who is credited, by community kind. Every
#: relationship and influence signal (partners, PageRank, HITS, the influence label) reads
#: this one table. ``"target"``: the member replied to, mentioned or reacted to is credited
#: (their message drew the response). ``"actor"``: in a Q&A community an ``answer``
#: responds to the asker's question and the credit goes to the answerer, who helped.
#: A group's kind is its ``kind`` in the groups table (``qa``, or anything else: a chat).
RESPONSES: dict[str, dict[str, str]] = {
    "chat": {"reply": "target", "mention": "target", "reaction": "target"},
    "qa": {"reply": "target", "mention": "target", "reaction": "target", "answer": "actor"},
}
#: Group kinds whose responses follow the ``qa`` rules.
QA_KINDS: frozenset[str] = frozenset({"qa"})


def response_types(credit: str | None = None) -> tuple[str, ...]:
    """Event types that are a response in some community kind (credited to ``credit`` if given).

    >>> response_types("actor")
    ('answer',)
    """
    names = {t for rules in RESPONSES.values() for t, c in rules.items() if credit in (None, c)}
    return tuple(sorted(names))

EVENTS = Table(
    name="events",
    meaning="one row per event in a group",
    key=("event_id",),
    columns=(
        Column("ts", "timestamp", True, "when the event happened; ISO-8601 or epoch, stored UTC.",
               nullable=False),
        Column("group_id", "id", True, "the group (群) the event happened in.", nullable=False),
        Column("member_id", "id", True, "the member who acted.", nullable=False),
        Column("event_type", "event_type", True, "what happened; one of the vocabulary.",
               nullable=False),
        Column("event_id", "str", False, "unique id of the event; duplicates are dropped."),
        Column("target_member_id", "id", False,
               "whom a reply, mention, invite or red packet is aimed at."),
        Column("ref_event_id", "str", False, "the event this one refers to (the message replied to)."),
        Column("amount", "float", False, "money involved (red packet, purchase, renewal); >= 0."),
        Column("text_len", "int", False, "length of the message text; the text itself is never read."),
    ),
)

MEMBERS = Table(
    name="members",
    meaning="one row per member of a group",
    key=("member_id", "group_id"),
    columns=(
        Column("member_id", "id", True, "the member.", nullable=False),
        Column("group_id", "id", True, "the group.", nullable=False),
        Column("joined_at", "timestamp", False, "when the member joined the group."),
        Column("paid", "bool", False, "whether the member paid to enter (付费社群)."),
        Column("expires_at", "timestamp", False,
               "when a paid membership runs out unless renewed, as of the export; never a "
               "feature for past cutoffs (it already contains later renewals)."),
        Column("level", "int", False, "the member's level in the group's points system (等级)."),
        Column("invited_by", "id", False, "the member who invited them (拉新)."),
        Column("kol_tag", "bool", False, "an operator's mark that the member is a 头狼 / KOL."),
    ),
)

GROUPS = Table(
    name="groups",
    meaning="one row per group",
    key=("group_id",),
    columns=(
        Column("group_id", "id", True, "the group.", nullable=False),
        Column("created_at", "timestamp", False, "when the group was created."),
        Column("kind", "str", False,
               "free (流量型 traffic) or paid (付费 knowledge) group, qa (a Q&A community: an "
               "answer credits the answerer), or other."),
        Column("capacity", "int", False, "the platform's member cap: 500 WeChat, 2,000 QQ."),
        Column("term_days", "int", False,
               "length of one paid membership term in days (付费会员有效期); a paid member's "
               "expiry at any cutoff is their latest join or renew event plus this."),
        Column("owner_id", "id", False, "the member who runs the group (群主)."),
    ),
)

TABLES: dict[str, Table] = {t.name: t for t in (EVENTS, MEMBERS, GROUPS)}

#: Platform member caps, for group-size features and the simulator.
PLATFORM_CAPACITY: dict[str, int] = {"wechat": 500, "qq": 2000}


def unknown_columns(table: Table, columns: Iterable[str]) -> list[str]:
    """Columns present in a file that the contract does not define (kept, not refused)."""
    known = set(table.column_names)
    return [c for c in columns if c not in known]


@dataclass(frozen=True)
class ContractDoc:
    """Markdown rendering of the contract, for ``docs/`` and ``--help``."""

    tables: tuple[Table, ...] = field(default=(EVENTS, MEMBERS, GROUPS))

    def markdown(self) -> str:
        lines: list[str] = []
        for t in self.tables:
            lines += [f"### {t.name}", "", f"{t.meaning.capitalize()}; key {', '.join(t.key)}.", ""]
            lines += ["| column | type | required | meaning |", "|---|---|---|---|"]
            for c in t.columns:
                lines.append(f"| `{c.name}` | {c.kind} | {'yes' if c.required else 'no'} | {c.meaning} |")
            lines.append("")
        lines += ["### event types", "", "| event_type | family | speaking | target | meaning |",
                  "|---|---|---|---|---|"]
        for e in EVENT_TYPES.values():
            lines.append(
                f"| `{e.name}` | {e.category} | {'yes' if e.speaking else ''} | "
                f"{'yes' if e.needs_target else ''} | {e.meaning} |"
            )
        return "\n".join(lines) + "\n"


if __name__ == "__main__":  # python -m shequn_ml.schema > docs/event-contract.md
    print("# The event contract\n")
    print("Generated from `shequn_ml/schema.py` by `python -m shequn_ml.schema`; "
          "a test keeps the two equal.\n")
    print(ContractDoc().markdown(), end="")
