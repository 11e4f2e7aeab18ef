"""Start-up cost of the package and of the command line (issue 12).

Prints, best and median of K fresh interpreters each: ``python -c pass`` (the interpreter alone),
``import goalit``, ``import goalit; goalit.solve`` (the first call, which loads NumPy and SciPy) and
``goalit --help``. Goals: ``import goalit`` <= 0.3 s, ``goalit --help`` <= 0.5 s (wall, this machine).

Run: ./dev bench import_time  [--repeat K]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

CASES = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "import goalit": [sys.executable, "-c", "import goalit"],
    "import goalit; goalit.solve": [sys.executable, "-c", "import goalit; goalit.solve"],
    "goalit --help": [sys.executable, "-m", "goalit", "--help"],
}


def wall_s(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7, help="fresh interpreters per case (default 7)")
    args = ap.parse_args()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}, {args.repeat} runs per case")
    print(f"{'case':<30} {'best s':>8} {'median s':>9}")
    for name, cmd in CASES.items():
        times = [wall_s(cmd) for _ in range(args.repeat)]
        print(f"{name:<30} {min(times):8.3f} {statistics.median(times):9.3f}")


if __name__ == "__main__":
    main()
