"""Benchmark: ``build_features`` on simulator data, against Polars, DuckDB and featuretools.

Simulates (once, cached under ``--data-dir``) worlds of about 1M and 20M events,
then, over rolling weekly cutoffs at the end of the simulated period, measures:

* ``shequn-full``: :func:`shequn_ml.features.build_features` with the default spec;
* ``shequn-eb``: the same with ``FeatureSpec(families=["engagement", "benefit"])``;
* ``shequn-subset``: the library's snapshot machinery (:class:`EventHistory`,
  :class:`Snapshot` and its reductions) computing only the reference aggregates;
* ``polars`` and ``duckdb``: the same aggregates written directly in each engine
  (per cutoff: population, windowed counts, distinct active days, recency, red
  packets, spend, per-group speaking totals and shares);
* ``featuretools``: DFS (``Sum``/``TimeSinceLast`` over events per membership, with
  ``cutoff_time`` and one ``training_window`` per window) for the aggregates it can
  express. Run by a separate interpreter (``--ft-python``) when featuretools does not
  run next to the project's pandas.

Every engine runs in a fresh child process that reports its own peak resident memory
(``VmHWM`` of ``/proc/self/status``: the high-water mark of that process alone), for
the load (reading and normalising the files) and, after resetting the mark through
``/proc/self/clear_refs``, for the compute alone (with the loaded data it holds). The
library's imports (scipy among them) happen before the clock starts, as ``import
polars`` does. The parent then checks that every engine's values equal
``build_features``'s on the shared columns (max abs diff < 1e-9) and prints markdown
tables, with each library engine's time over the best reference's (wall and CPU).

Usage::

    python benchmarks/bench_features.py --data-dir /tmp/shequn-bench-data [--sizes 1m 20m]
        [--ft-python /tmp/ft-venv/bin/python] [--profile]

The figures in docs/benchmarks-features.md come from it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DAY_NS = 86_400 * 10**9
WINDOWS = (7, 14, 30, 90)
SPEAKING = ("message", "reply", "post", "question", "answer", "checkin")
EXITS = ("leave", "removed")
MONEY_IN = ("purchase", "renew")
KEY = ["group_id", "member_id", "cutoff"]
#: the aggregates the references compute; every one is a column of build_features' output
SUBSET = ([f"speak_count_{w}d" for w in WINDOWS] + [f"active_days_{w}d" for w in WINDOWS]
          + ["days_since_speak", "days_since_any_event"]
          + [f"red_packet_claims_{w}d" for w in WINDOWS] + ["spend_90d", "speak_share_30d",
                                                             "group_size", "group_speak_per_member_7d",
                                                             "group_speak_per_member_30d"])
#: what featuretools computes, by our column name -> its feature, window (None: all history)
FT_COLUMNS = ([(f"speak_count_{w}d", "SUM(events.speak)", w) for w in WINDOWS]
              + [(f"red_packet_claims_{w}d", "SUM(events.rp)", w) for w in WINDOWS]
              + [("spend_90d", "SUM(events.spend)", 90),
                 ("days_since_any_event", "TIME_SINCE_LAST(events.ts)", None)])
#: world sizes: (n_members, n_groups); the simulator gives ~35 events per member over 180 days
SIZES = {"smoke": (3_000, 24), "1m": (28_300, 226), "20m": (565_000, 4_520)}
DAYS = 180
TOL = 1e-9


# ---------------------------------------------------------------------------- helpers
def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def end_of_load() -> float:
    """The peak resident set so far (the load's), then restart the count for the compute.

    Writing 5 to ``/proc/self/clear_refs`` resets ``VmHWM`` to the current resident set,
    so the peak read after the compute is the compute's own (with the loaded data it
    holds), not the reader's.
    """
    peak = peak_rss_mb()
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    return peak


def cutoff_list(start: dt.date, days: int, n: int, every: int) -> list[int]:
    """``n`` cutoffs ``every`` days apart, the last at the end of the simulated period (ns)."""
    end = dt.datetime(start.year, start.month, start.day, tzinfo=dt.UTC) + dt.timedelta(days=days)
    cuts = [end - dt.timedelta(days=every * k) for k in range(n)][::-1]
    return [int(c.timestamp()) * 10**9 for c in cuts]


def sim_dir(data_dir: Path, size: str, seed: int) -> Path:
    n_members, n_groups = SIZES[size]
    return data_dir / f"sim-{n_members}m-{n_groups}g-{DAYS}d-s{seed}"


def ensure_data(data_dir: Path, size: str, seed: int, n_jobs: int) -> Path:
    """Simulate the world of ``size`` unless it is cached; return its folder."""
    out = sim_dir(data_dir, size, seed)
    if (out / "events.parquet").exists() and (out / "members.parquet").exists():
        return out
    from shequn_ml.simulate import SimulationConfig, simulate

    n_members, n_groups = SIZES[size]
    started = time.perf_counter()
    summary = simulate(SimulationConfig(n_members=n_members, n_groups=n_groups, days=DAYS, seed=seed),
                       out, n_jobs=n_jobs)
    print(f"# {summary} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return out


# ---------------------------------------------------------------------------- engines (children)
def run_shequn(data: Path, cuts: list[int], out: Path, families: list[str] | None) -> dict:
    import numpy as np

    from shequn_ml.features import FeatureSpec, build_features
    from shequn_ml.features.pipeline import feature_catalogue
    from shequn_ml.io import read_events, read_groups, read_members

    spec = FeatureSpec(families=families) if families else FeatureSpec()
    feature_catalogue(spec)  # imports the family modules (and scipy) outside the timing, as `import polars`
    t0 = time.perf_counter()
    ev = read_events(data / "events.parquet")
    members = read_members(data / "members.parquet")
    groups = read_groups(data / "groups.parquet")
    t1, c1, load_mb = time.perf_counter(), time.process_time(), end_of_load()
    table = build_features(ev, [np.datetime64(c, "ns") for c in cuts], spec, members=members,
                           groups=groups)
    t2, c2, compute_mb = time.perf_counter(), time.process_time(), peak_rss_mb()
    cols = [c for c in SUBSET if c in table.columns]
    sub = table[["group_id", "member_id"] + cols].copy()
    sub["group_id"] = sub["group_id"].astype(str)
    sub["member_id"] = sub["member_id"].astype(str)
    sub["cutoff"] = table["cutoff"].dt.tz_convert(None).to_numpy().view(np.int64)
    sub.to_parquet(out)
    return {"load_s": t1 - t0, "compute_s": t2 - t1, "cpu_s": c2 - c1, "peak_load_mb": load_mb,
            "peak_compute_mb": compute_mb,
            "events": len(ev), "rows": len(table),
            "columns": table.shape[1] - 3}


def shequn_subset_at(snap: object) -> dict:
    """The reference aggregates from the library's Snapshot reductions (as engagement.py does)."""
    import numpy as np

    from shequn_ml.features.engagement import _member_days

    out = {}
    speak_all = snap.mask(SPEAKING)
    day = np.floor(snap.ev_age[speak_all] - 1e-12).astype(np.int64)
    p_member, p_day = _member_days(snap.ev_pi[speak_all], day, snap.n)
    for w in WINDOWS:
        out[f"speak_count_{w}d"] = snap.count_of(SPEAKING, w)
        out[f"active_days_{w}d"] = np.bincount(p_member[p_day < w], minlength=snap.n).astype(float)
    tenure = snap.tenure_days
    last = snap.extreme(speak_all, snap.ev_age, "min", np.nan)
    out["days_since_speak"] = np.where(np.isnan(last), tenure, last)
    last_any = snap.last_event_age()
    out["days_since_any_event"] = np.where(np.isnan(last_any), tenure, last_any)
    for w in WINDOWS:
        out[f"red_packet_claims_{w}d"] = snap.count_of(["red_packet_claim"], w)
    out["spend_90d"] = snap.total_of(MONEY_IN, 90, snap.ev_amount)
    c30 = out["speak_count_30d"]
    denom = np.bincount(snap.pop_gi, weights=c30, minlength=snap.n_groups)[snap.pop_gi]
    out["speak_share_30d"] = np.divide(c30, denom, out=np.zeros(snap.n), where=denom > 0)
    size = np.bincount(snap.pop_gi, minlength=snap.n_groups).astype(float)
    out["group_size"] = size[snap.pop_gi]
    for w in (7, 30):
        per = snap.group_count_of(SPEAKING, w) / size
        out[f"group_speak_per_member_{w}d"] = per[snap.pop_gi]
    return out


def run_shequn_subset(data: Path, cuts: list[int], out: Path) -> dict:
    import numpy as np
    import pandas as pd

    from shequn_ml.features import EventHistory, FeatureSpec
    from shequn_ml.io import read_events, read_members

    t0 = time.perf_counter()
    ev = read_events(data / "events.parquet")
    members = read_members(data / "members.parquet")
    t1, c1, load_mb = time.perf_counter(), time.process_time(), end_of_load()
    history = EventHistory(ev, members=members)
    spec = FeatureSpec(families=["engagement"])
    parts = []
    for c in cuts:
        snap = history.at(pd.Timestamp(c, tz="UTC"), spec)
        cols = shequn_subset_at(snap)
        part = pd.DataFrame({"group_id": snap.population["group_id"].astype(str).to_numpy(),
                             "member_id": snap.population["member_id"].astype(str).to_numpy(),
                             "cutoff": np.full(snap.n, c, np.int64), **cols})
        parts.append(part)
    table = pd.concat(parts, ignore_index=True)
    t2, c2, compute_mb = time.perf_counter(), time.process_time(), peak_rss_mb()
    table.to_parquet(out)
    return {"load_s": t1 - t0, "compute_s": t2 - t1, "cpu_s": c2 - c1, "peak_load_mb": load_mb,
            "peak_compute_mb": compute_mb,
            "events": len(ev), "rows": len(table),
            "columns": len(SUBSET)}


def polars_at(ev: object, mem: object, c: int) -> object:
    """The reference aggregates at cutoff ``c`` (ns), as a Polars lazy query."""
    import polars as pl

    keys = ["group_id", "member_id"]
    ts, et = pl.col("ts"), pl.col("event_type")
    e = ev.filter(ts < c).with_columns(age=(pl.lit(c, pl.Int64) - ts) / DAY_NS,
                                       day=(pl.lit(c - 1, pl.Int64) - ts) // DAY_NS)
    is_exit = et.is_in(EXITS)
    # population: entered (any event, or joined_at in the members table) and not exited since
    marks = pl.concat([
        e.select(*keys, first=ts, exit=pl.when(is_exit).then(ts), stay=pl.when(~is_exit).then(ts)),
        mem.filter(pl.col("joined_at") < c).select(
            *keys, first=pl.col("joined_at"), exit=pl.lit(None, pl.Int64), stay=pl.col("joined_at")),
    ])
    pop = (marks.group_by(keys).agg(first=pl.col("first").min(), last_exit=pl.col("exit").max(),
                                    last_stay=pl.col("stay").max())
           .filter(pl.col("last_stay") > pl.col("last_exit").fill_null(-(2**63))))
    back = (pl.concat([e.select(*keys, ts=ts),
                       mem.filter(pl.col("joined_at") < c).select(*keys, ts=pl.col("joined_at"))])
            .join(pop.filter(pl.col("last_exit").is_not_null()).select(*keys, "last_exit"), on=keys)
            .filter(pl.col("ts") > pl.col("last_exit")).group_by(keys).agg(back=pl.col("ts").min()))
    pop = (pop.join(back, on=keys, how="left")
           .select(*keys, entry=pl.when(pl.col("last_exit").is_null()).then("first").otherwise("back")))

    sp, rp, money = et.is_in(SPEAKING), et == "red_packet_claim", et.is_in(MONEY_IN)

    def within(w: int) -> pl.Expr:
        return ts >= c - w * DAY_NS

    agg = e.group_by(keys).agg(
        *[(sp & within(w)).sum().alias(f"speak_count_{w}d") for w in WINDOWS],
        *[pl.col("day").filter(sp & (pl.col("day") < w)).n_unique().alias(f"active_days_{w}d")
          for w in WINDOWS],
        *[(rp & within(w)).sum().alias(f"red_packet_claims_{w}d") for w in WINDOWS],
        pl.col("age").filter(sp).min().alias("last_speak"),
        pl.col("age").min().alias("last_any"),
        pl.col("amount").filter(money & within(90)).fill_nan(0.0).sum().alias("spend_90d"),
    )
    grp = e.filter(sp).group_by("group_id").agg(
        g7=within(7).sum(), g30=within(30).sum())
    counts = [f"speak_count_{w}d" for w in WINDOWS] + [f"active_days_{w}d" for w in WINDOWS] \
        + [f"red_packet_claims_{w}d" for w in WINDOWS] + ["spend_90d"]
    tenure = (pl.lit(c, pl.Int64) - pl.col("entry")) / DAY_NS
    size = pl.len().over("group_id").cast(pl.Float64)
    talk = pl.col("speak_count_30d").sum().over("group_id")
    return (pop.join(agg, on=keys, how="left").join(grp, on="group_id", how="left")
            .with_columns(pl.col(counts).fill_null(0).cast(pl.Float64),
                          pl.col("g7", "g30").fill_null(0).cast(pl.Float64))
            .select(
                pl.col("group_id").cast(pl.String), pl.col("member_id").cast(pl.String),
                pl.lit(c, pl.Int64).alias("cutoff"),
                *[pl.col(f"speak_count_{w}d") for w in WINDOWS],
                *[pl.col(f"active_days_{w}d") for w in WINDOWS],
                pl.col("last_speak").fill_null(tenure).alias("days_since_speak"),
                pl.col("last_any").fill_null(tenure).alias("days_since_any_event"),
                *[pl.col(f"red_packet_claims_{w}d") for w in WINDOWS],
                pl.col("spend_90d"),
                speak_share_30d=pl.when(talk > 0).then(pl.col("speak_count_30d") / talk).otherwise(0.0),
                group_size=size,
                group_speak_per_member_7d=pl.col("g7") / size,
                group_speak_per_member_30d=pl.col("g30") / size,
            ))


def run_polars(data: Path, cuts: list[int], out: Path) -> dict:
    import polars as pl

    t0 = time.perf_counter()
    cat = [pl.col("group_id", "member_id").cast(pl.Categorical)]
    ev = (pl.read_parquet(data / "events.parquet",
                          columns=["ts", "group_id", "member_id", "event_type", "amount"])
          .with_columns(*cat, pl.col("event_type").cast(pl.Categorical),
                        pl.col("ts").dt.epoch("ns")))
    mem = (pl.read_parquet(data / "members.parquet", columns=["group_id", "member_id", "joined_at"])
           .with_columns(*cat, pl.col("joined_at").dt.epoch("ns")))
    t1, c1, load_mb = time.perf_counter(), time.process_time(), end_of_load()
    lazy_ev, lazy_mem = ev.lazy(), mem.lazy()
    table = pl.concat([polars_at(lazy_ev, lazy_mem, c) for c in cuts]).collect()
    t2, c2, compute_mb = time.perf_counter(), time.process_time(), peak_rss_mb()
    table.write_parquet(out)
    return {"load_s": t1 - t0, "compute_s": t2 - t1, "cpu_s": c2 - c1, "peak_load_mb": load_mb,
            "peak_compute_mb": compute_mb,
            "events": ev.height, "rows": table.height,
            "columns": len(SUBSET)}


DUCKDB_SQL = """
WITH e AS (
  SELECT group_id, member_id, ts, amount,
         event_type IN {speaking} AS sp, event_type IN {exits} AS ex,
         event_type = 'red_packet_claim' AS rp, event_type IN {money} AS money,
         ($c - ts) / {day} AS age, ($c - 1 - ts) // {day} AS d
  FROM ev WHERE ts < $c),
marks AS (
  SELECT group_id, member_id, ts, ex FROM e
  UNION ALL SELECT group_id, member_id, joined_at, false FROM mem WHERE joined_at < $c),
ent AS (
  SELECT group_id, member_id, min(ts) AS first_ns, max(ts) FILTER (WHERE ex) AS last_exit,
         max(ts) FILTER (WHERE NOT ex) AS last_stay
  FROM marks GROUP BY ALL),
pop AS (SELECT * FROM ent WHERE last_stay > coalesce(last_exit, -9223372036854775808)),
back AS (
  SELECT k.group_id, k.member_id, min(k.ts) AS back FROM marks k
  JOIN pop p ON k.group_id = p.group_id AND k.member_id = p.member_id
  WHERE p.last_exit IS NOT NULL AND k.ts > p.last_exit GROUP BY ALL),
act AS (
  SELECT group_id, member_id,
    {active}
  FROM (SELECT DISTINCT group_id, member_id, d FROM e WHERE sp) GROUP BY ALL),
agg AS (
  SELECT group_id, member_id,
    {counts},
    min(age) FILTER (WHERE sp) AS last_speak, min(age) AS last_any,
    {claims},
    coalesce(sum(amount) FILTER (WHERE money AND ts >= $c - 90 * {day}), 0) AS spend_90d
  FROM e GROUP BY ALL),
grp AS (
  SELECT group_id, count(*) FILTER (WHERE ts >= $c - 7 * {day}) AS g7,
         count(*) FILTER (WHERE ts >= $c - 30 * {day}) AS g30
  FROM e WHERE sp GROUP BY ALL),
j AS (
  SELECT p.group_id, p.member_id,
         ($c - CASE WHEN p.last_exit IS NULL THEN p.first_ns ELSE b.back END) / {day} AS tenure,
         a.*, t.* EXCLUDE (group_id, member_id), coalesce(g.g7, 0) AS g7, coalesce(g.g30, 0) AS g30,
         count(*) OVER (PARTITION BY p.group_id) AS size
  FROM pop p LEFT JOIN back b USING (group_id, member_id)
  LEFT JOIN agg a USING (group_id, member_id) LEFT JOIN act t USING (group_id, member_id)
  LEFT JOIN grp g USING (group_id))
SELECT group_id, member_id, $c::BIGINT AS cutoff,
  {out_counts},
  coalesce(last_speak, tenure) AS days_since_speak, coalesce(last_any, tenure) AS days_since_any_event,
  {out_claims},
  coalesce(spend_90d, 0)::DOUBLE AS spend_90d,
  CASE WHEN sum(coalesce(speak_count_30d, 0)) OVER (PARTITION BY group_id) > 0
       THEN coalesce(speak_count_30d, 0) / sum(coalesce(speak_count_30d, 0)) OVER (PARTITION BY group_id)
       ELSE 0 END::DOUBLE AS speak_share_30d,
  size::DOUBLE AS group_size, g7 / size AS group_speak_per_member_7d,
  g30 / size AS group_speak_per_member_30d
FROM j
"""


def duckdb_sql() -> str:
    def tup(xs: tuple[str, ...]) -> str:
        return "(" + ", ".join(f"'{x}'" for x in xs) + ")"

    counts = [f"count(*) FILTER (WHERE sp AND ts >= $c - {w} * {DAY_NS}) AS speak_count_{w}d"
              for w in WINDOWS]
    active = [f"count(*) FILTER (WHERE d < {w}) AS active_days_{w}d" for w in WINDOWS]
    claims = [f"count(*) FILTER (WHERE rp AND ts >= $c - {w} * {DAY_NS}) AS red_packet_claims_{w}d"
              for w in WINDOWS]
    out_cols = [f"{k}_{w}d" for k in ("speak_count", "active_days") for w in WINDOWS]
    return DUCKDB_SQL.format(
        speaking=tup(SPEAKING), exits=tup(EXITS), money=tup(MONEY_IN), day=DAY_NS,
        counts=",\n    ".join(counts), active=",\n    ".join(active), claims=",\n    ".join(claims),
        out_counts=", ".join(f"coalesce({c}, 0)::DOUBLE AS {c}" for c in out_cols),
        out_claims=", ".join(f"coalesce(red_packet_claims_{w}d, 0)::DOUBLE AS red_packet_claims_{w}d"
                             for w in WINDOWS))


def run_duckdb(data: Path, cuts: list[int], out: Path, threads: int | None = None) -> dict:
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {threads}")
    t0 = time.perf_counter()
    # ids as ENUMs (integer codes): about 3x faster group-bys than on the strings
    con.execute(f"CREATE TEMP TABLE raw AS SELECT * FROM read_parquet('{data / 'events.parquet'}')")
    con.execute(f"CREATE TEMP TABLE rawm AS SELECT * FROM read_parquet('{data / 'members.parquet'}')")
    con.execute("CREATE TYPE gid AS ENUM (SELECT group_id FROM raw UNION SELECT group_id FROM rawm)")
    con.execute("CREATE TYPE mid AS ENUM (SELECT member_id FROM raw UNION SELECT member_id FROM rawm)")
    con.execute("CREATE TYPE etype AS ENUM (SELECT DISTINCT event_type FROM raw)")
    con.execute("""CREATE TABLE ev AS SELECT epoch_ns(ts) AS ts, group_id::gid AS group_id,
                   member_id::mid AS member_id, event_type::etype AS event_type, amount FROM raw""")
    con.execute("""CREATE TABLE mem AS SELECT group_id::gid AS group_id, member_id::mid AS member_id,
                   epoch_ns(joined_at) AS joined_at FROM rawm""")
    con.execute("DROP TABLE raw; DROP TABLE rawm")
    n_events = con.execute("SELECT count(*) FROM ev").fetchall()[0][0]
    t1, c1, load_mb = time.perf_counter(), time.process_time(), end_of_load()
    sql = duckdb_sql()
    parts = [con.sql(sql, params={"c": c}).to_arrow_table() for c in cuts]
    table = pa.concat_tables(parts)
    t2, c2, compute_mb = time.perf_counter(), time.process_time(), peak_rss_mb()
    pq.write_table(table, out)
    return {"load_s": t1 - t0, "compute_s": t2 - t1, "cpu_s": c2 - c1, "peak_load_mb": load_mb,
            "peak_compute_mb": compute_mb,
            "events": n_events, "rows": table.num_rows,
            "columns": len(SUBSET),
            "threads": con.execute("SELECT current_setting('threads')").fetchall()[0][0]}


def run_featuretools(data: Path, cuts: list[int], out: Path, population: Path) -> dict:
    """DFS over events per (group, member), one training window per call (runs in --ft-python)."""
    import featuretools as ft
    import numpy as np
    import pandas as pd

    t0 = time.perf_counter()
    ev = pd.read_parquet(data / "events.parquet",
                         columns=["ts", "group_id", "member_id", "event_type", "amount"])
    g = ev["group_id"].astype("category")
    m = ev["member_id"].astype("category")
    n_m = len(m.cat.categories)
    et = ev["event_type"]
    events = pd.DataFrame({
        "eid": np.arange(len(ev)),
        "key": g.cat.codes.to_numpy(np.int64) * n_m + m.cat.codes.to_numpy(np.int64),
        "ts": ev["ts"].dt.tz_convert(None).astype("datetime64[ns]"),
        "speak": et.isin(SPEAKING).to_numpy(np.int64),
        "rp": (et == "red_packet_claim").to_numpy(np.int64),
        "spend": np.where(et.isin(MONEY_IN), ev["amount"].fillna(0.0), 0.0),
    })
    n_events = len(events)
    del ev, et
    pop = pd.read_parquet(population, columns=["group_id", "member_id", "cutoff"])
    gi = pd.Index(g.cat.categories).get_indexer(pop["group_id"])
    mi = pd.Index(m.cat.categories).get_indexer(pop["member_id"])
    pop["key"] = np.where((gi >= 0) & (mi >= 0), gi.astype(np.int64) * n_m + mi, -1 - np.arange(len(pop)))
    keys = np.union1d(events["key"].unique(), pop["key"].to_numpy())
    es = ft.EntitySet("community")
    es.add_dataframe(dataframe_name="events", dataframe=events, index="eid", time_index="ts")
    es.add_dataframe(dataframe_name="memberships", dataframe=pd.DataFrame({"key": keys}), index="key")
    es.add_relationship("memberships", "key", "events", "key")
    cutoff_time = pd.DataFrame({"key": pop["key"].to_numpy(),
                                "time": pd.to_datetime(pop["cutoff"].to_numpy(), unit="ns")})
    t1, c1, load_mb = time.perf_counter(), time.process_time(), end_of_load()
    result = pop[["group_id", "member_id", "cutoff"]].copy()
    calls = [(w, ["sum"]) for w in WINDOWS] + [(None, ["time_since_last"])]
    for w, prims in calls:
        fm = ft.dfs(entityset=es, target_dataframe_name="memberships", agg_primitives=prims,
                    trans_primitives=[], max_depth=1, cutoff_time=cutoff_time,
                    training_window=f"{w} days" if w else None, include_cutoff_time=False,
                    cutoff_time_in_index=True, features_only=False, verbose=False)[0]
        idx = pd.MultiIndex.from_arrays([cutoff_time["key"], cutoff_time["time"]])
        fm = fm.reindex(idx)
        for name, feat, fw in FT_COLUMNS:
            if fw == w:
                vals = fm[feat].to_numpy(dtype=float)
                if feat.startswith("TIME_SINCE_LAST"):
                    vals = vals / 86_400  # seconds -> days
                else:
                    vals = np.nan_to_num(vals)
                result[name] = vals
    t2, c2, compute_mb = time.perf_counter(), time.process_time(), peak_rss_mb()
    result.to_parquet(out)
    return {"load_s": t1 - t0, "compute_s": t2 - t1, "cpu_s": c2 - c1, "peak_load_mb": load_mb,
            "peak_compute_mb": compute_mb,
            "events": n_events, "rows": len(result),
            "columns": len(FT_COLUMNS), "ft_calls": len(calls)}


def child_main(args: argparse.Namespace) -> None:
    data, out = Path(args.events_dir), Path(args.out)
    cuts = [int(c) for c in args.cuts.split(",")]
    if args.child == "shequn-full":
        res = run_shequn(data, cuts, out, None)
    elif args.child == "shequn-eb":
        res = run_shequn(data, cuts, out, ["engagement", "benefit"])
    elif args.child == "shequn-subset":
        res = run_shequn_subset(data, cuts, out)
    elif args.child in ("polars", "polars-1t"):  # -1t: POLARS_MAX_THREADS=1, set by the parent
        res = run_polars(data, cuts, out)
    elif args.child in ("duckdb", "duckdb-1t"):
        res = run_duckdb(data, cuts, out, threads=1 if args.child.endswith("-1t") else None)
    elif args.child == "featuretools":
        res = run_featuretools(data, cuts, out, Path(args.population))
    elif args.child == "profile":
        res = profile_shequn(data, cuts, out)
    else:
        raise SystemExit(f"unknown engine {args.child}")
    res["peak_rss_mb"] = max(peak_rss_mb(), res.get("peak_load_mb", 0.0))
    print("RESULT " + json.dumps(res))


def profile_shequn(data: Path, cuts: list[int], out: Path) -> dict:
    import cProfile
    import pstats

    import numpy as np

    from shequn_ml.features import FeatureSpec, build_features
    from shequn_ml.features.pipeline import feature_catalogue
    from shequn_ml.io import read_events, read_groups, read_members

    feature_catalogue(FeatureSpec())  # imports outside the profile
    ev = read_events(data / "events.parquet")
    members = read_members(data / "members.parquet")
    groups = read_groups(data / "groups.parquet")
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    build_features(ev, [np.datetime64(c, "ns") for c in cuts], members=members, groups=groups)
    prof.disable()
    elapsed = time.perf_counter() - t0
    prof.dump_stats(str(out))
    with open(str(out) + ".txt", "w") as fh:
        stats = pstats.Stats(prof, stream=fh).strip_dirs()
        stats.sort_stats("tottime").print_stats(30)
        stats.sort_stats("cumulative").print_stats(45)
    return {"load_s": 0.0, "compute_s": elapsed, "events": len(ev), "rows": 0, "columns": 0}


# ---------------------------------------------------------------------------- parent
def run_child(engine: str, data: Path, cuts: list[int], out: Path, python: str,
              timeout_s: float | None, population: Path | None = None) -> dict:
    cmd = [python, str(Path(__file__).resolve()), "--child", engine, "--events-dir", str(data),
           "--cuts", ",".join(map(str, cuts)), "--out", str(out)]
    if population is not None:
        cmd += ["--population", str(population)]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    if engine.endswith("-1t"):
        env["POLARS_MAX_THREADS"] = "1"
    started = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired:
        return {"engine": engine, "status": f"did not finish in {timeout_s / 60:.0f} min",
                "wall_s": time.perf_counter() - started}
    wall = time.perf_counter() - started
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-5000:])
        return {"engine": engine, "status": f"failed (exit {proc.returncode})", "wall_s": wall}
    res = json.loads(lines[-1][len("RESULT "):])
    res.update(engine=engine, status="ok", wall_s=wall)
    return res


def compare(ref: Path, other: Path, columns: list[str] | None = None, skip_missing: bool = False) -> dict:
    """Max abs difference per shared column, on rows keyed by (group, member, cutoff)."""
    import numpy as np
    import pandas as pd

    a = pd.read_parquet(ref)
    b = pd.read_parquet(other)
    cols = [c for c in (columns or SUBSET) if c in a.columns and c in b.columns]
    for df in (a, b):
        df["group_id"] = df["group_id"].astype(str)
        df["member_id"] = df["member_id"].astype(str)
    j = a[KEY + cols].merge(b[KEY + cols], on=KEY, how="outer", suffixes=("_a", "_b"), indicator=True)
    only = int((j["_merge"] != "both").sum())
    j = j[j["_merge"] == "both"]
    worst, worst_col, n_bad = 0.0, "", 0
    for c in cols:
        x, y = j[f"{c}_a"].to_numpy(float), j[f"{c}_b"].to_numpy(float)
        both_nan = np.isnan(x) & np.isnan(y)
        if skip_missing:  # featuretools' TIME_SINCE_LAST has no value without events: skip those
            both_nan |= np.isnan(y)
        d = np.where(both_nan, 0.0, np.abs(x - y))
        d = np.where(np.isnan(d), np.inf, d)
        n_bad += int((d >= TOL).sum())
        if d.size and d.max() > worst:
            worst, worst_col = float(d.max()), c
    return {"rows_compared": len(j), "rows_unmatched": only, "columns": len(cols),
            "max_abs_diff": worst, "worst_column": worst_col, "values_off": n_bad}


def fmt_row(size: str, n_cuts: int, r: dict) -> str:
    if r.get("status") != "ok":
        return f"| {size} | {r['engine']} | {r['status']} | | | | | | | | | | | |"
    ev_cut = r["events"] * n_cuts / r["compute_s"] / 1e6
    rows = r["rows"] / r["compute_s"] / 1e3
    return (f"| {size} | {r['engine']} | {r['events'] / 1e6:.2f} M | {r['rows']:,} | {r['columns']} "
            f"| {r['load_s']:.1f} | {r['compute_s']:.2f} | {', '.join(map(str, r['runs_s']))} "
            f"| {r['cpu_s']:.2f} "
            f"| {ev_cut:.2f} | {rows:.0f} | {r.get('peak_load_mb', float('nan')):,.0f} "
            f"| {r.get('peak_compute_mb', float('nan')):,.0f} | {r['peak_rss_mb']:,.0f} |")


REFERENCES = ("polars", "polars-1t", "duckdb", "duckdb-1t")


def ratio_rows(results: list[dict]) -> list[str]:
    """Per size and library engine: wall and CPU time over the best reference's, and featuretools'
    time over the engine's."""
    lines = []
    for size in dict.fromkeys(r["size"] for r in results):
        mine = [r for r in results if r["size"] == size and r["status"] == "ok"]
        refs = [r for r in mine if r["engine"] in REFERENCES]
        ft = next((r for r in results if r["size"] == size and r["engine"] == "featuretools"), None)
        if not refs:
            continue
        best_wall = min(refs, key=lambda r: r["compute_s"])
        best_cpu = min(refs, key=lambda r: r["cpu_s"])
        for r in mine:
            if not r["engine"].startswith("shequn"):
                continue
            if ft is None:
                vs_ft = "not run"
            elif ft["status"] == "ok":
                vs_ft = f"{ft['compute_s'] / r['compute_s']:.1f}x"
            else:
                bound = math.floor(ft["wall_s"] / r["compute_s"] * 10) / 10  # a lower bound: round down
                vs_ft = f"> {bound:.1f}x (featuretools {ft['status']})"
            lines.append(f"| {size} | {r['engine']} | {r['compute_s'] / best_wall['compute_s']:.2f} "
                         f"({best_wall['engine']}) | {r['cpu_s'] / best_cpu['cpu_s']:.2f} "
                         f"({best_cpu['engine']}) | {vs_ft} |")
    return lines


def machine() -> str:
    import importlib.metadata as md

    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    libs = []
    for lib in ("numpy", "pandas", "pyarrow", "polars", "duckdb"):
        try:
            libs.append(f"{lib} {md.version(lib)}")
        except md.PackageNotFoundError:
            libs.append(f"{lib} (missing)")
    repo = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "shequn_ml"],
                               capture_output=True, text=True).stdout.strip()
        libs.append(f"shequn_ml at {head}{' + uncommitted changes' if dirty else ''}")
    except OSError:
        pass
    return (f"{platform.machine()}, {os.cpu_count()} cores, {mem_gb:.0f} GB RAM, "
            f"Python {platform.python_version()}, " + ", ".join(libs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "shequn-bench-data",
                        help="where simulated worlds are cached (simulated on first use)")
    parser.add_argument("--sizes", nargs="+", default=["1m", "20m"], choices=sorted(SIZES))
    parser.add_argument("--engines", nargs="+",
                        default=["polars", "polars-1t", "duckdb", "duckdb-1t", "shequn-subset",
                                 "shequn-eb", "shequn-full", "featuretools"])
    parser.add_argument("--cutoffs", type=int, default=8, help="number of rolling cutoffs")
    parser.add_argument("--every-days", type=int, default=7, help="days between cutoffs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs per engine (featuretools: 1); the table shows the fastest")
    parser.add_argument("--sim-jobs", type=int, default=2, help="processes for the simulator")
    parser.add_argument("--ft-python", default=sys.executable,
                        help="interpreter with featuretools (e.g. /tmp/ft-venv/bin/python)")
    parser.add_argument("--ft-timeout-min", type=float, default=15.0)
    parser.add_argument("--profile", action="store_true",
                        help="also cProfile build_features (default spec) at the smallest size")
    parser.add_argument("--work-dir", type=Path, default=None, help="keep engine outputs here")
    parser.add_argument("--json", type=Path, default=None, help="write all results as JSON here")
    # internal: run one engine in this (child) process
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--events-dir", help=argparse.SUPPRESS)
    parser.add_argument("--cuts", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--population", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args)
        return

    work = args.work_dir or Path(tempfile.mkdtemp(prefix="bench-features-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"# {machine()}; load average at start {os.getloadavg()[0]:.2f}", file=sys.stderr)
    results: list[dict] = []
    checks: list[tuple[str, str, dict]] = []
    start = dt.date(2024, 1, 1)
    cuts = cutoff_list(start, DAYS, args.cutoffs, args.every_days)
    for size in args.sizes:
        data = ensure_data(args.data_dir, size, args.seed, args.sim_jobs)
        outs: dict[str, Path] = {}
        for engine in args.engines:
            out = work / f"{size}-{engine}.parquet"
            python, timeout, population = sys.executable, None, None
            if engine == "featuretools":
                python, timeout = args.ft_python, args.ft_timeout_min * 60
                population = next((outs[e] for e in ("shequn-full", "polars", "shequn-subset")
                                   if e in outs), None)
                if population is None:
                    print("# featuretools needs the population from another engine; skipped",
                          file=sys.stderr)
                    continue
            runs = []
            for _ in range(1 if engine == "featuretools" else args.repeat):
                load = os.getloadavg()[0]
                res = run_child(engine, data, cuts, out, python, timeout, population)
                res.update(size=size, load_before=load, load_after=os.getloadavg()[0])
                print(f"# {size} {engine}: {json.dumps(res)}", file=sys.stderr)
                runs.append(res)
                if res["status"] != "ok":
                    break
            ok = [r for r in runs if r["status"] == "ok"]
            res = min(ok, key=lambda r: r["compute_s"]) if ok and len(ok) == len(runs) else runs[-1]
            res = dict(res, runs_s=[round(r.get("compute_s", float("nan")), 2) for r in runs],
                       peak_rss_mb=max((r["peak_rss_mb"] for r in ok), default=None),
                       peak_compute_mb=max((r.get("peak_compute_mb", 0.0) for r in ok), default=None))
            results.append(res)
            if res["status"] == "ok":
                outs[engine] = out
        ref = outs.get("shequn-full") or outs.get("shequn-eb")
        if ref is not None:
            for engine, out in outs.items():
                if out == ref:
                    continue
                cols = [c for c, _, _ in FT_COLUMNS] if engine == "featuretools" else None
                chk = compare(ref, out, cols, skip_missing=engine == "featuretools")
                checks.append((size, engine, chk))
                print(f"# check {size} {engine} vs build_features: {chk}", file=sys.stderr)
                if engine != "featuretools" and (chk["max_abs_diff"] >= TOL or chk["rows_unmatched"]):
                    raise AssertionError(f"{engine} disagrees with build_features at {size}: {chk}")
        if args.profile and size == args.sizes[0]:
            res = run_child("profile", data, cuts, work / f"{size}-profile.prof", sys.executable, None)
            print(f"# profile: {work / f'{size}-profile.prof.txt'} "
                  f"({res.get('compute_s', 0):.1f} s under cProfile)", file=sys.stderr)

    cut_days = [dt.datetime.fromtimestamp(c / 1e9, dt.UTC).date().isoformat() for c in cuts]
    print(f"Machine: {machine()}  ")
    print(f"Cutoffs: {len(cuts)} every {args.every_days} days, {cut_days[0]} .. {cut_days[-1]}\n")
    print("| size | engine | events | member-rows | cols | load s | compute s (best) | all runs s "
          "| CPU s (best run) | M events·cutoffs/s | k member-rows/s | peak RSS load MiB "
          "| peak RSS compute MiB | peak RSS MiB |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(fmt_row(r["size"], len(cuts), r))
    ratios = ratio_rows(results)
    if ratios:
        print("\n| size | engine | compute wall / best reference's | CPU / best reference's "
              "| featuretools wall / engine's |")
        print("|---|---|---:|---:|---:|")
        print("\n".join(ratios))
    print("\nLoad average (1 min) before/after each run: "
          + "; ".join(f"{r['size']} {r['engine']} {r['load_before']:.1f}/{r['load_after']:.1f}"
                      for r in results))
    if checks:
        print("\n| size | engine vs build_features | rows compared | rows unmatched | columns "
              "| max abs diff | values off (>= 1e-9) |")
        print("|---|---|---:|---:|---:|---:|---:|")
        for size, engine, c in checks:
            print(f"| {size} | {engine} | {c['rows_compared']:,} | {c['rows_unmatched']:,} | "
                  f"{c['columns']} | {c['max_abs_diff']:.3g} | {c['values_off']:,} |")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "cutoffs": cut_days,
                                         "results": results,
                                         "checks": [dict(size=s, engine=e, **c) for s, e, c in checks]},
                                        indent=2))


if __name__ == "__main__":
    main()
