"""The one result schema shared by every algorithm of the registry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from goalit.game.metrics import ProfileMetrics, profile_metrics
from goalit.game.model import Game


@dataclass
class SolveResult:
    """A profile chosen by an algorithm, with its metrics and the algorithm's own statistics.

    ``profile[i]`` is 0 for local execution or the instance index 1..R. ``extras`` holds
    algorithm-specific fields (e.g. nodes explored, MILP status and gap).
    """

    algorithm: str
    profile: np.ndarray
    metrics: ProfileMetrics
    epsilon: float
    converged: bool = True
    slots: int = 0
    updates: int = 0
    messages: int = 0
    runtime_s: float = 0.0
    potential_trace: list[float] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, game: Game, algorithm: str, profile: np.ndarray, **kw: Any) -> SolveResult:
        """Evaluate ``profile`` and wrap it."""
        profile = np.asarray(profile, dtype=np.int64)
        return cls(algorithm, profile, profile_metrics(game, profile), game.epsilon, **kw)

    def assignment(self, game: Game, server_names: list[str] | None = None) -> list[dict[str, Any]]:
        """One entry per user: ``server`` (index or None for local), ``server_name`` and ``level``."""
        out = []
        for r in self.profile.tolist():
            j = int(game.server_of[r])
            entry: dict[str, Any] = {"server": None if j < 0 else j, "level": str(game.level_of[r])}
            if server_names is not None:
                entry["server_name"] = None if j < 0 else server_names[j]
            out.append(entry)
        return out

    def summary(self) -> dict[str, Any]:
        """The scalar fields (JSON-ready), without per-user data."""
        m = self.metrics
        return {
            "algorithm": self.algorithm,
            "converged": bool(self.converged),
            "slots": int(self.slots),
            "updates": int(self.updates),
            "messages": int(self.messages),
            "epsilon": float(self.epsilon),
            "max_regret": m.max_regret,
            "social_cost": m.social_cost,
            "potential": m.potential,
            "mean_latency_s": m.mean_latency_s,
            "p95_latency_s": m.p95_latency_s,
            "token_throughput_tps": m.token_throughput_tps,
            "mean_perplexity": m.mean_perplexity,
            "offloaded": m.offloaded,
            "runtime_s": self.runtime_s,
            **{k: _jsonable(v) for k, v in self.extras.items()},
        }


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v
