"""One registry of algorithms: name -> function(game, rng, **options) -> SolveResult.

Registering is explicit and per-registry (no import-time globals shared between simulations beyond
this read-only table of built-ins); ``ALGORITHMS`` lists the names in presentation order.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from goalit.game.goalit import goalit
from goalit.game.model import Game
from goalit.solvers import baselines
from goalit.solvers.optimum import solve_optimum
from goalit.solvers.otgah import solve_otgah
from goalit.solvers.result import SolveResult

Solver = Callable[..., SolveResult]


def solve_goalit(game: Game, rng: np.random.Generator, **options: Any) -> SolveResult:
    """GOALIT (spec B.9). Options: ``initial``, ``grant``, ``epsilon``, ``max_slots``."""
    t0 = time.perf_counter()
    tr = goalit(game, rng, **options)
    runtime = time.perf_counter() - t0
    res = SolveResult.of(
        game,
        "goalit",
        tr.profile,
        converged=tr.converged,
        slots=tr.slots,
        updates=tr.updates,
        messages=tr.messages,
        runtime_s=runtime,
        potential_trace=tr.potential,
        extras={"grant": options.get("grant", "parallel"), "cycled": tr.cycled},
    )
    if "epsilon" in options and options["epsilon"] is not None:
        res.epsilon = float(options["epsilon"])
    return res


REGISTRY: dict[str, Solver] = {
    "goalit": solve_goalit,
    "ot-gah": solve_otgah,
    "optimum": solve_optimum,
    "local": baselines.solve_local,
    "nearest-fp16": baselines.solve_nearest_fp16,
    "nearest-q4": baselines.solve_nearest_q4,
    "random": baselines.solve_random,
    "least-loaded": baselines.solve_least_loaded,
    "greedy": baselines.solve_greedy,
}
ALGORITHMS: tuple[str, ...] = tuple(REGISTRY)


def get_solver(name: str) -> Solver:
    """The solver registered as ``name``."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown algorithm {name!r} (expected one of: {', '.join(REGISTRY)})") from None
