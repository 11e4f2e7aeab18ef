"""Empirical price of anarchy of GOALIT over random 20-user instances of the default scenario's servers.

PoA = S(GOALIT's equilibrium) / S(optimum), the optimum by the MILP (proven: status "optimal").
Also prints, for context, every registry algorithm's median and max ratio to the optimum.

Run: ./dev bench poa [--instances 100] [--users 20]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
from solver_cases import default_with

from goalit.game.model import build_game
from goalit.rng import stream
from goalit.solvers.registry import REGISTRY


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--instances", type=int, default=100)
    ap.add_argument("--users", type=int, default=20)
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores (shared), numpy {np.__version__}")
    ratios: dict[str, list[float]] = {name: [] for name in REGISTRY}
    statuses, t_opt = [], []
    for k in range(args.instances):
        game = build_game(default_with(args.users, 5000 + k))
        res = {name: fn(game, stream(k, "algorithm")) for name, fn in REGISTRY.items()}
        opt = res["optimum"]
        statuses.append(opt.extras["milp_status"])
        t_opt.append(opt.runtime_s)
        for name, r in res.items():
            ratios[name].append(r.metrics.social_cost / opt.metrics.social_cost)
    poa = np.array(ratios["goalit"])
    print(f"{args.instances} instances x {args.users} users (default servers, users drawn like default.toml, "
          f"seeds 5000..{5000 + args.instances - 1}); MILP status: "
          f"{sum(s == 'optimal' for s in statuses)} optimal; MILP time median {np.median(t_opt):.2f} s, "
          f"max {max(t_opt):.2f} s")  # fmt: skip
    print(
        f"GOALIT PoA: median {np.median(poa):.4f}, mean {poa.mean():.4f}, p90 {np.percentile(poa, 90):.4f}, "
        f"max {poa.max():.4f}, min {poa.min():.4f}, share with PoA = 1 (<1e-9): {np.mean(poa < 1 + 1e-9):.2f}"
    )
    print(f"{'algorithm':<13} {'median S/S*':>11} {'max S/S*':>11}")
    for name, vals in ratios.items():
        v = np.array(vals)
        print(f"{name:<13} {np.median(v):11.4g} {v.max():11.4g}")


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"wall {time.perf_counter() - t0:.1f} s")
