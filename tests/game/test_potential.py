"""docs/model.md B.8: Model A is a weighted potential game, C_i(a') - C_i(a) = alpha_i (Phi(a') - Phi(a)) for every
unilateral deviation; and the vectorised dynamics agree with the loop-by-loop reference (goalit_oracles)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from goalit.game import dynamics
from goalit.game.model import build_game
from goalit_oracles import deviate, ref_cost, ref_potential, ref_regret
from goalit_strategies import feasible, scenarios

SETTINGS = settings(max_examples=40, deadline=None)


def random_allowed_profile(game, rng: np.random.Generator) -> np.ndarray:
    return np.array(
        [rng.choice(np.flatnonzero(game.allowed[i])) for i in range(game.n_users)], dtype=np.int64
    )


def close(x: float, y: float) -> bool:
    return abs(x - y) <= 1e-9 * max(1.0, abs(x), abs(y))


@SETTINGS
@given(scenario=scenarios(), seed=st.integers(0, 2**32 - 1))
def test_weighted_potential_identity(scenario, seed):
    game = build_game(scenario)
    assume(feasible(game))
    rng = np.random.default_rng(seed)
    for _ in range(10):
        a = random_allowed_profile(game, rng)
        i = int(rng.integers(game.n_users))
        x = int(rng.choice(np.flatnonzero(game.allowed[i])))
        b = deviate(a, i, x)
        d_cost = dynamics.user_costs(game, b)[i] - dynamics.user_costs(game, a)[i]
        d_phi = dynamics.potential(game, b) - dynamics.potential(game, a)
        scale = max(
            1.0, abs(dynamics.user_costs(game, a)[i]), game.alpha[i] * abs(dynamics.potential(game, a))
        )
        assert abs(d_cost - game.alpha[i] * d_phi) <= 1e-9 * scale, (a, i, x)
        # and the reference implementation agrees with itself (docs/model.md B.8 proof, independent code)
        d_cost_ref = ref_cost(game, b, i) - ref_cost(game, a, i)
        d_phi_ref = ref_potential(game, b) - ref_potential(game, a)
        assert abs(d_cost_ref - game.alpha[i] * d_phi_ref) <= 1e-9 * scale


@SETTINGS
@given(scenario=scenarios(), seed=st.integers(0, 2**32 - 1))
def test_costs_and_potential_match_reference(scenario, seed):
    game = build_game(scenario)
    assume(feasible(game))
    rng = np.random.default_rng(seed)
    for _ in range(5):
        a = random_allowed_profile(game, rng)
        costs = dynamics.user_costs(game, a)
        for i in range(game.n_users):
            assert close(costs[i], ref_cost(game, a, i))
        assert close(dynamics.potential(game, a), ref_potential(game, a))


@SETTINGS
@given(scenario=scenarios(), seed=st.integers(0, 2**32 - 1))
def test_response_costs_equal_costs_after_deviation(scenario, seed):
    """response_costs[i, x] is C_i of the profile where only i moved to x (inf where x is not allowed)."""
    game = build_game(scenario)
    assume(feasible(game))
    a = random_allowed_profile(game, np.random.default_rng(seed))
    n, m = dynamics.loads(game, a)
    rc = dynamics.response_costs(game, a, n, m)
    assert rc.shape == (game.n_users, game.n_actions)
    for i in range(game.n_users):
        for x in range(game.n_actions):
            want = ref_cost(game, deviate(a, i, x), i)
            if np.isinf(want):
                assert np.isinf(rc[i, x])
            else:
                assert close(rc[i, x], want), (i, x, rc[i, x], want)


@SETTINGS
@given(scenario=scenarios(), seed=st.integers(0, 2**32 - 1))
def test_best_responses_and_regret(scenario, seed):
    game = build_game(scenario)
    assume(feasible(game))
    a = random_allowed_profile(game, np.random.default_rng(seed))
    br, gain = dynamics.best_responses(game, a)
    assert np.all(gain >= 0)
    assert np.all(game.allowed[np.arange(game.n_users), br])
    for i in range(game.n_users):
        c = ref_cost(game, a, i)
        if gain[i] > 0:
            c_br = ref_cost(game, deviate(a, i, int(br[i])), i)
            assert close(gain[i], (c - c_br) / game.alpha[i])
        else:
            assert br[i] == a[i]  # ties keep the current action
    assert dynamics.max_regret(game, a) == pytest.approx(ref_regret(game, a), rel=1e-9, abs=1e-12)


def test_loads_count_users_per_action_and_ap():
    from goalit.api import default_scenario

    game = build_game(default_scenario("small"))
    a = np.array([0, 1, 1, 3, 4, 0])
    n, m = dynamics.loads(game, a)
    assert n.tolist() == [2, 2, 0, 1, 1]
    assert m.tolist() == [2, 2]  # actions 1, 2 on server 0; 3, 4 on server 1


def test_potential_of_all_local_is_sum_of_normalised_local_costs():
    from goalit.api import default_scenario

    game = build_game(default_scenario("small"))
    a = np.zeros(game.n_users, dtype=np.int64)
    assert dynamics.potential(game, a) == pytest.approx(
        float((game.beta[:, 0] / game.alpha).sum()), rel=1e-12
    )
    assert np.allclose(dynamics.user_costs(game, a), game.beta[:, 0])


def test_ap_penalty_counts_offloaders_beyond_subchannels():
    """Five users on one AP with K = 4 sub-channels: every one pays alpha_i H, Phi gains one H."""
    from goalit.api import default_scenario

    game = build_game(default_scenario("small"))
    assert game.subchannels.tolist() == [4, 4]
    a4 = np.array([1, 1, 2, 2, 0, 0])
    a5 = np.array([1, 1, 2, 2, 1, 0])
    c5 = dynamics.user_costs(game, a5)
    H = game.penalty_s
    for i in range(5):
        assert c5[i] >= game.alpha[i] * H
    assert dynamics.user_costs(game, a4).max() < H
    assert dynamics.potential(game, a5) - dynamics.potential(game, a4) == pytest.approx(
        game.step_table[1, 3] + H + (game.beta[4, 1] - game.beta[4, 0]) / game.alpha[4], rel=1e-12
    )
