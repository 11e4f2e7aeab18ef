"""``goalit-refined`` per decision: refined GOALIT (:func:`goalit.game.refine.refine`) on the decision game,
without the static metrics a :class:`~goalit.solvers.result.SolveResult` carries (the simulator uses
none of them) and with its options parsed once: the same profile, slots, updates, messages and
convergence as the registry's ``goalit-refined`` through :class:`~goalit.sim.policies.registry.RegistryPolicy`
(tests/sim/test_sim_policies.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from goalit.sim.policies.registry import RegistryPolicy
from goalit.sim.view import Decision, View


@dataclass
class RefinedPolicy(RegistryPolicy):
    """The registry's ``goalit-refined`` with its options (``grant``, ``epsilon``, ``starts``, ...)."""

    def decide(self, view: View) -> Decision:
        from goalit.game.refine import refine

        sub = view.subgame(potential=False)
        o = self.parsed
        tr = refine(sub, view.rng, initial=o.initial, grant=o.grant, epsilon=o.epsilon, max_slots=o.max_slots,
                    starts=int(o.starts), tries=int(o.tries), max_rounds=int(o.max_rounds))  # fmt: skip
        prof = np.asarray(tr.profile, np.int64)
        ok = np.isfinite(sub.beta[np.arange(sub.n_users), prof])
        if not ok.all():
            raise RuntimeError(
                f"policy {self.name!r} chose a disallowed action for request {view.ids[~ok][0]}"
            )
        self._count("decisions")
        self._count("slots", int(tr.slots))
        self._count("updates", int(tr.updates))
        self._count("messages", int(tr.messages))
        converged = bool(tr.converged) if tr.slots > 0 else None  # as RegistryPolicy reads a SolveResult
        return Decision(prof, slots=int(tr.slots), converged=converged, cycled=False)
