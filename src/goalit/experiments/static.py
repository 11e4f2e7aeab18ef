"""Static-game experiments on Model A (docs/model.md part D): E4 convergence, E5 updates vs N, E6 run time vs N,
E7 price of anarchy.

Each experiment is a list of points and a pure function ``point -> row``. The point's seed draws the
user population (``users_seed``) and roots the algorithm's random stream, so all algorithms compared
under one seed face the same users.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from goalit.api import solve
from goalit.experiments.plan import Plan
from goalit.experiments.point import Point
from goalit.experiments.variants import variant
from goalit.game import dynamics
from goalit.game.goalit import goalit
from goalit.game.model import Game, build_game
from goalit.rng import stream


def static_game(point: Point) -> Game:
    """The game of the point's scenario variant with the users drawn from the point's seed."""
    return build_game(variant({**point.config, "users_seed": int(point.seed)}))


# --- E4: convergence -----------------------------------------------------------------------------------
CONVERGENCE_COLUMNS = (
    "n_users", "grant", "slots", "updates", "messages", "converged", "potential_start", "potential_final",
    "social_cost_final", "max_regret", "potential_trace", "social_cost_trace", "moved_trace",
    "requests_trace",
)  # fmt: skip


def convergence_points(plan: Plan) -> list[Point]:
    return [
        Point("convergence", "goalit", {"scenario": plan.scenario, "n_users": n, "grant": "parallel"}, s)
        for n in plan.convergence_users
        for s in plan.seed_list
    ]


def slot_by_slot(game: Game, rng: np.random.Generator, grant: str) -> dict[str, Any]:
    """Run GOALIT from the isolated start, recording every slot (one run of the engine, observed).

    Lists have one entry per profile a(0), a(1), ... (``moved_trace[t]``: users that switched into
    a(t); ``requests_trace[t]``: RTUs sent in slot t+1).
    """
    a0 = dynamics.isolated_start(game)
    cost = [float(dynamics.user_costs(game, a0).sum())]
    tr = goalit(
        game,
        rng,
        initial=a0,
        grant=grant,
        observe=lambda a: cost.append(float(dynamics.user_costs(game, a).sum())),
    )
    settled = 1 if tr.converged else 0  # the converging slot moved nobody and repeats the last profile
    return {
        "profile": tr.profile, "slots": tr.slots, "updates": tr.updates, "messages": tr.messages,
        "converged": tr.converged, "cycled": tr.cycled,
        "potential_trace": tr.potential[: len(tr.potential) - settled], "social_cost_trace": cost,
        "moved_trace": [0, *tr.granted[: len(tr.granted) - settled]], "requests_trace": tr.requests,
    }  # fmt: skip


def convergence_row(point: Point) -> dict[str, Any]:
    game = static_game(point)
    grant = point.config.get("grant", "parallel")
    tr = slot_by_slot(game, stream(point.seed, "algorithm"), grant)
    return {
        "n_users": game.n_users,
        "grant": grant,
        "slots": tr["slots"],
        "updates": tr["updates"],
        "messages": tr["messages"],
        "converged": tr["converged"],
        "potential_start": tr["potential_trace"][0],
        "potential_final": tr["potential_trace"][-1],
        "social_cost_final": tr["social_cost_trace"][-1],
        "max_regret": dynamics.max_regret(game, tr["profile"]),
        "potential_trace": _rounded(tr["potential_trace"]),
        "social_cost_trace": _rounded(tr["social_cost_trace"]),
        "moved_trace": tr["moved_trace"],
        "requests_trace": tr["requests_trace"],
    }


def _rounded(xs: list[float], digits: int = 9) -> list[float]:
    return [float(f"{x:.{digits}g}") for x in xs]


# --- E5: updates vs N -------------------------------------------------------------------------------
GRANTS_E5 = ("random", "max-gain", "parallel")
UPDATES_COLUMNS = ("n_users", "grant", "slots", "updates", "messages", "converged", "bound_updates",
                   "bound_updates_spec", "potential_start", "potential_final")  # fmt: skip


def updates_points(plan: Plan) -> list[Point]:
    return [
        Point("updates", f"goalit-{g}", {"scenario": plan.scenario, "n_users": n, "grant": g}, s)
        for n in plan.scaling_users
        for g in GRANTS_E5
        for s in plan.seed_list
    ]


def update_bounds(game: Game, a0: np.ndarray) -> tuple[float, float]:
    """Two upper bounds on the number of epsilon-improvements from ``a0`` (docs/model.md B.9).

    ``instance``: (Phi(a0) - Phi_lb) / epsilon with Phi_lb = sum_i min_r beta_i(r)/alpha_i (congestion
    and AP terms are >= 0). ``spec``: [N d_max(N) + sum_i (beta_i^max - beta_i^min)/alpha_i] / epsilon with
    d_max(N) = max_r d_r(N) over the instances (the O(N^2) bound; H enters when N exceeds a capacity).
    """
    own = np.where(game.allowed, game.beta / game.alpha[:, None], np.nan)
    lb = float(np.nansum(np.nanmin(own, axis=1)))
    instance = (dynamics.potential(game, a0) - lb) / game.epsilon
    inst = np.arange(1, game.n_actions)
    d_max = float(game.step_time(inst, np.full(inst.size, game.n_users)).max())
    spread = float(np.nansum(np.nanmax(own, axis=1) - np.nanmin(own, axis=1)))
    spec = (game.n_users * d_max + spread) / game.epsilon
    return instance, spec


def updates_row(point: Point) -> dict[str, Any]:
    game = static_game(point)
    grant = point.config["grant"]
    a0 = dynamics.isolated_start(game)
    tr = goalit(game, stream(point.seed, "algorithm"), initial=a0, grant=grant)
    bound, bound_spec = update_bounds(game, a0)
    return {
        "n_users": game.n_users,
        "grant": grant,
        "slots": tr.slots,
        "updates": tr.updates,
        "messages": tr.messages,
        "converged": tr.converged,
        "bound_updates": bound,
        "bound_updates_spec": bound_spec,
        "potential_start": tr.potential[0],
        "potential_final": tr.potential[-1],
    }


# --- E6: run time vs N --------------------------------------------------------------------------------
RUNTIME_ALGORITHMS = ("goalit", "ot-gah", "optimum")
RUNTIME_COLUMNS = ("n_users", "runtime_s", "social_cost", "status", "nodes", "gap")


def runtime_points(plan: Plan, available: tuple[str, ...]) -> list[Point]:
    out = []
    for n in plan.runtime_users:
        for alg in RUNTIME_ALGORITHMS:
            if alg not in available or (alg == "optimum" and n > plan.runtime_optimum_max_users):
                continue
            cfg = {"scenario": plan.scenario, "n_users": n}
            out += [Point("runtime", alg, cfg, s) for s in plan.seed_list]
    return out


def runtime_row(point: Point) -> dict[str, Any]:
    game = static_game(point)
    res = solve(game, point.policy, point.seed)
    ex = res.extras
    return {
        "n_users": game.n_users,
        "runtime_s": res.runtime_s,
        "social_cost": res.metrics.social_cost,
        "status": ex.get("milp_status", "converged" if res.converged else "not converged"),
        "nodes": ex.get("nodes_explored", ex.get("milp_nodes")),
        "gap": ex.get("mip_gap"),
    }


# --- E7: price of anarchy and of stability ------------------------------------------------------------
POA_COLUMNS = ("n_users", "social_cost_ne", "social_cost_opt", "poa", "poa_bound_local", "opt_status",
               "slots", "max_regret", "social_cost_refined", "pos", "refined_converged")  # fmt: skip


def poa_points(plan: Plan) -> list[Point]:
    return [
        Point("poa", "goalit", {"scenario": plan.scenario, "n_users": n}, s)
        for n in plan.poa_users
        for s in plan.seed_list
    ]


def poa_local_bound(game: Game) -> float:
    """docs/model.md B.9 (i): PoA <= sum_i C_i(0) / sum_i C_i^min.

    C_i^min = min(C_i(0), min_r alpha_i d_r(1) + beta_i(r)): no profile costs user i less.
    """
    r = np.arange(game.n_actions)
    solo = game.alpha[:, None] * game.step_time(r, np.ones(r.size, int))[None, :] + game.beta
    solo[:, 0] = game.beta[:, 0]
    return float(game.beta[:, 0].sum() / solo.min(axis=1).sum())


def poa_row(point: Point) -> dict[str, Any]:
    game = static_game(point)
    ne = solve(game, "goalit", point.seed)
    opt = solve(game, "optimum", point.seed)
    best = solve(game, "goalit-refined", point.seed)  # the cheapest equilibrium found: PoS estimate
    return {
        "n_users": game.n_users,
        "social_cost_ne": ne.metrics.social_cost,
        "social_cost_opt": opt.metrics.social_cost,
        "poa": ne.metrics.social_cost / opt.metrics.social_cost,
        "poa_bound_local": poa_local_bound(game),
        "opt_status": opt.extras.get("milp_status", ""),
        "slots": ne.slots,
        "max_regret": ne.metrics.max_regret,
        "social_cost_refined": best.metrics.social_cost,
        "pos": best.metrics.social_cost / opt.metrics.social_cost,
        "refined_converged": bool(best.converged),
    }
