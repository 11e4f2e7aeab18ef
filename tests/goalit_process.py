"""Run the real ``goalit`` command in a fresh process (``python -m goalit``) with this checkout's
``src`` first on PYTHONPATH, so that the code under test wins over any installed copy."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

# The smallest valid scenario file: one server, one user (tests mutate it into bad input).
TINY_SCENARIO = """
name = "t"
[[servers]]
name = "s"
position_m = [0.0, 0.0]
hardware = "rtx-4090"
ap = { bandwidth_hz = 4e6, subchannel_hz = 1e6 }
instances = [{ level = "q4_k_m", share = 1.0 }]
[[users]]
position_m = [10.0, 0.0]
prompt_tokens = 100
output_tokens = 100
deadline_s = 10.0
w_quality = 0.0
w_energy = 0.0
"""


@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str


def run_cli(*args: str, cwd: str | Path | None = None, timeout: float = 120) -> CliResult:
    """``python -m goalit ARGS``; exit code, stdout and stderr."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), env.get("PYTHONPATH", "")) if p)
    proc = subprocess.run(
        [sys.executable, "-m", "goalit", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)
