"""``goalit compare``: every registry algorithm on one scenario, one table, GOALIT's price of anarchy."""

from __future__ import annotations

import argparse

from goalit.cli._common import add_scenario_argument, add_seed_argument, positive_float, print_json, table

# The library is imported in ``run``: ``goalit --help`` builds this parser and must not load NumPy/SciPy.


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="run every algorithm on one scenario and compare them")
    add_scenario_argument(p)
    add_seed_argument(p)
    p.add_argument(
        "--time-limit",
        type=positive_float,
        default=60.0,
        metavar="S",
        help="time limit of the optimum's MILP in seconds (default: 60)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from goalit.api import resolve_scenario
    from goalit.game.model import build_game, check_feasible
    from goalit.solvers.compare import compare

    scenario = resolve_scenario(args.scenario)
    game = build_game(scenario)
    check_feasible(game)
    cmp = compare(game, seed=args.seed, options={"optimum": {"time_limit_s": args.time_limit}})
    if args.json:
        rows = []
        for r in cmp.results:
            s = r.summary()
            s.pop("runtime_s")  # wall time would break "same seed, same bytes out"
            s["cost_ratio"] = cmp.ratio(r.algorithm)
            rows.append(s)
        print_json({
            "scenario": scenario.name, "seed": args.seed, "n_users": scenario.n_users,
            "optimum_status": cmp.optimum_status, "poa_goalit": cmp.poa, "pos_goalit_refined": cmp.pos,
            "results": rows,
        })  # fmt: skip
        return 0
    print(
        f"scenario {scenario.name}: {scenario.n_users} users, {len(scenario.servers)} servers; "
        f"seed {args.seed}"
    )
    cells: list[tuple[object, ...]] = []
    for r in cmp.results:
        s = r.summary()
        cells.append((
            r.algorithm, s["social_cost"], cmp.ratio(r.algorithm), s["mean_latency_s"], s["p95_latency_s"],
            s["token_throughput_tps"], s["mean_perplexity"], s["offloaded"], s["max_regret"], s["runtime_s"],
            note(s),
        ))  # fmt: skip
    headers = ["algorithm", "social cost (s)", "cost/opt", "mean lat (s)", "p95 lat (s)", "tokens/s",
               "mean PPL", "offloaded", "max regret", "runtime (s)", "notes"]  # fmt: skip
    print(table(headers, cells))
    print()
    tag = "" if cmp.optimum_status == "optimal" else f" (optimum not proven: MILP {cmp.optimum_status})"
    print(f"price of anarchy of GOALIT's equilibrium: {cmp.poa:.4f}{tag}")
    if cmp.pos is not None:
        print(f"price of stability, best equilibrium found (goalit-refined): {cmp.pos:.4f}{tag}")
    return 0


def note(s: dict) -> str:
    """A short per-algorithm status for the table."""
    if "milp_status" in s:
        gap = "unknown" if s["mip_gap"] is None else f"{s['mip_gap']:.2g}"
        return f"MILP {s['milp_status']}, gap {gap}"
    if "nodes_explored" in s:
        return f"{s['nodes_explored']} nodes, {s['batched_users']} batched, {s['waiting_run_local']} local"
    if "oscillated" in s:
        if s["oscillated"]:
            return f"oscillates (period {s['cycle_length']}) after {s['slots']} rounds"
        return f"{'converged' if s['converged'] else 'round cap'} after {s['slots']} rounds"
    if "exchanges_accepted" in s:
        return (
            f"{'converged' if s['converged'] else 'not converged'}, {s['starts']} starts, "
            f"{s['exchanges_accepted']} exchanges accepted"
        )
    if "cycled" in s:
        return f"{'converged' if s['converged'] else 'slot cap'}, {s['slots']} slots"
    return ""
