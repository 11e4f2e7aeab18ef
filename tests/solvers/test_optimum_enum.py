"""Exact enumeration of small games gives the MILP's optimum (same profile on random games in which
congestion, shared-server capacity and AP sub-channels bind); the optimum policy's fast path is used."""

from __future__ import annotations

import numpy as np
import pytest

from goalit.game import dynamics
from goalit.solvers.optimum import OptimumOptions, solve_milp, solve_optimum
from goalit.solvers.optimum_enum import enumerate_optimum, n_profiles


@pytest.mark.parametrize("scenario", ["default", "default-partitioned"])
def test_enumeration_matches_milp_on_random_small_games(make_game, congested, scenario):
    checked = 0
    for seed in range(24):
        rng = np.random.default_rng(seed)
        game = make_game(int(rng.integers(1, 5)), seed, scenario)
        if seed % 2:
            game = congested(game, 0.02 * rng.random(), int(rng.integers(1, 3)))
        got = enumerate_optimum(game, 10**6)
        assert got is not None
        milp = solve_milp(game).profile
        assert got.tolist() == milp.tolist(), (seed, got, milp)
        assert dynamics.user_costs(game, got).sum() == pytest.approx(dynamics.user_costs(game, milp).sum())
        checked += 1
    assert checked == 24


def test_enumeration_limit_and_solver_switch(make_game):
    game = make_game(3, 1)
    assert enumerate_optimum(game, n_profiles(game) - 1) is None
    fast = solve_optimum(game, np.random.default_rng(0))
    slow = solve_optimum(game, np.random.default_rng(0), OptimumOptions(enumerate_max_profiles=0))
    assert fast.extras["method"] == "enumeration" and slow.extras["method"] == "milp"
    assert fast.profile.tolist() == slow.profile.tolist()
    assert fast.metrics.social_cost == pytest.approx(slow.metrics.social_cost)
    assert enumerate_optimum(game.take_users(np.zeros(0, np.int64))).size == 0


def test_optimum_policy_enumerates_and_matches_the_milp_run():
    """The simulator's optimum decides each arrival by enumeration, with the MILP's records."""
    import goalit

    kw = {"rate": 3.0, "duration_s": 20.0, "seed": 4}
    fast = goalit.simulate("default", policy="optimum", **kw)
    milp = goalit.simulate("default", policy="optimum", enumerate_max_profiles=0, **kw)
    assert fast.metrics["decisions"] > 20
    assert fast.metrics == milp.metrics


@pytest.mark.parametrize("scenario", ["default", "default-partitioned"])
def test_one_player_shortcut_is_the_enumeration(make_game, congested, scenario):
    """A one-player decision: the policy's shortcut picks the profile enumeration picks (first least cost)."""
    from goalit.sim.policies.optimum_policy import _one_player_optimum

    for seed in range(30):
        rng = np.random.default_rng(seed)
        game = make_game(1, seed, scenario)
        if seed % 2:
            game = congested(game, 0.02 * rng.random(), int(rng.integers(1, 3)))
        want = enumerate_optimum(game, 10**6)
        got = _one_player_optimum(game)
        assert got is not None and want is not None and got.tolist() == want.tolist(), seed
