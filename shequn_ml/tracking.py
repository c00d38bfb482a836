"""MLflow tracking: the only module that imports mlflow.

:func:`log_experiment` leaves in MLflow everything a reviewer needs for each task
of an :class:`~shequn_ml.experiment.ExperimentResult`, in one run per task nested
under a run for the experiment:

* parameters, and the exact spec files (``specs/``);
* test-fold metrics of the LightGBM model and of every baseline
  (``<model>.<metric>``), the oracle's on simulator data, and the LightGBM
  model's validation metrics (``validation.<metric>``);
* the data's lineage: ``mlflow.log_input`` with a digest of the events file;
* the model as a pyfunc that takes raw features and returns ``score`` and three
  reasons, with a signature and an input example, registered under the model
  spec's name; the alias ``champion`` moves to the new version only when its
  validation ROC-AUC beats the current champion's;
* plots (PNG): SHAP beeswarm and bar, calibration, cumulative gains; the
  per-feature mean |SHAP| table and the importance per family;
* the test-fold scores with member ids pseudonymised (salted SHA-256).

The tracking URI is the experiment spec's, else ``$MLFLOW_TRACKING_URI``, else
``sqlite:///mlflow.db`` in the working directory. Open the UI with
``mlflow ui --backend-store-uri sqlite:///mlflow.db``.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import secrets
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.models import infer_signature

from shequn_ml import plots
from shequn_ml.evaluation import TaskEvaluation
from shequn_ml.experiment import ExperimentResult
from shequn_ml.explain import family_importance, feature_importance, reason_codes, shap_values

CHAMPION = "champion"
SELECTION_METRIC = "roc_auc"
PIP_REQUIREMENTS = ["shequn_ml", "lightgbm>=4.7", "pandas", "numpy", "scikit-learn"]


def resolve_tracking_uri(uri: str | None = None) -> str:
    """The spec's URI, else ``$MLFLOW_TRACKING_URI``, else a SQLite file in the CWD."""
    if uri:
        return uri
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    return f"sqlite:///{Path.cwd() / 'mlflow.db'}"


def pseudonymise(ids: pd.Series, salt: str) -> pd.Series:
    """Salted SHA-256 of each id, 16 hex characters: stable within a salt, not reversible.

    >>> pseudonymise(pd.Series(["alice"]), "pepper").str.len().tolist()
    [16]
    """
    return ids.astype(str).map(
        lambda v: hashlib.sha256(f"{salt}:{v}".encode()).hexdigest()[:16])


def file_digest(path: str | os.PathLike[str] | None) -> str:
    """SHA-256 of a file (or of a folder's files, in name order), first 16 characters."""
    if path is None:
        return "none"
    p = Path(path)
    h = hashlib.sha256()
    files = sorted(p.rglob("*")) if p.is_dir() else [p]
    for f in files:
        if f.is_file():
            with open(f, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
    return h.hexdigest()[:16]


class RiskModelPyfunc(mlflow.pyfunc.PythonModel):
    """Raw features in; ``score`` (calibrated risk) and ``reason_1..3`` out.

    The estimator is pickled beside the model (``artifacts["estimator"]``); reasons
    are exact TreeSHAP contributions rendered with the features' templates.
    """

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        with open(context.artifacts["estimator"], "rb") as fh:
            self.estimator = pickle.load(fh)

    def predict(self, context: object, model_input: pd.DataFrame,
                params: dict | None = None) -> pd.DataFrame:
        X = model_input[list(self.estimator.feature_names_in_)].astype(float)
        out = pd.DataFrame({"score": self.estimator.predict_proba(X)[:, 1]}, index=X.index)
        reasons = reason_codes(shap_values(self.estimator, X), X, k=3, lang="both")
        return pd.concat([out, reasons], axis=1).reset_index(drop=True)


@dataclass
class LoggedTask:
    task: str
    run_id: str
    model_name: str
    model_version: str
    champion_version: str
    became_champion: bool


def log_experiment(result: ExperimentResult, *, tracking_uri: str | None = None,
                   salt: str | None = None, shap_rows: int = 2000) -> dict[str, LoggedTask]:
    """Log every task of ``result`` to MLflow and register its model.

    Parameters
    ----------
    result : ExperimentResult
    tracking_uri : str, optional
        Overrides the spec's (see :func:`resolve_tracking_uri`).
    salt : str, optional
        Salt for pseudonymising member ids; a fresh random salt (not logged) when
        omitted, so logged ids cannot be joined back to people.
    shap_rows : int, default 2000
        Test rows explained for the SHAP plots and tables.
    """
    spec = result.spec
    mlflow.set_tracking_uri(resolve_tracking_uri(tracking_uri or spec.mlflow.tracking_uri))
    mlflow.set_registry_uri(mlflow.get_tracking_uri())
    mlflow.set_experiment(spec.mlflow.experiment)
    salt = salt or secrets.token_hex(16)
    digest = file_digest(spec.data.events)
    out: dict[str, LoggedTask] = {}
    with mlflow.start_run(run_name=spec.name) as parent:
        mlflow.set_tags({"shequn.experiment": spec.name, "shequn.events_digest": digest})
        for path in spec.spec_files().values():
            mlflow.log_artifact(str(path), artifact_path="specs")
        for task, evaluation in result.tasks.items():
            with mlflow.start_run(run_name=f"{spec.name}/{task}", nested=True):
                out[task] = _log_task(result, task, evaluation, digest, salt, shap_rows)
        mlflow.log_params({"tasks": ",".join(result.tasks), "parent_of": parent.info.run_id})
    return out


def _log_task(result: ExperimentResult, task: str, r: TaskEvaluation, digest: str, salt: str,
              shap_rows: int) -> LoggedTask:
    spec = result.spec
    model_spec = result.model_specs[task]
    model = r.models["lightgbm"]
    params = {
        "task": task, "horizon_days": r.split.horizon_days, "population": model_spec.label.population,
        "train_cutoffs": len(r.split.train), "validation_cutoffs": len(r.split.validation),
        "test_cutoffs": len(r.split.test), "first_cutoff": f"{r.split.train[0]:%Y-%m-%d}",
        "last_cutoff": f"{r.split.test[-1]:%Y-%m-%d}", "n_features": len(r.feature_names),
        "feature_windows": ",".join(map(str, result.feature_spec.windows)),
        "best_iteration": model.best_iteration_, "seed": spec.seed,
    }
    params.update({f"lgbm.{k}": v for k, v in model.get_params().items()})
    mlflow.log_params(params)
    for name in ("features", f"model_{task}"):
        mlflow.log_artifact(str(spec.spec_files()[name]), artifact_path="specs")
    metrics = {}
    for model_name, row in r.table.iterrows():
        for metric, value in row.items():
            if isinstance(value, float) and np.isfinite(value):
                metrics[f"{model_name}.{metric}"] = value
    metrics.update({f"validation.{k}": v for k, v in r.validation_metrics.items() if np.isfinite(v)})
    metrics.update({f"rows.{k}": float(v) for k, v in r.rows.items()})
    metrics.update({f"label_rate.{k}": v for k, v in r.label_rate.items()})
    mlflow.log_metrics(metrics)

    test = r.test_frame
    X = test[r.feature_names]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "source can be interpreted in multiple ways"
        dataset = mlflow.data.from_pandas(X.head(1000), source=str(Path(spec.data.events).resolve()),
                                          name=f"{spec.name}-{task}-features", digest=digest)
    mlflow.log_input(dataset, context="training")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rows = X.sample(min(shap_rows, len(X)), random_state=0) if len(X) > shap_rows else X
        explanation = shap_values(model, rows)
        plots.save_png(plots.shap_beeswarm_plot(explanation, rows, title=f"{task}: SHAP values"),
                       tmp / "shap_beeswarm.png")
        plots.save_png(plots.shap_bar_plot(explanation, title=f"{task}: mean |SHAP|"),
                       tmp / "shap_bar.png")
        y = test[task].to_numpy()
        scores = {k: v for k, v in r.test_scores.items()}
        plots.save_png(plots.calibration_plot(y, scores, title=f"{task}: calibration (test)"),
                       tmp / "calibration.png")
        plots.save_png(plots.cumulative_gains_plot(y, scores, title=f"{task}: cumulative gains (test)"),
                       tmp / "cumulative_gains.png")
        feature_importance(explanation).to_csv(tmp / "shap_mean_abs.csv", index=False)
        family_importance(explanation).rename("mean_abs_shap").to_csv(tmp / "shap_family.csv")
        full = shap_values(model, X)
        scored = pd.DataFrame({
            "group_id": pseudonymise(test["group_id"], salt),
            "member_id": pseudonymise(test["member_id"], salt),
            "cutoff": test["cutoff"].astype(str), "label": test[task],
            "score": r.test_scores["lightgbm"],
        })
        scored = pd.concat([scored, reason_codes(full, X, k=3, lang="both")], axis=1)
        scored.to_csv(tmp / "test_scores.csv", index=False)
        r.table.to_csv(tmp / "comparison.csv")
        for f in ("shap_beeswarm.png", "shap_bar.png", "calibration.png", "cumulative_gains.png"):
            mlflow.log_artifact(str(tmp / f), artifact_path="plots")
        for f in ("shap_mean_abs.csv", "shap_family.csv", "test_scores.csv", "comparison.csv"):
            mlflow.log_artifact(str(tmp / f), artifact_path="tables")

        estimator_path = tmp / "estimator.pkl"
        with open(estimator_path, "wb") as fh:
            pickle.dump(model, fh)
        example = X.head(5).astype(float)
        wrapper = RiskModelPyfunc()
        wrapper.estimator = model
        signature = infer_signature(example, wrapper.predict(None, example))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # mlflow's own deprecation chatter
            info = mlflow.pyfunc.log_model(
                name="model", python_model=RiskModelPyfunc(),
                artifacts={"estimator": str(estimator_path)}, signature=signature,
                input_example=example, pip_requirements=PIP_REQUIREMENTS,
                registered_model_name=model_spec.name)
    version = str(info.registered_model_version)
    champion, became = _maybe_promote(model_spec.name, version, r.validation_metrics[SELECTION_METRIC])
    mlflow.set_tags({"shequn.task": task, "shequn.model_version": version,
                     "shequn.experiment": spec.name, "shequn.events_digest": digest,
                     "shequn.champion_version": champion,
                     "shequn.became_champion": str(became).lower()})
    return LoggedTask(task, mlflow.active_run().info.run_id, model_spec.name, version, champion,
                      became)


def _maybe_promote(name: str, version: str, score: float) -> tuple[str, bool]:
    """Move ``champion`` to ``version`` if its validation metric beats the champion's."""
    client = MlflowClient()
    client.set_model_version_tag(name, version, f"validation.{SELECTION_METRIC}", f"{score:.10f}")
    try:
        current = client.get_model_version_by_alias(name, CHAMPION)
    except mlflow.exceptions.MlflowException:
        current = None
    if current is not None:
        best = float(current.tags.get(f"validation.{SELECTION_METRIC}", "-inf"))
        if not score > best:
            return str(current.version), False
    client.set_registered_model_alias(name, CHAMPION, version)
    return version, True


def load_champion(name: str, *, tracking_uri: str | None = None,
                  alias: str = CHAMPION) -> mlflow.pyfunc.PyFuncModel:
    """Load ``models:/<name>@<alias>`` as a pyfunc."""
    mlflow.set_tracking_uri(resolve_tracking_uri(tracking_uri))
    mlflow.set_registry_uri(mlflow.get_tracking_uri())
    return mlflow.pyfunc.load_model(f"models:/{name}@{alias}")
