"""The routing game: requests as players, pinned in-flight load, policies from the registry."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from serve_helpers import PROFILE, write_config

import goalit
from goalit.game import dynamics
from goalit.rng import stream
from goalit.serve.config import load_config
from goalit.serve.router import BackendView, Job, Placed, Router
from goalit.solvers.registry import REGISTRY


@pytest.fixture
def config(tmp_path):
    return load_config(write_config(tmp_path / "g.toml", ["http://127.0.0.1:9001", "http://127.0.0.1:9002"]))


def job(s=100, o=32, w_q=0.0, ppl=1e9, levels=None, exclude=()):
    return Job(
        s, o, 1.0, w_q, 0.0, 60.0, ppl, None if levels is None else frozenset(levels), frozenset(exclude)
    )


def up(n=2, tail=None):
    return [BackendView(up=True, tail_level=tail) for _ in range(n)]


def test_serve_router_actions_cover_every_backend_and_level(config):
    r = Router(config)
    assert r.n_actions == 5
    assert [(int(r.backend_of[a]), r.level_of[a]) for a in range(1, 5)] == [
        (0, "q8_0"), (0, "q4_0"), (1, "q8_0"), (1, "q4_0")]  # fmt: skip
    assert r.action_of(1, "q4_0") == 4
    # the 4-bit level decodes faster on the same hardware; prefill is compute-bound, so the same
    assert r.service_s(2, 100, 32) < r.service_s(1, 100, 32)


def test_serve_router_picks_fast_level_for_latency_and_good_level_for_quality(config):
    r = Router(config)
    assert r.decide([job()], [], up())[0].level == "q4_0"
    assert r.decide([job(w_q=1.0)], [], up())[0].level == "q8_0"
    assert r.decide([job(ppl=30.0)], [], up())[0].level == "q8_0"  # q4_0 has PPL 33.3
    assert r.decide([job(levels={"q8_0"})], [], up())[0].level == "q8_0"


def test_serve_router_avoids_down_excluded_and_busy_backends(config):
    r = Router(config)
    views = up()
    views[0].up = False
    assert r.decide([job()], [], views)[0].backend == 1
    assert r.decide([job(exclude={1})], [], up())[0].backend == 0
    busy = [Placed(job(), r.action_of(0, "q4_0"), remaining_s=2.0)]
    d = r.decide([job()], busy, up())[0]
    assert d.backend == 1
    # nothing allowed: no decision
    views[1].up = False
    assert r.decide([job()], [], views)[0].action == 0


def test_serve_router_prediction_counts_backlog_and_swap(config):
    r = Router(config)
    alone = r.decide([job()], [], up())[0]
    assert alone.predicted_latency_s == pytest.approx(r.service_s(alone.action, 100, 32))
    # both backends busy for 1 s and 3 s: the request waits behind the shorter backlog
    placed = [Placed(job(), r.action_of(0, "q4_0"), 1.0), Placed(job(), r.action_of(1, "q4_0"), 3.0)]
    d = r.decide([job()], placed, up(tail="q4_0"))[0]
    assert d.backend == 0
    assert d.predicted_latency_s == pytest.approx(1.0 + r.service_s(d.action, 100, 32))
    # a level switch costs swap_s: a short quality-neutral request stays on the loaded 8-bit level
    d = r.decide([job(o=2)], [], up(tail="q8_0"))[0]
    assert d.level == "q8_0"
    assert r.decide([job(o=200)], [], up(tail="q8_0"))[0].level == "q4_0"  # long enough to pay the swap


def test_serve_router_simultaneous_requests_spread_over_backends(config):
    r = Router(config)
    ds = r.decide([job(), job()], [], up())
    assert sorted(d.backend for d in ds) == [0, 1]
    assert all(d.level == "q4_0" for d in ds)


def test_serve_router_pinned_players_cannot_move_and_free_ones_are_at_equilibrium(config):
    r = Router(config)
    placed = [Placed(job(), 2, 0.5), Placed(job(), 2, 1.5), Placed(job(w_q=1.0), 3, 0.7)]
    jobs = [job(), job(w_q=1.0), job(s=400), job(o=4)]
    game, initial = r.build_game(jobs, placed, up())
    assert game.n_users == 7
    assert (game.allowed[:3].sum(axis=1) == 1).all()
    assert list(initial[:3]) == [2, 2, 3]
    assert not game.allowed[:, 0].any()  # never local behind a gateway
    res = REGISTRY["goalit"](game, stream(0, "algorithm"), initial=initial)
    assert list(res.profile[:3]) == [2, 2, 3]
    _, gain = dynamics.best_responses(game, res.profile)
    assert gain[3:].max() <= game.epsilon  # an epsilon-NE of the free players


@pytest.mark.parametrize("policy", sorted(REGISTRY))
def test_serve_router_every_registry_policy_gives_allowed_actions(config, policy):
    r = Router(config, policy=policy, seed=3)
    placed = [Placed(job(), 2, 0.5)]
    jobs = [job(), job(w_q=1.0), job(levels={"q8_0"}), job(exclude={0})]
    ds = r.decide(jobs, placed, up())
    assert all(d.action >= 1 for d in ds)
    assert ds[2].level == "q8_0" and ds[3].backend == 1


def test_serve_router_follows_the_registry_policy_exactly(config):
    """The gateway applies the policy's profile for the free players of the game it builds."""
    for policy in ("least-loaded", "random", "goalit"):
        r = Router(config, policy=policy, seed=5)
        placed = [Placed(job(), 2, 0.5), Placed(job(), 2, 0.4)]
        jobs = [job(), job(), job()]
        game, initial = r.build_game(jobs, placed, up())
        opts = {"initial": initial} if policy == "goalit" else {}
        expected = REGISTRY[policy](game, stream(5, "algorithm"), **opts).profile[2:]
        got = [d.action for d in r.decide(jobs, placed, up())]
        assert got == list(expected), policy


def test_serve_router_is_reproducible(config):
    a = [d.action for d in Router(config, policy="random", seed=7).decide([job()] * 6, [], up())]
    b = [d.action for d in Router(config, policy="random", seed=7).decide([job()] * 6, [], up())]
    assert a == b


def test_serve_router_continuous_batching_backend_has_no_backlog_until_its_slots_are_full(config):
    cont = replace(
        config,
        backends=tuple(replace(b, batching="continuous", swap_s=0.0, concurrency=2) for b in config.backends),
    )
    r = Router(cont)
    placed = [Placed(job(), 2, 5.0)]
    game, _ = r.build_game([job()], placed, up())
    # the batch step grows with the load instead of a FIFO backlog
    assert game.step_table[2, 2] >= game.step_table[2, 1] > 0
    assert game.step_table[2, 3] == game.step_table[2, 2]  # at most 2 decode together
    assert game.fixed_latency_s[1, 2] == pytest.approx(float(r.prefill_s(2, np.array([100.0]))[0]))
    # both slots of the backend taken: a new request waits for one (backlog / slots)
    game, _ = r.build_game([job()], [Placed(job(), 2, 5.0), Placed(job(), 1, 3.0)], up())
    assert game.fixed_latency_s[2, 2] == pytest.approx(4.0 + float(r.prefill_s(2, np.array([100.0]))[0]))


# --- shared hosts: backends on one machine form one accelerator group (docs/model.md, Model A) -----------
CALIBRATED = str(Path(goalit.__file__).parent / "data" / "profiles" / "calibrated.toml")


def host_config(tmp_path, host: str | None = "box", table: bool = False):
    """Two llama-server backends (q8_0, q4_0), on one shared host unless ``host`` is None."""
    lines = ['llm = "test-smollm2"', f'profiles = ["{PROFILE}"]']
    if table:
        lines.append(f'step_table = "{CALIBRATED}"')
    for k, (lv, port) in enumerate((("q8_0", 9001), ("q4_0", 9002))):
        lines += ["", "[[backends]]", f'name = "b{k}"', f'url = "http://127.0.0.1:{port}"',
                  'hardware = "test-cpu"', f'levels = {{ {lv} = "m-{lv}" }}', 'engine = "llama-server"']  # fmt: skip
        if host is not None:
            lines.append(f'host = "{host}"')
    p = tmp_path / f"host-{host}-{table}.toml"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load_config(p)


def predicted(r: Router, free: Job, placed: list[Placed]) -> float:
    game, initial = r.build_game([free], placed, up())
    return float(dynamics.latencies(game, initial)[-1])


@pytest.mark.parametrize("table", [False, True], ids=["roofline", "step-table"])
def test_serve_router_shared_host_one_active_backend_is_its_own_step(tmp_path, table):
    r = Router(host_config(tmp_path, table=table))
    assert r.group_of.tolist() == [-1, 0, 0] and r.group_shared.tolist() == [True]
    s, o = 100.0, 32.0
    ctx = np.array([s + o / 2])
    for b in (0, 1):  # alone on the host: prefill + o d_b(1), as on a machine of its own
        want = r.prefill_s(b + 1, np.array([s]))[0] + o * r.step_s(b + 1, np.ones(1), ctx)[0]
        assert predicted(r, job(s, o, exclude={1 - b}), []) == pytest.approx(want, rel=1e-12)
    alone = Router(host_config(tmp_path, host=None, table=table))
    assert alone.group_of is None  # no host: partitioned, the pre-existing game
    assert predicted(alone, job(s, o, exclude={1}), []) == pytest.approx(
        predicted(r, job(s, o, exclude={1}), [])
    )


@pytest.mark.parametrize("table", [False, True], ids=["roofline", "step-table"])
def test_serve_router_shared_host_two_active_backends_pay_the_sum_of_steps(tmp_path, table):
    r = Router(host_config(tmp_path, table=table))
    r.online.decode[1] = 2.0  # the online correction of the other backend scales its share of the iteration
    s, o = 100.0, 32.0
    ctx = np.array([s + o / 2])
    running = [Placed(job(s, o), r.action_of(1, "q4_0"), remaining_s=0.0)]
    d0 = r.step_s(1, np.ones(1), ctx)[0]
    d1 = r.step_s(2, np.ones(1), ctx)[0]
    assert d1 == pytest.approx(2.0 * r.step_s(2, np.ones(1), ctx, base=True)[0])
    want = r.prefill_s(1, np.array([s]))[0] + o * (d0 + d1)  # T_G = d_0(1) + d_1(1)
    assert predicted(r, job(s, o, exclude={1}), running) == pytest.approx(want, rel=1e-12)
    # partitioned (no host): the running request on the other backend does not slow this one
    part = Router(host_config(tmp_path, host=None, table=table))
    part.online.decode[1] = 2.0
    assert predicted(part, job(s, o, exclude={1}), running) == pytest.approx(
        r.prefill_s(1, np.array([s]))[0] + o * d0, rel=1e-12
    )
    # the others' share of an observed TPOT (online calibration): active half the time at batch 1
    assert r.others_step_s(0, {1: 0.5}, s + o / 2) == pytest.approx(0.5 * d1)
    assert r.others_step_s(0, {1: 0.0}, s + o / 2) == 0.0
    assert part.others_step_s(0, {1: 1.0}, s + o / 2) == 0.0


def test_serve_router_shared_host_routes_and_predicts_with_the_iteration(tmp_path):
    r = Router(host_config(tmp_path))
    s, o = 100.0, 32.0
    running = [Placed(job(s, o), r.action_of(1, "q4_0"), remaining_s=0.0)]
    d = r.decide([job(s, o)], running, up())[0]
    ctx = np.array([s + o / 2])
    if d.backend == 1:  # joins the running batch: T_G = d_1(2)
        want = r.prefill_s(2, np.array([s]))[0] + o * r.step_s(2, np.array([2.0]), 2 * ctx)[0]
    else:
        want = r.prefill_s(1, np.array([s]))[0] + o * (
            r.step_s(1, np.ones(1), ctx)[0] + r.step_s(2, np.ones(1), ctx)[0]
        )
    assert d.predicted_latency_s == pytest.approx(want, rel=1e-12)
