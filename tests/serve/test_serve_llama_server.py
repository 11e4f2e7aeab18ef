"""The llama-server engine behind a real gateway: continuous batching, backend tokenizer counts, online
calibration, and a backend killed mid-load losing no accepted request (real processes on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import os
import signal

import httpx
import pytest
from serve_helpers import ALIASES, LEVELS, PROFILE, start_gateway
from test_serve_faults import answered, child, completed, counters, fire, health, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def write_llama_server_config(path, urls, gateway: dict | None = None):
    """One llama-server backend per test level (edge-a: q8_0, edge-b: q4_0), 2 slots each."""
    gw = {"probe_interval_s": 0.5, "probe_timeout_s": 2.0, "request_timeout_s": 30.0, **(gateway or {})}
    lines = ['llm = "test-smollm2"', 'model = "smollm2"', f'profiles = ["{PROFILE}"]', "", "[gateway]"]
    lines += [f"{k} = {v!r}" for k, v in gw.items()]
    for name, url, lv in zip(("edge-a", "edge-b"), urls, LEVELS, strict=True):
        lines += ["", "[[backends]]", f'name = "{name}"', f'url = "{url}"', 'hardware = "test-cpu"',
                  f'levels = {{ {lv} = "{ALIASES[lv]}" }}', 'engine = "llama-server"', "concurrency = 2"]  # fmt: skip
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def rig(ladder, tmp_path_factory):
    from goalit.errors import GoalitInputError
    from goalit.serve.llama_server import LlamaServerSpec, llama_server_binary, start_llama_servers
    from goalit.serve.procs import ProcessGroup, pid_running

    try:
        llama_server_binary()
    except GoalitInputError as err:
        pytest.skip(str(err))
    specs = [LlamaServerSpec(name, {ALIASES[lv]: ladder[lv]}, n_ctx=256, n_threads=1, engine="llama-server",
                             slots=2) for name, lv in zip(("edge-a", "edge-b"), LEVELS, strict=True)]  # fmt: skip
    work = tmp_path_factory.mktemp("llama-server")
    group = ProcessGroup(log_dir=work)
    try:
        urls = [u for _, u in start_llama_servers(group, specs, work)]
        cfg = write_llama_server_config(work / "gateway.toml", urls, {"request_timeout_s": 20.0})
        base = start_gateway(group, cfg)
        yield {"group": group, "urls": urls, "base": base}
    finally:
        group.close()
        left = [p for p in group.pids() if pid_running(p)]
        assert not left, f"processes left behind: {left}"


def test_llama_server_tokenizes_batches_and_calibrates_online(rig):
    base, urls = rig["base"], rig["urls"]
    text = "The quick brown fox jumps over the lazy dog. " * 3
    direct = httpx.post(urls[0] + "/tokenize", json={"content": text}, timeout=10).json()["tokens"]
    assert 20 < len(direct) < len(text) / 2  # the model's tokenizer, not characters / 4
    results = asyncio.run(fire(base, 6, max_tokens=12))
    assert [answered(r) for r in results] == ["ok"] * 6
    c = counters(base)
    assert {x["source"]: x["value"] for x in c["goalit_prompt_token_counts_total"]} == {"tokenizer": 6.0}
    # both slots of a backend ran at once: its own /metrics saw more than one request decoding together
    m = httpx.get(base + "/metrics?format=json", timeout=10).json()
    corr = {x["backend"]: x["value"] for x in m["gauges"]["goalit_backend_decode_correction"]}
    assert set(corr) == {"edge-a", "edge-b"} and any(v != 1.0 for v in corr.values())
    assert all(0.25 <= v <= 4.0 for v in corr.values())
    assert m["summaries"]["goalit_prediction_abs_error"]["count"] == 6
    slots = httpx.get(urls[0] + "/slots", timeout=10).json()
    assert len(slots) == 2


def test_llama_server_killed_mid_load_loses_no_accepted_request(rig):
    group, base = rig["group"], rig["base"]
    before = counters(base)
    a = child(group, "edge-a")

    async def scenario():
        task = asyncio.ensure_future(fire(base, 10, max_tokens=24))
        loop = asyncio.get_running_loop()
        busy = await loop.run_in_executor(
            None, lambda: wait_for(lambda: health(base)["edge-a"]["running"] >= 1, 20.0, 0.02)
        )
        os.kill(a.pid, signal.SIGKILL)
        return busy, await task

    busy, results = asyncio.run(scenario())
    assert busy, "edge-a never ran a request"
    kinds = [answered(r) for r in results]  # raises if any answer is neither a completion nor an error
    assert len(kinds) == 10
    # only streams already sending tokens from edge-a may be cut; everything else is answered in full
    cut = [r for r, k in zip(results, kinds, strict=True) if k != "ok"]
    assert all(r["stream"] for r in cut) and len(cut) <= 2
    assert all(r["headers"]["x-goalit-backend"] == "edge-b" for r in results
               if r["status"] == 200 and int(r["headers"]["x-goalit-retries"]) >= 1)  # fmt: skip
    after = counters(base)
    accepted = after["goalit_requests_accepted_total"] - before.get("goalit_requests_accepted_total", 0)
    assert accepted == 10 and completed(after) - completed(before) == 10
    assert not health(base)["edge-a"]["up"]
