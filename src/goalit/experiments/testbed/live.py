"""The live part of a testbed run: start the servers and the gateway, check their speed, replay the slice,
and stop every process by PID (also on errors, Ctrl-C and SIGTERM)."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from goalit.experiments.testbed.hosts import load_table, server_cpus, server_levels, server_threads
from goalit.experiments.testbed.options import TestbedOptions, package_root
from goalit.experiments.testbed.plan import Plan, gateway_config_text
from goalit.experiments.testbed.speed import contention_check, speed_check
from goalit.serve.procs import BackgroundLoad, ProcessGroup, free_port, handle_signals, wait_http, wait_quiet
from goalit.serve.replay import Record, replay


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
    placed = zip(server_levels(opts), server_cpus(opts), strict=True)
    specs = [LlamaServerSpec(f"edge-{j + 1}", {aliases[lv]: paths[lv] for lv in lvs}, n_ctx=opts.n_ctx,
                             n_threads=server_threads(opts), engine=opts.engine, slots=opts.slots, cpus=cpus)
             for j, (lvs, cpus) in enumerate(placed)]  # fmt: skip
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
                table=load_table(opts),
            )  # fmt: skip
            if opts.engine == "llama-server" and opts.servers > 1:
                say("speed check: every server decoding at once (what the processes share) ...")
                check["contention"] = contention_check(urls, aliases, server_levels(opts), plan.probe_text)
            cfg = work / "gateway.toml"
            swap = check["swap_s"] if opts.swap_s is None else opts.swap_s
            gw_text = gateway_config_text(replace(opts, swap_s=swap), plan.llm, plan.hardware, urls, aliases)
            cfg.write_text(gw_text, encoding="utf-8")
            port = free_port()
            argv = [sys.executable, "-m", "goalit", "serve", "--config", str(cfg), "--port", str(port)]
            gw = group.start("gateway", argv, env={"PYTHONPATH": str(package_root())})
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
