"""Benchmark: how often do members change risk tier from one night to the next?

On the committed sample (``data/sample``, a simulator world with ground truth), the
quickstart's silence and churn models are trained on cutoffs that end before the
measured window (every label window closes before its first night), then every
member is scored at each DAILY cutoff of the last four weeks the oracle can judge
(the 14-day horizon must end by the last simulated day). For each pair of
consecutive nights it reports the share of members, tiered on both nights, whose
tier changed:

* **plain**: the thresholds alone (high >= 0.6, low < 0.3), no memory of the night before;
* **hysteresis m**: :class:`shequn_ml.contacts.TierPolicy` with margin ``m`` against
  the previous night's tiers (0.05 is the job's default), chained night after night
  as ``shequn-ml score --previous`` does;
* **true risk**: the oracle's probability (``shequn_ml.simulate.oracle``: the
  simulator's own rates) put through the same plain thresholds: how much the
  members' real risk moved.

It also reports the share of members whose model tier equals their true tier
(accuracy of the tier, the price of holding it still) and the share of members
who changed tier at least once over the window. The nightly tiers are computed by
the same :meth:`TierPolicy.assign` the job's ``assemble`` stage calls; the script
checks that one night scored with ``previous=`` gives the same tiers.

Usage::

    python benchmarks/tier_stability.py [--data data/sample] [--days 28] [--margins 0.02 0.05 0.1]

Prints a markdown table; the figures in docs/scoring.md come from it.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
HORIZON = 14


def train(data: Path, end: pd.Timestamp) -> dict:
    """The quickstart's silence and churn models, trained on cutoffs up to ``end`` (no tracking)."""
    from shequn_ml.experiment import ExperimentSpec, run_experiment
    from shequn_ml.scoring import ModelBundle

    raw = yaml.safe_load((REPO / "experiments" / "quickstart.yaml").read_text())
    raw["data"] = {"events": str(data / "events.parquet"), "members": str(data / "members.parquet"),
                   "groups": str(data / "groups.parquet")}
    raw["features"] = str(REPO / raw["features"])
    raw["models"] = {t: str(REPO / p) for t, p in raw["models"].items() if t in ("silence", "churn")}
    raw["cutoffs"] = {**raw.get("cutoffs", {}), "end": end.date().isoformat()}
    result = run_experiment(ExperimentSpec.model_validate(raw))
    return {task: ModelBundle(task, r.models["lightgbm"], result.feature_spec, result.model_specs[task].label)
            for task, r in result.tasks.items()}


def chain(risks: list[pd.DataFrame], policy) -> list[pd.DataFrame]:
    """Tiers night after night, each night against the tiers the previous night gave."""
    out, prev = [], None
    for night in risks:
        before = None
        if prev is not None:
            before = prev.reindex(night.index).to_numpy(dtype=object)
            before = np.where(pd.isna(before), "", before)
        tiers = pd.Series(policy.assign(night["risk"].to_numpy(dtype=float), before), index=night.index)
        out.append(tiers)
        prev = tiers
    return out


def changed(a: pd.Series, b: pd.Series, keep: pd.Index) -> tuple[int, int]:
    """Members of ``keep`` tiered on both nights, and how many of them changed tier."""
    x, y = a.reindex(keep), b.reindex(keep)
    ok = x.fillna("").ne("") & y.fillna("").ne("")
    return int(ok.sum()), int((x[ok] != y[ok]).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", default=str(REPO / "data" / "sample"))
    parser.add_argument("--days", type=int, default=28, help="nights measured (default 28: 29 cutoffs)")
    parser.add_argument("--margins", type=float, nargs="+", default=[0.02, 0.05, 0.1])
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    from shequn_ml.contacts import TierPolicy
    from shequn_ml.io import read_events, read_groups, read_members
    from shequn_ml.scoring import score_members
    from shequn_ml.simulate import load_truth, oracle

    data = Path(args.data)
    events = read_events(data / "events.parquet")
    members = read_members(data / "members.parquet")
    groups = read_groups(data / "groups.parquet")
    truth = load_truth(data)
    last_day = events["ts"].max().normalize()
    last = last_day - pd.Timedelta(days=HORIZON)  # the oracle's window must end by the last day
    nights = list(pd.date_range(last - pd.Timedelta(days=args.days), last, freq="D"))
    train_end = nights[0] - pd.Timedelta(days=HORIZON + 1)  # every training label window closes before
    t0 = time.perf_counter()
    bundles = train(data, train_end)
    t_train = time.perf_counter() - t0

    t0 = time.perf_counter()
    model: dict[str, list[pd.DataFrame]] = {"silence": [], "churn": []}
    true: dict[str, list[pd.DataFrame]] = {"silence": [], "churn": []}
    tables = []
    for cut in nights:
        table = score_members(events, cut, bundles, members=members, groups=groups, contacts_per_group=None)
        tables.append(table.table)
        keys = pd.MultiIndex.from_frame(table.table[["group_id", "member_id"]].astype(str))
        o = oracle(truth, cut, HORIZON)
        okeys = pd.MultiIndex.from_frame(o[["group_id", "member_id"]].astype(str))
        for task, col in (("silence", "p_silence"), ("churn", "p_churn")):
            model[task].append(pd.DataFrame({"risk": table.table[f"{task}_risk"].to_numpy(dtype=float)},
                                            index=keys))
            true[task].append(pd.DataFrame({"risk": o[col].to_numpy(dtype=float)}, index=okeys))
    t_score = time.perf_counter() - t0

    # the job itself, scored with previous=, gives the chained tiers (same code path)
    policy = TierPolicy()
    check = score_members(events, nights[1], bundles, members=members, groups=groups, previous=tables[0],
                          contacts_per_group=None).table
    for task in ("silence", "churn"):
        chained = chain(model[task][:2], policy)[1]
        job = pd.Series(check[f"{task}_tier"].to_numpy(dtype=object),
                        index=pd.MultiIndex.from_frame(check[["group_id", "member_id"]].astype(str)))
        assert (job.reindex(chained.index) == chained).all(), f"{task}: the job's tiers differ"

    plain = TierPolicy(margin=0.0)
    policies = [("plain (no hysteresis)", plain)] + [(f"hysteresis, margin {m:g}", TierPolicy(margin=m))
                                                     for m in args.margins]
    print(f"# Tier stability: {len(nights)} daily cutoffs {nights[0]:%Y-%m-%d}..{nights[-1]:%Y-%m-%d} "
          f"on {data}\n")
    print(f"Models trained on cutoffs up to {train_end:%Y-%m-%d} ({t_train:.0f} s); {len(nights)} nights "
          f"scored in {t_score:.0f} s. Thresholds: high >= {plain.high:g}, low < {plain.low:g}. "
          "Members: those the model scores for the task and the oracle knows, tiered on both nights "
          "of a pair.\n")
    print("| task | tiers from | mean share changing tier per night | max night | changed at least once "
          "in the window | tier equals the true tier |")
    print("|---|---|---:|---:|---:|---:|")
    for task in ("silence", "churn"):
        true_tiers = chain(true[task], plain)
        rows = [(name, chain(model[task], p)) for name, p in policies]
        rows.append(("true risk (oracle, plain)", true_tiers))
        for name, tiers in rows:
            shares, ever, seen = [], {}, set()
            agree = []
            for i in range(1, len(nights)):
                common = tiers[i - 1].index.intersection(tiers[i].index)
                common = common.intersection(true_tiers[i - 1].index).intersection(true_tiers[i].index)
                common = common.intersection(model[task][i - 1].index[model[task][i - 1]["risk"].notna()])
                common = common.intersection(model[task][i].index[model[task][i]["risk"].notna()])
                n, c = changed(tiers[i - 1], tiers[i], common)
                shares.append(c / n if n else np.nan)
                a, b = tiers[i - 1].reindex(common), tiers[i].reindex(common)
                for key in common[(a != b).to_numpy()]:
                    ever[key] = True
                seen.update(common)
                agree.append(float((tiers[i].reindex(common) == true_tiers[i].reindex(common)).mean()))
            print(f"| {task} | {name} | {np.nanmean(shares):.1%} | {np.nanmax(shares):.1%} | "
                  f"{len(ever) / max(len(seen), 1):.1%} | {np.mean(agree):.1%} |")


if __name__ == "__main__":
    main()
