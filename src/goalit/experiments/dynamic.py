"""Dynamic-load experiments on the discrete-event simulator (Model B, docs/model.md B.8): E1-E3 load sweep,
E8 number of servers, E9 latency-quality trade-off, E10 sensitivity.

Every point is one ``goalit.simulate`` run: Poisson arrivals at ``rate_per_s`` over the arrival window
[0, D] (``duration_s``), simulated until every request is done. Its row holds

* latency-type metrics over ALL requests (no request is cut off by the end of the window, so slow
  policies are not flattered by censoring): the simulator's aggregate metrics, unchanged;
* ``steady_throughput_tps``: the primary, window-independent throughput: tokens generated inside
  [w, D], w = 0.1 D, divided by D - w (``goalit.sim.metrics.steady_throughput``; no warm-up, no drain);
* ``window_throughput_tps`` (secondary) = sum of o_k over requests completed by D, divided by D: the token
  throughput observed during the loaded window (what a run with ``horizon_s = D`` reports as
  ``token_throughput_tps``; the simulation is causal, so both are equal),
  ``goodput_tps`` = sum of o_k over requests completed within their deadline tau_k, divided by D (the
  deadline-constrained token throughput that DFTSP, OT-GAH's ancestor, maximises), and
  ``offered_tps`` = sum of o_k over all arrivals / D, the load both are measured against;
* ``window_curve_tps``: the same throughput over the first f D seconds for f in ``WINDOW_FRACTIONS``
  (requests arrived and completed before f D, divided by f D), which shows how Theta depends on the
  window length;
* the share of completed requests served locally and at each edge quantization level;
* the simulator's decision statistics (``DECISION_KEYS``, docs/metrics.md): decisions, players per
  decision (mean, p95, max), slots summed over decisions, converged and cycled shares (E4/E5 dynamic).

The seed roots the simulator's streams: every policy sees the same requests under one seed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from goalit.experiments.plan import Plan
from goalit.experiments.point import Point
from goalit.experiments.variants import variant
from goalit.sim.metric_catalogue import metric_names
from goalit.solvers.contract import traits_of

WINDOW_FRACTIONS = (0.125, 0.25, 0.5, 1.0)  # Theta over the first f*D seconds: how the gap depends on D
LEVELS = ("fp16", "q8_0", "q4_k_m", "q3_k_m", "q2_k")  # docs/model.md C.2 ladder (Llama-3-8B)
METRIC_KEYS = metric_names("records", scalar_only=True)  # the simulator's metric catalogue
DECISION_KEYS = metric_names("decisions")
STAT_KEYS = ("decisions", "slots", "updates", "messages", "nodes_explored")
SIM_COLUMNS = (
    METRIC_KEYS
    + DECISION_KEYS
    + (
        "steady_throughput_tps",
        "window_throughput_tps",
        "goodput_tps",
        "offered_tps",
        "window_curve_tps",
        "share_local",
    )
    + tuple(f"share_level_{q}" for q in LEVELS)
    + tuple(f"policy_{k}" for k in STAT_KEYS)
    + ("sim_wall_s",)
)


def algorithm_of(point: Point) -> str:
    """The simulated policy: ``config["algorithm"]`` if set (fixed-q variants are GOALIT), else the label."""
    return str(point.config.get("algorithm", point.policy))


def sim_row(point: Point) -> dict[str, Any]:
    """Simulate the point and summarise the run (see the module docstring)."""
    from goalit.sim import simulate
    from goalit.sim.metrics import steady_throughput

    cfg = point.config
    opts: dict[str, Any] = {}
    if cfg.get("epoch_s") is not None:
        opts["epoch_s"] = float(cfg["epoch_s"])
    duration = float(cfg["duration_s"])
    if cfg.get("trace"):  # real arrivals (E1-E3 on traces): the transforms of ``trace_points``
        opts.update(workload=str(Path(cfg["trace_dir"]) / TRACES[cfg["trace"]]),
                    max_prompt_tokens=TRACE_MAX_PROMPT, max_output_tokens=TRACE_MAX_OUTPUT)  # fmt: skip
    res = simulate(variant(cfg), algorithm_of(point), seed=int(point.seed), rate=float(cfg["rate_per_s"]),
                   duration_s=duration, **opts)  # fmt: skip
    row: dict[str, Any] = {k: res.metrics.get(k) for k in METRIC_KEYS + DECISION_KEYS}
    rec = res.records
    o = np.asarray(rec["output_tokens"], dtype=float)
    done = np.asarray(rec["status"]) == "completed"
    done_s = np.asarray(rec["done_s"], dtype=float)
    in_window = done & (done_s <= duration)
    row["window_throughput_tps"] = float(o[in_window].sum() / duration)
    row["steady_throughput_tps"] = steady_throughput(rec, duration)
    arr = np.asarray(rec["arrival_s"], dtype=float)
    row["window_curve_tps"] = [
        float(o[done & (arr < f * duration) & (done_s <= f * duration)].sum() / (f * duration))
        for f in WINDOW_FRACTIONS
    ]
    met = np.asarray(rec["met_deadline"], dtype=bool)
    row["goodput_tps"] = float(o[done & met].sum() / duration)
    row["offered_tps"] = float(o.sum() / duration)
    act = np.asarray(rec["action"])
    lev = np.asarray(rec["level"], dtype=object)
    n_done = int(done.sum())
    row["share_local"] = float((done & (act == 0)).sum() / n_done) if n_done else None
    for q in LEVELS:
        row[f"share_level_{q}"] = float((done & (act >= 1) & (lev == q)).sum() / n_done) if n_done else None
    for k in STAT_KEYS:
        row[f"policy_{k}"] = res.policy_stats.get(k)
    row["sim_wall_s"] = float(res.wall_s)
    return row


# --- point lists ----------------------------------------------------------------------------------------
def _policy_points(
    experiment: str,
    plan: Plan,
    base: dict[str, Any],
    policies: tuple[str, ...],
    epochs_s: tuple[float, ...] | None,
) -> list[Point]:
    """One point per (policy, seed). A policy tuned over epochs (``Traits.epoch_grid_s``: OT-GAH and the
    decomposition variants) runs once per epoch length of ``epochs_s`` (None: its own grid) on the
    tuning seeds; its evaluation points, at the chosen epoch, come from ``tuning.evaluation_points``
    once these rows exist. A single epoch (nothing to tune), or ``plan.tuning_seeds == 0``, runs the
    evaluation seeds directly."""
    out = []
    for policy in policies:
        grid = traits_of(policy).epoch_grid_s
        epochs = (grid if epochs_s is None else epochs_s) if grid else (None,)
        tuned = len(epochs) > 1 and plan.tuning_seeds > 0
        seeds = plan.tuning_seed_list if tuned else plan.evaluation_seeds(experiment)
        for e in epochs:
            cfg = dict(base) if e is None else {**base, "epoch_s": e}
            out += [Point(experiment, policy, cfg, s) for s in seeds]
    return out


def _base(plan: Plan, rate: float) -> dict[str, Any]:
    return {"scenario": plan.scenario, "rate_per_s": rate, "duration_s": plan.horizon_s}


def load_points(plan: Plan) -> list[Point]:
    """E1-E3: every policy at every arrival rate."""
    out = []
    for rate in plan.rates_per_s:
        out += _policy_points("load", plan, _base(plan, rate), plan.load_policies, plan.epoch_grid_s)
    return out


def servers_points(plan: Plan) -> list[Point]:
    """E8: M servers at the reference load, GOALIT and OT-GAH."""
    out = []
    for m in plan.server_counts:
        base = {**_base(plan, plan.reference_rate_per_s), "n_servers": m}
        out += _policy_points("servers", plan, base, ("goalit", "ot-gah"), plan.epoch_grid_other_s)
    return out


def tradeoff_points(plan: Plan) -> list[Point]:
    """E9: quality weight scale w_Q/w_T; GOALIT on the level ladder and GOALIT with one fixed level per
    server (whole server). On the default scenario (shared servers since issue 10) the ladder also runs
    on its partitioned ablation (``default-partitioned``, policy ``goalit-partitioned``) for reference."""
    out = []
    for k in plan.quality_scales:
        base = {**_base(plan, plan.reference_rate_per_s), "w_quality_scale": k}
        out += _policy_points("tradeoff", plan, base, ("goalit",), ())
        for q in plan.fixed_levels:
            cfg = {**base, "levels": q, "algorithm": "goalit"}
            out += [Point("tradeoff", f"goalit-fixed-{q}", cfg, s) for s in plan.seed_list]
        if plan.scenario == "default":
            cfg = {**base, "scenario": "default-partitioned", "algorithm": "goalit"}
            out += [Point("tradeoff", "goalit-partitioned", cfg, s) for s in plan.seed_list]
    return out


SENSITIVITY_FACTORS = ("bandwidth_hz", "hardware", "llm")


def sensitivity_points(plan: Plan) -> list[Point]:
    """E10: one factor at a time away from the base scenario (the base itself once), GOALIT and OT-GAH."""
    base = _base(plan, plan.reference_rate_per_s)
    defaults = sensitivity_defaults(plan)
    configs = [base]
    for factor, values in zip(
        SENSITIVITY_FACTORS, (plan.bandwidths_hz, plan.hardware_mixes, plan.llms), strict=True
    ):
        configs += [{**base, factor: v} for v in values if v != defaults[factor]]
    out = []
    for cfg in configs:
        out += _policy_points("sensitivity", plan, cfg, ("goalit", "ot-gah"), plan.epoch_grid_other_s)
    return out


# Real arrivals (/work/shared/data/traces/README.md): trace name -> file name in the traces directory.
TRACES = {
    "azure-code": "AzureLLMInferenceTrace_code.csv",
    "azure-conv": "AzureLLMInferenceTrace_conv.csv",
    "mooncake": "mooncake_conversation_trace.jsonl",
}
# Length clips of the trace runs [R]: the default scenario serves Llama-3-8B (8,192-token context), so a
# request must fit prompt + output <= 8,192; Mooncake prompts reach 126k tokens (median 6,909).
TRACE_MAX_PROMPT = 6144
TRACE_MAX_OUTPUT = 2048
TRACE_POLICIES = ("goalit", "ot-gah", "ot-gah-continuous", "goalit-epochs")


def available_traces(traces_dir: str | None) -> tuple[str, ...]:
    """The traces of ``TRACES`` present in ``traces_dir`` (none without a directory)."""
    if not traces_dir:
        return ()
    return tuple(n for n, f in TRACES.items() if (Path(traces_dir) / f).is_file())


def trace_points(plan: Plan) -> list[Point]:
    """E1-E3 on real arrivals (only with ``plan.traces_dir``): each trace time-scaled so that its mean
    rate over its whole span is each of ``plan.trace_rates_per_s``, then cut to the first
    ``plan.trace_window_s`` seconds; prompts clipped to TRACE_MAX_PROMPT and outputs to TRACE_MAX_OUTPUT
    tokens. The trace fixes arrivals and lengths; the seed draws the users (position, deadline, weights)."""
    out: list[Point] = []
    if plan.traces_dir is None:
        return out
    for name in available_traces(plan.traces_dir):
        for rate in plan.trace_rates_per_s:
            base = {"scenario": plan.scenario, "trace": name, "trace_dir": str(Path(plan.traces_dir).resolve()),
                    "rate_per_s": rate, "duration_s": plan.trace_window_s}  # fmt: skip
            out += _policy_points("traces", plan, base, TRACE_POLICIES, plan.epoch_grid_s)
    return out


def sensitivity_defaults(plan: Plan) -> dict[str, Any]:
    """The base scenario's value of each sensitivity factor."""
    ref = variant(_base(plan, plan.reference_rate_per_s))
    return {"bandwidth_hz": ref.servers[0].ap.bandwidth_hz, "hardware": "mix", "llm": ref.llm.name}
