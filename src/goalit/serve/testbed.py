"""``goalit testbed``: real LLM servers behind the gateway, a replayed trace slice, and the simulator's view.

1. A bounded slice of a real trace (Azure conv by default) is cut, its times rescaled to a target rate
   and its lengths scaled and clipped to the small model's context; every transform is stated.
2. Prompts of the exact token lengths are cut from WikiText-2 with the model's tokenizer.
3. K LLM server processes and a ``goalit serve`` gateway are started on 127.0.0.1. Engine
   ``llama-server`` (default): llama.cpp's server with continuous batching over ``slots`` parallel
   sequences; edge server j serves level ``levels[j % L]`` (one model per process). Engine
   ``llama-cpp-python``: ``llama_cpp.server`` processes, each serving every level, one request at a time.
4. The slice is replayed open-loop through the gateway (streaming; ``min_tokens = max_tokens`` so each
   request generates exactly its trace length); TTFT, latency, tokens/s and the perplexity of the level
   used are recorded per request.
5. Every process is stopped by PID (also on errors, Ctrl-C and SIGTERM).
6. The same workload runs in ``goalit.simulate`` on a scenario built from the same profiles (K servers,
   the same instances, ``max_batch`` = the slots of a llama-server or 1 for llama_cpp.server, loopback
   radio, no local model): once with the policy deciding by itself, once replaying the testbed's own decisions
   (which isolates the physics model from the policy's choices). The error of each metric is reported,
   and per request the simulated latency next to the measured one (same decisions).

The performance model of the gateway and of the simulator is the measured step table of the profile
(``[meta.step_table]``, ``goalit calibrate --step-table``) when it has the levels, else the roofline.
The gateway's own latency predictions (``x-goalit-predicted-latency-s``) are scored against the
measured latencies (median absolute % error).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

import goalit
from goalit.errors import GoalitInputError
from goalit.rng import stream
from goalit.scenario.model import AccessPoint, GameParams, Instance, Radio, Scenario, Server, Users
from goalit.scenario.profiles import HardwareProfile, ProfileCatalogue, builtin_profiles, load_profile_file
from goalit.serve.procs import BackgroundLoad, ProcessGroup, free_port, handle_signals, wait_http, wait_quiet
from goalit.serve.replay import Record, Sent, replay

TRACE_NAME = "AzureLLMInferenceTrace_conv.csv"
PROBE_PROMPT_TOKENS = 128  # speed check: the calibration's prompt length (goalit.calibrate.measure)
PROBE_OUTPUT_TOKENS = 32  # speed check: output tokens (the calibration decodes 32 steps)
CLIENT_DEVICE = "testbed-client"
METRICS = (
    "mean_latency_s",
    "p95_latency_s",
    "mean_ttft_s",
    "mean_tpot_s",
    "token_throughput_tps",
    "mean_perplexity",
)


def shared_path(*parts: str) -> Path | None:
    """``../shared/<parts>`` next to the repository (the development copy of the data), if present."""
    repo = Path(goalit.__file__).resolve().parents[2]
    p = repo.parent.joinpath("shared", *parts)
    return p if p.exists() else None


@dataclass(frozen=True)
class TestbedOptions:
    """Everything a testbed run depends on (defaults: the calibrated profile of this machine)."""

    servers: int = 2
    levels: tuple[str, ...] = ("q8_0", "q4_0")
    engine: str = "llama-server"
    slots: int = 4  # parallel sequences of a llama-server (its largest continuous batch)
    policy: str = "goalit"
    requests: int = 30
    offset: int = 0
    rate: float | None = 0.5  # req/s after rescaling the slice's times (None: keep the trace's times)
    length_scale: float = 0.125
    max_prompt_tokens: int = 256
    max_output_tokens: int = 48
    w_quality: float = 0.05  # the quality-sensitive half of the requests; the other half has 0
    deadline_s: float = 60.0
    threads: int | None = None  # llama.cpp threads per server (None: logical CPUs // servers, at least 1)
    n_ctx: int = 1024
    swap_s: float | None = None  # level-switch time given to the gateway (None: measured by the speed check)
    seed: int = 0
    trace: Path | None = None
    text: Path | None = None
    profile: Path | None = None
    llm: str | None = None
    hardware: str | None = None
    request_timeout_s: float = 300.0
    quiet: float = (
        0.25  # wait until other processes use <= this share of the CPUs before measuring (1: never)
    )
    quiet_timeout_s: float = 60.0
    work_dir: Path | None = None
    step_table: Path | None = None  # profile file with [meta.step_table] (None: the calibrated profile's)
    use_step_table: bool = True  # False: the roofline everywhere
    # how the simulator and the gateway see the K server processes on this one machine: "shared" (one
    # shared server hosting one variant per process, docs/model.md) or "partitioned" (K servers of their
    # own, share 1 each: the pre-issue-14 picture). None: see ``host_model``.
    host_model: str | None = None

    __test__ = False  # not a pytest class


@dataclass
class TestbedResult:
    """Measured records and metrics, the simulated metrics and the relative error of each."""

    options: dict[str, Any]
    workload: dict[str, Any]
    testbed: dict[str, Any]
    simulated: dict[str, Any]
    simulated_same_decisions: dict[str, Any]
    simulated_speed_scaled: dict[str, Any]  # same decisions, step table x the speed check's ratios
    simulated_online: dict[str, Any]  # same decisions, step table x the gateway's final online corrections
    error: dict[str, Any]
    error_same_decisions: dict[str, Any]
    routing: dict[str, int]
    prediction: dict[str, Any]
    step_table: str
    speed_check: dict[str, Any]
    gateway: dict[str, Any]
    processes: dict[str, Any]
    records: list[dict[str, Any]] = field(repr=False, default_factory=list)

    __test__ = False

    def summary(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "records"}
        return d


# ------------------------------------------------------------------------------------------- setup


def resolve_profiles(opts: TestbedOptions) -> tuple[ProfileCatalogue, str, str]:
    """The profile catalogue and the (llm, hardware) names of the run."""
    from goalit.calibrate.profile import DEFAULT_HARDWARE_NAME, DEFAULT_LLM_NAME

    cat = builtin_profiles()
    if opts.profile is not None:
        cat = cat.merged(load_profile_file(opts.profile))
    llm = opts.llm or DEFAULT_LLM_NAME
    hw = opts.hardware or DEFAULT_HARDWARE_NAME
    if llm not in cat.llm:
        raise GoalitInputError(
            f"--llm: unknown LLM profile {llm!r} (known: {', '.join(sorted(cat.llm))}; "
            "run goalit calibrate or pass --profile)"
        )
    if hw not in cat.hardware:
        raise GoalitInputError(
            f"--hardware: unknown hardware profile {hw!r} (known: {', '.join(sorted(cat.hardware))})"
        )
    missing = [lv for lv in opts.levels if lv not in cat.llm[llm].levels]
    if missing:
        raise GoalitInputError(
            f"--levels: {missing[0]!r} is not a level of LLM profile {llm!r} "
            f"(levels: {', '.join(cat.llm[llm].levels)})"
        )
    return cat, llm, hw


def server_threads(opts: TestbedOptions) -> int:
    """llama.cpp threads per server: as asked, else the logical CPUs shared out (at least 1).

    Oversubscribing the cores is ruinous for llama.cpp, whose threads spin at barriers between layers:
    on this shared 2-vCPU machine, 2 servers x 2 threads decoded at 1.23 s/token against 0.071 s/token
    with 1 thread each, in back-to-back 12-request runs under the same background load.
    """
    return opts.threads or max(1, (os.cpu_count() or 1) // opts.servers)


def step_table_path(opts: TestbedOptions) -> Path | None:
    """The profile file whose [meta.step_table] the gateway and the simulator use, if any (by default the
    committed calibrated profile's, for the llama-server engine it was measured on)."""
    from importlib.resources import files

    if not opts.use_step_table:
        return None
    if opts.step_table is not None:
        return Path(opts.step_table)
    if opts.engine != "llama-server":  # the committed table was measured on llama-server
        return None
    p = Path(str(files("goalit") / "data" / "profiles" / "calibrated.toml"))
    from goalit.physics.step_table import StepTable

    try:
        StepTable.load(p)
    except GoalitInputError:
        return None
    return p


def server_levels(opts: TestbedOptions) -> list[tuple[str, ...]]:
    """The levels each edge server serves: all of them (llama_cpp.server), or ``levels[j % L]``
    (llama-server: one model per process)."""
    if opts.engine == "llama-server":
        return [(opts.levels[j % len(opts.levels)],) for j in range(opts.servers)]
    return [tuple(opts.levels)] * opts.servers


HOST_MODELS = ("shared", "partitioned")
HOST_NAME = "testbed-host"


def host_model(opts: TestbedOptions) -> str:
    """The host model in effect (see ``TestbedOptions.host_model``).

    By default ``shared`` when llama-server processes share cores (threads per server x servers > the
    logical CPUs: they time-multiplex them, the shared engine's sum of steps), else ``partitioned``: with
    one thread per process on distinct cores the processes decode in parallel, each on the 1-thread
    machine the step table was measured on (measured 2026-11-30, docs/serve.md: on 2 processes x 1 thread
    the shared model over-predicted mean latency by +284 % at 2 req/s, the partitioned one by +24 %).
    llama_cpp.server (serial) is always partitioned."""
    if opts.host_model is not None:
        return opts.host_model
    if opts.engine != "llama-server":
        return "partitioned"
    return "shared" if server_threads(opts) * opts.servers > (os.cpu_count() or 1) else "partitioned"


def sim_max_batch(opts: TestbedOptions) -> int:
    """The simulator's batch cap per engine: a llama-server's slots (times the processes when they form
    one shared server: the simulator caps the host's total, not each process's), 1 for llama_cpp.server."""
    if opts.engine != "llama-server":
        return 1
    return opts.slots * (opts.servers if host_model(opts) == "shared" else 1)


def action_index(opts: TestbedOptions) -> dict[tuple[str, str], int]:
    """The simulator's action of every (backend name, level) of the testbed (1..R, in server order).

    Shared and partitioned scenarios list the instances in the same order (process j, its levels), so
    the indices agree."""
    pairs = [(f"edge-{j + 1}", lv) for j, lvs in enumerate(server_levels(opts)) for lv in lvs]
    return {p: 1 + k for k, p in enumerate(pairs)}


def check_options(opts: TestbedOptions) -> None:
    """One-line errors for impossible options."""
    from goalit.serve.llama_server import ENGINES

    if opts.servers < 1:
        raise GoalitInputError(f"--servers must be >= 1, not {opts.servers}")
    if not opts.levels or len(set(opts.levels)) != len(opts.levels):
        raise GoalitInputError("--levels must name distinct levels")
    if opts.engine not in ENGINES:
        raise GoalitInputError(f"--engine must be one of {', '.join(ENGINES)}, not {opts.engine!r}")
    if opts.engine == "llama-server" and opts.servers < len(opts.levels):
        raise GoalitInputError(
            f"--servers {opts.servers} < {len(opts.levels)} levels: a llama-server serves one level, "
            "so every level needs a server"
        )
    if opts.slots < 1:
        raise GoalitInputError(f"--slots must be >= 1, not {opts.slots}")
    if opts.host_model is not None and opts.host_model not in HOST_MODELS:
        raise GoalitInputError(
            f"--host-model must be one of {', '.join(HOST_MODELS)}, not {opts.host_model!r}"
        )
    if opts.host_model == "shared" and opts.engine != "llama-server":
        raise GoalitInputError(
            "--host-model shared needs --engine llama-server (llama_cpp.server is serial, and the gateway "
            "prices shared hosts for continuous batching only)"
        )
    if opts.requests < 1:
        raise GoalitInputError(f"--requests must be >= 1, not {opts.requests}")
    if opts.max_prompt_tokens + opts.max_output_tokens > opts.n_ctx - 8:
        raise GoalitInputError(
            f"--max-prompt-tokens + --max-output-tokens must fit in --n-ctx {opts.n_ctx} "
            "minus 8 tokens of chat/BOS margin"
        )


def trace_slice(opts: TestbedOptions):
    """The replayed workload: a bounded slice of the trace with every transform stated."""
    from goalit.sim.workload import Workload, load_trace

    path = opts.trace or shared_path("data", "traces", TRACE_NAME)
    if path is None:
        raise GoalitInputError(
            f"no trace given and ../shared/data/traces/{TRACE_NAME} not found (use --trace)"
        )
    w = load_trace(path)
    a, b = opts.offset, opts.offset + opts.requests
    if a >= len(w):
        raise GoalitInputError(f"--offset {a} is beyond the {len(w)} requests of {path}")
    b = min(b, len(w))
    t = w.arrival_s[a:b] - w.arrival_s[a]
    notes = (
        *w.transforms,
        f"requests {a}..{b - 1} of {len(w)} kept (a bounded slice), shifted to start at 0 s",
    )
    w = Workload(t, w.prompt_tokens[a:b], w.output_tokens[a:b], w.source, notes)
    return w.transformed(
        rate=opts.rate if (opts.rate and len(w) > 1 and w.span_s > 0) else None,
        length_scale=opts.length_scale,
        max_prompt_tokens=opts.max_prompt_tokens,
        max_output_tokens=opts.max_output_tokens,
    )


def testbed_scenario(opts: TestbedOptions, cat: ProfileCatalogue, llm: str, hw: str) -> Scenario:
    """The simulator's picture of the testbed.

    Host model ``shared`` (the default for llama-server): the K processes run on this one machine, so the
    scenario has ONE shared server (docs/model.md) hosting one variant per process (a level served by
    two processes is hosted twice: two copies of its weights); its engine iterates over the active
    processes' batches. Host model ``partitioned``: K servers on one spot, one instance per level owning
    the whole machine (share 1: a serial server runs one level at a time at full speed). Both use the
    measured hardware profile, a loopback radio (no
    access overhead, 1000 sub-channels); clients that cannot run the model locally; two user classes,
    latency-only and quality-sensitive (``w_quality``), drawn per request by the simulator's workload
    stream (the testbed uses the same draw).
    """
    client = HardwareProfile(
        name=CLIENT_DEVICE,
        memory_bytes=1.0,
        mem_bw_bytes_per_s=1.0,
        flops_fp16=1.0,
        eta_c=1.0,
        step_overhead_s=0.0,
        power_w=0.0,
        eta_m={"default": 1.0},
        description="loopback client: no local model (memory too small)",
    )
    ap = AccessPoint(bandwidth_hz=1e9, subchannel_hz=1e6)
    if host_model(opts) == "shared":
        hosted = tuple(Instance(lv, 1.0) for lvs in server_levels(opts) for lv in lvs)
        servers: tuple[Server, ...] = (Server(HOST_NAME, (0.0, 0.0), hw, ap, hosted, sharing="shared"),)
    else:
        servers = tuple(
            Server(f"edge-{j + 1}", (0.0, 0.0), hw, ap, tuple(Instance(lv, 1.0) for lv in lvs))
            for j, lvs in enumerate(server_levels(opts))
        )
    classes = [0.0, opts.w_quality] if opts.w_quality > 0 else [0.0]
    n = len(classes)
    users = Users(
        x_m=np.zeros(n),
        y_m=np.zeros(n),
        device=np.full(n, CLIENT_DEVICE, dtype=object),
        prompt_tokens=np.full(n, 64, np.int64),
        output_tokens=np.full(n, 16, np.int64),
        deadline_s=np.full(n, opts.deadline_s),
        w_latency=np.ones(n),
        w_quality=np.array(classes),
        w_energy=np.zeros(n),
        max_perplexity=np.full(n, 1e9),
        tx_power_w=np.full(n, 0.2),
    )
    return Scenario(
        name="testbed",
        llm=cat.llm[llm],
        local_level=opts.levels[0],
        hardware={hw: cat.hardware[hw], CLIENT_DEVICE: client},
        servers=servers,
        users=users,
        radio=Radio(access_overhead_s=0.0),
        game=GameParams(),
        description=f"goalit testbed: {opts.servers} {opts.engine} x levels {', '.join(opts.levels)} "
        f"({host_model(opts)} host model)",
    )


def gateway_config_text(
    opts: TestbedOptions, llm: str, hw: str, urls: list[str], aliases: dict[str, str]
) -> str:
    """The gateway's TOML configuration for the started servers."""
    lines = [f'llm = "{llm}"', 'model = "smollm2"']
    if opts.profile is not None:
        lines.append(f"profiles = [{json.dumps(str(Path(opts.profile).resolve()))}]")
    table = step_table_path(opts)
    if table is not None:
        lines.append(f"step_table = {json.dumps(str(table.resolve()))}")
    lines += [
        "",
        "[gateway]",
        f'policy = "{opts.policy}"',
        f"seed = {opts.seed}",
        f"max_queue = {opts.requests}",
        f"request_timeout_s = {opts.request_timeout_s!r}",
        "probe_interval_s = 0.5",
        f"max_tokens_limit = {opts.n_ctx}",
        "",
        "[defaults]",
        f"deadline_s = {opts.deadline_s!r}",
    ]
    for j, (url, lvs) in enumerate(zip(urls, server_levels(opts), strict=True)):
        levels = ", ".join(f'{lv} = "{aliases[lv]}"' for lv in lvs)
        lines += [
            "",
            "[[backends]]",
            f'name = "edge-{j + 1}"',
            f'url = "{url}"',
            f'hardware = "{hw}"',
            f"levels = {{ {levels} }}",
            f'engine = "{opts.engine}"',
        ]
        if opts.engine == "llama-server":
            lines.append(f"concurrency = {opts.slots}")
            if host_model(opts) == "shared":
                lines.append(f'host = "{HOST_NAME}"')
        else:
            lines.append(f"swap_s = {opts.swap_s!r}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------- run


@dataclass
class Plan:
    """Everything decided before any process starts: profiles, workload, prompts, the simulator's scenario."""

    catalogue: ProfileCatalogue
    llm: str
    hardware: str
    workload: Any  # goalit.sim.workload.Workload
    scenario: Scenario
    users: Users
    requests: list[Sent]
    probe_text: str
    probe_tokens: int
    text_path: Path


@dataclass
class Live:
    """What the live part measured: per-request records, the speed check, the gateway's metrics."""

    records: list[Record]
    speed_check: dict[str, Any]
    gateway_metrics: dict[str, Any]
    pids: list[int]
    left_running: list[int]
    wall_s: float
    work_dir: Path
    background_load: dict[str, Any]


def prepare(opts: TestbedOptions, say=lambda msg: None) -> Plan:
    """Check the options, cut the trace slice, draw the user classes and build exact-length prompts."""
    from goalit.calibrate.model import base_gguf
    from goalit.serve.prompts import build_prompts
    from goalit.sim.workload import request_users

    check_options(opts)
    cat, llm_name, hw_name = resolve_profiles(opts)
    w = trace_slice(opts)
    scenario = testbed_scenario(opts, cat, llm_name, hw_name)
    users, _ = request_users(scenario, w, stream(opts.seed, "workload"))  # the simulator's own draw
    text = opts.text or shared_path("data", "text", "wikitext-2-raw-test.txt")
    if text is None:
        raise GoalitInputError(
            "no prompt text given and ../shared/data/text/wikitext-2-raw-test.txt not found (--text)"
        )
    say(f"workload: {len(w)} requests over {w.span_s:.1f} s; " + "; ".join(w.transforms))
    lengths = np.append(w.prompt_tokens, PROBE_PROMPT_TOKENS)
    texts, actual = build_prompts(base_gguf(), Path(text), lengths, stream(opts.seed, "prompts"))
    probe_text, probe_tokens = texts.pop(), int(actual[-1])
    actual = actual[:-1]
    if (actual != w.prompt_tokens).any():
        off = np.abs(actual - w.prompt_tokens)
        note = (f"prompt lengths as tokenized from the text ({int((off > 0).sum())} differ from the target "
                f"by <= {int(off.max())} tokens)")  # fmt: skip
        w = replace(w, prompt_tokens=actual, transforms=(*w.transforms, note))
        users = replace(users, prompt_tokens=actual)
    requests = [
        Sent(float(w.arrival_s[k]), {
            "model": "smollm2", "prompt": texts[k], "max_tokens": int(w.output_tokens[k]),
            "min_tokens": int(w.output_tokens[k]), "ignore_eos": True, "temperature": 0.0,
            "goalit": {"w_latency": float(users.w_latency[k]), "w_quality": float(users.w_quality[k]),
                       "w_energy": float(users.w_energy[k]), "deadline_s": float(users.deadline_s[k])},
        })
        for k in range(len(w))
    ]  # fmt: skip
    return Plan(cat, llm_name, hw_name, w, scenario, users, requests, probe_text, probe_tokens, Path(text))


def run_live(opts: TestbedOptions, plan: Plan, say=lambda msg: None) -> Live:
    """Start the servers and the gateway, replay, and stop every process (also on errors and Ctrl-C)."""
    import tempfile

    import httpx

    from goalit.calibrate.ladder import ensure_ladder
    from goalit.serve.llama_server import LlamaServerSpec, start_llama_servers
    from goalit.serve.procs import pid_running

    paths = ensure_ladder(list(opts.levels), on_generate=lambda lv: say(f"generating level {lv} ..."))
    aliases = {lv: f"smollm2-135m-{lv}" for lv in opts.levels}
    work = Path(opts.work_dir) if opts.work_dir else Path(tempfile.mkdtemp(prefix="goalit-testbed-"))
    specs = [LlamaServerSpec(f"edge-{j + 1}", {aliases[lv]: paths[lv] for lv in lvs}, n_ctx=opts.n_ctx,
                             n_threads=server_threads(opts), engine=opts.engine, slots=opts.slots)
             for j, lvs in enumerate(server_levels(opts))]  # fmt: skip
    t0 = time.perf_counter()
    pids: list[int] = []
    n = len(plan.requests)
    with handle_signals(), ProcessGroup(log_dir=work / "logs") as group:
        try:
            say(f"starting {opts.servers} {opts.engine} processes ...")
            urls = [u for _, u in start_llama_servers(group, specs, work)]
            _warm_up(urls, aliases, server_levels(opts))
            ours = [os.getpid(), *group.pids()]
            if opts.quiet < 1:
                say(
                    f"waiting (<= {opts.quiet_timeout_s:g} s) for other processes to use <= {opts.quiet:.0%} "
                    "of the CPUs"
                )
                quiet_before = wait_quiet(ours, opts.quiet, opts.quiet_timeout_s)
            else:
                quiet_before = float("nan")
            say("speed check: one request per server and level on idle servers ...")
            cat = plan.catalogue
            llm, hw = cat.llm[plan.llm], cat.hardware[plan.hardware]
            check = speed_check(
                urls, aliases, server_levels(opts), plan.probe_text, plan.probe_tokens, llm, hw,
                table=_load_table(opts),
            )  # fmt: skip
            cfg = work / "gateway.toml"
            swap = check["swap_s"] if opts.swap_s is None else opts.swap_s
            gw_text = gateway_config_text(replace(opts, swap_s=swap), plan.llm, plan.hardware, urls, aliases)
            cfg.write_text(gw_text, encoding="utf-8")
            port = free_port()
            argv = [sys.executable, "-m", "goalit", "serve", "--config", str(cfg), "--port", str(port)]
            gw = group.start(
                "gateway", argv, env={"PYTHONPATH": str(Path(goalit.__file__).resolve().parents[1])}
            )
            base = f"http://127.0.0.1:{port}"
            wait_http(f"{base}/health", gw, timeout_s=60)
            say(f"gateway up at {base} (policy {opts.policy}); replaying {n} requests ...")
            done: list[Record] = []

            def progress(r: Record) -> None:
                done.append(r)
                say(_progress(r, len(done), n))

            meter = BackgroundLoad([os.getpid(), *group.pids()]).start()
            records = asyncio.run(replay(base, plan.requests, opts.request_timeout_s, on_done=progress))
            background = meter.stop()
            gw_metrics = httpx.get(f"{base}/metrics?format=json", timeout=10).json()
        finally:
            pids = group.pids()
    left = [p for p in pids if pid_running(p)]
    say(f"stopped {len(pids)} processes ({len(left)} left); simulating ...")
    load = {"other_share_before": quiet_before, "other_share_during_replay": background,
            "logical_cpus": os.cpu_count()}  # fmt: skip
    return Live(records, check, gw_metrics, pids, left, time.perf_counter() - t0, work, load)


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
    counters = ("goalit_requests_accepted_total", "goalit_requests_completed_total", "goalit_retries_total",
                "goalit_routed_total")  # fmt: skip
    return TestbedResult(
        options={
            k: (str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v)
            for k, v in opts.__dict__.items()
        },  # fmt: skip
        workload={**w.describe(), "prompt_text": str(plan.text_path)},
        testbed=measured,
        simulated=_pick_metrics(sim_own),
        simulated_same_decisions=_pick_metrics(sim_same),
        simulated_speed_scaled={
            "scale": scale,
            "metrics": _pick_metrics(sim_scaled) if sim_scaled else None,
            "error": {m: rel_error(sim_scaled.get(m), measured.get(m)) for m in METRICS}
            if sim_scaled
            else None,
        },
        simulated_online={
            "corrections": corrections,
            "metrics": _pick_metrics(sim_online) if sim_online else None,
            "error": {m: rel_error(sim_online.get(m), measured.get(m)) for m in METRICS}
            if sim_online
            else None,
        },
        error={m: rel_error(sim_own.get(m), measured.get(m)) for m in METRICS},
        error_same_decisions={m: rel_error(sim_same.get(m), measured.get(m)) for m in METRICS},
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
            "host_model": host_model(opts),
            "machine_note": "K servers and the gateway share this machine's CPUs",
        },
        records=[r.row() | {"simulated_latency_s": float(x)} for r, x in zip(records, sim_lat, strict=True)],
    )


def _progress(r: Record, done: int, total: int) -> str:
    lat = r.done_s - r.scheduled_s
    return f"  [{done}/{total}] request {r.index}: {r.outcome} via {r.backend}/{r.level} in {lat:.2f} s"


def _warm_up(urls: list[str], aliases: dict[str, str], levels: list[tuple[str, ...]]) -> None:
    """One 2-token request per server and level (page the weights in), directly to the servers."""
    import httpx

    for url, lvs in zip(urls, levels, strict=True):
        for lv in lvs:
            httpx.post(
                f"{url}/v1/completions",
                json={"model": aliases[lv], "prompt": "Hello", "max_tokens": 2},
                timeout=120,
            ).raise_for_status()


def speed_check(
    urls: list[str],
    aliases: dict[str, str],
    levels: list[tuple[str, ...]],
    prompt: str,
    prompt_tokens: int,
    llm,
    hw,
    table=None,
    repeats: int = 2,
) -> dict[str, Any]:
    """Each server and level alone, now: measured TTFT and TPOT against the profile's prediction.

    With a step table (``table``), also against the table's: TTFT = prefill(s) (llama.cpp samples the
    first token from the prefill), TPOT = step(1, s + o/2); their ratios, per level, are the speed of
    the machine *now* relative to when the table was measured (``table_scale``), which the testbed uses
    for one more simulation (a prediction made before the replay, from the table and this check only).
    Each measurement is the median of ``repeats`` requests.

    Prediction (docs/model.md B.5, share 1): TTFT = T_pre(s) + d(1, s); TPOT = d(1, s + o/2). The ratio
    measured / predicted tells how far this machine, at this moment, is from its calibrated profile
    (other work on a shared machine slows it down); it is reported, never used to correct anything.
    Also the level-switch time of a serial server: median latency of 1-token requests alternating two
    levels minus that of 1-token requests staying on one (``swap_s``); the gateway is configured with it.
    """
    from goalit.physics.roofline import Roofline

    o = PROBE_OUTPUT_TOKENS
    out: dict[str, Any] = {"prompt_tokens": prompt_tokens, "output_tokens": o, "runs": [], "switch_runs": []}
    for j, (url, lvs) in enumerate(zip(urls, levels, strict=True)):
        for lv in lvs:
            lvp = llm.levels[lv]
            roof = Roofline.single(
                llm.params,
                llm.kv_bytes_per_token,
                lvp.weight_bytes,
                hw.flops_fp16,
                hw.mem_bw_bytes_per_s,
                hw.eta_c,
                hw.eta_m_for(lv),
                hw.step_overhead_s,
            )
            pre = float(roof.prefill_s(prompt_tokens))

            def step(ctx: float, roof=roof) -> float:
                return float(roof.decode_step_s(1, ctx))

            _one_token(url, aliases[lv])  # load this level first: the measured request pays no switch
            body = {
                "model": aliases[lv],
                "prompt": prompt,
                "max_tokens": o,
                "min_tokens": o,
                "ignore_eos": True,
                "temperature": 0.0,
            }
            recs = [asyncio.run(replay(url, [Sent(0.0, body)], timeout_s=120))[0] for _ in range(repeats)]
            ttft = float(np.median([r.ttft_s for r in recs]))
            tpot = float(np.median([(r.done_s - r.first_token_s) / max(1, r.tokens - 1) for r in recs]))
            pred_ttft, pred_tpot = pre + step(prompt_tokens), step(prompt_tokens + o / 2)
            run = {
                "server": f"edge-{j + 1}", "level": lv, "ttft_s": ttft, "predicted_ttft_s": pred_ttft,
                "tpot_s": tpot, "predicted_tpot_s": pred_tpot, "ttft_ratio": ttft / pred_ttft,
                "tpot_ratio": tpot / pred_tpot,
            }  # fmt: skip
            if table is not None and lv in table.levels:
                run["table_ttft_ratio"] = ttft / float(table.prefill_time(lv, prompt_tokens))
                run["table_tpot_ratio"] = tpot / float(table.step_time(lv, 1, prompt_tokens + o / 2))
            out["runs"].append(run)
        if len(lvs) >= 2:  # level switch: 1-token requests alternating levels vs staying on one
            same = [_one_token(url, aliases[lvs[-1]]) for _ in range(3)]
            switch = [_one_token(url, aliases[lvs[k % 2]]) for k in range(4)]
            out["switch_runs"].append(
                {"server": f"edge-{j + 1}", "same_level_s": same, "switching_s": switch}
            )
    out["mean_tpot_ratio"] = float(np.mean([r["tpot_ratio"] for r in out["runs"]]))
    out["mean_ttft_ratio"] = float(np.mean([r["ttft_ratio"] for r in out["runs"]]))
    scale: dict[str, dict[str, float]] = {"decode": {}, "prefill": {}}
    for lv in sorted({r["level"] for r in out["runs"] if "table_tpot_ratio" in r}):
        rs = [r for r in out["runs"] if r["level"] == lv and "table_tpot_ratio" in r]
        scale["decode"][lv] = float(np.median([r["table_tpot_ratio"] for r in rs]))
        scale["prefill"][lv] = float(np.median([r["table_ttft_ratio"] for r in rs]))
    out["table_scale"] = scale
    diffs = [float(np.median(r["switching_s"]) - np.median(r["same_level_s"])) for r in out["switch_runs"]]
    out["swap_s"] = max(0.0, float(np.median(diffs))) if diffs else 0.0
    return out


def _one_token(url: str, alias: str) -> float:
    """Latency of a 1-token completion of ``alias`` (s)."""
    import httpx

    t0 = time.perf_counter()
    body = {"model": alias, "prompt": "Hello", "max_tokens": 1, "temperature": 0.0}
    httpx.post(f"{url}/v1/completions", json=body, timeout=120).raise_for_status()
    return time.perf_counter() - t0


def testbed_metrics(records: list[Record], w) -> dict[str, Any]:
    """The simulator's aggregate formulas (docs/metrics.md) applied to the measured records.

    Times count from each request's scheduled arrival (the trace time), like the simulator's.
    """
    ok = np.array([r.outcome == "ok" for r in records])
    o = np.asarray(w.output_tokens, float)
    arr = np.asarray(w.arrival_s, float)
    done = np.array([r.done_s for r in records])
    first = np.array([r.first_token_s for r in records])
    tokens = np.array([r.tokens for r in records], float)
    ppl = np.array([r.perplexity for r in records])
    lat = (done - arr)[ok]
    ttft = (first - arr)[ok]
    with np.errstate(invalid="ignore", divide="ignore"):
        tpot = np.where(tokens > 1, (done - first) / (tokens - 1), np.nan)[ok]
    tpot = tpot[np.isfinite(tpot)]
    t_end = float(np.nanmax(done)) if len(done) else 0.0
    od = o[ok]

    def mean(x):
        return float(x.mean()) if x.size else None

    def pct(x, q):
        return float(np.percentile(x, q)) if x.size else None

    return {
        "arrived": len(records),
        "completed": int(ok.sum()),
        "failed": int((~ok).sum()),
        "outcomes": {k: sum(r.outcome == k for r in records) for k in sorted({r.outcome for r in records})},
        "tokens_mismatch": int((tokens[ok] != od).sum()),
        "sim_time_s": t_end,
        "token_throughput_tps": float(od.sum() / t_end) if t_end > 0 else None,
        "mean_latency_s": mean(lat),
        "p50_latency_s": pct(lat, 50),
        "p95_latency_s": pct(lat, 95),
        "mean_ttft_s": mean(ttft),
        "p95_ttft_s": pct(ttft, 95),
        "mean_tpot_s": mean(tpot),
        "mean_tokens_per_s": float(np.mean(1.0 / tpot)) if tpot.size else None,
        "mean_perplexity": float((od * ppl[ok]).sum() / od.sum()) if od.sum() > 0 else None,
        "rerouted": sum(r.retries > 0 for r in records),
        "level_switches": level_switches(records),
    }


def level_switches(records: list[Record]) -> int:
    """Level changes on the serial servers, in each server's service order (by first token): each costs a
    model reload that the simulator does not model."""
    by_server: dict[str, list[Record]] = {}
    for r in records:
        if r.backend and np.isfinite(r.first_token_s):
            by_server.setdefault(r.backend, []).append(r)
    n = 0
    for rs in by_server.values():
        levels = [r.level for r in sorted(rs, key=lambda r: r.first_token_s)]
        n += sum(a != b for a, b in zip(levels, levels[1:], strict=False))
    return n


def _pick_metrics(m: dict[str, Any]) -> dict[str, Any]:
    keys = (
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
    return {k: m.get(k) for k in keys}


def rel_error(sim: float | None, real: float | None) -> float | None:
    """(simulated - measured) / measured; None when either is missing or the measurement is 0."""
    if sim is None or real is None or real == 0 or not math.isfinite(sim) or not math.isfinite(real):
        return None
    return (sim - real) / real


def simulate_both(scenario: Scenario, w, opts: TestbedOptions, records: list[Record]):
    """The simulator on the testbed's workload: the policy's own decisions, and the testbed's decisions."""
    from goalit.physics.step_table import StepTable
    from goalit.sim import simulate

    max_batch = sim_max_batch(opts)
    path = step_table_path(opts)
    table = StepTable.load(path) if path is not None else None
    own = simulate(scenario, policy=opts.policy, workload=w, seed=opts.seed, max_batch=max_batch,
                   step_table=table, first_token_at_prefill=opts.engine == "llama-server")  # fmt: skip
    index = action_index(opts)
    actions = np.array([index.get((r.backend, r.level), 0) for r in records], np.int64)
    same = simulate(scenario, policy=ReplayDecisions(actions), workload=w, seed=opts.seed, max_batch=max_batch,
                    step_table=table, first_token_at_prefill=opts.engine == "llama-server")  # fmt: skip
    return own.metrics, same.metrics, np.asarray(same.records["latency_s"], float)


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


def _load_table(opts: TestbedOptions):
    from goalit.physics.step_table import StepTable

    path = step_table_path(opts)
    return StepTable.load(path) if path is not None else None


def simulate_online(scenario: Scenario, w, opts: TestbedOptions, records: list[Record], corrections):
    """The testbed's decisions simulated with the step table scaled per level by ``corrections``
    (``{"decode": {level: x}, "prefill": {level: x}}``); None without a step table. With the speed
    check's ``table_scale`` this is a prediction made before the replay; with the gateway's online
    corrections learnt *during this run* it is a diagnostic, not a prediction."""
    from goalit.sim import simulate

    table = _load_table(opts)
    if table is None or not corrections or not corrections.get("decode"):
        return None
    table = table.scaled(corrections["decode"], corrections["prefill"])
    index = action_index(opts)
    actions = np.array([index.get((r.backend, r.level), 0) for r in records], np.int64)
    max_batch = sim_max_batch(opts)
    res = simulate(scenario, policy=ReplayDecisions(actions), workload=w, seed=opts.seed, max_batch=max_batch,
                   step_table=table, first_token_at_prefill=opts.engine == "llama-server")  # fmt: skip
    return res.metrics


def prediction_error(records: list[Record]) -> dict[str, Any]:
    """Error of the gateway's own ``x-goalit-predicted-latency-s`` against the measured latency (from
    sending to the last token) of every completed request: median and mean absolute %, and the median
    signed % (predicted - measured) / measured."""
    pairs = [(r.predicted_latency_s, r.latency_s) for r in records
             if r.outcome == "ok" and np.isfinite(r.predicted_latency_s) and r.latency_s > 0]  # fmt: skip
    if not pairs:
        return {"requests": 0, "median_abs_pct": None, "mean_abs_pct": None, "median_signed_pct": None}
    p, m = np.array(pairs).T
    e = (p - m) / m * 100
    return {"requests": len(pairs), "median_abs_pct": float(np.median(np.abs(e))),
            "mean_abs_pct": float(np.mean(np.abs(e))), "median_signed_pct": float(np.median(e))}  # fmt: skip


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


def format_report(res: TestbedResult) -> str:
    """The human-readable summary printed by ``goalit testbed``."""
    from goalit.cli._common import table

    lines = [
        f"goalit testbed: {res.options['servers']} {res.options['engine']} processes, levels "
        f"{', '.join(res.options['levels'])}, policy {res.options['policy']}, seed {res.options['seed']}, "
        f"host model {res.processes.get('host_model', '?')}",
        f"workload: {res.workload['requests']} requests of {res.workload['source']} over "
        f"{res.workload['span_s']:.1f} s",
    ]
    lines += [f"  transform: {t}" for t in res.workload["transforms"]]
    lines.append(
        f"routing (server/level: requests): {', '.join(f'{k}: {v}' for k, v in res.routing.items())}"
    )
    sc = res.speed_check
    lines.append(
        f"speed check (idle servers, measured / profile): TTFT x{sc['mean_ttft_ratio']:.2f}, "
        f"time per output token x{sc['mean_tpot_ratio']:.2f}; level switch {sc['swap_s']:.3f} s"
    )
    rows = []
    so = res.simulated_online
    ss = res.simulated_speed_scaled
    for m in METRICS + ("p50_latency_s", "p95_ttft_s"):
        real, own, same = res.testbed.get(m), res.simulated.get(m), res.simulated_same_decisions.get(m)
        sca = (_f(ss["metrics"].get(m)), _pct(ss["error"].get(m))) if ss["metrics"] else ("-", "-")
        onl = (_f(so["metrics"].get(m)), _pct(so["error"].get(m))) if so["metrics"] else ("-", "-")
        rows.append(
            (m, _f(real), _f(own), _pct(res.error.get(m)), _f(same), _pct(res.error_same_decisions.get(m)),
             *sca, *onl)
        )  # fmt: skip
    lines.append("")
    lines.append(table(["metric", "testbed", "simulated", "error", "sim (same decisions)", "error",
                        "sim (table x speed check)", "error", "sim (online-corrected)*", "error"], rows))  # fmt: skip
    if ss["metrics"]:
        c = ss["scale"]
        lines.append(
            "sim (table x speed check): same decisions, the step table scaled by the speed check before the "
            "replay (decode "
            + ", ".join(f"{k} x{v:.2f}" for k, v in c["decode"].items())
            + "; prefill "
            + ", ".join(f"{k} x{v:.2f}" for k, v in c["prefill"].items())
            + ")"
        )
    if so["metrics"]:
        c = so["corrections"]
        lines.append(
            "* a diagnostic, not a prediction: same decisions, step table x the gateway's online corrections "
            "learnt during this run (decode "
            + ", ".join(f"{k} x{v:.2f}" for k, v in c["decode"].items())
            + "; prefill "
            + ", ".join(f"{k} x{v:.2f}" for k, v in c["prefill"].items())
            + ")"
        )
    t = res.testbed
    lines.append("")
    lines.append(
        f"requests: {t['completed']} completed, {t['failed']} failed {t['outcomes']}; "
        f"{t['rerouted']} re-routed; {t['tokens_mismatch']} with a token count other than asked; "
        f"{t['level_switches']} level switches on the servers (not in the simulator)"
    )
    p = res.processes
    lines.append(
        f"processes: {p['started']} started, {len(p['left_running'])} left running; "
        f"wall {p['wall_s']:.1f} s; the servers share this machine's CPUs"
    )
    bg = p["background_load"]
    lines.append(
        f"other processes used {100 * bg['other_share_during_replay']:.0f} % of the {bg['logical_cpus']} "
        f"CPUs during the replay ({100 * bg['other_share_before']:.0f} % just before)"
    )
    pe = res.prediction
    if pe["requests"]:
        lines.append(
            f"gateway's predicted latency (x-goalit-predicted-latency-s) vs measured, {pe['requests']} requests: "
            f"median |error| {pe['median_abs_pct']:.1f} %, mean |error| {pe['mean_abs_pct']:.1f} %, "
            f"median signed {pe['median_signed_pct']:+.1f} %"
        )
    lines.append(f"performance model: {'step table of ' + res.step_table if res.step_table else 'roofline'}")
    lines.append("")
    lines.append("per request (same decisions): measured vs simulated latency, s")
    lines += [
        f"  {r['index']:>3} {r['backend'] or '-':>7}/{r['level'] or '-':<5} measured {r['latency_s']:7.3f}  "
        f"simulated {r['simulated_latency_s']:7.3f}  ({_pct(rel_error(r['simulated_latency_s'], r['latency_s']))})"
        for r in res.records
    ]
    lines.append("error = (simulated - testbed) / testbed")
    return "\n".join(lines)


def _f(x):
    return "-" if x is None else float(x)


def _pct(x):
    return "-" if x is None else f"{100 * x:+.1f} %"
