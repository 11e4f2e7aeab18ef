"""The decision game and the simulator count the same capacities (KV memory, sub-channels) and loads;
players carry their own request; the state's loads return to zero; decision metrics are reported."""

from __future__ import annotations

import numpy as np
import pytest

import goalit
from goalit.rng import stream
from goalit.sim.policies import GoalitPolicy, make_policy
from goalit.sim.simulator import Simulation, request_game
from goalit.sim.view import _decode_rows
from goalit.sim.workload import Workload, request_users


class Checked(GoalitPolicy):
    """GOALIT, checking at every decision that the view agrees with the simulator's physical state."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.sim = None
        self.checked = 0

    def decide(self, view):
        sim, game = self.sim, view.game
        st = view.state
        bg = view.background
        sub = view.subgame()
        # sub-channels: held only by uplinks in flight or waiting (not by requests in service)
        in_uplink = np.isfinite(st.uplink_start_s) & np.isnan(st.uplink_done_s) & (st.action >= 1)
        per_ap = np.bincount(game.server_of[st.action[in_uplink]], minlength=game.n_servers)
        assert (bg.m_fixed == per_ap).all()
        assert (sub.subchannels == game.subchannels - per_ap).all()
        # KV memory: the engine's free bytes minus what prompts in flight will reserve
        kappa = float(game.instances.kv_bytes_per_token)
        for r in range(1, game.n_actions):
            eng = sim.instances[r]
            eng = getattr(eng, "server", eng)
            going = in_uplink & np.isin(
                st.action,
                [
                    x
                    for x in range(1, game.n_actions)
                    if getattr(sim.instances[x], "server", sim.instances[x]) is eng
                ],
            )
            expect = eng.kv_free - kappa * float((st.prompt[going] + st.output[going]).sum())
            assert bg.kv_free_bytes[r] == pytest.approx(expect, rel=1e-9, abs=1.0)
            # the game penalises exactly the players' loads whose reservations exceed that memory
            kv_p = kappa * float((st.prompt[view.ids] + st.output[view.ids]).mean())
            free_seq = int(np.floor(max(expect, -kv_p) / kv_p))
            g = game.group_of[r]
            if game.shared and game.group_shared[g]:  # one pool per shared server: its group capacity
                assert sub.group_capacity[g] == free_seq
            else:
                m = np.arange(sub.step_table.shape[1])
                over = (m > free_seq) & (m > 0)
                assert ((sub.step_table[r] >= game.penalty_s) == over).all()
        # loads: requests held on r (dispatched, not finished, not blocked in a queue)
        held = (st.action >= 1) & np.isfinite(st.dispatch_s) & np.isnan(st.last_token_s)
        held &= ~np.isin(np.arange(st.action.shape[0]), view.ids)
        assert (bg.n_fixed[1:] == np.bincount(st.action[held], minlength=game.n_actions)[1:]).all()
        ctx = np.bincount(
            st.action[held], weights=(st.prompt + st.output / 2.0)[held], minlength=game.n_actions
        )
        assert np.allclose(bg.ctx_fixed[1:], ctx[1:])
        self.checked += 1
        return super().decide(view)


def run_checked(scenario, w: Workload, seed: int = 0, **kw):
    users, _ = request_users(scenario, w, stream(seed, "workload"))
    game = request_game(scenario, users)
    pol = Checked(**kw)
    sim = Simulation(scenario, game, users, w, pol, stream(seed, "algorithm"))
    pol.sim = sim
    return sim.run(), pol


@pytest.mark.parametrize("name", ["small", "default"])
def test_game_and_simulator_agree_on_capacities_at_every_decision(name):
    sc = goalit.default_scenario(name)
    rng = np.random.default_rng(3)
    n = 120
    t = np.sort(rng.uniform(0, 10.0, n))
    # long prompts: KV memory binds and requests queue for admission
    w = Workload(t, rng.integers(1000, 4000, n), rng.integers(50, 400, n), source="test")
    sim, pol = run_checked(sc, w, epoch_s=0.25)
    assert pol.checked > 10
    assert (sim.state.status == 1).all()


def test_loads_return_to_zero_and_requests_carry_their_lengths():
    sc = goalit.default_scenario("small")
    w = Workload(np.linspace(0, 5, 40), np.full(40, 2342), np.full(40, 30), source="test")
    sim, _ = run_checked(sc, w, epoch_s=0.5)
    st = sim.state
    assert (st.held == 0).all() and (st.queued == 0).all() and (st.uplinks == 0).all()
    assert np.allclose(st.held_kv, 0.0, atol=1e-3) and np.allclose(st.held_ctx, 0.0)
    assert (sim.game.prompt_tokens == 2342).all()  # the trace's lengths, not the scenario users'


def test_decision_game_uses_the_players_contexts():
    sc = goalit.default_scenario("small")
    seen = []

    class Spy(GoalitPolicy):
        def decide(self, view):
            seen.append((view.subgame(), view.background, view.ids.copy(), view.game))
            return super().decide(view)

    w = Workload(np.array([0.0, 0.01, 0.02]), np.array([3000, 100, 200]), np.array([100, 50, 20]), source="t")
    goalit.simulate(sc, Spy(epoch_s=0.1), w, seed=0)
    sub, bg, ids, game = seen[0]
    l_p = float((game.prompt_tokens[ids] + game.output_tokens[ids] / 2.0).mean())
    m = np.arange(sub.step_table.shape[1], dtype=float)[None, :]
    d = _decode_rows(game.instances.roofline, bg.n_fixed[:, None] + m, bg.ctx_fixed[:, None] + m * l_p)
    assert np.allclose(sub.step_table[1:, 1:2], d[1:, 1:2])
    assert (sub.prompt_tokens == game.prompt_tokens[ids]).all()


def test_decision_metrics_and_interval():
    res = goalit.simulate("default", policy="goalit", seed=0, rate=10.0, duration_s=20.0)
    m = res.metrics
    assert res.policy["epoch_s"] == pytest.approx(0.25)
    assert m["decisions"] > 0 and m["players_per_decision_mean"] > 1.0
    assert m["players_per_decision_p95"] <= m["players_per_decision_max"]
    assert 0.0 <= m["decisions_converged_share"] <= 1.0 and m["decisions_cycled_share"] == 0.0
    one = goalit.simulate(
        "default", policy="goalit", seed=0, rate=10.0, duration_s=20.0, decision_interval_s=0
    )
    assert one.policy["epoch_s"] is None
    assert one.metrics["decisions"] >= one.metrics["arrived"] - one.metrics["rejected"] > m["decisions"]
    assert "players_per_decision_mean" in res.summary()
    with pytest.raises(goalit.GoalitInputError, match="decision_interval_s"):
        make_policy("goalit", decision_interval_s=-1)
    with pytest.raises(goalit.GoalitInputError, match="did you mean 'grant'"):
        make_policy("goalit", grnt="random")
