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
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any, TypedDict

import numpy as np

from goalit.game import dynamics
from goalit.game.model import LOCAL, Game
from goalit.solvers.contract import Options
from goalit.solvers.result import SolveResult

WAIT = -1
_FINITE_MAX = float(np.finfo(float).max)


def static_batch_time_s(game: Game, r: int, batch: np.ndarray | int, s_max: int, o_max: int) -> np.ndarray:
    """T(b, s_max, o_max) of instance r: padded prefill of b s_max tokens + o_max padded decode steps (s).

    ``batch`` may be an array of batch sizes b >= 1 (vectorised over b).
    """
    ip = game.instances
    b = np.atleast_1d(np.asarray(batch, dtype=float))
    roof = ip.roofline.at(r)
    pre = roof.prefill_s(b * s_max)
    t = np.arange(1, int(o_max) + 1, dtype=float)
    dec = roof.decode_step_s(b[:, None], b[:, None] * (s_max + t[None, :]))
    out: np.ndarray = pre + dec.sum(axis=1)
    return out


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


class StaticTimes:
    """Static-batch times of one game's instances, kept across epochs and decisions (s).

    T(b, s, o) and the KV check depend on (r, b, s, o) only, and T at (b, s, o) is the same number
    whichever table it is read from (elementwise roofline, then a running sum over t), so one cache
    serves every epoch of a run: ``table(r, s, b, o)`` holds T(b', s, o') for b' <= b, o' <= o (+inf
    beyond KV memory); ``solo_s(r, users)`` holds T({k}) of a batch of one, computed exactly as
    :func:`static_batch_time_s` does (pairwise sum over the decode steps). A cache is tied to ``game``;
    the tables are dropped when they exceed ``max_floats`` entries.
    """

    def __init__(self, game: Game, max_floats: int = 1 << 22) -> None:
        self.game = game
        self.max_floats = int(max_floats)
        roof = game.instances.roofline
        self.roof = [roof] + [roof.at(r) for r in range(1, game.n_actions)]
        self.tabs: dict[tuple[int, int], np.ndarray] = {}
        self.rows1: dict[tuple[int, int], np.ndarray] = {}  # b = 1 rows (the solo filter), small
        self.size = 0
        self.solo = np.full((game.n_users, game.n_actions), np.nan)  # T({k}) of user k on r, nan: unknown

    def table(self, r: int, s: int, b_cap: int, o_max: int) -> np.ndarray:
        """(>= b_cap + 1, >= o_max) array: [b, o - 1] = T(b, s, o) of instance r (row 0: zeros)."""
        tab = self.tabs.get((r, s))
        if tab is not None and tab.shape[0] > b_cap and tab.shape[1] >= o_max:
            return tab
        if tab is not None:
            b_cap, o_max = max(b_cap, tab.shape[0] - 1), max(o_max, tab.shape[1])
            self.size -= tab.size
        if self.size > self.max_floats:
            self.tabs.clear()
            self.size = 0
        tab = np.zeros((b_cap + 1, o_max))
        if b_cap > 0 and o_max > 0:
            tab[1:] = self._grid(r, s, np.arange(1, b_cap + 1, dtype=float)[:, None], o_max)
        self.tabs[(r, s)] = tab
        self.size += tab.size
        return tab

    def row1(self, r: int, s: int, o_max: int) -> np.ndarray:
        """(>= o_max,) T(1, s, o) of instance r at [o - 1]: the b = 1 row of ``table`` (same numbers)."""
        row = self.rows1.get((r, s))
        if row is None or row.size < o_max:
            row = self.rows1[(r, s)] = self._grid(r, s, np.ones((1, 1)), max(o_max, 1))[0]
        return row

    def _grid(self, r: int, s: int, b: np.ndarray, o_max: int) -> np.ndarray:
        """T(b, s, o) for the batch sizes ``b`` (column) and o = 1..o_max: padded prefill plus the running
        sum of the decode steps; +inf beyond KV memory."""
        t = np.arange(1, o_max + 1, dtype=float)[None, :]
        roof = self.roof[r]
        total: np.ndarray = roof.prefill_s(b * s) + np.cumsum(roof.decode_step_s(b, b * (s + t)), axis=1)
        if static_batch_fits(self.game, r, b, s, o_max).all():  # KV need grows with o: all rows fit
            return total
        fits = static_batch_fits(self.game, r, b, s, np.arange(1, o_max + 1, dtype=np.int64)[None, :])
        return np.where(fits, total, np.inf)

    def solo_s(self, r: int, users: np.ndarray) -> np.ndarray:
        """T({k}) of each user k of ``users`` alone on instance r (+inf beyond KV memory), s."""
        got: np.ndarray = self.solo[users, r]
        miss = np.isnan(got)
        if miss.any():
            g = self.game
            u = users[miss]
            s = g.prompt_tokens[u].astype(np.int64)
            o = g.output_tokens[u].astype(np.int64)
            val = np.full(u.size, np.inf)
            fits = static_batch_fits(g, r, 1, s, o)
            roof = self.roof[r]
            for ov in np.unique(o[fits]).tolist():  # one (k, o) block per output length: same row sums
                rows = np.flatnonzero(fits & (o == ov))
                sv = s[rows][:, None]
                t = np.arange(1, ov + 1, dtype=float)[None, :]
                one = np.ones((rows.size, 1))
                dec = roof.decode_step_s(one, one * (sv + t))
                val[rows] = roof.prefill_s(one[:, 0] * s[rows]) + dec.sum(axis=1)
            self.solo[u, r] = val
            got[miss] = val
        return got


class BatchTimes:
    """T(b, s, o) of one instance for b = 0..b_cap, s in ``prompts``, o in ``outputs`` (sorted unique).

    +inf where the batch exceeds KV memory. Tables are filled per prompt length on demand, read from
    ``cache`` (a :class:`StaticTimes` of the same game; a private one if None).
    """

    def __init__(
        self, game: Game, r: int, b_cap: int, prompts: np.ndarray, outputs: np.ndarray,
        cache: StaticTimes | None = None,
    ) -> None:  # fmt: skip
        self.game, self.r, self.b_cap = game, r, int(b_cap)
        self.cache = StaticTimes(game) if cache is None or cache.game is not game else cache
        self.prompts = np.unique(np.asarray(prompts, dtype=np.int64))
        self.outputs = np.unique(np.asarray(outputs, dtype=np.int64))
        self.tab = np.zeros((self.prompts.size, self.b_cap + 1, self.outputs.size))
        self.upto = np.zeros(self.prompts.size, dtype=np.int64)  # output columns filled per prompt length

    def covers(self, b_cap: int, prompts: np.ndarray, outputs: np.ndarray) -> bool:
        """Whether this cache holds every (b, s, o) a problem with these candidates needs."""
        return bool(
            b_cap <= self.b_cap
            and np.isin(prompts, self.prompts).all()
            and np.isin(outputs, self.outputs).all()
        )

    def ensure(self, s_idx: np.ndarray, need: int | None = None) -> None:
        """Fill the tables of the prompt lengths ``prompts[s_idx]`` for the first ``need`` output lengths
        (default all): a search never reads an output longer than its longest servable candidate's."""
        need = self.outputs.size if need is None else int(need)
        s_idx = np.atleast_1d(s_idx)
        missing = self.upto[s_idx] < need
        if not missing.any():
            return
        for k in np.unique(s_idx[missing]).tolist():
            if self.b_cap > 0 and need > 0:
                o = self.outputs[:need]
                tab = self.cache.table(self.r, int(self.prompts[k]), self.b_cap, int(o[-1]))
                self.tab[k, :, :need] = tab[: self.b_cap + 1, o - 1]
            self.upto[k] = need

    def solo_s(self, s_idx: np.ndarray, o_idx: np.ndarray) -> np.ndarray:
        """T(1, s, o) at table indices, without filling the whole tables (a batch of one needs b = 1 only)."""
        out = np.empty(s_idx.size)
        o_max = int(self.outputs[-1]) if self.outputs.size else 1
        for k in np.unique(s_idx).tolist():
            sel = s_idx == k
            row = self.cache.row1(self.r, int(self.prompts[k]), o_max)
            out[sel] = row[self.outputs[o_idx[sel]] - 1]
        return out

    def time_s(
        self, s_idx: np.ndarray | int, b: np.ndarray | int, o_idx: np.ndarray | int
    ) -> np.ndarray | float:
        """T at table indices (vectorised; fills missing prompt lengths first)."""
        self.ensure(np.asarray(s_idx))
        out: np.ndarray | float = self.tab[s_idx, b, o_idx]
        return out


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


class _Incumbent(TypedDict):
    """OT's best batch so far: served tokens, members (candidate positions), compute time (s)."""

    value: int
    members: list[int]
    time: float


class _SearchState(TypedDict):
    """OT's search counters: batches examined; whether ``max_nodes`` stopped the search."""

    nodes: int
    stopped: bool


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
    t_solo = times.solo_s(si, oi)
    cand = np.flatnonzero(np.isfinite(t_solo) & (t_solo + up <= bud))

    # the search runs on Python scalars (same IEEE arithmetic as the array form, far less overhead per node)
    ol, sl, oil, upl, budl = o.tolist(), si.tolist(), oi.tolist(), up.tolist(), bud.tolist()
    need = int(oi[cand].max()) + 1 if cand.size else 1  # output columns the search can read
    item, filled = times.tab.item, set(np.flatnonzero(times.upto >= need).tolist())  # prompt tables filled
    columns: dict[tuple[int, int], list[float]] = {}  # (s, o) -> T over b, for limit
    inf = np.inf

    def ensure(s_k: int) -> None:
        times.ensure(np.array([s_k]), need)
        filled.add(s_k)

    best: _Incumbent = {"value": 0, "members": [], "time": 0.0}
    state: _SearchState = {"nodes": 1, "stopped": False}  # the root (empty batch) is a node

    def limit(s_i: int, o_i: int, avail: float) -> int:
        """Largest b with T(b, s, o) <= avail (memory included: T = inf beyond it); T increases in b."""
        col = columns.get((s_i, o_i))
        if col is None:
            if s_i not in filled:
                ensure(s_i)
            col = columns[(s_i, o_i)] = times.tab[s_i, :, o_i].tolist()
        avail = min(avail, _FINITE_MAX)  # an infinite budget still excludes T = inf (memory)
        return min(b_cap, bisect_right(col, avail) - 1)  # = searchsorted(side="right"): col is sorted

    def compatible(ks: list[int], b: int, s_i: int, o_i: int, up_max: float, budget: float) -> list[int]:
        """The candidates of ``ks`` that can join the batch (b, s, o, up_max, budget) keeping it feasible."""
        b1 = b + 1
        if b1 > b_cap or not ks:
            return []
        out = []
        for k in ks:
            s_k = sl[k]
            if s_k < s_i:
                s_k = s_i
            if s_k not in filled:
                ensure(s_k)
            t = item(s_k, b1, o_i)
            if t < inf:
                u, d = upl[k], budl[k]
                if t + (u if u > up_max else up_max) <= (d if d < budget else budget):
                    out.append(k)
        return out

    def visit(members: list[int], b: int, s_i: int, o_i: int, up_max: float, budget: float, value: int,
              comp: list[int]) -> None:  # fmt: skip
        if value > best["value"]:
            best["value"], best["members"] = value, list(members)
            best["time"] = item(s_i, b, o_i)
        if not comp:
            return
        room = (limit(s_i, o_i, budget - up_max) if b else b_cap) - b
        if room <= 0:
            return
        vals = [ol[j] for j in comp]
        for q, j in enumerate(comp):
            # the best any batch containing this batch + some of comp[q:] can do (values sorted descending)
            if bound_pruning and value + sum(vals[q : q + room]) <= best["value"]:
                break
            if max_nodes is not None and state["nodes"] >= max_nodes:
                state["stopped"] = True
                return
            state["nodes"] += 1  # the child batch is generated and bounded
            s2 = s_i if s_i > sl[j] else sl[j]
            o2 = o_i if b else oil[j]
            u, d = upl[j], budl[j]
            up2, bud2 = (u if u > up_max else up_max), (d if d < budget else budget)
            rest = compatible(comp[q + 1 :], b1 := b + 1, s2, o2, up2, bud2)
            lim2 = limit(s2, o2, bud2 - up2)
            if (
                bound_pruning
                and value + ol[j] + sum([ol[k] for k in rest[: max(lim2 - b1, 0)]]) <= best["value"]
            ):
                continue
            members.append(j)
            visit(members, b1, s2, o2, up2, bud2, value + ol[j], rest)
            members.pop()
            if state["stopped"]:
                return

    visit([], 0, 0, 0, 0.0, inf, 0, cand.tolist())
    chosen = np.sort(order[np.asarray(best["members"], dtype=np.int64)])
    return BatchChoice(chosen, int(best["value"]), float(best["time"]), state["nodes"], not state["stopped"])


def exhaustive_batch(game: Game, problem: BatchProblem) -> BatchChoice:
    """Brute force over all 2^n subsets, the oracle of OT (``nodes`` = 2^n subsets examined).

    Independent of OT's tables: batch times come straight from ``static_batch_time_s``.
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
    times: StaticTimes | None = None,
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
    batch that fits physically; the static solver sets it. ``times``: a :class:`StaticTimes` of ``game``
    to reuse across epochs (a caller deciding many epochs on one game passes the same one; the plan does
    not depend on it).
    """
    pending = np.asarray(pending, dtype=np.int64)
    if times is None or times.game is not game:
        times = StaticTimes(game)
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
    _allocate(game, plan, pending, allowed, budget, free, avail, room, one, max_nodes, cap, times)

    local_ok = allowed[:, LOCAL]
    if epoch_s is None:  # no next epoch
        doomed = free.copy()
    else:  # would miss the deadline even served alone (on any allowed instance) after one more epoch
        solo = _solo_finish(game, pending, allowed, times)
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
            times,
        )
    plan.served_tokens = int(sum(game.output_tokens[pending[m]].sum() for m in plan.batches.values()))
    plan.info["fallback_local"] = int((doomed & local_ok).sum())
    return plan


def _solo_finish(
    game: Game, pending: np.ndarray, allowed: np.ndarray, times: StaticTimes | None = None
) -> np.ndarray:
    """min over allowed instances of T_up + T({k}) + T_dl: the soonest request k could complete (s)."""
    times = StaticTimes(game) if times is None or times.game is not game else times
    out = np.full(pending.size, np.inf)
    for r in range(1, game.n_actions):
        rows = np.flatnonzero(allowed[:, r])
        if rows.size == 0:
            continue
        u = pending[rows]
        done = game.uplink_s[u, r] + times.solo_s(r, u) + game.downlink_s[u, r]
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
    times: StaticTimes,
) -> None:
    """GAH: repeatedly commit the instance whose OT batch serves the most tokens (updates ``plan``).

    ``one_level`` = (at most one batch per server, at most one batch per shared server)."""
    cache: dict[int, tuple[np.ndarray, BatchChoice]] = {}  # r -> (candidate positions, choice)
    b_cap = int(min(pending.size, room.max(initial=0)))
    s_all, o_all = game.prompt_tokens[pending].astype(np.int64), game.output_tokens[pending].astype(np.int64)
    tables = {r: BatchTimes(game, r, b_cap, s_all, o_all, times) for r in np.flatnonzero(avail).tolist()}

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
