"""The committed calibrated profile and the `calibrated` embedded scenario (issue 6)."""

from __future__ import annotations

from importlib.resources import files

import numpy as np

import goalit
from goalit.scenario.profiles import builtin_profiles, load_profile_file


def test_calibrated_profile_is_measured_and_monotone():
    path = files("goalit") / "data" / "profiles" / "calibrated.toml"
    cat = load_profile_file(str(path))
    llm = cat.llm["smollm2-135m"]
    assert cat.hardware["this-machine-cpu"] == builtin_profiles().hardware["this-machine-cpu"]
    # F16 is the reference (highest precision) and the most accurate; Q2_K the least accurate
    assert llm.reference_level.name == "f16"
    ppl = {n: lv.perplexity for n, lv in llm.levels.items()}
    assert min(ppl, key=ppl.get) == "f16" and max(ppl, key=ppl.get) == "q2_k"
    size = [llm.levels[n].weight_bytes for n in ("f16", "q8_0", "q4_0", "q2_k")]
    assert size == sorted(size, reverse=True)
    assert all(s for s in cat.hardware["this-machine-cpu"].sources.values())


def test_calibrated_scenario_solves_and_simulates():
    scenario = goalit.default_scenario("calibrated")
    result = goalit.solve(scenario, seed=0)
    assert result.converged and result.metrics.max_regret <= scenario.game.epsilon
    assert np.all(np.isfinite(result.metrics.latency_s))
    sim = goalit.simulate(scenario, "goalit", rate=1.0, duration_s=20.0, seed=0)
    m = sim.metrics
    assert m["completed"] + m["unfinished"] == m["arrived"] > 0
    assert m["token_throughput_tps"] > 0
