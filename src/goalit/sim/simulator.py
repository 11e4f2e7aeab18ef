"""The discrete-event simulation of Model B (docs/model.md B.8): requests arrive, a policy decides, instances serve.

Life of a request k (times are recorded per request):

1. arrives at ``arrival_s`` (from the workload). Without any allowed action it is *rejected*.
2. decided by the policy at its arrival or at the next epoch boundary; it may be told to wait.
3. dispatched: locally it runs on its device for T_loc (docs/model.md B.5); to instance r it is sent over one of
   AP j's K_j uplink sub-channels (FIFO when all are busy) taking T_up, then queues for KV admission.
4. served by the instance (continuous or static batching, :mod:`goalit.sim.server`).
5. after its last token the response returns over a downlink sub-channel (T_dl): ``done_s``.

The run's request table and loads live in :class:`goalit.sim.state.SimState`, changed through its
methods; events are handled by a dispatch table (event kind -> handler). Policies see a read-only
:class:`goalit.sim.view.View` of the players and the background load (a request counts on its
instance from dispatch until its last token, on its AP's sub-channels only while its uplink is in
flight), never this object.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from goalit.game.model import Game, build_game
from goalit.physics import llm
from goalit.scenario.model import Scenario, Users
from goalit.sim import engine
from goalit.sim.policies.base import Policy
from goalit.sim.server import (
    ChannelPool,
    ContinuousInstance,
    SharedServer,
    SharedStaticServer,
    StaticInstance,
    VariantView,
)
from goalit.sim.state import (
    COMPLETED,
    REJECT,
    REJECTED,
    STATUS_NAMES,
    UNDECIDED,
    UNFINISHED,
    SimState,
    StateView,
)
from goalit.sim.view import WAIT, Background, Decision, SubgameBuilder, View
from goalit.sim.workload import Workload

__all__ = ["COMPLETED", "REJECT", "REJECTED", "STATUS_NAMES", "UNDECIDED", "UNFINISHED", "Simulation",
           "nominal_context", "request_game"]  # fmt: skip


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
    """The event loop of one run over a :class:`SimState`. Use :func:`goalit.sim.simulate` rather than
    this class. The request table's arrays are readable as attributes (``sim.action``, ...)."""

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
        engine_of = np.full(game.n_actions, -1, np.int64) if game.group_of is None else game.group_of
        n_engines = int(engine_of.max()) + 1 if game.n_actions > 1 else 0
        self.state = SimState(
            np.asarray(workload.arrival_s, float), np.asarray(game.prompt_tokens, np.int64),
            np.asarray(game.output_tokens, np.int64), game.server_of, game.n_servers, engine_of, n_engines,
            float(game.instances.kv_bytes_per_token),
        )  # fmt: skip
        st = self.state
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
                st.prompt[sel], 0, scenario.llm.params, loc.weight_bytes, h.flops_fp16,
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
            if game.shared and game.group_shared is not None and game.group_shared[g]:  # shared: groups set
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
        self.static_actions = [r for r in range(1, game.n_actions) if isinstance(_engine(self.instances[r]),
                                                                               StaticInstance)]  # fmt: skip
        # per action: the engine serving it (a shared server's variants: the server) and whether it is static
        self.engine_at: list[Any] = [None] + [_engine(self.instances[r]) for r in range(1, game.n_actions)]
        self.server_at: list[int] = game.server_of.tolist()  # AP of every action (-1 local)
        self.static_at = [False] + [isinstance(e, StaticInstance) for e in self.engine_at[1:]]
        self.up_pools = [ChannelPool(k) for k in game.subchannels.tolist()]
        self.down_pools = [ChannelPool(k) for k in game.subchannels.tolist()]
        self.kv_total = np.asarray(game.kv_free_bytes, float)  # (R+1,) KV pool of each action (bytes)
        self.allowed_any = np.isfinite(game.beta).any(axis=1)
        self.subgames = SubgameBuilder(game, step_table)
        self.state_view = StateView(st)
        self.handlers: dict[int, Callable[[float, Any, Any], None]] = {
            engine.INSTANCE: self._on_engine,
            engine.BATCH_DONE: self._on_engine,
            engine.UPLINK_DONE: self._on_uplink_done,
            engine.LOCAL_DONE: self._on_local_done,
            engine.DOWNLINK_DONE: self._on_downlink_done,
            engine.EPOCH: self._on_epoch,
        }
        self.players: list[int] = []  # players per decision
        self.decision_slots: list[int] = []
        self.decision_converged: list[int] = []  # 1 converged, 0 not, -1 not an equilibrium search
        self.decision_cycled = 0
        self.t_end = 0.0
        self.wall_s = 0.0
        self.decide_wall_s = 0.0  # wall time inside policy.decide
        self.stalled = False

    def __getattr__(self, name: str) -> Any:
        # the request table: sim.action, sim.prompt, sim.done_s, ... (read them; change them via state)
        state = self.__dict__.get("state")
        if state is not None and hasattr(state, name):
            return getattr(state, name)
        raise AttributeError(name)

    # -- what policies see -----------------------------------------------------------------------------

    def available(self) -> np.ndarray:
        """(R+1,) bool: instance r can start a new static batch now (continuous instances: always)."""
        out = np.ones(self.game.n_actions, bool)
        out[0] = False
        for r in self.static_actions:
            out[r] = _engine(self.instances[r]).free
        return out

    def background(self, rerouting: bool) -> Background:
        """The load of the requests in service that are not players (O(actions), copies)."""
        st = self.state
        n_fixed = st.held.copy()
        ctx = st.held_ctx.copy()
        kv_held = st.held_kv.copy()
        if rerouting:
            n_fixed -= st.queued
            ctx -= st.queued_ctx
            kv_held -= st.queued_kv
        free = self.kv_total.copy()
        eng = st.engine_of
        if kv_held.size:
            free[1:] -= kv_held[eng[1:]]
        return Background(n_fixed=n_fixed, ctx_fixed=np.maximum(ctx, 0.0), m_fixed=st.uplinks.copy(),
                          kv_free_bytes=free)  # fmt: skip

    # -- dispatch ----------------------------------------------------------------------------------------

    def _start_local(self, k: int, t: float) -> None:
        self.state.start_local(k, t)
        self.events.push(t + float(self.local_s[k]), engine.LOCAL_DONE, k)

    def _send(self, k: int, r: int, t: float) -> None:
        """Start the uplink of request k to instance r (it is held on r from now)."""
        j = self.server_at[r]
        up = float(self.game.uplink_s[k, r])
        start, end = self.up_pools[j].acquire(t, up)
        self.state.start_uplink(k, r, start, up)
        self.events.push(end, engine.UPLINK_DONE, k)

    def _check(self, view: View, dec: Decision) -> np.ndarray:
        acts = np.asarray(dec.actions, np.int64)
        if acts.shape != view.ids.shape:
            raise RuntimeError(
                f"policy {self.policy.name!r} returned {acts.shape} actions for {view.ids.shape} requests"
            )
        return acts

    def _apply(self, view: View, dec: Decision, t: float) -> None:
        st = self.state
        ids = view.ids
        acts = self._check(view, dec)
        in_batch: set[int] = set()
        withdrawn: set[int] = set()
        beta = self.game.beta
        if dec.batches:
            for r, pos in sorted(dec.batches.items()):
                members = ids[pos]
                if (acts[pos] != r).any():
                    raise RuntimeError(
                        f"policy {self.policy.name!r}: batch of instance {r} disagrees with actions"
                    )
                for k in members.tolist():
                    st.dispatch(k, r, t)
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
            if a != 0 and not math.isfinite(beta[k, a]):
                raise RuntimeError(f"policy {self.policy.name!r} chose disallowed action {a} for request {k}")
            if self.policy.static and a >= 1:
                raise RuntimeError(
                    f"policy {self.policy.name!r}: request {k} assigned to {a} outside a batch"
                )
            if cur >= 1:  # re-route a request blocked in an admission queue
                self.instances[cur].withdraw(k)
                st.withdraw(k)
                withdrawn.add(cur)
                same_server = a >= 1 and self.game.server_of[a] == self.game.server_of[cur]
                if a == 0:
                    self._start_local(k, t)
                elif same_server:
                    st.move_queued(k, a)
                    self.instances[a].enqueue(k, t)
                else:
                    self._send(k, a, t)
                continue
            st.dispatch(k, a, t)
            if a == 0:
                self._start_local(k, t)
            else:
                self._send(k, a, t)
        for r in sorted(withdrawn):
            self.instances[r].readmit(t)

    def _decide(self, t: float) -> None:
        """Ask the policy about the players: pending requests and, if it re-routes, the queued ones."""
        st = self.state
        rerouting = self.policy.reroute_queued
        queued = sorted(st.queued_at) if rerouting and st.queued_at else []
        if not st.pending and not queued:
            return
        pending = list(st.pending)
        ids = np.array(pending + queued, np.int64)
        current = np.array([WAIT] * len(pending) + [st.queued_at[k] for k in queued], np.int64)
        view = View(t=t, game=self.game, ids=ids, current=current, background=self.background(rerouting),
                    waited_s=t - st.arrival[ids], rng=self.rng, subgames=self.subgames,
                    state=self.state_view, _available=self.available)  # fmt: skip
        w0 = time.perf_counter()
        decision = self.policy.decide(view)
        self.decide_wall_s += time.perf_counter() - w0
        self.players.append(int(ids.shape[0]))
        self.decision_slots.append(int(decision.slots))
        self.decision_converged.append(-1 if decision.converged is None else int(decision.converged))
        self.decision_cycled += int(bool(decision.cycled))
        self._apply(view, decision, t)

    # -- event handlers (kind -> handler) ----------------------------------------------------------------

    def decode_done(self, k: int, t: float) -> None:
        """Called by an instance at request k's last token: the response goes down."""
        r = int(self.state.action[k])
        self.state.last_token(k, t)
        j = self.server_at[r]
        _, end = self.down_pools[j].acquire(t, float(self.game.downlink_s[k, r]))
        self.events.push(end, engine.DOWNLINK_DONE, k)

    def _on_arrival(self, k: int, t: float) -> None:
        if not self.allowed_any[k]:
            self.state.reject(k)
            return
        self.state.arrive(k)
        if self.policy.epoch_s is None:
            self._decide(t)

    def _on_engine(self, t: float, r: Any, version: Any) -> None:
        self.engine_at[r].on_event(t, version)

    def _on_uplink_done(self, t: float, k: Any, _: Any) -> None:
        st = self.state
        st.end_uplink(k, t)
        r = int(st.action[k])
        if self.static_at[r]:
            self.engine_at[r].uplink_done(k, t)
        else:
            self.engine_at[r].enqueue(k, t)

    def _on_local_done(self, t: float, k: Any, _: Any) -> None:
        st = self.state
        st.finish_local(k, t, st.local_start_s[k] + self.local_prefill_s[k] + self.local_token_s[k])

    def _on_downlink_done(self, t: float, k: Any, _: Any) -> None:
        self.state.complete(k, t)

    def _on_epoch(self, t: float, index: Any, _: Any) -> None:
        st = self.state
        n_before = len(st.pending)
        self._decide(t)
        if self._arrivals_left or st.pending:
            stuck = not self._arrivals_left and len(self.events) == 0 and len(st.pending) == n_before
            if stuck and not st.queued_at:  # nothing in flight, no arrivals left, everyone kept waiting
                self.stalled = True
                return
            self.events.push((index + 1) * self.policy.epoch_s, engine.EPOCH, index + 1)

    def run(self) -> Simulation:
        """Process events up to the horizon (default: until every request is done)."""
        wall0 = time.perf_counter()
        ev = self.events
        arrival = self.state.arrival.tolist()
        n_arr = len(arrival)
        horizon = self.horizon_s
        epoch = self.policy.epoch_s
        if epoch is not None and n_arr:
            ev.push(epoch, engine.EPOCH, 1)
        handlers = self.handlers
        i = 0
        self._arrivals_left = n_arr > 0
        tick = max(n_arr // 200, 1)
        t = 0.0
        inf = float("inf")
        while not self.stalled:
            t_ev = ev.peek_time()
            t_arr = arrival[i] if i < n_arr else inf
            t = min(t_ev, t_arr)
            if t > horizon or t == inf:
                break
            if t_arr < t_ev:
                i += 1
                self._arrivals_left = i < n_arr
                self._on_arrival(i - 1, t_arr)
                if self.progress is not None and i % tick == 0:
                    self.progress(i, n_arr)
                continue
            t, kind, a, b = ev.pop()
            handlers[kind](t, a, b)
        self.t_end = t if t != inf else self._last_time()
        if self.horizon_s != inf:
            self.t_end = self.horizon_s
        self._finish()
        if self.progress is not None:
            self.progress(n_arr, n_arr)
        self.wall_s = time.perf_counter() - wall0
        return self

    def decision_metrics(self) -> dict[str, Any]:
        """Decisions, players per decision (mean, p95, max), slots, converged and cycled shares."""
        p = np.asarray(self.players, float)
        c = np.asarray(self.decision_converged, np.int64)
        searched = c >= 0
        n = int(p.shape[0])
        return {
            "decisions": n,
            "players_per_decision_mean": float(p.mean()) if n else None,
            "players_per_decision_p95": float(np.percentile(p, 95)) if n else None,
            "players_per_decision_max": int(p.max()) if n else None,
            "decision_slots": int(sum(self.decision_slots)),
            "decisions_converged_share": float((c[searched] == 1).mean()) if searched.any() else None,
            "decisions_cycled_share": float(self.decision_cycled / int(searched.sum()))
            if searched.any()
            else None,
        }

    def _last_time(self) -> float:
        st = self.state
        times = np.concatenate([st.done_s[np.isfinite(st.done_s)], st.arrival[-1:]])
        return float(times.max()) if times.size else 0.0

    def _finish(self) -> None:
        """Account for the requests still in the system at the horizon (tokens generated so far)."""
        st = self.state
        t = self.t_end
        for inst in self.engines:
            inst.close(t)
            for k, g in inst.generated_by(t).items():
                if st.status[k] == UNFINISHED and np.isnan(st.last_token_s[k]):
                    st.generated[k] = g
        loc = (st.action == 0) & (st.status == UNFINISHED)
        if loc.any():
            run = t - st.local_start_s[loc] - self.local_prefill_s[loc]
            g = np.floor(np.maximum(run, 0.0) / self.local_token_s[loc]).astype(np.int64)
            st.generated[loc] = np.minimum(g, st.output[loc])
