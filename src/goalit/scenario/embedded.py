"""The scenarios shipped inside the package (``goalit/data/scenarios/NAME.toml``)."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import cast

from goalit.errors import ScenarioError
from goalit.scenario.model import Scenario
from goalit.scenario.toml_io import parse_scenario


def _folder() -> Path:
    # a regular install (not a zip): importlib.resources hands back a pathlib.Path
    return cast(Path, files("goalit") / "data" / "scenarios")


def embedded_names() -> tuple[str, ...]:
    """Names of the embedded scenarios."""
    return tuple(sorted(e.name[:-5] for e in _folder().iterdir() if e.name.endswith(".toml")))


EMBEDDED = embedded_names()


def embedded_text(name: str) -> str:
    """The TOML text of embedded scenario ``name``."""
    if name not in embedded_names():
        raise ScenarioError(
            f"unknown scenario {name!r} (embedded: {', '.join(embedded_names())}; or a file path)"
        )
    out: str = (_folder() / f"{name}.toml").read_text(encoding="utf-8")
    return out


@cache
def embedded_scenario(name: str) -> Scenario:
    """Embedded scenario ``name`` (cached; scenarios are immutable)."""
    origin = f"<embedded {name}>"
    return parse_scenario(tomllib.loads(embedded_text(name)), origin=origin, base_dir=_folder())
