"""The gateway's metric registry: Prometheus text exposition and JSON."""

from __future__ import annotations

import re

import pytest

from goalit.serve.metrics import Metrics, Summary


def test_serve_metrics_prometheus_text_is_well_formed():
    m = Metrics()
    m.inc("goalit_requests_accepted_total")
    m.inc("goalit_requests_completed_total", outcome="ok")
    m.inc("goalit_requests_completed_total", outcome="ok")
    m.inc("goalit_routed_total", backend='a"b', level="q4_0")
    m.gauge_fns["goalit_backend_up"] = lambda: {(("backend", "a"),): 1.0}
    for v in (0.1, 0.2, 0.3):
        m.observe("goalit_latency_seconds", v)
    text = m.as_prometheus()
    assert text.endswith("\n")
    assert "# TYPE goalit_requests_completed_total counter" in text
    assert 'goalit_requests_completed_total{outcome="ok"} 2' in text
    assert 'goalit_routed_total{backend="a\\"b",level="q4_0"} 1' in text
    assert 'goalit_backend_up{backend="a"} 1' in text
    assert 'goalit_latency_seconds{quantile="0.5"} 0.2' in text
    assert "goalit_latency_seconds_count 3" in text
    sample = re.compile(r'^[a-z_]+(\{[a-z_]+="([^"\\]|\\.)*"(,[a-z_]+="([^"\\]|\\.)*")*\})? [-+0-9.eInf]+$')
    for line in text.splitlines():
        assert line.startswith("# HELP ") or line.startswith("# TYPE ") or sample.match(line), line


def test_serve_metrics_json_and_counter_helpers():
    m = Metrics()
    m.inc("goalit_requests_rejected_total", reason="queue_full")
    m.inc("goalit_requests_rejected_total", 2.0, reason="invalid_json")
    m.inc("goalit_decisions_total")
    j = m.as_json()
    assert j["counters"]["goalit_decisions_total"] == 1.0
    assert {"reason": "invalid_json", "value": 2.0} in j["counters"]["goalit_requests_rejected_total"]
    assert m.counter("goalit_requests_rejected_total", reason="queue_full") == 1.0
    assert m.counter_sum("goalit_requests_rejected_total") == 3.0
    assert m.counter("nothing") == 0.0


def test_serve_metrics_summary_window_is_bounded_but_count_is_exact():
    s = Summary(window=10)
    for v in range(100):
        s.observe(float(v))
    st = s.stats()
    assert st["count"] == 100 and st["sum"] == pytest.approx(4950.0)
    assert len(s.samples) == 10 and st["p50"] == pytest.approx(94.5)
