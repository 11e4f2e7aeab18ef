"""Brute-force enumeration of every profile of a tiny game: the test oracle of the optimum and of equilibria.

Profiles are enumerated over each user's allowed actions in chunks; costs are vectorised over the
chunk with the same formula as ``goalit.game.dynamics.user_costs``.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from goalit.game.dynamics import profile_costs
from goalit.game.model import Game
from goalit.solvers.result import SolveResult

MAX_PROFILES = 2_000_000


@dataclass
class Enumeration:
    """All profiles' social costs summarised: the optimum and (optionally) every pure Nash equilibrium."""

    profile: np.ndarray  # a social-cost minimiser (first in enumeration order)
    social_cost: float
    profiles: int  # number of profiles enumerated
    equilibria: np.ndarray | None  # (E, N) pure NE (no user gains more than ``tol`` by deviating)


def n_profiles(game: Game) -> int:
    """prod_i |A_i|, the number of profiles."""
    return int(np.prod(game.allowed.sum(axis=1).astype(object)))


def enumerate_profiles(
    game: Game,
    equilibria: bool = False,
    tol: float = 1e-9,
    chunk: int = 65_536,
    max_profiles: int = MAX_PROFILES,
) -> Enumeration:
    """Enumerate every profile (at most ``max_profiles``) and return the social optimum.

    With ``equilibria=True`` also return every pure NE: profiles where no user can lower its cost by
    more than ``tol * alpha_i`` (normalised tolerance, s/token) by a unilateral deviation.
    """
    total = n_profiles(game)
    if total > max_profiles:
        raise ValueError(f"{total} profiles exceed the brute-force limit of {max_profiles}")
    actions = [np.flatnonzero(row) for row in game.allowed]
    it = itertools.product(*actions)
    best_cost, best = np.inf, None
    found: list[np.ndarray] = []
    while True:
        block = np.array(list(itertools.islice(it, chunk)), dtype=np.int64)
        if block.size == 0:
            break
        block = block.reshape(-1, game.n_users)
        costs = profile_costs(game, block)
        social = costs.sum(axis=1)
        k = int(np.argmin(social))
        if social[k] < best_cost:
            best_cost, best = float(social[k]), block[k].copy()
        if equilibria:
            found.append(block[_is_equilibrium(game, block, costs, actions, tol)])
    assert best is not None
    eq = np.concatenate(found) if equilibria else None
    return Enumeration(best, best_cost, total, eq)


def _is_equilibrium(
    game: Game, block: np.ndarray, costs: np.ndarray, actions: list[np.ndarray], tol: float
) -> np.ndarray:
    ok = np.ones(block.shape[0], dtype=bool)
    for i, acts in enumerate(actions):
        for x in acts.tolist():
            dev = block.copy()
            dev[:, i] = x
            gain = costs[:, i] - profile_costs(game, dev)[:, i]
            ok &= gain <= tol * game.alpha[i]
    return ok


def solve_brute_force(game: Game, rng: np.random.Generator, **options: Any) -> SolveResult:
    """The social optimum by enumeration (tiny games only). Option: ``max_profiles``."""
    t0 = time.perf_counter()
    out = enumerate_profiles(game, max_profiles=int(options.get("max_profiles", MAX_PROFILES)))
    return SolveResult.of(
        game,
        "brute-force",
        out.profile,
        runtime_s=time.perf_counter() - t0,
        extras={"profiles": out.profiles},
    )
