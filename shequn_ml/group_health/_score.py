"""The groups table of the nightly job: every known group at the cutoff, with a stated status."""

from __future__ import annotations

import numpy as np
import pandas as pd

from shequn_ml.explain import shap_values
from shequn_ml.features.snapshots import EventHistory, to_cutoff
from shequn_ml.features.spec import FeatureSpec
from shequn_ml.group_health._common import as_history, check_horizon
from shequn_ml.group_health._features import group_features
from shequn_ml.group_health._labels import group_population
from shequn_ml.group_health._reasons import STAGE_EN, STAGE_ZH, group_reasons

#: statuses of a row of the groups table
SCORED = "scored"
NO_SPEAKING = "no_speaking_in_window"
NOT_CREATED = "not_created_by_cutoff"
NO_MODEL = "no_group_health_model"
SCORE_COLUMNS = ["group_id", "cutoff", "status", "note", "group_risk", "lifecycle_stage",
                 "lifecycle_stage_zh", "lifecycle_stage_en", "activity_trend", "speakers_recent",
                 "members_present", *[f"group_reason_{i}_{lang}" for i in (1, 2, 3) for lang in ("en", "zh")]]


def score_groups(
    model: object,
    events: pd.DataFrame | EventHistory,
    cutoff: object,
    *,
    members: pd.DataFrame | None = None,
    groups: pd.DataFrame | None = None,
    horizon_days: float = 28.0,
    spec: FeatureSpec | None = None,
) -> pd.DataFrame:
    """Score every group known at the cutoff: risk, lifecycle stage, trend and three reasons.

    The model's population is the label's (:func:`~shequn_ml.group_health.group_health_labels`):
    groups that exist at the cutoff and spoke in the ``horizon_days`` before it. Every
    other group known at the cutoff still gets a row, with a ``status`` saying why it
    has no risk, and a ``note``:

    * ``"scored"``: ``group_risk`` is the model's calibrated probability that the group
      goes silent or loses most of its speakers over the horizon;
    * ``"no_speaking_in_window"``: the group exists but nobody spoke in the window (it is
      silent already; stage and counts are still given);
    * ``"not_created_by_cutoff"``: the groups table lists it with a ``created_at`` at or
      after the cutoff (and it has no event before it);
    * ``"no_group_health_model"``: ``model`` is None (the community has no registered
      group-health model): the group would be scored, and its stage, trend and counts
      are given without a risk.

    Known groups are those of the groups table and those with an event before the cutoff;
    a group first seen in events after the cutoff is not listed.

    Parameters
    ----------
    model : GroupHealthModel or None
        Fitted on :func:`~shequn_ml.group_health.group_features` columns; None gives
        the table without risks or reasons.
    events : DataFrame or EventHistory
        Normalised events (the history may run past the cutoff: nothing after it is read).
    cutoff : timestamp
        Required: there is no default "now".
    members, groups : DataFrame, optional
        Side tables (ignored when ``events`` is a history).
    horizon_days : float, default 28
        The label horizon the model was trained with (the population window).
    spec : FeatureSpec, optional
        The lifecycle rule's trend windows.

    Returns
    -------
    DataFrame
        :data:`SCORE_COLUMNS`, one row per known group, sorted by ``group_id``.
        ``lifecycle_stage`` is 0/1/2 (float, missing for groups not yet created),
        ``speakers_recent`` the distinct speakers of the last 28 days.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from shequn_ml.io import read_events, read_groups
    >>> rng = np.random.default_rng(0)
    >>> days = np.sort(rng.uniform(0, 120, 3000))
    >>> ev = read_events(pd.DataFrame({
    ...     "ts": pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(days, "D"),
    ...     "group_id": rng.choice(["g1", "g2", "g3", "g4"], 3000),
    ...     "member_id": rng.choice([f"m{i}" for i in range(40)], 3000), "event_type": "message"}))
    >>> from shequn_ml.group_health import group_features, group_health_labels, GroupHealthModel
    >>> cuts = pd.date_range("2024-02-01", "2024-03-25", freq="7D", tz="UTC")
    >>> X = group_features(ev, cuts)
    >>> y = (X["speak_events_7d"] < X["speak_events_7d"].median()).astype(int)  # a toy target
    >>> m = GroupHealthModel(n_estimators=20, num_leaves=4).fit(X[X.columns[2:]], y)
    >>> gr = read_groups(pd.DataFrame({"group_id": ["g1", "g2", "g3", "g4", "g5"],
    ...                                "created_at": ["2024-01-01"] * 4 + ["2024-12-01"]}))
    >>> s = score_groups(m, ev, "2024-04-01", groups=gr)
    >>> s[["group_id", "status"]].values.tolist()[-2:]
    [['g4', 'scored'], ['g5', 'not_created_by_cutoff']]
    """
    h = check_horizon(horizon_days)
    history = as_history(events, members, groups)
    t = to_cutoff(cutoff)
    cols = list(getattr(model, "feature_names_in_", []))
    if model is not None and not cols:
        raise ValueError("score_groups needs a fitted GroupHealthModel (it has no feature_names_in_)")
    f = group_features(history, t, spec=spec)
    missing = [c for c in cols if c not in f.columns]
    if missing:
        raise ValueError(f"the model was fitted on columns group_features does not make: {missing}")
    out = pd.DataFrame({"group_id": f["group_id"].astype(str), "cutoff": f["cutoff"]})
    # the label's population: spoke in [t - h, t) (the feature windows are 7 and 28 days)
    pop = group_population(history, t, horizon_days=h)
    spoke = f[["group_id"]].merge(pop, on="group_id", how="left", validate="one_to_one")[
        "in_population"].eq(True).to_numpy()
    out["status"] = np.where(spoke, SCORED, NO_SPEAKING)
    out["note"] = np.where(spoke, "", f"no speaking event in the {h:g} days before the cutoff: "
                           "the group is silent already, so it has no risk of going silent")
    out["group_risk"] = np.nan
    stage = f["lifecycle_stage"].to_numpy()
    out["lifecycle_stage"] = stage
    out["lifecycle_stage_zh"] = [STAGE_ZH.get(int(s), "") if np.isfinite(s) else "" for s in stage]
    out["lifecycle_stage_en"] = [STAGE_EN.get(int(s), "") if np.isfinite(s) else "" for s in stage]
    out["activity_trend"] = f["activity_trend"].to_numpy()
    out["speakers_recent"] = f["speakers_28d"].to_numpy()
    out["members_present"] = f["members_present"].to_numpy()
    for i in (1, 2, 3):
        out[f"group_reason_{i}_en"] = ""
        out[f"group_reason_{i}_zh"] = ""
    rows = np.flatnonzero(spoke)
    if model is None:
        out.loc[out.index[rows], "status"] = NO_MODEL
        out.loc[out.index[rows], "note"] = "no group-health model: risk and reasons not scored"
    elif len(rows):
        X = f.iloc[rows][cols]
        out.loc[out.index[rows], "group_risk"] = model.predict_proba(X)[:, 1]
        reasons = group_reasons(shap_values(model, X), f.iloc[rows], k=3)
        for c in reasons.columns:
            out.loc[out.index[rows], c] = reasons[c].to_numpy()
    extra = _not_created(history, t, set(out["group_id"]))
    if len(extra):
        out = pd.concat([out, extra], ignore_index=True)
    return out[SCORE_COLUMNS].sort_values("group_id", kind="stable").reset_index(drop=True)


def _not_created(history: EventHistory, t: pd.Timestamp, listed: set[str]) -> pd.DataFrame:
    """Rows of groups-table groups with nothing before the cutoff: not created yet, or (created
    before it without any event) silent."""
    table = history.groups
    if table is None:
        return pd.DataFrame(columns=SCORE_COLUMNS)
    ids = table["group_id"].astype(str)
    created = table["created_at"] if "created_at" in table.columns else pd.Series(pd.NaT, index=table.index)
    rows = []
    for gid, c in zip(ids, created, strict=True):
        if gid in listed:
            continue
        exists = c is not pd.NaT and not pd.isna(c) and c < t
        status = NO_SPEAKING if exists else NOT_CREATED
        note = ("created before the cutoff, but no event in the group before it" if exists else
                "not created by the cutoff (no created_at before it and no event before it)")
        if not exists and not pd.isna(c):
            note = f"created_at {c:%Y-%m-%d %H:%M} UTC is at or after the cutoff"
        rows.append({"group_id": gid, "cutoff": t, "status": status, "note": note,
                     "group_risk": np.nan, "lifecycle_stage": np.nan, "lifecycle_stage_zh": "",
                     "lifecycle_stage_en": "", "activity_trend": np.nan, "speakers_recent": 0.0
                     if exists else np.nan, "members_present": 0.0 if exists else np.nan,
                     **{f"group_reason_{i}_{lang}": "" for i in (1, 2, 3) for lang in ("en", "zh")}})
    return pd.DataFrame(rows, columns=SCORE_COLUMNS)
