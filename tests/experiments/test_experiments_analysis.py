"""Statistics, OT-GAH's best epoch, GOALIT vs OT-GAH comparisons and the report's verdict rule."""

from __future__ import annotations

import math

import pytest

from goalit.experiments import analysis
from goalit.experiments.markdown import num, pct_ci
from goalit.experiments.report import verdict
from goalit.experiments.stats import Estimate, mean_ci, relative_change


def _row(policy, seed, rate=2.0, epoch=None, thr=100.0, lat=10.0, ppl=6.4):
    cfg = {"scenario": "default", "rate_per_s": rate, "duration_s": 60.0}
    if epoch is not None:
        cfg["epoch_s"] = epoch
    return {"experiment": "load", "policy": policy, "seed": seed, "config": cfg, "config_hash": "h",
            "window_throughput_tps": thr, "mean_latency_s": lat, "mean_perplexity": ppl}  # fmt: skip


def test_analysis_mean_ci_matches_the_t_interval():
    e = mean_ci([1.0, 2.0, 3.0, 4.0])
    assert e.mean == 2.5 and e.n == 4
    assert e.hi - e.mean == pytest.approx(3.182446305 * math.sqrt(1.6666666667 / 4), rel=1e-6)
    single = mean_ci([5.0])
    assert single.mean == 5.0 and math.isnan(single.lo)
    assert mean_ci([float("nan"), 1.0, 3.0]).n == 2


def test_analysis_relative_change_is_paired_by_seed():
    change, paired = relative_change([12.0, 22.0], [10.0, 20.0])
    assert change == pytest.approx(34 / 30 - 1)
    assert paired.mean == pytest.approx((0.2 + 0.1) / 2)


def test_analysis_best_epoch_maximises_throughput_then_minimises_latency():
    rows = [_row("ot-gah", s, epoch=1.0, thr=100.0, lat=20.0) for s in range(2)]
    rows += [_row("ot-gah", s, epoch=2.0, thr=120.0, lat=30.0) for s in range(2)]
    rows += [_row("ot-gah", s, epoch=5.0, thr=120.0, lat=25.0) for s in range(2)]
    chosen, scores = analysis.best_epoch(rows)
    assert chosen == 5.0 and set(scores) == {1.0, 2.0, 5.0}
    kept, choices = analysis.with_best_epochs(rows + [_row("goalit", 0)])
    assert {r["config"].get("epoch_s") for r in kept if r["policy"] == "ot-gah"} == {5.0}
    assert list(choices.values()) == [5.0]


def test_analysis_load_table_compares_goalit_to_the_best_otgah():
    rows = [_row("goalit", s, thr=130.0, lat=8.0) for s in range(3)]
    rows += [_row("ot-gah", s, epoch=1.0, thr=100.0, lat=10.0) for s in range(3)]
    rows += [_row("ot-gah", s, epoch=2.0, thr=90.0, lat=9.0) for s in range(3)]
    table = analysis.load_table(rows)
    assert table.chosen_epoch == {("ot-gah", 2.0): 1.0}  # no tuning rows: chosen on these rows
    c = analysis.compare(table.rows("goalit", 2.0), table.rows("ot-gah", 2.0), "window_throughput_tps")
    assert c.change == pytest.approx(0.3) and c.paired.mean == pytest.approx(0.3)


@pytest.mark.parametrize(
    ("ours", "ci", "paper", "starts"),
    [
        (0.25, Estimate(0.25, 0.2, 0.3, 5), 0.27, "**agrees** in sign"),
        (0.05, Estimate(0.05, 0.01, 0.09, 5), 0.27, "**agrees in sign only**"),
        (-0.1, Estimate(-0.1, -0.2, -0.05, 5), 0.27, "**disagrees**"),
        (-0.5, Estimate(-0.5, -0.6, -0.4, 5), -0.20, "**agrees in sign only**"),
        (-0.02, Estimate(-0.02, -0.03, -0.01, 5), None, "**agrees in direction**"),
        (0.01, Estimate(0.01, -0.01, 0.03, 5), None, "**disagrees**"),
    ],
)
def test_analysis_verdict_rule(ours, ci, paper, starts):
    assert verdict(ours, ci, paper).startswith(starts)


def test_analysis_verdict_flags_intervals_that_include_zero():
    assert "includes 0" in verdict(0.3, Estimate(0.3, -0.1, 0.7, 3), 0.27)


def test_analysis_markdown_numbers():
    assert num(1234.5) == "1,234" or num(1234.5) == "1,235"
    assert num(0.0043) == "0.0043"
    assert num(None) == "–" and num(float("nan")) == "–"
    assert pct_ci(0.1, Estimate(0.1, 0.05, 0.15, 3)) == "+10.0 % [+5.0, +15.0]"
