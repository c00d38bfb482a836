"""Benchmark: `shequn-ml validate` on large events files.

Writes synthetic events (every optional column filled, ids as text, a realistic
mix of event types) to Parquet and CSV, then runs the real command in a child
process per file and reports wall time and the child's peak resident memory.

Usage::

    python benchmarks/bench_validate.py [--rows 5000000 1000000] [--keep DIR]

Prints a markdown table; the figures recorded in docs/benchmarks.md come from it.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

TYPES = np.array(["message", "reply", "mention", "reaction", "checkin", "join", "red_packet_claim",
                  "post", "question", "answer", "invite", "purchase", "leave"])
WEIGHTS = np.array([40, 15, 6, 12, 8, 3, 6, 2, 2, 2, 1, 2, 1], dtype=float)


def make_events(n_rows: int, seed: int = 0) -> pa.Table:
    """Synthetic events in the contract: ~n_rows/25 members in groups of ~200."""
    rng = np.random.default_rng(seed)
    n_members = max(10, n_rows // 25)
    n_groups = max(1, n_members // 200)
    member = rng.integers(0, n_members, n_rows)
    group = member % n_groups
    etype = rng.choice(len(TYPES), n_rows, p=WEIGHTS / WEIGHTS.sum())
    start = np.datetime64("2024-01-01T00:00:00", "ms").astype(np.int64)
    ts = np.sort(start + rng.integers(0, 180 * 86_400_000, n_rows))
    targeted = np.isin(TYPES[etype], ["reply", "mention", "invite"])
    target = np.where(targeted, rng.integers(0, n_members, n_rows), -1)
    money = np.isin(TYPES[etype], ["red_packet_claim", "purchase"])
    amount = np.where(money, rng.gamma(2.0, 5.0, n_rows).round(2), np.nan)
    return pa.table({
        "ts": pa.array(ts, pa.timestamp("ms", tz="UTC")),
        "group_id": pa.array([f"g{g}" for g in range(n_groups)])
        .take(pa.array(group)).dictionary_encode(),
        "member_id": pa.array(np.char.add("m", member.astype(str))),
        "event_type": pa.array(TYPES[etype]).dictionary_encode(),
        "event_id": pa.array(np.char.add("e", np.arange(n_rows).astype(str))),
        "target_member_id": pa.array(np.where(target >= 0, np.char.add("m", target.astype(str)),
                                              None)),
        "amount": pa.array(amount, from_pandas=True),
        "text_len": pa.array(np.where(TYPES[etype] == "message", rng.integers(1, 200, n_rows),
                                      None)),
    })


def run_validate(path: Path) -> tuple[float, float, int]:
    """Run the CLI in a child; return (seconds, peak RSS in MB, exit code)."""
    cmd = [sys.executable, "-m", "shequn_ml.cli", "validate", str(path)]
    started = time.perf_counter()
    # A fresh child per measurement, so ru_maxrss of RUSAGE_CHILDREN is this run's peak
    # (children's maxima only grow: run the smallest file first).
    proc = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if proc.returncode != 0:
        print(proc.stdout, proc.stderr, file=sys.stderr)
    return elapsed, peak_mb, proc.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--formats", nargs="+", default=["parquet", "csv"])
    parser.add_argument("--keep", help="folder to keep the generated files in")
    args = parser.parse_args()
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-validate-"))
    folder.mkdir(parents=True, exist_ok=True)

    rows = []
    for n in sorted(args.rows):
        table = make_events(n)
        for fmt in args.formats:
            path = folder / f"events_{n}.{fmt}"
            if fmt == "parquet":
                pq.write_table(table, path)
            else:
                pacsv.write_csv(table, path)
            size_mb = path.stat().st_size / 2**20
            seconds, peak, code = run_validate(path)
            rows.append((n, fmt, size_mb, seconds, n / seconds, peak, code))
        del table
    print(f"\nshequn-ml validate, {platform.python_version()}, {os.cpu_count()} cores\n")
    print("| rows | format | file MB | seconds | rows/s | peak RSS MB | exit |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for n, fmt, size_mb, seconds, rate, peak, code in rows:
        print(f"| {n:,} | {fmt} | {size_mb:,.0f} | {seconds:.1f} | {rate:,.0f} | {peak:,.0f} | {code} |")
    if not args.keep:
        for p in folder.iterdir():
            p.unlink()
        folder.rmdir()


if __name__ == "__main__":
    main()
