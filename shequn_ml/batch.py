"""The nightly batch job: read, validate, load the champions, score, write, log.

:func:`run_batch_scoring` is what ``shequn-ml score`` calls. The order is chosen so
that nothing is written unless everything before it worked:

1. read and validate the events, members and groups (bad input is refused with
   the validation messages before any model is loaded);
2. load the three models ``models:/<name>@<alias>`` from the registry (a missing
   model, alias or store is a one-line :class:`~shequn_ml.tracking.ModelUnavailableError`);
3. build features at the cutoff, score and explain (:func:`shequn_ml.scoring.score_members`
   on the pandas engine, :func:`shequn_ml.spark.score_members_spark` on Spark);
4. write the table atomically (temporary file, then rename);
5. log the run to MLflow: counts, timings, model versions, input and output digests.

Examples
--------
>>> from shequn_ml.batch import STAGES
>>> STAGES[0], STAGES[-1]
('read', 'log')
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from shequn_ml.scoring import TASKS, ScoreResult, score_members, write_scores

STAGES = ("read", "load models", "roster", "features", "score silence", "score churn", "score kol",
          "assemble", "write", "log")
DEFAULT_MODEL_NAMES = {"silence": "shequn-silence", "churn": "shequn-churn", "kol": "shequn-kol"}
Engine = Literal["pandas", "spark"]


@dataclass
class BatchResult:
    """The scoring result and where it went."""

    result: ScoreResult
    written: list[Path]
    run_id: str | None
    seconds: dict[str, float] = field(default_factory=dict)


def run_batch_scoring(
    events: str,
    cutoff: str,
    out: str,
    *,
    members: str | None = None,
    groups: str | None = None,
    alias: str = "champion",
    model_names: dict[str, str] | None = None,
    engine: Engine = "pandas",
    csv: bool = False,
    tracking_uri: str | None = None,
    log_run: bool = True,
    progress: Callable[[str], None] | None = None,
    groups_per_call: int = 64,
) -> BatchResult:
    """Score every member at ``cutoff`` with the registered models and write one table.

    Parameters
    ----------
    events, members, groups : str
        Input files (CSV or Parquet), validated before any work.
    cutoff : str
        Scoring date (features read events strictly before it).
    out : str
        Output Parquet file (``.csv`` beside it with ``csv=True``).
    alias : str, default "champion"
        Registry alias of the models to use.
    model_names : dict, optional
        task -> registered model name (default :data:`DEFAULT_MODEL_NAMES`).
    engine : {"pandas", "spark"}, default "pandas"
    csv : bool, default False
        Also write CSV.
    tracking_uri : str, optional
        MLflow store (default ``$MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db``).
    log_run : bool, default True
        Log the scoring run to MLflow.
    progress : callable, optional
        Called with each stage name of :data:`STAGES` as it starts.
    groups_per_call : int, default 64
        Spark engine only: whole groups one Python call prepares
        (see :func:`shequn_ml.spark.score_members_spark`).

    Returns
    -------
    BatchResult
    """
    from shequn_ml.io import read_events, read_groups, read_members
    from shequn_ml.tracking import load_bundle, log_scoring_run

    if engine not in ("pandas", "spark"):
        raise ValueError(f"engine must be 'pandas' or 'spark', got {engine!r}")
    from shequn_ml.spark import check_groups_per_call  # pyspark itself is imported lazily there

    check_groups_per_call(groups_per_call)
    say = progress or (lambda stage: None)
    names = {**DEFAULT_MODEL_NAMES, **(model_names or {})}
    seconds: dict[str, float] = {}
    clock = time.perf_counter()
    say("read")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # repairs are reported by `shequn-ml validate`
        ev = read_events(events)
        mt = read_members(members) if members else None
        gt = read_groups(groups) if groups else None
    seconds["read"] = time.perf_counter() - clock
    clock = time.perf_counter()
    say("load models")
    bundles = {task: load_bundle(names[task], tracking_uri=tracking_uri, alias=alias) for task in TASKS}
    seconds["load_models"] = time.perf_counter() - clock
    clock = time.perf_counter()
    if engine == "spark":
        from shequn_ml.spark import score_members_spark

        # Spark writes the table itself (one file, renamed into place): the table is never
        # collected through the driver's JVM, which would not hold a million members' rows
        result = score_members_spark(events, cutoff, bundles, members=members, groups=groups,
                                     out=out, csv=csv, progress=say, groups_per_call=groups_per_call)
        written = [Path(out)] + ([Path(out).with_suffix(".csv")] if csv else [])
        seconds["score_and_write"] = time.perf_counter() - clock
    else:
        result = score_members(ev, cutoff, bundles, members=mt, groups=gt, progress=say)
        seconds["score"] = time.perf_counter() - clock
        clock = time.perf_counter()
        say("write")
        written = write_scores(result.table, out, csv=csv)
        seconds["write"] = time.perf_counter() - clock
    run_id = None
    say("log")
    if log_run:
        result.seconds.update({f"job.{k}": v for k, v in seconds.items()})
        run_id = log_scoring_run(result, cutoff=str(cutoff), out=str(written[0]), tracking_uri=tracking_uri,
                                 inputs={"events": events, "members": members, "groups": groups})
    return BatchResult(result, written, run_id, seconds)


__all__ = ["DEFAULT_MODEL_NAMES", "STAGES", "BatchResult", "run_batch_scoring"]
