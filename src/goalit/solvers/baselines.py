"""Baselines of docs/model.md B.11: all-local, nearest at FP16 / 4-bit, random, least-loaded, myopic greedy.

"Nearest" server = the reachable server with the shortest uplink delay of the user's prompt (the
nearest one when the APs are alike, since the delay grows with path loss). A user with no allowed
action of the kind a baseline asks for runs locally; a user whose local model is not allowed either
takes its cheapest instance on an otherwise empty system (``dynamics.isolated_start``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from goalit.game import dynamics, goalit_scalar
from goalit.game.model import LOCAL, Game
from goalit.solvers.contract import Options
from goalit.solvers.result import SolveResult


def _fallback(game: Game) -> np.ndarray:
    """Local where allowed, else the cheapest instance alone."""
    return dynamics.isolated_start(game)


def level_actions(game: Game, level: str) -> np.ndarray:
    """Mask (R+1,) of the instances at quantization level ``level`` (a name, or ``q4`` for any 4-bit one)."""
    names = np.asarray(game.level_of, dtype=str)
    if level == "q4":
        mask = np.char.startswith(names, "q4")
    else:
        mask = names == level
    mask[LOCAL] = False
    return mask


def nearest_at_level(game: Game, level: str) -> tuple[np.ndarray, int]:
    """Each user on the nearest server hosting an allowed instance at ``level``; (profile, users placed)."""
    ok = game.allowed & level_actions(game, level)[None, :]
    delay = np.where(ok, game.uplink_s, np.inf)
    r = np.argmin(delay, axis=1)
    placed = np.isfinite(delay[np.arange(game.n_users), r])
    return np.where(placed, r, _fallback(game)), int(placed.sum())


def random_profile(game: Game, rng: np.random.Generator) -> np.ndarray:
    """Each user on a uniformly random allowed instance (any server and level); local if none."""
    ok = game.allowed.copy()
    ok[:, LOCAL] = False
    a = _fallback(game)
    for i in np.flatnonzero(ok.any(axis=1)).tolist():
        a[i] = rng.choice(np.flatnonzero(ok[i]))
    return a


def least_loaded(game: Game, level: str) -> np.ndarray:
    """Users in index order join the allowed ``level`` instance with the fewest users so far.

    Ties go to the shortest uplink delay. Users with no allowed instance at ``level`` run locally.
    """
    ok = game.allowed & level_actions(game, level)[None, :]
    a = _fallback(game)
    n = np.zeros(game.n_actions, dtype=np.int64)
    for i in np.flatnonzero(ok.any(axis=1)).tolist():
        cand = np.flatnonzero(ok[i])
        order = np.lexsort((game.uplink_s[i, cand], n[cand]))
        a[i] = cand[order[0]]
        n[a[i]] += 1
    return a


def greedy(
    game: Game, epsilon: float | None = None, max_rounds: int = 1000, initial: np.ndarray | None = None,
    trace: bool = True,
) -> dict[str, Any]:  # fmt: skip
    """Myopic simultaneous best response: every user with a normalised gain > epsilon moves at once.

    Stops at an epsilon-NE (no one wants to move: ``converged``), when a profile repeats (``oscillated``:
    the deterministic dynamics then cycle forever, with period ``cycle_length``) or after ``max_rounds``.
    Starts from ``dynamics.isolated_start`` like GOALIT unless ``initial`` is given. ``trace=False``:
    no potential per round (``potential`` is then empty; a simulator decision does not need it).
    """
    eps = game.epsilon if epsilon is None else epsilon
    if not trace and game.n_users <= goalit_scalar.MAX_PLAYERS:
        return _greedy_small(game, eps, max_rounds, initial)
    a = (dynamics.isolated_start(game) if initial is None else np.asarray(initial, dtype=np.int64)).copy()
    seen = {a.tobytes(): 0}
    out: dict[str, Any] = {"converged": False, "oscillated": False, "cycle_length": 0, "updates": 0}
    out["potential"] = [dynamics.potential(game, a)] if trace else []
    rounds = 0
    while rounds < max_rounds:
        br, gain = dynamics.best_responses(game, a)
        movers = gain > eps
        if not movers.any():
            out["converged"] = True
            break
        rounds += 1
        a = np.where(movers, br, a)
        out["updates"] += int(movers.sum())
        if trace:
            out["potential"].append(dynamics.potential(game, a))
        key = a.tobytes()
        if key in seen:
            out["oscillated"], out["cycle_length"] = True, rounds - seen[key]
            break
        seen[key] = rounds
    out["profile"], out["rounds"] = a, rounds
    return out


def _greedy_small(game: Game, eps: float, max_rounds: int, initial: np.ndarray | None) -> dict[str, Any]:
    """``greedy(..., trace=False)`` for few users with plain floats: the scalar best responses of
    :mod:`goalit.game.goalit_scalar` (the floats of ``dynamics.best_responses``), same rounds and result."""
    a0 = goalit_scalar.isolated_start_small(game) if initial is None else np.asarray(initial, np.int64)
    a = [int(x) for x in a0.tolist()]
    seen = {tuple(a): 0}
    out: dict[str, Any] = {"converged": False, "oscillated": False, "cycle_length": 0, "updates": 0}
    out["potential"] = []
    rounds = 0
    st = goalit_scalar.SmallGame(game, a)
    while rounds < max_rounds:
        br, gain = st.best_responses()
        movers = [i for i, g in enumerate(gain) if g > eps]
        if not movers:
            out["converged"] = True
            break
        rounds += 1
        for i in movers:
            a[i] = br[i]
        out["updates"] += len(movers)
        st.set_profile(a)
        key = tuple(a)
        if key in seen:
            out["oscillated"], out["cycle_length"] = True, rounds - seen[key]
            break
        seen[key] = rounds
    out["profile"], out["rounds"] = np.asarray(a, np.int64), rounds
    return out


def _result(game: Game, name: str, profile: np.ndarray, t0: float, **kw: Any) -> SolveResult:
    return SolveResult.of(game, name, profile, runtime_s=time.perf_counter() - t0, **kw)


@dataclass(frozen=True)
class NoOptions(Options):
    """An algorithm without options."""


@dataclass(frozen=True)
class Fp16Options(Options):
    """``level``: the quantization level (prefix) to place users on."""

    level: str = "fp16"


@dataclass(frozen=True)
class Q4Options(Options):
    """``level``: the quantization level (prefix) to place users on."""

    level: str = "q4"


@dataclass(frozen=True)
class GreedyOptions(Options):
    """``epsilon`` (default the game's), ``max_rounds`` (1000), ``initial`` profile."""

    epsilon: float | None = None
    max_rounds: int = 1000
    initial: Any = None


def solve_local(game: Game, rng: np.random.Generator, opts: NoOptions = NoOptions()) -> SolveResult:
    """Everyone runs locally (users without an allowed local model: cheapest instance alone)."""
    t0 = time.perf_counter()
    a = _fallback(game)
    return _result(game, "local", a, t0, extras={"forced_offload": int((a != LOCAL).sum())})


def solve_nearest_fp16(
    game: Game, rng: np.random.Generator, opts: Fp16Options = Fp16Options()
) -> SolveResult:
    """Everyone on the nearest server with an allowed FP16 instance. Option ``level`` (default ``fp16``)."""
    t0 = time.perf_counter()
    a, placed = nearest_at_level(game, opts.level)
    return _result(game, "nearest-fp16", a, t0, extras={"placed": placed})


def solve_nearest_q4(game: Game, rng: np.random.Generator, opts: Q4Options = Q4Options()) -> SolveResult:
    """Everyone on the nearest server with an allowed 4-bit instance. Option ``level`` (default: ``q4*``)."""
    t0 = time.perf_counter()
    a, placed = nearest_at_level(game, opts.level)
    return _result(game, "nearest-q4", a, t0, extras={"placed": placed})


def solve_random(game: Game, rng: np.random.Generator, opts: NoOptions = NoOptions()) -> SolveResult:
    """Uniformly random allowed (server, level) per user, drawn from the ``algorithm`` stream."""
    t0 = time.perf_counter()
    return _result(game, "random", random_profile(game, rng), t0)


def solve_least_loaded(game: Game, rng: np.random.Generator, opts: Q4Options = Q4Options()) -> SolveResult:
    """Least-loaded server at a fixed level. Option ``level`` (default any ``q4*``)."""
    t0 = time.perf_counter()
    level = opts.level
    return _result(game, "least-loaded", least_loaded(game, level), t0, extras={"level": level})


def solve_greedy(game: Game, rng: np.random.Generator, opts: GreedyOptions = GreedyOptions()) -> SolveResult:
    """Myopic simultaneous greedy. Options: ``epsilon``, ``max_rounds`` (1000), ``initial``.

    ``slots`` = rounds, ``updates`` = moves, ``messages`` = one load broadcast per round (plus the
    final one) + one announcement per move.
    """
    t0 = time.perf_counter()
    g = greedy(game, opts.epsilon, int(opts.max_rounds), opts.initial)
    return _result(
        game,
        "greedy",
        g["profile"],
        t0,
        converged=g["converged"],
        slots=g["rounds"],
        updates=g["updates"],
        messages=g["rounds"] + 1 + g["updates"],
        potential_trace=g["potential"],
        extras={"oscillated": g["oscillated"], "cycle_length": g["cycle_length"]},
    )
