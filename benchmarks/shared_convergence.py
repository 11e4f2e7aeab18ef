"""How often plain best response converges on shared servers (issue 10), over random small games.

The shared game has no exact potential (docs/model.md), so GOALIT may cycle. For each of G random games
(default: 1,000) the script draws, with ``--family default``, a world like the embedded `default`
(4 shared servers, the same hosted variants, 20 MHz APs) with 5-60 users drawn like default's (one seed
per game); with ``--family random``, 1-4 shared servers of random hardware (RTX 4090, AGX Orin, A100)
hosting 1-4 random levels that fit, APs of 1-4 sub-channels, H in {0.05, 1, 1000} s, 2-20 users
anywhere in 300 m x 300 m. Then it runs GOALIT
with the parallel grant (default) and with max-gain (one best response per slot), cap 10,000 slots,
epsilon 1e-5 s/token. Prints the share of games that converged, that cycled and that hit the cap, the
slots to convergence (median, p95, max) and, where GOALIT did not converge, the final max regret
(normalised, s/token) against epsilon.

Run: ./dev bench shared_convergence  [--games G] [--seed S]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import goalit
from goalit.game import dynamics
from goalit.game.goalit import goalit as run_goalit
from goalit.game.model import build_game
from goalit.rng import stream
from goalit.scenario.generate import UserGenerator

DISTS = {
    "prompt_tokens": ("uniform", (64, 512)),
    "output_tokens": ("uniform", (64, 512)),
    "deadline_s": ("uniform", (5.0, 30.0)),
    "w_latency": ("const", (1.0,)),
    "w_quality": ("uniform", (0.0, 0.5)),  # ten times default's range: more users weigh the ladder
    "w_energy": ("choice", (0.0, 0.1)),
    "max_perplexity": ("uniform", (6.5, 12.0)),
    "tx_power_w": ("const", (0.2,)),
}


HARDWARE = ("rtx-4090", "jetson-agx-orin-64gb", "a100-80gb")
LEVELS = ("fp16", "q8_0", "q4_k_m", "q3_k_m", "q2_k")


def random_world(base, rng: np.random.Generator):
    """1-4 shared servers with random hardware, hosted levels (that fit), sub-channels and H."""
    from dataclasses import replace

    from goalit.scenario.model import AccessPoint, Instance, Server
    from goalit.scenario.profiles import builtin_profiles

    cat = builtin_profiles()
    llm = base.llm
    servers = []
    for j in range(int(rng.integers(1, 5))):
        hw = str(rng.choice(HARDWARE))
        mem = cat.hardware[hw].memory_bytes
        levels = [str(x) for x in rng.permutation(LEVELS)[: int(rng.integers(1, 5))]]
        while sum(llm.levels[lv].weight_bytes for lv in levels) > 0.8 * mem:
            levels = levels[:-1]
        pos = (float(rng.uniform(0, 300)), float(rng.uniform(0, 300)))
        ap = AccessPoint(float(rng.integers(1, 5)) * 1e6, 1e6, 1.0, 1000.0)
        servers.append(Server(f"s{j}", pos, hw, ap, tuple(Instance(lv) for lv in levels), "shared"))
    hardware = {h: cat.hardware[h] for h in {s.hardware for s in servers} | {"snapdragon-8-gen-3"}}
    game = replace(base.game, capacity_penalty_s=float(rng.choice([0.05, 1.0, 1000.0])))
    return replace(base, servers=tuple(servers), hardware=hardware, game=game)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--games", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scenario", default="default")
    ap.add_argument("--family", choices=("default", "random"), default="default")
    args = ap.parse_args()
    base = goalit.default_scenario(args.scenario)
    rng = stream(args.seed, "benchmark")
    sizes = (
        rng.integers(5, 61, size=args.games) if args.family == "default" else rng.integers(2, 21, args.games)
    )
    out: dict[str, dict[str, list]] = {g: {"conv": [], "cyc": [], "slots": [], "regret": []} for g in
                                        ("parallel", "max-gain")}  # fmt: skip
    t0 = time.perf_counter()
    shared_games = 0
    for k, n in enumerate(sizes.tolist()):
        users = UserGenerator(n, args.seed * 100_000 + k, (300.0, 300.0), "snapdragon-8-gen-3", DISTS).draw()
        world = base if args.family == "default" else random_world(base, rng)
        game = build_game(world.with_users(users))
        if not game.allowed.any(axis=1).all():
            continue
        shared_games += int(game.shared)
        for grant, acc in out.items():
            tr = run_goalit(game, np.random.default_rng(k), grant=grant, max_slots=10_000)
            acc["conv"].append(tr.converged)
            acc["cyc"].append(tr.cycled)
            acc["slots"].append(tr.slots)
            acc["regret"].append(0.0 if tr.converged else dynamics.max_regret(game, tr.profile))
    wall = time.perf_counter() - t0
    played = len(out["parallel"]["conv"])
    where = (
        f"{args.scenario!r} servers, 5-60 users" if args.family == "default" else "random worlds, 2-20 users"
    )
    print(f"{played} random games ({shared_games} with shared servers; family {args.family}: {where}), "
          f"epsilon {base.game.epsilon:g} s/token, cap 10,000 slots; {wall:.1f} s wall")  # fmt: skip
    for grant, acc in out.items():
        conv = np.array(acc["conv"])
        cyc = np.array(acc["cyc"])
        slots = np.array(acc["slots"])
        reg = np.array(acc["regret"])
        capped = ~conv & ~cyc
        print(f"\n{grant}: converged {conv.mean():.1%} ({conv.sum()}/{conv.size}), cycled {cyc.mean():.1%}, "
              f"hit the cap {capped.mean():.1%}")  # fmt: skip
        if conv.any():
            s = slots[conv]
            print(
                f"  slots to convergence: median {np.median(s):.0f}, p95 {np.percentile(s, 95):.0f}, max {s.max()}"
            )
        if (~conv).any():
            r = reg[~conv]
            print(f"  not converged: max regret median {np.median(r):.3g}, max {r.max():.3g} s/token "
                  f"(epsilon {base.game.epsilon:g}); slots median {np.median(slots[~conv]):.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
