"""The compiled GOALIT kernel (Numba) equals the Python scalar loop and the vectorised protocol, bit for bit.

Decision games as the simulator builds them (``SubgameBuilder.loaded``: background requests, contexts,
KV pools from free to over-committed, APs from free to saturated) on `default` (shared servers) and
`default-partitioned`, 1 to 150 players: same profile, slots, updates, messages, converged and cycled
flags, and no draw from the generator (the parallel and max-gain grants draw nothing)."""

from __future__ import annotations

import numpy as np
import pytest

from goalit.api import default_scenario
from goalit.game import dynamics
from goalit.game import goalit_scalar as gs
from goalit.game.goalit import goalit
from goalit.game.model import build_game
from goalit.scenario.model import Users
from goalit.sim.view import Background, SubgameBuilder

pytest.importorskip("numba")


def decision_games(name: str, count: int, seed: int, max_players: int = 150):
    """``count`` decision games of `name` with 1..max_players players (some users without the local
    model: their isolated start is an instance)."""
    sc = default_scenario(name)
    rng = np.random.default_rng(seed)
    n = 600
    u = sc.users.take(rng.integers(0, sc.n_users, n))
    users = Users(**{**u.__dict__, "prompt_tokens": rng.integers(50, 600, n),
                     "output_tokens": rng.integers(20, 400, n),
                     "max_perplexity": rng.uniform(5.0, 12.0, n)})  # fmt: skip
    game = build_game(sc, users=users, context_tokens=400.0, kv_context_tokens=1024.0)
    b = SubgameBuilder(game)
    feasible = np.flatnonzero(game.allowed.any(axis=1))
    cap = np.minimum(game.capacity[1:], 60)
    sizes = np.unique(np.geomspace(1, max_players, count).astype(int))
    for k in range(count):
        size = int(sizes[k % sizes.size])
        ids = np.sort(rng.choice(feasible, size, replace=False))
        n_fixed = np.concatenate([[0], rng.integers(0, cap + 3)])
        ctx = n_fixed * rng.uniform(100.0, 4000.0, n_fixed.shape)
        m_fixed = rng.integers(0, 24, game.n_servers)
        kv = game.kv_free_bytes * (1.0 - rng.uniform(0.0, 1.2, game.n_actions))
        yield k, rng, b.loaded(ids, Background(n_fixed, ctx, m_fixed, kv), potential=False)


def random_profile(game, rng) -> np.ndarray:
    return np.array([rng.choice(np.flatnonzero(row)) for row in game.allowed], np.int64)


@pytest.mark.parametrize("name", ["default", "default-partitioned"])
@pytest.mark.parametrize("grant", ["parallel", "max-gain"])
def test_kernel_equals_the_python_loop_and_the_vectorised_protocol(name, grant):
    multi = 0
    for k, rng, sub in decision_games(name, 60, 7 if grant == "parallel" else 8):
        init = dynamics.isolated_start(sub) if k % 3 else random_profile(sub, rng)
        cap = None if k % 5 else int(rng.integers(1, 6))
        eps = None if k % 7 else float(sub.epsilon * 10 ** rng.uniform(0, 4))
        r1, r2, r3 = (np.random.default_rng(k) for _ in range(3))
        ref = goalit(sub, r1, initial=init, grant=grant, epsilon=eps, max_slots=cap, fast=False,
                     record_potential=False)  # fmt: skip
        py = gs.goalit_small_cycled(sub, r2, init, grant, eps, cap, compiled=False)
        jit = gs.goalit_small_cycled(sub, r3, init, grant, eps, cap, compiled=True)
        assert np.array_equal(py[0], ref.profile) and np.array_equal(jit[0], ref.profile)
        counters = (ref.slots, ref.updates, ref.messages, ref.converged, ref.cycled)
        assert py[1:] == counters and jit[1:] == counters
        assert r1.random() == r2.random() == r3.random()
        multi += ref.updates > 1
    assert multi > 20  # non-trivial runs


@pytest.mark.parametrize("name", ["default", "default-partitioned"])
def test_compiled_isolated_start_and_warm_start_equal_the_python_path(name):
    """``goalit_from``: new players (-1) at their isolated start, the others where they are."""
    some_not_local = 0
    for k, rng, sub in decision_games(name, 40, 9):
        start = gs.isolated_start_small(sub)
        assert np.array_equal(start, dynamics.isolated_start(sub))
        some_not_local += int((start != 0).any())
        current = np.where(rng.random(sub.n_users) < 0.5, -1, random_profile(sub, rng))
        grant = ("parallel", "max-gain")[k % 2]
        py = gs.goalit_from(sub, rng, current, grant, compiled=False)
        jit = gs.goalit_from(sub, rng, current, grant, compiled=True)
        assert np.array_equal(py[0], jit[0]) and py[1:] == jit[1:]
        only_start = gs.goalit_from(sub, rng, np.full(sub.n_users, -1), grant, max_slots=0, compiled=True)
        assert np.array_equal(only_start[0], start) and only_start[1] == 0
    assert some_not_local > 10


def test_kernel_detects_cycles_as_the_protocol_does():
    """tests/game/test_shared.py's game whose best responses cycle (three users, two shared servers): the
    kernel stops at the same repeated profile after the same slots, with or without the slot cap binding."""
    import dataclasses
    import tomllib

    from test_shared import TWO_SERVERS  # tests/game is on sys.path while its tests run

    from goalit.scenario.toml_io import parse_scenario

    game = build_game(parse_scenario(tomllib.loads(TWO_SERVERS)))
    step = np.array([[0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.195, 0.228, 0.41, 0.558], [0.0, 1.051, 1.104, 1.191, 1.217],
                     [0.0, 0.567, 0.671, 0.685, 0.744], [0.0, 0.941, 1.03, 1.213, 1.304]])  # fmt: skip
    beta = np.array([[np.inf, 0.308, 1.1, 0.214, 2.454], [np.inf, 2.039, 1.144, 2.229, 2.991],
                     [np.inf, 0.288, 1.776, 2.568, 2.076]])  # fmt: skip
    game = dataclasses.replace(game, step_table=step, potential_table=np.cumsum(step, axis=1), beta=beta,
                               alpha=np.ones(3))  # fmt: skip
    cycles = 0
    for grant in ("max-gain", "parallel"):
        for cap in (200, 3, 1):
            ref = goalit(game, np.random.default_rng(0), grant=grant, max_slots=cap, fast=False)
            for compiled in (False, True):
                got = gs.goalit_from(game, None, np.full(3, -1), grant, max_slots=cap, compiled=compiled)
                assert np.array_equal(got[0], ref.profile)
                assert got[1:] == (ref.slots, ref.updates, ref.messages, ref.converged, ref.cycled)
            cycles += ref.cycled
    assert cycles >= 2


def test_numba_is_imported_when_the_kernel_first_runs_not_before():
    import subprocess
    import sys

    code = (
        "import sys, goalit.game.goalit, goalit.game.goalit_scalar as gs, goalit.sim.policies\n"
        "print('numba' in sys.modules, gs.kernel() is not None, 'numba' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True", "True"]


def test_without_numba_the_python_loop_runs(monkeypatch):
    monkeypatch.setattr(gs, "_KERNEL", False)
    assert gs.kernel() is None and gs.max_players() == gs.MAX_PLAYERS
    game = build_game(default_scenario("small"))
    a0 = gs.isolated_start_small(game)
    out = gs.goalit_small_cycled(game, np.random.default_rng(0), a0)
    tr = goalit(game, np.random.default_rng(0), initial=a0, fast=False)
    assert np.array_equal(out[0], tr.profile) and out[1:4] == (tr.slots, tr.updates, tr.messages)
    with pytest.raises(RuntimeError, match="Numba"):
        gs.goalit_small_cycled(game, np.random.default_rng(0), a0, compiled=True)
