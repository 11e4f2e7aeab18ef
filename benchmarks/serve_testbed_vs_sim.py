"""Testbed vs simulation: mean latency and throughput error for GOALIT and a baseline (goal <= 15 %).

Runs ``goalit testbed`` (``goalit.experiments.testbed``: real llama-server processes behind the gateway,
a replayed slice of the Azure conversation trace) once per policy on the same slice and seed, and prints the relative error
(simulated - measured) / measured of each metric, for the simulator deciding by itself and for the
simulator replaying the testbed's decisions.

Run: PYTHONPATH=src python benchmarks/serve_testbed_vs_sim.py [--policies goalit,least-loaded] [--requests 40]
     [--rate 0.3] [--threads 1] [--profile FILE --llm NAME --hardware NAME | --calibrate-first] [--out DIR]

``--calibrate-first`` runs ``goalit calibrate`` with the testbed's threads per server just before (same
machine state), so the comparison tests the simulator's serving and queueing model with a hardware
profile that matches the servers as they run now; without it the built-in calibrated profile is used.
The machine is shared (2 vCPUs): the servers compete with each other and with other work for the CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from goalit.cli.testbed import format_report  # noqa: E402
from goalit.experiments.testbed import METRICS, TestbedOptions, run_testbed  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--policies", default="goalit,least-loaded")
    ap.add_argument("--requests", type=int, default=40)
    ap.add_argument("--offset", type=int, default=0)
    ap.add_argument("--rate", type=float, default=0.3)
    ap.add_argument("--servers", type=int, default=2)
    ap.add_argument("--levels", default="q8_0,q4_0")
    ap.add_argument("--threads", type=int, default=None, help="per server (default: CPUs / servers)")
    ap.add_argument("--max-prompt-tokens", type=int, default=256)
    ap.add_argument("--max-output-tokens", type=int, default=48)
    ap.add_argument("--w-quality", type=float, default=0.05)
    ap.add_argument("--profile", type=Path, default=None)
    ap.add_argument("--llm", default=None)
    ap.add_argument("--hardware", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--quiet", type=float, default=0.25, help="wait for other processes to use <= this CPU share"
    )
    ap.add_argument("--out", type=Path, default=None, help="write one JSON per policy here")
    ap.add_argument("--calibrate-first", action="store_true", help="calibrate at the testbed's threads first")
    args = ap.parse_args()
    if args.calibrate_first:
        args.profile, args.llm, args.hardware = calibrate_now(args)
    base = TestbedOptions(
        servers=args.servers,
        levels=tuple(args.levels.split(",")),
        requests=args.requests,
        offset=args.offset,
        rate=args.rate,
        threads=args.threads,
        max_prompt_tokens=args.max_prompt_tokens,
        max_output_tokens=args.max_output_tokens,
        w_quality=args.w_quality,
        profile=args.profile,
        llm=args.llm,
        hardware=args.hardware,
        seed=args.seed,
        quiet=args.quiet,
    )
    rows = []
    for policy in args.policies.split(","):
        print(f"--- {policy} (load average {os.getloadavg()[0]:.1f})", file=sys.stderr, flush=True)
        res = run_testbed(replace(base, policy=policy), log=lambda m: print(m, file=sys.stderr, flush=True))
        print(format_report(res))
        print()
        if args.out is not None:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / f"testbed_{policy}.json").write_text(
                json.dumps({**res.summary(), "records": res.records}, indent=1, default=str), encoding="utf-8"
            )
        rows.append((policy, res))
    print("relative error (simulated - testbed) / testbed")
    print(
        f"{'policy':<14} {'metric':<22} {'testbed':>10} {'simulated':>10} {'error':>8} {'same-decision':>14}"
    )
    for policy, res in rows:
        for m in METRICS:
            real, sim = res.testbed.get(m), res.simulated.get(m)
            e, e2 = res.error.get(m), res.error_same_decisions.get(m)
            print(f"{policy:<14} {m:<22} {_n(real):>10} {_n(sim):>10} {_p(e):>8} {_p(e2):>14}")
        print(f"{policy:<14} load average at the end: {os.getloadavg()[0]:.1f}")


def calibrate_now(args) -> tuple[Path, str, str]:
    """``goalit calibrate`` at the testbed's threads per server, levels and quietness; the profile written."""
    import subprocess
    import tempfile

    threads = args.threads or max(1, (os.cpu_count() or 1) // args.servers)
    out = Path(tempfile.mkdtemp(prefix="goalit-cal-")) / "testbed-profile.toml"
    llm, hw = "smollm2-135m-testbed", f"testbed-cpu-{threads}t"
    argv = [
        sys.executable,
        "-m",
        "goalit",
        "calibrate",
        "--levels",
        args.levels,
        "--chunks",
        "1",
        "--repeats",
        "2",
        "--threads",
        str(threads),
        "--quiet",
        str(args.quiet),
        "--out",
        str(out),
        "--hardware-name",
        hw,
        "--llm-name",
        llm,
        "--no-progress",
    ]
    print(f"calibrating: {' '.join(argv[1:])}", file=sys.stderr, flush=True)
    subprocess.run(argv, check=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, stdout=sys.stderr)
    return out, llm, hw


def _n(x):
    return "-" if x is None else f"{x:.4g}"


def _p(x):
    return "-" if x is None else f"{100 * x:+.1f}%"


if __name__ == "__main__":
    main()
