"""Stated limits on everything a user can ask for in resources, checked before any allocation or fork.

One place for the bounds of scenario files, traces, simulation runs, CLI flags and (with
``goalit.serve.config``) gateway requests. A value over its limit is bad input: a one-line
``GoalitInputError`` naming the field, the value and the limit (exit 2). The limits are far above what
the paper's experiments use (spec C.5: up to 200 users, 5 servers, a few thousand requests) and far
below what exhausts a 2-core, 8-24 GB machine; each states why.
"""

from __future__ import annotations

import os

from goalit.errors import GoalitInputError

# Scenario size. The game's cost tables are n_users x (R + 1) float64 arrays (about six of them), so
# the product is bounded too: 100,000 users x 200 actions ~ 1 GB of tables.
MAX_USERS = 100_000
MAX_SERVERS = 1_000
MAX_GAME_CELLS = 20_000_000  # n_users * n_actions: ~160 MB per float64 table, ~6 tables
MAX_SCENARIO_BYTES = 64 * 2**20  # a scenario/profile file (100,000 explicit users take ~25 MB of TOML)

# Workloads. One request costs ~1 KB in the simulator (records, events, user row) plus its row of the
# request game (also bounded by MAX_GAME_CELLS): 1 million requests ~ 1-2 GB. The Azure 2023 traces have 19k-28k rows, Mooncake's 23.6k (shared/data/traces).
MAX_REQUESTS = 1_000_000
MAX_TRACE_BYTES = 2 * 2**30  # a trace file: 2 GiB (the largest public trace is ~0.4 GB)
MAX_TOKENS = 10_000_000  # prompt or output tokens of one request (the longest contexts are ~1-2 M)

# Seeds are written as int64 in results and as a SeedSequence entropy.
MAX_SEED = 2**63 - 1
MAX_SEEDS_PER_POINT = 1_000  # `reproduce --seeds`: 20 in full mode


def max_jobs() -> int:
    """Worker processes a sweep may start: 4 per logical CPU (more only thrash; each imports NumPy)."""
    return 4 * (os.cpu_count() or 1)


def check_at_most(value: float, limit: float, field: str, unit: str = "") -> None:
    """One-line error ``FIELD: V exceeds the limit of L`` if ``value > limit``."""
    if value > limit:
        u = f" {unit}" if unit else ""
        raise GoalitInputError(f"{field}: {_fmt(value)}{u} exceeds the limit of {_fmt(limit)}{u}")


def _fmt(v: float) -> str:
    if isinstance(v, int) or float(v).is_integer() and abs(v) < 1e16:
        return f"{int(v):,}"
    return f"{v:.6g}"
