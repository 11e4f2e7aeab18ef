"""OT-GAH's compiled search with closed-form batch times decides as the array-based original
(tests/goalit_otgah_reference.py, running sums over the decode steps): same batches, node counts and
fallbacks; batch times equal to 1e-12 (a closed form and a running sum round differently). The compiled
search and the same function run as plain Python agree bit for bit."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import goalit_otgah_reference as ref
from goalit.api import default_scenario
from goalit.game.model import USER_FIELDS, build_game
from goalit.solvers import otgah, otgah_search


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


@pytest.fixture(params=["compiled", "python"])
def engine(request, monkeypatch):
    """The search OT-GAH runs: compiled by Numba, or plain Python (as without Numba installed)."""
    if request.param == "python":
        monkeypatch.setattr(otgah_search, "_compiled", False)
    else:
        pytest.importorskip("numba")
    return request.param


def test_the_compiled_search_is_the_one_that_runs(game):
    """With Numba installed, OT-GAH's plans come from the compiled search (not a silent fallback)."""
    pytest.importorskip("numba")
    plan = otgah.plan_epoch(game, np.arange(30))
    assert plan.nodes_explored > 1
    assert otgah_search._compiled is not False and otgah_search._compiled.signatures


def same_plan(a: otgah.EpochPlan, b: otgah.EpochPlan) -> None:
    assert a.assignment.tolist() == b.assignment.tolist()
    assert {r: m.tolist() for r, m in a.batches.items()} == {r: m.tolist() for r, m in b.batches.items()}
    assert a.batch_time_s.keys() == b.batch_time_s.keys()
    for r, t in a.batch_time_s.items():
        assert t == pytest.approx(b.batch_time_s[r], rel=1e-12)
    assert (a.nodes_explored, a.searches, a.served_tokens, a.exact, a.info) == (
        b.nodes_explored, b.searches, b.served_tokens, b.exact, b.info,
    )  # fmt: skip


def test_epochs_match_the_reference(game, engine):
    """Sixteen epochs of random pending sets, free instances and waits."""
    rng = np.random.default_rng(5)
    for e in range(16):
        pending = np.sort(rng.choice(game.n_users, int(rng.integers(1, 40)), replace=False))
        available = rng.random(game.n_actions) < 0.8
        waited = rng.exponential(2.0, pending.size)
        kw = {"epoch_s": None if e % 7 == 0 else 1.0, "one_level_per_server": e % 5 == 0,
              "max_nodes": 40 if e % 6 == 0 else None, "model_capacity": e % 4 == 0}  # fmt: skip
        got = otgah.plan_epoch(game, pending, available, waited, **kw)
        same_plan(got, ref.plan_epoch(game, pending, available, waited, **kw))
        assert got.nodes_explored > 0


def test_solo_finish_matches_the_reference(game):
    pending = np.arange(game.n_users)
    allowed = game.allowed[pending]
    want = ref._solo_finish(game, pending, allowed)
    got = otgah._solo_finish(game, pending, allowed)
    assert np.array_equal(np.isinf(got), np.isinf(want))
    assert got == pytest.approx(want, rel=1e-12)
    assert otgah._solo_finish(game, pending[::-1], allowed[::-1]).tolist() == got[::-1].tolist()


def test_optimal_batch_matches_reference_incl_node_limit(game, engine):
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
        assert (a.members.tolist(), a.value, a.nodes, a.exact) == (
            b.members.tolist(),
            b.value,
            b.nodes,
            b.exact,
        )
        assert a.time_s == pytest.approx(b.time_s, rel=1e-12)


def test_closed_form_equals_the_running_sum_and_the_compiled_one(game):
    """T(b, s, o) in closed form = prefill + the decode steps added one by one (docs/model.md B.5), on both
    sides of the step where memory overtakes compute and beyond KV memory; the array form gives the
    search's own floats."""
    otgah.plan_epoch(game, np.arange(8))  # the search has run: batch_time_s is the compiled one (with Numba)
    roof = game.instances.roofline
    rng = np.random.default_rng(3)
    for r in range(1, game.n_actions):
        c = otgah.instance_constants(game, r)
        v = roof.at(r)
        b = rng.integers(1, 40, 60)
        s = rng.integers(1, 8000, 60)
        o = rng.integers(1, 2000, 60)
        got = otgah.batch_times(c, b, s, o)
        fits = otgah.static_batch_fits(game, r, b, s, o)
        assert np.array_equal(np.isfinite(got), fits)
        for k in np.flatnonzero(fits)[:12]:
            t = np.arange(1, o[k] + 1, dtype=float)
            steps = v.decode_step_s(float(b[k]), b[k] * (s[k] + t))
            want = float(v.prefill_s(float(b[k] * s[k]))) + float(np.cumsum(steps)[-1])
            assert got[k] == pytest.approx(want, rel=1e-12)
        one = [otgah_search.batch_time_s(int(x), int(y), int(z), c) for x, y, z in zip(b, s, o, strict=True)]
        assert np.array_equal(np.asarray(one), got)  # the search's own T, element by element


def test_infinite_budgets_match_the_reference(game, engine):
    """Best-effort batches (budget +inf): the bound still counts only batches that fit KV memory, so the
    node counts are the original's too."""
    rng = np.random.default_rng(17)
    for _ in range(8):
        r = int(rng.integers(1, game.n_actions))
        users = rng.choice(game.n_users, int(rng.integers(2, 25)), replace=False)
        prob = otgah.BatchProblem(r, game.output_tokens[users], game.prompt_tokens[users],
                                  game.uplink_s[users, r], np.full(users.size, np.inf), 20)  # fmt: skip
        a, b = otgah.optimal_batch(game, prob), ref.optimal_batch(game, prob)
        assert (a.members.tolist(), a.value, a.nodes) == (b.members.tolist(), b.value, b.nodes)
