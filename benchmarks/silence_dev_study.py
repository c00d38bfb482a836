"""Development study for the silence model on the real data sets, never touching a test cutoff.

``docs/results.md`` reports one test fold per data set: the latest cutoffs. Any
change to ``models/silence.yaml`` or to the estimator is chosen here instead, on
*rolling origins inside the pre-test region*: for each data set the cutoffs whose
label window closes before the report's first test cutoff are split again and
again (the latest ``n_test`` of them as a development test fold, the ``n_validation``
before as validation, the rest as training), moving the origin back by ``step``
cutoffs each time. Every variant is fitted on the same folds as the baselines.

Prints, per variant, the mean over origins and data sets of the library's ROC-AUC
minus the best baseline's on the development test fold (the baseline with the
highest AUC there, as the done-when of issue 17 measures), the same on the
validation fold, and the mean ECE; then the per-set means.

Run: ``.venv/bin/python benchmarks/silence_dev_study.py [--origins 5] [--variants base,...]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import real_data_report as rdr  # noqa: E402

from shequn_ml.datasets import load_gitter, load_slack_disentangled, load_snap, load_stackexchange  # noqa: E402
from shequn_ml.evaluation import evaluate_task  # noqa: E402
from shequn_ml.features import build_features, feature_columns  # noqa: E402
from shequn_ml.features._registry import family_of  # noqa: E402
from shequn_ml.features.snapshots import EventHistory  # noqa: E402
from shequn_ml.labels import silence_labels  # noqa: E402
from shequn_ml.metrics import classification_metrics, ece_noise_floor  # noqa: E402
from shequn_ml.models import _classifier  # noqa: E402
from shequn_ml.models.spec import ModelSpec, WeightSpec  # noqa: E402
from shequn_ml.split import TimeSplit, time_split  # noqa: E402


def params(**kw: object) -> Callable[[ModelSpec], ModelSpec]:
    """A variant that overrides LightGBM / start parameters."""
    return lambda s: s.model_copy(update={"params": s.params.model_copy(update=kw)})


#: Variants of the committed spec: name -> function of the committed spec.
VARIANTS: dict[str, Callable[[ModelSpec], ModelSpec]] = {
    "committed": lambda s: s,
    "no_start": params(start=None, class_weight=None),
    "C0.03": params(start_C=0.03),
    "C0.3": params(start_C=0.3),
    "sigmoid": params(calibration="sigmoid"),
    "lr0.05": params(learning_rate=0.05),
    "no_calibration": params(calibration=None),
    "half_life_180d": lambda s: s.model_copy(update={"weights": WeightSpec(recency_half_life_days=180)}),
    "half_life_365d": lambda s: s.model_copy(update={"weights": WeightSpec(recency_half_life_days=365)}),
    "per_member": lambda s: s.model_copy(update={"weights": WeightSpec(per_member=True)}),
    "per_member_hl365": lambda s: s.model_copy(update={"weights": WeightSpec(per_member=True,
                                                                             recency_half_life_days=365)}),
    "per_member_C0.03": lambda s: params(start_C=0.03)(s).model_copy(
        update={"weights": WeightSpec(per_member=True)}),
    "btyd_start": params(start="linear_btyd"),
    "prev_rate": lambda s: s,
    "start_linear_or_rfm": params(start=["linear", "rfm"]),
    "start_any": params(start=["linear", "rfm", "linear_btyd"]),
}
#: Variants with the group's silence rate of the last fully observed label window as a feature.
PREV_RATE = {"prev_rate"}


def with_prev_rate(feats: pd.DataFrame, labels: pd.DataFrame, horizon: float) -> pd.DataFrame:
    """Add the share of the cutoff t - h population that stayed silent over [t - h, t).

    Known at t (the window closed at t), so it is point in time; a cutoff without
    one h earlier gets NaN.
    """
    rate = labels.groupby(["group_id", "cutoff"], observed=True)["silence"].mean().rename("prev_rate")
    rate = rate.reset_index()
    rate["cutoff"] = rate["cutoff"] + pd.Timedelta(days=horizon)
    out = feats.merge(rate, on=["group_id", "cutoff"], how="left")
    out["prev_rate"] = np.log(out["prev_rate"].clip(0.01, 0.99) / (1 - out["prev_rate"].clip(0.01, 0.99)))
    out.index = feats.index
    return out
#: Variants that train on the latest cutoffs only (days of training cutoffs kept).
RECENT_TRAIN: dict[str, float] = {"train_365d": 365, "train_180d": 180}
for _name in RECENT_TRAIN:
    VARIANTS[_name] = lambda s: s
#: Variants whose linear start leaves out the group-level features (the trees still see them).
MEMBER_START = {"member_start"}
VARIANTS["member_start"] = lambda s: s
#: Variants that also drop feature families (single-group data: group features only describe time).
DROP_FAMILIES: dict[str, tuple[str, ...]] = {}
for _name, _spec in [("nogroup", lambda s: s), ("nogroup_no_start", params(start=None, class_weight=None)),
                     ("nogroup_C0.03", params(start_C=0.03))]:
    VARIANTS[_name] = _spec
    DROP_FAMILIES[_name] = ("group_context",)


def datasets(data_dir: Path) -> list[tuple[str, object, float, int, int]]:
    """(title, data, horizon, n_validation, n_test) as the report fixes them."""
    c = rdr.CHOICES
    return [
        ("college", load_snap(data_dir / "collegemsg" / "CollegeMsg.txt", group_id="collegemsg"),
         c["college_horizon_days"], c["n_validation"], c["n_test"]),
        ("cardano", rdr.quiet(load_stackexchange, data_dir / "se-cardano", group_id="cardano"),
         c["se_horizon_days"], c["n_validation"], c["n_test"]),
        ("gitter", load_gitter(data_dir / "gitter" / "gitter_gitter.txt.gz"),
         c["gitter_horizon_days"], c["long_n_validation"], c["long_n_test"]),
        ("appium", load_gitter(data_dir / "gitter" / "appium_appium.txt.gz"),
         c["gitter_horizon_days"], c["long_n_validation"], c["long_n_test"]),
        ("racket", load_slack_disentangled(data_dir / "slack-racket" / c["racket_file"]),
         c["racket_horizon_days"], c["long_n_validation"], c["long_n_test"]),
    ]


def prepare(data: object, horizon: float, n_val: int, n_test: int) -> tuple[list, pd.DataFrame, pd.DataFrame]:
    """The pre-test cutoffs, with features and labels built once for all of them."""
    cutoffs = rdr.weekly_cutoffs(data.events, horizon)
    real = time_split(cutoffs, horizon, n_validation=n_val, n_test=n_test)
    first_test = min(real.test)
    dev = [c for c in cutoffs if c + pd.Timedelta(days=horizon) <= first_test]
    history = EventHistory(data.events, members=data.members, groups=data.groups)
    spec = rdr.silence_spec(horizon)
    feats = rdr.quiet(build_features, data.events, dev, None, members=data.members, groups=data.groups)
    labels = rdr.quiet(silence_labels, history, dev, horizon, population=spec.label.population,
                       active_window_days=spec.label.active_window_days)
    return dev, feats, labels


def run(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(HERE.parent.parent / "shared" / "data"))
    ap.add_argument("--origins", type=int, default=5)
    ap.add_argument("--step", type=int, default=2, help="cutoffs between origins")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--sets", default="college,cardano,gitter,appium,racket")
    ap.add_argument("--csv", default="/tmp/silence_dev_study.csv", help="where the per-fold rows go")
    args = ap.parse_args(argv)
    names = args.variants.split(",")
    sets = args.sets.split(",")
    rows = []
    for title, data, horizon, n_val, n_test in datasets(Path(args.data)):
        if title not in sets:
            continue
        t = time.perf_counter()
        dev, feats, labels = prepare(data, horizon, n_val, n_test)
        base_spec = rdr.silence_spec(horizon)
        for k in range(args.origins):
            cut = dev[: len(dev) - k * args.step]
            try:
                split = time_split(cut, horizon, n_validation=n_val, n_test=n_test)
            except ValueError:
                break
            for name in names:
                spec = VARIANTS[name](base_spec)
                f = feats
                sp = split
                if name in RECENT_TRAIN:
                    keep = [c for c in split.train
                            if c >= max(split.train) - pd.Timedelta(days=RECENT_TRAIN[name])]
                    sp = TimeSplit(keep, split.validation, split.test, split.horizon_days, split.dropped)
                if name in PREV_RATE:
                    f = with_prev_rate(feats, labels, horizon)
                if name in DROP_FAMILIES:
                    f = feats.drop(columns=[c for c in feature_columns(feats)
                                            if family_of(c) in DROP_FAMILIES[name]])
                original = _classifier.LinearStart.fit
                if name in MEMBER_START:
                    def fit(self, X, y, _orig=original):  # noqa: ANN001, ANN202
                        return _orig(self, X[[c for c in X.columns if family_of(c) != "group_context"]], y)
                    _classifier.LinearStart.fit = fit
                try:
                    res = rdr.quiet(evaluate_task, f, labels, "silence", sp, model_spec=spec)
                except ValueError as exc:
                    print(f"{title} origin {k}: {exc}")
                    break
                finally:
                    _classifier.LinearStart.fit = original
                tab = res.table
                best = tab.drop(index="lightgbm")["roc_auc"].max()
                val = res.validation_frame
                vy = val["silence"].to_numpy()
                vauc = {n: roc_auc_score(vy, m.predict_proba(val[res.feature_names])[:, 1])
                        for n, m in res.models.items()}
                vbest = max(v for n, v in vauc.items() if n != "lightgbm")
                ece_val = classification_metrics(vy, res.models["lightgbm"].predict_proba(
                    val[res.feature_names])[:, 1])["ece"]
                p_test = res.models["lightgbm"].predict_proba(res.test_frame[res.feature_names])[:, 1]
                rows.append({"set": title, "origin": k, "variant": name,
                             "ece_floor": ece_noise_floor(p_test),
                             "d_test": tab.loc["lightgbm", "roc_auc"] - best,
                             "d_val": vauc["lightgbm"] - vbest, "ece": tab.loc["lightgbm", "ece"],
                             "ece_val": ece_val, "auc": tab.loc["lightgbm", "roc_auc"],
                             "trees": getattr(res.models["lightgbm"], "best_iteration_", np.nan),
                             "n_test": len(res.test_frame)})
        print(f"{title}: {len(dev)} pre-test cutoffs, {time.perf_counter() - t:.0f} s", flush=True)
    df = pd.DataFrame(rows)
    df.to_csv(args.csv, index=False)
    by_set = df.groupby(["variant", "set"])[["d_test", "d_val", "ece", "trees"]].mean().unstack("set")
    overall = df.groupby("variant")[["d_test", "d_val", "ece", "ece_val", "ece_floor"]].mean()
    overall["min_set_d_test"] = df.groupby(["variant", "set"])["d_test"].mean().groupby("variant").min()
    pd.set_option("display.width", 200)
    print("\nmean over origins and sets")
    print(overall.round(4))
    print("\nper set: development-test Δ AUC vs best baseline")
    print(by_set["d_test"].round(4))
    print("\nper set: ECE")
    print(by_set["ece"].round(4))
    print("\nper set: trees")
    print(by_set["trees"].round(1))
    return 0


if __name__ == "__main__":
    raise SystemExit(run())
