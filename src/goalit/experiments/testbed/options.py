"""The testbed's options and result, their checks, and the profiles they resolve to."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from goalit.errors import GoalitInputError
from goalit.scenario.profiles import ProfileCatalogue, builtin_profiles, load_profile_file

TRACE_NAME = "AzureLLMInferenceTrace_conv.csv"
PROBE_PROMPT_TOKENS = 128  # speed check: the calibration's prompt length (goalit.calibrate.measure)
PROBE_OUTPUT_TOKENS = 32  # speed check: output tokens (the calibration decodes 32 steps)
CLIENT_DEVICE = "testbed-client"
HOST_MODELS = ("shared", "partitioned")
HOST_NAME = "testbed-host"  # the one shared server of host model "shared"
METRICS = (
    "mean_latency_s",
    "p95_latency_s",
    "mean_ttft_s",
    "mean_tpot_s",
    "token_throughput_tps",
    "mean_perplexity",
)


def package_root() -> Path:
    """The directory holding the ``goalit`` package (``src/`` in a checkout; PYTHONPATH of the gateway)."""
    return Path(__file__).resolve().parents[3]


def shared_path(*parts: str) -> Path | None:
    """``../shared/<parts>`` next to the repository (the development copy of the data), if present."""
    repo = package_root().parent
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
    # own, share 1 each). None: see ``hosts.host_model`` (shared for llama-server).
    host_model: str | None = None
    pin: bool = True  # pin each server to its own CPUs when threads x servers <= CPUs (hosts.server_cpus)

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
    # same decisions, each host model (``hosts``): the one in effect and the other, from the same run
    error_by_host_model: dict[str, dict[str, Any]] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(repr=False, default_factory=list)

    __test__ = False

    def summary(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "records"}
        return d


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
