"""Testbed noise floor and prediction errors: the same testbed run repeated, at one or more loads.

For each rate, ``goalit testbed`` (llama-server engine by default, the committed step table) runs
``--repeats`` times on the same trace slice and seed. Printed per rate and metric: the measured value of
each run, the spread of the measurements between identical runs (max |x_k / mean - 1|, the noise floor:
no model can be closer to one run than the runs are to each other) and the simulator's error per run
((simulated - measured) / measured, same decisions), plus the gateway's median |error| of its own
predicted latency, the share of the CPUs other processes used during each replay and the load average
(``/proc/loadavg``) before and after each run. Each run's same-decision errors are also given under both
host models (``goalit.experiments.testbed.hosts``: partitioned, shared), from the same measured run.

Run: PYTHONPATH=src python benchmarks/testbed_noise.py [--rates 0.5,2] [--repeats 2] [--requests 30]
     [--engine llama-server] [--out DIR]
The machine is shared (2 vCPUs): other engineers' work slows the servers; the CPU share is printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from goalit.experiments.testbed import TestbedOptions, run_testbed  # noqa: E402

FIVE = ("mean_latency_s", "p95_latency_s", "mean_ttft_s", "mean_tpot_s", "token_throughput_tps")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", default="0.5,2")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--requests", type=int, default=30)
    ap.add_argument("--engine", default="llama-server")
    ap.add_argument("--policy", default="goalit")
    ap.add_argument("--quiet", type=float, default=0.25)
    ap.add_argument("--roofline", action="store_true")
    ap.add_argument("--host-model", default=None, help="partitioned or shared (default: the testbed's)")
    ap.add_argument("--step-table", type=Path, default=None, help="profile with [meta.step_table]")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    out: dict = {}
    for rate in [float(x) for x in args.rates.split(",")]:
        runs = []
        for k in range(args.repeats):
            opts = TestbedOptions(rate=rate, requests=args.requests, engine=args.engine, policy=args.policy,
                                  quiet=args.quiet, use_step_table=not args.roofline, host_model=args.host_model,
                                  step_table=args.step_table)  # fmt: skip
            load_before = loadavg()
            res = run_testbed(opts, log=lambda m: print(m, file=sys.stderr, flush=True))
            runs.append(res.summary() | {"loadavg_before": load_before, "loadavg_after": loadavg()})
            print(f"rate {rate} run {k + 1}: " + ", ".join(
                f"{m} {res.testbed[m]:.4g} (sim {100 * (res.error_same_decisions[m] or 0):+.1f} %)" for m in FIVE
            ), file=sys.stderr)  # fmt: skip
        rows = {}
        for m in FIVE:
            vals = np.array([r["testbed"][m] for r in runs], float)
            errs = [r["error_same_decisions"][m] for r in runs]
            errs_own = [r["error"][m] for r in runs]
            errs_scaled = [(r["simulated_speed_scaled"]["error"] or {}).get(m) for r in runs]
            rows[m] = {"measured": vals.tolist(), "noise_pct": float(100 * np.max(np.abs(vals / vals.mean() - 1))),
                       "sim_error_pct": [None if e is None else 100 * e for e in errs],
                       "sim_own_error_pct": [None if e is None else 100 * e for e in errs_own],
                       "sim_speed_scaled_error_pct": [None if e is None else 100 * e for e in errs_scaled]}  # fmt: skip
        out[str(rate)] = {
            "metrics": rows,
            "prediction_median_abs_pct": [r["prediction"]["median_abs_pct"] for r in runs],
            "other_cpu_share": [r["processes"]["background_load"]["other_share_during_replay"] for r in runs],
            "loadavg": [(r["loadavg_before"], r["loadavg_after"]) for r in runs],
            "host_model": [r["processes"]["host_model"] for r in runs],
            "error_by_host_model_pct": {
                hm: {m: [_pct((r["error_by_host_model"].get(hm) or {}).get(m)) for r in runs] for m in FIVE}
                for hm in ("partitioned", "shared")
            },
            "contention": [(r["speed_check"].get("contention") or {}).get("ratio") for r in runs],
        }
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            for k, r in enumerate(runs):
                (args.out / f"rate{rate}-run{k + 1}.json").write_text(json.dumps(r, indent=1, default=str))
    print(json.dumps(out, indent=1))
    for rate, d in out.items():
        print(f"\nrate {rate} req/s: other processes used {d['other_cpu_share']} of the CPUs; load average "
              f"(before, after) {d['loadavg']}; gateway prediction median |err| % "
              f"{d['prediction_median_abs_pct']}; decode together / alone {d['contention']}")  # fmt: skip
        for m, r in d["metrics"].items():
            errs = ", ".join("-" if e is None else f"{e:+.1f}" for e in r["sim_error_pct"])
            errs2 = ", ".join("-" if e is None else f"{e:+.1f}" for e in r["sim_speed_scaled_error_pct"])
            print(f"  {m:22s} measured {', '.join(f'{v:.4g}' for v in r['measured'])}; noise "
                  f"{r['noise_pct']:.1f} %; sim error (same decisions) {errs} %; table x speed check {errs2} %")  # fmt: skip
        for hm, per in d["error_by_host_model_pct"].items():
            print(f"  host model {hm:11s}: " + "; ".join(
                f"{m} " + ", ".join("-" if e is None else f"{e:+.1f}" for e in v) for m, v in per.items()))  # fmt: skip


def loadavg() -> str:
    """The 1, 5 and 15 min load averages (``/proc/loadavg``)."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "-"


def _pct(e):
    return None if e is None else 100 * e


if __name__ == "__main__":
    main()
