"""Summary statistics across seeds: means with Student-t 95 % confidence intervals, paired differences."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import stdtrit  # Student-t quantile; far lighter to import than scipy.stats

LEVEL = 0.95


@dataclass(frozen=True)
class Estimate:
    """Mean of ``n`` values with a two-sided ``LEVEL`` CI (NaN bounds when n < 2)."""

    mean: float
    lo: float
    hi: float
    n: int

    @property
    def half_width(self) -> float:
        return (self.hi - self.lo) / 2.0


def mean_ci(values: Sequence[float], level: float = LEVEL) -> Estimate:
    """Mean and Student-t interval mean +- t_{(1+level)/2, n-1} s / sqrt(n) of the finite values."""
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    n = int(x.size)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    m = float(x.mean())
    if n < 2:
        return Estimate(m, math.nan, math.nan, n)
    half = float(stdtrit(n - 1, (1.0 + level) / 2.0) * x.std(ddof=1) / math.sqrt(n))
    return Estimate(m, m - half, m + half, n)


def relative_change(a: Sequence[float], b: Sequence[float], level: float = LEVEL) -> tuple[float, Estimate]:
    """(ratio of means - 1, CI of the paired per-seed relative change a_k / b_k - 1), as fractions.

    ``a`` and ``b`` are paired by seed (same workload under common random numbers).
    """
    a_, b_ = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ok = np.isfinite(a_) & np.isfinite(b_) & (b_ != 0)
    if not ok.any():
        return math.nan, Estimate(math.nan, math.nan, math.nan, 0)
    ratio = float(a_[ok].mean() / b_[ok].mean() - 1.0)
    return ratio, mean_ci((a_[ok] / b_[ok] - 1.0).tolist(), level)
