"""GOALIT's equilibria cross-checked with QuantEcon's pure-NE enumeration (an independent library)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from goalit.game import dynamics
from goalit.game.goalit import goalit
from goalit.solvers import brute_force

gt = pytest.importorskip("quantecon.game_theory")


def normal_form(game):
    """QuantEcon NormalFormGame over the users' allowed actions; payoff -C_i(a) from goalit.game.dynamics."""
    actions = [np.flatnonzero(row) for row in game.allowed]
    shape = tuple(a.size for a in actions)
    payoff = np.empty((*shape, game.n_users))
    for idx in itertools.product(*(range(k) for k in shape)):
        profile = np.array([actions[i][k] for i, k in enumerate(idx)])
        payoff[idx] = -dynamics.user_costs(game, profile)
    return gt.NormalFormGame(payoff), actions


def quantecon_equilibria(game) -> set[tuple[int, ...]]:
    g, actions = normal_form(game)
    return {tuple(int(actions[i][k]) for i, k in enumerate(ne)) for ne in gt.pure_nash_brute(g, tol=1e-9)}


CASES = [  # (users, seed, servers, slope s/token per extra user, sub-channels per AP)
    (3, 0, "default", 0.0, None),
    (3, 1, "default", 0.05, 2),
    (4, 2, "small", 0.0, None),
    (4, 3, "small", 0.03, 2),
    (4, 4, "small", 0.08, 3),
]


@pytest.mark.parametrize("n_users,seed,servers,slope,sub", CASES)
def test_goalit_equilibrium_is_a_quantecon_pure_ne(make_game, congested, n_users, seed, servers, slope, sub):
    game = make_game(n_users, seed, servers)
    if slope or sub:
        game = congested(game, slope, sub)
    qe = quantecon_equilibria(game)
    assert qe, "a potential game has a pure NE"
    # the same set as our own brute-force enumeration
    ours = brute_force.enumerate_profiles(game, equilibria=True, tol=1e-12).equilibria
    assert {tuple(map(int, p)) for p in ours} == qe
    # GOALIT (exact improvements, every grant rule and several seeds) ends at one of them
    for grant in ("parallel", "max-gain", "random"):
        for s in range(3):
            tr = goalit(game, np.random.default_rng(s), grant=grant, epsilon=0.0)
            assert tr.converged
            assert tuple(map(int, tr.profile)) in qe, (grant, s)
