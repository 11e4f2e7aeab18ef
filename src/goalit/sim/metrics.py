"""Aggregate metrics of a simulation run (docs/model.md B.12); every formula is in docs/metrics.md.

Undefined values (e.g. a percentile over no completed request) are ``None`` so the JSON stays valid.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from goalit.sim.simulator import Simulation


def _f(x: float) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None


def _mean(x: np.ndarray) -> float | None:
    return _f(x.mean()) if x.size else None


def _pct(x: np.ndarray, q: float) -> float | None:
    return _f(np.percentile(x, q)) if x.size else None


def _ratio(a: float, b: float) -> float | None:
    return _f(a / b) if b > 0 else None


def conservation(rec: dict[str, np.ndarray]) -> dict[str, int]:
    """Counts and token balances; raises ``AssertionError`` when a request or a token went missing."""
    st = rec["status"]
    arrived = int(st.shape[0])
    completed = int((st == "completed").sum())
    unfinished = int((st == "unfinished").sum())
    rejected = int((st == "rejected").sum())
    o = rec["output_tokens"]
    gen = rec["tokens_generated"]
    requested = int(o.sum())
    generated = int(gen.sum())
    remaining = int((o - gen).sum())
    done = st == "completed"
    assert arrived == completed + unfinished + rejected, (
        "a request is neither completed, unfinished nor rejected"
    )
    assert requested == generated + remaining and (gen >= 0).all() and (gen <= o).all(), (
        "token balance broken"
    )
    assert (gen[done] == o[done]).all(), "a completed request is missing output tokens"
    return {
        "arrived": arrived,
        "completed": completed,
        "unfinished": unfinished,
        "rejected": rejected,
        "prompt_tokens_arrived": int(rec["prompt_tokens"].sum()),
        "prompt_tokens_completed": int(rec["prompt_tokens"][done].sum()),
        "output_tokens_requested": requested,
        "output_tokens_generated": generated,
        "output_tokens_remaining": remaining,
        "output_tokens_completed": int(o[done].sum()),
    }


def instance_metrics(sim: Simulation, server_names: list[str]) -> list[dict[str, Any]]:
    """Per instance: busy share, token throughput and its ratio to the roofline bound.

    Roofline bound Theta_r^max = n* / d_r(n*, n* l-bar) with n* = the KV capacity in sequences of the
    nominal context (the largest batch the instance can hold; throughput n / d_r(n) grows with n).
    """
    g = sim.game
    ip = g.instances
    t = sim.t_end
    out = []
    for r in range(1, g.n_actions):
        inst = sim.instances[r]
        cap = int(g.capacity[r])
        if cap >= 1:
            d = float(ip.roofline.decode_step_s(cap, cap * ip.context_tokens, r))
            bound = cap / d
        else:
            bound = 0.0
        tps = inst.tokens / t if t > 0 else 0.0
        entry = {
            "instance": r,
            "server": server_names[int(g.server_of[r])],
            "level": str(g.level_of[r]),
            "busy_s": _f(inst.busy_s),
            "busy_share": _ratio(inst.busy_s, t),
            "output_tokens": int(inst.tokens),
            "token_throughput_tps": _f(tps),
            "roofline_bound_tps": _f(bound),
            "roofline_utilisation": _ratio(tps, bound),
            "kv_capacity_sequences": cap,
            "max_batch": int(inst.max_batch_seen),
            "prefill_steps": int(inst.prefill_steps),
            "decode_steps": int(inst.decode_steps),
        }
        if hasattr(inst, "padded_tokens"):
            entry["padded_tokens"] = int(inst.padded_tokens)
        out.append(entry)
    return out


# Warm-up excluded from the steady-state window, as a share of the arrival window [R]: the edge fills in a
# few seconds (decode steps of 10-100 ms, deadlines of 5-20 s), so 10 % of a 60-300 s window covers it.
WARMUP_SHARE = 0.1


def tokens_generated_in(rec: dict[str, np.ndarray], start_s: float, end_s: float) -> float:
    """Output tokens generated inside [start_s, end_s] (tokens): request k's o_k tokens are spread
    evenly over [F_k, L_k] (first and last token), i.e. token j at F_k + (j - 1)(L_k - F_k)/(o_k - 1);
    a one-token request counts at F_k. Tokens of unfinished requests count up to ``tokens_generated``."""
    f = np.asarray(rec["first_token_s"], float)
    last = np.asarray(rec["last_token_s"], float)
    gen = np.asarray(rec["tokens_generated"], float)
    o = np.asarray(rec["output_tokens"], float)
    ok = np.isfinite(f) & (gen > 0)
    f, last, gen, o = f[ok], last[ok], gen[ok], o[ok]
    step = np.where(np.isfinite(last) & (o > 1), (last - f) / np.maximum(o - 1, 1), 0.0)
    # token j (1-based) at f + (j - 1) step; count j in [1, gen] with start <= time <= end
    lo = np.where(
        step > 0,
        np.ceil((start_s - f) / np.where(step > 0, step, 1.0)) + 1,
        np.where(f >= start_s, 1, np.inf),
    )
    hi = np.where(
        step > 0, np.floor((end_s - f) / np.where(step > 0, step, 1.0)) + 1, np.where(f <= end_s, gen, 0)
    )
    lo = np.maximum(lo, 1)
    hi = np.minimum(hi, gen)
    return float(np.maximum(hi - lo + 1, 0).sum())


def steady_throughput(rec: dict[str, np.ndarray], window_s: float | None = None) -> float | None:
    """Steady-state token throughput (tokens/s): tokens generated inside [w, D] / (D - w), D = the
    arrival window (default: the last arrival time), w = ``WARMUP_SHARE`` D; excludes the warm-up and
    the drain after D, so it does not reward finishing in-flight work before an arbitrary cut."""
    arr = np.asarray(rec["arrival_s"], float)
    d = float(window_s) if window_s is not None else (float(arr.max()) if arr.size else 0.0)
    w = WARMUP_SHARE * d
    if d <= w:
        return None
    return _f(tokens_generated_in(rec, w, d) / (d - w))


def aggregate(rec: dict[str, np.ndarray], t_sim: float) -> dict[str, Any]:
    """The scalar metrics of a run (documented keys; see docs/metrics.md)."""
    cons = conservation(rec)
    done = rec["status"] == "completed"
    o = rec["output_tokens"].astype(float)
    od = o[done]
    lat = rec["latency_s"][done]
    ttft = rec["ttft_s"][done]
    tpot = rec["tpot_s"][done]
    tpot = tpot[np.isfinite(tpot)]
    qd = rec["queue_delay_s"][done]
    ppl = rec["perplexity"][done]
    arrived = cons["arrived"]
    offl = done & (rec["action"] >= 1)
    return {
        "arrived": arrived,
        "completed": cons["completed"],
        "unfinished": cons["unfinished"],
        "rejected": cons["rejected"],
        "sim_time_s": _f(t_sim),
        "token_throughput_tps": _ratio(float(od.sum()), t_sim),
        "mean_latency_s": _mean(lat),
        "p50_latency_s": _pct(lat, 50),
        "p95_latency_s": _pct(lat, 95),
        "p99_latency_s": _pct(lat, 99),
        "mean_ttft_s": _mean(ttft),
        "p95_ttft_s": _pct(ttft, 95),
        "mean_tpot_s": _mean(tpot),
        "p95_tpot_s": _pct(tpot, 95),
        "mean_perplexity": _ratio(float((od * ppl).sum()), float(od.sum())),
        "deadline_met_share": _ratio(float(rec["met_deadline"].sum()), arrived),
        "perplexity_met_share": _ratio(float(rec["met_perplexity"].sum()), arrived),
        "slo_met_share": _ratio(float((rec["met_deadline"] & rec["met_perplexity"]).sum()), arrived),
        "device_energy_per_token_j": _ratio(float(rec["device_energy_j"][done].sum()), float(od.sum())),
        "server_energy_per_token_j": _ratio(float(rec["server_energy_j"][offl].sum()), float(o[offl].sum())),
        "mean_queue_delay_s": _mean(qd),
        "p95_queue_delay_s": _pct(qd, 95),
        "offloaded_share": _ratio(float(offl.sum()), float(done.sum())),
        "reroutes": int(rec["reroutes"].sum()),
        "conservation": cons,
    }
