"""Everything decided before a process starts: the trace slice, the prompts, the simulator's scenario and
the gateway's configuration."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from goalit.errors import GoalitInputError
from goalit.experiments.testbed.hosts import (
    host_model,
    server_levels,
    step_table_path,
)
from goalit.experiments.testbed.options import (
    CLIENT_DEVICE,
    HOST_NAME,
    PROBE_PROMPT_TOKENS,
    TRACE_NAME,
    TestbedOptions,
    check_options,
    resolve_profiles,
    shared_path,
)
from goalit.rng import stream
from goalit.scenario.model import AccessPoint, GameParams, Instance, Radio, Scenario, Server, Users
from goalit.scenario.profiles import HardwareProfile, ProfileCatalogue
from goalit.serve.replay import Sent


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
    if w.prompt_tokens is None or w.output_tokens is None:
        raise GoalitInputError(f"{path}: the trace has no prompt and output token counts")
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
