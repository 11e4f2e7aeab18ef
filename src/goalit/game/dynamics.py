"""Loads, costs, the potential and best responses of Model A (docs/model.md B.7-B.9), vectorised over users.

A profile ``a`` is an int array of actions (0 = local, 1..R = instances). ``n[r]`` counts users on
action r (n[0] counts local users), ``m[j]`` counts users offloading through AP j.
"""

from __future__ import annotations

import numpy as np

from goalit.game.model import Game

# (stay, join, within, leave, join_h, h_cur) per action, see ``_action_tables`` (within, leave: None
# when no server is shared)
ActionTables = tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray, np.ndarray]


def loads(game: Game, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, m): users per action and offloaders per AP."""
    n = np.bincount(a, minlength=game.n_actions)
    srv = game.server_of[a]
    m = np.bincount(srv[srv >= 0], minlength=game.n_servers)
    return n, m


def user_costs(game: Game, a: np.ndarray) -> np.ndarray:
    """C_i(a) for every user (cost units: seconds)."""
    return _staying_cost(game, a, *loads(game, a))


def token_times(game: Game, n: np.ndarray) -> np.ndarray:
    """(R+1,) per-token time of every action under loads ``n`` (s/token; 0 for local).

    Partitioned instance r: d_r(n_r) (its step table, penalty included). Shared server group G:
    T_G(n) = sum_{r in G} d_r(n_r) + H [N_G > cap_G], the server's iteration time (docs/model.md).
    """
    if game.shared:
        return _shared_tables(game, n)[0]
    d = game.step_time(np.arange(game.n_actions), n)
    d[0] = 0.0
    return d


def latencies(game: Game, a: np.ndarray) -> np.ndarray:
    """End-to-end latency of every user under Model A (s): fixed part + o_i tau_r(n)."""
    n, _ = loads(game, a)
    out: np.ndarray = (
        game.fixed_latency_s[np.arange(game.n_users), a] + game.output_tokens * token_times(game, n)[a]
    )
    return out


def device_energy(game: Game, a: np.ndarray) -> np.ndarray:
    """Device energy of every user (J): p_tx T_up + p_idle (T_pre + o tau), or P_dev T_loc."""
    n, _ = loads(game, a)
    wait = game.output_tokens * token_times(game, n)[a]
    out: np.ndarray = game.fixed_energy_j[np.arange(game.n_users), a] + game.idle_power_w * wait
    return out


def profile_costs(game: Game, profiles: np.ndarray) -> np.ndarray:
    """(B, N) matrix of C_i(a) for a batch of profiles (B, N)."""
    b, n = profiles.shape
    n_act = game.n_actions
    flat = profiles + (np.arange(b) * n_act)[:, None]
    loads = np.bincount(flat.ravel(), minlength=b * n_act).reshape(b, n_act)
    srv = game.server_of[profiles]
    flat_s = np.where(srv >= 0, srv + (np.arange(b) * game.n_servers)[:, None], -1)
    m = np.bincount(flat_s[flat_s >= 0], minlength=b * game.n_servers).reshape(b, game.n_servers)
    n_own = np.take_along_axis(loads, profiles, axis=1)
    m_own = np.take_along_axis(m, np.maximum(srv, 0), axis=1)
    out: np.ndarray
    if game.shared:  # T_G(n) per group, from every action's step time at its load
        group_of, group_capacity, _ = game.groups()
        d = game.step_time(np.arange(n_act)[None, :], loads)
        d[:, 0] = 0.0
        member = np.zeros((n_act, game.n_groups))
        member[np.arange(1, n_act), group_of[1:]] = 1.0
        n_g = loads @ member
        t_g = d @ member + np.where(n_g > group_capacity[None, :], game.penalty_s, 0.0)
        tok = np.where(profiles > 0, np.take_along_axis(t_g, np.maximum(group_of[profiles], 0), axis=1), 0.0)
        out = (
            game.alpha[None, :] * (tok + game.ap_penalty(srv, m_own))
            + game.beta[np.arange(n)[None, :], profiles]
        )
        return out
    cong = game.step_time(profiles, n_own) + game.ap_penalty(srv, m_own)
    out = game.alpha[None, :] * cong + game.beta[np.arange(n)[None, :], profiles]
    return out


def potential(game: Game, a: np.ndarray, n: np.ndarray | None = None, m: np.ndarray | None = None) -> float:
    """Phi(a) = sum_r sum_{k<=n_r} d_r(k) + sum_j sum_{k<=m_j} h_j(k) + sum_i beta_i(a_i)/alpha_i (docs/model.md B.8).

    With shared servers the game has no exact potential (a user's per-token time includes the other
    variants' steps); then this returns sum_i C_i(a) / alpha_i, the normalised social cost, which
    GOALIT records per slot for information only. ``n``, ``m``: the loads of ``a`` if known.
    """
    if n is None or m is None:
        n, m = loads(game, a)
    if game.shared:
        return float((_staying_cost(game, a, n, m) / game.alpha).sum())
    cols = game.potential_table.shape[1] - 1
    r = np.arange(game.n_actions)
    cong = game.potential_table[r, np.minimum(n, cols)].sum()
    cong += (np.maximum(n - cols, 0) * game.step_table[r, cols]).sum()
    ap = (np.maximum(m - game.subchannels, 0) * game.penalty_s).sum()
    own = (game.beta[np.arange(game.n_users), a] / game.alpha).sum()
    return float(cong + ap + own)


def _moving_step(game: Game, a: np.ndarray, n: np.ndarray, m: np.ndarray, x: np.ndarray) -> np.ndarray:
    """d_x(n_x + 1) + h_j(x)(.) per token for user i moving to action x[i, k] (x broadcast against (N, 1)).

    Joining x adds one to its load and, if x's AP differs from the user's current one, to that AP's
    count: h(m + 1); a move within the current AP leaves the count, h(m).
    """
    srv = game.server_of
    if game.shared:
        return _moving_step_shared(game, a, n, m, x)
    d_next = game.step_time(np.arange(game.n_actions), n + 1)
    d_next[0] = 0.0
    m_x = m[np.maximum(srv, 0)]
    h_next = game.ap_penalty(srv, m_x + 1)
    h_cur = game.ap_penalty(srv, m_x)
    out: np.ndarray
    if not (h_next != h_cur).any():
        out = (d_next + h_next)[x]
        return out
    srv_i = srv[a][:, None]
    same_ap = (srv[x] == srv_i) & (srv_i >= 0)
    out = d_next[x] + np.where(same_ap, h_cur[x], h_next[x])
    return out


def _shared_tables(game: Game, n: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per action x under loads ``n`` (shared game): (tok, join, within, leave).

    tok: T_G(n) of x's group (0 for local); join: T_G after one user joins x from outside its group
    (partitioned: d_x(n_x + 1)); within: T_G after one user joins x from another variant of x's group,
    before subtracting that variant's leave = d_v(n_v) - d_v(n_v - 1).
    """
    group_of, group_capacity, group_shared = game.groups()
    g = group_of[1:]
    cols = game.step_table.shape[1] - 1
    rows = np.arange(1, game.n_actions)
    nn = n[1:]
    d_prev = game.step_table[rows, np.minimum(np.maximum(nn - 1, 0), cols)]
    d_cur = game.step_table[rows, np.minimum(nn, cols)]
    d_next = game.step_table[rows, np.minimum(nn + 1, cols)]
    s_g = np.bincount(g, weights=d_cur, minlength=game.n_groups)
    n_g = np.bincount(g, weights=nn, minlength=game.n_groups)
    pen_cur = np.where(n_g > group_capacity, game.penalty_s, 0.0)
    pen_next = np.where(n_g + 1 > group_capacity, game.penalty_s, 0.0)
    shared = group_shared[g]
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


def join_times(game: Game, n: np.ndarray) -> np.ndarray:
    """(R+1,) per-token time of action x for a user joining it from outside x's group (or from local).

    Partitioned: d_x(n_x + 1). Shared: T_G with n_x + 1: S_G - d_x(n_x) + d_x(n_x + 1) + H [N_G + 1 > cap_G].
    """
    if not game.shared:
        d_next = game.step_time(np.arange(game.n_actions), n + 1)
        d_next[0] = 0.0
        return d_next
    return _shared_tables(game, n)[1]


def _moving_step_shared(
    game: Game,
    a: np.ndarray,
    n: np.ndarray,
    m: np.ndarray,
    x: np.ndarray,
    tables: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """``_moving_step`` with shared servers: a move within a shared server also leaves the old variant."""
    srv = game.server_of
    _, join, within, leave = _shared_tables(game, n) if tables is None else tables
    grp = game.group_full
    gx = game.candidate_group if x is game.candidates else grp[x]
    a_col = a[:, None]
    # a move to another variant of the user's own shared server: N_G unchanged, the old variant leaves
    same = (gx == grp[a_col]) & game.shared_action[a_col] & (x != a_col)
    tok = join[x]
    if same.any():
        tok = np.where(same, within[x] - leave[a_col], tok)
    m_x = m[np.maximum(srv, 0)]
    h_next = game.ap_penalty(srv, m_x + 1)
    h_cur = game.ap_penalty(srv, m_x)
    out: np.ndarray
    if not (h_next != h_cur).any():
        out = tok + h_next[x]
        return out
    srv_i = srv[a][:, None]
    same_ap = (srv[x] == srv_i) & (srv_i >= 0)
    out = tok + np.where(same_ap, h_cur[x], h_next[x])
    return out


def _staying_cost(
    game: Game,
    a: np.ndarray,
    n: np.ndarray,
    m: np.ndarray,
    tok_all: np.ndarray | None = None,
    rows: np.ndarray | None = None,
) -> np.ndarray:
    """C_i(a) for every user (or users ``rows``, ``a`` then their actions), from given loads
    (``tok_all``: ``token_times(game, n)`` if known)."""
    srv_i = game.server_of[a]
    if game.shared:
        tok = (token_times(game, n) if tok_all is None else tok_all)[a]
    else:
        tok = game.step_time(a, n[a])
    cong = tok + game.ap_penalty(srv_i, m[np.maximum(srv_i, 0)])
    out: np.ndarray
    if rows is None:
        out = game.alpha * cong + game.beta[np.arange(game.n_users), a]
    else:
        out = game.alpha[rows] * cong + game.beta[rows, a]
    return out


def response_costs(game: Game, a: np.ndarray, n: np.ndarray, m: np.ndarray) -> np.ndarray:
    """(N, R+1) matrix of C_i(x, a_-i): each user's cost of every action x, the others fixed."""
    step = _moving_step(game, a, n, m, np.arange(game.n_actions)[None, :])
    cost = game.alpha[:, None] * step + game.beta
    cost[np.arange(game.n_users), a] = _staying_cost(game, a, n, m)
    out: np.ndarray = cost
    return out


def best_responses(
    game: Game,
    a: np.ndarray,
    n: np.ndarray | None = None,
    m: np.ndarray | None = None,
    rows: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(br, gain): each user's best response and its normalised gain (C_i(a) - C_i(br)) / alpha_i (s/token).

    Same costs as ``response_costs`` but evaluated only on each user's allowed actions
    (``Game.candidates``). Ties keep the current action (gain 0). ``rows``: evaluate only these users
    (same floats as their entries of the full evaluation; ``br`` and ``gain`` then have len(rows)).
    """
    br, gain, _ = best_responses_and_stay(game, a, n, m, rows)
    return br, gain


def _action_tables(game: Game, n: np.ndarray, m: np.ndarray) -> ActionTables:
    """Per action x under loads (n, m): (stay, join, within, leave, join_h, h_cur) per token (s/token).

    stay: tok + h(m) of a user already on x; join: the per-token time after joining x from outside its
    group (``join_times``); within, leave: the shared-server terms of ``_shared_tables`` (None when no
    server is shared); join_h: join + h(m + 1), what a user from another AP pays; h_cur: h(m) of x's AP.
    """
    srv = game.server_of
    within: np.ndarray | None
    leave: np.ndarray | None
    if game.shared:
        tok, join, within, leave = _shared_tables(game, n)
    else:
        cols = game.step_table.shape[1] - 1
        r = np.arange(game.n_actions)
        tok = game.step_table[r, np.minimum(n, cols)]
        join = game.step_time(r, n + 1)
        join[0] = 0.0
        within = leave = None
    m_x = m[np.maximum(srv, 0)]
    h_cur = game.ap_penalty(srv, m_x)
    return tok + h_cur, join, within, leave, join + game.ap_penalty(srv, m_x + 1), h_cur


def best_responses_and_stay(
    game: Game,
    a: np.ndarray,
    n: np.ndarray | None = None,
    m: np.ndarray | None = None,
    rows: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(br, gain, stay): ``best_responses`` and the users' current costs C_i(a) (``user_costs``).

    One pass over the (user, candidate) table: the cost of a candidate x on another server than the
    user's is alpha_i * J_x + beta_i(x) with J_x = join_x + h(m_x + 1) the same for every user (one
    gather); only candidates on the user's own server (a move within the server: h(m), and on a shared
    server the old variant leaves) and the current action are recomputed, sparsely. Every entry is the
    float ``response_costs`` gives (same operations in the same order), so the argmin, its ties and the
    gains are the same. Padding (a repeat of the user's first candidate, never its first minimum) is
    set to inf, and large tables are searched in buckets of users with similar candidate counts
    (``Game.candidate_buckets``) so that little padding is searched at all.
    """
    if n is None or m is None:
        n, m = loads(game, a)
    tables = _action_tables(game, n, m)
    n_act = game.n_actions
    if rows is None:
        users = np.arange(game.n_users)
        alpha, ar = game.alpha, a
    else:
        users = rows
        alpha, ar = game.alpha[rows], a[rows]
    beta_a = np.take(game.beta, users * n_act + ar)  # beta_i(a_i)
    stay = alpha * tables[0][ar] + beta_a
    if rows is None and game.candidate_buckets is not None:  # users by candidate count: less padding
        br = np.empty(game.n_users, dtype=np.int64)
        gain = np.empty(game.n_users)
        for ub, cand_b, cbeta_b in game.candidate_buckets:
            br[ub], gain[ub] = _search(game, tables, ub, a[ub], alpha[ub], stay[ub], cand_b, cbeta_b)
        return br, gain, stay
    if rows is None:
        cand, cbeta = game.candidates, game.candidate_beta_search
    else:
        cand, cbeta = game.candidates[rows], game.candidate_beta_search[rows]
    br, gain = _search(game, tables, users, ar, alpha, stay, cand, cbeta)
    return br, gain, stay


def _search(
    game: Game,
    tables: ActionTables,
    users: np.ndarray,
    ar: np.ndarray,
    alpha: np.ndarray,
    stay: np.ndarray,
    cand: np.ndarray,
    cbeta: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(br, gain) of ``users`` (actions ``ar``, weights ``alpha``, staying costs ``stay``) over their
    candidate table ``cand`` / ``cbeta`` (padding at inf); ``tables``: ``_action_tables``."""
    _, join, within, leave, join_h, h_cur = tables
    cost = np.take(join_h, cand)
    cost *= alpha[:, None]
    cost += cbeta
    ii, kk = _own_server_entries(game, users, ar, cand)
    if ii.size:
        x, ai = cand[ii, kk], ar[ii]
        tok = join[x]
        if within is not None:
            assert leave is not None  # _action_tables sets both or neither
            grp = game.group_full
            same = game.shared_action[ai] & (grp[x] == grp[ai]) & (x != ai)
            tok = np.where(same, within[x] - leave[ai], tok)
        cost[ii, kk] = np.where(x == ai, stay[ii], alpha[ii] * (tok + h_cur[x]) + cbeta[ii, kk])
    n_k = cost.shape[1]
    k = np.argmin(cost, axis=1)
    flat = np.arange(0, cost.size, n_k) + k
    best = np.take(cost, flat)
    with np.errstate(invalid="ignore"):
        gain = np.where(best < stay, (stay - best) / alpha, 0.0)
    br = np.where(gain > 0, np.take(cand, flat), ar)
    return br, gain


def _own_server_entries(
    game: Game, users: np.ndarray, ar: np.ndarray, cand: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) in ``cand`` of every non-padding candidate on the server of the user's current
    action (local users: none; their local entry is alpha_i * 0 + beta_i(0), the staying cost)."""
    runs = game.candidate_runs
    if runs is None:  # actions not numbered server by server: scan the table
        key = np.where(ar > 0, game.server_of[ar], -2)
        own = (game.server_of[cand] == key[:, None]) & ~game.candidate_padding[users, : cand.shape[1]]
        row, col = np.nonzero(own)
        return row, col
    off = np.flatnonzero(ar > 0)
    col = game.server_of[ar[off]] + 1
    first, count = runs[0][users[off], col], runs[1][users[off], col].astype(np.int64)
    total = int(count.sum())
    if total == 0:
        return off[:0], off[:0]
    ends = np.cumsum(count)
    kk = np.arange(total) - np.repeat(ends - count, count) + np.repeat(first, count)
    return np.repeat(off, count), kk


def max_regret(game: Game, a: np.ndarray) -> float:
    """max_i of the normalised gain of a unilateral best response (s/token); 0 at a pure NE."""
    _, gain = best_responses(game, a)
    return float(gain.max()) if gain.size else 0.0


def isolated_start(game: Game) -> np.ndarray:
    """All local where allowed; other users at their cheapest action on an otherwise empty system."""
    if game.shared:
        one = join_times(game, np.zeros(game.n_actions, dtype=np.int64))
    else:
        one = game.step_time(np.arange(game.n_actions), np.ones(game.n_actions, int))
    solo = game.alpha[:, None] * one[None, :] + game.beta
    solo[:, 0] = game.beta[:, 0]
    a = np.where(np.isfinite(game.beta[:, 0]), 0, np.argmin(solo, axis=1))
    return a.astype(np.int64)
