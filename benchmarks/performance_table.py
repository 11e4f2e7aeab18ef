"""The speed table of docs/performance.md (issue 12), printed as Markdown.

Measures, on this machine:
- the simulator per policy: the full Azure LLM conversation trace replayed on `default` (GOALIT or the
  policy at every arrival), simulated requests per second of wall time and simulated time / wall time;
- start-up: ``import goalit`` and ``goalit --help`` (best of K fresh interpreters);
- GOALIT to an epsilon-equilibrium on 10,000 and 100,000 users (`large` layout, benchmarks/goalit_speed.py),
and prints them next to the published figures of BLIS and Vidur (docs/performance.md cites them).

Run: PYTHONPATH=src python benchmarks/performance_table.py [--policies goalit,local] [--repeat K]
     [--skip-sim] [--skip-goalit] [--skip-import]
Wall-clock figures: on a shared machine they are inflated (the load average is printed).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
TRACE = HERE.parent / ".." / "shared" / "data" / "traces" / "AzureLLMInferenceTrace_conv.csv"

# Published simulator speeds (docs/performance.md gives the sources and how each was measured): name,
# simulated requests per second of wall time, simulated (real) time / wall time.
PUBLISHED = [
    ("BLIS-Roofline (inference-sim blog 2026-04-03, median of 38 single-instance vLLM runs)", "-", "766x"),
    ("BLIS-Evolved (same source)", "-", "1,479x"),
    ("Vidur (same source, 4 of the 38 runs)", "-", "134x"),
    ("BLIS as quoted in issue 12 (source not located)", "~1,600", "212x"),
    ("Vidur as quoted in issue 12 (source not located)", "-", "141x"),
]


def sim_rows(policies: list[str], trace: Path, scenario: str, repeat: int) -> list[tuple]:
    import goalit
    from goalit.sim.workload import load_trace

    w = load_trace(trace)
    rows = []
    for pol in policies:
        best = None
        for _ in range(repeat):
            t0 = time.perf_counter()
            res = goalit.simulate(scenario, policy=pol, workload=w, seed=0)
            wall = time.perf_counter() - t0
            if best is None or wall < best[0]:
                best = (wall, res)
        wall, res = best
        n = res.metrics["arrived"]
        span = res.workload["span_s"]
        rows.append((pol, n, span, wall, n / wall, span / wall, res.events / wall))
        print(f"  measured {pol}: {wall:.2f} s", file=sys.stderr, flush=True)
    return rows


def import_rows(repeat: int) -> list[tuple]:
    cases = {
        "`import goalit`": [sys.executable, "-c", "import goalit"],
        "`goalit --help`": [sys.executable, "-m", "goalit", "--help"],
    }
    out = []
    for name, cmd in cases.items():
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            times.append(time.perf_counter() - t0)
        out.append((name, min(times), statistics.median(times)))
    return out


def goalit_rows(sizes: list[int], repeat: int) -> list[tuple]:
    sys.path.insert(0, str(HERE))
    from goalit_speed import large_with

    import goalit
    from goalit.game.goalit import goalit as run_goalit
    from goalit.rng import stream

    out = []
    for n in sizes:
        game = goalit.build_game(large_with(n))
        _ = game.candidate_beta
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            tr = run_goalit(game, stream(0, "algorithm"))
            times.append(time.perf_counter() - t0)
        out.append((n, min(times), tr.slots, tr.updates, tr.converged))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--policies", default=None, help="comma-separated (default: every registered policy)")
    ap.add_argument("--scenario", default="default")
    ap.add_argument("--trace", default=str(TRACE))
    ap.add_argument("--repeat", type=int, default=1, help="runs per figure; the fastest is reported")
    ap.add_argument("--import-repeat", type=int, default=7)
    ap.add_argument("--goalit-sizes", default="10000,100000")
    ap.add_argument("--skip-sim", action="store_true")
    ap.add_argument("--skip-goalit", action="store_true")
    ap.add_argument("--skip-import", action="store_true")
    args = ap.parse_args()
    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f} at start (shared machine: wall times inflated), numpy {np.__version__}, "
          f"Python {platform.python_version()}.\n")  # fmt: skip
    if not args.skip_sim:
        trace = Path(args.trace)
        if not trace.is_file():
            raise SystemExit(f"performance_table: trace not found: {trace} (../shared/data/traces is needed)")
        from goalit.sim.policies import policy_names

        pols = args.policies.split(",") if args.policies else list(policy_names())
        rows = sim_rows(pols, trace, args.scenario, args.repeat)
        print(f"Simulator: full Azure conversation trace ({trace.name}) on `{args.scenario}`, seed 0, one "
              "process (`PYTHONPATH=src python benchmarks/performance_table.py --skip-goalit --skip-import`).\n")  # fmt: skip
        print("| simulator / policy | requests | simulated s | wall s | simulated req/s of wall | "
              "simulated / wall time | events/s |")  # fmt: skip
        print("|---|---:|---:|---:|---:|---:|---:|")
        for pol, n, span, wall, rps, ratio, eps in rows:
            print(
                f"| goalit `{pol}` | {n:,} | {span:,.0f} | {wall:.2f} | {rps:,.0f} | {ratio:,.0f}x | {eps:,.0f} |"
            )
        for name, rps, ratio in PUBLISHED:
            print(f"| {name} (published) | | | | {rps} | {ratio} | |")
        print()
    if not args.skip_import:
        print("| start-up (fresh interpreter) | best s | median s |")
        print("|---|---:|---:|")
        for name, best, med in import_rows(args.import_repeat):
            print(f"| {name} | {best:.3f} | {med:.3f} |")
        print()
    if not args.skip_goalit:
        print("| GOALIT to an epsilon-equilibrium (`large` layout) | solve s | slots | updates | converged |")
        print("|---|---:|---:|---:|---|")
        for n, best, slots, upd, conv in goalit_rows(
            [int(x) for x in args.goalit_sizes.split(",")], args.repeat
        ):
            print(f"| {n:,} users | {best:.2f} | {slots} | {upd} | {conv} |")
        print()


if __name__ == "__main__":
    main()
