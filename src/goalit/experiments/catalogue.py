"""E1-E10: every experiment's points and row function behind one table, and the dispatcher ``run_point``.

An ``Experiment`` is a name, the model's experiment ids it answers (docs/model.md part D), the CSV columns its rows fill, a function
``points(plan) -> list[Point]`` and a pure function ``run(point) -> dict``. ``run_point`` is the one
function the sweep ships to workers; it looks the experiment up by the point's name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from goalit.experiments import capacity, dynamic, placement, static
from goalit.experiments.plan import Plan
from goalit.experiments.point import Point
from goalit.solvers.contract import traits_of
from goalit.solvers.registry import REGISTRY


@dataclass(frozen=True)
class Experiment:
    name: str
    ids: tuple[str, ...]
    title: str
    columns: tuple[str, ...]
    points: Callable[[Plan], list[Point]]
    run: Callable[[Point], dict[str, Any]]


def _available() -> tuple[str, ...]:
    return tuple(REGISTRY)


EXPERIMENTS: dict[str, Experiment] = {
    e.name: e
    for e in (
        Experiment("load", ("E1", "E2", "E3"), "Throughput, latency and perplexity vs arrival rate",
                   dynamic.SIM_COLUMNS, dynamic.load_points, dynamic.sim_row),
        Experiment("capacity", ("E1c",), "Capacity at SLO: the highest arrival rate each policy sustains",
                   capacity.CAPACITY_COLUMNS, capacity.capacity_points, capacity.capacity_row),
        Experiment("traces", ("E1t",), "E1-E3 on real arrivals (Azure code and conversation, Mooncake)",
                   dynamic.SIM_COLUMNS, dynamic.trace_points, dynamic.sim_row),
        Experiment("convergence", ("E4",), "GOALIT convergence to a Nash equilibrium",
                   static.CONVERGENCE_COLUMNS, static.convergence_points, static.convergence_row),
        Experiment("updates", ("E5",), "Updates to equilibrium vs number of users",
                   static.UPDATES_COLUMNS, static.updates_points, static.updates_row),
        Experiment("runtime", ("E6",), "Decision run time vs number of users",
                   static.RUNTIME_COLUMNS, lambda plan: static.runtime_points(plan, _available()),
                   static.runtime_row),
        Experiment("poa", ("E7",), "Price of anarchy and of stability against the social optimum",
                   static.POA_COLUMNS,
                   lambda plan: static.poa_points(plan) if "optimum" in _available() else [],
                   static.poa_row),
        Experiment("servers", ("E8",), "Scalability in the number of servers",
                   dynamic.SIM_COLUMNS, dynamic.servers_points, dynamic.sim_row),
        Experiment("tradeoff", ("E9",), "Latency-quality trade-off",
                   dynamic.SIM_COLUMNS, dynamic.tradeoff_points, dynamic.sim_row),
        Experiment("sensitivity", ("E10",), "Sensitivity to bandwidth, hardware and model",
                   dynamic.SIM_COLUMNS, dynamic.sensitivity_points, dynamic.sim_row),
        Experiment("placement", ("E11",), "Which variants each shared server should host",
                   placement.PLACEMENT_COLUMNS, placement.placement_points, placement.placement_row),
    )
}  # fmt: skip

# Columns whose values are wall-clock measurements: the only ones that differ between runs.
TIMING_COLUMNS = ("runtime_s", "sim_wall_s")


def all_columns() -> tuple[str, ...]:
    """Union of the experiments' columns, in catalogue order (the CSV schema after the identity columns)."""
    out: list[str] = []
    for e in EXPERIMENTS.values():
        out += [c for c in e.columns if c not in out]
    return tuple(out)


def plan_points(plan: Plan, names: tuple[str, ...] | None = None) -> list[Point]:
    """Every point of the plan (experiments ``names``, default all), in catalogue order."""
    out: list[Point] = []
    for name, e in EXPERIMENTS.items():
        if names is None or name in names:
            out += e.points(plan)
    return out


def cost_hint(point: Point) -> float:
    """Relative cost of a point for scheduling: simulated requests x ``Traits.relative_cost`` (OT-GAH: 3)."""
    cfg = point.config
    if point.experiment == "capacity":  # ~7 probes around the capacity (~10 req/s)
        return 7 * 10.0 * float(cfg["duration_s"]) * traits_of(point.policy).relative_cost
    if "rate_per_s" in cfg:
        return float(cfg["rate_per_s"]) * float(cfg["duration_s"]) * traits_of(point.policy).relative_cost
    return float(cfg.get("n_users", 0)) / 100.0


def run_point(point: Point) -> dict[str, Any]:
    """The row of one point (pure: same point, same row, except ``TIMING_COLUMNS``)."""
    return EXPERIMENTS[point.experiment].run(point)
