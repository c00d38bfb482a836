"""Cutoffs and snapshots: who is in each group at a cutoff, and what came before it.

The rule that makes every number in this library honest: **features at cutoff t
read only events with ts < t**. :class:`EventHistory` sorts the events once;
:meth:`EventHistory.at` cuts the prefix before a cutoff and returns a
:class:`Snapshot` holding only that prefix and the population present at t.
Feature families receive nothing else, so none of them can peek past the cutoff.

Population
----------
A member is *present* in a group at t when they entered before t and did not
leave before t:

* they enter at their ``join`` event, or, with no join event, at their first
  event of any kind, or at ``joined_at`` in the members table (a member who
  joined and never did anything is present, if the members table says so);
* a ``leave`` or ``removed`` event ends the membership; any later event (a
  re-join, or activity without an explicit join) starts it again. When an exit and
  another event share a timestamp, the exit counts as the later one;
* tenure counts from the latest entry.

Examples
--------
>>> import pandas as pd
>>> from shequn_ml.io import read_events
>>> ev = read_events(pd.DataFrame({
...     "ts": ["2024-01-01", "2024-01-02", "2024-01-05", "2024-01-03"],
...     "group_id": "g", "member_id": ["a", "a", "a", "b"],
...     "event_type": ["join", "message", "leave", "message"]}))
>>> snap = EventHistory(ev).at("2024-01-04")
>>> snap.population[["group_id", "member_id"]].astype(str).values.tolist()
[['g', 'a'], ['g', 'b']]
>>> EventHistory(ev).at("2024-01-06").population["member_id"].astype(str).tolist()
['b']
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from shequn_ml import schema
from shequn_ml.features.spec import FeatureSpec

DAY_NS = 86_400 * 10**9


def to_cutoff(value: object) -> pd.Timestamp:
    """A cutoff as a UTC timestamp; naive values are taken as UTC.

    >>> to_cutoff("2024-03-01")
    Timestamp('2024-03-01 00:00:00+0000', tz='UTC')
    """
    ts = pd.Timestamp(value)
    if ts is pd.NaT:
        raise ValueError(f"a cutoff must be a date or time, got {value!r}")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def rolling_cutoffs(start: object, end: object, every_days: int = 7) -> list[pd.Timestamp]:
    """Cutoffs from ``start`` to ``end`` inclusive, every ``every_days`` days.

    >>> [c.strftime("%m-%d") for c in rolling_cutoffs("2024-01-01", "2024-01-15", 7)]
    ['01-01', '01-08', '01-15']
    """
    if every_days <= 0:
        raise ValueError(f"every_days must be a positive number of days, got {every_days}")
    first, last = to_cutoff(start), to_cutoff(end)
    if last < first:
        raise ValueError(f"end {last} is before start {first}")
    return list(pd.date_range(first, last, freq=f"{every_days}D"))


class EventHistory:
    """Events prepared once for many cutoffs: sorted by time, ids as integer codes.

    Parameters
    ----------
    events : DataFrame
        Normalised events from :func:`shequn_ml.io.read_events`.
    members : DataFrame, optional
        Normalised members table; its ``joined_at`` adds members who never acted,
        and ``paid``/``expires_at`` feed the benefit family.
    groups : DataFrame, optional
        Normalised groups table (capacity, creation date, kind).

    Notes
    -----
    Group and member ids keep the categories of the input frames, so the codes
    stored here map back with ``group_categories`` and ``member_categories``.

    Work shared by all cutoffs is done once, on first use, and kept: the
    (group, member) keys with their entry and exit history (:attr:`memberships`).
    A snapshot then costs a few passes over the events before its cutoff, and
    windows are slices of them (events are sorted by time).
    """

    def __init__(self, events: pd.DataFrame, members: pd.DataFrame | None = None,
                 groups: pd.DataFrame | None = None) -> None:
        ts = events["ts"].to_numpy(dtype="datetime64[ns]").view(np.int64) \
            if not isinstance(events["ts"].dtype, pd.DatetimeTZDtype) \
            else events["ts"].dt.tz_convert(None).to_numpy().view(np.int64)
        if len(ts) < 2 or bool((ts[1:] >= ts[:-1]).all()):
            order = None  # already in time order: a stable sort would move nothing, so no copies
        else:
            order = np.argsort(ts, kind="stable")

        def arrange(values: np.ndarray) -> np.ndarray:
            return values if order is None else values[order]

        self.ts = arrange(ts)
        member_cats = _union_categories(events, members)
        self.group_categories = pd.Index(events["group_id"].cat.categories)
        self.member_categories = member_cats
        self.g = arrange(events["group_id"].cat.codes.to_numpy()).astype(np.int32)
        self.m = arrange(_recode(events["member_id"], member_cats))
        self.t = (arrange(_recode(events["target_member_id"], member_cats))
                  if "target_member_id" in events.columns else np.full(len(ts), -1, np.int32))
        # a reply to or a mention of oneself is no relationship and no influence: the event
        # still counts as speaking, but its target is dropped (the readers warn about them)
        self.t = np.where(self.t == self.m, np.int32(-1), self.t).astype(self.t.dtype, copy=False)
        self.e = arrange(events["event_type"].cat.codes.to_numpy()).astype(np.int16)
        self.event_type_names = list(events["event_type"].cat.categories)
        amount = events["amount"].to_numpy(dtype=float, na_value=np.nan) \
            if "amount" in events.columns else np.full(len(ts), np.nan)
        self.amount = arrange(amount)
        self.n_members = len(member_cats)
        self.members = members
        self.groups = groups
        self._memberships: _Memberships | None = None
        self._qa_group: np.ndarray | None = None
        #: populations found ahead by population_codes, by (events before, cutoff ns), until used
        self._populations: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._id_dtypes: tuple[pd.CategoricalDtype, pd.CategoricalDtype] | None = None

    @property
    def memberships(self) -> _Memberships:
        """The (group, member) keys and per-key entry/exit history, prepared on first use."""
        if self._memberships is None:
            self._memberships = _Memberships(self)
        return self._memberships

    def codes_of(self, names: Iterable[str]) -> np.ndarray:
        """Event-type codes of the given names (names absent from the data are skipped)."""
        wanted = set(names)
        return np.array([i for i, n in enumerate(self.event_type_names) if n in wanted],
                        dtype=np.int16)

    @property
    def qa_group(self) -> np.ndarray:
        """Whether each group code is a Q&A community (``kind`` in :data:`schema.QA_KINDS`)."""
        if getattr(self, "_qa_group", None) is None:
            out = np.zeros(max(len(self.group_categories), 1), bool)
            gt = self.groups
            if gt is not None and "kind" in gt.columns:
                kinds = pd.Series(gt["kind"].astype("string").str.strip().str.lower().to_numpy(),
                                  index=gt["group_id"].astype(str).to_numpy())
                qa = kinds.reindex(self.group_categories.astype(str)).isin(list(schema.QA_KINDS))
                out[:len(qa)] = qa.to_numpy(dtype=bool)
            self._qa_group = out
        return self._qa_group

    def responses(self, e: np.ndarray, g: np.ndarray, m: np.ndarray, t: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
        """Which events are responses, and whether each credits its actor (:data:`schema.RESPONSES`).

        ``e``, ``g``, ``m``, ``t`` are events' type, group, actor and target codes.
        Returns ``(is_response, credits_actor)``: a response has a target other than
        its actor; where ``credits_actor`` the actor is the one responded to (an
        answer in a Q&A group) and the target the responder, else the reverse.
        """
        ok = (t >= 0) & (t != m)
        if not self.qa_group.any():  # chat groups only (the usual case): one lookup
            is_resp = ok & self.type_lookup(schema.RESPONSES["chat"])[e]
            return is_resp, np.zeros(len(e), bool)
        qa = self.qa_group[np.maximum(g, 0)] & (g >= 0)
        chat_types = self.type_lookup(schema.RESPONSES["chat"])[e]
        qa_rules = schema.RESPONSES["qa"]
        qa_types = self.type_lookup(qa_rules)[e]
        actor_credit = self.type_lookup([k for k, v in qa_rules.items() if v == "actor"])[e]
        is_resp = ok & np.where(qa, qa_types, chat_types)
        return is_resp, is_resp & qa & actor_credit

    def type_lookup(self, names: Iterable[str]) -> np.ndarray:
        """Boolean table over event-type codes: ``lookup[codes]`` marks the named types.

        Indexing a small table is several times faster than ``np.isin`` on millions
        of codes.
        """
        lut = np.zeros(max(len(self.event_type_names), 1), bool)
        lut[self.codes_of(names)] = True
        return lut

    @property
    def id_dtypes(self) -> tuple[pd.CategoricalDtype, pd.CategoricalDtype]:
        """The categorical dtypes of group and member ids (made once)."""
        if self._id_dtypes is None:
            self._id_dtypes = (pd.CategoricalDtype(self.group_categories),
                               pd.CategoricalDtype(self.member_categories))
        return self._id_dtypes

    def at(self, cutoff: object, spec: FeatureSpec | None = None) -> Snapshot:
        """The snapshot at ``cutoff``: events with ts < cutoff and the population then."""
        c = to_cutoff(cutoff)
        c_ns = int(c.value)
        n = int(np.searchsorted(self.ts, c_ns, side="left"))
        # kept, not popped: a job that takes several snapshots at one cutoff (features, last
        # period's influence, HITS, the silence population) finds it after the per-pair
        # index that found it was freed, which would otherwise be rebuilt (~10 s at 32M events)
        return Snapshot(self, c, c_ns, n, spec or FeatureSpec(), self._populations.get((n, c_ns)))

    def population_codes(self, cutoff: object) -> tuple[np.ndarray, np.ndarray]:
        """Group and member codes of the population at ``cutoff`` (in population order), without
        building the snapshot; :meth:`at` reuses the work."""
        c_ns = int(to_cutoff(cutoff).value)
        n = int(np.searchsorted(self.ts, c_ns, side="left"))
        found = self._populations[(n, c_ns)] = self.memberships.population(self, n, c_ns)
        keys = self.memberships.keys[found[0]]
        return (keys // self.n_members).astype(np.int32), (keys % self.n_members).astype(np.int32)


def _union_categories(events: pd.DataFrame, members: pd.DataFrame | None) -> pd.Index:
    cats = [events["member_id"].cat.categories]
    if "target_member_id" in events.columns:
        cats.append(events["target_member_id"].cat.categories)
    if members is not None:
        cats.append(members["member_id"].cat.categories)
    out = cats[0]
    for c in cats[1:]:
        if not c.equals(out):
            out = out.union(c)
    return pd.Index(out)


def _recode(col: pd.Series, categories: pd.Index) -> np.ndarray:
    codes = col.cat.codes.to_numpy()
    if col.cat.categories.equals(categories):
        return codes.astype(np.int32)
    lookup = np.append(categories.get_indexer(col.cat.categories), -1).astype(np.int32)
    return lookup[codes]


def text_lookup(column: pd.Series, categories: pd.Index) -> np.ndarray:
    """``categories.get_indexer(column.astype(str))`` for each row, looking up each of the
    column's categories once."""
    if not isinstance(column.dtype, pd.CategoricalDtype):
        return categories.get_indexer(column.astype(str).to_numpy())
    per_category = categories.get_indexer(column.cat.categories.astype(str).to_numpy())
    codes = column.cat.codes.to_numpy()
    return np.where(codes >= 0, per_category[codes], -1)  # ids are never missing (the contract)


class _Memberships:
    """Every (group, member) key of an :class:`EventHistory`, with what the population needs.

    Built once per history so that each cutoff finds its population with a few
    gathers instead of a group-by over all events before it. Keys are
    ``g * n_members + m``, sorted (so in (group, member) order), and numbered
    densely: ``kid`` is each event's key number, ``tkid`` its target's in the same
    group (-1 when there is no target or the pair never occurs). Events are also
    ordered by key, then time (a stable sort of the time-sorted events); for each
    position ``p`` of that order, the arrays ``last_exit``/``last_stay``/``back`` hold
    what a group-by of the key's events up to ``p`` would give: the latest exit and
    the latest other event, and the first event strictly after that exit
    (:data:`NONE` where there is none). At a cutoff, a key's events before it are
    the first ``count`` of its block, so reading position ``start + count - 1``
    gives the same values as grouping the events before the cutoff.
    """

    #: "no such event" in the int64 nanosecond arrays
    NONE = np.iinfo(np.int64).min

    def __init__(self, h: EventHistory) -> None:
        nm = h.n_members
        ev_key = h.g.astype(np.int64) * nm + h.m
        order = np.argsort(ev_key, kind="stable")  # by key, then time (events are time-sorted)
        sorted_key = ev_key[order]
        starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]]) if len(order) \
            else np.zeros(0, np.int64)
        ev_keys = sorted_key[starts]
        m_keys, self.m_joined, paid_keys = self._members_keys(h)
        keys = np.union1d(ev_keys, np.concatenate([m_keys, paid_keys])) if len(m_keys) + len(paid_keys) \
            else ev_keys
        self.keys = keys
        self.n = len(keys)
        block_kid = np.searchsorted(keys, ev_keys)
        counts = np.diff(np.r_[starts, len(order)])
        kid_sorted = np.repeat(block_kid, counts)
        self.kid = np.empty(len(order), np.int32 if self.n < 2**31 else np.int64)
        self.kid[order] = kid_sorted
        self.start = np.zeros(self.n, np.int64)
        self.start[block_kid] = starts
        self.m_kid = np.searchsorted(keys, m_keys)
        self.paid = np.zeros(self.n, bool)
        self.paid[np.searchsorted(keys, paid_keys)] = True
        # targets: the (group, target) key number, -1 when absent
        has_t = np.flatnonzero(h.t >= 0)
        self.tkid = np.full(len(h.t), -1, self.kid.dtype)
        if self.n:  # a hash lookup: several times faster than a binary search over the keys here
            self.tkid[has_t] = pd.Index(keys).get_indexer(h.g[has_t].astype(np.int64) * nm + h.t[has_t])
        del ev_key, has_t, kid_sorted, sorted_key
        self.last_exit: np.ndarray | None = None
        self._entry_exit(h, order)

    def _entry_exit(self, h: EventHistory, order: np.ndarray) -> None:
        """Per position of the key order (``order``): the latest exit, the latest other event
        and the first event after that exit, of the position's key up to it."""
        kid_sorted = self.kid[order]
        ts = h.ts[order]
        is_exit = h.type_lookup(schema.EXIT_EVENT_TYPES)[h.e[order]]
        del order
        block_start = self.start[kid_sorted]
        has_events = np.bincount(kid_sorted, minlength=self.n) > 0
        self.first_of_kid = np.where(has_events, ts[np.minimum(self.start, max(len(ts) - 1, 0))], self.NONE) \
            if len(ts) else np.full(self.n, self.NONE)
        positions = np.arange(len(ts))
        last_exit_pos = np.maximum.accumulate(np.where(is_exit, positions, -1)) if len(ts) \
            else positions
        has_exit = last_exit_pos >= block_start
        self.last_exit = np.where(has_exit, ts[np.maximum(last_exit_pos, 0)], self.NONE)
        last_stay_pos = np.maximum.accumulate(np.where(is_exit, -1, positions)) if len(ts) else positions
        self.last_stay = np.where(last_stay_pos >= block_start, ts[np.maximum(last_stay_pos, 0)], self.NONE)
        del last_stay_pos, is_exit, block_start
        # first position with a later time than the latest exit (same key): the end of its tie run
        new_run = np.r_[True, (kid_sorted[1:] != kid_sorted[:-1]) | (ts[1:] != ts[:-1])] if len(ts) \
            else np.zeros(0, bool)
        del kid_sorted
        run_end = np.r_[np.flatnonzero(new_run)[1:], len(ts)]
        after = run_end[np.cumsum(new_run)[np.maximum(last_exit_pos, 0)] - 1] if len(ts) else positions
        back_ok = has_exit & (after <= positions)
        self.back = np.where(back_ok, ts[np.minimum(after, max(len(ts) - 1, 0))], self.NONE)

    def drop_entry_exit(self) -> None:
        """Free the per-position entry/exit arrays (rebuilt if another population is asked for)."""
        self.last_exit = self.last_stay = self.back = self.first_of_kid = None

    @staticmethod
    def _members_keys(h: EventHistory) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Keys and ``joined_at`` (ns) of members-table rows with a join date; keys of paid rows."""
        empty = np.zeros(0, np.int64)
        mt = h.members
        if mt is None:
            return empty, empty, empty
        m_keys, joined, paid_keys = empty, empty, empty
        # the ids as text, looked up among the history's categories (per category, not per row)
        g_all = text_lookup(mt["group_id"], h.group_categories)
        m_all = text_lookup(mt["member_id"], h.member_categories)
        if "joined_at" in mt.columns:
            ns = mt["joined_at"].dt.tz_convert(None).to_numpy().view(np.int64)
            ok = mt["joined_at"].notna().to_numpy()
            g, m = g_all[ok], m_all[ok]
            keep = (g >= 0) & (m >= 0)
            m_keys = g[keep].astype(np.int64) * h.n_members + m[keep]
            joined = ns[ok][keep]
        if "paid" in mt.columns:
            paid = mt["paid"].fillna(False).astype(bool).to_numpy()
            g = text_lookup(mt["group_id"], pd.Index(h.group_categories.astype(str)))[paid]
            m = text_lookup(mt["member_id"], pd.Index(h.member_categories.astype(str)))[paid]
            keep = (g >= 0) & (m >= 0)
            paid_keys = g[keep].astype(np.int64) * h.n_members + m[keep]
        return m_keys, joined, paid_keys

    def latest(self, h: EventHistory, n_events: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Key numbers (ascending) with an event among the first ``n_events``, and each one's
        latest exit and latest other event among them (ns; :data:`NONE` without one)."""
        if self.last_exit is None:
            self._entry_exit(h, np.argsort(self.kid, kind="stable"))
        count = np.bincount(self.kid[:n_events], minlength=self.n)
        has = np.flatnonzero(count)
        at = self.start[has] + count[has] - 1
        return has, self.last_exit[at], self.last_stay[at]

    def population(self, h: EventHistory, n_events: int,
                   cutoff_ns: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Key numbers (ascending) present with the first ``n_events`` events, their entry and
        their latest event among those (ns; :data:`NONE` without one).

        Same rule as a group-by over those events (see the module docstring): present
        when the latest non-exit event (or ``joined_at`` before the cutoff) is later than
        the latest exit; entry at the first event or join date, or for members who left,
        at their first event strictly after the last exit.
        """
        NONE = self.NONE
        if self.last_exit is None:
            self._entry_exit(h, np.argsort(self.kid, kind="stable"))
        count = np.bincount(self.kid[:n_events], minlength=self.n)
        has = np.flatnonzero(count)
        at = self.start[has] + count[has] - 1
        first = np.full(self.n, np.iinfo(np.int64).max)
        last_exit = np.full(self.n, NONE)
        last_stay = np.full(self.n, NONE)
        back = np.full(self.n, NONE)
        first[has] = self.first_of_kid[has]
        last_exit[has] = self.last_exit[at]
        last_stay[has] = self.last_stay[at]
        back[has] = self.back[at]
        last_event = np.maximum(last_exit, last_stay)  # before the members table's join dates
        if len(self.m_kid):
            joined = self.m_joined < cutoff_ns
            np.minimum.at(first, self.m_kid[joined], self.m_joined[joined])
            np.maximum.at(last_stay, self.m_kid[joined], self.m_joined[joined])
        rows = np.flatnonzero(last_stay > last_exit)
        left = last_exit[rows] != NONE
        came_back = back[rows]
        found = left & (came_back != NONE)
        if not found.all():
            # as a reindexed int64 column with gaps would: through float64, missing as 0
            came_back = np.where(found, came_back.astype(np.float64).astype(np.int64), 0)
        return rows, np.where(left, came_back, first[rows]), last_event[rows]


@dataclass
class Snapshot:
    """Everything a feature family may read at one cutoff.

    Attributes
    ----------
    cutoff : Timestamp
        The cutoff t (UTC).
    population : DataFrame
        One row per (group, member) present at t, with ``group_id``,
        ``member_id`` (categoricals), ``entry_ns`` (latest entry, int64 ns) and
        ``gi`` (row's group index into :attr:`group_codes`).
    ev_* arrays
        The events before t: ``ev_g``, ``ev_m``, ``ev_t`` (target member code or
        -1), ``ev_e`` (event-type code), ``ev_age`` (days before the cutoff, > 0),
        ``ev_amount``, ``ev_pi`` (row of the actor in :attr:`population`, -1 when
        the actor is not present at t), ``ev_ti`` (row of the target in the same
        group, -1 if none), ``ev_gi`` (group index, -1 when the group has nobody
        present).
    """

    history: EventHistory
    cutoff: pd.Timestamp
    cutoff_ns: int
    n_events: int
    spec: FeatureSpec
    known_population: tuple[np.ndarray, np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    population: pd.DataFrame = field(init=False)
    group_codes: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        h, n = self.history, self.n_events
        self.ev_g, self.ev_m, self.ev_t = h.g[:n], h.m[:n], h.t[:n]
        self.ev_e, self.ev_amount = h.e[:n], h.amount[:n]
        self.ev_ns = h.ts[:n]
        self.ev_age = (self.cutoff_ns - self.ev_ns) / DAY_NS
        ms = h.memberships
        found, self.known_population = self.known_population, None
        self.pop_kid, entry, self._last_event_ns = found or ms.population(h, n, self.cutoff_ns)
        keys = ms.keys[self.pop_kid]
        g = (keys // h.n_members).astype(np.int32)
        m = (keys % h.n_members).astype(np.int32)
        self.population = pd.DataFrame({
            "group_id": pd.Categorical.from_codes(g, dtype=h.id_dtypes[0]),
            "member_id": pd.Categorical.from_codes(m, dtype=h.id_dtypes[1]),
            "g": g, "m": m, "entry_ns": entry,
        })
        self.n = len(self.pop_kid)
        self._pop_keys = keys
        self._key_index: pd.Index | None = None
        # population row of each key number, with a trailing -1 that kid/tkid -1 lands on
        row_of = np.full(ms.n + 1, -1, np.int32 if ms.n < 2**31 else np.int64)
        row_of[self.pop_kid] = np.arange(self.n)
        self.ev_pi = row_of[ms.kid[:n]]
        self._row_of = row_of
        self._ev_ti: np.ndarray | None = None
        self.group_codes = distinct_sorted(g)
        self.pop_gi = np.searchsorted(self.group_codes, g)
        group_row = np.full(len(h.group_categories) + 1, -1, np.int32)
        group_row[self.group_codes] = np.arange(len(self.group_codes))
        self.ev_gi = group_row[self.ev_g]
        self.n_groups = len(self.group_codes)
        self._type_masks: dict[frozenset[str], np.ndarray] = {}
        self._counts: dict[tuple[frozenset[str], float | None], np.ndarray] = {}
        self._masks: dict[tuple[frozenset[str], bool], np.ndarray] = {}
        self._window_starts: dict[float, int] = {}
        self._actor_present: np.ndarray | None = None

    @property
    def ev_ti(self) -> np.ndarray:
        """Population row of each event's target in the event's group (-1 if none or absent)."""
        if self._ev_ti is None:
            self._ev_ti = self.target_rows(slice(0, self.n_events))
        return self._ev_ti

    def target_rows(self, events: np.ndarray | slice) -> np.ndarray:
        """``ev_ti[events]`` without the array for all events."""
        if self._ev_ti is not None:
            return self._ev_ti[events]
        return self._row_of[self.history.memberships.tkid[:self.n_events][events]]

    @property
    def pop_keys(self) -> np.ndarray:
        """``g * n_members + m`` of each population row (ascending)."""
        return self._pop_keys

    @property
    def key_index(self) -> pd.Index:
        """``g * n_members + m`` of each population row, as an index (row = position)."""
        if self._key_index is None:
            self._key_index = pd.Index(self._pop_keys)
        return self._key_index

    # ------------------------------------------------------------------ reductions
    # Events are sorted by time, so ``ev_age`` never increases along them and the
    # events within a window are a suffix: windows are slices, found by a binary search
    # on the same float ages a comparison would use. Type masks are computed once per
    # snapshot and shared (read-only) by the families.
    def of_type(self, event_types: Iterable[str]) -> np.ndarray:
        """Whether each event is of one of the named types (shared: do not modify)."""
        key = frozenset(event_types)
        found = self._type_masks.get(key)
        if found is None:
            codes = self.history.codes_of(key)
            if len(codes) <= 2:  # comparisons are faster than a table lookup per event
                found = np.zeros(self.n_events, bool)
                for code in codes:
                    found |= self.ev_e == code
            else:
                found = self.history.type_lookup(key)[self.ev_e]
            self._type_masks[key] = found
        return found

    @property
    def actor_present(self) -> np.ndarray:
        """Whether each event's actor is present at the cutoff (shared: do not modify)."""
        if self._actor_present is None:
            self._actor_present = self.ev_pi >= 0
        return self._actor_present

    def window_start(self, window_days: float) -> int:
        """Index of the first event with ``ev_age <= window_days`` (a binary search: ages never
        increase along the events)."""
        start = self._window_starts.get(window_days)
        if start is None:
            age = self.ev_age
            lo, hi = 0, len(age)
            while lo < hi:
                mid = (lo + hi) // 2
                if age[mid] <= window_days:
                    hi = mid
                else:
                    lo = mid + 1
            start = self._window_starts[window_days] = lo
        return start

    def within(self, window_days: float) -> np.ndarray:
        """``ev_age <= window_days`` (a new array)."""
        m = np.zeros(self.n_events, bool)
        m[self.window_start(window_days):] = True
        return m

    def _base_mask(self, event_types: Iterable[str], actor_present: bool) -> np.ndarray:
        key = (frozenset(event_types), actor_present)
        base = self._masks.get(key)
        if base is None:
            base = self.of_type(key[0])
            if actor_present:
                base = base & self.actor_present
            self._masks[key] = base
        return base

    def mask(self, event_types: Iterable[str], window_days: float | None = None,
             actor_present: bool = True) -> np.ndarray:
        """Events of the given types (within the window), by a present member (a new array)."""
        base = self._base_mask(event_types, actor_present)
        if window_days is None:
            return base.copy()
        start = self.window_start(window_days)
        m = np.zeros(self.n_events, bool)
        m[start:] = base[start:]
        return m

    def _selected(self, event_types: Iterable[str], window_days: float | None,
                  actor_present: bool) -> tuple[int, np.ndarray]:
        """``(start, sel)``: ``mask(...)`` is False before ``start`` and ``sel`` after it."""
        start = 0 if window_days is None else self.window_start(window_days)
        return start, self._base_mask(event_types, actor_present)[start:]

    def count_of(self, event_types: Iterable[str], window_days: float | None = None) -> np.ndarray:
        """``count(mask(event_types, window_days))``, reading only the window's events (a new array)."""
        key = (frozenset(event_types), window_days)
        found = self._counts.get(key)
        if found is None:
            start, sel = self._selected(key[0], window_days, True)
            found = self._counts[key] = np.bincount(self.ev_pi[start:][sel], minlength=self.n).astype(float)
        return found.copy()

    def last_event_age(self) -> np.ndarray:
        """Days since each population row's latest event before the cutoff (NaN with none).

        The same values as ``extreme(actor_present, ev_age, "min", nan)``: events are
        sorted by time, so the smallest age is the latest event's.
        """
        last = self._last_event_ns
        return np.where(last == _Memberships.NONE, np.nan, (self.cutoff_ns - last) / DAY_NS)

    def total_of(self, event_types: Iterable[str], window_days: float | None,
                 values: np.ndarray) -> np.ndarray:
        """``total(mask(event_types, window_days), values)``, reading only the window's events."""
        start, sel = self._selected(event_types, window_days, True)
        return np.bincount(self.ev_pi[start:][sel], weights=np.nan_to_num(values[start:][sel]),
                           minlength=self.n)

    def group_count_of(self, event_types: Iterable[str], window_days: float | None = None,
                       actor_present: bool = False) -> np.ndarray:
        """``group_count(mask(event_types, window_days, actor_present))``, reading only the window."""
        start, sel = self._selected(event_types, window_days, actor_present)
        gi = self.ev_gi[start:][sel]
        return np.bincount(gi[gi >= 0], minlength=self.n_groups).astype(float)

    def count(self, mask: np.ndarray, by: str = "actor") -> np.ndarray:
        """Events per population row (``by="actor"`` or ``"target"``) under ``mask``."""
        idx = (self.ev_pi if by == "actor" else self.ev_ti)[mask]
        idx = idx[idx >= 0]
        return np.bincount(idx, minlength=self.n).astype(float)

    def total(self, mask: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Sum of ``values`` per actor row under ``mask`` (NaN values count as 0)."""
        idx = self.ev_pi[mask]
        w = np.nan_to_num(values[mask])
        keep = idx >= 0
        return np.bincount(idx[keep], weights=w[keep], minlength=self.n)

    def extreme(self, mask: np.ndarray, values: np.ndarray, how: str, fill: float) -> np.ndarray:
        """Per-actor ``min`` or ``max`` of ``values`` under ``mask``; ``fill`` where none."""
        idx = self.ev_pi[mask]
        v = values[mask].astype(float)
        keep = idx >= 0
        out = np.full(self.n, np.inf if how == "min" else -np.inf)
        ufunc = np.minimum if how == "min" else np.maximum
        ufunc.at(out, idx[keep], v[keep])
        out[~np.isfinite(out)] = fill
        return out

    def group_count(self, mask: np.ndarray) -> np.ndarray:
        """Events per group (index into :attr:`group_codes`) under ``mask``, any actor."""
        gi = self.ev_gi[mask]
        return np.bincount(gi[gi >= 0], minlength=self.n_groups).astype(float)

    def paid(self) -> np.ndarray:
        """True where the members table marks the (group, member) as paid (付费)."""
        return self.history.memberships.paid[self.pop_kid]

    def days_to_expiry(self) -> np.ndarray:
        """Days from the cutoff to the end of each paid member's current term.

        The term starts at the latest ``join`` or ``renew`` event before the cutoff
        (or at entry when there is none) and lasts the group's ``term_days``. NaN
        for members who are not paid or whose group has no ``term_days``. The
        members table's ``expires_at`` is never read: it is an export-time value
        that already contains renewals made after past cutoffs.
        """
        out = np.full(self.n, np.nan)
        gt = self.history.groups
        paid = self.paid()
        if gt is None or "term_days" not in gt.columns or not paid.any():
            return out
        term = pd.Series(gt["term_days"].to_numpy(dtype=float, na_value=np.nan),
                         index=gt["group_id"].astype(str))
        term_of_row = term.reindex(self.population["group_id"].astype(str)).to_numpy()
        last_start_age = self.extreme(self.mask(["join", "renew"]), self.ev_age, "min", np.nan)
        start_age = np.where(np.isnan(last_start_age), self.tenure_days, last_start_age)
        return np.where(paid, term_of_row - start_age, np.nan)

    @property
    def tenure_days(self) -> np.ndarray:
        return (self.cutoff_ns - self.population["entry_ns"].to_numpy()) / DAY_NS

    def keys_frame(self) -> pd.DataFrame:
        """The (group_id, member_id, cutoff) key columns of the population."""
        h, pop = self.history, self.population
        return pd.DataFrame({
            "group_id": _id_values(pop["group_id"], h.group_categories, pop["g"].to_numpy()),
            "member_id": _id_values(pop["member_id"], h.member_categories, pop["m"].to_numpy()),
            "cutoff": pd.DatetimeIndex([self.cutoff], tz="UTC").repeat(self.n) if self.n else
            pd.DatetimeIndex([], tz="UTC"),
        })


def _id_values(column: pd.Series, categories: pd.Index, codes: np.ndarray) -> object:
    """The ids of a categorical column as plain values: for text categories, taken from the
    categories directly (the same ``str`` column as converting the values, without Python
    objects)."""
    if isinstance(categories.dtype, pd.StringDtype):
        return categories.take(codes)
    return column.to_numpy()


def distinct_sorted(keys: np.ndarray) -> np.ndarray:
    """Sorted distinct values of an int64 array (a sort, not ``np.unique``'s slower path).

    >>> distinct_sorted(np.array([3, 1, 3, 2])).tolist()
    [1, 2, 3]
    """
    s = np.sort(keys)
    return s[np.r_[True, s[1:] != s[:-1]]] if len(s) else s


def as_cutoffs(cutoffs: object | Sequence[object]) -> list[pd.Timestamp]:
    """One cutoff or many, as a sorted list of distinct UTC timestamps."""
    if isinstance(cutoffs, str | pd.Timestamp) or not isinstance(cutoffs, Iterable):
        cutoffs = [cutoffs]
    out = sorted({to_cutoff(c) for c in cutoffs})
    if not out:
        raise ValueError("at least one cutoff is needed")
    return out
