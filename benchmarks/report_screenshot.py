"""Make the report of the committed sample and save a screenshot of it (docs/img/report.png).

    python benchmarks/report_screenshot.py                       # trains the quickstart first (~5 min)
    python benchmarks/report_screenshot.py --tracking-uri sqlite:///mlflow.db   # champions already there
    python benchmarks/report_screenshot.py --scores scores.parquet [--roles roles.parquet] ...

Without ``--scores`` the sample is scored at 2024-06-20 with the champions of the
store (``--tracking-uri``), or, without one, with the quickstart trained on a small
simulated world into a temporary store, as the tests do (tests/conftest.py). The
roles come from ``shequn_ml.roles.assign_roles`` when that module is there, the contact
lists from the ``scores.contacts.parquet`` beside the scores when there is one. The page
is opened in headless Debian Chromium (``/usr/bin/chromium``, ``/usr/bin/chromedriver``)
and the top of it (1400 x 1600 pixels) is saved.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import warnings
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
CUTOFF = "2024-06-20"


def _train_quickstart(root: Path) -> str:
    """The quickstart on a small simulated world, logged to a SQLite store under ``root`` (its URI)."""
    import yaml

    from shequn_ml.experiment import load_experiment, run_experiment
    from shequn_ml.simulate import SimulationConfig, simulate
    from shequn_ml.tracking import log_experiment

    data = root / "data"
    simulate(SimulationConfig(n_members=1200, n_groups=10, days=150, seed=5), data)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    spec = root / "experiment.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "quickstart-screenshot",
        "data": {"events": str(data / "events.parquet"), "members": str(data / "members.parquet"),
                 "groups": str(data / "groups.parquet"), "truth": str(data)},
        "features": str(REPO / "features" / "default.yaml"),
        "models": {t: str(REPO / "models" / f"{t}.yaml") for t in ("silence", "churn", "kol")},
        "mlflow": {"experiment": "quickstart-screenshot", "tracking_uri": uri},
    }))
    cwd = Path.cwd()
    result = run_experiment(load_experiment(spec))
    try:
        os.chdir(root)
        log_experiment(result)
    finally:
        os.chdir(cwd)
    return uri


def _screenshot(page: Path, out: Path, width: int, height: int, profile: Path) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--window-size={width},{height}",
                 "--force-device-scale-factor=1", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path="/usr/bin/chromedriver"))
    try:
        driver.get(page.as_uri())
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp.png")
        if not driver.save_screenshot(str(tmp)):
            raise SystemExit(f"chromium could not save a screenshot of {page}")
        os.replace(tmp, out)
    finally:
        driver.quit()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scores", help="a scores table of the sample at 2024-06-20 (skips scoring)")
    ap.add_argument("--tracking-uri", help="MLflow store with the champions (default: train the quickstart)")
    ap.add_argument("--groups-table", help="group-health scores to show")
    ap.add_argument("--contacts", help="contact lists to show")
    ap.add_argument("--roles", help="member roles to show (default: shequn_ml.roles.assign_roles, "
                    "if present)")
    ap.add_argument("--html", help="also keep the page here")
    ap.add_argument("--out", default=str(REPO / "docs" / "img" / "report.png"), help="the screenshot")
    ap.add_argument("--width", type=int, default=1400)
    ap.add_argument("--height", type=int, default=1600)
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")

    from shequn_ml.cli import main as cli
    from shequn_ml.io import read_events, read_groups, read_members
    from shequn_ml.report import build_report, read_report_table, write_report

    with tempfile.TemporaryDirectory(prefix="shequn-report-") as tmp:
        root = Path(tmp)
        scores_path = args.scores
        if scores_path is None:
            uri = args.tracking_uri or _train_quickstart(root)
            scores_path = str(root / "scores.parquet")
            code = cli(["score", *(f"--{n}={SAMPLE / n}.parquet" for n in ("events", "members", "groups")),
                        "--cutoff", CUTOFF, "--out", scores_path, "--tracking-uri", uri, "--quiet",
                        "--no-log"])
            if code:
                return code
        events = read_events(SAMPLE / "events.parquet")
        members, groups = read_members(SAMPLE / "members.parquet"), read_groups(SAMPLE / "groups.parquet")
        scores = read_report_table(scores_path, "scores")
        side = {k: read_report_table(getattr(args, k), k) if getattr(args, k) else None
                for k in ("groups_table", "contacts", "roles")}
        beside = Path(scores_path).with_name(f"{Path(scores_path).stem}.contacts.parquet")
        if side["contacts"] is None and beside.exists():  # the contact list shequn-ml score writes
            side["contacts"] = read_report_table(beside, "contacts")
        if side["roles"] is None:
            try:
                from shequn_ml.roles import assign_roles
            except ImportError:
                print("shequn_ml.roles is not there: the page has no role pyramid", file=sys.stderr)
            else:
                kol = scores[["group_id", "member_id", "kol_rank_in_group"]].dropna()
                side["roles"] = assign_roles(events, pd.Timestamp(CUTOFF, tz="UTC"), members=members,
                                             groups=groups, kol=kol)
        html = build_report(events, members, groups, scores, **side, title="样例社群 运营报告")
        page = write_report(html, args.html or root / "report.html")
        _screenshot(page, Path(args.out), args.width, args.height, root / "chromium-profile")
    print(f"{page if args.html else 'report'} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
