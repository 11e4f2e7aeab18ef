"""The contract an algorithm declares: typed options and traits.

Every algorithm (static solver and, through it, simulator policy) declares

* its **options** as a frozen dataclass (:class:`Options` subclass); :func:`parse_options` turns keyword
  arguments into it, and an unknown or misspelt option is a one-line :class:`GoalitInputError` naming
  it and the known ones (``durationn_s=5.0`` no longer runs silently with the default);
* its **traits** (:class:`Traits`): what the simulator and the experiments need to know about it,
  instead of comparing its name with a string.

Built-in traits are in :data:`BUILTIN_TRAITS`; an algorithm without an entry has the defaults
(decides at each arrival or decision epoch, continuous batching, nothing to tune).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, TypeVar

from goalit.errors import GoalitInputError

# OT-GAH epoch lengths searched in the experiments (s) [R]: issue 13 asks for the best of this grid.
OTGAH_EPOCH_GRID_S: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)
# Default epoch of OT-GAH and of myopic greedy when none is given (s) [R]: a few decode steps' worth of
# batching window (docs/model.md B.10).
DEFAULT_EPOCH_S = 1.0


@dataclass(frozen=True)
class Traits:
    """What the simulator and the experiments need to know about an algorithm.

    ``epoch_based``: decides at epoch boundaries of ``default_epoch_s`` seconds rather than at each
    arrival (or decision interval). ``static_batching``: the batches it plans are served with static
    (padded) batching. ``epoch_grid_s``: epoch lengths the experiments tune it over, keeping the best
    (empty: not tuned). ``needs_players``: its decisions only differ from a best response when several
    requests decide together (so per-arrival use is pointless). ``relative_cost``: simulation cost per
    request relative to GOALIT's, a scheduling hint for sweeps (OT-GAH's tree search: ~3x [R]).
    """

    epoch_based: bool = False
    static_batching: bool = False
    default_epoch_s: float | None = None
    epoch_grid_s: tuple[float, ...] = ()
    needs_players: bool = False
    relative_cost: float = 1.0


BUILTIN_TRAITS: dict[str, Traits] = {
    "ot-gah": Traits(
        epoch_based=True,
        static_batching=True,
        default_epoch_s=DEFAULT_EPOCH_S,
        epoch_grid_s=OTGAH_EPOCH_GRID_S,
        relative_cost=3.0,
    ),
    # the decomposition variants (issue 13): OT-GAH's planner on continuous batching, GOALIT on OT-GAH's
    # epochs and static batches; both tuned over the same epoch grid as OT-GAH
    "ot-gah-continuous": Traits(
        epoch_based=True, default_epoch_s=DEFAULT_EPOCH_S, epoch_grid_s=OTGAH_EPOCH_GRID_S, relative_cost=3.0
    ),
    "goalit-epochs": Traits(
        epoch_based=True,
        static_batching=True,
        default_epoch_s=DEFAULT_EPOCH_S,
        epoch_grid_s=OTGAH_EPOCH_GRID_S,
    ),
    # "everyone best-responds at once" needs several players: with one newcomer per decision its
    # best response is exactly GOALIT's, so myopic greedy decides at epoch boundaries.
    "greedy": Traits(epoch_based=True, default_epoch_s=DEFAULT_EPOCH_S, needs_players=True),
}


def traits_of(name: str) -> Traits:
    """The traits of algorithm ``name`` (defaults for an algorithm that declares none)."""
    return BUILTIN_TRAITS.get(name, Traits())


@dataclass(frozen=True)
class Options:
    """Base of every algorithm's typed options (a frozen dataclass; subclass it and add fields)."""


OptionsT = TypeVar("OptionsT", bound=Options)


def parse_options(algorithm: str, cls: type[OptionsT], options: dict[str, Any]) -> OptionsT:
    """``cls(**options)``, with an unknown option a one-line error naming it and the known ones."""
    known = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(options) - set(known))
    if unknown:
        import difflib

        hints = [difflib.get_close_matches(u, known, n=1) for u in unknown]
        hint = "".join(f" (did you mean {h[0]!r}?)" for h in hints if h)
        raise GoalitInputError(
            f"{algorithm}: unknown option(s) {', '.join(unknown)}{hint}; known: {', '.join(known) or 'none'}"
        )
    return cls(**options)
