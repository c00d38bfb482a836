"""An evaluation that cannot flatter itself: one split, every model, the same rows.

:func:`evaluate_risk` builds point-in-time features and labels at rolling
cutoffs, splits them by time (:func:`shequn_ml.split.time_split`), fits the
LightGBM model and every baseline on the training cutoffs (the LightGBM model
also sees the validation cutoffs, for early stopping and calibration), and scores
all of them on the test cutoffs, which nothing was fitted or tuned on. On
simulator data the oracle's probabilities are scored on the same test rows, and
each model's AUC is reported as a fraction of the oracle's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from shequn_ml.features import FeatureSpec, build_features, feature_columns
from shequn_ml.features.snapshots import EventHistory
from shequn_ml.labels import churn_labels, silence_labels
from shequn_ml.metrics import classification_metrics
from shequn_ml.models import BGNBDBaseline, ChurnModel, RecencyRule, RFMLogistic, SilenceModel
from shequn_ml.models.spec import LabelSpec, ModelSpec, training_weights
from shequn_ml.split import DataError, TimeSplit, time_split

KEY = ["group_id", "member_id", "cutoff"]
TASKS = ("silence", "churn")
OracleFn = Callable[[pd.Timestamp, float], pd.DataFrame]


@dataclass
class TaskEvaluation:
    """The comparison for one task on the test fold."""

    task: str
    table: pd.DataFrame
    split: TimeSplit
    rows: dict[str, int]
    label_rate: dict[str, float]
    oracle_coverage: float | None = None
    notes: list[str] = field(default_factory=list)
    #: fitted estimators by name ("lightgbm", baselines)
    models: dict[str, object] = field(default_factory=dict)
    #: the LightGBM model's metrics on the validation fold (what a champion is chosen on)
    validation_metrics: dict[str, float] = field(default_factory=dict)
    #: the test fold: keys, label and features (for plots and explanations)
    test_frame: pd.DataFrame | None = None
    #: the validation fold: keys, label and features (a champion is re-scored on it)
    validation_frame: pd.DataFrame | None = None
    #: test-fold probabilities by model name, aligned with ``test_frame``
    test_scores: dict[str, object] = field(default_factory=dict)
    feature_names: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        cols = ["roc_auc", "auc_vs_oracle", "pr_auc", "log_loss", "brier", "ece",
                "precision_top_decile", "lift_top_decile"]
        cols = [c for c in cols if c in self.table.columns]
        head = "| model | " + " | ".join(cols) + " |"
        lines = [head, "|---|" + "---:|" * len(cols)]
        for name, row in self.table[cols].iterrows():
            cells = ["" if (isinstance(v, float) and math.isnan(v)) else f"{v:.4f}" for v in row]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        return "\n".join(lines)


def _models(task: str, horizon_days: float, random_state: int,
            spec: ModelSpec | None = None) -> dict[str, object]:
    recency = "days_since_speak" if task == "silence" else "days_since_any_event"
    if spec is not None:
        main = spec.build().set_params(random_state=random_state)
    else:
        main = SilenceModel(random_state=random_state) if task == "silence" \
            else ChurnModel(random_state=random_state)
    return {
        "lightgbm": main,
        "recency_rule": RecencyRule(feature=recency),
        "rfm_logistic": RFMLogistic(),
        "bgnbd_p_alive": BGNBDBaseline(score="p_alive"),
        "bgnbd_p_no_speak": BGNBDBaseline(score="p_no_purchase", horizon_days=horizon_days),
    }


def evaluate_task(features: pd.DataFrame, labels: pd.DataFrame, task: str, split: TimeSplit, *,
                  oracle: OracleFn | None = None, random_state: int = 0,
                  model_spec: ModelSpec | None = None) -> TaskEvaluation:
    """Fit every model for one task on the split and score them on the test fold.

    Parameters
    ----------
    features : DataFrame
        From :func:`shequn_ml.features.build_features` at the split's cutoffs.
    labels : DataFrame
        ``group_id``, ``member_id``, ``cutoff`` and a 0/1 column named ``task``.
    task : {"silence", "churn"}
    split : TimeSplit
    oracle : callable, optional
        ``oracle(cutoff, horizon_days)`` returning ``group_id``, ``member_id``
        and ``p_<task>``-like column ``oracle`` for the members present then.
    model_spec : ModelSpec, optional
        The LightGBM model's parameters (defaults: the estimator's own).
    """
    data = labels.merge(features, on=KEY, how="inner", validate="one_to_one")
    data["fold"] = split.fold_of(data["cutoff"]).to_numpy()
    cols = feature_columns(features)
    parts = {f: data.loc[data["fold"] == f] for f in ("train", "validation", "test")}
    for f, part in parts.items():
        if part[task].nunique() < 2:
            raise DataError(f"the {f} fold of the {task} task has only label "
                             f"{part[task].iloc[0] if len(part) else 'none'} ({len(part)} rows): "
                             "use more cutoffs, a longer horizon, or more data")
    train, val, test = parts["train"], parts["validation"], parts["test"]
    rows = {f: len(p) for f, p in parts.items()}
    label_rate = {f: float(p[task].mean()) for f, p in parts.items()}
    results: dict[str, dict[str, float]] = {}
    fitted: dict[str, object] = {}
    scores: dict[str, object] = {}
    validation: dict[str, float] = {}
    for name, model in _models(task, split.horizon_days, random_state, model_spec).items():
        if name == "lightgbm":
            weight = None if model_spec is None else training_weights(
                train["cutoff"], train["member_id"], model_spec.weights)
            model.fit(train[cols], train[task], X_val=val[cols], y_val=val[task], sample_weight=weight)
            validation = classification_metrics(val[task].to_numpy(),
                                                model.predict_proba(val[cols])[:, 1])
        else:
            model.fit(train[cols], train[task])
        p = model.predict_proba(test[cols])[:, 1]
        results[name] = classification_metrics(test[task].to_numpy(), p)
        fitted[name] = model
        scores[name] = p
    coverage = None
    if oracle is not None:
        scored = []
        for c in split.test:
            o = oracle(c, split.horizon_days)
            o = o.assign(cutoff=c)
            scored.append(o)
        o = pd.concat(scored, ignore_index=True)
        t = test[KEY + [task]].astype({"group_id": str, "member_id": str})
        joined = t.merge(o.astype({"group_id": str, "member_id": str}), on=KEY, how="inner")
        coverage = len(joined) / len(t) if len(t) else math.nan
        results["oracle"] = classification_metrics(joined[task].to_numpy(),
                                                   joined["oracle"].to_numpy())
        for name in results:
            results[name]["auc_vs_oracle"] = results[name]["roc_auc"] / results["oracle"]["roc_auc"]
    table = pd.DataFrame(results).T
    return TaskEvaluation(task, table, split, rows, label_rate, coverage, models=fitted,
                          validation_metrics=validation,
                          test_frame=test[KEY + [task] + cols].reset_index(drop=True),
                          validation_frame=val[KEY + [task] + cols].reset_index(drop=True),
                          test_scores=scores, feature_names=cols)


def evaluate_risk(
    events: pd.DataFrame,
    cutoffs: Sequence[object],
    horizon_days: float,
    *,
    members: pd.DataFrame | None = None,
    groups: pd.DataFrame | None = None,
    spec: FeatureSpec | None = None,
    tasks: Sequence[str] = TASKS,
    n_validation: int = 2,
    n_test: int = 2,
    truth_dir: str | Path | None = None,
    model_specs: dict[str, ModelSpec] | None = None,
    random_state: int = 0,
    progress: bool = False,
) -> dict[str, TaskEvaluation]:
    """Silence and churn: LightGBM against every baseline on one time split.

    Parameters
    ----------
    events, members, groups : DataFrame
        Normalised tables.
    cutoffs : sequence of timestamps
        Rolling cutoffs; :func:`~shequn_ml.split.time_split` assigns them to folds.
    horizon_days : float
        Label window.
    truth_dir : path, optional
        A simulator output folder: adds the oracle row and AUC as a fraction of it.
    model_specs : dict of ModelSpec, optional
        By task: the LightGBM parameters and the label settings (population,
        active window, grace). Their ``horizon_days`` must equal ``horizon_days``.

    Returns
    -------
    dict of TaskEvaluation, by task.
    """
    split = time_split(cutoffs, horizon_days, n_validation=n_validation, n_test=n_test)
    used = split.train + split.validation + split.test
    history = EventHistory(events, members=members, groups=groups)
    features = build_features(events, used, spec, members=members, groups=groups,
                              progress=progress)
    out: dict[str, TaskEvaluation] = {}
    truth = None
    if truth_dir is not None:
        from shequn_ml.simulate import load_truth, oracle

        truth = load_truth(truth_dir)
    model_specs = model_specs or {}
    for task in tasks:
        spec_t = model_specs.get(task)
        label = spec_t.label if spec_t is not None else LabelSpec(horizon_days=horizon_days)
        if label.horizon_days != horizon_days:
            raise ValueError(f"the {task} model spec's horizon ({label.horizon_days:g} days) differs "
                             f"from the evaluation's ({horizon_days:g} days)")
        if task == "silence":
            labels = silence_labels(history, used, horizon_days, population=label.population,
                                    active_window_days=label.active_window_days)
            column = "p_silent_or_gone"
        elif task == "churn":
            labels = churn_labels(history, used, horizon_days,
                                  grace_days=label.grace_days).drop(columns="churn_reason")
            column = "p_churn"
        else:
            raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")
        oracle_fn = None
        if truth is not None:
            def oracle_fn(c: pd.Timestamp, h: float, _col: str = column) -> pd.DataFrame:
                o = oracle(truth, c, int(h))
                return o[["group_id", "member_id"]].assign(oracle=o[_col].to_numpy())
        out[task] = evaluate_task(features, labels, task, split, oracle=oracle_fn,
                                  random_state=random_state, model_spec=spec_t)
    return out


def report_markdown(results: dict[str, TaskEvaluation], title: str) -> str:
    """A markdown section per task: split, rows, label rates and the comparison table."""
    lines = [f"### {title}", ""]
    for task, r in results.items():
        lines += [f"**{task}** — {r.split.describe()}.", "",
                  "rows (label rate): " + ", ".join(
                      f"{f} {r.rows[f]:,} ({r.label_rate[f]:.3f})" for f in r.rows) + "."]
        if r.oracle_coverage is not None:
            lines.append(f"Oracle probabilities matched {r.oracle_coverage:.1%} of test rows.")
        lines += ["", r.markdown(), ""]
    return "\n".join(lines)


__all__ = ["TaskEvaluation", "evaluate_risk", "evaluate_task", "report_markdown"]
