"""The fast best-response evaluation and grant order (issue 12) against the engine they replaced.

``goalit_reference`` is the engine as it was before the 100k-user speed work; the one in
``goalit.game`` must give the same floats (best responses, gains, staying costs), the same profiles
and the same per-slot traces, on random games and profiles and on the embedded scenarios.
"""

from __future__ import annotations

from unittest.mock import patch

import goalit_reference as ref
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from goalit.api import default_scenario
from goalit.game import dynamics, model
from goalit.game.goalit import GRANTS, goalit
from goalit.game.model import build_game
from goalit_strategies import feasible, scenarios

GAMES = scenarios(
    min_users=3, max_users=14, max_servers=3, max_instances=3, sharing=("partitioned", "shared")
)
TRACE = ("converged", "slots", "updates", "messages", "cycled", "potential", "requests", "granted")


def random_profile(game, rng):
    return np.array([rng.choice(np.flatnonzero(r)) for r in game.allowed], dtype=np.int64)


def assert_same_evaluation(game, a, rows=None):
    br, gain = ref.best_responses(game, a, rows=rows)
    br_new, gain_new, stay = dynamics.best_responses_and_stay(game, a, rows=rows)
    assert np.array_equal(br, br_new)
    assert gain.tobytes() == gain_new.tobytes()
    want = ref._staying_cost(game, a, *ref.loads(game, a))
    assert want[rows if rows is not None else slice(None)].tobytes() == stay.tobytes()


def assert_same_run(game, grant, seed, initial=None, incremental=True):
    old = ref.goalit(game, np.random.default_rng(seed), initial, grant, incremental=incremental)
    new = goalit(game, np.random.default_rng(seed), initial, grant, fast=False, incremental=incremental)
    assert np.array_equal(old.profile, new.profile)
    for f in TRACE:
        assert getattr(old, f) == getattr(new, f), f
    assert np.array_equal(old.granted_gain, new.granted_gain)


@settings(max_examples=80, deadline=None)
@given(scenario=GAMES, seed=st.integers(0, 2**32 - 1))
def test_best_responses_equal_the_old_evaluation(scenario, seed):
    game = build_game(scenario)
    assume(feasible(game))
    rng = np.random.default_rng(seed)
    a = random_profile(game, rng)
    assert_same_evaluation(game, a)
    assert_same_evaluation(game, ref.isolated_start(game))
    rows = np.sort(rng.choice(game.n_users, rng.integers(1, game.n_users + 1), replace=False))
    assert_same_evaluation(game, a, rows)


@settings(max_examples=60, deadline=None)
@given(scenario=GAMES, seed=st.integers(0, 2**32 - 1))
def test_bucketed_search_equals_the_old_evaluation(scenario, seed):
    """Users grouped by candidate count (forced on small games) give the same floats."""
    with patch.object(model, "BUCKET_MIN_ENTRIES", 0), patch.object(model, "BUCKET_MIN_SAVING", 0.0):
        game = build_game(scenario)
        assume(feasible(game) and game.candidate_buckets is not None)
    rng = np.random.default_rng(seed)
    assert_same_evaluation(game, random_profile(game, rng))
    assert_same_evaluation(game, ref.isolated_start(game))
    assert_same_run(game, "parallel", seed)


@settings(max_examples=60, deadline=None)
@given(scenario=GAMES, grant=st.sampled_from(GRANTS), seed=st.integers(0, 2**32 - 1))
def test_protocol_equals_the_old_protocol(scenario, grant, seed):
    game = build_game(scenario)
    assume(feasible(game))
    assert_same_run(game, grant, seed)
    assert_same_run(game, grant, seed, random_profile(game, np.random.default_rng(seed)), incremental=False)


def test_actions_not_numbered_server_by_server_scan_the_table():
    """The own-server entries come from the run table, or from a scan if actions are not in server order."""
    game = build_game(default_scenario("default"))
    a = random_profile(game, np.random.default_rng(2))
    perm = np.r_[0, 1 + np.random.default_rng(3).permutation(game.n_actions - 1)]
    kw = {f: getattr(game, f) for f in game.__dataclass_fields__}
    for f in ("server_of", "level_of", "ppl_of", "capacity", "step_table", "potential_table", "group_of"):
        kw[f] = kw[f][perm]
    for f in ("beta", "fixed_latency_s", "fixed_energy_j", "uplink_s", "downlink_s"):
        kw[f] = kw[f][:, perm]
    shuffled = type(game)(**kw)
    assert shuffled.candidate_runs is None and game.candidate_runs is not None
    inv = np.argsort(perm)
    assert_same_evaluation(shuffled, inv[a])
    with patch.object(model, "BUCKET_MIN_ENTRIES", 0), patch.object(model, "BUCKET_MIN_SAVING", 0.0):
        bucketed = type(game)(**kw)
        assert bucketed.candidate_buckets is not None
    assert_same_evaluation(bucketed, inv[a])
    br, gain = dynamics.best_responses(game, a)
    br_s, gain_s = dynamics.best_responses(shuffled, inv[a])
    assert np.array_equal(perm[br_s], br) and np.array_equal(gain, gain_s)


@pytest.mark.parametrize("name", ["default", "default-partitioned", "small", "large"])
def test_embedded_scenarios_take_the_same_path(name):
    game = build_game(default_scenario(name))
    assert_same_evaluation(game, random_profile(game, np.random.default_rng(1)))
    if name == "large":  # 10,000 users: the bucketed search
        assert build_game(default_scenario(name)).candidate_buckets is not None
    grants = GRANTS if name != "large" else ("parallel",)
    for grant in grants:
        assert_same_run(game, grant, 4)
