"""One-shot routers as policies: ``local``, ``nearest-fp16``, ``nearest-q4``, ``random``.

Each decision applies the baseline's own rule (:mod:`goalit.solvers.baselines`; nearest and random
restated here so the local fallback is computed only for players that need it) to the players only, on
the full game's tables; no equilibrium search and no profile metrics, so a decision costs
O(players x actions). Each request is placed once (``reroute_queued=False``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
    uplink delays): ``build(game)`` computes them for every user in one vectorised pass at first use;
    ``get(game, ids)`` -> ``[build(game)[k] for k in ids]``; a different game (by identity) rebuilds."""

    def __init__(self, build: Callable[[Game], Sequence[Any]]) -> None:
        self.build = build
        self.game: Game | None = None
        self.table: Sequence[Any] = ()

    def get(self, game: Game, ids: np.ndarray) -> list[Any]:
        if game is not self.game:
            self.game, self.table = game, self.build(game)
        t = self.table
        return [t[k] for k in ids.tolist()]


def _random_choices(game: Game) -> list[np.ndarray]:
    """Every user's allowed instances (``_random``'s ``np.flatnonzero(ok[i])``, in increasing order)."""
    rows, cols = np.nonzero(np.isfinite(game.beta[:, 1:]))
    ends = np.cumsum(np.bincount(rows, minlength=game.n_users)).tolist()
    flat = cols.astype(np.int64) + 1
    return [flat[s:e] for s, e in zip([0, *ends[:-1]], ends, strict=True)]


def _nearest_rows(level: str) -> Callable[[Game], list[tuple[int, bool]]]:
    def rows(game: Game) -> list[tuple[int, bool]]:
        """(r, placed) of ``_nearest``'s rule for every user (the same row-wise argmin)."""
        from goalit.solvers.baselines import level_actions

        ok = game.allowed & level_actions(game, level)[None, :]
        delay = np.where(ok, game.uplink_s, np.inf)
        r = np.argmin(delay, axis=1)
        placed = np.isfinite(delay[np.arange(game.n_users), r])
        return list(zip(r.tolist(), placed.tolist(), strict=True))

    return rows


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
                self._per_user = PerUser(_nearest_rows(self.level or NEAREST_LEVEL[self.name]))
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
