"""The evaluation runner on a small simulated world: every model, one split, the oracle."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import pandas as pd
import pytest

from shequn_ml.cli import main
from shequn_ml.evaluation import evaluate_risk, report_markdown
from shequn_ml.features import rolling_cutoffs
from shequn_ml.io import read_events, read_groups, read_members
from shequn_ml.simulate import SimulationConfig, simulate


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("world")
    simulate(SimulationConfig(n_members=1500, n_groups=12, days=150, seed=3), out)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ev = read_events(out / "events.parquet")
    return out, ev, read_members(out / "members.parquet"), read_groups(out / "groups.parquet")


@pytest.fixture(scope="module")
def results(world):
    out, ev, members, groups = world
    cuts = rolling_cutoffs("2024-02-12", "2024-05-13", 7)
    return evaluate_risk(ev, cuts, 14, members=members, groups=groups, truth_dir=out)


def test_every_model_is_scored_on_the_same_test_rows(results):
    for task in ("silence", "churn"):
        r = results[task]
        assert list(r.table.index) == ["lightgbm", "recency_rule", "rfm_logistic", "bgnbd_p_alive",
                                       "bgnbd_p_no_speak", "oracle"]
        assert (r.table.drop(index="oracle")["n"] == r.rows["test"]).all()
        assert r.oracle_coverage == 1.0
        assert r.table.loc["oracle", "auc_vs_oracle"] == 1.0
        assert max(r.split.train) + pd.Timedelta(days=14) <= min(r.split.validation)
        assert max(r.split.validation) + pd.Timedelta(days=14) <= min(r.split.test)
        for name, row in r.table.iterrows():
            assert 0.0 <= row["roc_auc"] <= 1.0, name
            assert not math.isnan(row["brier"]), name


def test_the_model_learns_something_real(results):
    silence = results["silence"].table
    assert silence.loc["lightgbm", "roc_auc"] > 0.7
    assert silence.loc["lightgbm", "roc_auc"] > silence.loc["recency_rule", "roc_auc"]
    # nobody beats the oracle by more than noise
    assert silence.loc["lightgbm", "auc_vs_oracle"] < 1.03


def test_report_markdown_states_split_rows_and_rates(results):
    text = report_markdown(results, "small world")
    assert text.startswith("### small world")
    assert "**silence** — train" in text and "horizon 14 days" in text
    assert "| lightgbm |" in text and "| oracle |" in text
    assert "rows (label rate): train" in text


def test_evaluate_command(world, tmp_path, capsys):
    out, *_ = world
    report = tmp_path / "report.md"
    spec = Path(__file__).resolve().parents[1] / "models" / "silence.yaml"
    code = main(["evaluate", "--data", str(out), "--silence-spec", str(spec), "--from", "2024-02-12",
                 "--to", "2024-05-13", "--task", "silence", "--out", str(report), "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "| lightgbm |" in printed and "| oracle |" in printed
    assert report.read_text(encoding="utf-8").startswith("### ")
    assert "**churn**" not in printed
