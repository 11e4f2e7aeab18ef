"""GOALIT's engines per decision game size: vectorised, scalar Python loop, compiled kernel (Numba).

For every size N, GOALIT (parallel grant) from the isolated start on decision games of N players drawn
as the simulator builds them (`SubgameBuilder.loaded` on a background load, shared servers on `default`,
50 servers on `large`); prints the mean time per run of each engine (CPU time of this process, wall
time in parentheses; the machine is shared, so wall times are inflated) and checks that the three end at
the same profile. The crossover sets ``goalit_scalar.MAX_PLAYERS`` (Python loop) and
``MAX_PLAYERS_COMPILED`` (kernel). The kernel is compiled (or loaded from Numba's cache) before timing.

Run: PYTHONPATH=src python benchmarks/goalit_kernel.py [--scenario default] [--sizes 8,32,64,128,...]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import goalit
from goalit.game import dynamics
from goalit.game import goalit_scalar as gs
from goalit.game.goalit import goalit as run_goalit
from goalit.game.model import build_game
from goalit.scenario.model import Users
from goalit.sim.view import Background, SubgameBuilder


def games(scenario: str, size: int, count: int, seed: int) -> list:
    sc = goalit.default_scenario(scenario)
    rng = np.random.default_rng(seed)
    n = max(4 * size, 400)
    u = sc.users.take(rng.integers(0, sc.n_users, n))
    users = Users(**{**u.__dict__, "prompt_tokens": rng.integers(50, 600, n),
                     "output_tokens": rng.integers(20, 400, n)})  # fmt: skip
    game = build_game(sc, users=users, context_tokens=400.0, kv_context_tokens=1024.0)
    b = SubgameBuilder(game)
    out = []
    for _ in range(count):
        ids = np.sort(rng.choice(n, size, replace=False))
        n_fixed = np.concatenate([[0], rng.integers(0, 8, game.n_actions - 1)])
        ctx = n_fixed * rng.uniform(100.0, 2000.0, n_fixed.shape)
        m_fixed = np.zeros(game.n_servers, np.int64)
        out.append(
            b.loaded(ids, Background(n_fixed, ctx, m_fixed, game.kv_free_bytes.copy()), potential=False)
        )
    return out


def timed(fn, subs) -> tuple[float, float, list]:
    c0, w0 = time.process_time(), time.perf_counter()
    res = [fn(s) for s in subs]
    return (time.process_time() - c0) / len(subs), (time.perf_counter() - w0) / len(subs), res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenario", default="default")
    ap.add_argument("--sizes", default="4,8,16,32,64,128,256,512,1024,2048")
    ap.add_argument("--count", type=int, default=20, help="games per size")
    args = ap.parse_args()
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} (shared machine)")
    warm = games(args.scenario, 4, 1, 0)[0]
    gs.goalit_small_cycled(warm, np.random.default_rng(0), dynamics.isolated_start(warm), compiled=True)
    rng = np.random.default_rng(0)  # the parallel grant draws nothing
    print(f"{'N':>6} {'slots':>6} {'vectorised ms':>16} {'python ms':>16} {'kernel ms':>16}  same")
    for size in (int(s) for s in args.sizes.split(",")):
        subs = games(args.scenario, size, args.count, size)
        vec = timed(lambda s: run_goalit(s, rng, fast=False, record_potential=False), subs)
        py = (
            timed(lambda s: gs.goalit_from(s, rng, np.full(s.n_users, -1), compiled=False), subs)
            if size <= 512
            else None
        )
        jit = timed(lambda s: gs.goalit_from(s, rng, np.full(s.n_users, -1), compiled=True), subs)
        same = all(np.array_equal(t.profile, j[0]) for t, j in zip(vec[2], jit[2], strict=True))
        if py is not None:
            same = same and all(np.array_equal(p[0], j[0]) for p, j in zip(py[2], jit[2], strict=True))
        slots = np.mean([t.slots for t in vec[2]])

        def fmt(r) -> str:
            return "-" if r is None else f"{1e3 * r[0]:7.3f} ({1e3 * r[1]:6.3f})"

        print(f"{size:>6} {slots:6.1f} {fmt(vec):>16} {fmt(py):>16} {fmt(jit):>16}  {same}", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
