"""``goalit solve``: the JSON schema, same seed -> same bytes (two separate processes), the summary."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from goalit.api import default_scenario, solve
from goalit.cli import main
from goalit.game.model import build_game
from goalit_process import run_cli

KEYS = (
    "algorithm", "converged", "slots", "updates", "epsilon", "max_regret", "social_cost", "mean_latency_s",
    "token_throughput_tps", "mean_perplexity", "assignment",
)  # fmt: skip


def assert_matches_api(out: dict, name: str, seed: int) -> None:
    game = build_game(default_scenario(name))
    api = solve(game, seed=seed)
    assert out["social_cost"] == pytest.approx(api.metrics.social_cost, rel=1e-12)
    assert out["slots"] == api.slots and out["updates"] == api.updates
    want = [
        {"server": None if game.server_of[r] < 0 else int(game.server_of[r]), "level": str(game.level_of[r])}
        for r in api.profile.tolist()
    ]
    assert [{"server": e["server"], "level": e["level"]} for e in out["assignment"]] == want


@pytest.fixture(scope="module")
def runs():
    with ThreadPoolExecutor(max_workers=3) as pool:
        a = pool.submit(run_cli, "solve", "small", "--json")
        b = pool.submit(run_cli, "solve", "small", "--json", "--seed", "0")
        c = pool.submit(run_cli, "solve", "small", "--seed", "3")
        return a.result(), b.result(), c.result()


@pytest.mark.slow
def test_solve_json_schema(runs):
    res = runs[0]
    assert res.code == 0 and res.err == ""
    out = json.loads(res.out)
    for key in KEYS:
        assert key in out, key
    assert out["algorithm"] == "goalit" and out["converged"] is True
    assert out["max_regret"] <= out["epsilon"] == 1e-5
    assert out["updates"] >= 1 and out["slots"] >= 1
    scenario = default_scenario("small")
    assert len(out["assignment"]) == scenario.n_users
    levels = set(scenario.llm.levels)
    for entry in out["assignment"]:
        assert entry["server"] is None or entry["server"] in range(len(scenario.servers))
        assert entry["level"] in levels
        if entry["server"] is None:
            assert entry["level"] == scenario.local_level
        else:
            hosted = {i.level for i in scenario.servers[entry["server"]].instances}
            assert entry["level"] in hosted
    for key in ("social_cost", "mean_latency_s", "token_throughput_tps", "mean_perplexity"):
        assert isinstance(out[key], float) and out[key] > 0
    # the JSON agrees with the Python API
    assert_matches_api(out, "small", 0)


@pytest.mark.slow
def test_same_seed_same_bytes(runs):
    assert runs[0].code == runs[1].code == 0
    assert runs[0].out == runs[1].out


@pytest.mark.slow
def test_readable_summary(runs):
    res = runs[2]
    assert res.code == 0 and res.err == ""
    text = res.out
    assert "scenario small: 6 users, 2 servers; algorithm goalit, seed 3" in text
    for label in ("mean latency (s)", "p95 latency (s)", "token throughput", "mean perplexity", "social cost",
                  "max regret", "slots / updates / messages", "converged"):  # fmt: skip
        assert label in text, label
    # users per server and level add up to the number of users
    rows = [line.split() for line in text.splitlines() if line.startswith(("gpu ", "orin ", "local "))]
    assert sum(int(r[-1]) for r in rows) == 6


def test_solve_in_process_json_matches_api(capsys):
    assert main(["solve", "default", "--json", "--seed", "5"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert_matches_api(out, "default", 5)
    assert "runtime_s" not in out  # wall time would break same seed -> same bytes
    assert out["servers"][0] == {"name": "edge-4090-a", "sharing": "shared", "hosts": ["fp16", "q4_k_m"]}
    assert out["cycled"] is False
    assert main(["solve", "default-partitioned", "--json"]) == 0
    part = json.loads(capsys.readouterr().out)
    assert {s["sharing"] for s in part["servers"]} == {"partitioned"}


def test_solve_file_argument(tmp_path, capsys):
    from goalit.scenario.embedded import embedded_text

    path = tmp_path / "small.toml"
    path.write_text(embedded_text("small"), encoding="utf-8")
    assert main(["solve", str(path), "--json"]) == 0
    from_file = json.loads(capsys.readouterr().out)
    assert main(["solve", "small", "--json"]) == 0
    embedded = json.loads(capsys.readouterr().out)
    assert from_file == embedded
