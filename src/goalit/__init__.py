"""goalit: game-theoretic offloading of LLM inference in edge computing systems.

>>> import goalit
>>> result = goalit.solve(goalit.default_scenario("small"), algorithm="goalit", seed=0)
>>> result.converged
True
"""

from goalit.api import default_scenario, load_scenario, resolve_scenario, solve
from goalit.errors import GoalitError, GoalitInputError, ScenarioError, TraceError
from goalit.game.model import Game, build_game
from goalit.scenario.model import Scenario
from goalit.sim import SimResult, simulate
from goalit.solvers.result import SolveResult

__version__ = "0.1.0"

__all__ = [
    "Game", "GoalitError", "GoalitInputError", "Scenario", "ScenarioError", "SimResult", "SolveResult",
    "TraceError", "__version__", "build_game", "default_scenario", "load_scenario", "resolve_scenario",
    "simulate", "solve",
]  # fmt: skip
