"""OT-GAH's fast search and cached batch times decide exactly as the array-based original
(tests/goalit_otgah_reference.py): same batches, times, node counts, fallbacks, bit for bit."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import goalit_otgah_reference as ref
from goalit.api import default_scenario
from goalit.game.model import USER_FIELDS, build_game
from goalit.solvers import otgah


@pytest.fixture(scope="module", params=["default", "default-partitioned"])
def game(request):
    """The scenario's servers with 60 users whose lengths are drawn heavy-tailed like the Azure traces."""
    g = build_game(default_scenario(request.param))
    rng = np.random.default_rng(11)
    n = 60
    users = rng.integers(0, g.n_users, n)
    kw = {f: getattr(g, f)[users] for f in USER_FIELDS}
    kw["prompt_tokens"] = np.minimum(rng.lognormal(7.0, 1.0, n).astype(np.int64) + 1, 7000)
    kw["output_tokens"] = np.minimum(rng.lognormal(3.0, 1.5, n).astype(np.int64) + 1, 1900)
    kw["deadline_s"] = kw["deadline_s"] * rng.uniform(0.5, 3.0, n)
    return dataclasses.replace(g, n_users=n, **kw)


def same_plan(a: otgah.EpochPlan, b: otgah.EpochPlan) -> None:
    assert a.assignment.tolist() == b.assignment.tolist()
    assert {r: m.tolist() for r, m in a.batches.items()} == {r: m.tolist() for r, m in b.batches.items()}
    assert a.batch_time_s == b.batch_time_s  # exact floats
    assert (a.nodes_explored, a.searches, a.served_tokens, a.exact, a.info) == (
        b.nodes_explored, b.searches, b.served_tokens, b.exact, b.info,
    )  # fmt: skip


def test_epochs_sharing_one_cache_match_the_reference(game):
    """Sixteen epochs of random pending sets, free instances and waits on one StaticTimes."""
    rng = np.random.default_rng(5)
    times = otgah.StaticTimes(game)
    for e in range(16):
        pending = np.sort(rng.choice(game.n_users, int(rng.integers(1, 40)), replace=False))
        available = rng.random(game.n_actions) < 0.8
        waited = rng.exponential(2.0, pending.size)
        kw = {"epoch_s": None if e % 7 == 0 else 1.0, "one_level_per_server": e % 5 == 0,
              "max_nodes": 40 if e % 6 == 0 else None, "model_capacity": e % 4 == 0}  # fmt: skip
        got = otgah.plan_epoch(game, pending, available, waited, times=times, **kw)
        same_plan(got, ref.plan_epoch(game, pending, available, waited, **kw))
        assert got.nodes_explored > 0


def test_solo_finish_bit_identical(game):
    pending = np.arange(game.n_users)
    allowed = game.allowed[pending]
    times = otgah.StaticTimes(game)
    want = ref._solo_finish(game, pending, allowed)
    assert otgah._solo_finish(game, pending, allowed, times).tolist() == want.tolist()
    assert otgah._solo_finish(game, pending[::-1], allowed[::-1], times).tolist() == want[::-1].tolist()


def test_optimal_batch_matches_reference_incl_node_limit(game):
    rng = np.random.default_rng(9)
    for trial in range(24):
        r = int(rng.integers(1, game.n_actions))
        users = rng.choice(game.n_users, int(rng.integers(1, 25)), replace=False)
        prob = otgah.BatchProblem(
            r, game.output_tokens[users], game.prompt_tokens[users], game.uplink_s[users, r],
            rng.uniform(1.0, 40.0, users.size), int(rng.integers(1, 21)),
        )  # fmt: skip
        cap = None if trial % 3 else int(rng.integers(2, 60))
        a = otgah.optimal_batch(game, prob, cap, bound_pruning=trial % 5 != 0)
        b = ref.optimal_batch(game, prob, cap, bound_pruning=trial % 5 != 0)
        assert (a.members.tolist(), a.value, a.time_s, a.nodes, a.exact) == (
            b.members.tolist(), b.value, b.time_s, b.nodes, b.exact,
        )  # fmt: skip


def test_cached_tables_equal_fresh_ones(game):
    """A table grown in place (larger b, longer outputs) holds the same numbers as one built at once."""
    t = otgah.StaticTimes(game)
    small = t.table(3, 500, 2, 10).copy()
    big = t.table(3, 500, 12, 300)
    fresh = otgah.StaticTimes(game).table(3, 500, 12, 300)
    assert np.array_equal(big, fresh) and np.array_equal(big[:3, :10], small)
