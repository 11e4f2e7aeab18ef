"""``goalit.simulate``: one dynamic-load run of a scenario under a policy (Model B, docs/model.md B.8)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from goalit.errors import GoalitInputError
from goalit.limits import MAX_GAME_CELLS, MAX_REQUESTS, check_at_most, check_options
from goalit.rng import stream
from goalit.scenario.model import Scenario
from goalit.sim import metrics as M
from goalit.sim.metric_catalogue import SimMetrics
from goalit.sim.policies import Policy, make_policy
from goalit.sim.records import build_records
from goalit.sim.result import SimResult
from goalit.sim.simulator import Simulation, request_game
from goalit.sim.workload import (
    DEFAULT_DURATION_S,
    DEFAULT_RATE_PER_USER,
    Workload,
    load_trace,
    poisson,
    request_users,
)

SIM_OPTIONS = (
    "rate", "duration_s", "horizon_s", "time_scale", "length_scale", "max_prompt_tokens", "max_output_tokens",
    "trace_format", "context_tokens", "kv_context_tokens", "max_batch", "progress", "step_table",
    "first_token_at_prefill",
)  # fmt: skip


def make_workload(
    scenario: Scenario,
    workload: Workload | str | Path | None,
    rng: Any,
    rate: float | None = None,
    duration_s: float | None = None,
    time_scale: float | None = None,
    length_scale: float | None = None,
    max_prompt_tokens: int | None = None,
    max_output_tokens: int | None = None,
    trace_format: str | None = None,
) -> Workload:
    """The workload of a run: Poisson (``workload=None``), a trace file path, or a given Workload.

    Poisson: ``rate`` req/s (default 0.1 per scenario user, docs/model.md C.5) over ``duration_s`` (default 60 s).
    Traces: ``rate`` rescales time to that mean rate, ``time_scale`` multiplies times, ``duration_s``
    keeps the first seconds; lengths may be scaled and clipped. All transforms are recorded.
    """
    if workload is None:
        w = poisson(
            DEFAULT_RATE_PER_USER * scenario.n_users if rate is None else float(rate),
            DEFAULT_DURATION_S if duration_s is None else float(duration_s),
            rng,
        )
        if time_scale is not None:
            raise GoalitInputError("time_scale applies to traces; for Poisson arrivals set rate")
        return w.transformed(length_scale=length_scale, max_prompt_tokens=max_prompt_tokens,
                             max_output_tokens=max_output_tokens)  # fmt: skip
    w = workload.check() if isinstance(workload, Workload) else load_trace(workload, trace_format)
    return w.transformed(
        rate=rate,
        time_scale=time_scale,
        duration_s=duration_s,
        length_scale=length_scale,
        max_prompt_tokens=max_prompt_tokens,
        max_output_tokens=max_output_tokens,
    )


def simulate(
    scenario: Scenario | str | Path,
    policy: str | Policy = "goalit",
    workload: Workload | str | Path | None = None,
    seed: int = 0,
    **options: Any,
) -> SimResult:
    """Simulate ``scenario`` under ``policy`` with ``workload``; same seed, same result (bytes).

    ``scenario``: a Scenario, an embedded name or a TOML path. ``policy``: a name from
    :func:`goalit.sim.policies.policy_names` or a Policy. ``workload``: None (Poisson), a trace path
    (Azure CSV / Mooncake JSONL) or a :class:`~goalit.sim.workload.Workload`.

    Options of the run: ``rate`` (req/s), ``duration_s``, ``horizon_s`` (stop time; default: until every
    request is done), ``time_scale``, ``length_scale``, ``max_prompt_tokens``, ``max_output_tokens``,
    ``trace_format`` ("azure" / "mooncake"), ``context_tokens`` / ``kv_context_tokens`` (nominal l-bar
    and per-sequence KV reservation of the decision game; default: scenario level), ``max_batch``
    (sequences per continuous batch; default: KV memory only), ``step_table`` (a
    :class:`goalit.physics.step_table.StepTable`: measured step and prefill times of the levels it holds
    drive the instances instead of the roofline, and the policy's game through
    :func:`goalit.game.measured.with_step_table`),
    ``first_token_at_prefill`` (continuous batching: a request's first token comes out of its prefill
    step, as in llama.cpp, and o - 1 decode steps follow; default False: docs/model.md B.8, o decode steps),
    ``progress`` (callback(done, total) over
    arrivals). Every other option goes to the policy: ``epoch_s``, ``reroute_queued``, and the
    algorithm's own (GOALIT: ``grant``, ``epsilon``, ``max_slots``).

    Random streams (``goalit.rng``): "workload" draws the arrivals and the users of the requests, so
    every policy sees the same requests under one seed; "algorithm" is the policy's. The radio is
    deterministic (path loss, no fading), so no "radio" draws are made.
    """
    from goalit.api import resolve_scenario

    check_options(options, "simulate")
    progress = options.get("progress")
    if progress is not None and not callable(progress):
        raise GoalitInputError(f"simulate: option progress: must be callable, not {type(progress).__name__}")
    stream(seed, "workload")  # the seed is checked before any work
    sc = scenario if isinstance(scenario, Scenario) else resolve_scenario(scenario)
    sim_opts = {k: options.pop(k) for k in list(options) if k in SIM_OPTIONS}
    pol = policy if isinstance(policy, Policy) else make_policy(str(policy), **options)
    if isinstance(policy, Policy) and options:
        raise GoalitInputError(f"unknown option(s) {', '.join(sorted(options))} for a Policy object")
    pol.stats = {}
    horizon = sim_opts.get("horizon_s")
    if horizon is not None and not horizon > 0:
        raise GoalitInputError(f"horizon_s must be > 0, not {horizon}")
    max_batch = sim_opts.get("max_batch")
    if max_batch is not None and int(max_batch) < 1:
        raise GoalitInputError(f"max_batch must be >= 1, not {max_batch}")

    rng_w = stream(seed, "workload")
    workload_keys = ("rate", "duration_s", "time_scale", "length_scale", "max_prompt_tokens",
                     "max_output_tokens", "trace_format")  # fmt: skip
    w = make_workload(sc, workload, rng_w, **{k: sim_opts.get(k) for k in workload_keys})
    n_actions = 1 + sum(len(s.instances) for s in sc.servers)
    check_at_most(len(w), MAX_REQUESTS, "requests of the workload")
    if len(w) * n_actions > MAX_GAME_CELLS:
        raise GoalitInputError(f"{len(w)} requests x {n_actions} actions exceed the request game's limit of "
                               f"{MAX_GAME_CELLS} cost cells (shorten the trace or the duration)")  # fmt: skip
    users, pick = request_users(sc, w, rng_w)
    game = request_game(sc, users, sim_opts.get("context_tokens"), sim_opts.get("kv_context_tokens"))
    if sim_opts.get("step_table") is not None:  # the policy decides on the model the instances run
        from goalit.game.measured import with_step_table

        game = with_step_table(game, users, sim_opts["step_table"])
    sim = Simulation(
        sc, game, users, w, pol, stream(seed, "algorithm"), horizon_s=horizon,
        max_batch=None if max_batch is None else int(max_batch), progress=sim_opts.get("progress"),
        step_table=sim_opts.get("step_table"),
        first_token_at_prefill=bool(sim_opts.get("first_token_at_prefill", False)),
    ).run()  # fmt: skip
    names = [s.name for s in sc.servers]
    rec = build_records(sim, pick, names)
    wl = w.describe()
    wl["nominal_context_tokens"] = float(game.instances.context_tokens)
    wl["kv_context_tokens"] = float(game.instances.kv_context_tokens)
    return SimResult(
        scenario=sc.name,
        policy=pol.describe(),
        seed=int(seed),
        workload=wl,
        horizon_s=horizon,
        metrics=SimMetrics.from_dict({**M.aggregate(rec, sim.t_end), **sim.decision_metrics()}),
        instances=M.instance_metrics(sim, names),
        records=rec,
        policy_stats=dict(pol.stats),
        events=int(sim.events.popped + len(w)),
        stalled=sim.stalled,
        wall_s=sim.wall_s,
        decide_wall_s=sim.decide_wall_s,
    )
