"""Refined GOALIT: escape capacity-blocked equilibria by exchange moves and several starts.

Plain GOALIT (:mod:`goalit.game.goalit`) stops at the first epsilon-equilibrium it reaches. With full
access points (K_j sub-channels in use, a capacity penalty H for one more) a user who would gain by
moving to AP j cannot: every single move into j costs H. The optimum may then be an equilibrium that
no single move reaches (on ``small`` plain GOALIT stops at 1.68x the optimum).

The refinement is a local search over equilibria, scored by the **social cost** S(a) = sum_i C_i(a)
(the potential is not S, and on shared servers there is no exact potential at all):

1. start from an epsilon-equilibrium a (plain GOALIT's; then ``starts - 1`` GOALIT runs from random
   profiles drawn from the ``rng``);
2. list **exchange moves**, changes of two users at once that no single move can make:
   *swaps* (i takes k's action and k takes i's) and *make-room pairs* (k leaves a full AP j for its
   cheapest action off j while i joins j);
3. try the candidates in increasing order of S after the exchange (at most ``tries`` per round): run
   GOALIT from the exchanged profile and **accept** its end point only if GOALIT converged (an
   epsilon-equilibrium, not a cycle or the slot cap) **and** S is lower than the current one;
4. repeat from the accepted equilibrium until no candidate is accepted (or ``max_rounds``).

Every accepted profile is an epsilon-equilibrium with lower social cost, on partitioned and shared
servers alike, so the result is never worse than plain GOALIT's and is an epsilon-equilibrium whenever
plain GOALIT converged.

**Shortcut (same result, less work).** With one player, a profile is one action x and S = C(x). If plain
GOALIT converged to the cheapest allowed action (checked for every x), no start can end strictly cheaper
and no exchange exists (a swap needs two users; a make-room pair a user on the full AP and another off
it), so the result is plain GOALIT's. The random start profiles are still drawn, so the ``rng`` stream is
the one the full search leaves (GOALIT's parallel and max-gain grants draw nothing); the GOALIT runs
from them are skipped (``skipped_starts``; ``slots`` counts the runs made). The random grant draws
inside GOALIT, so it always runs the full search. S(result) / S(optimum) is an upper estimate of the **price of stability**;
plain GOALIT's S / S(optimum) is the empirical price of anarchy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from goalit.game import dynamics
from goalit.game.goalit import GoalitTrace, goalit
from goalit.game.model import Game


@dataclass
class RefineTrace:
    """What the refinement did. ``plain`` is plain GOALIT's run (the first start)."""

    profile: np.ndarray
    social_cost: float
    converged: bool
    plain: GoalitTrace
    plain_social_cost: float
    starts: int = 0
    rounds: int = 0  # exchange rounds over all starts
    tried: int = 0  # exchanged profiles GOALIT was run from
    accepted: int = 0  # exchanges that led to a better equilibrium
    slots: int = 0  # GOALIT slots over every run (plain included)
    updates: int = 0
    messages: int = 0
    skipped_starts: int = 0  # random starts not run: plain GOALIT is already the cheapest profile


def social_cost(game: Game, a: np.ndarray) -> float:
    """S(a) = sum_i C_i(a) (cost units: seconds)."""
    return float(dynamics.user_costs(game, a).sum())


def social_costs(game: Game, b: np.ndarray) -> np.ndarray:
    """S of every profile (row) of ``b`` (C, N) at once."""
    s: np.ndarray = dynamics.profile_costs(game, b).sum(axis=1)
    return s


def exchange_candidates(game: Game, a: np.ndarray, limit: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Profiles one exchange away from ``a``: swaps of two users' actions and make-room pairs.

    A make-room pair: user i joins action x of a full AP j (m_j >= K_j) from outside j, and a user k
    on j leaves for its cheapest allowed action off j (under the current loads). At most ``limit``
    candidates (a uniform sample from ``rng`` when there are more).
    """
    n_users = game.n_users
    allowed = np.isfinite(game.beta)
    srv = game.server_of
    out: list[np.ndarray] = []
    # swaps: i <- a_k, k <- a_i
    ii, kk = np.triu_indices(n_users, 1)
    ok = (a[ii] != a[kk]) & allowed[ii, a[kk]] & allowed[kk, a[ii]]
    for i, k in zip(ii[ok].tolist(), kk[ok].tolist(), strict=True):
        b = a.copy()
        b[i], b[k] = a[k], a[i]
        out.append(b)
    # make-room pairs
    n, m = dynamics.loads(game, a)
    full = np.flatnonzero(m >= game.subchannels)
    if full.size:
        join = dynamics.join_times(game, n)
        solo = game.alpha[:, None] * join[None, :] + game.beta  # each user's cost of joining x
        solo[:, 0] = game.beta[:, 0]
        for j in full.tolist():
            on_j = srv == j
            leavers = np.flatnonzero(srv[a] == j)
            off = np.where(on_j[None, :], np.inf, solo[leavers])
            dest = np.argmin(off, axis=1)
            keep = np.isfinite(off[np.arange(leavers.size), dest])
            xs = np.flatnonzero(on_j)
            for i in np.flatnonzero(srv[a] != j).tolist():
                for x in xs[allowed[i, xs]].tolist():
                    for k, y in zip(leavers[keep].tolist(), dest[keep].tolist(), strict=True):
                        b = a.copy()
                        b[i], b[k] = x, y
                        out.append(b)
    if len(out) > limit:
        pick = np.sort(rng.choice(len(out), size=limit, replace=False))
        out = [out[p] for p in pick.tolist()]
    return out


def refine(
    game: Game,
    rng: np.random.Generator,
    initial: np.ndarray | None = None,
    grant: str = "parallel",
    epsilon: float | None = None,
    max_slots: int | None = None,
    starts: int = 4,
    tries: int = 32,
    max_rounds: int = 50,
    max_candidates: int = 20000,
) -> RefineTrace:
    """Plain GOALIT, then exchange search from it and from ``starts - 1`` random starts (module doc).

    The first GOALIT run is exactly plain GOALIT's (same ``rng`` draws first), so ``plain`` is what
    ``goalit(game, rng, initial, grant, epsilon, max_slots)`` returns.
    """
    kw: dict[str, Any] = {
        "grant": grant,
        "epsilon": epsilon,
        "max_slots": max_slots,
        "record_potential": False,
    }
    plain = goalit(game, rng, initial=initial, **kw)
    single = single_player_costs(game) if game.n_users == 1 else None
    plain_cost = social_cost(game, plain.profile) if single is None else single[int(plain.profile[0])]
    tr = RefineTrace(plain.profile, plain_cost, plain.converged, plain, plain_cost)
    tr.slots, tr.updates, tr.messages = plain.slots, plain.updates, plain.messages
    firsts = [plain]
    if grant != "random" and plain.converged and single is not None and _cheapest_single(single, plain_cost):
        rng.random((max(starts, 1) - 1) * game.beta.size)  # the draws of the full search's random starts
        tr.starts, tr.rounds, tr.skipped_starts = max(starts, 1), 1, max(starts, 1) - 1
        return tr
    allowed = np.isfinite(game.beta)
    for _ in range(max(starts, 1) - 1):
        a0 = _random_profile(allowed, rng)
        firsts.append(_run(tr, game, rng, a0, kw))
    for first in firsts:
        tr.starts += 1
        if not first.converged:
            continue
        a = first.profile
        cost = social_cost(game, a) if single is None else single[int(a[0])]
        for _ in range(max_rounds):
            tr.rounds += 1
            if single is not None:  # one player: no exchange exists (and none is sampled)
                break
            better = _improve(tr, game, rng, a, cost, tries, max_candidates, kw)
            if better is None:
                break
            a, cost = better
        if cost < tr.social_cost or not tr.converged:
            tr.profile, tr.social_cost, tr.converged = a, cost, True
    return tr


def _improve(
    tr: RefineTrace,
    game: Game,
    rng: np.random.Generator,
    a: np.ndarray,
    cost: float,
    tries: int,
    limit: int,
    kw: dict[str, Any],
) -> tuple[np.ndarray, float] | None:
    """The first exchange (cheapest S first) from which GOALIT converges to a cheaper equilibrium."""
    cands = exchange_candidates(game, a, limit, rng)
    if not cands:
        return None
    costs = social_costs(game, np.stack(cands))
    order = np.argsort(costs, kind="stable")
    for c in order[:tries].tolist():
        if costs[c] >= cost:
            break
        tr.tried += 1
        run = _run(tr, game, rng, cands[c], kw)
        if not run.converged:
            continue
        s = social_cost(game, run.profile)
        if s < cost * (1 - 1e-12):
            tr.accepted += 1
            return run.profile, s
    return None


def _run(
    tr: RefineTrace, game: Game, rng: np.random.Generator, a0: np.ndarray, kw: dict[str, Any]
) -> GoalitTrace:
    run = goalit(game, rng, initial=a0, **kw)
    tr.slots += run.slots
    tr.updates += run.updates
    tr.messages += run.messages
    return run


def single_player_costs(game: Game) -> list[float]:
    """S(x) = C(x) of the one player of ``game`` at every action x (inf where not allowed), the floats
    :func:`social_cost` gives for the profile (x,) (the operations of ``dynamics.user_costs`` in its
    order, on Python floats: on a shared server T_G sums its variants' steps in action order, as
    ``np.bincount`` does)."""
    step = game.step_table
    col1 = min(1, step.shape[1] - 1)
    d1 = step[:, col1].tolist()
    srv = game.server_of.tolist()
    k_ap = game.subchannels.tolist()
    big_h = float(game.penalty_s)
    al = float(game.alpha[0])
    beta = game.beta[0].tolist()
    tok = d1  # partitioned: d_x(1) (the local row is 0)
    if game.shared:  # T_G with the player on x: d_x(1) plus the other variants' d_r(0)
        group_of, capacity, _ = game.groups()
        d0 = step[:, 0].tolist()
        grp = group_of.tolist()
        cap = capacity.tolist()
        members: dict[int, list[int]] = {}
        for r in range(1, len(grp)):
            members.setdefault(grp[r], []).append(r)
        tok = [0.0] * len(grp)
        for x in range(1, len(grp)):
            s_g = 0.0
            for r in members[grp[x]]:
                s_g += d1[r] if r == x else d0[r]
            tok[x] = s_g + (big_h if 1 > cap[grp[x]] else 0.0)
    out = []
    for x, b in enumerate(beta):
        j = srv[x]
        h = big_h if j >= 0 and 1 > k_ap[j] else 0.0
        out.append(al * (tok[x] + h) + b if math.isfinite(b) else math.inf)
    return out


def _cheapest_single(costs: list[float], cost: float) -> bool:
    """Whether ``cost`` (S of the one player's profile) is the least S over its allowed actions
    (``costs``: :func:`single_player_costs`; disallowed actions are inf, never below a finite cost)."""
    return math.isfinite(cost) and all(c >= cost for c in costs)


def _random_profile(allowed: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random allowed action per user."""
    u = rng.random(allowed.shape)
    a: np.ndarray = np.argmax(np.where(allowed, u, -1.0), axis=1).astype(np.int64)
    return a
