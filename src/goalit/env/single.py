"""One user of a static game as a single-agent Gymnasium environment.

The controlled user (``agent``, an index) plays against the other users frozen at the profile of a
registry algorithm (``others``, default GOALIT's equilibrium), so a learner that maximises its return
learns a best response; ``info["regret"]`` says how far it is. Observations, actions, rewards and infos
are those of the agent in :class:`goalit.env.OffloadEnv`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium
import numpy as np

from goalit.env.offload import DEFAULT_MAX_STEPS, OffloadEnv
from goalit.errors import GoalitInputError
from goalit.game.model import Game
from goalit.rng import stream
from goalit.scenario.model import Scenario


class SingleAgentEnv(gymnasium.Env):
    """User ``agent`` of the static game of ``scenario``; the others play ``others``'s profile (seed 0)."""

    metadata = {"render_modes": ["ansi"]}

    def __init__(
        self,
        scenario: Scenario | Game | str | Path = "small",
        agent: int = 0,
        others: str = "goalit",
        max_steps: int = DEFAULT_MAX_STEPS,
        render_mode: str | None = None,
    ) -> None:
        from goalit.solvers.registry import get_solver

        self.env = OffloadEnv(scenario, mode="static", max_steps=max_steps, render_mode=render_mode)
        game = self.env.game
        if not 0 <= int(agent) < game.n_users:
            raise GoalitInputError(f"agent must be a user index in 0..{game.n_users - 1}, not {agent}")
        self.agent = f"user_{int(agent)}"
        self.others = np.asarray(get_solver(others)(game, stream(0, "algorithm")).profile, np.int64)
        self.observation_space = self.env.observation_space(self.agent)
        self.action_space = self.env.action_space(self.agent)
        self.render_mode = render_mode

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        obs, infos = self.env.reset(seed=seed, options={"initial": self.others})
        return obs[self.agent], infos[self.agent]

    def step(self, action: Any):
        acts = {ag: int(x) for ag, x in zip(self.env.possible_agents, self.others.tolist(), strict=True)}
        acts[self.agent] = action
        obs, rew, term, trunc, info = self.env.step(acts)
        a = self.agent
        return obs[a], float(rew[a]), bool(term[a]), bool(trunc[a]), info[a]

    def render(self) -> str | None:
        return self.env.render()
