"""``least-loaded``: the baseline of :func:`goalit.solvers.baselines.least_loaded` on dynamic load.

Players in index order join the allowed instance of the reference level with the fewest requests,
counting the background load (requests in service) and the players placed before them; ties go to the
shortest uplink. The same rule as the registry baseline on the game in which requests in service are
pinned players listed first, in O(players x actions) per decision instead of O(requests in service).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from goalit.sim.policies.base import Policy
from goalit.sim.view import Decision, View


@dataclass
class LeastLoadedPolicy(Policy):
    """Least-loaded at each decision, with the background load counted."""

    name: str = "least-loaded"
    reroute_queued: bool = False  # a router: each request placed once (docs/simulator.md)
    level: str = "q4"

    @classmethod
    def configured(cls, name: str, options: dict[str, Any], build: Callable[..., Policy]) -> Policy:
        return build(name, cls, options)

    def decide(self, view: View) -> Decision:
        from goalit.solvers.baselines import _fallback, level_actions

        game = view.game
        sub = view.subgames.users(view.ids)
        allowed = sub.allowed & level_actions(game, self.level)[None, :]
        placed = allowed.any(axis=1)
        # the fallback (local, else the cheapest instance alone) only for players with no instance at the level
        a = np.zeros(view.ids.shape[0], np.int64) if placed.all() else _fallback(sub)
        n = view.background.n_fixed.copy()
        up = sub.uplink_s
        for i in np.flatnonzero(placed).tolist():
            cand = np.flatnonzero(allowed[i])
            order = np.lexsort((up[i, cand], n[cand]))
            a[i] = cand[order[0]]
            n[a[i]] += 1
        self._count("decisions")
        return Decision(np.asarray(a, np.int64))
