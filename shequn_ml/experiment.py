"""Experiment specs (``experiments/*.yaml``) and the run that trains every task.

An experiment names the data, the feature spec, one model spec per task, the
cutoffs and the split, and the MLflow experiment to log to. :func:`run_experiment`
does the work with no tracking at all (the core never imports mlflow);
:mod:`shequn_ml.tracking` logs its result.

Paths in a spec are relative to the working directory (run from the repository
root, as the README does).

Examples
--------
>>> spec = load_experiment("experiments/quickstart.yaml")
>>> spec.name, sorted(spec.models)
('quickstart', ['churn', 'kol', 'silence'])
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator, model_validator

from shequn_ml.evaluation import TaskEvaluation, evaluate_risk
from shequn_ml.features import FeatureSpec, load_feature_spec, rolling_cutoffs
from shequn_ml.io import read_events, read_groups, read_members
from shequn_ml.models import KolModelSpec, load_kol_spec
from shequn_ml.models.spec import ModelSpec, load_model_spec
from shequn_ml.ranking import KolEvaluation, evaluate_kol
from shequn_ml.specs import SpecError, load_yaml_model
from shequn_ml.split import DataError

#: The tasks an experiment can train: two risk classifiers and the 头狼 / KOL ranker.
TASKS = ("silence", "churn", "kol")


class DataSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: str
    members: str | None = None
    groups: str | None = None
    truth: str | None = Field(None, description="simulator output folder with ground truth")
    tz: str | None = Field(None, description="IANA time zone of timestamps written without one "
                           "(e.g. Asia/Shanghai); default: read them as UTC, with a warning")

    @field_validator("tz")
    @classmethod
    def _known_zone(cls, tz: str | None) -> str | None:
        from shequn_ml.io import check_tz

        return check_tz(tz)


class CutoffSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: date | None = Field(None, description="first cutoff (default: first event + warmup)")
    end: date | None = Field(None, description="last cutoff (default: last event - horizon)")
    every_days: PositiveInt = 7
    warmup_days: PositiveInt = 35

    @model_validator(mode="after")
    def _check(self) -> CutoffSpec:
        if self.start is not None and self.end is not None and self.start > self.end:
            raise ValueError(f"start {self.start} is after end {self.end}")
        return self


class SplitSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n_validation: PositiveInt = 2
    n_test: PositiveInt = 2


class MlflowSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    experiment: str = "shequn-ml"
    tracking_uri: str | None = Field(
        None, description="default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db")
    community: str | None = Field(
        None, min_length=1, pattern=r"^[A-Za-z0-9_.-]+$",
        description="the community the models are for (default: the experiment spec's name); the "
        "registered models are named <model spec name>-<community>, so two communities in one "
        "store never share a champion")


class ExperimentSpec(BaseModel):
    """One experiment: data + feature spec + model specs + cutoffs + MLflow experiment."""

    model_config = ConfigDict(extra="forbid")

    name: str
    data: DataSpec
    features: str = Field("features/default.yaml", description="feature spec YAML")
    models: dict[str, str] = Field(description="task -> model spec YAML (silence, churn, kol)")
    cutoffs: CutoffSpec = Field(default_factory=CutoffSpec)
    split: SplitSpec = Field(default_factory=SplitSpec)
    mlflow: MlflowSpec = Field(default_factory=MlflowSpec)
    seed: int = 0

    @property
    def community(self) -> str:
        """Whose models these are: ``mlflow.community``, else the spec's ``name``."""
        return self.mlflow.community or self.name

    def spec_files(self) -> dict[str, Path]:
        """Every YAML file this experiment reads, for logging them verbatim."""
        files = {"features": Path(self.features)}
        files.update({f"model_{task}": Path(p) for task, p in self.models.items()})
        return files


def load_experiment(path: str | Path) -> ExperimentSpec:
    """Load and validate an experiment spec; errors name the file and the key.

    The feature and model specs it names are loaded and validated too, so a bad
    file anywhere is reported before any work starts.
    """
    spec = load_yaml_model(path, ExperimentSpec)
    unknown = sorted(set(spec.models) - set(TASKS))
    if unknown:
        raise SpecError(f"{path}: key 'models': unknown task(s) {unknown}; expected one of {list(TASKS)}")
    load_feature_spec(spec.features)
    for task, model_path in spec.models.items():
        m = load_kol_spec(model_path) if task == "kol" else load_model_spec(model_path)
        if m.task != task:
            raise SpecError(f"{path}: key 'models.{task}': {model_path} is a {m.task!r} model spec")
    return spec


@dataclass
class ExperimentResult:
    """What a run produced: one evaluation per task, plus where the data came from.

    ``tasks`` holds the risk classifiers (silence, churn); ``kol`` the ranker's
    evaluation when the spec names a ``kol`` model.
    """

    spec: ExperimentSpec
    feature_spec: FeatureSpec
    model_specs: dict[str, ModelSpec]
    tasks: dict[str, TaskEvaluation]
    events: pd.DataFrame
    timings: dict[str, float] = field(default_factory=dict)
    kol: KolEvaluation | None = None
    kol_spec: KolModelSpec | None = None

    def summary_table(self) -> pd.DataFrame:
        """Test-fold ROC-AUC / PR-AUC / ECE of every model, per task."""
        rows = []
        for task, r in self.tasks.items():
            for model, m in r.table.iterrows():
                rows.append({"task": task, "model": model, "roc_auc": m["roc_auc"],
                             "pr_auc": m["pr_auc"], "ece": m["ece"]})
        return pd.DataFrame(rows)


def run_experiment(spec: ExperimentSpec, *, progress: bool = False) -> ExperimentResult:
    """Train and evaluate every task of the experiment (no tracking)."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    tz = spec.data.tz  # data warnings are shown (DataWarning), never suppressed
    events = read_events(spec.data.events, tz=tz)
    members = read_members(spec.data.members, tz=tz) if spec.data.members else None
    groups = read_groups(spec.data.groups, tz=tz) if spec.data.groups else None
    timings["read_s"] = time.perf_counter() - t0
    feature_spec = load_feature_spec(spec.features)
    model_specs = {task: load_model_spec(p) for task, p in spec.models.items() if task != "kol"}
    kol_spec = load_kol_spec(spec.models["kol"]) if "kol" in spec.models else None
    by_horizon: dict[float, list[str]] = {}
    for task, m in model_specs.items():
        by_horizon.setdefault(m.label.horizon_days, []).append(task)
    tasks: dict[str, TaskEvaluation] = {}
    for horizon, names in by_horizon.items():
        cutoffs = _cutoffs(spec, events, horizon)
        t1 = time.perf_counter()
        tasks.update(evaluate_risk(
            events, cutoffs, horizon, members=members, groups=groups, spec=feature_spec,
            tasks=names, n_validation=spec.split.n_validation, n_test=spec.split.n_test,
            truth_dir=spec.data.truth, model_specs={t: model_specs[t] for t in names},
            random_state=spec.seed, progress=progress))
        timings[f"train_{'_'.join(names)}_s"] = time.perf_counter() - t1
    kol = None
    if kol_spec is not None:
        t1 = time.perf_counter()
        horizon = kol_spec.label.horizon_days
        kol = evaluate_kol(events, _cutoffs(spec, events, horizon), horizon, members=members,
                           groups=groups, spec=feature_spec, truth_dir=spec.data.truth,
                           model_spec=kol_spec, n_validation=spec.split.n_validation,
                           n_test=spec.split.n_test, random_state=spec.seed, progress=progress)
        timings["train_kol_s"] = time.perf_counter() - t1
    return ExperimentResult(spec, feature_spec, model_specs, tasks, events, timings, kol, kol_spec)


def _cutoffs(spec: ExperimentSpec, events: pd.DataFrame, horizon_days: float) -> list[pd.Timestamp]:
    """The spec's rolling cutoffs for one label horizon (the last one leaves room for the labels)."""
    day = pd.Timedelta(days=1)
    start = spec.cutoffs.start or (events["ts"].min().normalize() + spec.cutoffs.warmup_days * day)
    end = spec.cutoffs.end or (events["ts"].max().normalize() - horizon_days * day)
    first, last = pd.Timestamp(start), pd.Timestamp(end)
    if first.tzinfo is None:
        first = first.tz_localize("UTC")
    if last.tzinfo is None:
        last = last.tz_localize("UTC")
    if first > last:
        span = f"{events['ts'].min():%Y-%m-%d} to {events['ts'].max():%Y-%m-%d}"
        raise DataError(
            f"no cutoffs: the first ({first:%Y-%m-%d}) is after the last ({last:%Y-%m-%d}); the "
            f"events run {span}, which must hold {spec.cutoffs.warmup_days} warm-up days and a "
            f"{horizon_days:g}-day label window: use more data, or set cutoffs.start/end")
    return rolling_cutoffs(start, end, spec.cutoffs.every_days)
