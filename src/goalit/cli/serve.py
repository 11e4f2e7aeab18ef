"""``goalit serve``: an OpenAI-compatible gateway that routes requests to LLM backends with a game policy."""

from __future__ import annotations

import argparse

from goalit.cli._common import nonnegative_int, seed_int
from goalit.cli.algorithms import solver_name


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="OpenAI-compatible gateway routing requests to LLM backends (extra: serve)",
        description="Route /v1/completions and /v1/chat/completions to the configured backends; each request "
        "is a player of the offloading game, solved by the policy. See docs/serve.md.",
    )
    p.add_argument("--config", required=True, metavar="FILE", help="gateway configuration (TOML)")
    p.add_argument("--host", default=None, help="address to bind (default: the config's, else 127.0.0.1)")
    p.add_argument(
        "--port", type=port_number, default=None, help="port (default: the config's, else 8100; 0: any)"
    )
    p.add_argument(
        "--policy",
        type=solver_name,
        default=None,
        metavar="NAME",
        help="routing policy: goalit or any registry or plug-in solver (default: the config's, else goalit)",
    )
    p.add_argument("--seed", type=seed_int, default=None, help="seed of the policy's random stream")
    p.add_argument(
        "--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"]
    )
    p.set_defaults(func=run)


def port_number(text: str) -> int:
    value = nonnegative_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"must be <= 65535, not {value}")
    return value


def run(args: argparse.Namespace) -> int:
    from goalit.errors import GoalitInputError
    from goalit.serve.config import check_host, load_config

    try:
        from goalit.serve.server import serve
    except ModuleNotFoundError as err:
        raise GoalitInputError(f"goalit serve needs the 'serve' extra ({err.name} is missing)") from None
    config = load_config(args.config)
    changes = {}
    if args.host is not None:
        try:
            changes["host"] = check_host(args.host)
        except ValueError:
            raise GoalitInputError(
                f"--host: must be an IP address or 'localhost', not {args.host!r}"
            ) from None
    if args.port is not None:
        changes["port"] = args.port
    if args.policy is not None:
        changes["policy"] = args.policy
    if args.seed is not None:
        changes["seed"] = args.seed
    serve(config.with_gateway(**changes), log_level=args.log_level)
    return 0
