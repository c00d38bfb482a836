"""The library on real community data: regenerates ``docs/results.md``.

One command, from the repository root::

    .venv/bin/python benchmarks/real_data_report.py                  # writes docs/results.md
    .venv/bin/python benchmarks/real_data_report.py --data ../shared/data --out /tmp/results.md

It reads the three public data sets of ``../shared/data`` through the adapters
of :mod:`shequn_ml.datasets` and runs the library's own pipeline on each, with
no second modelling path:

* **silence** on CollegeMsg and on the Stack Exchange site:
  :func:`shequn_ml.evaluation.evaluate_risk` (point-in-time features, labels,
  time split, ``SilenceModel`` from ``models/silence.yaml`` and every baseline,
  all scored on the same test rows), plus a member-clustered paired bootstrap of
  the model's AUC minus the recency rule's and the features that carry the model;
* **KOL ranking** on the Stack Exchange site:
  :func:`shequn_ml.ranking.evaluate_kol` (``models/kol.yaml``), then every
  ranking judged against leadership from outside the interaction graph and after
  the cutoff (reputation gained from votes, accepted answers, gold/silver
  badges), plus the same ranker trained on that leadership instead;
* **leader detection** on the IRC slices: the library's KOL signals
  (:func:`shequn_ml.ranking.kol_features`, ``KolRanker``) ranking each slice's
  members, judged against channel operators and Ubuntu Members, bots excluded.

Every horizon, cutoff rule and population below (:data:`CHOICES`) was fixed
before any model was fitted on these data; nothing is tuned on a test cutoff.
"""

from __future__ import annotations

import argparse
import math
import platform
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from shequn_ml.datasets import (  # noqa: E402
    CommunityData,
    IrcData,
    StackExchangeData,
    load_gitter,
    load_irc,
    load_slack_disentangled,
    load_snap,
    load_stackexchange,
)
from shequn_ml.evaluation import TaskEvaluation, evaluate_risk, report_markdown  # noqa: E402
from shequn_ml.explain import feature_importance, shap_values  # noqa: E402
from shequn_ml.features import feature_columns, rolling_cutoffs  # noqa: E402
from shequn_ml.influence import grade_within, influence_labels, top_share_within  # noqa: E402
from shequn_ml.io import read_events, write_text  # noqa: E402
from shequn_ml.metrics import ece_noise_floor  # noqa: E402
from shequn_ml.models import KolModelSpec, KolRanker, load_kol_spec, query_sizes  # noqa: E402
from shequn_ml.models.spec import ModelSpec, load_model_spec  # noqa: E402
from shequn_ml.ranking import BASELINES, evaluate_kol, kol_features, ranking_metrics  # noqa: E402
from shequn_ml.validation import DataWarning  # noqa: E402

DAY = pd.Timedelta(days=1)
T = TypeVar("T")
#: Fixed before any model was fitted on these data (see the module docstring).
CHOICES = {
    # cutoffs: weekly, from the first event + 35 days to the last event - horizon (the
    # library's experiment defaults); the 2 latest usable cutoffs are the test fold, the 2
    # before them (label windows apart) the validation fold.
    "every_days": 7,
    "warmup_days": 35,
    "n_validation": 2,
    "n_test": 2,
    # CollegeMsg spans 193 days: a 14-day horizon (the library's default) leaves 19 cutoffs.
    "college_horizon_days": 14,
    # Stack Exchange users post every few weeks, not daily: 28 days, a month of silence.
    "se_horizon_days": 28,
    # KOL: models/kol.yaml as it is (28 days), with `shequn-ml kol`'s 3 test cutoffs.
    "kol_n_test": 3,
    # IRC slices last 1.5-36 hours: a 2-day window covers the rest of any slice.
    "irc_window_days": 2,
    # Added 2026-12-03 (issue 17), fixed before any model was fitted on these three sets:
    # Gitter help rooms and the racket Slack channel, people ask every few weeks: a 28-day horizon.
    # Years of weekly cutoffs: 4 validation and 4 test cutoffs (about 50 members active a month,
    # so 2 cutoffs would test on ~100 rows).
    "gitter_horizon_days": 28,
    "racket_horizon_days": 28,
    # racket's pseudonyms differ between the yearly files (shequn_ml.datasets.slack_xml): the
    # 2018 file alone, a year of one channel
    "racket_file": "racket-general-2018.xml.gz",
    "long_n_validation": 4,
    "long_n_test": 4,
    "bootstrap_reps": 1000,
    "seed": 0,
}
BASELINE_NAMES = {col: name for name, col in BASELINES.items()}


@dataclass
class Section:
    title: str
    short: str
    lines: list[str] = field(default_factory=list)
    headline: list[dict[str, object]] = field(default_factory=list)
    seconds: float = 0.0
    #: silence sections: what the cross-set summary needs
    silence: dict[str, object] | None = None

    def add(self, *text: str) -> None:
        self.lines.extend(text)


# ---------------------------------------------------------------------------- helpers
def weekly_cutoffs(events: pd.DataFrame, horizon: float) -> list[pd.Timestamp]:
    start = events["ts"].min().normalize() + CHOICES["warmup_days"] * DAY
    end = events["ts"].max().normalize() - horizon * DAY
    return rolling_cutoffs(start, end, CHOICES["every_days"])


def fmt(v: float, digits: int = 4) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def table_md(frame: pd.DataFrame, cols: list[str], digits: int = 4) -> list[str]:
    out = ["| model | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    for name, row in frame[cols].iterrows():
        cells = [f"{v:.0f}" if c.startswith("n_") else fmt(v, digits) for c, v in row.items()]
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return out


def losses(table: pd.DataFrame, lib: str, metrics: list[str], skip: tuple[str, ...] = ()) -> list[str]:
    """"<baseline> on <metric> (x vs library y)" for every baseline that scores higher than ``lib``."""
    out = []
    for metric in metrics:
        for name, v in table[metric].items():
            if name != lib and name not in skip and v > table.loc[lib, metric]:
                out.append(f"`{name}` on {metric} ({v:.4f} vs {table.loc[lib, metric]:.4f})")
    return out


def verdict(lost: list[str], what: str) -> str:
    return (f"**{what} loses to** " + "; ".join(lost) + ".") if lost else f"{what} beats every baseline."


def silence_spec(horizon: float) -> ModelSpec:
    spec = load_model_spec(REPO / "models" / "silence.yaml")
    # n_jobs=1: LightGBM's threads wait on each other on a busy shared machine; results unchanged
    return spec.model_copy(update={"label": spec.label.model_copy(update={"horizon_days": float(horizon)}),
                                   "params": spec.params.model_copy(update={"n_jobs": 1})})


def kol_spec() -> KolModelSpec:
    spec = load_kol_spec(REPO / "models" / "kol.yaml")
    return spec.model_copy(update={"params": spec.params.model_copy(update={"n_jobs": 1})})


def auc_diff_bootstrap(y: np.ndarray, a: np.ndarray, b: np.ndarray, cluster: np.ndarray,
                       reps: int, seed: int) -> tuple[float, float, float]:
    """AUC(a) - AUC(b) on the same rows, with a 95% interval from resampling clusters."""
    point = roc_auc_score(y, a) - roc_auc_score(y, b)
    codes, uniq = pd.factorize(cluster)
    rows_of = pd.Series(np.arange(len(y))).groupby(codes).apply(np.asarray).tolist()
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(reps):
        pick = np.concatenate([rows_of[i] for i in rng.integers(0, len(uniq), len(uniq))])
        if len(np.unique(y[pick])) < 2:
            continue
        diffs.append(roc_auc_score(y[pick], a[pick]) - roc_auc_score(y[pick], b[pick]))
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    return float(point), float(lo), float(hi)


def quiet(fn: Callable[..., T], *args: object, **kwargs: object) -> T:
    """Run a library call with its DataWarnings silenced (the adapters report their repairs)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return fn(*args, **kwargs)


# ---------------------------------------------------------------------------- silence
def silence_section(title: str, name: str, data: CommunityData, horizon: float,
                    n_validation: int | None = None, n_test: int | None = None) -> Section:
    sec = Section(f"{title}: silence", f"{title} silence")
    t0 = time.perf_counter()
    events = data.events
    cutoffs = weekly_cutoffs(events, horizon)
    spec = silence_spec(horizon)
    res: TaskEvaluation = quiet(
        evaluate_risk, events, cutoffs, horizon, members=data.members, groups=data.groups,
        tasks=("silence",), model_specs={"silence": spec},
        n_validation=n_validation or CHOICES["n_validation"], n_test=n_test or CHOICES["n_test"],
        random_state=CHOICES["seed"])["silence"]
    test = res.test_frame
    y = test["silence"].to_numpy()
    lgb, rec = np.asarray(res.test_scores["lightgbm"]), np.asarray(res.test_scores["recency_rule"])
    diff, lo, hi = auc_diff_bootstrap(y, lgb, rec, test["member_id"].astype(str).to_numpy(),
                                      CHOICES["bootstrap_reps"], CHOICES["seed"])
    per_cut = test.groupby("cutoff")["silence"].agg(["size", "mean"])
    model = res.models["lightgbm"]
    method = getattr(model, "calibration_method_", None)
    cv = getattr(model, "calibration_cv_log_loss_", None) or {}
    calib = f"{method} calibration" if method else "calibration"
    picked = (f"`calibration: auto` picked {method} by 5-fold cross-validated log-loss on the validation "
              "cutoffs (" + ", ".join(f"{k} {v:.4f}" for k, v in sorted(cv.items(), key=lambda kv: kv[1]))
              + ")") if cv else f"calibration: {method or 'none'}"
    imp = feature_importance(shap_values(model, test[res.feature_names]))
    table = res.table
    best_base = table.drop(index="lightgbm")["roc_auc"].idxmax()
    vs_best = ""
    if best_base != "recency_rule":
        d2, lo2, hi2 = auc_diff_bootstrap(y, lgb, np.asarray(res.test_scores[best_base]),
                                          test["member_id"].astype(str).to_numpy(),
                                          CHOICES["bootstrap_reps"], CHOICES["seed"])
        vs_best = (f" LightGBM AUC minus `{best_base}`'s (the best baseline): {d2:+.4f} (95% interval "
                   f"{lo2:+.4f} to {hi2:+.4f}).")
    sec.add(
        f"Population: members present at the cutoff who made a speaking event ({name}) in the "
        f"{spec.label.active_window_days:g} days before it. Label 1 = no speaking event in "
        f"[cutoff, cutoff + {horizon:g} days). Cutoffs every {CHOICES['every_days']} days from the first "
        f"event + {CHOICES['warmup_days']} days to the last event − {horizon:g} days; "
        f"{len(cutoffs)} cutoffs. LightGBM: `models/silence.yaml` with the label horizon set to "
        f"{horizon:g} days (early stopping and {calib} on the validation cutoffs; {picked}).",
        "",
        report_markdown({"silence": res}, f"{title}: silence, horizon {horizon:g} days").split("\n", 2)[2],
        "Test cutoffs: " + "; ".join(f"{c:%Y-%m-%d}: {int(r['size'])} members, label rate {r['mean']:.3f}"
                                     for c, r in per_cut.iterrows()) + ".",
        "",
        f"LightGBM AUC minus the recency rule's on the test rows: **{diff:+.4f}** (95% interval "
        f"{lo:+.4f} to {hi:+.4f}, {CHOICES['bootstrap_reps']} bootstrap resamples of members)." + vs_best,
        "",
        "What the model uses (mean |SHAP| on the test rows, top 8): " + ", ".join(
            f"`{r.feature}` {r.mean_abs_shap:.3f}" for r in imp.head(8).itertuples()) + ".",
        "",
        verdict(losses(table, "lightgbm", ["roc_auc", "pr_auc"]), "On ROC-AUC and PR-AUC, LightGBM"),
        "",
        f"Calibration on the test rows: LightGBM's ECE is {table.loc['lightgbm', 'ece']:.4f} "
        f"(recency rule {table.loc['recency_rule', 'ece']:.4f}, RFM logistic "
        f"{table.loc['rfm_logistic', 'ece']:.4f}); the label rate moves from "
        f"{res.label_rate['validation']:.3f} on the validation cutoffs, where the {calib} is "
        f"fitted on {res.rows['validation']:,} rows, to {res.label_rate['test']:.3f} on the test cutoffs.",
        "",
    )
    # validation ROC-AUC of every model, on the validation rows (the baselines fitted on train only)
    val = res.validation_frame
    val_auc = {nm: roc_auc_score(val["silence"], m.predict_proba(val[res.feature_names])[:, 1])
               for nm, m in res.models.items()}
    best_val = max((n for n in val_auc if n != "lightgbm"), key=val_auc.get)
    sec.add(f"Validation ROC-AUC (the rows the model is early-stopped and calibrated on): LightGBM "
            f"{val_auc['lightgbm']:.4f}; " + ", ".join(f"`{n}` {v:.4f}" for n, v in val_auc.items()
                                                      if n != "lightgbm") + ".",
            "", _model_choice(model), "")
    sec.silence = {"title": title, "y": y, "lib": lgb, "base": np.asarray(res.test_scores[best_base]),
                   "best_base": best_base, "members": test["member_id"].astype(str).to_numpy(),
                   "lib_auc": table.loc["lightgbm", "roc_auc"], "base_auc": table.loc[best_base, "roc_auc"],
                   "val_lib": val_auc["lightgbm"], "val_base": val_auc[best_val], "val_best": best_val,
                   "ece": table.loc["lightgbm", "ece"], "ece_base": table.loc[best_base, "ece"],
                   "ece_floor": ece_noise_floor(lgb), "val_choice": best_val,
                   "rows": res.rows, "horizon": horizon}
    beats = table.loc["lightgbm", "roc_auc"] > table.loc["recency_rule", "roc_auc"]
    lost = losses(table, "lightgbm", ["roc_auc", "pr_auc"])
    sec.headline.append({
        "data": title, "task": f"silence, {horizon:g} d", "metric": "ROC-AUC (PR-AUC)",
        "library": f"{table.loc['lightgbm', 'roc_auc']:.3f} ({table.loc['lightgbm', 'pr_auc']:.3f})",
        "recency rule": f"{table.loc['recency_rule', 'roc_auc']:.3f} "
                        f"({table.loc['recency_rule', 'pr_auc']:.3f})",
        "best baseline": f"{best_base} {table.loc[best_base, 'roc_auc']:.3f} "
                         f"({table.loc[best_base, 'pr_auc']:.3f})",
        "verdict": ("beats the recency rule" if beats else "**loses to the recency rule**")
        + f" (Δ AUC {diff:+.3f}, 95% {lo:+.3f}..{hi:+.3f})"
        + ("; **loses to " + ", ".join(sorted({x.split('`')[1] for x in lost})) + "** on "
           + " and ".join(sorted({x.split(' on ')[1].split(' ')[0] for x in lost})) if lost else
           "; beats every baseline")})
    sec.seconds = time.perf_counter() - t0
    return sec


def _model_choice(model: object) -> str:
    """What the silence model chose on the validation fold, in words."""
    start = getattr(model, "start_", None)
    parts = []
    if start is not None:
        parts.append(f"a linear start (ridge logistic regression, C = {model.start_C:g}, on "
                     f"{len(start.columns_)} log-scaled features)")
    trees = model.best_iteration_
    parts.append(f"{trees} trees of {model.num_leaves_} leaves" if trees else
                 "no tree (no tree lowered the validation log-loss: the model is the linear start)")
    search = getattr(model, "num_leaves_search_", {}) or {}
    if search:
        parts.append("leaf candidates by validation ROC-AUC: " + ", ".join(
            f"{k} leaves {v['validation_roc_auc']:.4f} ({v['trees']} trees)" for k, v in search.items()))
    return "The model chose on the validation cutoffs: " + "; ".join(parts) + "."


def silence_summary(sections: list[Section]) -> Section:
    """Across the silence sets: the library's test ROC-AUC minus the best baseline's, and its mean."""
    sec = Section("Silence across the data sets", "silence summary")
    sets = [s.silence for s in sections if s.silence]
    reps, rng = CHOICES["bootstrap_reps"], np.random.default_rng(CHOICES["seed"])
    draws = np.full((reps, len(sets)), np.nan)
    rows = []
    for j, d in enumerate(sets):
        y, a, b = d["y"], d["lib"], d["base"]
        codes, uniq = pd.factorize(d["members"])
        rows_of = pd.Series(np.arange(len(y))).groupby(codes).apply(np.asarray).tolist()
        for i in range(reps):
            pick = np.concatenate([rows_of[k] for k in rng.integers(0, len(uniq), len(uniq))])
            if len(np.unique(y[pick])) == 2:
                draws[i, j] = roc_auc_score(y[pick], a[pick]) - roc_auc_score(y[pick], b[pick])
        lo, hi = np.nanpercentile(draws[:, j], [2.5, 97.5])
        rows.append((d, d["lib_auc"] - d["base_auc"], lo, hi))
    mean_draws = np.nanmean(draws, axis=1)
    point = float(np.mean([r[1] for r in rows]))
    mlo, mhi = np.nanpercentile(mean_draws, [2.5, 97.5])
    sec.add(
        "The done-when of issue 17, measured: for each set the library's test ROC-AUC minus the best "
        "baseline's on the test rows (the baseline with the highest test AUC: the hardest comparison), "
        "with a 95% interval from resampling members; the mean over sets, with its interval from "
        "resampling members within every set at once; the validation ROC-AUC against the best "
        "baseline's there; and the ECE, beside its noise floor: the ECE a perfectly calibrated model "
        "would show on as many rows with the library's own probabilities (mean over 200 label draws, "
        "`shequn_ml.metrics.ece_noise_floor`). Picking the best of four baselines on the test rows "
        "favours the baselines on small folds (the maximum of four noisy AUCs is biased upwards); the "
        "validation column names the baseline best on the validation rows.",
        "",
        "| data | horizon | test rows | library | best baseline (test) | Δ AUC | 95% interval | "
        "validation: library vs best baseline | ECE (best baseline's) | ECE noise floor |",
        "|---|---:|---:|---:|---|---:|---|---|---:|---:|",
        *[f"| {d['title']} | {d['horizon']:g} d | {d['rows']['test']:,} | {d['lib_auc']:.4f} | "
          f"`{d['best_base']}` {d['base_auc']:.4f} | {diff:+.4f} | {lo:+.4f} .. {hi:+.4f} | "
          f"{d['val_lib']:.4f} vs `{d['val_best']}` {d['val_base']:.4f} | "
          f"{d['ece']:.4f} ({d['ece_base']:.4f}) | {d['ece_floor']:.4f} |" for d, diff, lo, hi in rows],
        "",
        f"**Mean Δ AUC over the {len(rows)} sets: {point:+.4f}** (95% interval {mlo:+.4f} .. {mhi:+.4f}, "
        f"{reps} resamples). Sets significantly behind (interval entirely below zero): "
        + (", ".join(d["title"] for d, _, _, hi in rows if hi < 0) or "none") + ". Sets where the "
        "library's validation ROC-AUC is below the best baseline's there: "
        + (", ".join(d["title"] for d, *_ in rows if d["val_lib"] < d["val_base"]) or "none")
        + ". Sets with ECE above 0.05: " + (", ".join(f"{d['title']} ({d['ece']:.3f})" for d, *_ in rows
                                                     if d["ece"] > 0.05) or "none")
        + ". Sets whose ECE noise floor is itself above 0.05 (a perfectly calibrated model would "
        "usually miss 0.05 there): " + (", ".join(f"{d['title']} ({d['ece_floor']:.3f})" for d, *_ in rows
                                                   if d["ece_floor"] > 0.05) or "none") + ".",
        "",
    )
    sec.headline.append({
        "data": f"{len(rows)} silence sets", "task": "silence", "metric": "mean Δ ROC-AUC vs best baseline",
        "library": f"{point:+.4f}", "recency rule": "", "best baseline": "per set",
        "verdict": f"95% {mlo:+.4f}..{mhi:+.4f}" + (" (above zero)" if mlo > 0 else " (**not above zero**)")})
    return sec


# ---------------------------------------------------------------------------- SE KOL
def se_kol_section(data: StackExchangeData) -> Section:
    sec = Section("Stack Exchange (cardano): KOL ranking against later leadership", "Stack Exchange KOL")
    t0 = time.perf_counter()
    spec = kol_spec()
    horizon = spec.label.horizon_days
    cutoffs = weekly_cutoffs(data.events, horizon)
    kol = quiet(evaluate_kol, data.events, cutoffs, horizon, members=data.members, groups=data.groups,
                model_spec=spec, n_validation=CHOICES["n_validation"], n_test=CHOICES["kol_n_test"],
                random_state=CHOICES["seed"])
    split = kol.split
    lead = data.leadership

    def judged(table: pd.DataFrame) -> pd.DataFrame:
        """Leadership earned in [cutoff, cutoff + horizon) of each row's member, and its grades."""
        parts = []
        for c, rows in table.groupby("cutoff", sort=True):
            got = lead.between(c, c + horizon * DAY)
            m = rows["member_id"].astype(str)
            rows = rows.assign(**{col: m.map(got[col]).fillna(0).to_numpy(dtype=float)
                                  for col in ("reputation_gain", "accepted_answers", "gold_silver_badges")})
            parts.append(rows)
        out = pd.concat(parts, ignore_index=True)
        q = pd.factorize(out["cutoff"])[0]
        gain = np.clip(out["reputation_gain"].to_numpy(), 0, None)
        out["rel_rep"] = grade_within(gain, q)
        out["top_rep"] = top_share_within(gain, q)
        out["accepted"] = (out["accepted_answers"] > 0).astype(int)
        out["badge"] = (out["gold_silver_badges"] > 0).astype(int)
        return out

    test = judged(kol.scores)
    # the same ranker, trained on leadership instead of the library's influence label
    used = split.train + split.validation
    feats = quiet(kol_features, data.events, used, horizon, members=data.members, groups=data.groups)
    cols = [c for c in feats.columns if c in kol.model.feature_names_in_]
    fit = judged(feats.assign(fold=split.fold_of(feats["cutoff"]).to_numpy()))
    tr, tr_sizes = query_sizes(fit.loc[fit["fold"] == "train"])
    va, va_sizes = query_sizes(fit.loc[fit["fold"] == "validation"])
    ranker = spec.build().set_params(random_state=CHOICES["seed"])
    ranker.fit(tr[cols], tr["rel_rep"], group=tr_sizes, X_val=va[cols], y_val=va["rel_rep"],
               group_val=va_sizes)
    test_feats = quiet(kol_features, data.events, split.test, horizon, members=data.members,
                       groups=data.groups)
    pred = pd.DataFrame({"member_id": test_feats["member_id"].astype(str).to_numpy(),
                         "cutoff": test_feats["cutoff"].to_numpy(),
                         "ranker_on_reputation": ranker.predict(test_feats[cols])})
    test = test.assign(member_id=test["member_id"].astype(str)).merge(
        pred, on=["member_id", "cutoff"], how="left", validate="one_to_one")
    test["chance"] = 0.0
    scores = {"lightgbm_ranker (influence label)": "lightgbm_ranker",
              "lightgbm_ranker (trained on reputation gain)": "ranker_on_reputation",
              **{name: col for name, col in BASELINES.items()}, "chance (constant score)": "chance"}
    rows = {}
    for name, col in scores.items():
        r = ranking_metrics(test, col, relevance="rel_rep", top="top_rep", k=10)
        row = {"ndcg@10 rep gain": r["ndcg@10"], "precision@10 rep": r["precision@k"]}
        for crit in ("accepted", "badge"):
            t = test.assign(_b=test[crit].astype(bool))
            m = ranking_metrics(t, col, relevance=crit, top="_b", k=10)
            aucs = [roc_auc_score(g[crit], g[col]) for _, g in t.groupby("cutoff") if g[crit].nunique() == 2]
            row[f"ndcg@10 {crit}"] = m["ndcg@10"]
            row[f"auc {crit}"] = float(np.mean(aucs)) if aucs else math.nan
        rows[name] = row
    table = pd.DataFrame(rows).T
    per_cut = test.assign(gained=test["rel_rep"] > 0).groupby("cutoff").agg(
        n=("member_id", "size"), gain=("gained", "sum"), acc=("accepted", "sum"), badge=("badge", "sum"))
    sec.add(
        f"Query groups: the site at each cutoff (one group), every member present (joined) at the cutoff, "
        f"lurkers included. Features from `kol_features` (the library's feature table plus last period's "
        f"influence and HITS authority). {split.describe()}.",
        "",
        "**The library's own label first** (`evaluate_kol` as `shequn-ml kol` runs it: future influence = "
        "distinct members who reply to or comment on a member's posts in [t, t + 28 d)):",
        "",
        kol.markdown(),
        "",
        verdict(losses(kol.table, "lightgbm_ranker", ["ndcg@10", "precision@k"]),
                "On its own influence label, the ranker"),
        "",
        "**Judged against leadership from outside the interaction graph, after the cutoff.** For each test "
        "cutoff t, over [t, t + 28 days): reputation gained from votes (upvotes +10 answer / +5 question, "
        "downvotes −2, accepted +15; graded 0–4 within the cutoff like the influence label, "
        "`grade_within`), whether the member had an answer accepted (self-accepts excluded), and whether "
        "they earned a gold or silver badge. The final reputation is never a feature. `auc` is the mean "
        "over test cutoffs of the ROC-AUC of leader vs everyone else present.",
        "",
        "Test cutoffs: " + "; ".join(
            f"{c:%Y-%m-%d}: {r.n} members, {r.gain} gained reputation, {r.acc} had an answer accepted, "
            f"{r.badge} earned gold/silver" for c, r in per_cut.iterrows()) + ".",
        "",
        *table_md(table, list(table.columns)),
        "",
        f"The ranker trained on reputation gain: `models/kol.yaml` parameters, relevance = the graded "
        f"reputation gain of [t, t + 28 d) at the {len(split.train)} training cutoffs, early stopping on the "
        f"{len(split.validation)} validation cutoffs (their label windows end before the first test "
        f"cutoff); {ranker.best_iteration_} trees.",
        "",
    )
    main, sup = "lightgbm_ranker (influence label)", "lightgbm_ranker (trained on reputation gain)"
    others = (main, sup, "chance (constant score)")
    metrics = list(table.columns)
    sec.add(verdict(losses(table, main, metrics, skip=others), f"Judged this way, `{main}`"), "",
            verdict(losses(table, sup, metrics, skip=others), f"`{sup}`"), "")
    base = table.drop(index=list(others))
    best = base["ndcg@10 rep gain"].idxmax()
    lost = losses(table, main, ["ndcg@10 rep gain"], skip=others)
    sec.headline.append({
        "data": "Stack Exchange (cardano)", "task": "KOL, 28 d", "metric": "NDCG@10 vs later rep gain",
        "library": f"{table.loc[main, 'ndcg@10 rep gain']:.3f} (trained on rep gain: "
                   f"{table.loc[sup, 'ndcg@10 rep gain']:.3f})",
        "recency rule": "",
        "best baseline": f"{best} {base.loc[best, 'ndcg@10 rep gain']:.3f}",
        "verdict": "beats every baseline" if not lost else
        "**loses to " + ", ".join(x.split("`")[1] for x in lost) + "** (3 test query groups)"})
    sec.seconds = time.perf_counter() - t0
    return sec


# ---------------------------------------------------------------------------- IRC leaders
def irc_section(data: IrcData) -> Section:
    sec = Section("Ubuntu IRC: leader detection within a slice", "IRC leaders")
    t0 = time.perf_counter()
    h = CHOICES["irc_window_days"]
    spec = kol_spec()
    leaders = data.leaders.assign(leader=1)[["group_id", "member_id", "leader"]]
    bots = set(data.bots["member_id"])
    split_of = data.groups.set_index("group_id")["split"].astype(str)
    ends, mids = [], []
    ev_all = data.events
    for g in data.groups["group_id"].astype(str):
        ev = ev_all.loc[ev_all["group_id"] == g]
        ev = quiet(read_events, ev.assign(group_id=ev["group_id"].astype(str),
                                          member_id=ev["member_id"].astype(str),
                                          target_member_id=ev["target_member_id"].astype(object)))
        end = ev["ts"].max() + pd.Timedelta(minutes=1)
        mid = ev["ts"].iloc[len(ev) // 2]
        f_end = quiet(kol_features, ev, [end], h)
        f_mid = quiet(kol_features, ev, [mid], h)
        lab = quiet(influence_labels, ev, [mid], h)
        ends.append(f_end.assign(group_id=g, member_id=f_end["member_id"].astype(str)))
        lab = pd.DataFrame({"member_id": lab["member_id"].astype(str).to_numpy(),
                            "relevance": lab["relevance"].to_numpy()})
        mids.append(f_mid.assign(group_id=g, member_id=f_mid["member_id"].astype(str))
                    .merge(lab, on="member_id", how="left", validate="one_to_one"))
    end = pd.concat(ends, ignore_index=True)
    mid = pd.concat(mids, ignore_index=True)
    for t in (end, mid):
        t["split"] = t["group_id"].map(split_of).to_numpy()
    cols = feature_columns(end.drop(columns="split"))
    end = end.merge(leaders, on=["group_id", "member_id"], how="left")
    end["leader"] = end["leader"].fillna(0).astype(int)
    end = end.loc[~end["member_id"].isin(bots)].reset_index(drop=True)
    end["is_leader"] = end["leader"].astype(bool)
    end["spoke"] = end["speak_count_30d"] > 0

    def fit(train: pd.DataFrame, val: pd.DataFrame, label: str) -> KolRanker:
        tr, tr_s = query_sizes(train)
        va, va_s = query_sizes(val)
        m = spec.build().set_params(random_state=CHOICES["seed"])
        return m.fit(tr[cols], tr[label], group=tr_s, X_val=va[cols], y_val=va[label], group_val=va_s)

    mid["relevance"] = mid["relevance"].fillna(0).astype(int)
    mid = mid.loc[~mid["member_id"].isin(bots)]
    infl = fit(mid.loc[mid["split"] == "train"], mid.loc[mid["split"] == "dev"], "relevance")
    end["ranker_influence"] = infl.predict(end[cols])
    tagged = fit(end.loc[end["split"] == "train"], end.loc[end["split"] == "dev"], "leader")
    end["ranker_leaders"] = tagged.predict(end[cols])
    end["chance"] = 0.0
    scores = {"lightgbm_ranker (influence label, never sees leaders)": "ranker_influence",
              "lightgbm_ranker (trained on train-slice leaders)": "ranker_leaders",
              **{name: col for name, col in BASELINES.items()}, "chance (constant score)": "chance"}

    def judge(t: pd.DataFrame, skip: tuple[str, ...] = ()) -> pd.DataFrame:
        rows = {}
        for name, col in scores.items():
            if col in skip:
                continue
            m = ranking_metrics(t, col, relevance="leader", top="is_leader", k=10)
            aucs = [roc_auc_score(g["leader"], g[col]) for _, g in t.groupby("group_id")
                    if g["leader"].nunique() == 2]
            rows[name] = {"ndcg@10": m["ndcg@10"], "precision@10": m["precision@k"],
                          "recall@10": m["recall@k"], "mean auc": float(np.mean(aucs)),
                          "n_slices": m["n_queries"]}
        return pd.DataFrame(rows).T

    def describe(t: pd.DataFrame) -> str:
        by = t.groupby("group_id")
        return (f"{by.ngroups} slices, {len(t):,} member rows ({by.size().median():.0f} per slice, median), "
                f"{int(t['leader'].sum())} leader rows in {int((by['leader'].max() > 0).sum())} slices")

    test = end.loc[end["split"] == "test"]
    spoke = end.loc[end["spoke"]]
    ops, members = int(data.leaders["operator"].sum()), int(data.leaders["ubuntu_member"].sum())
    sec.add(
        "Each slice is a group; its members are ranked once, at a cutoff one minute after its last line "
        "(all of the slice is history), among the members present then (the library's population: "
        "joined or spoke, and did not leave before the end) minus the bots "
        f"({len(bots)} nicks: {', '.join(sorted(bots)[:8])}, ...). Leaders (relevance 1) are the nicks who "
        "set a channel mode anywhere in the log (operators) or carry an `ubuntu/member/` cloak "
        f"({ops} operator and {members} Ubuntu Member (slice, nick) pairs in the whole file). Reply links "
        "exist only on the hand-annotated part of each slice, so the reply graph (partners, PageRank, HITS) "
        "covers part of each slice.",
        "",
        "Rankers: `KolRanker` with the `models/kol.yaml` parameters, trained on the corpus's own train "
        "slices and early-stopped on its dev slices; (a) on the library's influence label (distinct "
        "members replying to a member in the second half of the slice, features from the first half), "
        "then applied to the whole slice: it never sees who the leaders are, so every slice is a fair "
        "test for it; (b) on the leader flags of the train slices (supervised leader detection), "
        "judged on the 10 test slices only. Baselines read the whole slice: message count "
        "(`speak_count_30d`), reply partners (`partners_in`), PageRank and HITS authority in the reply "
        "graph, last period's influence (responders over the slice). `mean auc`: the per-slice "
        "ROC-AUC of leader vs non-leader, averaged over slices with both.",
        "",
        f"**All slices, every present member** ({describe(end)}):",
        "",
        *table_md(judge(end, skip=("ranker_leaders",)), ["ndcg@10", "precision@10", "recall@10", "mean auc",
                                                         "n_slices"]),
        "",
        f"**All slices, members who spoke in the slice** ({describe(spoke)}):",
        "",
        *table_md(judge(spoke, skip=("ranker_leaders",)), ["ndcg@10", "precision@10", "recall@10", "mean auc",
                                                           "n_slices"]),
        "",
        f"**The 10 test slices, every present member** ({describe(test)}):",
        "",
        *table_md(judge(test), ["ndcg@10", "precision@10", "recall@10", "mean auc", "n_slices"]),
        "",
        f"Trees: influence ranker {infl.best_iteration_}, leader ranker {tagged.best_iteration_}.",
        "",
    )
    main = "lightgbm_ranker (influence label, never sees leaders)"
    sup = "lightgbm_ranker (trained on train-slice leaders)"
    all_tab = judge(end, skip=("ranker_leaders",))
    test_tab = judge(test)
    metrics = ["ndcg@10", "precision@10", "recall@10", "mean auc"]
    sec.add(verdict(losses(all_tab, main, metrics, skip=("chance (constant score)",)),
                    f"On all slices, `{main}`"), "",
            verdict(losses(test_tab, main, metrics, skip=("chance (constant score)", sup)),
                    f"On the test slices, `{main}`"), "",
            verdict(losses(test_tab, sup, metrics, skip=("chance (constant score)", main)),
                    f"On the test slices, `{sup}`"), "")
    lib = all_tab.loc[main]
    base = all_tab.loc[list(BASELINES)]
    best = base["ndcg@10"].idxmax()
    lost = losses(all_tab, main, ["ndcg@10", "mean auc"], skip=("chance (constant score)",))
    sec.headline.append({
        "data": "Ubuntu IRC (173 slices)", "task": "leader detection", "metric": "NDCG@10 (mean AUC)",
        "library": f"{lib['ndcg@10']:.3f} ({lib['mean auc']:.3f})", "recency rule": "",
        "best baseline": f"{best} {base.loc[best, 'ndcg@10']:.3f} ({base.loc[best, 'mean auc']:.3f})",
        "verdict": "beats every baseline" if not lost else "**loses to " + "; ".join(
            x.split("`")[1] + " on " + x.split(" on ")[1].split(" (")[0] for x in lost) + "**"})
    sec.seconds = time.perf_counter() - t0
    return sec


# ---------------------------------------------------------------------------- report
def data_summary(name: str, data: CommunityData, extra: str = "") -> str:
    ev = data.events
    counts = ev["event_type"].value_counts()
    kinds = ", ".join(f"{k} {v:,}" for k, v in counts.items() if v)
    return (f"| {name} | {len(ev):,} | {ev['member_id'].nunique():,} | {ev['group_id'].nunique():,} | "
            f"{ev['ts'].min():%Y-%m-%d} .. {ev['ts'].max():%Y-%m-%d} | {kinds} | {extra} |")


def _gitter_note(d: CommunityData) -> str:
    n = d.notes
    return (f"{n['unparsed_lines']:,} continuation lines (pasted logs) not events; "
            f"{n['duplicates_dropped']} duplicates dropped; no joins or leaves, so no churn task")


def git_commit() -> str:
    try:
        return subprocess.run(["git", "describe", "--always", "--dirty"], cwd=REPO, capture_output=True,
                               text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def uncommitted_code() -> list[str]:
    """Library code and model specs with uncommitted changes (they can change the tables)."""
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--", "shequn_ml", "models"], cwd=REPO,
                             capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    return [line[3:] for line in out.splitlines() if line[3:]]


def _load() -> str:
    import os

    try:
        return " / ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data"), help="the real-data folder")
    ap.add_argument("--out", default=str(REPO / "docs" / "results.md"), help="markdown file to write")
    args = ap.parse_args(argv)
    data_dir = Path(args.data)
    started = time.perf_counter()
    load_before = _load()
    t = time.perf_counter()
    college = load_snap(data_dir / "collegemsg" / "CollegeMsg.txt", group_id="collegemsg")
    se = quiet(load_stackexchange, data_dir / "se-cardano", group_id="cardano")
    irc = load_irc(data_dir / "ubuntu-irc" / "events.csv.gz")
    gitter = load_gitter(data_dir / "gitter" / "gitter_gitter.txt.gz")
    appium = load_gitter(data_dir / "gitter" / "appium_appium.txt.gz")
    racket = load_slack_disentangled(data_dir / "slack-racket" / CHOICES["racket_file"])
    load_s = time.perf_counter() - t
    print(f"loaded in {load_s:.1f} s", flush=True)

    sections = []
    for make in (lambda: silence_section("CollegeMsg", "a message sent", college,
                                         CHOICES["college_horizon_days"]),
                 lambda: silence_section("Stack Exchange (cardano)", "a question, answer or comment", se,
                                         CHOICES["se_horizon_days"]),
                 lambda: silence_section("Gitter (gitterHQ/gitter)", "a message sent", gitter,
                                         CHOICES["gitter_horizon_days"], CHOICES["long_n_validation"],
                                         CHOICES["long_n_test"]),
                 lambda: silence_section("Gitter (appium/appium)", "a message sent", appium,
                                         CHOICES["gitter_horizon_days"], CHOICES["long_n_validation"],
                                         CHOICES["long_n_test"]),
                 lambda: silence_section("Slack (racket #general, 2018)", "a message sent", racket,
                                         CHOICES["racket_horizon_days"], CHOICES["long_n_validation"],
                                         CHOICES["long_n_test"]),
                 lambda: se_kol_section(se),
                 lambda: irc_section(irc)):
        sec = make()
        print(f"{sec.title}: {sec.seconds:.1f} s", flush=True)
        sections.append(sec)
    sections.insert(0, silence_summary(sections))
    total = time.perf_counter() - started
    load_after = _load()
    dirty = uncommitted_code()

    head = ["data", "task", "metric", "library", "recency rule", "best baseline", "verdict"]
    lines = [
        "# Results on real community data",
        "",
        "Simulator results (with the oracle) are in [results-simulator.md](results-simulator.md).",
        "",
        "Generated by `.venv/bin/python benchmarks/real_data_report.py` (the whole file; do not edit by "
        f"hand) at commit `{git_commit()}` on {pd.Timestamp.now(tz='UTC'):%Y-%m-%d}"
        + (" with uncommitted changes to " + ", ".join(f"`{d}`" for d in dirty) if dirty else "")
        + f", {platform.machine()} with {_cores()} cores shared with other jobs: {total:.0f} s wall "
        f"(loading {load_s:.1f} s; " + ", ".join(f"{s.short} {s.seconds:.0f} s"
                                                for s in sections)
        + f"; load average (1 / 5 / 15 min) {load_before} at the start, {load_after} at the end).",
        "",
        "The data (`../shared/data`, read through `shequn_ml.datasets`):",
        "",
        "| data set | events | members | groups | span | event types | notes |",
        "|---|---:|---:|---:|---|---|---|",
        data_summary("CollegeMsg (SNAP)", college, f"{college.notes['duplicates_dropped']} duplicate lines "
                     "dropped; one group; no exits, so no churn task"),
        data_summary("Stack Exchange cardano", se, "user -1 excluded; no exits, so no churn task"),
        data_summary("Gitter gitterHQ/gitter", gitter, _gitter_note(gitter)),
        data_summary("Gitter appium/appium", appium, _gitter_note(appium)),
        data_summary("Slack racket #general 2018", racket,
                     f"{racket.notes['replies_mention']:,} replies from mentions, "
                     f"{racket.notes['replies_conversation']:,} from conversations; one yearly file "
                     "(pseudonyms differ between files)"),
        data_summary("Ubuntu IRC", irc, f"{irc.notes['nick_change_lines']:,} nick changes, "
                     f"{irc.notes['mode_lines']} mode lines not events; slices of hours, so no churn task"),
        "",
        "**Choices fixed before any model was fitted on these data** (nothing was tuned on a test "
        "cutoff): " + "; ".join(f"`{k}` = {v}" for k, v in CHOICES.items()) + ". Model parameters are "
        "`models/silence.yaml` and `models/kol.yaml` as committed (only the silence label horizon and "
        "`n_jobs` = 1 set here).",
        "",
        "## Headline",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for s in sections:
        for h in s.headline:
            lines.append("| " + " | ".join(str(h[c]) for c in head) + " |")
    lines += ["", *READING, ""]
    for s in sections:
        lines += [f"## {s.title}", "", *s.lines]
    write_text("\n".join(lines).rstrip() + "\n", args.out)
    print(f"wrote {args.out} in {total:.0f} s")
    return 0


def _cores() -> int:
    import os

    return os.cpu_count() or 1


#: The reading of the results. Written by hand after the first run of this script produced the
#: tables (the same seed reproduces them), revised after the rerun with ``calibration: auto``
#: (the default since commit 78b507a) and after the rerun with 7-leaf silence trees (commit 1c827eb);
#: the tables are regenerated on every run, this text is not.
READING: list[str] = [
    "**Reading it** (hand-written on 2026-12-03 after the run that added the Gitter rooms and Slack "
    "racket, at the commit named above; rerun the script and check it still holds):",
    "",
    "- **Silence: ahead of the best simple model on average, not on every set, and only on these test "
    "folds.** Over the five sets the mean Δ ROC-AUC against the best baseline (the RFM logistic "
    "regression on every set) is in the summary above, with a member-bootstrap interval. The model "
    "now starts from a ridge logistic regression on the log-scaled member-level features "
    "(`start: linear`), leaves the group-level features to the trees, and weights each member's "
    "training rows equally (`weights: per_member`). Every one of these choices was made on rolling "
    "development folds that end before the first test cutoff (`benchmarks/silence_dev_study.py`: 5 "
    "sets × 4 origins, each with the report's own split sizes), never on these test cutoffs. On those "
    "development folds the gain is much smaller than here: the mean Δ AUC against the best baseline "
    "was +0.0001 for the linear start alone and +0.0052 with per-member weights, with appium at "
    "−0.020 and gitter between −0.014 and +0.004. These test folds are small (84 to 486 rows; the Gitter "
    "rooms have 15 and 12 negatives on their test folds), so one set alone is noise and the "
    "test-fold mean should be read against the development figure. On validation the library is "
    "behind RFM on the sets marked above, by less than 0.01 on folds of 67 to 161 rows.",
    "- **Calibration.** ECE is at or above 0.05 on most sets. Two things stand behind it. The label "
    "rate moves between the validation cutoffs, where the map is fitted, and the test cutoffs (each "
    "section gives both rates), and no map fitted on earlier cutoffs can see that. And on folds this "
    "small the ECE of even a perfectly calibrated model is near 0.05: the noise-floor column gives it "
    "for each set. On the development folds the mean ECE was 0.073 (linear start on member-level "
    "features; 0.084 with the group-level ones in the start) against a mean noise floor of 0.052; "
    "without any calibration map it was 0.068, better on three sets and worse on CollegeMsg (0.100), "
    "so the map stays.",
    "- **KOL on Stack Exchange: the ranker loses at the top of the list.** It learns the library's own "
    "influence label, and votes, which make reputation, have no voter in the public dump and so "
    "cannot be events. Judged against reputation gained after the cutoff, the carry-forward baselines "
    "(last period's influence, PageRank, reply partners, message count) order the top ten better; the "
    "ranker separates later leaders from everyone else better (higher AUC for accepted answers and "
    "badges). There are only three test query groups (one site at three cutoffs), so differences of a "
    "few hundredths are noise. Response types now come from one table by community kind "
    "(`shequn_ml.schema.RESPONSES`): in a group whose `kind` is `qa`, an answer credits the answerer. "
    "This report keeps the site a chat-kind group, because on the development cutoffs before these "
    "test cutoffs the Q&A rules lowered the silence model's Δ AUC on cardano by 0.017 and left the "
    "ranker behind reply partners (NDCG@10 against later reputation 0.718 vs 0.803 and 0.709 vs 0.715 "
    "at two origins), while they made the reply-partners baseline itself the best judge of later "
    "reputation. Also tried there and not kept: boosting the ranker from the baseline best on "
    "validation (0.710 vs 0.746 without), and regression or Poisson objectives instead of lambdarank "
    "(no consistent gain over three origins). What did pay: early stopping keeps few small trees here "
    "(5), whose scores tie (8 members shared the top score), and metrics average over the orders of "
    "tied members; the ranker now orders its ties by a single signal chosen on the validation fold "
    "(`tie_break` in `models/kol.yaml`), which raised NDCG@10 against later reputation from 0.651 to "
    "0.699 on these test cutoffs (on the development folds `benchmarks/kol_dev_study.py`, where the "
    "choice was made: 0.648 to 0.669). What it would take to catch up: many query groups per cutoff "
    "(the site split by tag), so the ranker has more than a dozen queries to learn from.",
    "- **IRC leaders are barely visible in one slice's behaviour.** Operators and Ubuntu Members hold a "
    "standing status; many sit idle in a given slice, and the reply graph covers only the annotated "
    "part of each slice. Every signal is well above chance (NDCG@10 about 0.12 against 0.04) and far from "
    "finding leaders reliably. Over all slices the influence-trained ranker (which never saw a leader "
    "flag) is level with message count (NDCG@10 0.129 vs 0.126 since its ties are ordered by a signal "
    "chosen on validation; 0.123 before); on the 10 test slices it is worse, having stopped after 3 "
    "trees on the dev slices (it learned little about future replies), and the leader-trained ranker's "
    "test figures rest on 23 leader rows in 7 slices. What it would take: history across days (these "
    "are disconnected slices), and reply links for whole slices.",
]


if __name__ == "__main__":
    raise SystemExit(main())
