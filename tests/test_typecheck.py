"""The type checker runs in the test suite: ``mypy`` with the configuration in pyproject.toml passes on src/goalit.

Strict on the packages listed in ``[[tool.mypy.overrides]]`` with ``disallow_untyped_defs`` (physics,
scenario, game, solvers, sim, calibrate, the foundation modules); the default checks
everywhere else.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_passes():
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary", "--cache-dir", str(ROOT / ".mypy_cache")],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]


def test_mypy_catches_an_error(tmp_path):
    """Guard against a vacuous pass (a config that checks nothing)."""
    bad = tmp_path / "bad.py"
    bad.write_text("from goalit.physics.radio import dbm_to_w\n\nx: str = dbm_to_w(1.0)\n", encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary", "--cache-dir", str(ROOT / ".mypy_cache"), str(bad)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={"MYPYPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert out.returncode == 1 and "Incompatible types in assignment" in out.stdout, out.stdout + out.stderr
