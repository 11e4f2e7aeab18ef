"""Policies: background loads == restricted action sets for GOALIT; registry policies keep pinned requests;
epoch decisions; every policy name runs."""

from __future__ import annotations

import numpy as np
import pytest

import goalit
from goalit.game.goalit import goalit as run_goalit
from goalit.game.model import build_game
from goalit.scenario.model import Users
from goalit.sim.policies import SubgameBuilder, make_policy, policy_names


def random_users(scenario, n, rng) -> Users:
    u = scenario.users.take(rng.integers(0, scenario.n_users, n))
    return Users(
        **{**u.__dict__, "prompt_tokens": rng.integers(50, 600, n), "output_tokens": rng.integers(20, 400, n)}
    )


@pytest.mark.parametrize("grant", ["parallel", "max-gain"])
@pytest.mark.parametrize("seed", range(6))
def test_background_loads_equal_restricted_action_sets(seed, grant):
    """GOALIT on the movable requests with fixed loads folded in = GOALIT on all, fixed ones pinned."""
    rng = np.random.default_rng(seed)
    sc = goalit.default_scenario("default-partitioned")
    n = 120
    game = build_game(sc, users=random_users(sc, n, rng), context_tokens=400.0, kv_context_tokens=1024.0)
    perm = rng.permutation(n)
    fixed, movable = perm[:90], np.sort(perm[90:])
    allowed = game.allowed
    fixed_act = np.array([rng.choice(np.flatnonzero(allowed[k, 1:])) + 1 for k in fixed])
    current = np.where(rng.random(movable.size) < 0.5, -1, 0)
    for p, k in enumerate(movable):  # some movable requests are queued at an instance
        if current[p] == 0:
            current[p] = rng.choice(np.flatnonzero(allowed[k, 1:])) + 1
    n_fixed = np.bincount(fixed_act, minlength=game.n_actions)
    m_fixed = np.bincount(game.server_of[fixed_act], minlength=game.n_servers)
    b = SubgameBuilder(game)

    bg = b.background(movable, n_fixed, m_fixed)
    init = current.copy()
    from goalit.game.dynamics import isolated_start

    init[init < 0] = isolated_start(bg)[init < 0]
    tr_bg = run_goalit(bg, np.random.default_rng(0), initial=init, grant=grant)

    full = b.restricted(fixed, fixed_act, movable)
    tr_full = run_goalit(
        full, np.random.default_rng(0), initial=np.concatenate([fixed_act, init]), grant=grant
    )
    assert tr_bg.updates > 0
    assert np.array_equal(tr_full.profile[: fixed.size], fixed_act)  # pinned requests never move
    assert np.array_equal(tr_bg.profile, tr_full.profile[fixed.size :])
    assert (tr_bg.slots, tr_bg.updates, tr_bg.messages) == (tr_full.slots, tr_full.updates, tr_full.messages)
    # the potentials differ by a constant
    diff = np.asarray(tr_full.potential) - np.asarray(tr_bg.potential)
    assert np.allclose(diff, diff[0], rtol=0, atol=1e-9 * max(1.0, abs(diff[0])))


def test_every_policy_name_runs_and_conserves():
    small = goalit.default_scenario("small")
    names = policy_names()
    for name in ("goalit", "ot-gah", "local", "nearest-q4", "random", "least-loaded", "greedy", "optimum"):
        assert name in names
    for name in names:
        res = goalit.simulate(small, policy=name, seed=2, rate=0.5, duration_s=20.0)
        m = res.metrics
        assert m["completed"] + m["unfinished"] + m["rejected"] == m["arrived"] > 0, name
        assert m["unfinished"] == 0, name


def test_epoch_goalit_decides_only_at_epoch_boundaries():
    res = goalit.simulate("small", policy="goalit", seed=0, rate=1.0, duration_s=20.0, epoch_s=0.25)
    rec = res.records
    d = rec["dispatch_s"][rec["reroutes"] == 0]
    assert np.allclose(d / 0.25, np.round(d / 0.25))
    assert (rec["dispatch_s"] >= rec["arrival_s"]).all()
    assert res.policy["epoch_s"] == 0.25


def test_registry_policy_pins_requests_in_service():
    res = goalit.simulate("default", policy="least-loaded", seed=0, rate=8.0, duration_s=15.0)
    assert res.metrics["unfinished"] == 0 and res.policy_stats["decisions"] > 0


def test_rerouting_queued_requests_under_kv_pressure():
    # long prompts fill the KV memory; GOALIT moves requests waiting in admission queues
    res = goalit.simulate("small", policy="goalit", seed=0, rate=2.0, duration_s=30.0, length_scale=1.0,
                          max_batch=2)  # fmt: skip
    assert res.metrics["reroutes"] > 0
    assert res.metrics["unfinished"] == 0
    off = make_policy("goalit", reroute_queued=False)
    res2 = goalit.simulate("small", policy=off, seed=0, rate=2.0, duration_s=30.0, max_batch=2)
    assert res2.metrics["reroutes"] == 0


def test_unknown_policy_and_option_are_input_errors():
    with pytest.raises(goalit.GoalitInputError, match="unknown policy"):
        make_policy("nope")
    with pytest.raises(goalit.GoalitInputError, match="unknown option"):
        make_policy("goalit", speed=3)
    with pytest.raises(goalit.GoalitInputError, match="epoch_s"):
        make_policy("goalit", epoch_s=-1.0)


@pytest.mark.parametrize("grant", ["parallel", "max-gain", "random"])
def test_scalar_goalit_equals_the_protocol(grant):
    """goalit_small reproduces goalit(): profile, slots, updates, messages, convergence and random draws."""
    from goalit.game.dynamics import best_responses, isolated_start
    from goalit.game.goalit_scalar import best_responses_small, goalit_small, isolated_start_small

    sc = goalit.default_scenario("default-partitioned")
    rng = np.random.default_rng(11)
    game = build_game(sc, users=random_users(sc, 600, rng), context_tokens=400.0, kv_context_tokens=1024.0)
    b = SubgameBuilder(game)
    cap = game.capacity[1:]
    moved = multi = 0
    for k in range(300):
        size = 1 + k % 12
        ids = np.sort(rng.choice(600, size, replace=False))
        # fixed loads from empty to beyond capacity, APs from free to saturated
        n_fixed = np.concatenate([[0], rng.integers(0, cap + 3)])
        m_fixed = rng.integers(0, 24, game.n_servers)
        sub = b.background(ids, n_fixed, m_fixed)
        init = isolated_start(sub)
        assert np.array_equal(isolated_start_small(sub), init)
        prof = np.array([rng.choice(np.flatnonzero(row)) for row in sub.allowed])
        br_core, gain_core = best_responses(sub, prof)
        br_small, gain_small = best_responses_small(sub, prof)
        assert np.array_equal(br_core, br_small) and np.array_equal(gain_core, gain_small)  # same floats
        if k % 3 == 0:
            init = np.array([rng.choice(np.flatnonzero(row)) for row in sub.allowed])
        slots_cap = None if k % 5 else int(rng.integers(1, 4))
        r1, r2 = np.random.default_rng(k), np.random.default_rng(k)
        tr = run_goalit(sub, r1, initial=init, grant=grant, max_slots=slots_cap)
        got = goalit_small(sub, r2, init, grant, max_slots=slots_cap)
        assert np.array_equal(got[0], tr.profile)
        assert got[1:] == (tr.slots, tr.updates, tr.messages, tr.converged)
        assert r1.random() == r2.random()  # same draws from the algorithm stream
        moved += tr.updates
        multi += tr.updates > 1
    assert moved > 300 and multi > 30


@pytest.mark.parametrize("grant", ["parallel", "max-gain", "random"])
def test_scalar_goalit_equals_the_protocol_on_shared_servers(grant):
    """On `default` (shared servers) decision games from ``loaded`` (background requests, contexts, KV
    pools from free to over-committed): the scalar twin gives the protocol's profile, counters, cycle
    flag and draws, and the same best-response floats."""
    from goalit.game.dynamics import best_responses, isolated_start
    from goalit.game.goalit_scalar import best_responses_small, goalit_small_cycled, isolated_start_small
    from goalit.sim.view import Background

    sc = goalit.default_scenario("default")
    rng = np.random.default_rng(12)
    game = build_game(sc, users=random_users(sc, 600, rng), context_tokens=400.0, kv_context_tokens=1024.0)
    assert game.shared
    b = SubgameBuilder(game)
    cap = game.capacity[1:]
    moved = multi = 0
    for k in range(150):
        ids = np.sort(rng.choice(600, 1 + k % 12, replace=False))
        n_fixed = np.concatenate([[0], rng.integers(0, cap + 3)])
        ctx = n_fixed * rng.uniform(100.0, 4000.0, n_fixed.shape)
        m_fixed = rng.integers(0, 24, game.n_servers)
        kv = game.kv_free_bytes * (1.0 - rng.uniform(0.0, 1.2, game.n_actions))
        sub = b.loaded(ids, Background(n_fixed, ctx, m_fixed, kv))
        init = isolated_start(sub)
        assert np.array_equal(isolated_start_small(sub), init)
        prof = np.array([rng.choice(np.flatnonzero(row)) for row in sub.allowed])
        br_core, gain_core = best_responses(sub, prof)
        br_small, gain_small = best_responses_small(sub, prof)
        assert np.array_equal(br_core, br_small) and np.array_equal(gain_core, gain_small)  # same floats
        if k % 3 == 0:
            init = prof
        slots_cap = None if k % 5 else int(rng.integers(1, 4))
        r1, r2 = np.random.default_rng(k), np.random.default_rng(k)
        tr = run_goalit(sub, r1, initial=init, grant=grant, max_slots=slots_cap)
        got = goalit_small_cycled(sub, r2, init, grant, max_slots=slots_cap)
        assert np.array_equal(got[0], tr.profile)
        assert got[1:] == (tr.slots, tr.updates, tr.messages, tr.converged, tr.cycled)
        assert r1.random() == r2.random()
        moved += tr.updates
        multi += tr.updates > 1
    assert moved > 150 and multi > 15


@pytest.mark.parametrize(
    ("name", "interval"),
    [("greedy", None), ("optimum", None), ("goalit-refined", None), ("goalit-refined", 1.0)],
)
def test_fast_registry_policies_decide_as_the_registry_solver(name, interval):
    """``greedy``, ``optimum`` and ``goalit-refined`` skip the static metrics (and enumerate small optima):
    same run as the registry's solver called through the generic RegistryPolicy (goalit-refined also on
    1 s decision intervals: several players, the full exchange search)."""
    from goalit.sim.policies import RegistryPolicy, make_policy

    fast = make_policy(name) if interval is None else make_policy(name, decision_interval_s=interval)
    assert type(fast) is not RegistryPolicy
    plain = RegistryPolicy(name=name, epoch_s=fast.epoch_s, reroute_queued=fast.reroute_queued,
                           options={"enumerate_max_profiles": 0} if name == "optimum" else {})  # fmt: skip
    kw = {"rate": 4.0, "duration_s": 15.0, "seed": 2}
    a = goalit.simulate("default", policy=fast, **kw)
    b = goalit.simulate("default", policy=plain, **kw)
    assert a.metrics["decisions"] > 5
    assert a.metrics == b.metrics
    if name == "goalit-refined":  # same options too: the same `goalit simulate --json` bytes
        assert a.summary_json() == b.summary_json()
    if interval is not None:
        assert a.metrics["players_per_decision_max"] > 3
