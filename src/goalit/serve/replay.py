"""An open-loop client: send requests at given times to an OpenAI-compatible endpoint, record what happens.

Each request is streamed (SSE) so that the time to first token is seen; the record keeps the status,
the routing headers of the gateway, the first and last content-chunk times and the number of content
chunks (one per generated token with llama_cpp.server). Every request ends with a record: a transport
failure or a client timeout is recorded as such, never dropped.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx


@dataclass
class Sent:
    """One request to send at ``at_s`` (seconds after the start) to ``path`` with JSON ``body``."""

    at_s: float
    body: dict[str, Any]
    path: str = "/v1/completions"


@dataclass
class Record:
    """What happened to one request (times in s from the start of the replay; NaN if it did not happen)."""

    index: int
    scheduled_s: float
    sent_s: float = float("nan")
    first_token_s: float = float("nan")
    done_s: float = float("nan")
    status: int = 0  # HTTP status; 0: no HTTP answer (transport error or client timeout)
    outcome: str = ""  # ok | partial | http_error | transport_error | timeout
    tokens: int = 0
    finish_reason: str = ""
    backend: str = ""
    level: str = ""
    perplexity: float = float("nan")
    retries: int = 0
    predicted_latency_s: float = float("nan")
    error: str = ""
    headers: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def latency_s(self) -> float:
        return self.done_s - self.sent_s

    @property
    def ttft_s(self) -> float:
        return self.first_token_s - self.sent_s

    def row(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("headers")
        d["latency_s"] = self.latency_s
        d["ttft_s"] = self.ttft_s
        return d


def _content(event: dict) -> str:
    ch = (event.get("choices") or [{}])[0]
    if "text" in ch:
        return ch.get("text") or ""
    return (ch.get("delta") or {}).get("content") or ""


async def send_one(
    client: httpx.AsyncClient, base: str, k: int, req: Sent, t0: float, timeout_s: float
) -> Record:
    """Send ``req`` (streaming) and record it; never raises for a failed request."""
    rec = Record(index=k, scheduled_s=req.at_s)
    body = {**req.body, "stream": True}
    rec.sent_s = time.perf_counter() - t0
    try:
        async with asyncio.timeout(timeout_s):
            async with client.stream("POST", base + req.path, json=body) as resp:
                rec.status = resp.status_code
                h = resp.headers
                rec.headers = {k_: v for k_, v in h.items() if k_.startswith("x-goalit-")}
                rec.backend = h.get("x-goalit-backend", "")
                rec.level = h.get("x-goalit-level", "")
                rec.perplexity = float(h.get("x-goalit-perplexity", "nan"))
                rec.retries = int(h.get("x-goalit-retries", "0"))
                rec.predicted_latency_s = float(h.get("x-goalit-predicted-latency-s", "nan"))
                if resp.status_code != 200:
                    rec.error = (await resp.aread()).decode(errors="replace")[:300]
                    rec.outcome = "http_error"
                else:
                    rec.outcome = await _read_stream(resp, rec, t0)
    except TimeoutError:
        rec.outcome, rec.error = "timeout", f"no complete answer within {timeout_s:g} s"
    except httpx.HTTPError as err:
        rec.outcome, rec.error = "transport_error", f"{type(err).__name__}: {err}"
    rec.done_s = time.perf_counter() - t0
    return rec


async def _read_stream(resp: httpx.Response, rec: Record, t0: float) -> str:
    outcome = "partial"
    async for line in resp.aiter_lines():
        if not line.startswith("data: "):
            continue
        data = line[6:].strip()
        if data == "[DONE]":
            outcome = "ok"
            break
        event = json.loads(data)
        if "error" in event:
            rec.error = str(event["error"].get("message", event["error"]))[:300]
            break
        if _content(event):
            rec.tokens += 1
            if rec.tokens == 1:
                rec.first_token_s = time.perf_counter() - t0
        fr = (event.get("choices") or [{}])[0].get("finish_reason")
        if fr:
            rec.finish_reason = fr
    return outcome


async def replay(base: str, requests: list[Sent], timeout_s: float = 300.0, on_done=None) -> list[Record]:
    """Send every request at its time (open loop) and wait for all answers; records in request order."""
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=256)
    async with httpx.AsyncClient(timeout=httpx.Timeout(timeout_s, connect=10.0), limits=limits) as client:
        t0 = time.perf_counter()

        async def at(k: int, req: Sent) -> Record:
            delay = req.at_s - (time.perf_counter() - t0)
            if delay > 0:
                await asyncio.sleep(delay)
            rec = await send_one(client, base, k, req, t0, timeout_s)
            if on_done is not None:
                on_done(rec)
            return rec

        return list(await asyncio.gather(*(at(k, r) for k, r in enumerate(requests))))
