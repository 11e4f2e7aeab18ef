"""Measured aggregates of the replayed requests (the simulator's formulas) and the gateway's prediction
error, from the per-request records."""

from __future__ import annotations

from typing import Any

import numpy as np

from goalit.serve.replay import Record


def testbed_metrics(records: list[Record], w) -> dict[str, Any]:
    """The simulator's aggregate formulas (docs/metrics.md) applied to the measured records.

    Times count from each request's scheduled arrival (the trace time), like the simulator's.
    """
    ok = np.array([r.outcome == "ok" for r in records])
    o = np.asarray(w.output_tokens, float)
    arr = np.asarray(w.arrival_s, float)
    done = np.array([r.done_s for r in records])
    first = np.array([r.first_token_s for r in records])
    tokens = np.array([r.tokens for r in records], float)
    ppl = np.array([r.perplexity for r in records])
    lat = (done - arr)[ok]
    ttft = (first - arr)[ok]
    with np.errstate(invalid="ignore", divide="ignore"):
        tpot = np.where(tokens > 1, (done - first) / (tokens - 1), np.nan)[ok]
    tpot = tpot[np.isfinite(tpot)]
    t_end = float(np.nanmax(done)) if len(done) else 0.0
    od = o[ok]

    def mean(x):
        return float(x.mean()) if x.size else None

    def pct(x, q):
        return float(np.percentile(x, q)) if x.size else None

    return {
        "arrived": len(records),
        "completed": int(ok.sum()),
        "failed": int((~ok).sum()),
        "outcomes": {k: sum(r.outcome == k for r in records) for k in sorted({r.outcome for r in records})},
        "tokens_mismatch": int((tokens[ok] != od).sum()),
        "sim_time_s": t_end,
        "token_throughput_tps": float(od.sum() / t_end) if t_end > 0 else None,
        "mean_latency_s": mean(lat),
        "p50_latency_s": pct(lat, 50),
        "p95_latency_s": pct(lat, 95),
        "mean_ttft_s": mean(ttft),
        "p95_ttft_s": pct(ttft, 95),
        "mean_tpot_s": mean(tpot),
        "mean_tokens_per_s": float(np.mean(1.0 / tpot)) if tpot.size else None,
        "mean_perplexity": float((od * ppl[ok]).sum() / od.sum()) if od.sum() > 0 else None,
        "rerouted": sum(r.retries > 0 for r in records),
        "level_switches": level_switches(records),
    }


def level_switches(records: list[Record]) -> int:
    """Level changes on the serial servers, in each server's service order (by first token): each costs a
    model reload that the simulator does not model."""
    by_server: dict[str, list[Record]] = {}
    for r in records:
        if r.backend and np.isfinite(r.first_token_s):
            by_server.setdefault(r.backend, []).append(r)
    n = 0
    for rs in by_server.values():
        levels = [r.level for r in sorted(rs, key=lambda r: r.first_token_s)]
        n += sum(a != b for a, b in zip(levels, levels[1:], strict=False))
    return n


def prediction_error(records: list[Record]) -> dict[str, Any]:
    """Error of the gateway's own ``x-goalit-predicted-latency-s`` against the measured latency (from
    sending to the last token) of every completed request: median and mean absolute %, and the median
    signed % (predicted - measured) / measured."""
    pairs = [(r.predicted_latency_s, r.latency_s) for r in records
             if r.outcome == "ok" and np.isfinite(r.predicted_latency_s) and r.latency_s > 0]  # fmt: skip
    if not pairs:
        return {"requests": 0, "median_abs_pct": None, "mean_abs_pct": None, "median_signed_pct": None}
    p, m = np.array(pairs).T
    e = (p - m) / m * 100
    return {"requests": len(pairs), "median_abs_pct": float(np.median(np.abs(e))),
            "mean_abs_pct": float(np.mean(np.abs(e))), "median_signed_pct": float(np.median(e))}  # fmt: skip
