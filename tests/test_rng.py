"""Named random streams (goalit.rng): same seed and name, same draws; names and seeds are independent."""

from __future__ import annotations

import numpy as np

from goalit.rng import STREAMS, stream, streams


def test_same_seed_same_stream():
    assert np.array_equal(stream(3, "workload").random(5), stream(3, "workload").random(5))


def test_streams_differ_by_name_and_seed():
    draws = {name: stream(3, name).random(5) for name in STREAMS}
    assert len({d.tobytes() for d in draws.values()}) == len(STREAMS)
    assert not np.array_equal(stream(3, "radio").random(5), stream(4, "radio").random(5))


def test_streams_dict():
    s = streams(9)
    assert set(s) == set(STREAMS)
    assert np.array_equal(s["algorithm"].random(3), stream(9, "algorithm").random(3))
