"""E9 on shared servers and E11 placement: points, the placement row's consistency, the report's verdicts."""

from __future__ import annotations

import json

import pytest

from goalit.experiments.dynamic import tradeoff_points
from goalit.experiments.placement import MENU, placement_points, placement_row
from goalit.experiments.plan import QUICK, TINY
from goalit.experiments.point import Point
from goalit.experiments.sections import _frontier, placement
from goalit.experiments.variants import variant


def test_tradeoff_runs_the_ladder_on_shared_and_partitioned_servers():
    pts = tradeoff_points(TINY)
    policies = {p.policy for p in pts}
    assert {"goalit", "goalit-partitioned", "goalit-fixed-q4_k_m"} <= policies
    part = next(p for p in pts if p.policy == "goalit-partitioned")
    assert all(s.sharing == "partitioned" for s in variant(part.config).servers)
    ladder = next(p for p in pts if p.policy == "goalit")
    assert all(s.sharing == "shared" for s in variant(ladder.config).servers)
    fixed = next(p for p in pts if p.policy == "goalit-fixed-q4_k_m")
    assert all(s.hosts == ("q4_k_m",) for s in variant(fixed.config).servers)
    assert len(QUICK.quality_scales) >= 5  # a curve, not three points


@pytest.fixture(scope="module")
def row():
    return placement_row(Point("placement", "goalit", {"scenario": "default"}, 0))


def test_placement_row_is_no_worse_than_the_scenario_and_the_best_single_level(row):
    assert row["best_social_cost"] <= row["scenario_social_cost"] + 1e-9
    assert row["best_social_cost"] <= row["single_social_cost"] + 1e-9
    hosts = json.loads(row["best_hosts"])
    assert len(hosts) == 4 and all(tuple(h) in MENU or len(h) >= 1 for h in hosts.values())
    assert row["multi_variant_servers"] == sum(len(h) > 1 for h in hosts.values())
    assert placement_row(Point("placement", "goalit", {"scenario": "default"}, 0)) == row  # pure
    assert len(placement_points(TINY)) == TINY.seeds


def test_report_sections_state_what_the_numbers_say(row):
    text = placement([{**row, "experiment": "placement", "seed": 0, "policy": "goalit"}], TINY, "figures")
    assert "E11" in text and (
        "not what the optimisation picks" in text
        or "pays for these users" in text
        or "depends on the users drawn" in text
    )

    def r(policy, k, lat, ppl):
        return {"experiment": "tradeoff", "policy": policy, "seed": 0, "config": {"w_quality_scale": k},
                "mean_latency_s": lat, "mean_perplexity": ppl}  # fmt: skip

    rows = [r("goalit", 0, 2.0, 7.0), r("goalit", 4, 2.5, 6.5), r("goalit-fixed-q4_k_m", 0, 2.2, 6.41)]
    assert "1 of its 2 points" in _frontier(rows, ["goalit", "goalit-fixed-q4_k_m"])
    rows = [r("goalit", 0, 3.0, 7.0), r("goalit-fixed-q4_k_m", 0, 2.2, 6.41)]
    assert "no (latency, perplexity) point" in _frontier(rows, ["goalit", "goalit-fixed-q4_k_m"])
