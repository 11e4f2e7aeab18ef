"""Price of anarchy vs price of stability: plain GOALIT vs refined GOALIT (``goalit-refined``).

Games: ``small`` itself, then ``--instances`` random games of ``--users`` users drawn like default.toml
on small.toml's two servers (4 sub-channels per AP: 8 offloading slots for 20 users, so capacities
bind), once with partitioned and once with shared servers. A game counts when capacities bind: some AP
is full (m_j >= K_j) at plain GOALIT's equilibrium or at the optimum. Ratios are S / S(optimum), the
optimum by the MILP (proven: status "optimal"; shared servers: the exact shared MILP).

Run: PYTHONPATH=src python benchmarks/refine_pos.py [--instances 100] [--users 20] [--first 0]
[--modes partitioned,shared] (the shared MILP takes ~4-8 s a game: split the shared run with --first)
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from dataclasses import replace

import numpy as np
from solver_cases import users_like_default

from goalit.api import default_scenario, solve
from goalit.game import dynamics
from goalit.game.model import build_game


def binds(game, *profiles) -> bool:
    return any((dynamics.loads(game, p)[1] >= game.subchannels).any() for p in profiles)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--instances", type=int, default=100)
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--first", type=int, default=0, help="first instance (seed 7000 + first)")
    ap.add_argument("--modes", default="partitioned,shared")
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores (shared), numpy {np.__version__}")
    small = default_scenario("small")
    game = build_game(small)
    opt, plain, ref = (solve(game, a) for a in ("optimum", "goalit", "goalit-refined"))
    s = opt.metrics.social_cost
    print(f"small: PoA (plain GOALIT) {plain.metrics.social_cost / s:.4f}, "
          f"PoS estimate (goalit-refined) {ref.metrics.social_cost / s:.4f}, "
          f"refined converged {ref.converged}, {ref.runtime_s * 1e3:.1f} ms")  # fmt: skip
    for sharing in args.modes.split(","):
        base = small.with_servers(tuple(replace(sv, sharing=sharing) for sv in small.servers))
        poa, pos, t_ref, t_plain, status, skipped, worse = [], [], [], [], [], 0, 0
        for k in range(args.first, args.first + args.instances):
            g = build_game(base.with_users(users_like_default(args.users, 7000 + k)))
            o, p, r = (solve(g, a, seed=k) for a in ("optimum", "goalit", "goalit-refined"))
            if not binds(g, p.profile, o.profile):
                skipped += 1
                continue
            status.append(o.extras["milp_status"])
            poa.append(p.metrics.social_cost / o.metrics.social_cost)
            pos.append(r.metrics.social_cost / o.metrics.social_cost)
            worse += r.metrics.social_cost > p.metrics.social_cost * (1 + 1e-12)
            t_ref.append(r.runtime_s)
            t_plain.append(p.runtime_s)
        poa_a, pos_a = np.array(poa), np.array(pos)
        print(f"{sharing}: {len(poa)} games with binding capacities ({skipped} skipped), MILP "
              f"{sum(x == 'optimal' for x in status)} optimal; refined worse than plain: {worse}")  # fmt: skip
        for name, v in (("PoA  plain GOALIT  ", poa_a), ("PoS  goalit-refined", pos_a)):
            print(f"  {name}: median {np.median(v):.4f}, mean {v.mean():.4f}, "
                  f"p90 {np.percentile(v, 90):.4f}, max {v.max():.4f}, share = 1 (<1e-9) {np.mean(v < 1 + 1e-9):.2f}")  # fmt: skip
        print(f"  run time: plain median {np.median(t_plain) * 1e3:.1f} ms, refined median "
              f"{np.median(t_ref) * 1e3:.1f} ms, max {max(t_ref) * 1e3:.1f} ms")  # fmt: skip


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"wall {time.perf_counter() - t0:.1f} s (timings inflated by other engineers' load)")
