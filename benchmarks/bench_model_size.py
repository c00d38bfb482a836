"""Benchmark: model size against validation accuracy and exact-TreeSHAP throughput.

Explanations dominate the scoring job's cost, and exact TreeSHAP (LightGBM's
``pred_contrib``) costs about trees x leaves x depth^2 per row. This script fits
the silence and churn models over a grid of ``num_leaves`` and ``learning_rate``
on one time split and prints, per variant: the trees early stopping kept, the
**validation** ROC-AUC (the fold model selection may look at), and rows explained
per second. The test fold is not scored here, so choosing a leaner spec from this
table does not peek at the test cutoffs.

Usage::

    python benchmarks/bench_model_size.py [--data data/sample] [--leaves 7 15 31] [--rates 0.05 0.1 0.2]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO / "data" / "sample")
    parser.add_argument("--leaves", type=int, nargs="+", default=[7, 15, 31])
    parser.add_argument("--rates", type=float, nargs="+", default=[0.05, 0.1, 0.2])
    parser.add_argument("--shap-rows", type=int, default=20_000)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    from shequn_ml.experiment import _cutoffs as experiment_cutoffs
    from shequn_ml.experiment import load_experiment
    from shequn_ml.explain import shap_values
    from shequn_ml.features import load_feature_spec
    from shequn_ml.io import read_events, read_groups, read_members
    from shequn_ml.models.spec import load_model_spec

    spec = load_experiment(REPO / "experiments" / "quickstart.yaml")
    events = read_events(args.data / "events.parquet")
    members = read_members(args.data / "members.parquet")
    groups = read_groups(args.data / "groups.parquet")
    base = {t: load_model_spec(REPO / "models" / f"{t}.yaml") for t in ("silence", "churn")}
    horizon = base["silence"].label.horizon_days
    cutoffs = experiment_cutoffs(spec, events, horizon)
    feature_spec = load_feature_spec(REPO / "features" / "default.yaml")
    print(f"{args.data}: {len(events):,} events, {len(cutoffs)} cutoffs; load average "
          f"{os.getloadavg()[0]:.1f}", flush=True)
    from shequn_ml.features import build_features, feature_columns
    from shequn_ml.labels import churn_labels, silence_labels
    from shequn_ml.metrics import classification_metrics
    from shequn_ml.split import time_split

    split = time_split(cutoffs, horizon, n_validation=spec.split.n_validation, n_test=spec.split.n_test)
    used = split.train + split.validation
    started = time.perf_counter()
    features = build_features(events, used, feature_spec, members=members, groups=groups)
    lab = base["silence"].label
    labels = {"silence": silence_labels(events, used, horizon, population=lab.population,
                                        active_window_days=lab.active_window_days, members=members,
                                        groups=groups),
              "churn": churn_labels(events, used, horizon, grace_days=base["churn"].label.grace_days,
                                    members=members, groups=groups).drop(columns="churn_reason")}
    print(f"features and labels at {len(used)} cutoffs: {time.perf_counter() - started:.0f} s", flush=True)
    cols = feature_columns(features)
    rows = []
    for task, y in labels.items():
        data = y.merge(features, on=["group_id", "member_id", "cutoff"], how="inner")
        fold = split.fold_of(data["cutoff"]).to_numpy()
        train, val = data.loc[fold == "train"], data.loc[fold == "validation"]
        X = pd.concat([val[cols]] * (args.shap_rows // max(len(val), 1) + 1),
                      ignore_index=True).head(args.shap_rows)
        for leaves in args.leaves:
            for rate in args.rates:
                model = base[task].model_copy(update={"params": base[task].params.model_copy(
                    update={"num_leaves": leaves, "learning_rate": rate})}).build()
                clock = time.perf_counter()
                model.fit(train[cols], train[task], X_val=val[cols], y_val=val[task])
                fit_s = time.perf_counter() - clock
                auc = classification_metrics(val[task].to_numpy(), model.predict_proba(val[cols])[:, 1])
                clock = time.perf_counter()
                shap_values(model, X, check_additivity=False)
                rows.append({"task": task, "num_leaves": leaves, "learning_rate": rate,
                             "trees": model.best_iteration_, "validation_roc_auc": auc["roc_auc"],
                             "fit_s": fit_s, "shap_rows_per_s": len(X) / (time.perf_counter() - clock),
                             "train_rows": len(train), "validation_rows": len(val)})
                print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    print(f"\ntrain rows: {dict(zip(table['task'], table['train_rows'], strict=False))}; validation rows: "
          f"{dict(zip(table['task'], table['validation_rows'], strict=False))}")
    print("\n| task | num_leaves | learning_rate | trees | validation ROC-AUC | exact SHAP rows/s |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in table.sort_values(["task", "num_leaves", "learning_rate"]).itertuples():
        print(f"| {r.task} | {r.num_leaves} | {r.learning_rate:g} | {r.trees} | {r.validation_roc_auc:.4f} | "
              f"{r.shap_rows_per_s:,.0f} |")


if __name__ == "__main__":
    main()
