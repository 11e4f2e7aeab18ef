"""Capacity at SLO (E1c): the highest Poisson arrival rate a policy sustains within the SLO.

A run at rate lambda meets the SLO when at least ``slo_deadline_share`` of its requests finish within
their deadline tau_k and the p95 time to first token is at most ``slo_p95_ttft_s`` (``Plan``; all
requests count, runs go on until every request completes). The capacity of (policy, seed) is found by
geometric bisection of lambda on [lo, hi] (:func:`bisect_rate`) until hi / lo <= 1 + ``rel_tol``; it is
the highest rate found to meet the SLO (0 when even lo fails; hi, flagged ``at_max``, when every probe
passed). Every probe of every policy under one seed uses the same seed, so all policies face the same
draws (common random numbers: same users, lengths and uniform draws behind the arrival times). The
capacity does not depend on a window length: it is where the policy stops keeping up.

Cost: about log2(ln(hi/lo) / ln(1 + rel_tol)) + 1 simulations per point (7 for 1-40 req/s at 5 %).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from goalit.experiments.plan import Plan
from goalit.experiments.point import Point

CAPACITY_COLUMNS = ("capacity_rps", "capacity_bound", "capacity_probes", "capacity_sims")


def bisect_rate(
    meets: Callable[[float], bool], lo: float, hi: float, rel_tol: float
) -> tuple[float, str, list[tuple[float, bool]]]:
    """(capacity, bound, probes) for a predicate ``meets(rate)`` assumed monotone (true below the
    capacity). ``bound``: "" (bracketed to ``rel_tol``), "below_min" (``meets(lo)`` is false: capacity 0)
    or "at_max" (every probe up to ``hi`` passed: capacity >= hi, reported as hi)."""
    if not (0 < lo < hi) or rel_tol <= 0:
        raise ValueError(f"need 0 < lo < hi and rel_tol > 0, not lo={lo}, hi={hi}, rel_tol={rel_tol}")
    probes: list[tuple[float, bool]] = []

    def probe(x: float) -> bool:
        ok = bool(meets(x))
        probes.append((x, ok))
        return ok

    if not probe(lo):
        return 0.0, "below_min", probes
    good, bad = lo, hi
    top_checked = False
    while bad / good > 1.0 + rel_tol:
        mid = math.sqrt(good * bad)
        if probe(mid):
            good = mid
        else:
            bad = mid
            top_checked = True
    if not top_checked and bad == hi:  # never failed: check the top itself
        if probe(hi):
            return hi, "at_max", probes
    return good, "", probes


def meets_slo(metrics: Mapping[str, Any], deadline_share: float, p95_ttft_s: float) -> bool:
    """The SLO predicate on a run's aggregate metrics (module docstring)."""
    met = metrics.get("deadline_met_share")
    ttft = metrics.get("p95_ttft_s")
    return met is not None and ttft is not None and met >= deadline_share and ttft <= p95_ttft_s


def capacity_row(point: Point) -> dict[str, Any]:
    """Bisect the rate of ``point.policy`` under ``point.seed`` (config: the plan's SLO and bracket)."""
    from goalit.experiments.dynamic import algorithm_of
    from goalit.experiments.variants import variant
    from goalit.sim import simulate

    cfg = point.config
    scenario = variant(cfg)
    opts: dict[str, Any] = {}
    if cfg.get("epoch_s") is not None:
        opts["epoch_s"] = float(cfg["epoch_s"])
    policy = algorithm_of(point)

    def meets(rate: float) -> bool:
        res = simulate(
            scenario, policy, seed=int(point.seed), rate=rate, duration_s=float(cfg["duration_s"]), **opts
        )
        return meets_slo(res.metrics, float(cfg["slo_deadline_share"]), float(cfg["slo_p95_ttft_s"]))

    cap, bound, probes = bisect_rate(
        meets, float(cfg["rate_lo"]), float(cfg["rate_hi"]), float(cfg["rel_tol"])
    )
    return {
        "capacity_rps": cap,
        "capacity_bound": bound,
        "capacity_probes": [[round(x, 6), ok] for x, ok in probes],
        "capacity_sims": len(probes),
    }


def capacity_base(plan: Plan) -> dict[str, Any]:
    return {
        "scenario": plan.scenario,
        "duration_s": plan.capacity_horizon_s,
        "rate_lo": plan.capacity_min_rps,
        "rate_hi": plan.capacity_max_rps,
        "rel_tol": plan.capacity_rel_tol,
        "slo_deadline_share": plan.slo_deadline_share,
        "slo_p95_ttft_s": plan.slo_p95_ttft_s,
    }


def capacity_points(plan: Plan) -> list[Point]:
    """One point per (policy, capacity seed); epoch-tuned policies per epoch on the tuning seeds."""
    from dataclasses import replace

    from goalit.experiments.dynamic import _policy_points

    sub = replace(plan, seeds=min(plan.capacity_seeds, plan.seeds))
    return _policy_points("capacity", sub, capacity_base(plan), plan.capacity_policies, plan.epoch_grid_s)


def probes_per_point(plan: Plan) -> int:
    """Upper bound on the simulations of one capacity point (for the cost estimate)."""
    lo, hi, tol = plan.capacity_min_rps, plan.capacity_max_rps, plan.capacity_rel_tol
    return 2 + math.ceil(math.log2(math.log(hi / lo) / math.log(1.0 + tol)))
