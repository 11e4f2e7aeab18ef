"""Simulated requests per CPU-second by policy, the rates `goalit reproduce --dry-run` estimates with
(``goalit.experiments.reproduce.REQUESTS_PER_CPU_S``): `default`, Poisson arrivals over 60 s windows at
6, 10 and 20 req/s, seed 0, one process (``time.process_time``, so less inflated by other jobs than wall
time). Prints each run and the mean rate per policy; Numba's one-off start-up is paid before timing.

Run: PYTHONPATH=src python benchmarks/reproduce_rates.py [--policies goalit,ot-gah] [--rates 6,10,20]
"""

from __future__ import annotations

import argparse
import os
import time

import goalit


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--policies", default="goalit,ot-gah,ot-gah-continuous,goalit-epochs,random")
    ap.add_argument("--rates", default="6,10,20")
    ap.add_argument("--duration", type=float, default=60.0)
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for pol in args.policies.split(","):  # warm-up: imports and compiled code loaded before timing
        goalit.simulate("default", policy=pol, rate=2.0, duration_s=2.0, seed=0)
    for pol in args.policies.split(","):
        rates = []
        for lam in (float(x) for x in args.rates.split(",")):
            c0 = time.process_time()
            res = goalit.simulate("default", policy=pol, rate=lam, duration_s=args.duration, seed=0)
            cpu = time.process_time() - c0
            n = int(res.metrics["arrived"])
            rates.append(n / cpu)
            print(f"{pol:>18} {lam:5g} req/s: {n:6d} requests in {cpu:6.2f} CPU-s = {n / cpu:8.0f} req/CPU-s")
        print(f"{pol:>18} mean {sum(rates) / len(rates):8.0f} req/CPU-s")


if __name__ == "__main__":
    main()
