"""The nightly batch job: read, validate, load the champions, score, write, log.

:func:`run_batch_scoring` is what ``shequn-ml score`` calls. The order is chosen so
that nothing is written unless everything before it worked:

1. read and validate the events, members and groups (bad input is refused with
   the validation messages before any model is loaded);
2. load the three models ``models:/<name>@<alias>`` from the registry (a missing
   model, alias or store is a one-line :class:`~shequn_ml.tracking.ModelUnavailableError`);
3. build features at the cutoff, score and explain (:func:`shequn_ml.scoring.score_members`
   on the pandas engine, :func:`shequn_ml.spark.score_members_spark` on Spark);
4. write the output set (the table, the contact list per group, their CSVs and
   an Excel workbook on request, a manifest written last) so that its files
   appear together or not at all
   (:func:`shequn_ml.outputs.write_output_set`); an output path that resolves to
   an input is refused before anything is read;
5. log the run to MLflow: counts, timings, model versions, input and output
   digests, and the data warnings. A store that fails here raises
   :class:`LoggingFailedError` (``shequn-ml score`` exits 3): the scores *were*
   written, so an orchestrator can tell this from a failed night.

Data warnings raised while reading (repairs, unmatched ids, ...) are collected in
:attr:`BatchResult.data_warnings`, issued again as
:class:`~shequn_ml.validation.DataWarning` so callers see them, and logged.

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

from shequn_ml.contacts import TierPolicy
from shequn_ml.explain import Lang
from shequn_ml.scoring import (
    TASKS,
    ScoreResult,
    contacts_path,
    join_nicknames,
    manifest_info,
    manifest_path,
    score_members,
    write_scores,
)

STAGES = ("read", "load models", "roster", "features", "score silence", "score churn", "score kol",
          "assemble", "write", "log")
DEFAULT_MODEL_NAMES = {"silence": "shequn-silence", "churn": "shequn-churn", "kol": "shequn-kol"}
Engine = Literal["pandas", "spark"]


class LoggingFailedError(RuntimeError):
    """The scores were written, but logging the run to MLflow failed."""


@dataclass
class BatchResult:
    """The scoring result and where it went."""

    result: ScoreResult
    written: list[Path]
    run_id: str | None
    seconds: dict[str, float] = field(default_factory=dict)
    data_warnings: list[str] = field(default_factory=list)


def output_paths(out: str | Path, *, csv: bool = False, contacts: bool = True,
                 xlsx: bool = False) -> list[Path]:
    """The files one scoring run writes, in the order written, the manifest last.

    ``scores.parquet``, ``scores.csv`` (``csv``), ``scores.contacts.parquet`` and
    ``scores.contacts.csv`` (``contacts``, with ``csv``), ``scores.xlsx`` (``xlsx``),
    ``scores.manifest.json``.
    """
    dest = Path(out)
    files = [dest] + ([dest.with_suffix(".csv")] if csv else [])
    if contacts:
        files += [contacts_path(dest)] + ([contacts_path(dest, ".csv")] if csv else [])
    if xlsx:
        files.append(dest.with_suffix(".xlsx"))
    return files + [manifest_path(dest)]


def _read_with_warnings(read: Callable[[], object], sink: list[str]) -> object:
    """Run a reader, collecting its DataWarnings (shown again by the caller, never dropped)."""
    from shequn_ml.validation import DataWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = read()
    for w in caught:
        if issubclass(w.category, DataWarning):
            sink.append(str(w.message))
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return value


def run_batch_scoring(
    events: str,
    cutoff: str,
    out: str,
    *,
    members: str | None = None,
    groups: str | None = None,
    alias: str = "champion",
    model_names: dict[str, str] | None = None,
    community: str | None = None,
    engine: Engine = "pandas",
    csv: bool = False,
    csv_bom: bool = False,
    tz: str | None = None,
    tracking_uri: str | None = None,
    log_run: bool = True,
    progress: Callable[[str], None] | None = None,
    groups_per_call: int = 64,
    nicknames: str | None = None,
    lang: Lang = "both",
    previous: str | None = None,
    tiers: TierPolicy | None = None,
    contacts_per_group: int = 10,
    group_reasons: bool = False,
    xlsx: bool = False,
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
        task -> registered model name, overriding the community's.
    community : str, optional
        Whose models to load (``train`` registers them per community, see
        :func:`shequn_ml.tracking.resolve_model_names`); default: the one community
        whose models the store holds. A store with none tagged falls back to
        :data:`DEFAULT_MODEL_NAMES`.
    engine : {"pandas", "spark"}, default "pandas"
    csv : bool, default False
        Also write CSV (the scores and the contact list).
    csv_bom : bool, default False
        Start every CSV with a UTF-8 byte-order mark (for Excel).
    tz : str, optional
        Time zone of timestamps written without one (pandas engine only).
    tracking_uri : str, optional
        MLflow store (default ``$MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db``).
    log_run : bool, default True
        Log the scoring run to MLflow.
    progress : callable, optional
        Called with each stage name of :data:`STAGES` as it starts.
    groups_per_call : int, default 64
        Spark engine only: whole groups one Python call prepares
        (see :func:`shequn_ml.spark.score_members_spark`).
    nicknames : str, optional
        The importer's nickname table: display names joined to the scores and contacts
        (pandas engine only).
    lang : {"en", "zh", "both"}, default "both"
        Reason (and action) columns of one language, or both.
    previous : str, optional
        Last night's scores file: tiers move against its tiers with hysteresis.
    tiers : TierPolicy, optional
        Tier thresholds and margin (default ``TierPolicy()``).
    contacts_per_group : int, default 10
        Entries per group of the contact list (``<out stem>.contacts.parquet``); 0: none.
    group_reasons : bool, default False
        Let group-level features be member reasons (pandas engine only).
    xlsx : bool, default False
        Also write ``<out stem>.xlsx`` with the sheets scores and contacts.

    Returns
    -------
    BatchResult
    """
    from shequn_ml.io import read_events, read_groups, read_members
    from shequn_ml.outputs import OutputPathError, check_outputs, fault_point, recover_output_set
    from shequn_ml.tracking import check_store, load_bundle, log_scoring_run, resolve_model_names
    from shequn_ml.validation import DataWarning

    if engine not in ("pandas", "spark"):
        raise ValueError(f"engine must be 'pandas' or 'spark', got {engine!r}")
    from shequn_ml.spark import check_groups_per_call  # pyspark itself is imported lazily there

    check_groups_per_call(groups_per_call)
    from shequn_ml.explain import langs_of

    langs_of(lang)
    n_contacts = contacts_per_group
    if isinstance(n_contacts, bool) or not isinstance(n_contacts, int) or n_contacts < 0:
        raise ValueError(f"contacts_per_group must be an integer >= 0, got {contacts_per_group!r}")
    outputs = output_paths(out, csv=csv, contacts=contacts_per_group > 0, xlsx=xlsx)
    inputs = {"events": events, "members": members, "groups": groups, "nicknames": nicknames,
              "previous": previous}
    check_outputs(outputs, inputs)
    if nicknames is not None and engine == "spark":
        raise ValueError("nicknames are not joined by the Spark engine yet: join nicknames.parquet to "
                         "the scores by group_id and member_id, or use the pandas engine")
    if group_reasons and engine == "spark":
        raise ValueError("group-level member reasons are not available on the Spark engine yet: use the "
                         "pandas engine, or read the group signals")
    recover_output_set(outputs[-1], outputs[:-1])  # finish or clean up a run that was killed

    def say(stage: str) -> None:
        fault_point(f"stage:{stage}")
        if progress is not None:
            progress(stage)

    given = model_names or {}
    seconds: dict[str, float] = {}
    notes: list[str] = []
    clock = time.perf_counter()
    say("read")
    if tz and engine == "spark":
        raise ValueError("tz is not supported by the Spark engine yet")
    ev = _read_with_warnings(lambda: read_events(events, tz=tz), notes)
    mt = _read_with_warnings(lambda: read_members(members, tz=tz), notes) if members else None
    gt = _read_with_warnings(lambda: read_groups(groups, tz=tz), notes) if groups else None
    for text in notes:
        warnings.warn(text, DataWarning, stacklevel=2)
    prev = None
    if previous is not None:  # a wrong file is refused here, before any model is loaded
        from shequn_ml.contacts import previous_tiers
        from shequn_ml.features.snapshots import to_cutoff

        prev = previous_tiers(previous, to_cutoff(cutoff), tiers)
    seconds["read"] = time.perf_counter() - clock
    clock = time.perf_counter()
    say("load models")
    check_store(tracking_uri, create=False)
    found = None if all(t in given for t in TASKS) else \
        resolve_model_names(community, tracking_uri=tracking_uri, require_all=False)
    names = {**(found or DEFAULT_MODEL_NAMES), **given}
    # a community trained without a task (no exits in its history: no churn model) is scored
    # on the tasks it has, and says so
    for task in TASKS:
        if task not in names:
            warnings.warn(f"no {task} model is registered for this community: the scores have no "
                          f"{task} column (train one to add it)", DataWarning, stacklevel=2)
    bundles = {task: load_bundle(names[task], tracking_uri=tracking_uri, alias=alias)
               for task in TASKS if task in names}
    seconds["load_models"] = time.perf_counter() - clock
    clock = time.perf_counter()
    if engine == "spark":
        from shequn_ml.spark import score_members_spark

        # Spark writes the table itself (one file, renamed into place): the table is never
        # collected through the driver's JVM, which would not hold a million members' rows
        result = score_members_spark(events, cutoff, bundles, members=members, groups=groups,
                                     out=out, csv=csv, csv_bom=csv_bom, progress=say,
                                     groups_per_call=groups_per_call, lang=lang, previous=prev,
                                     tiers=tiers, contacts_per_group=contacts_per_group, xlsx=xlsx)
        written = outputs
        seconds["score_and_write"] = time.perf_counter() - clock
    else:
        result = score_members(ev, cutoff, bundles, members=mt, groups=gt, progress=say, lang=lang,
                               previous=prev, tiers=tiers, contacts_per_group=contacts_per_group,
                               group_level=group_reasons)
        if nicknames is not None:
            names = _read_nicknames(nicknames)
            result.table = join_nicknames(result.table, names, cutoff)
            if result.contacts is not None:
                result.contacts = join_nicknames(result.contacts, names, cutoff)
        seconds["score"] = time.perf_counter() - clock
        clock = time.perf_counter()
        say("write")
        try:
            written = write_scores(result.table, out, csv=csv, csv_bom=csv_bom,
                                   info=manifest_info(result, cutoff), contacts=result.contacts, xlsx=xlsx)
        except OSError as exc:  # full disk, quota, permissions: nothing was put in place
            raise OutputPathError(f"could not write {out}: {exc.strerror or exc}; the previous "
                                  "output (if any) is untouched") from exc
        seconds["write"] = time.perf_counter() - clock
    run_id = None
    say("log")
    if log_run:
        result.seconds.update({f"job.{k}": v for k, v in seconds.items()})
        try:
            run_id = log_scoring_run(result, cutoff=str(cutoff), out=str(written[0]),
                                     tracking_uri=tracking_uri, inputs=inputs, data_warnings=notes)
        except Exception as exc:  # the store's own errors are many types; all mean the same here
            first = (str(exc).strip().splitlines() or [""])[0][:300]
            raise LoggingFailedError(
                f"the scores were written ({', '.join(map(str, written))}), but logging the run to "
                f"MLflow failed: {type(exc).__name__}: {first}") from exc
        fault_point("stage:logged")
    return BatchResult(result, written, run_id, seconds, notes)


def _read_nicknames(path: str) -> pd.DataFrame:  # noqa: F821 - pandas is imported lazily
    """The importer's nickname table (Parquet or CSV), or a one-line error naming the file."""
    import pandas as pd

    from shequn_ml.split import DataError

    p = Path(path)
    try:
        table = pd.read_csv(p, encoding="utf-8-sig") if p.suffix.lower() == ".csv" else pd.read_parquet(p)
    except FileNotFoundError:
        raise DataError(f"nicknames file {path} does not exist") from None
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same message
        raise DataError(f"nicknames file {path} cannot be read: {type(exc).__name__}: {exc}") from None
    missing = [c for c in ("member_id", "group_id", "nickname", "first_seen") if c not in table.columns]
    if missing:
        raise DataError(f"nicknames file {path}: no column {missing[0]!r} (expected member_id, group_id, "
                         "nickname, first_seen, as shequn-ml import writes nicknames.parquet)")
    return table


__all__ = ["DEFAULT_MODEL_NAMES", "STAGES", "BatchResult", "LoggingFailedError", "output_paths",
           "run_batch_scoring"]
