"""The Hedge baseline: the same learners through the env and on the game, losses in [0, 1], and
learning that lowers regret."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pettingzoo")

import goalit  # noqa: E402
from goalit.env import parallel_env, run_hedge, solve_hedge, train_hedge  # noqa: E402
from goalit.env.hedge import HedgeLearners, default_eta, loss_scale  # noqa: E402
from goalit.game import dynamics  # noqa: E402


def test_env_hedge_through_the_env_equals_the_direct_run():
    env = parallel_env("small", max_steps=150)
    via_env = train_hedge(env, np.random.default_rng(7))
    direct = run_hedge(env.game, np.random.default_rng(7), rounds=150)
    assert via_env.rounds == direct.rounds == 150
    assert via_env.social_cost == pytest.approx(direct.social_cost)
    assert (via_env.profile == direct.profile).all()
    assert via_env.external_regret == pytest.approx(direct.external_regret)


def test_env_hedge_learns_an_equilibrium_of_the_small_game():
    game = goalit.build_game(goalit.default_scenario("small"))
    res = solve_hedge(game, np.random.default_rng(0), rounds=1000)
    assert res.converged and dynamics.max_regret(game, res.profile) <= game.epsilon
    assert res.extras["rounds_to_equilibrium"] is not None
    # no-regret: the per-round external regret shrinks as the horizon grows
    short = run_hedge(game, np.random.default_rng(1), rounds=100).external_regret.max()
    long = run_hedge(game, np.random.default_rng(1), rounds=2000).external_regret.max()
    assert long < short


def test_env_hedge_losses_are_clipped_to_the_unit_interval():
    game = goalit.build_game(goalit.default_scenario("small"))
    h = HedgeLearners.of(game, rounds=10)
    assert h.eta == pytest.approx(default_eta(int(game.allowed.sum(axis=1).max()), 10))
    costs = np.where(game.allowed, 1e9, np.inf)
    costs[:, 0] = np.where(game.allowed[:, 0], 0.0, np.inf)
    before = h.log_w.copy()
    h.update(costs)
    ok = game.allowed
    drop = before[ok] - h.log_w[ok]
    assert drop.max() - drop.min() <= h.eta + 1e-12  # loss <= 1 (up to the common renormalisation)
    assert drop.max() - drop.min() > 0.5 * h.eta
    assert (loss_scale(game) > 0).all()
    p = h.probabilities()
    assert p.sum(axis=1) == pytest.approx(1.0) and (p[~game.allowed] == 0).all()
    a = h.act(np.random.default_rng(0))
    assert game.allowed[np.arange(game.n_users), a].all()
