"""Capacity at SLO: the bisection brackets a known threshold; the SLO predicate; cost bound."""

from __future__ import annotations

import math

import pytest

from goalit.experiments.capacity import bisect_rate, meets_slo, probes_per_point
from goalit.experiments.plan import make_plan


@pytest.mark.parametrize("threshold", [1.7, 7.3, 23.0, 39.0])
@pytest.mark.parametrize("tol", [0.01, 0.05, 0.25])
def test_bisection_finds_a_known_threshold_within_tolerance(threshold, tol):
    cap, bound, probes = bisect_rate(lambda x: x <= threshold, 1.0, 40.0, tol)
    assert bound == ""
    assert cap <= threshold < cap * (1 + tol) * (1 + 1e-12)
    assert all(ok == (x <= threshold) for x, ok in probes)
    assert len(probes) <= 2 + math.ceil(math.log2(math.log(40.0) / math.log(1 + tol)))


def test_bisection_reports_capacities_outside_the_bracket():
    assert bisect_rate(lambda x: False, 1.0, 40.0, 0.05)[:2] == (0.0, "below_min")
    cap, bound, probes = bisect_rate(lambda x: True, 1.0, 40.0, 0.05)
    assert (cap, bound) == (40.0, "at_max") and probes[-1] == (40.0, True)
    # a threshold just below the top: bracketed, not flagged
    cap, bound, _ = bisect_rate(lambda x: x <= 39.9, 1.0, 40.0, 0.05)
    assert bound == "" and 39.9 / 1.05 <= cap <= 39.9
    with pytest.raises(ValueError):
        bisect_rate(lambda x: True, 2.0, 1.0, 0.05)


def test_slo_predicate_needs_both_the_deadline_share_and_the_ttft():
    assert meets_slo({"deadline_met_share": 0.95, "p95_ttft_s": 3.0}, 0.9, 10.0)
    assert not meets_slo({"deadline_met_share": 0.85, "p95_ttft_s": 3.0}, 0.9, 10.0)
    assert not meets_slo({"deadline_met_share": 0.95, "p95_ttft_s": 12.0}, 0.9, 10.0)
    assert not meets_slo({"deadline_met_share": None, "p95_ttft_s": 1.0}, 0.9, 10.0)


def test_probe_bound_of_the_plans():
    assert probes_per_point(make_plan("full")) == 2 + math.ceil(math.log2(math.log(40) / math.log(1.05)))
    assert probes_per_point(make_plan("quick")) < probes_per_point(make_plan("full"))
