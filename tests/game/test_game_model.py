"""build_game golden values (docs/model.md B.4-B.7): one user, one RTX 4090 instance, every term by hand.

World: server at (0, 0) with a q4_k_m instance of share 0.5 on an RTX 4090; AP sub-channel b0 = 1 MHz,
AP power 1 W; BS and UE antennas both at 10 m, so d_3D = 100 m for the user at (100, 0), inside the UMi
LOS breakpoint distance (4 * 9 * 9 * 3.5e9 / c = 3.78 km): PL1 applies.
Radio: 3.5 GHz, N0 = -170 dBm/Hz + 10 dB = 1e-19 W/Hz, t_0 = 10 ms. Nominal context l = 400 tokens.
User: s = 200, o = 100 tokens; w_T = 1, w_Q = 0.5 s/nat, w_E = 0.1 s/J; radiated p = 0.1 W;
phone: transmit 1 W (electrical), idle 0.2 W, local run 6 W; local model q4_k_m.

  PL = 85.281361 dB, g = 2.9639025e-9                                     (tests/physics/test_radio.py)
  uplink   SNR = 0.1 g / 1e-13 = 2963.90, r = 11.533769 Mbit/s, T_up = 3400 bit / r + 10 ms = 10.294787 ms
  downlink SNR = 1.0 g / 1e-13 = 29639.0, r = 1e6 log2(29640.0) = 14.855259 Mbit/s,
           T_dl = 100 * 17 bit / r + 10 ms = 0.114438 ms + 10 ms = 10.114438 ms
  T_pre = 55.619048 ms, d(1) = 14.014973 ms/token, d(5) = 14.584975 ms  (tests/physics/test_llm_roofline.py)
  latency  T_up + T_pre + o d(1) + T_dl = 10.294787 + 55.619048 + 1401.4973 + 10.114438 ms = 1.4775256 s
  quality  w_Q o Q(q4_k_m) = 0.5 * 100 * 0.02751691 = 1.3758453 s
  energy   1 W * T_up + 0.2 W * (T_pre + o d(1)) = 0.0102948 + 0.2 * 1.4571164 = 0.3017181 J;
           times w_E = 0.1 s/J: 0.0301718 s
  C_i      1.4775256 + 1.3758453 + 0.0301718 = 2.8835427 s
  alpha_i  = o (w_T + w_E p_idle) = 100 * (1 + 0.1 * 0.2) = 102 s per (s/token)
  beta_i   = C_i - alpha_i d(1) = 2.8835427 - 102 * 0.014014973 = 1.4540154 s
  local    T_loc = 13.889083 s; C_i(0) = 13.889083 + 1.3758453 + 0.1 * 6 W * 13.889083 s = 23.598379 s
"""

from __future__ import annotations

import tomllib

import numpy as np
import pytest

from goalit.errors import ScenarioError
from goalit.game import dynamics
from goalit.game.model import build_game, check_feasible
from goalit.scenario.toml_io import parse_scenario

WORLD = """
name = "golden"
local_level = "q4_k_m"
[radio]
carrier_ghz = 3.5
noise_psd_dbm_hz = -170.0
noise_figure_db = 10.0
access_overhead_s = 0.010
bs_height_m = 10.0
ue_height_m = 10.0
[game]
context_tokens = 400
kv_context_tokens = 1024
[[servers]]
name = "gpu"
position_m = [0.0, 0.0]
hardware = "rtx-4090"
ap = { bandwidth_hz = 2e6, subchannel_hz = 1e6, tx_power_w = 1.0 }
instances = [{ level = "q4_k_m", share = 0.5 }]
[[users]]
position_m = [100.0, 0.0]
prompt_tokens = 200
output_tokens = 100
deadline_s = 10.0
w_quality = 0.5
w_energy = 0.1
tx_power_w = 0.1
"""


@pytest.fixture(scope="module")
def game():
    return build_game(parse_scenario(tomllib.loads(WORLD)))


def test_tables_layout(game):
    assert game.n_users == 1 and game.n_actions == 2 and game.n_servers == 1
    assert game.server_of.tolist() == [-1, 0]
    assert game.level_of.tolist() == ["q4_k_m", "q4_k_m"]
    assert game.subchannels.tolist() == [2]
    assert game.capacity[1] == 59


def test_link_delays(game):
    assert game.uplink_s[0, 1] == pytest.approx(0.010294787, rel=1e-7)
    assert game.downlink_s[0, 1] == pytest.approx(0.010114438, rel=1e-7)
    assert game.uplink_s[0, 0] == 0 and game.downlink_s[0, 0] == 0


def test_step_table(game):
    assert game.step_table[0].tolist() == [0.0] * game.step_table.shape[1]
    assert game.step_table[1, 0] == 0.0
    assert game.step_table[1, 1] == pytest.approx(14.014973e-3, rel=1e-6)
    assert game.potential_table[1, 1] == game.step_table[1, 1]


def test_fixed_latency_and_energy(game):
    assert game.fixed_latency_s[0, 1] == pytest.approx(0.010294787 + 0.055619048 + 0.010114438, rel=1e-7)
    assert game.fixed_latency_s[0, 0] == pytest.approx(13.889083, rel=1e-7)
    assert game.fixed_energy_j[0, 1] == pytest.approx(0.010294787 + 0.2 * 0.055619048, rel=1e-7)
    assert game.fixed_energy_j[0, 0] == pytest.approx(6.0 * 13.889083, rel=1e-7)


def test_alpha_beta_and_full_cost(game):
    assert game.alpha[0] == pytest.approx(102.0)
    assert game.beta[0, 1] == pytest.approx(1.4540154, rel=1e-6)
    assert game.beta[0, 0] == pytest.approx(23.598379, rel=1e-7)
    costs = dynamics.user_costs(game, np.array([1]))
    assert costs[0] == pytest.approx(2.8835427, rel=1e-7)
    assert dynamics.latencies(game, np.array([1]))[0] == pytest.approx(1.4775256, rel=1e-7)
    assert dynamics.device_energy(game, np.array([1]))[0] == pytest.approx(0.3017181, rel=1e-6)
    assert dynamics.user_costs(game, np.array([0]))[0] == pytest.approx(23.598379, rel=1e-7)


def test_more_users_on_the_instance_raise_the_step_time():
    """Five identical users on the instance (AP K = 5): each pays alpha d(5);
    Phi = sum_k d(k) + 5 beta / alpha."""
    text = WORLD.replace("bandwidth_hz = 2e6", "bandwidth_hz = 5e6")
    scenario = parse_scenario(tomllib.loads(text))
    five = scenario.with_users(scenario.users.take([0, 0, 0, 0, 0]))
    g = build_game(five)
    a = np.ones(5, dtype=np.int64)
    assert g.step_table[1, 5] == pytest.approx(14.584975e-3, rel=1e-6)
    assert dynamics.user_costs(g, a) == pytest.approx([1.4540154 + 102 * 14.584975e-3] * 5, rel=1e-6)
    phi = g.step_table[1, 1:6].sum() + 5 * 1.4540154 / 102
    assert dynamics.potential(g, a) == pytest.approx(phi, rel=1e-6)


def test_capacity_penalty_beyond_kv_capacity():
    """kv_context_tokens = 60,000: (12,884,901,888 - 4.92e9) / (131072 * 60000) = 1.01 -> capacity 1."""
    text = WORLD.replace("kv_context_tokens = 1024", "kv_context_tokens = 60000")
    scenario = parse_scenario(tomllib.loads(text))
    g = build_game(scenario.with_users(scenario.users.take([0, 0])))
    assert g.capacity[1] == 1
    # H is added to the step time beyond capacity (not substituted), so the table stays monotone
    assert g.penalty_s == 1000.0
    assert g.step_table[1, 2] == pytest.approx(1000.0 + 14.15747e-3, rel=1e-9)
    assert g.step_table[1, 2] - g.penalty_s > g.step_table[1, 1]
    assert (np.diff(g.step_table[1]) >= 0).all()


def test_allowed_actions_follow_ppl_bound_coverage_and_memory():
    # max_perplexity below q4_k_m (6.4071): neither the instance nor the local model is allowed
    bad = parse_scenario(
        tomllib.loads(WORLD.replace("tx_power_w = 0.1", "tx_power_w = 0.1\nmax_perplexity = 6.3"))
    )
    g = build_game(bad)
    assert not g.allowed.any()
    with pytest.raises(ScenarioError, match=r"users\[0\]: no feasible action"):
        check_feasible(g)
    # out of the AP's coverage: only local
    far = parse_scenario(tomllib.loads(WORLD.replace("[100.0, 0.0]", "[2000.0, 0.0]")))
    assert build_game(far).allowed.tolist() == [[True, False]]
    # the weights do not fit the instance's memory share: capacity 0, not allowed
    small = parse_scenario(tomllib.loads(WORLD.replace("share = 0.5", "share = 0.15")))
    gs = build_game(small)
    assert gs.capacity[1] == 0 and gs.allowed.tolist() == [[True, False]]


def test_take_users_restricts_user_tables():
    from goalit.api import default_scenario

    full = build_game(default_scenario("default"))
    sub = full.take_users(np.array([3, 7, 11]))
    assert sub.n_users == 3
    assert np.array_equal(sub.beta, full.beta[[3, 7, 11]])
    assert np.array_equal(sub.alpha, full.alpha[[3, 7, 11]])
    assert np.array_equal(sub.step_table, full.step_table)
