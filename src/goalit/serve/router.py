"""Routing decisions: the requests in the gateway as players of a Model A game (docs/model.md B.7), solved by a policy.

Players are every request the gateway holds: the ones already placed on a backend (queued there or
running) are *pinned* (their only allowed action is where they are; they are load), and the new ones
are free. Actions are ``0`` (local execution: never allowed behind a gateway) and ``1..R``, one per
(backend, level) pair of the configuration, in configuration order.

Cost of free request i on action r = (backend j, level q), C_i = alpha_i d_r(n_r) + beta_i(r):

- ``alpha_i = o_i (w_T + w_E p_idle)``, o_i = the request's ``max_tokens``;
- serial backend (llama_cpp.server: one request at a time): ``d_r(n) = max(0, n - p_r - 1) dbar_r / c_j``,
  with p_r pinned requests on r and dbar_r the batch-1 decode time per token: free requests that join
  the same instance delay each other (processor-sharing view of a FIFO with equal sizes), while the
  pinned load is charged exactly through the backlog in beta;
- continuous-batching backend: ``d_r(n)`` is the decode step at batch min(n, c_j) (pinned included: at
  most c_j requests run at once), and a backend already holding c_j placed requests adds the wait
  B_j / c_j for a slot to T_ir;
- ``beta_i(r) = w_T T_ir + w_Q o_i Q(q) + w_E (p_tx t_link + p_idle (T_ir - t_link))`` with the fixed latency
  ``T_ir = 2 t_link + B_j / c_j + swap_ir + T_pre,r(s_i) [+ o_i d_r(1) if serial]``: B_j the remaining
  work already placed on backend j (all levels), c_j its concurrency, swap_ir the level-switch time when q
  differs from the level j will have loaded, T_pre the roofline prefill time;
- ``beta = inf`` where r is not allowed: backend down or excluded for this request, level not asked for,
  or PPL(q) above the request's ``max_perplexity``.

Shared hosts (``host`` in the configuration, docs/model.md "Shared servers"): the backends on one host
form one group G whose per-token time is the host's iteration time, ``T_G(n) = sum_{r in G} d_r(n_r)``
with ``d_r(0) = 0`` (Model A's shared cost): a request on a backend of a shared host is charged the
steps of every active backend on that host, and it slows all of them. No KV limit is modelled (the
gateway's FIFO holds requests beyond each backend's ``concurrency``). Shared games have no exact
potential; GOALIT detects cycles and stops at its slot cap (``goalit.game.goalit``).

Step times and prefill come from the measured step table of the configuration (``step_table``, see
``goalit.physics.step_table``) for the levels it holds, else from the roofline; either is multiplied by
the backend's online corrections (``goalit.serve.online``), which the gateway updates from what it
observes.

Since pinned requests cannot move, this is an exact Model A game over the free requests with pinned
loads, so GOALIT's potential argument holds; cross-level coupling of two *free* requests on one serial
backend is the only effect Model A does not see (docs/serve.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from goalit.game import dynamics
from goalit.game.goalit import goalit
from goalit.game.model import Game, InstanceParams
from goalit.physics import energy, quality
from goalit.physics.roofline import Roofline
from goalit.rng import stream
from goalit.serve.config import GatewayConfig
from goalit.serve.online import OnlineCalibration
from goalit.solvers.registry import get_solver

HUGE = np.iinfo(np.int64).max // 4
PENALTY_S = 1e3  # H, s/token: unused (no AP or KV limits behind the gateway) but part of the Game schema


@dataclass(frozen=True)
class Job:
    """A request as a player: token counts and the client's preferences (units as in ``Users``).

    ``levels``: the levels the requested model name admits (None: any). ``exclude``: backend indices
    this request must avoid (they failed it).
    """

    prompt_tokens: int
    output_tokens: int
    w_latency: float
    w_quality: float
    w_energy: float
    deadline_s: float
    max_perplexity: float
    levels: frozenset[str] | None = None
    exclude: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Placed:
    """A request already on a backend: its action index and its estimated remaining work (s)."""

    job: Job
    action: int
    remaining_s: float


@dataclass
class BackendView:
    """What the router needs to know about one backend now."""

    up: bool = True
    tail_level: str | None = None  # level the backend will have loaded when a new request starts


@dataclass(frozen=True)
class Decision:
    """The action chosen for one free request, with the cost model's prediction for it."""

    action: int  # 1..R, or 0 if no action is allowed
    backend: int  # index into config.backends, -1 if none
    level: str
    predicted_latency_s: float
    service_s: float  # predicted own work on the backend (swap + prefill + decode), s
    fallback: bool = False  # the policy's choice was not allowed; the best response was used instead


NO_DECISION = Decision(0, -1, "", float("inf"), 0.0)


@dataclass
class Router:
    """Builds the game of the requests in the gateway and applies a registry policy to it."""

    config: GatewayConfig
    policy: str = "goalit"
    seed: int = 0
    decisions: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.solver = get_solver(self.policy)
        self.rng = stream(self.seed, "algorithm")
        cfg = self.config
        pairs = [(j, lv) for j, b in enumerate(cfg.backends) for lv in b.levels]
        self.backend_of = np.array([-1] + [j for j, _ in pairs], dtype=np.int64)
        self.level_of = np.array(["<local>"] + [lv for _, lv in pairs], dtype=object)
        m = cfg.llm
        ppl = [m.levels[lv].perplexity for _, lv in pairs]
        self.ppl_of = np.array([np.inf, *ppl])
        self.q_of = np.concatenate([[0.0], quality.quality_loss(ppl, m.reference_level.perplexity)])
        self.serial = np.array([False] + [cfg.backends[j].batching == "serial" for j, _ in pairs])
        dev = cfg.hardware[cfg.defaults.device]
        self.idle_w, self.tx_w = dev.idle_power_w, dev.radio_tx_power_w
        self.roofline = self._roofline()
        self.online = OnlineCalibration(len(cfg.backends))
        self.table = cfg.step_table_model()
        self.group_of, self.group_shared = self._groups()

    def _groups(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(R+1,) group of every action (-1: local) and (G,) shared flags; (None, None) without shared hosts.

        Every (backend, level) of a backend with no ``host`` is a group of its own (partitioned); the
        actions of all the backends on one host form one shared group."""
        cfg = self.config
        if not cfg.host_groups():
            return None, None
        key_of: dict[tuple[str, object], int] = {}
        group = np.full(self.n_actions, -1, dtype=np.int64)
        for r in range(1, self.n_actions):
            b = cfg.backends[int(self.backend_of[r])]
            key = ("host", b.host) if b.host else ("action", r)
            group[r] = key_of.setdefault(key, len(key_of))
        shared = np.array([k[0] == "host" for k in key_of], dtype=bool)
        return group, shared

    def host_actions(self, backend: int) -> list[int]:
        """The actions of the *other* backends on ``backend``'s shared host (empty if it has none)."""
        if self.group_of is None:
            return []
        gs = set(self.group_of[self.backend_of == backend].tolist())
        return [
            r for r in range(1, self.n_actions) if self.group_of[r] in gs and self.backend_of[r] != backend
        ]

    def others_step_s(self, backend: int, mean_running: dict[int, float], context_tokens: float) -> float:
        """The other backends' share of ``backend``'s iteration time on its shared host (s/token, corrected).

        ``mean_running[m]``: backend m's mean number of running requests over the interval. A backend
        with mean n is charged min(n, 1) d_m(max(n, 1)) (active a fraction min(n, 1) of the time, at its
        mean batch when active); a multi-level backend is priced at its first level."""
        out, seen = 0.0, set()
        for r in self.host_actions(backend):
            m = int(self.backend_of[r])
            if m in seen:
                continue
            seen.add(m)
            n = float(mean_running.get(m, 0.0))
            if n <= 0:
                continue
            nb = min(max(n, 1.0), float(self.config.backends[m].concurrency))
            out += min(n, 1.0) * float(self.step_s(r, np.array([nb]), np.array([nb * context_tokens]))[0])
        return out

    def _roofline(self) -> Roofline:
        """The cost core of the configured (backend, level) pairs (row 0: local, unused)."""
        cfg = self.config
        col = {k: [0.0] for k in ("weight_bytes", "share", "flops", "mem_bw", "eta_c", "eta_m", "overhead_s")}
        for r in range(1, self.n_actions):
            b, hw, lv = self._hw(r)
            for k, v in (("weight_bytes", lv.weight_bytes), ("share", b.share), ("flops", hw.flops_fp16),
                         ("mem_bw", hw.mem_bw_bytes_per_s), ("eta_c", hw.eta_c),
                         ("eta_m", hw.eta_m_for(lv.name)), ("overhead_s", hw.step_overhead_s)):  # fmt: skip
                col[k].append(v)
        return Roofline(params=cfg.llm.params, kv_bytes_per_token=cfg.llm.kv_bytes_per_token,
                        **{k: np.array(v) for k, v in col.items()})  # fmt: skip

    @property
    def n_actions(self) -> int:
        return int(self.backend_of.shape[0])

    def action_of(self, backend: int, level: str) -> int:
        """The action index of (backend, level)."""
        hits = np.flatnonzero((self.backend_of == backend) & (self.level_of == level))
        if hits.size != 1:
            raise KeyError((backend, level))
        return int(hits[0])

    # --- physics of one action --------------------------------------------------------------------
    def _hw(self, r: int):
        b = self.config.backends[int(self.backend_of[r])]
        return b, self.config.hardware[b.hardware], self.config.llm.levels[str(self.level_of[r])]

    def prefill_s(self, r: int, prompt_tokens: np.ndarray, base: bool = False) -> np.ndarray:
        """Prefill time of ``prompt_tokens`` on action r (s): step table or roofline (the cost core), times
        the backend's online correction unless ``base``."""
        lv = self.config.llm.levels[str(self.level_of[r])]
        if self.table is not None and lv.name in self.table.levels:
            t = np.asarray(self.table.prefill_time(lv.name, prompt_tokens), float)
        else:
            t = np.asarray(self.roofline.prefill_s(prompt_tokens, r), float)
        return t if base else t * self.online.prefill[int(self.backend_of[r])]

    def step_s(self, r: int, batch: np.ndarray, context_tokens: np.ndarray, base: bool = False) -> np.ndarray:
        """Decode step of action r at ``batch`` sequences holding ``context_tokens`` in total (s): step
        table or roofline (the cost core), times the backend's online correction unless ``base``."""
        lv = self.config.llm.levels[str(self.level_of[r])]
        if self.table is not None and lv.name in self.table.levels:
            t = np.asarray(self.table.decode_step_time_s(lv.name, batch, context_tokens), float)
        else:
            t = np.asarray(self.roofline.decode_step_s(batch, context_tokens, r), float)
        return t if base else t * self.online.decode[int(self.backend_of[r])]

    def service_s(self, r: int, prompt_tokens: float, output_tokens: float) -> float:
        """Own work of one request alone on action r: prefill + o d(1) at context s + o/2 (s, no swap)."""
        s = np.asarray([prompt_tokens], float)
        o = float(output_tokens)
        return float(self.prefill_s(r, s)[0] + o * self.step_s(r, np.ones(1), s + o / 2.0)[0])

    def allowed(self, job: Job, backends: list[BackendView]) -> np.ndarray:
        """(R+1,) mask of the actions of ``job``: backend up, not excluded, level asked for, PPL bound."""
        up = np.array([False] + [b.up for b in backends])[self.backend_of + 1]
        if job.exclude:
            up &= ~np.isin(self.backend_of, list(job.exclude))
        if job.levels is not None:
            up &= np.isin(self.level_of, list(job.levels))
        return up & (self.ppl_of <= job.max_perplexity)

    def swap_s(self, r: int, view: BackendView) -> float:
        """Level-switch time paid on action r, given the level its backend will have loaded (s)."""
        b = self.config.backends[int(self.backend_of[r])]
        return b.swap_s if view.tail_level is not None and view.tail_level != self.level_of[r] else 0.0

    # --- the game ---------------------------------------------------------------------------------
    def build_game(
        self, jobs: list[Job], placed: list[Placed], backends: list[BackendView]
    ) -> tuple[Game, np.ndarray]:
        """The game of ``placed`` (pinned, first) and ``jobs`` (free, last); returns (game, initial)."""
        cfg, gw = self.config, self.config.gateway
        allj = [p.job for p in placed] + list(jobs)
        n_users, n_pin, n_act = len(allj), len(placed), self.n_actions
        s = np.array([j.prompt_tokens for j in allj], float)
        o = np.array([j.output_tokens for j in allj], float)
        w_t = np.array([j.w_latency for j in allj], float)
        w_q = np.array([j.w_quality for j in allj], float)
        w_e = np.array([j.w_energy for j in allj], float)
        pin = np.array([p.action for p in placed], dtype=np.int64)
        pinned_on = np.bincount(pin, minlength=n_act)
        backlog = np.zeros(len(cfg.backends))
        for p in placed:
            backlog[self.backend_of[p.action]] += max(0.0, p.remaining_s)
        ctx = float(s[n_pin:].mean() + o[n_pin:].mean() / 2.0) if jobs else float(s.mean() + o.mean() / 2.0)

        loads = np.arange(n_users + 2)
        step = np.zeros((n_act, loads.size))
        lat = np.zeros((n_users, n_act))
        for r in range(1, n_act):
            j = int(self.backend_of[r])
            b = cfg.backends[j]
            if self.serial[r]:
                dbar = float(self.step_s(r, np.ones(1), np.array([ctx]))[0])
                step[r] = np.maximum(0, loads - pinned_on[r] - 1) * dbar / b.concurrency
                own = o * self.step_s(r, np.ones(n_users), s + o / 2.0)
                wait = backlog[j] / b.concurrency
            else:  # at most `concurrency` requests decode together; the others wait in the gateway's FIFO
                batch = np.minimum(loads, b.concurrency)
                step[r] = self.step_s(r, batch, batch * ctx)
                held = int(pinned_on[self.backend_of == j].sum())
                own, wait = 0.0, (backlog[j] / b.concurrency if held >= b.concurrency else 0.0)
            lat[:, r] = 2.0 * gw.link_s + wait + self.swap_s(r, backends[j]) + self.prefill_s(r, s) + own

        if self.group_of is not None and self.group_shared is not None:  # (both or neither: _groups)
            # an idle backend of a shared host adds nothing: d_r(0) = 0
            step[self.group_shared[np.maximum(self.group_of, 0)] & (self.group_of >= 0), 0] = 0.0
        allowed = np.array([self.allowed(job, backends) for job in allj], dtype=bool).reshape(n_users, n_act)
        if n_pin:
            allowed[:n_pin] = False
            allowed[np.arange(n_pin), pin] = True
        link = np.full((n_users, n_act), gw.link_s)
        link[:, 0] = 0.0
        e_fix = energy.offload_energy_j(link, np.maximum(lat - link, 0.0), self.tx_w, self.idle_w)
        alpha = o * (w_t + w_e * self.idle_w)
        beta = w_t[:, None] * lat + (w_q * o)[:, None] * self.q_of[None, :] + w_e[:, None] * e_fix
        beta = np.where(allowed, beta, np.inf)

        zeros = np.zeros(n_act)
        ip = InstanceParams(
            roofline=self.roofline,
            memory_bytes=zeros,
            power_w=zeros,
            context_tokens=ctx,
            kv_context_tokens=float((s + o).max()),
        )
        game = Game(
            n_users=n_users,
            server_of=self.backend_of.copy(),
            level_of=self.level_of.copy(),
            ppl_of=np.where(np.isfinite(self.ppl_of), self.ppl_of, 0.0),
            capacity=np.full(n_act, HUGE, dtype=np.int64),
            subchannels=np.full(len(cfg.backends), n_users + 1, dtype=np.int64),
            penalty_s=PENALTY_S,
            step_table=step,
            potential_table=np.cumsum(step, axis=1),
            alpha=alpha,
            beta=beta,
            fixed_latency_s=lat,
            fixed_energy_j=e_fix,
            idle_power_w=np.full(n_users, self.idle_w),
            output_tokens=o,
            epsilon=1e-9,
            max_slots=10_000,
            prompt_tokens=s,
            deadline_s=np.array([j.deadline_s for j in allj], float),
            uplink_s=link.copy(),
            downlink_s=link.copy(),
            instances=ip,
            group_of=None if self.group_of is None else self.group_of.copy(),
            group_capacity=None
            if self.group_shared is None
            else np.full(self.group_shared.size, HUGE, np.int64),
            group_shared=None if self.group_shared is None else self.group_shared.copy(),
        )
        initial = dynamics.isolated_start(game)
        if n_pin:
            initial[:n_pin] = pin
        return game, initial

    def decide(self, jobs: list[Job], placed: list[Placed], backends: list[BackendView]) -> list[Decision]:
        """Choose an action for every free job; ``NO_DECISION`` for a job that has no allowed action."""
        out = [NO_DECISION] * len(jobs)
        feasible = [k for k, job in enumerate(jobs) if self.allowed(job, backends).any()]
        if not feasible:
            return out
        game, initial = self.build_game([jobs[k] for k in feasible], placed, backends)
        n_pin = len(placed)
        free = np.arange(n_pin, game.n_users)
        self.decisions += 1
        if self.policy == "goalit":  # the protocol itself: the registry wrapper's metrics are not needed here
            profile = goalit(game, self.rng, initial=initial).profile.copy()
        else:
            profile = np.asarray(self.solver(game, self.rng).profile, dtype=np.int64).copy()
        profile[:n_pin] = initial[:n_pin]  # pinned requests cannot move, whatever the policy says
        fallback = np.zeros(game.n_users, dtype=bool)
        for i in free[~game.allowed[free, profile[free]]]:
            # the policy chose a forbidden action: the best response to the others instead
            n, m = dynamics.loads(game, profile)
            profile[i] = int(np.argmin(dynamics.response_costs(game, profile, n, m)[i]))
            fallback[i] = True
        lat = dynamics.latencies(game, profile)
        for k, i in zip(feasible, free, strict=True):
            r = int(profile[i])
            j = int(self.backend_of[r])
            own = self.swap_s(r, backends[j]) + self.service_s(
                r, jobs[k].prompt_tokens, jobs[k].output_tokens
            )
            out[k] = Decision(r, j, str(self.level_of[r]), float(lat[i]), float(own), bool(fallback[i]))
        return out
