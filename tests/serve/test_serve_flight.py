"""Per-backend FIFO slots: order, capacity, wake-up on failure, cancellation."""

from __future__ import annotations

import asyncio

import pytest

from goalit.serve.config import BackendConfig
from goalit.serve.flight import BackendState, Flight
from goalit.serve.requests import ParsedRequest
from goalit.serve.router import Decision, Job


def flight(level="q4_0"):
    f = Flight(ParsedRequest("completions", {}, False, Job(10, 10, 1.0, 0.0, 0.0, 60.0, 1e9)), 0.0)
    f.decision = Decision(1, 0, level, 1.0, 0.5)
    return f


def backend(concurrency=1):
    return BackendState(
        0, BackendConfig("a", "http://127.0.0.1:1", "cpu", {"q4_0": "m"}, concurrency=concurrency)
    )


def test_serve_flight_fifo_and_capacity():
    async def run():
        b = backend(concurrency=2)
        fs = [flight() for _ in range(4)]
        order = []

        async def use(f, hold):
            assert await b.acquire(f)
            order.append(f.id)
            await asyncio.sleep(hold)
            b.release(f)

        tasks = [asyncio.ensure_future(use(f, 0.02)) for f in fs]
        await asyncio.sleep(0.005)
        assert len(b.running) == 2 and len(b.waiting) == 2
        assert b.tail_level() == "q4_0"
        await asyncio.gather(*tasks)
        assert order == [f.id for f in fs] and not b.running and not b.waiting

    asyncio.run(run())


def test_serve_flight_mark_down_wakes_waiters_with_false_and_up_forgets_level():
    async def run():
        b = backend()
        f1, f2, f3 = flight(), flight(), flight()
        assert await b.acquire(f1)
        assert b.loaded_level == "q4_0"
        w2 = asyncio.ensure_future(b.acquire(f2))
        w3 = asyncio.ensure_future(b.acquire(f3))
        await asyncio.sleep(0)
        assert b.mark_down("connect: refused") and not b.mark_down("again")
        assert await w2 is False and await w3 is False
        assert f2.state == "new" and b.faults == 1
        assert not await b.acquire(flight())  # a down backend grants nothing
        assert b.mark_up() and b.loaded_level is None

    asyncio.run(run())


def test_serve_flight_cancelled_waiter_does_not_leak_a_slot():
    async def run():
        b = backend()
        f1, f2, f3 = flight(), flight(), flight()
        assert await b.acquire(f1)
        w2 = asyncio.ensure_future(b.acquire(f2))
        w3 = asyncio.ensure_future(b.acquire(f3))
        await asyncio.sleep(0)
        w2.cancel()
        await asyncio.sleep(0)
        b.release(f1)
        assert await w3 is True and b.running == {f3}

    asyncio.run(run())


def test_serve_flight_remaining_work_estimate():
    f = flight()
    assert f.remaining_s(100.0) == 0.5  # queued: all of it
    f.state, f.t_started = "running", 100.0
    assert f.remaining_s(100.2) == pytest.approx(0.3)
    assert f.remaining_s(105.0) == 0.0
