"""What a policy sees and returns: :class:`View` (read-only), :class:`Decision`, and the subgames of a decision.

A decision's *players* are the movable requests (``View.ids``): arrived and not dispatched, plus, for a
re-routing policy, those blocked in an admission queue. Everything else in service is *background load*
(:class:`Background`), counted as the physics holds it (see :mod:`goalit.sim.state`): requests per
instance with their own contexts, the KV memory they reserve, and the uplink transfers in flight per AP.
The cost per decision depends on the number of players and actions, never on how many requests are in
service.

:meth:`SubgameBuilder.loaded` builds the decision game of the players on that background, with every
player's own prompt and output lengths (Model A costs alpha_i, beta_i) and step times from the real
contexts: instance r's step at m players is

    d'_r(m) = d_r(f_r + m, L_r + m l_P)          (s/token),

f_r the requests held on r, L_r the sum of their own mean contexts s_k + o_k / 2 and l_P the players'
mean context, plus H when the players' KV reservations exceed r's free KV memory (partitioned instance),
or, on a shared server, its group capacity is the free pool in players' reservations. AP j's sub-channel
count is K_j - (uplinks in flight at j). The simulator admits by the same bytes and holds a sub-channel
for the same transfers (tests/sim/test_sim_capacity.py checks that they agree at every decision).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from goalit.game.model import USER_FIELDS, Game
from goalit.physics import llm
from goalit.sim.state import StateView

WAIT = -1


@dataclass(frozen=True)
class Background:
    """Loads of the requests in service that are not players (copies; shapes: R+1 actions, M APs).

    ``n_fixed[r]``: requests; ``ctx_fixed[r]``: the sum of their own mean contexts (tokens);
    ``m_fixed[j]``: uplink transfers in flight or waiting at AP j; ``kv_free_bytes[r]``: KV memory of r's
    pool not reserved by them (bytes; a shared server's variants share one value; entry 0 unused).
    """

    n_fixed: np.ndarray
    ctx_fixed: np.ndarray
    m_fixed: np.ndarray
    kv_free_bytes: np.ndarray


@dataclass
class View:
    """What a policy sees at a decision at time ``t`` (never the simulation itself).

    ``ids``: the players (indices into ``game`` users; their own lengths are ``game.prompt_tokens`` /
    ``game.output_tokens`` at those rows); ``current``: their current action (-1 if not dispatched yet);
    ``background``: the load of everything else; ``waited_s``: time since arrival of each player;
    ``state``: read-only request table of the run (:class:`~goalit.sim.state.StateView`).
    """

    t: float
    game: Game
    ids: np.ndarray
    current: np.ndarray
    background: Background
    waited_s: np.ndarray
    rng: np.random.Generator
    subgames: SubgameBuilder
    state: StateView
    _available: Callable[[], np.ndarray] = field(repr=False, default=lambda: np.zeros(0, bool))

    @property
    def n_fixed(self) -> np.ndarray:
        return self.background.n_fixed

    @property
    def m_fixed(self) -> np.ndarray:
        return self.background.m_fixed

    def subgame(self, potential: bool = True) -> Game:
        """The decision game of the players on the background (module docstring)."""
        return self.subgames.loaded(self.ids, self.background, potential=potential)

    def available(self) -> np.ndarray:
        """(R+1,) bool: instance r can start a new static batch now (index 0, local: False)."""
        return self._available()


@dataclass
class Decision:
    """Actions for ``View.ids`` (-1 wait, 0 local, r instance) and, for static policies, the batches.

    ``slots`` / ``converged`` / ``cycled``: what the algorithm reports about this decision (None when it
    is not an equilibrium search); the simulator aggregates them into the run's decision metrics.
    """

    actions: np.ndarray
    batches: dict[int, np.ndarray] | None = None
    slots: int = 0
    converged: bool | None = None
    cycled: bool = False


def _decode_rows(roof: Any, n: np.ndarray, ctx: np.ndarray) -> np.ndarray:
    """d_r(n, ctx) for every row r of ``n`` / ``ctx`` (R+1, W); 0 where n = 0 or r has no share."""
    ok = np.asarray(roof.share, float) > 0

    def col(x: Any, fill: float) -> np.ndarray:
        out: np.ndarray = np.where(ok, x, fill)[:, None]
        return out

    d = llm.decode_step_time_s(
        n, ctx, roof.params, np.asarray(roof.weight_bytes)[:, None], roof.kv_bytes_per_token,
        col(roof.share, 1.0), col(roof.flops, 1.0), col(roof.mem_bw, 1.0), col(roof.eta_c, 1.0),
        col(roof.eta_m, 1.0), np.asarray(roof.overhead_s)[:, None],
    )  # fmt: skip
    return np.where(ok[:, None] & (n > 0), d, 0.0)


class SubgameBuilder:
    """Builds the games of request subsets fast (a dict copy and a few small gathers per call).

    ``loaded(ids, background)``: the decision game (module docstring). ``background(ids, n_fixed,
    m_fixed)``: the nominal-context variant, d'_r(n) = d_r(n + f_r) from the full game's table and
    K'_j = K_j - g_j (kept for the environment's features and for tests); ``restricted(...)``: the game of
    pinned users (action set = their current action) followed by free users, full tables.
    """

    def __init__(self, game: Game, step_table: Any = None) -> None:
        """``step_table``: the run's measured :class:`~goalit.physics.step_table.StepTable` (None: the
        roofline); the decision game then prices the instances of the levels it holds with it, as the
        instances run."""
        self.game = game
        self.base = {f: getattr(game, f) for f in game.__dataclass_fields__}
        self.table = step_table
        self.table_rows = (
            []
            if step_table is None
            else [(r, str(game.level_of[r])) for r in range(1, game.n_actions)
                  if str(game.level_of[r]) in step_table.levels]
        )  # fmt: skip
        # allowed actions per user (Game.candidates, a cached property) depend on the user's row only
        self.per_user = {"candidates": game.candidates, "candidate_beta": game.candidate_beta}
        c = game.step_table.shape[1] - 1
        self.last_col = c
        self.rows = np.arange(game.n_actions)[:, None]
        self.cols = np.arange(c + 1)[None, :]
        self.shared_row = np.zeros(game.n_actions, bool)
        if game.shared:
            group_of, _, group_shared = game.groups()
            self.shared_row[1:] = group_shared[group_of[1:]]
        self.partitioned = ~self.shared_row
        self.partitioned[0] = False
        self.any_partitioned = bool(self.partitioned.any())  # else loaded() skips the KV penalty's steps
        # one group per partitioned instance or shared server: its representative action
        self.group_rep = np.zeros(game.n_groups, np.int64)
        if game.group_of is not None:
            for r in range(game.n_actions - 1, 0, -1):
                self.group_rep[game.group_of[r]] = r
        self.kappa = float(game.instances.kv_bytes_per_token)
        # d_r(n, L) = max(a_r + b_r L, c_r n) + o_r (docs/model.md B.5), coefficients per row, for loaded()
        roof = game.instances.roofline
        self.ok = np.asarray(roof.share, float) > 0
        self.off = ~self.ok[:, None]
        ok = self.ok

        def pick(x: Any) -> np.ndarray:
            return np.where(ok, x, 1.0)

        bw = pick(roof.eta_m) * pick(roof.share) * pick(roof.mem_bw)
        self.a = (np.asarray(roof.weight_bytes, float) / bw)[:, None]
        self.b = (roof.kv_bytes_per_token / bw)[:, None]
        self.c = (2.0 * roof.params / (pick(roof.eta_c) * pick(roof.share) * pick(roof.flops)))[:, None]
        self.o = np.asarray(roof.overhead_s, float)[:, None] * np.ones((game.n_actions, 1))

    def _game(self, kw: dict[str, Any]) -> Game:
        # Game is a frozen dataclass without __post_init__: filling __dict__ is what __init__ would do.
        g = object.__new__(Game)
        g.__dict__.update(kw)
        return g

    def take(self, ids: np.ndarray) -> dict[str, Any]:
        kw = dict(self.base)
        if ids.shape[0] == 1:  # a view, no copy
            k = int(ids[0])
            for f in USER_FIELDS:
                kw[f] = self.base[f][k : k + 1]
        else:
            for f in USER_FIELDS:
                kw[f] = self.base[f][ids]
        kw["n_users"] = int(ids.shape[0])
        return kw

    def users(self, ids: np.ndarray) -> Game:
        """The game of users ``ids`` with the full game's (nominal, empty-system) tables, truncated to the
        loads |ids| users can reach (columns 0..|ids|+1), as in :meth:`background`."""
        kw = self.take(ids)
        width = min(ids.shape[0] + 2, self.last_col + 1)
        kw["step_table"] = self.game.step_table[:, :width]
        kw["potential_table"] = self.game.potential_table[:, :width]
        return self._game(kw)

    def loaded(self, ids: np.ndarray, bg: Background, potential: bool = True) -> Game:
        """The decision game of players ``ids`` on background ``bg`` (module docstring)."""
        game = self.game
        kw = self.take(ids)
        for f, v in self.per_user.items():
            kw[f] = v[ids]
        n_p = int(ids.shape[0])
        s = kw["prompt_tokens"]
        o = kw["output_tokens"]
        if n_p == 1:  # the mean of one value is that value: the same floats without two reductions
            s0, o0 = float(s[0]), float(o[0])
            l_p, kv_p = s0 + o0 / 2.0, self.kappa * (s0 + o0)
        else:
            l_p = float((s + o / 2.0).mean()) if n_p else 0.0
            kv_p = self.kappa * float((s + o).mean()) if n_p else 1.0
        m = np.arange(n_p + 2, dtype=float)[None, :]
        n = bg.n_fixed[:, None] + m
        step = np.maximum(self.a + self.b * (bg.ctx_fixed[:, None] + m * l_p), self.c * n) + self.o
        for r, level in self.table_rows:  # measured steps at the batch and total context the row holds
            step[r] = self.table.decode_step_time_s(level, n[r], bg.ctx_fixed[r] + m[0] * l_p)
        step[(n <= 0) | self.off] = 0.0
        free_seq = np.floor(np.maximum(bg.kv_free_bytes, -kv_p) / max(kv_p, 1e-300)).astype(np.int64)
        if self.any_partitioned:
            over = self.partitioned[:, None] & (m > free_seq[:, None])
            step = step + np.where(over, game.penalty_s, 0.0)
            step[self.partitioned, 0] = 0.0
        step[0] = 0.0
        if game.shared:
            _, group_capacity, group_shared = game.groups()
            kw["group_capacity"] = np.where(group_shared, free_seq[self.group_rep], group_capacity)
        kw["step_table"] = step
        kw["potential_table"] = np.cumsum(step, axis=1) if potential else None
        kw["subchannels"] = game.subchannels - bg.m_fixed
        return self._game(kw)

    def background(
        self, ids: np.ndarray, n_fixed: np.ndarray, m_fixed: np.ndarray, potential: bool = True
    ) -> Game:
        """Nominal-context background game; ``potential=False`` leaves ``potential_table`` None."""
        kw = self.take(ids)
        for f, v in self.per_user.items():
            kw[f] = v[ids]
        width = min(ids.shape[0] + 2, self.last_col + 1)
        cols = np.minimum(self.cols[:, :width] + n_fixed[:, None], self.last_col)
        step = self.game.step_table[self.rows, cols]
        if self.game.shared:  # a shared server's iteration includes its other variants' fixed batches
            group_of, group_capacity, _ = self.game.groups()
            g = group_of[1:]
            step[~self.shared_row, 0] = 0.0
            fixed_g = np.bincount(g, weights=n_fixed[1:], minlength=self.game.n_groups).astype(np.int64)
            kw["group_capacity"] = group_capacity - fixed_g
        else:
            step[:, 0] = 0.0
        kw["step_table"] = step
        kw["potential_table"] = np.cumsum(step, axis=1) if potential else None
        kw["subchannels"] = self.game.subchannels - m_fixed
        return self._game(kw)

    def restricted(self, fixed_ids: np.ndarray, fixed_actions: np.ndarray, ids: np.ndarray) -> Game:
        kw = self.take(np.concatenate([fixed_ids, ids]).astype(np.int64))
        nf = fixed_ids.shape[0]
        if nf:
            beta = kw["beta"].copy()
            rows = np.arange(nf)
            keep = beta[rows, fixed_actions]
            beta[:nf] = np.inf
            beta[rows, fixed_actions] = keep
            kw["beta"] = beta
        return self._game(kw)


def background_game(game: Game, ids: np.ndarray, n_fixed: np.ndarray, m_fixed: np.ndarray) -> Game:
    """The game of users ``ids`` with fixed loads folded in: d'_r(n) = d_r(n + f_r), K'_j = K_j - g_j."""
    return SubgameBuilder(game).background(
        np.asarray(ids, np.int64), np.asarray(n_fixed), np.asarray(m_fixed)
    )


def restricted_game(game: Game, fixed_ids: np.ndarray, fixed_actions: np.ndarray, ids: np.ndarray) -> Game:
    """The game of ``fixed_ids`` (action set = their current action) followed by ``ids`` (free)."""
    return SubgameBuilder(game).restricted(fixed_ids, fixed_actions, ids)
