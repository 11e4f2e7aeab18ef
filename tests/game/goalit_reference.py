"""The GOALIT engine as it was before the 100k-user speed work (issue 12), kept verbatim as an oracle.

``best_responses`` evaluates every (user, candidate) cost with the original NumPy expressions and
``goalit`` runs the original protocol loop (full argsort of the requesters, potential from the staying
costs, :class:`goalit.game.goalit.Dirty` for incremental rows). tests/game/test_goalit_fast_eval.py
checks that the engine in ``goalit.game`` gives the same floats, profiles and traces.
"""

from __future__ import annotations

import numpy as np

from goalit.game.goalit import Dirty, GoalitTrace, select_disjoint
from goalit.game.model import Game


def loads(game: Game, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = np.bincount(a, minlength=game.n_actions)
    srv = game.server_of[a]
    m = np.bincount(srv[srv >= 0], minlength=game.n_servers)
    return n, m


def _shared_tables(game: Game, n: np.ndarray):
    g = game.group_of[1:]
    cols = game.step_table.shape[1] - 1
    rows = np.arange(1, game.n_actions)
    nn = n[1:]
    d_prev = game.step_table[rows, np.minimum(np.maximum(nn - 1, 0), cols)]
    d_cur = game.step_table[rows, np.minimum(nn, cols)]
    d_next = game.step_table[rows, np.minimum(nn + 1, cols)]
    s_g = np.bincount(g, weights=d_cur, minlength=game.n_groups)
    n_g = np.bincount(g, weights=nn, minlength=game.n_groups)
    pen_cur = np.where(n_g > game.group_capacity, game.penalty_s, 0.0)
    pen_next = np.where(n_g + 1 > game.group_capacity, game.penalty_s, 0.0)
    shared = game.group_shared[g]
    others = s_g[g] - d_cur
    tok = np.zeros(game.n_actions)
    join = np.zeros(game.n_actions)
    within = np.zeros(game.n_actions)
    leave = np.zeros(game.n_actions)
    tok[1:] = s_g[g] + pen_cur[g]
    join[1:] = np.where(shared, others + d_next + pen_next[g], d_next)
    within[1:] = others + d_next + pen_cur[g]
    leave[1:] = d_cur - d_prev
    return tok, join, within, leave


def _moving_step(game, a, n, m, x):
    srv = game.server_of
    if game.shared:
        return _moving_step_shared(game, a, n, m, x)
    d_next = game.step_time(np.arange(game.n_actions), n + 1)
    d_next[0] = 0.0
    m_x = m[np.maximum(srv, 0)]
    h_next = game.ap_penalty(srv, m_x + 1)
    h_cur = game.ap_penalty(srv, m_x)
    if not (h_next != h_cur).any():
        return (d_next + h_next)[x]
    srv_i = srv[a][:, None]
    same_ap = (srv[x] == srv_i) & (srv_i >= 0)
    return d_next[x] + np.where(same_ap, h_cur[x], h_next[x])


def _moving_step_shared(game, a, n, m, x, tables=None):
    srv = game.server_of
    _, join, within, leave = _shared_tables(game, n) if tables is None else tables
    grp = game.group_full
    gx = game.candidate_group if x is game.candidates else grp[x]
    a_col = a[:, None]
    same = (gx == grp[a_col]) & game.shared_action[a_col] & (x != a_col)
    tok = join[x]
    if same.any():
        tok = np.where(same, within[x] - leave[a_col], tok)
    m_x = m[np.maximum(srv, 0)]
    h_next = game.ap_penalty(srv, m_x + 1)
    h_cur = game.ap_penalty(srv, m_x)
    if not (h_next != h_cur).any():
        return tok + h_next[x]
    srv_i = srv[a][:, None]
    same_ap = (srv[x] == srv_i) & (srv_i >= 0)
    return tok + np.where(same_ap, h_cur[x], h_next[x])


def _staying_cost(game, a, n, m, tok_all=None, rows=None):
    srv_i = game.server_of[a]
    if game.shared:
        tok = (_shared_tables(game, n)[0] if tok_all is None else tok_all)[a]
    else:
        tok = game.step_time(a, n[a])
    cong = tok + game.ap_penalty(srv_i, m[np.maximum(srv_i, 0)])
    if rows is None:
        return game.alpha * cong + game.beta[np.arange(game.n_users), a]
    return game.alpha[rows] * cong + game.beta[rows, a]


def best_responses(game, a, n=None, m=None, rows=None):
    if n is None or m is None:
        n, m = loads(game, a)
    if rows is None:
        cand, cbeta, alpha, ar = game.candidates, game.candidate_beta, game.alpha, a
    else:
        cand, cbeta, alpha, ar = game.candidates[rows], game.candidate_beta[rows], game.alpha[rows], a[rows]
    idx = np.arange(ar.shape[0])
    if game.shared:
        tables = _shared_tables(game, n)
        cost = alpha[:, None] * _moving_step_shared(game, ar, n, m, cand, tables) + cbeta
        stay = _staying_cost(game, ar, n, m, tables[0], rows)
    else:
        cost = alpha[:, None] * _moving_step(game, ar, n, m, cand) + cbeta
        stay = _staying_cost(game, ar, n, m, rows=rows)
    cost = np.where(cand == ar[:, None], stay[:, None], cost)
    k = np.argmin(cost, axis=1)
    best = cost[idx, k]
    with np.errstate(invalid="ignore"):
        gain = np.where(best < stay, (stay - best) / alpha, 0.0)
    br = np.where(gain > 0, cand[idx, k], ar)
    return br, gain


def potential(game, a, n, m) -> float:
    if game.shared:
        return float((_staying_cost(game, a, n, m) / game.alpha).sum())
    cols = game.potential_table.shape[1] - 1
    r = np.arange(game.n_actions)
    cong = game.potential_table[r, np.minimum(n, cols)].sum()
    cong += (np.maximum(n - cols, 0) * game.step_table[r, cols]).sum()
    ap = (np.maximum(m - game.subchannels, 0) * game.penalty_s).sum()
    own = (game.beta[np.arange(game.n_users), a] / game.alpha).sum()
    return float(cong + ap + own)


def isolated_start(game):
    if game.shared:
        one = _shared_tables(game, np.zeros(game.n_actions, dtype=np.int64))[1]
    else:
        one = game.step_time(np.arange(game.n_actions), np.ones(game.n_actions, int))
    solo = game.alpha[:, None] * one[None, :] + game.beta
    solo[:, 0] = game.beta[:, 0]
    a = np.where(np.isfinite(game.beta[:, 0]), 0, np.argmin(solo, axis=1))
    return a.astype(np.int64)


def goalit(game, rng, initial=None, grant="parallel", epsilon=None, max_slots=None, record_potential=True,
           incremental=True) -> GoalitTrace:  # fmt: skip
    """The vectorised protocol loop as it was (no scalar fast path)."""
    eps = game.epsilon if epsilon is None else epsilon
    cap = game.max_slots if max_slots is None else max_slots
    a = (isolated_start(game) if initial is None else np.asarray(initial, dtype=np.int64)).copy()
    n, m = loads(game, a)
    trace = GoalitTrace(profile=a, converged=False, slots=0, updates=0, messages=0)
    if record_potential:
        trace.potential.append(potential(game, a, n, m))
    seen = {a.tobytes()} if game.shared else None
    dirty = Dirty(game) if incremental else None
    br = gain = None
    rows = None
    while trace.slots < cap:
        trace.slots += 1
        if br is None or rows is None:
            br, gain = best_responses(game, a, n, m)
        elif rows.size:
            br[rows], gain[rows] = best_responses(game, a, n, m, rows)
        req = np.flatnonzero(gain > eps)
        trace.requests.append(int(req.size))
        if req.size == 0:
            trace.converged = True
            trace.messages += 1
            trace.granted.append(0)
            trace.granted_gain.append(0.0)
            if record_potential:
                trace.potential.append(trace.potential[-1])
            break
        if grant == "random":
            chosen = rng.choice(req, size=1)
        else:
            order = req[np.argsort(-gain[req], kind="stable")]
            if grant == "max-gain":
                chosen = order[:1]
            else:
                target = br[order]
                _, first = np.unique(target, return_index=True)
                keep = np.zeros(order.size, dtype=bool)
                keep[first] = True
                chosen = select_disjoint(game, a, br, order[keep | (target == 0)], m)
        old, new = a[chosen], br[chosen]
        np.subtract.at(n, old, 1)
        np.add.at(n, new, 1)
        so, sn = game.server_of[old], game.server_of[new]
        m_before = m.copy()
        np.subtract.at(m, so[so >= 0], 1)
        np.add.at(m, sn[sn >= 0], 1)
        a[chosen] = new
        rows = None if dirty is None else dirty.rows(a, chosen, old, new, m_before, m)
        trace.updates += int(chosen.size)
        trace.messages += int(req.size) + int(chosen.size) + 1
        trace.granted.append(int(chosen.size))
        trace.granted_gain.append(float(gain[chosen].sum()))
        if record_potential:
            trace.potential.append(potential(game, a, n, m))
        if seen is not None:
            key = a.tobytes()
            if key in seen:
                trace.cycled = True
                break
            seen.add(key)
    trace.profile = a
    return trace
