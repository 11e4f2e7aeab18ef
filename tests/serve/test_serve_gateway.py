"""The gateway in front of two real llama_cpp.server backends x two levels (real processes)."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from serve_helpers import start_gateway, write_config

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def gateway(shared_backends, tmp_path_factory):
    group, urls = shared_backends
    cfg = write_config(tmp_path_factory.mktemp("gw") / "gateway.toml", urls, {"max_queue": 32})
    base = start_gateway(group, cfg)
    yield base
    gw = [c for c in group.children if c.name.startswith("gateway-")]
    for c in gw:
        group.stop(c)


def sse_events(text: str) -> list[str]:
    return [line[len("data: ") :] for line in text.splitlines() if line.startswith("data: ")]


async def one(client: httpx.AsyncClient, base: str, k: int) -> dict:
    chat = k % 2 == 1
    stream = k % 4 >= 2
    path = "/v1/chat/completions" if chat else "/v1/completions"
    body = {"max_tokens": 8, "temperature": 0, "stream": stream}
    if chat:
        body["messages"] = [{"role": "user", "content": f"Name a colour. ({k})"}]
    else:
        body["prompt"] = f"Request {k}: the capital of France is"
    r = await client.post(base + path, json=body)
    return {"chat": chat, "stream": stream, "status": r.status_code, "text": r.text, "headers": r.headers}


def test_gateway_answers_twenty_requests_streaming_and_plain(gateway):
    async def run():
        async with httpx.AsyncClient(timeout=120) as client:
            return await asyncio.gather(*(one(client, gateway, k) for k in range(20)))

    results = asyncio.run(run())
    for res in results:
        assert res["status"] == 200, res
        assert res["headers"]["x-goalit-backend"] in ("edge-a", "edge-b")
        assert res["headers"]["x-goalit-level"] in ("q8_0", "q4_0")
        if res["stream"]:
            assert res["headers"]["content-type"].startswith("text/event-stream")
            events = sse_events(res["text"])
            assert events[-1] == "[DONE]"
            chunks = [json.loads(e) for e in events[:-1]]
            kind = "chat.completion.chunk" if res["chat"] else "text_completion"
            assert all(c["object"] == kind for c in chunks)
        else:
            body = json.loads(res["text"])
            assert body["object"] == ("chat.completion" if res["chat"] else "text_completion")
            assert 1 <= body["usage"]["completion_tokens"] <= 8
    used = {r["headers"]["x-goalit-backend"] for r in results}
    assert used == {"edge-a", "edge-b"}  # 20 concurrent requests are spread over both servers
    m = httpx.get(gateway + "/metrics?format=json").json()
    assert m["counters"]["goalit_requests_completed_total"] == [{"outcome": "ok", "value": 20.0}] or (
        m["counters"]["goalit_requests_accepted_total"]
        == sum(x["value"] for x in m["counters"]["goalit_requests_completed_total"])
    )
    assert m["gauges"]["goalit_requests_in_flight"] == 0.0


def post(base: str, body: dict, path: str = "/v1/completions") -> httpx.Response:
    return httpx.post(base + path, json=body, timeout=120)


def test_gateway_routing_follows_preferences(gateway):
    base = {"prompt": "Hello", "max_tokens": 64, "temperature": 0}
    # latency only: the faster level; quality-weighted: the better one; a PPL bound or a level name pins it
    assert post(gateway, base).headers["x-goalit-level"] == "q4_0"
    assert post(gateway, {**base, "goalit": {"w_quality": 1.0}}).headers["x-goalit-level"] == "q8_0"
    assert post(gateway, {**base, "goalit": {"max_perplexity": 30.0}}).headers["x-goalit-level"] == "q8_0"
    r = post(gateway, {**base, "model": "smollm2:q8_0"})
    assert r.status_code == 200 and r.headers["x-goalit-level"] == "q8_0"
    assert float(r.headers["x-goalit-perplexity"]) == pytest.approx(27.070)


def test_gateway_models_health_and_prometheus_metrics(gateway):
    models = httpx.get(gateway + "/v1/models").json()
    assert [m["id"] for m in models["data"]] == ["smollm2", "smollm2:q8_0", "smollm2:q4_0"]
    health = httpx.get(gateway + "/health").json()
    assert health["status"] == "ok" and all(b["up"] for b in health["backends"])
    text = httpx.get(gateway + "/metrics").text
    assert "# TYPE goalit_requests_accepted_total counter" in text
    assert 'goalit_backend_up{backend="edge-a"} 1' in text


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        (b"{not json", 400, "invalid_json"),
        (b"[1, 2]", 400, "invalid_json"),
        (b'{"model": "gpt-4", "prompt": "x"}', 400, "model_not_found"),
        (b'{"model": "smollm2:q2_k", "prompt": "x"}', 400, "model_not_found"),
        (b'{"prompt": "x", "max_tokens": 0}', 400, "invalid_request"),
        (b'{"prompt": "x", "goalit": {"w_latency": -1}}', 400, "invalid_request"),
        (b'{"prompt": "x", "goalit": {"speed": 1}}', 400, "invalid_request"),
        (b'{"prompt": "x", "goalit": {"max_perplexity": 5}}', 400, "invalid_request"),
        (b'{"prompt": "x" ' + b" " * (1 << 20) + b"}", 413, "body_too_large"),
    ],
    ids=["malformed", "not-object", "unknown-model", "unserved-level", "max-tokens", "weight", "field", "ppl",
         "oversize"],
)  # fmt: skip
def test_gateway_rejects_bad_requests_with_a_reason(gateway, content, status, code):
    r = httpx.post(gateway + "/v1/completions", content=content, headers={"content-type": "application/json"})
    assert r.status_code == status
    err = r.json()["error"]
    assert err["code"] == code and err["message"]


def test_gateway_rejects_wrong_method_and_path(gateway):
    assert httpx.get(gateway + "/v1/completions").status_code == 405
    assert httpx.get(gateway + "/v2/nothing").status_code == 404


def test_gateway_queue_full_answers_429(shared_backends, tmp_path):
    group, urls = shared_backends
    cfg = write_config(tmp_path / "gateway.toml", urls, {"max_queue": 1})
    base = start_gateway(group, cfg)

    async def run():
        async with httpx.AsyncClient(timeout=120) as client:
            body = {"prompt": "Count slowly:", "max_tokens": 48, "temperature": 0}
            return await asyncio.gather(*(client.post(base + "/v1/completions", json=body) for _ in range(8)))

    try:
        codes = [r.status_code for r in asyncio.run(run())]
        assert set(codes) <= {200, 429}
        assert codes.count(429) >= 1 and codes.count(200) >= 3  # 2 running slots + 1 queue place
        m = httpx.get(base + "/metrics?format=json").json()["counters"]
        rejected = [{"reason": "queue_full", "value": float(codes.count(429))}]
        assert m["goalit_requests_rejected_total"] == rejected
    finally:
        group.stop(group.children[-1])


def test_gateway_client_leaving_mid_stream_frees_the_backend(gateway):
    body = {"prompt": "Write a long story:", "max_tokens": 200, "temperature": 0, "stream": True}
    with httpx.stream("POST", gateway + "/v1/completions", json=body, timeout=60) as r:
        assert r.status_code == 200
        next(r.iter_raw())  # the first chunk, then hang up
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        m = httpx.get(gateway + "/metrics?format=json").json()
        if m["gauges"]["goalit_requests_in_flight"] == 0.0:
            break
        time.sleep(0.1)
    assert m["gauges"]["goalit_requests_in_flight"] == 0.0
    assert all(b["running"] == 0 for b in httpx.get(gateway + "/health").json()["backends"])
    assert post(gateway, {"prompt": "Hi", "max_tokens": 2}).status_code == 200
