"""GOALIT: the update-request protocol of docs/model.md B.9 (reconstructed from Chen et al. 2016).

In each decision slot every user computes its best response to the current loads; users whose
normalised gain exceeds epsilon send an update request (RTU); the coordinator grants one request
(``grant="random"`` or ``"max-gain"``) or a set of requests that touch pairwise disjoint instances
(``grant="parallel"``, largest gains first). Every granted move lowers the potential by exactly its
normalised gain, so the protocol stops at an epsilon-Nash equilibrium (no requests) or at the slot cap.

With shared servers (docs/model.md) the game is no exact potential game and best responses may cycle:
the protocol remembers every profile it visited and stops (``cycled``) when one repeats; the slot cap
``max_slots`` bounds it in any case. ``converged`` is True only at an epsilon-equilibrium.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from goalit.game import dynamics
from goalit.game.model import Game

GRANTS = ("parallel", "max-gain", "random")


@dataclass
class GoalitTrace:
    """What the protocol did: final profile and per-slot history."""

    profile: np.ndarray
    converged: bool
    slots: int
    updates: int
    messages: int
    cycled: bool = False  # stopped because a profile repeated (shared servers only)
    potential: list[float] = field(default_factory=list)  # Phi after every slot (index 0: start)
    requests: list[int] = field(default_factory=list)  # RTUs sent in every slot
    granted: list[int] = field(default_factory=list)  # updates granted in every slot
    granted_gain: list[float] = field(default_factory=list)  # sum of granted normalised gains per slot


def select_disjoint(
    game: Game, a: np.ndarray, br: np.ndarray, order: np.ndarray, m: np.ndarray
) -> np.ndarray:
    """Requesters (in ``order``) whose moves touch pairwise disjoint instances and keep AP penalties exact.

    Instances: a move touches its old and new instance (not the local action, whose step time is 0); on
    a shared server every variant's cost depends on every other's load, so a move touches the server (all
    its variants).
    APs: concurrent joins and leaves of AP j are allowed while j stays within its K_j sub-channels (its
    penalty is then 0 before and after, as every requester assumed); an AP over capacity admits one move.
    """
    touched = np.zeros(game.n_actions, dtype=bool)
    rep = game.group_representative if game.shared else None
    room = game.subchannels - m  # joins AP j can still absorb at zero penalty
    exclusive = np.zeros(game.n_servers, dtype=bool)
    chosen: list[int] = []
    srv = game.server_of
    for i in order.tolist():
        old, new = int(a[i]), int(br[i])
        if rep is not None:  # a shared server is touched as a whole (its first action stands for it)
            old, new = int(rep[old]), int(rep[new])
        j_old, j_new = int(srv[old]), int(srv[new])
        over = [j for j in (j_old, j_new) if j >= 0 and room[j] < 0] if j_old != j_new else []
        conflict = (
            (old and touched[old])
            or (new and touched[new])
            or any(exclusive[j] for j in over)
            or (j_old != j_new and j_new >= 0 and room[j_new] == 0)
        )
        if conflict and chosen:  # the first (largest-gain) request is always granted: a single move is exact
            continue
        if j_old != j_new and j_new >= 0 and room[j_new] > 0:
            room[j_new] -= 1
        for j in over:
            exclusive[j] = True
        touched[old] = touched[new] = True
        touched[0] = False
        chosen.append(i)
        if touched[1:].all():
            break
    return np.asarray(chosen, dtype=np.int64)


class Dirty:
    """Which users' best responses a slot's moves can change (incremental best responses).

    A user's costs depend on the loads of its candidate actions and of its current one: n_x (and, on a
    shared server, every variant's load of x's server) and m_j of x's AP. After users moved from
    ``old`` to ``new``, the dirty actions are the moved ones (their whole server when shared) and every
    action of an AP whose penalty h(m) or h(m + 1) changed; the users to re-evaluate are those with a dirty candidate or
    current action, and the movers. The local action is never dirty (its step time is 0 at any load).
    """

    def __init__(self, game: Game) -> None:
        self.game = game
        cand = game.candidates
        k = cand.shape[1]
        order = np.argsort(cand.ravel(), kind="stable")
        self.users_by_action = order // k  # users having action x among their candidates, grouped by x
        self.start = np.concatenate([[0], np.cumsum(np.bincount(cand.ravel(), minlength=game.n_actions))])
        self.local_free = not game.step_table[0].any()
        self.server_of = game.server_of
        self.group = game.group_full if game.shared else None
        self.full_share = 0.5  # above this share of dirty users, one full evaluation is cheaper

    def rows(
        self, a: np.ndarray, chosen: np.ndarray, old: np.ndarray, new: np.ndarray, m_before: np.ndarray,
        m: np.ndarray,
    ) -> np.ndarray | None:  # fmt: skip
        """Users to re-evaluate after ``chosen`` moved ``old`` -> ``new`` and the AP counts went from
        ``m_before`` to ``m`` (None: everyone)."""
        n_act = self.game.n_actions
        bad = np.zeros(n_act, dtype=bool)
        bad[old] = True
        bad[new] = True
        if self.local_free:
            bad[0] = False
        if self.group is not None and bad.any():
            bad |= np.isin(self.group, self.group[bad]) & (self.group >= 0)
        # an AP whose count changed matters only if h(m) or h(m + 1) changed: m crossed K or K - 1
        k_ap = self.game.subchannels
        ap = np.flatnonzero(((m_before > k_ap) != (m > k_ap)) | ((m_before >= k_ap) != (m >= k_ap)))
        if ap.size:
            bad |= np.isin(self.server_of, ap)
        acts = np.flatnonzero(bad)
        n_users = a.shape[0]
        mask = bad[a]
        mask[chosen] = True
        counts = self.start[acts + 1] - self.start[acts]
        if counts.sum() + mask.sum() > self.full_share * n_users:
            return None
        if acts.size:
            idx = np.repeat(self.start[acts] - np.cumsum(np.concatenate([[0], counts[:-1]])), counts)
            idx += np.arange(counts.sum())
            mask[self.users_by_action[idx]] = True
        out: np.ndarray = np.flatnonzero(mask)
        return out


def _grant_order(game: Game, req: np.ndarray, g: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The requests the parallel grant considers, largest gain first (ties: lower user index first).

    Only the top requester of each target instance can win it (every local target is kept): that is the
    first of its target in the (-gain, index) order, found without sorting all requests. ``req``:
    requesters in increasing index order; ``g``, ``target``: their gains and best responses.
    """
    top = np.full(game.n_actions, -np.inf)
    np.maximum.at(top, target, g)
    at_top = np.flatnonzero(g == top[target])
    _, first = np.unique(target[at_top], return_index=True)  # the lowest index among equal top gains
    keep = target == 0
    keep[at_top[first]] = True
    sub = req[keep]
    out: np.ndarray = sub[np.argsort(-g[keep], kind="stable")]
    return out


def goalit(
    game: Game,
    rng: np.random.Generator,
    initial: np.ndarray | None = None,
    grant: str = "parallel",
    epsilon: float | None = None,
    max_slots: int | None = None,
    record_potential: bool = True,
    observe: Callable[[np.ndarray], None] | None = None,
    fast: bool | None = None,
    incremental: bool = True,
) -> GoalitTrace:
    """Run the GOALIT protocol from ``initial`` (default: ``dynamics.isolated_start``).

    This is the one GOALIT engine (static solver, simulator decisions, experiments, refinement).
    ``record_potential=False`` skips the per-slot potential trace (only the start is recorded).
    ``observe(a)`` is called with the profile after every slot that moved users (E4's per-slot record).
    ``fast``: run the scalar fast path (:mod:`goalit.game.goalit_scalar`: same profile, counters and
    random draws, no per-slot lists); None: when the game has at most
    ``goalit_scalar.max_players()`` users (32, or 4096 with the Numba kernel) and no per-slot record is
    asked for.
    ``incremental``: after a slot, re-evaluate the best responses only of users whose costs can have
    changed (:class:`Dirty`); the others keep theirs, which are the same floats a full evaluation gives.
    """
    if grant not in GRANTS:
        raise ValueError(f"grant must be one of {', '.join(GRANTS)}, not {grant!r}")
    if fast is None:
        from goalit.game import goalit_scalar

        fast = not record_potential and observe is None and game.n_users <= goalit_scalar.max_players()
    if fast:
        return _goalit_fast(game, rng, initial, grant, epsilon, max_slots)
    eps = game.epsilon if epsilon is None else epsilon
    cap = game.max_slots if max_slots is None else max_slots
    a = (dynamics.isolated_start(game) if initial is None else np.asarray(initial, dtype=np.int64)).copy()
    n, m = dynamics.loads(game, a)
    trace = GoalitTrace(profile=a, converged=False, slots=0, updates=0, messages=0)
    # shared servers: Phi is the normalised social cost, the sum of the staying costs the next slot's
    # evaluation computes anyway (same floats as ``dynamics.potential``); it is appended then
    reuse_stay = record_potential and game.shared
    if record_potential and not reuse_stay:
        trace.potential.append(dynamics.potential(game, a, n, m))
    seen = {a.tobytes()} if game.shared else None
    dirty = Dirty(game) if incremental else None
    br: np.ndarray | None = None
    gain: np.ndarray | None = None
    stay: np.ndarray | None = None
    rows: np.ndarray | None = None  # users to re-evaluate (None: all)
    pending = reuse_stay  # a potential is owed for the current profile
    while trace.slots < cap:
        trace.slots += 1
        if br is None or gain is None or stay is None or rows is None:  # br, gain, stay: set together
            br, gain, stay = dynamics.best_responses_and_stay(game, a, n, m)
        elif rows.size:
            br[rows], gain[rows], stay[rows] = dynamics.best_responses_and_stay(game, a, n, m, rows)
        if pending:
            trace.potential.append(float((stay / game.alpha).sum()))
            pending = False
        req = np.flatnonzero(gain > eps)
        trace.requests.append(int(req.size))
        if req.size == 0:
            trace.converged = True
            trace.messages += 1  # END broadcast
            trace.granted.append(0)
            trace.granted_gain.append(0.0)
            if record_potential:
                trace.potential.append(trace.potential[-1])
            break
        if grant == "random":
            chosen = rng.choice(req, size=1)
        elif grant == "max-gain":  # the largest gain, the lowest index among equal ones
            chosen = req[np.argmax(gain[req])][None]
        else:
            chosen = select_disjoint(game, a, br, _grant_order(game, req, gain[req], br[req]), m)
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
        trace.messages += int(req.size) + int(chosen.size) + 1  # RTUs + grants + load broadcast
        trace.granted.append(int(chosen.size))
        trace.granted_gain.append(float(gain[chosen].sum()))
        if reuse_stay:
            pending = True
        elif record_potential:
            trace.potential.append(dynamics.potential(game, a, n, m))
        if observe is not None:
            observe(a)
        if seen is not None:
            key = a.tobytes()
            if key in seen:
                trace.cycled = True
                break
            seen.add(key)
    if pending:
        trace.potential.append(dynamics.potential(game, a, n, m))
    trace.profile = a
    return trace


def _goalit_fast(
    game: Game,
    rng: np.random.Generator,
    initial: np.ndarray | None,
    grant: str,
    epsilon: float | None,
    max_slots: int | None,
) -> GoalitTrace:
    """``goalit`` on the scalar fast path (with shared servers: the same cycle detection)."""
    from goalit.game import goalit_scalar

    if initial is None:  # every user new: the isolated start
        out = goalit_scalar.goalit_from(
            game, rng, np.full(game.n_users, -1, np.int64), grant, epsilon, max_slots
        )
    else:
        out = goalit_scalar.goalit_small_cycled(
            game, rng, np.asarray(initial, np.int64), grant, epsilon, max_slots
        )
    profile, slots, updates, messages, converged, cycled = out
    return GoalitTrace(profile, converged, slots, updates, messages, cycled)
