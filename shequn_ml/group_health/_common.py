"""What every part of group health shares: the history, the groups table per group code,
and which groups exist at a cutoff."""

from __future__ import annotations

import numpy as np
import pandas as pd

from shequn_ml import schema
from shequn_ml.features import group_context
from shequn_ml.features.snapshots import DAY_NS, EventHistory, Snapshot, distinct_sorted

#: "no such time" in int64 nanoseconds
NONE = np.iinfo(np.int64).max
#: speaking events that answer someone: a reply or an answer (a response in schema.RESPONSES
#: that is also speaking)
REPLY_TYPES = frozenset(schema.response_types()) & schema.SPEAKING_EVENT_TYPES
#: entering a group: the membership events that are not exits
JOIN_TYPES = schema.event_types_where(category="membership") - schema.EXIT_EVENT_TYPES


def as_history(events: pd.DataFrame | EventHistory, members: pd.DataFrame | None,
               groups: pd.DataFrame | None) -> EventHistory:
    """``events`` if it is an :class:`EventHistory` already, else one built on the tables."""
    if isinstance(events, EventHistory):
        return events
    if not isinstance(events, pd.DataFrame):
        raise TypeError("events must be a normalised events DataFrame (shequn_ml.io.read_events) "
                        f"or an EventHistory; got {type(events).__name__}")
    return EventHistory(events, members=members, groups=groups)


def check_horizon(horizon_days: float) -> float:
    if not (isinstance(horizon_days, int | float) and np.isfinite(horizon_days) and horizon_days > 0):
        raise ValueError(f"horizon_days must be a positive number of days, got {horizon_days!r}")
    return float(horizon_days)


class GroupTable:
    """The groups table's columns per group code of a history (NaN / NONE where unknown)."""

    def __init__(self, history: EventHistory) -> None:
        names = history.group_categories.astype(str)
        n = len(names)
        self.names = np.asarray(names, dtype=object)
        self.created_ns = np.full(n, NONE, np.int64)
        self.capacity = np.full(n, float(group_context.DEFAULT_CAPACITY))
        self.is_paid = np.full(n, np.nan)
        # the first event of each group (events are time-sorted: the first occurrence)
        self.first_ns = np.full(n, NONE, np.int64)
        if len(history.g):
            codes, first = np.unique(history.g, return_index=True)
            self.first_ns[codes] = history.ts[first]
        table = history.groups
        if table is None:
            return
        ids = table["group_id"].astype(str).to_numpy()
        rows = pd.Index(ids).get_indexer(names)
        has = rows >= 0
        if "created_at" in table.columns:
            created = table["created_at"]
            ns = np.where(created.isna().to_numpy(), NONE,
                          created.dt.tz_convert(None).to_numpy().view(np.int64))
            self.created_ns[has] = ns[rows[has]]
        if "capacity" in table.columns:
            cap = table["capacity"].to_numpy(dtype=float, na_value=np.nan)[rows[has]]
            self.capacity[has] = np.where(cap > 0, cap, self.capacity[has])  # NaN: the default
        if "kind" in table.columns:
            kind = table["kind"].astype("string").str.strip().str.lower().to_numpy(
                dtype=object, na_value=None)[rows[has]]
            self.is_paid[has] = [np.nan if k is None else float(k == "paid") for k in kind]


def existing(table: GroupTable, snap: Snapshot, present: np.ndarray) -> np.ndarray:
    """Whether each group code exists at the snapshot's cutoff: created before it (groups
    table), or with an event before it, or with a member present then."""
    t = snap.cutoff_ns
    return (table.first_ns < t) | (table.created_ns < t) | (present > 0)


def age_days(table: GroupTable, snap: Snapshot) -> np.ndarray:
    """Days since each group started, as :mod:`shequn_ml.features.group_context` defines it:
    the earliest of ``created_at``, its first event and its earliest present member's entry
    (NaN for a group that has none of them before the cutoff)."""
    t = snap.cutoff_ns
    start = np.where(table.first_ns < t, table.first_ns, NONE)
    g = snap.population["g"].to_numpy()
    entry = snap.population["entry_ns"].to_numpy(np.int64)
    np.minimum.at(start, g, entry)
    start = np.minimum(start, np.where(table.created_ns < NONE, table.created_ns, NONE))
    with np.errstate(invalid="ignore"):
        return np.where(start == NONE, np.nan, (t - start.astype(np.float64)) / DAY_NS)


def distinct_per_group(g: np.ndarray, m: np.ndarray, n_members: int, n_groups: int) -> np.ndarray:
    """How many distinct members appear per group code among the events (g, m)."""
    keys = distinct_sorted(g.astype(np.int64) * n_members + m)
    return np.bincount((keys // n_members).astype(np.int64), minlength=n_groups).astype(float)
