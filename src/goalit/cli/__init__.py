"""The ``goalit`` command: one parser, one module per subcommand. The CLI parses, calls the library, prints.

Bad input of any kind (flags, scenario files, traces) ends with one line ``goalit: error: ...`` on
stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from goalit.errors import GoalitInputError

# Subcommand modules, in help order. Each defines ``register(subparsers)``, which adds its parser and
# sets ``func`` (args -> exit code). A module whose optional extra is not installed is skipped.
COMMANDS = (
    "solve", "compare", "scenario", "simulate", "reproduce", "calibrate", "serve", "testbed", "algorithms",
)  # fmt: skip


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line and exit with code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="goalit",
        description="Game-theoretic offloading of LLM inference in edge computing systems.",
    )
    from goalit import __version__

    parser.add_argument("--version", action="version", version=f"goalit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    sub.required = True
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"goalit.cli.{name}")
        except ModuleNotFoundError as err:
            if err.name and err.name.startswith("goalit"):
                continue  # command not built yet
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``goalit`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except GoalitInputError as err:
        sys.stderr.write(f"goalit: error: {err}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("goalit: interrupted\n")
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
