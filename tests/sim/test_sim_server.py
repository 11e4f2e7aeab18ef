"""Model B serving: one request on an idle instance matches the closed form of the cost model; KV admission
queues; continuous batches share steps; static batches take OT-GAH's predicted time and finish together."""

from __future__ import annotations

import numpy as np
import pytest

import goalit
from goalit.game import dynamics
from goalit.game.model import build_game
from goalit.physics import llm
from goalit.rng import stream
from goalit.sim.policies import Decision, OtGahPolicy, Policy
from goalit.sim.workload import Workload, request_users


class Fixed(Policy):
    """Sends every request to one action (a test policy: the thing under test is the server)."""

    def __init__(self, action: int) -> None:
        super().__init__(name=f"fixed-{action}")
        self.action = action

    def decide(self, view):
        return Decision(np.full(view.ids.shape, self.action, np.int64))


def one_request(s: int, o: int) -> Workload:
    return Workload(np.array([0.0]), np.array([s]), np.array([o]), source="test")


@pytest.fixture(scope="module")
def small():
    return goalit.default_scenario("small")


@pytest.mark.parametrize("r", [0, 1, 2, 3])
def test_one_request_on_idle_instance_matches_model_a(small, r):
    s, o, seed = 300, 150, 3
    w = one_request(s, o)
    ctx = s + (o + 1) / 2  # Model A's nominal context equal to the mean context the request attends
    res = goalit.simulate(small, Fixed(r), w, seed=seed, context_tokens=ctx)
    rec = res.records
    assert rec["status"][0] == "completed" and rec["action"][0] == r

    users, _ = request_users(small, w, stream(seed, "workload"))
    game = build_game(small, users=users, context_tokens=ctx, kv_context_tokens=s + o)
    a = np.array([r])
    assert rec["latency_s"][0] == pytest.approx(dynamics.latencies(game, a)[0], rel=1e-12)
    assert rec["device_energy_j"][0] == pytest.approx(dynamics.device_energy(game, a)[0], rel=1e-12)
    assert rec["queue_delay_s"][0] == pytest.approx(0.0, abs=1e-12)
    if r == 0:
        return
    ip = game.instances
    pre = llm.prefill_time_s(s, ip.params, ip.weight_bytes[r], ip.share[r], ip.flops[r], ip.mem_bw[r],
                             ip.eta_c[r], ip.eta_m[r])  # fmt: skip
    steps = llm.decode_step_time_s(
        1,
        s + np.arange(1, o + 1),
        ip.params,
        ip.weight_bytes[r],
        ip.kv_bytes_per_token,
        ip.share[r],
        ip.flops[r],
        ip.mem_bw[r],
        ip.eta_c[r],
        ip.eta_m[r],
        ip.overhead_s[r],
    )
    up = game.uplink_s[0, r]
    assert rec["ttft_s"][0] == pytest.approx(up + pre + steps[0], rel=1e-12)
    assert rec["server_energy_j"][0] == pytest.approx(ip.power_w[r] * (pre + steps.sum()), rel=1e-9)
    assert res.instances[r - 1]["busy_s"] == pytest.approx(pre + steps.sum(), rel=1e-12)


def test_kv_memory_full_requests_queue_until_a_sequence_leaves(small):
    # instance 2 (gpu q4_k_m, theta 0.5 of 24 GiB) holds ~60.7k tokens of KV: two 35k-token requests don't fit
    w = Workload(np.array([0.0, 0.001]), np.array([35_000, 35_000]), np.array([50, 50]), source="test")
    rec = goalit.simulate(small, Fixed(2), w, seed=0).records
    assert (rec["status"] == "completed").all()
    assert rec["admitted_s"][1] == rec["last_token_s"][0]  # admitted at the step boundary freeing the memory
    assert rec["queue_delay_s"][1] > 1.0


def test_continuous_batch_shares_decode_steps(small):
    s, o = 200, 100
    both = Workload(np.array([0.0, 0.0]), np.array([s, s]), np.array([o, o]), source="test")
    res = goalit.simulate(small, Fixed(1), both, seed=0)
    solo = goalit.simulate(small, Fixed(1), one_request(s, o), seed=0)
    assert res.instances[0]["max_batch"] == 2
    # one shared batch: far faster than serving them one after the other
    assert res.records["last_token_s"].max() < 1.2 * solo.records["last_token_s"][0]


def test_max_batch_limits_the_running_batch(small):
    w = Workload(np.zeros(4), np.full(4, 100), np.full(4, 50), source="test")
    res = goalit.simulate(small, Fixed(1), w, seed=0, max_batch=2)
    rec = res.records
    assert res.instances[0]["max_batch"] == 2
    late = np.argsort(rec["admitted_s"])[2:]
    assert (rec["admitted_s"][late] >= rec["last_token_s"].min()).all()  # waited for a batch slot


def test_static_batches_take_the_planned_time_and_finish_together(small):
    from goalit.solvers.otgah import plan_epoch

    plans = []

    def spy(game, pending, **kw):
        plan = plan_epoch(game, pending, **kw)
        plans.append((pending.copy(), plan))
        return plan

    rng = np.random.default_rng(5)
    n = 12
    w = Workload(
        np.sort(rng.uniform(0, 2.0, n)), rng.integers(50, 400, n), rng.integers(20, 200, n), source="t"
    )
    res = goalit.simulate(small, OtGahPolicy(epoch_s=0.5, planner=spy), w, seed=0)
    rec = res.records
    assert (rec["status"] == "completed").all()
    batches = [
        (r, pending[pos], plan.batch_time_s[r]) for pending, plan in plans for r, pos in plan.batches.items()
    ]
    assert batches, "OT-GAH formed no batch"
    for _r, members, t_batch in batches:
        last = rec["last_token_s"][members]
        assert np.all(last == last[0])  # static batch: everyone finishes together
        assert last[0] - rec["admitted_s"][members[0]] == pytest.approx(t_batch, rel=1e-9)
        assert np.all(rec["dispatch_s"][members] % 0.5 == 0)  # decided at epoch boundaries
    padded = sum(i.get("padded_tokens", 0) for i in res.instances)
    assert padded > 0


def test_ot_gah_best_effort_batches_respect_memory(small):
    # requests too long for the phone (no local option) whose deadlines are unreachable (prefill alone
    # takes minutes) go through OT-GAH's best-effort pass; mixed prompt lengths make padded batches of
    # more than two exceed every instance's memory
    s = np.array([62_000, 62_000, 125_000, 125_000])
    w = Workload(np.zeros(s.size), s, np.full(s.size, 1_000), source="test")
    res = goalit.simulate(small, policy="ot-gah", workload=w, seed=0)
    rec = res.records
    assert (rec["status"] == "completed").all() and (rec["action"] >= 1).all()


@pytest.mark.parametrize("scenario", ["default", "default-partitioned"])
def test_running_sums_and_scalar_segments_match_the_batch(monkeypatch, scenario):
    """The engines' running context sums (``ctx_sum``; per variant ``n_by`` / ``ctx_by`` on a shared server)
    equal the sums over the running batch at every step boundary, and timing short segments with Python
    floats (``SCALAR_STEPS``) gives the same records, bit for bit, as timing every segment with NumPy."""
    from goalit.sim import server

    checked = []
    plain_schedule = server.ContinuousInstance._schedule

    def checking_schedule(self, t):
        assert self.ctx_sum == int(self.ctx.sum())
        if isinstance(self, server.SharedServer):
            nv = len(self.actions)
            assert self.n_by == np.bincount(self.var, minlength=nv).tolist()
            assert self.ctx_by == np.bincount(self.var, weights=self.ctx, minlength=nv).astype(int).tolist()
        checked.append(t)
        plain_schedule(self, t)

    monkeypatch.setattr(server.ContinuousInstance, "_schedule", checking_schedule)
    a = goalit.simulate(scenario, "least-loaded", seed=2, duration_s=30.0, rate=8.0)
    assert len(checked) > 100
    monkeypatch.setattr(server, "SCALAR_STEPS", 0)
    b = goalit.simulate(scenario, "least-loaded", seed=2, duration_s=30.0, rate=8.0)
    for col, v in a.records.items():
        np.testing.assert_array_equal(v, b.records[col], err_msg=col)
