"""GOALIT as registry algorithms: plain ``goalit`` (docs/model.md B.9) and ``goalit-refined`` (game/refine.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from goalit.errors import GoalitInputError
from goalit.game.goalit import GRANTS, goalit
from goalit.game.model import Game
from goalit.game.refine import refine
from goalit.solvers.contract import Options
from goalit.solvers.result import SolveResult


@dataclass(frozen=True)
class GoalitOptions(Options):
    """``initial``: start profile (default the isolated start); ``grant``: parallel, max-gain or random;
    ``epsilon``: request threshold (default the game's); ``max_slots``: slot cap (default the game's)."""

    initial: Any = None
    grant: str = "parallel"
    epsilon: float | None = None
    max_slots: int | None = None

    def __post_init__(self) -> None:
        if self.grant not in GRANTS:
            raise GoalitInputError(f"grant must be one of {', '.join(GRANTS)}, not {self.grant!r}")


@dataclass(frozen=True)
class RefinedOptions(GoalitOptions):
    """GOALIT's options plus ``starts`` (GOALIT runs: plain + random starts), ``tries`` (exchanged
    profiles tried per round) and ``max_rounds`` (exchange rounds per start); see game/refine.py."""

    starts: int = 4
    tries: int = 32
    max_rounds: int = 50

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("starts", "tries", "max_rounds"):
            if int(getattr(self, name)) < 1:
                raise GoalitInputError(f"{name} must be an integer >= 1, not {getattr(self, name)!r}")


def _result(game: Game, name: str, tr: Any, opts: GoalitOptions, t0: float, **kw: Any) -> SolveResult:
    """The SolveResult of an equilibrium run ``tr`` (profile, convergence and protocol counters)."""
    res = SolveResult.of(game, name, tr.profile, converged=tr.converged, slots=tr.slots, updates=tr.updates,
                         messages=tr.messages, runtime_s=time.perf_counter() - t0, **kw)  # fmt: skip
    if opts.epsilon is not None:
        res.epsilon = float(opts.epsilon)
    return res


def solve_goalit(game: Game, rng: np.random.Generator, opts: GoalitOptions = GoalitOptions()) -> SolveResult:
    """GOALIT (docs/model.md B.9): best-response update requests until an epsilon-equilibrium (the paper's)."""
    t0 = time.perf_counter()
    tr = goalit(
        game, rng, initial=opts.initial, grant=opts.grant, epsilon=opts.epsilon, max_slots=opts.max_slots
    )
    return _result(game, "goalit", tr, opts, t0, potential_trace=tr.potential,
                   extras={"grant": opts.grant, "cycled": tr.cycled})  # fmt: skip


def solve_goalit_refined(
    game: Game, rng: np.random.Generator, opts: RefinedOptions = RefinedOptions()
) -> SolveResult:
    """GOALIT, then exchange moves and several starts: the cheapest epsilon-equilibrium found (PoS)."""
    t0 = time.perf_counter()
    tr = refine(
        game, rng, initial=opts.initial, grant=opts.grant, epsilon=opts.epsilon, max_slots=opts.max_slots,
        starts=int(opts.starts), tries=int(opts.tries), max_rounds=int(opts.max_rounds),
    )  # fmt: skip
    return _result(game, "goalit-refined", tr, opts, t0, extras={
        "grant": opts.grant, "plain_social_cost": tr.plain_social_cost, "plain_converged": tr.plain.converged,
        "starts": tr.starts, "exchange_rounds": tr.rounds, "exchanges_tried": tr.tried,
        "exchanges_accepted": tr.accepted,
    })  # fmt: skip
