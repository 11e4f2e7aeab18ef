"""Device energy (docs/model.md B.7): transmit, idle waiting and local compute, in joules."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def offload_energy_j(
    uplink_s: ArrayLike, wait_s: ArrayLike, radio_tx_power_w: ArrayLike, idle_power_w: ArrayLike
) -> np.ndarray:
    """E = p_tx T_up + p_idle (T_pre + o d): radio while sending, idle while the edge computes."""
    out: np.ndarray = np.asarray(radio_tx_power_w, float) * np.asarray(uplink_s, float) + np.asarray(
        idle_power_w, float
    ) * np.asarray(wait_s, float)
    return out


def local_energy_j(local_s: ArrayLike, device_power_w: ArrayLike) -> np.ndarray:
    """E = P_dev T_loc."""
    out: np.ndarray = np.asarray(device_power_w, float) * np.asarray(local_s, float)
    return out
