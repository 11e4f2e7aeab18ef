"""Sweep GOALIT's decision interval on `default` (Poisson arrivals): players per decision and outcome.

For each interval (0 = at each arrival) and arrival rate, prints decisions, players per decision (mean,
p95, max), the share of decisions that reached an epsilon-equilibrium, token throughput, mean and p95
latency, SLO share and wall time, averaged over seeds. The default interval
(``goalit.sim.policies.DEFAULT_DECISION_INTERVAL_S``) is chosen from this table (docs/simulator.md).

Run: PYTHONPATH=src python benchmarks/sim_interval.py [--intervals 0,0.1,0.25,0.5,1] [--rates 5,10,20]
     [--seeds 3] [--duration 60]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import goalit


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenario", default="default")
    ap.add_argument("--intervals", default="0,0.1,0.25,0.5,1")
    ap.add_argument("--rates", default="5,10,20")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=60.0)
    args = ap.parse_args()
    keys = ("decisions", "players_per_decision_mean", "players_per_decision_p95", "players_per_decision_max",
            "decisions_converged_share", "token_throughput_tps", "mean_latency_s", "p95_latency_s",
            "slo_met_share")  # fmt: skip
    print(f"{'rate':>5} {'interval':>8} {'decis.':>7} {'ppd mean':>8} {'p95':>5} {'max':>4} {'conv.':>5} "
          f"{'tok/s':>7} {'lat s':>6} {'p95 s':>6} {'slo':>5} {'wall s':>6}")  # fmt: skip
    for rate in (float(x) for x in args.rates.split(",")):
        for iv in (float(x) for x in args.intervals.split(",")):
            rows = []
            t0 = time.perf_counter()
            for seed in range(args.seeds):
                res = goalit.simulate(args.scenario, policy="goalit", seed=seed, rate=rate,
                                      duration_s=args.duration, decision_interval_s=iv)  # fmt: skip
                rows.append([np.nan if res.metrics[k] is None else float(res.metrics[k]) for k in keys])
            wall = (time.perf_counter() - t0) / args.seeds
            m = dict(zip(keys, np.nanmean(np.asarray(rows), axis=0), strict=True))
            print(f"{rate:5g} {iv:8g} {m['decisions']:7.0f} {m['players_per_decision_mean']:8.2f} "
                  f"{m['players_per_decision_p95']:5.1f} {m['players_per_decision_max']:4.0f} "
                  f"{m['decisions_converged_share']:5.2f} {m['token_throughput_tps']:7.0f} "
                  f"{m['mean_latency_s']:6.2f} {m['p95_latency_s']:6.2f} {m['slo_met_share']:5.2f} {wall:6.2f}",
                  flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
