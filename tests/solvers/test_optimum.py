"""The MILP social optimum: equal to brute force on tiny games, below every algorithm, PoA >= 1."""

from __future__ import annotations

import numpy as np
import pytest

from goalit.api import default_scenario, solve
from goalit.game import dynamics
from goalit.game.model import build_game
from goalit.solvers import brute_force, optimum
from goalit.solvers.registry import REGISTRY


def assert_same_optimum(game):
    ref = brute_force.enumerate_profiles(game)
    for formulation in optimum.FORMULATIONS:
        for reduce in (True, False):
            # a poor incumbent (everyone alone at their cheapest) keeps the reduction honest
            inc = dynamics.isolated_start(game)
            out = optimum.solve_milp(game, formulation=formulation, reduce=reduce, incumbent=inc)
            assert out.status == "optimal"
            assert out.objective == pytest.approx(ref.social_cost, rel=1e-6), (formulation, reduce)
            # the reported objective is the game's social cost of the profile returned
            assert dynamics.user_costs(game, out.profile).sum() == pytest.approx(out.objective)
            assert out.dual_bound <= out.objective * (1 + 1e-6)
            assert 0.0 <= out.mip_gap <= 1e-6
    # the default incumbent (GOALIT's equilibrium) gives the same optimum
    assert optimum.solve_milp(game).objective == pytest.approx(ref.social_cost, rel=1e-6)


def test_reduction_keeps_the_optimum_and_drops_overloads(make_game):
    game = make_game(5, 9)
    ref = brute_force.enumerate_profiles(game)
    red = optimum.reduce_by_bound(game, optimum.incumbent_profile(game))
    assert red.lower_bound <= ref.social_cost <= red.upper_bound
    n, _ = dynamics.loads(game, ref.profile)
    assert red.keep[np.arange(game.n_users), ref.profile].all()
    assert np.all(n[1:] <= red.k_max[1:])
    assert np.all(red.k_max[1:] <= np.minimum(game.capacity[1:], game.n_users))  # beyond KV capacity: H


def test_unknown_formulation(make_game):
    with pytest.raises(ValueError, match="formulation"):
        optimum.solve_milp(make_game(3, 0), formulation="nope")


def test_milp_equals_brute_force_on_the_small_scenario():
    assert_same_optimum(build_game(default_scenario("small")))


@pytest.mark.parametrize("n_users,seed", [(3, 0), (4, 1), (5, 2), (4, 3)])
def test_milp_equals_brute_force_default_servers(make_game, n_users, seed):
    assert_same_optimum(make_game(n_users, seed))


@pytest.mark.parametrize("seed", range(4))
def test_milp_equals_brute_force_six_users_congested(make_game, congested, seed):
    """Steep step times, tight KV capacity and 2 sub-channels per AP: the count terms all bind."""
    game = congested(make_game(6, seed, "small"), slope=0.02 * (seed + 1), subchannels=2)
    assert brute_force.n_profiles(game) <= 20_000
    assert_same_optimum(game)


def test_milp_handles_forbidden_local_and_capacity(make_game, congested):
    game = congested(make_game(6, 11, "small", max_perplexity=("const", (6.3,))), slope=0.05, subchannels=1)
    assert not game.allowed[:, 0].any()  # nobody may run the local q4 model
    assert_same_optimum(game)


@pytest.mark.parametrize("seed", range(5))
def test_optimum_below_every_algorithm_and_poa_at_least_one(make_game, seed):
    game = make_game(8, 100 + seed)
    opt = solve(game, "optimum")
    assert opt.extras["milp_status"] == "optimal" and opt.converged
    for name in REGISTRY:
        res = solve(game, name, seed=seed)
        assert opt.metrics.social_cost <= res.metrics.social_cost * (1 + 1e-6), name
    poa = solve(game, "goalit", seed=seed).metrics.social_cost / opt.metrics.social_cost
    assert poa >= 1 - 1e-6


def test_optimum_result_schema(make_game):
    res = solve(make_game(5, 7), "optimum", time_limit_s=30.0)
    for key in (
        "milp_status",
        "mip_gap",
        "mip_dual_bound",
        "milp_nodes",
        "milp_variables",
        "milp_constraints",
    ):
        assert key in res.extras
    s = res.summary()
    assert s["algorithm"] == "optimum" and s["milp_status"] == "optimal"


def test_brute_force_limit_and_solver(make_game):
    game = make_game(4, 0)
    with pytest.raises(ValueError, match="brute-force limit"):
        brute_force.enumerate_profiles(game, max_profiles=10)
    res = brute_force.solve_brute_force(game, np.random.default_rng(0))
    assert res.extras["profiles"] == brute_force.n_profiles(game)
    assert res.metrics.social_cost == pytest.approx(optimum.solve_milp(game).objective, rel=1e-6)


def test_brute_force_costs_match_dynamics(make_game, congested):
    game = congested(make_game(5, 4, "small"), slope=0.03, subchannels=2)
    rng = np.random.default_rng(0)
    acts = [np.flatnonzero(row) for row in game.allowed]
    profiles = np.array([[rng.choice(a) for a in acts] for _ in range(50)])
    got = brute_force.profile_costs(game, profiles)
    want = np.array([dynamics.user_costs(game, p) for p in profiles])
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_time_limit_reports_status_and_keeps_the_incumbent(make_game):
    game = make_game(30, 5)
    inc = optimum.incumbent_profile(game)
    out = optimum.solve_milp(game, time_limit_s=1e-6, incumbent=inc)
    assert out.status == "time or iteration limit"
    assert out.objective <= dynamics.user_costs(game, inc).sum() + 1e-9
    res = solve(game, "optimum", time_limit_s=1e-6)
    assert res.converged is False and res.extras["milp_status"] == "time or iteration limit"
    gap = res.extras["mip_gap"]  # None when HiGHS has no bound yet
    assert gap is None or gap >= 0
