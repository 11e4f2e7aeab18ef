"""Built-in hardware and LLM profiles (docs/model.md C.1-C.4): every number has a source, the architecture
numbers are consistent with each other, and the roofline with these numbers reproduces the measured
decode and prefill times it was calibrated on (docs/model.md C.3) to within a few percent."""

from __future__ import annotations

import math
import tomllib
from importlib.resources import files

import pytest

from goalit.physics import llm
from goalit.scenario.profiles import builtin_profiles


def raw_profiles() -> dict:
    data: dict = {"hardware": {}, "llm": {}}
    for entry in (files("goalit") / "data" / "profiles").iterdir():
        if entry.name.endswith(".toml"):
            doc = tomllib.loads(entry.read_text(encoding="utf-8"))
            for kind in data:
                data[kind].update(doc.get(kind, {}))
    return data


def test_catalogue_has_the_spec_devices_and_models():
    cat = builtin_profiles()
    assert {
        "rtx-4090",
        "jetson-agx-orin-64gb",
        "jetson-orin-nano-8gb",
        "a100-80gb",
        "snapdragon-8-gen-3",
    } <= set(cat.hardware)
    assert list(cat.llm["llama-3-8b"].levels) == ["fp16", "q8_0", "q4_k_m", "q3_k_m", "q2_k"]


def test_every_hardware_number_has_a_source():
    for name, prof in raw_profiles()["hardware"].items():
        numbers = {k for k, v in prof.items() if k not in ("sources", "description")}
        missing = numbers - set(prof.get("sources", {}))
        assert not missing, f"hardware.{name}: no source for {sorted(missing)}"


def test_every_llm_number_has_a_source():
    need = {
        "architecture",
        "kv_bytes_per_token",
        "token_bits",
        "weight_bytes",
        "perplexity",
        "bits_per_weight",
    }
    for name, prof in raw_profiles()["llm"].items():
        assert need <= set(prof.get("sources", {})), f"llm.{name}"


@pytest.mark.parametrize("name", ["llama-3-8b", "llama-2-7b"])
def test_llm_architecture_is_consistent(name):
    m = builtin_profiles().llm[name]
    d_head = m.d_model // m.n_heads
    assert m.kv_bytes_per_token == 2 * m.layers * m.n_kv_heads * d_head * 2  # K and V, FP16 cache [KIP]
    assert m.token_bits == math.ceil(math.log2(m.vocab))
    levels = sorted(m.levels.values(), key=lambda lv: -lv.bits_per_weight)
    assert m.reference_level.name == "fp16" == levels[0].name
    # fewer bits: smaller weights and higher perplexity
    for hi, lo in zip(levels, levels[1:], strict=False):
        assert lo.weight_bytes < hi.weight_bytes and lo.perplexity > hi.perplexity
    # weight bytes close to params * bits / 8 (mixed-precision K-quants and FP16 embeddings aside)
    for lv in levels:
        assert lv.weight_bytes == pytest.approx(m.params * lv.bits_per_weight / 8, rel=0.05), lv.name


@pytest.mark.parametrize(
    ("device", "level", "measured_ms"),
    [
        ("rtx-4090", "fp16", 17.07),  # TinyChat, Llama-3-8B, batch 1 (docs/model.md C.3)
        ("rtx-4090", "q4_k_m", 6.66),
        ("jetson-agx-orin-64gb", "fp16", 96.24),
        ("jetson-agx-orin-64gb", "q4_k_m", 32.55),
    ],
)
def test_decode_step_reproduces_measured_latency(device, level, measured_ms):
    """d(1) on the whole device (theta = 1) with the TinyChat context (512 history + 32 tokens) is within
    10 % of the measurement. It sits above it: eta_m was fitted to the weights-only time, and the model
    adds the KV read and the step overhead delta_0 on top (+2 % to +9 %)."""
    cat = builtin_profiles()
    hw, m = cat.hardware[device], cat.llm["llama-3-8b"]
    d = llm.decode_step_time_s(
        1, 544, m.params, m.levels[level].weight_bytes, m.kv_bytes_per_token, 1.0, hw.flops_fp16,
        hw.mem_bw_bytes_per_s, hw.eta_c, hw.eta_m_for(level), hw.step_overhead_s,
    )  # fmt: skip
    assert 1e3 * d == pytest.approx(measured_ms, rel=0.10)
    assert 1e3 * d >= measured_ms


@pytest.mark.parametrize(("device", "measured_ms"), [("rtx-4090", 75.4), ("jetson-agx-orin-64gb", 582.5)])
def test_prefill_reproduces_measured_ttft(device, measured_ms):
    """TinyChat TTFT, FP16, 512 + 32 tokens (docs/model.md C.3): the compute-bound prefill of 544 tokens."""
    cat = builtin_profiles()
    hw, m = cat.hardware[device], cat.llm["llama-3-8b"]
    t = llm.prefill_time_s(
        544, m.params, m.levels["fp16"].weight_bytes, 1.0, hw.flops_fp16, hw.mem_bw_bytes_per_s, hw.eta_c,
        hw.eta_m_for("fp16"),
    )  # fmt: skip
    assert 1e3 * t == pytest.approx(measured_ms, rel=0.05)
