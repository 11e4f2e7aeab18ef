"""Radio (docs/model.md B.4, C.5): 3GPP UMi path loss, Shannon rate on a fixed sub-channel, transfer delay."""

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
    out: np.ndarray = 32.4 + 21.0 * np.log10(d) + 20.0 * np.log10(carrier_ghz)
    return out


def breakpoint_distance_m(bs_height_m: float, ue_height_m: float, carrier_ghz: float) -> float:
    """d'_BP = 4 h'_BS h'_UT f_c / c with effective heights h' = h - 1 m (3GPP TR 38.901 Table 7.4.1-1 note 1)."""
    return 4.0 * (bs_height_m - 1.0) * (ue_height_m - 1.0) * carrier_ghz * 1e9 / 299_792_458.0


def path_loss_umi_los_two_slope_db(
    d2d_m: ArrayLike, bs_height_m: float, ue_height_m: float, carrier_ghz: float
) -> np.ndarray:
    """3GPP TR 38.901 UMi street-canyon LOS path loss with its breakpoint (dB).

    PL1 (see ``path_loss_umi_los_db``) up to d'_BP, then
    PL2 = 32.4 + 40 log10(d_3D) + 20 log10(f_c) - 9.5 log10(d'_BP^2 + (h_BS - h_UT)^2).
    """
    d2d = np.asarray(d2d_m, dtype=float)
    dh = bs_height_m - ue_height_m
    d3d = distance_3d_m(d2d, 0.0, dh)
    bp = breakpoint_distance_m(bs_height_m, ue_height_m, carrier_ghz)
    pl1 = path_loss_umi_los_db(d3d, carrier_ghz)
    pl2 = 32.4 + 40.0 * np.log10(d3d) + 20.0 * np.log10(carrier_ghz) - 9.5 * np.log10(bp**2 + dh**2)
    return np.where(d2d <= bp, pl1, pl2)


def distance_3d_m(dx_m: ArrayLike, dy_m: ArrayLike, dh_m: float) -> np.ndarray:
    """3-D distance between a user and an AP whose antenna heights differ by ``dh_m``."""
    out: np.ndarray = np.sqrt(np.asarray(dx_m, float) ** 2 + np.asarray(dy_m, float) ** 2 + dh_m**2)
    return out


def shannon_rate_bps(
    bandwidth_hz: ArrayLike, tx_power_w: ArrayLike, path_loss_db: ArrayLike, noise_psd_w_hz: float
) -> np.ndarray:
    """r = b log2(1 + p g / (b N0)) in bit/s, g = 10^(-PL/10) (docs/model.md B.4)."""
    b = np.asarray(bandwidth_hz, dtype=float)
    snr = (
        np.asarray(tx_power_w, float)
        * 10.0 ** (-np.asarray(path_loss_db, float) / 10.0)
        / (b * noise_psd_w_hz)
    )
    return b * np.log2(1.0 + snr)


def noise_psd_w_hz(noise_psd_dbm_hz: float, noise_figure_db: float) -> float:
    """N0 in W/Hz: thermal density plus receiver noise figure."""
    return float(dbm_to_w(noise_psd_dbm_hz + noise_figure_db))


def transfer_delay_s(
    tokens: ArrayLike, token_bits: float, rate_bps: ArrayLike, overhead_s: float
) -> np.ndarray:
    """T = D / r + t_0 with payload D = tokens * token_bits (docs/model.md B.4)."""
    with np.errstate(divide="ignore"):  # rate 0 (out of reach): an infinite delay, not a warning
        out: np.ndarray = np.asarray(tokens, float) * token_bits / np.asarray(rate_bps, float) + overhead_s
        return out
