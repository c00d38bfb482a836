"""Development study for the KOL ranker on Stack Exchange cardano, never touching a test cutoff.

Rolling origins inside the region before ``docs/results.md``'s first KOL test cutoff
(the latest ``kol_n_test`` pre-test cutoffs as a development test fold, the
``n_validation`` before them as validation, the rest as training; the origin moves
back ``step`` cutoffs each time). Each variant of the ranker is scored on the same
rows as the baselines, against the library's influence label and against reputation
gained after the cutoff.

Run: ``.venv/bin/python benchmarks/kol_dev_study.py [--origins 4]``.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import real_data_report as rdr  # noqa: E402

from shequn_ml.datasets import load_stackexchange  # noqa: E402
from shequn_ml.features import feature_columns  # noqa: E402
from shequn_ml.features.snapshots import EventHistory  # noqa: E402
from shequn_ml.influence import (  # noqa: E402
    grade_within,
    influence_labels,  # noqa: E402
    top_share_within,
)
from shequn_ml.models import query_sizes  # noqa: E402
from shequn_ml.ranking import BASELINES, evaluate_kol, kol_features, ranking_metrics  # noqa: E402
from shequn_ml.split import time_split  # noqa: E402

DAY = pd.Timedelta(days=1)


def tie_break(score: np.ndarray, by: np.ndarray) -> np.ndarray:
    """Exact ties in ``score`` ordered by ``by`` (higher first); other orders unchanged."""
    return score + 1e-9 * (2 / np.pi) * np.arctan(np.nan_to_num(np.asarray(by, dtype=float)))


VARIANTS = {
    "committed": {},
    "no_tie_break": {"tie_break": None},
    "mcs10": {"min_child_samples": 10},
    "leaves15": {"num_leaves": 15},
    "no_early_stop_100": {"early_stopping_rounds": None, "n_estimators": 100},
    "lr0.01": {"learning_rate": 0.01},
}


#: Variants that train on cutoffs every this many days between the first and last training cutoff.
DENSE = {"dense_2d": 2.0, "dense_1d": 1.0}
VARIANTS.update({name: {} for name in DENSE})


class _Eval:
    """What the study reads from an evaluation: the test rows with scores, and the model."""

    def __init__(self, scores: pd.DataFrame, model: object) -> None:
        self.scores, self.model = scores, model


def dense_evaluation(data: object, cut: list, h: float, spec: object, step_days: float,
                     n_val: int, n_test: int) -> _Eval:
    """``evaluate_kol``'s fit with extra training cutoffs every ``step_days`` (validation, test as before)."""
    split = time_split(cut, h, n_validation=n_val, n_test=n_test)
    first, last = min(split.train), max(split.train)
    n = int((last - first) / (step_days * DAY))
    train = sorted({first + i * step_days * DAY for i in range(n + 1)} | set(split.train))
    used = train + split.validation + split.test
    hist = EventHistory(data.events, members=data.members, groups=data.groups)
    lab = spec.label
    feats = rdr.quiet(kol_features, data.events, used, h, members=data.members, groups=data.groups,
                      invitee_weight=lab.invitee_weight, organise_weight=lab.organise_weight, history=hist)
    labels = influence_labels(hist, used, h, label=lab.label, invitee_weight=lab.invitee_weight,
                              organise_weight=lab.organise_weight, grade_quantiles=lab.grade_quantiles)
    cols = feature_columns(feats)
    key = ["group_id", "member_id", "cutoff"]
    rows = labels[key + ["relevance", "top_decile"]].merge(feats, on=key, validate="one_to_one")
    fold = np.where(rows["cutoff"].isin(split.test), "test",
                    np.where(rows["cutoff"].isin(split.validation), "validation", "train"))
    parts = {f: query_sizes(rows.loc[fold == f]) for f in ("train", "validation", "test")}
    (tr, trs), (va, vas), (te, _) = parts["train"], parts["validation"], parts["test"]
    model = spec.build().fit(tr[cols], tr["relevance"], group=trs, X_val=va[cols], y_val=va["relevance"],
                             group_val=vas)
    te = te.copy()
    te["lightgbm_ranker"] = model.predict(te[cols])
    return _Eval(te, model)


def judged(table: pd.DataFrame, lead: object, horizon: float) -> pd.DataFrame:
    parts = []
    for c, rows in table.groupby("cutoff", sort=True):
        got = lead.between(c, c + horizon * DAY)
        m = rows["member_id"].astype(str)
        parts.append(rows.assign(reputation_gain=m.map(got["reputation_gain"]).fillna(0).to_numpy(float)))
    out = pd.concat(parts, ignore_index=True)
    q = pd.factorize(out["cutoff"])[0]
    gain = np.clip(out["reputation_gain"].to_numpy(), 0, None)
    out["rel_rep"] = grade_within(gain, q)
    out["top_rep"] = top_share_within(gain, q)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(HERE.parent.parent / "shared" / "data"))
    ap.add_argument("--origins", type=int, default=4)
    ap.add_argument("--step", type=int, default=2)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    data = rdr.quiet(load_stackexchange, Path(args.data) / "se-cardano", group_id="cardano")
    spec = rdr.kol_spec()
    h = spec.label.horizon_days
    cutoffs = rdr.weekly_cutoffs(data.events, h)
    n_val, n_test = rdr.CHOICES["n_validation"], rdr.CHOICES["kol_n_test"]
    real = time_split(cutoffs, h, n_validation=n_val, n_test=n_test)
    dev = [c for c in cutoffs if c + h * DAY <= min(real.test)]
    rows = []
    for k in range(args.origins):
        cut = dev[: len(dev) - k * args.step]
        for name in args.variants.split(","):
            s = spec.model_copy(update={"params": spec.params.model_copy(update=VARIANTS[name])})
            try:
                if name in DENSE:
                    ev = dense_evaluation(data, cut, h, s, DENSE[name], n_val, n_test)
                else:
                        ev = rdr.quiet(evaluate_kol, data.events, cut, h, members=data.members,
                                   groups=data.groups, model_spec=s, n_validation=n_val, n_test=n_test)
            except ValueError as exc:
                print(f"origin {k}: {exc}")
                break
            t = judged(ev.scores, data.leadership, h)
            t["ranker_tb"] = tie_break(t["lightgbm_ranker"].to_numpy(), t["prev_influence"].to_numpy())
            for base, col in BASELINES.items():
                t[f"ranker_tb_{base}"] = tie_break(t["lightgbm_ranker"].to_numpy(), t[col].to_numpy())
            cols = {"ranker": "lightgbm_ranker", **{c: c for c in t.columns if c.startswith("ranker_tb")},
                    **BASELINES}
            for model, col in cols.items():
                own = ranking_metrics(t, col, k=10)["ndcg@10"]
                rep = ranking_metrics(t, col, relevance="rel_rep", top="top_rep", k=10)["ndcg@10"]
                rows.append({"origin": k, "variant": name, "model": model, "own": own, "rep": rep,
                             "trees": ev.model.best_iteration_, "tie_break": ev.model.tie_break_})
        print(f"origin {k} done", flush=True)
    df = pd.DataFrame(rows)
    df.to_csv("/tmp/kol_dev_study.csv", index=False)
    pd.set_option("display.width", 200)
    print(df.groupby(["variant", "model"])[["own", "rep", "trees"]].mean().round(4).to_string())
    print(df.groupby(["variant", "origin"])["tie_break"].first().to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
