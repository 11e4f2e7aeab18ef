"""Stated limits on everything a user can ask for in resources, checked before any allocation or fork.

One place for the bounds of scenario files, traces, simulation runs, CLI flags and (with
``goalit.serve.config``) gateway requests. A value over its limit is bad input: a one-line
``GoalitInputError`` naming the field, the value and the limit (exit 2). The limits are far above what
the paper's experiments use (docs/model.md C.5: up to 200 users, 5 servers, a few thousand requests) and far
below what exhausts a 2-core, 8-24 GB machine; each states why.
"""

from __future__ import annotations

import math
import os
from typing import Any, SupportsIndex, cast

from goalit.errors import GoalitInputError

# Scenario size. The game's cost tables are n_users x (R + 1) float64 arrays (about six of them), so
# the product is bounded too: 100,000 users x 200 actions ~ 1 GB of tables.
MAX_USERS = 100_000
MAX_SERVERS = 1_000
MAX_GAME_CELLS = 20_000_000  # n_users * n_actions: ~160 MB per float64 table, ~6 tables
MAX_SUBCHANNELS = 1_000_000  # per AP; a 5G NR carrier has at most 3,300 subcarriers per symbol (275 PRBs)
MAX_SCENARIO_BYTES = 64 * 2**20  # a scenario/profile file (100,000 explicit users take ~25 MB of TOML)

# Workloads. One request costs ~1 KB in the simulator (records, events, user row) plus its row of the
# request game (also bounded by MAX_GAME_CELLS): 1 million requests ~ 1-2 GB. The Azure 2023 traces have 19k-28k rows, Mooncake's 23.6k (shared/data/traces).
MAX_REQUESTS = 1_000_000
MAX_TRACE_BYTES = 2 * 2**30  # a trace file: 2 GiB (the largest public trace is ~0.4 GB)
MAX_TOKENS = 10_000_000  # prompt or output tokens of one request (the longest contexts are ~1-2 M)

# Seeds are written as int64 in results and as a SeedSequence entropy.
MAX_SEED = 2**63 - 1
MAX_SEEDS_PER_POINT = 1_000  # `reproduce --seeds`: 20 in full mode


def check_seed(seed: object, field: str = "seed") -> int:
    """A root seed: an integer in [0, MAX_SEED] (bools and floats are refused), else a one-line error."""
    if isinstance(seed, bool) or not isinstance(seed, int) and not _is_np_int(seed):
        raise GoalitInputError(f"{field}: must be an integer in [0, 2^63-1], not {type(seed).__name__}")
    value = int(cast(SupportsIndex, seed))
    if not 0 <= value <= MAX_SEED:
        raise GoalitInputError(f"{field}: must be in [0, 2^63-1], not {_fmt(value)}")
    return value


def _is_np_int(v: object) -> bool:
    return type(v).__module__ == "numpy" and hasattr(v, "dtype") and getattr(v.dtype, "kind", "") in "iu"


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


# Options of the Python API (goalit.solve / goalit.simulate): name -> bounds. Values are checked here,
# with one-line errors naming the option, before any work. Iteration caps are bounded so that a typo
# cannot ask for years of computation (GOALIT converges in O(100) slots on the paper's scenarios).
MAX_ITERATIONS = 10_000_000
_POSITIVE = {"gt": 0}
OPTION_BOUNDS: dict[str, dict[str, Any]] = {
    "epsilon": _POSITIVE, "time_limit_s": _POSITIVE, "mip_rel_gap": {"ge": 0, "le": 1},
    "max_slots": {"gt": 0, "le": MAX_ITERATIONS, "integer": True},
    "max_rounds": {"gt": 0, "le": MAX_ITERATIONS, "integer": True},
    "max_nodes": {"gt": 0, "le": 10**12, "integer": True},
    "max_profiles": {"gt": 0, "le": 10**9, "integer": True},
    "rate": _POSITIVE, "duration_s": _POSITIVE, "horizon_s": _POSITIVE, "time_scale": _POSITIVE,
    "length_scale": _POSITIVE, "epoch_s": _POSITIVE, "context_tokens": {"gt": 0, "le": MAX_TOKENS},
    "kv_context_tokens": {"gt": 0, "le": MAX_TOKENS},
    "max_prompt_tokens": {"ge": 1, "le": MAX_TOKENS, "integer": True},
    "max_output_tokens": {"ge": 1, "le": MAX_TOKENS, "integer": True},
    "max_batch": {"ge": 1, "le": MAX_REQUESTS, "integer": True},
}  # fmt: skip
CHOICES: dict[str, tuple[str, ...]] = {"grant": ("parallel", "max-gain", "random"), "trace_format": ("azure", "mooncake"),
                             "formulation": ("extended", "aggregated")}  # fmt: skip
FLAGS = ("reduce", "reroute_queued", "one_level_per_server", "model_capacity")


def check_options(options: dict[str, Any], what: str) -> None:
    """Check the options in ``OPTION_BOUNDS`` / ``CHOICES`` / ``FLAGS``; ``None`` means the default."""
    for key, value in options.items():
        if value is None:
            continue
        if key in OPTION_BOUNDS:

            def fail(problem: str, key: str = key) -> None:
                raise GoalitInputError(f"{what}: option {key}: {problem}")

            check_number(value, fail, **OPTION_BOUNDS[key])
        elif key in CHOICES and value not in CHOICES[key]:
            raise GoalitInputError(
                f"{what}: option {key}: must be one of {', '.join(CHOICES[key])}, not {value!r}"
            )
        elif key in FLAGS and not isinstance(value, bool):
            raise GoalitInputError(f"{what}: option {key}: must be true or false, not {type(value).__name__}")


MAX_INTEGER = 2**53  # the largest range of integers a float64 holds exactly


def check_number(
    value: Any,
    fail: Any,
    *,
    gt: float | None = None,
    ge: float | None = None,
    le: float | None = None,
    integer: bool = False,
) -> float | int:
    """Return ``value`` if it is a finite number within the bounds, else call ``fail(problem)``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        fail(f"must be a number, not {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        fail("must be finite")
    if integer:
        if isinstance(value, float) and not value.is_integer():
            fail("must be an integer")
        if abs(value) > MAX_INTEGER:  # counts are stored as int64 and used as exact floats
            fail(f"must be <= {MAX_INTEGER} (2^53)")
        value = int(value)
    number: float | int = value
    if gt is not None and not value > gt:
        fail(f"must be > {gt:g}")
    if ge is not None and not value >= ge:
        fail(f"must be >= {ge:g}")
    if le is not None and not value <= le:
        fail(f"must be <= {le:g}")
    return number
