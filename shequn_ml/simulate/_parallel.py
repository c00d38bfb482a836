"""Worker side of ``simulate(n_jobs=...)``: groups simulated in other processes.

Kept apart from :mod:`~shequn_ml.simulate._run` so that a worker imports numpy
and the dynamics only, not the Parquet writer.
"""

from __future__ import annotations

import numpy as np

from shequn_ml.simulate._dynamics import GroupResult, simulate_group
from shequn_ml.simulate._world import World

_WORKER: tuple[World, list[np.random.SeedSequence]] | None = None


def init_worker(world: World, seeds: list[np.random.SeedSequence]) -> None:
    """Keep the world and the groups' seeds in the worker, once."""
    global _WORKER
    _WORKER = (world, seeds)
    # one BLAS thread per worker: the workers already fill the cores, and spinning
    # BLAS threads on an oversubscribed machine slow everything down
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def simulate_one(g: int) -> GroupResult:
    """Simulate group ``g`` with its own seed."""
    if _WORKER is None:  # pragma: no cover - the pool's initializer always runs first
        raise RuntimeError("worker not initialised")
    world, seeds = _WORKER
    return simulate_group(world, g, np.random.default_rng(seeds[g]))
