"""``goalit-epochs``: GOALIT's decisions (the protocol of ``goalit`` on each decision's game) taken only at
epoch boundaries every ``epoch_s`` seconds and served with OT-GAH's static padded batches.

With ``ot-gah`` it isolates the decision effect under OT-GAH's serving (same epochs, same static
batches, other decision rule); with ``goalit`` the batching effect. The requests GOALIT sends to
instance r at one epoch form one static batch, filled in arrival order while it fits r's KV memory
(:func:`goalit.solvers.otgah.static_batch_fits`, the check OT-GAH's planner and the static instance
apply; :func:`batch_fits` is its scalar twin); those that do not fit wait (-1) for the next epoch, and a request that does not fit even alone
runs locally. As under ``ot-gah``, a batch starts only on an instance free at the epoch boundary
(``View.available``): requests GOALIT sends to a busy instance wait for the next epoch, where they play
again (``queue_busy=True`` instead queues their batch behind the running one; measured worse, see
docs/experiments.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from goalit.game.model import Game
from goalit.sim.policies.goalit_policy import GoalitPolicy
from goalit.sim.view import WAIT, Decision, View
from goalit.solvers.contract import DEFAULT_EPOCH_S


@dataclass
class GoalitEpochsPolicy(GoalitPolicy):
    """GOALIT at epoch boundaries, static batches; options as ``goalit`` (``epoch_s``: the epoch, s)."""

    name: str = "goalit-epochs"
    epoch_s: float | None = DEFAULT_EPOCH_S
    reroute_queued: bool = False
    static: bool = True
    queue_busy: bool = False

    def decide(self, view: View) -> Decision:
        dec = super().decide(view)
        acts = np.asarray(dec.actions, np.int64).copy()
        game = view.game
        s = np.asarray(game.prompt_tokens)[view.ids].tolist()
        o = np.asarray(game.output_tokens)[view.ids].tolist()
        batches: dict[int, np.ndarray] = {}
        free = view.available()
        for r in sorted(set(acts[acts >= 1].tolist())):
            pos = np.flatnonzero(acts == r)
            if not (free[r] or self.queue_busy):
                acts[pos] = WAIT
                continue
            pos = pos[np.argsort(view.ids[pos], kind="stable")]  # arrival order
            fits = batch_fits(game, r)
            keep: list[int] = []
            s_max = o_max = 0
            for p in pos.tolist():
                s2, o2 = max(s_max, int(s[p])), max(o_max, int(o[p]))
                if fits(len(keep) + 1, s2, o2):
                    keep.append(p)
                    s_max, o_max = s2, o2
                elif not keep and not fits(1, int(s[p]), int(o[p])):
                    acts[p] = 0  # never fits r's memory, even alone
                else:
                    acts[p] = WAIT
            if keep:
                batches[r] = np.asarray(keep, np.int64)
        self._count("deferred", int((acts == WAIT).sum()))
        return Decision(acts, batches, slots=dec.slots, converged=dec.converged, cycled=dec.cycled)


def batch_fits(game: Game, r: int) -> Callable[[int, int, int], bool]:
    """``fits(b, s_max, o_max)``: :func:`goalit.solvers.otgah.static_batch_fits` of instance ``r`` on
    Python floats (the same operations in the same order, so the same answer), for the per-request loop."""
    ip = game.instances
    kappa = float(ip.kv_bytes_per_token)
    if game.shared and game.shared_action[r]:
        pool = float(game.kv_free_bytes[r])

        def fits_pool(b: int, s_max: int, o_max: int) -> bool:
            return pool >= float(b) * kappa * (s_max + o_max)

        return fits_pool
    memory, weights = float(ip.memory_bytes[r]), float(ip.weight_bytes[r])

    def fits(b: int, s_max: int, o_max: int) -> bool:
        return memory >= weights + float(b) * kappa * (s_max + o_max)

    return fits
