"""Radio golden values (docs/model.md B.4, C.5), worked out by hand from the formulas.

Path loss, 3GPP TR 38.901 UMi street canyon LOS:  PL = 32.4 + 21 log10(d_3D / m) + 20 log10(f_c / GHz) dB.
  d_3D = 100 m, f_c = 3.5 GHz:  21 * 2 = 42;  20 * log10(3.5) = 20 * 0.5440680 = 10.881361
  PL = 32.4 + 42 + 10.881361 = 85.281361 dB
  d_3D = 5 m is clipped to the model's 10 m limit: PL = 32.4 + 21 + 10.881361 = 64.281361 dB

Noise: -170 dBm/Hz + 10 dB noise figure = -160 dBm/Hz = 10^(-19) W/Hz.

Shannon rate r = b log2(1 + p g / (b N0)), g = 10^(-PL/10):
  b = 1 MHz, p = 0.1 W, PL = 85.281361 dB:  g = 10^(-8.5281361) = 2.9639025e-9
  b N0 = 1e6 Hz * 1e-19 W/Hz = 1e-13 W;  SNR = 0.1 * 2.9639025e-9 / 1e-13 = 2963.9025
  r = 1e6 * log2(2964.9025) = 1e6 * 11.533769 = 11.533769 Mbit/s
  PL = 80 dB, p = 0.1 W: SNR = 0.1 * 1e-8 / 1e-13 = 1e4;  r = 1e6 * log2(10001) = 13.287857 Mbit/s

Uplink delay T = s * b_tok / r + t_0, s = 200 tokens, b_tok = 17 bit, t_0 = 10 ms:
  3400 bit / 11.533769e6 bit/s = 0.29478655 ms;  T = 10.294787 ms
"""

from __future__ import annotations

import numpy as np
import pytest

from goalit.physics import radio


def test_path_loss_umi_los():
    assert radio.path_loss_umi_los_db(100.0, 3.5) == pytest.approx(85.281361, abs=1e-6)
    assert radio.path_loss_umi_los_db(5.0, 3.5) == pytest.approx(64.281361, abs=1e-6)  # clipped at 10 m
    # +21 dB per decade of distance, +6.02 dB per doubling of the carrier
    pl = radio.path_loss_umi_los_db(np.array([100.0, 1000.0]), 3.5)
    assert pl[1] - pl[0] == pytest.approx(21.0)
    assert radio.path_loss_umi_los_db(100.0, 7.0) - radio.path_loss_umi_los_db(100.0, 3.5) == pytest.approx(
        6.0206, abs=1e-4
    )


def test_distance_3d():
    assert radio.distance_3d_m(30.0, 40.0, 0.0) == pytest.approx(50.0)
    assert radio.distance_3d_m(0.0, 0.0, 8.5) == pytest.approx(8.5)


def test_noise_psd():
    assert radio.noise_psd_w_hz(-170.0, 10.0) == pytest.approx(1e-19, rel=1e-12)
    assert radio.dbm_to_w(23.0) == pytest.approx(0.19953, rel=1e-4)  # 23 dBm = 200 mW (power class 3)


def test_shannon_rate():
    n0 = radio.noise_psd_w_hz(-170.0, 10.0)
    assert radio.shannon_rate_bps(1e6, 0.1, 85.281361, n0) == pytest.approx(11.533769e6, rel=1e-6)
    assert radio.shannon_rate_bps(1e6, 0.1, 80.0, n0) == pytest.approx(13.287857e6, rel=1e-6)
    # vectorised over users
    r = radio.shannon_rate_bps(1e6, np.array([0.1, 0.1]), np.array([80.0, 85.281361]), n0)
    assert r == pytest.approx([13.287857e6, 11.533769e6], rel=1e-6)


def test_uplink_delay():
    assert radio.transfer_delay_s(200, 17, 11.533769e6, 0.010) == pytest.approx(0.010294787, rel=1e-7)
    # no payload: only the access overhead t_0
    assert radio.transfer_delay_s(0, 17, 1e6, 0.010) == pytest.approx(0.010)


def test_breakpoint_distance():
    # d'_BP = 4 * (10 - 1) * (1.5 - 1) * 3.5e9 / c = 210.14 m (3GPP TR 38.901, UMi defaults of the scenarios)
    assert radio.breakpoint_distance_m(10.0, 1.5, 3.5) == pytest.approx(210.1454, abs=1e-3)


def test_two_slope_path_loss():
    bp = radio.breakpoint_distance_m(10.0, 1.5, 3.5)
    near = radio.path_loss_umi_los_two_slope_db(100.0, 10.0, 1.5, 3.5)
    # below the breakpoint it is PL1 of the 3-D distance sqrt(100^2 + 8.5^2)
    assert near == pytest.approx(radio.path_loss_umi_los_db(np.hypot(100.0, 8.5), 3.5))
    # PL2 is continuous with PL1 at the breakpoint (within the model's 0.1 dB) and steeper beyond it:
    # 40 dB per decade of distance instead of 21.
    left = radio.path_loss_umi_los_two_slope_db(bp * (1 - 1e-9), 10.0, 1.5, 3.5)
    right = radio.path_loss_umi_los_two_slope_db(bp * (1 + 1e-9), 10.0, 1.5, 3.5)
    assert abs(right - left) < 0.1
    far = radio.path_loss_umi_los_two_slope_db(np.array([1000.0, 2000.0]), 10.0, 1.5, 3.5)
    assert far[1] - far[0] == pytest.approx(40 * np.log10(np.hypot(2000, 8.5) / np.hypot(1000, 8.5)))
    # hand value at 400 m: 32.4 + 40 log10(400.0903) + 20 log10(3.5) - 9.5 log10(210.1376^2 + 8.5^2)
    assert far[0] > radio.path_loss_umi_los_db(np.hypot(1000.0, 8.5), 3.5)
    expected = (
        32.4 + 40 * np.log10(np.hypot(400, 8.5)) + 20 * np.log10(3.5) - 9.5 * np.log10(210.1454**2 + 8.5**2)
    )
    assert radio.path_loss_umi_los_two_slope_db(400.0, 10.0, 1.5, 3.5) == pytest.approx(expected, abs=1e-3)
