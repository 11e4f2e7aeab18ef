"""A plug-in solver (examples/plugin, installed into a temporary path) routes gateway requests: the
config accepts its name and the router applies its profile exactly."""

from __future__ import annotations

import pytest
from serve_helpers import write_config

from goalit import plugins
from goalit.errors import GoalitInputError
from goalit.rng import stream
from goalit.serve.config import load_config
from goalit.serve.router import BackendView, Job, Placed, Router
from goalit_plugin import install_example


@pytest.fixture
def with_plugin(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(install_example(tmp_path / "site")))
    plugins.refresh()
    yield
    monkeypatch.undo()
    plugins.refresh()


def job(o=32):
    return Job(100, o, 1.0, 0.0, 0.0, 60.0, 1e9)


def test_serve_plugin_solver_routes_requests(tmp_path, with_plugin):
    urls = ["http://127.0.0.1:9001", "http://127.0.0.1:9002"]
    cfg = load_config(write_config(tmp_path / "g.toml", urls, gateway={"policy": "round-robin"}))
    assert cfg.gateway.policy == "round-robin"
    r = Router(cfg, policy=cfg.gateway.policy, seed=1)
    views = [BackendView(), BackendView()]
    placed = [Placed(job(), 2, 0.5)]
    jobs = [job(), job(64), job(8)]
    game, _ = r.build_game(jobs, placed, views)
    expected = plugins.load("round-robin")(game, stream(1, "algorithm")).profile[1:]
    assert [d.action for d in r.decide(jobs, placed, views)] == list(expected)
    with pytest.raises(GoalitInputError, match="simulator policy"):
        Router(cfg, policy="cheapest-now")


def test_serve_plugin_unknown_policy_in_config_is_one_line(tmp_path):
    plugins.refresh()
    path = write_config(tmp_path / "g.toml", ["http://127.0.0.1:9001"], gateway={"policy": "round-robin"})
    with pytest.raises(GoalitInputError, match="policy.*unknown value 'round-robin'"):
        load_config(path)
