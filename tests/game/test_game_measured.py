"""Model A with a measured step table in place of the roofline (goalit.game.measured)."""

from __future__ import annotations

import numpy as np
import pytest

from goalit.experiments.testbed import plan as tb
from goalit.game.measured import with_step_table
from goalit.physics.step_table import LevelTable, StepTable
from goalit.sim.workload import Workload, request_users


def test_with_step_table_replaces_steps_and_prefill_of_the_levels_it_holds():
    from goalit.sim.simulator import request_game

    opts = tb.TestbedOptions(servers=2, levels=("q8_0", "q4_0"))
    sc = tb.testbed_scenario(opts, *tb.resolve_profiles(opts))
    w = Workload(np.zeros(3), np.array([10, 100, 200]), np.array([5, 5, 5]))
    users, _ = request_users(sc, w, np.random.default_rng(0))
    game = request_game(sc, users)
    b, c, p = np.array([1.0, 4.0]), np.array([10.0, 1000.0]), np.array([10.0, 1000.0])
    table = StepTable({"q4_0": LevelTable(b, c, np.full((2, 2), 0.05), p, p / 1e3)})  # q8_0 left as is
    g2 = with_step_table(game, users, table)
    r4 = [r for r in range(1, game.n_actions) if game.level_of[r] == "q4_0"]
    r8 = [r for r in range(1, game.n_actions) if game.level_of[r] == "q8_0"]
    for r in r4:
        assert g2.step_table[r, 0] == 0.0 and np.allclose(g2.step_table[r, 1:3], 0.05)
        assert np.allclose(g2.potential_table[r], np.cumsum(g2.step_table[r]))
        d = g2.fixed_latency_s[:, r] - game.fixed_latency_s[:, r]
        roof_pre = game.fixed_latency_s[:, r] - game.uplink_s[:, r] - game.downlink_s[:, r]
        assert d == pytest.approx(np.array([0.01, 0.1, 0.2]) - roof_pre)
        assert g2.beta[:, r] - game.beta[:, r] == pytest.approx(users.w_latency * d)  # w_energy = 0 here
    for r in r8:
        assert np.array_equal(g2.step_table[r], game.step_table[r])
        assert np.array_equal(g2.beta[:, r], game.beta[:, r])


@pytest.mark.parametrize("host", ["shared", "partitioned"])
def test_with_step_table_adds_h_per_instance_only_when_partitioned(host):
    """A shared server's capacity penalty is its group's (added once to T_G), never in a variant's row."""
    from dataclasses import replace

    from goalit.sim.simulator import request_game

    opts = tb.TestbedOptions(servers=2, levels=("q8_0", "q4_0"), host_model=host)
    sc = tb.testbed_scenario(opts, *tb.resolve_profiles(opts))
    w = Workload(np.zeros(3), np.array([10, 100, 200]), np.array([5, 5, 5]))
    users, _ = request_users(sc, w, np.random.default_rng(0))
    game = request_game(sc, users)
    game = replace(game, capacity=np.ones_like(game.capacity))  # every instance full beyond one sequence
    b, c, p = np.array([1.0, 4.0]), np.array([10.0, 1000.0]), np.array([10.0, 1000.0])
    table = StepTable({"q4_0": LevelTable(b, c, np.full((2, 2), 0.05), p, p / 1e3)})
    g2 = with_step_table(game, users, table)
    r = next(r for r in range(1, game.n_actions) if game.level_of[r] == "q4_0")
    want = 0.05 + (0.0 if host == "shared" else game.penalty_s)
    assert g2.step_table[r, 2] == pytest.approx(want)
