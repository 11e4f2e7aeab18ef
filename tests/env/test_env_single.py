"""The single-agent Gymnasium env: Gymnasium's checker, and a best response has zero regret."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("gymnasium")

from gymnasium.utils.env_checker import check_env  # noqa: E402

import goalit  # noqa: E402
from goalit.env import SingleAgentEnv  # noqa: E402
from goalit.errors import GoalitInputError  # noqa: E402


@pytest.mark.parametrize("others", ["goalit", "random"])
def test_env_single_passes_gymnasium_env_checker(others):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(SingleAgentEnv("small", agent=2, others=others, max_steps=10), skip_render_check=True)


def test_env_single_best_response_against_the_equilibrium_has_no_regret():
    env = SingleAgentEnv("small", agent=1, others="goalit", max_steps=4)
    game = env.env.game
    ne = goalit.solve(game, "goalit", seed=0).profile
    obs, _ = env.reset(seed=0)
    assert (obs["action_mask"] == game.allowed[1]).all()
    worst = int(np.argmax(np.where(game.allowed[1], game.beta[1], -np.inf)))
    _, r_bad, *_, info = env.step(worst)
    _, r_ne, term, trunc, info_ne = env.step(int(ne[1]))
    assert info_ne["regret"] == pytest.approx(0.0, abs=1e-9) and r_ne >= r_bad
    assert info["best_response"] == info_ne["best_response"] == int(ne[1])
    assert not term and not trunc
    env.step(0)
    *_, trunc, _ = env.step(0)
    assert trunc


def test_env_single_bad_agent_is_one_line():
    with pytest.raises(GoalitInputError, match="agent must be a user index in 0..5"):
        SingleAgentEnv("small", agent=6)
