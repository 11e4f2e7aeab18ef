"""Shared servers in Model A (docs/model.md): closed-form iteration times, costs against brute force,
monotonicity in every load, best responses against explicit deviations, GOALIT's stop conditions."""

from __future__ import annotations

import tomllib

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from goalit.game import dynamics
from goalit.game.goalit import goalit
from goalit.game.model import build_game
from goalit.scenario.toml_io import parse_scenario
from goalit.solvers.brute_force import profile_costs
from goalit_strategies import feasible, scenarios

WORLD = """
name = "shared"
local_level = "q4_k_m"
[game]
context_tokens = 400
kv_context_tokens = 1024
[[servers]]
name = "gpu"
position_m = [0.0, 0.0]
hardware = "rtx-4090"
ap = { bandwidth_hz = 8e6, subchannel_hz = 1e6 }
hosts = ["q8_0", "q4_k_m"]
[[users]]
position_m = [50.0, 0.0]
prompt_tokens = 200
output_tokens = 100
deadline_s = 10.0
w_quality = 0.05
w_energy = 0.0
[[users]]
position_m = [60.0, 0.0]
prompt_tokens = 300
output_tokens = 120
deadline_s = 10.0
w_quality = 0.05
w_energy = 0.0
[[users]]
position_m = [70.0, 0.0]
prompt_tokens = 100
output_tokens = 50
deadline_s = 10.0
w_quality = 0.05
w_energy = 0.0
"""

# RTX 4090 (hardware.toml): BW 1008e9 B/s, F 165e12, eta_c 0.7, delta_0 0.5 ms, eta_m q8_0 0.85,
# q4_k_m 0.73; Llama-3-8B (llm.toml): P 8.03e9, kappa 131072 B/token, M 8.55e9 / 4.92e9 B.
KAPPA, CTX = 131072.0, 400.0


def d_full(weights: float, eta_m: float, n: int) -> float:
    """Decode step at batch n on the whole RTX 4090 (memory-bound here), by hand."""
    memory = (weights + KAPPA * n * CTX) / (eta_m * 1008e9)
    compute = 2 * 8.03e9 * n / (0.7 * 165e12)
    return max(memory, compute) + 0.5e-3


@pytest.fixture(scope="module")
def game():
    return build_game(parse_scenario(tomllib.loads(WORLD)))


def test_one_active_variant_runs_alone_on_the_whole_server(game):
    assert game.shared and game.group_of.tolist() == [-1, 0, 0]
    # q8_0 alone: T = d_q8(1) (= 10.540 ms), the variant has the whole bandwidth
    t = dynamics.token_times(game, np.array([0, 1, 0]))
    assert t[1] == t[2] == pytest.approx(d_full(8.55e9, 0.85, 1), rel=1e-12)
    assert t[1] == pytest.approx(10.54023e-3, rel=1e-5)
    t = dynamics.token_times(game, np.array([0, 2, 0]))
    assert t[1] == pytest.approx(d_full(8.55e9, 0.85, 2), rel=1e-12)


def test_two_active_variants_take_turns_in_each_iteration(game):
    # one iteration = one q8_0 step + one q4_k_m step: T = d_q8(2) + d_q4(1) for everyone on the server
    t = dynamics.token_times(game, np.array([0, 2, 1]))
    expect = d_full(8.55e9, 0.85, 2) + d_full(4.92e9, 0.73, 1)
    assert t[1] == t[2] == pytest.approx(expect, rel=1e-12)
    assert t[1] == pytest.approx(10.60143e-3 + 7.257486e-3, rel=1e-5)
    # costs: C_i = alpha_i T + beta_i for every user, the same T whatever the user's variant
    a = np.array([1, 1, 2])
    c = dynamics.user_costs(game, a)
    assert c == pytest.approx(game.alpha * expect + game.beta[np.arange(3), a], rel=1e-12)


def test_kv_capacity_is_the_servers_memory_left_by_all_hosted_weights(game):
    free = 25769803776 - 8.55e9 - 4.92e9
    assert game.capacity[1] == game.capacity[2] == game.group_capacity[0] == int(free // (KAPPA * 1024))


SHARED = scenarios(min_users=2, max_users=4, max_servers=2, max_instances=3, max_total_instances=4,
                   sharing=("shared", "partitioned"))  # fmt: skip


def random_profile(game, rng):
    return np.array([rng.choice(np.flatnonzero(row)) for row in game.allowed], dtype=np.int64)


@settings(max_examples=60, deadline=None)
@given(scenario=SHARED, seed=st.integers(0, 2**32 - 1))
def test_user_costs_equal_brute_force_costs_and_best_responses_equal_deviations(scenario, seed):
    game = build_game(scenario)
    assume(feasible(game))
    rng = np.random.default_rng(seed)
    a = random_profile(game, rng)
    assert dynamics.user_costs(game, a) == pytest.approx(profile_costs(game, a[None, :])[0], rel=1e-9)
    n, m = dynamics.loads(game, a)
    resp = dynamics.response_costs(game, a, n, m)
    for i in range(game.n_users):
        for x in np.flatnonzero(game.allowed[i]):
            b = a.copy()
            b[i] = x
            assert resp[i, x] == pytest.approx(dynamics.user_costs(game, b)[i], rel=1e-9, abs=1e-12)
    br, gain = dynamics.best_responses(game, a, n, m)
    stay = dynamics.user_costs(game, a)
    best = np.where(game.allowed, resp, np.inf).min(axis=1)
    assert gain == pytest.approx(np.maximum(stay - best, 0.0) / game.alpha, rel=1e-9, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(scenario=SHARED, seed=st.integers(0, 2**32 - 1), r=st.integers(1, 6))
def test_token_time_is_monotone_in_every_load(scenario, seed, r):
    game = build_game(scenario)
    r = 1 + (r - 1) % (game.n_actions - 1)
    rng = np.random.default_rng(seed)
    n = rng.integers(0, game.n_users + 1, size=game.n_actions)
    more = n.copy()
    more[r] += 1
    assert (dynamics.token_times(game, more) >= dynamics.token_times(game, n) - 1e-15).all()


@settings(max_examples=60, deadline=None)
@given(scenario=SHARED, seed=st.integers(0, 2**32 - 1))
def test_goalit_stops_converged_or_cycled_within_the_cap(scenario, seed):
    game = build_game(scenario)
    assume(feasible(game))
    tr = goalit(game, np.random.default_rng(seed), max_slots=200)
    assert tr.slots <= 200
    assert not (tr.converged and tr.cycled)
    if tr.converged:
        assert dynamics.max_regret(game, tr.profile) <= game.epsilon * (1 + 1e-9) + 1e-12
    a = tr.profile
    assert game.allowed[np.arange(game.n_users), a].all()
    # same seed, same run
    again = goalit(game, np.random.default_rng(seed), max_slots=200)
    assert np.array_equal(again.profile, a) and again.slots == tr.slots


TWO_SERVERS = WORLD.replace(
    "[[users]]",
    '[[servers]]\nname = "gpu2"\nposition_m = [10.0, 0.0]\nhardware = "rtx-4090"\n'
    'ap = { bandwidth_hz = 8e6, subchannel_hz = 1e6 }\nhosts = ["q8_0", "q4_k_m"]\n[[users]]',
    1,
)


def test_best_response_can_cycle_on_shared_servers_and_goalit_says_so():
    """Three users, two shared servers with two variants each; step times increasing in load (s/token) and
    load-independent costs chosen so that sequential best response cycles (found by random search):
    there is no exact potential, and GOALIT stops with ``cycled`` instead of running to the slot cap."""
    game = build_game(parse_scenario(tomllib.loads(TWO_SERVERS)))
    assert game.n_users == 3 and game.n_actions == 5 and game.group_of.tolist() == [-1, 0, 0, 1, 1]
    step = np.array([[0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.195, 0.228, 0.41, 0.558], [0.0, 1.051, 1.104, 1.191, 1.217],
                     [0.0, 0.567, 0.671, 0.685, 0.744], [0.0, 0.941, 1.03, 1.213, 1.304]])  # fmt: skip
    beta = np.array([[np.inf, 0.308, 1.1, 0.214, 2.454], [np.inf, 2.039, 1.144, 2.229, 2.991],
                     [np.inf, 0.288, 1.776, 2.568, 2.076]])  # fmt: skip
    import dataclasses

    game = dataclasses.replace(game, step_table=step, potential_table=np.cumsum(step, axis=1), beta=beta,
                               alpha=np.ones(3))  # fmt: skip
    tr = goalit(game, np.random.default_rng(0), grant="max-gain", max_slots=200)
    assert tr.cycled and not tr.converged and tr.slots < 10
    assert dynamics.max_regret(game, tr.profile) > game.epsilon
