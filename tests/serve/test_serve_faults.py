"""Backend faults behind a real gateway: a paused backend times out, a killed one is re-routed around and
comes back when restarted; no admitted request vanishes and no process is left behind (real processes)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import time

import httpx
import pytest
from serve_helpers import start_gateway, write_config

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def rig(backend_specs, tmp_path_factory):
    """Two fresh backends (these tests pause and kill them) and a gateway with short timeouts."""
    from goalit.serve.llama_server import start_llama_servers
    from goalit.serve.procs import ProcessGroup, pid_running

    work = tmp_path_factory.mktemp("faults")
    group = ProcessGroup(log_dir=work)
    try:
        started = start_llama_servers(group, backend_specs, work)
        urls = [url for _, url in started]
        gw = {"request_timeout_s": 4.0, "probe_interval_s": 0.5, "probe_timeout_s": 1.0, "max_retries": 2}
        base = start_gateway(group, write_config(work / "gateway.toml", urls, gw))
        yield {"group": group, "urls": urls, "base": base, "work": work}
    finally:
        group.close()
        left = [p for p in group.pids() if pid_running(p)]
        assert not left, f"processes left behind: {left}"


def child(group, name):
    return next(c for c in reversed(group.children) if c.name == name)


def health(base: str) -> dict:
    return {b["name"]: b for b in httpx.get(base + "/health", timeout=10).json()["backends"]}


def wait_for(pred, timeout_s: float = 30.0, step_s: float = 0.1) -> bool:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        if pred():
            return True
        time.sleep(step_s)
    return False


def counters(base: str) -> dict:
    return httpx.get(base + "/metrics?format=json", timeout=10).json()["counters"]


def recoveries(c: dict) -> float:
    return sum(x["value"] for x in c.get("goalit_backend_recoveries_total", []) if x["backend"] == "edge-a")


def completed(c: dict) -> float:
    return sum(x["value"] for x in c.get("goalit_requests_completed_total", []))


async def fire(base: str, n: int, max_tokens: int = 24, stream_every: int = 2) -> list[dict]:
    """n concurrent requests; each result records status, body and headers (an exception is a failure)."""

    async def one(client, k):
        body = {"prompt": f"Story {k}: once upon a time", "max_tokens": max_tokens, "temperature": 0,
                "stream": k % stream_every == 1}  # fmt: skip
        r = await client.post(base + "/v1/completions", json=body)
        return {"stream": body["stream"], "status": r.status_code, "text": r.text, "headers": r.headers}

    async with httpx.AsyncClient(timeout=httpx.Timeout(120.0)) as client:
        return await asyncio.gather(*(one(client, k) for k in range(n)))


def answered(res: dict) -> str:
    """'ok', 'partial' (stream cut with an error event) or 'error' (an HTTP error with a reason)."""
    if res["status"] != 200:
        assert json.loads(res["text"])["error"]["message"], res
        return "error"
    if not res["stream"]:
        assert json.loads(res["text"])["choices"], res
        return "ok"
    events = [ln[6:] for ln in res["text"].splitlines() if ln.startswith("data: ")]
    if events and events[-1] == "[DONE]":
        return "ok"
    assert "error" in json.loads(events[-1]), res
    return "partial"


def test_serve_paused_backend_times_out_and_requests_move(rig):
    group, base = rig["group"], rig["base"]
    a = child(group, "edge-a")
    os.kill(a.pid, signal.SIGSTOP)
    try:
        results = asyncio.run(fire(base, 2, max_tokens=8, stream_every=99))
        assert [r["status"] for r in results] == [200, 200]
        assert {r["headers"]["x-goalit-backend"] for r in results} == {"edge-b"}
        assert max(int(r["headers"]["x-goalit-retries"]) for r in results) == 1
        assert not health(base)["edge-a"]["up"]
        assert counters(base)["goalit_backend_faults_total"] == [
            {"backend": "edge-a", "kind": "timeout", "value": 1.0}
        ]
    finally:
        os.kill(a.pid, signal.SIGCONT)
    assert wait_for(lambda: health(base)["edge-a"]["up"]), "edge-a did not come back after SIGCONT"


def test_serve_killed_backend_loses_no_request_and_returns_when_restarted(rig, backend_specs):
    from goalit.serve.llama_server import start_llama_servers

    group, base = rig["group"], rig["base"]
    before = counters(base)
    a = child(group, "edge-a")

    async def scenario():
        task = asyncio.ensure_future(fire(base, 12, max_tokens=16))
        loop = asyncio.get_running_loop()
        busy = await loop.run_in_executor(
            None, lambda: wait_for(lambda: health(base)["edge-a"]["queued"] >= 1, 20.0, 0.02)
        )
        os.kill(a.pid, signal.SIGKILL)
        return busy, await task

    busy, results = asyncio.run(scenario())
    assert busy, "edge-a never had a queue to re-route"
    kinds = [answered(r) for r in results]  # raises if any answer is neither a completion nor an error
    assert len(kinds) == 12
    rerouted = [r for r in results if r["status"] == 200 and int(r["headers"]["x-goalit-retries"]) >= 1]
    assert rerouted and all(r["headers"]["x-goalit-backend"] == "edge-b" for r in rerouted)
    assert kinds.count("ok") >= 11  # only the request running on edge-a at the kill may be cut
    after = counters(base)
    accepted = after["goalit_requests_accepted_total"] - before.get("goalit_requests_accepted_total", 0)
    assert accepted == 12 and completed(after) - completed(before) == 12
    assert httpx.get(base + "/metrics?format=json").json()["gauges"]["goalit_requests_in_flight"] == 0.0
    assert not health(base)["edge-a"]["up"]

    # while edge-a is down, everything goes to edge-b
    again = asyncio.run(fire(base, 3, max_tokens=4))
    assert [r["status"] for r in again] == [200] * 3
    assert {r["headers"]["x-goalit-backend"] for r in again} == {"edge-b"}

    # restart edge-a on its port: the probe brings it back
    port = int(rig["urls"][0].rsplit(":", 1)[1])
    spec = dataclasses.replace(backend_specs[0], port=port)
    start_llama_servers(group, [spec], rig["work"])
    assert wait_for(lambda: health(base)["edge-a"]["up"]), "edge-a did not come back"
    assert recoveries(counters(base)) == recoveries(before) + 1
    back = asyncio.run(fire(base, 4, max_tokens=16, stream_every=99))
    assert [r["status"] for r in back] == [200] * 4
    assert {r["headers"]["x-goalit-backend"] for r in back} == {"edge-a", "edge-b"}
