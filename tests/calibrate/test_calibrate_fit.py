"""goalit.calibrate.fit: least-squares roofline efficiencies (no LLM needed)."""

from __future__ import annotations

import numpy as np
import pytest

from goalit.calibrate.fit import Constants, Point, fit, predict

K = Constants(
    params=134.5e6,
    kv_bytes_per_token=23040.0,
    weight_bytes={"f16": 270.9e6, "q8_0": 144.8e6, "q2_k": 88.2e6},
    mem_bw=20e9,
    flops=80e9,
)
TRUE_ETA_M = {"f16": 0.8, "q8_0": 0.6, "q2_k": 0.4}
TRUE_ETA_C, TRUE_D0 = 0.3, 2e-3


def points(eta_m=TRUE_ETA_M, eta_c=TRUE_ETA_C, d0=TRUE_D0, noise=None):
    pts = [Point("decode", lv, n, 1.0, n * 150.0) for lv in K.weight_bytes for n in (1, 2, 4, 8, 16)]
    pts += [Point("prefill", lv, s, 1.0) for lv in K.weight_bytes for s in (32, 128, 384)]
    t = predict(pts, K, eta_m, eta_c, d0)
    if noise is not None:
        t = t * noise
    return [Point(p.kind, p.level, p.x, float(v), p.context_tokens) for p, v in zip(pts, t, strict=True)]


def test_predict_uses_the_game_physics():
    pts = points()
    d1 = next(p for p in pts if p.kind == "decode" and p.level == "f16" and p.x == 1)
    memory = (270.9e6 + 23040.0 * 150.0) / (0.8 * 20e9)
    assert d1.measured_s == pytest.approx(max(memory, 2 * 134.5e6 / (0.3 * 80e9)) + 2e-3)


def test_fit_recovers_the_parameters_of_exact_data():
    f = fit(points(), K)
    assert f.eta_c == pytest.approx(TRUE_ETA_C, rel=1e-4)
    assert f.overhead_s == pytest.approx(TRUE_D0, rel=1e-3)
    for lv, eta in TRUE_ETA_M.items():
        assert f.eta_m[lv] == pytest.approx(eta, rel=1e-4)
    assert f.max_abs_error("decode") < 1e-5 and f.max_abs_error("prefill") < 1e-5


def test_fit_reports_relative_errors_of_noisy_data():
    rng = np.random.default_rng(1)
    noise = np.exp(rng.normal(0.0, 0.05, len(points())))
    f = fit(points(noise=noise), K)
    for r in f.rows:
        assert r.error == pytest.approx(r.predicted_s / r.measured_s - 1.0)
    assert 0.0 < f.rms_log_error < 0.1
    assert set(f.errors("decode", "q8_0")) == {1, 2, 4, 8, 16}
    assert set(f.errors("prefill", "q2_k")) == {32, 128, 384}
    assert all(0 < e <= 1 for e in f.eta_m.values()) and 0 < f.eta_c <= 1


def test_efficiencies_stay_within_bounds_when_peaks_are_underestimated():
    slow = Constants(K.params, K.kv_bytes_per_token, K.weight_bytes, mem_bw=1e9, flops=1e9)
    f = fit(points(), slow)  # the data need eta > 1 against these peaks: the fit clips at 1
    assert all(0 < e <= 1 for e in f.eta_m.values()) and 0 < f.eta_c <= 1
    assert f.max_abs_error("decode") > 0.5
