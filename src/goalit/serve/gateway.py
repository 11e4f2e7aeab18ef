"""The OpenAI-compatible gateway: admission, routing by a game policy, forwarding, faults, metrics.

Endpoints: ``POST /v1/completions``, ``POST /v1/chat/completions`` (streaming SSE passed through),
``GET /v1/models``, ``GET /health``, ``GET /metrics`` (Prometheus text; JSON with ``?format=json`` or
``Accept: application/json``).

Life of a request: body read with a size limit (413) -> validated (400) -> admitted unless the gateway
already holds ``max_queue`` requests beyond the running slots of the healthy backends (429) -> a
player of the routing game (``goalit.serve.router``; arrivals of one event-loop tick are solved
together) -> queued on the chosen backend -> forwarded. A backend that refuses the connection, times
out or drops the connection is marked down; the request is re-routed (the game re-solved without that
backend) up to ``max_retries`` times, and requests waiting for it are re-routed too. A stream that
already sent bytes cannot be replayed: it ends with an SSE error event. Every admitted request ends
exactly once, as ``ok`` or ``error`` (``goalit_requests_completed_total``); nothing is dropped silently.

Prompt tokens are counted by a ``llama-server`` backend's tokenizer when one is up (``goalit.serve.tokens``;
characters / 4 otherwise). Every completed request updates its backend's online corrections of the
step-time model (``goalit.serve.online``) and the error of the latency the gateway predicted for it
(``x-goalit-predicted-latency-s``; ``goalit_prediction_abs_error`` in ``/metrics``, a ratio).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import anyio
import httpx
import numpy as np
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from goalit.serve.config import GatewayConfig
from goalit.serve.flight import BackendState, Flight
from goalit.serve.metrics import Metrics
from goalit.serve.online import decode_tpot
from goalit.serve.requests import BadRequest, ParsedRequest, parse_body
from goalit.serve.router import BackendView, Job, Placed, Router
from goalit.serve.tokens import TokenCounter, with_prompt_tokens

FAULT_STATUSES = (502, 503, 504)  # a backend answering these is treated as down, like a refused connection


class BackendFault(Exception):
    """A backend failed a request: ``kind`` in connect, timeout, disconnect, status."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


def error_body(message: str, kind: str = "server_error", code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


class Gateway:
    """State and behaviour of one gateway (an ASGI app is ``Gateway(...).app``)."""

    def __init__(self, config: GatewayConfig, policy: str | None = None, seed: int | None = None) -> None:
        self.config = config
        gw = config.gateway
        self.router = Router(config, policy or gw.policy, gw.seed if seed is None else seed)
        self.backends = [BackendState(j, b) for j, b in enumerate(config.backends)]
        self.metrics = Metrics()
        self.flights: dict[int, Flight] = {}
        self.client: httpx.AsyncClient | None = None
        self._pending: list[tuple[Flight, asyncio.Future]] = []
        self._probe_task: asyncio.Task | None = None
        self.tokens = TokenCounter(config)
        self._tokenizer_backends = [b for b in self.backends if b.config.engine == "llama-server"]
        online = self.router.online
        self.metrics.gauge_fns["goalit_backend_decode_correction"] = lambda: {
            (("backend", b.name),): float(online.decode[b.index]) for b in self.backends
        }
        self.metrics.gauge_fns["goalit_backend_prefill_correction"] = lambda: {
            (("backend", b.name),): float(online.prefill[b.index]) for b in self.backends
        }
        self.metrics.gauge_fns["goalit_backend_step_seconds"] = self._step_estimates
        self.metrics.gauge_fns["goalit_requests_in_flight"] = lambda: {(): float(len(self.flights))}
        self.metrics.gauge_fns["goalit_requests_queued"] = lambda: {
            (): float(sum(len(b.waiting) for b in self.backends))
        }
        self.metrics.gauge_fns["goalit_backend_up"] = lambda: {
            (("backend", b.name),): float(b.up) for b in self.backends
        }
        self.app = Starlette(
            routes=[
                Route("/v1/completions", self.completions, methods=["POST"]),
                Route("/v1/chat/completions", self.chat_completions, methods=["POST"]),
                Route("/v1/models", self.models, methods=["GET"]),
                Route("/health", self.health, methods=["GET"]),
                Route("/metrics", self.metrics_endpoint, methods=["GET"]),
            ],
            lifespan=self._lifespan,
            exception_handlers={HTTPException: _http_error},
        )

    # --- lifecycle ----------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette):
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    async def start(self) -> None:
        """Open the HTTP client, probe every backend once, start the probe loop."""
        gw = self.config.gateway
        timeout = httpx.Timeout(gw.request_timeout_s, connect=gw.connect_timeout_s)
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=64)
        self.client = httpx.AsyncClient(timeout=timeout, limits=limits)
        results = await asyncio.gather(*(self.probe(b) for b in self.backends))
        for b, ok in zip(self.backends, results, strict=True):
            if not ok:
                b.mark_down("not reachable at start")
        self._probe_task = asyncio.create_task(self._probe_loop())
        self._warm_up()

    def _warm_up(self) -> None:
        """Solve one dummy game so the first request does not pay for lazy imports and caches."""
        job = Job(1, 1, 1.0, 0.0, 0.0, 60.0, float("inf"))
        self.router.decide([job], [], [BackendView() for _ in self.backends])
        self.router.decisions = 0

    async def stop(self) -> None:
        if self._probe_task is not None:
            self._probe_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe_task
        if self.client is not None:
            await self.client.aclose()

    @property
    def _http(self) -> httpx.AsyncClient:
        """The HTTP client to the backends (opened by ``start``, before any probe or request)."""
        assert self.client is not None, "gateway not started"
        return self.client

    async def probe(self, b: BackendState) -> bool:
        """GET /v1/models on ``b`` within ``probe_timeout_s``: True if it answers 200."""
        try:
            r = await self._http.get(f"{b.config.url}/v1/models", timeout=self.config.gateway.probe_timeout_s)
            return r.status_code == 200
        except httpx.HTTPError:
            return False

    async def _probe_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.gateway.probe_interval_s)
            down = [b for b in self.backends if not b.up]
            if not down:
                continue
            results = await asyncio.gather(*(self.probe(b) for b in down))
            for b, ok in zip(down, results, strict=True):
                if ok and b.mark_up():
                    self.metrics.inc("goalit_backend_recoveries_total", backend=b.name)

    def mark_down(self, b: BackendState, fault: BackendFault) -> None:
        self.metrics.inc("goalit_backend_faults_total", backend=b.name, kind=fault.kind)
        b.mark_down(str(fault))

    def _step_estimates(self) -> dict:
        """The corrected decode-step estimate d_j(1) of every (backend, level) at a 256-token context."""
        out = {}
        for r in range(1, self.router.n_actions):
            j = int(self.router.backend_of[r])
            step = float(self.router.step_s(r, np.ones(1), np.full(1, 256.0))[0])
            out[(("backend", self.backends[j].name), ("level", str(self.router.level_of[r])))] = step
        return out

    def _host_peers(self, b: BackendState) -> list[int]:
        """Indices of the other backends on ``b``'s shared host (empty without one)."""
        host = b.config.host
        return (
            [m for m in self.config.host_groups().get(host, ()) if self.backends[m] is not b] if host else []
        )

    def _observe(self, flight: Flight, total_s: float) -> None:
        """Online calibration and prediction error from a request that ended ``ok``."""
        d = flight.decision
        if d is None or d.backend < 0:
            return
        self.metrics.observe("goalit_prediction_abs_error", abs(d.predicted_latency_s - total_s) / total_s)
        b, r, job = self.backends[d.backend], d.action, flight.request.job
        s, o = float(job.prompt_tokens), float(max(1, flight.output_tokens or job.output_tokens))
        end = time.perf_counter()
        rt = self.router
        if np.isfinite(flight.t_first) and flight.output_tokens > 1 and end > flight.t_first:
            span = end - flight.t_first
            n = max(1.0, (b.area(end) - flight.area_first) / span)
            pred = float(rt.step_s(r, np.array([n]), np.array([n * (s + o / 2)]), base=True)[0])
            # other requests' prefills on this engine (and its shared host's) meanwhile are not decode steps
            engines = [b, *(self.backends[m] for m in flight.host_area_first)]
            others = sum(e.prefills.overlap_s(flight.t_first, end, flight.id) for e in engines)
            tpot = decode_tpot(span, flight.output_tokens, others)
            if flight.host_area_first:  # shared host: the others' steps are part of the iteration, not ours
                peers = {
                    m: (self.backends[m].area(end) - a0) / span for m, a0 in flight.host_area_first.items()
                }
                tpot -= rt.others_step_s(d.backend, peers, s + o / 2)
            rt.online.observe_decode(d.backend, tpot, pred)
            n0 = float(max(1, flight.batch_start))
            ttft = float(rt.prefill_s(r, np.array([s]), base=True)[0]
                         + rt.step_s(r, np.array([n0]), np.array([n0 * s]), base=True)[0])  # fmt: skip
            rt.online.observe_prefill(d.backend, flight.t_first - flight.t_forward, ttft)
        elif not flight.request.stream and np.isfinite(flight.t_forward):
            pre = float(rt.prefill_s(r, np.array([s]))[0])
            step = float(rt.step_s(r, np.ones(1), np.array([s + o / 2]), base=True)[0])
            rt.online.observe_decode(d.backend, max(0.0, end - flight.t_forward - pre) / o, step)

    # --- decisions ----------------------------------------------------------------------------------
    def capacity(self) -> int:
        """Requests the gateway admits at once: running slots of the healthy backends + ``max_queue``."""
        return sum(b.config.concurrency for b in self.backends if b.up) + self.config.gateway.max_queue

    async def decide(self, flight: Flight):
        """The routing decision for ``flight``; arrivals of the same loop tick are one game."""
        fut = asyncio.get_running_loop().create_future()
        self._pending.append((flight, fut))
        if len(self._pending) == 1:
            asyncio.get_running_loop().call_soon(self._solve_pending)
        return await fut

    def _solve_pending(self) -> None:
        batch, self._pending = self._pending, []
        batch = [(f, fut) for f, fut in batch if not fut.done()]
        if not batch:
            return
        t0 = time.perf_counter()
        now = t0
        placed = [
            Placed(f.job, f.decision.action, f.remaining_s(now))
            for f in self.flights.values()
            if f.state in ("queued", "running") and f.decision is not None
        ]
        views = [BackendView(up=b.up, tail_level=b.tail_level()) for b in self.backends]
        try:
            decisions = self.router.decide([f.job for f, _ in batch], placed, views)
        except Exception as err:  # a policy bug must not lose requests: fail them with the reason
            for _, fut in batch:
                fut.set_exception(err)
            return
        self.metrics.observe("goalit_decision_seconds", time.perf_counter() - t0)
        self.metrics.inc("goalit_decisions_total")
        for (_f, fut), d in zip(batch, decisions, strict=True):
            if d.fallback:
                self.metrics.inc("goalit_policy_fallbacks_total")
            fut.set_result(d)

    # --- endpoints ----------------------------------------------------------------------------------
    async def completions(self, request: Request) -> Response:
        return await self._handle(request, "completions")

    async def chat_completions(self, request: Request) -> Response:
        return await self._handle(request, "chat/completions")

    async def models(self, request: Request) -> Response:
        cfg = self.config
        data = []
        for name in cfg.public_models():
            _, _, level = name.partition(":")
            entry: dict[str, Any] = {"id": name, "object": "model", "created": 0, "owned_by": "goalit"}
            if level:
                lv = cfg.llm.levels[level]
                served_by = [b.name for b in cfg.backends if level in b.levels]
                entry["goalit"] = {"level": level, "perplexity": lv.perplexity,
                                   "bits_per_weight": lv.bits_per_weight, "backends": served_by}  # fmt: skip
            else:
                entry["goalit"] = {"policy": self.router.policy, "levels": cfg.public_models()[1:]}
            data.append(entry)
        return JSONResponse({"object": "list", "data": data})

    async def health(self, request: Request) -> Response:
        backends = [
            {"name": b.name, "url": b.config.url, "up": b.up, "running": len(b.running),
             "queued": len(b.waiting), "loaded_level": b.loaded_level, "faults": b.faults,
             "last_fault": b.last_fault}
            for b in self.backends
        ]  # fmt: skip
        up = any(b.up for b in self.backends)
        body = {"status": "ok" if up else "unavailable", "policy": self.router.policy,
                "in_flight": len(self.flights), "capacity": self.capacity(),
                "backends": backends}  # fmt: skip
        return JSONResponse(body, status_code=200 if up else 503)

    async def metrics_endpoint(self, request: Request) -> Response:
        if request.query_params.get("format") == "json" or "application/json" in request.headers.get(
            "accept", ""
        ):
            return JSONResponse(self.metrics.as_json())
        return PlainTextResponse(self.metrics.as_prometheus(), media_type="text/plain; version=0.0.4")

    # --- the request path ---------------------------------------------------------------------------
    async def _read_body(self, request: Request) -> bytes:
        limit = self.config.gateway.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise BadRequest(
                413, f"body of {declared} bytes exceeds the limit of {limit} bytes", "body_too_large"
            )
        chunks, size = [], 0
        timeout = self.config.gateway.body_timeout_s
        try:
            async with asyncio.timeout(timeout):  # a stalled or trickling client cannot hold a slot
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:
                        raise BadRequest(413, f"body exceeds the limit of {limit} bytes", "body_too_large")
                    chunks.append(chunk)
        except TimeoutError:
            raise BadRequest(408, f"body not received within {timeout:g} s", "body_timeout") from None
        return b"".join(chunks)

    def _reject(self, reason: str, status: int, body: dict, headers: dict | None = None) -> Response:
        self.metrics.inc("goalit_requests_rejected_total", reason=reason)
        return JSONResponse(body, status_code=status, headers=headers)

    async def _handle(self, request: Request, kind: str) -> Response:
        t_received = time.perf_counter()
        self.metrics.inc("goalit_requests_received_total")
        try:
            parsed = parse_body(await self._read_body(request), kind, self.config)
        except BadRequest as err:
            # 408/413: the rest of the body is unread, so the connection cannot be reused
            close = {"Connection": "close"} if err.status in (408, 413) else None
            return self._reject(err.code, err.status, err.body(), close)
        except ClientDisconnect:
            self.metrics.inc("goalit_requests_rejected_total", reason="client_disconnect")
            return Response(status_code=400)
        if not any(b.up for b in self.backends):
            return self._reject("no_backend", 503, error_body("no backend is up", code="no_backend"),
                                {"Retry-After": "1"})  # fmt: skip
        if len(self.flights) >= self.capacity():
            return self._reject(
                "queue_full", 429,
                error_body(f"queue full ({len(self.flights)} requests in the gateway)", "rate_limit_error",
                           "queue_full"),
                {"Retry-After": "1"},
            )  # fmt: skip
        if self.tokens.urls:
            up = [b.up for b in self._tokenizer_backends]
            n_tok = await self.tokens.count(self._http, parsed, up)
            if n_tok is not None:
                parsed = with_prompt_tokens(parsed, n_tok)
            self.metrics.inc("goalit_prompt_token_counts_total",
                             source="estimate" if n_tok is None else "tokenizer")  # fmt: skip
        flight = Flight(parsed, t_received)
        self.flights[flight.id] = flight
        self.metrics.inc("goalit_requests_accepted_total")
        streaming = False
        try:
            response = await self._route(flight)
            streaming = isinstance(response, _ForwardedStream)
            return response
        except asyncio.CancelledError:
            flight.outcome = flight.outcome or "error"
            raise
        except Exception as err:  # never lose an admitted request: answer with the reason
            flight.outcome = "error"
            return JSONResponse(error_body(f"gateway error: {type(err).__name__}: {err}"), status_code=500)
        finally:
            if not streaming:
                self._finish(flight)

    def _finish(self, flight: Flight) -> None:
        """Account for ``flight`` exactly once and free its slot."""
        if self.flights.pop(flight.id, None) is None:
            return
        if flight.decision is not None and flight.decision.backend >= 0:
            self.backends[flight.decision.backend].release(flight)
        flight.state = "done"
        outcome = flight.outcome or "error"
        self.metrics.inc("goalit_requests_completed_total", outcome=outcome)
        total = time.perf_counter() - flight.t_received
        self.metrics.observe("goalit_latency_seconds", total)
        if outcome == "ok":
            self._observe(flight, total)
        self.metrics.observe("goalit_queue_seconds", flight.queue_s)
        if flight.backend_s > 0:
            self.metrics.observe(
                "goalit_overhead_seconds", max(0.0, total - flight.queue_s - flight.backend_s)
            )
        if flight.output_tokens:
            self.metrics.inc("goalit_output_tokens_total", flight.output_tokens)

    async def _route(self, flight: Flight) -> Response:
        max_retries = self.config.gateway.max_retries
        last_fault = "no backend can serve this request"
        while True:
            d = await self.decide(flight)
            if d.action == 0:
                flight.outcome = "error"
                reason = last_fault if flight.retries else _why_none(self, flight)
                return JSONResponse(error_body(reason, code="no_backend"), status_code=503)
            flight.decision = d
            b = self.backends[d.backend]
            self.metrics.inc("goalit_routed_total", backend=b.name, level=d.level)
            if not await b.acquire(flight):
                fault = BackendFault("down", f"backend {b.name} went down while the request waited")
            else:
                try:
                    return await self._forward(flight, b)
                except BackendFault as err:
                    fault = err
                    self.mark_down(b, err)
                b.release(flight)
            flight.decision = None
            flight.exclude.add(b.index)
            last_fault = f"backend {b.name} failed ({fault}); retries exhausted"
            if flight.retries >= max_retries:
                flight.outcome = "error"
                return JSONResponse(error_body(last_fault, code="backend_failed"), status_code=502)
            flight.retries += 1
            self.metrics.inc("goalit_retries_total")

    def _headers(self, flight: Flight, b: BackendState) -> dict[str, str]:
        d = flight.decision
        assert d is not None  # placed by _route before forwarding
        return {
            "x-goalit-request-id": str(flight.id),
            "x-goalit-backend": b.name,
            "x-goalit-level": d.level,
            "x-goalit-perplexity": repr(self.config.llm.levels[d.level].perplexity),
            "x-goalit-retries": str(flight.retries),
            "x-goalit-predicted-latency-s": f"{d.predicted_latency_s:.6f}",
            "x-goalit-queue-s": f"{flight.queue_s:.6f}",
        }

    async def _forward(self, flight: Flight, b: BackendState) -> Response:
        """Send ``flight`` to ``b``; raise ``BackendFault`` if nothing reached the client yet."""
        parsed: ParsedRequest = flight.request
        d = flight.decision
        assert d is not None  # placed by _route before forwarding
        body = dict(parsed.body)
        body["model"] = b.config.levels[d.level]
        url = f"{b.config.url}/v1/{parsed.kind}"
        t0 = time.perf_counter()
        flight.t_forward, flight.t_first, flight.batch_start = t0, float("nan"), len(b.running)
        if d.action > 0:  # its prefill: the model's, at the machine's current decode speed
            s = np.array([float(parsed.job.prompt_tokens)])
            pre = float(self.router.prefill_s(d.action, s, base=True)[0])
            b.prefills.add(t0, pre * float(self.router.online.decode[b.index]), flight.id)
        try:
            resp = await self._http.send(self._http.build_request("POST", url, json=body), stream=True)
        except httpx.HTTPError as err:
            flight.backend_s += time.perf_counter() - t0
            raise _fault(err) from None
        if resp.status_code in FAULT_STATUSES:
            await resp.aclose()
            flight.backend_s += time.perf_counter() - t0
            raise BackendFault("status", f"HTTP {resp.status_code}")
        if not parsed.stream or resp.status_code != 200:
            try:
                content = await resp.aread()
            except httpx.HTTPError as err:
                raise _fault(err) from None
            finally:
                await resp.aclose()
                flight.backend_s += time.perf_counter() - t0
            flight.outcome = "ok" if resp.status_code == 200 else "error"
            if resp.status_code == 200:
                flight.output_tokens = _usage_tokens(content)
            media = resp.headers.get("content-type", "application/json")
            return Response(
                content, status_code=resp.status_code, media_type=media, headers=self._headers(flight, b)
            )
        # streaming: wait for the first bytes so that a backend dying during prefill is still re-routed
        chunks = resp.aiter_raw()
        try:
            first = await chunks.__anext__()
        except StopAsyncIteration:
            first = b""
        except httpx.HTTPError as err:
            await resp.aclose()
            flight.backend_s += time.perf_counter() - t0
            raise _fault(err) from None
        flight.t_first = time.perf_counter()
        flight.area_first = b.area(flight.t_first)
        flight.host_area_first = {m: self.backends[m].area(flight.t_first) for m in self._host_peers(b)}
        return _ForwardedStream(self, flight, b, resp, first, chunks, t0)


class _ForwardedStream(StreamingResponse):
    """An SSE pass-through that accounts for its request when it ends, however it ends."""

    def __init__(
        self, gw: Gateway, flight: Flight, b: BackendState, resp: httpx.Response, first: bytes, chunks, t0
    ):
        self.gw, self.flight, self.b, self.resp, self.t0 = gw, flight, b, resp, t0
        self._first, self._chunks = first, chunks
        super().__init__(self._relay(), media_type="text/event-stream", headers=gw._headers(flight, b))

    async def _relay(self):
        flight = self.flight
        events = 0
        try:
            if self._first:
                events += self._first.count(b"data: ")
                self.gw.metrics.observe("goalit_ttft_seconds", time.perf_counter() - flight.t_received)
                yield self._first
            async for chunk in self._chunks:
                events += chunk.count(b"data: ")
                yield chunk
            flight.outcome = "ok"
        except httpx.HTTPError as err:
            fault = _fault(err)
            self.gw.mark_down(self.b, fault)
            flight.outcome = "error"
            msg = f"backend {self.b.name} failed mid-stream ({fault}); the answer is incomplete"
            yield f"data: {json.dumps(error_body(msg, code='backend_failed'))}\n\n".encode()
        finally:
            # not tokens: [DONE], a chat's role chunk, llama-server's final empty chunk with finish_reason
            framing = (
                1 + (flight.request.kind == "chat/completions") + (self.b.config.engine == "llama-server")
            )
            flight.output_tokens = max(0, events - framing)
            flight.backend_s += time.perf_counter() - self.t0
            with anyio.CancelScope(shield=True):  # the client may have gone: still close the backend stream
                await self.resp.aclose()

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.gw._finish(self.flight)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unknown path (404), wrong method (405), ...: the OpenAI-style JSON error body, not plain text."""
    assert isinstance(
        exc, HTTPException
    )  # registered for HTTPException only (Starlette types handlers by Exception)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "invalid_request")
    body = {"error": {"message": f"{exc.detail}: {request.method} {request.url.path}"[:300],
                      "type": "invalid_request_error", "param": None, "code": code}}  # fmt: skip
    return JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))


def _fault(err: httpx.HTTPError) -> BackendFault:
    if isinstance(err, httpx.ConnectError | httpx.ConnectTimeout):
        return BackendFault("connect", f"{type(err).__name__}: {err}")
    if isinstance(err, httpx.TimeoutException):
        return BackendFault("timeout", f"{type(err).__name__}")
    return BackendFault("disconnect", f"{type(err).__name__}: {err}")


def _usage_tokens(content: bytes) -> int:
    try:
        return int(json.loads(content)["usage"]["completion_tokens"])
    except (ValueError, KeyError, TypeError):
        return 0


def _why_none(gw: Gateway, flight: Flight) -> str:
    job = flight.request.job
    levels = sorted(job.levels) if job.levels else sorted({lv for b in gw.config.backends for lv in b.levels})
    ok_ppl = [lv for lv in levels if gw.config.llm.levels[lv].perplexity <= job.max_perplexity]
    if not ok_ppl:
        return f"no level has perplexity <= max_perplexity {job.max_perplexity:g}"
    return f"no healthy backend serves the admissible levels ({', '.join(ok_ppl)})"
