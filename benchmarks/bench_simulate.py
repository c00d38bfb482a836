"""Benchmark: the community simulator's speed and peak memory at 1M and 20M events.

Each measurement runs :func:`shequn_ml.simulate.simulate` in a fresh child process
(this script, re-invoked with ``--child``), which reports its own wall time and
peak resident memory (``ru_maxrss`` of itself plus, with ``--jobs 2``, that of its largest worker
once per worker: the workers run at the same time, so this is an upper bound).
It also reports the CPU seconds of the child and its workers, which, unlike the
wall time, do not grow when other processes share the machine. Worlds are sized
from the default world's ~35 events per member over 180 days in groups of ~100.

Usage::

    python benchmarks/bench_simulate.py [--events 1e6 2e7] [--jobs 1 2] [--keep DIR]

Prints a markdown table; the figures in docs/simulator.md come from it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EVENTS_PER_MEMBER = 35.0  # measured on the default world, 180 days
MEMBERS_PER_GROUP = 100


def child(members: int, groups: int, jobs: int, out: str) -> None:
    """Run one simulation and print its figures as JSON (runs in the child process)."""
    from shequn_ml.simulate import SimulationConfig, simulate

    cfg = SimulationConfig(n_members=members, n_groups=groups, days=180, seed=1)
    started = time.perf_counter()
    summary = simulate(cfg, out, n_jobs=jobs)
    elapsed = time.perf_counter() - started
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    own, workers = me.ru_maxrss / 1024, kids.ru_maxrss / 1024
    cpu = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    size = sum(p.stat().st_size for p in summary.paths.values())
    print(json.dumps({"events": summary.n_events, "members": summary.n_members,
                      "groups": summary.n_groups, "seconds": elapsed, "cpu_seconds": cpu,
                      "rss_mb": own,
                      "worker_rss_mb": workers if jobs > 1 else 0.0, "bytes": size}))


def measure(target: float, jobs: int, out: Path) -> dict[str, float]:
    members = max(100, int(target / EVENTS_PER_MEMBER))
    groups = max(1, members // MEMBERS_PER_GROUP)
    cmd = [sys.executable, __file__, "--child", str(members), str(groups), str(jobs), str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"simulation of ~{target:,.0f} events failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=float, nargs="+", default=[1e6, 2e7],
                        help="target event counts (default: 1e6 2e7)")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2],
                        help="n_jobs values to measure (default: 1 2)")
    parser.add_argument("--keep", help="write the worlds here instead of a temporary folder")
    args = parser.parse_args()

    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-sim-"))
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}\n")
    print("| events | members | groups | n_jobs | wall s | events/s (wall) | CPU s | "
          "events per CPU s | peak RSS (MB) | files (MB) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    try:
        for target in args.events:
            for jobs in args.jobs:
                out = base / f"world-{int(target)}-{jobs}"
                r = measure(target, jobs, out)
                rss = r["rss_mb"] + jobs * r["worker_rss_mb"]
                print(f"| {r['events']:,} | {r['members']:,} | {r['groups']:,} | {jobs} | "
                      f"{r['seconds']:.0f} | {r['events'] / r['seconds']:,.0f} | "
                      f"{r['cpu_seconds']:.0f} | {r['events'] / r['cpu_seconds']:,.0f} | "
                      f"{rss:,.0f} | {r['bytes'] / 1e6:,.0f} |", flush=True)
                print(f"<!-- load average after: {os.getloadavg()[0]:.1f} -->", flush=True)
                if not args.keep:
                    shutil.rmtree(out, ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
