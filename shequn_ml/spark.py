"""Scale-out scoring on Apache Spark, with the same per-group code as the pandas engine.

Every feature of :mod:`shequn_ml.features` is a pure function of one group's events
(plus the member's cross-group count ``groups_in``, joined afterwards), so Spark
runs the pandas engine's own stages per group and adds no second implementation:

1. ``events.groupBy("group_id").cogroup(members.groupBy("group_id")).applyInPandas``
   runs :func:`shequn_ml.scoring.prepare` on each group: the roster with its
   statuses, the features every model reads, the silence population;
2. ``groups_in`` is recounted across groups (a window over ``member_id``);
3. each model scores through ``mlflow.pyfunc.spark_udf`` (obtained from
   :func:`shequn_ml.tracking.spark_udf`, the only module that imports mlflow),
   returning the score and three reasons (English, Chinese, feature) as a struct;
4. ``groupBy("group_id").applyInPandas`` runs :func:`shequn_ml.scoring.assemble`
   per group (statuses, notes, tiers against last night's, ``kol_rank_in_group``);
   the group signals (:func:`shequn_ml.explain.group_signals`) are computed per
   group by another grouped ``applyInPandas`` over the same feature rows;
5. the table is written by Spark as one Parquet file (and CSV on request) into a
   temporary folder beside the output, and renamed into place; the contact list
   (a few rows per group) is built from that file on the driver and written in the
   same output set.

Set ``PYSPARK_PYTHON`` (done by :func:`spark_session`) so workers run this
interpreter. Java 17 or newer must be on ``PATH``.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from shequn_ml.contacts import TIER_COLUMN, TierPolicy, contact_list, previous_tiers
from shequn_ml.explain import LANGS, Lang, group_signals, langs_of
from shequn_ml.features.snapshots import to_cutoff
from shequn_ml.outputs import write_output_set
from shequn_ml.scoring import (
    KEY,
    N_REASONS,
    OUTPUT_COLUMNS,
    RISK_TASKS,
    TASKS,
    ModelBundle,
    ScoreResult,
    assemble,
    contacts_path,
    finish,
    group_signal_table,
    manifest_info,
    manifest_path,
    output_columns,
    prepare,
)

#: Spark DDL of the output table (the columns of :data:`shequn_ml.scoring.OUTPUT_COLUMNS`).
OUTPUT_SCHEMA = ", ".join(
    f"{c} {'timestamp' if c == 'cutoff' else 'double' if c in ('silence_risk', 'churn_risk', 'kol_score') else 'long' if c == 'kol_rank_in_group' else 'string'}"  # noqa: E501
    for c in OUTPUT_COLUMNS)
#: The grouping column of the per-call stages when groups are bucketed.
CALL = "_shequn_call"
#: The parts of each reason the pyfunc returns: the sentence per language and the feature.
REASON_PARTS = [f"{i}_{suffix}" for i in range(1, N_REASONS + 1) for suffix in (*LANGS, "feature")]
PRED_SCHEMA = "score double, " + ", ".join(f"reason_{part} string" for part in REASON_PARTS)
#: Last night's tiers, joined to the feature rows for the assemble stage.
PREV = "prev__"
#: The group signals' columns, in the order :func:`shequn_ml.explain.group_signals` gives them.
SIGNAL_SCHEMA = ("task string, group_id string, members_explained long, "
                 + ", ".join(f"group_signal_{i}_{suffix} string" for i in range(1, N_REASONS + 1)
                             for suffix in ("feature", *LANGS)))


def spark_session(master: str = "local[2]", app_name: str = "shequn-ml", **conf: str):
    """A Spark session for scoring: UTC, no UI, workers on this interpreter.

    Parameters
    ----------
    master : str, default "local[2]"
    app_name : str
    **conf
        Extra Spark settings (``spark.driver.memory="8g"``, ...); dots as given. The
        driver gets 4 GB by default (in local mode it also runs the executors).
    """
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = (SparkSession.builder.master(master).appName(app_name)
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.ui.enabled", "false")
               .config("spark.sql.shuffle.partitions", "8")
               .config("spark.sql.execution.arrow.pyspark.enabled", "true")
               # local mode runs the executors in the driver's JVM: its default 1 GB heap
               # ran out on a million members (cached feature rows, the write's shuffle)
               .config("spark.driver.memory", "4g")
               .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC")
               .config("spark.executor.extraJavaOptions", "-Duser.timezone=UTC"))
    for k, v in conf.items():
        builder = builder.config(k, v)
    return builder.getOrCreate()


def _for_arrow(df: pd.DataFrame) -> pd.DataFrame:
    """Text columns as plain object arrays: PySpark's Arrow path cannot take pandas 3's
    Arrow-backed ``str`` columns (chunked arrays) from a UDF."""
    for c in df.columns:
        if isinstance(df[c].dtype, pd.StringDtype) or df[c].dtype == object:
            df[c] = pd.Series(df[c].to_numpy(dtype=object), index=df.index, dtype=object)
    return df


def _feature_columns(bundles: Mapping[str, ModelBundle]) -> list[str]:
    cols: list[str] = []
    for b in bundles.values():
        cols += [c for c in b.feature_names if c not in cols]
    return cols


def _prepare_group(cutoff: pd.Timestamp, bundles: Mapping[str, ModelBundle], groups: pd.DataFrame | None,
                   columns: list[str]) -> Callable[[pd.DataFrame, pd.DataFrame], pd.DataFrame]:
    """The function of stage 1: raw rows of whole groups in, long feature rows out."""

    def run(ev_raw: pd.DataFrame, mem_raw: pd.DataFrame) -> pd.DataFrame:
        from shequn_ml.io import read_events, read_groups, read_members

        ev_raw = ev_raw.drop(columns=[CALL], errors="ignore")
        mem_raw = mem_raw.drop(columns=[CALL], errors="ignore")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            members = read_members(mem_raw) if len(mem_raw) else None
            side = None
            if groups is not None:
                mine = set(ev_raw["group_id"].astype(str)) | set(mem_raw["group_id"].astype(str))
                rows = groups.loc[groups["group_id"].astype(str).isin(mine)]
                side = read_groups(rows) if len(rows) else None
            if len(ev_raw):
                events = read_events(ev_raw)
                prep = prepare(events, cutoff, bundles, members=members, groups=side)
                roster = prep.roster
                feats = next(iter(prep.features.values()))
                for f in prep.features.values():
                    if len(f.columns) > len(feats.columns):
                        feats = f
                pop = prep.in_silence_population
            else:  # a group with members but no events: nobody can be scored
                joined = members["joined_at"] if members is not None and "joined_at" in members else None
                roster = pd.DataFrame({"group_id": mem_raw["group_id"].astype(str).to_numpy(dtype=object),
                                       "member_id": mem_raw["member_id"].astype(str).to_numpy(dtype=object)})
                ok = (joined.notna() & (joined < cutoff)).to_numpy() if joined is not None else False
                roster["status"] = np.where(ok, "no_usable_history", "not_joined_by_cutoff")
                roster = roster.drop_duplicates(KEY)
                feats, pop = pd.DataFrame(columns=KEY), None
        out = roster[KEY + ["status"]].reset_index(drop=True)
        keys = pd.MultiIndex.from_frame(out[KEY].astype(str))
        # one indexer and one float block for all feature columns (per-column reindex and
        # insertion cost more than the group's features)
        block = np.full((len(out), len(columns)), np.nan)
        if len(feats):
            take = pd.MultiIndex.from_frame(feats[KEY].astype(str)).get_indexer(keys)
            found = take >= 0
            have = [j for j, c in enumerate(columns) if c in feats.columns]
            if have and found.any():
                values = feats[[columns[j] for j in have]].to_numpy(dtype=float)
                block[np.ix_(found, have)] = values[take[found]]
        in_pop = np.zeros(len(out), dtype=bool)
        if pop is not None and len(pop):
            at = pd.MultiIndex.from_frame(pop[KEY].astype(str)).get_indexer(keys)
            flags = pop["in_population"].to_numpy(dtype=bool)
            in_pop[at >= 0] = flags[at[at >= 0]]
        out = pd.concat([out, pd.DataFrame({"in_population": in_pop}),
                         pd.DataFrame(block, columns=columns)], axis=1)
        return _for_arrow(out)

    return run


def _assemble_group(cutoff: pd.Timestamp, bundles: Mapping[str, ModelBundle], tiers: TierPolicy
                    ) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """The function of stage 4: scored long rows of whole groups in, output rows out."""

    def run(pdf: pd.DataFrame) -> pd.DataFrame:
        pdf = pdf.drop(columns=[CALL], errors="ignore")
        roster = pdf[KEY + ["status"]].astype({"group_id": str, "member_id": str})
        preds = {}
        for task in bundles:
            has = pdf[f"{task}__score"].notna().to_numpy()
            part = pdf.loc[has]
            preds[task] = pd.DataFrame({
                "group_id": part["group_id"].astype(str).to_numpy(dtype=object),
                "member_id": part["member_id"].astype(str).to_numpy(dtype=object),
                "score": part[f"{task}__score"].to_numpy(dtype=float),
                **{f"reason_{p}": part[f"{task}__reason_{p}"].fillna("").to_numpy(dtype=object)
                   for p in REASON_PARTS}})
        previous = None
        if f"{PREV}silence_tier" in pdf.columns:
            previous = pd.DataFrame({"group_id": roster["group_id"].to_numpy(dtype=object),
                                     "member_id": roster["member_id"].to_numpy(dtype=object),
                                     **{c: pdf[f"{PREV}{c}"].fillna("").to_numpy(dtype=object)
                                        for c in TIER_COLUMN.values()}})
        scored = pdf["status"].to_numpy() == "scored"
        pop = pd.DataFrame({"group_id": pdf.loc[scored, "group_id"].astype(str),
                            "member_id": pdf.loc[scored, "member_id"].astype(str),
                            "in_population": pdf.loc[scored, "in_population"].to_numpy(dtype=bool)})
        facts = pdf.loc[scored, KEY + ["renewals", "is_paid"]] \
            if {"renewals", "is_paid"} <= set(pdf.columns) else None
        out = assemble(cutoff, roster, preds, bundles, pop if "silence" in bundles else None, facts=facts,
                       previous=previous, tiers=tiers)
        out["cutoff"] = out["cutoff"].dt.tz_convert(None)
        return _for_arrow(out)

    return run


def _signals_group(bundles: Mapping[str, ModelBundle]) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """Group signals of whole groups: scored feature rows in, one row per (task, group) out."""

    def run(pdf: pd.DataFrame) -> pd.DataFrame:
        parts = []
        for task in RISK_TASKS:
            if task not in bundles:
                continue
            rows = pdf.loc[pdf["in_population"].to_numpy(dtype=bool)] if task == "silence" else pdf
            if not len(rows):
                continue
            _, explanation, X = bundles[task].explain(rows)
            sig = group_signals(explanation, X, rows["group_id"].astype(str).to_numpy(dtype=object),
                                k=N_REASONS, lang="both", with_features=True)
            parts.append(sig.assign(task=task))
        cols = [f.split(" ")[0] for f in SIGNAL_SCHEMA.split(", ")]
        if not parts:
            return pd.DataFrame({c: pd.Series(dtype=np.int64 if c == "members_explained" else object)
                                 for c in cols})
        return _for_arrow(pd.concat(parts, ignore_index=True)[cols])

    return run


def check_groups_per_call(groups_per_call: object) -> None:
    """Refuse anything but a positive integer (before any work is done)."""
    if not isinstance(groups_per_call, int) or groups_per_call < 1:
        raise ValueError(f"groups_per_call must be a positive integer, got {groups_per_call!r}")


def _n_calls(frames: list, groups_per_call: int) -> int:
    """How many Python calls the per-group stages make: one per group with
    ``groups_per_call=1``, else ``ceil(n_groups / groups_per_call)`` (0: one call per group)."""
    check_groups_per_call(groups_per_call)
    if groups_per_call == 1:
        return 0
    ids = frames[0].select("group_id")
    for f in frames[1:]:
        ids = ids.union(f.select("group_id"))
    return max(1, -(-ids.distinct().count() // groups_per_call))


def _calls(frames: list, n_calls: int) -> tuple[list, list[str]]:
    """Add the column that says which Python call each row's group goes to.

    With ``n_calls=0`` each group is its own call (``groupBy("group_id")``); otherwise
    the groups are hashed into ``n_calls`` buckets, so every group's rows still meet
    in one call and one call prepares many groups.
    """
    from pyspark.sql import functions as F

    if n_calls == 0:
        return frames, ["group_id"]
    return [f.withColumn(CALL, F.pmod(F.xxhash64(F.col("group_id").cast("string")), F.lit(n_calls)))
            for f in frames], [CALL]


def _read(spark, path: str | os.PathLike[str]):
    p = str(path)
    if p.lower().endswith(".csv"):
        return spark.read.csv(p, header=True)
    return spark.read.parquet(p)


def _spark_part(df, folder: Path, fmt: str) -> Path:
    """Write ``df`` as one part file through Spark into ``folder`` and return the part."""
    target = folder / fmt
    writer = df.repartition(1).sortWithinPartitions(*KEY).write.mode("overwrite")
    if fmt == "csv":
        writer.option("header", True).csv(str(target))
    else:
        writer.parquet(str(target))
    parts = sorted(target.glob(f"part-*.{'csv' if fmt == 'csv' else 'parquet'}")) or \
        sorted(target.glob("part-*"))
    if len(parts) != 1:
        raise RuntimeError(f"Spark wrote {len(parts)} part files into {target}, expected 1")
    return parts[0]


def _move_into(part: Path, bom: bool = False) -> Callable[[str], None]:
    """A writer for :func:`shequn_ml.outputs.write_output_set` that moves a Spark part into place."""
    def move(tmp: str) -> None:
        if not bom:
            os.replace(part, tmp)
            return
        with open(tmp, "wb") as dst, open(part, "rb") as src:
            dst.write(b"\xef\xbb\xbf")
            shutil.copyfileobj(src, dst, 1 << 20)
    return move


def score_members_spark(
    events: str | os.PathLike[str],
    cutoff: object,
    bundles: Mapping[str, ModelBundle],
    *,
    members: str | os.PathLike[str] | None = None,
    groups: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    csv: bool = False,
    csv_bom: bool = False,
    spark=None,
    groups_per_call: int = 64,
    lang: Lang = "both",
    previous: pd.DataFrame | str | os.PathLike[str] | None = None,
    tiers: TierPolicy | None = None,
    contacts_per_group: int | None = 10,
    influence_weight: float = 1.0,
    paid_weight: float = 1.0,
    group_signals: bool = True,
    xlsx: bool = False,
    progress: Callable[[str], None] | None = None,
) -> ScoreResult:
    """:func:`shequn_ml.scoring.score_members` on Spark, reading and writing through Spark.

    Parameters
    ----------
    events, members, groups : path
        Input files (Parquet or CSV), read by Spark; validate them first
        (``shequn-ml validate``; ``shequn-ml score`` does).
    cutoff : date-like
    bundles : mapping task -> ModelBundle
        Registered models (their ``name``/``version`` address ``models:/name/version``
        for ``spark_udf``), e.g. from :func:`shequn_ml.tracking.load_bundle`.
    out : path, optional
        Where Spark writes the table (one Parquet file, renamed into place); CSV
        beside it with ``csv=True``.
    spark : SparkSession, optional
        Default :func:`spark_session`.
    groups_per_call : int, default 64
        How many whole groups one Python call of the per-group stages prepares.
        ``1`` is ``groupBy("group_id").applyInPandas``, one call per group; larger
        values hash the groups into buckets (a group is never split), which spares
        the fixed cost of a call (about 0.15 s per group of 100 members here, more
        than its features) and gives the same table.
    lang, previous, tiers, contacts_per_group, influence_weight, paid_weight
        As in :func:`shequn_ml.scoring.score_members` (group-level member reasons,
        ``group_level=True``, are not available on Spark yet).
    group_signals : bool, default True
        Compute :attr:`ScoreResult.group_signals` (a second SHAP pass over the risk
        models' rows, per group; False spares it).
    xlsx : bool, default False
        Also write the workbook (``<out stem>.xlsx``: sheets scores and contacts), with
        openpyxl on the driver from the file Spark wrote.
    progress : callable, optional
        Called with each stage name.

    Returns
    -------
    ScoreResult
        ``table`` collected to pandas, in the pandas engine's column order.
    """
    from pyspark.sql import functions as F
    from pyspark.sql.window import Window

    from shequn_ml.tracking import spark_udf

    say = progress or (lambda stage: None)
    cut = to_cutoff(cutoff)
    langs_of(lang)
    policy = tiers or TierPolicy()
    prev = previous_tiers(previous, cut, policy) if previous is not None else None
    spark = spark or spark_session()
    seconds: dict[str, float] = {}
    clock = time.perf_counter()
    say("roster")
    ev = _read(spark, events)
    if members:
        mem = _read(spark, members)
    else:
        mem = spark.createDataFrame([], "group_id string, member_id string")
    gt = None
    if groups:
        gt = _read(spark, groups).toPandas()
    columns = _feature_columns(bundles)
    schema = ", ".join(["group_id string", "member_id string", "status string", "in_population boolean"]
                       + [f"`{c}` double" for c in columns])
    say("features")
    # the groups are counted once, before any model runs (a count after the scoring
    # columns are added would run the models)
    n_calls = _n_calls([ev, mem], groups_per_call)
    (ev, mem), by = _calls([ev, mem], n_calls)
    long = (ev.groupBy(*by).cogroup(mem.groupBy(*by))
            .applyInPandas(_prepare_group(cut, bundles, gt, columns), schema=schema))
    if "groups_in" in columns:
        w = Window.partitionBy("member_id")
        scored_flag = (F.col("status") == "scored").cast("double")
        long = long.withColumn("groups_in", F.when(F.col("status") == "scored",
                                                   F.sum(scored_flag).over(w)))
    cached = long = long.cache()
    n_in = long.count()
    seconds["features"] = time.perf_counter() - clock
    # the models run on the scored rows only: a Python UDF inside F.when is still evaluated
    # on every row, and a third of the roster (members who left) needs no score
    is_scored = F.col("status") == "scored"
    scored, rest = long.filter(is_scored), long.filter(~is_scored)
    for task in TASKS:
        if task not in bundles:
            continue
        say(f"score {task}")
        b = bundles[task]
        udf = spark_udf(spark, b, PRED_SCHEMA)
        pred = udf(F.struct(*[F.col(f"`{c}`") for c in b.feature_names]))
        if task == "silence":
            pred = F.when(F.col("in_population"), pred)
        scored = scored.withColumn(f"{task}__pred", pred)
        scored = scored.withColumn(f"{task}__score", F.col(f"{task}__pred.score"))
        rest = rest.withColumn(f"{task}__score", F.lit(None).cast("double"))
        for part in REASON_PARTS:
            scored = scored.withColumn(f"{task}__reason_{part}", F.col(f"{task}__pred.reason_{part}"))
            rest = rest.withColumn(f"{task}__reason_{part}", F.lit(None).cast("string"))
        scored = scored.drop(f"{task}__pred")
    long = scored.unionByName(rest)
    if prev is not None:
        tiers_then = spark.createDataFrame(
            prev.rename(columns={c: f"{PREV}{c}" for c in TIER_COLUMN.values()}),
            schema="group_id string, member_id string, "
                   + ", ".join(f"{PREV}{c} string" for c in TIER_COLUMN.values()))
        long = long.join(tiers_then, on=KEY, how="left")
    clock = time.perf_counter()
    (long,), by = _calls([long], n_calls)
    table = long.groupBy(*by).applyInPandas(_assemble_group(cut, bundles, policy), schema=OUTPUT_SCHEMA)
    table = table.select(*[f"`{c}`" for c in output_columns(lang)])
    signal_rows = None
    if group_signals and any(t in bundles for t in RISK_TASKS):
        say("group signals")
        (rows,), by_signal = _calls([cached.filter(is_scored)], n_calls)
        signal_rows = (rows.groupBy(*by_signal).applyInPandas(_signals_group(bundles), schema=SIGNAL_SCHEMA)
                       .toPandas())
    say("write")
    stage_dir = None
    if out is not None:
        dest = Path(out)
        dest.parent.mkdir(parents=True, exist_ok=True)
        # named like the output set's temporary files, so a killed run's folder is cleaned up
        stage_dir = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".spark.tmp", dir=dest.parent))
    try:
        if out is not None:
            part = _spark_part(table, stage_dir, "parquet")
            result_pdf = pd.read_parquet(part)
            csv_part = _spark_part(table, stage_dir, "csv") if csv else None
        else:
            result_pdf = table.toPandas()
        seconds["score_and_write"] = time.perf_counter() - clock
        cached.unpersist()
        result_pdf["cutoff"] = pd.to_datetime(result_pdf["cutoff"]).dt.tz_localize("UTC") \
            if result_pdf["cutoff"].dt.tz is None else result_pdf["cutoff"]
        result_pdf["kol_rank_in_group"] = result_pdf["kol_rank_in_group"].astype("Int64")
        result_pdf = result_pdf.sort_values(KEY, kind="stable").reset_index(drop=True)[output_columns(lang)]
        result = finish(result_pdf, bundles, seconds, rows_in=n_in, lang=lang, previous=prev)
        if signal_rows is not None:
            result.group_signals = group_signal_table(
                {t: grp.drop(columns="task").sort_values("group_id", kind="stable").reset_index(drop=True)
                 for t, grp in signal_rows.groupby("task", sort=True)}, lang)
        if contacts_per_group:
            from shequn_ml.io import read_members

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # validated (and warned about) by the caller
                mt = read_members(members) if members else None
            result.contacts = contact_list(result.table, mt, per_group=contacts_per_group,
                                           influence_weight=influence_weight, paid_weight=paid_weight,
                                           lang=lang)
        if out is not None:
            from shequn_ml.io import to_arrow
            from shequn_ml.scoring import _xlsx_writer

            files = {dest: _move_into(part)}
            if csv_part is not None:
                files[dest.with_suffix(".csv")] = _move_into(csv_part, bom=csv_bom)
            if result.contacts is not None:
                contacts = result.contacts
                files[contacts_path(dest)] = lambda tmp: pq.write_table(to_arrow(contacts), tmp)
                if csv:
                    files[contacts_path(dest, ".csv")] = lambda tmp: contacts.to_csv(
                        tmp, index=False, encoding="utf-8-sig" if csv_bom else "utf-8")
            if xlsx:
                sheets = {"scores": result.table,
                          **({"contacts": result.contacts} if result.contacts is not None else {})}
                files[dest.with_suffix(".xlsx")] = _xlsx_writer(sheets, cut)
            write_output_set(files, manifest_path(dest), manifest_info(result, cut))
    finally:
        if stage_dir is not None:
            shutil.rmtree(stage_dir, ignore_errors=True)
    return result


__all__ = ["OUTPUT_SCHEMA", "check_groups_per_call", "score_members_spark", "spark_session"]
