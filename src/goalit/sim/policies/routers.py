"""One-shot routers as policies: ``local``, ``nearest-fp16``, ``nearest-q4``, ``random``.

Each decision applies the baseline's own rule (:mod:`goalit.solvers.baselines`; nearest and random
restated here so the local fallback is computed only for players that need it) to the players only, on
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
        # baselines.nearest_at_level, with the fallback computed only for players it leaves unplaced
        from goalit.solvers.baselines import _fallback, level_actions

        ok = game.allowed & level_actions(game, level or default)[None, :]
        delay = np.where(ok, game.uplink_s, np.inf)
        r = np.argmin(delay, axis=1)
        placed = np.isfinite(delay[np.arange(game.n_users), r])
        return r if placed.all() else np.where(placed, r, _fallback(game))

    return rule


def _random(game: Game, rng: np.random.Generator, level: str | None) -> np.ndarray:
    # baselines.random_profile (same draws), with the fallback computed only when a player needs it
    from goalit.solvers.baselines import _fallback

    ok = game.allowed.copy()
    ok[:, 0] = False
    rows = ok.any(axis=1)
    a = np.zeros(game.n_users, np.int64) if rows.all() else _fallback(game)
    for i in np.flatnonzero(rows).tolist():
        a[i] = rng.choice(np.flatnonzero(ok[i]))
    return a


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
