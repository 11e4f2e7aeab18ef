"""Epoch tuning on separate seeds: the second stage of a reproduction.

Stage 1 (``catalogue.plan_points``) runs every epoch length of an epoch-tuned policy's grid on the
plan's tuning seeds (``Plan.tuning_seed_list``, disjoint from the evaluation seeds). Stage 2
(:func:`evaluation_points`) runs each configuration on the evaluation seeds at the epoch that
``analysis.best_epoch`` chose on the tuning rows, so the comparison is never scored on the seeds that
chose the epoch. The analysis repeats the same choice from the same rows (deterministic).
"""

from __future__ import annotations

from collections.abc import Sequence

from goalit.experiments.analysis import EPOCH_KEY, best_epoch, config_without_epoch, epoch_tuned
from goalit.experiments.plan import TUNE_SEED_BASE, Plan
from goalit.experiments.point import Point
from goalit.experiments.results import Row


def is_tuning(seed: int) -> bool:
    return int(seed) >= TUNE_SEED_BASE


def _groups(points: Sequence[Point]) -> dict[tuple[str, str, str], dict]:
    """{(experiment, policy, config without epoch): that config} over the tuning points."""
    out: dict[tuple[str, str, str], dict] = {}
    for p in points:
        if is_tuning(p.seed) and epoch_tuned(p.policy):
            row = {"config": p.config}
            cfg = {k: v for k, v in p.config.items() if k != EPOCH_KEY}
            out.setdefault((p.experiment, p.policy, config_without_epoch(row)), cfg)
    return out


def evaluation_count(plan: Plan, points: Sequence[Point]) -> int:
    """How many evaluation points stage 2 adds (known before any row exists)."""
    return sum(len(seeds_for(plan, key[0])) for key in _groups(points))


def seeds_for(plan: Plan, experiment: str) -> tuple[int, ...]:
    return plan.evaluation_seeds(experiment)


def evaluation_points(plan: Plan, points: Sequence[Point], rows: Sequence[Row]) -> list[Point]:
    """Stage 2: each tuned configuration at its chosen epoch on the evaluation seeds."""
    by_key: dict[tuple[str, str, str], list[Row]] = {}
    for r in rows:
        if is_tuning(r["seed"]) and epoch_tuned(r["policy"]):
            by_key.setdefault((r["experiment"], r["policy"], config_without_epoch(r)), []).append(r)
    out = []
    for key, cfg in _groups(points).items():
        e, _ = best_epoch(by_key.get(key, []), key[0])
        if e is None:
            continue
        out += [Point(key[0], key[1], {**cfg, EPOCH_KEY: e}, s) for s in seeds_for(plan, key[0])]
    return out
