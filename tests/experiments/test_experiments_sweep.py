"""The sweep runner: resume after a real kill -9, exactly-once rows, local and Dask backends agree."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from goalit.errors import GoalitInputError
from goalit.experiments import sweep
from goalit.experiments.catalogue import TIMING_COLUMNS, all_columns, plan_points, run_point
from goalit.experiments.plan import make_plan
from goalit.experiments.point import Point
from goalit.experiments.store import read_rows
from goalit.experiments.sweep import run_sweep

SRC = Path(__file__).resolve().parents[2] / "src"


def _points(n_users=(6, 12), seeds=3) -> list[Point]:
    return [
        Point("updates", f"goalit-{g}", {"scenario": "default", "n_users": n, "grant": g}, s)
        for n in n_users
        for g in ("random", "parallel")
        for s in range(seeds)
    ]


def _keys(path) -> Counter:
    return Counter((r["config_hash"], int(r["seed"])) for r in read_rows(path))


def test_sweep_writes_one_row_per_point_in_plan_order(tmp_path):
    pts = _points()
    path = tmp_path / "r.csv"
    s = run_sweep(pts, run_point, path, all_columns(), progress=False)
    assert (s.total, s.skipped, s.computed) == (len(pts), 0, len(pts))
    rows = read_rows(path)
    assert [(r["config_hash"], int(r["seed"])) for r in rows] == [p.key for p in pts]
    assert all(r["experiment"] == "updates" and r["converged"] == "true" for r in rows)


def test_sweep_resumes_and_skips_finished_points(tmp_path):
    pts = _points()
    path = tmp_path / "r.csv"
    run_sweep(pts[:5], run_point, path, all_columns(), progress=False)
    first = read_rows(path)
    s = run_sweep(pts + pts[:2], run_point, path, all_columns(), progress=False)  # duplicates in the plan
    assert (s.total, s.skipped, s.computed) == (len(pts), 5, len(pts) - 5)
    assert set(_keys(path).values()) == {1} and len(_keys(path)) == len(pts)
    assert read_rows(path)[:5] == first
    again = run_sweep(pts, run_point, path, all_columns(), progress=False)
    assert again.computed == 0


def test_sweep_rejects_bad_arguments_before_writing(tmp_path):
    path = tmp_path / "r.csv"
    with pytest.raises(GoalitInputError, match="backend"):
        run_sweep(_points(), run_point, path, all_columns(), backend="spark")
    with pytest.raises(GoalitInputError, match="jobs"):
        run_sweep(_points(), run_point, path, all_columns(), jobs=0)
    assert not path.exists()


KILL_SCRIPT = """
import sys
from goalit.experiments.catalogue import all_columns, run_point
from goalit.experiments.point import Point
from goalit.experiments import sweep
from goalit.experiments.sweep import run_sweep
pts = [Point("updates", "goalit-random", {"scenario": "default", "n_users": n, "grant": "random"}, s)
       for n in (50, 80) for s in range(10)]
run_sweep(pts, run_point, sys.argv[1], all_columns(), jobs=int(sys.argv[2]), progress=False)
"""


@pytest.mark.slow
@pytest.mark.parametrize("jobs", [1, 2])
def test_sweep_killed_with_sigkill_midway_then_rerun_gives_every_point_once(tmp_path, jobs):
    path = tmp_path / "r.csv"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(path), str(jobs)], env=env,
                            start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if path.exists() and path.read_bytes().count(b"\n") >= 4:  # header + >= 3 rows
                break
            if proc.poll() is not None:
                pytest.fail("the sweep finished before it could be killed")
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its loky workers
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    done_before = _keys(path)
    assert 3 <= len(done_before) < 20, "killed midway"
    assert set(done_before.values()) == {1}
    out = subprocess.run([sys.executable, "-c", KILL_SCRIPT, str(path), "1"], env=env, timeout=300)
    assert out.returncode == 0
    after = _keys(path)
    assert len(after) == 20 and set(after.values()) == {1}
    assert set(done_before) <= set(after)
    assert path.read_bytes().endswith(b"\n")


def _strip_timing(rows):
    return [{k: v for k, v in r.items() if k not in TIMING_COLUMNS} for r in rows]


@pytest.mark.slow
def test_sweep_local_and_dask_backends_write_identical_rows(tmp_path):
    from distributed import LocalCluster

    plan = make_plan("tiny")
    pts = [p for p in plan_points(plan, ("convergence", "updates", "runtime", "poa"))]
    local = tmp_path / "local.csv"
    dask = tmp_path / "dask.csv"
    run_sweep(pts, run_point, local, all_columns(), backend="local", jobs=1, progress=False)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        s = run_sweep(pts, run_point, dask, all_columns(), backend="dask", scheduler=address, progress=False)
    assert s.computed == len(pts)
    a, b = read_rows(local), read_rows(dask)
    assert len(a) == len(pts)
    assert _strip_timing(a) == _strip_timing(b)
    assert set(TIMING_COLUMNS) <= set(a[0])


def test_sweep_dask_refuses_an_unreachable_scheduler(tmp_path, monkeypatch):
    monkeypatch.setattr(sweep, "CONNECT_TIMEOUT", "1s")
    with pytest.raises(GoalitInputError, match="cannot connect"):
        run_sweep(_points()[:1], run_point, tmp_path / "r.csv", all_columns(), backend="dask",
                  scheduler="tcp://127.0.0.1:9", progress=False)  # fmt: skip
