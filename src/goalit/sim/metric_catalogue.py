"""The one catalogue of simulation metrics: ``SimMetrics``, a typed, read-only record whose fields ARE the catalogue.

Each field of :class:`SimMetrics` is one metric: its Python type, and (through :func:`metric`) its
unit, one-line description, better direction and kind. :data:`SIM_METRICS` lists them in field order,
which is also the order of the keys in ``SimResult.summary()`` and ``goalit simulate --json``. The
formulas are in docs/metrics.md ("Simulation metrics"); tests/sim/test_metric_catalogue.py checks that
the docs table, the CLI, the experiments' columns and the testbed use exactly these names.

To add a metric: add ONE field here, at the position its key should take in the JSON, then compute it
(``goalit.sim.metrics.aggregate`` for the ``records`` source, ``Simulation.decision_metrics`` for the
``decisions`` source) and document it in docs/metrics.md. ``SimMetrics.from_dict`` refuses a key that
has no field and a field that has no key, so a forgotten step fails loudly.

Standard library only (no NumPy): the CLI and the docs tests read it cheaply.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

__all__ = ["SIM_METRICS", "Direction", "Kind", "Metric", "SimMetrics", "Source", "metric", "metric_names"]

Direction = Literal["higher", "lower", "none"]  # which way is better; "none": descriptive only
Kind = Literal["count", "value", "share", "breakdown"]  # int, float, float in [0, 1], dict of counts
Source = Literal["records", "decisions"]  # computed from the per-request records / the policy's decisions


@dataclass(frozen=True)
class Metric:
    """One catalogue entry: key, unit (``-`` if dimensionless), description, better direction, kind, source."""

    name: str
    unit: str
    description: str
    direction: Direction
    kind: Kind
    source: Source


def metric(unit: str, description: str, direction: Direction, kind: Kind, source: Source = "records") -> Any:
    """A ``SimMetrics`` field carrying its catalogue entry (a required field: no default)."""
    return field(
        metadata={"unit": unit, "description": description, "direction": direction, "kind": kind,
                  "source": source}
    )  # fmt: skip


@dataclass(frozen=True)
class SimMetrics(Mapping[str, Any]):
    """Aggregate metrics of one simulation run (docs/metrics.md). ``None``: undefined (e.g. no request completed).

    Read as attributes (``m.mean_latency_s``) or, like the dict it replaces, by key (``m["completed"]``,
    ``m.get(k)``, ``dict(m)``); iteration follows the catalogue order.
    """

    arrived: int = metric("-", "requests that arrived (N)", "none", "count")
    completed: int = metric(
        "-", "requests whose response was received by the end of the run (C)", "higher", "count"
    )
    unfinished: int = metric("-", "requests still in the system at the horizon", "lower", "count")
    rejected: int = metric("-", "requests with no allowed action", "lower", "count")
    sim_time_s: float | None = metric("s", "simulated time T_sim", "none", "value")
    token_throughput_tps: float | None = metric(
        "tokens/s", "completed output tokens / T_sim", "higher", "value"
    )
    mean_latency_s: float | None = metric("s", "mean end-to-end latency over C", "lower", "value")
    p50_latency_s: float | None = metric("s", "median end-to-end latency over C", "lower", "value")
    p95_latency_s: float | None = metric(
        "s", "95th percentile of end-to-end latency over C", "lower", "value"
    )
    p99_latency_s: float | None = metric(
        "s", "99th percentile of end-to-end latency over C", "lower", "value"
    )
    mean_ttft_s: float | None = metric("s", "mean time to first token over C", "lower", "value")
    p95_ttft_s: float | None = metric("s", "95th percentile of time to first token over C", "lower", "value")
    mean_tpot_s: float | None = metric("s/token", "mean time per output token (o_k > 1)", "lower", "value")
    p95_tpot_s: float | None = metric("s/token", "95th percentile of time per output token", "lower", "value")
    mean_perplexity: float | None = metric(
        "-", "token-weighted perplexity of the served levels", "lower", "value"
    )
    deadline_met_share: float | None = metric(
        "-", "share of N completed within its deadline", "higher", "share"
    )
    perplexity_met_share: float | None = metric("-", "share of N completed within its perplexity bound", "higher",
                                                "share")  # fmt: skip
    slo_met_share: float | None = metric("-", "share of N that met both", "higher", "share")
    device_energy_per_token_j: float | None = metric("J/token", "device energy per completed output token",
                                                     "lower", "value")  # fmt: skip
    server_energy_per_token_j: float | None = metric("J/token", "server energy per completed offloaded token",
                                                     "lower", "value")  # fmt: skip
    mean_queue_delay_s: float | None = metric("s", "mean queueing delay over C", "lower", "value")
    p95_queue_delay_s: float | None = metric(
        "s", "95th percentile of queueing delay over C", "lower", "value"
    )
    offloaded_share: float | None = metric("-", "share of C served by an edge instance", "none", "share")
    reroutes: int = metric("-", "moves of queued requests to another action", "none", "count")
    conservation: dict[str, int] = metric("tokens", "request counts and token balances (checked)", "none",
                                          "breakdown")  # fmt: skip
    decisions: int = metric("-", "calls of the policy", "none", "count", "decisions")
    players_per_decision_mean: float | None = metric(
        "-", "mean players per decision", "none", "value", "decisions"
    )
    players_per_decision_p95: float | None = metric("-", "95th percentile of players per decision", "none", "value",
                                                    "decisions")  # fmt: skip
    players_per_decision_max: int | None = metric(
        "-", "most players in one decision", "none", "count", "decisions"
    )
    decision_slots: int = metric(
        "-", "equilibrium-search slots summed over decisions", "lower", "count", "decisions"
    )
    decisions_converged_share: float | None = metric("-", "share of searches that reached an epsilon-equilibrium",
                                                     "higher", "share", "decisions")  # fmt: skip
    decisions_cycled_share: float | None = metric("-", "share of searches stopped by a repeated profile", "lower",
                                                  "share", "decisions")  # fmt: skip

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> SimMetrics:
        """Build from a mapping with exactly the catalogue's keys (ValueError naming the first odd key)."""
        names = metric_names()
        extra = [k for k in values if k not in names]
        if extra:
            raise ValueError(
                f"SimMetrics: {extra[0]!r} is not in the metric catalogue (goalit.sim.metric_catalogue)"
            )
        missing = [k for k in names if k not in values]
        if missing:
            raise ValueError(f"SimMetrics: metric {missing[0]!r} has no value")
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        """A plain dict in catalogue order (JSON-ready; ``conservation`` copied)."""
        return {k: (dict(v) if isinstance(v, dict) else v) for k, v in self.items()}

    def __getitem__(self, key: str) -> Any:
        if key not in _NAMES:
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(_NAMES)

    def __len__(self) -> int:
        return len(_NAMES)

    def __contains__(self, key: object) -> bool:
        return key in _NAMES


SIM_METRICS: tuple[Metric, ...] = tuple(Metric(f.name, **f.metadata) for f in fields(SimMetrics))
_NAMES: dict[str, None] = dict.fromkeys(m.name for m in SIM_METRICS)  # ordered, O(1) membership


def metric_names(source: Source | None = None, *, scalar_only: bool = False) -> tuple[str, ...]:
    """Catalogue keys in order; ``source`` filters by source, ``scalar_only`` drops breakdowns."""
    return tuple(
        m.name
        for m in SIM_METRICS
        if (source is None or m.source == source) and not (scalar_only and m.kind == "breakdown")
    )
