"""OT-GAH: static batch physics, OT = exhaustive search, the epoch plan contract for the simulator."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from goalit.api import default_scenario, solve
from goalit.game.model import build_game
from goalit.solvers import otgah


@pytest.fixture(scope="module")
def game():
    return build_game(default_scenario("default-partitioned"))


def test_static_batch_time_is_padded_prefill_plus_decode_steps(game):
    """T(b, s, o) recomputed from the roofline formulas of docs/model.md B.5 written out by hand."""
    ip = game.instances
    for r in (1, 4, 7, 10):
        for b, s, o in ((1, 100, 50), (5, 400, 300), (12, 64, 512)):
            th = ip.share[r]
            pre = max(2 * ip.params * b * s / (ip.eta_c[r] * th * ip.flops[r]),
                      ip.weight_bytes[r] / (ip.eta_m[r] * th * ip.mem_bw[r]))  # fmt: skip
            dec = 0.0
            for t in range(1, o + 1):
                mem = (ip.weight_bytes[r] + ip.kv_bytes_per_token * b * (s + t)) / (
                    ip.eta_m[r] * th * ip.mem_bw[r]
                )
                comp = 2 * ip.params * b / (ip.eta_c[r] * th * ip.flops[r])
                dec += max(mem, comp) + ip.overhead_s[r]
            got = otgah.static_batch_time_s(game, r, b, s, o)[0]
            assert got == pytest.approx(pre + dec, rel=1e-12)
    # monotone in every argument
    t = otgah.static_batch_time_s(game, 3, np.arange(1, 30), 200, 200)
    assert np.all(np.diff(t) > 0)
    assert (
        otgah.static_batch_time_s(game, 3, 4, 201, 200)[0]
        > otgah.static_batch_time_s(game, 3, 4, 200, 200)[0]
    )
    assert (
        otgah.static_batch_time_s(game, 3, 4, 200, 201)[0]
        > otgah.static_batch_time_s(game, 3, 4, 200, 200)[0]
    )


def test_static_batch_memory(game):
    ip = game.instances
    r = 1  # FP16 on a 0.7 share of a 24 GiB RTX 4090: little room for KV
    free = ip.memory_bytes[r] - ip.weight_bytes[r]
    b_max = int(free // (ip.kv_bytes_per_token * 1000))
    assert otgah.static_batch_fits(game, r, b_max, 500, 500)
    assert not otgah.static_batch_fits(game, r, b_max + 1, 500, 500)


def random_problem(game, rng, n, r=None, tight=False):
    r = int(rng.integers(1, game.n_actions)) if r is None else r
    users = rng.choice(game.n_users, n, replace=False)
    slack = rng.uniform(0.3, 1.0, n) if tight else np.ones(n)
    return otgah.BatchProblem(
        r=r,
        output_tokens=game.output_tokens[users].astype(np.int64),
        prompt_tokens=game.prompt_tokens[users].astype(np.int64),
        uplink_s=game.uplink_s[users, r],
        budget_s=slack * game.deadline_s[users] - game.downlink_s[users, r],
        max_batch=int(rng.integers(2, 21)),
    )


def check_feasible(game, prob, choice):
    m = choice.members
    if m.size == 0:
        return
    s, o = int(prob.prompt_tokens[m].max()), int(prob.output_tokens[m].max())
    assert m.size <= prob.max_batch
    assert otgah.static_batch_fits(game, prob.r, m.size, s, o)
    t = otgah.static_batch_time_s(game, prob.r, m.size, s, o)[0]
    assert choice.time_s == pytest.approx(t)
    assert prob.uplink_s[m].max() + t <= prob.budget_s[m].min() + 1e-12
    assert choice.value == int(prob.output_tokens[m].sum())


@pytest.mark.parametrize("seed", range(6))
def test_ot_equals_exhaustive_search_up_to_12_requests(game, seed):
    rng = np.random.default_rng(seed)
    nodes = exhaustive = 0
    for n in range(1, 13):
        for r in (1, 3, 7, 9):
            prob = random_problem(game, rng, n, r=r, tight=seed % 2 == 1)
            ot = otgah.optimal_batch(game, prob)
            ex = otgah.exhaustive_batch(game, prob)
            assert ot.exact
            assert ot.value == ex.value, (n, r)
            check_feasible(game, prob, ot)
            check_feasible(game, prob, ex)
            assert ex.nodes == 2**n
            nodes += ot.nodes
            exhaustive += ex.nodes
        if n == 12:
            assert ot.nodes < ex.nodes
    assert nodes < exhaustive / 10


def test_ot_node_limit_reports_inexact(game):
    rng = np.random.default_rng(3)
    prob = random_problem(game, rng, 12, r=9)
    full = otgah.optimal_batch(game, prob)
    assert full.nodes > 3
    cut = otgah.optimal_batch(game, prob, max_nodes=2)
    assert not cut.exact and cut.value <= full.value


def test_ot_empty_and_infeasible(game):
    prob = otgah.BatchProblem(3, np.array([100]), np.array([100]), np.array([0.01]), np.array([1e-3]), 5)
    ch = otgah.optimal_batch(game, prob)
    assert ch.value == 0 and ch.members.size == 0
    none = otgah.BatchProblem(3, np.zeros(0, int), np.zeros(0, int), np.zeros(0), np.zeros(0), 5)
    assert otgah.optimal_batch(game, none).value == 0


def check_plan(game, pending, plan, available=None, waited=None):
    waited = np.zeros(pending.size) if waited is None else waited
    a = plan.assignment
    assert a.shape == pending.shape and a.dtype.kind == "i"
    assert set(plan.batches) == set(plan.batch_time_s)
    seen = np.zeros(pending.size, dtype=int)
    per_server = np.zeros(game.n_servers, dtype=int)
    for r, pos in plan.batches.items():
        assert r >= 1 and (available is None or available[r])
        assert np.all(a[pos] == r)
        seen[pos] += 1
        users = pending[pos]
        assert game.allowed[users, r].all()
        s, o = int(game.prompt_tokens[users].max()), int(game.output_tokens[users].max())
        t = otgah.static_batch_time_s(game, r, pos.size, s, o)[0]
        assert plan.batch_time_s[r] == pytest.approx(t)
        assert otgah.static_batch_fits(game, r, pos.size, s, o)
        finish = waited[pos] + game.uplink_s[users, r].max() + t + game.downlink_s[users, r]
        assert np.all(finish <= game.deadline_s[users] + 1e-9)
        per_server[game.server_of[r]] += pos.size
    assert np.all(seen <= 1)
    assert np.all((a >= 1) == (seen == 1))
    assert np.all(per_server <= game.subchannels)
    assert plan.served_tokens == int(game.output_tokens[pending[a >= 1]].sum())


def test_plan_epoch_contract(game):
    pending = np.arange(game.n_users)
    plan = otgah.plan_epoch(game, pending)
    check_plan(game, pending, plan)
    assert plan.exact and plan.nodes_explored > 0
    assert set(np.unique(plan.assignment)) <= {0} | set(
        range(1, game.n_actions)
    )  # no epoch after: nobody waits


def test_plan_epoch_waiting_available_and_waited(game):
    rng = np.random.default_rng(1)
    pending = np.sort(rng.choice(game.n_users, 30, replace=False))
    available = np.ones(game.n_actions, dtype=bool)
    available[[1, 3, 6]] = False
    waited = rng.uniform(0.0, 3.0, pending.size)
    plan = otgah.plan_epoch(game, pending, available, waited, epoch_s=1.0)
    check_plan(game, pending, plan, available, waited)
    assert not any(r in plan.batches for r in (1, 3, 6))
    a = plan.assignment
    # the ones not batched wait unless even a solo service after one more epoch misses the deadline
    solo = otgah._solo_finish(game, pending, game.allowed[pending])
    late = waited + 1.0 + solo > game.deadline_s[pending]
    assert np.all(a[(a < 1) & late] == 0)
    assert np.all(a[(a < 1) & ~late] == -1)
    assert (a == -1).any()


def test_plan_epoch_deadline_passed_falls_back_local(game):
    pending = np.arange(10)
    plan = otgah.plan_epoch(game, pending, waited_s=game.deadline_s[pending] + 1.0, epoch_s=1.0)
    assert np.all(plan.assignment == 0) and not plan.batches


def test_plan_epoch_one_level_per_server(game):
    pending = np.arange(game.n_users)
    plan = otgah.plan_epoch(game, pending, one_level_per_server=True)
    check_plan(game, pending, plan)
    servers = [int(game.server_of[r]) for r in plan.batches]
    assert len(servers) == len(set(servers))
    assert plan.served_tokens <= otgah.plan_epoch(game, pending).served_tokens


def test_static_solver_matches_plan(game):
    res = solve(game, "ot-gah")
    plan = otgah.plan_epoch(game, np.arange(game.n_users), model_capacity=True)
    assert np.array_equal(res.profile, np.where(plan.assignment < 0, 0, plan.assignment))
    assert res.extras["nodes_explored"] == plan.nodes_explored
    assert res.extras["served_tokens"] == plan.served_tokens
    assert res.extras["waiting_run_local"] == int((plan.assignment == 0).sum())
    assert res.extras["ot_exact"] is True


def test_plan_epoch_edge_cases(game):
    empty = otgah.plan_epoch(game, np.zeros(0, dtype=np.int64), epoch_s=1.0)
    assert empty.assignment.size == 0 and not empty.batches
    pending = np.arange(8)
    none_free = otgah.plan_epoch(game, pending, np.zeros(game.n_actions, dtype=bool), epoch_s=1.0)
    assert not none_free.batches and np.all(none_free.assignment <= 0)


def test_plan_epoch_best_effort_without_local(game):
    """Requests that may not run locally and have already missed their deadline still get a batch."""
    beta = game.beta.copy()
    beta[:, 0] = np.inf
    g = dataclasses.replace(game, beta=beta)
    pending = np.arange(6)
    plan = otgah.plan_epoch(g, pending, waited_s=g.deadline_s[pending] + 5.0, epoch_s=1.0)
    assert np.all(plan.assignment != 0)
    assert (plan.assignment >= 1).any()
    for r, pos in plan.batches.items():
        users = pending[pos]
        s, o = int(g.prompt_tokens[users].max()), int(g.output_tokens[users].max())
        assert otgah.static_batch_fits(g, r, pos.size, s, o)
    res = otgah.solve_otgah(g.take_users(pending), np.random.default_rng(0))
    assert np.all(res.profile >= 1)  # nobody runs locally when it is not allowed


def test_static_solver_respects_model_a_capacity(make_game):
    """Model A reserves KV for the longest sequence of the scenario; the static solver's batches fit it,
    so its profile is never charged the penalty H (plan_epoch alone only checks the batch's own padding)."""
    for n_users, seed in ((20, 5002), (40, 300)):
        game = make_game(n_users, seed, "default-partitioned")
        res = solve(game, "ot-gah")
        n = np.bincount(res.profile, minlength=game.n_actions)
        assert np.all(n[1:] <= game.capacity[1:])
        assert res.metrics.social_cost < game.penalty_s  # no H anywhere
    # without the cap, the FP16 batch of seed 5002 fits physically but exceeds Model A's capacity
    game = make_game(20, 5002, "default-partitioned")
    plan = otgah.plan_epoch(game, np.arange(20))
    n = np.bincount(np.maximum(plan.assignment, 0), minlength=game.n_actions)
    assert np.any(n[1:] > game.capacity[1:])


def test_ot_infinite_deadlines_still_respect_memory(game):
    """Best-effort searches drop deadlines (budget = inf); KV memory must still bind (FP16 on a 4090)."""
    rng = np.random.default_rng(8)
    users = rng.choice(game.n_users, 12, replace=False)
    r = 1
    prob = otgah.BatchProblem(
        r=r,
        output_tokens=np.full(12, 2048, dtype=np.int64),
        prompt_tokens=np.full(12, 2048, dtype=np.int64),
        uplink_s=game.uplink_s[users, r],
        budget_s=np.full(12, np.inf),
        max_batch=20,
    )
    ot, ex = otgah.optimal_batch(game, prob), otgah.exhaustive_batch(game, prob)
    fit = int(np.sum(otgah.static_batch_fits(game, r, np.arange(1, 13), 2048, 2048)))
    assert 0 < fit < 12
    assert ot.members.size == ex.members.size == fit
    check_feasible(game, prob, ot)
