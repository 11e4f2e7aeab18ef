"""The discrete-event simulation of Model B (spec B.8): requests arrive, a policy decides, instances serve.

Life of a request k (times are recorded per request):

1. arrives at ``arrival_s`` (from the workload). Without any allowed action it is *rejected*.
2. decided by the policy at its arrival or at the next epoch boundary; it may be told to wait.
3. dispatched: locally it runs on its device for T_loc (spec B.5); to instance r it is sent over one of
   AP j's K_j uplink sub-channels (FIFO when all are busy) taking T_up, then queues for KV admission.
4. served by the instance (continuous or static batching, :mod:`goalit.sim.server`).
5. after its last token the response returns over a downlink sub-channel (T_dl): ``done_s``.

Loads seen by policies: a request counts on its instance from dispatch until its last token, and on
the instance's AP for the same interval.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from goalit.game.model import Game, build_game
from goalit.physics import llm
from goalit.scenario.model import Scenario, Users
from goalit.sim import engine
from goalit.sim.policies import WAIT, Decision, Policy, SubgameBuilder, View
from goalit.sim.server import (
    ChannelPool,
    ContinuousInstance,
    SharedServer,
    SharedStaticServer,
    StaticInstance,
    VariantView,
)
from goalit.sim.workload import Workload

UNDECIDED = -2
REJECTED = -1
# request status codes (records: "completed", "unfinished", "rejected")
STATUS_NAMES = ("unfinished", "completed", "rejected")
UNFINISHED, COMPLETED, REJECT = 0, 1, 2


def nominal_context(scenario: Scenario) -> tuple[float, float]:
    """Scenario-level l-bar and KV reservation per sequence (tokens), independent of the request mix.

    From the scenario's ``[game]`` table, else its users: mean s + mean o / 2 and max s + max o.
    """
    u, g = scenario.users, scenario.game
    ctx = g.context_tokens or float(u.prompt_tokens.mean() + u.output_tokens.mean() / 2.0)
    kv = g.kv_context_tokens or float(u.prompt_tokens.max() + u.output_tokens.max())
    return float(ctx), float(kv)


def request_game(
    scenario: Scenario,
    users: Users,
    context_tokens: float | None = None,
    kv_context_tokens: float | None = None,
) -> Game:
    """ONE Model A game for all requests, with instances a request's full KV cannot fit on disallowed."""
    ctx, kv = nominal_context(scenario)
    game = build_game(scenario, users=users, context_tokens=context_tokens or ctx,
                      kv_context_tokens=kv_context_tokens or kv)  # fmt: skip
    ip = game.instances
    free = game.kv_free_bytes  # a shared server's pool: its memory minus every hosted variant's weights
    need = ip.kv_bytes_per_token * (game.prompt_tokens + game.output_tokens)
    too_big = need[:, None] > free[None, :]
    too_big[:, 0] = False  # local feasibility (device memory) is already in beta
    if too_big.any():
        game = replace(game, beta=np.where(too_big, np.inf, game.beta))
    return game


def _engine(inst: Any) -> Any:
    """The engine behind simulator slot ``inst`` (a shared server's variant view forwards to it)."""
    return inst.server if isinstance(inst, VariantView) else inst


class Simulation:
    """State and event loop of one run. Use :func:`goalit.sim.simulate` rather than this class."""

    def __init__(
        self,
        scenario: Scenario,
        game: Game,
        users: Users,
        workload: Workload,
        policy: Policy,
        rng: np.random.Generator,
        horizon_s: float | None = None,
        max_batch: int | None = None,
        progress: Callable[[int, int], None] | None = None,
        step_table: Any = None,
        first_token_at_prefill: bool = False,
    ) -> None:
        self.scenario, self.game, self.users, self.workload, self.policy, self.rng = (
            scenario, game, users, workload, policy, rng,
        )  # fmt: skip
        self.horizon_s = float("inf") if horizon_s is None else float(horizon_s)
        self.progress = progress
        self.step_table = step_table  # goalit.physics.step_table.StepTable or None (the roofline)
        self.first_token_at_prefill = bool(first_token_at_prefill)  # continuous instances only
        n = game.n_users
        self.n = n
        self.arrival = np.asarray(workload.arrival_s, float)
        self.prompt = np.asarray(game.prompt_tokens, np.int64)
        self.output = np.asarray(game.output_tokens, np.int64)
        nan = np.full(n, np.nan)
        self.action = np.full(n, UNDECIDED, np.int64)
        self.status = np.zeros(n, np.int8)
        self.dispatch_s = nan.copy()
        self.uplink_start_s = nan.copy()
        self.uplink_done_s = nan.copy()
        self.admitted_s = nan.copy()
        self.first_token_s = nan.copy()
        self.last_token_s = nan.copy()
        self.done_s = nan.copy()
        self.local_start_s = nan.copy()
        self.tx_s = np.zeros(n)
        self.server_energy_j = np.zeros(n)
        self.reroutes = np.zeros(n, np.int64)
        self.generated = np.zeros(n, np.int64)

        dev = np.asarray(users.device, dtype=object)
        hw = scenario.hardware
        loc = scenario.llm.levels[scenario.local_level]
        self.tx_power_w = np.array([hw[d].radio_tx_power_w for d in dev]) if n else np.zeros(0)
        self.device_power_w = np.array([hw[d].power_w for d in dev]) if n else np.zeros(0)
        self.idle_power_w = np.asarray(game.idle_power_w, float)
        self.local_prefill_s = np.zeros(n)
        self.local_token_s = np.zeros(n)
        for name in sorted(set(dev.tolist())):
            sel = dev == name
            h = hw[name]
            self.local_prefill_s[sel] = llm.local_time_s(
                self.prompt[sel], 0, scenario.llm.params, loc.weight_bytes, h.flops_fp16,
                h.mem_bw_bytes_per_s, h.eta_c, h.eta_m_for(scenario.local_level),
            )  # fmt: skip
            self.local_token_s[sel] = loc.weight_bytes / (
                h.eta_m_for(scenario.local_level) * h.mem_bw_bytes_per_s
            )
        self.local_s = np.asarray(game.fixed_latency_s[:, 0], float)

        self.events = engine.EventQueue()
        self.instances: list[Any] = [None]
        self.engines: list[Any] = []  # one per partitioned instance or shared server
        shared_of: dict[int, SharedServer | SharedStaticServer] = {}
        for r in range(1, game.n_actions):
            g = -1 if game.group_of is None else int(game.group_of[r])
            if game.shared and game.group_shared[g]:
                if g not in shared_of:
                    members = np.flatnonzero(game.group_of == g).tolist()
                    shared_of[g] = (
                        SharedStaticServer(members, game, self)
                        if policy.static
                        else SharedServer(members, game, self, max_batch)
                    )
                    self.engines.append(shared_of[g])
                self.instances.append(VariantView(shared_of[g], r))
                continue
            inst = (
                StaticInstance(r, game, self)
                if policy.static
                else ContinuousInstance(r, game, self, max_batch)
            )
            self.instances.append(inst)
            self.engines.append(inst)
        self.up_pools = [ChannelPool(k) for k in game.subchannels.tolist()]
        self.down_pools = [ChannelPool(k) for k in game.subchannels.tolist()]
        self.load = np.zeros(game.n_actions, np.int64)  # requests per action from dispatch to last token
        self.active: dict[int, int] = {}  # request -> instance, from dispatch to last token
        self.pending: list[int] = []  # arrived, not dispatched
        self.queued_at: dict[int, int] = {}  # request -> instance, waiting for KV admission (continuous)
        self.allowed_any = np.isfinite(game.beta).any(axis=1)
        self.subgames = SubgameBuilder(game)
        self.t_end = 0.0
        self.wall_s = 0.0
        self.decide_wall_s = 0.0  # wall time inside policy.decide
        self.stalled = False

    # -- state queries used by policies ----------------------------------------------------------------

    def fixed_requests(self, movable: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mov = set(movable.tolist())
        ids = np.array(sorted(k for k in self.active if k not in mov), np.int64)
        return ids, self.action[ids] if ids.size else np.empty(0, np.int64)

    def available(self) -> np.ndarray:
        """(R+1,) bool: instance r can start a new static batch now (continuous instances: always)."""
        out = np.ones(self.game.n_actions, bool)
        out[0] = False
        for r in range(1, self.game.n_actions):
            inst = _engine(self.instances[r])
            if isinstance(inst, StaticInstance):
                out[r] = inst.free
        return out

    # -- dispatch ----------------------------------------------------------------------------------------

    def _start_local(self, k: int, t: float) -> None:
        self.action[k] = 0
        self.local_start_s[k] = t
        self.events.push(t + float(self.local_s[k]), engine.LOCAL_DONE, k)

    def _send(self, k: int, r: int, t: float) -> None:
        """Start the uplink of request k to instance r (it is counted on r from now)."""
        self.action[k] = r
        self.load[r] += 1
        self.active[k] = r
        j = int(self.game.server_of[r])
        up = float(self.game.uplink_s[k, r])
        start, end = self.up_pools[j].acquire(t, up)
        self.uplink_start_s[k] = start
        self.tx_s[k] += up
        self.events.push(end, engine.UPLINK_DONE, k)

    def _apply(self, view: View, dec: Decision, t: float) -> None:
        ids = view.ids
        acts = np.asarray(dec.actions, np.int64)
        if acts.shape != ids.shape:
            raise RuntimeError(
                f"policy {self.policy.name!r} returned {acts.shape} actions for {ids.shape} requests"
            )
        in_batch: set[int] = set()
        dispatched: set[int] = set()
        withdrawn: set[int] = set()
        if dec.batches:
            for r, pos in sorted(dec.batches.items()):
                members = ids[pos]
                if (acts[pos] != r).any():
                    raise RuntimeError(
                        f"policy {self.policy.name!r}: batch of instance {r} disagrees with actions"
                    )
                for k in members.tolist():
                    dispatched.add(k)
                    self.dispatch_s[k] = t
                    self._send(k, r, t)
                    in_batch.add(k)
                self.instances[r].submit(members, members.shape[0], t)
        for k, cur, a in zip(ids.tolist(), view.current.tolist(), acts.tolist(), strict=True):
            if k in in_batch or a == cur:
                continue
            if a == WAIT:
                if cur >= 1:
                    raise RuntimeError(f"policy {self.policy.name!r} told queued request {k} to wait")
                continue
            if a != 0 and not np.isfinite(self.game.beta[k, a]):
                raise RuntimeError(f"policy {self.policy.name!r} chose disallowed action {a} for request {k}")
            if self.policy.static and a >= 1:
                raise RuntimeError(
                    f"policy {self.policy.name!r}: request {k} assigned to {a} outside a batch"
                )
            if cur >= 1:  # re-route a request blocked in an admission queue
                self.instances[cur].withdraw(k)
                withdrawn.add(cur)
                self.load[cur] -= 1
                del self.active[k]
                self.reroutes[k] += 1
                same_server = a >= 1 and self.game.server_of[a] == self.game.server_of[cur]
                if a == 0:
                    self._start_local(k, t)
                elif same_server:
                    self.action[k] = a
                    self.load[a] += 1
                    self.active[k] = a
                    self.instances[a].enqueue(k, t)
                else:
                    self._send(k, a, t)
                continue
            dispatched.add(k)
            self.dispatch_s[k] = t
            if a == 0:
                self._start_local(k, t)
            else:
                self._send(k, a, t)
        if dispatched:
            self.pending = [k for k in self.pending if k not in dispatched]
        for r in sorted(withdrawn):
            self.instances[r].readmit(t)

    def _decide(self, t: float) -> None:
        """Ask the policy about the pending (and, if it re-routes, the queued) requests."""
        queued = sorted(self.queued_at) if self.policy.reroute_queued else []
        if not self.pending and not queued:
            return
        ids = np.array(self.pending + queued, np.int64)
        current = np.concatenate([np.full(len(self.pending), WAIT, np.int64),
                                  np.array([self.queued_at[k] for k in queued], np.int64)])  # fmt: skip
        n_fixed = self.load.copy()
        if queued:
            np.subtract.at(n_fixed, current[len(self.pending) :], 1)
        srv = self.game.server_of
        m_fixed = np.bincount(srv[1:], weights=n_fixed[1:], minlength=self.game.n_servers).astype(np.int64)
        view = View(t=t, game=self.game, ids=ids, current=current, n_fixed=n_fixed, m_fixed=m_fixed,
                    waited_s=t - self.arrival[ids], rng=self.rng, sim=self,
                    subgames=self.subgames)  # fmt: skip
        w0 = time.perf_counter()
        decision = self.policy.decide(view)
        self.decide_wall_s += time.perf_counter() - w0
        self._apply(view, decision, t)

    # -- events --------------------------------------------------------------------------------------

    def decode_done(self, k: int, t: float) -> None:
        """Called by an instance at request k's last token."""
        r = int(self.action[k])
        self.last_token_s[k] = t
        self.generated[k] = self.output[k]
        self.load[r] -= 1
        del self.active[k]
        j = int(self.game.server_of[r])
        _, end = self.down_pools[j].acquire(t, float(self.game.downlink_s[k, r]))
        self.events.push(end, engine.DOWNLINK_DONE, k)

    def _on_arrival(self, k: int, t: float) -> None:
        if not self.allowed_any[k]:
            self.action[k] = REJECTED
            self.status[k] = REJECT
            return
        self.pending.append(k)
        if self.policy.epoch_s is None:
            self._decide(t)

    def run(self) -> Simulation:
        """Process events up to the horizon (default: until every request is done)."""
        wall0 = time.perf_counter()
        ev = self.events
        arrival = self.arrival.tolist()
        n_arr = len(arrival)
        horizon = self.horizon_s
        epoch = self.policy.epoch_s
        epoch_index = 0
        if epoch is not None and n_arr:
            ev.push(epoch, engine.EPOCH, 1)
        i = 0
        tick = max(n_arr // 200, 1)
        t = 0.0
        while True:
            t_ev = ev.peek_time()
            t_arr = arrival[i] if i < n_arr else float("inf")
            t = min(t_ev, t_arr)
            if t > horizon or t == float("inf"):
                break
            if t_arr < t_ev:
                self._on_arrival(i, t_arr)
                i += 1
                if self.progress is not None and i % tick == 0:
                    self.progress(i, n_arr)
                continue
            t, kind, a, b = ev.pop()
            if kind == engine.INSTANCE or kind == engine.BATCH_DONE:
                self.instances[a].on_event(t, b)
            elif kind == engine.UPLINK_DONE:
                self.uplink_done_s[a] = t
                r = int(self.action[a])
                inst = self.instances[r]
                if isinstance(_engine(inst), StaticInstance):
                    inst.uplink_done(a, t)
                else:
                    inst.enqueue(a, t)
            elif kind == engine.LOCAL_DONE:
                self.last_token_s[a] = t
                self.done_s[a] = t
                self.generated[a] = self.output[a]
                self.first_token_s[a] = (
                    self.local_start_s[a] + self.local_prefill_s[a] + self.local_token_s[a]
                )
                self.status[a] = COMPLETED
            elif kind == engine.DOWNLINK_DONE:
                self.done_s[a] = t
                self.status[a] = COMPLETED
            elif kind == engine.EPOCH:
                epoch_index = a
                n_before = len(self.pending)
                self._decide(t)
                if i < n_arr or self.pending:
                    stuck = (
                        i >= n_arr and len(ev) == 0 and len(self.pending) == n_before and not self.queued_at
                    )
                    if stuck:  # nothing in flight, no arrivals left and the policy keeps everyone waiting
                        self.stalled = True
                        break
                    ev.push((epoch_index + 1) * epoch, engine.EPOCH, epoch_index + 1)
        self.t_end = t if t != float("inf") else self._last_time()
        if self.horizon_s != float("inf"):
            self.t_end = self.horizon_s
        self._finish()
        if self.progress is not None:
            self.progress(n_arr, n_arr)
        self.wall_s = time.perf_counter() - wall0
        return self

    def _last_time(self) -> float:
        times = np.concatenate([self.done_s[np.isfinite(self.done_s)], self.arrival[-1:]])
        return float(times.max()) if times.size else 0.0

    def _finish(self) -> None:
        """Account for the requests still in the system at the horizon (tokens generated so far)."""
        t = self.t_end
        for inst in self.engines:
            inst.close(t)
            for k, g in inst.generated_by(t).items():
                if self.status[k] == UNFINISHED and np.isnan(self.last_token_s[k]):
                    self.generated[k] = g
        loc = (self.action == 0) & (self.status == UNFINISHED)
        if loc.any():
            run = t - self.local_start_s[loc] - self.local_prefill_s[loc]
            g = np.floor(np.maximum(run, 0.0) / self.local_token_s[loc]).astype(np.int64)
            self.generated[loc] = np.minimum(g, self.output[loc])
