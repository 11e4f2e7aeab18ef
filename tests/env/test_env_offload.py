"""goalit_offload_v0: PettingZoo's own API and seed tests, rewards and reference scores against the
game's dynamics and the exact optimum, and dynamic episodes that drive the real simulator."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("pettingzoo")

from pettingzoo.test import parallel_api_test, parallel_seed_test  # noqa: E402

import goalit  # noqa: E402
from goalit.env import ENV_NAME, parallel_env  # noqa: E402
from goalit.env.features import feature_slices, obs_size  # noqa: E402
from goalit.errors import GoalitInputError  # noqa: E402
from goalit.game import dynamics  # noqa: E402
from goalit.rng import stream  # noqa: E402
from goalit.solvers.optimum import solve_optimum  # noqa: E402

DYNAMIC = {"mode": "dynamic", "rate": 0.5, "duration_s": 30.0}


def test_env_name_has_a_version_suffix():
    env = parallel_env("small")
    assert ENV_NAME == "goalit_offload_v0" == env.metadata["name"] == str(env)


@pytest.mark.parametrize(
    "kwargs",
    [{"max_steps": 30}, DYNAMIC, {**DYNAMIC, "rate": 2.0, "epoch_s": 1.0}],
    ids=["static", "dynamic-arrival", "dynamic-epoch"],
)
def test_env_passes_pettingzoo_api_and_seed_tests(kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # PettingZoo reports API deviations as warnings
        parallel_api_test(parallel_env("small", **kwargs), num_cycles=1000)
        parallel_seed_test(lambda: parallel_env("small", **kwargs), num_cycles=100)


def test_env_static_rewards_regrets_and_optimum_match_the_game():
    env = parallel_env("small", max_steps=3)
    game = env.game
    obs, _ = env.reset(seed=0)
    assert set(obs) == {f"user_{i}" for i in range(game.n_users)}
    mask = np.stack([obs[a]["action_mask"] for a in env.agents])
    assert (mask == game.allowed).all() and obs["user_0"]["observation"].shape == (obs_size(game),)
    ne = goalit.solve(game, "goalit", seed=0).profile
    _, rew, term, trunc, info = env.step({f"user_{i}": int(x) for i, x in enumerate(ne)})
    costs = dynamics.user_costs(game, ne)
    assert [rew[f"user_{i}"] for i in range(game.n_users)] == pytest.approx(-costs)
    assert max(i["regret_per_token"] for i in info.values()) <= game.epsilon
    opt = solve_optimum(game, stream(0, "algorithm")).metrics.social_cost
    i0 = info["user_0"]
    assert i0["social_cost"] == pytest.approx(costs.sum())
    assert i0["social_cost_opt"] == pytest.approx(opt) and i0["cost_ratio"] >= 1 - 1e-9
    assert not any(term.values()) and not any(trunc.values())
    # the observation shows the loads of the profile just played
    sl = feature_slices(game)
    n, m = dynamics.loads(game, ne)
    assert (obs["user_0"]["observation"][sl["load"]] == 0).all()  # isolated start: all local
    obs, *_ = env.step({f"user_{i}": int(x) for i, x in enumerate(ne)})
    assert obs["user_3"]["observation"][sl["load"]] == pytest.approx(n[1:])
    assert obs["user_3"]["observation"][sl["ap_load"]] == pytest.approx(m)
    *_, trunc, _ = env.step({})
    assert all(trunc.values()) and env.agents == []


def test_env_static_regret_is_the_gain_of_a_best_response():
    env = parallel_env("small", max_steps=5)
    env.reset(seed=1)
    game = env.game
    rng = np.random.default_rng(4)
    a = np.array([rng.choice(np.flatnonzero(game.allowed[i])) for i in range(game.n_users)])
    *_, info = env.step({f"user_{i}": int(x) for i, x in enumerate(a)})
    _, gain = dynamics.best_responses(game, a)
    got = np.array([info[f"user_{i}"]["regret_per_token"] for i in range(game.n_users)])
    assert got == pytest.approx(gain, rel=1e-9, abs=1e-12)
    assert max(i["max_regret"] for i in info.values()) == pytest.approx(dynamics.max_regret(game, a))
    for i in range(game.n_users):
        x = info[f"user_{i}"]
        assert x["action_costs"][x["best_response"]] == pytest.approx(x["cost"] - x["regret"])


def test_env_invalid_actions_fall_back_and_are_flagged():
    env = parallel_env("small", max_steps=2)
    env.reset()
    game = env.game
    bad = {
        f"user_{i}": int(np.flatnonzero(~game.allowed[i])[0])
        for i in range(game.n_users)
        if not game.allowed[i].all()
    }
    assert bad, "the small scenario has users with a disallowed action"
    *_, info = env.step(bad)
    fallback = dynamics.isolated_start(game)
    for i in range(game.n_users):
        x = info[f"user_{i}"]
        assert x["invalid_action"]  # missing or disallowed
        assert x["cost"] == pytest.approx(x["action_costs"][fallback[i]])


def test_env_bad_arguments_are_one_line_errors():
    with pytest.raises(GoalitInputError, match="mode must be one of static, dynamic"):
        parallel_env("small", mode="async")
    with pytest.raises(GoalitInputError, match="unknown option"):
        parallel_env("small", rate=1.0)
    with pytest.raises(GoalitInputError, match="options\\['initial'\\]"):
        parallel_env("small").reset(options={"initial": [0]})


def test_env_dynamic_episode_drives_the_simulator():
    """Agents are the requests; each acts once; the run is the simulator's own (same workload)."""
    env = parallel_env("small", **DYNAMIC)
    obs, _ = env.reset(seed=3)
    acted: list[str] = []
    while env.agents:
        decide = list(env.agents)
        actions = {a: int(np.flatnonzero(obs[a]["action_mask"])[-1]) for a in decide}
        obs, rew, term, _, info = env.step(actions)
        assert all(term[a] for a in decide) and not set(decide) & set(env.agents)
        assert all(rew[a] == pytest.approx(-info[a]["cost"]) and info[a]["regret"] >= 0 for a in decide)
        assert all("social_cost_opt" in info[a] for a in decide)  # one player per decision: brute force
        acted += decide
    res = env.result
    assert res is not None and res.metrics["unfinished"] == 0
    assert len(acted) == len(set(acted)) == res.metrics["arrived"] - res.metrics["rejected"]
    assert sorted(acted) == sorted(env.possible_agents)
    ref = goalit.simulate("small", policy="local", seed=3, rate=0.5, duration_s=30.0)
    assert res.records["arrival_s"] == pytest.approx(ref.records["arrival_s"])  # the same requests
    assert info[acted[-1]]["episode"]["completed"] == res.metrics["completed"]


def test_env_dynamic_local_actions_reproduce_the_local_policy():
    """Choosing local for every request gives exactly goalit.simulate(policy='local')."""
    env = parallel_env("small", **DYNAMIC)
    obs, _ = env.reset(seed=5)
    assert env.game.allowed[:, 0].all()
    while env.agents:
        obs, *_ = env.step(dict.fromkeys(env.agents, 0))
    ref = goalit.simulate("small", policy="local", seed=5, rate=0.5, duration_s=30.0)
    assert env.result.metrics == ref.metrics


def test_env_reset_mid_episode_stops_the_simulation_thread():
    env = parallel_env("small", **DYNAMIC)
    env.reset(seed=0)
    thread = env.driver._thread
    env.step(dict.fromkeys(env.agents, 0))
    env.reset(seed=1)
    assert not thread.is_alive()
    env.close()
    assert env.driver._thread is None


def test_env_abandoned_dynamic_episode_ends_its_thread():
    import gc

    env = parallel_env("small", **DYNAMIC)
    env.reset(seed=0)
    thread = env.driver._thread
    assert thread.is_alive()
    del env
    gc.collect()
    thread.join(timeout=30)
    assert not thread.is_alive()
