"""The base class of simulator policies."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from goalit.sim.view import Decision, View


@dataclass
class Policy:
    """Base class: ``epoch_s`` None decides at each arrival, else every ``epoch_s`` seconds (the decision
    interval); ``reroute_queued``: requests blocked in an admission queue are players too; ``static``:
    served with static batching. Dataclass fields are the policy's options."""

    name: str = "policy"
    epoch_s: float | None = None
    reroute_queued: bool = True
    static: bool = False
    stats: dict[str, Any] = field(default_factory=dict)

    def decide(self, view: View) -> Decision:  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "epoch_s": self.epoch_s, "reroute_queued": self.reroute_queued,
                "static_batching": self.static}  # fmt: skip

    def _count(self, key: str, value: int | float = 1) -> None:
        self.stats[key] = self.stats.get(key, 0) + value

    @classmethod
    def configured(cls, name: str, options: dict[str, Any], build: Callable[..., Policy]) -> Policy:
        """The policy from user options (``build(name, cls, options)`` checks them); override for defaults."""
        return build(name, cls, options)
