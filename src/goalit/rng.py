"""Named random streams from one root seed.

``streams(seed)["workload"]`` and friends are independent ``np.random.Generator`` objects derived from
``SeedSequence(seed)`` with a spawn key from the stream's name, so adding a stream never shifts
another, and every policy compared under the same seed sees the same workload and radio draws.
"""

from __future__ import annotations

import zlib

import numpy as np

from goalit.limits import check_seed

__all__ = ["STREAMS", "stream", "streams"]

STREAMS = ("workload", "radio", "algorithm")  # the named streams of a run


def stream(seed: int, name: str) -> np.random.Generator:
    """The generator of stream ``name`` under root ``seed``."""
    key = zlib.crc32(name.encode("utf-8"))
    return np.random.default_rng(np.random.SeedSequence(entropy=check_seed(seed), spawn_key=(key,)))


def streams(seed: int) -> dict[str, np.random.Generator]:
    """All standard streams of ``seed``."""
    return {name: stream(seed, name) for name in STREAMS}
