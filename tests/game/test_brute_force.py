"""Exhaustive oracles on tiny games (<= 4 users, <= 3 actions each: local + at most 2 instances).

GOALIT's profile is a pure Nash equilibrium (checked by enumerating every user's deviations), a
minimiser of the potential over all profiles is one too, and pure NE are exactly the profiles that no
unilateral deviation can improve in Phi (docs/model.md B.8: Phi is a weighted potential)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from goalit.game.goalit import GRANTS, goalit
from goalit.game.model import build_game
from goalit_oracles import (
    all_profiles,
    allowed_actions,
    deviate,
    is_pure_nash,
    ref_potential,
    ref_regret,
)
from goalit_strategies import feasible, scenarios

TINY = scenarios(min_users=2, max_users=4, max_servers=2, max_instances=2, max_total_instances=2)


def tiny_game(scenario):
    game = build_game(scenario)
    assume(feasible(game))
    assert game.n_users <= 4 and game.n_actions <= 3
    return game


@settings(max_examples=50, deadline=None)
@given(scenario=TINY, grant=st.sampled_from(GRANTS), seed=st.integers(0, 2**32 - 1))
def test_goalit_result_is_pure_nash(scenario, grant, seed):
    game = tiny_game(scenario)
    # epsilon far below every cost difference: the epsilon-NE is an exact NE up to float rounding
    tr = goalit(game, np.random.default_rng(seed), grant=grant, epsilon=1e-12)
    assert tr.converged
    assert is_pure_nash(game, tr.profile)
    # with the scenario's own epsilon the result is an epsilon-NE (normalised regret <= epsilon)
    tr_eps = goalit(game, np.random.default_rng(seed), grant=grant)
    assert ref_regret(game, tr_eps.profile) <= game.epsilon * (1 + 1e-9) + 1e-12


@settings(max_examples=50, deadline=None)
@given(scenario=TINY)
def test_potential_minimiser_is_pure_nash_and_nash_are_local_minima(scenario):
    game = tiny_game(scenario)
    profiles = list(all_profiles(game))
    phis = [ref_potential(game, a) for a in profiles]
    best = profiles[int(np.argmin(phis))]
    assert is_pure_nash(game, best)
    # a profile is a pure NE  <=>  no unilateral deviation lowers Phi: the largest normalised cost
    # improvement of any user equals the largest drop of Phi over unilateral deviations (weights alpha_i)
    for a, phi in zip(profiles, phis, strict=True):
        drop = max(
            phi - ref_potential(game, deviate(a, i, x))
            for i in range(game.n_users)
            for x in allowed_actions(game, i)
        )
        assert ref_regret(game, a) == pytest.approx(max(drop, 0.0), rel=1e-9, abs=1e-9 * max(1.0, abs(phi)))


@settings(max_examples=30, deadline=None)
@given(scenario=TINY, seed=st.integers(0, 2**32 - 1))
def test_goalit_potential_is_at_least_the_minimum(scenario, seed):
    game = tiny_game(scenario)
    phi_min = min(ref_potential(game, a) for a in all_profiles(game))
    tr = goalit(game, np.random.default_rng(seed), epsilon=1e-12)
    assert tr.potential[-1] >= phi_min - 1e-9 * max(1.0, abs(phi_min))
    assert all(p >= phi_min - 1e-9 * max(1.0, abs(phi_min)) for p in tr.potential)
