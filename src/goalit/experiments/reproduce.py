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
from goalit.experiments.tuning import evaluation_points


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
    traces: str | Path | None = None,
) -> ReproduceSummary:
    """Run the plan of ``mode`` into ``out_dir``; resumes from its ``results.csv`` if present.

    ``policies`` replaces the plan's policies of the load sweep E1-E3 (built-in or plug-in names).
    ``traces``: directory of the real traces (E1-E3 on real arrivals); None skips those runs.
    Two stages: every point of the plan (epoch-tuned policies on their tuning seeds), then the tuned
    policies' evaluation points at the chosen epochs (``tuning.evaluation_points``).
    """
    plan = make_plan_for(mode, seeds, policies, traces)
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
        plan_info = {
            **asdict(plan),
            "experiments": list(names or EXPERIMENTS),
            "runs": _runs(out / "plan.json"),
        }
        _write_text(out / "plan.json", json.dumps(plan_info, indent=2) + "\n")
        sweep = run_sweep(
            points, run_point, csv_path, all_columns(), backend=backend, jobs=jobs, scheduler=scheduler,
            progress=progress, desc=f"reproduce ({plan.mode}, stage 1)", cost=cost_hint,
        )  # fmt: skip
        stage2 = evaluation_points(plan, points, load_rows(csv_path, points))
        if stage2:
            points = points + stage2
            s2 = run_sweep(
                points, run_point, csv_path, all_columns(), backend=backend, jobs=jobs, scheduler=scheduler,
                progress=progress, desc=f"reproduce ({plan.mode}, stage 2: chosen epochs)", cost=cost_hint,
            )  # fmt: skip
            computed = sweep.computed + s2.computed
            sweep = replace(
                s2, computed=computed, skipped=s2.total - computed, repaired=sweep.repaired + s2.repaired
            )
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
    runs = plan_info["runs"]
    if sweep.computed > 0:  # a rerun that computed nothing redraws the same report bytes
        runs.append({"commit": _commit() or "unknown", "wall_s": round(time.perf_counter() - t0, 1),
                     "points_computed": sweep.computed})  # fmt: skip
        _write_text(out / "plan.json", json.dumps(plan_info, indent=2) + "\n")
    text = render_report(rows, plan, figures_dir="figures", n_points=len(points),
                         wall_s=sum(r["wall_s"] for r in runs) or None,
                         commit=", ".join(dict.fromkeys(str(r["commit"]) for r in runs)) or None)  # fmt: skip
    _write_text(report, text)
    return ReproduceSummary(out, plan, sweep, figures, report, time.perf_counter() - t0)


def make_plan_for(
    mode: str, seeds: int | None, policies: tuple[str, ...] | None = None, traces: str | Path | None = None
) -> Plan:
    """The plan of ``mode`` with the CLI's overrides (checked: one-line errors)."""
    plan = make_plan(mode, seeds)
    if policies is not None:
        plan = replace(plan, load_policies=check_policies(policies))
    if traces is not None:
        d = Path(traces)
        if not d.is_dir():
            raise GoalitInputError(f"--traces: {traces} is not a directory")
        plan = replace(plan, traces_dir=str(d.resolve()))
    return plan


def _runs(path: Path) -> list[dict]:
    """The invocations that computed points into this directory, kept in ``plan.json`` ("runs": commit,
    wall time in s, points computed); the report states their summed wall time and their commits."""
    try:
        runs = json.loads(path.read_text()).get("runs", [])
    except (ValueError, AttributeError, OSError):
        return []
    return [r for r in runs if isinstance(r, dict) and "wall_s" in r] if isinstance(runs, list) else []


def _commit() -> str | None:
    """The git commit of the source tree this package runs from (None outside a checkout)."""
    import subprocess

    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                             text=True, timeout=10, check=False)  # fmt: skip
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=False)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")


def _write_text(path: Path, text: str) -> None:
    """Write atomically: a reader never sees a half-written file."""
    outputs.write_atomic(path, text)


# Simulated requests per CPU-second by policy [M]: `default`, 60 s windows at 6, 10 and 20 req/s, one
# process (time.process_time), mean over the rates, `benchmarks/reproduce_rates.py` on the shared 2-core
# development machine (2026-11-30, load average 2.8), after the compiled OT-GAH search and GOALIT kernel
# (before them: goalit 2,000, ot-gah 250, ot-gah-continuous 600, goalit-epochs 900). Used only for the
# dry run's estimate; other policies (baselines) as `random`.
REQUESTS_PER_CPU_S = {
    "goalit": 8300.0,
    "ot-gah": 11400.0,
    "ot-gah-continuous": 6400.0,
    "goalit-epochs": 16400.0,
}
BASELINE_REQUESTS_PER_CPU_S = 8500.0


@dataclass(frozen=True)
class CostLine:
    """The planned work of one experiment: points, simulations, simulated requests and CPU-seconds
    (estimates; ``cpu_s`` counts simulations only, None for the static experiments)."""

    experiment: str
    points: int
    simulations: int
    requests: float
    cpu_s: float | None = None


def estimate_cost(plan: Plan, names: tuple[str, ...] | None = None) -> list[CostLine]:
    """What ``reproduce`` will run, before running it (``goalit reproduce --dry-run``). Stage 2 (the
    tuned policies' evaluation points) is counted in full. A capacity point runs at most
    ``capacity.probes_per_point`` simulations, counted at the bracket's geometric-mean rate; static
    experiments simulate no requests."""
    import math

    from goalit.experiments.capacity import probes_per_point
    from goalit.experiments.tuning import _groups, seeds_for

    out = []
    for name, e in EXPERIMENTS.items():
        if names is not None and name not in names:
            continue
        pts = e.points(plan)
        extra = [(k, cfg) for k, cfg in _groups(pts).items()]
        n_pts = len(pts) + sum(len(seeds_for(plan, k[0])) for k, _ in extra)
        work = [(p.policy, p.config) for p in pts] + [
            (k[1], cfg) for k, cfg in extra for _ in seeds_for(plan, k[0])
        ]
        speed = lambda policy: REQUESTS_PER_CPU_S.get(policy, BASELINE_REQUESTS_PER_CPU_S)  # noqa: E731
        if name == "capacity":
            probes = probes_per_point(plan)
            rate = math.sqrt(plan.capacity_min_rps * plan.capacity_max_rps)
            sims = n_pts * probes
            reqs = [(p, probes * rate * float(c["duration_s"])) for p, c in work]
        elif work and "rate_per_s" in work[0][1]:
            sims = n_pts
            reqs = [(p, float(c["rate_per_s"]) * float(c["duration_s"])) for p, c in work]
        else:
            out.append(CostLine(name, n_pts, 0, 0.0, None))
            continue
        cpu = sum(n / speed(p) for p, n in reqs)
        out.append(CostLine(name, n_pts, sims, sum(n for _, n in reqs), cpu))
    return out
