"""The public Python API: goalit.load_scenario, goalit.default_scenario, goalit.solve (issue 2)."""

from __future__ import annotations

import numpy as np
import pytest

import goalit
from goalit.scenario.embedded import embedded_text


def test_public_names():
    for name in ("load_scenario", "default_scenario", "solve", "resolve_scenario", "build_game", "Scenario",
                 "SolveResult", "GoalitInputError", "ScenarioError", "__version__"):  # fmt: skip
        assert hasattr(goalit, name), name
        assert name in goalit.__all__


def test_lazy_facade_exports_exactly_all():
    """Every name in __all__ resolves, and the lazy table and __all__ agree."""
    assert sorted(goalit.__all__) == sorted([*goalit._EXPORTS, "__version__"])
    for name in goalit.__all__:
        assert getattr(goalit, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        goalit.nope  # noqa: B018


def test_import_goalit_is_light():
    """``import goalit`` loads neither NumPy nor SciPy (measured time: benchmarks/import_time.py)."""
    import subprocess
    import sys

    code = "import sys, goalit; print(sorted(m for m in ('numpy', 'scipy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_default_scenario():
    s = goalit.default_scenario()
    assert s.name == "default" and s.n_users == 50
    assert goalit.default_scenario("small").n_users == 6
    with pytest.raises(goalit.ScenarioError, match="unknown scenario 'nope'"):
        goalit.default_scenario("nope")


def test_load_scenario(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(embedded_text("small"), encoding="utf-8")
    assert goalit.load_scenario(path) == goalit.default_scenario("small")
    assert goalit.load_scenario(str(path)) == goalit.default_scenario("small")


def test_load_scenario_checks_feasibility(tmp_path):
    path = tmp_path / "s.toml"
    text = embedded_text("small").replace("max_perplexity = 7.0", "max_perplexity = 6.0")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(goalit.GoalitInputError, match=r"s\.toml: users\[2\]: no feasible action"):
        goalit.load_scenario(path)


def test_resolve_scenario(tmp_path):
    assert goalit.resolve_scenario(None).name == "default"
    assert goalit.resolve_scenario("small").name == "small"
    path = tmp_path / "x.toml"
    path.write_text(embedded_text("small"), encoding="utf-8")
    assert goalit.resolve_scenario(path).n_users == 6
    with pytest.raises(goalit.ScenarioError, match="smal: no embedded scenario or file of that name"):
        goalit.resolve_scenario("smal")


def test_solve_scenario_and_game_alike():
    s = goalit.default_scenario("small")
    r1 = goalit.solve(s)
    r2 = goalit.solve(goalit.build_game(s), algorithm="goalit", seed=0)
    assert isinstance(r1, goalit.SolveResult)
    assert r1.algorithm == "goalit" and r1.converged
    assert np.array_equal(r1.profile, r2.profile)
    assert r1.metrics.max_regret <= r1.epsilon
    assert len(r1.potential_trace) == r1.slots + 1
    summary = r1.summary()
    assert summary["converged"] is True and summary["grant"] == "parallel"


def test_solve_options_reach_goalit():
    s = goalit.default_scenario("default")
    capped = goalit.solve(s, seed=0, grant="max-gain", max_slots=2)
    assert not capped.converged and capped.slots == 2 and capped.updates == 2
    assert capped.extras["grant"] == "max-gain"
    loose = goalit.solve(s, seed=0, epsilon=1e-2)
    assert loose.epsilon == 1e-2 and loose.metrics.max_regret <= 1e-2


def test_solve_same_seed_same_result_random_grant():
    s = goalit.default_scenario("default")
    a = goalit.solve(s, seed=7, grant="random")
    b = goalit.solve(s, seed=7, grant="random")
    assert np.array_equal(a.profile, b.profile) and a.summary() | {"runtime_s": 0} == b.summary() | {
        "runtime_s": 0
    }


def test_unknown_algorithm():
    with pytest.raises(ValueError, match="unknown algorithm 'nope'"):
        goalit.solve(goalit.default_scenario("small"), algorithm="nope")


def test_metrics_definitions():
    """The aggregate metrics follow their formulas (docs/metrics.md)."""
    r = goalit.solve(goalit.default_scenario("default"))
    m = r.metrics
    game = goalit.build_game(goalit.default_scenario("default"))
    o = game.output_tokens
    assert m.social_cost == pytest.approx(m.costs.sum())
    assert m.mean_latency_s == pytest.approx(m.latency_s.mean())
    assert m.p95_latency_s == pytest.approx(np.percentile(m.latency_s, 95))
    assert m.token_throughput_tps == pytest.approx((o / m.latency_s).sum())
    assert m.mean_perplexity == pytest.approx((o * m.perplexity).sum() / o.sum())
    assert m.offloaded == int((r.profile != 0).sum())
    assert m.perplexity.min() >= game.ppl_of.min() and m.perplexity.max() <= game.ppl_of.max()


def test_cli_help_does_not_load_numpy():
    """``goalit --help`` builds every subcommand's parser without NumPy (benchmarks/import_time.py)."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "goalit", "--help"],
                         capture_output=True, text=True, check=True)  # fmt: skip
    loaded = {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines() if "|" in line}
    assert "goalit.cli" in loaded
    assert not {"numpy", "scipy"} & loaded
