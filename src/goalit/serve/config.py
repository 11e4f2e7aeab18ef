"""The gateway's TOML configuration: backends, the LLM profile, request defaults and limits.

Layout (every key except ``llm`` and ``[[backends]]`` is optional)::

    llm = "smollm2-135m"           # LLM profile (built in, inline [llm.NAME], or from `profiles`)
    model = "smollm2-135m"         # public model name that lets goalit pick the level (default: llm)
    profiles = ["extra.toml"]      # profile files to include, relative to this file
    step_table = "profile.toml"    # measured step times ([meta.step_table]) used instead of the roofline
    [gateway]   host, port, policy, seed, max_body_bytes, max_queue, max_retries, connect_timeout_s,
                request_timeout_s, probe_interval_s, probe_timeout_s, header_timeout_s, body_timeout_s,
                chars_per_token, default_max_tokens, max_tokens_limit, link_s
    [defaults]  w_latency, w_quality, w_energy, deadline_s, max_perplexity, device
    [[backends]] name, url, hardware, levels = {LEVEL = "model name on that backend"}, engine,
                batching, concurrency, swap_s, share, host
    [hardware.NAME] / [llm.NAME]    inline profiles (format of goalit/data/profiles/*.toml)

Errors are one-line ``ScenarioError``s naming the file and the field, like scenario files.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from goalit.scenario._reader import Table
from goalit.scenario.profiles import (
    HardwareProfile,
    LLMProfile,
    builtin_profiles,
    load_profile_file,
    parse_catalogue,
)
from goalit.scenario.toml_io import read_toml
from goalit.solvers.registry import algorithm_names

BATCHING = ("serial", "continuous")
ENGINES = ("llama-cpp-python", "llama-server")


@dataclass(frozen=True)
class GatewaySettings:
    """Network, limits and fault handling of the gateway (defaults and their sources below).

    - ``host`` 127.0.0.1: loopback unless told otherwise (issue 7).
    - ``max_body_bytes`` 1 MiB: our limit; a 135M-parameter model with n_ctx <= 8192 never needs more.
    - ``max_queue``: requests admitted beyond the backends' running slots before answering 429.
    - ``max_retries``: re-routings of one request after backend faults (bounded, issue 7).
    - ``connect_timeout_s`` 2 s, ``request_timeout_s`` 120 s (longest silence while a backend runs a
      request), ``probe_interval_s`` 1 s, ``probe_timeout_s`` 5 s: our choices for loopback backends.
    - ``chars_per_token`` 4: "one token ~ 4 characters of English text" (OpenAI, "What are tokens and
      how to count them"); used to estimate prompt tokens without a tokenizer.
    - ``default_max_tokens`` 16: the default of the OpenAI completions API and of llama_cpp.server.
    - ``link_s``: one-way client-gateway-backend transfer time charged by the cost model (0 on loopback).
    - ``header_timeout_s`` 10 s, ``body_timeout_s`` 30 s: longest time a client may take to send its
      request line and headers, and its body (a stalled or very slow client gets 408 and is
      disconnected); our choices, far above a loopback or LAN client's milliseconds.
    """

    host: str = "127.0.0.1"
    port: int = 8100
    policy: str = "goalit"
    seed: int = 0
    max_body_bytes: int = 1 << 20
    max_queue: int = 64
    max_retries: int = 2
    connect_timeout_s: float = 2.0
    request_timeout_s: float = 120.0
    probe_interval_s: float = 1.0
    probe_timeout_s: float = 5.0
    chars_per_token: float = 4.0
    default_max_tokens: int = 16
    max_tokens_limit: int = 4096
    link_s: float = 0.0
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0


@dataclass(frozen=True)
class RequestDefaults:
    """Per-request preferences used when a client does not send its own ``goalit`` fields.

    Units as in ``goalit.scenario.Users``: ``w_quality`` in s per nat/token, ``w_energy`` in s/J,
    ``deadline_s`` in s. ``device`` is the hardware profile of the clients (its idle power prices waiting
    when ``w_energy > 0``).
    """

    w_latency: float = 1.0
    w_quality: float = 0.0
    w_energy: float = 0.0
    deadline_s: float = 60.0
    max_perplexity: float = 1e9
    device: str = "snapdragon-8-gen-3"


@dataclass(frozen=True)
class BackendConfig:
    """One OpenAI-compatible backend.

    ``engine``: ``"llama-cpp-python"`` (``python -m llama_cpp.server``: serial, several levels by alias)
    or ``"llama-server"`` (llama.cpp's server: one level, continuous batching over ``concurrency`` slots,
    a ``/tokenize`` endpoint the gateway counts prompt tokens with). The engine sets the defaults of
    ``batching`` (serial / continuous), ``concurrency`` (1 / 4, the slots the testbed starts) and
    ``swap_s`` (0.2 s / 0: one level per process). ``levels`` maps a quantization level of the LLM profile to the model name the backend serves it
    under. ``batching="serial"`` (llama_cpp.server: one request at a time behind a lock, docs/real-llm.md
    section 2) or ``"continuous"`` (iteration-level batching, e.g. vLLM). ``concurrency`` is how many
    requests the gateway sends at once (default 1 when serial). ``swap_s`` is the time to switch the
    loaded level (0.2 s measured for SmolLM2 in docs/real-llm.md section 2). ``share`` is the fraction of the
    hardware each level gets when running (1: the whole machine, as a serial server does).

    ``host``: the machine the backend runs on ("": a machine of its own). Backends naming the same host
    share its accelerator (the ``shared`` sharing mode of docs/model.md): a request's per-token time on
    one of them is the host's iteration time, the sum of the decode steps of the host's *active* backends.
    They must use continuous batching, the same ``hardware`` and ``share`` 1.
    """

    name: str
    url: str
    hardware: str
    levels: dict[str, str]
    engine: str = "llama-cpp-python"
    batching: str = "serial"
    concurrency: int = 1
    swap_s: float = 0.2
    share: float = 1.0
    host: str = ""


@dataclass(frozen=True)
class GatewayConfig:
    """A validated gateway configuration with its resolved profiles."""

    model: str
    llm: LLMProfile
    hardware: dict[str, HardwareProfile]
    backends: tuple[BackendConfig, ...]
    gateway: GatewaySettings = field(default_factory=GatewaySettings)
    defaults: RequestDefaults = field(default_factory=RequestDefaults)
    origin: str = ""
    step_table: str = ""  # path of a profile file with [meta.step_table] ("" : the roofline)

    def step_table_model(self):
        """The measured step table (``goalit.physics.step_table.StepTable``), or None."""
        if not self.step_table:
            return None
        from goalit.physics.step_table import StepTable

        return StepTable.load(self.step_table)

    def host_groups(self) -> dict[str, tuple[int, ...]]:
        """Indices of the backends on each named (shared) host, in configuration order."""
        out: dict[str, tuple[int, ...]] = {}
        for j, b in enumerate(self.backends):
            if b.host:
                out[b.host] = (*out.get(b.host, ()), j)
        return out

    def public_models(self) -> list[str]:
        """Model names clients may ask for: the family (goalit picks the level) and ``family:level``."""
        levels = sorted({lv for b in self.backends for lv in b.levels}, key=self.level_rank)
        return [self.model, *(f"{self.model}:{lv}" for lv in levels)]

    def level_rank(self, level: str) -> tuple[float, float]:
        """Sort key: highest precision first."""
        lv = self.llm.levels[level]
        return (-lv.bits_per_weight, lv.perplexity)

    def with_gateway(self, **changes: Any) -> GatewayConfig:
        """A copy with some gateway settings replaced (e.g. host/port/policy from the command line)."""
        from dataclasses import replace

        return replace(self, gateway=replace(self.gateway, **changes))


TOP_KEYS = ("llm", "model", "profiles", "step_table", "gateway", "defaults", "backends", "hardware")


def load_config(path: str | Path) -> GatewayConfig:
    """Read and validate a gateway configuration file."""
    p = Path(path)
    return parse_config(read_toml(p), origin=str(p), base_dir=p.parent)


def parse_config(data: dict[str, Any], origin: str = "", base_dir: Path | None = None) -> GatewayConfig:
    """Build a ``GatewayConfig`` from a parsed TOML document (one-line errors naming the field)."""
    top = Table(data, "", origin)
    catalogue = builtin_profiles()
    includes = top.raw("profiles", [])
    if not isinstance(includes, list) or not all(isinstance(x, str) for x in includes):
        top.fail("must be a list of file paths", "profiles")
    for inc in includes:
        ip = Path(inc) if base_dir is None or Path(inc).is_absolute() else base_dir / inc
        catalogue = catalogue.merged(load_profile_file(ip))
    top.used.add("hardware")
    inline = {k: data[k] for k in ("hardware",) if k in data}
    llm_value = top.raw("llm")
    if isinstance(llm_value, dict):
        if len(llm_value) != 1:
            top.fail("an inline llm table must define exactly one profile", "llm")
        inline["llm"] = llm_value
    catalogue = catalogue.merged(parse_catalogue(inline, origin))
    llm_name = (
        next(iter(llm_value)) if isinstance(llm_value, dict) else top.string("llm", choices=catalogue.llm)
    )
    llm = catalogue.llm[llm_name]
    model = top.string("model", llm_name)
    if not model or ":" in model:
        top.fail("must be a non-empty name without ':'", "model")

    step_table = top.string("step_table", "")
    if step_table:
        sp = Path(step_table)
        sp = sp if base_dir is None or sp.is_absolute() else base_dir / sp
        from goalit.errors import GoalitInputError
        from goalit.physics.step_table import StepTable

        try:
            StepTable.load(sp)
        except (GoalitInputError, OSError) as err:
            top.fail(f"cannot read a step table from {sp}: {err}", "step_table")
        step_table = str(sp)
    gateway = _parse_gateway(top.table("gateway", None))
    defaults = _parse_defaults(top.table("defaults", None), catalogue.hardware)
    backends = [_parse_backend(t, catalogue.hardware, llm) for t in top.tables("backends")]
    if not backends:
        top.fail("must list at least one backend", "backends")
    names = [b.name for b in backends]
    urls = [b.url for b in backends]
    for i in range(len(backends)):
        if names.index(names[i]) != i:
            top.fail(f"duplicate backend name {names[i]!r}", f"backends[{i}].name")
        if urls.index(urls[i]) != i:
            top.fail(f"duplicate backend url {urls[i]!r}", f"backends[{i}].url")
    first_on: dict[str, int] = {}
    for i, b in enumerate(backends):
        if not b.host:
            continue
        k = first_on.setdefault(b.host, i)
        if b.hardware != backends[k].hardware:
            top.fail(
                f"backend {b.name!r} is on host {b.host!r} with hardware {b.hardware!r}, but backend "
                f"{backends[k].name!r} on the same host has {backends[k].hardware!r}",
                f"backends[{i}].hardware",
            )
    top.finish()
    used_hw = {b.hardware for b in backends} | {defaults.device}
    return GatewayConfig(
        model=model,
        llm=llm,
        hardware={k: catalogue.hardware[k] for k in sorted(used_hw)},
        backends=tuple(backends),
        gateway=gateway,
        defaults=defaults,
        origin=origin,
        step_table=step_table,
    )


def _parse_gateway(t: Table | None) -> GatewaySettings:
    d = GatewaySettings()
    if t is None:
        return d
    g = GatewaySettings(
        host=check_host(t.string("host", d.host), t),
        port=int(t.number("port", d.port, ge=0, le=65535, integer=True)),
        policy=t.string("policy", d.policy, choices=algorithm_names()),
        seed=int(t.number("seed", d.seed, ge=0, integer=True)),
        max_body_bytes=int(t.number("max_body_bytes", d.max_body_bytes, ge=64, integer=True)),
        max_queue=int(t.number("max_queue", d.max_queue, ge=0, integer=True)),
        max_retries=int(t.number("max_retries", d.max_retries, ge=0, le=100, integer=True)),
        connect_timeout_s=float(t.number("connect_timeout_s", d.connect_timeout_s, gt=0)),
        request_timeout_s=float(t.number("request_timeout_s", d.request_timeout_s, gt=0)),
        probe_interval_s=float(t.number("probe_interval_s", d.probe_interval_s, gt=0)),
        probe_timeout_s=float(t.number("probe_timeout_s", d.probe_timeout_s, gt=0)),
        header_timeout_s=float(t.number("header_timeout_s", d.header_timeout_s, gt=0, le=3600)),
        body_timeout_s=float(t.number("body_timeout_s", d.body_timeout_s, gt=0, le=3600)),
        chars_per_token=float(t.number("chars_per_token", d.chars_per_token, gt=0)),
        default_max_tokens=int(t.number("default_max_tokens", d.default_max_tokens, gt=0, integer=True)),
        max_tokens_limit=int(t.number("max_tokens_limit", d.max_tokens_limit, gt=0, integer=True)),
        link_s=float(t.number("link_s", d.link_s, ge=0)),
    )
    t.finish()
    return g


def _parse_defaults(t: Table | None, hardware: dict[str, HardwareProfile]) -> RequestDefaults:
    d = RequestDefaults()
    if t is None:
        if d.device not in hardware:  # pragma: no cover - the built-in catalogue has it
            raise AssertionError(d.device)
        return d
    r = RequestDefaults(
        w_latency=float(t.number("w_latency", d.w_latency, gt=0)),
        w_quality=float(t.number("w_quality", d.w_quality, ge=0)),
        w_energy=float(t.number("w_energy", d.w_energy, ge=0)),
        deadline_s=float(t.number("deadline_s", d.deadline_s, gt=0)),
        max_perplexity=float(t.number("max_perplexity", d.max_perplexity, ge=1)),
        device=t.string("device", d.device, choices=hardware),
    )
    t.finish()
    return r


def _parse_backend(t: Table, hardware: dict[str, HardwareProfile], llm: LLMProfile) -> BackendConfig:
    lv_t = t.table("levels")
    levels: dict[str, str] = {}
    for level in list(lv_t.data):
        if level not in llm.levels:
            lv_t.fail(
                f"unknown level of LLM profile {llm.name!r} (expected one of: {', '.join(llm.levels)})", level
            )
        levels[level] = lv_t.string(level)
        if not levels[level]:
            lv_t.fail("must be a non-empty model name", level)
    lv_t.finish()
    if not levels:
        t.fail("must map at least one level to a model name", "levels")
    aliases = list(levels.values())
    for k, a in enumerate(aliases):
        if aliases.index(a) != k:
            t.fail(f"model name {a!r} is used for two levels", "levels")
    engine = t.string("engine", "llama-cpp-python", choices=ENGINES)
    server = engine == "llama-server"
    if server and len(levels) != 1:
        t.fail("a llama-server backend serves exactly one level", "levels")
    batching = t.string("batching", "continuous" if server else "serial", choices=BATCHING)
    b = BackendConfig(
        name=t.string("name"),
        url=check_url(t.string("url"), t),
        hardware=t.string("hardware", choices=hardware),
        levels=levels,
        engine=engine,
        batching=batching,
        concurrency=int(t.number("concurrency", 4 if server else 1, gt=0, le=1024, integer=True)),
        swap_s=float(t.number("swap_s", 0.2 if batching == "serial" else 0.0, ge=0)),
        share=float(t.number("share", 1.0, gt=0, le=1)),
        host=t.string("host", ""),
    )
    if "host" in t.data and not b.host.strip():
        t.fail("must be a non-empty machine name (leave it out for a machine of its own)", "host")
    if b.host and b.batching != "continuous":
        t.fail('a backend on a shared host must use batching = "continuous"', "host")
    if b.host and b.share != 1.0:
        t.fail("a backend on a shared host uses the whole machine: share must be 1", "share")
    t.finish()
    return b


def check_url(url: str, t: Table) -> str:
    """An http(s) URL with a host and no path beyond '/'; returned without a trailing slash."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        t.fail(f"must be an http:// or https:// URL with a host, not {url!r}", "url")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        t.fail(f"must not have a path, query or fragment (the gateway appends /v1/...): {url!r}", "url")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        t.fail(f"has an invalid port: {url!r}", "url")
    return url.rstrip("/")


def check_host(host: str, t: Table | None = None) -> str:
    """An IP address or 'localhost' to bind to."""
    if host == "localhost":
        return host
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if t is not None:
            t.fail(f"must be an IP address or 'localhost', not {host!r}", "host")
        raise
    return host
