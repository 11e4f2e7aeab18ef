"""``optimum`` per decision: the social optimum of the decision game (players on the background load).

A decision usually has one to a few players: then the optimum is found by exact enumeration (one
player: its cheapest allowed action, priced on Python floats by :func:`goalit.game.refine.single_player_costs`)
(:func:`goalit.solvers.optimum_enum.enumerate_optimum`) and only the profile is computed, not the
static metrics a :class:`~goalit.solvers.result.SolveResult` carries; larger decisions run the MILP
through the registry like any other algorithm (:class:`~goalit.sim.policies.registry.RegistryPolicy`).
Either way the same profile as the MILP's (tests/solvers/test_optimum_enum.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from goalit.game.model import Game
from goalit.sim.policies.registry import RegistryPolicy
from goalit.sim.view import Decision, View


@dataclass
class OptimumPolicy(RegistryPolicy):
    """The registry's ``optimum`` with its options; small decisions enumerated."""

    _max_profiles: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        from goalit.solvers.optimum import OptimumOptions

        super().__post_init__()
        assert isinstance(self.parsed, OptimumOptions)
        self._max_profiles = int(self.parsed.enumerate_max_profiles)

    def decide(self, view: View) -> Decision:
        from goalit.solvers.optimum_enum import enumerate_optimum

        if self._max_profiles <= 0:
            return super().decide(view)
        sub = view.subgame(potential=False)
        prof = _one_player_optimum(sub) if sub.n_users == 1 else None
        if prof is None:
            prof = enumerate_optimum(sub, self._max_profiles)
        if prof is None:
            return super().decide(view)
        for key in ("decisions", "slots", "updates", "messages"):  # as RegistryPolicy counts a MILP decision
            self._count(key, 1 if key == "decisions" else 0)
        return Decision(np.asarray(prof, np.int64), slots=0, converged=None, cycled=False)


def _one_player_optimum(game: Game) -> np.ndarray | None:
    """The first allowed action of least cost of a one-player game (what :func:`enumerate_optimum` returns
    for it); None when a cost is nan or every one is inf (then enumeration decides, as before)."""
    from goalit.game.refine import single_player_costs

    costs = single_player_costs(game)
    best, best_cost = -1, math.inf
    for x in np.flatnonzero(game.allowed[0]).tolist():
        c = costs[x]
        if c != c:  # nan
            return None
        if c < best_cost:
            best, best_cost = x, c
    return None if best < 0 else np.array([best], np.int64)
