"""Online calibration of the gateway's step-time model: smoothed, bounded, per backend."""

from __future__ import annotations

import math

import pytest

from goalit.serve.online import OnlineCalibration


def test_corrections_move_towards_the_observed_ratio_geometrically():
    oc = OnlineCalibration(2, alpha=0.5)
    oc.observe_decode(0, 0.04, 0.02)  # twice as slow as predicted
    assert oc.decode[0] == pytest.approx(math.sqrt(2))
    assert oc.decode[1] == 1.0 and oc.observations.tolist() == [1, 0]
    for _ in range(40):
        oc.observe_decode(0, 0.04, 0.02)
    assert oc.decode[0] == pytest.approx(2.0, rel=1e-6)


def test_one_outlier_is_clipped_and_corrections_stay_bounded():
    oc = OnlineCalibration(1, alpha=0.2, lo=0.25, hi=4.0)
    oc.observe_prefill(0, 1000.0, 0.001)  # absurd ratio: clipped to 4 before smoothing
    assert oc.prefill[0] == pytest.approx(4.0**0.2)
    for _ in range(200):
        oc.observe_prefill(0, 1000.0, 0.001)
    assert oc.prefill[0] <= 4.0
    oc.observe_decode(0, float("nan"), 0.02)  # unusable observations change nothing
    oc.observe_decode(0, 0.02, 0.0)
    assert oc.decode[0] == 1.0


def test_prefill_log_counts_only_other_requests_prefills_inside_the_interval():
    from goalit.serve.online import PrefillLog

    log = PrefillLog()
    log.add(0.0, 0.5, owner=1)  # request 1's own prefill, before its first token
    log.add(1.3, 0.2, owner=2)  # another request admitted while 1 decodes: fully inside
    log.add(1.9, 0.3, owner=3)  # admitted near the end: only 0.1 s of it inside (1.0, 2.0)
    log.add(0.8, 0.3, owner=4)  # started before the interval: its last 0.1 s inside
    log.add(2.5, 0.2, owner=5)  # after the interval
    log.add(1.5, float("nan"), owner=6)  # no prediction: not logged
    assert log.overlap_s(1.0, 2.0, exclude=1) == pytest.approx(0.2 + 0.1 + 0.1)
    assert log.overlap_s(1.0, 2.0, exclude=2) == pytest.approx(0.1 + 0.1)  # 1 ran over [0, 0.5]: outside
    assert len(log.events) == 5


def test_decode_tpot_removes_overlapping_prefills_bounded():
    from goalit.serve.online import decode_tpot

    # recorded timeline of a request on a llama-server: first byte at 1.0 s, last at 2.0 s, 21 tokens;
    # two other prompts admitted meanwhile with predicted prefills 0.12 s and 0.08 s
    assert decode_tpot(1.0, 21, 0.0) == pytest.approx(0.05)
    assert decode_tpot(1.0, 21, 0.2) == pytest.approx(0.04)
    assert decode_tpot(1.0, 21, 5.0) == pytest.approx(0.25 / 20)  # at most 75 % of the interval removed
    assert decode_tpot(1.0, 21, -1.0) == pytest.approx(0.05)


def test_online_decode_correction_without_others_prefills_converges_to_the_true_step():
    """A backend whose decode steps take exactly the model's time, but whose requests' decode intervals each
    contain another request's prefill: the old estimator learnt a slowdown that does not exist."""
    from goalit.serve.online import PrefillLog, decode_tpot

    step, tokens, prefill = 0.02, 33, 0.16  # s, tokens, s (a 128-token prompt at ~1.25 ms/token)
    naive, fixed = OnlineCalibration(1), OnlineCalibration(1)
    log = PrefillLog()
    t = 0.0
    for k in range(60):
        t_first, end = t, t + (tokens - 1) * step + prefill  # one other prefill stalls the batch
        log.add(t_first + 0.1, prefill, owner=k + 1000)
        naive.observe_decode(0, (end - t_first) / (tokens - 1), step)
        fixed.observe_decode(0, decode_tpot(end - t_first, tokens, log.overlap_s(t_first, end, k)), step)
        t = end
    assert naive.decode[0] == pytest.approx(1 + prefill / ((tokens - 1) * step), rel=1e-3)  # 1.25: wrong
    assert fixed.decode[0] == pytest.approx(1.0, rel=1e-6)
