"""The testbed's bookkeeping without processes: engine options, level placement, prediction error and
the gateway's online corrections per level."""

from __future__ import annotations

import os
import tomllib
from dataclasses import replace

import numpy as np
import pytest

from goalit.errors import GoalitInputError
from goalit.experiments.testbed.compare import ReplayDecisions, online_corrections
from goalit.experiments.testbed.hosts import (
    action_index,
    host_model,
    server_cpus,
    server_levels,
    sim_max_batch,
    step_table_path,
)
from goalit.experiments.testbed.options import TestbedOptions, check_options, resolve_profiles
from goalit.experiments.testbed.plan import gateway_config_text
from goalit.experiments.testbed.plan import testbed_scenario as scenario_of
from goalit.experiments.testbed.records import prediction_error
from goalit.serve.replay import Record


def test_llama_server_places_one_level_per_server_and_needs_a_server_per_level():
    opts = TestbedOptions(servers=3, levels=("q8_0", "q4_0"))
    assert server_levels(opts) == [("q8_0",), ("q4_0",), ("q8_0",)]
    assert server_levels(TestbedOptions(servers=2, engine="llama-cpp-python")) == [("q8_0", "q4_0")] * 2
    with pytest.raises(GoalitInputError, match="--servers 1 < 2 levels"):
        check_options(TestbedOptions(servers=1))
    with pytest.raises(GoalitInputError, match="--engine must be one of"):
        check_options(TestbedOptions(engine="vllm"))


def test_prediction_error_uses_completed_requests_only():
    recs = [
        Record(0, 0.0, sent_s=0.0, done_s=1.0, outcome="ok", predicted_latency_s=1.2),
        Record(1, 0.0, sent_s=0.0, done_s=2.0, outcome="ok", predicted_latency_s=1.0),
        Record(2, 0.0, sent_s=0.0, done_s=2.0, outcome="timeout", predicted_latency_s=9.0),
    ]
    e = prediction_error(recs)
    assert e["requests"] == 2
    assert e["median_abs_pct"] == pytest.approx(35.0) and e["median_signed_pct"] == pytest.approx(-15.0)
    assert prediction_error([])["median_abs_pct"] is None


def test_online_corrections_average_the_backends_of_a_level_geometrically():
    gauges = {
        "goalit_backend_decode_correction": [
            {"backend": "edge-1", "value": 2.0}, {"backend": "edge-2", "value": 0.5},
            {"backend": "edge-3", "value": 8.0},
        ],
        "goalit_backend_prefill_correction": [{"backend": "edge-2", "value": 1.5}],
    }  # fmt: skip
    c = online_corrections({"gauges": gauges}, TestbedOptions(servers=3))
    assert c["decode"] == pytest.approx({"q8_0": 4.0, "q4_0": 0.5})
    assert c["prefill"] == pytest.approx({"q4_0": 1.5})


def test_testbed_scenario_models_the_host_as_one_shared_server():
    from goalit.game.model import build_game
    from goalit.serve.config import parse_config

    opts = TestbedOptions(servers=3, levels=("q8_0", "q4_0"), host_model="shared")
    cat, llm, hw = resolve_profiles(opts)
    shared = scenario_of(opts, cat, llm, hw)
    assert [s.name for s in shared.servers] == ["testbed-host"]
    assert shared.servers[0].shared and shared.servers[0].hosts == ("q8_0", "q4_0", "q8_0")  # one per process
    g = build_game(shared)
    assert g.shared and g.group_of[1:].tolist() == [0, 0, 0]
    part_opts = replace(opts, host_model="partitioned")
    part = scenario_of(part_opts, cat, llm, hw)
    assert [s.name for s in part.servers] == ["edge-1", "edge-2", "edge-3"]
    assert not any(s.shared for s in part.servers) and not build_game(part).shared
    # the testbed's (backend, level) decisions map to the same action numbers in both pictures
    assert action_index(opts) == {("edge-1", "q8_0"): 1, ("edge-2", "q4_0"): 2, ("edge-3", "q8_0"): 3}
    assert (sim_max_batch(opts), sim_max_batch(part_opts)) == (3 * opts.slots, opts.slots)
    # the gateway puts the processes on one host in the shared picture only
    urls = [f"http://127.0.0.1:{9001 + j}" for j in range(3)]
    aliases = {"q8_0": "m8", "q4_0": "m4"}
    cfg = parse_config(tomllib.loads(gateway_config_text(opts, llm, hw, urls, aliases)))
    assert cfg.host_groups() == {"testbed-host": (0, 1, 2)}
    cfg = parse_config(tomllib.loads(gateway_config_text(part_opts, llm, hw, urls, aliases)))
    assert cfg.host_groups() == {}


def test_testbed_host_model_options():
    # default for llama-server: partitioned when each process is pinned to its own CPUs, shared when they
    # time-multiplex the cores (hosts.host_model, measured on a quiet machine); partitioned for the serial
    # llama_cpp.server; as asked otherwise
    cpus = os.cpu_count() or 1
    assert host_model(TestbedOptions(servers=2, threads=cpus)) == "shared"  # 2 x cpus threads: not pinned
    assert host_model(TestbedOptions(servers=2, threads=cpus, pin=False)) == "shared"
    pinned = TestbedOptions(servers=2, threads=1)
    assert host_model(pinned) == ("partitioned" if server_cpus(pinned)[0] is not None else "shared")
    assert host_model(TestbedOptions(servers=2, threads=1, pin=False)) == "shared"
    assert host_model(TestbedOptions(engine="llama-cpp-python", threads=cpus)) == "partitioned"
    assert host_model(TestbedOptions(host_model="partitioned")) == "partitioned"
    with pytest.raises(GoalitInputError, match="--host-model must be one of"):
        check_options(TestbedOptions(host_model="pooled"))
    with pytest.raises(GoalitInputError, match="--host-model shared needs --engine llama-server"):
        check_options(TestbedOptions(engine="llama-cpp-python", host_model="shared"))


def test_servers_are_pinned_to_disjoint_cpus_when_they_fit():
    from goalit.experiments.testbed.hosts import available_cpus

    cpus = available_cpus()
    one_each = server_cpus(TestbedOptions(servers=len(cpus), levels=("q8_0",), threads=1))
    assert sorted(c for block in one_each for c in block) == cpus  # one CPU each, none shared
    assert server_cpus(TestbedOptions(servers=2, threads=len(cpus))) == [None, None]  # do not fit: not pinned
    assert server_cpus(TestbedOptions(servers=1, levels=("q8_0",), threads=1, pin=False)) == [None]


def test_shared_engine_of_the_testbed_uses_the_step_table():
    """A lone request on the shared host runs exactly as on a process of its own (one active variant), with
    the measured step table; without the table both fall back to the roofline, which differs."""
    from goalit.physics.step_table import StepTable
    from goalit.sim import simulate
    from goalit.sim.workload import Workload

    opts = TestbedOptions(w_quality=0.0)
    cat, llm, hw = resolve_profiles(opts)
    table = StepTable.load(step_table_path(opts))
    w = Workload(np.array([0.0]), np.array([120]), np.array([24]))

    def lat(host: str, tab) -> float:
        sc = scenario_of(replace(opts, host_model=host), cat, llm, hw)
        res = simulate(sc, policy=ReplayDecisions(np.array([2])), workload=w, seed=0, max_batch=4,
                       step_table=tab, first_token_at_prefill=True)  # fmt: skip
        return float(res.records["last_token_s"][0] - res.records["admitted_s"][0])  # engine time, no radio

    shared, part = lat("shared", table), lat("partitioned", table)
    assert shared == pytest.approx(part, rel=1e-12)
    want = float(table.prefill_time("q4_0", 120)) + float(
        np.sum(table.decode_step_time_s("q4_0", 1, 121 + np.arange(1, 24)))
    )
    assert shared == pytest.approx(want, rel=1e-9)
    assert lat("shared", None) != pytest.approx(shared, rel=1e-3)


def test_the_policys_own_simulation_decides_each_request_on_arrival_as_the_gateway():
    """The gateway routes each request when it arrives; the testbed's own-decision simulation does the same
    (no decision interval: every decision has one player and no request waits for a decision)."""
    from goalit.experiments.testbed.compare import _simulate
    from goalit.sim.workload import Workload

    opts = TestbedOptions(w_quality=0.0)
    cat, llm, hw = resolve_profiles(opts)
    sc = scenario_of(opts, cat, llm, hw)
    w = Workload(np.array([0.0, 0.1, 0.13, 0.4, 0.41]), np.full(5, 60), np.full(5, 16))
    res = _simulate(sc, w, opts, "goalit", None)
    assert res.metrics["decisions"] == 5 and res.metrics["players_per_decision_max"] == 1
    assert np.array_equal(
        res.records["dispatch_s"], res.records["arrival_s"]
    )  # decided the moment it arrives
