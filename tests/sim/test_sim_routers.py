"""One-shot routers: the per-user cache and the cached decisions equal the rules on the decision game."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from tests.sim.test_sim_policies import random_users

import goalit
from goalit.game.model import build_game
from goalit.sim.policies import SubgameBuilder, make_policy
from goalit.sim.policies.routers import RULES, PerUser, _random_choices
from goalit.sim.view import View


def test_per_user_builds_once_per_game():
    built: list[object] = []

    def build(game):
        built.append(game)
        return [10 * k for k in range(5)]

    cache = PerUser(build)
    g1, g2 = object(), object()
    assert cache.get(g1, np.array([3, 1, 3])) == [30, 10, 30]
    assert cache.get(g1, np.array([1, 4])) == [10, 40]
    assert built == [g1]  # one build for g1
    assert cache.get(g2, np.array([1])) == [10]
    assert built == [g1, g2]  # a new game: built again


def test_random_choices_are_each_users_allowed_instances():
    sc = goalit.default_scenario("default")
    game = build_game(sc, users=random_users(sc, 50, np.random.default_rng(1)))
    beta = game.beta.copy()
    beta[::7, 1:] = np.inf
    game = dataclasses.replace(game, beta=beta)
    got = _random_choices(game)
    assert len(got) == game.n_users
    for k, v in enumerate(got):
        assert v.dtype == np.int64 and np.array_equal(v, np.flatnonzero(np.isfinite(beta[k, 1:])) + 1)


@pytest.mark.parametrize("scenario", ["default", "default-partitioned"])
@pytest.mark.parametrize(("name", "level"), [("random", None), ("nearest-fp16", None), ("nearest-q4", None),
                                             ("nearest-fp16", "q4")])  # fmt: skip
def test_cached_router_decisions_equal_the_rules(scenario, name, level):
    """Same actions and random draws as ``RULES[name]`` on ``SubgameBuilder.users``, including players
    left to the local fallback (no allowed instance of the kind asked for)."""
    sc = goalit.default_scenario(scenario)
    rng = np.random.default_rng(4)
    game = build_game(sc, users=random_users(sc, 200, rng))
    beta = game.beta.copy()
    beta[::17, 1:] = np.inf  # local only: random and nearest fall back for these users
    game = dataclasses.replace(game, beta=beta)
    b = SubgameBuilder(game)
    pol = make_policy(name, **({} if level is None else {"level": level}))
    fallback = 0
    for k in range(120):
        ids = np.sort(rng.choice(200, 1 + k % 4, replace=False))
        r1, r2 = np.random.default_rng(k), np.random.default_rng(k)
        view = View(0.0, game, ids, np.full(ids.shape, -1), None, np.zeros(ids.shape), r1, b, None)
        got = pol.decide(view).actions
        want = np.asarray(RULES[name](b.users(ids), r2, level), np.int64)
        assert got.dtype == np.int64 and np.array_equal(got, want)
        assert r1.random() == r2.random()
        fallback += pol._cached(dataclasses.replace(view, rng=np.random.default_rng(0))) is None
    assert 0 < fallback < 120
