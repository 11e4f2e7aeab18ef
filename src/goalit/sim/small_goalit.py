"""The GOALIT protocol for the few players of one simulator decision, in scalar Python.

:func:`goalit.game.goalit.goalit` is vectorised over users; a decision of the simulator involves only
the movable requests (usually one to a few), where NumPy's per-call overhead dominates. This module runs
the *same* protocol slot by slot with plain floats: the same best-response costs in the same floating-
point operation order as ``dynamics.best_responses``, the same request threshold, the same grant rules
(``select_disjoint`` itself for the parallel grant, ``rng.choice`` for the random one) and the same
counters, so its profile, slots, updates, messages, convergence flag and random draws equal the
protocol's (checked on random states by tests/sim/test_sim_policies.py). It does not record the
per-slot potential trace.
"""

from __future__ import annotations

import numpy as np

from goalit.game.goalit import select_disjoint
from goalit.game.model import Game

# Games with at most this many players use the scalar protocol; larger ones the vectorised one.
MAX_PLAYERS = 32


def goalit_small(
    game: Game,
    rng: np.random.Generator,
    initial: np.ndarray,
    grant: str = "parallel",
    epsilon: float | None = None,
    max_slots: int | None = None,
) -> tuple[np.ndarray, int, int, int, bool]:
    """(profile, slots, updates, messages, converged) of GOALIT from ``initial``; see the module docstring."""
    eps = game.epsilon if epsilon is None else epsilon
    cap = game.max_slots if max_slots is None else max_slots
    a = [int(x) for x in np.asarray(initial).tolist()]
    n_users = len(a)
    n_act = game.n_actions
    srv = game.server_of.tolist()
    srv0 = [max(j, 0) for j in srv]
    k_ap = game.subchannels.tolist()
    k_x = [k_ap[j] if j >= 0 else None for j in srv]  # K of each action's AP (None: local)
    big_h = float(game.penalty_s)
    step = game.step_table.tolist()
    last = len(step[0]) - 1
    alpha = game.alpha.tolist()
    beta = game.beta.tolist()
    cand = game.candidates.tolist()
    cbeta = game.candidate_beta.tolist()
    n = [0] * n_act
    m = [0] * game.n_servers
    for x in a:
        n[x] += 1
        if srv[x] >= 0:
            m[srv[x]] += 1
    slots = updates = messages = 0
    converged = False
    acts = range(n_act)
    while slots < cap:
        slots += 1
        d_next = [step[x][min(n[x] + 1, last)] for x in acts]
        d_next[0] = 0.0
        m_x = [m[srv0[x]] for x in acts]
        h_next = [0.0 if k_x[x] is None or m_x[x] + 1 <= k_x[x] else big_h for x in acts]
        h_cur = [0.0 if k_x[x] is None or m_x[x] <= k_x[x] else big_h for x in acts]
        ap_moves = h_next != h_cur
        br = a[:]
        gain = [0.0] * n_users
        for i in range(n_users):
            ai = a[i]
            si = srv[ai]
            al = alpha[i]
            h_stay = big_h if (si >= 0 and m[srv0[ai]] > k_ap[srv0[ai]]) else 0.0
            stay = al * (step[ai][min(n[ai], last)] + h_stay)
            stay += beta[i][ai]
            best = np.inf
            best_x = cand[i][0]
            first = True
            for x, cb in zip(cand[i], cbeta[i], strict=True):
                if x == ai:
                    c = stay
                else:
                    c = al * (d_next[x] + h_next[x]) + cb
                    if ap_moves and si >= 0 and srv[x] == si:
                        c -= al * (h_next[x] - h_cur[x])
                if first or c < best:
                    best, best_x, first = c, x, False
            if best < stay:
                g = (stay - best) / al
                if g > 0:
                    gain[i] = g
                    br[i] = best_x
        req = [i for i in range(n_users) if gain[i] > eps]
        if not req:
            converged = True
            messages += 1  # END broadcast
            break
        if grant == "random":
            chosen = rng.choice(np.asarray(req, np.int64), size=1).tolist()
        else:
            order = sorted(req, key=lambda i: -gain[i])
            if grant == "max-gain":
                chosen = order[:1]
            else:
                seen: set[int] = set()
                keep = []
                for i in order:
                    if br[i] == 0 or br[i] not in seen:
                        keep.append(i)
                    seen.add(br[i])
                chosen = select_disjoint(
                    game, np.asarray(a, np.int64), np.asarray(br, np.int64), np.asarray(keep, np.int64),
                    np.asarray(m, np.int64),
                ).tolist()  # fmt: skip
        for i in chosen:
            old, new = a[i], br[i]
            n[old] -= 1
            n[new] += 1
            if srv[old] >= 0:
                m[srv[old]] -= 1
            if srv[new] >= 0:
                m[srv[new]] += 1
            a[i] = new
        updates += len(chosen)
        messages += len(req) + len(chosen) + 1  # RTUs + grants + load broadcast
    return np.asarray(a, np.int64), slots, updates, messages, converged


def isolated_start_small(game: Game) -> np.ndarray:
    """``dynamics.isolated_start`` with plain floats (same costs, same first-minimum tie rule).

    All local where allowed; other users at their cheapest action on an otherwise empty system.
    """
    step = game.step_table
    d1 = step[:, min(1, step.shape[1] - 1)].tolist()
    d1[0] = 0.0  # step_time(0, 1) is column 1 of the local row, which is 0
    alpha = game.alpha.tolist()
    out = []
    for i, row in enumerate(game.beta.tolist()):
        if row[0] != np.inf:
            out.append(0)
            continue
        al = alpha[i]
        best, best_x = np.inf, 0
        for x, b in enumerate(row):
            c = b if x == 0 else al * d1[x] + b
            if x == 0 or c < best:
                best, best_x = c, x
        out.append(best_x)
    return np.asarray(out, np.int64)
