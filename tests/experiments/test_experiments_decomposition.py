"""Decomposition of GOALIT vs OT-GAH: identities on paired seeds, epoch tuning on separate seeds."""

from __future__ import annotations

import numpy as np
import pytest

from goalit.experiments import analysis
from goalit.experiments.analysis import EFFECTS, paired_effects
from goalit.experiments.plan import TUNE_SEED_BASE, make_plan
from goalit.experiments.point import Point
from goalit.experiments.tuning import evaluation_points

POLS = ("goalit", "ot-gah", "ot-gah-continuous", "goalit-epochs")


def _values(seed=0, n=12):
    rng = np.random.default_rng(seed)
    return {p: {s: float(rng.uniform(100, 2000)) for s in range(n)} for p in POLS}


@pytest.mark.parametrize("relative", [True, False])
def test_batching_plus_decision_is_the_total_on_every_seed_and_on_average(relative):
    v = _values()
    eff = paired_effects(v, relative=relative)
    names = [n for n, _, _ in EFFECTS]
    bat_a, dec_a, dec_b, bat_b, total = (eff[n][1] for n in names)
    for s in v["goalit"]:
        assert bat_a[s] + dec_a[s] == pytest.approx(total[s], rel=1e-12)
        assert dec_b[s] + bat_b[s] == pytest.approx(total[s], rel=1e-12)
        ref = v["ot-gah"][s] if relative else 1.0
        assert total[s] == pytest.approx((v["goalit"][s] - v["ot-gah"][s]) / ref)
    means = {n: eff[n][0].mean for n in names}
    assert means[names[0]] + means[names[1]] == pytest.approx(means[names[4]])
    assert means[names[2]] + means[names[3]] == pytest.approx(means[names[4]])
    # the CI is over seeds: it shrinks to 0 only if every seed agrees
    assert eff[names[4]][0].lo < eff[names[4]][0].mean < eff[names[4]][0].hi


def test_effects_need_all_four_policies_and_use_common_seeds_only():
    v = _values()
    assert paired_effects({p: v[p] for p in POLS[:3]}) == {}
    v["goalit-epochs"].pop(3)
    eff = paired_effects(v)
    assert all(3 not in vals and len(vals) == 11 for _, vals in eff.values())


def _row(policy, seed, epoch, thr, lat, rate=6.0):
    cfg = {"scenario": "default", "rate_per_s": rate, "duration_s": 60.0}
    if epoch is not None:
        cfg["epoch_s"] = epoch
    return {"experiment": "load", "policy": policy, "seed": seed, "config": cfg,
            "steady_throughput_tps": thr, "mean_latency_s": lat}  # fmt: skip


def test_epoch_is_chosen_on_tuning_seeds_and_evaluated_on_the_others():
    t = TUNE_SEED_BASE
    # tuning seeds prefer T_e = 2 (same throughput within 1 %, lower latency); evaluation rows would
    # prefer 1: the choice must not look at them
    rows = [_row("ot-gah", t, 1.0, 1000.0, 5.0), _row("ot-gah", t, 2.0, 995.0, 4.0),
            _row("ot-gah", t, 4.0, 800.0, 1.0),
            _row("ot-gah", 0, 1.0, 2000.0, 1.0), _row("ot-gah", 0, 2.0, 900.0, 9.0),
            _row("goalit", 0, None, 1500.0, 2.0), _row("goalit", t, None, 1.0, 1.0)]  # fmt: skip
    e, scores = analysis.best_epoch([r for r in rows if r["policy"] == "ot-gah"])
    assert e == 2.0 and set(scores) == {1.0, 2.0, 4.0}
    table = analysis.load_table(rows)
    assert table.chosen_epoch[("ot-gah", 6.0)] == 2.0
    assert [r["seed"] for r in table.rows("ot-gah", 6.0)] == [0]
    assert table.rows("ot-gah", 6.0)[0]["steady_throughput_tps"] == 900.0
    assert [r["seed"] for r in table.rows("goalit", 6.0)] == [0]  # tuning rows never enter a comparison


def test_capacity_epoch_is_the_highest_mean_capacity_ties_to_the_shorter():
    rows = [{"experiment": "capacity", "policy": "ot-gah", "seed": TUNE_SEED_BASE + i,
             "config": {"epoch_s": e}, "capacity_rps": c}
            for i, (e, c) in enumerate([(0.5, 8.0), (1.0, 9.0), (2.0, 9.0), (4.0, 3.0)])]  # fmt: skip
    assert analysis.best_epoch(rows, "capacity")[0] == 1.0


def test_evaluation_points_use_the_chosen_epoch_and_the_evaluation_seeds():
    plan = make_plan("tiny")
    stage1 = [Point("load", "ot-gah", {"scenario": "default", "rate_per_s": 2.0, "duration_s": 10.0,
                                       "epoch_s": e}, s) for e in (1.0, 2.0) for s in plan.tuning_seed_list]  # fmt: skip
    rows = [{"experiment": p.experiment, "policy": p.policy, "seed": p.seed, "config": p.config,
             "steady_throughput_tps": 100.0 if p.config["epoch_s"] == 2.0 else 50.0, "mean_latency_s": 1.0}
            for p in stage1]  # fmt: skip
    stage2 = evaluation_points(plan, stage1, rows)
    assert [p.seed for p in stage2] == list(plan.seed_list)
    assert all(p.config["epoch_s"] == 2.0 and p.policy == "ot-gah" for p in stage2)
