"""Algorithms and simulator policies from other packages, found through the entry-point group ``goalit.algorithms``.

A package declares, in its ``pyproject.toml``::

    [project.entry-points."goalit.algorithms"]
    my-algo = "my_package.module:solve_my_algo"      # a solver: (game, rng, **options) -> SolveResult
    my-policy = "my_package.module:MyPolicy"         # a simulator policy: a goalit.sim.Policy subclass

A *solver* runs everywhere a registry algorithm runs (``solve``, ``compare``, ``simulate`` as a
policy re-solved at each decision, ``reproduce``, ``serve``); a *policy* class runs in the simulator
only (``simulate``, ``reproduce``). Entry points are read once per process (``refresh`` re-reads them)
and an object is imported only when its name is used. A plug-in cannot replace a built-in name.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from typing import Any

from goalit.errors import GoalitInputError

__all__ = ["GROUP", "Plugin", "is_policy_class", "load", "plugins", "refresh"]

GROUP = "goalit.algorithms"  # the entry-point group plug-ins declare


@dataclass(frozen=True)
class Plugin:
    """One entry point of the group: its name, ``module:attr`` and the distribution that declares it."""

    name: str
    value: str
    distribution: str

    def load(self) -> Any:
        """The object the entry point names (imports its module); a failure is one GoalitInputError line."""
        ep = metadata.EntryPoint(self.name, self.value, GROUP)
        try:
            return ep.load()
        except Exception as err:  # noqa: BLE001 - any import failure of third-party code is reported in one line
            raise GoalitInputError(
                f"plug-in {self.name!r} ({self.value}, from {self.distribution}) failed to load: "
                f"{type(err).__name__}: {err}"
            ) from None


@cache
def plugins() -> dict[str, Plugin]:
    """Every entry point of ``goalit.algorithms`` on ``sys.path``, by name (first distribution wins)."""
    out: dict[str, Plugin] = {}
    for ep in metadata.entry_points(group=GROUP):
        dist = ep.dist.name if ep.dist is not None else "?"
        out.setdefault(ep.name, Plugin(ep.name, ep.value, dist))
    return dict(sorted(out.items()))


def refresh() -> None:
    """Forget the entry points read so far (after installing a package in a running process)."""
    plugins.cache_clear()
    _loaded.cache_clear()


@cache
def _loaded(name: str) -> Any:
    return plugins()[name].load()


def load(name: str) -> Any:
    """The object registered as ``name`` (KeyError if no plug-in has that name)."""
    if name not in plugins():
        raise KeyError(name)
    return _loaded(name)


def is_policy_class(obj: Any) -> bool:
    """True for a simulator policy (a ``goalit.sim.Policy`` subclass), False for a solver function.

    Looked up in ``sys.modules`` rather than imported: this module sits below the simulator (the solver
    registry reads it), and a class can only subclass ``Policy`` once its module has been imported.
    """
    base = sys.modules.get("goalit.sim.policies.base")
    return base is not None and isinstance(obj, type) and issubclass(obj, base.Policy)
