"""The gateway's bookkeeping: one ``Flight`` per admitted request, one ``BackendState`` per backend.

A backend runs at most ``concurrency`` forwarded requests; the others wait in its FIFO. When a backend
is marked down, every request waiting for it is woken with ``False`` so the gateway re-routes it.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from dataclasses import dataclass, field

from goalit.serve.config import BackendConfig
from goalit.serve.online import PrefillLog
from goalit.serve.requests import ParsedRequest
from goalit.serve.router import Decision, Job

_ids = itertools.count(1)


@dataclass(eq=False)
class Flight:
    """An admitted request: its player, its placement (decision) and its timeline (perf_counter s)."""

    request: ParsedRequest
    t_received: float
    id: int = field(default_factory=lambda: next(_ids))
    decision: Decision | None = None
    state: str = "new"  # new -> queued -> running -> (queued ...) -> done
    exclude: set[int] = field(default_factory=set)
    retries: int = 0
    t_started: float = 0.0  # slot acquired on the current backend
    queue_s: float = 0.0  # total time waiting for backend slots
    backend_s: float = 0.0  # total time spent talking to backends
    output_tokens: int = 0
    outcome: str = ""
    t_forward: float = float("nan")  # the last forward to a backend started (perf_counter s)
    t_first: float = float("nan")  # its first bytes came back (streaming only)
    area_first: float = 0.0  # the backend's running-requests integral at t_first (online calibration)
    host_area_first: dict[int, float] = field(default_factory=dict)  # same, other backends on its host
    batch_start: int = 0  # requests running on the backend when the forward started (itself included)

    @property
    def job(self) -> Job:
        j = self.request.job
        if not self.exclude:
            return j
        from dataclasses import replace

        return replace(j, exclude=frozenset(self.exclude))

    def remaining_s(self, now: float) -> float:
        """Estimated work this request still needs on its backend (s)."""
        if self.decision is None:
            return 0.0
        if self.state == "running":
            return max(0.0, self.decision.service_s - (now - self.t_started))
        return self.decision.service_s


@dataclass(eq=False)
class BackendState:
    """Health, the FIFO of waiting requests and the running ones of one backend."""

    index: int
    config: BackendConfig
    up: bool = True
    running: set[Flight] = field(default_factory=set)
    waiting: deque = field(default_factory=deque)  # (flight, future)
    loaded_level: str | None = None  # level of the last request started here
    down_since: float = 0.0
    faults: int = 0
    last_fault: str = ""
    prefills: PrefillLog = field(default_factory=PrefillLog)  # forwards started here (online calibration)
    _area: float = 0.0  # integral of len(running) over time (request-seconds), up to _t_area
    _t_area: float = field(default_factory=time.perf_counter)

    def area(self, now: float | None = None) -> float:
        """Time-integral of the number of running requests up to ``now`` (request-seconds); the mean batch
        over an interval is the difference of two readings over its length."""
        now = time.perf_counter() if now is None else now
        return self._area + len(self.running) * (now - self._t_area)

    def _tick(self) -> None:
        now = time.perf_counter()
        self._area = self.area(now)
        self._t_area = now

    @property
    def name(self) -> str:
        return self.config.name

    def tail_level(self) -> str | None:
        """The level this backend will have loaded when a newly queued request starts."""
        if self.waiting:
            return self.waiting[-1][0].decision.level
        return self.loaded_level

    async def acquire(self, flight: Flight) -> bool:
        """Wait for a slot in FIFO order; False if the backend goes down meanwhile."""
        if not self.up:
            return False
        flight.state = "queued"
        t0 = time.perf_counter()
        if len(self.running) < self.config.concurrency and not self.waiting:
            granted = True
            self._tick()
        else:
            fut: asyncio.Future = asyncio.get_running_loop().create_future()
            self.waiting.append((flight, fut))
            try:
                granted = await fut
            except asyncio.CancelledError:
                self._drop_waiter(flight)
                if fut.done() and not fut.cancelled() and fut.result():
                    self._tick()
                    self.running.add(flight)
                    self.release(flight)
                raise
        flight.queue_s += time.perf_counter() - t0
        if not granted:
            flight.state = "new"
            return False
        self._tick()
        self.running.add(flight)
        flight.state = "running"
        flight.t_started = time.perf_counter()
        assert flight.decision is not None  # the gateway places a request before it queues for a slot
        self.loaded_level = flight.decision.level
        return True

    def _drop_waiter(self, flight: Flight) -> None:
        self.waiting = deque((f, fu) for f, fu in self.waiting if f is not flight)

    def release(self, flight: Flight) -> None:
        """Free ``flight``'s slot (if it holds one) and start the next waiter."""
        self._tick()
        if flight in self.running:
            self.running.discard(flight)
        else:
            self._drop_waiter(flight)
        while self.waiting and len(self.running) < self.config.concurrency and self.up:
            nxt, fut = self.waiting.popleft()
            if not fut.done():
                self.running.add(nxt)  # reserve the slot now; ``acquire`` re-adds it
                fut.set_result(True)

    def mark_down(self, reason: str) -> bool:
        """Mark down and wake every waiter with False; True if it was up."""
        was_up = self.up
        self.up = False
        if was_up:
            self.down_since = time.perf_counter()
            self.faults += 1
            self.last_fault = reason
        while self.waiting:
            _, fut = self.waiting.popleft()
            if not fut.done():
                fut.set_result(False)
        return was_up

    def mark_up(self) -> bool:
        """Mark healthy again; True if it was down. The loaded level is unknown after a restart."""
        was_down = not self.up
        self.up = True
        if was_down:
            self.loaded_level = None
        return was_down
