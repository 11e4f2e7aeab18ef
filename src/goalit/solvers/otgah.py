"""OT-GAH, the paper's baseline as reconstructed in docs/model.md B.10 (interpretation: docs/ot-gah.md).

Centralised and epoch-based. **OT** is a DFTSP-style depth-first tree search (docs/model.md B.1): on one model
instance r it chooses the static batch B (padded to the longest prompt s_max and output o_max of B,
the batch finishes together) that maximises the served tokens sum_{k in B} o_k subject to

* KV memory: theta Mem >= M_q + b kappa (s_max + o_max), b = |B|;
* deadlines: max_{l in B} T_up,l + T(B) + T_dl,k <= tau_k - w_k for every k in B (epoch-synchronised
  uplink phase, then one padded batch, then the downlink; w_k is the time k has already waited);
* perplexity and reachability: only users with a finite beta_k(r) are candidates;
* sub-channels: at most the AP's free sub-channels K_j new offloaders per epoch.

T(B) = prefill of b s_max tokens + o_max decode steps of batch b with padded contexts b (s_max + t),
t = 1..o_max, both from ``goalit.physics.llm``. Every constraint is monotone in B (adding a request
never lowers b, s_max, o_max, T or the uplink phase, nor raises the tightest deadline), so cutting
infeasible subtrees and subtrees whose value bound cannot beat the incumbent keeps OT exact.

**GAH** allocates across instances greedily: it solves OT on every free instance over the requests not
yet allocated, commits the batch serving the most tokens, and repeats (lazily re-solving only the
instances whose cached optimum lost a request or no longer fits the AP's remaining sub-channels).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from goalit.game import dynamics
from goalit.game.model import LOCAL, Game
from goalit.solvers import otgah_search
from goalit.solvers.contract import Options
from goalit.solvers.result import SolveResult

WAIT = -1


def static_batch_time_s(game: Game, r: int, batch: np.ndarray | int, s_max: int, o_max: int) -> np.ndarray:
    """T(b, s_max, o_max) of instance r: padded prefill of b s_max tokens + o_max padded decode steps (s).

    ``batch`` may be an array of batch sizes b >= 1 (vectorised over b). Summed in closed form
    (:func:`goalit.solvers.otgah_search.batch_time_s`; KV memory is not checked here)."""
    return batch_times(instance_constants(game, r, memory=False), batch, s_max, o_max)


def instance_constants(game: Game, r: int, memory: bool = True) -> np.ndarray:
    """Instance r's constants for :func:`batch_times` and the compiled search (one row of
    :func:`all_instance_constants`); ``memory=False``: no KV check (every batch fits)."""
    c: np.ndarray = all_instance_constants(game)[r].copy()
    if not memory:
        c[6:] = (np.inf, 0.0)
    return c


def all_instance_constants(game: Game) -> np.ndarray:
    """(R+1, N_CONSTANTS): every instance's constants, in ``otgah_search``'s order (row 0, local: unused).

    The products are formed as :mod:`goalit.physics.llm` forms them; the KV memory a batch may use is a
    shared server's pool (Mem - the hosted weights) or the instance's memory less its weights."""
    ip, roof = game.instances, game.instances.roofline
    n = game.n_actions

    def col(x: Any) -> np.ndarray:
        return np.broadcast_to(np.asarray(x, dtype=float), (n,))

    shared = np.asarray(game.shared_action, bool) if game.shared else np.zeros(n, bool)
    held = np.where(
        shared, np.asarray(game.kv_free_bytes, float) if game.shared else 0.0, col(ip.memory_bytes)
    )
    taken = np.where(shared, 0.0, col(ip.weight_bytes))
    out: np.ndarray = np.stack([
        col(roof.weight_bytes), col(roof.kv_bytes_per_token), col(roof.eta_m * roof.share * roof.mem_bw),
        col(2.0 * float(roof.params)), col(roof.eta_c * roof.share * roof.flops), col(roof.overhead_s),
        held, taken,
    ], axis=1)  # fmt: skip
    return out


def batch_times(c: np.ndarray, batch: Any, s_max: Any, o_max: Any) -> np.ndarray:
    """T(b, s, o) of :func:`goalit.solvers.otgah_search.batch_time_s` (the search's own, in closed form)
    elementwise over broadcast arrays, at least 1-d; +inf beyond KV memory (s)."""
    b, s, o = (np.atleast_1d(np.asarray(x, dtype=np.int64)) for x in (batch, s_max, o_max))
    return otgah_search.batch_times(b, s, o, c)


def static_batch_fits(
    game: Game, r: int, batch: np.ndarray | int, s_max: np.ndarray | int, o_max: np.ndarray | int
) -> np.ndarray:
    """KV-memory check of a static batch: theta Mem >= M_q + b kappa (s_max + o_max) (on a shared server:
    its KV pool, Mem - sum of the hosted weights, >= b kappa (s_max + o_max)); vectorised over
    ``batch``, ``s_max`` and ``o_max`` (broadcast)."""
    ip = game.instances
    b = np.asarray(batch, dtype=float)
    out: np.ndarray
    if game.shared and game.shared_action[r]:
        out = game.kv_free_bytes[r] >= b * ip.kv_bytes_per_token * (s_max + o_max)
    else:
        out = ip.memory_bytes[r] >= ip.weight_bytes[r] + b * ip.kv_bytes_per_token * (s_max + o_max)
    return out


@dataclass(frozen=True)
class BatchProblem:
    """One OT subproblem: instance ``r`` and its candidate requests (arrays over candidates).

    ``budget_s[k]`` = tau_k - w_k - T_dl,k: the latest the batch may finish computing for k; the batch is
    feasible iff max uplink + T(B) <= min budget over B. ``max_batch``: free sub-channels of r's AP.
    """

    r: int
    output_tokens: np.ndarray  # o_k (the value of serving k)
    prompt_tokens: np.ndarray  # s_k
    uplink_s: np.ndarray  # T_up,k
    budget_s: np.ndarray
    max_batch: int


@dataclass
class BatchChoice:
    """OT's answer: ``members`` index the problem's candidates; ``nodes`` counts batches examined."""

    members: np.ndarray
    value: int
    time_s: float
    nodes: int
    exact: bool = True


def _max_batch(problem: BatchProblem, game: Game) -> int:
    """Largest b that could ever be feasible (sub-channels; KV memory at the smallest padding)."""
    if problem.output_tokens.size == 0:
        return 0
    s_lo, o_lo = int(problem.prompt_tokens.min()), int(problem.output_tokens.min())
    ip = game.instances
    per_seq = ip.kv_bytes_per_token * (s_lo + o_lo)
    r = problem.r
    free = (
        game.kv_free_bytes[r]
        if game.shared and game.shared_action[r]
        else ip.memory_bytes[r] - ip.weight_bytes[r]
    )
    mem = int(np.floor(free / per_seq))
    return max(0, min(problem.max_batch, mem, problem.output_tokens.size))


def optimal_batch(
    game: Game,
    problem: BatchProblem,
    max_nodes: int | None = None,
    bound_pruning: bool = True,
    constants: np.ndarray | None = None,
) -> BatchChoice:
    """OT: the feasible static batch with the most served tokens, by depth-first search with pruning.

    Candidates are ordered by output tokens (descending; ties: shorter prompt, later deadline, index), so
    the first member of a batch fixes o_max. A node is a batch; its children add one later candidate
    that keeps it feasible (feasibility pruning: an addition that violates memory, sub-channels or a
    deadline violates them in every superset too, so it is dropped from the whole subtree). Bound
    pruning: a child is cut when its value plus the largest values that could still join (at most
    b_lim - b more, b_lim the largest batch meeting memory and the tightest deadline at the current
    padding) cannot beat the incumbent. ``nodes`` counts the root and every child generated (bounded),
    pruned or not. Exact unless ``max_nodes`` stops it (``exact=False``). ``bound_pruning=False`` keeps
    only feasibility pruning (for measuring what each rule saves). The search is compiled by Numba
    (:mod:`goalit.solvers.otgah_search`) and computes batch times in closed form where it needs them.
    ``constants``: ``instance_constants(game, problem.r)`` if already at hand.
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
    c = instance_constants(game, problem.r) if constants is None else constants
    members, value, time_s, nodes, stopped = otgah_search.search(
        o, s, up, bud, b_cap, -1 if max_nodes is None else int(max_nodes), bound_pruning, c
    )
    chosen = np.sort(order[np.asarray(members, dtype=np.int64)])
    return BatchChoice(chosen, int(value), float(time_s), int(nodes), not stopped)


def exhaustive_batch(game: Game, problem: BatchProblem) -> BatchChoice:
    """Brute force over all 2^n subsets, the oracle of OT (``nodes`` = 2^n subsets examined).

    Independent of OT's search: batch times come straight from ``static_batch_time_s``.
    """
    n = int(problem.output_tokens.size)
    if n > 20:
        raise ValueError(f"exhaustive search over {n} candidates is too large (at most 20)")
    masks = ((np.arange(2**n)[:, None] >> np.arange(n)[None, :]) & 1).astype(bool)
    b = masks.sum(axis=1)
    value = masks @ problem.output_tokens.astype(np.int64)
    s_max = np.where(masks, problem.prompt_tokens, 0).max(axis=1, initial=0)
    o_max = np.where(masks, problem.output_tokens, 0).max(axis=1, initial=0)
    up_max = np.where(masks, problem.uplink_s, 0.0).max(axis=1, initial=0.0)
    budget = np.where(masks, problem.budget_s, np.inf).min(axis=1, initial=np.inf)
    t = np.zeros(2**n)
    for s_v, o_v in set(zip(s_max[1:].tolist(), o_max[1:].tolist(), strict=True)):
        sel = (s_max == s_v) & (o_max == o_v) & (b >= 1)
        t[sel] = np.where(
            static_batch_fits(game, problem.r, b[sel], s_v, o_v),
            static_batch_time_s(game, problem.r, b[sel], s_v, o_v),
            np.inf,
        )
    ok = (b <= problem.max_batch) & np.isfinite(t) & (up_max + t <= budget)
    k = int(np.argmax(np.where(ok, value, -1)))
    return BatchChoice(np.flatnonzero(masks[k]), int(value[k]), float(t[k]), 2**n)


@dataclass
class EpochPlan:
    """What OT-GAH decides in one epoch for the ``pending`` requests (positions index ``pending``).

    ``assignment[p]``: -1 = wait for the next epoch, 0 = local, r >= 1 = instance r (in ``batches[r]``).
    ``batch_time_s[r]``: predicted compute time of instance r's static batch (padded prefill + o_max
    decode steps), s. ``served_tokens``: sum of o_k over the batches. ``exact``: no OT search was cut
    short by ``max_nodes``.
    """

    assignment: np.ndarray
    batches: dict[int, np.ndarray]
    batch_time_s: dict[int, float]
    nodes_explored: int
    served_tokens: int = 0
    exact: bool = True
    searches: int = 0  # OT runs (instances x GAH rounds actually solved)
    info: dict[str, Any] = field(default_factory=dict)


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
    s, o = game.prompt_tokens[pending], game.output_tokens[pending]
    consts = all_instance_constants(game)
    for r in range(1, game.n_actions):
        rows = np.flatnonzero(allowed[:, r])
        if rows.size == 0:
            continue
        u = pending[rows]
        solo = otgah_search.batch_times(1, s[rows], o[rows], consts[r])
        done = game.uplink_s[u, r] + solo + game.downlink_s[u, r]
        out[rows] = np.minimum(out[rows], done)
    return out


def _allocate(
    game: Game,
    plan: EpochPlan,
    pending: np.ndarray,
    allowed: np.ndarray,
    budget: np.ndarray,
    free: np.ndarray,
    avail: np.ndarray,
    room: np.ndarray,
    one_level: tuple[bool, bool],
    max_nodes: int | None,
    cap: np.ndarray | None,
) -> None:
    """GAH: repeatedly commit the instance whose OT batch serves the most tokens (updates ``plan``).

    ``one_level`` = (at most one batch per server, at most one batch per shared server)."""
    cache: dict[int, tuple[np.ndarray, BatchChoice]] = {}  # r -> (candidate positions, choice)
    consts = all_instance_constants(game)

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
        choice = optimal_batch(game, prob, max_nodes, constants=consts[r])
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


@dataclass(frozen=True)
class OtGahOptions(Options):
    """``one_level_per_server`` (bool), ``max_nodes`` (tree-search node cap, default none)."""

    one_level_per_server: bool = False
    max_nodes: int | None = None


def solve_otgah(game: Game, rng: np.random.Generator, opts: OtGahOptions = OtGahOptions()) -> SolveResult:
    """Static OT-GAH: one epoch over all users with every instance free; requests not batched run locally.

    Batches are capped at Model A's KV capacity (``model_capacity=True``), since the profile is scored
    under Model A. Options: ``one_level_per_server`` (bool), ``max_nodes`` (int). Users whose local
    model is not allowed and who were not batched take their cheapest instance alone (``forced``).
    """
    t0 = time.perf_counter()
    plan = plan_epoch(
        game,
        np.arange(game.n_users),
        one_level_per_server=bool(opts.one_level_per_server),
        max_nodes=opts.max_nodes,
        model_capacity=True,
        serial_shared=False,
    )
    profile = plan.assignment.copy()
    waiting = profile == WAIT
    profile[waiting] = dynamics.isolated_start(game)[waiting]
    runtime = time.perf_counter() - t0
    return SolveResult.of(
        game,
        "ot-gah",
        profile,
        runtime_s=runtime,
        extras={
            "nodes_explored": plan.nodes_explored,
            "ot_searches": plan.searches,
            "ot_exact": plan.exact,
            "batches": len(plan.batches),
            "batched_users": int(sum(m.size for m in plan.batches.values())),
            "served_tokens": plan.served_tokens,
            "max_batch_time_s": max(plan.batch_time_s.values(), default=0.0),
            "waiting_run_local": plan.info["fallback_local"],
            "forced": int(waiting.sum()),
        },
    )
