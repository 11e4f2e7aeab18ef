"""The registry: one entry per algorithm (name, solve function, typed options, traits)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from goalit.api import default_scenario, solve
from goalit.errors import GoalitInputError
from goalit.game.model import build_game
from goalit.rng import stream
from goalit.solvers.contract import Options, traits_of
from goalit.solvers.registry import REGISTRY, accepts, get_solver


@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_builtin_names_a_misspelt_option(name):
    entry = REGISTRY[name]
    assert issubclass(entry.options, Options) and dataclasses.is_dataclass(entry.options)
    assert entry.traits == traits_of(name)
    with pytest.raises(GoalitInputError, match=rf"^{name}: unknown option\(s\) bogus_option;"):
        get_solver(name)(build_game(default_scenario("small")), stream(0, "algorithm"), bogus_option=1)


def test_solve_takes_a_scenario_name_and_typed_options():
    by_name = solve("small", "goalit", seed=0)
    by_game = solve(build_game(default_scenario("small")), "goalit", seed=0)
    assert np.array_equal(by_name.profile, by_game.profile)
    with pytest.raises(GoalitInputError, match="did you mean 'epsilon'"):
        solve("small", "goalit", epsilonn=1)
    with pytest.raises(GoalitInputError, match="grant:? must be one of"):
        solve("small", "goalit", grant="fastest")
    with pytest.raises(GoalitInputError, match="starts must be an integer >= 1"):
        solve("small", "goalit-refined", starts=0)
    assert solve("small", "goalit", grant="max-gain").extras["grant"] == "max-gain"


def test_accepts():
    assert accepts("optimum", "time_limit_s") and not accepts("goalit", "time_limit_s")
    assert not accepts("no-such-algorithm", "level")
