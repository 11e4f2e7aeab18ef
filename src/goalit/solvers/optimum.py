"""The exact social optimum min_a S(a) = sum_i C_i(a) as a MILP (HiGHS through ``scipy.optimize.milp``).

Count-based linearisation, exact for any tabulated step-time curve d_r(n):

* x_{i,r} in {0,1} for every allowed (user, action); sum_r x_{i,r} = 1.
* z_{r,k} in {0,1}, k = 0..K_r: instance r serves exactly k users (one binary per instance and load
  level); sum_k z_{r,k} = 1 and sum_k k z_{r,k} = sum_i x_{i,r}.
* The congestion cost sum_{i on r} alpha_i d_r(n_r) is linear in one of two ways (``formulation``):
  - ``"extended"`` (default): w_{i,r,k} >= 0 = "i is on r and r serves k users";
    sum_k w_{i,r,k} = x_{i,r}, sum_i w_{i,r,k} = k z_{r,k}; cost sum alpha_i d_r(k) w_{i,r,k}.
    More columns, but a much tighter LP relaxation (typically solved at the root).
  - ``"aggregated"``: v_{r,k} >= 0 = A_r = sum_i alpha_i x_{i,r} if n_r = k, else 0;
    sum_k v_{r,k} = A_r, L_{r,k} z_{r,k} <= v_{r,k} <= U_{r,k} z_{r,k} (U, L: sums of the k largest /
    smallest alpha that can be on r); cost sum_k d_r(k) v_{r,k}. Few columns, weaker bound.
* AP j: h_j takes two values (0 up to K_j offloaders, H beyond), so one count binary p_j = 1{m_j > K_j}
  suffices: m_j <= K_j + (M_j - K_j) p_j and q_j >= sum_{i on j} alpha_i - A_j^max (1 - p_j), q_j >= 0;
  the penalty cost is H q_j. (APs that can never exceed K_j get no variables.)

Objective: sum beta_{i,r} x_{i,r} + congestion + H sum_j q_j = S(a) exactly.

Before solving, ``reduce_by_bound`` drops the variables that no profile cheaper than a known one (GOALIT's
equilibrium) can use: actions too expensive for a user, loads too high for an instance (in particular
every load beyond the KV capacity, where d_r = H), and the AP penalty binaries when K_j + 1 offloaders
cannot pay H (then m_j <= K_j is a plain constraint). This keeps the model exact and smaller.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix

from goalit.game import dynamics
from goalit.game.goalit import goalit
from goalit.game.model import Game
from goalit.solvers.contract import Options
from goalit.solvers.optimum_enum import DEFAULT_MAX_PROFILES, enumerate_optimum
from goalit.solvers.result import SolveResult

FORMULATIONS = ("extended", "aggregated")
MILP_STATUS = {
    0: "optimal",
    1: "time or iteration limit",
    2: "infeasible",
    3: "unbounded",
    4: "other",
}


@dataclass
class MilpOutcome:
    """The best profile found (the MILP's, or the incumbent if HiGHS found nothing better), HiGHS's report."""

    profile: np.ndarray
    objective: float  # S(profile)
    dual_bound: float  # proven lower bound on the optimum (nan if unknown)
    mip_gap: float  # relative gap (objective - bound) / |objective| reported by HiGHS
    status: str
    nodes: int
    variables: int
    constraints: int
    runtime_s: float
    incumbent_cost: float  # S of the starting incumbent (the bound used by the reduction)


class _Rows:
    """Sparse constraint rows lo <= A x <= hi, built incrementally."""

    def __init__(self) -> None:
        self.r: list[int] = []
        self.c: list[int] = []
        self.v: list[float] = []
        self.lo: list[float] = []
        self.hi: list[float] = []

    def add(self, cols: npt.ArrayLike, vals: npt.ArrayLike, lo: float, hi: float) -> None:
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


class _Program:
    """A MILP built incrementally and solved with HiGHS. Its first ``n_x`` variables are the binary
    assignments x_{i,r}, one per kept pair (``ui[k]``, ``ri[k]``, row-major), costing beta_i(r)."""

    def __init__(self, game: Game, ui: np.ndarray, ri: np.ndarray) -> None:
        self.game, self.ui, self.ri = game, ui, ri
        self.n_x = ui.size
        self.cost: list[np.ndarray] = [game.beta[ui, ri]]
        self.integrality: list[np.ndarray] = [np.ones(self.n_x)]
        self.upper: list[np.ndarray] = [np.ones(self.n_x)]
        self.rows = _Rows()
        self.n_vars = self.n_x

    def new_vars(self, c: np.ndarray, integer: bool, ub: np.ndarray) -> np.ndarray:
        """Indices of ``c.size`` new variables with objective ``c``, bounds [0, ub]."""
        idx = np.arange(self.n_vars, self.n_vars + c.size)
        self.n_vars += c.size
        self.cost.append(np.asarray(c, dtype=float))
        self.integrality.append(np.full(c.size, 1.0 if integer else 0.0))
        self.upper.append(np.broadcast_to(np.asarray(ub, dtype=float), c.shape).copy())
        return idx

    def one_action_per_user(self) -> None:
        starts = np.searchsorted(self.ui, np.arange(self.game.n_users + 1))
        for i in range(self.game.n_users):
            self.rows.add(np.arange(starts[i], starts[i + 1]), 1.0, 1.0, 1.0)

    def ap_count(self, j: int, hard: bool) -> None:
        """AP j's sub-channels: at most K_j offloaders (``hard``), else each offloader beyond K_j pays
        alpha_i H, linearised with a binary p_j and a continuous q_j = H * sum of alphas if p_j."""
        game, ui, ri, alpha = self.game, self.ui, self.ri, self.game.alpha
        cols = np.flatnonzero((ri > 0) & (game.server_of[ri] == j))
        if cols.size == 0:
            return
        users = np.unique(ui[cols])
        m_max, k_j = users.size, int(game.subchannels[j])
        if m_max <= k_j:
            return
        if hard:
            self.rows.add(cols, 1.0, -np.inf, k_j)  # exceeding K_j cannot be optimal: a hard limit
            return
        a_max = float(alpha[users].sum())
        p = self.new_vars(np.zeros(1), True, np.ones(1))
        q = self.new_vars(np.array([game.penalty_s]), False, np.array([a_max]))
        self.rows.add(
            np.concatenate([cols, p]), np.concatenate([np.ones(cols.size), [-(m_max - k_j)]]), -np.inf, k_j
        )
        self.rows.add(
            np.concatenate([q, cols, p]), np.concatenate([[1.0], -alpha[ui[cols]], [-a_max]]), -a_max, np.inf
        )

    def solve(
        self, incumbent: np.ndarray, incumbent_cost: float, time_limit_s: float | None, mip_rel_gap: float,
        t0: float, reported_incumbent_cost: float | None,
    ) -> MilpOutcome:  # fmt: skip
        """Solve; the better of HiGHS's answer and the incumbent (social cost ``incumbent_cost``).
        ``reported_incumbent_cost`` goes to the outcome (None: the objective found)."""
        game = self.game
        options: dict[str, Any] = {"disp": False, "mip_rel_gap": mip_rel_gap, "presolve": True}
        if time_limit_s is not None:
            options["time_limit"] = float(time_limit_s)
        res = milp(
            np.concatenate(self.cost),
            constraints=self.rows.constraint(self.n_vars),
            integrality=np.concatenate(self.integrality),
            bounds=Bounds(np.zeros(self.n_vars), np.concatenate(self.upper)),
            options=options,
        )
        profile, objective = incumbent.copy(), incumbent_cost
        if res.x is not None:
            x = res.x[: self.n_x] > 0.5
            found = np.zeros(game.n_users, dtype=np.int64)
            found[self.ui[x]] = self.ri[x]
            cost_found = float(dynamics.user_costs(game, found).sum())
            if cost_found <= objective:
                profile, objective = found, cost_found
        bound = getattr(res, "mip_dual_bound", None)
        bound = float("nan") if bound is None else float(bound)
        gap = (
            max(0.0, (objective - bound) / max(abs(objective), 1e-12)) if np.isfinite(bound) else float("nan")
        )
        return MilpOutcome(
            profile=profile, objective=objective, dual_bound=bound, mip_gap=gap,
            status=MILP_STATUS.get(int(res.status), "other"), nodes=int(getattr(res, "mip_node_count", 0) or 0),
            variables=int(self.n_vars), constraints=len(self.rows.lo), runtime_s=time.perf_counter() - t0,
            incumbent_cost=objective if reported_incumbent_cost is None else reported_incumbent_cost,
        )  # fmt: skip


@dataclass(frozen=True)
class Reduction:
    """Variables that a known profile (the incumbent, social cost UB) proves useless (spec-free, exact).

    Every user pays at least c_i = min_a [beta_i(a) + alpha_i d_a(1)] in any profile (d_0 = 0), so
    LB = sum_i c_i, and a profile in which users pay extra amounts delta_i >= 0 over c_i costs
    LB + sum_i delta_i. Anything forcing sum delta > UB - LB cannot be optimal:
    x_{i,r} with beta_i(r) + alpha_i d_r(1) - c_i > UB - LB; load k on r when the k smallest
    beta_l(r) + alpha_l d_r(k) - c_l exceed it; an AP beyond K_j when its K_j + 1 cheapest offloaders
    (each paying alpha_l H more) exceed it.
    """

    keep: np.ndarray  # (N, R+1) x variables kept
    k_max: np.ndarray  # (R+1,) largest load of r that can be optimal
    ap_over: np.ndarray  # (M,) AP j may exceed K_j in an optimum
    upper_bound: float
    lower_bound: float


def reduce_by_bound(game: Game, incumbent: np.ndarray) -> Reduction:
    """The variables of the MILP that can be part of a profile no worse than ``incumbent``."""
    n_act = game.n_actions
    alpha, beta = game.alpha, game.beta
    d1 = game.step_time(np.arange(n_act), np.ones(n_act, dtype=np.int64))
    d1[0] = 0.0
    solo = beta + alpha[:, None] * d1[None, :]
    c_min = solo.min(axis=1)
    ub = float(dynamics.user_costs(game, incumbent).sum())
    lb = float(c_min.sum())
    slack = ub - lb + 1e-9 * max(abs(ub), 1.0)
    keep = game.allowed & (solo - c_min[:, None] <= slack)
    k_max = np.zeros(n_act, dtype=np.int64)
    k_max[0] = game.n_users
    for r in range(1, n_act):
        users = np.flatnonzero(keep[:, r])
        if users.size == 0:
            continue
        k = np.arange(1, users.size + 1)
        d = game.step_time(np.full(k.size, r), k)
        delta = beta[users, r][:, None] + alpha[users][:, None] * d[None, :] - c_min[users][:, None]
        smallest = np.cumsum(np.sort(delta, axis=0), axis=0)[k - 1, k - 1]  # sum of the k smallest at load k
        ok = np.flatnonzero(smallest <= slack)
        k_max[r] = int(ok.max()) + 1 if ok.size else 0
    ap_over = np.zeros(game.n_servers, dtype=bool)
    for j in range(game.n_servers):
        on_j = game.server_of == j
        extra = np.where(keep & on_j[None, :], solo + alpha[:, None] * game.penalty_s, np.inf).min(axis=1)
        extra = np.sort(extra[np.isfinite(extra)] - c_min[np.isfinite(extra)])
        k_j = int(game.subchannels[j])
        ap_over[j] = extra.size > k_j and extra[: k_j + 1].sum() <= slack
    return Reduction(keep, k_max, ap_over, ub, lb)


def incumbent_profile(game: Game) -> np.ndarray:
    """A feasible profile bounding the MILP: the better of GOALIT's equilibrium and the isolated start."""
    start = dynamics.isolated_start(game)
    ne = goalit(game, np.random.default_rng(0), initial=start).profile
    costs = [dynamics.user_costs(game, a).sum() for a in (ne, start)]
    return ne if costs[0] <= costs[1] else start


def solve_milp(
    game: Game,
    time_limit_s: float | None = None,
    mip_rel_gap: float = 1e-7,
    incumbent: np.ndarray | None = None,
    reduce: bool = True,
    formulation: str = "extended",
) -> MilpOutcome:
    """Minimise the social cost exactly (up to ``mip_rel_gap``) within ``time_limit_s`` seconds.

    ``incumbent`` (default: ``incumbent_profile``) bounds the optimum for ``reduce_by_bound`` (skipped
    with ``reduce=False``) and is returned if HiGHS finds nothing better in time.
    """
    if formulation not in FORMULATIONS:
        raise ValueError(f"formulation must be one of {', '.join(FORMULATIONS)}, not {formulation!r}")
    t0 = time.perf_counter()
    n_users, n_act = game.n_users, game.n_actions
    if n_users == 0:  # nothing to decide: HiGHS would reject an empty objective
        return MilpOutcome(np.zeros(0, np.int64), 0.0, 0.0, 0.0, "optimal", 0, 0, 0,
                           time.perf_counter() - t0, 0.0)  # fmt: skip
    if game.shared:
        from goalit.solvers.optimum_shared import solve_milp_shared

        return solve_milp_shared(game, time_limit_s, mip_rel_gap, incumbent)
    inc = incumbent_profile(game) if incumbent is None else np.asarray(incumbent, dtype=np.int64)
    if reduce:
        red = reduce_by_bound(game, inc)
    else:
        red = Reduction(game.allowed, np.bincount(np.nonzero(game.allowed)[1], minlength=n_act),
                        np.ones(game.n_servers, dtype=bool), np.inf, -np.inf)  # fmt: skip
    ui, ri = np.nonzero(red.keep)  # x variables, row-major (user by user)
    prog = _Program(game, ui, ri)
    rows, new_vars = prog.rows, prog.new_vars

    prog.one_action_per_user()

    alpha = game.alpha
    for r in range(1, n_act):
        cols = np.flatnonzero(ri == r)
        k_max = int(min(cols.size, red.k_max[r]))
        if k_max == 0:
            if cols.size:
                rows.add(cols, 1.0, 0.0, 0.0)  # r cannot serve anyone in an optimum
            continue
        users = ui[cols]
        k = np.arange(1, k_max + 1)
        a_sorted = np.sort(alpha[users])
        upper_w = np.cumsum(a_sorted[::-1])[:k_max]  # U_{r,k}: the k largest alphas
        lower_w = np.cumsum(a_sorted)[:k_max]  # L_{r,k}: the k smallest
        d = game.step_time(np.full(k_max, r), k)
        z = new_vars(np.zeros(k_max + 1), True, np.ones(k_max + 1))  # z_{r,0..K}
        rows.add(z, 1.0, 1.0, 1.0)
        if formulation == "extended":
            w = new_vars((alpha[users][:, None] * d[None, :]).ravel(), False, np.ones(cols.size * k_max))
            w = w.reshape(cols.size, k_max)
            for q, c in enumerate(cols.tolist()):  # sum_k w_{i,r,k} = x_{i,r}
                rows.add(np.append(w[q], c), np.append(np.ones(k_max), -1.0), 0.0, 0.0)
            for q in range(k_max):  # sum_i w_{i,r,k} = k z_{r,k}
                rows.add(np.append(w[:, q], z[q + 1]), np.append(np.ones(cols.size), -(q + 1.0)), 0.0, 0.0)
            continue
        v = new_vars(d, False, upper_w)  # v_{r,1..K}
        rows.add(np.concatenate([z[1:], cols]), np.concatenate([k, -np.ones(cols.size)]), 0.0, 0.0)
        rows.add(np.concatenate([v, cols]), np.concatenate([np.ones(k_max), -alpha[users]]), 0.0, 0.0)
        for q in range(k_max):
            rows.add([v[q], z[q + 1]], [1.0, -upper_w[q]], -np.inf, 0.0)
            rows.add([v[q], z[q + 1]], [1.0, -lower_w[q]], 0.0, np.inf)

    for j in range(game.n_servers):
        prog.ap_count(j, hard=not red.ap_over[j])

    return prog.solve(inc, float(dynamics.user_costs(game, inc).sum()), time_limit_s, mip_rel_gap, t0,
                      float(red.upper_bound) if reduce else None)  # fmt: skip


@dataclass(frozen=True)
class OptimumOptions(Options):
    """``time_limit_s`` (60), ``mip_rel_gap`` (1e-7), ``reduce`` (True), ``formulation`` ("extended"),
    ``enumerate_max_profiles`` (4096; 0: always the MILP)."""

    time_limit_s: float | None = 60.0
    mip_rel_gap: float = 1e-7
    reduce: bool = True
    formulation: str = "extended"
    enumerate_max_profiles: int = DEFAULT_MAX_PROFILES


def solve_optimum(
    game: Game, rng: np.random.Generator, opts: OptimumOptions = OptimumOptions()
) -> SolveResult:
    """The social optimum by MILP. Options: ``time_limit_s`` (default 60), ``mip_rel_gap`` (1e-7),
    ``reduce`` (True), ``formulation`` ("extended"), ``enumerate_max_profiles`` (4096).

    A game with at most ``enumerate_max_profiles`` profiles of allowed actions is solved exactly by
    enumeration instead (:mod:`goalit.solvers.optimum_enum`; ``method`` "enumeration", status "optimal",
    gap 0, no MILP variables): a simulator decision has one to a few players, where HiGHS's set-up
    dominates. ``converged`` is True only for a proven optimum (status "optimal"). On a time limit the
    result is the best profile known (at worst GOALIT's equilibrium, the incumbent) with its gap to
    HiGHS's bound.
    """
    t0 = time.perf_counter()
    if opts.enumerate_max_profiles > 0:
        prof = enumerate_optimum(game, int(opts.enumerate_max_profiles))
        if prof is not None:
            cost = float(dynamics.user_costs(game, prof).sum()) if prof.size else 0.0
            return SolveResult.of(
                game, "optimum", prof, converged=True, runtime_s=time.perf_counter() - t0,
                extras={"milp_status": "optimal", "mip_gap": 0.0, "mip_dual_bound": _finite_or_none(cost),
                        "milp_nodes": 0, "milp_variables": 0, "milp_constraints": 0, "method": "enumeration"},
            )  # fmt: skip
    out = solve_milp(
        game,
        time_limit_s=opts.time_limit_s,
        mip_rel_gap=opts.mip_rel_gap,
        reduce=opts.reduce,
        formulation=opts.formulation,
    )
    return SolveResult.of(
        game,
        "optimum",
        out.profile,
        converged=out.status == "optimal",
        runtime_s=out.runtime_s,
        extras={
            "milp_status": out.status,
            "mip_gap": _finite_or_none(out.mip_gap),
            "mip_dual_bound": _finite_or_none(out.dual_bound),
            "milp_nodes": out.nodes,
            "milp_variables": out.variables,
            "milp_constraints": out.constraints,
            "method": "milp",
        },
    )


def _finite_or_none(x: float) -> float | None:
    """JSON-safe: None where HiGHS reported no bound."""
    return float(x) if np.isfinite(x) else None
