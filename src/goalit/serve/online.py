"""Online calibration: the gateway corrects each backend's step-time model from what it observes.

The router predicts a backend's decode step d_j(n, l) and prefill T_pre,j(s) from a model (the measured
step table, else the roofline). Every request a backend completes gives one observation of each:

- time per output token TPOT = (last byte - first byte - the prefills of *other* requests that ran on the
  same engine in that interval) / (tokens - 1), against the model's step at the backend's *mean* number
  of running requests over that interval (its time-integral / the interval) and the request's mean
  context s + o/2. A continuous-batching engine (llama-server) runs a newly admitted prompt's prefill in
  the iteration after it arrives, so every decoding sequence waits for it: those seconds are prefill,
  not decode steps. The gateway knows what it forwarded where and when (``PrefillLog``: start time and
  the model's prefill time of every forward, times the backend's *decode* correction: the machine's
  current speed; the prefill correction is learnt from TTFTs that include waiting for other requests,
  so it over-states the prefill under load); ``decode_tpot`` removes their overlap with the
  interval, at most ``max_removed`` of it (a wrong prefill prediction cannot drive the TPOT to 0);
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
from collections import deque
from dataclasses import dataclass, field

import numpy as np

MAX_REMOVED = 0.75  # at most this share of a decode interval is attributed to other requests' prefills


@dataclass
class PrefillLog:
    """The prefills a backend was asked to run: (start, predicted prefill s, flight id), oldest first; the
    last ``maxlen`` are kept (enough for every request running or queued on one backend)."""

    maxlen: int = 1024
    events: deque = field(init=False)

    def __post_init__(self) -> None:
        self.events = deque(maxlen=self.maxlen)

    def add(self, t_start: float, prefill_s: float, owner: int) -> None:
        """A forward started at ``t_start`` (perf_counter s) whose prefill the model puts at ``prefill_s``."""
        if math.isfinite(prefill_s) and prefill_s > 0:
            self.events.append((t_start, prefill_s, owner))

    def overlap_s(self, t0: float, t1: float, exclude: int) -> float:
        """Seconds of the logged prefills (except ``exclude``'s) that fall inside (t0, t1): a prefill that
        starts at t runs over [t, t + prefill_s], clipped to the interval (s)."""
        out = 0.0
        for t, p, owner in reversed(self.events):
            if t < t0 - 3600.0:  # started an hour before the interval: these and older ones are over
                break
            if owner == exclude or t >= t1:
                continue
            out += max(0.0, min(t + p, t1) - max(t, t0))
        return out


def decode_tpot(
    span_s: float, tokens: int, others_prefill_s: float, max_removed: float = MAX_REMOVED
) -> float:
    """Time per output token of a streamed request over ``span_s`` (first to last byte, ``tokens`` tokens),
    without the ``others_prefill_s`` seconds the engine spent on other requests' prefills meanwhile
    (at most ``max_removed`` of the span) (s/token)."""
    removed = min(max(0.0, others_prefill_s), max_removed * span_s)
    return (span_s - removed) / max(1, tokens - 1)


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
