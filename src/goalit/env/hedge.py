"""Independent Hedge (multiplicative-weights) learners: the no-regret baseline of the offloading game.

Every user keeps weights over its allowed actions, plays an action drawn from them, sees the cost of
every action against the others' choices (full-information feedback: ``info["action_costs"]`` of the
environment) and multiplies each weight by exp(-eta * loss) (Freund & Schapire 1997). Losses are the
round's costs shifted by their minimum (which leaves Hedge's distribution unchanged), divided by the
user's uncongested cost spread (``loss_scale``) and clipped to [0, 1], so an action that pays the AP
or KV penalty H (1000 s/token) costs a loss of 1 without flattening every other difference; eta =
sqrt(8 ln K / T) for K
actions and a horizon of T rounds, the rate of the standard regret bound T ln K / eta + eta T / 8
(Cesa-Bianchi & Lugosi 2006, Thm 2.2). In a congestion game these learners drift towards an
equilibrium without any coordinator: the reference point for GOALIT's update protocol.

:func:`solve_hedge` runs them on a Game directly (a registry-style solver); :func:`train_hedge`
runs them through :class:`goalit.env.OffloadEnv` (same draws, same result for the same generator).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from goalit.env import features
from goalit.game import dynamics
from goalit.game.model import Game
from goalit.solvers.result import SolveResult

DEFAULT_ROUNDS = (
    2000  # [R] enough for N <= 100 users of the default scenario to settle (benchmarks/env_hedge.py)
)


def default_eta(n_actions: int, rounds: int) -> float:
    """sqrt(8 ln K / T): the learning rate of Hedge's regret bound for a known horizon."""
    return float(np.sqrt(8.0 * np.log(max(n_actions, 2)) / max(rounds, 1)))


def loss_scale(game: Game) -> np.ndarray:
    """(N,) cost spread of each user without congestion (s): max - min over its allowed actions of
    beta_i(r) + alpha_i d_r(1), the cost of being alone on r."""
    r = np.arange(game.n_actions)
    solo = game.alpha[:, None] * game.step_time(r, np.ones(r.size, np.int64))[None, :] + game.beta
    solo[:, 0] = game.beta[:, 0]
    c = np.where(game.allowed, solo, np.nan)
    spread = np.nanmax(c, axis=1) - np.nanmin(c, axis=1)
    return np.where(spread > 0, spread, game.alpha * game.epsilon)


@dataclass
class HedgeLearners:
    """One Hedge learner per user over the (N, R+1) ``allowed`` actions, learning rate ``eta``,
    losses (cost - min cost) / ``scale`` clipped to [0, 1]."""

    allowed: np.ndarray
    eta: float
    scale: np.ndarray
    log_w: np.ndarray = field(init=False)

    @classmethod
    def of(cls, game: Game, rounds: int, eta: float | None = None) -> HedgeLearners:
        k = int(game.allowed.sum(axis=1).max())
        return cls(
            game.allowed.copy(), default_eta(k, rounds) if eta is None else float(eta), loss_scale(game)
        )

    def __post_init__(self) -> None:
        self.log_w = np.where(self.allowed, 0.0, -np.inf)

    def probabilities(self) -> np.ndarray:
        """(N, R+1) mixed strategies (0 where not allowed)."""
        w = np.exp(self.log_w - self.log_w.max(axis=1, keepdims=True))
        return w / w.sum(axis=1, keepdims=True)

    def act(self, rng: np.random.Generator) -> np.ndarray:
        """One action per user drawn from its mixed strategy (one uniform draw per user)."""
        cdf = np.cumsum(self.probabilities(), axis=1)
        u = rng.random(cdf.shape[0]) * cdf[:, -1]
        a = (cdf <= u[:, None]).sum(axis=1)
        a = np.minimum(a, cdf.shape[1] - 1)
        # a zero-probability action can only be hit through rounding: take the last allowed one instead
        bad = ~self.allowed[np.arange(a.shape[0]), a]
        if bad.any():
            a[bad] = self.allowed.shape[1] - 1 - np.argmax(self.allowed[bad, ::-1], axis=1)
        return a.astype(np.int64)

    def update(self, costs: np.ndarray) -> None:
        """Multiplicative update with the (N, R+1) cost of every action this round (inf where not allowed)."""
        c = np.where(self.allowed, costs, np.inf)
        lo = c.min(axis=1)
        loss = np.where(
            self.allowed,
            np.minimum((np.where(self.allowed, c, 0.0) - lo[:, None]) / self.scale[:, None], 1.0),
            0.0,
        )
        self.log_w = np.where(self.allowed, self.log_w - self.eta * loss, -np.inf)
        self.log_w -= self.log_w.max(axis=1, keepdims=True)

    def mode(self) -> np.ndarray:
        """Each user's most likely action (the profile the learners settle on)."""
        return np.argmax(self.log_w, axis=1).astype(np.int64)


@dataclass
class HedgeRun:
    """A training run: per-round traces of the played profiles and the learners' state at the end.

    ``rounds_to_equilibrium``: first round after which the mode profile is an epsilon-NE (None: never).
    ``external_regret``: per user, (sum_t C_i(a_t) - min_x sum_t C_i(x, a_-i,t)) / T (s per round).
    """

    learners: HedgeLearners
    rounds: int
    social_cost: list[float]
    max_regret: list[float]
    rounds_to_equilibrium: int | None
    external_regret: np.ndarray
    profile: np.ndarray  # the mode profile at the end


class _Recorder:
    def __init__(self, game: Game, epsilon: float) -> None:
        self.game, self.eps = game, epsilon
        self.social: list[float] = []
        self.regret: list[float] = []
        self.played = np.zeros(game.n_users)
        self.fixed = np.zeros((game.n_users, game.n_actions))
        self.first: int | None = None

    def add(self, cost: np.ndarray, action_costs: np.ndarray, regret_per_token: np.ndarray, mode: np.ndarray):
        self.social.append(float(cost.sum()))
        self.regret.append(float(regret_per_token.max()))
        self.played += cost
        self.fixed += action_costs
        at_ne = dynamics.max_regret(self.game, mode) <= self.eps
        if at_ne and self.first is None:
            self.first = len(self.social)
        elif not at_ne:
            self.first = None  # it left the equilibrium again: count from the last arrival

    def run(self, learners: HedgeLearners) -> HedgeRun:
        t = max(len(self.social), 1)
        ext = (self.played - self.fixed.min(axis=1)) / t
        return HedgeRun(
            learners, len(self.social), self.social, self.regret, self.first, ext, learners.mode()
        )


def train_hedge(
    env: Any, rng: np.random.Generator, rounds: int | None = None, eta: float | None = None, seed: int = 0
) -> HedgeRun:
    """Train independent Hedge learners in a static :class:`~goalit.env.OffloadEnv` episode.

    ``rounds`` defaults to the episode length (``env.max_steps``); the learners only read their own
    info (``action_costs``) and act through ``env.step``.
    """
    if env.mode != "static":
        raise ValueError("train_hedge needs a static episode (mode='static')")
    game = env.game
    t_max = env.max_steps if rounds is None else min(int(rounds), env.max_steps)
    learners = HedgeLearners.of(game, t_max, eta)
    rec = _Recorder(game, game.epsilon)
    env.reset(seed=seed)
    agents = list(env.possible_agents)
    for _ in range(t_max):
        a = learners.act(rng)
        _, _, _, _, infos = env.step(dict(zip(agents, a.tolist(), strict=True)))
        costs = np.stack([infos[ag]["action_costs"] for ag in agents])
        learners.update(costs)
        rec.add(np.array([infos[ag]["cost"] for ag in agents]), costs,
                np.array([infos[ag]["regret_per_token"] for ag in agents]), learners.mode())  # fmt: skip
    return rec.run(learners)


def run_hedge(
    game: Game, rng: np.random.Generator, rounds: int = DEFAULT_ROUNDS, eta: float | None = None
) -> HedgeRun:
    """The same learners on ``game`` directly, without an environment (same draws as ``train_hedge``)."""
    learners = HedgeLearners.of(game, int(rounds), eta)
    rec = _Recorder(game, game.epsilon)
    for _ in range(int(rounds)):
        a = learners.act(rng)
        s = features.scores(game, a)
        learners.update(s["action_costs"])
        rec.add(s["cost"], s["action_costs"], s["regret_per_token"], learners.mode())
    return rec.run(learners)


def solve_hedge(game: Game, rng: np.random.Generator, **options: Any) -> SolveResult:
    """Hedge learners as a solver: the mode profile after ``rounds`` (default 2000) rounds, ``eta`` optional.

    ``slots`` = rounds played; ``converged``: the final profile is an epsilon-NE; extras: the round
    from which the mode profile stayed an epsilon-NE, the time-averaged social cost and the largest
    per-round external regret of any user.
    """
    t0 = time.perf_counter()
    run = run_hedge(game, rng, int(options.get("rounds", DEFAULT_ROUNDS)), options.get("eta"))
    final_regret = dynamics.max_regret(game, run.profile)
    return SolveResult.of(
        game, "hedge", run.profile, converged=final_regret <= game.epsilon, slots=run.rounds,
        updates=0, messages=run.rounds * (game.n_users + 1), runtime_s=time.perf_counter() - t0,
        extras={
            "rounds_to_equilibrium": run.rounds_to_equilibrium,
            "mean_social_cost": float(np.mean(run.social_cost)) if run.social_cost else None,
            "max_external_regret": float(run.external_regret.max()) if run.rounds else None,
        },
    )  # fmt: skip
