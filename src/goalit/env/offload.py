"""``goalit_offload_v0``: the offloading game as a PettingZoo ``ParallelEnv``.

Two kinds of episode:

* ``mode="static"``: one game (Model A, docs/model.md B.7) played repeatedly. Agents are the scenario's users
  ``user_0..user_{N-1}``; every step all of them choose an action at once, each is paid minus its cost
  C_i(a) and observes the loads the profile puts on the instances and APs. The episode is truncated
  after ``max_steps`` steps.
* ``mode="dynamic"``: the discrete-event simulator (Model B, :func:`goalit.simulate`) drives the
  episode. Agents are the requests ``request_k``; at each decision of the simulator (every arrival, or
  every ``epoch_s``) the requests waiting for a decision are the live agents, they act once, are paid
  minus their Model A cost in that decision's game (the requests in service as background load) and
  terminate. The episode ends when the simulation does; ``result`` then holds its :class:`SimResult`.

Actions: ``Discrete(R+1)``, 0 = local, r = instance r (a (server, level) pair, see ``action_names``).
Observations: ``{"observation": Box, "action_mask": MultiBinary(R+1)}`` (features in
:mod:`goalit.env.features`). An action outside the mask is replaced by the agent's fallback (local
where allowed, else its cheapest instance alone) and flagged ``info["invalid_action"]``.

``info`` of an agent that acted: ``cost`` and ``regret`` (s), ``regret_per_token`` (s/token),
``best_response``, ``action_costs`` (its cost of every action, the others fixed; inf where not
allowed), ``invalid_action``; for the whole step: ``social_cost`` (s), ``max_regret`` (s/token, 0 at a
Nash equilibrium) and, where the game is small enough to solve exactly, ``social_cost_opt`` and
``cost_ratio`` = social_cost / social_cost_opt (static: MILP optimum for N <= ``optimum_max_users``;
dynamic: brute force over decision games of at most ``brute_force_max_profiles`` profiles).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from goalit.env import features
from goalit.env.driver import SimulatorDriver
from goalit.errors import GoalitInputError
from goalit.game import dynamics
from goalit.game.model import Game, build_game, check_feasible
from goalit.rng import stream
from goalit.scenario.model import Scenario
from goalit.sim.result import SimResult

ENV_NAME = "goalit_offload_v0"
MODES = ("static", "dynamic")
DEFAULT_MAX_STEPS = 100  # [R] repeated-game rounds per static episode; learners need many episodes anyway
OPTIMUM_MAX_USERS = 12  # [R] the MILP optimum of E7's largest games (N <= 12) takes well under a second
BRUTE_FORCE_MAX_PROFILES = 20_000  # [R] a decision game of this many profiles enumerates in milliseconds


def _scenario(scenario: Scenario | Game | str | Path) -> Scenario | Game:
    if isinstance(scenario, Scenario | Game):
        return scenario
    from goalit.api import resolve_scenario

    return resolve_scenario(scenario)


class OffloadEnv(ParallelEnv):
    """The offloading game as a ParallelEnv; see the module docstring. Use :func:`parallel_env`."""

    metadata = {"name": ENV_NAME, "render_modes": ["ansi"], "is_parallelizable": True}

    def __init__(
        self,
        scenario: Scenario | Game | str | Path = "small",
        mode: str = "static",
        max_steps: int = DEFAULT_MAX_STEPS,
        optimum_max_users: int = OPTIMUM_MAX_USERS,
        brute_force_max_profiles: int = BRUTE_FORCE_MAX_PROFILES,
        render_mode: str | None = None,
        **sim_options: Any,
    ) -> None:
        if mode not in MODES:
            raise GoalitInputError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        if int(max_steps) < 1:
            raise GoalitInputError(f"max_steps must be >= 1, not {max_steps}")
        if render_mode not in (None, "ansi"):
            raise GoalitInputError(f"render_mode must be None or 'ansi', not {render_mode!r}")
        self.mode = mode
        self.render_mode = render_mode
        self.max_steps = int(max_steps)
        self.optimum_max_users = int(optimum_max_users)
        self.brute_force_max_profiles = int(brute_force_max_profiles)
        sc = _scenario(scenario)
        if mode == "dynamic":
            if isinstance(sc, Game):
                raise GoalitInputError(
                    "dynamic episodes need a scenario (name, file or Scenario), not a Game"
                )
            self.scenario: Scenario | None = sc
            self.driver: SimulatorDriver | None = SimulatorDriver(sc, **sim_options)
            self.game = self.driver.template_game
        else:
            if sim_options:
                raise GoalitInputError(
                    f"unknown option(s) {', '.join(sorted(sim_options))} for static episodes"
                )
            self.scenario = sc if isinstance(sc, Scenario) else None
            self.game = sc if isinstance(sc, Game) else build_game(sc)
            check_feasible(self.game)
            self.driver = None
        g = self.game
        self.n_actions = g.n_actions
        self.action_names = ["local"] + [
            f"server{int(g.server_of[r])}:{g.level_of[r]}" for r in range(1, g.n_actions)
        ]
        if self.scenario is not None:
            names = [s.name for s in self.scenario.servers]
            self.action_names[1:] = [
                f"{names[int(g.server_of[r])]}:{g.level_of[r]}" for r in range(1, g.n_actions)
            ]
        self._obs_spaces: dict[str, spaces.Space] = {}
        self._act_spaces: dict[str, spaces.Space] = {}
        self.possible_agents = self._possible_agents(0)
        self.agents: list[str] = []
        self.result: SimResult | None = None
        self.view = None
        self.profile = dynamics.isolated_start(g) if self.driver is None else None
        self._opt: float | None = None
        self._opt_done = False
        self._np_random: np.random.Generator | None = None

    # -- spaces: the same object for an agent on every call, as PettingZoo requires --------------------------
    def observation_space(self, agent: str) -> spaces.Space:
        if agent not in self._obs_spaces:
            self._obs_spaces[agent] = spaces.Dict(
                {
                    "observation": spaces.Box(
                        0.0, features.OBS_HIGH, (features.obs_size(self.game),), np.float32
                    ),
                    "action_mask": spaces.MultiBinary(self.n_actions),
                }
            )
        return self._obs_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space:
        if agent not in self._act_spaces:
            self._act_spaces[agent] = spaces.Discrete(self.n_actions)
        return self._act_spaces[agent]

    def _possible_agents(self, seed: int) -> list[str]:
        if self.driver is None:
            return [f"user_{i}" for i in range(self.game.n_users)]
        return [f"request_{k}" for k in range(self.driver.n_requests(seed))]

    # -- episode ------------------------------------------------------------------------------------------
    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start an episode. ``seed`` roots the simulator's streams (dynamic; default 0) and ``np_random``;
        ``options["initial"]`` (static): the profile whose loads the first observation shows (default: the
        isolated start, everyone local where allowed)."""
        self._np_random, _ = gymnasium.utils.seeding.np_random(seed)
        options = options or {}
        self.steps = 0
        self.result = None
        if self.driver is None:
            initial = options.get("initial")
            self.profile = (
                dynamics.isolated_start(self.game) if initial is None else self._check_profile(initial)
            )
            self.agents = list(self.possible_agents)
            obs = self._observe_static()
            return obs, {a: {} for a in self.agents}
        sim_seed = 0 if seed is None else int(seed)
        self.possible_agents = self._possible_agents(sim_seed)
        view = self.driver.start(sim_seed)
        return self._begin_decision(view)

    def _check_profile(self, a: Any) -> np.ndarray:
        a = np.asarray(a, np.int64)
        g = self.game
        if a.shape != (g.n_users,) or (a < 0).any() or (a >= g.n_actions).any():
            raise GoalitInputError(f"options['initial'] must be {g.n_users} actions in 0..{g.n_actions - 1}")
        if not g.allowed[np.arange(g.n_users), a].all():
            raise GoalitInputError("options['initial'] has an action that is not allowed for its user")
        return a

    def step(self, actions: dict[str, Any]):
        if not self.agents:
            raise RuntimeError("step() called on a finished episode: call reset()")
        if self.driver is None:
            return self._step_static(actions)
        return self._step_dynamic(actions)

    def _actions(self, game: Game, rows: np.ndarray, agents: list[str], actions: dict[str, Any]):
        """The chosen actions of ``agents`` (users ``rows`` of ``game``) and which were invalid."""
        fallback = dynamics.isolated_start(game.take_users(rows)) if len(rows) else np.zeros(0, np.int64)
        a = np.empty(len(agents), np.int64)
        invalid = np.zeros(len(agents), bool)
        for k, (name, i) in enumerate(zip(agents, rows.tolist(), strict=True)):
            x = actions.get(name)
            ok = x is not None and 0 <= int(x) < game.n_actions and bool(np.isfinite(game.beta[i, int(x)]))
            a[k] = int(x) if ok and x is not None else fallback[k]
            invalid[k] = not ok
        return a, invalid

    def _step_static(self, actions: dict[str, Any]):
        g = self.game
        a, invalid = self._actions(g, np.arange(g.n_users), self.agents, actions)
        self.profile = a
        self.steps += 1
        obs = self._observe_static()
        infos = self._infos(g, a, invalid, self.agents, self._optimum())
        rewards = {ag: -infos[ag]["cost"] for ag in self.agents}
        done = self.steps >= self.max_steps
        terms = dict.fromkeys(self.agents, False)
        truncs = dict.fromkeys(self.agents, done)
        if done:
            self.agents = []
        return obs, rewards, terms, truncs, infos

    def _observe_static(self) -> dict[str, dict[str, np.ndarray]]:
        assert self.profile is not None  # a static episode has a profile
        n, m = dynamics.loads(self.game, self.profile)
        x, mask = features.observe(self.game, np.arange(self.game.n_users), n, m)
        return {
            ag: {"observation": x[i], "action_mask": mask[i]} for i, ag in enumerate(self.possible_agents)
        }

    def _optimum(self) -> float | None:
        """S(OPT) of the static game when N <= optimum_max_users (MILP, computed once)."""
        if not self._opt_done:
            self._opt_done = True
            if self.game.n_users <= self.optimum_max_users:
                from goalit.solvers.optimum import solve_optimum

                res = solve_optimum(self.game, stream(0, "algorithm"))
                self._opt = res.metrics.social_cost if res.converged else None
        return self._opt

    def _infos(self, game: Game, a: np.ndarray, invalid: np.ndarray, agents: list[str], opt: float | None):
        s = features.scores(game, a)
        social = float(s["cost"].sum())
        common: dict[str, Any] = {"social_cost": social, "max_regret": float(s["regret_per_token"].max())}
        if opt is not None:
            common["social_cost_opt"] = float(opt)
            common["cost_ratio"] = social / opt if opt > 0 else 1.0
        return {
            ag: {
                "cost": float(s["cost"][k]),
                "regret": float(s["regret"][k]),
                "regret_per_token": float(s["regret_per_token"][k]),
                "best_response": int(s["best_response"][k]),
                "action_costs": s["action_costs"][k].copy(),
                "invalid_action": bool(invalid[k]),
                **common,
            }
            for k, ag in enumerate(agents)
        }

    # -- dynamic episodes ----------------------------------------------------------------------------------
    def _begin_decision(self, view) -> tuple[dict, dict]:
        """Observations and empty infos of the agents of ``view`` (None: the simulation ended)."""
        self.view = view
        assert self.driver is not None  # only dynamic episodes decide
        if view is None:
            self.agents = []
            self.result = self.driver.result
            return {}, {}
        self.agents = [f"request_{k}" for k in view.ids.tolist()]
        x, mask = features.observe(view.game, view.ids, view.n_fixed, view.m_fixed)
        obs = {ag: {"observation": x[i], "action_mask": mask[i]} for i, ag in enumerate(self.agents)}
        return obs, {ag: {"t_s": float(view.t)} for ag in self.agents}

    def _step_dynamic(self, actions: dict[str, Any]):
        view = self.view
        assert view is not None and self.driver is not None  # a dynamic episode mid-decision
        sub = view.subgame(potential=False)  # the decision game: players on the background load
        rows = np.arange(view.ids.shape[0])
        a, invalid = self._actions(sub, rows, self.agents, actions)
        infos = self._infos(sub, a, invalid, self.agents, self._decision_optimum(sub))
        acted = list(self.agents)
        rewards = {ag: -infos[ag]["cost"] for ag in acted}
        self.steps += 1
        final = self._final_obs(view, a)
        obs_new, info_new = self._begin_decision(self.driver.decide(a))
        obs = {ag: {"observation": final[0][k], "action_mask": final[1][k]} for k, ag in enumerate(acted)}
        obs.update(obs_new)
        infos.update(info_new)
        rewards.update(dict.fromkeys(obs_new, 0.0))
        terms = {**dict.fromkeys(acted, True), **dict.fromkeys(obs_new, False)}
        truncs = dict.fromkeys(terms, False)
        if self.result is not None and acted:
            infos[acted[-1]]["episode"] = self.result.metrics
        return obs, rewards, terms, truncs, infos

    def _final_obs(self, view, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Terminated requests' last observations: the loads right after their decision is applied."""
        g = view.game
        n = view.n_fixed + np.bincount(a, minlength=g.n_actions)
        srv = g.server_of[a]
        m = view.m_fixed + np.bincount(srv[srv >= 0], minlength=g.n_servers)
        return features.observe(g, view.ids, n, m)

    def _decision_optimum(self, sub: Game) -> float | None:
        from goalit.solvers.brute_force import enumerate_profiles, n_profiles

        if n_profiles(sub) > self.brute_force_max_profiles:
            return None
        return enumerate_profiles(sub, max_profiles=self.brute_force_max_profiles).social_cost

    # -- the rest of the API ---------------------------------------------------------------------------------
    def state(self) -> np.ndarray:
        """Static: the current profile; dynamic: the actions of every request so far (-2 undecided)."""
        if self.driver is None:
            return np.asarray(self.profile, np.int64).copy()
        return self.driver.actions()

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        if self.driver is None:
            assert self.profile is not None
            n, _ = dynamics.loads(self.game, self.profile)
            return " ".join(f"{self.action_names[r]}={int(n[r])}" for r in range(self.n_actions))
        return f"t={self.view.t:.3f}s, {len(self.agents)} deciding" if self.view is not None else "done"

    def close(self) -> None:
        if self.driver is not None:
            self.driver.stop()

    def __del__(self) -> None:  # an abandoned dynamic episode must not leave its thread waiting forever
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


def parallel_env(scenario: Scenario | Game | str | Path = "small", **kwargs: Any) -> OffloadEnv:
    """The ParallelEnv ``goalit_offload_v0`` of ``scenario`` (options as :class:`OffloadEnv`)."""
    return OffloadEnv(scenario, **kwargs)
