"""One-shot routers as policies: ``local``, ``nearest-fp16``, ``nearest-q4``, ``random``.

Each decision applies the baseline's own rule (:mod:`goalit.solvers.baselines`; nearest and random
restated here so the local fallback is computed only for players that need it) to the players only, on
the full game's tables; no equilibrium search and no profile metrics, so a decision costs
O(players x actions). Each request is placed once (``reroute_queued=False``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
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


NEAREST_LEVEL = {"nearest-fp16": "fp16", "nearest-q4": "q4"}  # each nearest rule's default level


class PerUser:
    """Per-user values of a rule that depend on the user's own row of the game only (allowed actions,
    uplink delays), computed on first use: ``get(game, ids)`` -> ``[fn(game, k) for k in ids]``, keyed by
    the user index; a different game (by identity) empties the cache."""

    def __init__(self, fn: Callable[[Game, int], Any]) -> None:
        self.fn = fn
        self.game: Game | None = None
        self.rows: dict[int, Any] = {}

    def get(self, game: Game, ids: np.ndarray) -> list[Any]:
        if game is not self.game:
            self.game, self.rows = game, {}
        rows, out = self.rows, []
        for k in ids.tolist():
            v = rows.get(k)
            if v is None:
                v = rows[k] = self.fn(game, k)
            out.append(v)
        return out


def _random_choices(game: Game, k: int) -> np.ndarray:
    """User k's allowed instances (``_random``'s ``np.flatnonzero(ok[i])``)."""
    out: np.ndarray = np.flatnonzero(np.isfinite(game.beta[k, 1:])) + 1
    return out


def _nearest_row(level: str) -> Callable[[Game, int], tuple[int, bool]]:
    def row(game: Game, k: int) -> tuple[int, bool]:
        """(r, placed) of ``_nearest``'s rule for user k alone (the same argmin over the same row)."""
        from goalit.solvers.baselines import level_actions

        ok = np.isfinite(game.beta[k]) & level_actions(game, level)
        delay = np.where(ok, game.uplink_s[k], np.inf)
        r = int(np.argmin(delay))
        return r, bool(np.isfinite(delay[r]))

    return row


RULES: dict[str, Callable[[Game, np.random.Generator, str | None], np.ndarray]] = {
    "local": _local,
    "nearest-fp16": _nearest(NEAREST_LEVEL["nearest-fp16"]),
    "nearest-q4": _nearest(NEAREST_LEVEL["nearest-q4"]),
    "random": _random,
}


@dataclass
class RouterPolicy(Policy):
    """The rule ``RULES[name]`` at each decision; ``level`` overrides a nearest rule's level."""

    reroute_queued: bool = False
    level: str | None = None
    _per_user: PerUser | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def configured(cls, name: str, options: dict[str, Any], build: Callable[..., Policy]) -> Policy:
        if options.get("level") is not None and not name.startswith("nearest"):
            from goalit.errors import GoalitInputError

            raise GoalitInputError(f"policy {name}: unknown option(s) level")
        return build(name, cls, options)

    def decide(self, view: View) -> Decision:
        a = self._cached(view)
        if a is None:
            a = RULES[self.name](view.subgames.users(view.ids), view.rng, self.level)
        self._count("decisions")
        return Decision(np.asarray(a, np.int64))

    def _cached(self, view: View) -> np.ndarray | None:
        """The rule's actions from per-user values of the full game (same actions and random draws as
        ``RULES``), or None when a player needs the local fallback (then the rule itself decides)."""
        if self._per_user is None:
            if self.name == "random":
                self._per_user = PerUser(_random_choices)
            elif self.name in NEAREST_LEVEL:
                self._per_user = PerUser(_nearest_row(self.level or NEAREST_LEVEL[self.name]))
            else:
                return None
        vals = self._per_user.get(view.subgames.game, view.ids)
        if self.name == "random":
            if not all(v.size for v in vals):
                return None
            return np.asarray([view.rng.choice(v) for v in vals], np.int64).reshape(-1)
        if not all(placed for _, placed in vals):
            return None
        return np.asarray([r for r, _ in vals], np.int64).reshape(-1)

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        if self.level is not None:
            d["level"] = self.level
        return d
