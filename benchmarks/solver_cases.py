"""Scenarios of the solver benchmarks (issue 3), built from the embedded default scenario.

``default_with(n, seed)``: the default's 4 servers (10 instances) with n users drawn like its own.
``four_by_five(n, seed)``: 4 servers x 5 quantization levels (20 instances): the default's positions
and APs, but every server hosts fp16, q8_0, q4_k_m, q3_k_m and q2_k; an RTX 4090 (24 GiB) cannot hold
all five, so the two GPU sites get an A100-80GB (docs/model.md C.4) and the two Orin sites keep their AGX Orin
64GB. Shares 0.3 / 0.2 / 0.2 / 0.15 / 0.15 (FP16 needs 16 GB of weights: 0.3 x 64 GiB = 19.2 GiB).
"""

from __future__ import annotations

from dataclasses import replace

from goalit.api import default_scenario
from goalit.scenario.generate import USER_DISTRIBUTIONS, UserGenerator
from goalit.scenario.model import Instance, Scenario
from goalit.scenario.profiles import builtin_profiles

LEVELS = (("fp16", 0.3), ("q8_0", 0.2), ("q4_k_m", 0.2), ("q3_k_m", 0.15), ("q2_k", 0.15))


def users_like_default(n_users: int, seed: int):
    """Users drawn from the distributions of default.toml's [users_generate] (300 m x 300 m)."""
    dists = {name: dist for name, dist, _, _ in USER_DISTRIBUTIONS}
    dists["max_perplexity"] = ("uniform", (6.5, 12.0))  # default.toml
    return UserGenerator(n_users, seed, (300.0, 300.0), "snapdragon-8-gen-3", dists).draw()


def default_with(n_users: int, seed: int) -> Scenario:
    return default_scenario().with_users(users_like_default(n_users, seed))


def four_by_five(n_users: int, seed: int) -> Scenario:
    base = default_scenario()
    servers = []
    for sv in base.servers:
        hw = "a100-80gb" if sv.hardware == "rtx-4090" else sv.hardware
        servers.append(replace(sv, hardware=hw, instances=tuple(Instance(lv, sh) for lv, sh in LEVELS)))
    hardware = {**base.hardware, "a100-80gb": builtin_profiles().hardware["a100-80gb"]}
    sc = replace(base, name=f"4x5-{n_users}", hardware=hardware)
    return sc.with_servers(tuple(servers)).with_users(users_like_default(n_users, seed))
