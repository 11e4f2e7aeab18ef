"""One registry of algorithms: name -> function(game, rng, **options) -> SolveResult.

Registering is explicit and per-registry (no import-time globals shared between simulations beyond
this read-only table of built-ins); ``ALGORITHMS`` lists the names in presentation order. Other
packages add algorithms through the entry-point group ``goalit.algorithms`` (:mod:`goalit.plugins`);
``get_solver`` and ``algorithm_names`` see them after the built-ins.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from goalit import plugins
from goalit.errors import GoalitInputError
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


def algorithm_names() -> tuple[str, ...]:
    """The built-in algorithms, then the plug-ins' names (solvers and simulator policies, sorted)."""
    return ALGORITHMS + tuple(n for n in plugins.plugins() if n not in REGISTRY)


def solver_names() -> tuple[str, ...]:
    """The names ``get_solver`` accepts: built-ins, then plug-in solvers (imports every plug-in)."""
    return ALGORITHMS + tuple(
        n for n in plugins.plugins() if n not in REGISTRY and not plugins.is_policy_class(plugins.load(n))
    )


def unknown_algorithm(name: str, known: tuple[str, ...] | None = None, what: str = "algorithm") -> str:
    """One line naming an unknown ``name``, the closest known one and where the list is."""
    import difflib

    known = algorithm_names() if known is None else known
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown {what} {name!r} ({hint}known: {', '.join(known)}; see goalit algorithms)"


def get_solver(name: str) -> Solver:
    """The solver registered as ``name``: a built-in, else a plug-in solver (one-line error otherwise)."""
    if name in REGISTRY:
        return REGISTRY[name]
    if name not in plugins.plugins():
        raise GoalitInputError(unknown_algorithm(name))
    obj = plugins.load(name)
    if plugins.is_policy_class(obj):
        raise GoalitInputError(
            f"algorithm {name!r} is a simulator policy (plug-in from {plugins.plugins()[name].distribution}): "
            "it runs in simulate and reproduce, not on a static game"
        )
    if not callable(obj):
        raise GoalitInputError(
            f"plug-in {name!r} is neither a solver function nor a Policy class ({type(obj).__name__})"
        )
    return obj
