"""Plug-ins through the entry-point group ``goalit.algorithms``: the example package (examples/plugin),
installed into a temporary path, runs through the real CLI in solve, compare, simulate, reproduce and
``goalit algorithms``; in-process through the registry; and misspelt names are one-line errors."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

import goalit
from goalit import plugins
from goalit.errors import GoalitInputError
from goalit.game import dynamics
from goalit.game.model import build_game
from goalit.solvers.registry import algorithm_names, get_solver, solver_names
from goalit_plugin import install_example
from goalit_process import run_cli


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return install_example(tmp_path_factory.mktemp("site"))


@pytest.fixture
def cli_env(site, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(site))
    return site


@pytest.fixture
def in_process(site, monkeypatch):
    monkeypatch.syspath_prepend(str(site))
    plugins.refresh()
    yield site
    monkeypatch.undo()
    plugins.refresh()


def test_plugins_none_installed_means_builtins_only():
    plugins.refresh()
    assert "round-robin" not in algorithm_names()
    with pytest.raises(GoalitInputError, match="unknown algorithm 'round-robin'"):
        get_solver("round-robin")


def test_plugins_registry_finds_solver_and_policy(in_process):
    assert plugins.plugins()["round-robin"].distribution == "goalit-example-plugin"
    assert algorithm_names()[-2:] == ("cheapest-now", "round-robin")
    assert "round-robin" in solver_names() and "cheapest-now" not in solver_names()
    game = build_game(goalit.default_scenario("small"))
    res = goalit.solve(game, algorithm="round-robin", seed=0)
    assert res.algorithm == "round-robin" and res.converged
    assert dynamics.max_regret(game, res.profile) <= game.epsilon
    with pytest.raises(GoalitInputError, match="'cheapest-now' is a simulator policy"):
        goalit.solve(game, algorithm="cheapest-now")
    sim = goalit.simulate("small", policy="cheapest-now", seed=0, rate=0.5, duration_s=10.0)
    assert sim.policy["name"] == "cheapest-now" and sim.metrics["completed"] > 0
    assert sim.policy_stats["decisions"] >= sim.metrics["completed"]
    with pytest.raises(GoalitInputError, match=r"policy cheapest-now: unknown option\(s\) speed"):
        goalit.simulate("small", policy="cheapest-now", speed=2)


@pytest.mark.slow
def test_plugins_cli_lists_and_runs_them(cli_env, tmp_path):
    r = run_cli("algorithms", "--json")
    assert r.code == 0, r.err
    rows = {row["name"]: row for row in json.loads(r.out)}
    assert rows["round-robin"]["kind"] == "solver" and rows["cheapest-now"]["kind"] == "policy"
    assert rows["round-robin"]["source"].startswith("goalit-example-plugin")
    assert rows["goalit"]["source"] == "built-in"

    r = run_cli("solve", "small", "-a", "round-robin", "--json")
    assert r.code == 0, r.err
    out = json.loads(r.out)
    assert out["algorithm"] == "round-robin" and out["converged"]
    assert out["max_regret"] <= out["epsilon"]

    r = run_cli("compare", "small", "--json")
    assert r.code == 0, r.err
    algos = [row["algorithm"] for row in json.loads(r.out)["results"]]
    assert algos[-1] == "round-robin" and "cheapest-now" not in algos

    for policy in ("cheapest-now", "round-robin"):
        r = run_cli("simulate", "small", "-p", policy, "--rate", "0.5", "--duration", "10", "--json",
                    "--no-progress")  # fmt: skip
        assert r.code == 0, r.err
        summary = json.loads(r.out)
        assert summary["policy"] == policy and summary["completed"] > 0

    out_dir = tmp_path / "rep"
    r = run_cli("reproduce", "--mode", "tiny", "--only", "load", "--policies", "goalit,cheapest-now",
                "--out", str(out_dir), "--jobs", "1", "--seeds", "1", "--no-progress", timeout=300)  # fmt: skip
    assert r.code == 0, r.err
    with open(out_dir / "results.csv", newline="") as f:
        policies = {row["policy"] for row in csv.DictReader(f)}
    assert policies == {"goalit", "cheapest-now"}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("solve", "small", "-a", "round-robbin"), "unknown algorithm 'round-robbin' (did you mean 'round-robin'?"),
        (("solve", "small", "-a", "cheapest-now"), "'cheapest-now' is a simulator policy"),
        (("simulate", "small", "-p", "cheapest-nwo"), "unknown policy 'cheapest-nwo' (did you mean 'cheapest-now'?"),
        (("reproduce", "--mode", "tiny", "--policies", "goalit,nope"), "--policies: unknown policy 'nope'"),
    ],
)  # fmt: skip
def test_plugins_misspelt_names_are_one_line_errors(cli_env, tmp_path, args, message):
    r = run_cli(*args, "--out", str(tmp_path / "x")) if args[0] == "reproduce" else run_cli(*args)
    assert r.code == 2
    assert r.err.count("\n") == 1 and message in r.err, r.err
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_plugins_broken_entry_point_is_one_line(tmp_path, monkeypatch):
    site = install_example(tmp_path / "site")
    ep = next(site.glob("*.dist-info")) / "entry_points.txt"
    ep.write_text(ep.read_text() + "broken = goalit_example_plugin:no_such_name\n")
    monkeypatch.setenv("PYTHONPATH", str(site))
    r = run_cli("solve", "small", "-a", "broken")
    assert r.code == 2
    assert r.err.count("\n") == 1 and "plug-in 'broken'" in r.err and "failed to load" in r.err, r.err


def test_plugins_policy_stats_are_the_policy_own(in_process):
    sim = goalit.simulate("small", policy="round-robin", seed=3, rate=0.5, duration_s=10.0)
    assert sim.policy["name"] == "round-robin"
    assert np.isfinite(sim.metrics["mean_latency_s"])
