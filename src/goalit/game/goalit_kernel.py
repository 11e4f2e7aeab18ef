"""The scalar GOALIT protocol compiled with Numba: :mod:`goalit.game.goalit_scalar`'s loop, machine code.

The same protocol as :func:`goalit.game.goalit_scalar.goalit_small_cycled` for the parallel and max-gain
grants (the random grant draws from NumPy's generator and stays in Python): the same best-response costs
in the same floating-point operation order (no fast-math, so no fused multiply-adds or reassociation),
the same request threshold, grant rules (:func:`goalit.game.goalit.select_disjoint` transcribed), counters
and cycle detection (every profile visited, in a hash table), so profile, slots, updates, messages and
both flags are equal (tests/game/test_goalit_kernel.py), and the isolated start of new players.

This module imports Numba when it is imported (``_jit``); :func:`goalit.game.goalit_scalar.kernel`
imports it lazily, never at ``import goalit``, and falls back to the Python path without Numba.
Compiled code is cached on disk (``cache=True``: the first run in a fresh checkout compiles for a few
seconds, later processes load it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numpy as np

F = TypeVar("F", bound=Callable[..., Any])


def _jit(fn: F) -> F:
    import numba

    return cast(F, numba.njit(cache=True)(fn))


@_jit
def _shared_tables(
    n: np.ndarray, step: np.ndarray, grp: np.ndarray, cap: np.ndarray, g_shared: np.ndarray, big_h: float,
    tok: np.ndarray, join: np.ndarray, within: np.ndarray, leave: np.ndarray,
) -> None:  # fmt: skip
    """``_Small.shared_tables``: (tok, join, within, leave) per action under loads ``n``, written into the
    given arrays (group sums accumulated in action order, as ``np.bincount`` does)."""
    n_act = n.shape[0]
    last = step.shape[1] - 1
    n_g = np.zeros(cap.shape[0], np.int64)
    s_g = np.zeros(cap.shape[0])
    d_cur = np.zeros(n_act)
    for x in range(1, n_act):
        g = grp[x]
        dc = step[x, min(n[x], last)]
        d_cur[x] = dc
        s_g[g] += dc
        n_g[g] += n[x]
    tok[0] = 0.0
    join[0] = 0.0
    within[0] = 0.0
    leave[0] = 0.0
    for x in range(1, n_act):
        g = grp[x]
        nx = n[x]
        dc = d_cur[x]
        pen_cur = big_h if n_g[g] > cap[g] else 0.0
        pen_next = big_h if n_g[g] + 1 > cap[g] else 0.0
        d_next = step[x, min(nx + 1, last)]
        both = s_g[g] - dc + d_next
        tok[x] = s_g[g] + pen_cur
        join[x] = both + pen_next if g_shared[g] else d_next
        within[x] = both + pen_cur
        leave[x] = dc - step[x, min(max(nx - 1, 0), last)]


@_jit
def _best_responses(
    a: np.ndarray, n: np.ndarray, m: np.ndarray, srv: np.ndarray, k_ap: np.ndarray, big_h: float,
    step: np.ndarray, alpha: np.ndarray, beta: np.ndarray, cand: np.ndarray, cbeta: np.ndarray,
    shared: bool, grp: np.ndarray, cap: np.ndarray, g_shared: np.ndarray, sh: np.ndarray,
    br: np.ndarray, gain: np.ndarray,
) -> None:  # fmt: skip
    """``_Small.best_responses`` (shared or partitioned): br and normalised gain into ``br`` / ``gain``."""
    n_act = n.shape[0]
    last = step.shape[1] - 1
    h_cur = np.zeros(n_act)
    h_next = np.zeros(n_act)
    for x in range(1, n_act):
        j = srv[x]
        if j >= 0:
            if m[j] > k_ap[j]:
                h_cur[x] = big_h
            if m[j] + 1 > k_ap[j]:
                h_next[x] = big_h
    if shared:
        tok = np.empty(n_act)
        join = np.empty(n_act)
        within = np.empty(n_act)
        leave = np.empty(n_act)
        _shared_tables(n, step, grp, cap, g_shared, big_h, tok, join, within, leave)
        stay_t = np.empty(n_act)
        join_h = np.empty(n_act)
        for x in range(n_act):
            stay_t[x] = tok[x] + h_cur[x]
            join_h[x] = join[x] + h_next[x]
        for i in range(a.shape[0]):
            ai = a[i]
            al = alpha[i]
            stay = al * stay_t[ai] + beta[i, ai]
            si = srv[ai] if ai > 0 else -2
            best = stay
            best_x = -1
            for k in range(cand.shape[1]):
                x = cand[i, k]
                if srv[x] != si:
                    c = join_h[x] * al + cbeta[i, k]
                elif x == ai:
                    c = stay
                else:
                    t = within[x] - leave[ai] if sh[ai] and grp[x] == grp[ai] else join[x]
                    c = al * (t + h_cur[x]) + cbeta[i, k]
                if best_x < 0 or c < best:
                    best = c
                    best_x = x
            br[i] = ai
            gain[i] = 0.0
            if best < stay:
                g = (stay - best) / al
                if g > 0:
                    gain[i] = g
                    br[i] = best_x
        return
    d_next = np.zeros(n_act)
    ap_moves = False
    for x in range(1, n_act):
        d_next[x] = step[x, min(n[x] + 1, last)]
        if h_next[x] != h_cur[x]:
            ap_moves = True  # then moves within the current AP pay h(m) instead of h(m + 1)
    for i in range(a.shape[0]):
        ai = a[i]
        si = srv[ai]
        al = alpha[i]
        h_stay = big_h if (si >= 0 and m[si] > k_ap[si]) else 0.0
        stay = al * (step[ai, min(n[ai], last)] + h_stay)
        stay += beta[i, ai]
        best = stay
        best_x = -1
        for k in range(cand.shape[1]):
            x = cand[i, k]
            if x == ai:
                c = stay
            elif ap_moves and si >= 0 and srv[x] == si:
                c = al * (d_next[x] + h_cur[x]) + cbeta[i, k]
            else:
                c = al * (d_next[x] + h_next[x]) + cbeta[i, k]
            if best_x < 0 or c < best:
                best = c
                best_x = x
        br[i] = ai
        gain[i] = 0.0
        if best < stay:
            g = (stay - best) / al
            if g > 0:
                gain[i] = g
                br[i] = best_x


@_jit
def _select_disjoint(
    a: np.ndarray, br: np.ndarray, order: np.ndarray, m: np.ndarray, k_ap: np.ndarray, srv: np.ndarray,
    shared: bool, rep: np.ndarray, chosen: np.ndarray,
) -> int:  # fmt: skip
    """:func:`goalit.game.goalit.select_disjoint`: the granted requesters into ``chosen``; their count."""
    n_act = srv.shape[0]
    touched = np.zeros(n_act, np.bool_)
    room = k_ap - m  # joins AP j can still absorb at zero penalty
    exclusive = np.zeros(k_ap.shape[0], np.bool_)
    nc = 0
    for t in range(order.shape[0]):
        i = order[t]
        old = a[i]
        new = br[i]
        if shared:  # a shared server is touched as a whole (its first action stands for it)
            old = rep[old]
            new = rep[new]
        j_old = srv[old]
        j_new = srv[new]
        moves = j_old != j_new
        over_old = moves and j_old >= 0 and room[j_old] < 0
        over_new = moves and j_new >= 0 and room[j_new] < 0
        conflict = (
            (old != 0 and touched[old])
            or (new != 0 and touched[new])
            or (over_old and exclusive[j_old])
            or (over_new and exclusive[j_new])
            or (moves and j_new >= 0 and room[j_new] == 0)
        )
        if conflict and nc > 0:  # the first (largest-gain) request is always granted
            continue
        if moves and j_new >= 0 and room[j_new] > 0:
            room[j_new] -= 1
        if over_old:
            exclusive[j_old] = True
        if over_new:
            exclusive[j_new] = True
        touched[old] = True
        touched[new] = True
        touched[0] = False
        chosen[nc] = i
        nc += 1
        full = True
        for x in range(1, n_act):
            if not touched[x]:
                full = False
                break
        if full:
            break
    return nc


@_jit
def _hash(a: np.ndarray) -> int:
    """FNV-1a over the actions (int64 arithmetic, wrapping)."""
    h = np.int64(-3750763034362895579)
    for x in a:
        h = (h ^ x) * np.int64(1099511628211)
    return int(h)


@_jit
def _isolated_start(
    a: np.ndarray, srv: np.ndarray, step: np.ndarray, alpha: np.ndarray, beta: np.ndarray, shared: bool,
    group_of: np.ndarray, cap: np.ndarray, g_shared: np.ndarray, big_h: float,
) -> None:  # fmt: skip
    """``isolated_start_small`` for the players with ``a[i] < 0`` (written into ``a``): local where
    allowed, else the cheapest action on an otherwise empty system (the first minimum)."""
    n_act = srv.shape[0]
    d1 = np.zeros(n_act)
    if shared:  # dynamics.join_times at zero loads
        grp = np.full(n_act, -1, np.int64)
        for x in range(1, n_act):
            grp[x] = group_of[x]
        tok = np.empty(n_act)
        within = np.empty(n_act)
        leave = np.empty(n_act)
        _shared_tables(np.zeros(n_act, np.int64), step, grp, cap, g_shared, big_h, tok, d1, within, leave)
    else:
        col = min(1, step.shape[1] - 1)
        for x in range(1, n_act):
            d1[x] = step[x, col]
    for i in range(a.shape[0]):
        if a[i] >= 0:
            continue
        if np.isfinite(beta[i, 0]):
            a[i] = 0
            continue
        al = alpha[i]
        best = np.inf
        best_x = 0
        for x in range(n_act):
            b = beta[i, x]
            c = b if x == 0 else al * d1[x] + b
            if x == 0 or c < best:
                best = c
                best_x = x
        a[i] = best_x


@_jit
def goalit_run(
    a: np.ndarray, srv: np.ndarray, k_ap: np.ndarray, big_h: float, step: np.ndarray, alpha: np.ndarray,
    beta: np.ndarray, cand: np.ndarray, cbeta: np.ndarray, shared: bool, group_of: np.ndarray,
    cap: np.ndarray, g_shared: np.ndarray, eps: float, max_slots: int, max_gain: bool, start: bool,
) -> tuple[int, int, int, bool, bool]:  # fmt: skip
    """GOALIT from profile ``a`` (changed in place to the end profile): (slots, updates, messages,
    converged, cycled). ``group_of``, ``cap``, ``g_shared``: the server groups (read when ``shared``);
    ``max_gain``: the max-gain grant, else the parallel one; ``start``: players at -1 first take their
    isolated start (``isolated_start_small``)."""
    if start:
        _isolated_start(a, srv, step, alpha, beta, shared, group_of, cap, g_shared, big_h)
    n_act = srv.shape[0]
    n_users = a.shape[0]
    n = np.zeros(n_act, np.int64)
    m = np.zeros(k_ap.shape[0], np.int64)
    for i in range(n_users):
        n[a[i]] += 1
        if srv[a[i]] >= 0:
            m[srv[a[i]]] += 1
    grp = np.full(n_act, -1, np.int64)  # Game.group_full, group_representative, shared_action
    rep = np.zeros(n_act, np.int64)
    sh = np.zeros(n_act, np.bool_)
    if shared:
        first = np.full(cap.shape[0], -1, np.int64)
        for x in range(1, n_act):
            g = group_of[x]
            grp[x] = g
            if first[g] < 0:
                first[g] = x
            rep[x] = first[g]
            sh[x] = g_shared[g]
    # profiles visited (shared servers: cycle detection): the latest with each hash, chained by ``prev``
    profiles = [a.copy()]
    prev = [-1]
    latest = {_hash(a): 0}
    br = np.empty(n_users, np.int64)
    gain = np.empty(n_users)
    chosen = np.empty(n_users, np.int64)
    taken = np.zeros(n_act, np.bool_)
    slots = updates = messages = 0
    converged = cycled = False
    while slots < max_slots:
        slots += 1
        _best_responses(a, n, m, srv, k_ap, big_h, step, alpha, beta, cand, cbeta, shared, grp, cap,
                        g_shared, sh, br, gain)  # fmt: skip
        n_req = 0
        for i in range(n_users):
            if gain[i] > eps:
                n_req += 1
        if n_req == 0:
            converged = True
            messages += 1  # END broadcast
            break
        req = np.empty(n_req, np.int64)
        k = 0
        for i in range(n_users):
            if gain[i] > eps:
                req[k] = i
                k += 1
        if max_gain:  # the largest gain, the lowest index among equal ones
            top = req[0]
            for k in range(1, n_req):
                if gain[req[k]] > gain[top]:
                    top = req[k]
            chosen[0] = top
            nc = 1
        else:  # the top requester per target instance, then the protocol's disjoint selection
            neg = np.empty(n_req)
            for k in range(n_req):
                neg[k] = -gain[req[k]]
            order = req[np.argsort(neg, kind="mergesort")]  # stable: ties keep the lower index first
            taken[:] = False
            keep = np.empty(n_req, np.int64)
            n_keep = 0
            for i in order:
                x = br[i]
                if x == 0 or not taken[x]:
                    keep[n_keep] = i
                    n_keep += 1
                taken[x] = True
            if n_keep == 1:
                chosen[0] = keep[0]
                nc = 1
            else:
                nc = _select_disjoint(a, br, keep[:n_keep], m, k_ap, srv, shared, rep, chosen)
        for k in range(nc):
            i = chosen[k]
            old = a[i]
            new = br[i]
            n[old] -= 1
            n[new] += 1
            if srv[old] >= 0:
                m[srv[old]] -= 1
            if srv[new] >= 0:
                m[srv[new]] += 1
            a[i] = new
        updates += nc
        messages += n_req + nc + 1  # RTUs + grants + load broadcast
        if shared:
            h = _hash(a)
            p = latest.get(h, -1)
            while p >= 0 and not (profiles[p] == a).all():
                p = prev[p]
            if p >= 0:
                cycled = True
                break
            prev.append(latest.get(h, -1))
            latest[h] = len(profiles)
            profiles.append(a.copy())
    return slots, updates, messages, converged, cycled
