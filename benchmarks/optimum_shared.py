"""Exact social optimum on shared servers (issue 10): how many users the MILP proves optimal in 30 s.

For each size N (default 4, 6, 8, 10, 15, 20, 30, 40, 50) the users are drawn like the embedded
`default` scenario's (seed 1) on its 4 shared servers; `goalit.solvers.optimum_shared` runs with a 30 s
HiGHS limit (one process). Prints status, wall time, B&B nodes, variables, the gap to HiGHS's bound and
GOALIT's ratio to the best profile found. For N <= 6 the optimum is also checked by brute force.

Run: ./dev bench optimum_shared  [--sizes 4,6,8] [--time-limit 30]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import goalit
from goalit.game import dynamics
from goalit.game.goalit import goalit as run_goalit
from goalit.game.model import build_game
from goalit.scenario.generate import UserGenerator
from goalit.solvers.brute_force import enumerate_profiles
from goalit.solvers.optimum import solve_milp

DISTS = {
    "prompt_tokens": ("uniform", (64, 512)),
    "output_tokens": ("uniform", (64, 512)),
    "deadline_s": ("uniform", (5.0, 30.0)),
    "w_latency": ("const", (1.0,)),
    "w_quality": ("uniform", (0.0, 0.05)),
    "w_energy": ("choice", (0.0, 0.1)),
    "max_perplexity": ("uniform", (6.5, 12.0)),
    "tx_power_w": ("const", (0.2,)),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="4,6,8,10,15,20,30,40,50")
    ap.add_argument("--time-limit", type=float, default=30.0)
    ap.add_argument("--scenario", default="default")
    args = ap.parse_args()
    base = goalit.default_scenario(args.scenario)
    print(f"scenario {args.scenario!r} servers (shared: {all(s.shared for s in base.servers)}), "
          f"HiGHS limit {args.time_limit:g} s")  # fmt: skip
    print(
        f"{'N':>4} {'status':>24} {'wall s':>8} {'nodes':>8} {'vars':>7} {'gap':>9} {'GOALIT/opt':>10} {'brute':>6}"
    )
    for n in [int(x) for x in args.sizes.split(",")]:
        users = UserGenerator(n, 1, (300.0, 300.0), "snapdragon-8-gen-3", DISTS).draw()
        game = build_game(base.with_users(users))
        t0 = time.perf_counter()
        out = solve_milp(game, time_limit_s=args.time_limit)
        wall = time.perf_counter() - t0
        ne = run_goalit(game, np.random.default_rng(0)).profile
        ratio = dynamics.user_costs(game, ne).sum() / out.objective
        check = ""
        if n <= 6:
            bf = enumerate_profiles(game)
            check = "ok" if abs(bf.social_cost - out.objective) <= 1e-6 * bf.social_cost else "DIFF"
        print(f"{n:>4} {out.status:>24} {wall:>8.2f} {out.nodes:>8} {out.variables:>7} {out.mip_gap:>9.2e} "
              f"{ratio:>10.4f} {check:>6}")  # fmt: skip


if __name__ == "__main__":
    main()
