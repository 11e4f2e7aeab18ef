"""Helpers shared by the subcommands: scenario argument, JSON output, small tables."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any


def add_scenario_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "scenario",
        nargs="?",
        default="default",
        metavar="NAME|FILE",
        help="embedded scenario name (default, small, large, ...) or a scenario TOML file (default: default)",
    )


def add_seed_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--seed",
        type=seed_int,
        default=0,
        help="root seed of the random streams (default: 0, at most 2^63-1)",
    )


def _show(text: str) -> str:
    """``text`` for an error message: repr, shortened (flags may be pasted megabytes)."""
    return repr(text) if len(text) <= 40 else repr(text[:20]) + f"... ({len(text)} characters)"


def seed_int(text: str) -> int:
    from goalit.limits import MAX_SEED

    return int_at_most(MAX_SEED)(text)


def int_at_most(limit: int, ge: int = 0):
    """An argparse type: an integer in [ge, limit] (the limit is stated in the message)."""

    def parse(text: str) -> int:
        value = nonnegative_int(text) if ge >= 0 else _int(text)
        if value < ge:
            raise argparse.ArgumentTypeError(f"must be >= {ge}, not {value}")
        if value > limit:
            raise argparse.ArgumentTypeError(f"must be <= {limit} (the limit), not {_show(text)}")
        return value

    return parse


def jobs_int(text: str) -> int:
    """``--jobs``: 1 <= N <= 4 per CPU (``goalit.limits.max_jobs``)."""
    from goalit.limits import max_jobs

    return int_at_most(max_jobs(), ge=1)(text)


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer {_show(text)}") from None


def nonnegative_int(text: str) -> int:
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, not {value}")
    return value


def positive_int(text: str) -> int:
    value = nonnegative_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, not {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {_show(text)}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, not {_show(text)}")
    return value


def print_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, indent=2, sort_keys=False, allow_nan=False, default=_default)
    sys.stdout.write("\n")


def _default(v: Any) -> Any:
    import numpy as np

    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table with right-aligned numbers."""
    cells = [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[k]) for r in cells)) if cells else len(h) for k, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for r in cells:
        lines.append(
            "  ".join(c.rjust(w) if _numeric(c) else c.ljust(w) for c, w in zip(r, widths, strict=True))
        )
    return "\n".join(lines)


def _fmt(c: Any) -> str:
    if isinstance(c, float):
        return f"{c:.4g}" if abs(c) < 1e5 else f"{c:.6g}"
    return str(c)


def _numeric(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False
