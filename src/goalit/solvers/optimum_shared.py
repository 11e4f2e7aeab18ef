"""The exact social optimum of a game with shared servers, as a MILP (HiGHS through ``scipy.optimize.milp``).

On a shared server the per-token time of every user is the server's iteration time
T_G(n) = sum_{r in G} d_r(n_r) + H [N_G > cap_G] (docs/model.md), so the congestion cost of group G is
the product A_G T_G(n) with A_G = sum_{i on G} alpha_i. Linearisation, exact at integer points:

* x_{i,r} in {0,1} for every allowed (user, action); sum_r x_{i,r} = 1.
* z_{r,k} in {0,1}, k = 0..K_r: variant r serves exactly k users; sum_k z_{r,k} = 1 and
  sum_k k z_{r,k} = sum_i x_{i,r}.
* y_{i,r,k} >= 0 for every user i that may use group G, every r in G and k = 0..K_r stands for
  x_{i,G} z_{r,k} (x_{i,G} = sum_{r' in G} x_{i,r'}): sum_k y_{i,r,k} = x_{i,G} and y_{i,r,k} <= z_{r,k},
  which force y = x_{i,G} z exactly (one load level of r per user on G); y_{i,r,0} <= 1 - x_{i,r}.
  Congestion cost: sum alpha_i d_r(k) y_{i,r,k} = sum_i alpha_i T_G(n) without the penalty.
* Capacity of a shared group: p_G in {0,1}, N_G <= cap_G + (N_G^max - cap_G) p_G, and per user
  v_i >= x_{i,G} + p_G - 1, v_i >= 0, cost alpha_i H. A partitioned instance is a group of one whose
  penalty is already in its step table.
* AP j: as in :mod:`goalit.solvers.optimum` (one binary for m_j > K_j, cost H times the alphas on j).

The objective equals S(a) = sum_i C_i(a) at every integer point, so HiGHS's optimum is the social optimum
(up to ``mip_rel_gap``). ``shared_reduction`` first drops the actions and loads that no profile cheaper
than a known one (GOALIT's equilibrium) can use. With N_G K_r product variables per variant this is still
for small games (benchmarks/optimum_shared.py: about 20 users in 30 s on the default servers).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from goalit.game import dynamics
from goalit.game.goalit import goalit
from goalit.game.model import Game

if TYPE_CHECKING:  # optimum imports this module lazily (the shared case of solve_milp)
    from goalit.solvers.optimum import MilpOutcome


def shared_reduction(game: Game, incumbent: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(keep, k_max, S(incumbent)): the x variables and loads that a profile no worse than ``incumbent``
    can use (as ``optimum.reduce_by_bound``). Every user pays at least c_i = min_x [beta_i(x) + alpha_i
    T(x alone)] (T monotone in every load), and a user on variant r at load k pays at least
    beta_i(r) + alpha_i d_r(k), since T_G >= d_r(n_r); so load k on r needs the k smallest
    beta_l(r) + alpha_l d_r(k) - c_l to fit in the slack S(incumbent) - sum_i c_i."""
    n_act = game.n_actions
    alpha, beta = game.alpha, game.beta
    one = dynamics.join_times(game, np.zeros(n_act, dtype=np.int64))
    solo = beta + alpha[:, None] * one[None, :]
    c_min = solo.min(axis=1)
    ub = float(dynamics.user_costs(game, incumbent).sum())
    slack = ub - float(c_min.sum()) + 1e-9 * max(abs(ub), 1.0)
    keep = game.allowed & (solo - c_min[:, None] <= slack)
    keep[np.arange(game.n_users), incumbent] = True
    k_max = np.zeros(n_act, dtype=np.int64)
    for r in range(1, n_act):
        users = np.flatnonzero(keep[:, r])
        if users.size == 0:
            continue
        k = np.arange(1, users.size + 1)
        d = game.step_time(np.full(k.size, r), k)
        delta = beta[users, r][:, None] + alpha[users][:, None] * d[None, :] - c_min[users][:, None]
        smallest = np.cumsum(np.sort(delta, axis=0), axis=0)[k - 1, k - 1]
        ok = np.flatnonzero(smallest <= slack)
        k_max[r] = int(ok.max()) + 1 if ok.size else 0
        k_max[r] = max(k_max[r], int((incumbent == r).sum()))
    return keep, k_max, ub


def solve_milp_shared(
    game: Game,
    time_limit_s: float | None = None,
    mip_rel_gap: float = 1e-7,
    incumbent: np.ndarray | None = None,
) -> MilpOutcome:
    """Minimise the social cost of a game with shared servers (an ``optimum.MilpOutcome``)."""
    from goalit.solvers.optimum import _Program

    t0 = time.perf_counter()
    if incumbent is None:
        start = dynamics.isolated_start(game)
        ne = goalit(
            game, np.random.default_rng(0), initial=start, max_slots=min(game.max_slots, 10_000)
        ).profile
        costs = [dynamics.user_costs(game, a).sum() for a in (ne, start)]
        incumbent = ne if costs[0] <= costs[1] else start
    inc = np.asarray(incumbent, dtype=np.int64)
    alpha = game.alpha
    keep, k_bound, inc_cost = shared_reduction(game, inc)
    ui, ri = np.nonzero(keep)
    prog = _Program(game, ui, ri)
    rows, new_vars = prog.rows, prog.new_vars
    prog.one_action_per_user()

    group_of, group_capacity, group_shared = game.groups()
    for g in range(game.n_groups):
        acts = np.flatnonzero(group_of == g)
        cols_g = np.flatnonzero(np.isin(ri, acts))
        if cols_g.size == 0:
            continue
        users_g = np.unique(ui[cols_g])
        # x_{i,G} = sum_{r in G} x_{i,r}: the columns of user i on G
        on_g = {int(i): cols_g[ui[cols_g] == i] for i in users_g.tolist()}
        for r in acts.tolist():
            cols = np.flatnonzero(ri == r)
            k_max = int(min(cols.size, k_bound[r]))
            if k_max == 0:
                if cols.size:
                    rows.add(cols, 1.0, 0.0, 0.0)  # r cannot serve anyone in an optimum
                continue
            k = np.arange(1, k_max + 1)
            d = game.step_time(np.full(k_max, r), k)
            z = new_vars(np.zeros(k_max + 1), True, np.ones(k_max + 1))
            rows.add(z, 1.0, 1.0, 1.0)
            rows.add(np.concatenate([z[1:], cols]), np.concatenate([k, -np.ones(cols.size)]), 0.0, 0.0)
            for i in users_g.tolist():  # y_{i,r,k} = x_{i,G} z_{r,k}, cost alpha_i d_r(k)
                y = new_vars(np.concatenate([[0.0], alpha[i] * d]), False, np.ones(k_max + 1))
                xi = on_g[i]
                rows.add(
                    np.concatenate([y, xi]), np.concatenate([np.ones(k_max + 1), -np.ones(xi.size)]), 0.0, 0.0
                )
                for q in range(k_max + 1):
                    rows.add([y[q], z[q]], [1.0, -1.0], -np.inf, 0.0)
                own = cols[ui[cols] == i]
                if own.size:  # i on r itself: r serves at least one user
                    rows.add(np.concatenate([[y[0]], own]), [1.0, 1.0], -np.inf, 1.0)
        cap = int(group_capacity[g])
        n_max = users_g.size
        if group_shared[g] and n_max > cap:
            p = new_vars(np.zeros(1), True, np.ones(1))
            rows.add(np.concatenate([cols_g, p]), np.concatenate([np.ones(cols_g.size), [-(n_max - cap)]]),
                     -np.inf, cap)  # fmt: skip
            for i in users_g.tolist():  # v_i >= x_{i,G} + p_G - 1, cost alpha_i H
                v = new_vars(np.array([alpha[i] * game.penalty_s]), False, np.ones(1))
                xi = on_g[i]
                rows.add(
                    np.concatenate([v, xi, p]),
                    np.concatenate([[1.0], -np.ones(xi.size), [-1.0]]),
                    -1.0,
                    np.inf,
                )

    for j in range(game.n_servers):
        prog.ap_count(j, hard=False)

    return prog.solve(inc, inc_cost, time_limit_s, mip_rel_gap, t0, inc_cost)
