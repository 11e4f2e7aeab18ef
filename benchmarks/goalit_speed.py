"""GOALIT convergence speed on the embedded `large` scenario family (issue 2).

Prints, for 1,000 / 10,000 / 100,000 users on the 50-server `large` layout: game build time, time to
an epsilon-equilibrium (wall, one process), slots, granted updates, time per granted update, and max
regret, for the parallel grant (default) and, where affordable, the one-grant-per-slot max-gain rule;
"full-eval s" is the same run without incremental best responses (every user re-evaluated each slot).
"cpu s" is the process CPU time of the fastest run: on a shared machine wall time is inflated by the
other processes, CPU time much less (the load average is printed). Targets (issue 12): 100,000 users
<= 3 s, 10,000 users <= 1 s (solve, wall, one core).

Run: ./dev bench goalit_speed  [--repeat K]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from dataclasses import replace

import numpy as np

import goalit
from goalit.game import dynamics
from goalit.game.goalit import goalit as run_goalit
from goalit.rng import stream
from goalit.scenario.generate import USER_DISTRIBUTIONS, UserGenerator


def large_with(n_users: int):
    base = goalit.default_scenario("large")
    dists = {
        "prompt_tokens": ("uniform", (64, 512)),
        "output_tokens": ("uniform", (64, 512)),
        "deadline_s": ("uniform", (5.0, 30.0)),
        "w_latency": ("const", (1.0,)),
        "w_quality": ("uniform", (0.0, 0.05)),
        "w_energy": ("choice", (0.0, 0.1)),
        "max_perplexity": ("uniform", (6.5, 12.0)),
        "tx_power_w": ("const", (0.2,)),
    }
    assert set(dists) == {d[0] for d in USER_DISTRIBUTIONS}
    users = UserGenerator(n_users, 7, (2000.0, 2000.0), "snapdragon-8-gen-3", dists).draw()
    return replace(base, users=users)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sizes", default="1000,10000,100000")
    args = ap.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}, "
        f"load average {os.getloadavg()[0]:.1f} (shared machine: wall times inflated)"
    )
    print(
        f"{'users':>8} {'grant':>9} {'build s':>8} {'solve s':>8} {'cpu s':>6} {'slots':>6} {'updates':>8} "
        f"{'us/update':>10} {'max regret':>11} conv  {'full-eval s':>11}"
    )
    for n in [int(x) for x in args.sizes.split(",")]:
        sc = large_with(n)
        t0 = time.perf_counter()
        game = goalit.build_game(sc)
        _ = game.candidate_beta
        build = time.perf_counter() - t0
        grants = ["parallel"] + (["max-gain"] if n <= 3000 else [])
        for grant in grants:
            best = cpu = None
            for _ in range(args.repeat):
                c0, t0 = time.process_time(), time.perf_counter()
                tr = run_goalit(game, stream(0, "algorithm"), grant=grant)
                dt, dc = time.perf_counter() - t0, time.process_time() - c0
                if best is None or dt < best:
                    best, cpu = dt, dc
            reg = dynamics.max_regret(game, tr.profile)
            t0 = time.perf_counter()  # the same run re-evaluating every user in every slot
            full = run_goalit(game, stream(0, "algorithm"), grant=grant, incremental=False)
            t_full = time.perf_counter() - t0
            assert np.array_equal(full.profile, tr.profile) and full.slots == tr.slots
            print(
                f"{n:>8} {grant:>9} {build:8.3f} {best:8.3f} {cpu:6.2f} {tr.slots:>6} {tr.updates:>8} "
                f"{1e6 * best / max(tr.updates, 1):10.1f} {reg:11.2e} {tr.converged!s:5} {t_full:11.3f}"
            )


if __name__ == "__main__":
    main()
