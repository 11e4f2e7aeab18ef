"""MkDocs hook: `<!-- goalit-help -->` in a page becomes the ``--help`` text of every ``goalit`` command.

The text comes from the command's own argparse parser (``goalit.cli.build_parser``), so the reference
cannot drift from the command. Width 100 columns, whatever the terminal.
"""

from __future__ import annotations

import argparse
import os

MARKER = "<!-- goalit-help -->"


def _parsers() -> list[tuple[str, argparse.ArgumentParser]]:
    from goalit.cli import build_parser

    root = build_parser()
    out = [("goalit", root)]

    def walk(prefix: str, parser: argparse.ArgumentParser) -> None:
        if parser._subparsers is None:
            return
        for action in parser._subparsers._group_actions:
            for name, sub in action.choices.items():
                out.append((f"{prefix} {name}", sub))
                walk(f"{prefix} {name}", sub)

    walk("goalit", root)
    return out


def help_markdown() -> str:
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"
    try:
        parts = []
        for name, parser in _parsers():
            parts += [f"## `{name}`", "", "```text", parser.format_help().rstrip(), "```", ""]
        return "\n".join(parts)
    finally:
        if previous is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = previous


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ARG001 (MkDocs hook signature)
    if MARKER in markdown:
        markdown = markdown.replace(MARKER, help_markdown())
    return markdown
