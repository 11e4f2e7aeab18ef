"""Draw users (and server layouts) from distributions, reproducibly from one seed.

A distribution is written in TOML as a number (a constant), ``{uniform = [lo, hi]}``,
``{loguniform = [lo, hi]}`` or ``{choice = [a, b, ...]}``. Integer fields (token counts) draw uniform
integers in [lo, hi] inclusive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from goalit.limits import MAX_USERS, check_number
from goalit.scenario._reader import Table
from goalit.scenario.model import Users

Dist = tuple[str, tuple[Any, ...]]

# (field, default distribution, lower bound kind, integer?)
USER_DISTRIBUTIONS: tuple[tuple[str, Dist, str, bool], ...] = (
    ("prompt_tokens", ("uniform", (64, 512)), "gt0", True),
    ("output_tokens", ("uniform", (64, 512)), "gt0", True),
    ("deadline_s", ("uniform", (5.0, 30.0)), "gt0", False),
    ("w_latency", ("const", (1.0,)), "gt0", False),
    ("w_quality", ("uniform", (0.0, 0.05)), "ge0", False),
    ("w_energy", ("choice", (0.0, 0.1)), "ge0", False),
    ("max_perplexity", ("const", (1e9,)), "gt0", False),
    ("tx_power_w", ("const", (0.2,)), "gt0", False),
)


@dataclass(frozen=True)
class UserGenerator:
    """How to draw ``count`` users uniformly in the rectangle ``area_m`` (width, height)."""

    count: int
    seed: int
    area_m: tuple[float, float]
    device: str
    dists: dict[str, Dist]
    origin_m: tuple[float, float] = (0.0, 0.0)

    def draw(self) -> Users:
        """The users; same generator, same users (one ``SeedSequence(seed)`` stream)."""
        rng = np.random.default_rng(np.random.SeedSequence(self.seed))
        n = self.count
        x = self.origin_m[0] + rng.uniform(0.0, self.area_m[0], n)
        y = self.origin_m[1] + rng.uniform(0.0, self.area_m[1], n)
        cols: dict[str, np.ndarray] = {}
        for name, _default, _bound, integer in USER_DISTRIBUTIONS:
            cols[name] = sample(self.dists[name], n, rng, integer)
        return Users(x_m=x, y_m=y, device=np.full(n, self.device, dtype=object), **cols)


def sample(dist: Dist, n: int, rng: np.random.Generator, integer: bool) -> np.ndarray:
    """``n`` draws of a distribution."""
    kind, args = dist
    if kind == "const":
        out = np.full(n, args[0], dtype=float)
    elif kind == "uniform":
        lo, hi = args
        out = rng.integers(int(lo), int(hi) + 1, n).astype(float) if integer else rng.uniform(lo, hi, n)
    elif kind == "loguniform":
        lo, hi = args
        out = np.exp(rng.uniform(math.log(lo), math.log(hi), n))
        if integer:
            out = np.round(out)
    elif kind == "choice":
        out = rng.choice(np.asarray(args, dtype=float), n)
    else:  # pragma: no cover - parse_dist admits only the kinds above
        raise AssertionError(kind)
    return out.astype(np.int64) if integer else out.astype(float)


def parse_dist(t: Table, key: str, default: Dist, bound: str, integer: bool) -> Dist:
    """Validate a distribution field; bounds apply to every value it can produce."""
    kw: dict[str, Any] = {"gt": 0} if bound == "gt0" else {"ge": 0}
    kw["integer"] = integer
    if not t.has(key):
        return default
    value = t.raw(key)

    def fail(problem: str) -> None:
        t.fail(problem, key)

    if not isinstance(value, dict):
        return ("const", (check_number(value, fail, **kw),))
    if len(value) != 1:
        fail("must be a number or a table with one of: uniform, loguniform, choice")
    kind, args = next(iter(value.items()))
    if kind not in ("uniform", "loguniform", "choice"):
        fail(f"unknown distribution {kind!r} (expected uniform, loguniform or choice)")
    if not isinstance(args, list) or not args:
        fail(f"{kind} must be a non-empty list of numbers")
    vals = tuple(check_number(a, fail, **kw) for a in args)
    if kind in ("uniform", "loguniform"):
        if len(vals) != 2 or vals[0] > vals[1]:
            fail(f"{kind} must be [lo, hi] with lo <= hi")
        if kind == "loguniform" and vals[0] <= 0:
            fail("loguniform bounds must be > 0")
    return (kind, vals)


def parse_user_generator(t: Table, hardware: set[str]) -> UserGenerator:
    """Validate a ``[users_generate]`` table."""
    dists = {name: parse_dist(t, name, d, b, i) for name, d, b, i in USER_DISTRIBUTIONS}
    gen = UserGenerator(
        count=int(t.number("count", gt=0, le=MAX_USERS, integer=True)),
        seed=int(t.number("seed", 0, ge=0, integer=True)),
        area_m=t.point("area_m", (300.0, 300.0)),
        origin_m=t.point("origin_m", (0.0, 0.0)),
        device=t.string("device", "snapdragon-8-gen-3", choices=hardware),
        dists=dists,
    )
    if min(gen.area_m) <= 0:
        t.fail("must be > 0 in both dimensions", "area_m")
    t.finish()
    return gen


def dist_to_toml(dist: Dist) -> Any:
    """Inverse of ``parse_dist``."""
    kind, args = dist
    return args[0] if kind == "const" else {kind: list(args)}


def grid_positions(count: int, area_m: tuple[float, float]) -> list[tuple[float, float]]:
    """``count`` points on a near-square grid, centred in their cells of the rectangle ``area_m``."""
    ratio = area_m[0] / area_m[1]  # no count * width product: it overflows for huge widths
    cols = count if not ratio < count else max(1, math.ceil(math.sqrt(count * ratio)))  # 1 <= cols <= count
    rows = math.ceil(count / cols)
    return [((k % cols + 0.5) * area_m[0] / cols, (k // cols + 0.5) * area_m[1] / rows) for k in range(count)]
