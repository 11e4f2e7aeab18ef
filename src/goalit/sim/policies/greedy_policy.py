"""``greedy`` per decision: myopic simultaneous best responses (:func:`goalit.solvers.baselines.greedy`) on
the decision game, without the potential trace and the static metrics a
:class:`~goalit.solvers.result.SolveResult` carries (the simulator uses neither): the same profile, rounds,
moves and messages as the registry's ``greedy`` (:class:`~goalit.sim.policies.registry.RegistryPolicy`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from goalit.sim.policies.registry import RegistryPolicy
from goalit.sim.view import Decision, View


@dataclass
class GreedyPolicy(RegistryPolicy):
    """The registry's ``greedy`` with its options (``epsilon``, ``max_rounds``, ``initial``)."""

    def decide(self, view: View) -> Decision:
        from goalit.solvers.baselines import greedy

        sub = view.subgame(potential=False)
        o = self.parsed
        g = greedy(sub, o.epsilon, int(o.max_rounds), o.initial, trace=False)
        prof = np.asarray(g["profile"], np.int64)
        rounds, updates = int(g["rounds"]), int(g["updates"])
        self._count("decisions")
        self._count("slots", rounds)
        self._count("updates", updates)
        self._count("messages", rounds + 1 + updates)
        return Decision(prof, slots=rounds, converged=bool(g["converged"]) if rounds > 0 else None,
                        cycled=bool(g["oscillated"]))  # fmt: skip
