"""The owned state of one simulation run: the request table and the loads, updated through methods.

Every per-request array (times, actions, status, energy) and every load a policy may see lives here;
the simulator and the instances change it only through the methods below, which keep the loads in step
with the request table in O(1) per call. Policies never see this object: they get a
:class:`~goalit.sim.view.Background` snapshot (copies) and a read-only :class:`StateView`.

Loads (all counted as the physics holds them):

* ``held[r]``: requests on action r from dispatch (uplink start) to their last token; ``queued[r]``
  (and ``queued_ctx``, ``queued_kv``) the part of them blocked in r's admission queue, which a
  re-routing policy treats as movable players rather than load;
* ``held_ctx[r]``: the sum of their own mean contexts s_k + o_k / 2 (tokens), the context a request
  attends on average over its decode (docs/model.md B.5), from its own lengths;
* ``held_kv[e]``: the KV bytes kappa (s_k + o_k) they reserve (or will reserve when their prompt
  arrives) on engine e (a partitioned instance, or a shared server's one pool);
* ``uplinks[j]``: uplink transfers of AP j in flight or waiting for a sub-channel; a sub-channel is
  held only while a transfer is in flight (docs/model.md B.4), so requests in service are *not* counted on K_j.
"""

from __future__ import annotations

import numpy as np

UNDECIDED = -2
REJECTED = -1
# request status codes (records: "completed", "unfinished", "rejected")
STATUS_NAMES = ("unfinished", "completed", "rejected")
UNFINISHED, COMPLETED, REJECT = 0, 1, 2


class SimState:
    """Request table and loads of one run (see the module docstring).

    ``engine_of[r]``: the engine index of action r (-1 local); ``kappa``: KV bytes per token.
    """

    def __init__(
        self,
        arrival_s: np.ndarray,
        prompt: np.ndarray,
        output: np.ndarray,
        server_of: np.ndarray,
        n_servers: int,
        engine_of: np.ndarray,
        n_engines: int,
        kappa: float,
    ) -> None:
        n = int(prompt.shape[0])
        self.n = n
        self.arrival = np.asarray(arrival_s, float)
        self.prompt = np.asarray(prompt, np.int64)
        self.output = np.asarray(output, np.int64)
        self.ctx = (self.prompt + self.output / 2.0).tolist()  # own mean context (tokens)
        self.kv = (float(kappa) * (self.prompt + self.output)).tolist()  # own KV reservation (bytes)
        self.server_of = np.asarray(server_of, np.int64)
        self.engine_of = np.asarray(engine_of, np.int64)
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
        n_act = self.server_of.shape[0]
        self.held = np.zeros(n_act, np.int64)
        self.held_ctx = np.zeros(n_act)
        self.held_kv = np.zeros(max(n_engines, 0))
        self.queued = np.zeros(n_act, np.int64)
        self.queued_ctx = np.zeros(n_act)
        self.queued_kv = np.zeros(max(n_engines, 0))
        self.uplinks = np.zeros(n_servers, np.int64)
        self.pending: dict[int, None] = {}  # arrived, not dispatched (insertion-ordered set)
        self.queued_at: dict[int, int] = {}  # blocked in an admission queue -> its action

    # -- request life ---------------------------------------------------------------------------------

    def arrive(self, k: int) -> None:
        self.pending[k] = None

    def reject(self, k: int) -> None:
        self.action[k] = REJECTED
        self.status[k] = REJECT

    def _hold(self, k: int, r: int, sign: int) -> None:
        self.held[r] += sign
        self.held_ctx[r] += sign * self.ctx[k]
        e = self.engine_of[r]
        if e >= 0:
            self.held_kv[e] += sign * self.kv[k]

    def dispatch(self, k: int, r: int, t: float) -> None:
        """A pending request leaves the pending set for action ``r`` (0: its device) at ``t``."""
        del self.pending[k]
        self.dispatch_s[k] = t
        self.action[k] = r

    def start_local(self, k: int, t: float) -> None:
        self.action[k] = 0
        self.local_start_s[k] = t

    def start_uplink(self, k: int, r: int, start_s: float, duration_s: float) -> None:
        """Request k's prompt is sent to instance r (it is held on r from now, its AP's channel too)."""
        self.action[k] = r
        self._hold(k, r, +1)
        self.uplinks[self.server_of[r]] += 1
        self.uplink_start_s[k] = start_s
        self.tx_s[k] += duration_s

    def end_uplink(self, k: int, t: float) -> None:
        self.uplink_done_s[k] = t
        self.uplinks[self.server_of[self.action[k]]] -= 1

    def move_queued(self, k: int, r: int) -> None:
        """A blocked request changes instance within its server (no new transfer)."""
        self.action[k] = r
        self._hold(k, r, +1)

    def _queue(self, k: int, r: int, sign: int) -> None:
        self.queued[r] += sign
        self.queued_ctx[r] += sign * self.ctx[k]
        e = self.engine_of[r]
        if e >= 0:
            self.queued_kv[e] += sign * self.kv[k]

    def block(self, k: int, r: int) -> None:
        """Request k waits in r's admission queue (still held on r; movable for a re-routing policy)."""
        self.queued_at[k] = r
        self._queue(k, r, +1)

    def unblock(self, k: int) -> None:
        """Request k leaves its admission queue by being accepted."""
        self._queue(k, self.queued_at.pop(k), -1)

    def withdraw(self, k: int) -> int:
        """Request k leaves its admission queue and r to be re-routed; returns the action r it left."""
        r = self.queued_at.pop(k)
        self._queue(k, r, -1)
        self._hold(k, r, -1)
        self.reroutes[k] += 1
        return r

    def last_token(self, k: int, t: float) -> None:
        r = int(self.action[k])
        self.last_token_s[k] = t
        self.generated[k] = self.output[k]
        self._hold(k, r, -1)

    def finish_local(self, k: int, t: float, first_token_s: float) -> None:
        """Request k ran on its device and is done at ``t``."""
        self.first_token_s[k] = first_token_s
        self.last_token_s[k] = t
        self.generated[k] = self.output[k]
        self.complete(k, t)

    def complete(self, k: int, t: float) -> None:
        self.done_s[k] = t
        self.status[k] = COMPLETED


class StateView:
    """Read-only access to a run's request table (arrays are non-writeable views)."""

    __slots__ = ("_s",)

    def __init__(self, state: SimState) -> None:
        self._s = state

    def __getattr__(self, name: str) -> np.ndarray:
        if name not in _VISIBLE:
            raise AttributeError(name)
        a: np.ndarray = getattr(self._s, name).view()
        a.flags.writeable = False
        return a


_VISIBLE = frozenset(
    ("arrival", "prompt", "output", "action", "status", "dispatch_s", "uplink_start_s", "uplink_done_s",
     "admitted_s", "first_token_s",
     "last_token_s", "done_s", "reroutes")
)  # fmt: skip
