"""Independent reference implementations of Model A (docs/model.md B.7, B.8) for checking ``goalit.game``.

Written loop by loop from the model (docs/model.md B.7-B.9) on top of the ``Game`` tables (alpha, beta, step_table, subchannels,
penalty_s), sharing no code with ``goalit.game.dynamics``, so that an optimisation of the vectorised
code cannot silently change the game.
"""

from __future__ import annotations

import itertools

import numpy as np


def ref_loads(game, a):
    n = [0] * game.n_actions
    m = [0] * game.n_servers
    for r in a:
        n[int(r)] += 1
        j = int(game.server_of[int(r)])
        if j >= 0:
            m[j] += 1
    return n, m


def ref_step(game, r: int, n: int) -> float:
    """d_r(n); the last column of the table holds every larger load."""
    return float(game.step_table[r, min(n, game.step_table.shape[1] - 1)])


def ref_h(game, j: int, m: int) -> float:
    """h_j(m) = 0 for m <= K_j, H beyond; no AP for the local action."""
    return game.penalty_s if j >= 0 and m > int(game.subchannels[j]) else 0.0


def ref_cost(game, a, i: int) -> float:
    """C_i(a) = alpha_i [d_r(n_r) + h_j(m_j)] + beta_i(r)."""
    n, m = ref_loads(game, a)
    r = int(a[i])
    j = int(game.server_of[r])
    cong = 0.0 if r == 0 else ref_step(game, r, n[r]) + ref_h(game, j, m[j])
    return float(game.alpha[i] * cong + game.beta[i, r])


def ref_potential(game, a) -> float:
    """Phi(a) = sum_r sum_{k<=n_r} d_r(k) + sum_j sum_{k<=m_j} h_j(k) + sum_i beta_i(a_i)/alpha_i."""
    n, m = ref_loads(game, a)
    phi = 0.0
    for r in range(1, game.n_actions):
        phi += sum(ref_step(game, r, k) for k in range(1, n[r] + 1))
    for j in range(game.n_servers):
        phi += sum(ref_h(game, j, k) for k in range(1, m[j] + 1))
    for i, r in enumerate(a):
        phi += float(game.beta[i, int(r)] / game.alpha[i])
    return phi


def deviate(a, i: int, x: int) -> np.ndarray:
    b = np.array(a, dtype=np.int64)
    b[i] = x
    return b


def allowed_actions(game, i: int) -> list[int]:
    return [int(x) for x in np.flatnonzero(game.allowed[i])]


def ref_regret(game, a) -> float:
    """max_i max_x (C_i(a) - C_i(x, a_-i)) / alpha_i over allowed x (0 at a pure NE)."""
    worst = 0.0
    for i in range(game.n_users):
        c = ref_cost(game, a, i)
        for x in allowed_actions(game, i):
            worst = max(worst, (c - ref_cost(game, deviate(a, i, x), i)) / float(game.alpha[i]))
    return worst


def is_pure_nash(game, a, rtol: float = 1e-10) -> bool:
    """No user can lower its own cost by a unilateral deviation to an allowed action (float tolerance)."""
    for i in range(game.n_users):
        c = ref_cost(game, a, i)
        for x in allowed_actions(game, i):
            if ref_cost(game, deviate(a, i, x), i) < c - rtol * max(1.0, abs(c)):
                return False
    return True


def all_profiles(game):
    """Every profile of allowed actions (product of the users' action sets)."""
    for prof in itertools.product(*(allowed_actions(game, i) for i in range(game.n_users))):
        yield np.array(prof, dtype=np.int64)
