"""The batch scoring job: every member at a cutoff, three scores, their reasons, one table.

:func:`score_members` is the nightly job's core, with no tracking and no engine
choice: it takes the normalised event history, a cutoff and one
:class:`ModelBundle` per task (a fitted model with the feature spec and label
settings it was trained with), builds the point-in-time features once per
distinct feature spec, scores, explains and returns one row per member.

Rows in equal rows out
----------------------
The *roster* is every (group, member) pair the inputs name: each row of the
members table and each member who acted in the events before the cutoff. Every
roster row comes out exactly once, with a ``status``:

``scored``
    Present at the cutoff (:mod:`shequn_ml.features.snapshots`): all three scores.
``left_before_cutoff``
    Their last event before the cutoff is a leave or a removal.
``not_joined_by_cutoff``
    No event before the cutoff and a ``joined_at`` that is missing or later.
``no_usable_history``
    Joined before the cutoff, but their group has no event before it, so no
    feature of the group can be computed.

A scored member outside a model's population gets that score missing and a
``note`` saying why: the silence model (``population: active``) is defined for
members who spoke in the look-back window, so an already-silent member's
``silence_risk`` is NaN with "already silent" in the note.

Each score comes with three reasons per language (``<task>_reason_<k>_en``,
``<task>_reason_<k>_zh``) and the feature behind each (``<task>_reason_<k>_feature``,
the same in every language); a member's reasons are their own features, the
group-level ones are reported once per group (:attr:`ScoreResult.group_signals`).
Each risk is also put in a tier 高 / 中 / 低 that holds still from night to night
(:mod:`shequn_ml.contacts`), and a contact list per group says whom to reach first
and with what (:attr:`ScoreResult.contacts`).

The output is sorted by ``group_id`` and ``member_id``, so the same inputs give
the same table, row for row; :func:`write_scores` writes it atomically.

Examples
--------
>>> from shequn_ml.scoring import OUTPUT_COLUMNS, output_columns
>>> OUTPUT_COLUMNS[:8]
['group_id', 'member_id', 'cutoff', 'status', 'silence_risk', 'churn_risk', 'silence_tier', 'churn_tier']
>>> [c for c in output_columns("zh") if c.startswith("churn_reason_1")]
['churn_reason_1_zh', 'churn_reason_1_feature']
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from shequn_ml.contacts import TIER_COLUMN, TierPolicy, contact_list, previous_tiers, tier_churn
from shequn_ml.explain import LANGS, Explanation, Lang, group_signals, langs_of, reason_codes, shap_values
from shequn_ml.features import FeatureSpec, build_features
from shequn_ml.features.snapshots import EventHistory, text_lookup, to_cutoff
from shequn_ml.labels import silence_population
from shequn_ml.models._ranker import KolLabelSpec
from shequn_ml.models.spec import LabelSpec

TASKS = ("silence", "churn", "kol")
KEY = ["group_id", "member_id"]
N_REASONS = 3
STATUSES = ("scored", "left_before_cutoff", "not_joined_by_cutoff", "no_usable_history")
SCORE_COLUMN = {"silence": "silence_risk", "churn": "churn_risk", "kol": "kol_score"}
#: The tasks with a calibrated probability, hence a tier and group signals.
RISK_TASKS = ("silence", "churn")
#: Every column of the scores table, both languages (:func:`output_columns` gives one language's).
OUTPUT_COLUMNS = (
    ["group_id", "member_id", "cutoff", "status", "silence_risk", "churn_risk", "silence_tier",
     "churn_tier", "kol_score", "kol_rank_in_group"]
    + [f"{task}_reason_{i}_{lg}" for task in TASKS for i in range(1, N_REASONS + 1) for lg in LANGS]
    + ["note", "silence_model_version", "churn_model_version", "kol_model_version"]
    + [f"{task}_reason_{i}_feature" for task in TASKS for i in range(1, N_REASONS + 1)]
)


def output_columns(lang: Lang = "both") -> list[str]:
    """The scores table's columns for ``lang``: the other language's reason columns left out."""
    drop = {lg for lg in LANGS if lg not in langs_of(lang)}
    return [c for c in OUTPUT_COLUMNS if not ("_reason_" in c and c.rsplit("_", 1)[1] in drop)]


class ModelUnavailableError(RuntimeError):
    """A registered model (or the tracking store) cannot be reached; the message is one line."""


@dataclass
class ModelBundle:
    """A fitted model with everything scoring needs to rebuild its inputs.

    Parameters
    ----------
    task : {"silence", "churn", "kol"}
    estimator : SilenceModel, ChurnModel or KolRanker
        Fitted.
    feature_spec : FeatureSpec
        The feature spec it was trained on.
    label : LabelSpec or KolLabelSpec
        The label settings it was trained on: the silence population and its
        look-back; for the ranker, the horizon and weights of its
        last-period-influence features.
    name, version : str
        Registered model name and version ("local" for an in-memory model).
    """

    task: str
    estimator: object
    feature_spec: FeatureSpec
    label: LabelSpec | KolLabelSpec
    name: str = "local"
    version: str = "local"

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"ModelBundle: task must be one of {TASKS}, got {self.task!r}")
        want = KolLabelSpec if self.task == "kol" else LabelSpec
        if not isinstance(self.label, want):
            raise TypeError(f"ModelBundle: a {self.task} model needs a {want.__name__}, "
                            f"got {type(self.label).__name__}")

    @property
    def feature_names(self) -> list[str]:
        """The model's input columns, in its order."""
        return list(self.estimator.feature_names_in_)

    def define_features(self) -> None:
        """Register the definitions (and reason templates) of this model's columns.

        A model loaded in a fresh process has built no features yet; its reasons
        must read the same templates as at training time.
        """
        from shequn_ml.features.pipeline import feature_catalogue

        feature_catalogue(self.feature_spec)
        if self.task == "kol":
            from shequn_ml.ranking import define_kol_features

            define_kol_features(self.label.horizon_days, self.feature_spec.relationship_window_days)

    def explain(self, X: pd.DataFrame) -> tuple[np.ndarray, Explanation, pd.DataFrame]:
        """Scores and exact TreeSHAP values of raw feature rows.

        Returns
        -------
        score : ndarray
            Calibrated probability (silence, churn) or within-group ranking score (kol).
        explanation : Explanation
        X : DataFrame
            The rows as the model read them (its columns, as floats).
        """
        X = X[self.feature_names].astype(float)
        self.define_features()
        if len(X) == 0:  # LightGBM refuses empty input; nobody to score is not an error
            return np.array([], dtype=float), Explanation(pd.DataFrame(columns=X.columns, index=X.index,
                                                                       dtype=float), 0.0), X
        score = self.estimator.predict(X) if self.task == "kol" else self.estimator.predict_proba(X)[:, 1]
        return score, shap_values(self.estimator, X), X

    def predict(self, X: pd.DataFrame, *, k: int = N_REASONS, lang: Lang = "both",
                group_level: bool = False) -> pd.DataFrame:
        """Scores and reasons for raw feature rows.

        Parameters
        ----------
        X : DataFrame
            Raw feature rows (at least the model's columns).
        k : int, default 3
            Reasons per row.
        lang : {"en", "zh", "both"}, default "both"
            Languages of the reason sentences.
        group_level : bool, default False
            Let group-level features (the ``group_context`` family) be member reasons.

        Returns
        -------
        DataFrame
            ``score`` (calibrated probability for silence and churn; the ranker's
            within-group score for kol), then for i = 1 .. k ``reason_<i>_feature``
            and ``reason_<i>_en`` / ``reason_<i>_zh``: the member-level signals with
            the largest positive exact TreeSHAP contribution and their sentences;
            empty strings where fewer signals raised it. Same index as ``X``.
        """
        score, explanation, X = self.explain(X)
        out = pd.DataFrame({"score": np.asarray(score, dtype=float)}, index=X.index)
        reasons = reason_codes(explanation, X, k=k, lang=lang, group_level=group_level, with_features=True)
        return pd.concat([out, reasons], axis=1)


@dataclass
class ScoreResult:
    """What a scoring run produced.

    Attributes
    ----------
    table : DataFrame
        :data:`OUTPUT_COLUMNS`, one row per roster member, sorted by group and member.
    counts : dict
        Rows in, rows out, and rows per status.
    seconds : dict
        Wall time per stage.
    versions : dict
        task -> "name/version" of the model used.
    contacts : DataFrame or None
        The contact list (:func:`shequn_ml.contacts.contact_list`), when asked for.
    group_signals : DataFrame or None
        One row per group with a risk score: ``group_id`` and, per risk task,
        ``<task>_members_explained`` and ``<task>_group_signal_<k>_en`` / ``_zh`` /
        ``_feature``: the group-level features that raised its members' risk most
        (:func:`shequn_ml.explain.group_signals`), reported once per group instead
        of in every member's reasons.
    tier_changes : dict
        ``<task>_tier`` -> share of the members tiered last night and tonight whose
        tier changed (:func:`shequn_ml.contacts.tier_churn`); empty without ``previous``.
    """

    table: pd.DataFrame
    counts: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    contacts: pd.DataFrame | None = None
    group_signals: pd.DataFrame | None = None
    tier_changes: dict[str, float] = field(default_factory=dict)


# ---------------------------------------------------------------------------- roster
def roster(history: EventHistory, cutoff: pd.Timestamp) -> pd.DataFrame:
    """Every (group, member) the inputs name, with its status at the cutoff.

    Parameters
    ----------
    history : EventHistory
        The events (with their members table, if any).
    cutoff : Timestamp

    Returns
    -------
    DataFrame
        ``group_id``, ``member_id`` (strings) and ``status`` before the
        ``scored`` / ``no_usable_history`` split, which needs the population:
        ``present``, ``left_before_cutoff`` or ``not_joined_by_cutoff``.
    """
    n = int(np.searchsorted(history.ts, int(cutoff.value), side="left"))
    # each (group, member) pair's latest exit and latest other event before the cutoff, read
    # from the history's per-pair index (the one the features use) instead of a group-by
    ms = history.memberships
    kid, last_exit, last_stay = ms.latest(history, n)
    keys = ms.keys[kid]
    nm = np.int64(max(history.n_members, 1))
    acted = pd.DataFrame({
        "group_id": history.group_categories.to_numpy(dtype=object)[keys // nm],
        "member_id": history.member_categories.to_numpy(dtype=object)[keys % nm],
        "status": np.where(last_stay > last_exit, "present", "left_before_cutoff"),
    })
    mt = history.members
    if mt is None or len(mt) == 0:
        return acted
    g = text_lookup(mt["group_id"], pd.Index(history.group_categories.astype(str)))
    m = text_lookup(mt["member_id"], pd.Index(history.member_categories.astype(str)))
    # what members did before the cutoff overrides the table's join date
    known = (g >= 0) & (m >= 0)
    listed_only = ~known
    listed_only[known] = ~np.isin(g[known].astype(np.int64) * nm + m[known], keys)
    rest = mt.loc[listed_only]
    listed = pd.DataFrame({"group_id": rest["group_id"].astype(str).to_numpy(dtype=object),
                           "member_id": rest["member_id"].astype(str).to_numpy(dtype=object)})
    if "joined_at" in rest.columns:
        joined = rest["joined_at"]
        listed["status"] = np.where(joined.notna().to_numpy() & (joined < cutoff).to_numpy(),
                                    "present", "not_joined_by_cutoff")
    else:
        listed["status"] = "not_joined_by_cutoff"
    listed = listed.drop_duplicates(KEY, keep="first")
    return pd.concat([acted, listed], ignore_index=True)


# ---------------------------------------------------------------------------- features
def bundle_features(events: pd.DataFrame, cutoff: pd.Timestamp, bundle: ModelBundle, *,
                    members: pd.DataFrame | None = None, groups: pd.DataFrame | None = None,
                    history: EventHistory | None = None, base: pd.DataFrame | None = None) -> pd.DataFrame:
    """The feature table a bundle's model reads, at one cutoff (keys + float columns).

    The risk models read :func:`~shequn_ml.features.build_features`; the ranker
    reads :func:`~shequn_ml.ranking.kol_features` (the same plus last period's
    influence and HITS authority). ``base``, the ``build_features`` table of the
    bundle's feature spec at this cutoff, is reused when given.
    """
    if bundle.task == "kol":
        from shequn_ml.ranking import kol_features

        lab = bundle.label
        return kol_features(events, [cutoff], lab.horizon_days, bundle.feature_spec, members=members,
                            groups=groups, invitee_weight=lab.invitee_weight,
                            organise_weight=lab.organise_weight, history=history, base=base)
    if base is not None:
        return base
    return build_features(events, [cutoff], bundle.feature_spec, members=members, groups=groups)


# ---------------------------------------------------------------------------- stages
@dataclass
class Prepared:
    """Everything scoring reads, at one cutoff: the roster and each task's features.

    Attributes
    ----------
    roster : DataFrame
        ``group_id``, ``member_id`` (str), ``status`` (one of :data:`STATUSES`).
    features : dict
        task -> feature table of the members present (keys + float columns).
    in_silence_population : DataFrame or None
        ``group_id``, ``member_id``, ``in_population`` for the silence model.
    """

    cutoff: pd.Timestamp
    roster: pd.DataFrame
    features: dict[str, pd.DataFrame]
    in_silence_population: pd.DataFrame | None = None


def prepare(events: pd.DataFrame, cutoff: object, bundles: Mapping[str, ModelBundle], *,
            members: pd.DataFrame | None = None, groups: pd.DataFrame | None = None,
            progress: Callable[[str], None] | None = None) -> Prepared:
    """The roster, each bundle's features and the silence population at ``cutoff``.

    A pure function of the events (and side tables) given: run on one group's
    rows, it gives that group's part of the run on all groups, except
    ``groups_in`` (groups a member is in), which needs them all and is joined
    afterwards (:func:`shequn_ml.spark.score_members_spark` does).
    """
    unknown = sorted(set(bundles) - set(TASKS))
    if unknown:
        raise ValueError(f"score_members: unknown task(s) {unknown}; expected {list(TASKS)}")
    if not bundles:
        raise ValueError("score_members: no model to score with; give at least one bundle")
    say = progress or (lambda stage: None)
    cut = to_cutoff(cutoff)
    say("roster")
    history = EventHistory(events, members=members, groups=groups)
    table = roster(history, cut)
    say("features")
    base: dict[str, pd.DataFrame] = {}  # build_features once per distinct feature spec
    per_task: dict[str, pd.DataFrame] = {}
    for task, bundle in bundles.items():
        key = bundle.feature_spec.model_dump_json()
        if key not in base:
            base[key] = build_features(events, [cut], bundle.feature_spec, members=members,
                                       groups=groups, history=history)
        per_task[task] = bundle_features(events, cut, bundle, members=members, groups=groups,
                                         history=history, base=base[key])
    # every feature table holds the same population: the members present at the cutoff
    present = pd.MultiIndex.from_frame(next(iter(per_task.values()))[KEY].astype(str))
    scored = pd.MultiIndex.from_frame(table[KEY]).isin(present)
    status = table["status"].to_numpy(dtype=object)
    table["status"] = np.where(scored, "scored", np.where(status == "present", "no_usable_history", status))
    pop = None
    if "silence" in bundles:
        lab = bundles["silence"].label
        pop = silence_population(history, [cut], population=lab.population,
                                 active_window_days=lab.active_window_days)
        pop = pd.DataFrame({"group_id": pop["group_id"].astype(str),
                            "member_id": pop["member_id"].astype(str),
                            "in_population": pop["in_population"].to_numpy(dtype=bool)})
    return Prepared(cut, table, per_task, pop)


def predict(prepared: Prepared, bundles: Mapping[str, ModelBundle], *, lang: Lang = "both",
            group_level: bool = False, progress: Callable[[str], None] | None = None,
            seconds: dict[str, float] | None = None,
            signals: dict[str, pd.DataFrame] | None = None) -> dict[str, pd.DataFrame]:
    """Each bundle's scores and reasons for the members it is defined for.

    Parameters
    ----------
    prepared : Prepared
    bundles : mapping task -> ModelBundle
    lang : {"en", "zh", "both"}, default "both"
    group_level : bool, default False
        Let group-level features be member reasons (default: member-level only).
    signals : dict, optional
        Filled with risk task -> :func:`shequn_ml.explain.group_signals` of the
        same SHAP values (both languages, with the features).

    Returns
    -------
    dict
        task -> ``group_id``, ``member_id`` (str), ``score``, ``reason_<k>_<lang>``
        and ``reason_<k>_feature``.
    """
    say = progress or (lambda stage: None)
    out = {}
    for task in TASKS:
        bundle = bundles.get(task)
        if bundle is None:
            continue
        say(f"score {task}")
        clock = time.perf_counter()
        f = prepared.features[task]
        if task == "silence" and prepared.in_silence_population is not None:
            flags = prepared.in_silence_population.set_index(KEY)["in_population"]
            f = f.loc[flags.reindex(pd.MultiIndex.from_frame(f[KEY].astype(str))).to_numpy(dtype=bool)]
        score, explanation, X = bundle.explain(f)
        pred = pd.concat([pd.DataFrame({"score": np.asarray(score, dtype=float)}, index=X.index),
                          reason_codes(explanation, X, k=N_REASONS, lang=lang, group_level=group_level,
                                       with_features=True)], axis=1)
        keys = pd.DataFrame({"group_id": f["group_id"].astype(str).to_numpy(dtype=object),
                             "member_id": f["member_id"].astype(str).to_numpy(dtype=object)}, index=f.index)
        out[task] = pd.concat([keys, pred], axis=1).reset_index(drop=True)
        if signals is not None and task in RISK_TASKS:
            signals[task] = group_signals(explanation, X, keys["group_id"].to_numpy(dtype=object),
                                          k=N_REASONS, lang="both", with_features=True)
        if seconds is not None:
            seconds[f"score_{task}"] = time.perf_counter() - clock
    return out


def group_signal_table(signals: Mapping[str, pd.DataFrame], lang: Lang = "both") -> pd.DataFrame:
    """The per-task group signals side by side: one row per group, columns prefixed by task.

    ``group_id``, then per risk task ``<task>_members_explained`` and
    ``<task>_group_signal_<k>_feature`` / ``_en`` / ``_zh`` (the languages of ``lang``);
    a group without members in a task's population has that task's cells empty (0 members).
    """
    keep = langs_of(lang)
    parts = []
    for task in RISK_TASKS:
        t = signals.get(task)
        if t is None:
            continue
        cols = [c for c in t.columns if c != "group_id"
                and not (c.startswith("group_signal_") and c.rsplit("_", 1)[1] in LANGS
                         and c.rsplit("_", 1)[1] not in keep)]
        parts.append(t.set_index("group_id")[cols].add_prefix(f"{task}_"))
    if not parts:
        return pd.DataFrame({"group_id": pd.Series(dtype=object)})
    out = pd.concat(parts, axis=1, sort=True)
    for c in out.columns:
        if c.endswith("_members_explained"):
            out[c] = out[c].fillna(0).astype(np.int64)
        else:
            out[c] = out[c].fillna("").astype(object)
    out.index.name = "group_id"
    return out.reset_index()


def assemble(cutoff: pd.Timestamp, roster_table: pd.DataFrame, predictions: Mapping[str, pd.DataFrame],
             bundles: Mapping[str, ModelBundle],
             in_silence_population: pd.DataFrame | None = None,
             facts: pd.DataFrame | None = None, previous: pd.DataFrame | None = None,
             tiers: TierPolicy | None = None) -> pd.DataFrame:
    """The output table: one row per roster member, scores, tiers, ranks, reasons, notes, versions.

    Per group (ranks are within a group), so a scale-out engine can run it per group.
    ``facts`` (keys with ``renewals`` and ``is_paid`` features) adds the note that a
    member who renewed is not marked paid in the members table, so their churn risk
    was scored without the membership's expiry. ``previous`` (keys with
    ``silence_tier`` and ``churn_tier``, :func:`shequn_ml.contacts.previous_tiers`)
    holds last night's tiers, against which ``tiers`` applies its hysteresis.
    Returns every column of :data:`OUTPUT_COLUMNS` (both languages).
    """
    from shequn_ml.ranking import dense_rank, rank_within

    # keys as integers once: the sort by (group, member) text and every lookup below
    g_text, m_text = roster_table["group_id"].astype(str), roster_table["member_id"].astype(str)
    order = np.lexsort((dense_rank(m_text), dense_rank(g_text)))
    g_codes, g_ids = pd.factorize(g_text.to_numpy(dtype=object)[order])
    m_codes, m_ids = pd.factorize(m_text.to_numpy(dtype=object)[order])
    g_index, m_index, n_m = pd.Index(g_ids), pd.Index(m_ids), np.int64(max(len(m_ids), 1))
    row_of = pd.Index(g_codes.astype(np.int64) * n_m + m_codes)

    def rows_of(keys: pd.DataFrame) -> np.ndarray:
        g = g_index.get_indexer(keys["group_id"].astype(str).to_numpy(dtype=object))
        m = m_index.get_indexer(keys["member_id"].astype(str).to_numpy(dtype=object))
        return row_of.get_indexer(np.where((g >= 0) & (m >= 0), g.astype(np.int64) * n_m + m, -1))

    out = pd.DataFrame({"group_id": np.asarray(g_ids, dtype=object)[g_codes],
                        "member_id": np.asarray(m_ids, dtype=object)[m_codes],
                        "cutoff": pd.Series(cutoff, index=pd.RangeIndex(len(order)))
                        .astype("datetime64[ns, UTC]"),
                        "status": roster_table["status"].to_numpy(dtype=object)[order]})
    notes = np.full(len(out), "", dtype=object)
    for status, text in NOTES.items():
        notes[out["status"].to_numpy() == status] = text
    policy = tiers or TierPolicy()
    prev_rows = None
    if previous is not None and len(previous):
        prev_rows = rows_of(previous)
    parts = [f"{i}_{suffix}" for i in range(1, N_REASONS + 1) for suffix in (*LANGS, "feature")]
    for task in TASKS:
        col = SCORE_COLUMN[task]
        score = np.full(len(out), np.nan)
        reasons = {part: np.full(len(out), "", dtype=object) for part in parts}
        pred = predictions.get(task)
        if pred is not None and len(pred):
            rows = rows_of(pred)
            if (rows < 0).any():
                raise AssertionError(f"{task}: a scored member is missing from the roster")
            score[rows] = pred["score"].to_numpy(dtype=float)
            for part in parts:
                if f"reason_{part}" in pred.columns:
                    reasons[part][rows] = pred[f"reason_{part}"].fillna("").to_numpy(dtype=object)
        out[col] = score
        if task in TIER_COLUMN:
            before = None
            if prev_rows is not None:
                before = np.full(len(out), "", dtype=object)
                ok = prev_rows >= 0
                before[prev_rows[ok]] = previous[TIER_COLUMN[task]].to_numpy(dtype=object)[ok]
            out[TIER_COLUMN[task]] = policy.assign(score, before)
        for part in parts:
            out[f"{task}_reason_{part}"] = reasons[part]
        bundle = bundles.get(task)
        out[f"{task}_model_version"] = "" if bundle is None else f"{bundle.name}/{bundle.version}"
    if "silence" in bundles and in_silence_population is not None:
        lab = bundles["silence"].label
        outside = in_silence_population.loc[~in_silence_population["in_population"].to_numpy(bool), KEY]
        rows = rows_of(outside)
        notes[rows[rows >= 0]] = (f"silence_risk not scored: no speaking event in the "
                                  f"{lab.active_window_days:g} days before the cutoff (already silent)")
        # a group where nobody spoke in the look-back is flagged as such, on each of its members
        pop_groups = in_silence_population.groupby("group_id", sort=False)["in_population"].any()
        quiet = pop_groups.index[~pop_groups.to_numpy(dtype=bool)]
        in_quiet = out["group_id"].isin(quiet).to_numpy() & (out["status"].to_numpy() == "scored")
        notes[in_quiet] = (f"silence_risk not scored: nobody in this group spoke in the "
                           f"{lab.active_window_days:g} days before the cutoff (the whole group is silent)")
    if facts is not None and len(facts) and {"renewals", "is_paid"} <= set(facts.columns):
        unpaid = facts.loc[(facts["renewals"].to_numpy(dtype=float) > 0)
                           & (facts["is_paid"].to_numpy(dtype=float) == 0), KEY].astype(str)
        rows = rows_of(unpaid)
        rows = rows[rows >= 0]
        text = ("churn_risk scored without the membership's expiry: the member renewed, but the "
                "members table does not mark them paid (add them with paid=true)")
        notes[rows] = np.array([f"{n}; {text}" if n else text for n in notes[rows]], dtype=object)
    rank = np.full(len(out), np.nan)
    has = np.isfinite(out["kol_score"].to_numpy(dtype=float))
    if has.any():
        rank[has] = rank_within(out.loc[has, ["cutoff", "group_id", "member_id", "kol_score"]], "kol_score")
    out["kol_rank_in_group"] = pd.array(np.where(np.isnan(rank), None, rank), dtype="Int64")
    out["note"] = notes
    return out[OUTPUT_COLUMNS]


NOTES = {
    "left_before_cutoff": "left the group before the cutoff",
    "not_joined_by_cutoff": "no event before the cutoff and not joined by it",
    "no_usable_history": "the group has no event before the cutoff",
}


# ---------------------------------------------------------------------------- the job
def score_members(
    events: pd.DataFrame,
    cutoff: object,
    bundles: Mapping[str, ModelBundle],
    *,
    members: pd.DataFrame | None = None,
    groups: pd.DataFrame | None = None,
    lang: Lang = "both",
    group_level: bool = False,
    previous: pd.DataFrame | str | os.PathLike[str] | None = None,
    tiers: TierPolicy | None = None,
    contacts_per_group: int | None = 10,
    influence_weight: float = 1.0,
    paid_weight: float = 1.0,
    progress: Callable[[str], None] | None = None,
) -> ScoreResult:
    """Score every member on the roster at ``cutoff`` with every bundle, with reasons.

    :func:`prepare`, :func:`predict`, :func:`assemble` in turn, on one machine.

    Parameters
    ----------
    events, members, groups : DataFrame
        Normalised tables (:mod:`shequn_ml.io`); only events before the cutoff
        are read. ``members.paid`` also counts in the contact list's value.
    cutoff : date-like
        The scoring cutoff t (features read events with ts < t).
    bundles : mapping task -> ModelBundle
        ``silence``, ``churn`` and ``kol`` (any non-empty subset; the missing
        tasks' columns are left empty).
    lang : {"en", "zh", "both"}, default "both"
        Language of the reason sentences: ``both`` gives the ``_en`` and the
        ``_zh`` columns, ``en`` or ``zh`` only that language's.
    group_level : bool, default False
        Let group-level features (the ``group_context`` family) be member reasons.
        By default they are not; :attr:`ScoreResult.group_signals` reports them per group.
    previous : DataFrame or path, optional
        The previous night's scores table (an earlier cutoff): tiers move against
        its tiers with hysteresis (:class:`~shequn_ml.contacts.TierPolicy`), and
        :attr:`ScoreResult.tier_changes` says how many changed. Without it, plain
        thresholds.
    tiers : TierPolicy, optional
        Tier thresholds and margin (default ``TierPolicy()``: high >= 0.6, low < 0.3,
        margin 0.05).
    contacts_per_group : int or None, default 10
        Entries per group of the contact list (:func:`shequn_ml.contacts.contact_list`);
        None or 0: no contact list.
    influence_weight, paid_weight : float, default 1.0
        The contact list's value weights.
    progress : callable, optional
        Called with the name of each stage as it starts.

    Returns
    -------
    ScoreResult
    """
    seconds: dict[str, float] = {}
    clock = time.perf_counter()
    policy = tiers or TierPolicy()
    langs_of(lang)  # a bad value fails before any work
    cut = to_cutoff(cutoff)
    prev = previous_tiers(previous, cut, policy) if previous is not None else None
    prepared = prepare(events, cut, bundles, members=members, groups=groups, progress=progress)
    seconds["features"] = time.perf_counter() - clock
    signals: dict[str, pd.DataFrame] = {}
    predictions = predict(prepared, bundles, lang="both", group_level=group_level, progress=progress,
                          seconds=seconds, signals=signals)
    clock = time.perf_counter()
    if progress is not None:
        progress("assemble")
    facts = next((f for f in prepared.features.values() if {"renewals", "is_paid"} <= set(f.columns)), None)
    out = assemble(prepared.cutoff, prepared.roster, predictions, bundles, prepared.in_silence_population,
                   facts=facts, previous=prev, tiers=policy)
    seconds["assemble"] = time.perf_counter() - clock
    result = finish(out, bundles, seconds, rows_in=len(prepared.roster), lang=lang, previous=prev)
    result.group_signals = group_signal_table(signals, lang)
    if contacts_per_group:
        result.contacts = contact_list(result.table, members, per_group=contacts_per_group,
                                       influence_weight=influence_weight, paid_weight=paid_weight, lang=lang)
    return result


def finish(out: pd.DataFrame, bundles: Mapping[str, ModelBundle], seconds: dict[str, float], *,
           rows_in: int, lang: Lang = "both", previous: pd.DataFrame | None = None) -> ScoreResult:
    """Check rows in equal rows out, count the statuses and tiers, keep ``lang``'s columns.

    With ``previous`` (last night's tiers), the share of members whose tier changed
    is measured per tiered task (:func:`shequn_ml.contacts.tier_churn`).
    """
    from shequn_ml.contacts import TIER_NAMES

    counts = {"rows_in": int(rows_in), "rows_out": int(len(out))}
    counts.update({f"status.{s}": int((out["status"] == s).sum()) for s in STATUSES})
    if counts["rows_in"] != counts["rows_out"]:
        raise AssertionError(f"rows in {counts['rows_in']} != rows out {counts['rows_out']}")
    changes = {}
    for task, col in TIER_COLUMN.items():
        if task not in bundles:
            continue
        tier = out[col].to_numpy(dtype=object)
        counts.update({f"{col}.{name}": int((tier == t).sum()) for t, name in TIER_NAMES.items()})
        if previous is not None:
            changes[col] = tier_churn(previous, out, col)
    versions = {t: f"{b.name}/{b.version}" for t, b in bundles.items()}
    return ScoreResult(out[output_columns(lang)], counts, seconds, versions, tier_changes=changes)


def join_nicknames(table: pd.DataFrame, nicknames: pd.DataFrame, cutoff: object) -> pd.DataFrame:
    """The scores with each member's display name as of the cutoff (column ``nickname``).

    ``nicknames`` is the display table an importer writes (``nicknames.parquet``:
    ``member_id``, ``group_id``, ``nickname``, ``first_seen``, ``last_seen``). The
    name shown is the one the member carried last before the cutoff in that group
    (a name first seen after the cutoff is not shown); empty when none is known.
    Rows and their order are unchanged.

    >>> t = pd.DataFrame({"group_id": ["g", "g"], "member_id": ["a", "b"], "status": ["scored"] * 2})
    >>> n = pd.DataFrame({"member_id": ["a", "a"], "group_id": ["g", "g"], "nickname": ["阿明", "明哥"],
    ...                   "first_seen": pd.to_datetime(["2024-01-01", "2024-03-01"], utc=True),
    ...                   "last_seen": pd.to_datetime(["2024-02-01", "2024-03-05"], utc=True)})
    >>> join_nicknames(t, n, "2024-02-15")["nickname"].tolist()
    ['阿明', None]
    """
    missing = [c for c in ("member_id", "group_id", "nickname", "first_seen") if c not in nicknames.columns]
    if missing:
        raise ValueError(f"the nickname table has no column {missing[0]!r}: expected member_id, group_id, "
                         "nickname, first_seen (as shequn-ml import writes nicknames.parquet)")
    c = pd.Timestamp(cutoff)
    c = c.tz_localize("UTC") if c.tzinfo is None else c.tz_convert("UTC")
    seen = pd.to_datetime(nicknames["first_seen"], utc=True)
    known = nicknames.loc[seen < c, ["group_id", "member_id", "nickname"]].assign(_t=seen[seen < c])
    latest = (known.astype({"group_id": str, "member_id": str})
              .sort_values("_t", kind="stable").drop_duplicates(KEY, keep="last").drop(columns="_t"))
    keys = table[KEY].astype(str)
    names = keys.merge(latest, on=KEY, how="left", validate="many_to_one")["nickname"]
    out = table.copy()
    at = list(out.columns).index("member_id") + 1
    shown = [v if isinstance(v, str) else None for v in names.tolist()]
    out.insert(at, "nickname", pd.Series(shown, index=out.index, dtype=object))
    return out


def manifest_path(out: str | os.PathLike[str]) -> Path:
    """The manifest beside a score table: ``scores.parquet`` -> ``scores.manifest.json``."""
    return Path(out).with_suffix(".manifest.json")


def contacts_path(out: str | os.PathLike[str], suffix: str = ".parquet") -> Path:
    """The contact list beside a score table: ``scores.parquet`` -> ``scores.contacts.parquet``."""
    return Path(out).with_suffix(f".contacts{suffix}")


def manifest_info(result: ScoreResult, cutoff: object) -> dict[str, object]:
    """What a scoring run's manifest says: cutoff, rows per status and tier, model versions.

    Deterministic (no clock and no run id), so reruns stay byte-identical.
    """
    info: dict[str, object] = {"job": "shequn-ml score", "cutoff": to_cutoff(cutoff).isoformat(),
                               "counts": {k: int(v) for k, v in result.counts.items()},
                               "models": dict(result.versions)}
    if result.contacts is not None:
        info["contacts"] = int(len(result.contacts))
    if result.tier_changes:
        info["tier_changes"] = {k: (None if not np.isfinite(v) else round(float(v), 6))
                                for k, v in result.tier_changes.items()}
    return info


def _xlsx_writer(sheets: Mapping[str, pd.DataFrame], stamp: pd.Timestamp) -> Callable[[str], None]:
    """A writer of one workbook with a sheet per table, byte-identical for the same tables.

    openpyxl stamps the workbook's properties and every zip entry with the clock;
    both are set to ``stamp`` (the cutoff) so a rerun gives the same bytes.
    """
    def write(tmp: str) -> None:
        import io
        import re
        import zipfile

        import openpyxl

        when = (stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo else stamp).to_pydatetime()
        wb = openpyxl.Workbook()
        wb.remove(wb.active)
        for name, table in sheets.items():
            ws = wb.create_sheet(name)
            ws.append([str(c) for c in table.columns])
            for row in table.itertuples(index=False):
                ws.append([_cell(v) for v in row])
            ws.freeze_panes = "A2"
        wb.properties.created = wb.properties.modified = when
        raw = io.BytesIO()
        wb.save(raw)
        raw.seek(0)
        stamp_zip = (max(when.year, 1980), when.month, when.day, when.hour, when.minute, when.second)
        with zipfile.ZipFile(raw) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
            for item in src.infolist():
                data = src.read(item.filename)
                if item.filename == "docProps/core.xml":  # openpyxl writes the clock on save
                    data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                                  rb"\g<1>" + when.strftime("%Y-%m-%dT%H:%M:%SZ").encode() + rb"\g<2>", data)
                info = zipfile.ZipInfo(item.filename, date_time=stamp_zip)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = item.external_attr
                dst.writestr(info, data)

    return write


def _cell(value: object) -> object:
    """A value as a worksheet cell: no time zone (Excel has none: UTC is written), no NaN."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return (value.tz_convert("UTC").tz_localize(None) if value.tzinfo else value).to_pydatetime()
    if isinstance(value, (float, np.floating)):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def write_scores(table: pd.DataFrame, out: str | os.PathLike[str], *, csv: bool = False,
                 csv_bom: bool = False, info: dict[str, object] | None = None,
                 contacts: pd.DataFrame | None = None, xlsx: bool = False) -> list[Path]:
    """Write the score table to ``out`` (Parquet), its contact list, CSVs on request, and a manifest.

    The files of one run appear together or not at all
    (:func:`shequn_ml.outputs.write_output_set`): each is written in full under a
    temporary name, a journal commits the set, the files are renamed into place and
    the manifest (``out`` with suffix ``.manifest.json``, listing each file's
    SHA-256) comes last. ``contacts`` goes to ``<out stem>.contacts.parquet`` (and
    ``.contacts.csv`` with ``csv=True``); ``xlsx=True`` adds one workbook
    (``<out stem>.xlsx``) with the sheets ``scores`` and ``contacts``.
    ``csv_bom=True`` starts every CSV with a UTF-8 byte-order mark, so Excel shows
    the Chinese reasons instead of mojibake.

    Returns
    -------
    list of Path
        The table files written, then the manifest.
    """
    from shequn_ml.io import to_arrow
    from shequn_ml.outputs import write_output_set

    dest = Path(out)
    encoding = "utf-8-sig" if csv_bom else "utf-8"
    files = {dest: lambda tmp: pq.write_table(to_arrow(table), tmp)}
    if csv:
        files[dest.with_suffix(".csv")] = lambda tmp: table.to_csv(tmp, index=False, encoding=encoding)
    if contacts is not None:
        files[contacts_path(dest)] = lambda tmp: pq.write_table(to_arrow(contacts), tmp)
        if csv:
            files[contacts_path(dest, ".csv")] = lambda tmp: contacts.to_csv(tmp, index=False,
                                                                             encoding=encoding)
    if xlsx:
        sheets = {"scores": table, **({"contacts": contacts} if contacts is not None else {})}
        stamp = pd.Timestamp(table["cutoff"].iloc[0]) if "cutoff" in table.columns and len(table) else \
            pd.Timestamp("1980-01-01")
        files[dest.with_suffix(".xlsx")] = _xlsx_writer(sheets, stamp)
    manifest = write_output_set(files, manifest_path(dest), info or {"rows": len(table)})
    return [*files, manifest]


__all__ = [
    "OUTPUT_COLUMNS",
    "RISK_TASKS",
    "contacts_path",
    "group_signal_table",
    "output_columns",
    "STATUSES",
    "ModelBundle",
    "ModelUnavailableError",
    "Prepared",
    "ScoreResult",
    "assemble",
    "predict",
    "prepare",
    "bundle_features",
    "roster",
    "score_members",
    "manifest_info",
    "manifest_path",
    "write_scores",
]
