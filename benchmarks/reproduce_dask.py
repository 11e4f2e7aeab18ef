"""`goalit reproduce` locally and on a Dask LocalCluster of 2 workers: the same rows (issue 12).

Runs the reproduction plan of ``--mode`` (tiny by default; quick or full with ``--seeds``) twice into
fresh directories: once with the local backend (``--jobs`` processes) and once with ``--backend dask``
(a ``distributed.LocalCluster`` of ``--workers`` worker processes, one thread each, started by the
sweep itself). Prints the wall time of each and whether ``results.csv`` holds the same rows (every
column but the timing ones, ``runtime_s`` and ``sim_wall_s``); exits 1 if not.

Run: PYTHONPATH=src python benchmarks/reproduce_dask.py [--mode tiny|quick|full] [--seeds N]
     [--only E4,E5] [--jobs 2] [--workers 2] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from goalit.experiments.catalogue import TIMING_COLUMNS
from goalit.experiments.reproduce import reproduce
from goalit.experiments.store import read_rows


def rows_without_timing(csv: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in TIMING_COLUMNS} for r in read_rows(csv)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", default="tiny", choices=("tiny", "quick", "full"))
    ap.add_argument("--seeds", type=int, default=None, help="seeds per point (default: the mode's)")
    ap.add_argument("--only", default=None, help="experiments, e.g. E4,E5 (default: all)")
    ap.add_argument("--jobs", type=int, default=2, help="local worker processes")
    ap.add_argument("--workers", type=int, default=2, help="Dask LocalCluster workers")
    ap.add_argument("--keep", default=None, help="write the two runs under DIR/local and DIR/dask")
    args = ap.parse_args()
    only = tuple(args.only.split(",")) if args.only else None
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="goalit-reproduce-dask-"))
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} (shared machine: wall times "
          f"inflated); mode {args.mode}, seeds {args.seeds or 'default'}, only {args.only or 'all'}")  # fmt: skip
    walls = {}
    for name, kw in (
        ("local", {"backend": "local", "jobs": args.jobs}),
        ("dask", {"backend": "dask", "jobs": args.workers}),
    ):
        t0 = time.perf_counter()
        res = reproduce(base / name, args.mode, seeds=args.seeds, experiments=only, progress=False, **kw)
        walls[name] = time.perf_counter() - t0
        print(f"{name:>6}: {res.sweep.total} points, {res.sweep.computed} computed, {walls[name]:.1f} s wall "
              f"({base / name})", flush=True)  # fmt: skip
    a, b = (
        rows_without_timing(base / "local" / "results.csv"),
        rows_without_timing(base / "dask" / "results.csv"),
    )
    same = a == b
    print(f"rows: local {len(a)}, dask {len(b)}; identical (timing columns excluded): {same}")
    if not same:
        key = lambda r: sorted(r.items())  # noqa: E731
        print(f"same rows in another order: {sorted(map(key, a)) == sorted(map(key, b))}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
