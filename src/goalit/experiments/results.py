"""Reading the results CSV back as typed rows, restricted to the points of a plan."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from goalit.experiments.point import Point
from goalit.experiments.stats import Estimate, mean_ci
from goalit.experiments.store import read_rows

Row = dict[str, Any]


def parse_cell(text: str) -> Any:
    """Inverse of ``store.format_value`` (numbers, booleans, JSON lists/objects, strings; '' -> None)."""
    if text == "":
        return None
    if text in ("true", "false"):
        return text == "true"
    if text[0] in "[{":
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def load_rows(path: str | Path, points: Iterable[Point] | None = None) -> list[Row]:
    """Rows of the CSV (typed; ``config`` parsed), only those of ``points`` when given, in their order."""
    raw = read_rows(path)
    rows = []
    for r in raw:
        row = {k: parse_cell(v) for k, v in r.items() if k not in ("config", "config_hash")}
        row["config_hash"] = r["config_hash"]
        row["config"] = json.loads(r["config"])
        rows.append(row)
    if points is None:
        return rows
    order = {p.key: i for i, p in enumerate(points)}
    picked = [r for r in rows if (r["config_hash"], int(r["seed"])) in order]
    picked.sort(key=lambda r: order[(r["config_hash"], int(r["seed"]))])
    return picked


def select(rows: Sequence[Row], experiment: str, **where: Any) -> list[Row]:
    """Rows of ``experiment`` whose policy/config/columns equal ``where``."""

    def value(r: Row, k: str) -> Any:
        return r[k] if k in r and k != "config" else r["config"].get(k)

    return [
        r for r in rows if r["experiment"] == experiment and all(value(r, k) == v for k, v in where.items())
    ]


def by_seed(rows: Sequence[Row], column: str) -> dict[int, float]:
    """column value per seed (floats; None -> NaN)."""
    return {int(r["seed"]): _num(r.get(column)) for r in rows}


def _num(v: Any) -> float:
    if v is None or isinstance(v, (str, list, dict)):
        return math.nan
    return float(v)


def estimate(rows: Sequence[Row], column: str) -> Estimate:
    return mean_ci([_num(r.get(column)) for r in rows])


def group(rows: Sequence[Row], key: Callable[[Row], Any]) -> dict[Any, list[Row]]:
    out: dict[Any, list[Row]] = defaultdict(list)
    for r in rows:
        out[key(r)].append(r)
    return dict(out)
