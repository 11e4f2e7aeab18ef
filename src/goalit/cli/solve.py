"""``goalit solve``: solve the static game of a scenario with one algorithm."""

from __future__ import annotations

import argparse
from collections import Counter

from goalit.cli._common import add_scenario_argument, add_seed_argument, positive_float, print_json, table
from goalit.cli.algorithms import solver_name
from goalit.errors import GoalitInputError

# The library is imported in ``run``: ``goalit --help`` builds this parser and must not load NumPy/SciPy.


def parse_key_values(items: list[str]) -> dict[str, object]:
    """``["k=v", ...]`` -> {k: JSON value of v, else the string v} (one-line error without ``=``)."""
    import json

    out: dict[str, object] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise GoalitInputError(f"--option: expected KEY=VALUE, not {item!r}")
        try:
            out[key] = json.loads(text)
        except ValueError:
            out[key] = text
    return out


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("solve", help="solve the static offloading game of a scenario")
    add_scenario_argument(p)
    p.add_argument(
        "--algorithm",
        "-a",
        type=solver_name,
        default="goalit",
        metavar="NAME",
        help="algorithm: a built-in or a plug-in solver, see goalit algorithms (default: goalit)",
    )
    add_seed_argument(p)
    p.add_argument(
        "--time-limit",
        type=positive_float,
        default=60.0,
        metavar="S",
        help="time limit of the optimum's MILP in seconds (default: 60; other algorithms ignore it)",
    )
    p.add_argument(
        "--option",
        "-o",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an algorithm option (repeatable; VALUE is JSON, else a string), e.g. -o epsilon=1e-4",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the summary")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from goalit.api import resolve_scenario, solve
    from goalit.game.model import build_game
    from goalit.solvers.registry import accepts

    scenario = resolve_scenario(args.scenario)
    game = build_game(scenario)
    options = {"time_limit_s": args.time_limit} if accepts(args.algorithm, "time_limit_s") else {}
    options.update(parse_key_values(args.option))
    result = solve(game, algorithm=args.algorithm, seed=args.seed, **options)
    names = [s.name for s in scenario.servers]
    if args.json:
        out = {"scenario": scenario.name, "seed": args.seed, **result.summary()}
        out.pop("runtime_s")  # wall time would break "same seed, same bytes out"
        out["servers"] = [{"name": sv.name, "sharing": sv.sharing, "hosts": list(sv.hosts)}
                          for sv in scenario.servers]  # fmt: skip
        out["assignment"] = result.assignment(game, names)
        print_json(out)
        return 0
    s = result.summary()
    print(f"scenario {scenario.name}: {scenario.n_users} users, {len(scenario.servers)} servers; "
          f"algorithm {result.algorithm}, seed {args.seed}")  # fmt: skip
    counts = Counter((int(game.server_of[r]), str(game.level_of[r])) for r in result.profile.tolist())
    rows = [
        ("local" if j < 0 else names[j], lv, c) for (j, lv), c in sorted(counts.items(), key=lambda kv: kv[0])
    ]
    print(table(["server", "level", "users"], rows))
    print()
    if args.algorithm == "optimum":
        status = "proven optimum" if s["converged"] else f"NOT proven optimal (MILP {s['milp_status']})"
    elif s.get("oscillated"):
        status = f"oscillates (period {s['cycle_length']})"
    else:
        status = "converged" if s["converged"] else "NOT converged (slot cap reached)"
    print(table(
        ["metric", "value"],
        [
            ("mean latency (s)", s["mean_latency_s"]),
            ("p95 latency (s)", s["p95_latency_s"]),
            ("token throughput (tokens/s)", s["token_throughput_tps"]),
            ("mean perplexity (token-weighted)", s["mean_perplexity"]),
            ("social cost (s)", s["social_cost"]),
            ("max regret (s/token)", s["max_regret"]),
            ("slots / updates / messages", f"{s['slots']} / {s['updates']} / {s['messages']}"),
            ("status", status),
            *((k.replace("_", " "), v) for k, v in s.items() if k in result.extras and k != "grant"),
        ],
    ))  # fmt: skip
    return 0
