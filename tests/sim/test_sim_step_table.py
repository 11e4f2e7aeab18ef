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


def test_the_decision_game_prices_loaded_instances_with_the_table(scenario):
    """With a step table the policy's decision game prices the instances as they run: the table's step
    at the batch and total context each instance would hold (it priced them with the roofline, so GOALIT
    routed on other speeds than the instances had); without one, the roofline as before."""
    from goalit.game.measured import with_step_table
    from goalit.rng import stream
    from goalit.sim.simulator import request_game
    from goalit.sim.view import Background, SubgameBuilder
    from goalit.sim.workload import request_users

    w = Workload(np.array([0.0, 0.5]), np.array([100, 40]), np.array([11, 7]))
    users, _ = request_users(scenario, w, stream(0, "workload"))
    tab = table()
    game = with_step_table(request_game(scenario, users, None, None), users, tab)
    r_all = game.n_actions
    bg = Background(np.array([0, 2, 0]), np.array([0.0, 300.0, 0.0]), np.zeros(len(game.subchannels), np.int64),
                    np.full(r_all, 1e12))  # fmt: skip
    ids = np.array([0])
    measured = SubgameBuilder(game, tab).loaded(ids, bg, potential=False)
    l_p = 100 + 11 / 2.0
    for r in (1, 2):
        level = str(game.level_of[r])
        for m in (1, 2):  # m players join the n_fixed requests already there
            n = int(bg.n_fixed[r]) + m
            want = tab.decode_step_time_s(level, n, bg.ctx_fixed[r] + m * l_p)
            assert measured.step_table[r, m] == pytest.approx(float(want))
    roofline = SubgameBuilder(game).loaded(ids, bg, potential=False)
    assert not np.allclose(roofline.step_table[1:, 1:3], measured.step_table[1:, 1:3])
