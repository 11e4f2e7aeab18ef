"""The simulator driven by a measured step table, with llama.cpp's first token out of the prefill."""

from __future__ import annotations

import numpy as np
import pytest

from goalit.experiments.testbed import plan as tb
from goalit.physics.step_table import LevelTable, StepTable
from goalit.sim import simulate
from goalit.sim.workload import Workload


def table() -> StepTable:
    """Constant 20 ms steps (q8_0) / 10 ms (q4_0); prefill 1 ms per prompt token."""
    b, c, p = np.array([1.0, 4.0]), np.array([10.0, 1000.0]), np.array([10.0, 1000.0])
    lv = {q: LevelTable(b, c, np.full((2, 2), d), p, p / 1e3) for q, d in (("q8_0", 0.02), ("q4_0", 0.01))}
    return StepTable(lv)


@pytest.fixture(scope="module")
def scenario():
    opts = tb.TestbedOptions(servers=2, levels=("q8_0", "q4_0"))
    return tb.testbed_scenario(opts, *tb.resolve_profiles(opts))


def one(scenario, ftp: bool, prompt: int = 100, output: int = 11):
    w = Workload(np.zeros(1), np.array([prompt]), np.array([output]))
    res = simulate(scenario, policy="nearest-fp16", workload=w, seed=0, max_batch=4, step_table=table(),
                   first_token_at_prefill=ftp)  # fmt: skip
    r = res.records
    return float(r["ttft_s"][0]), float(r["latency_s"][0]), str(r["level"][0])


def test_table_times_and_the_first_token_out_of_the_prefill(scenario):
    ttft, lat, level = one(scenario, ftp=False)
    d = 0.02 if level == "q8_0" else 0.01
    assert ttft == pytest.approx(0.1 + d, abs=1e-3) and lat == pytest.approx(
        0.1 + 11 * d, abs=1e-3
    )  # docs/model.md B.8: o decode steps
    ttft, lat, _ = one(scenario, ftp=True)
    assert ttft == pytest.approx(0.1, abs=1e-3) and lat == pytest.approx(
        0.1 + 10 * d, abs=1e-3
    )  # llama.cpp: o - 1 steps
    ttft, lat, _ = one(scenario, ftp=True, output=1)
    assert ttft == pytest.approx(0.1, abs=1e-3) and lat == pytest.approx(
        0.1, abs=1e-3
    )  # one token: the prefill only
