"""Fixtures of the solver tests: small random games drawn like the default scenario's users."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from goalit.api import default_scenario
from goalit.game.model import Game, build_game
from goalit.scenario.generate import USER_DISTRIBUTIONS, UserGenerator


def draw_game(n_users: int, seed: int, scenario: str = "default", **dist_overrides) -> Game:
    """The game of ``scenario``'s servers with ``n_users`` users drawn like the default scenario's."""
    dists = {name: dist for name, dist, _, _ in USER_DISTRIBUTIONS}
    dists["max_perplexity"] = ("uniform", (6.5, 12.0))  # as in default.toml
    dists.update(dist_overrides)
    users = UserGenerator(n_users, seed, (300.0, 300.0), "snapdragon-8-gen-3", dists).draw()
    return build_game(default_scenario(scenario).with_users(users))


def congest(game: Game, slope: float, subchannels: int | None = None) -> Game:
    """The same game with step times rising by ``slope`` s/token per extra user (and fewer sub-channels),
    so that congestion and AP capacity shape the equilibria of tiny games."""
    loads = np.arange(game.step_table.shape[1])
    step = game.step_table + slope * np.maximum(loads - 1, 0)[None, :]
    step[0] = 0.0
    step[:, 0] = 0.0
    kw = {"step_table": step, "potential_table": np.cumsum(step, axis=1)}
    if subchannels is not None:
        kw["subchannels"] = np.full_like(game.subchannels, subchannels)
    return dataclasses.replace(game, **kw)


@pytest.fixture
def make_game():
    """``make_game(n_users, seed, scenario="default", **dist_overrides)`` -> Game."""
    return draw_game


@pytest.fixture
def congested():
    """``congested(game, slope, subchannels=None)`` -> Game with steeper step times (see ``congest``)."""
    return congest
