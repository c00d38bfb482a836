"""A short description of a validated events table, for people and for logs.

Examples
--------
>>> import pandas as pd
>>> from shequn_ml.io import read_events
>>> ev = read_events(pd.DataFrame({
...     "ts": ["2024-01-01", "2024-01-03"], "group_id": ["g1", "g2"],
...     "member_id": ["a", "a"], "event_type": ["join", "message"]}))
>>> s = summarize_events(ev)
>>> (s.n_rows, s.n_members, s.n_groups, s.span_days)
(2, 1, 2, 2.0)
>>> s.event_type_counts["message"]
1
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from shequn_ml import schema


@dataclass(frozen=True)
class EventSummary:
    """Counts that tell whether a table looks like the community one expected."""

    n_rows: int
    n_members: int
    n_groups: int
    n_memberships: int
    first_ts: pd.Timestamp
    last_ts: pd.Timestamp
    event_type_counts: dict[str, int]
    n_members_table: int | None = None
    n_groups_table: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def span_days(self) -> float:
        return (self.last_ts - self.first_ts) / pd.Timedelta(days=1)

    def format(self) -> str:
        """Plain-text summary, one fact per line."""
        lines = [
            f"rows:         {self.n_rows:,}",
            f"members:      {self.n_members:,} ({self.n_memberships:,} member-group pairs)",
            f"groups:       {self.n_groups:,}",
            f"time span:    {self.first_ts:%Y-%m-%d %H:%M} to {self.last_ts:%Y-%m-%d %H:%M} UTC "
            f"({self.span_days:.1f} days)",
        ]
        if self.n_members_table is not None:
            lines.append(f"members table: {self.n_members_table:,} rows")
        if self.n_groups_table is not None:
            lines.append(f"groups table:  {self.n_groups_table:,} rows")
        lines.append("events per type:")
        width = max(len(k) for k in self.event_type_counts) if self.event_type_counts else 0
        for name, count in self.event_type_counts.items():
            speaking = "  (speaking)" if name in schema.SPEAKING_EVENT_TYPES else ""
            lines.append(f"  {name:<{width}}  {count:>12,}{speaking}")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def summarize_events(
    events: pd.DataFrame,
    members: pd.DataFrame | None = None,
    groups: pd.DataFrame | None = None,
) -> EventSummary:
    """Summarise a normalised events table (from :func:`shequn_ml.io.read_events`).

    Parameters
    ----------
    events : DataFrame
        Normalised events.
    members, groups : DataFrame, optional
        Normalised side tables; their row counts are reported and members or
        groups that appear in events but not in them are noted.

    Returns
    -------
    EventSummary
    """
    counts = events["event_type"].value_counts(sort=False)
    type_counts = {str(k): int(v) for k, v in counts.items() if v > 0}
    type_counts = dict(sorted(type_counts.items(), key=lambda kv: (-kv[1], kv[0])))
    pairs = events[["group_id", "member_id"]].drop_duplicates()
    notes: list[str] = []
    if groups is not None:
        unknown = set(events["group_id"].unique()) - set(groups["group_id"].unique())
        if unknown:
            notes.append(f"{len(unknown)} groups in events are missing from the groups table")
    if members is not None:
        known = pd.MultiIndex.from_frame(members[["group_id", "member_id"]].astype(str))
        seen = pd.MultiIndex.from_frame(pairs.astype(str))
        missing = int((~seen.isin(known)).sum())
        if missing:
            notes.append(f"{missing} member-group pairs in events are missing from the members table")
    return EventSummary(
        n_rows=len(events),
        n_members=int(events["member_id"].nunique()),
        n_groups=int(events["group_id"].nunique()),
        n_memberships=len(pairs),
        first_ts=events["ts"].min(),
        last_ts=events["ts"].max(),
        event_type_counts=type_counts,
        n_members_table=None if members is None else len(members),
        n_groups_table=None if groups is None else len(groups),
        notes=notes,
    )
