"""The exact social optimum min_a S(a) = sum_i C_i(a) as a MILP (HiGHS through ``scipy.optimize.milp``).

Count-based linearisation (exact for any tabulated step-time curve d_r(n)):

* x_{i,r} in {0,1} for every allowed (user, action); sum_r x_{i,r} = 1.
* z_{r,k} in {0,1}, k = 0..K_r (K_r = users allowed on r): instance r serves exactly k users;
  sum_k z_{r,k} = 1 and sum_k k z_{r,k} = sum_i x_{i,r}.
* v_{r,k} >= 0, k = 1..K_r: the total weight A_r = sum_i alpha_i x_{i,r} when n_r = k, else 0;
  sum_k v_{r,k} = A_r and L_{r,k} z_{r,k} <= v_{r,k} <= U_{r,k} z_{r,k}, with U (L) the sum of the k
  largest (smallest) alpha among the users allowed on r. The congestion cost of r is sum_k d_r(k) v_{r,k}.
* AP j: h_j takes two values (0 up to K_j offloaders, H beyond), so one count binary p_j = 1{m_j > K_j}
  suffices: m_j <= K_j + (M_j - K_j) p_j and q_j >= sum_{i on j} alpha_i - A_j^max (1 - p_j), q_j >= 0;
  the penalty cost is H q_j. (APs that can never exceed K_j get no variables.)

Objective: sum beta_{i,r} x_{i,r} + sum_{r,k} d_r(k) v_{r,k} + H sum_j q_j = S(a) exactly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix

from goalit.game import dynamics
from goalit.game.model import Game
from goalit.solvers.result import SolveResult

MILP_STATUS = {
    0: "optimal",
    1: "time or iteration limit",
    2: "infeasible",
    3: "unbounded",
    4: "other",
}


@dataclass
class MilpOutcome:
    """The MILP's profile (None if no feasible solution was found) and HiGHS's report."""

    profile: np.ndarray | None
    objective: float  # S of the incumbent (nan if none)
    dual_bound: float  # proven lower bound on the optimum (nan if unknown)
    mip_gap: float  # relative gap (objective - bound) / |objective| reported by HiGHS
    status: str
    nodes: int
    variables: int
    constraints: int
    runtime_s: float


class _Rows:
    """Sparse constraint rows lo <= A x <= hi, built incrementally."""

    def __init__(self) -> None:
        self.r: list[int] = []
        self.c: list[int] = []
        self.v: list[float] = []
        self.lo: list[float] = []
        self.hi: list[float] = []

    def add(self, cols, vals, lo: float, hi: float) -> None:
        row = len(self.lo)
        cols = np.atleast_1d(np.asarray(cols, dtype=np.int64))
        self.r.extend([row] * cols.size)
        self.c.extend(cols.tolist())
        self.v.extend(np.broadcast_to(np.asarray(vals, dtype=float), cols.shape).tolist())
        self.lo.append(lo)
        self.hi.append(hi)

    def constraint(self, n_vars: int) -> LinearConstraint:
        a = coo_matrix((self.v, (self.r, self.c)), shape=(len(self.lo), n_vars)).tocsr()
        return LinearConstraint(a, np.asarray(self.lo), np.asarray(self.hi))


def solve_milp(game: Game, time_limit_s: float | None = None, mip_rel_gap: float = 1e-7) -> MilpOutcome:
    """Minimise the social cost exactly (up to ``mip_rel_gap``) within ``time_limit_s`` seconds."""
    t0 = time.perf_counter()
    n_users, n_act = game.n_users, game.n_actions
    allowed = game.allowed
    ui, ri = np.nonzero(allowed)  # x variables, row-major (user by user)
    n_x = ui.size
    cost: list[np.ndarray] = [game.beta[ui, ri]]
    integrality: list[np.ndarray] = [np.ones(n_x)]
    upper: list[np.ndarray] = [np.ones(n_x)]
    rows = _Rows()
    nxt = n_x

    def new_vars(c: np.ndarray, integer: bool, ub: np.ndarray) -> np.ndarray:
        nonlocal nxt
        idx = np.arange(nxt, nxt + c.size)
        nxt += c.size
        cost.append(np.asarray(c, dtype=float))
        integrality.append(np.full(c.size, 1.0 if integer else 0.0))
        upper.append(np.asarray(ub, dtype=float))
        return idx

    # one action per user
    starts = np.searchsorted(ui, np.arange(n_users + 1))
    for i in range(n_users):
        rows.add(np.arange(starts[i], starts[i + 1]), 1.0, 1.0, 1.0)

    alpha = game.alpha
    for r in range(1, n_act):
        cols = np.flatnonzero(ri == r)
        if cols.size == 0:
            continue
        users = ui[cols]
        k_max = cols.size
        k = np.arange(1, k_max + 1)
        a_sorted = np.sort(alpha[users])
        upper_w = np.cumsum(a_sorted[::-1])  # U_{r,k}: the k largest alphas
        lower_w = np.cumsum(a_sorted)  # L_{r,k}: the k smallest
        d = game.step_time(np.full(k_max, r), k)
        z = new_vars(np.zeros(k_max + 1), True, np.ones(k_max + 1))  # z_{r,0..K}
        v = new_vars(d, False, upper_w)  # v_{r,1..K}
        rows.add(z, 1.0, 1.0, 1.0)
        rows.add(np.concatenate([z[1:], cols]), np.concatenate([k, -np.ones(cols.size)]), 0.0, 0.0)
        rows.add(np.concatenate([v, cols]), np.concatenate([np.ones(k_max), -alpha[users]]), 0.0, 0.0)
        for q in range(k_max):
            rows.add([v[q], z[q + 1]], [1.0, -upper_w[q]], -np.inf, 0.0)
            rows.add([v[q], z[q + 1]], [1.0, -lower_w[q]], 0.0, np.inf)

    for j in range(game.n_servers):
        cols = np.flatnonzero((ri > 0) & (game.server_of[ri] == j))
        if cols.size == 0:
            continue
        users = np.unique(ui[cols])
        m_max, k_j = users.size, int(game.subchannels[j])
        if m_max <= k_j:
            continue
        a_max = float(alpha[users].sum())
        p = new_vars(np.zeros(1), True, np.ones(1))
        q = new_vars(np.array([game.penalty_s]), False, np.array([a_max]))
        rows.add(np.concatenate([cols, p]), np.concatenate([np.ones(cols.size), [-(m_max - k_j)]]), -np.inf, k_j)
        rows.add(
            np.concatenate([q, cols, p]), np.concatenate([[1.0], -alpha[ui[cols]], [-a_max]]), -a_max, np.inf
        )

    c = np.concatenate(cost)
    options: dict[str, Any] = {"disp": False, "mip_rel_gap": mip_rel_gap, "presolve": True}
    if time_limit_s is not None:
        options["time_limit"] = float(time_limit_s)
    res = milp(
        c,
        constraints=rows.constraint(nxt),
        integrality=np.concatenate(integrality),
        bounds=Bounds(np.zeros(nxt), np.concatenate(upper)),
        options=options,
    )
    profile = None
    objective = float("nan")
    if res.x is not None:
        x = res.x[:n_x] > 0.5
        profile = np.zeros(n_users, dtype=np.int64)
        profile[ui[x]] = ri[x]
        objective = float(dynamics.user_costs(game, profile).sum())
    bound = getattr(res, "mip_dual_bound", None)
    gap = getattr(res, "mip_gap", None)
    return MilpOutcome(
        profile=profile,
        objective=objective,
        dual_bound=float("nan") if bound is None else float(bound),
        mip_gap=float("nan") if gap is None else float(gap),
        status=MILP_STATUS.get(int(res.status), "other"),
        nodes=int(getattr(res, "mip_node_count", 0) or 0),
        variables=int(nxt),
        constraints=len(rows.lo),
        runtime_s=time.perf_counter() - t0,
    )


def solve_optimum(game: Game, rng: np.random.Generator, **options: Any) -> SolveResult:
    """The social optimum by MILP. Options: ``time_limit_s`` (default 60), ``mip_rel_gap`` (1e-7).

    If HiGHS stops without any feasible profile, the result falls back to GOALIT's starting profile
    (``dynamics.isolated_start``) and ``converged`` is False. ``converged`` is True only for a proven
    optimum (status "optimal").
    """
    out = solve_milp(
        game, time_limit_s=options.get("time_limit_s", 60.0), mip_rel_gap=options.get("mip_rel_gap", 1e-7)
    )
    profile = out.profile if out.profile is not None else dynamics.isolated_start(game)
    return SolveResult.of(
        game,
        "optimum",
        profile,
        converged=out.status == "optimal",
        runtime_s=out.runtime_s,
        extras={
            "milp_status": out.status,
            "mip_gap": out.mip_gap,
            "mip_dual_bound": out.dual_bound,
            "milp_nodes": out.nodes,
            "milp_variables": out.variables,
            "milp_constraints": out.constraints,
        },
    )
