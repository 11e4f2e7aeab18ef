"""goalit: game-theoretic offloading of LLM inference in edge computing systems.

>>> import goalit
>>> result = goalit.solve(goalit.default_scenario("small"), algorithm="goalit", seed=0)
>>> result.converged
True

The public names are imported on first use (PEP 562), so ``import goalit`` and the ``goalit`` command
start without NumPy: the command installs its signal handlers before any heavy import.
"""

from __future__ import annotations

import importlib
import importlib.util

from goalit._version import __version__

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: importing typing costs the command ~10 ms


_EXPORTS = {
    "default_scenario": "goalit.api", "load_scenario": "goalit.api", "resolve_scenario": "goalit.api",
    "solve": "goalit.api", "GoalitError": "goalit.errors", "GoalitInputError": "goalit.errors",
    "ScenarioError": "goalit.errors", "TraceError": "goalit.errors", "Game": "goalit.game.model",
    "build_game": "goalit.game.model", "Scenario": "goalit.scenario.model", "SimResult": "goalit.sim",
    "simulate": "goalit.sim", "SolveResult": "goalit.solvers.result",
}  # fmt: skip

__all__ = [
    "Game", "GoalitError", "GoalitInputError", "Scenario", "ScenarioError", "SimResult", "SolveResult",
    "TraceError", "__version__", "build_game", "default_scenario", "load_scenario", "resolve_scenario",
    "simulate", "solve",
]  # fmt: skip

if TYPE_CHECKING:  # pragma: no cover
    from goalit.api import default_scenario, load_scenario, resolve_scenario, solve
    from goalit.errors import GoalitError, GoalitInputError, ScenarioError, TraceError
    from goalit.game.model import Game, build_game
    from goalit.scenario.model import Scenario
    from goalit.sim import SimResult, simulate
    from goalit.solvers.result import SolveResult


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        if name.isidentifier() and not name.startswith("__") and importlib.util.find_spec(f"goalit.{name}"):
            return importlib.import_module(f"goalit.{name}")  # a subpackage: goalit.sim, goalit.game, ...
        raise AttributeError(f"module 'goalit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
