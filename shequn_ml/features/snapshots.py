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
    """

    def __init__(self, events: pd.DataFrame, members: pd.DataFrame | None = None,
                 groups: pd.DataFrame | None = None) -> None:
        ts = events["ts"].to_numpy(dtype="datetime64[ns]").view(np.int64) \
            if not isinstance(events["ts"].dtype, pd.DatetimeTZDtype) \
            else events["ts"].dt.tz_convert(None).to_numpy().view(np.int64)
        order = np.argsort(ts, kind="stable")
        self.ts = ts[order]
        member_cats = _union_categories(events, members)
        self.group_categories = pd.Index(events["group_id"].cat.categories)
        self.member_categories = member_cats
        self.g = events["group_id"].cat.codes.to_numpy()[order].astype(np.int32)
        self.m = _recode(events["member_id"], member_cats)[order]
        self.t = (_recode(events["target_member_id"], member_cats)[order]
                  if "target_member_id" in events.columns else np.full(len(order), -1, np.int32))
        self.e = events["event_type"].cat.codes.to_numpy()[order].astype(np.int16)
        self.event_type_names = list(events["event_type"].cat.categories)
        amount = events["amount"].to_numpy(dtype=float, na_value=np.nan) \
            if "amount" in events.columns else np.full(len(order), np.nan)
        self.amount = amount[order]
        self.n_members = len(member_cats)
        self.members = members
        self.groups = groups

    def codes_of(self, names: Iterable[str]) -> np.ndarray:
        """Event-type codes of the given names (names absent from the data are skipped)."""
        wanted = set(names)
        return np.array([i for i, n in enumerate(self.event_type_names) if n in wanted],
                        dtype=np.int16)

    def type_lookup(self, names: Iterable[str]) -> np.ndarray:
        """Boolean table over event-type codes: ``lookup[codes]`` marks the named types.

        Indexing a small table is several times faster than ``np.isin`` on millions
        of codes.
        """
        lut = np.zeros(max(len(self.event_type_names), 1), bool)
        lut[self.codes_of(names)] = True
        return lut

    def at(self, cutoff: object, spec: FeatureSpec | None = None) -> Snapshot:
        """The snapshot at ``cutoff``: events with ts < cutoff and the population then."""
        c = to_cutoff(cutoff)
        c_ns = int(c.value)
        n = int(np.searchsorted(self.ts, c_ns, side="left"))
        return Snapshot(self, c, c_ns, n, spec or FeatureSpec())


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
    population: pd.DataFrame = field(init=False)
    group_codes: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        h, n = self.history, self.n_events
        self.ev_g, self.ev_m, self.ev_t = h.g[:n], h.m[:n], h.t[:n]
        self.ev_e, self.ev_amount = h.e[:n], h.amount[:n]
        self.ev_ns = h.ts[:n]
        self.ev_age = (self.cutoff_ns - self.ev_ns) / DAY_NS
        self.population = self._population()
        pop = self.population
        self.n = len(pop)
        keys = pop["g"].to_numpy(np.int64) * h.n_members + pop["m"].to_numpy(np.int64)
        self.key_index = pd.Index(keys)
        ev_keys = self.ev_g.astype(np.int64) * h.n_members + self.ev_m
        self.ev_pi = self.key_index.get_indexer(ev_keys)
        has_t = self.ev_t >= 0
        ev_tkeys = self.ev_g.astype(np.int64) * h.n_members + np.where(has_t, self.ev_t, 0)
        self.ev_ti = np.where(has_t, self.key_index.get_indexer(ev_tkeys), -1)
        self.group_codes = np.unique(pop["g"].to_numpy())
        self.pop_gi = np.searchsorted(self.group_codes, pop["g"].to_numpy())
        gi = np.searchsorted(self.group_codes, self.ev_g)
        gi = np.clip(gi, 0, max(len(self.group_codes) - 1, 0))
        found = (len(self.group_codes) > 0) & (self.group_codes[gi] == self.ev_g) \
            if len(self.group_codes) else np.zeros(len(self.ev_g), bool)
        self.ev_gi = np.where(found, gi, -1)
        self.n_groups = len(self.group_codes)

    # ------------------------------------------------------------------ population
    def _population(self) -> pd.DataFrame:
        h = self.history
        is_exit = h.type_lookup(schema.EXIT_EVENT_TYPES)[self.ev_e]
        frame = pd.DataFrame({
            "g": self.ev_g, "m": self.ev_m, "ns": self.ev_ns,
            "exit_ns": np.where(is_exit, self.ev_ns, np.iinfo(np.int64).min),
            "stay_ns": np.where(~is_exit, self.ev_ns, np.iinfo(np.int64).min),
        })
        agg = frame.groupby(["g", "m"], sort=True).agg(
            first_ns=("ns", "min"), last_exit=("exit_ns", "max"), last_stay=("stay_ns", "max"))
        if h.members is not None and "joined_at" in h.members.columns:
            agg = self._add_members_table(agg)
        lo = np.iinfo(np.int64).min
        present = agg["last_stay"].to_numpy() > agg["last_exit"].to_numpy()
        agg = agg.loc[present]
        # Latest entry: after the last exit, the first event (or explicit join) re-enters.
        entry = np.where(agg["last_exit"].to_numpy() == lo, agg["first_ns"].to_numpy(),
                         self._first_after_exit(agg))
        g = agg.index.get_level_values("g").to_numpy().astype(np.int32)
        m = agg.index.get_level_values("m").to_numpy().astype(np.int32)
        return pd.DataFrame({
            "group_id": pd.Categorical.from_codes(g, categories=h.group_categories),
            "member_id": pd.Categorical.from_codes(m, categories=h.member_categories),
            "g": g, "m": m, "entry_ns": entry,
        })

    def _first_after_exit(self, agg: pd.DataFrame) -> np.ndarray:
        """For members who left and came back: their first event after the last exit."""
        lo = np.iinfo(np.int64).min
        rejoined = agg.loc[agg["last_exit"] > lo]
        if rejoined.empty:
            return np.zeros(len(agg), np.int64)
        frame = pd.DataFrame({"g": self.ev_g, "m": self.ev_m, "ns": self.ev_ns})
        frame = frame.join(rejoined[["last_exit"]], on=["g", "m"], how="inner")
        after = frame.loc[frame["ns"] >= frame["last_exit"]]
        # an exit at the same ns as another event counts as later: strictly after it
        after = after.loc[after["ns"] > after["last_exit"]]
        first = after.groupby(["g", "m"])["ns"].min()
        out = first.reindex(agg.index).to_numpy()
        return np.where(np.isnan(out), 0, out).astype(np.int64)

    def _add_members_table(self, agg: pd.DataFrame) -> pd.DataFrame:
        """Members whose ``joined_at`` is before the cutoff are present even if silent."""
        h = self.history
        mt = h.members
        joined = mt["joined_at"].dt.tz_convert(None).to_numpy().view(np.int64)
        ok = (mt["joined_at"].notna().to_numpy()) & (joined < self.cutoff_ns)
        g = h.group_categories.get_indexer(mt["group_id"].astype(str).to_numpy()[ok])
        m = h.member_categories.get_indexer(mt["member_id"].astype(str).to_numpy()[ok])
        keep = (g >= 0) & (m >= 0)
        lo = np.iinfo(np.int64).min
        extra = pd.DataFrame({"g": g[keep], "m": m[keep], "first_ns": joined[ok][keep],
                              "last_exit": lo, "last_stay": joined[ok][keep]}).set_index(["g", "m"])
        both = pd.concat([agg, extra])
        return both.groupby(level=["g", "m"], sort=True).agg(
            {"first_ns": "min", "last_exit": "max", "last_stay": "max"})

    # ------------------------------------------------------------------ reductions
    def mask(self, event_types: Iterable[str], window_days: float | None = None,
             actor_present: bool = True) -> np.ndarray:
        """Events of the given types (within the window), by a present member."""
        m = self.history.type_lookup(event_types)[self.ev_e]
        if window_days is not None:
            m &= self.ev_age <= window_days
        if actor_present:
            m &= self.ev_pi >= 0
        return m

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
        mt = self.history.members
        if mt is None or "paid" not in mt.columns:
            return np.zeros(self.n, bool)
        paid = mt.loc[mt["paid"].fillna(False).astype(bool), ["group_id", "member_id"]]
        keys = pd.MultiIndex.from_arrays([paid["group_id"].astype(str),
                                          paid["member_id"].astype(str)])
        pop = self.population
        mine = pd.MultiIndex.from_arrays([pop["group_id"].astype(str), pop["member_id"].astype(str)])
        return np.asarray(mine.isin(keys), dtype=bool)

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
        return pd.DataFrame({
            "group_id": self.population["group_id"].to_numpy(),
            "member_id": self.population["member_id"].to_numpy(),
            "cutoff": pd.DatetimeIndex([self.cutoff] * self.n, tz="UTC") if self.n else
            pd.DatetimeIndex([], tz="UTC"),
        })


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
