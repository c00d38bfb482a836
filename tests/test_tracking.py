"""The quickstart into a temporary SQLite MLflow store, checked through MlflowClient."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning",
                                        "ignore::UserWarning:mlflow")


@pytest.fixture(scope="module")
def logged(logged_quickstart):
    """The quickstart logged into a temporary SQLite store (``logged_quickstart`` in conftest.py)."""
    return logged_quickstart


def test_runs_params_and_metrics(logged):
    from mlflow import MlflowClient

    result, info, uri, _ = logged
    client = MlflowClient(uri, registry_uri=uri)
    exp = client.get_experiment_by_name("quickstart-test")
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 4  # the experiment's run and one per task
    assert set(info) == {"silence", "churn", "kol"}
    for task in ("silence", "churn"):
        logged_task = info[task]
        run = client.get_run(logged_task.run_id)
        assert run.data.params["task"] == task
        assert run.data.params["horizon_days"] == "14.0"
        metrics = run.data.metrics
        for model in ("lightgbm", "recency_rule", "rfm_logistic", "bgnbd_p_alive", "oracle"):
            assert 0 <= metrics[f"{model}.roc_auc"] <= 1, model
        assert metrics["lightgbm.roc_auc"] == pytest.approx(
            result.tasks[task].table.loc["lightgbm", "roc_auc"])
        assert "validation.roc_auc" in metrics and "lightgbm.auc_vs_oracle" in metrics
        digest = run.inputs.dataset_inputs[0].dataset.digest
        assert len(digest) == 16 and run.data.tags["shequn.events_digest"] == digest
        # the leaf search (models/churn.yaml lists candidates) is logged with its choice
        model = result.tasks[task].models["lightgbm"]
        assert run.data.params["num_leaves_chosen"] == str(model.num_leaves_)
        for leaves, found in model.num_leaves_search_.items():
            assert metrics[f"num_leaves_search.{leaves}.validation_roc_auc"] == pytest.approx(
                found["validation_roc_auc"])
        if task == "churn":
            assert sorted(model.num_leaves_search_) == [7, 15]
            aucs = {k: v["validation_roc_auc"] for k, v in model.num_leaves_search_.items()}
            assert model.num_leaves_ == max(aucs, key=aucs.get)


def test_kol_run_metrics_candidates_and_model(logged):
    from mlflow import MlflowClient

    from shequn_ml.tracking import load_champion

    result, info, uri, root = logged
    client = MlflowClient(uri, registry_uri=uri)
    run = client.get_run(info["kol"].run_id)
    assert run.data.params["task"] == "kol" and run.data.params["horizon_days"] == "28.0"
    metrics = run.data.metrics
    for model in ("lightgbm_ranker", "message_count", "pagerank", "oracle"):
        assert 0 <= metrics[f"{model}.ndcg_at_10"] <= 1, model
    assert metrics["lightgbm_ranker.ndcg_at_10"] == pytest.approx(
        result.kol.table.loc["lightgbm_ranker", "ndcg@10"])
    assert metrics["validation.ndcg_at_10"] == pytest.approx(result.kol.model.best_score_["ndcg@10"])
    names = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert names == {"plots/shap_beeswarm.png", "plots/shap_bar.png"}
    tables = Path(client.download_artifacts(run.info.run_id, "tables", str(root / "dl-kol")))
    cand = pd.read_csv(tables / "test_candidates.csv")
    assert cand["member_id"].astype(str).str.fullmatch(r"[0-9a-f]{16}").all()
    assert len(cand) == len(result.kol.candidates)
    model = load_champion(info["kol"].model_name, tracking_uri=uri)
    X = result.kol.test_frame[list(result.kol.model.feature_names_in_)].head(50)
    out = model.predict(X)
    np.testing.assert_allclose(out["score"].to_numpy(), result.kol.model.predict(X), atol=1e-12)
    assert out["reason_1_en"].str.len().gt(0).any()
    parts = [f"reason_{k}_{p}" for k in (1, 2, 3) for p in ("feature", "en", "zh")]
    assert list(out.columns) == ["score", *parts]
    # the KOL-only columns have reason templates, not "name = value"
    for lang in ("en", "zh"):
        cells = out[[f"reason_{k}_{lang}" for k in (1, 2, 3)]].stack()
        assert not cells.str.contains(r"^\w+ = ", regex=True).any()
    assert out.loc[out["reason_1_zh"] != "", "reason_1_zh"].str.contains(r"[\u4e00-\u9fff]").all()


def test_artifacts_plots_open_as_images_and_ids_are_pseudonymised(logged):
    import matplotlib.image as mpimg
    from mlflow import MlflowClient

    result, info, uri, root = logged
    client = MlflowClient(uri, registry_uri=uri)
    run_id = info["silence"].run_id
    names = {a.path for a in client.list_artifacts(run_id, "plots")}
    assert names == {"plots/shap_beeswarm.png", "plots/shap_bar.png", "plots/calibration.png",
                     "plots/cumulative_gains.png"}
    local = Path(client.download_artifacts(run_id, "plots", str(root / "dl")))
    for png in local.glob("*.png"):
        img = mpimg.imread(png)
        assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 200, png
    specs = {a.path for a in client.list_artifacts(run_id, "specs")}
    assert {"specs/default.yaml", "specs/silence.yaml"} <= specs
    tables = Path(client.download_artifacts(run_id, "tables", str(root / "dl2")))
    scores = pd.read_csv(tables / "test_scores.csv")
    raw_ids = set(result.tasks["silence"].test_frame["member_id"].astype(str))
    assert not set(scores["member_id"].astype(str)) & raw_ids
    assert scores["member_id"].astype(str).str.fullmatch(r"[0-9a-f]{16}").all()
    assert {"reason_1_en", "reason_1_zh", "reason_3_en", "reason_3_zh", "score", "label"} <= \
        set(scores.columns)
    assert "reason_1" not in scores.columns
    shap_table = pd.read_csv(tables / "shap_mean_abs.csv")
    assert set(shap_table["family"]) <= {"engagement", "benefit", "relationship", "group_context"}


def test_registered_champion_predicts_like_the_in_memory_model(logged):
    from shequn_ml.tracking import load_champion

    result, info, uri, _ = logged
    for task in ("silence", "churn"):
        logged_task = info[task]
        assert logged_task.model_version == "1" and logged_task.became_champion
        model = load_champion(logged_task.model_name, tracking_uri=uri)
        r = result.tasks[task]
        X = r.test_frame[r.feature_names].head(50)
        out = model.predict(X)
        expected = r.models["lightgbm"].predict_proba(X)[:, 1]
        np.testing.assert_allclose(out["score"].to_numpy(), expected, atol=1e-12)
        assert out["reason_1_en"].str.len().gt(0).any() and out["reason_1_zh"].str.len().gt(0).any()
        # the pyfunc's reasons are the batch job's: member-level features only
        from shequn_ml.features._registry import catalogue

        feats = set(out[["reason_1_feature", "reason_2_feature", "reason_3_feature"]].stack()) - {""}
        assert feats and all(catalogue()[f].family != "group_context" for f in feats)


def test_champion_moves_only_to_a_better_version_of_the_same_community(logged):
    from mlflow import MlflowClient

    from shequn_ml.tracking import CHAMPION, _maybe_promote

    _, info, uri, _ = logged
    client = MlflowClient(uri, registry_uri=uri)
    name = info["churn"].model_name
    v1 = client.get_model_version(name, "1")
    current = float(v1.tags["validation.roc_auc"])
    same = {"experiment": v1.tags["shequn.experiment"], "digest": v1.tags["shequn.events_digest"],
            "feature_spec": v1.tags["shequn.feature_spec_digest"]}
    v2 = client.create_model_version(name, source=v1.source, run_id=v1.run_id)
    assert _maybe_promote(name, str(v2.version), "roc_auc", current - 0.01, **same) == ("1", False)
    assert str(client.get_model_version_by_alias(name, CHAMPION).version) == "1"
    assert _maybe_promote(name, str(v2.version), "roc_auc", current, **same) == ("1", False)  # a tie stays
    # an identical retrain's unrounded score is a tie too (the tag holds 10 decimals)
    assert _maybe_promote(name, str(v2.version), "roc_auc", current + 4e-11, **same) == ("1", False)
    # evidence from another community or other features never moves the alias
    other = {**same, "experiment": "another-community"}
    assert _maybe_promote(name, str(v2.version), "roc_auc", current + 0.1, **other) == ("1", False)
    respec = {**same, "feature_spec": "0" * 16}
    assert _maybe_promote(name, str(v2.version), "roc_auc", current + 0.1, **respec) == ("1", False)
    # a champion trained on other events of the same experiment is compared on the candidate's rows
    grown = {**same, "digest": "another-events-digest"}
    assert _maybe_promote(name, str(v2.version), "roc_auc", current + 0.1, **grown) == ("1", False)
    asked = []

    def champion_here(version: str) -> float:
        asked.append(version)
        return current + 0.05  # the champion does better on the candidate's validation rows

    assert _maybe_promote(name, str(v2.version), "roc_auc", current + 0.01, **grown,
                          rescore=champion_here) == ("1", False)
    assert asked == ["1"]
    assert _maybe_promote(name, str(v2.version), "roc_auc", current + 0.01, **same) == (str(v2.version), True)
    assert str(client.get_model_version_by_alias(name, CHAMPION).version) == str(v2.version)


def test_a_registered_version_rescored_on_its_own_validation_rows_gives_its_score(logged):
    from shequn_ml.tracking import rescore_version

    result, info, _, _ = logged
    evaluation = result.tasks["silence"]
    got = rescore_version(info["silence"].model_name, info["silence"].model_version, evaluation)
    assert abs(got - evaluation.validation_metrics["roc_auc"]) < 1e-12


def test_only_tracking_imports_mlflow_and_the_core_runs_without_it():
    import re
    import subprocess
    import sys

    importers = sorted(
        str(p.relative_to(REPO)) for p in (REPO / "shequn_ml").rglob("*.py")
        if re.search(r"^\s*(import mlflow|from mlflow)", p.read_text(encoding="utf-8"), re.M))
    assert importers == ["shequn_ml/tracking.py"]
    code = ("import sys; sys.modules['mlflow'] = None\n"
            "import shequn_ml.evaluation, shequn_ml.experiment, shequn_ml.explain, shequn_ml.plots\n"
            "import shequn_ml.scoring, shequn_ml.batch, shequn_ml.spark\n"
            "import shequn_ml.cli; print('ok')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_models_are_registered_per_community_and_score_finds_them(logged):
    from mlflow import MlflowClient

    from shequn_ml.scoring import ModelUnavailableError
    from shequn_ml.tracking import resolve_model_names

    _, info, uri, _ = logged
    assert {t: i.model_name for t, i in info.items()} == {
        "silence": "shequn-silence-quickstart-test", "churn": "shequn-churn-quickstart-test",
        "kol": "shequn-kol-quickstart-test"}
    assert resolve_model_names(tracking_uri=uri) == {t: i.model_name for t, i in info.items()}
    with pytest.raises(ModelUnavailableError,
                       match=r"no silence/churn/kol model registered for community 'elsewhere' "
                             r".*communities with models: 'quickstart-test'"):
        resolve_model_names("elsewhere", tracking_uri=uri)
    # a second community in the same store: scoring must be told which
    client = MlflowClient(uri, registry_uri=uri)
    client.create_registered_model("shequn-silence-other", tags={"shequn.task": "silence",
                                                                 "shequn.community": "other"})
    try:
        with pytest.raises(ModelUnavailableError, match=r"holds models of the communities 'other', "
                                                        r"'quickstart-test': choose one \(--community\)"):
            resolve_model_names(tracking_uri=uri)
        assert resolve_model_names("quickstart-test", tracking_uri=uri)["kol"] == "shequn-kol-quickstart-test"
    finally:
        client.delete_registered_model("shequn-silence-other")
