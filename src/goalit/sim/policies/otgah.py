"""``ot-gah``: OT-GAH's centralised epoch planner (docs/model.md B.10, ``goalit.solvers.otgah.plan_epoch``); its
batches are served with static batching; requests it defers wait for the next epoch."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from goalit.errors import GoalitInputError
from goalit.sim.policies.base import Policy
from goalit.sim.view import Decision, View
from goalit.solvers.contract import DEFAULT_EPOCH_S

DEFAULT_OTGAH_EPOCH_S = DEFAULT_EPOCH_S
OTGAH_OPTIONS = ("one_level_per_server", "max_nodes", "model_capacity")  # plan_epoch keyword options


@dataclass
class OtGahPolicy(Policy):
    """OT-GAH at epoch boundaries, static batches; ``planner`` defaults to ``plan_epoch``."""

    name: str = "ot-gah"
    epoch_s: float | None = DEFAULT_OTGAH_EPOCH_S
    reroute_queued: bool = False
    static: bool = True
    planner: Any = None
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def configured(cls, name: str, options: dict[str, Any], build: Callable[..., Policy]) -> Policy:
        epoch = options.pop("epoch_s", None)
        planner = options.pop("planner", None)
        unknown = sorted(set(options) - set(OTGAH_OPTIONS))
        if unknown:
            raise GoalitInputError(f"policy {name}: unknown option {unknown[0]!r} "
                                   f"(expected epoch_s, planner, {', '.join(OTGAH_OPTIONS)})")  # fmt: skip
        return cls(epoch_s=DEFAULT_OTGAH_EPOCH_S if epoch is None else float(epoch), planner=planner,
                   options=options)  # fmt: skip

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
            d["options"] = {k: plain(v) for k, v in self.options.items()}
        return d


def plain(v: Any) -> Any:
    """A JSON-ready option value."""
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v if isinstance(v, int | float | str | bool | type(None) | list | dict) else repr(v)
