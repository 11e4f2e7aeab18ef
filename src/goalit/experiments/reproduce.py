"""``reproduce``: run E1-E10 (resumable sweep), then draw the figures and write ``report.md``.

Output directory layout::

    results.csv     one row per (config, seed), appended as points finish (see ``store``)
    plan.json       the grids that were run
    figures/*.png, figures/*.svg
    report.md       GOALIT vs OT-GAH next to the paper's claims, and E4-E10

Running it again on the same directory skips every point already in ``results.csv``; only the
figures and the report are redrawn.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import goalit.outputs as outputs
from goalit.errors import GoalitInputError
from goalit.experiments.catalogue import EXPERIMENTS, all_columns, cost_hint, plan_points, run_point
from goalit.experiments.plan import Plan, make_plan
from goalit.experiments.results import load_rows
from goalit.experiments.sweep import BACKENDS, SweepSummary, check_jobs, run_sweep


@dataclass(frozen=True)
class ReproduceSummary:
    out_dir: Path
    plan: Plan
    sweep: SweepSummary
    figures: list[Path]
    report: Path
    wall_s: float


def check_experiments(names: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """Validate a selection of experiments by name (``load``) or spec id (``E1``)."""
    if names is None:
        return None
    by_id = {i.lower(): e.name for e in EXPERIMENTS.values() for i in e.ids}
    out = []
    for n in names:
        key = n.strip().lower()
        name = key if key in EXPERIMENTS else by_id.get(key)
        if name is None:
            known = ", ".join(list(EXPERIMENTS) + sorted({i for e in EXPERIMENTS.values() for i in e.ids}))
            raise GoalitInputError(f"--only: unknown experiment {n!r} (expected: {known})")
        if name not in out:
            out.append(name)
    return tuple(out)


def check_policies(names: tuple[str, ...]) -> tuple[str, ...]:
    """Validate the policies of the load sweep (simulator policy names, plug-ins included)."""
    from goalit.sim.policies import policy_names
    from goalit.solvers.registry import unknown_algorithm

    known = policy_names()
    out: list[str] = []
    for n in (s.strip() for s in names):
        if n not in known:
            raise GoalitInputError("--policies: " + unknown_algorithm(n, known, "policy"))
        if n not in out:
            out.append(n)
    if not out:
        raise GoalitInputError("--policies: no policy given")
    return tuple(out)


def reproduce(
    out_dir: str | Path,
    mode: str = "quick",
    *,
    seeds: int | None = None,
    jobs: int = 1,
    backend: str = "local",
    scheduler: str | None = None,
    experiments: tuple[str, ...] | None = None,
    progress: bool = True,
    policies: tuple[str, ...] | None = None,
) -> ReproduceSummary:
    """Run the plan of ``mode`` into ``out_dir``; resumes from its ``results.csv`` if present.

    ``policies`` replaces the plan's policies of the load sweep E1-E3 (built-in or plug-in names).
    """
    plan = make_plan(mode, seeds)
    if policies is not None:
        plan = replace(plan, load_policies=check_policies(policies))
    names = check_experiments(experiments)
    if backend not in BACKENDS:
        raise GoalitInputError(f"--backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    if scheduler and backend != "dask":
        raise GoalitInputError("--scheduler needs --backend dask")
    check_jobs(jobs)
    out = outputs.check_out_dir(out_dir, "reproduce")  # before any work: never clobber a foreign path
    t0 = time.perf_counter()
    points = plan_points(plan, names)
    fresh = not out.exists()
    csv_path = out / "results.csv"
    try:
        out.mkdir(parents=True, exist_ok=True)
        text = json.dumps({**asdict(plan), "experiments": list(names or EXPERIMENTS)}, indent=2) + "\n"
        _write_text(out / "plan.json", text)
        sweep = run_sweep(
            points, run_point, csv_path, all_columns(), backend=backend, jobs=jobs, scheduler=scheduler,
            progress=progress, desc=f"reproduce ({plan.mode})", cost=cost_hint,
        )  # fmt: skip
    except GoalitInputError:
        # raised before any point ran (scheduler unreachable, worker versions, locked or foreign CSV):
        # leave nothing behind in a directory this call created
        if fresh:
            shutil.rmtree(out, ignore_errors=True)
        raise
    rows = load_rows(csv_path, points)
    from goalit.experiments.plots import make_figures
    from goalit.experiments.report import render_report

    figures = make_figures(rows, plan, out / "figures", jobs=jobs if backend == "local" else 1)
    report = out / "report.md"
    _write_text(report, render_report(rows, plan, figures_dir="figures", n_points=len(points)))
    return ReproduceSummary(out, plan, sweep, figures, report, time.perf_counter() - t0)


def _write_text(path: Path, text: str) -> None:
    """Write atomically: a reader never sees a half-written file."""
    outputs.write_atomic(path, text)
