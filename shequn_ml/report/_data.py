"""What the report shows, computed from its inputs: tables and curves, no HTML and no charts.

Everything reads events strictly before the cutoff (the point-in-time rule of the
library), so a report built on a longer history at an earlier cutoff is the report
of that night.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from shequn_ml import schema
from shequn_ml.features import group_context
from shequn_ml.features.snapshots import EventHistory, to_cutoff
from shequn_ml.group_health import STAGE_EN, STAGE_ZH
from shequn_ml.groups_table import at_risk_share, role_counts
from shequn_ml.report._inputs import ReportInputError, first_present, reasons
from shequn_ml.roles import ROLE_ZH, ROLES

DAY = pd.Timedelta(days=1)
#: Distinct speakers are counted over this many days before the cutoff.
SPEAKERS_DAYS = 28
#: Survival is reported at these membership durations (days).
SURVIVAL_AT = (30, 90)


@dataclass
class Memberships:
    """First membership spell of every (group, member) that entered before the cutoff.

    Attributes
    ----------
    table : DataFrame
        ``group_id``, ``member_id``, ``entry``, ``exit`` (NaT while present),
        ``duration_days``, ``observed`` (left or was removed before the cutoff),
        ``cohort`` (``YYYY-MM`` of the entry, UTC).
    dropped : int
        Memberships left out because their start is unknown: no join event and no
        ``joined_at``, and their first event is the exit itself.
    """

    table: pd.DataFrame
    dropped: int


def resolve_cutoff(cutoff: object, scores: pd.DataFrame) -> pd.Timestamp:
    """The report's cutoff: the one given, else the scores table's (which must be one value).

    >>> s = pd.DataFrame({"cutoff": pd.to_datetime(["2024-06-20"] * 2, utc=True)})
    >>> resolve_cutoff(None, s)
    Timestamp('2024-06-20 00:00:00+0000', tz='UTC')
    >>> resolve_cutoff("2024-06-01", s)
    Traceback (most recent call last):
    ...
    shequn_ml.report._inputs.ReportInputError: the cutoff 2024-06-01 00:00 UTC differs from the scores \
table's cutoff 2024-06-20 00:00 UTC: build the report at the cutoff the scores were made at
    """
    found = None
    if "cutoff" in scores.columns:
        values = pd.to_datetime(scores["cutoff"].dropna(), utc=True).unique()
        if len(values) > 1:
            raise ReportInputError(f"the scores table has {len(values)} different cutoffs "
                                   f"({_ts(min(values))} to {_ts(max(values))}); a report is of one night: "
                                   "give the scores of one cutoff")
        found = pd.Timestamp(values[0]) if len(values) else None
    if cutoff is None:
        if found is None:
            raise ReportInputError("no cutoff: the scores table has no cutoff column; give the cutoff the "
                                   "scores were made at (--cutoff)")
        return found
    t = to_cutoff(cutoff)
    if found is not None and t != found:
        raise ReportInputError(f"the cutoff {_ts(t)} differs from the scores table's cutoff {_ts(found)}: "
                               "build the report at the cutoff the scores were made at")
    return t


def check_cutoff(table: pd.DataFrame, cutoff: pd.Timestamp, name: str) -> None:
    """A side table with a ``cutoff`` column must be of the report's cutoff."""
    if "cutoff" not in table.columns or table["cutoff"].isna().all():
        return
    values = pd.to_datetime(table["cutoff"].dropna(), utc=True).unique()
    if len(values) != 1 or pd.Timestamp(values[0]) != cutoff:
        shown = ", ".join(_ts(v) for v in sorted(values)[:3])
        raise ReportInputError(f"{name}: column 'cutoff' is {shown}, not the report's cutoff {_ts(cutoff)}")


def _ts(value: object) -> str:
    return pd.Timestamp(value).tz_convert("UTC").strftime("%Y-%m-%d %H:%M UTC")


def before(events: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """The events strictly before the cutoff, with the columns the report reads."""
    return events.loc[events["ts"] < cutoff, ["ts", "group_id", "member_id", "event_type"]]


def known_groups(events: pd.DataFrame, groups: pd.DataFrame | None, cutoff: pd.Timestamp,
                 *tables: pd.DataFrame | None) -> list[str]:
    """Every group with an event before the cutoff, in the groups table (created by then) or a table."""
    ids = set(events["group_id"].astype(str).unique())
    if groups is not None:
        created = groups["created_at"] if "created_at" in groups.columns else pd.Series(pd.NaT, groups.index)
        ok = created.isna() | (created < cutoff)
        ids |= set(groups.loc[ok, "group_id"].astype(str))
    for t in tables:
        if t is not None:
            ids |= set(t["group_id"].astype(str))
    return sorted(ids)


def stage_history(history: EventHistory, cutoff: pd.Timestamp, weeks: int) -> pd.DataFrame:
    """The lifecycle rule's stage, trend and members present of each group at weekly cutoffs.

    The cutoffs are ``cutoff - 7k`` days for ``k = 0 .. weeks-1`` (the first is the
    report's own cutoff); each is :func:`shequn_ml.features.group_context.compute` on
    the snapshot there, so the stage is exactly the feature the models see.

    Returns
    -------
    DataFrame
        ``group_id``, ``at``, ``stage`` (0/1/2), ``trend``, ``members_present``; a group
        with nobody present at a cutoff has no row for it.
    """
    parts = []
    first = history.ts[0] if len(history.ts) else None
    for k in range(weeks):
        t = cutoff - 7 * k * DAY
        if first is None or t.value <= first:
            break
        snap = history.at(t)
        if snap.n == 0:
            continue
        f = group_context.compute(snap)
        g = pd.DataFrame({"group_id": snap.population["group_id"].astype(str).to_numpy(),
                          "stage": f["group_lifecycle_stage"].to_numpy(),
                          "trend": f["group_activity_trend"].to_numpy(),
                          "members_present": f["group_size"].to_numpy()})
        g = g.drop_duplicates("group_id")
        g.insert(1, "at", t)
        parts.append(g)
    if not parts:
        return pd.DataFrame({"group_id": pd.Series(dtype=object),
                             "at": pd.Series(dtype="datetime64[ns, UTC]"), "stage": pd.Series(dtype=float),
                             "trend": pd.Series(dtype=float), "members_present": pd.Series(dtype=float)})
    return pd.concat(parts, ignore_index=True)


def weekly_activity(events: pd.DataFrame, cutoff: pd.Timestamp, weeks: int) -> pd.DataFrame:
    """Speaking events and distinct speakers of each group per week, the last week ending at the cutoff.

    Week ``k`` (0 = the last) is ``[cutoff - 7(k+1) days, cutoff - 7k days)``; ``week_end``
    is its end. Weeks with no speaking event are rows with zeros.
    """
    speak = events.loc[events["event_type"].isin(list(schema.SPEAKING_EVENT_TYPES))]
    k = ((cutoff - speak["ts"]) / (7 * DAY)).to_numpy(dtype=float)
    k = np.floor(k).astype(np.int64)
    keep = k < weeks
    frame = pd.DataFrame({"group_id": speak["group_id"].astype(str).to_numpy()[keep], "k": k[keep],
                          "member_id": speak["member_id"].astype(str).to_numpy()[keep]})
    counts = frame.groupby(["group_id", "k"]).agg(speaking=("member_id", "size"),
                                                  speakers=("member_id", "nunique"))
    groups = sorted(events["group_id"].astype(str).unique())
    if len(events):  # no week that ends before the community's first event
        weeks = min(weeks, int(np.floor((cutoff - events["ts"].min()) / (7 * DAY))) + 1)
    full = pd.MultiIndex.from_product([groups, range(weeks)], names=["group_id", "k"])
    out = counts.reindex(full, fill_value=0).reset_index()
    out["week_end"] = cutoff - 7 * out["k"].to_numpy() * DAY
    return out


def group_health(events: pd.DataFrame, history: EventHistory, cutoff: pd.Timestamp, groups: list[str],
                 stages: pd.DataFrame, groups_table: pd.DataFrame | None, scores: pd.DataFrame,
                 roles: pd.DataFrame | None) -> pd.DataFrame:
    """One row per group: the groups table's columns when given, else what the events tell.

    Always added when missing: ``share_members_at_risk`` and ``kol_top`` (the
    scores), ``role_share_<role>`` (the roles table), ``speaking_7d`` (the events).
    """
    recent = events.loc[(events["ts"] >= cutoff - SPEAKERS_DAYS * DAY)
                        & events["event_type"].isin(list(schema.SPEAKING_EVENT_TYPES))]
    gid = recent["group_id"].astype(str).to_numpy()
    speakers = pd.Series(recent["member_id"].astype(str).to_numpy()).groupby(gid).nunique()
    last7 = (recent["ts"] >= cutoff - 7 * DAY).to_numpy()
    speaking_7d = pd.Series(gid[last7]).value_counts()
    if groups_table is not None:
        out = groups_table.drop_duplicates("group_id").copy()
        missing = [g for g in groups if g not in set(out["group_id"])]
        if missing:  # a group the events know and the table does not: listed, without its risk
            out = pd.concat([out, pd.DataFrame({"group_id": missing})], ignore_index=True)
    else:
        now = stages.loc[stages["at"] == cutoff].set_index("group_id") if len(stages) else None
        out = pd.DataFrame({"group_id": groups})
        stage = (now["stage"].reindex(groups).to_numpy(dtype=float) if now is not None
                 else np.full(len(groups), np.nan))
        out["lifecycle_stage"] = stage
        out["lifecycle_stage_zh"] = [STAGE_ZH.get(int(s), "") if np.isfinite(s) else "" for s in stage]
        out["lifecycle_stage_en"] = [STAGE_EN.get(int(s), "") if np.isfinite(s) else "" for s in stage]
        out["activity_trend"] = (now["trend"].reindex(groups).to_numpy(dtype=float) if now is not None
                                 else np.nan)
        out["speakers_recent"] = speakers.reindex(groups, fill_value=0).to_numpy(dtype=float)
        out["members_present"] = (now["members_present"].reindex(groups).fillna(0).to_numpy(dtype=float)
                                  if now is not None else 0.0)
    out = out.sort_values("group_id", kind="stable").reset_index(drop=True)
    ids = out["group_id"].to_numpy()
    if "speaking_7d" not in out.columns:
        out["speaking_7d"] = speaking_7d.reindex(ids, fill_value=0).to_numpy(dtype=float)
    if "share_members_at_risk" not in out.columns:
        out["share_members_at_risk"] = at_risk_share(scores).reindex(ids).to_numpy(dtype=float)
    top = kol_candidates(scores, None, 1)
    if len(top):
        label = top.set_index("group_id")["member"]
        out["kol_top"] = label.reindex(ids).fillna("").to_numpy(dtype=object)
    if roles is not None and not any(c.startswith("role_share_") for c in out.columns):
        counts = role_counts(roles)
        shares = counts.div(counts.sum(axis=1).replace(0, np.nan), axis=0)
        for role in ROLES:
            out[f"role_share_{role}"] = shares[role].reindex(ids).to_numpy(dtype=float)
    return out


def member_label(table: pd.DataFrame) -> pd.Series:
    """``nickname (member_id)`` where a nickname is known, else the member id."""
    ids = table["member_id"].astype(str)
    if "nickname" not in table.columns:
        return ids
    nick = table["nickname"].astype(object)
    has = nick.notna() & (nick.astype(str).str.strip() != "")
    return ids.where(~has, nick.astype(str) + " (" + ids + ")")


def contact_lists(scores: pd.DataFrame, contacts: pd.DataFrame | None, n: int) -> pd.DataFrame:
    """The members to reach per group, in order, with what the page shows of each.

    From the contacts table when given (its order: a rank column if it has one),
    else the ``n`` members of each group with the highest silence risk in the
    scores table. Columns: ``group_id``, ``rank``, ``member``, ``tier``,
    ``silence_risk``, ``churn_risk``, ``action_zh``, ``action_en``, ``reasons_zh``,
    ``reasons_en`` (lists).
    """
    if contacts is not None:
        t = contacts.copy()
        rank_col = first_present(t, ("contact_rank", "rank", "rank_in_group", "priority_rank"))
        if rank_col is not None:
            t["_rank"] = pd.to_numeric(t[rank_col], errors="coerce")
        else:
            t["_rank"] = t.groupby("group_id").cumcount() + 1
        t = t.sort_values(["group_id", "_rank"], kind="stable")
        out = pd.DataFrame({"group_id": t["group_id"].to_numpy(), "rank": t["_rank"].to_numpy(dtype=float)})
        out["member"] = member_label(t).to_numpy()
        out["tier"] = _tiers(t)
        for c in ("silence_risk", "churn_risk"):
            out[c] = pd.to_numeric(t[c], errors="coerce").to_numpy(dtype=float) if c in t.columns else np.nan
        for lang in ("zh", "en"):
            col = first_present(t, (f"action_{lang}", f"suggested_action_{lang}", "action",
                                    "suggested_action", "action_kind"))
            out[f"action_{lang}"] = t[col].fillna("").astype(str).to_numpy() if col else ""
            out[f"reasons_{lang}"] = _any_reasons(t, lang)
        return out.reset_index(drop=True)
    s = _scored(scores)
    if "silence_risk" not in s.columns:
        return pd.DataFrame(columns=["group_id", "rank", "member", "tier", "silence_risk", "churn_risk",
                                     "action_zh", "action_en", "reasons_zh", "reasons_en"])
    s = s.assign(_risk=pd.to_numeric(s["silence_risk"], errors="coerce")).dropna(subset=["_risk"])
    s = s.sort_values(["group_id", "_risk", "member_id"], ascending=[True, False, True], kind="stable")
    s = s.groupby("group_id", sort=False).head(n)
    out = pd.DataFrame({"group_id": s["group_id"].to_numpy(),
                        "rank": (s.groupby("group_id", sort=False).cumcount() + 1).to_numpy(dtype=float)})
    out["member"] = member_label(s).to_numpy()
    out["tier"] = _tiers(s)
    out["silence_risk"] = s["_risk"].to_numpy(dtype=float)
    out["churn_risk"] = (pd.to_numeric(s["churn_risk"], errors="coerce").to_numpy(dtype=float)
                         if "churn_risk" in s.columns else np.nan)
    out["action_zh"] = ""
    out["action_en"] = ""
    out["reasons_zh"] = reasons(s, "silence", "zh")
    out["reasons_en"] = reasons(s, "silence", "en")
    return out.reset_index(drop=True)


def _tiers(t: pd.DataFrame) -> list[str]:
    parts = []
    for col, zh in (("silence_tier", "沉默"), ("churn_tier", "流失"), ("tier", "")):
        if col in t.columns:
            parts.append(t[col].astype(object).map(lambda v, zh=zh: f"{zh}{v}" if isinstance(v, str) and v
                                                   else "").to_numpy(dtype=object))
    if not parts:
        return [""] * len(t)
    return [" ".join(x for x in row if x) for row in zip(*parts, strict=True)]


def _any_reasons(t: pd.DataFrame, lang: str) -> list[list[str]]:
    """Reasons of a contacts table in whatever layout it has them."""
    cols = [c for c in t.columns if re.fullmatch(rf"(.*_)?reasons?(_\d+)?_{lang}", str(c))]
    if cols:
        values = t[cols].astype(object).to_numpy()
        return [[str(v).strip() for v in row if isinstance(v, str) and v.strip()] for row in values]
    prefixes = sorted({m.group(1) for c in t.columns if (m := re.fullmatch(r"(.*)_reason_\d+", str(c)))})
    if prefixes:
        per = [reasons(t, p, lang) for p in prefixes]
        return [sum(row, []) for row in zip(*per, strict=True)]
    return [[] for _ in range(len(t))]


def _scored(scores: pd.DataFrame) -> pd.DataFrame:
    return scores.loc[scores["status"] == "scored"] if "status" in scores.columns else scores


def kol_candidates(scores: pd.DataFrame, roles: pd.DataFrame | None, k: int) -> pd.DataFrame:
    """The ``k`` top-ranked 头狼 / KOL candidates of each group, with their reasons (and role).

    Columns: ``group_id``, ``rank``, ``member``, ``kol_score``, ``reasons_zh``,
    ``reasons_en`` and ``role_zh`` (empty without a roles table). Empty when the
    scores have no ``kol_rank_in_group``.
    """
    cols = ["group_id", "rank", "member", "kol_score", "reasons_zh", "reasons_en", "role_zh"]
    if "kol_rank_in_group" not in scores.columns:
        return pd.DataFrame(columns=cols)
    s = _scored(scores)
    rank = pd.to_numeric(s["kol_rank_in_group"], errors="coerce")
    s = s.assign(_rank=rank).loc[rank.notna() & (rank <= k)]
    s = s.sort_values(["group_id", "_rank", "member_id"], kind="stable")
    out = pd.DataFrame({"group_id": s["group_id"].to_numpy(), "rank": s["_rank"].to_numpy(dtype=float),
                        "member": member_label(s).to_numpy()})
    out["kol_score"] = (pd.to_numeric(s["kol_score"], errors="coerce").to_numpy(dtype=float)
                        if "kol_score" in s.columns else np.nan)
    out["reasons_zh"] = reasons(s, "kol", "zh")
    out["reasons_en"] = reasons(s, "kol", "en")
    out["role_zh"] = ""
    if roles is not None:
        col = first_present(roles, ("role_zh_display", "role_zh"))
        if col is None and "role" in roles.columns:
            label = roles["role"].astype(str).map(ROLE_ZH).fillna(roles["role"].astype(str))
        else:
            label = roles[col].astype(str) if col else None
        if label is not None:
            by_key = pd.Series(label.to_numpy(), index=pd.MultiIndex.from_arrays(
                [roles["group_id"], roles["member_id"]]))
            by_key = by_key[~by_key.index.duplicated()]
            keys = pd.MultiIndex.from_arrays([s["group_id"], s["member_id"]])
            out["role_zh"] = by_key.reindex(keys).fillna("").to_numpy(dtype=object)
    return out.reset_index(drop=True)[cols]


def memberships(events: pd.DataFrame, members: pd.DataFrame | None, cutoff: pd.Timestamp) -> Memberships:
    """The first membership spell of each (group, member) before the cutoff, for retention curves.

    A spell starts at the earliest of the member's first ``join`` event and their
    ``joined_at`` (members table), or, with neither, at their first event of any kind;
    it ends at their first ``leave`` or ``removed`` event at or after the start, or is
    *censored* at the cutoff when there is none (still present). A re-join after an
    exit is not counted as a new spell.

    Parameters
    ----------
    events : DataFrame
        Events before the cutoff (:func:`before`).
    members : DataFrame, optional
        Normalised members table (``joined_at``).
    cutoff : Timestamp

    Returns
    -------
    Memberships
    """
    key = ["group_id", "member_id"]
    ev = events[["group_id", "member_id", "ts", "event_type"]]
    first_any = _first_ts(ev)
    first_join = _first_ts(ev.loc[(ev["event_type"] == "join").to_numpy()]).reindex(first_any.index)
    start = first_join
    if members is not None and "joined_at" in members.columns:
        m = members.loc[members["joined_at"].notna() & (members["joined_at"] < cutoff)]
        joined = pd.Series(m["joined_at"].to_numpy(), index=pd.MultiIndex.from_arrays(
            [m["group_id"].astype(str).to_numpy(), m["member_id"].astype(str).to_numpy()], names=key))
        joined = joined.groupby(level=[0, 1]).min()
        index = first_any.index.union(joined.index)
        first_any = first_any.reindex(index)
        start = pd.concat([first_join.reindex(index), joined.reindex(index)], axis=1).min(axis=1)
    known = start.notna()
    entry = start.where(known, first_any)
    exits = ev.loc[ev["event_type"].isin(list(schema.EXIT_EVENT_TYPES)).to_numpy()]
    exits = pd.DataFrame({"group_id": exits["group_id"].astype(str).to_numpy(),
                          "member_id": exits["member_id"].astype(str).to_numpy(), "ts": exits["ts"].array})
    exits = exits.join(entry.rename("entry"), on=key)
    exits = exits.loc[exits["ts"] >= exits["entry"]]
    first_exit = exits.groupby(key)["ts"].min().reindex(entry.index)
    table = pd.DataFrame({"entry": entry, "exit": first_exit})
    # an unknown start whose first event is the exit itself: the spell's length is not known
    unknown = (~known) & (table["exit"] == table["entry"])
    table = table.loc[~unknown.to_numpy()].reset_index()
    end = table["exit"].fillna(cutoff)
    table["duration_days"] = (end - table["entry"]) / DAY
    table["observed"] = table["exit"].notna()
    table["cohort"] = table["entry"].dt.tz_convert("UTC").dt.strftime("%Y-%m")
    return Memberships(table=table, dropped=int(unknown.sum()))


def _first_ts(events: pd.DataFrame) -> pd.Series:
    """The earliest ``ts`` of each (group, member), indexed by their ids as text."""
    first = events.groupby(["group_id", "member_id"], observed=True, sort=False)["ts"].min().reset_index()
    index = pd.MultiIndex.from_arrays([first["group_id"].astype(str).to_numpy(),
                                       first["member_id"].astype(str).to_numpy()],
                                      names=["group_id", "member_id"])
    return pd.Series(first["ts"].array, index=index, name="ts").sort_index()


#: Two-sided 95% normal quantile of the confidence band.
Z95 = 1.959963984540054


@dataclass
class Curve:
    """One Kaplan-Meier curve: its label, the estimate and its summary numbers.

    ``table`` is indexed by the timeline (0 and every distinct duration, in days)
    with ``survival`` (the share still in the group after that many days), ``lower``
    and ``upper`` (95% band, exponential Greenwood), ``at_risk`` and ``exits``.
    """

    label: str
    table: pd.DataFrame
    n: int
    exits: int
    at: dict[int, float]
    median_days: float


def kaplan_meier(durations: np.ndarray, observed: np.ndarray) -> pd.DataFrame:
    """The Kaplan-Meier (product-limit) estimate with its exponential Greenwood 95% band.

    ``S(t) = prod over exit times t_i <= t of (1 - d_i / n_i)``, with ``d_i`` exits at
    ``t_i`` and ``n_i`` memberships still followed at ``t_i`` (duration >= t_i); the band is
    ``exp(-exp(log(-log S) -/+ z sqrt(V) / log S))`` with Greenwood's
    ``V = sum d_i / (n_i (n_i - d_i))`` (a time where everyone left adds nothing to V).
    These are the formulas of lifelines' ``KaplanMeierFitter`` (whose release pins
    pandas below 3, which this library is past); on the sample's memberships the two
    agreed to 1e-12 when checked.

    >>> kaplan_meier(np.array([2.0, 3, 3, 5]), np.array([True, True, False, True]))["survival"].tolist()
    [1.0, 0.75, 0.5, 0.0]
    """
    d = np.asarray(durations, dtype=float)
    e = np.asarray(observed, dtype=bool)
    times, inverse = np.unique(d, return_inverse=True)
    exits = np.bincount(inverse, weights=e, minlength=len(times))
    leaving = np.bincount(inverse, minlength=len(times)).astype(float)  # exits and censored
    at_risk = len(d) - np.r_[0.0, np.cumsum(leaving)[:-1]]
    if not len(times) or times[0] != 0:  # the timeline starts at 0, where everyone is in
        times, exits, at_risk = np.r_[0.0, times], np.r_[0.0, exits], np.r_[float(len(d)), at_risk]
    with np.errstate(divide="ignore", invalid="ignore"):
        survival = np.cumprod(1.0 - exits / np.where(at_risk > 0, at_risk, 1.0))
        step = np.where(at_risk > exits, exits / (at_risk * (at_risk - exits)), 0.0)
        se = np.sqrt(np.cumsum(step))
        v = np.log(survival)
        lower = np.exp(-np.exp(np.log(-v) - Z95 * se / v))
        upper = np.exp(-np.exp(np.log(-v) + Z95 * se / v))
    table = pd.DataFrame({"survival": survival, "lower": np.nan_to_num(lower, nan=1.0),
                          "upper": np.nan_to_num(upper, nan=1.0), "at_risk": at_risk, "exits": exits},
                         index=pd.Index(times, name="days"))
    return table


def km_curve(durations: np.ndarray, observed: np.ndarray, label: str) -> Curve:
    """Kaplan-Meier estimate of staying in the group (:func:`kaplan_meier`), with its summary.

    ``at[d]`` is the estimated share still in the group after ``d`` days, NaN when no
    membership of the stratum has been followed for ``d`` days (no extrapolation);
    ``median_days`` is the first time the share is at most one half (up to rounding), inf when more
    than half are still in at the longest follow-up. Durations are counted in whole
    days, rounded up (a leave on the first day is at day 1).

    >>> c = km_curve(np.array([10.0, 20, 40, 100]), np.array([True, False, True, False]), "x")
    >>> round(c.at[30], 3), c.n, c.exits, c.median_days
    (0.75, 4, 2, 40.0)
    """
    d = np.ceil(np.asarray(durations, dtype=float))
    e = np.asarray(observed, dtype=bool)
    table = kaplan_meier(d, e)
    sf = table["survival"]
    longest = float(d.max()) if len(d) else 0.0
    at = {days: (float(sf.loc[:days].iloc[-1]) if days <= longest else float("nan")) for days in SURVIVAL_AT}
    half = sf.index[(sf <= 0.5 + 1e-12).to_numpy()]  # a product that is one half up to rounding counts
    return Curve(label=label, table=table, n=len(d), exits=int(e.sum()), at=at,
                 median_days=float(half[0]) if len(half) else float("inf"))


def km_by(table: pd.DataFrame, column: str, labels: list[str] | None = None) -> list[Curve]:
    """One :func:`km_curve` per value of ``column`` (in ``labels`` order, else sorted)."""
    out = []
    groups = dict(tuple(table.groupby(column, sort=True)))
    for label in labels if labels is not None else sorted(groups):
        part = groups.get(label)
        if part is None or not len(part):
            continue
        out.append(km_curve(part["duration_days"].to_numpy(), part["observed"].to_numpy(), str(label)))
    return out


def risk_order(health: pd.DataFrame) -> list[str]:
    """Groups, riskiest first: by group risk, else share of members at risk, else stage and trend."""
    t = health.copy()
    keys, asc = [], []
    for col, ascending in (("group_risk", False), ("share_members_at_risk", False),
                           ("lifecycle_stage", False), ("activity_trend", True)):
        if col in t.columns and pd.to_numeric(t[col], errors="coerce").notna().any():
            t[f"_{col}"] = pd.to_numeric(t[col], errors="coerce")
            keys.append(f"_{col}")
            asc.append(ascending)
    t = t.sort_values(keys + ["group_id"], ascending=asc + [True], na_position="last", kind="stable")
    return t["group_id"].tolist()
