"""Member roles against the simulator's true roles, and against an asker/answerer proxy on Stack Exchange.

Worlds (same configuration as the committed sample, ``data/sample/simulation.json``,
except the seed and the size):

* **development** (seed 101, 3,000 members, 30 groups): the only world on which
  thresholds of :mod:`shequn_ml.roles` were compared; its table is printed for
  reference and is not a result;
* **sample** (``data/sample``, seed 7, 3,000 members): reported;
* **large** (seed 2024, 20,000 members, 200 groups): reported.

Methods: :func:`~shequn_ml.roles.assign_roles` (group-relative rules), the
message-count rule :func:`~shequn_ml.roles.message_count_roles`, the majority class
of the development world :func:`~shequn_ml.roles.majority_roles`, and an ablation
that is not library API: the same signatures with fixed absolute thresholds
instead of the comparison with the group (:func:`fixed_count_roles`).

The Stack Exchange check (``../shared/data/se-cardano``, the site as one ``qa``
group) compares the roles assigned at monthly cutoffs with what each member does
**after** the cutoff: whether their questions outnumber their answers (mostly asks)
or the reverse (mostly answers). Members with no question or answer after the
cutoff are left out.

Run: ``.venv/bin/python benchmarks/roles_study.py [--work DIR] [--se DIR]``; prints
markdown. ``docs/roles.md`` pastes its output.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from shequn_ml import roles as R  # noqa: E402
from shequn_ml.features.snapshots import EventHistory  # noqa: E402
from shequn_ml.io import read_events, read_groups, read_members  # noqa: E402

CUTOFFS = ("2024-03-01", "2024-04-01", "2024-05-01", "2024-06-01")
SE_CUTOFFS = ("2021-06-01", "2021-07-01", "2021-08-01", "2021-09-01", "2021-10-01", "2021-11-01")
WORLDS = {"development": dict(seed=101, n_members=3000, n_groups=30),
          "large": dict(seed=2024, n_members=20000, n_groups=200)}
#: Ablation thresholds (absolute, no group comparison): a share of talk, or a count.
FIXED_SHARE, FIXED_ORGANISING = 0.25, 2


def fixed_count_roles(assigned: pd.DataFrame) -> pd.DataFrame:
    """Ablation: the measures of :func:`assign_roles` with fixed absolute thresholds.

    Lurker: talk <= 1 and organising < 2; then organiser (organising >= 2), thinker
    (long posts + answers >= 25% of talk and at least one response), asker
    (questions >= 25% of talk), in that order; else chatter.
    """
    m = assigned
    talk = m["talk"].clip(lower=1)
    role = np.select(
        [(m["talk"] <= 1) & (m["organising"] < FIXED_ORGANISING),
         m["organising"] >= FIXED_ORGANISING,
         ((m["long_posts"] + m["answers"]) / talk >= FIXED_SHARE) & (m["responses_received"] > 0),
         m["questions"] / talk >= FIXED_SHARE],
        ["lurker", "organiser", "thinker", "asker"], default="chatter")
    return m[["group_id", "member_id"]].assign(role=role)


def load_world(folder: Path) -> tuple[pd.DataFrame, EventHistory, pd.DataFrame]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ev = read_events(folder / "events.parquet")
        mem = read_members(folder / "members.parquet")
        gr = read_groups(folder / "groups.parquet")
    return ev, EventHistory(ev, members=mem, groups=gr), pd.read_parquet(folder / "truth_members.parquet")


def evaluate_world(folder: Path, train_truth: pd.DataFrame, window_days: float = 28.0
                   ) -> tuple[pd.DataFrame, dict[str, pd.DataFrame], float]:
    """Per cutoff and method: macro-F1, accuracy; and the pooled rows per method."""
    ev, h, truth = load_world(folder)
    rows, pooled = [], {k: [] for k in ("roles", "rule", "majority", "fixed")}
    seconds = 0.0
    for c in CUTOFFS:
        t0 = time.perf_counter()
        a = R.assign_roles(ev, c, history=h, window_days=window_days)
        seconds += time.perf_counter() - t0
        out = {"roles": a, "rule": R.message_count_roles(ev, c, history=h, window_days=window_days),
               "majority": R.majority_roles(ev, c, train_truth, history=h), "fixed": fixed_count_roles(a)}
        row = {"cutoff": c, "members": len(a)}
        for k, v in out.items():
            e = R.evaluate_roles(v, truth)
            row[f"{k}_f1"], row[f"{k}_acc"] = e.macro_f1, e.accuracy
            pooled[k].append(v[["group_id", "member_id", "role"]].assign(cutoff=c))
        rows.append(row)
    frames = {k: pd.concat(v, ignore_index=True) for k, v in pooled.items()}
    return pd.DataFrame(rows), frames, seconds


def pooled_eval(frames: dict[str, pd.DataFrame], truth: pd.DataFrame) -> dict[str, R.RoleEvaluation]:
    """Evaluation over all (member, cutoff) rows together (truth repeated per cutoff)."""
    out = {}
    for k, v in frames.items():
        keyed = v.assign(member_id=v["member_id"] + "@" + v["cutoff"])
        t = pd.concat([truth.assign(member_id=truth["member_id"].astype(str) + "@" + c) for c in CUTOFFS])
        out[k] = R.evaluate_roles(keyed, t)
    return out


def fmt(x: float) -> str:
    return f"{x:.3f}"


def world_table(name: str, table: pd.DataFrame, pooled: dict[str, R.RoleEvaluation]) -> str:
    lines = [f"| {name} cutoff | members | roles F1 | roles acc | rule F1 | rule acc | majority F1 | "
             "majority acc | ablation F1 | ablation acc |", "|---|" + "---:|" * 9]
    for r in table.to_dict("records"):
        cells = [fmt(r[f"{k}_{m}"]) for k in ("roles", "rule", "majority", "fixed") for m in ("f1", "acc")]
        cells[0] = f"**{cells[0]}**"
        lines.append(f"| {r['cutoff']} | {r['members']:,} | " + " | ".join(cells) + " |")
    p = pooled
    lines.append(f"| all four | {int(table['members'].sum()):,} | **{fmt(p['roles'].macro_f1)}** | "
                 f"{fmt(p['roles'].accuracy)} | {fmt(p['rule'].macro_f1)} | {fmt(p['rule'].accuracy)} | "
                 f"{fmt(p['majority'].macro_f1)} | {fmt(p['majority'].accuracy)} | "
                 f"{fmt(p['fixed'].macro_f1)} | {fmt(p['fixed'].accuracy)} |")
    return "\n".join(lines)


def confusion_table(e: R.RoleEvaluation) -> str:
    cm = e.confusion
    head = "| true \\ assigned | " + " | ".join(cm.columns) + " | recall |"
    lines = [head, "|---|" + "---:|" * (len(cm.columns) + 1)]
    for role, row in cm.iterrows():
        lines.append(f"| {role} | " + " | ".join(f"{int(v):,}" for v in row)
                     + f" | {e.per_role.loc[role, 'recall']:.2f} |")
    lines.append("| precision | " + " | ".join(f"{e.per_role.loc[r, 'precision']:.2f}" for r in cm.columns)
                 + " | |")
    return "\n".join(lines)


def se_study(folder: Path, dev_truth: pd.DataFrame) -> tuple[str, float]:
    from shequn_ml.datasets import load_stackexchange

    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = load_stackexchange(folder)
        groups = read_groups(data.groups.assign(kind="qa"))
    ev = data.events
    h = EventHistory(ev, members=data.members, groups=groups)
    q_name, a_name = R.QUESTION, R.ANSWER
    qa = ev.loc[ev["event_type"].isin([q_name, a_name]), ["ts", "member_id", "event_type"]]
    rows = []
    for c in SE_CUTOFFS:
        cut = pd.Timestamp(c, tz="UTC")
        after = qa.loc[qa["ts"] >= cut]
        counts = (after.assign(member_id=after["member_id"].astype(str),
                               event_type=after["event_type"].astype(str))
                  .groupby(["member_id", "event_type"]).size().unstack(fill_value=0)
                  .reindex(columns=[q_name, a_name], fill_value=0))
        assigned = R.assign_roles(ev, cut, history=h)
        rule = R.message_count_roles(ev, cut, history=h)
        major = R.majority_roles(ev, cut, dev_truth, history=h)
        for method, table in (("roles", assigned), ("rule", rule), ("majority", major)):
            x = table[["member_id", "role"]].join(counts, on="member_id").fillna({q_name: 0, a_name: 0})
            x = x.loc[(x[q_name] + x[a_name]) > 0]
            rows.append(x.assign(cutoff=c, method=method,
                                 asks=x[q_name] > x[a_name], answers=x[a_name] > x[q_name]))
    seconds = time.perf_counter() - t0
    df = pd.concat(rows, ignore_index=True)
    base = df.loc[df["method"] == "roles"]
    lines = ["| members (member-cutoff rows with a question or answer after the cutoff) | rows | "
             "questions outnumber answers | answers outnumber questions |", "|---|---:|---:|---:|",
             f"| all of them (base rate) | {len(base):,} | {base['asks'].mean():.2f} | "
             f"{base['answers'].mean():.2f} |"]
    for method in ("roles", "rule", "majority"):
        d = df.loc[df["method"] == method]
        for role in R.ROLES:
            s = d.loc[d["role"] == role]
            if len(s):
                lines.append(f"| {method}: assigned {role} | {len(s):,} | {s['asks'].mean():.2f} | "
                             f"{s['answers'].mean():.2f} |")
        missing = [r for r in ("asker", "thinker") if not (d["role"] == r).any()]
        if missing:
            lines.append(f"| {method}: assigned {' / '.join(missing)} | 0 | n/a | n/a |")
    asks, answers = base.loc[base["asks"]], base.loc[base["answers"]]
    recall = (f"\nOf the rows that mostly ask after the cutoff, {(asks['role'] == 'asker').mean():.2f} are "
              f"assigned asker ({len(asks):,} rows); of those that mostly answer, "
              f"{(answers['role'] == 'thinker').mean():.2f} are assigned thinker ({len(answers):,} rows); "
              "the baselines assign neither role.")
    per = (base.groupby("cutoff").apply(lambda d: pd.Series({
        "asker rows": int((d["role"] == "asker").sum()),
        "asker: asks": d.loc[d["role"] == "asker", "asks"].mean(),
        "thinker rows": int((d["role"] == "thinker").sum()),
        "thinker: answers": d.loc[d["role"] == "thinker", "answers"].mean(),
        "base: asks": d["asks"].mean(), "base: answers": d["answers"].mean()}), include_groups=False))
    per_lines = ["| cutoff | rows | assigned askers | of them mostly ask | assigned thinkers | "
                 "of them mostly answer | base: mostly ask | base: mostly answer |", "|---|" + "---:|" * 7]
    for c, r in per.iterrows():
        n = int((base["cutoff"] == c).sum())
        per_lines.append(f"| {c} | {n} | {int(r['asker rows'])} | {r['asker: asks']:.2f} | "
                         f"{int(r['thinker rows'])} | {r['thinker: answers']:.2f} | {r['base: asks']:.2f} | "
                         f"{r['base: answers']:.2f} |")
    return "\n".join(lines) + "\n" + recall + "\n\nPer cutoff (roles):\n\n" + "\n".join(per_lines), seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=None, help="where to simulate (default: a temporary folder)")
    ap.add_argument("--se", type=Path, default=HERE.parent.parent / "shared" / "data" / "se-cardano")
    args = ap.parse_args()
    if args.work is None:
        with tempfile.TemporaryDirectory(prefix="roles-study-") as tmp:
            run(Path(tmp), args.se)
    else:
        run(args.work, args.se)


def run(work: Path, se: Path) -> None:
    """Simulate the worlds into ``work``, evaluate, and print the tables."""
    from shequn_ml.simulate import SimulationConfig, simulate

    started = time.perf_counter()
    load_before = os.getloadavg()
    print(f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average at start {' / '.join(f'{v:.1f}' for v in load_before)}\n")
    folders = {"sample": HERE.parent / "data" / "sample"}
    sim_lines = ["| world | seed | members | groups | days | events | simulate s |", "|---|" + "---:|" * 6]
    for name, kw in WORLDS.items():
        t0 = time.perf_counter()
        s = simulate(SimulationConfig(days=180, **kw), work / name)
        sim_lines.append(f"| {name} | {kw['seed']} | {kw['n_members']:,} | {kw['n_groups']} | 180 | "
                         f"{s.n_events:,} | {time.perf_counter() - t0:.1f} |")
        folders[name] = work / name
    n_sample = len(pd.read_parquet(folders["sample"] / "events.parquet", columns=["ts"]))
    sim_lines.insert(2, f"| sample (committed) | 7 | 3,000 | 30 | 180 | {n_sample:,} | - |")
    print("## Worlds\n\n" + "\n".join(sim_lines) + "\n")
    dev_truth = pd.read_parquet(folders["development"] / "truth_members.parquet")
    top = dev_truth["role"].value_counts().idxmax()
    print(f"Majority baseline: `{top}`, the most common true role of the development world.\n")
    print(f"Cutoffs: {', '.join(CUTOFFS)}; window 28 days.\n")

    for name in ("sample", "large", "development"):
        table, frames, seconds = evaluate_world(folders[name], dev_truth)
        truth = pd.read_parquet(folders[name] / "truth_members.parquet")
        pooled = pooled_eval(frames, truth)
        title = {"sample": "Committed sample (reported)", "large": "Large world (reported)",
                 "development": "Development world (where thresholds were compared; not a result)"}[name]
        print(f"## {title}\n")
        print(world_table(name, table, pooled) + "\n")
        print(f"assign_roles: {seconds:.1f} s for the four cutoffs.\n")
        if name != "development":
            print(f"Confusion matrix of `assign_roles`, all four cutoffs (member-cutoff rows):\n\n"
                  f"{confusion_table(pooled['roles'])}\n")

    print("## Window length (development world, macro-F1 over the four cutoffs pooled)\n")
    lines = ["| window days | roles F1 | roles acc | rule F1 |", "|---:|---:|---:|---:|"]
    truth = dev_truth
    for w in (14.0, 28.0, 56.0, 90.0):
        _, frames, _ = evaluate_world(folders["development"], dev_truth, window_days=w)
        p = pooled_eval({k: frames[k] for k in ("roles", "rule")}, truth)
        lines.append(f"| {w:g} | {fmt(p['roles'].macro_f1)} | {fmt(p['roles'].accuracy)} | "
                     f"{fmt(p['rule'].macro_f1)} |")
    print("\n".join(lines) + "\n")

    if se.exists():
        text, seconds = se_study(se, dev_truth)
        print(f"## Stack Exchange proxy ({se.name}, one `qa` group; cutoffs {', '.join(SE_CUTOFFS)})\n")
        print(text + f"\n\nRead and assigned in {seconds:.1f} s.\n")
    else:
        print(f"(Stack Exchange folder {se} not found: proxy skipped.)\n")
    print(f"Total {time.perf_counter() - started:.0f} s; load average at end "
          f"{' / '.join(f'{v:.1f}' for v in os.getloadavg())}.")


if __name__ == "__main__":
    main()
