"""``goalit``: the GOALIT protocol on each decision's game, warm-started from the players' actions.

New players start from :func:`~goalit.game.dynamics.isolated_start`; decisions with at most
``goalit_scalar.max_players()`` players (32; 4,096 with Numba) run the protocol's scalar twin
:func:`goalit.game.goalit_scalar.goalit_from` (the GOALIT engine's fast path, compiled with Numba when
installed; same outcome and counters, tested), for speed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from goalit.errors import GoalitInputError
from goalit.game import dynamics
from goalit.game import goalit_scalar as small_goalit
from goalit.game.goalit import GRANTS, goalit
from goalit.sim.policies.base import Policy
from goalit.sim.view import Decision, View

# Default decision interval of GOALIT (s): chosen from the sweep of benchmarks/sim_interval.py on
# `default` (docs/simulator.md, "Decision interval"): the shortest interval at which decisions have
# several players at 10 req/s while the added wait stays a small share of the latency.
DEFAULT_DECISION_INTERVAL_S = 0.25


@dataclass
class GoalitPolicy(Policy):
    """GOALIT re-solved at each decision; options as :func:`goalit.game.goalit.goalit`."""

    name: str = "goalit"
    epoch_s: float | None = DEFAULT_DECISION_INTERVAL_S
    grant: str = "parallel"
    epsilon: float | None = None
    max_slots: int | None = None

    def __post_init__(self) -> None:
        if self.grant not in GRANTS:
            raise GoalitInputError(
                f"policy goalit: grant must be one of {', '.join(GRANTS)}, not {self.grant!r}"
            )

    @classmethod
    def configured(cls, name: str, options: dict[str, Any], build: Callable[..., Policy]) -> Policy:
        return build(name, cls, options)

    def decide(self, view: View) -> Decision:
        sub = view.subgame(potential=False)
        cycled = False
        if view.ids.shape[0] <= small_goalit.max_players():
            profile, slots, updates, messages, converged, cycled = small_goalit.goalit_from(
                sub, view.rng, view.current, self.grant, self.epsilon, self.max_slots
            )
        else:
            init = view.current.copy()
            new = init < 0
            if new.any():
                init[new] = dynamics.isolated_start(sub)[new]
            tr = goalit(sub, view.rng, initial=init, grant=self.grant, epsilon=self.epsilon,
                        max_slots=self.max_slots, record_potential=False)  # fmt: skip
            profile, slots, updates, messages, converged = (
                tr.profile, tr.slots, tr.updates, tr.messages, tr.converged,
            )  # fmt: skip
            cycled = bool(tr.cycled)
        self._count("decisions")
        self._count("slots", slots)
        self._count("updates", updates)
        self._count("messages", messages)
        self._count("not_converged", int(not converged))
        return Decision(profile, slots=int(slots), converged=bool(converged), cycled=cycled)

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "grant": self.grant,
            "epsilon": self.epsilon,
            "max_slots": self.max_slots,
        }
