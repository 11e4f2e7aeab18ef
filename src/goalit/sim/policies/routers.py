"""One-shot routers as policies: ``local``, ``nearest-fp16``, ``nearest-q4``, ``random``.

Each decision applies the baseline's own rule (:mod:`goalit.solvers.baselines`) to the players only, on
the full game's tables; no equilibrium search and no profile metrics, so a decision costs
O(players x actions). Each request is placed once (``reroute_queued=False``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from goalit.game.model import Game
from goalit.sim.policies.base import Policy
from goalit.sim.view import Decision, View


def _local(game: Game, rng: np.random.Generator, level: str | None) -> np.ndarray:
    from goalit.solvers.baselines import _fallback

    return _fallback(game)


def _nearest(default: str) -> Callable[[Game, np.random.Generator, str | None], np.ndarray]:
    def rule(game: Game, rng: np.random.Generator, level: str | None) -> np.ndarray:
        from goalit.solvers.baselines import nearest_at_level

        return nearest_at_level(game, level or default)[0]

    return rule


def _random(game: Game, rng: np.random.Generator, level: str | None) -> np.ndarray:
    from goalit.solvers.baselines import random_profile

    return random_profile(game, rng)


RULES: dict[str, Callable[[Game, np.random.Generator, str | None], np.ndarray]] = {
    "local": _local,
    "nearest-fp16": _nearest("fp16"),
    "nearest-q4": _nearest("q4"),
    "random": _random,
}


@dataclass
class RouterPolicy(Policy):
    """The rule ``RULES[name]`` at each decision; ``level`` overrides a nearest rule's level."""

    reroute_queued: bool = False
    level: str | None = None

    @classmethod
    def configured(cls, name: str, options: dict[str, Any], build: Callable[..., Policy]) -> Policy:
        if options.get("level") is not None and not name.startswith("nearest"):
            from goalit.errors import GoalitInputError

            raise GoalitInputError(f"policy {name}: unknown option(s) level")
        return build(name, cls, options)

    def decide(self, view: View) -> Decision:
        a = RULES[self.name](view.subgames.users(view.ids), view.rng, self.level)
        self._count("decisions")
        return Decision(np.asarray(a, np.int64))

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        if self.level is not None:
            d["level"] = self.level
        return d
