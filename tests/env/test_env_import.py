"""The core package does not import the env extra, and goalit.env without it names the extra."""

from __future__ import annotations

import subprocess
import sys

import pytest

from goalit_process import SRC


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"})  # fmt: skip


@pytest.mark.slow
def test_env_core_import_does_not_load_pettingzoo_or_gymnasium():
    r = _run(
        "import sys, goalit, goalit.cli, goalit.sim, goalit.solvers.registry;"
        "goalit.solvers.registry.algorithm_names();"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pettingzoo', 'gymnasium')))"
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


@pytest.mark.slow
def test_env_without_the_extra_names_it():
    r = _run(
        "import sys; sys.modules['pettingzoo'] = None\ntry:\n import goalit.env\nexcept ModuleNotFoundError as e:\n print(e)"
    )
    assert "goalit.env needs the 'env' extra" in r.stdout, r.stdout + r.stderr
