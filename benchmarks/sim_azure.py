"""Simulator speed: replay the Azure LLM conversation trace on the `default` scenario, GOALIT at each arrival.

The target (issue 4): the whole trace (19,366 requests over ~58 min) in <= 30 s wall on one core, i.e.
>= 100x faster than real time. Prints, for growing prefixes of the trace, the requests, events, wall
and CPU time (total, and inside the policy's decisions), events per second and the speed-up over real
time, so the growth with trace length is visible. Machine load is printed too: on a shared machine
wall time is inflated, CPU time less so.

Run: ./dev bench sim_azure  [--fractions 0.25,0.5,1] [--policy goalit] [--trace FILE] [--repeat K]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

import goalit
from goalit.sim.workload import load_trace

TRACE = (
    Path(__file__).resolve().parents[1]
    / ".."
    / "shared"
    / "data"
    / "traces"
    / "AzureLLMInferenceTrace_conv.csv"
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trace", default=str(TRACE))
    ap.add_argument("--scenario", default="default")
    ap.add_argument("--policy", default="goalit")
    ap.add_argument("--fractions", default="0.25,0.5,1")
    ap.add_argument("--repeat", type=int, default=1, help="runs per point; the fastest is reported")
    args = ap.parse_args()
    trace = Path(args.trace)
    if not trace.is_file():
        raise SystemExit(f"sim_azure: trace not found: {trace} (../shared/data/traces is needed)")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f} (shared machine), numpy {np.__version__}")  # fmt: skip
    t0 = time.perf_counter()
    w = load_trace(trace)
    parse_s = time.perf_counter() - t0
    print(f"trace {trace.name}: {len(w)} requests over {w.span_s:.0f} s, parsed in {parse_s:.2f} s")
    print(f"{'fraction':>8} {'requests':>9} {'events':>8} {'wall s':>7} {'cpu s':>7} {'decide s':>8} "
          f"{'events/s':>9} {'x real':>7} {'p95 lat s':>9} {'unfin.':>6}")  # fmt: skip
    for frac in (float(x) for x in args.fractions.split(",")):
        best = None
        for _ in range(args.repeat):
            c0, t0 = time.process_time(), time.perf_counter()
            duration = None if frac >= 1 else frac * (w.span_s + 1e-6)
            res = goalit.simulate(args.scenario, policy=args.policy, workload=w, duration_s=duration, seed=0)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            if best is None or wall < best[0]:
                best = (wall, cpu, res)
        wall, cpu, res = best
        m = res.metrics
        real = res.workload["span_s"]
        print(f"{frac:8.2f} {m['arrived']:>9} {res.events:>8} {wall:7.2f} {cpu:7.2f} "
              f"{res.decide_wall_s:8.2f} {res.events / wall:9.0f} {real / wall:7.0f} "
              f"{m['p95_latency_s']:9.2f} {m['unfinished']:>6}")  # fmt: skip


if __name__ == "__main__":
    main()
