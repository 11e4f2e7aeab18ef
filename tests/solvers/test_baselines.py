"""Baselines of docs/model.md B.11 and the shared registry schema."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from goalit.api import default_scenario, solve
from goalit.game import dynamics
from goalit.game.model import build_game
from goalit.solvers import baselines
from goalit.solvers.registry import REGISTRY
from goalit.solvers.result import SolveResult


@pytest.fixture(scope="module")
def game():
    return build_game(default_scenario("default-partitioned"))


def test_registry_names_and_schema(make_game):
    game = make_game(12, 3)
    assert list(REGISTRY) == [
        "goalit", "ot-gah", "optimum", "local", "nearest-fp16", "nearest-q4", "random", "least-loaded",
        "greedy", "goalit-refined",
    ]  # fmt: skip
    keys = None
    for name in REGISTRY:
        res = solve(game, name, seed=1)
        assert isinstance(res, SolveResult) and res.algorithm == name
        assert res.profile.shape == (game.n_users,)
        assert game.allowed[np.arange(game.n_users), res.profile].all(), name
        base = set(res.summary()) - set(res.extras)
        keys = keys or base
        assert base == keys, name


def test_local(game):
    assert np.all(solve(game, "local").profile == 0)


def test_nearest_levels(game):
    for name, level in (("nearest-fp16", "fp16"), ("nearest-q4", "q4_k_m")):
        a = solve(game, name).profile
        ok = game.allowed & (game.level_of == level)[None, :]
        ok[:, 0] = False  # the local model is q4_k_m too
        for i in range(game.n_users):
            cand = np.flatnonzero(ok[i])
            if cand.size == 0:
                assert a[i] == 0
            else:
                assert game.level_of[a[i]] == level
                assert game.uplink_s[i, a[i]] == game.uplink_s[i, cand].min()


def test_nearest_is_nearest_server():
    sc = default_scenario("default-partitioned")
    game = build_game(sc)
    a = solve(game, "nearest-q4").profile
    pos = np.array([s.position_m for s in sc.servers])
    dist = np.hypot(sc.users.x_m[:, None] - pos[None, :, 0], sc.users.y_m[:, None] - pos[None, :, 1])
    assert np.array_equal(game.server_of[a], np.argmin(dist, axis=1))  # every server hosts q4_k_m


def test_random_is_reproducible_and_allowed(game):
    a = solve(game, "random", seed=5).profile
    assert np.array_equal(a, solve(game, "random", seed=5).profile)
    assert not np.array_equal(a, solve(game, "random", seed=6).profile)
    assert np.all(a >= 1)


def test_least_loaded_balances(game):
    a = solve(game, "least-loaded").profile
    q4 = np.flatnonzero(np.char.startswith(game.level_of.astype(str), "q4"))
    q4 = q4[q4 >= 1]
    n = np.bincount(a, minlength=game.n_actions)[q4]
    assert set(np.unique(a)) <= set(q4.tolist())
    assert n.max() - n.min() <= 1  # every user reaches every server in the default scenario


def two_user_herding_game(game):
    """Two identical users, two identical instances whose step time explodes when shared: simultaneous
    best responses swap them back and forth forever."""
    g = game.take_users(np.array([0, 0]))
    beta = np.full_like(g.beta, np.inf)
    beta[:, :3] = [[50.0, 1.0, 1.0]] * 2
    step = np.zeros_like(g.step_table)
    step[1:3, 1] = 0.01
    step[1:3, 2:] = 1.0
    return dataclasses.replace(g, beta=beta, step_table=step, potential_table=np.cumsum(step, axis=1))


def test_greedy_reports_oscillation(game):
    g = two_user_herding_game(game)
    start = np.array([1, 1])
    out = baselines.greedy(g, initial=start)
    assert out["oscillated"] and out["cycle_length"] == 2 and not out["converged"]
    res = solve(g, "greedy", initial=start)
    assert res.extras["oscillated"] is True and res.converged is False
    # the cycle is real: two more simultaneous rounds return to the reported profile
    a = out["profile"]
    for _ in range(2):
        br, gain = dynamics.best_responses(g, a)
        a = np.where(gain > g.epsilon, br, a)
    assert np.array_equal(a, out["profile"])
    # GOALIT's one-at-a-time grants reach an equilibrium on the same game
    gl = solve(g, "goalit", initial=start)
    assert gl.converged and gl.metrics.max_regret <= g.epsilon


def test_greedy_converges_without_congestion(game):
    g = game.take_users(np.arange(4))
    res = solve(g, "greedy")
    assert res.converged and not res.extras["oscillated"]
    assert res.metrics.max_regret <= g.epsilon


@pytest.mark.parametrize("scenario", ["default", "default-partitioned"])
def test_greedy_scalar_path_equals_the_vectorised_rounds(scenario, make_game, congested):
    """``greedy(trace=False)`` on few users (scalar path) gives the vectorised run's profile and counts,
    oscillations included (congested games, shared and partitioned servers)."""
    from goalit.game.goalit_scalar import MAX_PLAYERS

    oscillated = 0
    for k in range(30):
        g = congested(make_game(1 + k % 12, 700 + k, scenario), 0.002 * (k % 4), 1 + k % 3)
        rng = np.random.default_rng(k)
        init = None if k % 3 else np.array([rng.choice(np.flatnonzero(r)) for r in g.allowed])
        fast = baselines.greedy(g, None, 50, init, trace=False)
        assert g.n_users <= MAX_PLAYERS
        # the vectorised rounds: greedy with the trace, which never takes the scalar path
        slow = baselines.greedy(g, None, 50, init, trace=True)
        assert np.array_equal(fast["profile"], slow["profile"])
        keys = ("converged", "oscillated", "cycle_length", "updates", "rounds")
        assert [fast[x] for x in keys] == [slow[x] for x in keys]
        oscillated += slow["oscillated"]
    assert oscillated > 0
