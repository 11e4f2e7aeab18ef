"""Fuzz every CLI/API input surface of goalit and print the figures per surface (issue 15).

Surfaces: mutated scenario files (validated, solved, simulated), mutated Azure/Mooncake traces
(headers, types, encodings, compression, sizes, order), random flag sets of every command (bad values,
huge counts, existing ``--out`` paths), and calls of the Python API (``goalit.solve``, ``simulate``,
``load_scenario``, ...). Cases run in this process through ``goalit.cli.main`` (exactly what the
``goalit`` command runs, without a NumPy start-up per case), each under a time limit. For each surface:
cases, tracebacks, hangs, wrong exits (not 0/2, or exit 2 without exactly one error line, or a warning
on a successful run), outputs touched (a sentinel file or folder changed, or a failed case created
anything), and how many cases ended in 0 and 2. The corpus and checks are ``tests/goalit_fuzz.py``.

An address-space limit (default 8 GiB) turns a runaway allocation into a MemoryError (counted as a
traceback) instead of swapping a shared machine.

Run: ./dev bench fuzz_inputs [--cases 1500] [--seed 0] [--surfaces scenario,trace,flags,api]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import goalit_fuzz as F  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=1500, help="generated cases per surface (default 1500)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--surfaces", default="scenario,trace,flags,api")
    ap.add_argument("--timeout", type=float, default=60.0, help="hang threshold per case, s (default 60)")
    ap.add_argument("--memory-gib", type=float, default=8.0)
    ap.add_argument("--show", type=int, default=5, help="failures printed per surface")
    args = ap.parse_args()
    limit = int(args.memory_gib * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    print(f"goalit fuzz: seed {args.seed}, {args.cases} generated cases per surface, hang threshold "
          f"{args.timeout:g} s, address space {args.memory_gib:g} GiB; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs (wall times are inflated on a shared machine)")  # fmt: skip
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for surface in args.surfaces.split(","):
            t0 = time.perf_counter()
            f = F.run_surface(surface, args.seed, args.cases, Path(tmp), timeout_s=args.timeout)
            rows.append((f, time.perf_counter() - t0))
            for o in f.failures[: args.show]:
                print("  " + o.describe()[:400])
    head = ("surface", "cases", "tracebacks", "hangs", "wrong exits", "touched", "exit 0", "exit 2", "wall s")
    print()
    print("  ".join(f"{h:>11}" for h in head))
    total = [0] * 7
    for f, wall in rows:
        vals = (f.cases, f.tracebacks, f.hangs, f.wrong_exits, f.touched, f.exit_0, f.exit_2)
        total = [a + b for a, b in zip(total, vals, strict=True)]
        print("  ".join(f"{v:>11}" for v in (f.surface, *vals, f"{wall:.1f}")))
    print("  ".join(f"{v:>11}" for v in ("total", *total, "")))


if __name__ == "__main__":
    main()
