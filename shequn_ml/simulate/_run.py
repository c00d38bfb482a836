"""``simulate``: build the world, live every group, write the files."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from shequn_ml.simulate._config import SimulationConfig
from shequn_ml.simulate._dynamics import GroupResult, _start_ms, simulate_group
from shequn_ml.simulate._parallel import init_worker, simulate_one
from shequn_ml.simulate._world import World, build_world
from shequn_ml.simulate._writer import FILES, OutputWriter, write_meta

#: Version of the output layout, stored in simulation.json.
FORMAT_VERSION = 1


@dataclass(frozen=True)
class SimulationSummary:
    """What :func:`simulate` wrote.

    Attributes
    ----------
    out_dir : Path
        The folder holding the files.
    n_events, n_members, n_memberships, n_groups : int
        Rows of events; distinct members; member-group rows; groups.
    paths : dict of str to Path
        Each file by role: ``events``, ``members``, ``groups``, ``truth_members``,
        ``truth_daily``, ``truth_groups``, ``truth_group_days``, ``meta``.
    """

    out_dir: Path
    n_events: int
    n_members: int
    n_memberships: int
    n_groups: int
    days: int
    seed: int
    paths: dict[str, Path] = field(repr=False)

    def __str__(self) -> str:
        size = sum(p.stat().st_size for p in self.paths.values() if p.exists())
        return (f"simulated {self.n_events:,} events from {self.n_members:,} members "
                f"({self.n_memberships:,} memberships) in {self.n_groups:,} groups over "
                f"{self.days} days (seed {self.seed}) -> {self.out_dir} "
                f"({size / 1e6:.1f} MB)")


def simulate(config: SimulationConfig, out_dir: str | os.PathLike[str], *,
             progress: bool = False, n_jobs: int = 1,
             spill_events: int = 2_000_000) -> SimulationSummary:
    """Simulate a community and write its events and ground truth as Parquet.

    The world is drawn from ``config.seed``; then every group is simulated on its
    own random stream (a :class:`numpy.random.SeedSequence` child per group), so
    the output depends on the seed and the configuration only: the same inputs
    give byte-identical files, whatever ``n_jobs`` and ``spill_events`` are.

    Parameters
    ----------
    config : SimulationConfig
        Size, seed and world parameters.
    out_dir : path
        Folder to write to (created if missing). Files of an earlier run with the
        same names are replaced, each only once its new version is complete.
    progress : bool, default False
        Show a progress bar over groups.
    n_jobs : int, default 1
        Processes simulating groups in parallel (-1: one per CPU). Only for worlds
        of millions of events on free cores: each worker takes about a second to
        start and every group's result is sent back to this process.
    spill_events : int, default 2,000,000
        Events held in memory before they are sorted and spilled to scratch files;
        bounds memory at roughly 40 bytes times this, plus one week of events.

    Returns
    -------
    SimulationSummary
        Counts and the paths of the files written.

    Notes
    -----
    Files written (see ``docs/simulator.md`` for every column):

    - ``events.parquet``: the event contract, sorted by ``(ts, event_id)``;
    - ``members.parquet``, ``groups.parquet``: the optional contract tables.
      ``members.expires_at`` is the *final* expiry, so it reveals whether a paid
      member renewed: a feature must not read it as of an earlier cutoff;
    - ``truth_members.parquet``: each membership's latent traits and fate;
    - ``truth_daily.parquet``: each membership's true speaking intensity and exit
      hazard for every day after joining (float32), read by :func:`oracle`;
    - ``truth_groups.parquet``, ``truth_group_days.parquet``: each group's
      settings and its daily vitality, size and interventions;
    - ``simulation.json``: the configuration and the counts.

    Examples
    --------
    >>> import tempfile
    >>> from shequn_ml.simulate import SimulationConfig, simulate
    >>> cfg = SimulationConfig(n_members=200, n_groups=3, days=30, seed=1)
    >>> summary = simulate(cfg, tempfile.mkdtemp())
    >>> summary.n_members, summary.n_groups
    (200, 3)
    """
    if not isinstance(config, SimulationConfig):
        raise TypeError(f"config must be a SimulationConfig; got {type(config).__name__}")
    if n_jobs == -1:
        n_jobs = os.cpu_count() or 1
    if n_jobs < 1:
        raise ValueError(f"n_jobs must be >= 1 or -1 (one per CPU); got {n_jobs}")
    out = Path(out_dir)
    root = np.random.SeedSequence(config.seed)
    world_seed, groups_seed = root.spawn(2)
    # The world first: a world that cannot be built (SimulationError) leaves no folder behind.
    world = build_world(config, np.random.default_rng(world_seed))
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".simulate-", dir=out))
    try:
        writer = OutputWriter(work, world, spill_events)
        groups = _simulate_groups(world, groups_seed.spawn(config.n_groups), n_jobs)
        for result in tqdm(groups, total=config.n_groups, disable=not progress,
                           desc="groups", unit="group"):
            writer.add(result)
        paths = writer.finish(_start_ms(world))
        n_members = int(len(np.unique(world.slot_member)))
        counts = {"n_events": writer.events.n_events, "n_members": n_members,
                  "n_memberships": writer.n_memberships, "n_groups": world.n_groups}
        write_meta(paths["meta"], {
            "format_version": FORMAT_VERSION, "config": config.model_dump(mode="json"),
            "counts": counts, "files": FILES})
        final = {}
        for role, path in paths.items():
            final[role] = out / path.name
            os.replace(path, final[role])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return SimulationSummary(out_dir=out, days=config.days, seed=config.seed, paths=final,
                             **counts)



def _simulate_groups(world: World, seeds: list[np.random.SeedSequence],
                     n_jobs: int) -> Iterator[GroupResult]:
    """Every group's result, in group order, from this process or a pool."""
    if n_jobs == 1 or len(seeds) == 1:
        for g, seed in enumerate(seeds):
            yield simulate_group(world, g, np.random.default_rng(seed))
        return
    ctx = multiprocessing.get_context("spawn")  # no fork: safe beside Arrow's threads
    with ctx.Pool(min(n_jobs, len(seeds)), initializer=init_worker,
                  initargs=(world, seeds)) as pool:
        yield from pool.imap(simulate_one, range(len(seeds)))
