"""``goalit reproduce``: run experiments E1-E10, draw the figures, write report.md (``experiments`` extra)."""

from __future__ import annotations

import argparse
import os

from goalit.cli._common import int_at_most, jobs_int
from goalit.limits import MAX_SEEDS_PER_POINT


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reproduce",
        help="reproduce the paper's comparison: experiments E1-E10, figures and report",
        description="Run the experiments E1-E10 on the embedded default scenario (resumable: points already "
        "in OUT/results.csv are skipped), then write OUT/figures/*.png|svg and OUT/report.md.",
    )
    p.add_argument("--quick", action="store_true", help="quick mode: few seeds, short runs (a few minutes)")
    p.add_argument("--mode", choices=("quick", "full", "tiny"), default=None, help=argparse.SUPPRESS)
    p.add_argument(
        "--out", default=None, metavar="DIR", help="output directory (default: results/quick or results/full)"
    )
    p.add_argument(
        "--jobs",
        type=jobs_int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="parallel worker processes (default: number of CPUs; at most 4 per CPU)",
    )
    p.add_argument(
        "--backend",
        choices=("local", "dask"),
        default="local",
        help="local: joblib processes; dask: a Dask distributed cluster (default: local)",
    )
    p.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="Dask scheduler, e.g. tcp://HOST:8786 (with --backend dask; default: a LocalCluster "
        "of --jobs workers)",
    )
    p.add_argument(
        "--seeds",
        type=int_at_most(MAX_SEEDS_PER_POINT, ge=1),
        default=None,
        metavar="N",
        help=f"seeds per point (default: 20 in full mode, 3 in quick mode; at most {MAX_SEEDS_PER_POINT})",
    )
    p.add_argument(
        "--only",
        default=None,
        metavar="LIST",
        help="comma-separated experiments to run (names or ids, e.g. E1,E4 or load,convergence)",
    )
    p.add_argument(
        "--policies",
        default=None,
        metavar="LIST",
        help="comma-separated policies of the load sweep E1-E3, built-in or plug-in (see goalit algorithms; "
        "default: the plan's)",
    )
    p.add_argument(
        "--traces",
        default=None,
        metavar="DIR",
        help="directory of the real traces (Azure code/conversation CSV, Mooncake JSONL): also run E1-E3 on "
        "them; without it those runs are skipped",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the number of points, simulations and simulated requests per experiment; run nothing",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from goalit.errors import GoalitInputError

    mode = args.mode or ("quick" if args.quick else "full")
    if args.mode and args.quick and args.mode != "quick":
        raise GoalitInputError("--quick contradicts --mode " + args.mode)
    if args.scheduler and args.backend != "dask":
        raise GoalitInputError("--scheduler needs --backend dask")
    try:
        from goalit.experiments.reproduce import reproduce
    except ModuleNotFoundError as err:
        raise GoalitInputError(
            f"goalit reproduce needs the 'experiments' extra (missing module {err.name}): "
            "pip install 'goalit[experiments]'"
        ) from None
    only = tuple(s for s in args.only.split(",") if s.strip()) if args.only else None
    policies = tuple(args.policies.split(",")) if args.policies is not None else None
    if args.dry_run:
        from goalit.experiments.reproduce import check_experiments, estimate_cost, make_plan_for

        plan = make_plan_for(mode, args.seeds, policies, args.traces)
        lines = estimate_cost(plan, check_experiments(only))
        print(f"goalit reproduce ({plan.mode}) plan: {plan.seeds} seeds, {plan.tuning_seeds} tuning seeds")
        print(
            f"{'experiment':<12} {'points':>8} {'simulations':>12} {'sim. requests':>14} {'est. CPU-s':>11}"
        )
        for c in lines:
            cpu = "–" if c.cpu_s is None else f"{c.cpu_s:,.0f}"
            print(f"{c.experiment:<12} {c.points:>8} {c.simulations:>12} {c.requests:>14,.0f} {cpu:>11}")
        n_pts, n_sims = sum(c.points for c in lines), sum(c.simulations for c in lines)
        n_req, cpu_tot = sum(c.requests for c in lines), sum(c.cpu_s or 0.0 for c in lines)
        print(f"{'total':<12} {n_pts:>8} {n_sims:>12} {n_req:>14,.0f} {cpu_tot:>11,.0f}")
        print(
            "est. CPU-s: simulations only, at the simulated requests per CPU-second measured per policy "
            "(goalit.experiments.reproduce.REQUESTS_PER_CPU_S); static experiments (–) not estimated"
        )
        if plan.traces_dir is None:
            print("traces: skipped (no --traces DIR)")
        return 0
    out = args.out or os.path.join("results", mode)
    res = reproduce(
        out,
        mode,
        seeds=args.seeds,
        jobs=args.jobs,
        backend=args.backend,
        scheduler=args.scheduler,
        experiments=only,
        progress=not args.no_progress,
        policies=policies,
        traces=args.traces,
    )
    s = res.sweep
    print(
        f"goalit reproduce ({res.plan.mode}): {s.total} points, {s.computed} computed, "
        f"{s.skipped} already done"
        + (f", {s.repaired} damaged line(s) repaired" if s.repaired else "")
        + f"; {res.wall_s:.1f} s wall"
    )
    print(f"results: {s.path}")
    n_png = len([p for p in res.figures if p.suffix == ".png"])
    print(f"figures: {n_png} (PNG + SVG) in {res.out_dir / 'figures'}")
    print(f"report:  {res.report}")
    if res.plan.traces_dir is None:
        print("traces:  skipped (no --traces DIR given: E1-E3 on real arrivals not run)")
    return 0
