"""The public Python API: load a scenario, build its game, solve it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from goalit.errors import GoalitInputError, ScenarioError
from goalit.game.model import Game, build_game, check_feasible
from goalit.limits import check_options
from goalit.rng import stream
from goalit.scenario.embedded import embedded_names, embedded_scenario
from goalit.scenario.model import Scenario
from goalit.scenario.toml_io import load_scenario_file
from goalit.solvers.registry import get_solver
from goalit.solvers.result import SolveResult


def load_scenario(path: str | Path) -> Scenario:
    """Load and fully validate a scenario file (including that every user has a feasible action)."""
    if not isinstance(path, str | Path):
        raise ScenarioError(f"scenario path must be a str or Path, not {type(path).__name__}")
    scenario = load_scenario_file(path)
    try:
        with np.errstate(all="ignore"):  # check_feasible reports overflow in one line
            game = build_game(scenario)
        check_feasible(game)
    except ScenarioError as err:  # name the file, like every other scenario error
        raise ScenarioError(f"{path}: {_real_culprit(scenario, str(err))}") from None
    return scenario


def _real_culprit(scenario: Scenario, message: str) -> str:
    """Point an overflow at the field that holds the bad value (a radio or hardware field, not a user)."""
    m = re.match(r"users\[(\d+)\]: the cost overflows", message)
    if not m:
        return message
    from goalit.game.culprit import overflow_culprit

    field = overflow_culprit(scenario, int(m.group(1)))
    if field is None:
        return message
    return f"{field}: value too extreme: the cost overflows float64 (for users[{m.group(1)}])"


def default_scenario(name: str = "default") -> Scenario:
    """An embedded scenario: ``default``, ``small``, ``large`` (see ``goalit scenario show``)."""
    if not isinstance(name, str):
        raise ScenarioError(f"scenario name must be a str, not {type(name).__name__}")
    return embedded_scenario(name)  # an unknown name: a one-line ScenarioError


def resolve_scenario(name_or_path: str | Path | None) -> Scenario:
    """An embedded scenario by name, else a scenario file by path (``None``: the default)."""
    if name_or_path is None:
        return default_scenario()
    if not isinstance(name_or_path, str | Path):
        raise ScenarioError(
            f"scenario must be a name, a path or a Scenario, not {type(name_or_path).__name__}"
        )
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
    if not isinstance(algorithm, str):
        raise GoalitInputError(f"algorithm must be a name (str), not {type(algorithm).__name__}")
    rng = stream(seed, "algorithm")
    try:
        solver = get_solver(algorithm)  # built-in or plug-in; unknown: a one-line error
    except ValueError as err:
        raise GoalitInputError(str(err)) from None
    check_options(options, f"algorithm {algorithm}")  # built-ins also parse them into typed options
    if isinstance(scenario, (str, Path)):
        scenario = resolve_scenario(scenario)
    game = scenario if isinstance(scenario, Game) else build_game(scenario)
    return solver(game, rng, **options)
