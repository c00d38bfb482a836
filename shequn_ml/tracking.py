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
  reasons (``reason_<k>_en``, ``reason_<k>_zh`` and the feature behind each,
  ``reason_<k>_feature``), with a signature and an input example, registered under the model
  spec's name; the alias ``champion`` moves to the new version only when it was
  trained for the same experiment with the same feature spec as the current
  champion and its validation ROC-AUC is strictly higher (a tie keeps it);
* plots (PNG): SHAP beeswarm and bar, calibration, cumulative gains; the
  per-feature mean |SHAP| table and the importance per family;
* the test-fold scores with member ids pseudonymised (salted SHA-256).

The tracking URI is the experiment spec's, else ``$MLFLOW_TRACKING_URI``, else
``sqlite:///mlflow.db`` in the working directory. Open the UI with
``mlflow ui --backend-store-uri sqlite:///mlflow.db``.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import secrets
import warnings
from collections.abc import Callable
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
from shequn_ml.outputs import scratch_dir
from shequn_ml.scoring import ModelBundle, ModelUnavailableError

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


class ShequnModelPyfunc(mlflow.pyfunc.PythonModel):
    """Raw features in; ``score`` and ``reason_<k>_en`` / ``_zh`` / ``_feature`` (k = 1..3) out.

    For any of the three tasks; the reasons are the member's own features (the
    group-level family is left out, as in the batch job).

    The :class:`~shequn_ml.scoring.ModelBundle` (the fitted estimator, the feature
    spec and label settings it was trained with) is pickled beside the model
    (``artifacts["bundle"]``), so the batch job can rebuild the model's inputs
    from raw events. Scores are calibrated probabilities for silence and churn
    and within-group ranking scores for kol; reasons are exact TreeSHAP
    contributions rendered with the features' templates.
    """

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        with open(context.artifacts["bundle"], "rb") as fh:
            self.bundle = pickle.load(fh)

    def predict(self, context: object, model_input: pd.DataFrame,
                params: dict | None = None) -> pd.DataFrame:
        return self.bundle.predict(model_input).reset_index(drop=True)


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
    uri = _use_store(tracking_uri or spec.mlflow.tracking_uri)
    use_experiment(spec.mlflow.experiment, uri)
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
        if result.kol is not None:
            with mlflow.start_run(run_name=f"{spec.name}/kol", nested=True):
                out["kol"] = _log_kol(result, digest, salt, shap_rows)
        mlflow.log_params({"tasks": ",".join(out), "parent_of": parent.info.run_id})
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
        "calibration_method": getattr(model, "calibration_method_", None) or "none",
        "num_leaves_chosen": model.num_leaves_,
        "weights.recency_half_life_days": model_spec.weights.recency_half_life_days or "none",
        "weights.per_member": model_spec.weights.per_member,
    }
    params.update({f"lgbm.{k}": v for k, v in model.get_params().items()})
    mlflow.log_params(params)
    cv = getattr(model, "calibration_cv_log_loss_", None) or {}
    if cv:
        mlflow.log_metrics({f"calibration_cv_log_loss.{k}": float(v) for k, v in cv.items()})
    for leaves, found in (getattr(model, "num_leaves_search_", None) or {}).items():
        mlflow.log_metrics({f"num_leaves_search.{leaves}.validation_roc_auc":
                            found["validation_roc_auc"],
                            f"num_leaves_search.{leaves}.trees": float(found["trees"])})
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

    with scratch_dir() as tmp:
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

        name = registered_name(model_spec.name, spec.community)
        bundle = ModelBundle(task, model, result.feature_spec, model_spec.label, name)
        info = _log_model(bundle, X, tmp)
    version = str(info.registered_model_version)
    _tag_registered(name, task, spec.community)
    champion, became = _maybe_promote(name, version, SELECTION_METRIC,
                                      r.validation_metrics[SELECTION_METRIC], experiment=spec.name,
                                      digest=digest, feature_spec=_spec_digest(result.feature_spec),
                                      rescore=lambda v: rescore_version(name, v, r))
    mlflow.set_tags({"shequn.task": task, "shequn.model_version": version,
                     "shequn.experiment": spec.name, "shequn.events_digest": digest,
                     "shequn.champion_version": champion,
                     "shequn.became_champion": str(became).lower()})
    return LoggedTask(task, mlflow.active_run().info.run_id, name, version, champion,
                      became)


def _metric_name(name: str) -> str:
    """MLflow metric names allow no '@': ``ndcg@10`` -> ``ndcg_at_10``."""
    return name.replace("@", "_at_")


def _log_kol(result: ExperimentResult, digest: str, salt: str, shap_rows: int) -> LoggedTask:
    """The 头狼 / KOL ranker's run: parameters, metrics, plots, candidates, the model."""
    spec, r, kol_spec = result.spec, result.kol, result.kol_spec
    model = r.model
    lab = kol_spec.label
    params = {
        "task": "kol", "horizon_days": r.split.horizon_days, "label": lab.label,
        "invitee_weight": lab.invitee_weight, "organise_weight": lab.organise_weight,
        "grade_quantiles": ",".join(f"{q:g}" for q in lab.grade_quantiles),
        "train_cutoffs": len(r.split.train), "validation_cutoffs": len(r.split.validation),
        "test_cutoffs": len(r.split.test), "first_cutoff": f"{r.split.train[0]:%Y-%m-%d}",
        "last_cutoff": f"{r.split.test[-1]:%Y-%m-%d}", "n_features": len(model.feature_names_in_),
        "feature_windows": ",".join(map(str, result.feature_spec.windows)), "k": r.k,
        "best_iteration": model.best_iteration_, "seed": spec.seed,
    }
    params.update({f"lgbm.{k}": v for k, v in model.get_params().items()})
    mlflow.log_params(params)
    for name in ("features", "model_kol"):
        mlflow.log_artifact(str(spec.spec_files()[name]), artifact_path="specs")
    metrics = {}
    for model_name, row in r.table.iterrows():
        for metric, value in row.items():
            if isinstance(value, float) and np.isfinite(value):
                metrics[f"{model_name}.{_metric_name(metric)}"] = value
    validation = {_metric_name(k): float(v) for k, v in model.best_score_.items()}
    metrics.update({f"validation.{k}": v for k, v in validation.items() if np.isfinite(v)})
    metrics.update({f"rows.{k}": float(v) for k, v in r.rows.items()})
    metrics.update({f"queries.{k}": float(v) for k, v in r.queries.items()})
    metrics.update({f"relevance_rate.{k}": v for k, v in r.relevance_rate.items()})
    mlflow.log_metrics(metrics)

    test = r.test_frame
    X = test[list(model.feature_names_in_)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        dataset = mlflow.data.from_pandas(X.head(1000), source=str(Path(spec.data.events).resolve()),
                                          name=f"{spec.name}-kol-features", digest=digest)
    mlflow.log_input(dataset, context="training")
    with scratch_dir() as tmp:
        tmp = Path(tmp)
        rows = X.sample(min(shap_rows, len(X)), random_state=0) if len(X) > shap_rows else X
        explanation = shap_values(model, rows)
        plots.save_png(plots.shap_beeswarm_plot(explanation, rows, title="kol: SHAP values"),
                       tmp / "shap_beeswarm.png")
        plots.save_png(plots.shap_bar_plot(explanation, title="kol: mean |SHAP|"), tmp / "shap_bar.png")
        feature_importance(explanation).to_csv(tmp / "shap_mean_abs.csv", index=False)
        family_importance(explanation).rename("mean_abs_shap").to_csv(tmp / "shap_family.csv")
        candidates = r.candidates.copy()
        candidates["group_id"] = pseudonymise(candidates["group_id"], salt)
        candidates["member_id"] = pseudonymise(candidates["member_id"], salt)
        candidates["cutoff"] = candidates["cutoff"].astype(str)
        candidates.to_csv(tmp / "test_candidates.csv", index=False)
        r.table.to_csv(tmp / "comparison.csv")
        for f in ("shap_beeswarm.png", "shap_bar.png"):
            mlflow.log_artifact(str(tmp / f), artifact_path="plots")
        for f in ("shap_mean_abs.csv", "shap_family.csv", "test_candidates.csv", "comparison.csv"):
            mlflow.log_artifact(str(tmp / f), artifact_path="tables")
        name = registered_name(kol_spec.name, spec.community)
        bundle = ModelBundle("kol", model, result.feature_spec, lab, name)
        info = _log_model(bundle, X, tmp)
    version = str(info.registered_model_version)
    metric = _metric_name(f"ndcg@{model.eval_at}")
    _tag_registered(name, "kol", spec.community)
    champion, became = _maybe_promote(name, version, metric, validation[metric],
                                      experiment=spec.name, digest=digest,
                                      feature_spec=_spec_digest(result.feature_spec))
    mlflow.set_tags({"shequn.task": "kol", "shequn.model_version": version,
                     "shequn.experiment": spec.name, "shequn.events_digest": digest,
                     "shequn.champion_version": champion,
                     "shequn.became_champion": str(became).lower()})
    return LoggedTask("kol", mlflow.active_run().info.run_id, name, version, champion, became)


def _log_model(bundle: ModelBundle, X: pd.DataFrame, tmp: Path) -> object:
    """Log ``bundle`` as a pyfunc with signature and input example; register it."""
    bundle_path = tmp / "bundle.pkl"
    with open(bundle_path, "wb") as fh:
        pickle.dump(bundle, fh)
    example = X.head(5).astype(float)
    wrapper = ShequnModelPyfunc()
    wrapper.bundle = bundle
    signature = infer_signature(example, wrapper.predict(None, example))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mlflow's own deprecation chatter
        return mlflow.pyfunc.log_model(
            name="model", python_model=ShequnModelPyfunc(), artifacts={"bundle": str(bundle_path)},
            signature=signature, input_example=example, pip_requirements=PIP_REQUIREMENTS,
            registered_model_name=bundle.name)


def _maybe_promote(name: str, version: str, metric: str, score: float, *, experiment: str,
                   digest: str, feature_spec: str,
                   rescore: Callable[[str], float] | None = None) -> tuple[str, bool]:
    """Move ``champion`` to ``version`` only on evidence from the same community and features.

    The version is tagged with its experiment (the community it was trained for),
    its events digest, its feature spec's digest and its validation ``metric``
    (rounded to 10 decimals, and compared rounded, so an identical retrain ties).
    The alias moves when there is no champion yet, or when the champion comes from
    the same experiment and feature spec and the candidate's score is strictly
    higher: a tie keeps the champion (reruns stay byte-identical), and a model
    trained on another community or with other features never takes the alias.
    When the champion was trained on other events of the same community (a nightly
    retrain on a grown history), its stored score was measured on other rows:
    ``rescore(champion_version)`` then gives the champion's ``metric`` on the
    candidate's own validation rows, and the two are compared there. Without
    ``rescore`` such a champion is kept.
    Why the alias moved or stayed is logged as the run's ``shequn.promotion`` tag.
    """
    client = MlflowClient()
    tag = f"validation.{metric}"
    rounded = float(f"{score:.10f}")
    for key, value in ((tag, f"{score:.10f}"), ("shequn.experiment", experiment),
                       ("shequn.events_digest", digest), ("shequn.feature_spec_digest", feature_spec)):
        client.set_model_version_tag(name, version, key, value)
    try:
        current = client.get_model_version_by_alias(name, CHAMPION)
    except mlflow.exceptions.MlflowException:
        current = None
    reason = "no champion yet"
    if current is not None:
        theirs = current.tags.get("shequn.experiment"), current.tags.get("shequn.feature_spec_digest")
        best = float(current.tags.get(tag, "-inf"))
        if theirs != (experiment, feature_spec):
            reason = (f"kept version {current.version}: it was trained for experiment {theirs[0]!r} "
                      f"with feature spec {theirs[1]}, this run for {experiment!r} with {feature_spec}; "
                      "scores on different data are not compared (name the model per community)")
        elif current.tags.get("shequn.events_digest") != digest:
            if rescore is None:
                reason = (f"kept version {current.version}: it was trained on other events "
                          f"({current.tags.get('shequn.events_digest')}) and cannot be re-scored here")
            else:
                theirs_here = float(f"{rescore(str(current.version)):.10f}")
                reason = (f"validation {metric} {rounded:.10f} > {theirs_here:.10f} of version "
                          f"{current.version} re-scored on the same rows") if rounded > theirs_here else (
                          f"kept version {current.version}: re-scored on this run's validation rows its "
                          f"{metric} {theirs_here:.10f} >= {rounded:.10f}")
        elif not rounded > best:
            reason = f"kept version {current.version}: its validation {metric} {best:.10f} >= {rounded:.10f}"
        else:
            reason = f"validation {metric} {rounded:.10f} > {best:.10f} of version {current.version}"
        if not reason.startswith("validation"):
            _tag_run("shequn.promotion", reason)
            return str(current.version), False
    _tag_run("shequn.promotion", reason)
    client.set_registered_model_alias(name, CHAMPION, version)
    return version, True


def rescore_version(name: str, version: str, evaluation: TaskEvaluation) -> float:
    """ROC-AUC of a registered silence/churn version on ``evaluation``'s validation rows.

    How a champion trained on other events is compared with a candidate: on the
    candidate's validation fold, the same rows its own score was measured on.
    """
    from sklearn.metrics import roc_auc_score

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
    bundle = model.unwrap_python_model().bundle
    frame = evaluation.validation_frame
    p = bundle.estimator.predict_proba(frame[bundle.feature_names].astype(float))[:, 1]
    return float(roc_auc_score(frame[evaluation.task].to_numpy(), p))


def registered_name(model_name: str, community: str) -> str:
    """The registry name of a model spec's model for one community: ``<name>-<community>``."""
    return f"{model_name}-{community}"


def _tag_registered(name: str, task: str, community: str) -> None:
    client = MlflowClient()
    client.set_registered_model_tag(name, "shequn.task", task)
    client.set_registered_model_tag(name, "shequn.community", community)


def resolve_model_names(community: str | None = None, *, tracking_uri: str | None = None,
                        tasks: tuple[str, ...] = ("silence", "churn", "kol"),
                        require_all: bool = True) -> dict[str, str] | None:
    """The registered model per task for a community, found by the tags ``train`` sets.

    With ``community=None`` the store must hold one community's models (then they
    are used) or none (None is returned: the caller falls back to the plain model
    spec names of stores written before models were named per community).

    Raises
    ------
    ModelUnavailableError
        When several communities' models are registered and none was chosen, or the
        chosen community has no model for a task (with ``require_all=False``: for
        any task; then the tasks it has are returned); the message lists what there is.
    """
    uri = _use_store(tracking_uri)
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        return None  # load_bundle says the store does not exist
    try:
        models = MlflowClient(uri, registry_uri=uri).search_registered_models(max_results=1000)
    except Exception:  # noqa: BLE001 - an unreadable store is reported by check_store / load_bundle
        return None
    found: dict[str, dict[str, str]] = {}
    for m in models:
        c, t = m.tags.get("shequn.community"), m.tags.get("shequn.task")
        if c and t:
            found.setdefault(c, {})[t] = m.name
    if community is None:
        if not found:
            return None
        if len(found) > 1:
            raise ModelUnavailableError(f"the store {uri} holds models of the communities "
                                        f"{', '.join(map(repr, sorted(found)))}: choose one (--community)")
        community = next(iter(found))
    have = found.get(community, {})
    missing = [t for t in tasks if t not in have]
    if missing and (require_all or len(missing) == len(tasks)):
        known = ", ".join(map(repr, sorted(found))) or "none"
        raise ModelUnavailableError(f"no {'/'.join(missing)} model registered for community {community!r} in "
                                    f"{uri} (communities with models: {known}); train it first")
    return {t: have[t] for t in tasks if t in have}


def _tag_run(key: str, value: str) -> None:
    if mlflow.active_run() is not None:  # set_tag outside a run would start one
        mlflow.set_tag(key, value)


def _spec_digest(spec: object) -> str:
    """A short digest of a feature spec's settings (what the model's columns mean)."""
    dump = spec.model_dump(mode="json") if hasattr(spec, "model_dump") else repr(spec)
    return hashlib.sha256(json.dumps(dump, sort_keys=True, default=str).encode()).hexdigest()[:16]


def use_experiment(name: str, uri: str) -> None:
    """Set the active experiment, creating it with its artifacts beside a SQLite store.

    MLflow's default artifact root is ``./mlruns`` relative to the current folder,
    so runs logged from two folders into one ``sqlite:///.../mlflow.db`` would scatter
    their artifacts. A new experiment in a SQLite store gets ``mlruns/`` in the
    store's own folder instead.
    """
    if mlflow.get_experiment_by_name(name) is None and uri.startswith("sqlite:///"):
        root = Path(uri.removeprefix("sqlite:///")).resolve().parent / "mlruns"
        mlflow.create_experiment(name, artifact_location=root.as_uri())
    mlflow.set_experiment(name)


def _head(path: Path, n: int = 16) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(n)


def check_store(tracking_uri: str | None = None, *, create: bool = True) -> str:
    """Open the MLflow store and list one experiment, so a broken store fails before any work.

    Raises
    ------
    ModelUnavailableError
        One line naming the store and what went wrong (a corrupt file, a server that
        does not answer).

    With ``create=False`` a SQLite file that does not exist is left alone (not
    created): loading models from it then fails with its own message.
    """
    uri = _use_store(tracking_uri)
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        if not path.exists() and not create:
            return uri
        if path.is_file() and path.stat().st_size and _head(path) != b"SQLite format 3\x00":
            raise ModelUnavailableError(f"MLflow store {uri}: {path} is not an SQLite database "
                                        "(corrupt, or another file); move it away or give --tracking-uri")
    try:
        MlflowClient(uri, registry_uri=uri).search_experiments(max_results=1)
    except Exception as exc:  # the store's errors come in many types; all mean "cannot use it"
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise ModelUnavailableError(f"MLflow store {uri} cannot be used: {type(exc).__name__}: {first}") \
            from exc
    return uri


def _use_store(tracking_uri: str | None) -> str:
    uri = resolve_tracking_uri(tracking_uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def load_champion(name: str, *, tracking_uri: str | None = None,
                  alias: str = CHAMPION) -> mlflow.pyfunc.PyFuncModel:
    """Load ``models:/<name>@<alias>`` as a pyfunc."""
    _use_store(tracking_uri)
    return mlflow.pyfunc.load_model(f"models:/{name}@{alias}")


def load_bundle(name: str, *, tracking_uri: str | None = None, alias: str = CHAMPION) -> ModelBundle:
    """The :class:`~shequn_ml.scoring.ModelBundle` behind ``models:/<name>@<alias>``.

    Its ``name`` and ``version`` are the registry's.

    Raises
    ------
    ModelUnavailableError
        One line naming the model, the alias and the store, when the store cannot
        be read, the model or alias does not exist, or the version was not logged
        by this library.
    """
    uri = _use_store(tracking_uri)
    where = f"models:/{name}@{alias} in {uri}"
    if uri.startswith("sqlite:///"):
        db = Path(uri[len("sqlite:///"):])
        if not db.is_file():
            raise ModelUnavailableError(f"cannot load {where}: the tracking store {db} does not exist")
    version = None
    try:
        version = MlflowClient().get_model_version_by_alias(name, alias)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = mlflow.pyfunc.load_model(f"models:/{name}@{alias}")
    except Exception as exc:  # noqa: BLE001 - MLflow raises many kinds; the user needs one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if version is not None and (isinstance(exc, OSError) or "No such artifact" in first
                                    or "No such file" in first):
            first = (f"the files of version {version.version} are missing from the artifact store "
                     f"({version.source}): deleted or moved; restore them, or retrain and register "
                     "a new version")
        raise ModelUnavailableError(f"cannot load {where}: {first}") from exc
    python_model = model.unwrap_python_model()
    bundle = getattr(python_model, "bundle", None)
    if not isinstance(bundle, ModelBundle):
        raise ModelUnavailableError(f"cannot load {where}: version {version.version} was not logged by "
                                    "this version of shequn_ml (no model bundle); retrain it")
    bundle.name, bundle.version = name, str(version.version)
    return bundle


def log_scoring_run(result: object, *, cutoff: str, out: str, experiment: str = "shequn-scoring",
                    tracking_uri: str | None = None, inputs: dict[str, str | None] | None = None,
                    data_warnings: list[str] | tuple[str, ...] = ()) -> str:
    """Log one batch scoring run: counts, timings, the model versions used, the output's digest.

    Parameters
    ----------
    result : ScoreResult
        From :func:`shequn_ml.scoring.score_members`.
    cutoff, out : str
        The scoring cutoff and the output file.
    experiment : str, default "shequn-scoring"
        MLflow experiment of scoring runs.
    inputs : dict, optional
        Input files by role (events, members, groups): their digests are logged.
    data_warnings : list of str, optional
        The readers' data warnings: counted (metric ``data_warnings``) and logged as
        ``data_warnings.txt``.

    Returns
    -------
    str
        The run id.
    """
    use_experiment(experiment, _use_store(tracking_uri))
    with mlflow.start_run(run_name=f"score {cutoff}") as run:
        mlflow.log_params({"cutoff": cutoff, "out": str(out),
                           **{f"model.{t}": v for t, v in result.versions.items()}})
        mlflow.log_metrics({f"rows.{k}": float(v) for k, v in result.counts.items()})
        mlflow.log_metrics({f"seconds.{k}": float(v) for k, v in result.seconds.items()})
        changes = {f"tier_changes.{k}": float(v) for k, v in getattr(result, "tier_changes", {}).items()
                   if np.isfinite(v)}
        if changes:  # share of the members tiered on both nights whose tier changed
            mlflow.log_metrics(changes)
        tags = {"shequn.job": "score", "shequn.output_digest": file_digest(out)}
        for role, path in (inputs or {}).items():
            if path:
                tags[f"shequn.{role}_digest"] = file_digest(path)
        mlflow.set_tags(tags)
        mlflow.log_metric("data_warnings", float(len(data_warnings)))
        if data_warnings:
            mlflow.log_text("\n".join(data_warnings) + "\n", "data_warnings.txt")
        return run.info.run_id


def spark_udf(spark: object, bundle: ModelBundle, result_type: str) -> object:
    """``mlflow.pyfunc.spark_udf`` of the registered version behind ``bundle``.

    For :mod:`shequn_ml.spark`, so that mlflow is imported here only. The model is
    addressed by version (``models:/<name>/<version>``), never by alias, so every
    executor scores with the version the driver resolved.
    """
    if bundle.version == "local":
        raise ModelUnavailableError(f"the {bundle.task} model is not registered: Spark scoring loads "
                                    "models from the registry (models:/<name>/<version>)")
    return mlflow.pyfunc.spark_udf(spark, f"models:/{bundle.name}/{bundle.version}",
                                   result_type=result_type, env_manager="local")
