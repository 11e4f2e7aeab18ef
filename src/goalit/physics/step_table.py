"""A measured performance model: decode-step and prefill times interpolated from a table.

The roofline of :mod:`goalit.physics.llm` predicts a decode step from bytes and FLOPs; on a small
CPU-bound model it misses measured steps by up to 40 % at batch 1 and 70 % over batches 1-8
(docs/calibration.md). ``StepTable`` instead interpolates times measured on the serving engine itself
(``goalit calibrate --step-table``, llama.cpp's ``llama-server``):

- ``step_time(level, batch, context)``: one decode step of ``batch`` sequences whose mean context (prompt +
  tokens generated so far) is ``context`` tokens, in s. Bilinear in (batch, context) inside the measured
  grid, linear extrapolation from the two outermost grid lines outside it (never below 5 % of the
  smallest measured step).
- ``prefill_time(level, prompt)``: the prefill of one ``prompt``-token prompt, in s, piecewise linear
  in the prompt length (linear extrapolation outside the grid).

Both accept NumPy arrays (broadcast). ``decode_step_time_s(level, batch, context_tokens)`` takes the
*total* context of the batch, like :func:`goalit.physics.llm.decode_step_time_s`, so the table can stand
in for the roofline in a cost model. The table lives in a profile file under ``[meta.step_table]``
with its provenance (engine, version, threads, slots, date, machine); see ``to_meta``/``from_meta``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from goalit.errors import GoalitInputError

FLOOR = 0.05  # extrapolated times never drop below this share of the smallest measured one


@dataclass(frozen=True)
class LevelTable:
    """Measured times of one quantization level (s).

    ``step_s[i, k]``: decode step at ``batches[i]`` sequences of mean context ``contexts[k]`` tokens;
    ``prefill_s[m]``: prefill of one prompt of ``prompts[m]`` tokens.
    """

    batches: np.ndarray
    contexts: np.ndarray
    step_s: np.ndarray
    prompts: np.ndarray
    prefill_s: np.ndarray

    def __post_init__(self) -> None:
        b, c, p = self.batches, self.contexts, self.prompts
        if self.step_s.shape != (b.size, c.size) or self.prefill_s.shape != (p.size,):
            raise GoalitInputError("step table: step_s must be batches x contexts, prefill_s one per prompt")
        for name, g in (("batches", b), ("contexts", c), ("prompts", p)):
            if g.size < 2 or (np.diff(g) <= 0).any():
                raise GoalitInputError(f"step table: {name} must hold >= 2 increasing values")
        if not (np.isfinite(self.step_s).all() and (self.step_s > 0).all()):
            raise GoalitInputError("step table: step times must be finite and > 0")
        if not (np.isfinite(self.prefill_s).all() and (self.prefill_s > 0).all()):
            raise GoalitInputError("step table: prefill times must be finite and > 0")


def _weights(grid: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the left grid point of the cell used for ``x`` and the linear weight of the right one
    (outside the grid: the outermost cell, weight < 0 or > 1 = linear extrapolation)."""
    i = np.clip(np.searchsorted(grid, x, side="right") - 1, 0, grid.size - 2)
    w = (x - grid[i]) / (grid[i + 1] - grid[i])
    return i, w


def interp1(grid: np.ndarray, values: np.ndarray, x: ArrayLike) -> np.ndarray:
    """Piecewise-linear interpolation with linear extrapolation at both ends."""
    x = np.asarray(x, float)
    i, w = _weights(grid, x)
    out: np.ndarray = values[i] * (1 - w) + values[i + 1] * w
    return out


def interp2(
    bgrid: np.ndarray, cgrid: np.ndarray, table: np.ndarray, b: ArrayLike, c: ArrayLike
) -> np.ndarray:
    """Bilinear interpolation of ``table[b, c]`` with linear extrapolation outside the grid."""
    b, c = np.broadcast_arrays(np.asarray(b, float), np.asarray(c, float))
    i, u = _weights(bgrid, b)
    k, v = _weights(cgrid, c)
    out: np.ndarray = (
        table[i, k] * (1 - u) * (1 - v)
        + table[i + 1, k] * u * (1 - v)
        + table[i, k + 1] * (1 - u) * v
        + table[i + 1, k + 1] * u * v
    )
    return out


@dataclass(frozen=True)
class StepTable:
    """Measured decode-step and prefill times per level, interpolated (see the module docstring)."""

    levels: dict[str, LevelTable]
    provenance: dict[str, Any] = field(default_factory=dict)

    def _level(self, level: str) -> LevelTable:
        try:
            return self.levels[level]
        except KeyError:
            raise GoalitInputError(
                f"step table: no measurements for level {level!r} (measured: {', '.join(self.levels)})"
            ) from None

    def step_time(self, level: str, batch: ArrayLike, context: ArrayLike) -> np.ndarray | float:
        """Decode step of ``batch`` sequences of mean context ``context`` tokens (s)."""
        t = self._level(level)
        out = np.maximum(interp2(t.batches, t.contexts, t.step_s, batch, context), FLOOR * t.step_s.min())
        return float(out) if out.ndim == 0 else out

    def decode_step_time_s(
        self, level: str, batch: ArrayLike, context_tokens: ArrayLike
    ) -> np.ndarray | float:
        """Decode step of ``batch`` sequences holding ``context_tokens`` tokens in total (s)."""
        b = np.maximum(np.asarray(batch, float), 1.0)
        return self.step_time(level, b, np.asarray(context_tokens, float) / b)

    def prefill_time(self, level: str, prompt: ArrayLike) -> np.ndarray | float:
        """Prefill of one prompt of ``prompt`` tokens (s); 0 for an empty prompt."""
        t = self._level(level)
        p = np.asarray(prompt, float)
        out = np.where(p > 0, np.maximum(interp1(t.prompts, t.prefill_s, p), FLOOR * t.prefill_s.min()), 0.0)
        return float(out) if out.ndim == 0 else out

    def scaled(self, decode: dict[str, float], prefill: dict[str, float]) -> StepTable:
        """A copy with each level's step times multiplied by ``decode[level]`` and prefill times by
        ``prefill[level]`` (missing levels: 1), e.g. the gateway's online corrections."""
        levels = {
            lv: LevelTable(
                t.batches,
                t.contexts,
                t.step_s * decode.get(lv, 1.0),
                t.prompts,
                t.prefill_s * prefill.get(lv, 1.0),
            )  # fmt: skip
            for lv, t in self.levels.items()
        }
        return StepTable(levels, {**self.provenance, "scaled": {"decode": decode, "prefill": prefill}})

    # --- storage in a profile file (``[meta.step_table]``, times in ms) -----------------------------
    def to_meta(self) -> dict[str, Any]:
        """The ``[meta.step_table]`` table of a profile file."""
        levels = {
            lv: {
                "batches": t.batches.astype(int).tolist(),
                "contexts": [round(float(x), 2) for x in t.contexts],
                "step_ms": [[round(1e3 * float(x), 4) for x in row] for row in t.step_s],
                "prompts": t.prompts.astype(int).tolist(),
                "prefill_ms": [round(1e3 * float(x), 3) for x in t.prefill_s],
            }
            for lv, t in self.levels.items()
        }
        return {**self.provenance, "levels": levels}

    @classmethod
    def from_meta(cls, meta: dict[str, Any], origin: str = "step table") -> StepTable:
        """Read ``[meta.step_table]`` (one-line ``GoalitInputError`` naming the field if malformed)."""
        raw = meta.get("levels")
        if not isinstance(raw, dict) or not raw:
            raise GoalitInputError(f"{origin}: levels: must be a table of measured levels")
        levels = {}
        for lv, d in raw.items():
            try:
                levels[lv] = LevelTable(
                    batches=np.asarray(d["batches"], float),
                    contexts=np.asarray(d["contexts"], float),
                    step_s=np.asarray(d["step_ms"], float) / 1e3,
                    prompts=np.asarray(d["prompts"], float),
                    prefill_s=np.asarray(d["prefill_ms"], float) / 1e3,
                )
            except (KeyError, TypeError, ValueError) as err:
                raise GoalitInputError(f"{origin}: levels.{lv}: malformed ({err})") from None
            except GoalitInputError as err:
                raise GoalitInputError(f"{origin}: levels.{lv}: {err}") from None
        return cls(levels, {k: v for k, v in meta.items() if k != "levels"})

    @classmethod
    def load(cls, path: str | Path) -> StepTable:
        """The step table of a profile file (``[meta.step_table]``)."""
        from goalit.scenario.toml_io import read_toml

        data = read_toml(Path(path))
        meta = (data.get("meta") or {}).get("step_table")
        if not isinstance(meta, dict):
            raise GoalitInputError(f"{path}: meta.step_table: missing (run goalit calibrate --step-table)")
        return cls.from_meta(meta, f"{path}: meta.step_table")


def default_step_table() -> StepTable | None:
    """The table of the committed calibrated profile, if it has one."""
    from importlib.resources import files

    path = Path(str(files("goalit") / "data" / "profiles" / "calibrated.toml"))
    try:
        return StepTable.load(path)
    except GoalitInputError:
        return None


def held_out_errors(table: StepTable) -> dict[str, dict[str, float]]:
    """Leave-one-out error of the interpolation at every interior grid point, per level.

    Each interior (batch, context) point is dropped (its row and column are kept, the point is
    predicted by bilinear interpolation from its four grid neighbours at distance 1 along both axes,
    i.e. from the table without that row *and* column) and compared with its measurement. Returns per
    level ``median_pct``, ``max_pct`` (absolute % error) and ``points``; also for prefill prompts.

    ``context_median_pct``, ``context_max_pct``, ``context_points``: the same along the context axis only
    (each interior context left out of every measured batch's row, interpolated linearly): the
    interpolation the table actually performs when its batch sizes are every integer 1..slots, as a
    llama-server table is (a batch always has a measured size; the step is not smooth in the batch:
    llama.cpp's kernels change between batch 1 and 2 and work in tiles, measured 2026-11-30: q8_0's
    batches of 3 and 4 took the same time). ``batch_exhaustive``: the batches are 1..max without gaps.
    """
    out: dict[str, dict[str, float]] = {}
    for lv, t in table.levels.items():
        errs = []
        for i in range(1, t.batches.size - 1):
            for k in range(1, t.contexts.size - 1):
                bi = np.delete(np.arange(t.batches.size), i)
                ck = np.delete(np.arange(t.contexts.size), k)
                pred = interp2(t.batches[bi], t.contexts[ck], t.step_s[np.ix_(bi, ck)], t.batches[i],
                               t.contexts[k])  # fmt: skip
                errs.append(abs(float(pred) / t.step_s[i, k] - 1))
        # edges of the grid along one axis (interior along the other)
        for i in (0, t.batches.size - 1):
            for k in range(1, t.contexts.size - 1):
                ck = np.delete(np.arange(t.contexts.size), k)
                pred = interp1(t.contexts[ck], t.step_s[i, ck], t.contexts[k])
                errs.append(abs(float(pred) / t.step_s[i, k] - 1))
        for k in (0, t.contexts.size - 1):
            for i in range(1, t.batches.size - 1):
                bi = np.delete(np.arange(t.batches.size), i)
                pred = interp1(t.batches[bi], t.step_s[bi, k], t.batches[i])
                errs.append(abs(float(pred) / t.step_s[i, k] - 1))
        perr = [
            abs(float(interp1(np.delete(t.prompts, m), np.delete(t.prefill_s, m), t.prompts[m])) / t.prefill_s[m] - 1)
            for m in range(1, t.prompts.size - 1)
        ]  # fmt: skip
        e = np.array(errs) * 100 if errs else np.array([np.nan])
        pe = np.array(perr) * 100 if perr else np.array([np.nan])
        cerr = []
        for i in range(t.batches.size):
            for k in range(1, t.contexts.size - 1):
                ck = np.delete(np.arange(t.contexts.size), k)
                cerr.append(
                    abs(float(interp1(t.contexts[ck], t.step_s[i, ck], t.contexts[k])) / t.step_s[i, k] - 1)
                )
        ce = np.array(cerr) * 100 if cerr else np.array([np.nan])
        exhaustive = bool(np.array_equal(t.batches, np.arange(1, t.batches.size + 1)))
        out[lv] = {
            "median_pct": float(np.median(e)),
            "max_pct": float(np.max(e)),
            "points": len(errs),
            "prefill_median_pct": float(np.median(pe)),
            "prefill_max_pct": float(np.max(pe)),
            "prefill_points": len(perr),
            "context_median_pct": float(np.median(ce)),
            "context_max_pct": float(np.max(ce)),
            "context_points": len(cerr),
            "batch_exhaustive": exhaustive,
        }
    return out
