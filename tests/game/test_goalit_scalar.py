"""The GOALIT engine's scalar fast path equals its vectorised path (profile, counters, random draws)."""

from __future__ import annotations

import numpy as np
import pytest

from goalit.api import default_scenario
from goalit.game import dynamics
from goalit.game import goalit_scalar as small_goalit
from goalit.game.goalit import GRANTS, goalit
from goalit.game.goalit_scalar import MAX_PLAYERS, best_responses_small, isolated_start_small
from goalit.game.model import build_game
from goalit.scenario.generate import USER_DISTRIBUTIONS, UserGenerator


def users_like_default(n_users: int, seed: int):
    """Users drawn like default.toml's (small's two 4-sub-channel APs then bind beyond 8 offloaders)."""
    dists = {name: dist for name, dist, _, _ in USER_DISTRIBUTIONS}
    dists["max_perplexity"] = ("uniform", (6.5, 12.0))
    return UserGenerator(n_users, seed, (300.0, 300.0), "snapdragon-8-gen-3", dists).draw()


@pytest.mark.parametrize("grant", GRANTS)
def test_fast_path_equals_the_vectorised_protocol(grant):
    base = default_scenario("small")
    for k in range(40):
        game = build_game(base.with_users(users_like_default(1 + k % MAX_PLAYERS, 100 + k)))
        rng = np.random.default_rng(k)
        init = None if k % 3 else np.array([rng.choice(np.flatnonzero(r)) for r in game.allowed])
        cap = None if k % 5 else int(rng.integers(1, 4))
        assert np.array_equal(isolated_start_small(game), dynamics.isolated_start(game))
        prof = np.array([rng.choice(np.flatnonzero(r)) for r in game.allowed])
        br, gain = dynamics.best_responses(game, prof)
        br_s, gain_s = best_responses_small(game, prof)
        assert np.array_equal(br, br_s) and np.array_equal(gain, gain_s)  # same floats
        r1, r2 = np.random.default_rng(k), np.random.default_rng(k)
        slow = goalit(game, r1, initial=init, grant=grant, max_slots=cap, fast=False)
        fast = goalit(game, r2, initial=init, grant=grant, max_slots=cap, record_potential=False)
        assert np.array_equal(slow.profile, fast.profile)
        assert (slow.slots, slow.updates, slow.messages, slow.converged) == (
            fast.slots, fast.updates, fast.messages, fast.converged,
        )  # fmt: skip
        assert r1.random() == r2.random()


def test_shim_keeps_the_simulator_signature():
    game = build_game(default_scenario("small"))
    a0 = small_goalit.isolated_start_small(game)
    out = small_goalit.goalit_small(game, np.random.default_rng(0), a0, "parallel", None, None)
    tr = goalit(game, np.random.default_rng(0), initial=a0)
    assert np.array_equal(out[0], tr.profile) and out[1:] == (tr.slots, tr.updates, tr.messages, tr.converged)


def test_fast_path_covers_shared_games():
    """On shared servers the fast path is the default for small games and equals the vectorised one."""
    base = default_scenario("default")
    assert build_game(base).shared
    for k in range(12):
        game = build_game(base.with_users(users_like_default(1 + 3 * k, 300 + k)))
        assert np.array_equal(isolated_start_small(game), dynamics.isolated_start(game))
        r1, r2 = np.random.default_rng(k), np.random.default_rng(k)
        slow = goalit(game, r1, fast=False, record_potential=False)
        fast = goalit(game, r2, record_potential=False)
        assert np.array_equal(slow.profile, fast.profile)
        assert (slow.slots, slow.updates, slow.messages, slow.converged, slow.cycled) == (
            fast.slots, fast.updates, fast.messages, fast.converged, fast.cycled,
        )  # fmt: skip
        assert not fast.potential[1:]
