"""MILP time to a proven optimum (HiGHS via scipy.optimize.milp) for 20, 40, 80 users on 4 servers x 5 levels.

Goal (issue 3): 40 users <= 30 s. Prints per instance: users, seed, variables, constraints, status,
wall time, B&B nodes, gap, the optimum's social cost and GOALIT's PoA on the same game.

Run: ./dev bench milp_scaling [--sizes 20,40,80] [--seeds 3] [--time-limit 300]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics

import numpy as np
import scipy
from solver_cases import four_by_five

from goalit.api import solve
from goalit.game.model import build_game
from goalit.solvers.optimum import solve_milp


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="20,40,80")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--time-limit", type=float, default=300.0)
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores (shared), numpy {np.__version__}, "
          f"scipy {scipy.__version__}")  # fmt: skip
    print(f"{'users':>5} {'seed':>4} {'vars':>6} {'cons':>6} {'status':>10} {'time s':>8} {'nodes':>7} "
          f"{'gap':>8} {'optimum':>10} {'PoA':>7}")  # fmt: skip
    for n in [int(x) for x in args.sizes.split(",")]:
        times = []
        for seed in range(args.seeds):
            game = build_game(four_by_five(n, 1000 + seed))
            out = solve_milp(game, time_limit_s=args.time_limit)
            poa = solve(game, "goalit").metrics.social_cost / out.objective
            times.append(out.runtime_s)
            print(f"{n:>5} {seed:>4} {out.variables:>6} {out.constraints:>6} {out.status[:10]:>10} "
                  f"{out.runtime_s:8.2f} {out.nodes:>7} {out.mip_gap:8.1e} {out.objective:10.2f} {poa:7.4f}",
                  flush=True)  # fmt: skip
        print(f"{n:>5} median time {statistics.median(times):.2f} s, max {max(times):.2f} s")


if __name__ == "__main__":
    main()
