"""Run every registry algorithm on one game and relate their social costs to the optimum's."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from goalit.game.model import Game
from goalit.rng import stream
from goalit.solvers.registry import get_solver, solver_names
from goalit.solvers.result import SolveResult


@dataclass
class Comparison:
    """One result per algorithm (registry order), the price of anarchy of GOALIT's equilibrium and the
    price of stability estimated by ``goalit-refined`` (the cheapest equilibrium it found; None when not
    run)."""

    results: list[SolveResult]
    optimum_cost: float
    optimum_status: str
    poa: float  # S(GOALIT) / S(optimum)
    pos: float | None = None  # S(goalit-refined) / S(optimum): an upper estimate of the price of stability

    def ratio(self, algorithm: str) -> float:
        """S(algorithm) / S(optimum) (>= 1 when the optimum is proven)."""
        res = next(r for r in self.results if r.algorithm == algorithm)
        return res.metrics.social_cost / self.optimum_cost


def compare(
    game: Game,
    seed: int = 0,
    algorithms: list[str] | None = None,
    options: dict[str, dict[str, Any]] | None = None,
) -> Comparison:
    """Solve ``game`` with each algorithm (default: the registry and plug-in solvers); each gets a fresh
    ``algorithm`` stream of ``seed``. ``options[name]`` holds keyword options of algorithm ``name``.
    """
    names = list(solver_names()) if algorithms is None else list(algorithms)
    for required in ("goalit", "optimum"):
        if required not in names:
            names.append(required)
    options = options or {}
    results = [get_solver(n)(game, stream(seed, "algorithm"), **options.get(n, {})) for n in names]
    by = {r.algorithm: r for r in results}
    opt = by["optimum"]
    opt_cost = opt.metrics.social_cost
    poa = by["goalit"].metrics.social_cost / opt_cost if opt_cost > 0 else math.nan
    ref = by.get("goalit-refined")
    pos = None if ref is None or opt_cost <= 0 else ref.metrics.social_cost / opt_cost
    return Comparison(results, opt_cost, str(opt.extras.get("milp_status")), poa, pos)
