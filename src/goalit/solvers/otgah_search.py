"""OT's depth-first search over static batches, compiled (docs/model.md B.1, B.10; docs/ot-gah.md).

The search of :func:`goalit.solvers.otgah.optimal_batch`, written as a loop over an explicit stack that
Numba compiles to machine code; without Numba the same function runs as plain Python (slowly, same
decisions). Batch times are computed where they are needed, in closed form (:func:`batch_time_s`), so
the search needs no tables.

Inputs are the candidates in OT's order (output tokens descending): served tokens = output tokens
``o[k]``, prompt tokens ``s[k]``, uplink ``up[k]`` (s) and compute budget ``budget[k]`` (s) (those that
cannot be served alone never join a batch); ``b_cap`` the largest batch; ``max_nodes`` < 0 for no node
limit; ``c`` the instance's constants (``goalit.solvers.otgah.instance_constants``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# instance constants (goalit.solvers.otgah.all_instance_constants), in this order: weight bytes M_q,
# KV bytes per token kappa, eta_m theta BW (bytes/s), 2 P (FLOP per token), eta_c theta F (FLOP/s),
# per-step overhead delta_0 (s), KV bytes the instance can hold and bytes already taken (a batch fits
# iff held >= taken + b kappa (s + o))
N_CONSTANTS = 8


def batch_time_s(b: int, s: int, o: int, c: np.ndarray) -> float:
    """T(b, s, o): padded prefill of b s tokens + o decode steps of b sequences at contexts s + t,
    t = 1..o (s); +inf beyond KV memory.

    A decode step is max{(M_q + kappa b (s + t)) / (eta_m theta BW), 2 P b / (eta_c theta F)} + delta_0
    (docs/model.md B.5): the memory term is affine in t and the compute term constant, so the sum over t
    splits at the first step t* where memory overtakes compute and each part is an arithmetic series."""
    w, kv, mem_den, two_p, comp_den, overhead, held, taken = c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]
    if held < taken + (b * kv) * (s + o):
        return np.inf
    compute = two_p * b / comp_den
    pre_c = two_p * (b * s) / comp_den
    pre_m = w / mem_den
    pre = pre_c if pre_c >= pre_m else pre_m
    per_t = b * kv  # bytes of KV added per step
    base = w + per_t * s  # M_q + kappa b s
    if per_t > 0.0:
        x = (compute * mem_den - base) / per_t
        t_star = 1 if x <= 1.0 else (o + 1 if x > o else int(math.ceil(x)))
    else:
        t_star = 1 if base / mem_den >= compute else o + 1
    n_c = t_star - 1  # compute-bound steps
    n_m = o - n_c  # memory-bound steps t = t_star..o
    memory = (n_m * base + per_t * ((t_star + o) * n_m / 2.0)) / mem_den
    return float(pre + o * overhead + n_c * compute + memory)


_FINITE_MAX = float(np.finfo(float).max)


def _limit(s: int, o: int, avail: float, b_cap: int, c: np.ndarray) -> int:
    """Largest b in 0..b_cap with T(b, s, o) <= avail (T(0) = 0, T increasing in b, +inf beyond KV memory,
    which an infinite budget still excludes); -1 if none."""
    if avail < 0.0:
        return -1
    if avail > _FINITE_MAX:
        avail = _FINITE_MAX
    lo, hi = 0, b_cap  # T(lo) <= avail
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if batch_time_s(mid, s, o, c) <= avail:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _times(b: np.ndarray, s: np.ndarray, o: np.ndarray, c: np.ndarray) -> np.ndarray:
    """T(b_k, s_k, o_k) for every k (+inf beyond KV memory), s."""
    out = np.empty(b.size)
    for k in range(b.size):
        out[k] = batch_time_s(b[k], s[k], o[k], c)
    return out


def _search(
    o: np.ndarray, s: np.ndarray, up: np.ndarray, budget: np.ndarray, b_cap: int, max_nodes: int,
    bound_pruning: bool, c: np.ndarray,
) -> tuple[np.ndarray, int, float, int, bool]:  # fmt: skip
    """(members in OT's order, served tokens, batch time s, nodes, stopped by ``max_nodes``)."""
    inf = np.inf
    cand = np.empty(o.size, np.int64)  # a candidate that cannot be served alone never joins a batch
    n_c = 0
    for k in range(o.size):
        t1 = batch_time_s(1, s[k], o[k], c)
        if t1 < inf and t1 + up[k] <= budget[k]:
            cand[n_c] = k
            n_c += 1
    depth = b_cap + 2
    comp = np.empty(
        (depth, n_c if n_c > 0 else 1), np.int64
    )  # comp[d]: the candidates that may join the node at d
    clen = np.zeros(depth, np.int64)
    q_at = np.zeros(depth, np.int64)
    room_at = np.zeros(depth, np.int64)
    s_at = np.zeros(depth, np.int64)
    o_at = np.zeros(depth, np.int64)
    up_at = np.zeros(depth)
    bud_at = np.full(depth, inf)
    val_at = np.zeros(depth, np.int64)
    members = np.empty(depth, np.int64)
    best_members = np.empty(depth, np.int64)
    best_len, best_value, best_time = 0, 0, 0.0
    nodes, stopped = 1, False  # the root (empty batch) is a node
    for t in range(n_c):
        comp[0, t] = cand[t]
    clen[0] = n_c
    d = 0  # the node's depth = its batch size b
    entering = True
    while d >= 0:
        if entering:
            entering = False
            if val_at[d] > best_value:
                best_value, best_len = val_at[d], d
                best_members[:d] = members[:d]
                best_time = batch_time_s(d, s_at[d], o_at[d], c)
            room = -1
            if clen[d] > 0:
                # largest b meeting memory and the tightest deadline at this padding
                room = (b_cap if d == 0 else _limit(s_at[d], o_at[d], bud_at[d] - up_at[d], b_cap, c)) - d
            if room <= 0:
                d -= 1
                if d >= 0:
                    q_at[d] += 1
                continue
            room_at[d], q_at[d] = room, 0
        q = q_at[d]
        n_q = clen[d]
        if q >= n_q:
            d -= 1
            if d >= 0:
                q_at[d] += 1
            continue
        v0 = val_at[d]
        if bound_pruning:  # the best any batch containing this one + some of comp[q:] can do
            top, end = 0, q + room_at[d]
            for t in range(q, end if end < n_q else n_q):
                top += o[comp[d, t]]
            if v0 + top <= best_value:
                d -= 1
                if d >= 0:
                    q_at[d] += 1
                continue
        if max_nodes >= 0 and nodes >= max_nodes:
            stopped = True
            break
        nodes += 1  # the child batch is generated and bounded
        j = comp[d, q]
        s2 = s_at[d] if s_at[d] > s[j] else s[j]
        o2 = o_at[d] if d > 0 else o[j]
        u, dl = up[j], budget[j]
        up2 = u if u > up_at[d] else up_at[d]
        bud2 = dl if dl < bud_at[d] else bud_at[d]
        b1 = d + 1
        cnt = 0
        if b1 + 1 <= b_cap:  # the candidates after j that can join the child keeping it feasible
            t_pad = batch_time_s(b1 + 1, s2, o2, c)  # the time when k's prompt is not the longest
            for t in range(q + 1, n_q):
                k = comp[d, t]
                tt = t_pad if s[k] <= s2 else batch_time_s(b1 + 1, s[k], o2, c)
                if tt < inf:
                    u, dl = up[k], budget[k]
                    if tt + (u if u > up2 else up2) <= (dl if dl < bud2 else bud2):
                        comp[b1, cnt] = k
                        cnt += 1
        clen[b1] = cnt
        if bound_pruning:
            lim2 = _limit(s2, o2, bud2 - up2, b_cap, c)
            top = v0 + o[j]
            for t in range(min(max(lim2 - b1, 0), cnt)):
                top += o[comp[b1, t]]
            if top <= best_value:
                q_at[d] += 1
                continue
        members[d] = j
        s_at[b1], o_at[b1], up_at[b1], bud_at[b1], val_at[b1] = s2, o2, up2, bud2, v0 + o[j]
        d = b1
        entering = True
    return best_members[:best_len].copy(), best_value, best_time, nodes, stopped


_compiled: Any = None


def _compile() -> None:
    """Compile the search and its helpers with Numba (once per process; cached on disk), if installed."""
    global _compiled
    if _compiled is None:
        try:
            import numba
        except ImportError:  # pragma: no cover - numba is a dependency; plain Python still decides the same
            _compiled = False
        else:
            g = globals()  # helpers first: the search calls them by their global names
            g["batch_time_s"] = numba.njit(batch_time_s, cache=True, nogil=True)
            g["_limit"] = numba.njit(_limit, cache=True, nogil=True)
            g["_times_compiled"] = numba.njit(_times, cache=True, nogil=True)
            _compiled = numba.njit(_search, cache=True, nogil=True)


def search(
    o: np.ndarray, s: np.ndarray, up: np.ndarray, budget: np.ndarray, b_cap: int, max_nodes: int,
    bound_pruning: bool, c: np.ndarray,
) -> tuple[np.ndarray, int, float, int, bool]:  # fmt: skip
    """Run the search (arguments as :func:`_search`), compiled by Numba when it is installed."""
    _compile()
    run = _search if _compiled is False else _compiled
    out: tuple[np.ndarray, int, float, int, bool] = run(
        o, s, up, budget, int(b_cap), int(max_nodes), bool(bound_pruning), c
    )
    return out


def batch_times(b: Any, s: Any, o: Any, c: np.ndarray) -> np.ndarray:
    """:func:`batch_time_s` elementwise over broadcast arrays (compiled when Numba is installed), s."""
    _compile()
    bb, ss, oo = (np.ascontiguousarray(x, dtype=np.int64).ravel() for x in np.broadcast_arrays(b, s, o))
    run = _times if _compiled is False else _times_compiled
    out: np.ndarray = run(bb, ss, oo, c).reshape(np.broadcast(b, s, o).shape)
    return out


_times_compiled: Any = None
