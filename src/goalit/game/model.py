"""Build the game (Model A) from a scenario: every user's cost of every action, as NumPy tables.

Actions are indexed ``0`` (run locally) and ``1..R`` (model instances, server by server). The cost of
user i playing action r under profile a is (docs/model.md B.7)

    C_i(a) = alpha_i * [d_r(n_r(a)) + h_j(m_j(a))] + beta_i(r),

with ``d_r`` the decode step time of instance r at batch n (s/token; ``d_0 = 0`` for local),
``h_j`` the AP penalty (0 up to K_j offloaders, H beyond), ``alpha_i = o_i (w_T + w_E p_idle)`` and
``beta_i(r)`` everything that does not depend on the other users (``inf`` where r is not allowed).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from goalit.errors import ScenarioError
from goalit.physics import energy, llm, quality, radio
from goalit.physics.roofline import Roofline
from goalit.scenario.model import Scenario, Users

LOCAL = 0
UNLIMITED = int(np.iinfo(np.int64).max // 4)
BUCKET_MIN_ENTRIES = 50_000  # (user, candidate) tables at least this large are searched in buckets
BUCKET_MIN_SAVING = 0.2  # ... when the buckets are this much smaller than the padded table  # capacity / sub-channel count that never binds (fits int64)


@dataclass(frozen=True, eq=False)
class InstanceParams:
    """Physical parameters of every action (index 0 = local, on the user's device), for Model B and OT.

    ``roofline``: the cost core (:class:`goalit.physics.roofline.Roofline`, arrays of shape (R+1,)):
    weight bytes M_q, share theta, F, BW, eta_c, eta_m, delta_0. ``memory_bytes``: memory of the
    instance theta*Mem (bytes); ``power_w``: server power (W, the instance's share). Index 0 holds the
    local model's M_q and zeros elsewhere (the device depends on the user; see
    ``Game.fixed_latency_s[:, 0]``).
    """

    roofline: Roofline
    memory_bytes: np.ndarray
    power_w: np.ndarray
    context_tokens: float  # nominal context l-bar used in Model A step times
    kv_context_tokens: float  # tokens reserved per sequence for KV capacity

    @property
    def params(self) -> float:
        return self.roofline.params

    @property
    def kv_bytes_per_token(self) -> float:
        return self.roofline.kv_bytes_per_token

    @property
    def weight_bytes(self) -> np.ndarray:
        return self.roofline.weight_bytes

    @property
    def share(self) -> np.ndarray:
        return self.roofline.share

    @property
    def flops(self) -> np.ndarray:
        return self.roofline.flops

    @property
    def mem_bw(self) -> np.ndarray:
        return self.roofline.mem_bw

    @property
    def eta_c(self) -> np.ndarray:
        return self.roofline.eta_c

    @property
    def eta_m(self) -> np.ndarray:
        return self.roofline.eta_m

    @property
    def overhead_s(self) -> np.ndarray:
        return self.roofline.overhead_s


@dataclass(frozen=True, eq=False)
class Game:
    """Cost tables of one scenario. Shapes: N users, R instances (+1 with local), M servers/APs.

    step_table[r, n]: d_r(n) in s/token for n = 0..C, plus H beyond the KV capacity of a partitioned
    instance (added to the step time, so the table is non-decreasing in n for any H); column C is used
    for every n >= C (it is beyond every partitioned capacity; shared rows have C = N + 1).
    potential_table[r, n]: sum_{k=1..n} step_table[r, k].
    """

    n_users: int
    server_of: np.ndarray  # (R+1,) server index of each action, -1 for local
    level_of: np.ndarray  # (R+1,) level name of each action (the local level for action 0)
    ppl_of: np.ndarray  # (R+1,) perplexity of each action
    capacity: np.ndarray  # (R+1,) KV capacity in sequences (local: huge)
    subchannels: np.ndarray  # (M,) K_j
    penalty_s: float  # H (s/token)
    step_table: np.ndarray  # (R+1, C+1)
    potential_table: np.ndarray  # (R+1, C+1)
    alpha: np.ndarray  # (N,) s of cost per (s/token) of step time
    beta: np.ndarray  # (N, R+1) load-independent cost, inf if not allowed
    fixed_latency_s: np.ndarray  # (N, R+1) T_up + T_pre + T_dl, or T_loc for local
    fixed_energy_j: np.ndarray  # (N, R+1) p_tx T_up + p_idle T_pre, or P_dev T_loc for local
    idle_power_w: np.ndarray  # (N,)
    output_tokens: np.ndarray  # (N,)
    epsilon: float  # s/token
    max_slots: int
    prompt_tokens: np.ndarray  # (N,) s_i
    deadline_s: np.ndarray  # (N,) tau_i
    uplink_s: np.ndarray  # (N, R+1) T_up incl. t_0 (0 for local)
    downlink_s: np.ndarray  # (N, R+1) T_dl incl. t_0 (0 for local)
    instances: InstanceParams
    # Shared servers (docs/model.md): actions of one shared server form a group G whose per-token time
    # is T_G(n) = sum_{r in G} d_r(n_r) + H [N_G > cap_G] (d_r at the whole server, N_G its users).
    # None (or no shared group): every instance is partitioned, its per-token time d_r(n_r) alone.
    group_of: np.ndarray | None = None  # (R+1,) group of each action (-1: local)
    group_capacity: np.ndarray | None = None  # (G,) KV capacity in sequences of each group
    group_shared: np.ndarray | None = None  # (G,) True for the group of a shared server

    @property
    def shared(self) -> bool:
        """True if some server is shared (the per-token time of an action depends on its server's loads)."""
        return self.group_shared is not None and bool(self.group_shared.any())

    @property
    def n_groups(self) -> int:
        return 0 if self.group_capacity is None else int(self.group_capacity.shape[0])

    def groups(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(group_of, group_capacity, group_shared), for code that needs the server groups (a game from
        ``build_game`` always has them; a hand-built game without them raises a one-line ValueError)."""
        if self.group_of is None or self.group_capacity is None or self.group_shared is None:
            raise ValueError("the game has no server groups (group_of, group_capacity, group_shared)")
        return self.group_of, self.group_capacity, self.group_shared

    @cached_property
    def group_full(self) -> np.ndarray:
        """(R+1,) group of every action, -1 for local (``group_of`` with a definite local entry)."""
        group_of, _, _ = self.groups()
        return np.concatenate([[-1], group_of[1:]]).astype(np.int64)

    @cached_property
    def kv_free_bytes(self) -> np.ndarray:
        """(R+1,) KV memory of each action's pool (bytes): theta Mem - M_q, or on a shared server
        Mem - sum of its hosted weights (one pool for all its variants). Entry 0 is unused."""
        ip = self.instances
        free = np.asarray(ip.memory_bytes - ip.weight_bytes, dtype=float).copy()
        if self.shared:
            group_of, _, group_shared = self.groups()
            g = group_of[1:]
            hosted = np.bincount(g, weights=ip.weight_bytes[1:], minlength=self.n_groups)[g]
            free[1:] = np.where(group_shared[g], ip.memory_bytes[1:] - hosted, free[1:])
        return free

    @cached_property
    def group_representative(self) -> np.ndarray:
        """(R+1,) the first action of each action's group (0 for local): one index per congestion unit."""
        out = np.arange(self.n_actions)
        g = self.groups()[0][1:]
        first = np.full(self.n_groups, self.n_actions, dtype=np.int64)
        np.minimum.at(first, g, np.arange(1, self.n_actions))
        out[1:] = first[g]
        return out

    @cached_property
    def candidate_group(self) -> np.ndarray:
        """(N, K) group of each of ``candidates``."""
        out: np.ndarray = self.group_full[self.candidates]
        return out

    @cached_property
    def shared_action(self) -> np.ndarray:
        """(R+1,) True for the actions of shared servers."""
        group_of, _, group_shared = self.groups()
        return np.concatenate([[False], group_shared[group_of[1:]]])

    @property
    def n_actions(self) -> int:
        return int(self.server_of.shape[0])

    @property
    def n_servers(self) -> int:
        return int(self.subchannels.shape[0])

    @property
    def allowed(self) -> np.ndarray:
        """(N, R+1) boolean: action allowed for the user (reachable, within PPL bound, fits)."""
        out: np.ndarray = np.isfinite(self.beta)
        return out

    @cached_property
    def candidates(self) -> np.ndarray:
        """(N, K) allowed actions of every user, padded by repeating the user's first allowed action.

        K is the largest number of allowed actions of any user; best responses only look here, which
        keeps them O(N K) instead of O(N R) when users reach few servers.
        """
        allowed = self.allowed
        k = max(1, int(allowed.sum(axis=1).max())) if self.n_users else 1
        order = np.argsort(~allowed, axis=1, kind="stable")[:, :k]
        ok = np.take_along_axis(allowed, order, axis=1)
        return np.where(ok, order, order[:, :1])

    @cached_property
    def candidate_beta(self) -> np.ndarray:
        """(N, K) beta at ``candidates``."""
        out: np.ndarray = np.take_along_axis(self.beta, self.candidates, axis=1)
        return out

    @cached_property
    def candidate_padding(self) -> np.ndarray:
        """(N, K) True where ``candidates`` only repeats the user's first allowed action (padding)."""
        out: np.ndarray = np.arange(self.candidates.shape[1])[None, :] >= self.allowed.sum(axis=1)[:, None]
        return out

    @cached_property
    def candidate_beta_search(self) -> np.ndarray:
        """(N, K) ``candidate_beta`` with inf at the padding: a padded entry repeats an earlier candidate,
        so it never is the first minimum; inf keeps it out of the search without recomputing it."""
        return np.where(self.candidate_padding, np.inf, self.candidate_beta)

    @cached_property
    def candidate_buckets(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]] | None:
        """Users grouped by how many allowed actions they have, for the full best-response search:
        [(users, candidates[users, :K_b], candidate_beta_search[users, :K_b])], K_b the group's largest
        count, in at most three groups that minimise the table size (the columns dropped are padding
        only). None when the table is small or the groups save little (``BUCKET_MIN_*``)."""
        n, k = self.candidates.shape
        if n * k < BUCKET_MIN_ENTRIES:
            return None
        count = self.allowed.sum(axis=1)
        hist = np.bincount(count, minlength=k + 1)
        below = np.cumsum(hist)  # users with at most c allowed actions
        best, cuts = n * k, None
        for c1 in range(1, k):
            for c2 in range(c1, k):
                size = below[c1] * c1 + (below[c2] - below[c1]) * c2 + (n - below[c2]) * k
                if size < best:
                    best, cuts = size, (c1, c2)
        if cuts is None or best > (1.0 - BUCKET_MIN_SAVING) * n * k:
            return None
        out = []
        for lo, hi in ((0, cuts[0]), (cuts[0], cuts[1]), (cuts[1], k)):
            users = np.flatnonzero((count > lo) & (count <= hi))
            if users.size:
                out.append((users, self.candidates[users, :hi], self.candidate_beta_search[users, :hi]))
        return out

    @cached_property
    def candidate_runs(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(first, count), each (N, M + 1): position in ``candidates`` of user i's first candidate on
        server j (column j + 1; column 0: local) and how many of its (non-padding) candidates are there.

        Candidates are in action order and actions are numbered server by server, so the candidates of
        one server are consecutive. None if the actions are not numbered server by server.
        """
        srv = self.server_of
        if (np.diff(srv) < 0).any():
            return None
        n, k = self.candidates.shape
        cols = self.n_servers + 1
        col = srv[self.candidates] + 1
        flat = (np.arange(n)[:, None] * cols + col)[~self.candidate_padding]
        count = np.bincount(flat, minlength=n * cols).reshape(n, cols)
        first = np.cumsum(count, axis=1) - count
        small = np.int16 if k < np.iinfo(np.int16).max else np.int64
        return first.astype(small), count.astype(small)

    def step_time(self, action: np.ndarray, load: np.ndarray) -> np.ndarray:
        """d_r(n) for arrays of actions and loads (s/token)."""
        cols = self.step_table.shape[1] - 1
        out: np.ndarray = self.step_table[action, np.minimum(load, cols)]
        return out

    def ap_penalty(self, server: np.ndarray, count: np.ndarray) -> np.ndarray:
        """h_j(m): 0 up to K_j offloaders on AP j, H beyond; 0 for server -1 (local)."""
        k = self.subchannels[np.maximum(server, 0)]
        return np.where((server >= 0) & (count > k), self.penalty_s, 0.0)

    def take_users(self, index: np.ndarray) -> Game:
        """The game restricted to a subset of users (same instances and servers)."""
        kw = {f: getattr(self, f) for f in self.__dataclass_fields__}
        for f in USER_FIELDS:
            kw[f] = kw[f][index]
        kw["n_users"] = int(np.asarray(kw["alpha"]).shape[0])
        return Game(**kw)


USER_FIELDS = (
    "alpha", "beta", "fixed_latency_s", "fixed_energy_j", "idle_power_w", "output_tokens", "prompt_tokens",
    "deadline_s", "uplink_s", "downlink_s",
)  # fmt: skip


@np.errstate(all="ignore")  # extreme inputs give inf/nan costs, which check_feasible reports in one line
def build_game(
    scenario: Scenario,
    users: Users | None = None,
    context_tokens: float | None = None,
    kv_context_tokens: float | None = None,
) -> Game:
    """Vectorised cost tables of ``scenario`` (docs/model.md B.4-B.7).

    ``users`` replaces the scenario's users (e.g. the requests of a simulation). The nominal context
    l-bar and the per-sequence KV reservation come from, in order: the arguments, the scenario's
    ``[game]`` table, the users (mean s + mean o / 2; max s + max o).
    """
    u = scenario.users if users is None else users
    m, g, rad = scenario.llm, scenario.game, scenario.radio
    n_users = len(u)
    s = u.prompt_tokens.astype(float)
    o = u.output_tokens.astype(float)
    ref_ppl = m.reference_level.perplexity
    ctx = context_tokens or g.context_tokens or float(s.mean() + o.mean() / 2.0)
    kv_ctx = kv_context_tokens or g.kv_context_tokens or float(s.max() + o.max())
    n0 = radio.noise_psd_w_hz(rad.noise_psd_dbm_hz, rad.noise_figure_db)

    dev_names = np.asarray(u.device, dtype=object)
    dev = {name: scenario.hardware[name] for name in set(dev_names.tolist())}
    idle_w = np.array([dev[d].idle_power_w for d in dev_names])
    tx_w = np.array([dev[d].radio_tx_power_w for d in dev_names])

    insts = [(j, inst) for j, sv in enumerate(scenario.servers) for inst in sv.instances]
    n_act = len(insts) + 1
    server_of = np.array([-1] + [j for j, _ in insts])
    level_of = np.array([scenario.local_level] + [i.level for _, i in insts], dtype=object)
    ppl_of = np.array([m.levels[lv].perplexity for lv in level_of])
    capacity = np.full(n_act, UNLIMITED, dtype=np.int64)
    group_of = np.full(n_act, -1, dtype=np.int64)
    group_cap: list[int] = []
    group_shared: list[bool] = []
    for j, sv in enumerate(scenario.servers):
        hw = scenario.hardware[sv.hardware]
        rs = [r for r, (jj, _) in enumerate(insts, start=1) if jj == j]
        if sv.shared:
            weights = sum(m.levels[lv].weight_bytes for lv in sv.hosts)
            cap = min(llm.kv_capacity(1.0, hw.memory_bytes, weights, m.kv_bytes_per_token, kv_ctx), UNLIMITED)
            capacity[rs] = cap
            group_of[rs] = len(group_cap)
            group_cap.append(cap)
            group_shared.append(True)
            continue
        for r in rs:
            inst = insts[r - 1][1]
            lv = m.levels[inst.level]
            cap = llm.kv_capacity(inst.share, hw.memory_bytes, lv.weight_bytes, m.kv_bytes_per_token, kv_ctx)
            capacity[r] = min(cap, UNLIMITED)
            group_of[r] = len(group_cap)
            group_cap.append(UNLIMITED)  # the penalty of a partitioned instance is in its step table
            group_shared.append(False)
    shared_rows = np.zeros(n_act, dtype=bool)
    shared_rows[1:] = np.asarray(group_shared, dtype=bool)[group_of[1:]] if n_act > 1 else []

    roof, memory, power = instance_physics(scenario)
    finite_caps = capacity[1:]
    cols = int(min(n_users, finite_caps.max() if finite_caps.size else 0)) + 1
    if shared_rows.any():
        cols = n_users + 1  # shared rows hold d_r(n) for every load (the penalty is the group's)
    loads = np.arange(cols + 1)
    d = roof.decode_table(loads, ctx)
    over = (loads[None, :] > capacity[:, None]) & ~shared_rows[:, None]
    step = d + np.where(over, g.capacity_penalty_s, 0.0)  # H added, not substituted: monotone for any H
    step[:, 0] = 0.0
    step[0] = 0.0
    potential = np.cumsum(step, axis=1)
    instances = InstanceParams(
        roofline=roof, memory_bytes=memory, power_w=power, context_tokens=ctx, kv_context_tokens=kv_ctx
    )

    w_t, w_q, w_e = u.w_latency, u.w_quality, u.w_energy
    alpha = o * (w_t + w_e * idle_w)
    beta = np.full((n_users, n_act), np.inf)
    lat = np.zeros((n_users, n_act))
    en = np.zeros((n_users, n_act))
    up = np.zeros((n_users, n_act))
    down = np.zeros((n_users, n_act))

    # local execution
    loc_lv = m.levels[scenario.local_level]
    t_loc = np.empty(n_users)
    e_loc = np.empty(n_users)
    fits = np.empty(n_users, dtype=bool)
    for name, hw in dev.items():
        sel = dev_names == name
        t_loc[sel] = llm.local_time_s(
            s[sel], o[sel], m.params, loc_lv.weight_bytes, hw.flops_fp16, hw.mem_bw_bytes_per_s,
            hw.eta_c, hw.eta_m_for(scenario.local_level),
        )  # fmt: skip
        e_loc[sel] = energy.local_energy_j(t_loc[sel], hw.power_w)
        fits[sel] = hw.memory_bytes >= loc_lv.weight_bytes + m.kv_bytes_per_token * (s[sel] + o[sel])
    q_loc = float(quality.quality_loss(loc_lv.perplexity, ref_ppl))
    ok_loc = fits & (loc_lv.perplexity <= u.max_perplexity)
    lat[:, LOCAL] = t_loc
    en[:, LOCAL] = e_loc
    beta[:, LOCAL] = np.where(ok_loc, w_t * t_loc + w_q * o * q_loc + w_e * e_loc, np.inf)

    # offloading: radio per server, compute per instance
    for j, sv in enumerate(scenario.servers):
        dx, dy = u.x_m - sv.position_m[0], u.y_m - sv.position_m[1]
        reach = np.hypot(dx, dy) <= sv.ap.coverage_m
        pl = radio.path_loss_umi_los_two_slope_db(
            np.hypot(dx, dy), rad.bs_height_m, rad.ue_height_m, rad.carrier_ghz
        )
        up_rate = radio.shannon_rate_bps(sv.ap.subchannel_hz, u.tx_power_w, pl, n0)
        dl_rate = radio.shannon_rate_bps(sv.ap.subchannel_hz, sv.ap.tx_power_w, pl, n0)
        t_up = radio.transfer_delay_s(s, m.token_bits, up_rate, rad.access_overhead_s)
        t_dl = radio.transfer_delay_s(o, m.token_bits, dl_rate, rad.access_overhead_s)
        for r in np.flatnonzero(server_of == j).tolist():
            inst = next(i for i in sv.instances if i.level == level_of[r])
            lv = m.levels[inst.level]
            t_pre = roof.prefill_s(s, int(r))
            q = float(quality.quality_loss(lv.perplexity, ref_ppl))
            e_fix = energy.offload_energy_j(t_up, t_pre, tx_w, idle_w)
            ok = reach & (lv.perplexity <= u.max_perplexity) & (capacity[r] >= 1)
            lat[:, r] = t_up + t_pre + t_dl
            up[:, r] = t_up
            down[:, r] = t_dl
            en[:, r] = e_fix
            beta[:, r] = np.where(ok, w_t * lat[:, r] + w_q * o * q + w_e * e_fix, np.inf)

    return Game(
        n_users=n_users,
        server_of=server_of,
        level_of=level_of,
        ppl_of=ppl_of,
        capacity=capacity,
        subchannels=np.array([min(sv.ap.subchannels, UNLIMITED) for sv in scenario.servers], dtype=np.int64),
        penalty_s=g.capacity_penalty_s,
        step_table=step,
        potential_table=potential,
        alpha=alpha,
        beta=beta,
        fixed_latency_s=lat,
        fixed_energy_j=en,
        idle_power_w=idle_w,
        output_tokens=o,
        epsilon=g.epsilon,
        max_slots=g.max_slots,
        prompt_tokens=s,
        deadline_s=np.asarray(u.deadline_s, dtype=float),
        uplink_s=up,
        downlink_s=down,
        instances=instances,
        group_of=group_of,
        group_capacity=np.asarray(group_cap, dtype=np.int64),
        group_shared=np.asarray(group_shared, dtype=bool),
    )


def instance_physics(scenario: Scenario) -> tuple[Roofline, np.ndarray, np.ndarray]:
    """The cost core of ``scenario`` (one row per action, row 0 = the local model's M_q, zeros elsewhere),
    the memory theta*Mem (bytes) and power theta*P (W) of every instance."""
    m = scenario.llm
    insts = [(j, inst) for j, sv in enumerate(scenario.servers) for inst in sv.instances]
    n_act = len(insts) + 1
    col = {k: np.zeros(n_act) for k in ("weight_bytes", "share", "flops", "mem_bw", "eta_c", "eta_m",
                                          "overhead_s", "memory", "power")}  # fmt: skip
    col["weight_bytes"][0] = m.levels[scenario.local_level].weight_bytes
    for r, (j, inst) in enumerate(insts, start=1):
        hw = scenario.hardware[scenario.servers[j].hardware]
        col["weight_bytes"][r] = m.levels[inst.level].weight_bytes
        col["share"][r] = inst.share
        col["flops"][r] = hw.flops_fp16
        col["mem_bw"][r] = hw.mem_bw_bytes_per_s
        col["eta_c"][r] = hw.eta_c
        col["eta_m"][r] = hw.eta_m_for(inst.level)
        col["overhead_s"][r] = hw.step_overhead_s
        col["memory"][r] = inst.share * hw.memory_bytes  # shared: share 1, the whole server
        col["power"][r] = inst.share * hw.power_w
    memory, power = col.pop("memory"), col.pop("power")
    return Roofline(params=m.params, kv_bytes_per_token=m.kv_bytes_per_token, **col), memory, power


def check_feasible(game: Game) -> None:
    """Raise a one-line ``ScenarioError`` naming the first user whose costs overflow float64 (finite but
    absurdly large inputs) or that has no allowed action."""
    with np.errstate(over="ignore", invalid="ignore"):
        worst = game.alpha * (game.step_table.max() + game.penalty_s)
    overflow = ~np.isfinite(worst) | np.isnan(game.beta).any(axis=1)
    if overflow.any():
        i = int(np.flatnonzero(overflow)[0])
        raise ScenarioError(
            f"users[{i}]: the cost overflows (a weight, token count, distance or [game] value is far too "
            "large)"
        )
    none = ~game.allowed.any(axis=1)
    if none.any():
        i = int(np.flatnonzero(none)[0])
        raise ScenarioError(
            f"users[{i}]: no feasible action (no reachable instance within max_perplexity and with KV "
            "capacity, and the local model is not allowed)"
        )
