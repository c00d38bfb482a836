"""Study: group health (issue 19) on the committed sample and on a larger simulated world.

For each world: group-death labels at weekly cutoffs, one time split, the model and both
baselines scored on the same test rows (ROC-AUC, PR-AUC, ECE), group-bootstrap 95%
intervals of the model's AUC advantage, where the model loses (AUC by slice of the test
rows), and the lifecycle stage's agreement with the simulator's vitality-based truth for
the existing rule, a majority-class baseline and a stage learned on a third world.

Every choice is fixed here, before any fit, and not changed after seeing a test fold:

* label and model: ``models/group_health.yaml`` (horizon 28 days, loss share 0.5);
* cutoffs: weekly, from 28 days after the world's start to 28 days before its end (so every
  label window is observed);
* split: the spec's 3 validation and 4 test cutoffs on the large world; on the sample 2 and
  2, because with 3 and 4 its training fold would hold 1 to 3 deaths (label counts only,
  read before fitting: 7 deaths in 177 training rows with 2 and 2);
* the stage learner: :class:`~shequn_ml.group_health.LearnedStage` (``C=1``), fitted on the
  truth of a third world (seed 2) at every weekly cutoff, never on a reported world.

Usage::

    python benchmarks/group_health_study.py [--work DIR] [--n-boot 1000]

Simulated worlds are written under ``--work`` (default: a folder in the temporary
directory) and reused when already there. Prints markdown; docs/group-health.md pastes it.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from shequn_ml.explain import shap_values
from shequn_ml.features.snapshots import EventHistory, rolling_cutoffs
from shequn_ml.group_health import (
    FEATURE_NAMES,
    STAGE_EN,
    LearnedStage,
    evaluate_group_health,
    group_features,
    load_group_health_spec,
    score_groups,
    stage_agreement,
    truth_lifecycle_stage,
)
from shequn_ml.io import read_events, read_groups, read_members
from shequn_ml.simulate import SimulationConfig, load_truth, simulate

REPO = Path(__file__).resolve().parents[1]
SPEC = REPO / "models" / "group_health.yaml"
SAMPLE = REPO / "data" / "sample"
LARGE = SimulationConfig(n_members=30_000, n_groups=300, days=240, seed=1)
STAGE_TRAINING = SimulationConfig(n_members=15_000, n_groups=150, days=240, seed=2)
#: (validation, test) cutoffs per reported world; see the module docstring
SPLITS = {"sample": (2, 2), "large": (3, 4)}
MODELS = ("lightgbm", "activity_trend_rule", "last_period_activity")


def world(name: str, cfg: SimulationConfig | None, work: Path) -> tuple[Path, float | None]:
    """The folder of a world, simulated (and timed) if it is not there yet."""
    if cfg is None:
        return SAMPLE, None
    out = work / name
    if (out / "simulation.json").exists():
        return out, None
    started = time.perf_counter()
    simulate(cfg, out)
    return out, time.perf_counter() - started


def load(path: Path) -> EventHistory:
    return EventHistory(read_events(path / "events.parquet"), members=read_members(path / "members.parquet"),
                        groups=read_groups(path / "groups.parquet"))


def cutoffs(path: Path, first_day: int, last_margin: int) -> list[pd.Timestamp]:
    cfg = load_truth(path).config
    start = pd.Timestamp(cfg.start, tz="UTC")
    return rolling_cutoffs(start + pd.Timedelta(days=first_day),
                           start + pd.Timedelta(days=cfg.days - last_margin), 7)


def fmt(v: float, digits: int = 3) -> str:
    return "" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.{digits}f}"


def slices_table(result) -> str:
    """ROC-AUC of every model on slices of the test rows (blank with fewer than 5 deaths)."""
    test = result.test_frame
    y = test["group_death"].to_numpy()
    size = pd.cut(test["members_present"], [0, 50, 150, np.inf], right=False,
                  labels=["< 50 members", "50-149 members", ">= 150 members"])
    slices = {"all test rows": np.ones(len(test), bool)}
    for label in size.cat.categories:
        slices[str(label)] = (size == label).to_numpy()
    for kind, v in (("free groups", 0.0), ("paid groups", 1.0)):
        slices[kind] = (test["paid_group"] == v).to_numpy()
    for s in (0, 1, 2):
        slices[f"rule stage {s} ({STAGE_EN[s]})"] = (test["lifecycle_stage"] == s).to_numpy()
    slices["silent 3+ days at t"] = (test["days_since_group_speak"] >= 3).to_numpy()
    slices["spoke in the last 3 days"] = (test["days_since_group_speak"] < 3).to_numpy()
    from sklearn.metrics import roc_auc_score

    lines = ["| slice | rows | deaths | " + " | ".join(MODELS) + " |",
             "|---|---:|---:|" + "---:|" * len(MODELS)]
    for name, mask in slices.items():
        pos = int(y[mask].sum())
        cells = []
        for m in MODELS:
            ok = pos >= 5 and pos < mask.sum()
            cells.append(fmt(roc_auc_score(y[mask], result.test_scores[m][mask])) if ok else "")
        lines.append(f"| {name} | {int(mask.sum())} | {pos} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def importance_table(result, k: int = 8) -> str:
    model = result.models["lightgbm"]
    X = result.test_frame[result.feature_names]
    mean_abs = shap_values(model, X).values.abs().mean().sort_values(ascending=False).head(k)
    lines = ["| feature | mean abs SHAP (log-odds) |", "|---|---:|"]
    lines += [f"| {f} | {v:.3f} |" for f, v in mean_abs.items()]
    return "\n".join(lines)


def health_section(name: str, path: Path, sim_seconds: float | None, n_boot: int) -> dict:
    spec = load_group_health_spec(SPEC)
    history = load(path)
    cuts = cutoffs(path, 28, int(spec.label.horizon_days))
    n_val, n_test = SPLITS[name]
    started = time.perf_counter()
    result = evaluate_group_health(history, None, None, cuts, horizon_days=spec.label.horizon_days,
                                   loss_share=spec.label.loss_share, n_validation=n_val,
                                   n_test=n_test, model=spec.build(), n_boot=n_boot)
    seconds = time.perf_counter() - started
    model = result.models["lightgbm"]
    groups = history.groups
    print(f"\n### Group health: {name} ({len(groups)} groups, {len(history.ts):,} events)\n")
    if sim_seconds is not None:
        print(f"Simulated here in {sim_seconds:.0f} s. ", end="")
    print(f"{len(cuts)} weekly cutoffs; {result.split.describe()}.\n")
    print(f"Rows: {result.describe()}. Evaluation (features, labels, fits, {n_boot} group-bootstrap "
          f"draws) took {seconds:.0f} s.\n")
    print("Test cutoffs (ranking metrics from each model's ranking score, ECE from its probability):\n")
    print(result.markdown())
    print("\nThe model's advantage, group bootstrap (all test rows of a drawn group), 95% intervals:\n")
    print(result.bootstrap_markdown())
    search = "; ".join(f"{k} leaves: {v['trees']} trees, validation AUC {v['validation_roc_auc']:.3f}"
                       for k, v in model.num_leaves_search_.items())
    print(f"\nThe model kept {model.best_iteration_} trees of {model.num_leaves_} leaves on its linear "
          f"start ({search}); calibration {model.calibration_method_}; validation ROC-AUC "
          f"{result.validation_metrics['roc_auc']:.3f}.\n")
    print("Largest mean |SHAP| on the test rows:\n")
    print(importance_table(result))
    print("\nWhere the model loses: ROC-AUC on slices of the test rows:\n")
    print(slices_table(result))
    return {"history": history, "result": result, "cuts": cuts}


def stage_rows(path: Path, history: EventHistory) -> pd.DataFrame:
    """Group features and the truth stage at every weekly cutoff from day 7 to the last day."""
    cuts = cutoffs(path, 7, 1)
    feats = group_features(history, cuts)
    truth = truth_lifecycle_stage(path, cuts)
    return feats.merge(truth, on=["group_id", "cutoff"], how="inner", validate="one_to_one")


def agreement_section(reported: dict[str, tuple[Path, EventHistory]], training: Path) -> None:
    print("\n### Lifecycle stage against the simulator's truth\n")
    train = stage_rows(training, load(training))
    learner = LearnedStage().fit(train[FEATURE_NAMES], train["truth_stage"])
    dist = train["truth_stage"].value_counts(normalize=True).sort_index()
    print(f"Learned stage: fitted on the seed-{STAGE_TRAINING.seed} world "
          f"({STAGE_TRAINING.n_groups} groups, {len(train)} group-weeks; truth stages "
          + ", ".join(f"{s}: {v:.0%}" for s, v in dist.items()) + ").\n")
    lines = ["| world | rows | truth 0 / 1 / 2 | assignment | accuracy | Cohen's kappa |",
             "|---|---:|---|---|---:|---:|"]
    confusions = []
    for name, (path, history) in reported.items():
        rows = stage_rows(path, history)
        truth = rows["truth_stage"].to_numpy()
        counts = " / ".join(str(int((truth == s).sum())) for s in (0, 1, 2))
        majority = int(pd.Series(truth).mode().iloc[0])
        for label, assigned in (("existing rule", rows["lifecycle_stage"].to_numpy()),
                                (f"majority class ({majority})", np.full(len(truth), majority)),
                                ("learned (other world)", learner.predict(rows[FEATURE_NAMES]))):
            a = stage_agreement(assigned, truth)
            lines.append(f"| {name} | {a.n} | {counts} | {label} | {a.accuracy:.3f} | {fmt(a.kappa)} |")
            if not label.startswith("majority"):
                confusions.append((name, label, a))
        if name == "sample":
            last = rows.loc[rows["cutoff"] >= sorted(rows["cutoff"].unique())[-4]]
    print("\n".join(lines))
    for name, label, a in confusions:
        print(f"\n{name}, {label} (rows: truth, columns: assigned):\n")
        print(a.markdown())
    print("\nThe sample's last four weekly cutoffs (groups in 分手期 by the rule and by the truth):\n")
    out = ["| cutoff | groups | rule 分手期 | truth 分手期 | both | rule accuracy (3 stages) |",
           "|---|---:|---:|---:|---:|---:|"]
    for c, part in last.groupby("cutoff"):
        rule2, true2 = part["lifecycle_stage"] == 2, part["truth_stage"] == 2
        acc = float((part["lifecycle_stage"] == part["truth_stage"]).mean())
        out.append(f"| {c:%Y-%m-%d} | {len(part)} | {int(rule2.sum())} | {int(true2.sum())} | "
                   f"{int((rule2 & true2).sum())} | {acc:.2f} |")
    print("\n".join(out))


def reasons_section(sample: dict) -> None:
    result, history = sample["result"], sample["history"]
    cutoff = result.split.test[-1]
    table = score_groups(result.models["lightgbm"], history, cutoff)
    top = table.loc[table["status"] == "scored"].sort_values("group_risk", ascending=False).head(3)
    print(f"\n### The groups table: the sample's three riskiest groups at {cutoff:%Y-%m-%d}\n")
    print("| group | risk | stage | reason 1 | reason 2 | reason 3 |\n|---|---:|---|---|---|---|")
    for _, r in top.iterrows():
        cells = [f"{r[f'group_reason_{i}_en']} / {r[f'group_reason_{i}_zh']}" for i in (1, 2, 3)]
        print(f"| {r.group_id} | {r.group_risk:.2f} | {r.lifecycle_stage_en} {r.lifecycle_stage_zh} | "
              + " | ".join(cells) + " |")
    counts = table["status"].value_counts().to_dict()
    print(f"\nStatuses of the {len(table)} rows: " + ", ".join(f"{k} {v}" for k, v in counts.items()) + ".")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "shequn_group_health")
    parser.add_argument("--n-boot", type=int, default=1000)
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    started = time.perf_counter()
    print("## Group health study (benchmarks/group_health_study.py)\n")
    print(f"Machine: {os.cpu_count()} cores, {platform.machine()}, Python {sys.version.split()[0]}; "
          f"load average at the start {load_before[0]:.1f} / {load_before[1]:.1f} / {load_before[2]:.1f} "
          "(1 / 5 / 15 min).")
    large_path, large_seconds = world("large_seed1", LARGE, args.work)
    train_path, _ = world("stage_training_seed2", STAGE_TRAINING, args.work)
    sample = health_section("sample", SAMPLE, None, args.n_boot)
    large = health_section("large", large_path, large_seconds, args.n_boot)
    print(f"\nThe large world: SimulationConfig(n_members={LARGE.n_members}, n_groups={LARGE.n_groups}, "
          f"days={LARGE.days}, seed={LARGE.seed}), every other knob at its default.")
    reasons_section(sample)
    agreement_section({"sample": (SAMPLE, sample["history"]), "large": (large_path, large["history"])},
                      train_path)
    load_after = os.getloadavg()
    print(f"\nTotal {time.perf_counter() - started:.0f} s; load average at the end {load_after[0]:.1f} / "
          f"{load_after[1]:.1f} / {load_after[2]:.1f}.")


if __name__ == "__main__":
    main()
