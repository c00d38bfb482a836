"""Shared fixtures: small event tables written the ways users write them."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"


@pytest.fixture
def seed() -> int:
    """Fixed by default; sweep with SHEQUN_TEST_SEED=N."""
    return int(os.environ.get("SHEQUN_TEST_SEED", "0"))


@pytest.fixture
def events_frame() -> pd.DataFrame:
    """A small valid events table in the contract, with every optional column."""
    return pd.DataFrame(
        {
            "ts": [
                "2024-01-01T00:00:00Z",
                "2024-01-02T08:00:00+08:00",
                "2024-01-03T00:00:00Z",
                "2024-01-03T01:00:00Z",
                "2024-01-04T00:00:00Z",
                "2024-01-05T12:30:00Z",
            ],
            "group_id": ["g1", "g1", "g1", "g2", "g1", "g2"],
            "member_id": ["u1", "u1", "u2", "u2", "u3", "u3"],
            "event_type": ["join", "message", "reply", "red_packet_claim", "invite", "purchase"],
            "event_id": ["e1", "e2", "e3", "e4", "e5", "e6"],
            "target_member_id": [None, None, "u1", None, "u9", None],
            "ref_event_id": [None, None, "e2", None, None, None],
            "amount": [np.nan, np.nan, np.nan, 1.25, np.nan, 99.0],
            "text_len": [np.nan, 12, 4, np.nan, np.nan, np.nan],
        }
    )


@pytest.fixture
def write_csv(tmp_path: Path):
    """Write a frame (or raw text) to a CSV file in tmp_path and return its path."""

    def _write(data: pd.DataFrame | str, name: str = "events.csv") -> Path:
        path = tmp_path / name
        if isinstance(data, str):
            path.write_text(data, encoding="utf-8")
        else:
            data.to_csv(path, index=False)
        return path

    return _write


@pytest.fixture(scope="session")
def logged_quickstart(tmp_path_factory):
    """The quickstart on a small simulated world, logged into a temporary SQLite MLflow store.

    Returns ``(result, info, uri, root)``: the :class:`~shequn_ml.experiment.ExperimentResult`,
    the per-task logging info, the tracking URI and the temporary folder (artifacts under
    ``root/mlruns``). Session-scoped, so the tracking and browser tests share one run.
    """
    import warnings

    import mlflow
    import yaml

    from shequn_ml.experiment import load_experiment, run_experiment
    from shequn_ml.simulate import SimulationConfig, simulate
    from shequn_ml.tracking import log_experiment

    root = tmp_path_factory.mktemp("mlflow-quickstart")
    data = root / "data"
    simulate(SimulationConfig(n_members=1200, n_groups=10, days=150, seed=5), data)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    spec_path = root / "experiment.yaml"
    spec_path.write_text(yaml.safe_dump({
        "name": "quickstart-test",
        "data": {"events": str(data / "events.parquet"), "members": str(data / "members.parquet"),
                 "groups": str(data / "groups.parquet"), "truth": str(data)},
        "features": str(REPO / "features" / "default.yaml"),
        "models": {"silence": str(REPO / "models" / "silence.yaml"),
                   "churn": str(REPO / "models" / "churn.yaml"),
                   "kol": str(REPO / "models" / "kol.yaml")},
        "mlflow": {"experiment": "quickstart-test", "tracking_uri": uri},
    }))
    cwd = Path.cwd()
    with warnings.catch_warnings():
        for category in (DeprecationWarning, FutureWarning):
            warnings.simplefilter("ignore", category)
        warnings.filterwarnings("ignore", category=UserWarning, module="mlflow")
        result = run_experiment(load_experiment(spec_path))
        try:
            os.chdir(root)  # the default artifact root (./mlruns) goes under the temporary folder
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                info = log_experiment(result, salt="test-salt", shap_rows=500)
        finally:
            os.chdir(cwd)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return result, info, uri, root
