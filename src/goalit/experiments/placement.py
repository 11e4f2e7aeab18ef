"""E11 placement (issue 10): which set of variants should each shared server host?

For the point's users (seed), every server chooses its hosted set from a small enumerated menu
(``MENU``: each single level, and the ladders of two and three levels that fit its memory with room for
KV), by coordinate descent from the scenario's own placement: each server in turn takes the set that
minimises the social cost of GOALIT's equilibrium (Model A, static game) with the other servers fixed,
until no server changes (at most ``ROUNDS`` rounds). The row reports the best placement found, the
scenario's placement and the best *uniform single-level* placement (every server hosting the same one
level), so the report can say from the numbers whether hosting several levels per server pays.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import numpy as np

from goalit.experiments.plan import Plan
from goalit.experiments.point import Point
from goalit.experiments.variants import variant
from goalit.game import dynamics
from goalit.game.goalit import goalit
from goalit.game.model import build_game
from goalit.rng import stream
from goalit.scenario.model import Instance, Scenario

MENU: tuple[tuple[str, ...], ...] = (
    ("fp16",), ("q8_0",), ("q4_k_m",), ("q3_k_m",), ("q2_k",),
    ("fp16", "q4_k_m"), ("q8_0", "q4_k_m"), ("q8_0", "q2_k"), ("q4_k_m", "q2_k"),
    ("q8_0", "q4_k_m", "q2_k"), ("fp16", "q8_0"),
)  # fmt: skip
ROUNDS = 3
KV_ROOM = 0.15  # a hosted set must leave this fraction of the server's memory for KV ([R])

PLACEMENT_COLUMNS = (
    "n_users", "best_hosts", "best_social_cost", "best_mean_latency_s", "best_mean_perplexity",
    "scenario_social_cost", "scenario_mean_latency_s", "scenario_mean_perplexity", "single_level",
    "single_social_cost", "single_mean_latency_s", "single_mean_perplexity", "multi_variant_servers",
    "evaluations",
)  # fmt: skip


def placement_points(plan: Plan) -> list[Point]:
    return [Point("placement", "goalit", {"scenario": plan.scenario}, s) for s in plan.seed_list]


def _fits(scenario: Scenario, hw: str, hosts: tuple[str, ...]) -> bool:
    weights = sum(scenario.llm.levels[lv].weight_bytes for lv in hosts)
    return weights <= (1.0 - KV_ROOM) * scenario.hardware[hw].memory_bytes


def _with_hosts(scenario: Scenario, hosts: list[tuple[str, ...]]) -> Scenario:
    servers = tuple(
        replace(sv, sharing="shared", instances=tuple(Instance(lv) for lv in h))
        for sv, h in zip(scenario.servers, hosts, strict=True)
    )
    return scenario.with_servers(servers)


def _evaluate(scenario: Scenario, seed: int) -> tuple[float, float, float]:
    """(social cost, mean latency, token-weighted mean perplexity) of GOALIT's equilibrium."""
    game = build_game(scenario)
    a = goalit(game, stream(seed, "algorithm")).profile
    lat = dynamics.latencies(game, a)
    o = game.output_tokens
    ppl = float((game.ppl_of[a] * o).sum() / o.sum())
    return float(dynamics.user_costs(game, a).sum()), float(lat.mean()), ppl


def placement_row(point: Point) -> dict[str, Any]:
    base = variant({**point.config, "users_seed": int(point.seed)})
    seed = int(point.seed)
    hosts = [sv.hosts for sv in base.servers]
    cache: dict[tuple, tuple[float, float, float]] = {}

    def score(h: list[tuple[str, ...]]) -> tuple[float, float, float]:
        key = tuple(h)
        if key not in cache:
            cache[key] = _evaluate(_with_hosts(base, h), seed)
        return cache[key]

    scenario_eval = score(hosts)
    best = list(hosts)
    for _ in range(ROUNDS):
        changed = False
        for j, sv in enumerate(base.servers):
            options = [m for m in MENU if _fits(base, sv.hardware, m)]
            costs = [score(best[:j] + [m] + best[j + 1 :])[0] for m in options]
            pick = options[int(np.argmin(costs))]
            if pick != best[j] and min(costs) < score(best)[0]:
                best[j] = pick
                changed = True
        if not changed:
            break
    # drop hosted variants nobody uses at the equilibrium (they only take KV memory) where that is no worse
    game = build_game(_with_hosts(base, best))
    used = game.level_of[goalit(game, stream(seed, "algorithm")).profile]
    srv = game.server_of[goalit(game, stream(seed, "algorithm")).profile]
    for j in range(len(best)):
        keep = tuple(lv for lv in best[j] if lv in set(used[srv == j].tolist()))
        if keep and keep != best[j]:
            trial = best[:j] + [keep] + best[j + 1 :]
            if score(trial)[0] <= score(best)[0]:
                best = trial
    singles = {}
    for (lv,) in (m for m in MENU if len(m) == 1):
        if all(_fits(base, sv.hardware, (lv,)) for sv in base.servers):
            singles[lv] = score([(lv,)] * len(base.servers))
    single = min(singles, key=lambda lv: singles[lv][0])
    b = score(best)
    return {
        "n_users": base.n_users,
        "best_hosts": json.dumps({sv.name: list(h) for sv, h in zip(base.servers, best, strict=True)}),
        "best_social_cost": b[0], "best_mean_latency_s": b[1], "best_mean_perplexity": b[2],
        "scenario_social_cost": scenario_eval[0], "scenario_mean_latency_s": scenario_eval[1],
        "scenario_mean_perplexity": scenario_eval[2],
        "single_level": single, "single_social_cost": singles[single][0],
        "single_mean_latency_s": singles[single][1], "single_mean_perplexity": singles[single][2],
        "multi_variant_servers": int(sum(len(h) > 1 for h in best)),
        "evaluations": len(cache),
    }  # fmt: skip
