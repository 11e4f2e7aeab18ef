"""The gateway's counters, gauges and latency summaries, as Prometheus text or JSON (docs/metrics.md).

Summaries keep the last ``window`` samples for quantiles (a sliding window, so memory is bounded) and an
exact count and sum over the whole run.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

Labels = tuple[tuple[str, str], ...]
QUANTILES = (0.5, 0.95, 0.99)

HELP = {
    "goalit_requests_received_total": ("counter", "Requests received on the completion endpoints."),
    "goalit_requests_rejected_total": ("counter", "Requests refused before admission, by reason."),
    "goalit_requests_accepted_total": ("counter", "Requests admitted (each ends exactly once below)."),
    "goalit_requests_completed_total": ("counter", "Admitted requests finished, by outcome (ok or error)."),
    "goalit_requests_in_flight": ("gauge", "Admitted requests not finished yet."),
    "goalit_requests_queued": ("gauge", "Admitted requests waiting for a backend slot."),
    "goalit_retries_total": ("counter", "Re-routings of a request after a backend fault."),
    "goalit_routed_total": ("counter", "Requests sent to each backend and level (retries included)."),
    "goalit_policy_fallbacks_total": ("counter", "Policy choices replaced by a best response (not allowed)."),
    "goalit_decisions_total": ("counter", "Games solved."),
    "goalit_backend_up": ("gauge", "1 if the backend is considered healthy."),
    "goalit_backend_faults_total": ("counter", "Backend faults seen, by backend and kind."),
    "goalit_backend_recoveries_total": ("counter", "Backends that came back after a successful probe."),
    "goalit_output_tokens_total": ("counter", "Completion tokens returned (usage, or streamed chunks)."),
    "goalit_latency_seconds": ("summary", "Gateway latency: request received to last byte sent."),
    "goalit_ttft_seconds": ("summary", "Streaming: request received to first chunk sent."),
    "goalit_queue_seconds": ("summary", "Time waiting for a backend slot."),
    "goalit_overhead_seconds": ("summary", "Gateway's own time: latency minus queueing minus backend time."),
    "goalit_decision_seconds": ("summary", "Time to build and solve one routing game."),
}


@dataclass
class Summary:
    """Sliding-window quantiles plus exact count and sum."""

    window: int = 10_000
    samples: deque = field(default_factory=deque)
    count: int = 0
    total: float = 0.0

    def observe(self, value: float) -> None:
        if self.samples.maxlen != self.window:
            self.samples = deque(self.samples, maxlen=self.window)
        self.samples.append(float(value))
        self.count += 1
        self.total += float(value)

    def stats(self) -> dict[str, float]:
        arr = np.asarray(self.samples, dtype=float)
        out = {"count": self.count, "sum": self.total, "mean": self.total / self.count if self.count else 0.0}
        for q in QUANTILES:
            out[f"p{round(q * 100)}"] = float(np.quantile(arr, q)) if arr.size else 0.0
        return out


class Metrics:
    """A small metric registry; ``gauge_fns`` are read at export time."""

    def __init__(self, window: int = 10_000) -> None:
        self.counters: dict[str, dict[Labels, float]] = {}
        self.gauges: dict[str, dict[Labels, float]] = {}
        self.summaries: dict[str, Summary] = {}
        self.gauge_fns: dict[str, Callable[[], dict[Labels, float]]] = {}
        self.window = window

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        series = self.counters.setdefault(name, {})
        series[key] = series.get(key, 0.0) + value

    def set(self, name: str, value: float, **labels: str) -> None:
        self.gauges.setdefault(name, {})[tuple(sorted(labels.items()))] = float(value)

    def observe(self, name: str, value: float) -> None:
        self.summaries.setdefault(name, Summary(self.window)).observe(value)

    def counter(self, name: str, **labels: str) -> float:
        """Current value of one counter series (0 if never incremented)."""
        return self.counters.get(name, {}).get(tuple(sorted(labels.items())), 0.0)

    def counter_sum(self, name: str) -> float:
        """Sum of a counter over all its label sets."""
        return float(sum(self.counters.get(name, {}).values()))

    def _all_gauges(self) -> dict[str, dict[Labels, float]]:
        out = {k: dict(v) for k, v in self.gauges.items()}
        for name, fn in self.gauge_fns.items():
            out[name] = fn()
        return out

    def as_json(self) -> dict:
        """Counters and gauges as {name: value} or {name: [{labels..., value}]}, summaries as statistics."""

        def series(d: dict[Labels, float]):
            if list(d) == [()]:
                return d[()]
            return [{**dict(k), "value": v} for k, v in sorted(d.items())]

        return {
            "counters": {k: series(v) for k, v in sorted(self.counters.items())},
            "gauges": {k: series(v) for k, v in sorted(self._all_gauges().items())},
            "summaries": {k: s.stats() for k, s in sorted(self.summaries.items())},
        }

    def as_prometheus(self) -> str:
        """Prometheus text exposition format 0.0.4."""
        lines: list[str] = []

        def header(name: str, kind: str) -> None:
            kind, text = HELP.get(name, (kind, name))
            lines.append(f"# HELP {name} {text}")
            lines.append(f"# TYPE {name} {kind}")

        for name, d in sorted(self.counters.items()):
            header(name, "counter")
            lines.extend(f"{name}{_labels(k)} {_num(v)}" for k, v in sorted(d.items()))
        for name, d in sorted(self._all_gauges().items()):
            header(name, "gauge")
            lines.extend(f"{name}{_labels(k)} {_num(v)}" for k, v in sorted(d.items()))
        for name, s in sorted(self.summaries.items()):
            header(name, "summary")
            st = s.stats()
            for q in QUANTILES:
                lines.append(f'{name}{{quantile="{q}"}} {_num(st[f"p{round(q * 100)}"])}')
            lines.append(f"{name}_sum {_num(st['sum'])}")
            lines.append(f"{name}_count {s.count}")
        return "\n".join(lines) + "\n"


def _labels(key: Labels) -> str:
    if not key:
        return ""
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in key)
    return "{" + inner + "}"


def _escape(v: str) -> str:
    return str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _num(v: float) -> str:
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if float(v).is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(float(v))
