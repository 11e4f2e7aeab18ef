"""Test oracle: OT-GAH's tree search and epoch planner as they were before the speed work (commit 306181e),
copied verbatim (array-based search, tables rebuilt every epoch, solo times from ``static_batch_time_s``).
tests/solvers/test_otgah_search.py checks that :mod:`goalit.solvers.otgah` decides as this does (same plans and node counts; batch
times, summed step by step here and in closed form there, to 1e-12)."""

# ruff: noqa
from __future__ import annotations

import numpy as np

from goalit.game.model import LOCAL, Game
from goalit.solvers.otgah import (
    WAIT,
    BatchChoice,
    BatchProblem,
    EpochPlan,
    _max_batch,
    static_batch_fits,
    static_batch_time_s,
)

_FINITE_MAX = float(np.finfo(float).max)


class BatchTimes:
    """T(b, s, o) of one instance for b = 0..b_cap, s in ``prompts``, o in ``outputs`` (sorted unique).

    +inf where the batch exceeds KV memory. Tables are filled per prompt length on demand: one call of
    the decode roofline over all (b, t) and a cumulative sum over t give T for every o at once.
    """

    def __init__(self, game: Game, r: int, b_cap: int, prompts: np.ndarray, outputs: np.ndarray) -> None:
        self.game, self.r, self.b_cap = game, r, int(b_cap)
        self.prompts = np.unique(np.asarray(prompts, dtype=np.int64))
        self.outputs = np.unique(np.asarray(outputs, dtype=np.int64))
        self.tab = np.zeros((self.prompts.size, self.b_cap + 1, self.outputs.size))
        self.done = np.zeros(self.prompts.size, dtype=bool)

    def covers(self, b_cap: int, prompts: np.ndarray, outputs: np.ndarray) -> bool:
        """Whether this cache holds every (b, s, o) a problem with these candidates needs."""
        return (
            b_cap <= self.b_cap
            and np.isin(prompts, self.prompts).all()
            and np.isin(outputs, self.outputs).all()
        )

    def ensure(self, s_idx: np.ndarray) -> None:
        """Fill the tables of the prompt lengths ``prompts[s_idx]``."""
        s_idx = np.atleast_1d(s_idx)
        missing = ~self.done[s_idx]
        if not missing.any():
            return
        for k in np.unique(s_idx[missing]).tolist():
            self.tab[k] = self._fill(int(self.prompts[k]))
            self.done[k] = True

    def _fill(self, s: int) -> np.ndarray:
        g, r, ip = self.game, self.r, self.game.instances
        out = np.zeros((self.b_cap + 1, self.outputs.size))
        if self.b_cap == 0:
            return out
        b = np.arange(1, self.b_cap + 1, dtype=float)[:, None]
        t = np.arange(1, int(self.outputs[-1]) + 1, dtype=float)[None, :]
        roof = ip.roofline.at(r)
        pre = roof.prefill_s(b * s)
        dec = roof.decode_step_s(b, b * (s + t))
        total = pre + np.cumsum(dec, axis=1)[:, self.outputs - 1]
        fits = static_batch_fits(g, r, b, s, self.outputs[None, :])
        out[1:] = np.where(fits, total, np.inf)
        return out

    def time_s(self, s_idx, b, o_idx):
        """T at table indices (vectorised; fills missing prompt lengths first)."""
        self.ensure(np.asarray(s_idx))
        return self.tab[s_idx, b, o_idx]


def optimal_batch(
    game: Game,
    problem: BatchProblem,
    max_nodes: int | None = None,
    times: BatchTimes | None = None,
    bound_pruning: bool = True,
) -> BatchChoice:
    """OT: the feasible static batch with the most served tokens, by depth-first search with pruning.

    Candidates are ordered by output tokens (descending; ties: shorter prompt, later deadline, index), so
    the first member of a batch fixes o_max. A node is a batch; its children add one later candidate
    that keeps it feasible (feasibility pruning: an addition that violates memory, sub-channels or a
    deadline violates them in every superset too, so it is dropped from the whole subtree). Bound
    pruning: a child is cut when its value plus the largest values that could still join (at most
    b_lim - b more, b_lim the largest batch meeting memory and the tightest deadline at the current
    padding) cannot beat the incumbent. ``nodes`` counts the root and every child generated (bounded),
    pruned or not. Exact unless ``max_nodes`` stops it (``exact=False``). ``times``: a cache of
    instance ``problem.r`` to reuse across searches. ``bound_pruning=False`` keeps only feasibility
    pruning (for measuring what each rule saves).
    """
    n = int(problem.output_tokens.size)
    b_cap = _max_batch(problem, game)
    if b_cap == 0:
        return BatchChoice(np.zeros(0, dtype=np.int64), 0, 0.0, 1)
    o = problem.output_tokens.astype(np.int64)
    s = problem.prompt_tokens.astype(np.int64)
    up = problem.uplink_s.astype(float)
    bud = problem.budget_s.astype(float)
    order = np.lexsort((np.arange(n), -bud, s, -o))
    o, s, up, bud = o[order], s[order], up[order], bud[order]
    if times is None or times.r != problem.r or not times.covers(b_cap, s, o):
        times = BatchTimes(game, problem.r, b_cap, s, o)
    si = np.searchsorted(times.prompts, s)
    oi = np.searchsorted(times.outputs, o)
    # a candidate that cannot be served alone never joins a batch
    t_solo = times.time_s(si, 1, oi)
    cand = np.flatnonzero(np.isfinite(t_solo) & (t_solo + up <= bud))

    best = {"value": 0, "members": [], "time": 0.0}
    state = {"nodes": 1, "stopped": False}  # the root (empty batch) is a node

    def limit(s_i: int, o_i: int, avail: float) -> int:
        """Largest b with T(b, s, o) <= avail (memory included: T = inf beyond it); T increases in b."""
        if not times.done[s_i]:
            times.ensure(np.array([s_i]))
        avail = min(avail, _FINITE_MAX)  # an infinite budget still excludes T = inf (memory)
        return min(b_cap, int(np.searchsorted(times.tab[s_i, :, o_i], avail, side="right")) - 1)

    def compatible(ks: np.ndarray, b: int, s_i: int, o_i: int, up_max: float, budget: float) -> np.ndarray:
        """The candidates of ``ks`` that can join the batch (b, s, o, up_max, budget) keeping it feasible."""
        if b + 1 > b_cap or ks.size == 0:
            return ks[:0]
        t = times.time_s(np.maximum(s_i, si[ks]), b + 1, o_i)
        return ks[np.isfinite(t) & (t + np.maximum(up_max, up[ks]) <= np.minimum(budget, bud[ks]))]

    def visit(members: list[int], b: int, s_i: int, o_i: int, up_max: float, budget: float, value: int,
              comp: np.ndarray) -> None:  # fmt: skip
        if value > best["value"]:
            best["value"], best["members"] = value, list(members)
            best["time"] = float(times.tab[s_i, b, o_i])
        if comp.size == 0:
            return
        room = (limit(s_i, o_i, budget - up_max) if b else b_cap) - b
        if room <= 0:
            return
        vals = o[comp]
        for q, j in enumerate(comp.tolist()):
            # the best any batch containing this batch + some of comp[q:] can do (values sorted descending)
            if bound_pruning and value + int(vals[q : q + room].sum()) <= best["value"]:
                break
            if max_nodes is not None and state["nodes"] >= max_nodes:
                state["stopped"] = True
                return
            state["nodes"] += 1  # the child batch is generated and bounded
            s2 = max(s_i, int(si[j]))
            o2 = o_i if b else int(oi[j])
            up2, bud2 = max(up_max, up[j]), min(budget, bud[j])
            rest = compatible(comp[q + 1 :], b + 1, s2, o2, up2, bud2)
            lim2 = limit(s2, o2, bud2 - up2)
            if (
                bound_pruning
                and value + int(o[j]) + int(o[rest][: max(lim2 - b - 1, 0)].sum()) <= best["value"]
            ):
                continue
            members.append(j)
            visit(members, b + 1, s2, o2, up2, bud2, value + int(o[j]), rest)
            members.pop()
            if state["stopped"]:
                return

    visit([], 0, 0, 0, 0.0, np.inf, 0, cand)
    chosen = np.sort(order[np.asarray(best["members"], dtype=np.int64)])
    return BatchChoice(chosen, int(best["value"]), best["time"], state["nodes"], not state["stopped"])


def plan_epoch(
    game: Game,
    pending: np.ndarray,
    available: np.ndarray | None = None,
    waited_s: np.ndarray | None = None,
    epoch_s: float | None = None,
    *,
    one_level_per_server: bool = False,
    max_nodes: int | None = None,
    model_capacity: bool = False,
    serial_shared: bool = True,
) -> EpochPlan:
    """One OT-GAH epoch over the requests ``pending`` (user indices of ``game``).

    ``available[r]`` (shape (R+1,)): instance r is free to start a new batch (None: all). ``waited_s``:
    time each pending request has already waited, counted against its deadline. A request not placed in
    a batch waits (-1) unless waiting one more epoch (``epoch_s``) would make its deadline unreachable
    even served alone; then it falls back to local (0). ``epoch_s=None`` means there is no next epoch:
    every request not placed runs locally. A request whose local model is not allowed never falls back;
    if its deadline is already unreachable it is offered a best-effort batch (deadline ignored) on the
    instances left free. ``one_level_per_server``: at most one batch (one quantization level) per server
    per epoch, the literal reading of docs/model.md B.10 step 2 (default: every free instance runs a batch).
    ``serial_shared`` (default): a shared server runs one static batch at a time (Model B, docs/model.md),
    so it gets at most one per epoch; the static solver turns it off (Model A scores co-active variants).
    ``model_capacity``: also cap each batch at Model A's KV capacity ``game.capacity[r]`` (reserved at
    the scenario's longest sequence), so that a profile scored under Model A is never charged H for a
    batch that fits physically; the static solver sets it.
    """
    pending = np.asarray(pending, dtype=np.int64)
    n_p = int(pending.size)
    n_act = game.n_actions
    waited = np.zeros(n_p) if waited_s is None else np.asarray(waited_s, dtype=float)
    avail = np.ones(n_act, dtype=bool) if available is None else np.asarray(available, dtype=bool).copy()
    avail[LOCAL] = False
    allowed = game.allowed[pending]
    budget = game.deadline_s[pending, None] - waited[:, None] - game.downlink_s[pending]  # (P, R+1)

    plan = EpochPlan(np.full(n_p, WAIT, dtype=np.int64), {}, {}, 0)
    free = np.ones(n_p, dtype=bool)
    room = game.subchannels.astype(np.int64).copy()
    cap = game.capacity if model_capacity else None
    one = (one_level_per_server, serial_shared)
    _allocate(game, plan, pending, allowed, budget, free, avail, room, one, max_nodes, cap)

    local_ok = allowed[:, LOCAL]
    if epoch_s is None:  # no next epoch
        doomed = free.copy()
    else:  # would miss the deadline even served alone (on any allowed instance) after one more epoch
        solo = _solo_finish(game, pending, allowed)
        doomed = free & (waited + float(epoch_s) + solo > game.deadline_s[pending])
    plan.assignment[doomed & local_ok] = LOCAL
    stuck = free & doomed & ~local_ok
    if stuck.any():  # best effort for requests that can neither meet their deadline nor run locally
        late = np.broadcast_to(np.where(stuck, np.inf, -np.inf)[:, None], budget.shape)
        _allocate(
            game,
            plan,
            pending,
            allowed,
            late,
            stuck.copy(),
            avail,
            room,
            one,
            max_nodes,
            cap,
        )
    plan.served_tokens = int(sum(game.output_tokens[pending[m]].sum() for m in plan.batches.values()))
    plan.info["fallback_local"] = int((doomed & local_ok).sum())
    return plan


def _solo_finish(game: Game, pending: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """min over allowed instances of T_up + T({k}) + T_dl: the soonest request k could complete (s)."""
    out = np.full(pending.size, np.inf)
    for r in range(1, game.n_actions):
        rows = np.flatnonzero(allowed[:, r])
        for p in rows.tolist():
            u = int(pending[p])
            s, o = int(game.prompt_tokens[u]), int(game.output_tokens[u])
            if not static_batch_fits(game, r, 1, s, o):
                continue
            t = float(static_batch_time_s(game, r, 1, s, o)[0])
            out[p] = min(out[p], game.uplink_s[u, r] + t + game.downlink_s[u, r])
    return out


def _allocate(game, plan, pending, allowed, budget, free, avail, room, one_level, max_nodes, cap) -> None:
    """GAH: repeatedly commit the instance whose OT batch serves the most tokens (updates ``plan``).

    ``one_level`` = (at most one batch per server, at most one batch per shared server)."""
    cache: dict[int, tuple[np.ndarray, BatchChoice]] = {}  # r -> (candidate positions, choice)
    b_cap = int(min(pending.size, room.max(initial=0)))
    s_all, o_all = game.prompt_tokens[pending].astype(np.int64), game.output_tokens[pending].astype(np.int64)
    tables = {r: BatchTimes(game, r, b_cap, s_all, o_all) for r in np.flatnonzero(avail).tolist()}

    def solve(r: int) -> tuple[np.ndarray, BatchChoice]:
        j = int(game.server_of[r])
        pos = np.flatnonzero(free & allowed[:, r])
        users = pending[pos]
        prob = BatchProblem(
            r=r,
            output_tokens=game.output_tokens[users].astype(np.int64),
            prompt_tokens=game.prompt_tokens[users].astype(np.int64),
            uplink_s=game.uplink_s[users, r],
            budget_s=budget[pos, r],
            max_batch=int(room[j] if cap is None else min(room[j], cap[r])),
        )
        choice = optimal_batch(game, prob, max_nodes, tables[r])
        plan.nodes_explored += choice.nodes
        plan.searches += 1
        plan.exact &= choice.exact
        return pos, choice

    while True:
        best_r, best_key = -1, None
        for r in np.flatnonzero(avail).tolist():
            got = cache.get(r)
            if got is not None:
                pos, ch = got
                members = pos[ch.members]
                if not free[members].all() or ch.members.size > room[game.server_of[r]]:  # cap is fixed
                    got = None
            if got is None:
                got = cache[r] = solve(r)
            ch = got[1]
            if ch.value <= 0:
                continue
            key = (-ch.value, ch.time_s, r)
            if best_key is None or key < best_key:
                best_r, best_key = r, key
        if best_r < 0:
            return
        pos, ch = cache.pop(best_r)
        members = pos[ch.members]
        plan.assignment[members] = best_r
        plan.batches[best_r] = members
        plan.batch_time_s[best_r] = ch.time_s
        free[members] = False
        j = int(game.server_of[best_r])
        room[j] -= members.size
        avail[best_r] = False
        one_per_server, serial_shared = one_level
        if one_per_server or (serial_shared and game.shared and game.shared_action[best_r]):
            avail[game.server_of == j] = False
