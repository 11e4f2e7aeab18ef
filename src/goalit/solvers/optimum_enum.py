"""The social optimum of a small game by exhaustive enumeration: exact, and what a simulator decision
with a few players needs (setting up HiGHS costs far more than evaluating every profile there).

``enumerate_optimum`` evaluates S(a) = sum_i C_i(a) (:func:`goalit.game.dynamics.profile_costs`, partitioned
and shared servers alike) on all prod_i |A_i| profiles of allowed actions, in lexicographic order of the
users' allowed actions (ascending action index), and returns the first profile of least S. The MILP
(:func:`goalit.solvers.optimum.solve_milp`) returns a minimiser too but breaks exact ties its own way, so
on a tied game the two may return different profiles of the same cost; tests/solvers/test_optimum_enum.py
checks on random small games (partitioned and shared, congested, APs binding) that they agree.
"""

from __future__ import annotations

import numpy as np

from goalit.game import dynamics
from goalit.game.model import Game

DEFAULT_MAX_PROFILES = 4096  # above this many profiles the MILP is used (measured break-even is higher)
_CHUNK = 8192  # profiles evaluated per batch


def n_profiles(game: Game) -> int:
    """prod_i |A_i|, the number of profiles of allowed actions (exact Python int)."""
    n = 1
    for c in game.allowed.sum(axis=1).tolist():
        n *= int(c)
    return n


def enumerate_optimum(game: Game, max_profiles: int = DEFAULT_MAX_PROFILES) -> np.ndarray | None:
    """The first least-cost profile in lexicographic order, or None when there are more than
    ``max_profiles`` profiles or a user has no allowed action (then the MILP decides)."""
    n = game.n_users
    if n == 0:
        return np.zeros(0, np.int64)
    total = n_profiles(game)
    if total == 0 or total > max_profiles:
        return None
    allowed = game.allowed
    acts = [np.flatnonzero(allowed[i]) for i in range(n)]
    if n == 1:
        grid = acts[0][:, None]
    else:
        grid = np.stack(np.meshgrid(*acts, indexing="ij"), axis=-1).reshape(-1, n)
    best_k, best_cost = -1, np.inf
    for lo in range(0, total, _CHUNK):
        cost = dynamics.profile_costs(game, grid[lo : lo + _CHUNK]).sum(axis=1)
        k = int(np.argmin(cost))
        if cost[k] < best_cost:
            best_k, best_cost = lo + k, float(cost[k])
    if best_k < 0:  # every profile costs inf or nan: let the MILP report it
        return None
    out: np.ndarray = grid[best_k].astype(np.int64)
    return out
