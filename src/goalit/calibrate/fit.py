"""Fit the roofline efficiencies of the cost model (docs/model.md B.5) to measured prefill and decode times.

The model is exactly the one the game uses (``goalit.physics.llm``), on a whole machine (share theta = 1):

    d_q(n)    = max{(M_q + kappa * c) / (eta_m[q] BW), 2 P n / (eta_c F)} + delta_0     (decode step, s)
    T_pre,q(s) = max{2 P s / (eta_c F), M_q / (eta_m[q] BW)}                           (prefill, s)

with M_q the level's weight bytes, c the total context of the batch, BW and F the machine's measured
peaks (``goalit.calibrate.machine``). Unknowns: one eta_m per level, one eta_c and one delta_0 for the
machine. They are found by bounded least squares (``scipy.optimize.least_squares``) on the log ratio
predicted/measured of every point (decode at every batch size n, prefill at every prompt length), so
each point counts by its relative error. With decode measured at several batch sizes, the number of
points exceeds the number of unknowns, and the residual errors are a real test of the model's form.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from scipy.optimize import least_squares

from goalit.physics.roofline import Roofline

ETA_MIN = 1e-3


@dataclass(frozen=True)
class Point:
    """One measurement: ``kind`` "decode" (x = batch n, ``context_tokens`` total) or "prefill" (x = s)."""

    kind: str
    level: str
    x: int
    measured_s: float
    context_tokens: float = 0.0


@dataclass(frozen=True)
class Constants:
    """Model and machine constants of the fit: P, kappa, M_q per level (bytes), BW (bytes/s), F (FLOP/s)."""

    params: float
    kv_bytes_per_token: float
    weight_bytes: dict[str, float]
    mem_bw: float
    flops: float


@dataclass(frozen=True)
class Row:
    """A point with the fitted model's prediction; ``error`` = predicted / measured - 1."""

    kind: str
    level: str
    x: int
    measured_s: float
    predicted_s: float
    fitted: bool = True  # False: held out of the fit (validation point)

    @property
    def error(self) -> float:
        return self.predicted_s / self.measured_s - 1.0


@dataclass(frozen=True)
class Fit:
    """Fitted efficiencies and the model's error at every point."""

    eta_m: dict[str, float]
    eta_c: float
    overhead_s: float
    rows: tuple[Row, ...]
    rms_log_error: float  # over the fitted points
    eta_c_decode: float | None = None  # only for the variant fit (not part of the game's cost model)

    def errors(self, kind: str, level: str) -> dict[int, float]:
        """Relative error by x (batch n or prompt length s) for one level."""
        return {r.x: r.error for r in self.rows if r.kind == kind and r.level == level}

    def max_abs_error(self, kind: str, level: str | None = None) -> float:
        errs = [abs(r.error) for r in self.rows if r.kind == kind and (level is None or r.level == level)]
        return max(errs) if errs else float("nan")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["rows"] = [{**asdict(r), "error": r.error} for r in self.rows]
        return d


def predict(
    points: list[Point],
    k: Constants,
    eta_m: dict[str, float],
    eta_c: float,
    overhead_s: float,
    eta_c_decode: float | None = None,
) -> np.ndarray:
    """Model prediction (s) of every point, with the cost core ``goalit.physics.roofline.Roofline`` (vectorised over the points).

    ``eta_c_decode`` (variant, default ``eta_c``) is the compute efficiency of the decode step only.
    """
    x = np.array([p.x for p in points], dtype=float)
    ctx = np.array([p.context_tokens for p in points])
    m = np.array([k.weight_bytes[p.level] for p in points])
    eta = np.array([eta_m[p.level] for p in points])
    is_decode = np.array([p.kind == "decode" for p in points])
    roof = Roofline.single(k.params, k.kv_bytes_per_token, m, k.flops, k.mem_bw, eta_c, eta, overhead_s)
    roof_decode = replace(roof, eta_c=np.asarray(eta_c if eta_c_decode is None else eta_c_decode, float))
    decode = roof_decode.decode_step_s(x, ctx)
    prefill = roof.prefill_s(x)
    return np.where(is_decode, decode, prefill)


def fit(
    points: list[Point],
    k: Constants,
    separate_decode_compute: bool = False,
    decode_batches: tuple[int, ...] | None = None,
) -> Fit:
    """Least-squares efficiencies (eta_m per level, eta_c, delta_0) for the measured ``points``.

    ``decode_batches``: the decode batch sizes n that enter the fit (default: all); the other decode
    points are held out and only predicted (``Row.fitted`` False), e.g. ``(1,)`` fits single-stream
    decode and prefill, as in the latency method of docs/real-llm.md 1.5, and validates d(n > 1).
    ``separate_decode_compute``: the variant with a second compute efficiency for the decode step
    (``eta_c_decode``), to measure how much of the error comes from sharing eta_c between prefill
    (GEMM) and batched decode (matrix-vector products) on a CPU. The game's cost model has one eta_c.
    """
    levels = sorted({p.level for p in points}, key=lambda lv: list(k.weight_bytes).index(lv))
    used = [p.kind != "decode" or decode_batches is None or p.x in decode_batches for p in points]
    train = [p for p, u in zip(points, used, strict=True) if u]
    measured = np.array([p.measured_s for p in train])
    decode_min = min((p.measured_s for p in points if p.kind == "decode"), default=1.0)
    n_lv = len(levels)
    n_eta = n_lv + (2 if separate_decode_compute else 1)  # log efficiencies, then delta_0

    def unpack(x: np.ndarray) -> tuple[dict[str, float], float, float, float | None]:
        eta_m = dict(zip(levels, np.exp(x[:n_lv]).tolist(), strict=True))
        eta_dec = float(np.exp(x[n_lv + 1])) if separate_decode_compute else None
        return eta_m, float(np.exp(x[n_lv])), float(x[n_eta]), eta_dec

    def residuals(x: np.ndarray) -> np.ndarray:
        eta_m, eta_c, d0, eta_dec = unpack(x)
        out: np.ndarray = np.log(predict(train, k, eta_m, eta_c, d0, eta_dec) / measured)
        return out

    lo = np.r_[np.full(n_eta, np.log(ETA_MIN)), 0.0]
    hi = np.r_[np.zeros(n_eta), 0.95 * decode_min]
    best = None
    for eta0 in (0.3, 0.6, 0.9):
        for frac in (0.05, 0.3, 0.6):
            x0 = np.r_[np.full(n_eta, np.log(eta0)), frac * hi[-1]]
            res = least_squares(residuals, x0, bounds=(lo, hi), method="trf", x_scale="jac")
            if best is None or res.cost < best.cost:
                best = res
    assert best is not None  # the loops above ran at least once
    eta_m, eta_c, d0, eta_dec = unpack(best.x)
    pred = predict(points, k, eta_m, eta_c, d0, eta_dec)
    rows = tuple(
        Row(p.kind, p.level, p.x, p.measured_s, float(q), u)
        for p, q, u in zip(points, pred, used, strict=True)
    )
    rms = float(np.sqrt(np.mean([np.log(r.predicted_s / r.measured_s) ** 2 for r in rows if r.fitted])))
    return Fit(eta_m=eta_m, eta_c=eta_c, overhead_s=d0, rows=rows, rms_log_error=rms, eta_c_decode=eta_dec)
