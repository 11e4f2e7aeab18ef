"""Quality term (docs/model.md B.6) and device energy (docs/model.md B.7) golden values.

Q(q) = ln PPL(q) - ln PPL(FP16), Llama-3-8B WikiText-2 (docs/model.md C.2): PPL(FP16) = 6.2332
  q4_k_m 6.4071: ln(6.4071 / 6.2332) = ln(1.0278990) = 0.0275169 nats/token
  q2_k   9.7516: ln(9.7516 / 6.2332) = ln(1.5644613) = 0.4475415 nats/token

Offload energy p_tx T_up + p_idle (T_pre + o d): 1 W * 0.0102948 s + 0.2 W * 1.4571164 s = 0.3017181 J
Local energy P_dev T_loc: 6 W * 13.889083 s = 83.3345 J
"""

from __future__ import annotations

import numpy as np
import pytest

from goalit.physics import energy, quality


def test_quality_loss():
    q = quality.quality_loss(np.array([6.2332, 6.4071, 9.7516]), 6.2332)
    assert q == pytest.approx([0.0, 0.0275169, 0.4475415], abs=1e-7)


def test_offload_and_local_energy():
    assert energy.offload_energy_j(0.0102948, 1.4571164, 1.0, 0.2) == pytest.approx(0.3017181, rel=1e-6)
    assert energy.local_energy_j(13.889083, 6.0) == pytest.approx(83.3345, rel=1e-6)
    # vectorised over users
    e = energy.offload_energy_j(np.array([1.0, 2.0]), np.array([10.0, 0.0]), np.array([1.0, 0.5]), 0.2)
    assert e == pytest.approx([3.0, 1.0])
