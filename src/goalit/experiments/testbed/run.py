"""``run_testbed``: a testbed run end to end (plan, live run, simulations, errors)."""

from __future__ import annotations

import os
from pathlib import Path

from goalit.experiments.testbed.compare import (
    errors,
    online_corrections,
    pick_metrics,
    simulate_both,
    simulate_online,
    simulate_same,
)
from goalit.experiments.testbed.hosts import host_model as host_model_of
from goalit.experiments.testbed.hosts import server_cpus, server_threads, step_table_path
from goalit.experiments.testbed.live import run_live
from goalit.experiments.testbed.options import HOST_MODELS, TestbedOptions, TestbedResult
from goalit.experiments.testbed.plan import prepare
from goalit.experiments.testbed.records import prediction_error, testbed_metrics


def run_testbed(opts: TestbedOptions, log=None) -> TestbedResult:
    """Run the testbed end to end (see the module docstring); every started process is stopped."""
    say = log or (lambda msg: None)
    plan = prepare(opts, say)
    live = run_live(opts, plan, say)
    w, records, gw = plan.workload, live.records, live.gateway_metrics
    measured = testbed_metrics(records, w)
    routing: dict[str, int] = {}
    for r in records:
        key = f"{r.backend or '-'}/{r.level or '-'}"
        routing[key] = routing.get(key, 0) + 1
    sim_own, sim_same, sim_lat = simulate_both(plan.scenario, w, opts, records)
    corrections = online_corrections(gw, opts)
    sim_online = simulate_online(plan.scenario, w, opts, records, corrections)
    scale = live.speed_check.get("table_scale")
    sim_scaled = simulate_online(plan.scenario, w, opts, records, scale)
    pred_err = prediction_error(records)
    host_model = host_model_of(opts)
    by_host = {host_model: errors(sim_same, measured)}
    if opts.engine == "llama-server":  # the other picture of the same host, same decisions
        for hm in HOST_MODELS:
            if hm != host_model:
                by_host[hm] = errors(simulate_same(plan, opts, records, hm), measured)
    counters = ("goalit_requests_accepted_total", "goalit_requests_completed_total", "goalit_retries_total",
                "goalit_routed_total")  # fmt: skip
    return TestbedResult(
        options={
            k: (str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v)
            for k, v in opts.__dict__.items()
        },  # fmt: skip
        workload={**w.describe(), "prompt_text": str(plan.text_path)},
        testbed=measured,
        simulated=pick_metrics(sim_own),
        simulated_same_decisions=pick_metrics(sim_same),
        simulated_speed_scaled={
            "scale": scale,
            "metrics": pick_metrics(sim_scaled) if sim_scaled else None,
            "error": errors(sim_scaled, measured) if sim_scaled else None,
        },
        simulated_online={
            "corrections": corrections,
            "metrics": pick_metrics(sim_online) if sim_online else None,
            "error": errors(sim_online, measured) if sim_online else None,
        },
        error=errors(sim_own, measured),
        error_same_decisions=by_host[host_model],
        routing=dict(sorted(routing.items())),
        prediction=pred_err,
        step_table=str(step_table_path(opts) or ""),
        speed_check=live.speed_check,
        gateway={k: gw["counters"].get(k) for k in counters}
        | {
            "overhead_s": gw["summaries"].get("goalit_overhead_seconds"),
            "decision_s": gw["summaries"].get("goalit_decision_seconds"),
        },  # fmt: skip
        processes={
            "started": len(live.pids),
            "pids": live.pids,
            "left_running": live.left_running,
            "wall_s": live.wall_s,
            "work_dir": str(live.work_dir),
            "threads_per_server": server_threads(opts),
            "logical_cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
            "background_load": live.background_load,
            "host_model": host_model,
            "cpus_per_server": [list(c) if c else None for c in server_cpus(opts)],
            "machine_note": "K servers and the gateway share this machine's CPUs",
        },
        error_by_host_model=by_host,
        records=[r.row() | {"simulated_latency_s": float(x)} for r, x in zip(records, sim_lat, strict=True)],
    )
