"""Model B on a shared server (docs/model.md): closed-form iteration times for one and two active variants,
Model A agreement for a lone request, token conservation and same seed same bytes."""

from __future__ import annotations

import hashlib
import json
import tomllib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import goalit
from goalit.game import dynamics
from goalit.game.model import build_game
from goalit.rng import stream
from goalit.scenario.toml_io import parse_scenario
from goalit.sim.policies import Decision, Policy
from goalit.sim.simulator import Simulation, request_game
from goalit.sim.workload import Workload, request_users
from goalit_strategies import scenarios

WORLD = """
name = "shared-sim"
local_level = "q4_k_m"
[[servers]]
name = "gpu"
position_m = [0.0, 0.0]
hardware = "rtx-4090"
ap = { bandwidth_hz = 8e6, subchannel_hz = 1e6 }
hosts = ["q8_0", "q4_k_m"]
[users_generate]
count = 4
seed = 1
area_m = [100.0, 100.0]
prompt_tokens = { uniform = [64, 256] }
output_tokens = { uniform = [64, 256] }
deadline_s = 10.0
w_quality = 0.01
w_energy = 0.0
"""


class Fixed(Policy):
    def __init__(self, action: int) -> None:
        super().__init__(name=f"fixed-{action}")
        self.action = action

    def decide(self, view):
        return Decision(np.full(view.ids.shape, self.action, np.int64))


@pytest.fixture(scope="module")
def shared():
    return parse_scenario(tomllib.loads(WORLD))


def d_full(weights: float, eta_m: float, n: int, ctx: float) -> float:
    """RTX 4090 decode step on the whole server (hardware.toml, llm.toml), by hand."""
    memory = (weights + 131072.0 * ctx) / (eta_m * 1008e9)
    return max(memory, 2 * 8.03e9 * n / (0.7 * 165e12)) + 0.5e-3


def engine_with(shared, seqs):
    """The shared server's engine holding running sequences ``seqs`` = [(action, context, remaining)]."""
    n = len(seqs)
    w = Workload(np.zeros(n), np.array([c for _, c, _ in seqs]), np.array([o for _, _, o in seqs]),
                 source="test")  # fmt: skip
    users, _ = request_users(shared, w, stream(0, "workload"))
    game = request_game(shared, users)
    sim = Simulation(shared, game, users, w, Fixed(1), stream(0, "algorithm"))
    eng = sim.instances[1].server
    assert sim.instances[2].server is eng
    sim.action[:] = [r for r, _, _ in seqs]
    eng.ids = np.arange(n)
    eng.ctx = np.array([c for _, c, _ in seqs])
    eng.rem = np.array([o for _, _, o in seqs])
    eng.fresh = np.zeros(n, bool)
    eng._join(eng.ids, eng.ctx)  # the variant of each sequence and the per-variant sums
    assert eng.var.tolist() == [r - 1 for r, _, _ in seqs]
    return eng


def test_one_active_variant_iterates_at_its_whole_server_step(shared):
    eng = engine_with(shared, [(1, 100, 3), (1, 200, 5)])
    eng._schedule(0.0)
    # two q8_0 sequences, contexts 101 + 201 in the first step: d_q8(2, 302)
    assert eng.seg_ends[0] == pytest.approx(d_full(8.55e9, 0.85, 2, 302), rel=1e-12)
    assert eng.event_k == 3
    assert eng.seg_ends[2] - eng.seg_ends[1] == pytest.approx(d_full(8.55e9, 0.85, 2, 306), rel=1e-12)


def test_two_active_variants_share_each_iteration(shared):
    eng = engine_with(shared, [(1, 100, 4), (2, 300, 2)])
    eng._schedule(0.0)
    # one iteration = q8_0 step (ctx 101) + q4_k_m step (ctx 301); both sequences gain one token
    first = d_full(8.55e9, 0.85, 1, 101) + d_full(4.92e9, 0.73, 1, 301)
    second = d_full(8.55e9, 0.85, 1, 102) + d_full(4.92e9, 0.73, 1, 302)
    assert eng.event_k == 2
    assert eng.seg_ends[0] == pytest.approx(first, rel=1e-12)
    assert eng.seg_ends[1] == pytest.approx(first + second, rel=1e-12)


@pytest.mark.parametrize("r", [1, 2])
def test_lone_request_matches_model_a_on_the_shared_server(shared, r):
    s, o = 300, 150
    w = Workload(np.array([0.0]), np.array([s]), np.array([o]), source="test")
    ctx = s + (o + 1) / 2
    res = goalit.simulate(shared, Fixed(r), w, seed=3, context_tokens=ctx)
    users, _ = request_users(shared, w, stream(3, "workload"))
    game = build_game(shared, users=users, context_tokens=ctx, kv_context_tokens=s + o)
    assert res.records["latency_s"][0] == pytest.approx(dynamics.latencies(game, np.array([r]))[0], rel=1e-12)


def test_tokens_are_conserved_and_same_seed_same_bytes(shared):
    def run():
        return goalit.simulate(shared, "goalit", None, seed=5, rate=4.0, duration_s=30.0)

    a, b = run(), run()
    rec = a.records
    done = rec["status"] == "completed"
    on_server = np.asarray(rec["action"]) > 0
    served = int(np.asarray(rec["output_tokens"])[done & on_server].sum())
    assert sum(i["output_tokens"] for i in a.instances) == served
    key = [json.dumps(x.metrics.as_dict(), sort_keys=True, default=str) for x in (a, b)]
    assert key[0] == key[1]
    h = [hashlib.md5(np.asarray(x.records["latency_s"]).tobytes()).hexdigest() for x in (a, b)]
    assert h[0] == h[1]


def test_static_batches_of_different_variants_take_turns_on_a_shared_server():
    sc = goalit.default_scenario("default")
    res = goalit.simulate(sc, "ot-gah", None, seed=2, rate=6.0, duration_s=40.0)
    rec = res.records
    done = np.asarray(rec["status"]) == "completed"
    act = np.asarray(rec["action"])
    on = done & (act > 0)
    assert sum(i["output_tokens"] for i in res.instances) == int(np.asarray(rec["output_tokens"])[on].sum())
    game = build_game(sc)
    srv = game.server_of[act[on]]
    start = np.asarray(rec["admitted_s"])[on]
    end = np.asarray(rec["last_token_s"])[on]
    for j in range(game.n_servers):
        batches = sorted({(s, e) for s, e in zip(start[srv == j], end[srv == j], strict=True)})
        for (_, e0), (s1, _) in zip(batches, batches[1:], strict=False):
            assert s1 >= e0 - 1e-9  # a batch starts once the previous one (any variant) is done


@settings(max_examples=15, deadline=None)
@given(scenario=scenarios(min_users=2, max_users=5, max_servers=2, max_instances=3, sharing=("shared",)),
       seed=st.integers(0, 1000), policy=st.sampled_from(("goalit", "ot-gah")))  # fmt: skip
def test_random_shared_worlds_conserve_tokens_and_repeat_bytes(scenario, seed, policy):
    def run():
        return goalit.simulate(scenario, policy, None, seed=seed, rate=2.0, duration_s=10.0)

    a, b = run(), run()
    rec = a.records
    done = np.asarray(rec["status"]) == "completed"
    on = done & (np.asarray(rec["action"]) > 0)
    assert sum(i["output_tokens"] for i in a.instances) == int(np.asarray(rec["output_tokens"])[on].sum())
    assert (np.asarray(rec["status"]) != "unfinished").all()
    assert json.dumps(a.metrics.as_dict(), sort_keys=True, default=str) == json.dumps(
        b.metrics.as_dict(), sort_keys=True, default=str
    )
    assert np.array_equal(
        np.asarray(a.records["latency_s"]), np.asarray(b.records["latency_s"]), equal_nan=True
    )
