"""GOALIT (docs/model.md B.9): every granted slot lowers the potential by at least the granted normalised gains
(exactly one gain for single grants), the protocol ends at an epsilon-equilibrium, and it honours warm
starts, slot caps, epsilon overrides and its RNG."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from goalit.api import default_scenario
from goalit.game import dynamics
from goalit.game.goalit import GRANTS, goalit, select_disjoint
from goalit.game.model import build_game
from goalit_oracles import ref_potential, ref_regret
from goalit_strategies import feasible, scenarios


def tol(x: float) -> float:
    return 1e-9 * max(1.0, abs(x))


def check_trace(game, tr, eps: float, initial=None) -> None:
    phi = tr.potential
    assert len(phi) == tr.slots + 1 == len(tr.granted) + 1 == len(tr.requests) + 1 == len(tr.granted_gain) + 1
    assert tr.updates == sum(tr.granted)
    start = dynamics.isolated_start(game) if initial is None else initial
    assert phi[0] == pytest.approx(ref_potential(game, start), rel=1e-9, abs=1e-12)
    assert phi[-1] == pytest.approx(ref_potential(game, tr.profile), rel=1e-9, abs=1e-12)
    for k in range(tr.slots):
        if tr.granted[k] == 0:
            assert phi[k + 1] == phi[k]
            continue
        decrease = phi[k] - phi[k + 1]
        assert decrease > 0, f"slot {k}: potential did not strictly decrease"
        # every granted request had a normalised gain > epsilon, and Phi falls by at least their sum
        assert tr.granted_gain[k] > eps * tr.granted[k]
        assert decrease >= tr.granted_gain[k] - tol(phi[k])
        if tr.granted[k] == 1:
            assert decrease == pytest.approx(tr.granted_gain[k], rel=1e-9, abs=tol(phi[k]))
    assert np.all(game.allowed[np.arange(game.n_users), tr.profile])
    if tr.converged:
        assert tr.requests[-1] == 0 and tr.granted[-1] == 0
        assert dynamics.max_regret(game, tr.profile) <= eps
        assert ref_regret(game, tr.profile) <= eps + tol(1.0)


@settings(max_examples=60, deadline=None)
@given(scenario=scenarios(), grant=st.sampled_from(GRANTS), seed=st.integers(0, 2**32 - 1))
def test_potential_strictly_decreases_and_ends_at_epsilon_equilibrium(scenario, grant, seed):
    game = build_game(scenario)
    assume(feasible(game))
    tr = goalit(game, np.random.default_rng(seed), grant=grant)
    assert tr.converged  # the slot cap (10,000) is far above what a handful of users needs
    check_trace(game, tr, game.epsilon)


@settings(max_examples=40, deadline=None)
@given(
    scenario=scenarios(),
    grant=st.sampled_from(GRANTS),
    seed=st.integers(0, 2**32 - 1),
    eps=st.sampled_from((1e-12, 1e-3)),
)
def test_warm_start_from_any_allowed_profile(scenario, grant, seed, eps):
    game = build_game(scenario)
    assume(feasible(game))
    rng = np.random.default_rng(seed)
    start = np.array([rng.choice(np.flatnonzero(game.allowed[i])) for i in range(game.n_users)])
    tr = goalit(game, rng, initial=start.copy(), grant=grant, epsilon=eps)
    assert tr.converged
    check_trace(game, tr, eps, initial=start)


@settings(max_examples=40, deadline=None)
@given(scenario=scenarios(max_users=8), seed=st.integers(0, 2**32 - 1))
def test_parallel_grants_touch_disjoint_instances_and_lower_phi_by_their_gains(scenario, seed):
    """One slot of the parallel coordinator, checked move by move against the reference potential."""
    game = build_game(scenario)
    assume(feasible(game))
    rng = np.random.default_rng(seed)
    a = np.array([rng.choice(np.flatnonzero(game.allowed[i])) for i in range(game.n_users)])
    n, m = dynamics.loads(game, a)
    br, gain = dynamics.best_responses(game, a, n, m)
    req = np.flatnonzero(gain > 0)
    assume(req.size > 0)
    order = req[np.argsort(-gain[req], kind="stable")]
    chosen = select_disjoint(game, a, br, order, m)
    assert chosen.size >= 1 and chosen[0] == order[0]  # the largest gain is always granted
    assert len(set(chosen.tolist())) == chosen.size and set(chosen.tolist()) <= set(req.tolist())
    touched = [r for i in chosen for r in (int(a[i]), int(br[i])) if r != 0]
    assert len(touched) == len(set(touched)), "two granted moves share an instance"
    b = a.copy()
    b[chosen] = br[chosen]
    decrease = ref_potential(game, a) - ref_potential(game, b)
    assert decrease >= gain[chosen].sum() - tol(ref_potential(game, a))


def test_small_scenario_all_grant_modes_converge_to_equilibrium():
    game = build_game(default_scenario("small"))
    for grant in GRANTS:
        tr = goalit(game, np.random.default_rng(1), grant=grant)
        assert tr.converged and tr.updates >= 1
        check_trace(game, tr, game.epsilon)
        # messages: RTUs + grants + one load broadcast per slot with requests, one END broadcast
        assert tr.messages == sum(tr.requests) + tr.updates + tr.slots


def test_max_gain_grants_the_largest_request_each_slot():
    game = build_game(default_scenario("small"))
    a = dynamics.isolated_start(game)
    tr = goalit(game, np.random.default_rng(0), grant="max-gain")
    for k in range(tr.slots - 1):
        br, gain = dynamics.best_responses(game, a)
        i = int(np.argmax(gain))
        assert tr.granted[k] == 1 and tr.granted_gain[k] == pytest.approx(gain[i], rel=1e-12)
        a[i] = br[i]
    assert np.array_equal(a, tr.profile)


def test_slot_cap_stops_unconverged():
    game = build_game(default_scenario("default-partitioned"))
    tr = goalit(game, np.random.default_rng(0), grant="max-gain", max_slots=3)
    assert not tr.converged
    assert tr.slots == 3 and tr.updates == 3
    assert dynamics.max_regret(game, tr.profile) > game.epsilon


def test_warm_start_at_equilibrium_needs_no_update():
    game = build_game(default_scenario("default-partitioned"))
    first = goalit(game, np.random.default_rng(0))
    again = goalit(game, np.random.default_rng(0), initial=first.profile)
    assert again.converged and again.updates == 0 and again.slots == 1
    assert np.array_equal(again.profile, first.profile)


def test_initial_profile_is_not_modified():
    game = build_game(default_scenario("small"))
    start = np.zeros(game.n_users, dtype=np.int64)
    goalit(game, np.random.default_rng(0), initial=start)
    assert not start.any()


def test_random_grant_depends_only_on_the_rng():
    game = build_game(default_scenario("default-partitioned"))
    t1 = goalit(game, np.random.default_rng(42), grant="random")
    t2 = goalit(game, np.random.default_rng(42), grant="random")
    assert np.array_equal(t1.profile, t2.profile) and t1.potential == t2.potential


def test_unknown_grant_mode_is_rejected():
    game = build_game(default_scenario("small"))
    with pytest.raises(ValueError, match="grant"):
        goalit(game, np.random.default_rng(0), grant="fifo")


def test_default_scenario_offloads_and_converges():
    game = build_game(default_scenario("default-partitioned"))
    tr = goalit(game, np.random.default_rng(0))
    assert tr.converged
    assert (tr.profile != 0).sum() > 0
    check_trace(game, tr, game.epsilon)
