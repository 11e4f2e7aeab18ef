"""The fast path of the GOALIT engine for few players: the same protocol in scalar Python.

:func:`goalit.game.goalit.goalit` is vectorised over users; a simulator decision or a refinement run
involves few players (usually one to a few dozen), where NumPy's per-call overhead dominates, and
``goalit`` then runs this path itself (games of at most ``MAX_PLAYERS`` users, partitioned or with shared servers, without a
per-slot trace). This module runs the *same* protocol slot by slot with plain floats: the same best-response costs in the same floating-
point operation order as ``dynamics.best_responses``, the same request threshold, the same grant rules
(``select_disjoint`` itself for the parallel grant, ``rng.choice`` for the random one) and the same
counters, so its profile, slots, updates, messages, convergence flag and random draws equal the
protocol's (checked on random states by tests/game/test_goalit_scalar.py and tests/sim/test_sim_policies.py). It does not record the
per-slot potential trace.

With Numba installed the parallel and max-gain grants run the same loop compiled
(:mod:`goalit.game.goalit_kernel`, imported on first use by :func:`kernel`), which pays off up to far
larger games (``MAX_PLAYERS_COMPILED``); without Numba, or for the random grant, the Python loop below.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import numpy as np

from goalit.game.goalit import select_disjoint
from goalit.game.model import Game

# Games with at most this many players use the scalar protocol; larger ones the vectorised one.
MAX_PLAYERS = 32
# ... with the compiled kernel (benchmarks/goalit_kernel.py, parallel grant from the isolated start; CPU ms
# per run vectorised / kernel on 2026-11-30, load ~1): `default` 32 players 6.8 / 0.10, 1,024: 21 / 4.4,
# 4,096: 36 / 28; `large` 1,024: 35 / 5.5, 4,096: 224 / 82. The kernel re-evaluates every player each
# slot and the vectorised engine only those whose costs changed, so it catches up beyond that.
MAX_PLAYERS_COMPILED = 4096

_KERNEL: ModuleType | bool | None = None  # goalit_kernel once imported, False without Numba


def kernel() -> ModuleType | None:
    """The compiled protocol (:mod:`goalit.game.goalit_kernel`), or None when Numba is not installed.

    Imported on the first call (Numba's import takes a few tenths of a second), never at ``import goalit``.
    """
    global _KERNEL
    if _KERNEL is None:
        try:
            from goalit.game import goalit_kernel
        except ImportError:
            _KERNEL = False
        else:
            _KERNEL = goalit_kernel
    return _KERNEL if isinstance(_KERNEL, ModuleType) else None


def max_players() -> int:
    """The largest game the scalar path takes: ``MAX_PLAYERS_COMPILED`` with Numba, else ``MAX_PLAYERS``."""
    return MAX_PLAYERS_COMPILED if kernel() is not None else MAX_PLAYERS


def _kernel_tables(game: Game) -> tuple[Any, ...]:
    """The game's tables as the kernel takes them (contiguous int64 / float64 / bool arrays)."""
    shared = game.shared
    if shared:
        group_of, capacity, group_shared = game.groups()
        groups = (
            np.ascontiguousarray(group_of, np.int64), np.ascontiguousarray(capacity, np.int64),
            np.ascontiguousarray(group_shared, np.bool_),
        )  # fmt: skip
    else:
        groups = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.bool_))
    return (
        np.ascontiguousarray(game.server_of, np.int64), np.ascontiguousarray(game.subchannels, np.int64),
        float(game.penalty_s), np.ascontiguousarray(game.step_table, np.float64),
        np.ascontiguousarray(game.alpha, np.float64), np.ascontiguousarray(game.beta, np.float64),
        np.ascontiguousarray(game.candidates, np.int64), np.ascontiguousarray(game.candidate_beta, np.float64),
        shared, *groups,
    )  # fmt: skip


def _use_kernel(grant: str, compiled: bool | None) -> ModuleType | None:
    """The kernel if it runs this call (``compiled``: None when available, True required, False never)."""
    if compiled is False or grant == "random":
        return None
    k = kernel()
    if compiled and k is None:
        raise RuntimeError("the compiled GOALIT kernel needs Numba, which is not installed")
    return k


class _Small:
    """The game's tables as Python lists and the loads of profile ``a`` (kept up to date by ``move``)."""

    def __init__(self, game: Game, a: list[int]) -> None:
        self.game = game
        self.a = a
        self.srv = game.server_of.tolist()
        self.srv0 = [max(j, 0) for j in self.srv]
        k_ap = game.subchannels.tolist()
        self.k_ap = k_ap
        self.k_x = [k_ap[j] if j >= 0 else None for j in self.srv]  # K of each action's AP (None: local)
        self.big_h = float(game.penalty_s)
        self.step = game.step_table.tolist()
        self.last = len(self.step[0]) - 1
        self.alpha = game.alpha.tolist()
        self.beta = game.beta.tolist()
        self.cand = game.candidates.tolist()
        self.cbeta = game.candidate_beta.tolist()
        self.set_profile(a)
        self.shared = game.shared
        if self.shared:
            group_of, capacity, group_shared = game.groups()
            self.grp = game.group_full.tolist()  # group of each action (-1: local)
            self.cap = capacity.tolist()
            self.g_shared = group_shared.tolist()
            self.shared_action = game.shared_action.tolist()
            # padding repeats a row's first candidate at the same cost, never below the running minimum:
            # candidate_beta gives the first minimum dynamics._search finds with inf at the padding

    def set_profile(self, a: list[int]) -> None:
        """Make ``a`` the current profile (kept by reference) and count its loads (n, m)."""
        self.a = a
        self.n = [0] * self.game.n_actions
        self.m = [0] * self.game.n_servers
        for x in a:
            self.n[x] += 1
            if self.srv[x] >= 0:
                self.m[self.srv[x]] += 1

    def shared_tables(self, n: list[int]) -> tuple[list[float], list[float], list[float], list[float]]:
        """``dynamics._shared_tables`` under loads ``n``: (tok, join, within, leave), same floats (the group
        sums accumulate in action order, as ``np.bincount`` does)."""
        step, last, grp, big_h = self.step, self.last, self.grp, self.big_h
        n_act = len(n)
        n_g = [0] * len(self.cap)
        s_g = [0.0] * len(self.cap)
        d_cur = [0.0] * n_act
        if sum(n) + 1 <= last:  # no load reaches the table's last column: no clipping (the same entries)
            for x in range(1, n_act):
                nx, g = n[x], grp[x]
                d_cur[x] = dc = step[x][nx]
                s_g[g] += dc
                n_g[g] += nx
            pen_cur = [big_h if k > c else 0.0 for k, c in zip(n_g, self.cap, strict=True)]
            pen_next = [big_h if k + 1 > c else 0.0 for k, c in zip(n_g, self.cap, strict=True)]
            tok = [0.0] * n_act
            join = [0.0] * n_act
            within = [0.0] * n_act
            leave = [0.0] * n_act
            g_shared = self.g_shared
            for x in range(1, n_act):
                row, nx, g = step[x], n[x], grp[x]
                dc = d_cur[x]
                d_next = row[nx + 1]
                both = s_g[g] - dc + d_next
                tok[x] = s_g[g] + pen_cur[g]
                join[x] = both + pen_next[g] if g_shared[g] else d_next
                within[x] = both + pen_cur[g]
                leave[x] = dc - row[nx - 1] if nx > 0 else dc - row[0]
            return tok, join, within, leave
        for x in range(1, n_act):
            row, nx, g = step[x], n[x], grp[x]
            d_cur[x] = dc = row[min(nx, last)]
            s_g[g] += dc
            n_g[g] += nx
        pen_cur = [big_h if k > c else 0.0 for k, c in zip(n_g, self.cap, strict=True)]
        pen_next = [big_h if k + 1 > c else 0.0 for k, c in zip(n_g, self.cap, strict=True)]
        tok = [0.0] * n_act
        join = [0.0] * n_act
        within = [0.0] * n_act
        leave = [0.0] * n_act
        for x in range(1, n_act):
            row, nx, g = step[x], n[x], grp[x]
            dc = d_cur[x]
            d_next = row[min(nx + 1, last)]
            both = s_g[g] - dc + d_next
            tok[x] = s_g[g] + pen_cur[g]
            join[x] = both + pen_next[g] if self.g_shared[g] else d_next
            within[x] = both + pen_cur[g]
            leave[x] = dc - row[min(max(nx - 1, 0), last)]
        return tok, join, within, leave

    def best_responses_shared(self) -> tuple[list[int], list[float]]:
        """``dynamics.best_responses_and_stay`` (br, gain) on a game with shared servers, same floats."""
        a, n, m, srv, k_x, big_h = self.a, self.n, self.m, self.srv, self.k_x, self.big_h
        tok, join, within, leave = self.shared_tables(n)
        acts = range(len(n))
        m_x = [m[j] for j in self.srv0]
        h_cur = [0.0 if k_x[x] is None or m_x[x] <= k_x[x] else big_h for x in acts]
        stay_t = [tok[x] + h_cur[x] for x in acts]
        join_h = [join[x] + (0.0 if k_x[x] is None or m_x[x] + 1 <= k_x[x] else big_h) for x in acts]
        grp, sh = self.grp, self.shared_action
        br = a[:]
        gain = [0.0] * len(a)
        for i, ai in enumerate(a):
            al = self.alpha[i]
            stay = al * stay_t[ai] + self.beta[i][ai]
            si = srv[ai] if ai > 0 else -2
            best = stay
            best_x = -1
            for x, cb in zip(self.cand[i], self.cbeta[i], strict=True):
                if srv[x] != si:
                    c = join_h[x] * al + cb
                elif x == ai:
                    c = stay
                else:
                    t = within[x] - leave[ai] if sh[ai] and grp[x] == grp[ai] else join[x]
                    c = al * (t + h_cur[x]) + cb
                if best_x < 0 or c < best:
                    best, best_x = c, x
            if best < stay:
                g = (stay - best) / al
                if g > 0:
                    gain[i] = g
                    br[i] = best_x
        return br, gain

    def best_responses(self) -> tuple[list[int], list[float]]:
        """``dynamics.best_responses`` for the current profile: (br, normalised gain), same floats."""
        if self.shared:
            return self.best_responses_shared()
        a, n, m, srv, srv0, k_x, big_h, step, last = (
            self.a, self.n, self.m, self.srv, self.srv0, self.k_x, self.big_h, self.step, self.last,
        )  # fmt: skip
        acts = range(len(n))
        d_next = [step[x][min(n[x] + 1, last)] for x in acts]
        d_next[0] = 0.0
        m_x = [m[srv0[x]] for x in acts]
        h_next = [0.0 if k_x[x] is None or m_x[x] + 1 <= k_x[x] else big_h for x in acts]
        h_cur = [0.0 if k_x[x] is None or m_x[x] <= k_x[x] else big_h for x in acts]
        ap_moves = h_next != h_cur  # then moves within the current AP pay h(m) instead of h(m + 1)
        br = a[:]
        gain = [0.0] * len(a)
        for i, ai in enumerate(a):
            si = srv[ai]
            al = self.alpha[i]
            h_stay = big_h if (si >= 0 and m[si] > self.k_ap[si]) else 0.0
            stay = al * (step[ai][min(n[ai], last)] + h_stay)
            stay += self.beta[i][ai]
            best = stay
            best_x = -1
            for x, cb in zip(self.cand[i], self.cbeta[i], strict=True):
                if x == ai:
                    c = stay
                elif ap_moves and si >= 0 and srv[x] == si:
                    c = al * (d_next[x] + h_cur[x]) + cb
                else:
                    c = al * (d_next[x] + h_next[x]) + cb
                if best_x < 0 or c < best:
                    best, best_x = c, x
            if best < stay:
                g = (stay - best) / al
                if g > 0:
                    gain[i] = g
                    br[i] = best_x
        return br, gain

    def move(self, i: int, new: int) -> None:
        old = self.a[i]
        self.n[old] -= 1
        self.n[new] += 1
        if self.srv[old] >= 0:
            self.m[self.srv[old]] -= 1
        if self.srv[new] >= 0:
            self.m[self.srv[new]] += 1
        self.a[i] = new


SmallGame = _Small  # the scalar tables, for other few-player fast paths (``baselines.greedy``)


def best_responses_small(game: Game, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(br, gain) of profile ``a``, as ``dynamics.best_responses`` computes them (for tests)."""
    br, gain = _Small(game, [int(x) for x in np.asarray(a).tolist()]).best_responses()
    return np.asarray(br, np.int64), np.asarray(gain, float)


def goalit_small(
    game: Game,
    rng: np.random.Generator,
    initial: np.ndarray,
    grant: str = "parallel",
    epsilon: float | None = None,
    max_slots: int | None = None,
) -> tuple[np.ndarray, int, int, int, bool]:
    """(profile, slots, updates, messages, converged) of GOALIT from ``initial``; see the module docstring."""
    return goalit_small_cycled(game, rng, initial, grant, epsilon, max_slots)[:5]


def goalit_small_cycled(
    game: Game,
    rng: np.random.Generator,
    initial: np.ndarray,
    grant: str = "parallel",
    epsilon: float | None = None,
    max_slots: int | None = None,
    state: _Small | None = None,
    compiled: bool | None = None,
) -> tuple[np.ndarray, int, int, int, bool, bool]:
    """``goalit_small`` and ``cycled``: on a game with shared servers the protocol stops when a profile
    repeats, as :func:`goalit.game.goalit.goalit` does (always False on a partitioned game).
    ``state``: ``SmallGame(game, ...)`` already built (its profile is replaced by ``initial``; unused by
    the kernel). ``compiled``: run the Numba kernel (None: when installed; never for the random grant)."""
    eps = game.epsilon if epsilon is None else epsilon
    cap = game.max_slots if max_slots is None else max_slots
    k = _use_kernel(grant, compiled)
    if k is not None:
        a = np.array(initial, np.int64)
        out = k.goalit_run(a, *_kernel_tables(game), float(eps), int(cap), grant == "max-gain", False)
        return a, int(out[0]), int(out[1]), int(out[2]), bool(out[3]), bool(out[4])
    a0 = [int(x) for x in np.asarray(initial).tolist()]
    st = _Small(game, a0) if state is None else state
    if state is not None:
        st.set_profile(a0)
    slots = updates = messages = 0
    converged = cycled = False
    visited = {tuple(st.a)} if st.shared else None  # profiles seen (cycle detection)
    while slots < cap:
        slots += 1
        br, gain = st.best_responses()
        req = [i for i, g in enumerate(gain) if g > eps]
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
            else:  # the top requester per target instance, then the protocol's disjoint selection
                seen: set[int] = set()
                keep = []
                for i in order:
                    if br[i] == 0 or br[i] not in seen:
                        keep.append(i)
                    seen.add(br[i])
                if len(keep) == 1:  # select_disjoint always grants the first request
                    chosen = keep
                else:
                    chosen = select_disjoint(
                        game, np.asarray(st.a, np.int64), np.asarray(br, np.int64),
                        np.asarray(keep, np.int64), np.asarray(st.m, np.int64),
                    ).tolist()  # fmt: skip
        for i in chosen:
            st.move(i, br[i])
        updates += len(chosen)
        messages += len(req) + len(chosen) + 1  # RTUs + grants + load broadcast
        if visited is not None:
            key = tuple(st.a)
            if key in visited:
                cycled = True
                break
            visited.add(key)
    return np.asarray(st.a, np.int64), slots, updates, messages, converged, cycled


def goalit_from(
    game: Game,
    rng: np.random.Generator,
    current: np.ndarray,
    grant: str = "parallel",
    epsilon: float | None = None,
    max_slots: int | None = None,
    compiled: bool | None = None,
) -> tuple[np.ndarray, int, int, int, bool, bool]:
    """``goalit_small_cycled`` from ``current``, where players at -1 (new ones) start at their isolated
    start (:func:`isolated_start_small`): a simulator decision. ``compiled`` as there."""
    k = _use_kernel(grant, compiled)
    if k is not None:
        a = np.array(current, np.int64)
        eps = game.epsilon if epsilon is None else epsilon
        slots = game.max_slots if max_slots is None else max_slots
        out = k.goalit_run(a, *_kernel_tables(game), float(eps), int(slots), grant == "max-gain", True)
        return a, int(out[0]), int(out[1]), int(out[2]), bool(out[3]), bool(out[4])
    init = np.array(current, np.int64)
    st = _Small(game, [])
    new = init < 0
    if new.any():
        init[new] = isolated_start_small(game, st)[new]
    return goalit_small_cycled(game, rng, init, grant, epsilon, max_slots, state=st, compiled=False)


def isolated_start_small(game: Game, state: _Small | None = None) -> np.ndarray:
    """``dynamics.isolated_start`` with plain floats (same costs, same first-minimum tie rule).

    All local where allowed; other users at their cheapest action on an otherwise empty system.
    ``state``: ``SmallGame(game, ...)`` if already built (its tables are reused, its profile untouched).
    """
    step = game.step_table
    if game.shared:  # dynamics.join_times at zero loads
        st = _Small(game, []) if state is None else state
        d1 = st.shared_tables([0] * game.n_actions)[1]
    else:
        d1 = step[:, min(1, step.shape[1] - 1)].tolist()
        d1[0] = 0.0  # step_time(0, 1) is column 1 of the local row, which is 0
    alpha = game.alpha.tolist() if state is None else state.alpha
    beta = game.beta.tolist() if state is None else state.beta
    out = []
    for i, row in enumerate(beta):
        if math.isfinite(row[0]):
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
