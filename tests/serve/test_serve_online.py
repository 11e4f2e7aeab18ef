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
