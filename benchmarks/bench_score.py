"""Benchmark: the batch scoring job (all three models, with reasons) at 100k and 1M members.

Simulates (once, cached under ``--data-dir``) worlds of the given member counts
over ``--days`` days, trains the quickstart models once into an MLflow store there
(``shequn-ml train experiments/quickstart.yaml`` on the committed sample: the
models a first-time user has), then runs ``shequn-ml score`` on each world at its
last day in a fresh child process per engine, and reports:

* roster rows and members scored, events read;
* wall seconds per stage (read, features, each model's scores + exact TreeSHAP +
  reasons, assembly, write) and in all;
* members scored per second (scored members, with reasons, over the whole job's
  wall time, reading and writing included), and over the scoring stages alone
  (the three models' scores, exact TreeSHAP and reasons, given the features);
* the child's peak resident memory (``ru_maxrss`` of the job's Python process;
  for Spark that is the driver's Python, and the JVM's own peak, ``VmHWM`` from
  ``/proc``, is reported beside it; Spark's Python workers are not measured).

Usage::

    python benchmarks/bench_score.py [--members 100000 1000000] [--engines pandas spark]
        [--data-dir /tmp/shequn-bench-score]

Prints a markdown table; the figures in docs/benchmarks.md come from it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MEMBERS_PER_GROUP = 100


def world(data_dir: Path, members: int, days: int, seed: int) -> Path:
    """Simulate (or reuse) a world with ``members`` members."""
    out = data_dir / f"world-{members}-{days}d-s{seed}"
    if (out / "events.parquet").exists():
        return out
    cmd = [sys.executable, "-m", "shequn_ml.cli", "simulate", "--members", str(members), "--groups",
           str(max(1, members // MEMBERS_PER_GROUP)), "--days", str(days), "--seed", str(seed),
           "--out", str(out), "--quiet"]
    subprocess.run(cmd, check=True)
    return out


def models(data_dir: Path) -> str:
    """Train the quickstart into a store under ``data_dir`` once; return its URI."""
    store = data_dir / "store"
    uri = f"sqlite:///{store / 'mlflow.db'}"
    if (store / "mlflow.db").exists():
        return uri
    store.mkdir(parents=True, exist_ok=True)
    for name in ("experiments", "features", "models", "data"):
        if not (store / name).exists():
            os.symlink(REPO / name, store / name)
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    subprocess.run([sys.executable, "-m", "shequn_ml.cli", "train", "experiments/quickstart.yaml",
                    "--quiet"], cwd=store, env=env, check=True, stdout=subprocess.DEVNULL)
    return uri


def models_used(uri: str) -> dict[str, dict[str, int]]:
    """Trees kept and leaves per tree of each champion model in the store."""
    import warnings

    warnings.simplefilter("ignore")
    from shequn_ml.scoring import TASKS
    from shequn_ml.tracking import load_bundle, resolve_model_names

    names = resolve_model_names(tracking_uri=uri) or {t: f"shequn-{t}" for t in TASKS}
    out = {}
    for task in TASKS:
        est = load_bundle(names[task], tracking_uri=uri).estimator
        leaves = getattr(est, "num_leaves_", None) or est.get_params()["num_leaves"]
        out[task] = {"trees": int(est.best_iteration_), "leaves": int(leaves)}
    return out


def child(args: argparse.Namespace) -> None:
    """One scoring job, timed per stage (runs in the child process)."""
    import warnings

    warnings.simplefilter("ignore")
    from shequn_ml.batch import run_batch_scoring

    stages: list[tuple[str, float]] = []
    started = time.perf_counter()
    done = run_batch_scoring(
        str(Path(args.world) / "events.parquet"), args.cutoff, args.out,
        members=str(Path(args.world) / "members.parquet"), groups=str(Path(args.world) / "groups.parquet"),
        engine=args.engine, tracking_uri=args.uri, log_run=False,
        progress=lambda s: stages.append((s, time.perf_counter())))
    total = time.perf_counter() - started
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    jvm = _jvm_peak_mb() if args.engine == "spark" else None
    marks = stages + [("end", started + total)]
    per_stage = {a: b_t - a_t for (a, a_t), (_, b_t) in zip(marks, marks[1:], strict=False)}
    c = done.result.counts
    print(json.dumps({"rows": c["rows_out"], "scored": c["status.scored"], "seconds": total,
                      "stages": per_stage, "rss_mb": me, "jvm_rss_mb": jvm}))


def _jvm_peak_mb() -> float | None:
    """Peak resident memory (VmHWM) of the local Spark JVM, while it still runs."""
    try:
        from pyspark import SparkContext

        sc = SparkContext._active_spark_context
        pid = sc._gateway.proc.pid
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (AttributeError, ImportError, OSError):
        return None
    return None


def measure(engine: str, world_dir: Path, uri: str, out: Path) -> dict:
    import pyarrow.parquet as pq

    ts = pq.read_table(world_dir / "events.parquet", columns=["ts"]).column("ts")
    import pyarrow.compute as pc

    last = pc.max(ts).as_py()
    cutoff = last.date().isoformat()
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    cmd = [sys.executable, __file__, "--child", "--engine", engine, "--world", str(world_dir), "--uri", uri,
           "--out", str(out), "--cutoff", cutoff]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        sys.exit(f"{engine} scoring of {world_dir.name} failed:\n{proc.stderr[-3000:]}")
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    row["events"] = pq.ParquetFile(world_dir / "events.parquet").metadata.num_rows
    row["cutoff"] = cutoff
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--engines", nargs="+", default=["pandas", "spark"], choices=["pandas", "spark"])
    parser.add_argument("--days", type=int, default=120, help="days of simulated history (default 120)")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "shequn-bench-score")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--engine", help=argparse.SUPPRESS)
    parser.add_argument("--world", help=argparse.SUPPRESS)
    parser.add_argument("--uri", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--cutoff", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    args.data_dir.mkdir(parents=True, exist_ok=True)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f}", flush=True)
    uri = models(args.data_dir)
    rows = []
    for n in args.members:
        w = world(args.data_dir, n, args.days, args.seed)
        for engine in args.engines:
            out = args.data_dir / f"scores-{n}-{engine}.parquet"
            r = measure(engine, w, uri, out)
            r.update(engine=engine, members=n, load=os.getloadavg()[0])
            rows.append(r)
            print(json.dumps(r), flush=True)
    print("\n| engine | members simulated | events | roster rows | scored | read s | features s | "
          "silence s | churn s | kol s | assemble + write s | total s | scored/s (job) | "
          "scored/s (scores + reasons) | peak RSS MB (job's Python / Spark JVM) | load |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        st = r["stages"]
        feat = st.get("roster", 0) + st.get("features", 0)
        scoring = sum(st.get(f"score {t}", 0) for t in ("silence", "churn", "kol"))
        # Spark's stages are lazy: its per-stage clocks do not say where the time went
        stage_rate = f"{r['scored'] / scoring:,.0f}" if scoring > 0 and r["engine"] == "pandas" \
            else "n/a (lazy stages)"
        print(f"| {r['engine']} | {r['members']:,} | {r['events']:,} | {r['rows']:,} | {r['scored']:,} | "
              f"{st.get('read', 0):.1f} | {feat:.1f} | {st.get('score silence', 0):.1f} | "
              f"{st.get('score churn', 0):.1f} | {st.get('score kol', 0):.1f} | "
              f"{st.get('assemble', 0) + st.get('write', 0):.1f} | {r['seconds']:.1f} | "
              f"{r['scored'] / r['seconds']:,.0f} | {stage_rate} | "
              f"{r['rss_mb']:,.0f}"
              + (f" / {r['jvm_rss_mb']:,.0f}" if r.get("jvm_rss_mb") is not None else "")
              + f" | {r['load']:.1f} |")
    print("\nModels (trees x leaves): " + ", ".join(
        f"{t} {m['trees']} x {m['leaves']}" for t, m in models_used(uri).items()))

if __name__ == "__main__":
    main()
