"""Markdown helpers of the report: numbers with significant digits, CIs, relative changes, tables."""

from __future__ import annotations

import math
from collections.abc import Sequence

from goalit.experiments.stats import Estimate


def num(x: float | None, digits: int = 3) -> str:
    """``digits`` significant digits; thousands separators from 1,000, scientific from 1e6 or below 1e-4."""
    if x is None or not isinstance(x, (int, float)) or not math.isfinite(x):
        return "–"
    if x == 0:
        return "0"
    if abs(x) >= 1e6 or abs(x) < 1e-4:
        return f"{x:.{digits}g}"
    if abs(x) >= 10 ** (digits - 1):
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


def est(e: Estimate, digits: int = 3) -> str:
    if not math.isfinite(e.half_width):
        return num(e.mean, digits)
    return f"{num(e.mean, digits)} ± {num(e.half_width, 2)}"


def pct(x: float) -> str:
    return "–" if not math.isfinite(x) else f"{x * 100:+.1f} %"


def pct_ci(c: float, ci: Estimate) -> str:
    if not math.isfinite(ci.lo):
        return pct(c)
    return f"{pct(c)} [{ci.lo * 100:+.1f}, {ci.hi * 100:+.1f}]"


def md_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def figure_links(figures_dir: str, *names: str) -> str:
    return "\n".join(f"![{n}]({figures_dir}/{n}.png)" for n in names)
