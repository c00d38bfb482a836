"""A seeded community simulator with ground truth (社群模拟器).

The simulator writes a world of WeChat and QQ groups in the event contract
(:mod:`shequn_ml.schema`), plus the truth no real data set has: every member's
latent traits and their true daily speaking intensity and exit hazard. From
those, :func:`oracle` gives the best possible silence and churn probabilities and
the true influence for any cutoff and horizon, the reference that models are
scored against.

Public API
----------
SimulationConfig
    The world's size, seed and mechanisms (each with a knob that removes it).
SimulationError
    The configured world cannot be built (a ValueError).
simulate(config, out_dir, progress=False)
    Write ``events.parquet``, ``members.parquet``, ``groups.parquet``,
    ``truth_*.parquet`` and ``simulation.json``; returns a :class:`SimulationSummary`.
oracle(out_dir, cutoff, horizon_days)
    True ``p_silence``, ``p_churn``, ``leadership`` (and more) per member
    present at the cutoff.
load_truth(out_dir)
    The ground-truth tables as a :class:`SimulationTruth`.

Examples
--------
>>> import tempfile
>>> from shequn_ml.simulate import SimulationConfig, simulate, oracle
>>> out = tempfile.mkdtemp()
>>> summary = simulate(SimulationConfig(n_members=300, n_groups=4, days=60, seed=7), out)
>>> probs = oracle(out, cutoff="2024-02-01", horizon_days=14)
>>> bool(probs["p_silence"].between(0, 1).all())
True

See ``docs/simulator.md`` for the world, every mechanism and the measured speed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from shequn_ml.simulate._config import SimulationConfig, SimulationError

if TYPE_CHECKING:
    from shequn_ml.simulate._oracle import SimulationTruth, load_truth, oracle
    from shequn_ml.simulate._run import SimulationSummary, simulate

# Loaded on first use, so that the worker processes of ``simulate(n_jobs=2)``,
# which only need numpy, do not spend seconds importing pandas and pyarrow.
_LAZY = {"SimulationTruth": "_oracle", "load_truth": "_oracle", "oracle": "_oracle",
         "SimulationSummary": "_run", "simulate": "_run"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "SimulationConfig",
    "SimulationError",
    "SimulationSummary",
    "SimulationTruth",
    "load_truth",
    "oracle",
    "simulate",
]
