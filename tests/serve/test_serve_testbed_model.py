"""The testbed's bookkeeping without processes: engine options, level placement, prediction error and
the gateway's online corrections per level."""

from __future__ import annotations

import pytest

from goalit.errors import GoalitInputError
from goalit.serve.replay import Record
from goalit.serve.testbed import (
    TestbedOptions,
    check_options,
    online_corrections,
    prediction_error,
    server_levels,
)


def test_llama_server_places_one_level_per_server_and_needs_a_server_per_level():
    opts = TestbedOptions(servers=3, levels=("q8_0", "q4_0"))
    assert server_levels(opts) == [("q8_0",), ("q4_0",), ("q8_0",)]
    assert server_levels(TestbedOptions(servers=2, engine="llama-cpp-python")) == [("q8_0", "q4_0")] * 2
    with pytest.raises(GoalitInputError, match="--servers 1 < 2 levels"):
        check_options(TestbedOptions(servers=1))
    with pytest.raises(GoalitInputError, match="--engine must be one of"):
        check_options(TestbedOptions(engine="vllm"))


def test_prediction_error_uses_completed_requests_only():
    recs = [
        Record(0, 0.0, sent_s=0.0, done_s=1.0, outcome="ok", predicted_latency_s=1.2),
        Record(1, 0.0, sent_s=0.0, done_s=2.0, outcome="ok", predicted_latency_s=1.0),
        Record(2, 0.0, sent_s=0.0, done_s=2.0, outcome="timeout", predicted_latency_s=9.0),
    ]
    e = prediction_error(recs)
    assert e["requests"] == 2
    assert e["median_abs_pct"] == pytest.approx(35.0) and e["median_signed_pct"] == pytest.approx(-15.0)
    assert prediction_error([])["median_abs_pct"] is None


def test_online_corrections_average_the_backends_of_a_level_geometrically():
    gauges = {
        "goalit_backend_decode_correction": [
            {"backend": "edge-1", "value": 2.0}, {"backend": "edge-2", "value": 0.5},
            {"backend": "edge-3", "value": 8.0},
        ],
        "goalit_backend_prefill_correction": [{"backend": "edge-2", "value": 1.5}],
    }  # fmt: skip
    c = online_corrections({"gauges": gauges}, TestbedOptions(servers=3))
    assert c["decode"] == pytest.approx({"q8_0": 4.0, "q4_0": 0.5})
    assert c["prefill"] == pytest.approx({"q4_0": 1.5})
