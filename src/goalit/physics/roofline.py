"""The cost core: one roofline object holding every variant's physics, built once per scenario.

A *variant* is one (server, quantization level) pair (a model instance, action r >= 1); index 0 is a
placeholder for local execution. Each variant has weights M_q, a share theta of its server (1 on a
shared server: the whole accelerator, time-multiplexed), dense FLOP/s F, memory bandwidth BW,
efficiencies eta_c, eta_m and a per-step overhead delta_0. The formulas are those of
:mod:`goalit.physics.llm` (docs/model.md B.5); game, simulator, gateway router and calibration all evaluate
them through this object instead of unpacking the eleven arguments by hand.

Arrays have shape (R+1,); a :class:`Roofline` built with scalars describes one variant.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from numpy.typing import ArrayLike

from goalit.physics import llm


@dataclass(frozen=True, eq=False)
class Roofline:
    """Per-variant roofline constants. ``params`` P and ``kv_bytes_per_token`` kappa are the model's."""

    params: float
    kv_bytes_per_token: float
    weight_bytes: np.ndarray
    share: np.ndarray
    flops: np.ndarray
    mem_bw: np.ndarray
    eta_c: np.ndarray
    eta_m: np.ndarray
    overhead_s: np.ndarray

    @staticmethod
    def single(
        params: float, kv_bytes_per_token: float, weight_bytes: ArrayLike, flops: float, mem_bw: float,
        eta_c: float, eta_m: ArrayLike, overhead_s: float, share: float = 1.0,
    ) -> Roofline:  # fmt: skip
        """One variant (or one array of variants broadcast together), e.g. a calibration machine."""
        return Roofline(float(params), float(kv_bytes_per_token), np.asarray(weight_bytes, float),
                        np.asarray(share, float), np.asarray(flops, float), np.asarray(mem_bw, float),
                        np.asarray(eta_c, float), np.asarray(eta_m, float),
                        np.asarray(overhead_s, float))  # fmt: skip

    def at(self, r: int | np.ndarray) -> Roofline:
        """The variant(s) at index ``r`` as a Roofline of scalars (or of the selected rows)."""
        kw = {f.name: getattr(self, f.name) for f in fields(self)}
        for f in ("weight_bytes", "share", "flops", "mem_bw", "eta_c", "eta_m", "overhead_s"):
            kw[f] = np.asarray(kw[f])[r]
        return Roofline(**kw)

    def prefill_s(self, prompt_tokens: ArrayLike, r: int | None = None) -> np.ndarray:
        """T_pre of ``prompt_tokens`` tokens in one step on variant ``r`` (all variants if None), s."""
        v = self if r is None else self.at(r)
        return llm.prefill_time_s(
            prompt_tokens, v.params, v.weight_bytes, v.share, v.flops, v.mem_bw, v.eta_c, v.eta_m
        )

    def decode_step_s(self, batch: ArrayLike, context_tokens: ArrayLike, r: int | None = None) -> np.ndarray:
        """d(n): one decode step of ``batch`` sequences with ``context_tokens`` in total (s)."""
        v = self if r is None else self.at(r)
        return llm.decode_step_time_s(
            batch, context_tokens, v.params, v.weight_bytes, v.kv_bytes_per_token, v.share, v.flops,
            v.mem_bw, v.eta_c, v.eta_m, v.overhead_s,
        )  # fmt: skip

    def decode_table(self, loads: np.ndarray, context_tokens: float) -> np.ndarray:
        """(R+1, len(loads)) Model A step times d_r(n) at nominal context (n l-bar tokens); row 0 and load 0
        are 0 (nobody there: no step)."""
        n = np.asarray(loads, float)[None, :]
        ok = np.asarray(self.share, float) > 0
        share = np.where(ok, self.share, 1.0)[:, None]
        d = llm.decode_step_time_s(
            n, n * context_tokens, self.params, np.asarray(self.weight_bytes)[:, None], self.kv_bytes_per_token,
            share, np.where(ok, self.flops, 1.0)[:, None], np.where(ok, self.mem_bw, 1.0)[:, None],
            np.where(ok, self.eta_c, 1.0)[:, None], np.where(ok, self.eta_m, 1.0)[:, None],
            np.asarray(self.overhead_s)[:, None],
        )  # fmt: skip
        d = np.where(ok[:, None] & (n > 0), d, 0.0)
        return d


class StepConstants:
    """One variant's roofline constants as Python floats, for per-event step times in the simulator.

    :meth:`decode_s` and :meth:`prefill_s` evaluate the formulas of :func:`goalit.physics.llm.decode_step_time_s`
    and :func:`goalit.physics.llm.prefill_time_s` in the same operation order, so they return the same
    floats (IEEE double either way) without NumPy's per-call overhead on scalars; :meth:`decode_steps`
    is the array form for long segments.
    """

    __slots__ = ("weight_bytes", "kappa", "mem_den", "two_p", "comp_den", "overhead_s")

    def __init__(self, roof: Roofline) -> None:
        """``roof``: a Roofline of one variant (``Roofline.at(r)``)."""
        self.weight_bytes = float(roof.weight_bytes)
        self.kappa = float(roof.kv_bytes_per_token)
        self.mem_den = float(roof.eta_m * roof.share * roof.mem_bw)  # eta_m theta BW (bytes/s)
        self.two_p = 2.0 * float(roof.params)
        self.comp_den = float(roof.eta_c * roof.share * roof.flops)  # eta_c theta F (FLOP/s)
        self.overhead_s = float(roof.overhead_s)

    def decode_s(self, batch: int, context_tokens: int) -> float:
        """d(n, L): one decode step of ``batch`` sequences holding ``context_tokens`` tokens in total (s)."""
        memory = (self.weight_bytes + self.kappa * context_tokens) / self.mem_den
        compute = self.two_p * batch / self.comp_den
        return (memory if memory >= compute else compute) + self.overhead_s

    def decode_steps(self, batch: int, context_tokens: np.ndarray) -> np.ndarray:
        """d(n, L) for every total context of ``context_tokens`` (int array), s."""
        memory = (self.weight_bytes + self.kappa * context_tokens) / self.mem_den
        return np.maximum(memory, self.two_p * batch / self.comp_den) + self.overhead_s

    def prefill_s(self, prompt_tokens: float) -> float:
        """T_pre of one prefill step over ``prompt_tokens`` tokens (s)."""
        compute = self.two_p * prompt_tokens / self.comp_den
        memory = self.weight_bytes / self.mem_den
        return compute if compute >= memory else memory
