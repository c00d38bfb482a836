"""The ``shequn-ml`` command: parses arguments and calls the library, nothing more.

Exit codes: 0 success, 2 unusable input or a failed precondition (the message is
on stderr, without a traceback), 3 ``score`` wrote its output set but could not log
the run to MLflow (one line), 1 an unexpected bug. Data warnings are shown on
stderr, one line each.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import re
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

EXIT_OK = 0
EXIT_BAD_INPUT = 2
#: ``score`` wrote its output set but could not log the run to MLflow
EXIT_LOGGING_FAILED = 3


class UsageError(Exception):
    """A problem the user can fix; printed as one message, exit code 2."""


# ---- argument checks: run before any work starts ----------------------------------------


def _date(value: str, option: str) -> pd.Timestamp:
    """An ISO date (or date and time) given on the command line, as a UTC timestamp."""
    import pandas as pd

    text = value.strip()
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        why = f" ({exc})" if re.match(r"\d{4}-\d{2}-\d{2}$", text) else ""
        raise UsageError(f"{option} expects an ISO date such as 2024-03-01 (or a date and time "
                         f"such as 2024-03-01T08:00), got {value!r}{why}") from None
    ts = pd.Timestamp(parsed)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _date_range(args: argparse.Namespace) -> None:
    """Parse --from/--to in place (either may be missing) and check their order."""
    args.start = _date(args.start, "--from") if args.start is not None else None
    args.end = _date(args.end, "--to") if args.end is not None else None
    if args.start is not None and args.end is not None and args.start > args.end:
        raise UsageError(f"--from must not be after --to, got --from {args.start:%Y-%m-%d} "
                         f"and --to {args.end:%Y-%m-%d}")


def _at_least(value: int, minimum: int, option: str, what: str) -> None:
    if value < minimum:
        raise UsageError(f"{option} must be {minimum} or more ({what}), got {value}")


def _check_out_files(args: argparse.Namespace, *options: str) -> None:
    """Output files: not an input, not an existing folder, in a folder that can be written."""
    from shequn_ml.outputs import check_outputs

    outs = [getattr(args, o) for o in options if getattr(args, o, None)]
    check_outputs(outs, {n: getattr(args, n, None) for n in ("events", "members", "groups")})


def _check_out_folder(path: str, option: str = "--out") -> None:
    """An output folder, existing or to be made, that can be written."""
    existing = Path(os.path.abspath(path))
    if existing.exists() and not existing.is_dir():
        raise UsageError(f"{option} {path} is an existing file; expected a folder to write to")
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"{option} {path}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {path}: cannot write in the folder {existing} "
                         "(permission denied or read-only)")


def _cutoff_range(args: argparse.Namespace, events: pd.DataFrame, horizon: float) -> list:
    """Rolling cutoffs from --from/--to, defaulting to the events' span less warm-up and horizon."""
    import pandas as pd

    from shequn_ml.features import rolling_cutoffs

    day = pd.Timedelta(days=1)
    first_day, last_day = events["ts"].min().normalize(), events["ts"].max().normalize()
    start = args.start if args.start is not None else first_day + args.warmup * day
    end = args.end if args.end is not None else last_day - horizon * day
    if start > end:
        raise UsageError(
            f"no cutoffs: the first ({start:%Y-%m-%d}: --from, or the first day + {args.warmup} "
            f"--warmup days) is after the last ({end:%Y-%m-%d}: --to, or the last day - the "
            f"{horizon:g}-day horizon); the events run {first_day:%Y-%m-%d} to {last_day:%Y-%m-%d}: "
            "give --from/--to, a shorter --warmup, or more data")
    return rolling_cutoffs(start, end, args.every)


def _cmd_validate(args: argparse.Namespace) -> int:
    from shequn_ml.io import validate_events, validate_groups, validate_members
    from shequn_ml.summary import summarize_events

    started = time.perf_counter()
    tz = _tz(args)
    results = {"events": validate_events(args.path, tz=tz)}
    if args.members:
        results["members"] = validate_members(args.members, tz=tz)
    if args.groups:
        results["groups"] = validate_groups(args.groups, tz=tz)
    elapsed = time.perf_counter() - started

    usable = all(r.report.ok for r in results.values())
    events = results["events"].table
    if events is not None:
        members = results.get("members")
        groups = results.get("groups")
        summary = summarize_events(
            events,
            members=members.table if members is not None else None,
            groups=groups.table if groups is not None else None,
        )
        print(f"{args.path}")
        print(summary.format())
    problems = [p for r in results.values() for p in r.report.problems]
    warnings_and_notes = [r.report.format_problems(("warning", "info"))
                          for r in results.values() if any(p.severity != "error"
                                                           for p in r.report.problems)]
    print(f"problems found: {len(problems)}"
          + (f" ({sum(p.severity == 'error' for p in problems)} errors)" if problems else ""))
    for text in warnings_and_notes:
        print(text)
    print(f"validated in {elapsed:.2f} s")
    if not usable:
        for r in results.values():
            if not r.report.ok:
                print(r.report.format_problems(("error",)), file=sys.stderr)
        print("the data is not usable: fix the errors above and run again", file=sys.stderr)
        return EXIT_BAD_INPUT
    print("the data is usable")
    return EXIT_OK


#: simulate's options and the SimulationConfig fields they set.
_SIMULATE_OPTIONS = {"--members": "n_members", "--groups": "n_groups", "--days": "days",
                     "--seed": "seed"}


def _simulation_config(args: argparse.Namespace):
    """The SimulationConfig of the options; its limits are checked and reported by option."""
    import pydantic

    from shequn_ml.simulate import SimulationConfig

    for option, name in _SIMULATE_OPTIONS.items():
        field = SimulationConfig.model_fields[name]
        value = getattr(args, option[2:])
        low = next((m.ge for m in field.metadata if getattr(m, "ge", None) is not None), None)
        high = next((m.le for m in field.metadata if getattr(m, "le", None) is not None), None)
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"from {low} to {high}" if high is not None else f"{low} or more"
            what = (field.description or name).rstrip(".").lower()
            raise UsageError(f"{option} must be {bounds} ({what}), got {value}")
    text = args.start.strip()
    try:
        start = dt.date.fromisoformat(text)
    except ValueError as exc:
        why = f" ({exc})" if re.match(r"\d{4}-\d{2}-\d{2}$", text) else ""
        raise UsageError(f"--start expects an ISO date such as 2024-01-01, got {args.start!r}"
                         f"{why}") from None
    try:
        return SimulationConfig(n_members=args.members, n_groups=args.groups, days=args.days,
                                seed=args.seed, start=start)
    except pydantic.ValidationError as exc:
        text = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
        for option, name in _SIMULATE_OPTIONS.items():
            text = re.sub(rf"\b{name}=", f"{option} ", text)
        raise UsageError(text) from None


def _cmd_simulate(args: argparse.Namespace) -> int:
    from shequn_ml.simulate import simulate

    cfg = _simulation_config(args)
    _check_out_folder(args.out)
    summary = simulate(cfg, Path(args.out), progress=not args.quiet)
    print(summary)
    return EXIT_OK


def _read_inputs(args: argparse.Namespace):
    from shequn_ml.io import read_events, read_groups, read_members

    tz = _tz(args)
    events = read_events(args.events, tz=tz)
    members = read_members(args.members, tz=tz) if args.members else None
    groups = read_groups(args.groups, tz=tz) if args.groups else None
    return events, members, groups


def _tz(args: argparse.Namespace) -> str | None:
    """The --tz value, checked (an unknown zone is a usage error)."""
    from shequn_ml.io import check_tz

    try:
        return check_tz(getattr(args, "tz", None))
    except ValueError as exc:
        raise UsageError(f"--tz: {exc}") from None


def _cmd_features(args: argparse.Namespace) -> int:
    from shequn_ml.features import FeatureSpec, build_features, load_feature_spec, rolling_cutoffs
    from shequn_ml.io import write_table

    if args.cutoff and (args.start is not None or args.end is not None):
        raise UsageError("give either --cutoff (one or more) or --from/--to/--every, not both")
    _at_least(args.every, 1, "--every", "days between rolling cutoffs")
    _date_range(args)
    if args.cutoff:
        cutoffs = [_date(c, "--cutoff") for c in args.cutoff]
    elif args.start is not None and args.end is not None:
        cutoffs = rolling_cutoffs(args.start, args.end, args.every)
    else:
        raise UsageError("a cutoff is required: --cutoff DATE, or --from DATE --to DATE [--every DAYS]")
    _check_out_files(args, "out")
    spec = load_feature_spec(args.spec) if args.spec else FeatureSpec()
    events, members, groups = _read_inputs(args)
    started = time.perf_counter()
    table = build_features(events, cutoffs, spec, members=members, groups=groups,
                           progress=not args.quiet)
    out = write_table(table, args.out)
    print(f"{len(table):,} rows x {table.shape[1] - 3} features at {table['cutoff'].nunique()} "
          f"cutoffs -> {out} ({time.perf_counter() - started:.1f} s)")
    return EXIT_OK


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from shequn_ml.evaluation import evaluate_risk, report_markdown
    from shequn_ml.features import FeatureSpec, load_feature_spec
    from shequn_ml.models.spec import load_model_spec

    _at_least(args.horizon, 1, "--horizon", "days of the label window")
    _at_least(args.every, 1, "--every", "days between cutoffs")
    _at_least(args.warmup, 0, "--warmup", "days of history before the first cutoff")
    _date_range(args)
    truth = _data_paths(args)
    _check_out_files(args, "out")
    model_specs = {}
    for task, path in (("silence", args.silence_spec), ("churn", args.churn_spec)):
        if path:
            model_specs[task] = load_model_spec(path)
    horizons = {task: m.label.horizon_days for task, m in model_specs.items()}
    if len(set(horizons.values())) > 1:
        raise UsageError("the silence and churn specs must have the same horizon to be evaluated "
                         f"together, got {horizons['silence']:g} and {horizons['churn']:g} days: "
                         "evaluate them one at a time (--task)")
    if horizons:
        args.horizon = next(iter(horizons.values()))
    spec = load_feature_spec(args.spec) if args.spec else FeatureSpec()
    events, members, groups = _read_inputs(args)
    cutoffs = _cutoff_range(args, events, args.horizon)
    started = time.perf_counter()
    results = evaluate_risk(events, cutoffs, args.horizon, members=members, groups=groups,
                            spec=spec, tasks=args.task or ("silence", "churn"), truth_dir=truth,
                            model_specs=model_specs,
                            progress=not args.quiet)
    text = report_markdown(results, args.title or f"{args.events}, horizon {args.horizon} days")
    print(text)
    print(f"evaluated in {time.perf_counter() - started:.1f} s")
    if args.out:
        from shequn_ml.io import write_text

        write_text(text, args.out)
    return EXIT_OK


def _cmd_train(args: argparse.Namespace) -> int:
    from shequn_ml.experiment import load_experiment, run_experiment

    spec = load_experiment(args.experiment)
    if not args.no_tracking:  # a broken store fails now, not after the models are trained
        from shequn_ml.tracking import check_store

        check_store(spec.mlflow.tracking_uri)
    started = time.perf_counter()
    result = run_experiment(spec, progress=not args.quiet)
    for task, r in result.tasks.items():
        print(f"\n{task}: {r.split.describe()}")
        print(r.markdown())
    if result.kol is not None:
        print()
        print(result.kol.markdown())
    if not args.no_tracking:
        from shequn_ml.tracking import log_experiment, resolve_tracking_uri

        uri = resolve_tracking_uri(spec.mlflow.tracking_uri)
        logged = log_experiment(result, tracking_uri=uri)
        print()
        for task, info in logged.items():
            verdict = "now champion" if info.became_champion else f"champion stays v{info.champion_version}"
            print(f"{task}: run {info.run_id}, model {info.model_name} v{info.model_version} ({verdict})")
        if uri.startswith("sqlite:///"):
            print(f"\nopen the MLflow UI: mlflow ui --backend-store-uri {uri}")
    print(f"done in {time.perf_counter() - started:.1f} s")
    return EXIT_OK


def _data_paths(args: argparse.Namespace) -> str | None:
    """Fill --events/--members/--groups from --data DIR; return the truth folder, if any."""
    data = Path(args.data) if args.data else None
    for name in ("events", "members", "groups"):
        if getattr(args, name) is None and data is not None and (data / f"{name}.parquet").exists():
            setattr(args, name, str(data / f"{name}.parquet"))
    if args.events is None:
        raise UsageError("no events: give --data DIR (with events.parquet) or --events PATH")
    if getattr(args, "truth", None):
        return args.truth
    if data is not None and (data / "truth_members.parquet").exists():
        return str(data)
    return None


def _cmd_kol(args: argparse.Namespace) -> int:
    from shequn_ml.io import write_table, write_text
    from shequn_ml.models import load_kol_spec
    from shequn_ml.ranking import evaluate_kol

    _at_least(args.every, 1, "--every", "days between cutoffs")
    _at_least(args.warmup, 0, "--warmup", "days of history before the first cutoff")
    _at_least(args.n_validation, 1, "--n-validation", "validation cutoffs")
    _at_least(args.n_test, 1, "--n-test", "test cutoffs")
    _date_range(args)
    truth = _data_paths(args)
    _check_out_files(args, "out", "candidates")
    spec = load_kol_spec(args.spec)
    horizon = spec.label.horizon_days
    events, members, groups = _read_inputs(args)
    cutoffs = _cutoff_range(args, events, horizon)
    started = time.perf_counter()
    result = evaluate_kol(events, cutoffs, horizon, members=members,
                          groups=groups, truth_dir=truth, model_spec=spec,
                          n_validation=args.n_validation, n_test=args.n_test,
                          progress=not args.quiet)
    text = result.markdown(args.title or f"{args.events}: KOL ranking, horizon {horizon:g} days")
    print(text)
    print(f"ranked in {time.perf_counter() - started:.1f} s")
    if args.out:
        write_text(text, args.out)
    if args.candidates:
        out = write_table(result.candidates, args.candidates)
        print(f"{len(result.candidates):,} ranked candidates -> {out}")
    return EXIT_OK


def _cmd_score(args: argparse.Namespace) -> int:
    from shequn_ml.batch import STAGES, run_batch_scoring

    names = {t: n for t, n in (("silence", args.silence_model), ("churn", args.churn_model),
                               ("kol", args.kol_model)) if n}
    if args.groups_per_call < 1:
        raise UsageError(f"--groups-per-call must be 1 or more, got {args.groups_per_call}")
    tz = _tz(args)
    if args.nicknames and args.engine == "spark":
        raise UsageError("--nicknames is not supported by the Spark engine yet: join nicknames.parquet "
                         "to the scores by group_id and member_id, or use --engine pandas")
    if tz and args.engine == "spark":
        raise UsageError("--tz is not supported by the Spark engine yet: give timestamps with their zone "
                         "(ISO 8601 with an offset), or use --engine pandas")
    if args.group_reasons and args.engine == "spark":
        raise UsageError("--group-reasons is not supported by the Spark engine yet: use --engine pandas")
    _at_least(args.contacts_per_group, 0, "--contacts-per-group", "0: no contact list")
    _date(args.cutoff, "--cutoff")
    started = time.perf_counter()
    bar = None
    if not args.quiet:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(STAGES), desc="score", unit="stage")

    def stage(name: str) -> None:
        if bar is not None:
            bar.set_postfix_str(name)
            bar.n = STAGES.index(name) if name in STAGES else bar.n
            bar.refresh()

    try:
        done = run_batch_scoring(args.events, args.cutoff, args.out, members=args.members,
                                 groups=args.groups, alias=args.model_alias, model_names=names,
                                 community=args.community,
                                 engine=args.engine, csv=args.csv or args.csv_bom,
                                 csv_bom=args.csv_bom, tz=tz, tracking_uri=args.tracking_uri,
                                 log_run=not args.no_log, progress=stage,
                                 groups_per_call=args.groups_per_call, nicknames=args.nicknames,
                                 lang=args.lang, previous=args.previous,
                                 contacts_per_group=args.contacts_per_group,
                                 group_reasons=args.group_reasons, xlsx=args.xlsx)
    finally:
        if bar is not None:
            bar.n = bar.total
            bar.close()
    c = done.result.counts
    print(f"{c['rows_out']:,} members ({c['status.scored']:,} scored, "
          + ", ".join(f"{c[k]:,} {k[7:].replace('_', ' ')}" for k in c
                      if k.startswith("status.") and k != "status.scored" and c[k])
          + f") at {args.cutoff} -> {', '.join(map(str, done.written))} "
          f"({time.perf_counter() - started:.1f} s)")
    tiers = [f"{t} 高/中/低 {c[f'{t}_tier.high']:,}/{c[f'{t}_tier.medium']:,}/{c[f'{t}_tier.low']:,}"
             + (f" ({done.result.tier_changes[f'{t}_tier']:.1%} changed since --previous)"
                if f"{t}_tier" in done.result.tier_changes else "")
             for t in ("silence", "churn") if f"{t}_tier.high" in c]
    if tiers:
        print("tiers: " + "; ".join(tiers))
    if done.result.contacts is not None:
        print(f"contact list: {len(done.result.contacts):,} members in "
              f"{done.result.contacts['group_id'].nunique():,} groups")
    print("models: " + ", ".join(f"{t} {v}" for t, v in done.result.versions.items())
          + (f"; logged as run {done.run_id}" if done.run_id else ""))
    return EXIT_OK


def _cmd_import(args: argparse.Namespace) -> int:
    import inspect

    from shequn_ml.importers import FORMATS, FormatUnavailableError, reader
    from shequn_ml.importers._core import OUTPUT_FILES, REPORT_FILE, pseudonymise, write_import

    fmt = args.format.strip().lower()
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {args.format!r}: choose one of {', '.join(FORMATS)}")
    if fmt == "csv" and not args.mapping:
        raise UsageError("the csv format needs --mapping FILE (a YAML file naming which column is "
                         "which; see docs/importing.md)")
    if fmt != "csv":
        for option, value in (("--mapping", args.mapping), ("--sheet", args.sheet)):
            if value:
                raise UsageError(f"{option} is for the csv format only, not {fmt}")
    tz = _tz(args)
    key = None
    if args.pseudonymise_key_env is not None:
        var = args.pseudonymise_key_env
        key = os.environ.get(var)
        if not key:
            raise UsageError(f"--pseudonymise-key-env {var}: the environment variable {var} is unset or "
                             "empty; put the key in it (never on the command line)")
    if not Path(args.input).exists():
        raise UsageError(f"INPUT {args.input} does not exist")
    if args.sheet is not None and Path(args.input).suffix.lower() not in (".xlsx", ".xlsm"):
        raise UsageError(f"--sheet is for .xlsx workbooks; {args.input} is not one")
    if args.mapping and not Path(args.mapping).is_file():
        raise UsageError(f"--mapping {args.mapping} is not a file")
    _check_out_folder(args.out)
    options: dict[str, object] = {}
    if tz is not None:
        options["tz"] = tz
    if args.group is not None:
        options["group_id"] = args.group
    if fmt == "csv":
        options["mapping"] = args.mapping
        if args.sheet is not None:
            options["sheet"] = args.sheet
    for option, name, only in (("--snapshot", "members", "wecom"), ("--chat", "chat", "telegram"),
                               ("--self-id", "self_id", "wechat")):
        value = getattr(args, name)
        if value is None:
            continue
        if fmt != only:
            raise UsageError(f"{option} is for the {only} format only, not {fmt}")
        if name == "members":
            missing = [v for v in value if not Path(v).is_file()]
            if missing:
                raise UsageError(f"--snapshot {missing[0]} is not a file")
        options[name] = value
    try:
        read = reader(fmt)
    except FormatUnavailableError as exc:
        raise UsageError(str(exc)) from None
    accepted = inspect.signature(read).parameters
    for name, option in (("group_id", "--group"), ("tz", "--tz")):
        if name in options and name not in accepted:
            raise UsageError(f"{option} is not supported by the {fmt} importer")
    started = time.perf_counter()
    result = read(args.input, **options)
    if key is not None:
        result = pseudonymise(result, key)
    inputs = [args.input] + ([args.mapping] if args.mapping else []) + list(args.members or [])
    written = write_import(result, args.out, inputs=inputs)
    print(result.summary())
    if key is not None:
        print(f"member ids pseudonymised with the key in ${args.pseudonymise_key_env}")
    names = ", ".join([*OUTPUT_FILES, REPORT_FILE])
    print(f"-> {written['events'].parent}: {names} ({time.perf_counter() - started:.1f} s)")
    return EXIT_OK


def _cmd_report(args: argparse.Namespace) -> int:
    from shequn_ml.outputs import check_outputs
    from shequn_ml.report import ReportInputError, build_report, read_report_table, write_report

    cutoff = _date(args.cutoff, "--cutoff") if args.cutoff else None
    tables = {"scores": args.scores, "groups_table": args.groups_table, "contacts": args.contacts,
              "roles": args.roles}
    options = {"scores": "--scores", "groups_table": "--groups-table", "contacts": "--contacts",
               "roles": "--roles"}
    check_outputs([args.out], {"events": args.events, "members": args.members, "groups": args.groups,
                               **{options[k]: v for k, v in tables.items()}})
    if not args.out.lower().endswith((".html", ".htm")):
        raise UsageError(f"--out {args.out}: the report is an HTML page; name a .html file")
    read: dict[str, pd.DataFrame | None] = {}
    for kind, path in tables.items():
        try:
            read[kind] = read_report_table(path, kind) if path else None
        except ReportInputError as exc:
            raise UsageError(f"{options[kind]} {exc}") from None
    started = time.perf_counter()
    events, members, groups = _read_inputs(args)
    try:
        html = build_report(events, members, groups, read["scores"], groups_table=read["groups_table"],
                            contacts=read["contacts"], roles=read["roles"], cutoff=cutoff,
                            **({"title": args.title} if args.title else {}))
    except ReportInputError as exc:
        raise UsageError(str(exc)) from None
    out = write_report(html, args.out)
    size = len(html.encode("utf-8")) / 1e6
    print(f"report -> {out} ({size:.1f} MB, {time.perf_counter() - started:.1f} s)")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shequn-ml",
        description="Silence, churn and 头狼/KOL models for online communities (社群).",
    )
    from shequn_ml import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="check an events file and print a summary",
                       description="Check an events file (CSV or Parquet) against the event "
                       "contract and print a summary. Exit 0 when usable, 2 when not.")
    p.add_argument("path", help="events file: .csv, .parquet, or a folder of Parquet parts")
    p.add_argument("--members", help="members table (CSV or Parquet)")
    p.add_argument("--groups", help="groups table (CSV or Parquet)")
    p.add_argument("--tz", help="time zone of timestamps written without one, e.g. Asia/Shanghai "
                   "(default: read them as UTC, with a warning)")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("features", help="build point-in-time features at cutoffs",
                       description="Build the feature table: one row per member present at "
                       "each cutoff, from events strictly before it. Written atomically.")
    p.add_argument("--events", required=True, help="events file (CSV or Parquet)")
    p.add_argument("--members", help="members table (CSV or Parquet)")
    p.add_argument("--groups", help="groups table (CSV or Parquet)")
    p.add_argument("--cutoff", action="append", help="a cutoff date (repeatable)")
    p.add_argument("--from", dest="start", help="first rolling cutoff")
    p.add_argument("--to", dest="end", help="last rolling cutoff")
    p.add_argument("--every", type=int, default=7, help="days between rolling cutoffs (default 7)")
    p.add_argument("--spec", help="feature spec YAML (default: the built-in default spec)")
    p.add_argument("--tz", help="time zone of timestamps written without one, e.g. Asia/Shanghai "
                   "(default: read them as UTC, with a warning)")
    p.add_argument("--out", required=True, help="output file: .parquet or .csv")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_features)

    p = sub.add_parser("train", help="run an experiment spec: train, evaluate, log to MLflow",
                       description="Train and evaluate every task of an experiment spec "
                       "(experiments/*.yaml) and log runs, metrics, plots and models to MLflow.")
    p.add_argument("experiment", help="experiment spec YAML, e.g. experiments/quickstart.yaml")
    p.add_argument("--no-tracking", action="store_true", help="do not log to MLflow")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", help="silence and churn models against baselines",
                       description="Fit the LightGBM silence and churn models and every baseline "
                       "on a time split of rolling cutoffs and print the comparison on the test "
                       "cutoffs (with the oracle, on simulator output).")
    p.add_argument("--data", help="folder with events.parquet (+ members, groups, truth)")
    p.add_argument("--events", help="events file (overrides --data)")
    p.add_argument("--members", help="members table")
    p.add_argument("--groups", help="groups table")
    p.add_argument("--truth", help="simulator folder with ground truth (default: --data if it has it)")
    p.add_argument("--tz", help="time zone of timestamps written without one, e.g. Asia/Shanghai "
                   "(default: read them as UTC, with a warning)")
    p.add_argument("--horizon", type=int, default=14, help="label window in days (default 14)")
    p.add_argument("--from", dest="start", help="first cutoff (default: first day + warm-up)")
    p.add_argument("--to", dest="end", help="last cutoff (default: last day - horizon)")
    p.add_argument("--every", type=int, default=7, help="days between cutoffs (default 7)")
    p.add_argument("--warmup", type=int, default=35, help="days of history before the first cutoff")
    p.add_argument("--task", action="append", choices=["silence", "churn"],
                   help="task to evaluate (repeatable; default both)")
    p.add_argument("--spec", help="feature spec YAML")
    p.add_argument("--silence-spec", help="silence model spec YAML (e.g. models/silence.yaml)")
    p.add_argument("--churn-spec", help="churn model spec YAML (e.g. models/churn.yaml)")
    p.add_argument("--title", help="title of the report section")
    p.add_argument("--out", help="also write the markdown report here")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("kol", help="rank 头狼 / KOL candidates per group, against baselines",
                       description="Fit the LightGBM lambdarank KOL ranker on a time split of "
                       "rolling cutoffs, compare it with message count, reply partners, PageRank, "
                       "HITS and last period's influence on the test cutoffs, and write the ranked "
                       "candidates with the three features that raised each score most.")
    p.add_argument("--data", help="folder with events.parquet (+ members, groups, truth)")
    p.add_argument("--events", help="events file (overrides --data)")
    p.add_argument("--members", help="members table")
    p.add_argument("--groups", help="groups table")
    p.add_argument("--truth", help="simulator folder with ground truth (default: --data if it has it)")
    p.add_argument("--tz", help="time zone of timestamps written without one, e.g. Asia/Shanghai "
                   "(default: read them as UTC, with a warning)")
    p.add_argument("--spec", default="models/kol.yaml", help="KOL model spec (default models/kol.yaml)")
    p.add_argument("--from", dest="start", help="first cutoff (default: first day + warm-up)")
    p.add_argument("--to", dest="end", help="last cutoff (default: last day - horizon)")
    p.add_argument("--every", type=int, default=7, help="days between cutoffs (default 7)")
    p.add_argument("--warmup", type=int, default=35, help="days of history before the first cutoff")
    p.add_argument("--n-validation", type=int, default=2, help="validation cutoffs (default 2)")
    p.add_argument("--n-test", type=int, default=3, help="test cutoffs (default 3)")
    p.add_argument("--title", help="title of the report section")
    p.add_argument("--out", help="also write the markdown report here")
    p.add_argument("--candidates", help="write the ranked candidate table (.parquet or .csv)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_kol)

    p = sub.add_parser("score", help="the batch job: score every member at a cutoff, with reasons",
                       description="Load the registered silence, churn and KOL models (alias "
                       "'champion' by default), build features at the cutoff, score and explain every "
                       "member, put each risk in a tier 高/中/低, and write the table and a contact "
                       "list per group as one atomic set (Parquet; CSV and Excel on request). Every "
                       "member in the inputs comes out once, with scores or a stated reason. The run is "
                       "logged to MLflow.")
    p.add_argument("--events", required=True, help="events file (CSV or Parquet)")
    p.add_argument("--members", help="members table")
    p.add_argument("--groups", help="groups table")
    p.add_argument("--nicknames", help="display names to join back (nicknames.parquet from "
                   "shequn-ml import): each member's name as of the cutoff, column nickname")
    p.add_argument("--cutoff", required=True, help="scoring date: features read events before it")
    p.add_argument("--out", required=True, help="output Parquet file")
    p.add_argument("--csv", action="store_true", help="also write the table as CSV beside --out")
    p.add_argument("--tz", help="time zone of timestamps written without one, e.g. Asia/Shanghai "
                   "(default: read them as UTC, with a warning)")
    p.add_argument("--csv-bom", action="store_true", help="write the CSV with a UTF-8 byte-order mark, "
                   "so Excel shows Chinese text correctly (implies --csv)")
    p.add_argument("--model-alias", default="champion", help="registry alias (default champion)")
    p.add_argument("--engine", choices=["pandas", "spark"], default="pandas",
                   help="pandas on this machine (default) or Apache Spark")
    p.add_argument("--groups-per-call", type=int, default=64,
                   help="Spark engine: whole groups prepared per Python call (default 64; 1 is one "
                   "call per group)")
    p.add_argument("--tracking-uri", help="MLflow store (default $MLFLOW_TRACKING_URI, else "
                   "sqlite:///mlflow.db)")
    p.add_argument("--community", help="whose models to use: `train` registers them per community "
                   "(the experiment spec's mlflow.community, else its name); default: the only "
                   "community in the store")
    p.add_argument("--silence-model", help="registered silence model (overrides the community's)")
    p.add_argument("--churn-model", help="registered churn model (overrides the community's)")
    p.add_argument("--kol-model", help="registered KOL model (overrides the community's)")
    p.add_argument("--lang", choices=["en", "zh", "both"], default="both",
                   help="reason and action columns in English (_en), Chinese (_zh) or both (default)")
    p.add_argument("--previous", metavar="PREV_SCORES", help="last night's scores (.parquet or .csv of an "
                   "earlier cutoff): tiers 高/中/低 move against its tiers only on a real change")
    p.add_argument("--contacts-per-group", type=int, default=10, metavar="N",
                   help="members per group on the contact list, written beside --out as "
                   "<stem>.contacts.parquet (default 10; 0: no contact list)")
    p.add_argument("--group-reasons", action="store_true", help="let group-level features (the "
                   "group_context family) be member reasons too (default: the member's own features)")
    p.add_argument("--xlsx", action="store_true", help="also write an Excel workbook <stem>.xlsx with "
                   "the sheets scores and contacts")
    p.add_argument("--no-log", action="store_true", help="do not log the scoring run to MLflow")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_score)

    p = sub.add_parser("import", help="turn an operator's export into the event contract",
                       description="Read a chat or SCRM export (slack, linelog, wechat, qq, wecom, "
                       "telegram, discord, or csv/xlsx with a mapping file), resolve who did what to "
                       "whom, and write events, members, groups, the nickname table and an import "
                       "report to a folder, validated, as one set. Text is never stored.")
    p.add_argument("format", metavar="FORMAT",
                   help="slack, linelog, wechat, qq, wecom, telegram, discord or csv")
    p.add_argument("input", metavar="INPUT", help="the export: a file or folder, as the format has it")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--tz", help="time zone of wall-clock times in the export, e.g. Asia/Shanghai "
                   "(default: the format's own)")
    p.add_argument("--mapping", help="csv: the mapping YAML (which column is which)")
    p.add_argument("--sheet", help="csv: the .xlsx workbook's sheet (default: the first)")
    p.add_argument("--group", metavar="GROUP_ID", help="the group id of every event (default: from "
                   "the export)")
    p.add_argument("--snapshot", dest="members", action="append", metavar="FILE",
                   help="wecom: a saved groupchat/get member snapshot (JSON); repeat for several")
    p.add_argument("--chat", help="telegram: the chat (name or id) of an account export")
    p.add_argument("--self-id", dest="self_id", metavar="ID",
                   help="wechat: the member id of the exporting user (IsSender=1 rows)")
    p.add_argument("--pseudonymise-key-env", metavar="VAR", help="replace member ids by keyed hashes, "
                   "the key read from environment variable VAR (never from the command line)")
    p.set_defaults(func=_cmd_import)

    p = sub.add_parser("report", help="the operator's report: one self-contained HTML page",
                       description="Write one HTML page for the community at the scores' cutoff: group "
                       "health (sortable, with lifecycle stages), weekly activity, Kaplan-Meier retention "
                       "by join month and group, contact lists, KOL candidates and role pyramids. It opens "
                       "without a network (styles, script and charts are inside the page).")
    p.add_argument("--events", required=True, help="events file (CSV or Parquet)")
    p.add_argument("--members", help="members table")
    p.add_argument("--groups", help="groups table")
    p.add_argument("--scores", required=True, help="the scores table of shequn-ml score (Parquet or CSV)")
    p.add_argument("--groups-table", help="group-health scores (group_risk, lifecycle stage, reasons); "
                   "without it the page has no group risk")
    p.add_argument("--contacts", help="contact lists (default: each group's members with the highest "
                   "silence risk)")
    p.add_argument("--roles", help="member roles (role or role_zh per member); without it no role pyramid")
    p.add_argument("--out", required=True, help="output HTML file")
    p.add_argument("--title", help="page title (default 社群运营报告)")
    p.add_argument("--cutoff", help="the report's date (default: the scores table's cutoff; they must agree)")
    p.add_argument("--tz", help="time zone of timestamps written without one, e.g. Asia/Shanghai "
                   "(default: read them as UTC, with a warning)")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("simulate", help="simulate a community with ground truth",
                       description="Write a simulated community (events, members, groups and "
                       "ground truth, as Parquet) to a folder.")
    p.add_argument("--members", type=int, required=True, help="number of members")
    p.add_argument("--groups", type=int, required=True, help="number of groups")
    p.add_argument("--days", type=int, required=True, help="days of history")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--start", default="2024-01-01", help="first day, ISO date (default 2024-01-01)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_simulate)
    return parser


@contextlib.contextmanager
def _data_warnings_on_one_line(command: str):
    """Show each DataWarning as one line on stderr (``shequn-ml CMD: warning: ...``), never suppressed."""
    from shequn_ml.validation import DataWarning

    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, DataWarning):
            print(f"shequn-ml {command}: warning: {message}", file=sys.stderr)
        else:
            shown(message, category, filename, lineno, file, line)

    with warnings.catch_warnings():
        warnings.simplefilter("always", DataWarning)
        warnings.showwarning = show
        try:
            yield
        finally:
            warnings.showwarning = shown


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``shequn-ml`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)  # before the library loads: --help and --version stay quick
    from shequn_ml.features.spec import SpecError
    from shequn_ml.importers._core import ImportFormatError
    from shequn_ml.outputs import OutputPathError
    from shequn_ml.scoring import ModelUnavailableError
    from shequn_ml.simulate import SimulationError
    from shequn_ml.split import DataError
    from shequn_ml.validation import EventValidationError

    try:
        with _data_warnings_on_one_line(args.command):
            return int(args.func(args))
    except (EventValidationError, SpecError, UsageError, ModelUnavailableError, OutputPathError,
            DataError, SimulationError, ImportFormatError) as exc:
        print(f"shequn-ml {args.command}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:
        from shequn_ml.batch import LoggingFailedError

        if not isinstance(exc, LoggingFailedError):
            raise
        print(f"shequn-ml {args.command}: {exc}", file=sys.stderr)
        return EXIT_LOGGING_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
