"""Drawing users and laying out servers (goalit.scenario.generate)."""

from __future__ import annotations

import numpy as np
import pytest

from goalit.scenario.generate import grid_positions, sample


@pytest.mark.parametrize(
    ("count", "area"),
    [
        (1, (300.0, 300.0)),
        (4, (300.0, 300.0)),
        (50, (2000.0, 2000.0)),
        (2, (1000.0, 1.0)),
        (5, (1.0, 1000.0)),
    ],  # fmt: skip
)
def test_grid_positions_inside_area_and_distinct(count, area):
    pos = grid_positions(count, area)
    assert len(pos) == count == len(set(pos))
    for x, y in pos:
        assert 0 < x < area[0] and 0 < y < area[1]


def test_grid_positions_huge_area_does_not_crash():
    assert len(grid_positions(3, (1e308, 100.0))) == 3


def test_grid_positions_centred_in_cells():
    assert grid_positions(4, (300.0, 300.0)) == [(75.0, 75.0), (225.0, 75.0), (75.0, 225.0), (225.0, 225.0)]
    assert grid_positions(2, (1000.0, 1.0)) == [(250.0, 0.5), (750.0, 0.5)]  # a row, not 45 columns


def test_sample_distributions():
    rng = np.random.default_rng(0)
    ints = sample(("uniform", (64, 512)), 5000, rng, integer=True)
    assert ints.dtype == np.int64 and ints.min() == 64 and ints.max() == 512  # inclusive bounds
    logs = sample(("loguniform", (1.0, 100.0)), 5000, rng, integer=False)
    assert logs.min() >= 1.0 and logs.max() <= 100.0 and np.median(logs) == pytest.approx(10.0, rel=0.1)
    assert set(sample(("choice", (0.0, 0.1)), 100, rng, integer=False).tolist()) == {0.0, 0.1}
    assert np.all(sample(("const", (7.0,)), 3, rng, integer=True) == 7)
