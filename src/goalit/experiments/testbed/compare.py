"""The simulator on the testbed's workload, and the relative error of each metric against the testbed.

Simulations: the policy deciding by itself; the testbed's own decisions replayed (isolates the physics
model from the policy's choices), also under the other host model (``hosts``); the testbed's decisions
with the step table scaled by the speed check (a prediction made before the replay) or by the gateway's
final online corrections (a diagnostic).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from goalit.experiments.testbed.hosts import action_index, load_table, server_levels, sim_max_batch
from goalit.experiments.testbed.options import METRICS, TestbedOptions
from goalit.scenario.model import Scenario
from goalit.serve.replay import Record

PICKED = (
    "arrived",
    "completed",
    "unfinished",
    "sim_time_s",
    "token_throughput_tps",
    "mean_latency_s",
    "p50_latency_s",
    "p95_latency_s",
    "mean_ttft_s",
    "p95_ttft_s",
    "mean_tpot_s",
    "mean_perplexity",
    "mean_queue_delay_s",
)


def pick_metrics(m: dict[str, Any]) -> dict[str, Any]:
    """The simulator's metrics the testbed reports."""
    return {k: m.get(k) for k in PICKED}


def rel_error(sim: float | None, real: float | None) -> float | None:
    """(simulated - measured) / measured; None when either is missing or the measurement is 0."""
    if sim is None or real is None or real == 0 or not math.isfinite(sim) or not math.isfinite(real):
        return None
    return (sim - real) / real


def errors(sim: dict[str, Any], measured: dict[str, Any]) -> dict[str, float | None]:
    """``rel_error`` of every reported metric (``METRICS``)."""
    return {m: rel_error(sim.get(m), measured.get(m)) for m in METRICS}


def testbed_actions(opts: TestbedOptions, records: list[Record]) -> np.ndarray:
    """The simulator's action of every replayed request (0: the testbed could not place it)."""
    index = action_index(opts)
    return np.array([index.get((r.backend, r.level), 0) for r in records], np.int64)


def _simulate(scenario: Scenario, w, opts: TestbedOptions, policy, table):
    from goalit.sim import simulate

    # a named policy decides each request when it arrives, as the gateway routes it (not at the
    # simulator's default decision interval, which would add up to one interval of waiting)
    extra = {"decision_interval_s": 0.0} if isinstance(policy, str) else {}
    return simulate(scenario, policy=policy, workload=w, seed=opts.seed, max_batch=sim_max_batch(opts),
                    step_table=table, first_token_at_prefill=opts.engine == "llama-server", **extra)  # fmt: skip


def simulate_both(scenario: Scenario, w, opts: TestbedOptions, records: list[Record]):
    """The simulator on the testbed's workload: the policy's own decisions, and the testbed's decisions.
    Returns both metric dicts and the per-request simulated latencies of the second."""
    table = load_table(opts)
    own = _simulate(scenario, w, opts, opts.policy, table)
    same = _simulate(scenario, w, opts, ReplayDecisions(testbed_actions(opts, records)), table)
    return own.metrics, same.metrics, np.asarray(same.records["latency_s"], float)


def simulate_same(plan, opts: TestbedOptions, records: list[Record], host: str) -> dict[str, Any]:
    """The testbed's decisions simulated under host model ``host`` (the scenario rebuilt for it)."""
    from goalit.experiments.testbed.plan import testbed_scenario

    o = replace(opts, host_model=host)
    scenario = testbed_scenario(o, plan.catalogue, plan.llm, plan.hardware)
    return _simulate(
        scenario, plan.workload, o, ReplayDecisions(testbed_actions(o, records)), load_table(o)
    ).metrics


def online_corrections(gw_metrics: dict[str, Any], opts: TestbedOptions) -> dict[str, dict[str, float]]:
    """The gateway's final online corrections per level (geometric mean over the backends serving it)."""
    gauges = gw_metrics.get("gauges", {})
    out: dict[str, dict[str, float]] = {"decode": {}, "prefill": {}}
    for phase in out:
        per_backend = {x["backend"]: x["value"] for x in gauges.get(f"goalit_backend_{phase}_correction", [])}
        for lv in opts.levels:
            vals = [per_backend[f"edge-{j + 1}"] for j, lvs in enumerate(server_levels(opts))
                    if lv in lvs and f"edge-{j + 1}" in per_backend]  # fmt: skip
            if vals:
                out[phase][lv] = float(np.exp(np.mean(np.log(vals))))
    return out


def simulate_online(scenario: Scenario, w, opts: TestbedOptions, records: list[Record], corrections):
    """The testbed's decisions simulated with the step table scaled per level by ``corrections``
    (``{"decode": {level: x}, "prefill": {level: x}}``); None without a step table. With the speed
    check's ``table_scale`` this is a prediction made before the replay; with the gateway's online
    corrections learnt *during this run* it is a diagnostic, not a prediction."""
    table = load_table(opts)
    if table is None or not corrections or not corrections.get("decode"):
        return None
    table = table.scaled(corrections["decode"], corrections["prefill"])
    return _simulate(scenario, w, opts, ReplayDecisions(testbed_actions(opts, records)), table).metrics


def _replay_policy_class():
    from goalit.sim.policies import Decision, Policy

    class _Replay(Policy):
        """Dispatch request k to ``actions[k]`` (the testbed's choice) at its arrival."""

        def __init__(self, actions: np.ndarray) -> None:
            super().__init__(name="testbed-decisions", reroute_queued=False)
            self.actions = np.asarray(actions, np.int64)

        def decide(self, view) -> Decision:
            acts = self.actions[view.ids]
            # a request the testbed could not serve (no action) stays pending: never dispatched
            return Decision(actions=np.where(acts >= 1, acts, -1))

    return _Replay


def ReplayDecisions(actions: np.ndarray):  # noqa: N802 - a class factory (the sim is imported lazily)
    """A simulator policy that repeats the testbed's (server, level) choice of every request."""
    return _replay_policy_class()(actions)
