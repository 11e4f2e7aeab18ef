"""goalit.calibrate.measure: perplexity from logits and batched latency on the real model."""

from __future__ import annotations

import math

import numpy as np
import pytest

from goalit.errors import GoalitInputError

pytestmark = pytest.mark.slow


def test_eval_tokens_and_perplexity_of_one_chunk(ladder_dir, wikitext):
    from goalit.calibrate import measure
    from goalit.calibrate.ladder import level_path

    path = level_path("q8_0", ladder_dir)
    tokens = measure.eval_tokens(path, wikitext, measure.N_CTX)
    assert len(tokens) == measure.N_CTX
    r = measure.perplexity(path, tokens, chunks=1, threads=1)
    assert r.tokens == measure.N_CTX // 2 - 1 and r.chunks == 1
    assert 5.0 < r.ppl < 60.0 and r.stderr > 0  # spec 1.5: ~27 over 20 chunks
    assert math.isclose(r.ppl, math.exp(r.nll_mean))


def test_text_too_short_or_unreadable(ladder_dir, tmp_path):
    from goalit.calibrate import measure
    from goalit.calibrate.ladder import level_path

    short = tmp_path / "short.txt"
    short.write_text("Only a few words here.\n", encoding="utf-8")
    with pytest.raises(GoalitInputError, match="fewer than the 512 needed"):
        measure.eval_tokens(level_path("q8_0", ladder_dir), short, 512)
    with pytest.raises(GoalitInputError, match="cannot read"):
        measure.eval_tokens(level_path("q8_0", ladder_dir), tmp_path / "absent.txt", 512)


def test_latency_sample_times_prefill_and_batched_decode(ladder_dir, wikitext):
    from goalit.calibrate import measure
    from goalit.calibrate.ladder import level_path

    path = level_path("q2_k", ladder_dir)
    st = measure.LatencySettings(
        prompt_tokens=32, prefill_lengths=(16, 64), batches=(1, 3), decode_steps=4, threads=1
    )
    tokens = measure.eval_tokens(path, wikitext, 3 * 32)
    samples = [measure.latency_sample(path, tokens, st) for _ in range(2)]
    s = samples[0]
    assert set(s.prefill_s) == {16, 64} and all(t > 0 for t in s.prefill_s.values())
    assert {n: len(v) for n, v in s.decode_step_s.items()} == {1: 4, 3: 4}
    assert s.context_tokens == {1: 32 + 1.5, 3: 3 * (32 + 1.5)}
    assert np.isnan(s.other_load) or 0.0 <= s.other_load <= 1.0
    lat = measure.summarise(samples, st.prompt_tokens)
    assert lat.repeats == 2
    for n in (1, 3):
        assert lat.decode_best_s[n] <= lat.decode_worst_s[n]
        assert lat.decode_p10_s[n] <= lat.decode_median_s[n] <= lat.decode_p90_s[n]
    assert lat.prefill_tokens_per_s == pytest.approx(64 / lat.prefill_best_s[64])  # 32 not measured: longest
