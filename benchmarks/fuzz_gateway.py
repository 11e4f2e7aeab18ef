"""Fuzz the gateway's HTTP surface over real loopback sockets and print the figures (issue 15).

A real ``goalit serve`` process (backends on closed ports: a well-formed request is admitted and
answered 503, a malformed one must get its 4xx) receives generated requests: JSON bodies with every
field mutated (400- and 5000-digit integers, NaN, lone surrogates, unknown roles, missing prompt or
messages, deep nesting, 70 kB strings, truncated and non-UTF-8 bodies), other methods and paths,
malformed HTTP, and slow clients (nothing sent, headers or body trickled or stalled; timeouts 1 s).
Prints cases, tracebacks in the gateway's log, hangs (an answer later than 15 s), wrong statuses
(a 5xx other than 503, a 2xx without backend, an error without the JSON body, a slow client not
answered 408) and the status histogram. The corpus and checks are ``tests/goalit_fuzz_http.py``.

Run: ./dev bench fuzz_gateway [--cases 2000] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import goalit_fuzz_http as H  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--show", type=int, default=10)
    args = ap.parse_args()
    print(f"goalit gateway fuzz: seed {args.seed}, {args.cases} generated requests + 6 slow clients; load "
          f"average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")  # fmt: skip
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        f = H.run_http(args.seed, args.cases, Path(tmp))
    wall = time.perf_counter() - t0
    for line in f.failures[: args.show]:
        print("  " + line[:400])
    print(f"\ncases {f.cases}  tracebacks {f.tracebacks}  hangs {f.hangs}  wrong statuses {f.wrong_status}  "
          f"wall {wall:.1f} s")  # fmt: skip
    print("statuses: " + ", ".join(f"{k}: {v}" for k, v in sorted(f.statuses.items())))


if __name__ == "__main__":
    main()
