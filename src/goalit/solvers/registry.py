"""One registry of algorithms: name -> function(game, rng, **options) -> SolveResult.

Registering is explicit and per-registry (no import-time globals shared between simulations beyond
this read-only table of built-ins); ``ALGORITHMS`` lists the names in presentation order. Other
packages add algorithms through the entry-point group ``goalit.algorithms`` (:mod:`goalit.plugins`);
``get_solver`` and ``algorithm_names`` see them after the built-ins.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import numpy as np

import goalit.plugins as plugins
from goalit.errors import GoalitInputError
from goalit.game.model import Game
from goalit.solvers import baselines
from goalit.solvers.contract import Options, Traits, parse_options, traits_of
from goalit.solvers.equilibrium import GoalitOptions, RefinedOptions, solve_goalit, solve_goalit_refined
from goalit.solvers.optimum import OptimumOptions, solve_optimum
from goalit.solvers.otgah import OtGahOptions, solve_otgah
from goalit.solvers.result import SolveResult

Solver = Callable[..., SolveResult]

__all__ = ["ALGORITHMS", "REGISTRY", "Algorithm", "get_solver", "solve_goalit", "solve_goalit_refined"]


class Algorithm:
    """A registry entry: ``name``, ``solve(game, rng, options) -> SolveResult``, its options type and traits.

    Calling the entry as ``entry(game, rng, **options)`` parses the keyword options into the typed
    options (an unknown or misspelt one is a one-line :class:`GoalitInputError` naming it) and solves.
    """

    def __init__(self, name: str, solve: Callable[..., SolveResult], options: type[Options]) -> None:
        self.name = name
        self.solve = solve
        self.options = options
        self.__doc__ = solve.__doc__

    @property
    def traits(self) -> Traits:
        return traits_of(self.name)

    def parse(self, options: dict[str, Any]) -> Options:
        """The typed options of keyword ``options`` (one-line error naming an unknown one)."""
        return parse_options(self.name, self.options, options)

    def __call__(self, game: Game, rng: np.random.Generator, **options: Any) -> SolveResult:
        return self.solve(game, rng, self.parse(options))

    def __repr__(self) -> str:
        return f"Algorithm({self.name!r}, {self.options.__name__})"


REGISTRY: dict[str, Algorithm] = {
    a.name: a
    for a in (
        Algorithm("goalit", solve_goalit, GoalitOptions),
        Algorithm("ot-gah", solve_otgah, OtGahOptions),
        Algorithm("optimum", solve_optimum, OptimumOptions),
        Algorithm("local", baselines.solve_local, baselines.NoOptions),
        Algorithm("nearest-fp16", baselines.solve_nearest_fp16, baselines.Fp16Options),
        Algorithm("nearest-q4", baselines.solve_nearest_q4, baselines.Q4Options),
        Algorithm("random", baselines.solve_random, baselines.NoOptions),
        Algorithm("least-loaded", baselines.solve_least_loaded, baselines.Q4Options),
        Algorithm("greedy", baselines.solve_greedy, baselines.GreedyOptions),
        Algorithm("goalit-refined", solve_goalit_refined, RefinedOptions),
    )
}
ALGORITHMS: tuple[str, ...] = tuple(REGISTRY)


def accepts(name: str, option: str) -> bool:
    """Whether built-in algorithm ``name`` has option ``option`` (False for plug-ins)."""
    import dataclasses

    entry = REGISTRY.get(name)
    return entry is not None and option in {f.name for f in dataclasses.fields(entry.options)}


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
    # cast: a plug-in's entry point is loaded untyped (Any); it is callable (checked above), and returning
    # a SolveResult is the plug-in solver contract (docs), which no static check can see
    return cast(Solver, obj)
