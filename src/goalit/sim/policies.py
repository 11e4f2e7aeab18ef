"""Decision policies of the simulator: who serves each request (spec B.8-B.11).

A policy is asked to decide at every arrival (``epoch_s=None``) or at every epoch boundary
(``epoch_s > 0``). It sees a :class:`View`: the game of all requests (Model A cost tables, built once),
the *movable* requests (arrived and not yet dispatched, plus, with ``reroute_queued``, requests blocked
in an instance's admission queue by KV memory) and the loads that requests already in service put on
every instance and AP. Requests in service (uplink started, accepted by an instance, or running
locally) never move.

* ``goalit``: the GOALIT protocol (:func:`goalit.game.goalit.goalit`) warm-started from the current
  actions of the movable requests (new ones start from :func:`~goalit.game.dynamics.isolated_start`);
  decisions with at most ``small_goalit.MAX_PLAYERS`` movable requests run the protocol's scalar twin
  :func:`goalit.sim.small_goalit.goalit_small` (same outcome and counters, tested), for speed.
  Requests in service are folded into the game as *background load*: the step table of instance r is
  shifted by its fixed load f_r, d'_r(n) = d_r(n + f_r), and AP j's sub-channel count becomes
  K_j - g_j. This is exactly the game in which the fixed requests are players whose action set is
  their current action (they never request an update; the loads everyone sees are the same), with the
  potential shifted by a constant, and it keeps the per-decision work proportional to the movable set.
* every algorithm of :data:`goalit.solvers.registry.REGISTRY` (``random``, ``least-loaded``,
  ``greedy``, ...): solved on the game of the movable requests *and* the requests in service, the
  latter with their action set restricted to their current action (beta = inf elsewhere), so load-aware
  baselines see the real loads. Their profile for the movable requests is applied.
* ``ot-gah``: centralised epoch planner (spec B.10, ``goalit.solvers.otgah.plan_epoch``) whose batches
  are served with static batching; requests it defers wait for the next epoch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from goalit.errors import GoalitInputError
from goalit.game import dynamics
from goalit.game.goalit import GRANTS, goalit
from goalit.game.model import USER_FIELDS, Game
from goalit.sim import small_goalit

if TYPE_CHECKING:  # pragma: no cover
    from goalit.sim.simulator import Simulation

WAIT = -1
# Default epoch of OT-GAH when none is given (s) [R]: a few decode steps' worth of batching window.
OTGAH_OPTIONS = ("one_level_per_server", "max_nodes", "model_capacity")  # plan_epoch keyword options
DEFAULT_OTGAH_EPOCH_S = 1.0
DEFAULT_GREEDY_EPOCH_S = 1.0  # [R] same decision period as OT-GAH's default epoch


@dataclass
class View:
    """What a policy sees at a decision at time ``t``.

    ``ids``: movable requests (indices into ``game`` users); ``current``: their current action (-1 if
    not dispatched yet); ``n_fixed`` / ``m_fixed``: loads (requests) of every action / AP due to
    requests in service; ``waited_s``: time since arrival of each movable request.
    """

    t: float
    game: Game
    ids: np.ndarray
    current: np.ndarray
    n_fixed: np.ndarray
    m_fixed: np.ndarray
    waited_s: np.ndarray
    rng: np.random.Generator
    sim: Simulation
    subgames: SubgameBuilder

    def fixed(self) -> tuple[np.ndarray, np.ndarray]:
        """Requests in service on instances (not movable) and their actions."""
        return self.sim.fixed_requests(self.ids)

    def available(self) -> np.ndarray:
        """(R+1,) bool: instance r can start a new static batch now (index 0, local: False)."""
        return self.sim.available()


@dataclass
class Decision:
    """Actions for ``View.ids`` (-1 wait, 0 local, r instance) and, for static policies, the batches."""

    actions: np.ndarray
    batches: dict[int, np.ndarray] | None = None


@dataclass
class Policy:
    """Base class: ``epoch_s`` None decides at each arrival; ``static`` serves with static batching."""

    name: str = "policy"
    epoch_s: float | None = None
    reroute_queued: bool = True
    static: bool = False
    stats: dict[str, Any] = field(default_factory=dict)

    def decide(self, view: View) -> Decision:  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "epoch_s": self.epoch_s, "reroute_queued": self.reroute_queued,
                "static_batching": self.static}  # fmt: skip

    def _count(self, key: str, value: int | float = 1) -> None:
        self.stats[key] = self.stats.get(key, 0) + value


class SubgameBuilder:
    """Builds the games of request subsets fast (a dict copy and a few small gathers per call).

    ``background(ids, n_fixed, m_fixed)``: the game of users ``ids`` with fixed loads folded in,
    d'_r(n) = d_r(n + f_r) and K'_j = K_j - g_j (see the module docstring). Its step and potential
    tables keep only the columns 0..|ids|+1 that loads of |ids| users can reach (column |ids|+1 is
    d'(|ids|+1), evaluated by a best response at load |ids|); ``restricted(...)``: the game of pinned
    users (action set = their current action) followed by free users, full tables.
    """

    def __init__(self, game: Game) -> None:
        self.game = game
        self.base = {f: getattr(game, f) for f in game.__dataclass_fields__}
        # allowed actions per user (Game.candidates, a cached property) depend on the user's row only
        self.per_user = {"candidates": game.candidates, "candidate_beta": game.candidate_beta}
        c = game.step_table.shape[1] - 1
        self.last_col = c
        self.rows = np.arange(game.n_actions)[:, None]
        self.cols = np.arange(c + 1)[None, :]

    def _game(self, kw: dict) -> Game:
        # Game is a frozen dataclass without __post_init__: filling __dict__ is what __init__ would do.
        g = object.__new__(Game)
        g.__dict__.update(kw)
        return g

    def take(self, ids: np.ndarray) -> dict:
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

    def background(
        self, ids: np.ndarray, n_fixed: np.ndarray, m_fixed: np.ndarray, potential: bool = True
    ) -> Game:
        """``potential=False`` leaves ``potential_table`` None (for callers that never evaluate Phi)."""
        kw = self.take(ids)
        for f, v in self.per_user.items():
            kw[f] = v[ids]
        width = min(ids.shape[0] + 2, self.last_col + 1)
        cols = np.minimum(self.cols[:, :width] + n_fixed[:, None], self.last_col)
        step = self.game.step_table[self.rows, cols]
        if self.game.shared:  # a shared server's iteration includes its other variants' fixed batches
            g = self.game.group_of[1:]
            shared_row = np.concatenate([[False], self.game.group_shared[g]])
            step[~shared_row, 0] = 0.0
            fixed_g = np.bincount(g, weights=n_fixed[1:], minlength=self.game.n_groups).astype(np.int64)
            kw["group_capacity"] = self.game.group_capacity - fixed_g
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


@dataclass
class GoalitPolicy(Policy):
    """GOALIT re-solved at each arrival (or epoch), warm-started; options as :func:`goalit`."""

    name: str = "goalit"
    grant: str = "parallel"
    epsilon: float | None = None
    max_slots: int | None = None

    def decide(self, view: View) -> Decision:
        small = view.ids.shape[0] <= small_goalit.MAX_PLAYERS and not view.game.shared
        sub = view.subgames.background(view.ids, view.n_fixed, view.m_fixed, potential=False)
        init = view.current.copy()
        new = init < 0
        if new.any():
            start = small_goalit.isolated_start_small if small else dynamics.isolated_start
            init[new] = start(sub)[new]
        if small:
            profile, slots, updates, messages, converged = small_goalit.goalit_small(
                sub, view.rng, init, self.grant, self.epsilon, self.max_slots
            )
        else:
            tr = goalit(sub, view.rng, initial=init, grant=self.grant, epsilon=self.epsilon,
                        max_slots=self.max_slots, record_potential=False)  # fmt: skip
            profile, slots, updates, messages, converged = (
                tr.profile, tr.slots, tr.updates, tr.messages, tr.converged,
            )  # fmt: skip
        self._count("decisions")
        self._count("slots", slots)
        self._count("updates", updates)
        self._count("messages", messages)
        self._count("not_converged", int(not converged))
        return Decision(profile)

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "grant": self.grant,
            "epsilon": self.epsilon,
            "max_slots": self.max_slots,
        }


@dataclass
class RegistryPolicy(Policy):
    """Any registry algorithm, solved with the requests in service pinned to their actions."""

    options: dict[str, Any] = field(default_factory=dict)

    def decide(self, view: View) -> Decision:
        from goalit.solvers.registry import get_solver

        fixed_ids, fixed_act = view.fixed()
        sub = view.subgames.restricted(fixed_ids, fixed_act, view.ids)
        res = get_solver(self.name)(sub, view.rng, **self.options)
        nf = fixed_ids.shape[0]
        prof = np.asarray(res.profile, np.int64)[nf:]
        ok = np.isfinite(sub.beta[np.arange(nf, sub.n_users), prof])
        if not ok.all():
            raise RuntimeError(
                f"policy {self.name!r} chose a disallowed action for request {view.ids[~ok][0]}"
            )
        self._count("decisions")
        self._count("slots", int(res.slots))
        self._count("updates", int(res.updates))
        self._count("messages", int(res.messages))
        return Decision(prof)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "options": {k: _plain(v) for k, v in self.options.items()}}


@dataclass
class OtGahPolicy(Policy):
    """OT-GAH at epoch boundaries, static batches (spec B.10); ``planner`` defaults to ``plan_epoch``."""

    name: str = "ot-gah"
    epoch_s: float | None = DEFAULT_OTGAH_EPOCH_S
    reroute_queued: bool = False
    static: bool = True
    planner: Any = None
    options: dict[str, Any] = field(default_factory=dict)

    def decide(self, view: View) -> Decision:
        planner = self.planner
        if planner is None:
            from goalit.solvers.otgah import plan_epoch as planner
        plan = planner(
            view.game, view.ids, available=view.available(), waited_s=view.waited_s, epoch_s=self.epoch_s,
            **self.options,
        )  # fmt: skip
        self._count("decisions")
        self._count("nodes_explored", int(getattr(plan, "nodes_explored", 0)))
        batches = {int(r): np.asarray(pos, np.int64) for r, pos in plan.batches.items() if len(pos)}
        return Decision(np.asarray(plan.assignment, np.int64), batches)

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        if self.options:
            d["options"] = {k: _plain(v) for k, v in self.options.items()}
        return d


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v if isinstance(v, int | float | str | bool | type(None) | list | dict) else repr(v)


def policy_names() -> tuple[str, ...]:
    """Every policy name: ``goalit``, ``ot-gah``, the other registry algorithms, then the plug-ins
    (entry-point group ``goalit.algorithms``, :mod:`goalit.plugins`)."""
    from goalit.solvers.registry import algorithm_names

    return ("goalit", "ot-gah", *(n for n in algorithm_names() if n not in ("goalit", "ot-gah")))


def _plugin_policy(
    name: str, cls: type[Policy], epoch_s: float | None, reroute: bool | None, options: dict[str, Any]
) -> Policy:
    """An instance of a plug-in's Policy class, named as registered; bad options are one line."""
    kw = dict(options)
    if epoch_s is not None:
        kw["epoch_s"] = float(epoch_s)
    if reroute is not None:
        kw["reroute_queued"] = bool(reroute)
    try:
        pol = cls(**kw)
    except TypeError as err:
        raise GoalitInputError(f"policy {name}: {err}") from None
    pol.name = name
    return pol


def make_policy(name: str, **options: Any) -> Policy:
    """The policy ``name`` with its options (``epoch_s``, ``reroute_queued`` and algorithm options)."""
    from goalit.solvers.registry import REGISTRY, unknown_algorithm

    names = policy_names()
    if name not in names:
        raise GoalitInputError(unknown_algorithm(name, names, "policy"))
    epoch_s = options.pop("epoch_s", None)
    if epoch_s is not None and not (float(epoch_s) > 0 and np.isfinite(epoch_s)):
        raise GoalitInputError(f"epoch_s must be a finite number > 0, not {epoch_s}")
    reroute = options.pop("reroute_queued", None)
    if name not in REGISTRY:
        from goalit import plugins

        cls = plugins.load(name)
        if plugins.is_policy_class(cls):
            return _plugin_policy(name, cls, epoch_s, reroute, options)
    if name == "goalit":
        unknown = set(options) - {"grant", "epsilon", "max_slots"}
        if unknown:
            raise GoalitInputError(
                f"policy goalit: unknown option(s) {', '.join(sorted(unknown))} "
                "(expected epoch_s, reroute_queued, grant, epsilon, max_slots)"
            )
        grant = options.get("grant", "parallel")
        if grant not in GRANTS:
            raise GoalitInputError(f"policy goalit: grant must be one of {', '.join(GRANTS)}, not {grant!r}")
        return GoalitPolicy(
            epoch_s=epoch_s, reroute_queued=True if reroute is None else bool(reroute), **options
        )
    if name == "ot-gah":
        planner = options.pop("planner", None)
        unknown = sorted(set(options) - set(OTGAH_OPTIONS))
        if unknown:
            raise GoalitInputError(f"policy ot-gah: unknown option {unknown[0]!r} "
                                   f"(expected epoch_s, planner, {', '.join(OTGAH_OPTIONS)})")  # fmt: skip
        return OtGahPolicy(
            epoch_s=DEFAULT_OTGAH_EPOCH_S if epoch_s is None else float(epoch_s),
            planner=planner,
            options=options,
        )
    if name == "greedy" and epoch_s is None:
        # "everyone best-responds at once" needs several players: at per-arrival decisions the one
        # newcomer's best response is exactly GOALIT's, so myopic greedy decides at epoch boundaries.
        epoch_s = DEFAULT_GREEDY_EPOCH_S
    return RegistryPolicy(
        name=name, epoch_s=epoch_s, reroute_queued=True if reroute is None else bool(reroute), options=options
    )
