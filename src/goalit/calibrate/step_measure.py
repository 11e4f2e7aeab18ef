"""Measure a step table (:class:`goalit.physics.step_table.StepTable`) on llama.cpp's ``llama-server``.

For each level one ``llama-server`` process (``threads`` threads, ``slots`` parallel sequences,
continuous batching, no prompt cache) is started on 127.0.0.1 and stopped by PID afterwards. Like a
testbed server (``goalit.experiments.testbed.hosts.server_cpus``) it is pinned to the first ``threads``
CPUs this process may use (``pin``), so the table is measured where and as the testbed runs.

- Decode step at (batch b, context c): b streaming requests with distinct prompts of ``c - o/2`` tokens
  are sent at once, each generating o tokens (``ignore_eos``). Once every request has its first token
  (all prefills done), every gap between two consecutive tokens of a request is one decode step of the
  b-sequence batch; a repetition's value is the median gap over its requests, and the point's value the
  median over ``repeats`` repetitions. Repetitions sweep the whole grid in turn (so a burst of other
  work on a shared machine spreads over the points instead of spoiling one); their spread (test-retest:
  max / min - 1 per point, median over the points) is recorded as the table's noise floor.
  The mean context over those steps is ``c`` (prompt + o/2) up to a token.
- Prefill at prompt length p: one request of p tokens and 1 output token; the server's own
  ``timings.prompt_ms`` (the prefill it ran), median over ``repeats``.

Prompts are token-id lists cut from a real text (WikiText-2) with the model's tokenizer, so their
lengths are exact. Other processes on a shared machine slow the measurement; the share of the CPUs
they used is recorded with the table.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from goalit.physics.step_table import LevelTable, StepTable


@dataclass(frozen=True)
class StepTableSettings:
    """What to measure (defaults: the testbed's llama-server: 1 thread per server, 4 slots)."""

    batches: tuple[int, ...] = (1, 2, 3, 4)
    contexts: tuple[int, ...] = (40, 120, 220, 340)  # prompt + o/2, tokens (testbed: prompt <= 256, o <= 48)
    prompts: tuple[int, ...] = (16, 64, 128, 256, 384)
    decode_tokens: int = 32  # o
    repeats: int = 3
    threads: int = 1
    slots: int = 4
    n_ctx: int = 640  # per slot
    pin: bool = True  # pin the server to the first `threads` available CPUs, as the testbed does


async def _stream(client: Any, url: str, body: dict[str, Any]) -> tuple[list[float], dict[str, Any]]:
    """Arrival times (perf_counter) of the content chunks of one streamed /completion, and its timings."""
    times: list[float] = []
    timings: dict[str, Any] = {}
    import json

    async with client.stream("POST", url + "/completion", json={**body, "stream": True}) as resp:
        resp.raise_for_status()
        async for line in resp.aiter_lines():
            if not line.startswith("data: "):
                continue
            ev = json.loads(line[6:])
            if ev.get("content"):
                times.append(time.perf_counter())
            if ev.get("timings"):
                timings = ev["timings"]
            if ev.get("stop"):
                break
    return times, timings


async def _batch(url: str, prompts: list[list[int]], o: int) -> list[float]:
    """Decode gaps (s) of ``len(prompts)`` concurrent requests after all of them have their first token."""
    import httpx

    async with httpx.AsyncClient(timeout=httpx.Timeout(300.0)) as client:
        bodies = [{"prompt": p, "n_predict": o, "ignore_eos": True, "temperature": 0.0, "cache_prompt": False}
                  for p in prompts]  # fmt: skip
        res = await asyncio.gather(*(_stream(client, url, b) for b in bodies))
    starts = [t[0] for t, _ in res if t]
    if len(starts) != len(prompts):
        raise RuntimeError("a calibration request produced no tokens")
    t_all = max(starts)
    gaps = []
    for t, _ in res:
        ta = np.asarray(t)
        keep = ta[1:] > t_all  # the step ending after every prefill finished
        gaps.extend(np.diff(ta)[keep[: ta.size - 1]].tolist())
    return gaps


async def _prefill(url: str, prompt: list[int]) -> float:
    import httpx

    async with httpx.AsyncClient(timeout=httpx.Timeout(300.0)) as client:
        body = {"prompt": prompt, "n_predict": 1, "temperature": 0.0, "cache_prompt": False}
        r = await client.post(url + "/completion", json=body)
        r.raise_for_status()
        return float(r.json()["timings"]["prompt_ms"]) / 1e3


def measure_level(
    url: str, corpus: np.ndarray, s: StepTableSettings, rng: np.random.Generator
) -> tuple[LevelTable, float]:
    """Measure one level on the llama-server at ``url`` (see the module docstring); also the test-retest
    spread of the decode points (%)."""

    def prompts(n: int, length: int) -> list[list[int]]:
        starts = rng.integers(0, corpus.size - length - 1, size=n)
        return [corpus[a : a + length].tolist() for a in starts]

    o = s.decode_tokens
    asyncio.run(_batch(url, prompts(1, 16), 4))  # warm-up
    reps = np.zeros((s.repeats, len(s.batches), len(s.contexts)))
    pres = np.zeros((s.repeats, len(s.prompts)))
    for m in range(s.repeats):
        for k, c in enumerate(s.contexts):
            p = max(1, int(round(c - o / 2)))
            for i, b in enumerate(s.batches):
                reps[m, i, k] = float(np.median(asyncio.run(_batch(url, prompts(b, p), o))))
        pres[m] = [asyncio.run(_prefill(url, prompts(1, p)[0])) for p in s.prompts]
    step = np.median(reps, axis=0)
    spread = (
        float(np.median(reps.max(axis=0) / reps.min(axis=0) - 1) * 100) if s.repeats > 1 else float("nan")
    )
    table = LevelTable(np.array(s.batches, float), np.array(s.contexts, float), step,
                       np.array(s.prompts, float), np.median(pres, axis=0))  # fmt: skip
    return table, spread


def measure_step_table(
    levels: list[str],
    settings: StepTableSettings = StepTableSettings(),
    text_path: Path | None = None,
    seed: int = 0,
    say: Callable[[str], None] = lambda msg: None,
) -> StepTable:
    """Start one llama-server per level in turn, measure it, stop it; the table with its provenance."""
    import tempfile

    from goalit.calibrate.ladder import ensure_ladder
    from goalit.calibrate.machine import machine_info
    from goalit.calibrate.model import base_gguf
    from goalit.calibrate.run import resolve_text
    from goalit.rng import stream
    from goalit.serve.llama_server import LlamaServerSpec, llama_server_binary, start_llama_servers
    from goalit.serve.procs import BackgroundLoad, ProcessGroup, handle_signals
    from goalit.serve.prompts import Tokenizer, corpus_tokens

    text = resolve_text(text_path)
    tok = Tokenizer(base_gguf())
    try:
        corpus = corpus_tokens(tok, text)
    finally:
        tok.close()
    paths = ensure_ladder(levels, on_generate=lambda lv: say(f"generating level {lv} ..."))
    rng = stream(seed, "step-table")
    out: dict[str, LevelTable] = {}
    loads: dict[str, float] = {}
    spreads: dict[str, float] = {}
    work = Path(tempfile.mkdtemp(prefix="goalit-step-table-"))
    cpus = _pinned_cpus(settings)
    t0 = time.perf_counter()
    with handle_signals(), ProcessGroup(log_dir=work) as group:
        for lv in levels:
            spec = LlamaServerSpec(f"calib-{lv}", {lv: paths[lv]}, n_ctx=settings.n_ctx,
                                   n_threads=settings.threads, engine="llama-server",
                                   slots=settings.slots, cpus=cpus)  # fmt: skip
            child, url = start_llama_servers(group, [spec], work)[0]
            say(f"measuring {lv} on llama-server ({settings.threads} thread(s), {settings.slots} slots) ...")
            meter = BackgroundLoad([os.getpid(), child.pid]).start()
            out[lv], spreads[lv] = measure_level(url, corpus, settings, rng)
            loads[lv] = round(meter.stop(), 4)
            group.stop(child)
    provenance: dict[str, Any] = {
        "source": "measured by goalit calibrate --step-table (goalit.calibrate.step_measure)",
        "engine": "llama-server",
        "llama_cpp_python_sdist": "0.3.36",
        "binary": _version(llama_server_binary()),
        "date": dt.date.today().isoformat(),
        "machine": machine_info().describe(),
        "threads": settings.threads,
        "slots": settings.slots,
        "cpus": list(cpus) if cpus else "any",
        "decode_tokens": settings.decode_tokens,
        "repeats": settings.repeats,
        "seed": seed,
        "wall_s": round(time.perf_counter() - t0, 1),
        "other_load": loads,
        "test_retest_pct": {lv: round(v, 2) for lv, v in spreads.items()},
        "note": "step_ms[batch][context]: median decode step (ms) of `batch` sequences of mean context "
        "`context` tokens once all prefills finished; prefill_ms: the server's timings.prompt_ms for one "
        "prompt; other_load: share of the CPUs used by other processes while measuring each level; "
        "test_retest_pct: median over the decode points of max/min - 1 of the repetitions (the noise floor)",
    }
    return StepTable(out, provenance)


def _pinned_cpus(settings: StepTableSettings) -> tuple[int, ...] | None:
    """The CPUs the measured server is pinned to (the first ``threads`` available), or None."""
    try:
        avail = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return None
    if not settings.pin or settings.threads > len(avail):
        return None
    return tuple(avail[: settings.threads])


def _version(binary: Path) -> str:
    """``llama-server --version``'s first line (the llama.cpp build), and how the binary was built."""
    import subprocess

    try:
        out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30)
        line = (out.stdout + out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        line = "unknown version"
    return f"llama-server {line} (scripts/install-llama-server: GGML_NATIVE=OFF)"
