"""Model instances of Model B (docs/model.md B.8) and the APs' sub-channel pools.

:class:`ContinuousInstance` serves with iteration-level (continuous) batching: admission control
accepts an arriving prompt when its KV reservation fits (FIFO: nobody blocked ahead of it), else it
waits for memory; at the next step boundary the accepted prompts get one compute-bound prefill step
(the running batch pauses, as in vLLM without chunked prefill); otherwise the instance runs decode
steps of duration

    tau_r(t) = max{(M_q + kappa sum_k l_k(t)) / (eta_m theta BW), 2 P |batch| / (eta_c theta F)} + delta_0

with ``l_k(t)`` the context attended by sequence k in the step: its prompt, the tokens generated so far
and the token being generated (s_k + t in the step producing token t = 1..o_k), computed by
:class:`goalit.physics.roofline.Roofline`. Between batch changes the step times are known in
advance, so a *segment* of steps up to the next completion is computed at once (one NumPy call) and
only its end is an event; a request accepted mid-segment cuts the segment at the end of the step in
progress. Each request reserves KV memory for its full context, kappa (s + o), from acceptance to its
last token (the server is told the output length, as with ``max_tokens = o``).

:class:`StaticInstance` serves whole batches (OT-GAH, docs/model.md B.10): a batch starts when the instance is
free and all its prompts have arrived, is padded to its longest prompt and output (prefill of
|B| s_max tokens, o_max decode steps over |B| padded sequences of context s_max + t) and all its
requests finish together (the same timing as ``goalit.solvers.otgah.static_batch_time_s``).

Server energy: every step costs P_r tau (``power_w`` of the instance's share); a decode step's energy is
split equally over the batch (P tau / |batch|, docs/model.md B.8), a prefill step's in proportion to the prompts.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right
from collections import deque
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from goalit.physics.roofline import StepConstants
from goalit.sim import engine

if TYPE_CHECKING:  # pragma: no cover
    from goalit.game.model import Game
    from goalit.sim.state import SimState


class Host(Protocol):
    """What an instance needs from the simulator: the run's state, the event queue, and the callback
    at a request's last token (the simulator implements it; no import of the simulator here).
    ``step_table``: a measured :class:`goalit.physics.step_table.StepTable` or None (the roofline);
    ``first_token_at_prefill``: a request's first token comes out of its prefill step (llama.cpp)."""

    state: SimState
    events: engine.EventQueue
    step_table: Any
    first_token_at_prefill: bool

    def decode_done(self, k: int, t: float) -> None: ...


IDLE, PREFILL, DECODE = 0, 1, 2
#: segments of at most this many steps are timed with Python floats, longer ones with one NumPy call
SCALAR_STEPS = 16


def _step_constants(roof: Any) -> StepConstants | None:
    """Python-float constants of a variant's roofline (None when a share is 0: the NumPy path then)."""
    c = StepConstants(roof)
    return c if c.mem_den > 0 and c.comp_den > 0 else None


def _cumulative(t: float, steps: Any) -> list[float]:
    """Ends of consecutive steps from ``t``: t + cumsum(steps), the same floats as NumPy's."""
    acc = 0.0
    out = []
    for x in steps:
        acc += x
        out.append(t + acc)
    return out


class ChannelPool:
    """K_j sub-channels of one AP direction: a FIFO multi-server queue of transfers (docs/model.md B.4)."""

    __slots__ = ("_free",)

    def __init__(self, channels: int) -> None:
        self._free = [0.0] * max(int(channels), 1)

    def acquire(self, t: float, duration_s: float) -> tuple[float, float]:
        """Start and end of a transfer requested at ``t`` (calls must come in time order)."""
        start = max(t, heapq.heappop(self._free))
        end = start + duration_s
        heapq.heappush(self._free, end)
        return start, end


class _InstanceBase:
    """Physics of instance ``r`` (from ``game.instances``) and its counters."""

    def __init__(self, r: int, game: Game, host: Host) -> None:
        ip = game.instances
        self.r = r
        self.host = host
        self.state = host.state
        self.events = host.events
        self.kappa = float(ip.kv_bytes_per_token)
        self.kv_total = float(ip.memory_bytes[r] - ip.weight_bytes[r])
        self.kv_free = self.kv_total
        self.power_w = float(ip.power_w[r])
        self.roofline = ip.roofline.at(r)
        table = getattr(host, "step_table", None)  # a measured StepTable, else the roofline
        level = str(game.level_of[r])
        self._table = table if table is not None and level in table.levels else None
        self._level = level
        self._const = _step_constants(self.roofline) if self._table is None else None
        self.version = 0
        self.busy_s = 0.0  # time spent in prefill or decode steps
        self.tokens = 0  # output tokens generated (useful tokens, no padding)
        self.decode_steps = 0
        self.prefill_steps = 0
        self.max_batch_seen = 0

    def prefill_time(self, total_prompt_tokens: float) -> float:
        """One prefill step over ``total_prompt_tokens`` tokens (compute-bound roofline, docs/model.md B.5, or the
        measured step table)."""
        if self._table is not None:
            return float(self._table.prefill_time(self._level, total_prompt_tokens))
        if self._const is not None:
            return self._const.prefill_s(total_prompt_tokens)
        return float(self.roofline.prefill_s(total_prompt_tokens))

    def decode_times(self, batch: int, context_tokens: np.ndarray) -> np.ndarray:
        """Step times of a batch of ``batch`` sequences with total contexts ``context_tokens`` (s)."""
        if self._table is not None:
            return np.asarray(self._table.decode_step_time_s(self._level, batch, context_tokens), float)
        return self.roofline.decode_step_s(batch, context_tokens)


class ContinuousInstance(_InstanceBase):
    """Iteration-level continuous batching with KV-memory admission (see module docstring).

    Admission control runs when a prompt arrives and whenever memory frees: a request whose KV
    reservation fits (and, with ``max_batch``, whose batch slot is free), with nobody blocked ahead of
    it, is *accepted*: its memory is reserved and it is prefilled at the next step boundary. Otherwise
    it waits in the FIFO ``blocked`` queue (listed in the state's ``queued_at``, where a policy may re-route it).
    """

    def __init__(self, r: int, game: Game, host: Host, max_batch: int | None = None) -> None:
        super().__init__(r, game, host)
        self.max_batch = max_batch
        self.blocked: deque[int] = deque()  # waiting for KV memory (or a batch slot), FIFO
        self.accepted: list[int] = []  # memory reserved, prefilled at the next step boundary
        self.ids = np.empty(0, np.int64)
        self.ctx = np.empty(0, np.int64)
        self.rem = np.empty(0, np.int64)
        self.fresh = np.empty(0, bool)
        self.prefilling: list[int] = []
        self.phase = IDLE
        self.waking = False  # an event at the current time is already scheduled while idle
        self.ctx_sum = 0  # sum of self.ctx (tokens), kept in step
        self.any_fresh = False  # some running sequence has not produced its first token yet
        self.seg_t0 = 0.0
        self.seg_ends: list[float] = []  # ends of the steps of the current decode segment
        self.event_k = 0
        self.k_min = 0  # steps to the segment's first completion
        self.prefill_end = 0.0

    # -- arrivals at the instance -------------------------------------------------------------------

    def reserve_bytes(self, k: int) -> float:
        return self.kappa * float(self.state.prompt[k] + self.state.output[k])

    def _fits(self, k: int) -> bool:
        if self.max_batch is not None:
            held = self.ids.shape[0] + len(self.prefilling) + len(self.accepted)
            if held >= self.max_batch:
                return False
        return self.reserve_bytes(k) <= self.kv_free

    def _accept(self, k: int) -> None:
        self.kv_free -= self.reserve_bytes(k)
        self.accepted.append(k)

    def _admit_blocked(self) -> None:
        """Accept blocked requests in FIFO order while they fit."""
        st = self.state
        while self.blocked and self._fits(self.blocked[0]):
            k = self.blocked.popleft()
            st.unblock(k)
            self._accept(k)

    def enqueue(self, k: int, t: float) -> None:
        """Request ``k`` (its prompt arrived) meets admission control at time ``t``."""
        if not self.blocked and self._fits(k):
            self._accept(k)
            self.wake(t)
        else:
            self.blocked.append(k)
            self.state.block(k, int(self.state.action[k]))  # a shared server: the variant

    def withdraw(self, k: int) -> None:
        """Take blocked request ``k`` out (it is re-routed; the simulator updates the state); call
        :meth:`readmit` once all moves are done."""
        self.blocked.remove(k)

    def readmit(self, t: float) -> None:
        """Admission control after withdrawals: the new head of the blocked queue may fit now."""
        self._admit_blocked()
        if self.accepted:
            self.wake(t)

    def wake(self, t: float) -> None:
        """Prefill the accepted requests at the next step boundary after ``t``."""
        if self.phase == IDLE:
            if not self.waking:
                self.waking = True
                self.version += 1
                self.events.push(t, engine.INSTANCE, self.r, self.version)
        elif self.phase == DECODE:
            k = min(bisect_left(self.seg_ends, t) + 1, self.event_k)
            if k < self.event_k:
                self.event_k = k
                self.version += 1
                self.events.push(self.seg_ends[k - 1], engine.INSTANCE, self.r, self.version)

    # -- step boundaries ----------------------------------------------------------------------------

    def on_event(self, t: float, version: int) -> None:
        """A scheduled step boundary (stale versions are ignored)."""
        if version != self.version:
            return
        self.waking = False
        st = self.state
        if self.phase == PREFILL:
            new = np.asarray(self.prefilling, np.int64)
            self.prefilling = []
            ctx, rem, fresh = st.prompt[new], st.output[new], np.ones(new.shape[0], bool)
            if getattr(self.host, "first_token_at_prefill", False):
                # llama.cpp samples each new sequence's first token from its prefill logits
                st.first_token_s[new] = t
                self.tokens += int(new.shape[0])
                ctx, rem, fresh = ctx + 1, rem - 1, ~fresh
                done = rem <= 0
                for q in new[done].tolist():
                    self.kv_free += self.reserve_bytes(q)
                    self.host.decode_done(q, t)
                new, ctx, rem, fresh = new[~done], ctx[~done], rem[~done], fresh[~done]
                if done.any():
                    self._admit_blocked()
            self._join(new, ctx)
            self.any_fresh = self.any_fresh or bool(fresh.any())
            self.ids = np.concatenate([self.ids, new])
            self.ctx = np.concatenate([self.ctx, ctx])
            self.rem = np.concatenate([self.rem, rem])
            self.fresh = np.concatenate([self.fresh, fresh])
        elif self.phase == DECODE:
            self._close_segment(t)
        self._schedule(t)

    def _close_segment(self, t: float) -> None:
        k = self.event_k
        n = self.ids.shape[0]
        dur = t - self.seg_t0
        self.busy_s += dur
        self.decode_steps += k
        self.tokens += k * n
        st = self.state
        share = self.power_w * dur / n
        ids = self.ids
        st.server_energy_j[ids] += share
        if self.any_fresh:
            st.first_token_s[ids[self.fresh]] = self.seg_ends[0]
            self.fresh[:] = False
            self.any_fresh = False
        self.ctx += k
        self.rem -= k
        self._advance(k, n)
        if k < self.k_min:  # a segment cut short by an admission: nobody is done
            return
        done = self.rem == 0
        if done.any():
            self._drop(done)
            fin = ids[done]
            keep = ~done
            self.ids, self.ctx, self.rem, self.fresh = (
                ids[keep],
                self.ctx[keep],
                self.rem[keep],
                self.fresh[keep],
            )
            for q in fin.tolist():
                self.kv_free += self.reserve_bytes(q)
                self.host.decode_done(q, t)
            self._admit_blocked()

    def _prefill_step_s(self, adm: np.ndarray, prompts: np.ndarray) -> float:
        """Duration of the prefill step of the admitted requests ``adm`` (prompt lengths ``prompts``), s."""
        return self.prefill_time(float(prompts.sum()))

    def _join(self, new: np.ndarray, ctx: np.ndarray) -> None:
        """Sequences ``new`` (contexts ``ctx``) join the running batch."""
        self.ctx_sum += int(ctx.sum())

    def _advance(self, k: int, n: int) -> None:
        """The running batch of n sequences made k decode steps."""
        self.ctx_sum += k * n

    def _drop(self, done: np.ndarray) -> None:
        """The sequences at ``done`` (a mask of the running batch) leave it."""
        self.ctx_sum -= int(self.ctx[done].sum())

    def _segment_ends(self, t: float, n: int, k: int) -> list[float]:
        """Ends of the next k decode steps of the running batch of n sequences from ``t`` (s)."""
        c = self._const
        if c is not None and k <= SCALAR_STEPS:
            base = self.ctx_sum
            return _cumulative(t, [c.decode_s(n, base + n * j) for j in range(1, k + 1)])
        total = self.ctx_sum + n * np.arange(1, k + 1, dtype=np.int64)
        times = c.decode_steps(n, total) if c is not None else self.decode_times(n, total)
        ends: list[float] = (t + np.cumsum(times)).tolist()
        return ends

    def _schedule(self, t: float) -> None:
        st = self.state
        n = self.ids.shape[0]
        admitted = self.accepted
        if admitted:
            self.accepted = []
            adm = np.asarray(admitted, np.int64)
            s = st.prompt[adm]
            tau = self._prefill_step_s(adm, s)
            st.admitted_s[adm] = t
            st.server_energy_j[adm] += self.power_w * tau * s / max(float(s.sum()), 1.0)
            self.busy_s += tau
            self.prefill_steps += 1
            self.prefilling = admitted
            self.prefill_end = t + tau
            self.phase = PREFILL
            self.version += 1
            self.events.push(t + tau, engine.INSTANCE, self.r, self.version)
        elif n:
            k = int(self.rem.min())
            self.k_min = k
            self.seg_ends = self._segment_ends(t, n, k)
            self.seg_t0 = t
            self.event_k = k
            self.phase = DECODE
            self.max_batch_seen = max(self.max_batch_seen, n)
            self.version += 1
            self.events.push(self.seg_ends[k - 1], engine.INSTANCE, self.r, self.version)
        else:
            self.phase = IDLE

    def generated_by(self, t: float) -> dict[int, int]:
        """Tokens generated by time ``t`` for every request in the running batch (for the horizon)."""
        done = self.state.output[self.ids] - self.rem
        if self.phase == DECODE:
            done = done + bisect_right(self.seg_ends, t, 0, self.event_k)
        return dict(zip(self.ids.tolist(), done.tolist(), strict=True))

    def close(self, t: float) -> None:
        """Count the work done by the horizon ``t``: the partial decode segment, not the prefill after it."""
        if self.phase == DECODE:
            k = bisect_right(self.seg_ends, t, 0, self.event_k)
            n = self.ids.shape[0]
            self.busy_s += t - self.seg_t0
            self.decode_steps += k
            self.tokens += k * n
            self.state.server_energy_j[self.ids] += self.power_w * (t - self.seg_t0) / n
        elif self.phase == PREFILL and self.prefill_end > t:
            adm = np.asarray(self.prefilling, np.int64)
            s = self.state.prompt[adm]
            cut = self.prefill_end - t
            self.busy_s -= cut
            self.state.server_energy_j[adm] -= self.power_w * cut * s / max(float(s.sum()), 1.0)


class SharedServer(ContinuousInstance):
    """A shared server (docs/model.md): its hosted variants' weights are co-resident and one engine
    iterates over the active variants. Each iteration runs one decode step of every active variant's
    batch on the whole server, so a sequence of variant v gains one token per iteration of duration

        T(t) = sum_{v active} [max{(M_v + kappa sum_{k in v} l_k(t)) / (eta_m,v BW), 2 P n_v / (eta_c F)}
               + delta_0],

    and the prompts accepted since the last iteration are prefilled first, one compute-bound prefill
    step per variant (the decode batches pause). KV admission uses one pool, Mem - sum_v M_v, shared by
    all variants. ``actions`` are the server's action indices; events carry the first one. With a
    measured step table (``sim.step_table``) a variant whose level it holds uses the table's step and
    prefill times in place of its roofline term (the table's d_v(n, l) is measured alone on the machine).
    """

    def __init__(self, actions: list[int], game: Game, host: Host, max_batch: int | None = None) -> None:
        super().__init__(actions[0], game, host, max_batch)
        ip = game.instances
        self.actions = list(actions)
        self.variant_of = {r: q for q, r in enumerate(self.actions)}
        self.roofs = [ip.roofline.at(r) for r in self.actions]
        self.kv_total = float(ip.memory_bytes[actions[0]] - sum(float(ip.weight_bytes[r]) for r in actions))
        self.kv_free = self.kv_total
        table = getattr(host, "step_table", None)
        self.levels = [str(game.level_of[r]) for r in self.actions]
        self.tables = [table if table is not None and lv in table.levels else None for lv in self.levels]
        self.var = np.empty(0, np.int64)  # variant (position in ``actions``) of every running sequence
        self.tokens_by = np.zeros(len(self.actions), np.int64)
        # per variant, kept in step with ``var`` / ``ctx``: running sequences and their total context
        self.n_by = [0] * len(self.actions)
        self.ctx_by = [0] * len(self.actions)
        consts = [_step_constants(roof) for roof in self.roofs]
        known = [c for c in consts if c is not None]
        self.consts: list[StepConstants] | None = (
            known if len(known) == len(consts) and not any(self.tables) else None
        )

    def prefill_time(self, total_prompt_tokens: float) -> float:  # pragma: no cover - not used
        raise NotImplementedError

    def variant_prefill_s(self, q: int, tokens: float) -> float:
        """Prefill of ``tokens`` prompt tokens of variant q on the whole server (s)."""
        table = self.tables[q]
        if table is not None:
            return float(table.prefill_time(self.levels[q], tokens))
        if self.consts is not None:
            return self.consts[q].prefill_s(tokens)
        return float(self.roofs[q].prefill_s(tokens))

    def variant_decode_s(self, q: int, n: int, context_tokens: np.ndarray) -> np.ndarray:
        """Decode steps of variant q's batch of ``n`` sequences with total contexts ``context_tokens`` (s)."""
        table = self.tables[q]
        if table is not None:
            return np.asarray(table.decode_step_time_s(self.levels[q], n, context_tokens), float)
        return np.asarray(self.roofs[q].decode_step_s(n, context_tokens), float)

    def _variant(self, k: int) -> int:
        return self.variant_of[int(self.state.action[k])]

    def _join(self, new: np.ndarray, ctx: np.ndarray) -> None:
        super()._join(new, ctx)
        var = [self._variant(k) for k in new.tolist()]
        for q, c in zip(var, ctx.tolist(), strict=True):
            self.n_by[q] += 1
            self.ctx_by[q] += c
        self.var = np.concatenate([self.var, np.asarray(var, np.int64)])

    def _advance(self, k: int, n: int) -> None:
        super()._advance(k, n)
        for q, n_q in enumerate(self.n_by):
            if n_q:
                self.ctx_by[q] += k * n_q
                self.tokens_by[q] += k * n_q

    def _drop(self, done: np.ndarray) -> None:
        super()._drop(done)
        for q, c in zip(self.var[done].tolist(), self.ctx[done].tolist(), strict=True):
            self.n_by[q] -= 1
            self.ctx_by[q] -= c
        self.var = self.var[~done]

    def _prefill_step_s(self, adm: np.ndarray, prompts: np.ndarray) -> float:
        """One compute-bound prefill step per variant among the admitted requests, back to back (s)."""
        tokens: dict[int, int] = {}
        for k, s in zip(adm.tolist(), prompts.tolist(), strict=True):
            q = self._variant(k)
            tokens[q] = tokens.get(q, 0) + s
        return sum(self.variant_prefill_s(q, float(tokens[q])) for q in sorted(tokens))

    def _segment_ends(self, t: float, n: int, k: int) -> list[float]:
        """Ends of the server's next k iterations from ``t``: one decode step of every active variant's
        batch each (s)."""
        active = [(q, n_q, self.ctx_by[q]) for q, n_q in enumerate(self.n_by) if n_q]
        if self.consts is not None and k <= SCALAR_STEPS:
            consts = self.consts
            step_s: list[float] = []
            for j in range(1, k + 1):
                step = 0.0
                for q, n_q, c in active:
                    step += consts[q].decode_s(n_q, c + n_q * j)
                step_s.append(step)
            return _cumulative(t, step_s)
        steps = np.arange(1, k + 1, dtype=np.int64)
        times = np.zeros(k)
        for q, n_q, c in active:
            if self.consts is not None:
                times += self.consts[q].decode_steps(n_q, c + n_q * steps)
            else:
                times += self.variant_decode_s(q, n_q, c + n_q * steps)
        ends: list[float] = (t + np.cumsum(times)).tolist()
        return ends

    def close(self, t: float) -> None:
        if self.phase == DECODE:
            k = bisect_right(self.seg_ends, t, 0, self.event_k)
            self.tokens_by += k * np.bincount(self.var, minlength=len(self.actions))
        super().close(t)


class VariantView:
    """What the simulator sees at action r of a shared server: the server's engine (every call is
    forwarded), with the tokens generated by this variant."""

    def __init__(self, server: SharedServer | SharedStaticServer, r: int) -> None:
        self.server = server
        self.r = r

    def __getattr__(self, name: str) -> Any:
        return getattr(self.server, name)

    @property
    def tokens(self) -> int:
        return int(self.server.tokens_by[self.server.variant_of[self.r]])


class StaticInstance(_InstanceBase):
    """Static batching: whole batches, padded, finishing together (OT-GAH serving, docs/model.md B.10)."""

    def __init__(self, r: int, game: Game, host: Host) -> None:
        super().__init__(r, game, host)
        self.batches: deque[list[Any]] = deque()  # [ids (array), prompts still in uplink]
        self.current: np.ndarray | None = None
        self.cur_ends = np.empty(0)
        self.padded_tokens = 0  # decode tokens computed for padding

    @property
    def free(self) -> bool:
        """No batch running or queued: the instance can start a new batch now."""
        return self.current is None and not self.batches

    def submit(self, ids: np.ndarray, uplinks_pending: int, t: float) -> None:
        """Queue a batch; it starts once the instance is free and ``uplinks_pending`` prompts arrived."""
        self.batches.append([np.asarray(ids, np.int64), int(uplinks_pending)])
        self.try_start(t)

    def uplink_done(self, k: int, t: float) -> None:
        """A prompt of a queued batch arrived."""
        for b in self.batches:
            if k in b[0]:
                b[1] -= 1
                break
        self.try_start(t)

    def try_start(self, t: float) -> None:
        if self.current is not None or not self.batches or self.batches[0][1] > 0:
            return
        ids, _ = self.batches.popleft()
        st = self.state
        n = int(ids.shape[0])
        s_max = int(st.prompt[ids].max())
        o_max = int(st.output[ids].max())
        need = self.kappa * n * (s_max + o_max)
        if need > self.kv_total * (1 + 1e-12):
            raise RuntimeError(
                f"static batch of {n} requests on instance {self.r} needs {need:.4g} B of KV memory, "
                f"the instance has {self.kv_total:.4g} B (the planner must respect memory)"
            )
        tau_pre = self.prefill_time(float(n * s_max))
        total = n * (s_max + np.arange(1, o_max + 1, dtype=np.int64))
        ends = t + tau_pre + np.cumsum(self.decode_times(n, total))
        end = float(ends[-1])
        st.admitted_s[ids] = t
        st.first_token_s[ids] = ends[0]
        st.server_energy_j[ids] += self.power_w * (end - t) / n
        self.busy_s += end - t
        self.prefill_steps += 1
        self.decode_steps += o_max
        self.padded_tokens += int(n * o_max - st.output[ids].sum())
        self.max_batch_seen = max(self.max_batch_seen, n)
        self.current = ids
        self.cur_ends = ends
        self.version += 1
        self.events.push(end, engine.BATCH_DONE, self.r, self.version)

    def on_event(self, t: float, version: int) -> None:
        if version != self.version or self.current is None:
            return
        ids = self.current
        self.current = None
        self.tokens += int(self.state.output[ids].sum())
        for q in ids.tolist():
            self.host.decode_done(q, t)
        self.try_start(t)

    def generated_by(self, t: float) -> dict[int, int]:
        if self.current is None:
            return {}
        steps = int(np.searchsorted(self.cur_ends, t, side="right"))
        out = np.minimum(self.state.output[self.current], steps)
        return dict(zip(self.current.tolist(), out.tolist(), strict=True))

    def close(self, t: float) -> None:
        """Count the work done by the horizon ``t``: the running batch up to ``t`` only."""
        if self.current is None:
            return
        end = float(self.cur_ends[-1])
        if end > t:
            ids = self.current
            self.busy_s -= end - t
            self.state.server_energy_j[ids] -= self.power_w * (end - t) / ids.shape[0]
            self.tokens += int(sum(self.generated_by(t).values()))


class SharedStaticServer(StaticInstance):
    """Static batches on a shared server: the hosted variants' batches run one at a time on the whole
    accelerator (FIFO over variants), each timed with its own variant's roofline; one KV pool,
    Mem - sum_v M_v. (Static batching has no iteration to interleave: a batch holds the server.)"""

    def __init__(self, actions: list[int], game: Game, host: Host) -> None:
        super().__init__(actions[0], game, host)
        ip = game.instances
        self.actions = list(actions)
        self.variant_of = {r: q for q, r in enumerate(self.actions)}
        self.roofs = [ip.roofline.at(r) for r in self.actions]
        self.kv_total = float(ip.memory_bytes[actions[0]] - sum(float(ip.weight_bytes[r]) for r in actions))
        self.tokens_by = np.zeros(len(self.actions), np.int64)
        self.current_variant = 0

    def try_start(self, t: float) -> None:
        if self.current is not None or not self.batches or self.batches[0][1] > 0:
            return
        q = self.variant_of[int(self.state.action[int(self.batches[0][0][0])])]
        self.roofline = self.roofs[q]
        self.current_variant = q
        super().try_start(t)

    def on_event(self, t: float, version: int) -> None:
        before = self.tokens
        q = self.current_variant
        super().on_event(t, version)
        self.tokens_by[q] += self.tokens - before

    def close(self, t: float) -> None:
        before = self.tokens
        super().close(t)
        self.tokens_by[self.current_variant] += self.tokens - before
