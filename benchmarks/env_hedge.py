"""Benchmark: independent Hedge (no-regret) learners in goalit_offload_v0 against GOALIT, E4/E7-style.

Games are the experiments' static games (``goalit.experiments.static.static_game``: the default
scenario's servers with N users drawn from the seed, as E4 and E7 draw them). For each game:

* GOALIT (parallel grant) from the isolated start: slots, updates, social cost S, max regret;
* Hedge, trained through the PettingZoo env (``goalit.env.train_hedge``; full-information feedback
  ``info["action_costs"]``, eta = sqrt(8 ln K / T)): the profile the learners settle on (each user's
  most likely action) after T rounds, its S and max regret, the round from which it stayed an
  epsilon-NE ("never" if it did not), the played profiles' mean S over the last tenth of the rounds
  (what the learners actually pay, exploration included) and the wall time of training;
* E7 only (N <= 12): the exact optimum S* (HiGHS MILP) and both ratios S / S*.

Regret is the largest normalised gain of a unilateral deviation (s/token; 0 at a Nash equilibrium,
GOALIT stops below epsilon = 1e-5). Wall times are on a shared 2-core machine (inflated by load).

    PYTHONPATH=src python benchmarks/env_hedge.py [--seeds 5] [--rounds 2000] [--quick]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from goalit.env import parallel_env, train_hedge
from goalit.experiments.point import Point
from goalit.experiments.static import static_game
from goalit.game import dynamics
from goalit.rng import stream
from goalit.solvers.optimum import solve_optimum
from goalit.solvers.registry import solve_goalit


def one(n: int, seed: int, rounds: int, optimum: bool) -> dict:
    game = static_game(Point("convergence", "goalit", {"scenario": "default", "n_users": n}, seed))
    g = solve_goalit(game, stream(seed, "algorithm"))
    env = parallel_env(game, max_steps=rounds, optimum_max_users=0)
    t0 = time.perf_counter()
    h = train_hedge(env, stream(seed, "algorithm"))
    wall = time.perf_counter() - t0
    s_h = float(dynamics.user_costs(game, h.profile).sum())
    tail = h.social_cost[-max(rounds // 10, 1) :]
    row = {
        "n": n, "seed": seed, "g_slots": g.slots, "g_updates": g.updates, "g_cost": g.metrics.social_cost,
        "g_regret": g.metrics.max_regret, "h_rounds": h.rounds, "h_eq": h.rounds_to_equilibrium,
        "h_cost": s_h, "h_regret": dynamics.max_regret(game, h.profile), "h_played": float(np.mean(tail)),
        "h_wall": wall, "h_ext": float(h.external_regret.max()),
    }  # fmt: skip
    if optimum:
        opt = solve_optimum(game, stream(seed, "algorithm"))
        row["opt"] = opt.metrics.social_cost if opt.converged else float("nan")
    return row


def fmt(x: float) -> str:
    return f"{x:.4g}"


def table_e4(rows: list[dict]) -> None:
    print("| N | GOALIT slots | GOALIT updates | GOALIT S (s) | GOALIT max regret | Hedge rounds | Hedge rounds "
          "to eps-NE | Hedge S (s) | Hedge S / GOALIT S | Hedge max regret | Hedge played S, last 10% (s) | "
          "Hedge train wall (s) |")  # fmt: skip
    print("|" + "---|" * 12)
    for n in sorted({r["n"] for r in rows}):
        rs = [r for r in rows if r["n"] == n]
        eq = [r["h_eq"] for r in rs if r["h_eq"] is not None]
        eq_txt = f"{np.median(eq):.0f} ({len(eq)}/{len(rs)} seeds)" if eq else f"never (0/{len(rs)})"
        print(
            f"| {n} | {np.mean([r['g_slots'] for r in rs]):.1f} | {np.mean([r['g_updates'] for r in rs]):.1f} | "
            f"{fmt(np.mean([r['g_cost'] for r in rs]))} | {fmt(max(r['g_regret'] for r in rs))} | "
            f"{rs[0]['h_rounds']} | {eq_txt} | {fmt(np.mean([r['h_cost'] for r in rs]))} | "
            f"{fmt(np.mean([r['h_cost'] / r['g_cost'] for r in rs]))} | "
            f"{fmt(np.median([r['h_regret'] for r in rs]))} (max {fmt(max(r['h_regret'] for r in rs))}) | "
            f"{fmt(np.median([r['h_played'] for r in rs]))} | {np.mean([r['h_wall'] for r in rs]):.1f} |"
        )


def table_e7(rows: list[dict]) -> None:
    print("| N | S* (s) | GOALIT S / S* mean (max) | Hedge S / S* mean (max) | Hedge max regret median | "
          "Hedge at an eps-NE |")  # fmt: skip
    print("|" + "---|" * 6)
    for n in sorted({r["n"] for r in rows}):
        rs = [r for r in rows if r["n"] == n]
        g = np.array([r["g_cost"] / r["opt"] for r in rs])
        h = np.array([r["h_cost"] / r["opt"] for r in rs])
        at_ne = sum(r["h_regret"] <= 1e-5 for r in rs)
        print(f"| {n} | {fmt(np.mean([r['opt'] for r in rs]))} | {g.mean():.4f} ({g.max():.4f}) | "
              f"{h.mean():.4f} ({h.max():.4f}) | {fmt(np.median([r['h_regret'] for r in rs]))} | "
              f"{at_ne}/{len(rs)} |")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2000)
    ap.add_argument("--quick", action="store_true", help="2 seeds, 500 rounds")
    args = ap.parse_args()
    seeds, rounds = (2, 500) if args.quick else (args.seeds, args.rounds)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores (shared), numpy {np.__version__}; "
          f"seeds 0..{seeds - 1}, T = {rounds} Hedge rounds\n")  # fmt: skip
    print("E4-style (convergence, default scenario servers):\n")
    table_e4([one(n, s, rounds, False) for n in (20, 50, 100) for s in range(seeds)])
    print("\nE7-style (against the exact optimum):\n")
    table_e7([one(n, s, rounds, True) for n in (2, 4, 6, 8, 10, 12) for s in range(seeds)])


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"\nwall {time.perf_counter() - t0:.1f} s")
