"""Online calibration: the gateway corrects each backend's step-time model from what it observes.

The router predicts a backend's decode step d_j(n, l) and prefill T_pre,j(s) from a model (the measured
step table, else the roofline). Every request a backend completes gives one observation of each:

- time per output token TPOT = (last byte - first byte) / (tokens - 1), against the model's step at the
  backend's *mean* number of running requests over that interval (its time-integral / the interval) and
  the request's mean context s + o/2;
- time to first token on the backend (first byte - forward start, the gateway's queue excluded),
  against prefill(s) + one step at the batch seen when the request started.

Each backend keeps a multiplicative correction per phase, ``decode[j]`` and ``prefill[j]``, updated as an
exponentially weighted geometric mean of the observed/predicted ratios (weight ``alpha`` per
observation; each ratio clipped to [``lo``, ``hi``] so one outlier cannot swing the estimate, and the
corrections stay within the same bounds). The router multiplies its model by them; ``/metrics`` exposes
them and the resulting d_j(1) estimate. Non-streamed requests only give the total backend time, which
corrects ``decode`` against prefill + o steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


@dataclass
class OnlineCalibration:
    """Bounded, smoothed per-backend corrections of the decode-step and prefill model."""

    n_backends: int
    alpha: float = 0.2  # weight of one observation (about the last 5-10 requests matter)
    lo: float = 0.25  # bounds of one ratio and of the corrections
    hi: float = 4.0
    decode: np.ndarray = field(init=False)
    prefill: np.ndarray = field(init=False)
    observations: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.decode = np.ones(self.n_backends)
        self.prefill = np.ones(self.n_backends)
        self.observations = np.zeros(self.n_backends, np.int64)

    def _update(self, arr: np.ndarray, j: int, observed: float, predicted: float) -> None:
        if not (predicted > 0 and observed > 0 and math.isfinite(observed) and math.isfinite(predicted)):
            return
        r = min(self.hi, max(self.lo, observed / predicted))
        new = (1 - self.alpha) * math.log(arr[j]) + self.alpha * math.log(r)
        arr[j] = min(self.hi, max(self.lo, math.exp(new)))

    def observe_decode(self, j: int, observed_tpot_s: float, predicted_step_s: float) -> None:
        """A time per output token on backend j and the (uncorrected) model's step for it."""
        self._update(self.decode, j, observed_tpot_s, predicted_step_s)
        self.observations[j] += 1

    def observe_prefill(self, j: int, observed_ttft_s: float, predicted_ttft_s: float) -> None:
        """A backend time to first token and the (uncorrected) model's prefill + one step for it."""
        self._update(self.prefill, j, observed_ttft_s, predicted_ttft_s)
