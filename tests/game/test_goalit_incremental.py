"""Incremental best responses: the engine re-evaluates only dirty users and still takes the same path."""

from __future__ import annotations

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from goalit.api import default_scenario
from goalit.game import dynamics
from goalit.game.goalit import GRANTS, goalit
from goalit.game.model import build_game
from goalit_strategies import feasible, scenarios

GAMES = scenarios(
    min_users=3, max_users=12, max_servers=3, max_instances=3, sharing=("partitioned", "shared")
)


def same_run(game, grant, seed, initial=None):
    slow = goalit(
        game, np.random.default_rng(seed), initial=initial, grant=grant, incremental=False, fast=False
    )
    inc = goalit(game, np.random.default_rng(seed), initial=initial, grant=grant, fast=False)
    assert np.array_equal(slow.profile, inc.profile)
    assert (slow.slots, slow.updates, slow.messages, slow.converged, slow.cycled) == (
        inc.slots, inc.updates, inc.messages, inc.converged, inc.cycled,
    )  # fmt: skip
    assert slow.potential == inc.potential and slow.requests == inc.requests


@settings(max_examples=60, deadline=None)
@given(scenario=GAMES, grant=st.sampled_from(GRANTS), seed=st.integers(0, 2**32 - 1))
def test_incremental_equals_full_evaluation(scenario, grant, seed):
    game = build_game(scenario)
    assume(feasible(game))
    rng = np.random.default_rng(seed)
    same_run(game, grant, seed)
    same_run(game, grant, seed, np.array([rng.choice(np.flatnonzero(r)) for r in game.allowed]))


def test_rows_evaluation_is_the_full_one_sliced():
    for name in ("default", "default-partitioned"):
        game = build_game(default_scenario(name))
        rng = np.random.default_rng(1)
        a = np.array([rng.choice(np.flatnonzero(r)) for r in game.allowed])
        br, gain = dynamics.best_responses(game, a)
        rows = np.sort(rng.choice(game.n_users, 17, replace=False))
        br_r, gain_r = dynamics.best_responses(game, a, rows=rows)
        assert np.array_equal(br[rows], br_r) and np.array_equal(gain[rows], gain_r)


def test_incremental_on_a_many_user_game():
    for name in ("default", "default-partitioned"):
        game = build_game(default_scenario(name))
        for grant in GRANTS:
            same_run(game, grant, 5)
