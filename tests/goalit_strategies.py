"""Hypothesis strategies: small random scenarios built from the ``goalit.scenario.model`` dataclasses.

The scenarios are chosen to exercise every part of Model A on a handful of users: several servers with
one to three instances each (so some users have more than one reachable server), APs with only 1-3
sub-channels (the AP penalty binds), large KV reservations (instance capacities of a few sequences or
zero, so the capacity penalty binds or the instance is unusable), limited AP coverage (unreachable
servers), perplexity bounds that forbid the local model (users that must offload), and energy weights.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

from goalit.game.model import build_game
from goalit.scenario.model import AccessPoint, GameParams, Instance, Radio, Scenario, Server, Users
from goalit.scenario.profiles import builtin_profiles

SERVER_HARDWARE = ("rtx-4090", "jetson-agx-orin-64gb", "jetson-orin-nano-8gb", "a100-80gb")
LEVELS = ("fp16", "q8_0", "q4_k_m", "q3_k_m", "q2_k")
DEVICE = "snapdragon-8-gen-3"
# 6.3 forbids everything but fp16/q8_0 (and the local q4_k_m model): such users must offload.
MAX_PPL = (6.3, 6.5, 7.0, 10.0, 1e9)


@st.composite
def servers(
    draw, max_servers: int = 3, max_instances: int = 3, max_total_instances: int | None = None,
    sharing: tuple[str, ...] = ("partitioned",),
):  # fmt: skip
    """Random servers; ``sharing``: the modes to draw from (one mode: no draw, shares as before)."""
    n_servers = draw(st.integers(1, max_servers))
    out = []
    budget = max_total_instances if max_total_instances is not None else n_servers * max_instances
    for j in range(n_servers):
        left = budget - sum(len(s.instances) for s in out)
        if left <= 0:
            break
        k = draw(st.integers(1, min(max_instances, left)))
        levels = draw(st.lists(st.sampled_from(LEVELS), min_size=k, max_size=k, unique=True))
        raw = draw(st.lists(st.floats(0.1, 1.0), min_size=k, max_size=k))
        total = max(1.0, sum(raw))
        insts = tuple(
            Instance(lv, math.floor(w / total * 1e6) / 1e6) for lv, w in zip(levels, raw, strict=True)
        )
        k_sub = draw(st.integers(1, 3))
        ap = AccessPoint(
            bandwidth_hz=k_sub * 1e6,
            subchannel_hz=1e6,
            tx_power_w=1.0,
            coverage_m=draw(st.sampled_from((80.0, 150.0, 1000.0))),
        )
        pos = (draw(st.floats(0.0, 200.0)), draw(st.floats(0.0, 200.0)))
        hw = draw(st.sampled_from(SERVER_HARDWARE))
        mode = draw(st.sampled_from(sharing)) if len(sharing) > 1 else sharing[0]
        if mode == "shared":
            insts = tuple(Instance(i.level, 1.0) for i in insts)
        out.append(Server(f"s{j}", pos, hw, ap, insts, mode))
    return tuple(out)


@st.composite
def users(draw, min_users: int = 1, max_users: int = 6) -> Users:
    n = draw(st.integers(min_users, max_users))

    def col(elements):
        return draw(st.lists(elements, min_size=n, max_size=n))

    return Users(
        x_m=np.array(col(st.floats(0.0, 200.0))),
        y_m=np.array(col(st.floats(0.0, 200.0))),
        device=np.full(n, DEVICE, dtype=object),
        prompt_tokens=np.array(col(st.integers(16, 512)), dtype=np.int64),
        output_tokens=np.array(col(st.integers(16, 512)), dtype=np.int64),
        deadline_s=np.array(col(st.floats(1.0, 30.0))),
        w_latency=np.array(col(st.sampled_from((1.0, 0.5, 2.0)))),
        w_quality=np.array(col(st.floats(0.0, 0.5))),
        w_energy=np.array(col(st.sampled_from((0.0, 0.1, 1.0)))),
        max_perplexity=np.array(col(st.sampled_from(MAX_PPL))),
        tx_power_w=np.array(col(st.sampled_from((0.05, 0.2)))),
    )


@st.composite
def scenarios(
    draw,
    min_users: int = 1,
    max_users: int = 6,
    max_servers: int = 3,
    max_instances: int = 3,
    max_total_instances: int | None = None,
    repair: bool = True,
    sharing: tuple[str, ...] = ("partitioned",),
) -> Scenario:
    """A random small scenario. ``repair``: users left without a feasible action get no perplexity bound
    (then the local model is allowed), so that hardly any example is filtered out."""
    cat = builtin_profiles()
    srv = draw(servers(max_servers, max_instances, max_total_instances, sharing))
    u = draw(users(min_users, max_users))
    game = GameParams(
        epsilon=draw(st.sampled_from((1e-9, 1e-6, 1e-4, 1e-2))),
        capacity_penalty_s=draw(st.sampled_from((0.05, 1.0, 1000.0))),
        max_slots=10_000,
        context_tokens=draw(st.sampled_from((None, 300.0, 3000.0))),
        # 60k tokens per sequence: an RTX 4090 q4_k_m half share holds one sequence, fp16 none
        kv_context_tokens=draw(st.sampled_from((None, 20_000.0, 60_000.0))),
    )
    used = {s.hardware for s in srv} | {DEVICE}
    scenario = Scenario(
        name="hypothesis",
        llm=cat.llm["llama-3-8b"],
        local_level=draw(st.sampled_from(("q4_k_m", "q8_0", "q2_k"))),
        hardware={h: cat.hardware[h] for h in sorted(used)},
        servers=srv,
        users=u,
        radio=Radio(),
        game=game,
    )
    if repair:
        stuck = ~build_game(scenario).allowed.any(axis=1)
        if stuck.any():
            u.max_perplexity[stuck] = 1e9
    return scenario


def feasible(game) -> bool:
    """Every user has at least one allowed action."""
    return bool(game.allowed.any(axis=1).all())
