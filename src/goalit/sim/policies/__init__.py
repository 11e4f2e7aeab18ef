"""Decision policies of the simulator: who serves each request (docs/model.md B.8-B.11).

A policy decides at every arrival (``epoch_s=None``, i.e. ``decision_interval_s=0``) or at decision
epochs every ``epoch_s`` seconds. It sees a :class:`~goalit.sim.view.View`: the players (requests that
arrived and have not started service: new ones and, for a re-routing policy, those blocked in an
admission queue), each with its own prompt and output lengths, and the background load of everything in
service (:class:`~goalit.sim.view.Background`). It never sees the simulation. Requests in service (uplink
started, accepted by an instance, or running locally) never move.

Adding a policy is one file and one registration (docs/howto-add-a-policy.md): a :class:`Policy`
subclass (a dataclass; its fields are its options) and ``register_policy(name, cls)``, or an entry point
(:mod:`goalit.plugins`). Built in:

* ``goalit`` (:mod:`.goalit_policy`): the GOALIT protocol on the decision game, warm-started;
* ``ot-gah`` (:mod:`.otgah`): OT-GAH's epoch planner with static batches (docs/model.md B.10);
* ``ot-gah-continuous`` (:mod:`.otgah_continuous`), ``goalit-epochs`` (:mod:`.goalit_epochs`): the
  decomposition variants (OT-GAH's planner on continuous batching; GOALIT at epochs on static batches);
* ``optimum`` (:mod:`.optimum_policy`): the registry's optimum, small decisions by exact enumeration;
* ``greedy`` (:mod:`.greedy_policy`): the registry's greedy without the static metrics;
* ``goalit-refined`` (:mod:`.refined_policy`): the registry's refined GOALIT without the static metrics;
* ``least-loaded`` (:mod:`.least_loaded`): the baseline, counting the background load;
* ``local``, ``nearest-fp16``, ``nearest-q4``, ``random`` (:mod:`.routers`): the baselines' rules;
* every other algorithm of :data:`goalit.solvers.registry.REGISTRY` (:mod:`.registry`): solved on the
  decision game (background load folded in), its profile applied.

Requests blocked in an admission queue are players of ``goalit`` and of algorithms with
``traits_of(name).needs_players``; the one-shot routers (``least-loaded``, ``random``, ``nearest-*``,
``optimum`` per decision) place each request once (``reroute_queued=False``; settable).

Epoch-based algorithms (``goalit.solvers.contract.traits_of(name).epoch_based``) default to their
``default_epoch_s``; GOALIT to :data:`DEFAULT_DECISION_INTERVAL_S`; the others decide at each arrival.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from goalit.errors import GoalitInputError
from goalit.sim.policies.base import Policy
from goalit.sim.policies.goalit_epochs import GoalitEpochsPolicy
from goalit.sim.policies.goalit_policy import DEFAULT_DECISION_INTERVAL_S, GoalitPolicy
from goalit.sim.policies.greedy_policy import GreedyPolicy
from goalit.sim.policies.least_loaded import LeastLoadedPolicy
from goalit.sim.policies.optimum_policy import OptimumPolicy
from goalit.sim.policies.otgah import OtGahPolicy
from goalit.sim.policies.otgah_continuous import OtGahContinuousPolicy
from goalit.sim.policies.refined_policy import RefinedPolicy
from goalit.sim.policies.registry import RegistryPolicy
from goalit.sim.policies.routers import RouterPolicy
from goalit.sim.view import WAIT, Background, Decision, SubgameBuilder, View, background_game, restricted_game

__all__ = [
    "DEFAULT_DECISION_INTERVAL_S", "WAIT", "Background", "Decision", "GoalitEpochsPolicy", "GoalitPolicy", "GreedyPolicy",
    "LeastLoadedPolicy", "OptimumPolicy", "OtGahContinuousPolicy", "OtGahPolicy", "Policy", "RefinedPolicy", "RegistryPolicy", "RouterPolicy",
    "SubgameBuilder", "View", "background_game", "make_policy",
    "policy_names", "register_policy", "restricted_game",
]  # fmt: skip

# name -> Policy class; names not here that the solver registry knows run as RegistryPolicy.
POLICIES: dict[str, type[Policy]] = {
    "goalit": GoalitPolicy,
    "ot-gah": OtGahPolicy,
    "ot-gah-continuous": OtGahContinuousPolicy,
    "goalit-epochs": GoalitEpochsPolicy,
    "optimum": OptimumPolicy,
    "greedy": GreedyPolicy,
    "goalit-refined": RefinedPolicy,
    "least-loaded": LeastLoadedPolicy,
    "local": RouterPolicy,
    "nearest-fp16": RouterPolicy,
    "nearest-q4": RouterPolicy,
    "random": RouterPolicy,
}


def register_policy(name: str, cls: type[Policy]) -> None:
    """Make ``cls`` (a :class:`Policy` dataclass) the simulator policy ``name``."""
    if not (isinstance(cls, type) and issubclass(cls, Policy)):
        raise TypeError(f"policy {name}: {cls!r} is not a goalit.sim.Policy subclass")
    POLICIES[name] = cls


def policy_names() -> tuple[str, ...]:
    """Every policy name: ``goalit``, ``ot-gah``, the other registry algorithms, registered policies, then
    the plug-ins (entry-point group ``goalit.algorithms``, :mod:`goalit.plugins`)."""
    from goalit.solvers.registry import algorithm_names

    names = ["goalit", "ot-gah", *(n for n in algorithm_names() if n not in ("goalit", "ot-gah"))]
    return tuple(names + [n for n in POLICIES if n not in names])


def _interval(options: dict[str, Any]) -> tuple[bool, float | None]:
    """(given, epoch) from ``decision_interval_s`` (0: at each arrival) or its alias ``epoch_s``."""
    given = False
    epoch = None
    for key in ("decision_interval_s", "epoch_s"):
        if key in options:
            v = options.pop(key)
            if v is None:
                continue
            try:
                x = float(v)
            except (TypeError, ValueError):
                raise GoalitInputError(f"{key} must be a number, not {v!r}") from None
            zero_ok = key == "decision_interval_s"
            if not np.isfinite(x) or x < 0 or (x == 0 and not zero_ok):
                need = ">= 0 (0: at each arrival)" if zero_ok else "> 0"
                raise GoalitInputError(f"{key} must be a finite number {need}, not {v}")
            given, epoch = True, (x if x > 0 else None)
    return given, epoch


def _build(name: str, cls: type[Policy], options: dict[str, Any]) -> Policy:
    known = {f.name for f in dataclasses.fields(cls) if f.init and f.name not in ("name", "stats")}
    unknown = sorted(set(options) - known)
    if unknown:
        import difflib

        hints = [difflib.get_close_matches(u, sorted(known), n=1) for u in unknown]
        hint = "".join(f" (did you mean {h[0]!r}?)" for h in hints if h)
        raise GoalitInputError(
            f"policy {name}: unknown option(s) {', '.join(unknown)}{hint} "
            f"(expected decision_interval_s, {', '.join(sorted(known))})"
        )
    try:
        pol = cls(**options)
    except (TypeError, ValueError) as err:
        raise GoalitInputError(f"policy {name}: {err}") from None
    pol.name = name
    return pol


def make_policy(name: str, **options: Any) -> Policy:
    """The policy ``name`` with its options: ``decision_interval_s`` (alias ``epoch_s``),
    ``reroute_queued`` and the algorithm's own."""
    from goalit.solvers.contract import traits_of
    from goalit.solvers.registry import REGISTRY, unknown_algorithm

    names = policy_names()
    if name not in names:
        raise GoalitInputError(unknown_algorithm(name, names, "policy"))
    given, epoch = _interval(options)
    if given:
        options["epoch_s"] = epoch
    if name in POLICIES:
        return POLICIES[name].configured(name, options, _build)
    if name not in REGISTRY:
        import goalit.plugins as plugins

        cls = plugins.load(name)
        if plugins.is_policy_class(cls):
            return _build(name, cls, options)
    traits = traits_of(name)
    if not given and traits.epoch_based:
        options["epoch_s"] = traits.default_epoch_s
    # re-routing queued requests only pays for algorithms that weigh several players together (greedy);
    # one-shot routers re-place a queue by the same rule (measured: docs/simulator.md)
    reroute = options.pop("reroute_queued", traits.needs_players)
    epoch_s = options.pop("epoch_s", None)
    return RegistryPolicy(name=name, epoch_s=epoch_s, reroute_queued=bool(reroute), options=options)
