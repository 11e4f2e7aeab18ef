"""An example goalit plug-in: a solver and a simulator policy, found through ``goalit.algorithms``.

* ``round-robin`` (solver): users best-respond one at a time in index order until no one gains more
  than epsilon (s/token), the sequential best-response dynamics of a potential game; it stops at an
  epsilon-Nash equilibrium. Runs in solve, compare, simulate, reproduce and serve.
* ``cheapest-now`` (simulator policy): each request joins the action that is cheapest for it under
  the loads of the requests in service, ignoring the other newcomers. Runs in simulate and reproduce.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from goalit.game import dynamics
from goalit.game.model import Game
from goalit.sim.policies import Decision, Policy, View
from goalit.solvers.result import SolveResult


def solve_round_robin(game: Game, rng: np.random.Generator, **options: Any) -> SolveResult:
    """Round-robin best responses from the isolated start. Options: ``epsilon``, ``max_rounds`` (1000)."""
    t0 = time.perf_counter()
    eps = game.epsilon if options.get("epsilon") is None else float(options["epsilon"])
    max_rounds = int(options.get("max_rounds", 1000))
    a = dynamics.isolated_start(game)
    rounds = updates = 0
    converged = False
    while rounds < max_rounds:
        rounds += 1
        moved = 0
        for i in range(game.n_users):
            br, gain = dynamics.best_responses(game, a)
            if gain[i] > eps:
                a[i] = br[i]
                moved += 1
        updates += moved
        if moved == 0:
            converged = True
            break
    return SolveResult.of(
        game, "round-robin", a, converged=converged, slots=rounds, updates=updates,
        messages=updates + rounds, runtime_s=time.perf_counter() - t0,
    )  # fmt: skip


@dataclass
class CheapestNowPolicy(Policy):
    """Each request on its cheapest action given the requests in service (decides at each arrival)."""

    name: str = "cheapest-now"

    def decide(self, view: View) -> Decision:
        sub = view.subgames.background(view.ids, view.n_fixed, view.m_fixed, potential=False)
        join = np.where(np.arange(sub.n_actions) == 0, 0.0, sub.step_table[:, 1])
        cost = sub.alpha[:, None] * join[None, :] + sub.beta
        self._count("decisions")
        return Decision(np.argmin(cost, axis=1).astype(np.int64))
