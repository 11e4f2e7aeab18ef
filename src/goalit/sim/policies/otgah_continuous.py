"""``ot-gah-continuous``: OT-GAH's epoch planner (the same ``plan_epoch`` decisions at the same epoch
boundaries as ``ot-gah``) served by the continuous-batching instances instead of static padded batches.

With ``ot-gah`` it isolates the batching effect: same decision rule, other serving discipline. Continuous
instances are always available to the planner (``View.available``); the requests of a planned batch are
sent to its instance one by one and join its running batch (admission by KV memory, as for every
continuous policy); deferred requests wait (-1) for the next epoch, as under ``ot-gah``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from goalit.sim.policies.otgah import OtGahPolicy
from goalit.sim.view import Decision, View


@dataclass
class OtGahContinuousPolicy(OtGahPolicy):
    """OT-GAH's planner at epoch boundaries, continuous batching (options as ``ot-gah``)."""

    name: str = "ot-gah-continuous"
    static: bool = False

    def decide(self, view: View) -> Decision:
        dec = super().decide(view)
        return Decision(np.asarray(dec.actions, np.int64))
