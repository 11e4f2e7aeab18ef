"""goalit.calibrate.ladder and .model: the real SmolLM2 GGUF and the generated quantization ladder."""

from __future__ import annotations

import pytest

from goalit.errors import GoalitInputError

pytestmark = pytest.mark.slow


def test_base_gguf_is_the_shipped_smollm2_file(ladder_dir):
    from goalit.calibrate.model import BASE_FILE, base_gguf, read_model_info

    path = base_gguf()
    assert path.name == BASE_FILE and path.stat().st_size == 98_362_432  # docs/real-llm.md 1.1
    info = read_model_info(path)
    assert (info.architecture, info.layers, info.d_model, info.n_heads, info.n_kv_heads) == (
        "llama",
        30,
        576,
        9,
        3,
    )
    assert info.params == 134_515_008 and info.vocab == 49_152
    assert info.kv_bytes_per_token == 2 * 30 * 3 * 64 * 2
    assert info.token_bits == 16


def test_ladder_files_shrink_with_precision_and_are_reused(ladder_dir):
    from goalit.calibrate.ladder import ensure_ladder, level_path
    from goalit.calibrate.model import read_model_info

    generated: list[str] = []
    paths = ensure_ladder(["q2_k", "q8_0", "f16"], ladder_dir, on_generate=generated.append)
    assert generated == []  # all three exist from the session fixture: reused, not regenerated
    assert paths == {lv: level_path(lv, ladder_dir) for lv in ("q2_k", "q8_0", "f16")}
    info = {lv: read_model_info(p) for lv, p in paths.items()}
    assert info["f16"].file_bytes > info["q8_0"].file_bytes > info["q2_k"].file_bytes
    assert abs(info["f16"].bits_per_weight - 16.0) < 0.05 and abs(info["q8_0"].bits_per_weight - 8.5) < 0.05
    assert {i.params for i in info.values()} == {134_515_008}
    assert not list(ladder_dir.glob("*.tmp")) and not list(ladder_dir.glob(".*"))


def test_missing_level_is_generated_atomically(ladder_dir, tmp_path):
    from goalit.calibrate.ladder import ensure_ladder

    (tmp_path / "smollm2-135m-f16.gguf").symlink_to(ladder_dir / "smollm2-135m-f16.gguf")
    generated: list[str] = []
    paths = ensure_ladder(["q4_0"], tmp_path, on_generate=generated.append)
    assert generated == ["q4_0"]
    assert paths["q4_0"].stat().st_size == 91_726_912  # docs/real-llm.md 1.4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["smollm2-135m-f16.gguf", "smollm2-135m-q4_0.gguf"]


def test_shipped_level_and_unknown_level(ladder_dir):
    from goalit.calibrate.ladder import ensure_ladder
    from goalit.calibrate.model import base_gguf

    assert ensure_ladder(["q4_1"], ladder_dir) == {"q4_1": base_gguf()}
    with pytest.raises(GoalitInputError, match="unknown quantization level 'q9_0'"):
        ensure_ladder(["q8_0", "q9_0"], ladder_dir)
