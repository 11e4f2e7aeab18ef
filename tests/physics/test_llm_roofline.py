"""LLM roofline golden values (docs/model.md B.5), worked out by hand. Llama-3-8B: P = 8.03e9 parameters,
kappa = 131,072 B/token; q4_k_m weights M_q = 4.92e9 B (docs/model.md C.1, C.2).

RTX 4090 instance with share theta = 0.5: F = 165e12 FLOP/s, eta_c = 0.7; BW = 1008e9 B/s, eta_m(q4_k_m)
= 0.73; delta_0 = 0.5 ms.
  effective compute eta_c theta F = 0.7 * 0.5 * 165e12 = 5.775e13 FLOP/s
  effective bandwidth eta_m theta BW = 0.73 * 0.5 * 1008e9 = 3.6792e11 B/s

Prefill of s = 200 tokens: max{2 P s / 5.775e13, M_q / 3.6792e11}
  = max{3.212e12 / 5.775e13, 4.92e9 / 3.6792e11} = max{0.05561905 s, 0.01337247 s} = 0.05561905 s

Decode step, nominal context l = 400 tokens, batch n (Model A: the batch reads n * l KV tokens):
  n = 1: memory (4.92e9 + 1 * 131072 * 400) / 3.6792e11 = 4.9724288e9 / 3.6792e11 = 13.514973 ms
         compute 2 * 8.03e9 * 1 / 5.775e13 = 0.2780952 ms;  d(1) = 13.514973 + 0.5 = 14.014973 ms
  n = 5: memory (4.92e9 + 5 * 52,428,800) / 3.6792e11 = 5.182144e9 / 3.6792e11 = 14.084975 ms
         compute 5 * 0.2780952 = 1.3904762 ms;  d(5) = 14.584975 ms
  throughput n / d(n): 1 / 14.015 ms = 71.35 tokens/s;  5 / 14.585 ms = 342.8 tokens/s

KV capacity, 1024 tokens reserved per sequence: floor((0.5 * 24 GiB - 4.92e9) / (131072 * 1024))
  = floor((12,884,901,888 - 4,920,000,000) / 134,217,728) = floor(59.343) = 59 sequences

Local run on the phone (F = 2e12 FLOP/s, eta_c = 0.5, BW = 76.8e9 B/s, eta_m = 0.6), s = 200, o = 100:
  prefill 2 * 8.03e9 * 200 / (0.5 * 2e12) = 3.212 s;  per token 4.92e9 / (0.6 * 76.8e9) = 0.10677083 s
  T_loc = 3.212 + 100 * 0.10677083 = 13.889083 s   (docs/model.md C.6: ~0.11 s/token)
"""

from __future__ import annotations

import numpy as np
import pytest

from goalit.physics import llm

P, KAPPA, MQ = 8.03e9, 131072.0, 4.92e9
GPU = dict(share=0.5, flops=165e12, mem_bw=1008e9, eta_c=0.7, eta_m=0.73)


def test_prefill_is_compute_bound_for_long_prompts():
    assert llm.prefill_time_s(200, P, MQ, **GPU) == pytest.approx(0.05561905, rel=1e-6)
    # one token: the weight read dominates (memory bound)
    assert llm.prefill_time_s(1, P, MQ, **GPU) == pytest.approx(0.01337247, rel=1e-6)


def test_decode_step_batch_1_and_5():
    d = llm.decode_step_time_s(
        np.array([1, 5]), np.array([400, 2000]), P, MQ, KAPPA, **GPU, overhead_s=0.5e-3
    )
    assert d[0] == pytest.approx(14.014973e-3, rel=1e-6)
    assert d[1] == pytest.approx(14.584975e-3, rel=1e-6)
    assert 5 / d[1] == pytest.approx(342.8, rel=1e-3)


def test_decode_step_becomes_compute_bound_for_large_batches():
    # n = 100, l = 400: memory (4.92e9 + 100 * 52,428,800) / 3.6792e11 = 27.622 ms,
    # compute 100 * 0.2780952 ms = 27.810 ms  -> compute bound, d = 27.810 + 0.5 = 28.3095 ms
    d = llm.decode_step_time_s(100, 100 * 400, P, MQ, KAPPA, **GPU, overhead_s=0.5e-3)
    assert d == pytest.approx(28.309524e-3, rel=1e-6)


def test_decode_step_is_non_decreasing_in_the_batch():
    n = np.arange(1, 300)
    d = llm.decode_step_time_s(n, n * 400, P, MQ, KAPPA, **GPU, overhead_s=0.5e-3)
    assert np.all(np.diff(d) >= 0)
    assert np.all(np.diff(n / d) > 0)  # batching raises throughput


def test_kv_capacity():
    assert llm.kv_capacity(0.5, 25769803776, MQ, KAPPA, 1024) == 59
    # the weights do not fit: no sequence at all (never negative)
    assert llm.kv_capacity(0.1, 25769803776, MQ, KAPPA, 1024) == 0


def test_local_time():
    t = llm.local_time_s(200, 100, P, MQ, flops=2e12, mem_bw=76.8e9, eta_c=0.5, eta_m=0.6)
    assert t == pytest.approx(13.889083, rel=1e-7)
    assert MQ / (0.6 * 76.8e9) == pytest.approx(0.11, abs=0.005)  # docs/model.md C.6


def test_step_constants_give_the_same_floats_as_the_numpy_formulas():
    """StepConstants (the simulator's per-event path) == llm.decode_step_time_s / prefill_time_s, bit for bit,
    on every variant of the default scenario's request game."""
    from goalit.api import default_scenario
    from goalit.game.model import build_game
    from goalit.physics.roofline import StepConstants

    game = build_game(default_scenario("default"))
    roof = game.instances.roofline
    rng = np.random.default_rng(5)
    ctx = rng.integers(0, 400_000, 50)
    for r in range(1, game.n_actions):
        one = roof.at(r)
        c = StepConstants(one)
        for n in (1, 3, 17, 250):
            ref = one.decode_step_s(n, ctx)
            assert np.array_equal(c.decode_steps(n, ctx), ref)
            assert [c.decode_s(n, int(x)) for x in ctx.tolist()] == ref.tolist()
        for s in (1.0, 200.0, 5000.0, 1e6):
            assert c.prefill_s(s) == float(one.prefill_s(s))
