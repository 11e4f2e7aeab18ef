"""Radio (spec B.4, C.5): 3GPP UMi path loss, Shannon rate on a fixed sub-channel, transfer delay."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def dbm_to_w(dbm: ArrayLike) -> np.ndarray:
    """Power in watts of ``dbm`` dBm."""
    return 10.0 ** ((np.asarray(dbm, dtype=float) - 30.0) / 10.0)


def path_loss_umi_los_db(d3d_m: ArrayLike, carrier_ghz: float) -> np.ndarray:
    """3GPP TR 38.901 UMi street-canyon LOS path loss PL1 = 32.4 + 21 log10(d_3D) + 20 log10(f_c) dB.

    ``d3d_m`` is clipped below at 10 m, the model's validity limit.
    """
    d = np.maximum(np.asarray(d3d_m, dtype=float), 10.0)
    return 32.4 + 21.0 * np.log10(d) + 20.0 * np.log10(carrier_ghz)


def distance_3d_m(dx_m: ArrayLike, dy_m: ArrayLike, dh_m: float) -> np.ndarray:
    """3-D distance between a user and an AP whose antenna heights differ by ``dh_m``."""
    return np.sqrt(np.asarray(dx_m, float) ** 2 + np.asarray(dy_m, float) ** 2 + dh_m**2)


def shannon_rate_bps(
    bandwidth_hz: ArrayLike, tx_power_w: ArrayLike, path_loss_db: ArrayLike, noise_psd_w_hz: float
) -> np.ndarray:
    """r = b log2(1 + p g / (b N0)) in bit/s, g = 10^(-PL/10) (spec B.4)."""
    b = np.asarray(bandwidth_hz, dtype=float)
    snr = np.asarray(tx_power_w, float) * 10.0 ** (-np.asarray(path_loss_db, float) / 10.0) / (b * noise_psd_w_hz)
    return b * np.log2(1.0 + snr)


def noise_psd_w_hz(noise_psd_dbm_hz: float, noise_figure_db: float) -> float:
    """N0 in W/Hz: thermal density plus receiver noise figure."""
    return float(dbm_to_w(noise_psd_dbm_hz + noise_figure_db))


def transfer_delay_s(tokens: ArrayLike, token_bits: float, rate_bps: ArrayLike, overhead_s: float) -> np.ndarray:
    """T = D / r + t_0 with payload D = tokens * token_bits (spec B.4)."""
    return np.asarray(tokens, float) * token_bits / np.asarray(rate_bps, float) + overhead_s
