"""Request arrivals for the simulator: Poisson or replayed traces, with stated transforms (docs/model.md C.5).

A :class:`Workload` is a sorted array of arrival times (s, from 0) with optional per-request prompt and
output lengths (tokens). Lengths missing from a workload (Poisson) come from the user each request is
drawn from (:func:`request_users`). Every transform applied to a trace (time shift and scale, duration
cut, length scaling and clipping) is listed in ``Workload.transforms``, which the simulator reports.

Trace formats (``../shared/data/traces/README.md``):

* Azure LLM inference CSV: header ``TIMESTAMP,ContextTokens,GeneratedTokens``, timestamps
  ``YYYY-MM-DD HH:MM:SS.fffffff`` (the first 26 characters are parsed, i.e. microseconds).
* Mooncake JSONL: one object per line with ``timestamp`` (ms), ``input_length``, ``output_length``.

A bad trace raises :class:`goalit.errors.TraceError` with one line naming the file, the line and the
column (field) at fault.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from goalit.errors import TraceError
from goalit.limits import MAX_REQUESTS, MAX_TOKENS, MAX_TRACE_BYTES
from goalit.scenario.model import Scenario, Users

AZURE_COLUMNS = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")
MOONCAKE_KEYS = ("timestamp", "input_length", "output_length")
FORMATS = ("azure", "mooncake")

# Default Poisson load: per-user rate 0.1 req/s, inside the model's range lambda in [0.05, 1] req/s (docs/model.md C.5).
DEFAULT_RATE_PER_USER = 0.1
DEFAULT_DURATION_S = 60.0


@dataclass(frozen=True, eq=False)
class Workload:
    """Arrivals (s, non-decreasing, first >= 0) and optional lengths (tokens) of the requests."""

    arrival_s: np.ndarray
    prompt_tokens: np.ndarray | None = None
    output_tokens: np.ndarray | None = None
    source: str = ""
    transforms: tuple[str, ...] = field(default_factory=tuple)

    def __len__(self) -> int:
        return int(self.arrival_s.shape[0])

    @property
    def span_s(self) -> float:
        """Time from the first to the last arrival (s)."""
        return float(self.arrival_s[-1] - self.arrival_s[0]) if len(self) else 0.0

    @property
    def mean_rate_per_s(self) -> float:
        """N / span: requests per second over the arrival window (0 for fewer than two requests)."""
        return len(self) / self.span_s if self.span_s > 0 else 0.0

    def check(self) -> Workload:
        """Validate a workload built in code (traces are validated while read); returns ``self``."""
        name = self.source or "workload"
        t = np.asarray(self.arrival_s)
        if t.ndim != 1 or not np.isfinite(t).all() or (t < 0).any():
            raise TraceError(f"{name}: arrival_s must be a 1-D array of finite times >= 0")
        bad = np.flatnonzero(np.diff(t) < 0)
        if bad.size:
            raise TraceError(f"{name}: request {int(bad[0]) + 1}: arrival time decreases")
        if (self.prompt_tokens is None) != (self.output_tokens is None):
            raise TraceError(f"{name}: give both prompt_tokens and output_tokens, or neither")
        if self.prompt_tokens is not None:
            for col, lo in (("prompt_tokens", 0), ("output_tokens", 1)):
                x = np.asarray(getattr(self, col))
                if x.shape != t.shape or not np.issubdtype(x.dtype, np.integer):
                    raise TraceError(f"{name}: {col} must be integers, one per request")
                if (x < lo).any():
                    k = int(np.flatnonzero(x < lo)[0])
                    raise TraceError(f"{name}: request {k}: {col} must be >= {lo}, not {int(x[k])}")
        return self

    def describe(self) -> dict[str, Any]:
        """JSON-ready description: source, size, span, rate and the transforms applied."""
        d: dict[str, Any] = {
            "source": self.source,
            "requests": len(self),
            "span_s": self.span_s,
            "mean_rate_per_s": self.mean_rate_per_s,
            "transforms": list(self.transforms),
        }
        if self.prompt_tokens is not None and self.output_tokens is not None and len(self):  # both or neither
            d["mean_prompt_tokens"] = float(self.prompt_tokens.mean())
            d["mean_output_tokens"] = float(self.output_tokens.mean())
        return d

    def transformed(
        self,
        rate: float | None = None,
        time_scale: float | None = None,
        duration_s: float | None = None,
        length_scale: float | None = None,
        max_prompt_tokens: int | None = None,
        max_output_tokens: int | None = None,
    ) -> Workload:
        """A copy with the given transforms applied in this order, each stated in ``transforms``.

        ``rate``: rescale time so the mean rate N/span becomes ``rate`` req/s (overrides ``time_scale``);
        ``time_scale``: multiply arrival times (> 1 stretches, i.e. lowers the load);
        ``duration_s``: keep arrivals with t < duration_s; ``length_scale``: multiply both lengths
        (rounded, at least 1); ``max_prompt_tokens`` / ``max_output_tokens``: clip lengths from above.
        """
        w = self
        notes = list(w.transforms)
        t = w.arrival_s
        if rate is not None:
            if not rate > 0:
                raise TraceError(f"rate must be > 0, not {rate}")
            if w.mean_rate_per_s <= 0:
                raise TraceError(
                    f"{w.source}: cannot rescale to a rate: fewer than two distinct arrival times"
                )
            time_scale = w.mean_rate_per_s / rate
            notes.append(
                f"time scaled by {time_scale:.6g} (mean rate {w.mean_rate_per_s:.6g} -> {rate:.6g} req/s)"
            )
            t = t * time_scale
        elif time_scale is not None and time_scale != 1.0:
            if not time_scale > 0:
                raise TraceError(f"time_scale must be > 0, not {time_scale}")
            notes.append(f"time scaled by {time_scale:.6g} (mean rate {w.mean_rate_per_s:.6g} -> "
                         f"{w.mean_rate_per_s / time_scale:.6g} req/s)")  # fmt: skip
            t = t * time_scale
        if t.size and not math.isfinite(float(t[-1])):
            raise TraceError(f"{w.source}: the time scale makes arrival times overflow")
        keep = slice(None)
        if duration_s is not None:
            n_keep = int(np.searchsorted(t, duration_s, side="left"))
            if n_keep < t.shape[0]:
                notes.append(f"cut to arrivals before {duration_s:.6g} s ({t.shape[0] - n_keep} of "
                             f"{t.shape[0]} requests dropped before the run)")  # fmt: skip
            keep = slice(0, n_keep)
        t = t[keep]
        s = None if w.prompt_tokens is None else w.prompt_tokens[keep]
        o = None if w.output_tokens is None else w.output_tokens[keep]
        if s is not None and o is not None:
            if length_scale is not None and length_scale != 1.0:
                if not length_scale > 0:
                    raise TraceError(f"length_scale must be > 0, not {length_scale}")
                s = _scaled(s, length_scale, max_prompt_tokens, "prompt")
                o = _scaled(o, length_scale, max_output_tokens, "output")
                notes.append(f"prompt and output lengths scaled by {length_scale:.6g} (rounded, >= 1)")
            s, n_clip = _clip(s, max_prompt_tokens, "max_prompt_tokens")
            if n_clip:
                notes.append(f"prompt_tokens clipped to <= {max_prompt_tokens} ({n_clip} requests)")
            o, n_clip = _clip(o, max_output_tokens, "max_output_tokens")
            if n_clip:
                notes.append(f"output_tokens clipped to <= {max_output_tokens} ({n_clip} requests)")
        return replace(w, arrival_s=t, prompt_tokens=s, output_tokens=o, transforms=tuple(notes))


def _scaled(x: np.ndarray, scale: float, cap: int | None, what: str) -> np.ndarray:
    """Lengths times ``scale``, rounded, >= 1; above ``cap + 1`` (if given) cut before the int cast, so
    that the clip that follows still counts them."""
    y = np.maximum(np.rint(x * float(scale)), 1.0)
    if cap is not None and cap <= MAX_TOKENS:
        y = np.minimum(y, float(cap) + 1.0)
    elif y.size and not float(y.max()) <= MAX_TOKENS:
        raise TraceError(f"length_scale {scale:.6g} makes {what} lengths exceed the limit of {MAX_TOKENS} "
                         "tokens per request")  # fmt: skip
    return y.astype(np.int64)


def _clip(x: np.ndarray, cap: int | None, name: str) -> tuple[np.ndarray, int]:
    if cap is None:
        return x, 0
    if cap < 1:
        raise TraceError(f"{name} must be >= 1, not {cap}")
    if cap > MAX_TOKENS:
        raise TraceError(f"{name} must be <= {MAX_TOKENS} (the limit), not {cap}")
    over = int((x > cap).sum())
    return np.minimum(x, cap), over


def poisson(rate_per_s: float, duration_s: float, rng: np.random.Generator) -> Workload:
    """Poisson arrivals at ``rate_per_s`` over [0, duration_s): exponential inter-arrival times.

    Draws ceil(rate * duration + 10 sqrt(rate * duration) + 10) gaps at once (more if needed), so the
    stream consumption depends only on the rate and duration.
    """
    if not rate_per_s > 0 or not math.isfinite(rate_per_s):
        raise TraceError(f"rate must be a finite number > 0, not {rate_per_s}")
    if not duration_s > 0 or not math.isfinite(duration_s):
        raise TraceError(f"duration must be a finite number > 0, not {duration_s}")
    mean = rate_per_s * duration_s
    if mean > MAX_REQUESTS:
        raise TraceError(f"rate x duration: {mean:.6g} expected requests exceed the limit of {MAX_REQUESTS} "
                         "(lower the rate or the duration)")  # fmt: skip
    chunk = int(math.ceil(mean + 10.0 * math.sqrt(mean) + 10.0))
    t = np.cumsum(rng.exponential(1.0 / rate_per_s, chunk))
    while t[-1] < duration_s:  # astronomically rare; keeps the process exact
        t = np.concatenate([t, t[-1] + np.cumsum(rng.exponential(1.0 / rate_per_s, chunk))])
    t = t[t < duration_s]
    return Workload(arrival_s=t, source=f"poisson(rate={rate_per_s:.6g} req/s, duration={duration_s:.6g} s)")


# ----------------------------------------------------------------------------------------------------
# trace files


def detect_format(path: Path) -> str:
    """``azure`` for *.csv, ``mooncake`` for *.jsonl / *.json; otherwise sniff the first byte."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "azure"
    if suffix in (".jsonl", ".json"):
        return "mooncake"
    with path.open("rb") as f:
        head = f.read(64).lstrip()
    return "mooncake" if head.startswith(b"{") else "azure"


def load_trace(path: str | Path, format: str | None = None) -> Workload:
    """Read a trace file (Azure CSV or Mooncake JSONL); arrivals shifted to start at 0 s."""
    p = Path(path)
    if p.is_dir():
        raise TraceError(f"{p}: is a directory, not a trace file")
    if not p.is_file():
        raise TraceError(f"{p}: no such trace file")
    if format is not None and format not in FORMATS:
        raise TraceError(f"{p}: unknown trace format {format!r} (expected one of: {', '.join(FORMATS)})")
    try:
        size = p.stat().st_size
        if size > MAX_TRACE_BYTES:
            raise TraceError(f"{p}: {size} bytes exceed the limit of {MAX_TRACE_BYTES} for a trace file")
        with p.open("rb") as f:
            magic = f.read(6)
        if (
            magic[:2] == b"\x1f\x8b"
            or magic[:3] == b"BZh"
            or magic[:6] == b"\xfd7zXZ\x00"
            or magic[:4] == b"PK\x03\x04"
            or magic[:4] == b"\x28\xb5\x2f\xfd"
        ):
            raise TraceError(f"{p}: a compressed file; decompress it first (goalit reads plain CSV or JSONL)")
        fmt = format or detect_format(p)
        t, s, o, origin = _read_azure(p) if fmt == "azure" else _read_mooncake(p)
    except OSError as err:
        raise TraceError(f"{p}: cannot read trace file ({err.strerror or err})") from None
    notes = [f"time shifted to start at 0 s (first arrival {origin})"]
    zero = o == 0
    if zero.any():
        o = np.where(zero, 1, o)
        notes.append(f"output_tokens raised from 0 to 1 ({int(zero.sum())} requests)")
    return Workload(
        arrival_s=t, prompt_tokens=s, output_tokens=o, source=f"{fmt}:{p}", transforms=tuple(notes)
    )


def _fail(path: Path, line: int, column: str, problem: str) -> TraceError:
    return TraceError(f"{path}: line {line}, column {column!r}: {problem}")


def _int_length(text: object, path: Path, line: int, column: str) -> int:
    if isinstance(text, bool):
        raise _fail(path, line, column, f"not an integer token count: {text!r}")
    if isinstance(text, int):
        value = text
    elif isinstance(text, float) and text.is_integer():
        value = int(text)
    elif isinstance(text, str):
        try:
            value = int(text.strip())
        except ValueError:
            raise _fail(path, line, column, f"not an integer token count: {text!r}") from None
    else:
        raise _fail(path, line, column, f"not an integer token count: {text!r}")
    if value < 0:
        raise _fail(path, line, column, f"negative length {value}")
    if value > MAX_TOKENS:
        raise _fail(path, line, column, f"length {value} exceeds the limit of {MAX_TOKENS} tokens")
    return value


def _check_order(t: np.ndarray, lines: list[int], path: Path, column: str) -> None:
    bad = np.flatnonzero(np.diff(t) < 0)
    if bad.size:
        k = int(bad[0]) + 1
        raise _fail(path, lines[k], column, f"timestamp decreases (earlier than line {lines[k - 1]})")


def _read_azure(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        try:
            header = next(reader)
        except StopIteration:
            raise _fail(path, 1, "TIMESTAMP", "empty file (expected header TIMESTAMP,ContextTokens,"
                        "GeneratedTokens)") from None  # fmt: skip
        except (csv.Error, UnicodeDecodeError) as err:
            raise _fail(path, 1, "TIMESTAMP", f"unreadable CSV header ({err})") from None
        names = [h.strip().lstrip("\ufeff") for h in header]
        for col in AZURE_COLUMNS:
            if col not in names:
                raise _fail(path, 1, col, f"missing column (header has: {', '.join(names) or 'nothing'})")
        idx = [names.index(c) for c in AZURE_COLUMNS]
        width = max(idx) + 1
        stamps: list[str] = []
        s: list[str] = []
        o: list[str] = []
        lines: list[int] = []
        try:
            for row in reader:
                line = reader.line_num
                if not row or all(not c.strip() for c in row):
                    continue
                if len(row) < width:
                    missing = AZURE_COLUMNS[[i >= len(row) for i in idx].index(True)]
                    raise _fail(
                        path, line, missing, f"missing value ({len(row)} fields, expected {len(names)})"
                    )
                if len(stamps) >= MAX_REQUESTS:
                    raise _fail(path, line, "TIMESTAMP", f"more than {MAX_REQUESTS} requests (the limit)")
                stamps.append(row[idx[0]].strip())
                s.append(row[idx[1]])
                o.append(row[idx[2]])
                lines.append(line)
        except (csv.Error, UnicodeDecodeError) as err:
            raise _fail(path, reader.line_num, "TIMESTAMP", f"unreadable CSV ({err})") from None
    if not stamps:
        raise _fail(path, 2, "TIMESTAMP", "empty trace (a header but no requests)")
    s_tok = _int_column(s, lines, path, AZURE_COLUMNS[1])
    o_tok = _int_column(o, lines, path, AZURE_COLUMNS[2])
    t_us = _parse_azure_stamps(stamps, lines, path)
    _check_order(t_us, lines, path, "TIMESTAMP")
    t = (t_us - t_us[0]).astype(np.float64) * 1e-6
    return t, s_tok, o_tok, stamps[0]


def _int_column(values: list[str], lines: list[int], path: Path, column: str) -> np.ndarray:
    """Token counts of a CSV column; vectorised, with a per-value pass to name the first bad line."""
    try:
        out = np.array(values, dtype=np.int64)
    except (ValueError, OverflowError):
        out = np.array([_int_length(v, path, line, column) for v, line in zip(values, lines, strict=True)])
    neg = np.flatnonzero(out < 0)
    if neg.size:
        k = int(neg[0])
        raise _fail(path, lines[k], column, f"negative length {int(out[k])}")
    big = np.flatnonzero(out > MAX_TOKENS)
    if big.size:
        k = int(big[0])
        raise _fail(path, lines[k], column, f"length {int(out[k])} exceeds the limit of {MAX_TOKENS} tokens")
    return out


def _parse_azure_stamps(stamps: list[str], lines: list[int], path: Path) -> np.ndarray:
    """Microseconds since the epoch; fast vectorised parse, per-row fallback to locate a bad value."""
    fmt = "%Y-%m-%d %H:%M:%S.%f"
    short = [x[:26] for x in stamps]
    try:
        if all(len(x) >= 20 and x[10] == " " for x in short):
            return np.array(short, dtype="datetime64[us]").astype(np.int64)
    except ValueError:
        pass
    out = np.empty(len(short), np.int64)
    epoch = datetime(1970, 1, 1)
    for k, x in enumerate(short):
        try:
            d = datetime.strptime(x, fmt)
        except ValueError:
            try:
                d = datetime.strptime(x, "%Y-%m-%d %H:%M:%S")
            except ValueError:
                raise _fail(path, lines[k], "TIMESTAMP", f"unparsable timestamp {stamps[k]!r} "
                            "(expected YYYY-MM-DD HH:MM:SS.fffffff)") from None  # fmt: skip
        delta = d - epoch
        out[k] = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return out


def _read_mooncake(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    t: list[float] = []
    s: list[int] = []
    o: list[int] = []
    lines: list[int] = []
    try:
        with path.open(encoding="utf-8") as f:
            for line, text in enumerate(f, start=1):
                if not text.strip():
                    continue
                try:
                    obj = json.loads(text)
                except json.JSONDecodeError as err:
                    raise _fail(path, line, "timestamp", f"not a JSON object ({err.msg})") from None
                except (ValueError, RecursionError) as err:  # e.g. an integer of more than 4300 digits
                    problem = (
                        "nested too deeply" if isinstance(err, RecursionError) else str(err).split(";")[0]
                    )
                    raise _fail(path, line, "timestamp", f"not a JSON object ({problem})") from None
                if not isinstance(obj, dict):
                    raise _fail(path, line, "timestamp", "not a JSON object")
                for key in MOONCAKE_KEYS:
                    if key not in obj:
                        raise _fail(path, line, key, "missing field")
                ts = obj["timestamp"]
                if isinstance(ts, bool) or not isinstance(ts, int | float) or not math.isfinite(ts):
                    raise _fail(
                        path, line, "timestamp", f"unparsable timestamp {ts!r} (expected milliseconds)"
                    )
                if ts < 0:
                    raise _fail(path, line, "timestamp", f"negative timestamp {ts!r}")
                if len(t) >= MAX_REQUESTS:
                    raise _fail(path, line, "timestamp", f"more than {MAX_REQUESTS} requests (the limit)")
                t.append(float(ts))
                s.append(_int_length(obj["input_length"], path, line, "input_length"))
                o.append(_int_length(obj["output_length"], path, line, "output_length"))
                lines.append(line)
    except UnicodeDecodeError as err:
        raise _fail(path, len(lines) + 1, "timestamp", f"not UTF-8 text ({err.reason})") from None
    if not t:
        raise _fail(path, 1, "timestamp", "empty trace (no requests)")
    t_ms = np.asarray(t)
    _check_order(t_ms, lines, path, "timestamp")
    return (t_ms - t_ms[0]) * 1e-3, np.asarray(s, np.int64), np.asarray(o, np.int64), f"{t[0]:g} ms"


# ----------------------------------------------------------------------------------------------------
# requests as users


def request_users(
    scenario: Scenario, workload: Workload, rng: np.random.Generator
) -> tuple[Users, np.ndarray]:
    """The user table of all requests and the scenario user each was drawn from.

    Each request draws a scenario user uniformly (position, device, weights, deadline, PPL bound); its
    lengths come from the workload when it has them, else from that user.
    """
    n = len(workload)
    pick = rng.integers(0, scenario.n_users, size=n)
    u = scenario.users.take(pick)
    if workload.prompt_tokens is not None:
        u = replace(u, prompt_tokens=np.asarray(workload.prompt_tokens, np.int64),
                    output_tokens=np.asarray(workload.output_tokens, np.int64))  # fmt: skip
    return u, pick
