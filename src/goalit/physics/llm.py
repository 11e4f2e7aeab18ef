"""LLM compute (docs/model.md B.5): prefill and decode roofline with efficiencies, KV-memory capacity, local run.

Arguments: ``params`` P, ``weight_bytes`` M_q, ``kv_bytes_per_token`` kappa, ``share`` theta (fraction
of the server's bandwidth, compute and memory owned by the instance), ``mem_bw`` BW (bytes/s),
``flops`` F (FLOP/s), efficiencies ``eta_m``, ``eta_c`` in (0, 1].
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def prefill_time_s(
    prompt_tokens: ArrayLike,
    params: float | np.ndarray,
    weight_bytes: float | np.ndarray,
    share: float | np.ndarray,
    flops: float | np.ndarray,
    mem_bw: float | np.ndarray,
    eta_c: float | np.ndarray,
    eta_m: float | np.ndarray,
) -> np.ndarray:
    """T_pre = max{2 P s / (eta_c theta F), M_q / (eta_m theta BW)} (seconds)."""
    s = np.asarray(prompt_tokens, dtype=float)
    compute = 2.0 * params * s / (eta_c * share * flops)
    return np.maximum(compute, weight_bytes / (eta_m * share * mem_bw))


def decode_step_time_s(
    batch: ArrayLike,
    context_tokens: ArrayLike,
    params: float | np.ndarray,
    weight_bytes: float | np.ndarray,
    kv_bytes_per_token: float | np.ndarray,
    share: float | np.ndarray,
    flops: float | np.ndarray,
    mem_bw: float | np.ndarray,
    eta_c: float | np.ndarray,
    eta_m: float | np.ndarray,
    overhead_s: float | np.ndarray,
) -> np.ndarray:
    """d(n) = max{(M_q + kappa * sum of contexts) / (eta_m theta BW), 2 P n / (eta_c theta F)} + delta_0.

    ``context_tokens`` is the total context of the batch's sequences (Model B) or n * l-bar (Model A).
    """
    n = np.asarray(batch, dtype=float)
    memory = (weight_bytes + kv_bytes_per_token * np.asarray(context_tokens, float)) / (
        eta_m * share * mem_bw
    )
    compute = 2.0 * params * n / (eta_c * share * flops)
    return np.maximum(memory, compute) + overhead_s


def kv_capacity(
    share: float, memory_bytes: float, weight_bytes: float, kv_bytes_per_token: float, seq_tokens: float
) -> int:
    """cap = floor((theta Mem - M_q) / (kappa (s_max + o_max))), at least 0 (sequences)."""
    free = share * memory_bytes - weight_bytes
    with np.errstate(divide="ignore", over="ignore"):  # a vanishing reservation: "unlimited", not inf
        cap = np.floor(free / (kv_bytes_per_token * seq_tokens))
    return max(0, int(min(cap, 2.0**62)))


def local_time_s(
    prompt_tokens: ArrayLike,
    output_tokens: ArrayLike,
    params: float,
    weight_bytes: float,
    flops: float,
    mem_bw: float,
    eta_c: float,
    eta_m: float,
) -> np.ndarray:
    """T_loc = 2 P s / (eta_c F_dev) + o M_q / (eta_m BW_dev): on-device prefill plus decode (seconds)."""
    s = np.asarray(prompt_tokens, float)
    o = np.asarray(output_tokens, float)
    return 2.0 * params * s / (eta_c * flops) + o * weight_bytes / (eta_m * mem_bw)
