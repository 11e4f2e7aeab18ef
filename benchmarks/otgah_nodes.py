"""OT (DFTSP-style tree search) nodes explored vs exhaustive search; OT-GAH epochs on the default servers.

Part 1: random OT subproblems (n requests drawn from default-like users, one instance of the default
scenario, deadlines as drawn, 20 sub-channels), n = 4..20: mean nodes of OT with feasibility + bound
pruning, with feasibility pruning only, and 2^n subsets of exhaustive search (which every value is
checked against). DFTSP (arXiv 2405.07140) reports > 45 % lower complexity than brute force.
Part 2: one static OT-GAH epoch (all users, all instances) for 20 / 50 / 100 users: OT searches,
nodes, wall time.

Run: ./dev bench otgah_nodes [--trials 20] [--max-n 20]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
from solver_cases import default_with

from goalit.game.model import build_game
from goalit.solvers import otgah


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--max-n", type=int, default=20)
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores (shared), numpy {np.__version__}")
    game = build_game(default_with(200, 77))
    rng = np.random.default_rng(0)
    print("part 1: OT subproblems (mean over trials; instances drawn among all 10 of the default scenario)")
    print(f"{'n':>3} {'exhaustive':>10} {'OT nodes':>9} {'saved %':>8} {'feas-only':>10} {'saved %':>8} "
          f"{'min saved %':>11} {'OT ms':>7} {'exh ms':>8} {'served/req':>10}")  # fmt: skip
    for n in range(4, args.max_n + 1, 2):
        ot_nodes, feas_nodes, worst, t_ot, t_ex, served = [], [], [], 0.0, 0.0, []
        for _ in range(args.trials):
            r = int(rng.integers(1, game.n_actions))
            users = rng.choice(np.flatnonzero(game.allowed[:, r]), n, replace=False)
            prob = otgah.BatchProblem(
                r=r,
                output_tokens=game.output_tokens[users].astype(np.int64),
                prompt_tokens=game.prompt_tokens[users].astype(np.int64),
                uplink_s=game.uplink_s[users, r],
                budget_s=game.deadline_s[users] - game.downlink_s[users, r],
                max_batch=20,
            )
            t0 = time.perf_counter()
            ot = otgah.optimal_batch(game, prob)
            t1 = time.perf_counter()
            ex = otgah.exhaustive_batch(game, prob)
            t2 = time.perf_counter()
            feas = otgah.optimal_batch(game, prob, bound_pruning=False)
            assert ot.value == ex.value == feas.value, (n, r)
            t_ot += t1 - t0
            t_ex += t2 - t1
            ot_nodes.append(ot.nodes)
            feas_nodes.append(feas.nodes)
            worst.append(1 - ot.nodes / ex.nodes)
            served.append(ot.members.size / n)
        full = 2**n
        m_ot, m_fe = float(np.mean(ot_nodes)), float(np.mean(feas_nodes))
        print(f"{n:>3} {full:>10} {m_ot:9.1f} {100 * (1 - m_ot / full):8.2f} {m_fe:10.1f} "
              f"{100 * (1 - m_fe / full):8.2f} {100 * min(worst):11.2f} {1e3 * t_ot / args.trials:7.2f} "
              f"{1e3 * t_ex / args.trials:8.1f} {np.mean(served):10.2f}", flush=True)  # fmt: skip
    print("part 2: one static OT-GAH epoch over all users (default servers)")
    print(f"{'users':>5} {'searches':>8} {'nodes':>8} {'batched':>7} {'tokens':>7} {'wall s':>7}")
    for n in (20, 50, 100):
        g = build_game(default_with(n, 5))
        t0 = time.perf_counter()
        plan = otgah.plan_epoch(g, np.arange(n))
        dt = time.perf_counter() - t0
        batched = int(sum(m.size for m in plan.batches.values()))
        tokens = plan.served_tokens
        print(f"{n:>5} {plan.searches:>8} {plan.nodes_explored:>8} {batched:>7} {tokens:>7} {dt:7.2f}")


if __name__ == "__main__":
    main()
