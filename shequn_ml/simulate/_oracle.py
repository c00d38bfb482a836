"""The oracle: the best any model could do, from the rates that generated the data.

A model sees events; the oracle sees the *true* daily speaking intensity
``lambda[d]`` and exit hazard ``h[d]`` of every member (``truth_daily.parquet``).
For a member present at the cutoff ``c`` (midnight of day ``d0``) and a window of
``h`` days (days ``d0 .. d0+h-1``, i.e. events in ``(c, c + h]``):

- ``p_silence = exp(-sum lambda)``: no speaking event in the window, for a member
  who stays through it (the silence label of a member still in the group);
- ``p_churn = 1 - exp(-sum h)``: leaves, is removed, or does not renew. A renewal
  falling due inside the window is in ``h`` already: on an expiry day the
  simulator adds ``-log P(renew)`` to that day's hazard;
- ``p_silent_or_gone``: no speaking event in the window counting an exit as
  silence from then on, ``sum_k S_k e^{-lambda_k} (1 - e^{-h_k}) + S_h`` where
  ``S_k = exp(-sum_{j<k} (lambda_j + h_j))``;
- ``expected_replies``: replies and answers the member can expect to receive,
  ``sum_k P(present on day k) * reply_weight * lambda_k * reply_norm[group, k]``;
- ``leadership``: the latent 头狼 trait in [0, 1] that drives replies received,
  invitees' retention, organising and the harm a leader's exit does.

These are exact given the simulator's rates because a member's rates never
depend on their own draws. They *do* use the future paths of other members (a
partner who will leave next week raises the member's hazard next week), which is
what makes the oracle an upper reference, not a model.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from shequn_ml.simulate._config import SimulationConfig
from shequn_ml.simulate._writer import FILES


@dataclass
class SimulationTruth:
    """The ground truth of one simulated world.

    Attributes
    ----------
    path : Path
        The simulation's folder.
    config : SimulationConfig
        The configuration it was made with.
    members : DataFrame
        One row per membership (``truth_members.parquet``): ``membership`` (row
        number, the key of the daily table), ``group_id``, ``member_id``, ``role``,
        ``activity``, ``benefit_sensitivity``, ``benefit_only``, ``spammer``,
        ``leadership``, ``reply_weight``, ``owner``, ``opinion_leader``,
        ``founding``, ``join_day``, ``exit_day``, ``exit_cause``.
    groups : DataFrame
        One row per group: kind, platform, management, leader, ritual, terms.
    group_days : DataFrame
        One row per group and day since creation: ``vitality``, ``n_present``,
        ``reply_norm`` and the count of each intervention.
    """

    path: Path
    config: SimulationConfig
    members: pd.DataFrame
    groups: pd.DataFrame
    group_days: pd.DataFrame

    @property
    def start(self) -> pd.Timestamp:
        """Midnight (UTC) opening day 0."""
        return pd.Timestamp(self.config.start, tz="UTC")

    def day_of(self, ts: str | dt.date | pd.Timestamp) -> int:
        """Day index of a UTC-midnight timestamp; raises ValueError if not a midnight."""
        t = pd.Timestamp(ts)
        t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
        if t != t.normalize():
            raise ValueError(f"cutoff {ts!r} must be a UTC midnight (the simulator's days "
                             f"start at 00:00 UTC); got {t}")
        return int((t - self.start) / pd.Timedelta(days=1))

    def daily(self, first_day: int = 0, end_day: int | None = None) -> pd.DataFrame:
        """True rates for days ``first_day <= day < end_day``.

        Returns
        -------
        DataFrame
            ``membership``, ``day``, ``speak`` (expected speaking events, as the
            intensity of "said anything that day": P(silent) = exp(-speak)) and
            ``exit`` (hazard of leaving that day), sorted by membership and day.
            Join ``membership`` to :attr:`members` for the ids.
        """
        end = self.config.days if end_day is None else end_day
        table = pq.read_table(self.path / FILES["truth_daily"],
                              filters=[("day", ">=", first_day), ("day", "<", end)])
        return table.to_pandas()


def load_truth(truth_dir: str | os.PathLike[str]) -> SimulationTruth:
    """Load the ground truth written by :func:`~shequn_ml.simulate.simulate`.

    Parameters
    ----------
    truth_dir : path
        The folder given to ``simulate``.

    Returns
    -------
    SimulationTruth
        Traits and group histories in memory; daily rates on demand.

    Raises
    ------
    FileNotFoundError
        If the folder holds no ``simulation.json``.
    """
    path = Path(truth_dir)
    meta_path = path / FILES["meta"]
    if not meta_path.exists():
        raise FileNotFoundError(
            f"{path} holds no {FILES['meta']}: it is not the output folder of simulate() "
            "(make one with `shequn-ml simulate ... --out DIR`)")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    return SimulationTruth(
        path=path,
        config=SimulationConfig.model_validate(meta["config"]),
        members=pq.read_table(path / FILES["truth_members"]).to_pandas(),
        groups=pq.read_table(path / FILES["truth_groups"]).to_pandas(),
        group_days=pq.read_table(path / FILES["truth_group_days"]).to_pandas(),
    )


def oracle(truth_dir: str | os.PathLike[str] | SimulationTruth,
           cutoff: str | dt.date | pd.Timestamp, horizon_days: int) -> pd.DataFrame:
    """True probabilities of silence and churn after a cutoff, and true influence.

    Parameters
    ----------
    truth_dir : path or SimulationTruth
        A simulation's folder, or its truth already loaded.
    cutoff : str, date or Timestamp
        A UTC midnight inside the simulated period; naive times are taken as UTC.
        Required: there is no default "today".
    horizon_days : int
        Window length; the window is ``(cutoff, cutoff + horizon_days]`` and must
        end by the last simulated day.

    Returns
    -------
    DataFrame
        One row per membership present at the cutoff (joined before it, not gone
        before it), sorted by ``group_id`` then ``member_id``: ``group_id``,
        ``member_id``, ``p_silence``, ``p_churn``, ``p_silent_or_gone``,
        ``leadership``, ``expected_replies``. See the module docstring for each.

    Raises
    ------
    ValueError
        If the cutoff is not a midnight, or the window leaves the simulated period.

    Examples
    --------
    >>> import tempfile
    >>> from shequn_ml.simulate import SimulationConfig, simulate, oracle
    >>> out = tempfile.mkdtemp()
    >>> _ = simulate(SimulationConfig(n_members=200, n_groups=3, days=60, seed=1), out)
    >>> probs = oracle(out, cutoff="2024-02-01", horizon_days=14)
    >>> list(probs.columns)[:4]
    ['group_id', 'member_id', 'p_silence', 'p_churn']
    >>> bool(probs["p_churn"].between(0, 1).all())
    True
    """
    truth = truth_dir if isinstance(truth_dir, SimulationTruth) else load_truth(truth_dir)
    h = int(horizon_days)
    d0 = truth.day_of(cutoff)
    if h < 1:
        raise ValueError(f"horizon_days must be >= 1; got {horizon_days}")
    if d0 < 1 or d0 + h > truth.config.days:
        last = truth.start + pd.Timedelta(days=truth.config.days)
        raise ValueError(
            f"the window ({cutoff}, +{h} days] must lie inside the simulated period "
            f"({truth.start.date()} to {last.date()}): use a cutoff from "
            f"{(truth.start + pd.Timedelta(days=1)).date()} to "
            f"{(last - pd.Timedelta(days=h)).date()}")
    mem = truth.members
    exit_day = mem["exit_day"].astype("float64").to_numpy()
    present = ((mem["join_day"].to_numpy() < d0)
               & (np.isnan(exit_day) | (exit_day >= d0)))
    daily = truth.daily(d0, d0 + h)
    rows = daily["membership"].to_numpy()
    keep = present[rows]
    ids = np.flatnonzero(present)
    lam = daily["speak"].to_numpy(np.float64)[keep].reshape(len(ids), h)
    haz = daily["exit"].to_numpy(np.float64)[keep].reshape(len(ids), h)
    if not np.array_equal(rows[keep].reshape(len(ids), h)[:, 0], ids):  # pragma: no cover
        raise RuntimeError("truth_daily is not sorted by membership and day")

    both = lam + haz
    before = np.cumsum(both, axis=1) - both  # hazard of every kind before day k
    p_gone_quiet = (np.exp(-before - lam) * -np.expm1(-haz)).sum(axis=1) \
        + np.exp(-both.sum(axis=1))
    alive = np.exp(-(np.cumsum(haz, axis=1) - haz))  # P(still present on day k)

    gd = truth.group_days
    groups = pd.Categorical(gd["group_id"], categories=truth.groups["group_id"])
    norm = np.zeros((len(truth.groups), truth.config.days))
    norm[groups.codes, gd["day"].to_numpy()] = gd["reply_norm"].to_numpy()
    g_of = pd.Categorical(mem["group_id"], categories=truth.groups["group_id"]).codes[ids]
    q = norm[g_of][:, d0:d0 + h]
    weight = mem["reply_weight"].to_numpy()[ids]
    sub = mem.iloc[ids]
    return pd.DataFrame({
        "group_id": sub["group_id"].to_numpy(),
        "member_id": sub["member_id"].to_numpy(),
        "p_silence": np.exp(-lam.sum(axis=1)),
        "p_churn": -np.expm1(-haz.sum(axis=1)),
        "p_silent_or_gone": p_gone_quiet,
        "leadership": sub["leadership"].to_numpy(),
        "expected_replies": weight * (alive * lam * q).sum(axis=1),
    })
