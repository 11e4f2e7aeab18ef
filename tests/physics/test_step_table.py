"""The measured step-table model: interpolation, extrapolation, storage and the held-out error."""

from __future__ import annotations

import numpy as np
import pytest

from goalit.errors import GoalitInputError
from goalit.physics.step_table import LevelTable, StepTable, default_step_table, held_out_errors


def affine_table() -> StepTable:
    """A table of an exactly bilinear law: step = 10 ms + 3 ms/sequence + 0.01 ms/token of context."""
    b = np.array([1.0, 2.0, 3.0, 4.0])
    c = np.array([50.0, 150.0, 300.0])
    step = (10 + 3 * b[:, None] + 0.01 * c[None, :]) / 1e3
    p = np.array([16.0, 64.0, 256.0])
    return StepTable({"q8_0": LevelTable(b, c, step, p, (5 + 2 * p) / 1e3)}, {"engine": "test"})


def test_step_time_reproduces_grid_points_and_interpolates_between():
    t = affine_table()
    assert t.step_time("q8_0", 2, 150) == pytest.approx(0.0175)
    assert t.step_time("q8_0", 2.5, 100) == pytest.approx((10 + 7.5 + 1.0) / 1e3)
    got = t.step_time("q8_0", np.array([1, 4]), np.array([50, 300]))
    assert got == pytest.approx(np.array([13.5, 25.0]) / 1e3)


def test_extrapolation_is_linear_and_floored():
    t = affine_table()
    assert t.step_time("q8_0", 6, 300) == pytest.approx((10 + 18 + 3) / 1e3)
    assert t.step_time("q8_0", 1, 600) == pytest.approx((10 + 3 + 6) / 1e3)
    assert t.step_time("q8_0", -50, 0) == pytest.approx(0.05 * 13.5e-3)  # floor: 5 % of the smallest
    assert t.prefill_time("q8_0", 512) == pytest.approx((5 + 1024) / 1e3)
    assert t.prefill_time("q8_0", 0) == 0.0


def test_decode_step_time_takes_the_total_context_of_the_batch():
    t = affine_table()
    assert t.decode_step_time_s("q8_0", 3, 3 * 150) == pytest.approx(t.step_time("q8_0", 3, 150))


def test_round_trip_through_profile_meta_and_unknown_level():
    t = affine_table()
    back = StepTable.from_meta(t.to_meta())
    assert back.provenance == {"engine": "test"}
    assert back.step_time("q8_0", 3, 200) == pytest.approx(t.step_time("q8_0", 3, 200))
    with pytest.raises(GoalitInputError, match="no measurements for level 'q2_k'"):
        t.step_time("q2_k", 1, 1)


def test_malformed_tables_fail_with_the_field():
    meta = affine_table().to_meta()
    meta["levels"]["q8_0"]["batches"] = [1, 1, 2, 3]
    with pytest.raises(GoalitInputError, match="levels.q8_0: .*batches"):
        StepTable.from_meta(meta)
    meta = affine_table().to_meta()
    del meta["levels"]["q8_0"]["prefill_ms"]
    with pytest.raises(GoalitInputError, match="levels.q8_0: malformed"):
        StepTable.from_meta(meta)


def test_held_out_error_is_zero_for_a_bilinear_law_and_sees_a_bump():
    t = affine_table()
    e = held_out_errors(t)["q8_0"]
    assert e["points"] > 0 and e["max_pct"] == pytest.approx(0, abs=1e-9)
    lv = t.levels["q8_0"]
    bumped = lv.step_s.copy()
    bumped[1, 1] *= 1.3
    e2 = held_out_errors(StepTable({"q8_0": LevelTable(lv.batches, lv.contexts, bumped, lv.prompts,
                                                       lv.prefill_s)}))["q8_0"]  # fmt: skip
    assert e2["max_pct"] > 20
    assert e["context_max_pct"] == pytest.approx(0, abs=1e-9) and e["context_points"] > 0
    bent = lv.step_s.copy()
    bent[:, 1] *= 1.3  # a bump along the context axis shows in the context-only error too
    e3 = held_out_errors(StepTable({"q8_0": LevelTable(lv.batches, lv.contexts, bent, lv.prompts,
                                                       lv.prefill_s)}))["q8_0"]  # fmt: skip
    assert e3["context_max_pct"] > 20


def test_committed_profile_table_is_consistent_and_meets_the_goal_or_its_noise_floor():
    """The committed calibrated profile carries a measured llama-server table. Its recorded held-out errors
    are the ones recomputed here, and each level's median error of the interpolation the table performs
    (along the context when every batch 1..slots is measured, else over the grid) is within the goal
    (10 %) or, where the goal is missed, within the noise floor measured with it (test-retest spread of
    its repetitions)."""
    t = default_step_table()
    assert t is not None, "the committed calibrated profile has no [meta.step_table]"
    assert t.provenance["engine"] == "llama-server" and set(t.levels) >= {"q8_0", "q4_0"}
    recomputed = held_out_errors(t)
    for lv, e in recomputed.items():
        for key in ("median_pct", "context_median_pct"):
            assert t.provenance["held_out"][lv][key] == pytest.approx(e[key], abs=0.01)
        used = e["context_median_pct"] if e["batch_exhaustive"] else e["median_pct"]
        assert used <= max(10.0, t.provenance["test_retest_pct"][lv]), (lv, e)


def test_scaled_multiplies_one_level_and_records_it():
    t = affine_table().scaled({"q8_0": 2.0}, {"q8_0": 0.5})
    assert t.step_time("q8_0", 2, 150) == pytest.approx(2 * 0.0175)
    assert t.prefill_time("q8_0", 64) == pytest.approx(0.5 * 0.133)
    assert t.provenance["scaled"] == {"decode": {"q8_0": 2.0}, "prefill": {"q8_0": 0.5}}
