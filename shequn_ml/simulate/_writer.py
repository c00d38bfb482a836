"""Writing a simulated world to Parquet, in bounded memory.

Groups are simulated one after another, but the events file must be sorted by
time across all groups. Holding every event until the end would cost ~40 bytes
per event, so the writer *spills*: it keeps compact numeric events (integer
codes, not strings) until ``spill_events`` have piled up, sorts them by time and
saves them as memory-mapped ``.npy`` columns in a scratch folder. At the end it
walks through time a week at a time, takes that week's slice of every spill,
merges and sorts it, turns codes into strings and appends one row group. Peak
memory is one spill buffer plus one week of events, whatever the world's size.
The truth tables are written group by group as the groups finish.

Row groups break at week boundaries and every fixed row count, never at spill
boundaries, so the files are byte-identical whatever ``spill_events`` is.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from shequn_ml.simulate import _tables as T
from shequn_ml.simulate._config import MANAGEMENT_LEVELS, ROLES
from shequn_ml.simulate._dynamics import EXIT_CAUSES, GroupResult
from shequn_ml.simulate._world import World

#: Days of events per merge step (and at least one row group each).
BLOCK_DAYS = 7
#: Largest row group written.
ROW_GROUP_ROWS = 1_000_000
#: Names of the files a simulation writes, by role.
FILES = {
    "events": "events.parquet",
    "members": "members.parquet",
    "groups": "groups.parquet",
    "truth_members": "truth_members.parquet",
    "truth_daily": "truth_daily.parquet",
    "truth_groups": "truth_groups.parquet",
    "truth_group_days": "truth_group_days.parquet",
    "meta": "simulation.json",
}
_PARQUET = {"compression": "zstd", "compression_level": 3}
TS = pa.timestamp("ms", tz="UTC")
EVENTS_SCHEMA = pa.schema([
    ("ts", TS), ("group_id", pa.string()), ("member_id", pa.string()),
    ("event_type", pa.string()), ("event_id", pa.string()),
    ("target_member_id", pa.string()), ("ref_event_id", pa.string()),
    ("amount", pa.float64()), ("text_len", pa.int32()),
])
_EVENT_COLS = {"ts": np.int64, "group": np.int32, "seq": np.int32, "member": np.int32,
               "etype": np.int8, "target": np.int32, "ref": np.int32, "amount": np.float64,
               "text_len": np.int32}


def ascii_ids(parts: Sequence[str | tuple[np.ndarray, int]], n: int) -> pa.StringArray:
    """Fixed-width ids such as ``g007-000123`` built without a Python loop per row.

    Each part is a literal or ``(numbers, width)``; numbers are zero-padded. Equal
    widths make string order equal numeric order, which the sort keys rely on.
    """
    widths = [len(p) if isinstance(p, str) else p[1] for p in parts]
    row = sum(widths)
    buf = np.empty((n, row), dtype=np.uint8)
    col = 0
    for part, w in zip(parts, widths, strict=True):
        if isinstance(part, str):
            buf[:, col:col + w] = np.frombuffer(part.encode("ascii"), dtype=np.uint8)
        else:
            x = np.array(part[0], dtype=np.int64)
            if len(x) and (x.min() < 0 or x.max() >= 10**w):
                raise ValueError(f"ids do not fit in {w} digits")
            for j in range(w - 1, -1, -1):
                buf[:, col + j] = 48 + x % 10
                x //= 10
        col += w
    offsets = np.arange(n + 1, dtype=np.int64) * row
    if offsets[-1] >= 2**31:
        raise ValueError("id block too large for one string array")
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets.astype(np.int32)),
                                       pa.py_buffer(buf.reshape(-1)))


def _take(strings: pa.Array, codes: np.ndarray) -> pa.Array:
    """``strings[codes]`` with null where the code is negative."""
    return strings.take(pa.array(np.maximum(codes, 0), mask=codes < 0))


class Names:
    """String ids of groups, members and events: g001, m00042, g001-000123."""

    def __init__(self, n_groups: int, n_members: int) -> None:
        self.group_width = max(3, len(str(n_groups)))
        self.member_width = max(5, len(str(n_members)))
        self.groups = ascii_ids(["g", (np.arange(1, n_groups + 1), self.group_width)], n_groups)
        self.members = ascii_ids(["m", (np.arange(1, n_members + 1), self.member_width)],
                                 n_members)
        self.event_types = pa.array(T.EVENT_NAMES)
        self.seq_width = 6

    def event_ids(self, group: np.ndarray, seq: np.ndarray) -> pa.StringArray:
        return ascii_ids(["g", (group + 1, self.group_width), "-", (seq + 1, self.seq_width)],
                         len(group))


class EventStore:
    """Compact events, spilled to memory-mapped scratch files, merged by time at the end."""

    def __init__(self, scratch: Path, spill_events: int) -> None:
        self.scratch = scratch
        self.spill_events = max(1, int(spill_events))
        self.buffer: list[dict[str, np.ndarray]] = []
        self.buffered = 0
        self.spills: list[dict[str, np.ndarray]] = []
        self.n_events = 0
        self.max_group_events = 0

    def add(self, res: GroupResult) -> None:
        n = res.n_events
        self.n_events += n
        self.max_group_events = max(self.max_group_events, n)
        cols = {"ts": res.ts, "group": np.full(n, res.group), "seq": np.arange(n),
                "member": res.member, "etype": res.etype, "target": res.target, "ref": res.ref,
                "amount": res.amount, "text_len": res.text_len}
        self.buffer.append({c: np.asarray(v, dtype=_EVENT_COLS[c]) for c, v in cols.items()})
        self.buffered += n
        if self.buffered >= self.spill_events:
            self._spill(to_disk=True)

    def _spill(self, *, to_disk: bool) -> None:
        if not self.buffer:
            return
        cat = {c: np.concatenate([b[c] for b in self.buffer]) for c in _EVENT_COLS}
        self.buffer, self.buffered = [], 0
        order = np.lexsort((cat["seq"], cat["group"], cat["ts"]))
        cat = {c: v[order] for c, v in cat.items()}
        if to_disk:
            folder = self.scratch / f"spill{len(self.spills):05d}"
            folder.mkdir()
            for c, v in cat.items():
                np.save(folder / f"{c}.npy", v)
            del cat
            cat = {c: np.load(folder / f"{c}.npy", mmap_mode="r") for c in _EVENT_COLS}
        self.spills.append(cat)

    def write(self, path: Path, names: Names, start_ms: int, days: int) -> None:
        """Merge the spills week by week into one time-sorted Parquet file."""
        self._spill(to_disk=bool(self.spills))
        names.seq_width = max(6, len(str(self.max_group_events)))
        edges = start_ms + np.arange(0, days + BLOCK_DAYS, BLOCK_DAYS) * T.DAY_MS
        bounds = [np.searchsorted(s["ts"], edges) for s in self.spills]
        with pq.ParquetWriter(path, EVENTS_SCHEMA, **_PARQUET,
                              use_dictionary=["group_id", "member_id", "event_type",
                                              "target_member_id"]) as writer:
            for b in range(len(edges) - 1):
                parts = [{c: np.asarray(s[c][lo[b]:lo[b + 1]]) for c in _EVENT_COLS}
                         for s, lo in zip(self.spills, bounds, strict=True)]
                cat = {c: np.concatenate([p[c] for p in parts]) for c in _EVENT_COLS}
                if len(cat["ts"]) == 0:
                    continue
                order = np.lexsort((cat["seq"], cat["group"], cat["ts"]))
                cat = {c: v[order] for c, v in cat.items()}
                writer.write_table(self._table(cat, names), row_group_size=ROW_GROUP_ROWS)
        self.spills = []

    @staticmethod
    def _table(c: dict[str, np.ndarray], names: Names) -> pa.Table:
        has_ref = c["ref"] >= 0
        ref_ids = names.event_ids(c["group"][has_ref], c["ref"][has_ref])
        ref_pos = np.where(has_ref, np.cumsum(has_ref) - 1, -1)
        return pa.Table.from_arrays([
            pa.array(c["ts"], type=TS),
            names.groups.take(pa.array(c["group"])),
            names.members.take(pa.array(c["member"])),
            names.event_types.take(pa.array(c["etype"])),
            names.event_ids(c["group"], c["seq"]),
            _take(names.members, c["target"]),
            _take(ref_ids, ref_pos),
            pa.array(c["amount"], from_pandas=True),
            pa.array(c["text_len"], mask=c["text_len"] < 0, type=pa.int32()),
        ], schema=EVENTS_SCHEMA)


class OutputWriter:
    """Collects every group's result and writes all the files of a simulation."""

    def __init__(self, folder: Path, world: World, spill_events: int) -> None:
        self.folder = folder
        self.world = world
        self.names = Names(world.n_groups, world.cfg.n_members)
        scratch = folder / "scratch"
        scratch.mkdir()
        self.events = EventStore(scratch, spill_events)
        self.slots: list[dict[str, np.ndarray]] = []
        self.group_days: list[dict[str, np.ndarray]] = []
        self.n_memberships = 0
        self.daily_buffer: list[dict[str, np.ndarray]] = []
        self.daily_rows = 0
        self.daily = pq.ParquetWriter(folder / FILES["truth_daily"], pa.schema([
            ("membership", pa.int32()), ("day", pa.int16()), ("speak", pa.float32()),
            ("exit", pa.float32())]), **_PARQUET, use_dictionary=False,
            column_encoding={"speak": "BYTE_STREAM_SPLIT", "exit": "BYTE_STREAM_SPLIT",
                             "membership": "DELTA_BINARY_PACKED",
                             "day": "DELTA_BINARY_PACKED"})

    def add(self, res: GroupResult) -> None:
        w, g = self.world, res.group
        lo, hi = int(w.slot_ptr[g]), int(w.slot_ptr[g + 1])
        mem = w.slot_member[lo:hi]
        by_member = np.argsort(mem, kind="stable")  # memberships sorted by member id
        rank = np.empty_like(by_member)
        rank[by_member] = np.arange(len(mem))
        self.events.add(res)
        slot = {
            "group": np.full(hi - lo, g), "member": mem, "joined_ms": res.joined_ms,
            "paid": np.full(hi - lo, bool(w.paid[g])) & (np.arange(hi - lo) > 0),
            "expires_ms": res.expires_ms, "level": w.slot_level[lo:hi],
            "invited_by": res.invited_by, "kol_tag": w.slot_kol_tag[lo:hi],
            "join_day": w.slot_join_day[lo:hi], "founding": w.slot_founding[lo:hi],
            "exit_day": res.exit_day, "exit_cause": res.exit_cause,
            "reply_weight": res.reply_weight,
            "owner": np.arange(hi - lo) == 0,
            "opinion_leader": np.arange(hi - lo) == w.leader_slot[g],
        }
        self.slots.append({k: np.asarray(v)[by_member] for k, v in slot.items()})
        key = rank[res.daily_slot].astype(np.int64) * (w.cfg.days + 1) + res.daily_day
        order = np.argsort(key, kind="stable")
        self.daily_buffer.append({
            "membership": (self.n_memberships + rank[res.daily_slot][order]).astype(np.int32),
            "day": res.daily_day[order], "speak": res.daily_speak[order],
            "exit": res.daily_exit[order]})
        self.daily_rows += len(order)
        self.n_memberships += hi - lo
        if self.daily_rows >= ROW_GROUP_ROWS:
            self._write_daily()
        c0 = int(w.created_day[g])
        days = np.arange(c0, w.cfg.days)
        gd = {"group": np.full(len(days), g), "day": days,
              "vitality": res.vitality[c0:], "n_present": res.n_present[c0:],
              "reply_norm": res.reply_norm[c0:]}
        for i, name in enumerate(T.INTERVENTIONS):
            gd[name] = res.interventions[c0:, i]
        self.group_days.append(gd)

    def _write_daily(self) -> None:
        if not self.daily_buffer:
            return
        cat = {c: np.concatenate([b[c] for b in self.daily_buffer])
               for c in self.daily_buffer[0]}
        self.daily_buffer, self.daily_rows = [], 0
        for a in range(0, len(cat["day"]), ROW_GROUP_ROWS):
            part = {c: v[a:a + ROW_GROUP_ROWS] for c, v in cat.items()}
            self.daily.write_table(pa.table(part, schema=self.daily.schema))

    def finish(self, start_ms: int) -> dict[str, Path]:
        """Write every file into the folder and return their paths by role."""
        w, names, cfg = self.world, self.names, self.world.cfg
        self._write_daily()
        self.daily.close()
        self.events.write(self.folder / FILES["events"], names, start_ms, cfg.days)
        s = {k: np.concatenate([d[k] for d in self.slots]) for k in self.slots[0]}
        ms = pa.array(s["joined_ms"], type=TS)
        expires = pa.array(s["expires_ms"], mask=s["expires_ms"] < 0, type=TS)
        group_ids = names.groups.take(pa.array(s["group"]))
        member_ids = names.members.take(pa.array(s["member"]))
        members = pa.table({
            "member_id": member_ids, "group_id": group_ids, "joined_at": ms,
            "paid": s["paid"], "expires_at": expires,
            "level": pa.array(s["level"], type=pa.int16()),
            "invited_by": _take(names.members, s["invited_by"]), "kol_tag": s["kol_tag"]})
        pq.write_table(members, self.folder / FILES["members"], **_PARQUET)

        owner = w.slot_member[w.slot_ptr[:-1]]
        groups = pa.table({
            "group_id": names.groups,
            "created_at": pa.array(start_ms + w.created_day * T.DAY_MS + w.created_ms, type=TS),
            "kind": pa.array(np.where(w.paid, "paid", "free").tolist()),
            "capacity": pa.array(w.capacity, type=pa.int32()),
            # the paid membership term, public to operators; empty for free groups
            "term_days": pa.array(w.term_days, mask=~np.asarray(w.paid, bool), type=pa.int32()),
            "owner_id": names.members.take(pa.array(owner))})
        pq.write_table(groups, self.folder / FILES["groups"], **_PARQUET)

        mem = s["member"]
        causes = pa.array(list(EXIT_CAUSES), type=pa.string())
        truth_members = pa.table({
            "membership": pa.array(np.arange(len(mem)), type=pa.int32()),
            "group_id": group_ids, "member_id": member_ids,
            "role": pa.array(ROLES).take(pa.array(w.role[mem])),
            "activity": w.activity[mem], "benefit_sensitivity": w.benefit[mem],
            "benefit_only": w.benefit_only[mem], "spammer": w.spammer[mem],
            "leadership": w.leadership[mem], "reply_weight": s["reply_weight"],
            "owner": s["owner"], "opinion_leader": s["opinion_leader"],
            "founding": s["founding"],
            "join_day": pa.array(s["join_day"], type=pa.int16()),
            "exit_day": pa.array(s["exit_day"], mask=s["exit_day"] < 0, type=pa.int16()),
            "exit_cause": causes.take(pa.array(s["exit_cause"].astype(np.int64),
                                               mask=s["exit_cause"] == 0)),
        })
        pq.write_table(truth_members, self.folder / FILES["truth_members"], **_PARQUET)

        leader = np.where(w.leader_slot >= 0, w.slot_member[w.slot_ptr[:-1]
                                                            + np.maximum(w.leader_slot, 0)], -1)
        truth_groups = pa.table({
            "group_id": names.groups, "kind": groups["kind"],
            "platform": pa.array(np.where(w.qq, "qq", "wechat").tolist()),
            "capacity": groups["capacity"],
            "management": pa.array(MANAGEMENT_LEVELS).take(pa.array(w.management)),
            "led": w.led, "leader_id": _take(names.members, leader),
            "checkin_ritual": w.ritual,
            "created_day": pa.array(w.created_day, type=pa.int16()),
            "term_days": pa.array(w.term_days, type=pa.int16()), "price": w.price,
            "n_memberships": pa.array(np.diff(w.slot_ptr), type=pa.int32()),
            "n_founding": pa.array(np.add.reduceat(w.slot_founding.astype(np.int64),
                                                   w.slot_ptr[:-1]), type=pa.int32()),
        })
        pq.write_table(truth_groups, self.folder / FILES["truth_groups"], **_PARQUET)

        gd = {k: np.concatenate([d[k] for d in self.group_days]) for k in self.group_days[0]}
        cols = {"group_id": names.groups.take(pa.array(gd.pop("group"))),
                "day": pa.array(gd.pop("day"), type=pa.int16())}
        cols.update({k: pa.array(v) for k, v in gd.items()})
        pq.write_table(pa.table(cols), self.folder / FILES["truth_group_days"], **_PARQUET)
        return {k: self.folder / v for k, v in FILES.items()}


def write_meta(path: Path, meta: dict[str, object]) -> None:
    """Write ``simulation.json`` (sorted keys, so the bytes depend only on the content)."""
    path.write_text(json.dumps(meta, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
                    encoding="utf-8")
