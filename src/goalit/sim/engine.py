"""The event queue of the discrete-event simulator: a binary heap ordered by (time, kind, sequence).

Ties at equal times are broken by event kind (``KIND_ORDER``: instance boundaries and completions
before arrivals and epochs, so capacity freed at t is visible to decisions at t), then by insertion
order, which makes every run deterministic.
"""

from __future__ import annotations

import heapq
from typing import Any

# Event kinds, in tie-breaking order at equal times.
INSTANCE = 0  # a continuous-batching instance reaches a step boundary: (r, version)
BATCH_DONE = 1  # a static batch finishes: (r, version)
LOCAL_DONE = 2  # on-device inference finishes: request
UPLINK_DONE = 3  # a prompt reached its instance: request
DOWNLINK_DONE = 4  # a response reached its device: request
EPOCH = 5  # an epoch boundary of an epoch policy: epoch index

KIND_NAMES = ("instance", "batch-done", "local-done", "uplink-done", "downlink-done", "epoch")


class EventQueue:
    """Min-heap of ``(time_s, kind, seq, a, b)``; ``a``/``b`` are the event's integer payload."""

    __slots__ = ("_heap", "_seq", "popped")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, int, Any, Any]] = []
        self._seq = 0
        self.popped = 0

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, time_s: float, kind: int, a: Any = 0, b: Any = 0) -> None:
        """Schedule an event."""
        self._seq += 1
        heapq.heappush(self._heap, (time_s, kind, self._seq, a, b))

    def peek_time(self) -> float:
        """Time of the next event (inf if none)."""
        return self._heap[0][0] if self._heap else float("inf")

    def pop(self) -> tuple[float, int, Any, Any]:
        """Remove and return the next event as ``(time_s, kind, a, b)``."""
        t, kind, _, a, b = heapq.heappop(self._heap)
        self.popped += 1
        return t, kind, a, b
