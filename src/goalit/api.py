"""The public Python API: load a scenario, build its game, solve it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from goalit.errors import ScenarioError
from goalit.game.model import Game, build_game, check_feasible
from goalit.rng import stream
from goalit.scenario.embedded import embedded_names, embedded_scenario
from goalit.scenario.model import Scenario
from goalit.scenario.toml_io import load_scenario_file
from goalit.solvers.registry import get_solver
from goalit.solvers.result import SolveResult


def load_scenario(path: str | Path) -> Scenario:
    """Load and fully validate a scenario file (including that every user has a feasible action)."""
    scenario = load_scenario_file(path)
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # check_feasible reports overflow in one line
            game = build_game(scenario)
        check_feasible(game)
    except ScenarioError as err:  # name the file, like every other scenario error
        raise ScenarioError(f"{path}: {err}") from None
    return scenario


def default_scenario(name: str = "default") -> Scenario:
    """An embedded scenario: ``default``, ``small``, ``large`` (see ``goalit scenario show``)."""
    return embedded_scenario(name)


def resolve_scenario(name_or_path: str | Path | None) -> Scenario:
    """An embedded scenario by name, else a scenario file by path (``None``: the default)."""
    if name_or_path is None:
        return default_scenario()
    name = str(name_or_path)
    if name in embedded_names():
        return default_scenario(name)
    if not Path(name).suffix and not Path(name).exists():  # a misspelt name, not a missing file
        known = ", ".join(embedded_names())
        raise ScenarioError(f"{name}: no embedded scenario or file of that name (embedded: {known})")
    return load_scenario(name_or_path)


def solve(
    scenario: Scenario | Game | str | Path, algorithm: str = "goalit", seed: int = 0, **options: Any
) -> SolveResult:
    """Solve the static game of ``scenario`` (a scenario, a game, an embedded name or a file path) with a
    registry algorithm; ``seed`` roots the algorithm stream. An unknown option is a one-line error."""
    if isinstance(scenario, (str, Path)):
        scenario = resolve_scenario(scenario)
    game = scenario if isinstance(scenario, Game) else build_game(scenario)
    return get_solver(algorithm)(game, stream(seed, "algorithm"), **options)
