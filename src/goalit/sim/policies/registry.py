"""Every other algorithm of :data:`goalit.solvers.registry.REGISTRY` as a policy: solved on the decision
game (the players, the background load folded in, :meth:`goalit.sim.view.View.subgame`), so the work
per decision does not grow with the requests in service."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from goalit.sim.policies.base import Policy
from goalit.sim.policies.otgah import plain
from goalit.sim.view import Decision, View


@dataclass
class RegistryPolicy(Policy):
    """Registry algorithm ``name`` with ``options`` on each decision's game."""

    options: dict[str, Any] = field(default_factory=dict)
    parsed: Any = field(default=None, init=False, repr=False)  # a built-in algorithm's typed options

    def __post_init__(self) -> None:
        """A built-in algorithm's options are checked now, not at the first decision (a misspelt one is a
        one-line GoalitInputError naming it), and kept typed in ``parsed``."""
        from goalit.solvers.registry import REGISTRY

        entry = REGISTRY.get(self.name)
        if entry is not None:
            self.parsed = entry.parse(dict(self.options))

    @classmethod
    def configured(cls, name: str, options: dict[str, Any], build: Callable[..., Policy]) -> Policy:
        """As ``make_policy`` configures a registry algorithm (for subclasses registered in ``POLICIES``):
        the algorithm's traits give the default interval and whether queued requests are players."""
        from goalit.solvers.contract import traits_of

        traits = traits_of(name)
        if "epoch_s" not in options and traits.epoch_based:
            options["epoch_s"] = traits.default_epoch_s
        reroute = options.pop("reroute_queued", traits.needs_players)
        epoch_s = options.pop("epoch_s", None)
        return cls(name=name, epoch_s=epoch_s, reroute_queued=bool(reroute), options=options)

    def decide(self, view: View) -> Decision:
        from goalit.solvers.registry import get_solver

        sub = view.subgame()
        res = get_solver(self.name)(sub, view.rng, **self.options)
        prof = np.asarray(res.profile, np.int64)
        ok = np.isfinite(sub.beta[np.arange(sub.n_users), prof])
        if not ok.all():
            raise RuntimeError(
                f"policy {self.name!r} chose a disallowed action for request {view.ids[~ok][0]}"
            )
        self._count("decisions")
        self._count("slots", int(res.slots))
        self._count("updates", int(res.updates))
        self._count("messages", int(res.messages))
        equilibrium = "converged" in res.extras or res.slots > 0
        return Decision(prof, slots=int(res.slots), converged=bool(res.converged) if equilibrium else None,
                        cycled=bool(res.extras.get("oscillated", False) or res.extras.get("cycled", False)))  # fmt: skip

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "options": {k: plain(v) for k, v in self.options.items()}}
