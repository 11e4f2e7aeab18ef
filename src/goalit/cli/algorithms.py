"""``goalit algorithms``: the built-in algorithms and the plug-ins of the entry-point group ``goalit.algorithms``.

Also the argparse types ``solver_name`` and ``policy_name`` that the other subcommands use for their
algorithm/policy flags, so a plug-in name is accepted and a misspelt one is a one-line error.
"""

from __future__ import annotations

import argparse

from goalit.cli._common import print_json, table
from goalit.errors import GoalitInputError

# Where each kind of algorithm runs.
SOLVER_USES = "solve, compare, simulate, reproduce, serve"
POLICY_USES = "simulate, reproduce"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "algorithms",
        help="list the algorithms and policies, built-in and from plug-in packages",
        description="Built-in algorithms and the plug-ins registered by installed packages under the "
        "entry-point group 'goalit.algorithms' (see docs/env.md).",
    )
    p.add_argument("--json", action="store_true", help="print a JSON list instead of the table")
    p.set_defaults(func=run)


def solver_name(text: str) -> str:
    """argparse type: a name ``get_solver`` accepts (built-in or plug-in solver)."""
    from goalit.solvers.registry import get_solver

    try:
        get_solver(text)
    except GoalitInputError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def policy_name(text: str) -> str:
    """argparse type: a simulator policy name (built-in, plug-in solver or plug-in Policy class)."""
    from goalit.sim.policies import policy_names
    from goalit.solvers.registry import unknown_algorithm

    names = policy_names()
    if text not in names:
        raise argparse.ArgumentTypeError(unknown_algorithm(text, names, "policy"))
    return text


def catalogue() -> list[dict[str, str]]:
    """One entry per name: kind (solver / policy), where it runs, source and first docstring line."""
    import goalit.plugins as plugins
    from goalit.solvers.registry import REGISTRY, algorithm_names

    out = []
    for name in algorithm_names():
        if name in REGISTRY:
            obj, source = REGISTRY[name], "built-in"
        else:
            p = plugins.plugins()[name]
            obj, source = plugins.load(name), f"{p.distribution} ({p.value})"
        policy = plugins.is_policy_class(obj)
        doc = (obj.__doc__ or "").strip().splitlines()
        out.append({
            "name": name,
            "kind": "policy" if policy else "solver",
            "runs_in": POLICY_USES if policy else SOLVER_USES,
            "source": source,
            "description": doc[0] if doc else "",
        })  # fmt: skip
    return out


def run(args: argparse.Namespace) -> int:
    rows = catalogue()
    if args.json:
        print_json(rows)
        return 0
    print(table(["name", "kind", "runs in", "source", "description"],
                [(r["name"], r["kind"], r["runs_in"], r["source"], r["description"]) for r in rows]))  # fmt: skip
    n_plug = sum(r["source"] != "built-in" for r in rows)
    print(f"\n{len(rows) - n_plug} built-in, {n_plug} from plug-ins (entry-point group goalit.algorithms)")
    return 0
