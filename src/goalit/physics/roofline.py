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
