"""The MILP optimum is exact on tiny games for any H, partitioned and shared (brute-force oracle), and
does not crash on a game without users."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from goalit.game.model import build_game
from goalit.solvers.brute_force import enumerate_profiles
from goalit.solvers.optimum import solve_milp
from goalit_strategies import feasible, scenarios

TINY = scenarios(min_users=1, max_users=4, max_servers=2, max_instances=2, sharing=("shared", "partitioned"))


@settings(max_examples=80, deadline=None)
@given(scenario=TINY, h=st.floats(1e-6, 1e4))
def test_milp_equals_brute_force_for_any_penalty(scenario, h):
    scenario = dataclasses.replace(scenario, game=dataclasses.replace(scenario.game, capacity_penalty_s=h))
    game = build_game(scenario)
    assume(feasible(game))
    out = solve_milp(game)
    best = enumerate_profiles(game)
    assert out.status == "optimal"
    assert out.objective == pytest.approx(best.social_cost, rel=1e-6, abs=1e-9)


def test_milp_on_a_game_without_users():
    import goalit

    game = build_game(goalit.default_scenario("small")).take_users(np.zeros(0, dtype=np.int64))
    out = solve_milp(game)
    assert out.status == "optimal" and out.profile.shape == (0,) and out.objective == 0.0
