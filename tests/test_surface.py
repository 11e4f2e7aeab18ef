"""The exact public surface (docs/api.md): each public module's ``__all__`` pinned, importable, documented."""

from __future__ import annotations

import importlib
import inspect
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# The public modules and their exact __all__. Changing the surface means changing this table (and docs/api.md).
PUBLIC: dict[str, set[str]] = {
    "goalit": {
        "Game", "GoalitError", "GoalitInputError", "Scenario", "ScenarioError", "SimResult", "SolveResult",
        "TraceError", "__version__", "build_game", "default_scenario", "load_scenario", "resolve_scenario",
        "simulate", "solve",
    },
    "goalit.errors": {"GoalitError", "GoalitInputError", "ScenarioError", "TraceError"},
    "goalit.rng": {"STREAMS", "stream", "streams"},
    "goalit.scenario": {
        "EMBEDDED", "AccessPoint", "GameParams", "HardwareProfile", "Instance", "LLMProfile", "Level", "Radio",
        "Scenario", "Server", "Users", "builtin_profiles", "dump_scenario", "embedded_scenario",
        "load_profile_file", "load_scenario_file", "parse_scenario",
    },
    "goalit.sim": {
        "Background", "Decision", "Metric", "Policy", "SIM_METRICS", "SimMetrics", "SimResult", "View", "Workload",
        "load_trace", "make_policy", "poisson", "register_policy", "policy_names", "simulate",
    },
    "goalit.plugins": {"GROUP", "Plugin", "is_policy_class", "load", "plugins", "refresh"},
    "goalit.env": {
        "ENV_NAME", "HedgeLearners", "HedgeRun", "OffloadEnv", "SingleAgentEnv", "parallel_env", "run_hedge",
        "solve_hedge", "train_hedge",
    },
    "goalit.serve": {
        "BackendConfig", "BackendView", "Decision", "GatewayConfig", "Job", "Placed", "Router", "load_config",
        "parse_config",
    },
    "goalit.experiments": {"Point", "SweepSummary", "config_hash", "run_sweep"},
}  # fmt: skip

API_MD = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_all_is_pinned(module):
    mod = importlib.import_module(module)
    assert len(mod.__all__) == len(set(mod.__all__)), f"{module}.__all__ has duplicates"
    assert set(mod.__all__) == PUBLIC[module], (
        f"{module}.__all__ changed: added {sorted(set(mod.__all__) - PUBLIC[module])}, "
        f"removed {sorted(PUBLIC[module] - set(mod.__all__))} (update PUBLIC and docs/api.md)"
    )


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_public_names_import_and_are_documented(module):
    mod = importlib.import_module(module)
    assert (mod.__doc__ or "").strip(), f"{module} has no docstring"
    for name in mod.__all__:
        obj = getattr(mod, name)  # importable (the facade resolves lazily)
        if callable(obj):  # classes, functions, cached functions
            assert (inspect.getdoc(obj) or "").strip(), f"{module}.{name} has no docstring"
        elif not isinstance(obj, type(re)):  # a constant: named in docs/api.md or its module's docstring
            assert f"`{name}`" in API_MD or name in (mod.__doc__ or ""), f"{module}.{name} is not documented"


def test_docs_api_lists_exactly_the_public_modules():
    table = API_MD.split("## What is public", 1)[1].split("\n\n")[2]
    listed = set(re.findall(r"^\| `(goalit[\w.]*)` \|", table, flags=re.M))
    assert listed == set(PUBLIC)


def test_version_matches_pyproject():
    import goalit
    from goalit._version import __version__

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert goalit.__version__ == __version__ == project["version"]


def test_typed_package():
    """PEP 561: the package ships ``py.typed`` so type checkers read its annotations."""
    assert (ROOT / "src" / "goalit" / "py.typed").is_file()
