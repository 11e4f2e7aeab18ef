"""``goalit scenario show|validate``."""

from __future__ import annotations

import argparse

from goalit.cli._common import table

# The library is imported inside the run functions: ``goalit --help`` builds every parser and must not
# pay for NumPy and the model (benchmarks/import_time.py).


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("scenario", help="show or validate scenarios")
    ss = p.add_subparsers(dest="action", metavar="ACTION", parser_class=type(p))
    ss.required = True
    show = ss.add_parser("show", help="summarise a scenario (embedded name or file)")
    show.add_argument("scenario", nargs="?", default="default", metavar="NAME|FILE")
    show.add_argument("--toml", action="store_true", help="print the scenario as TOML (users written out)")
    show.set_defaults(func=run_show)
    val = ss.add_parser(
        "validate", help="validate a scenario file; exit 0 if valid, 2 with the first problem"
    )
    val.add_argument("file", metavar="FILE")
    val.set_defaults(func=run_validate)
    lst = ss.add_parser("list", help="list the embedded scenarios")
    lst.set_defaults(func=run_list)


def run_list(args: argparse.Namespace) -> int:
    from goalit.scenario.embedded import embedded_names, embedded_text

    for name in embedded_names():
        first = next(line for line in embedded_text(name).splitlines() if line.startswith("description"))
        print(f"{name:10s} {first.split('=', 1)[1].strip().strip(chr(34))}")
    return 0


def run_validate(args: argparse.Namespace) -> int:
    from goalit.api import load_scenario

    s = load_scenario(args.file)
    print(f"{args.file}: valid ({s.n_users} users, {len(s.servers)} servers, llm {s.llm.name})")
    return 0


def run_show(args: argparse.Namespace) -> int:
    import numpy as np

    from goalit.api import resolve_scenario
    from goalit.game.model import build_game
    from goalit.scenario.toml_io import dump_scenario

    s = resolve_scenario(args.scenario)
    if args.toml:
        print(dump_scenario(s), end="")
        return 0
    g = build_game(s)
    print(f"scenario {s.name}: {s.description}")
    print(f"llm {s.llm.name} ({s.llm.params / 1e9:.2f} B params), local level {s.local_level}; "
          f"{s.n_users} users, {len(s.servers)} servers")  # fmt: skip
    rows = []
    for r in range(1, g.n_actions):
        j = int(g.server_of[r])
        sv = s.servers[j]
        share = next(i.share for i in sv.instances if i.level == g.level_of[r])
        rows.append((sv.name, sv.hardware, g.level_of[r], share, 1e3 * g.step_table[r, 1], int(g.capacity[r]),
                     sv.ap.subchannels, sv.sharing))  # fmt: skip
    print(table(["server", "hardware", "level", "share", "d(1) ms/token", "KV cap", "AP K", "sharing"], rows))
    u = s.users
    print()
    print(table(
        ["user field", "min", "mean", "max"],
        [(f, float(np.min(getattr(u, f))), float(np.mean(getattr(u, f))), float(np.max(getattr(u, f))))
         for f in ("prompt_tokens", "output_tokens", "deadline_s", "w_quality", "w_energy", "max_perplexity")],
    ))  # fmt: skip
    return 0
