"""goalit.calibrate.profile: the profile document loads as a scenario profile; writing is atomic."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

from goalit.calibrate import fit, measure, profile
from goalit.calibrate.machine import MachineInfo
from goalit.calibrate.model import ModelInfo
from goalit.calibrate.run import Calibration, LevelResult, fit_points
from goalit.errors import GoalitInputError
from goalit.scenario.profiles import load_profile_file

SIZES = {"f16": 270_885_952, "q4_0": 91_726_912}
PPL = {"f16": 26.912, "q4_0": 33.289}  # docs/real-llm.md 1.5


def synthetic_calibration() -> Calibration:
    """A calibration assembled from fixed numbers (the writer does not care where they came from)."""
    st = measure.LatencySettings(prompt_tokens=128, prefill_lengths=(32, 128), batches=(1, 2), decode_steps=3)
    levels = {}
    for lv, size in SIZES.items():
        info = ModelInfo(
            Path(f"/cache/{lv}.gguf"),
            "SmolLM2 135M",
            "llama",
            "1",
            134_515_008,
            size - 1_785_664,
            size,
            30,
            576,
            1536,
            9,
            3,
            49_152,
            8192,
            "apache-2.0",
        )
        d = 0.0185 if lv == "f16" else 0.0101
        sample = measure.LatencySample(
            prefill_s={32: 0.09, 128: 0.33},
            decode_step_s={1: [d, d * 1.1, d * 0.9], 2: [1.6 * d] * 3},
            context_tokens={1: 129.0, 2: 258.0},
            other_load=0.05,
        )
        lat = measure.summarise([sample], 128)
        ppl = measure.Perplexity(PPL[lv], 0.3, 3.3, 5100, 20)
        levels[lv] = LevelResult(lv, info.path, info, ppl, lat)
    k = fit.Constants(134_515_008, 23040, {lv: float(s) for lv, s in SIZES.items()}, 20e9, 80e9)
    fitted = fit.fit(fit_points({lv: r.latency for lv, r in levels.items()}), k)
    variant = fit.fit(
        fit_points({lv: r.latency for lv, r in levels.items()}), k, separate_decode_compute=True
    )
    return Calibration(
        date="2025-01-01",
        machine=MachineInfo("Test CPU", 2, 24 * 2**30, "Linux x86_64", "3.11.7"),
        threads=2,
        mem_bw_bytes_per_s=20e9,
        flops=80e9,
        llama_cpp_version="0.3.36",
        goalit_version="0.1.0",
        base_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        text_name="wikitext-2-raw-test.txt",
        text_sha256="ab" * 32,
        chunks=20,
        repeats=1,
        ppl_threads=1,
        quiet=0.25,
        settings=st,
        levels=levels,
        fit=fitted,
        fit_variant=variant,
        constants=k,
        fit_batches=None,
    )


def test_profile_loads_with_the_scenario_loader(tmp_path):
    cal = synthetic_calibration()
    doc = profile.build_profile(cal, "cpu-test", "smol-test")
    path = profile.write_profile(doc, tmp_path / "p.toml")
    cat = load_profile_file(path)
    hw, llm = cat.hardware["cpu-test"], cat.llm["smol-test"]
    assert hw.mem_bw_bytes_per_s == 20e9 and hw.flops_fp16 == 80e9 and hw.memory_bytes == 24 * 2**30
    assert hw.eta_c == pytest.approx(cal.fit.eta_c, rel=1e-3)
    assert set(hw.eta_m) == {"default", "f16", "q4_0"}
    assert hw.eta_m["q4_0"] == pytest.approx(cal.fit.eta_m["q4_0"], rel=1e-3)
    assert hw.power_w == 10.0 and "[R]" in hw.sources["power_w"]
    assert {lv: v.weight_bytes for lv, v in llm.levels.items()} == SIZES
    assert {lv: v.perplexity for lv, v in llm.levels.items()} == PPL
    assert llm.reference_level.name == "f16"
    assert (llm.params, llm.layers, llm.kv_bytes_per_token, llm.token_bits) == (134_515_008, 30, 23040, 16)
    assert set(llm.sources) >= {"architecture", "weight_bytes", "perplexity", "bits_per_weight"}
    meta = tomllib.loads(path.read_text(encoding="utf-8"))["meta"]
    assert (
        meta["date"] == "2025-01-01"
        and meta["cpu_model"] == "Test CPU"
        and meta["llama_cpp_python"] == "0.3.36"
    )
    assert meta["measured"]["f16"]["decode_ms_best"]["1"] == pytest.approx(18.5)
    assert set(meta["fit"]["decode_error"]["q4_0"]) == {"1", "2"}
    assert len(path.read_bytes()) < 8000  # a few KB


def test_power_can_be_given(tmp_path):
    doc = profile.build_profile(synthetic_calibration(), power_w=65.0)
    assert doc["hardware"]["this-machine-cpu"]["power_w"] == 65.0
    assert "--power-w" in doc["hardware"]["this-machine-cpu"]["sources"]["power_w"]


def test_interrupted_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "profile.toml"
    path.write_text("old = 1\n", encoding="utf-8")

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        profile.write_atomic(path, "new = 2\n" * 1000)
    assert path.read_text(encoding="utf-8") == "old = 1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["profile.toml"]
    monkeypatch.undo()
    profile.write_atomic(path, "new = 2\n")
    assert path.read_text(encoding="utf-8") == "new = 2\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["profile.toml"]


def test_unwritable_destinations_fail_in_one_line(tmp_path):
    with pytest.raises(GoalitInputError, match="does not exist"):
        profile.write_atomic(tmp_path / "missing" / "p.toml", "x = 1\n")
    with pytest.raises(GoalitInputError, match="is a directory"):
        profile.check_writable(tmp_path)
