"""One-shot routers: the per-user cache and the cached decisions equal the rules on the decision game."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from tests.sim.test_sim_policies import random_users

import goalit
from goalit.game.model import build_game
from goalit.sim.policies import SubgameBuilder, make_policy
from goalit.sim.policies.routers import RULES, PerUser
from goalit.sim.view import View


def test_per_user_computes_each_user_once_and_resets_on_a_new_game():
    calls: list[int] = []

    def fn(game, k):
        calls.append(k)
        return 10 * k

    cache = PerUser(fn)
    g1, g2 = object(), object()
    assert cache.get(g1, np.array([3, 1, 3])) == [30, 10, 30]
    assert cache.get(g1, np.array([1, 4])) == [10, 40]
    assert calls == [3, 1, 4]  # each user of g1 once
    assert cache.get(g2, np.array([1])) == [10]
    assert calls == [3, 1, 4, 1]  # a new game: computed again


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
