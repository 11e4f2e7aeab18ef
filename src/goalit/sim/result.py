"""The result of one simulation: aggregate metrics, per-instance figures and per-request records."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from goalit.sim.metric_catalogue import SimMetrics
from goalit.sim.records import parquet_bytes, to_csv_text, write_atomic


@dataclass
class SimResult:
    """Everything a run produced. ``summary()`` is deterministic (no wall-clock fields) and JSON-ready.

    ``metrics``: aggregate metrics, a typed :class:`SimMetrics` (goalit.sim.metric_catalogue; formulas in
    docs/metrics.md, "Simulation metrics"; a plain dict with the same keys is converted); ``instances``: one
    dict per model instance; ``records``: per-request columns (``goalit.sim.records.COLUMNS``);
    ``workload``: source and the transforms applied; ``policy``: name and options; ``policy_stats``:
    decisions, GOALIT slots/updates/messages, OT-GAH nodes explored; ``events``: events processed;
    ``wall_s`` / ``decide_wall_s``: wall-clock time of the event loop / of the policy's decisions in it
    (not part of ``summary()``).
    """

    scenario: str
    policy: dict[str, Any]
    seed: int
    workload: dict[str, Any]
    horizon_s: float | None
    metrics: SimMetrics
    instances: list[dict[str, Any]]
    records: dict[str, np.ndarray]
    policy_stats: dict[str, Any] = field(default_factory=dict)
    events: int = 0
    stalled: bool = False
    wall_s: float = 0.0
    decide_wall_s: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.metrics, SimMetrics):
            self.metrics = SimMetrics.from_dict(self.metrics)

    def __getattr__(self, name: str) -> Any:
        # metrics as attributes: result.mean_latency_s, result.completed, ...
        metrics = self.__dict__.get("metrics")
        if metrics is not None and name in metrics:
            return metrics[name]
        raise AttributeError(name)

    def summary(self) -> dict[str, Any]:
        """One JSON object: run description, aggregate metrics, instances, policy statistics."""
        return {
            "scenario": self.scenario,
            "policy": self.policy["name"],
            "seed": int(self.seed),
            **self.metrics,
            "horizon_s": self.horizon_s,
            "stalled": bool(self.stalled),
            "events": int(self.events),
            "policy_options": {k: v for k, v in self.policy.items() if k != "name"},
            "policy_stats": {k: _plain(v) for k, v in sorted(self.policy_stats.items())},
            "workload": self.workload,
            "instances": self.instances,
        }

    def summary_json(self) -> str:
        return json.dumps(self.summary(), indent=2, allow_nan=False) + "\n"

    def records_csv(self) -> str:
        return to_csv_text(self.records)

    def write(self, out_dir: str | Path) -> list[Path]:
        """Write records.csv, records.parquet (when pyarrow is installed) and summary.json atomically.

        Every file is first fully written to a temporary file in ``out_dir`` and then renamed.
        """
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        payloads = [("records.csv", self.records_csv().encode("utf-8"))]
        pq = parquet_bytes(self.records)
        if pq is not None:
            payloads.append(("records.parquet", pq))
        payloads.append(("summary.json", self.summary_json().encode("utf-8")))
        paths = []
        for name, data in payloads:
            write_atomic(out / name, data)
            paths.append(out / name)
        return paths


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return None
    return v
