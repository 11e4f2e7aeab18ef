"""A sweep point: one (experiment, config, policy, seed) and its stable identity.

The identity of a point is ``(config_hash, seed)``. ``config_hash`` is the first 16 hex digits of the
SHA-256 of the canonical JSON of ``{"experiment", "policy", "config"}`` (sorted keys, no spaces), so the
same configuration always gets the same hash on every machine and Python version, and any change of a
parameter (load, horizon, epoch length, ...) gives a new point.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

HASH_DIGITS = 16


def canonical_json(obj: Any) -> str:
    """Compact JSON with sorted keys; floats in their shortest round-trip form; NaN/inf refused."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def config_hash(experiment: str, policy: str, config: dict[str, Any]) -> str:
    """The stable hash of a configuration (without the seed)."""
    text = canonical_json({"experiment": experiment, "policy": policy, "config": config})
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:HASH_DIGITS]


@dataclass(frozen=True)
class Point:
    """One unit of work of a sweep. ``config`` holds JSON scalars (and lists) only."""

    experiment: str
    policy: str
    config: dict[str, Any] = field(hash=False)
    seed: int = 0

    def __post_init__(self) -> None:
        for k, v in self.config.items():
            if isinstance(v, float) and not math.isfinite(v):
                raise ValueError(f"config[{k!r}] must be finite, not {v}")
        canonical_json(self.config)  # refuses anything that is not plain JSON

    @property
    def config_hash(self) -> str:
        return config_hash(self.experiment, self.policy, self.config)

    @property
    def key(self) -> tuple[str, int]:
        """``(config_hash, seed)``: the identity of the point (one CSV row)."""
        return (self.config_hash, int(self.seed))

    @property
    def task_name(self) -> str:
        """A unique, readable task name (Dask keys)."""
        return f"goalit-{self.experiment}-{self.config_hash}-{self.seed}"
