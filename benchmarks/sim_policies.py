"""Simulator speed per policy: replay the full Azure code and conversation traces on `default`.

Target (issue 12): every registered policy replays each full trace in <= 5 s wall on one core, no
policy slower than 5x GOALIT on the code trace, and the cost per event does not grow with queue length:
events/s at 2x, 5x and 10x the trace's own rate (arrival times divided by the factor) stay in the same
range. Prints, per policy and trace/load, the wall time, the process CPU time (this process only: less
inflated than wall time when other jobs share the cores), the time inside the policy's decisions, events,
events/s (of wall time), decisions and players per decision (mean, max), and the unfinished requests;
then, per trace at load 1, each policy's wall and CPU time over GOALIT's. Figures are wall-clock on a
shared machine (load average printed before and after).

Run: PYTHONPATH=src python benchmarks/sim_policies.py [--policies goalit,least-loaded] [--loads 1,2,5,10]
     [--traces code,conv] [--scenario default]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import goalit
from goalit.sim.policies import policy_names
from goalit.sim.workload import load_trace

TRACES = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "traces"
FILES = {"code": "AzureLLMInferenceTrace_code.csv", "conv": "AzureLLMInferenceTrace_conv.csv"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenario", default="default")
    ap.add_argument("--policies", default=",".join(policy_names()))
    ap.add_argument("--traces", default="code,conv")
    ap.add_argument("--loads", default="1,2,5,10", help="load factors: arrival rate x factor (time / factor)")
    ap.add_argument("--trace-dir", default=str(TRACES))
    ap.add_argument("--options", default="", help="policy options, e.g. decision_interval_s=0")
    args = ap.parse_args()
    opts = {}
    for kv in filter(None, args.options.split(",")):
        k, v = kv.split("=")
        opts[k] = float(v)
    print(
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} (shared machine: wall times inflated)"
    )
    print(f"{'policy':>14} {'trace':>5} {'load':>5} {'requests':>8} {'wall s':>7} {'cpu s':>7} {'decide s':>8} "
          f"{'events':>8} {'events/s':>9} {'decisions':>9} {'players':>7} {'max':>5} {'unfin.':>6}")  # fmt: skip
    base: dict[tuple[str, str], tuple[float, float]] = {}
    for tr in args.traces.split(","):
        w = load_trace(Path(args.trace_dir) / FILES[tr])
        for pol in args.policies.split(","):
            for x in (float(v) for v in args.loads.split(",")):
                t0, c0 = time.perf_counter(), time.process_time()
                res = goalit.simulate(args.scenario, policy=pol, workload=w, seed=0,
                                      time_scale=None if x == 1 else 1.0 / x, **opts)  # fmt: skip
                wall, cpu = time.perf_counter() - t0, time.process_time() - c0
                if x == 1:
                    base[(tr, pol)] = (wall, cpu)
                m = res.metrics
                ppd = m["players_per_decision_mean"]
                print(f"{pol:>14} {tr:>5} {x:5g} {m['arrived']:>8} {wall:7.2f} {cpu:7.2f} {res.decide_wall_s:8.2f} "
                      f"{res.events:>8} {res.events / wall:9.0f} {m['decisions']:>9} "
                      f"{ppd if ppd is None else round(ppd, 2)!s:>7} {m['players_per_decision_max']!s:>5} "
                      f"{m['unfinished']:>6}", flush=True)  # fmt: skip
    print(f"load average {os.getloadavg()[0]:.1f}")
    for tr in args.traces.split(","):
        ref = base.get((tr, "goalit"))
        if ref is None:
            continue
        ratios = ", ".join(
            f"{pol} {w / ref[0]:.1f}x wall / {c / ref[1]:.1f}x cpu"
            for (t, pol), (w, c) in base.items()
            if t == tr
        )
        print(f"{tr} trace, load 1, over goalit: {ratios}")


if __name__ == "__main__":
    main()
