"""The documentation site builds with ``mkdocs build --strict`` (mkdocs.yml; extra ``docs``).

Strict mode fails on any warning: a page missing from the navigation, a broken link or anchor (the
model's section anchors included), a docstring mkdocstrings cannot render. The API reference must
document every public name of ``goalit`` and the CLI reference every command.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mkdocs")
pytest.importorskip("mkdocstrings_handlers.python")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH")) if p)
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
         "-d", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    # no --quiet: it hides the warnings that --strict counts
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    assert "WARNING" not in proc.stderr, proc.stderr
    return out


def test_site_builds_with_every_page(site: Path) -> None:
    pages = sorted(p.relative_to(ROOT / "docs").with_suffix("") for p in (ROOT / "docs").glob("*.md"))
    for page in pages:
        target = site / "index.html" if page.name == "index" else site / page / "index.html"
        assert target.is_file(), f"docs/{page}.md was not built"


PUBLIC_MODULES = (
    "goalit", "goalit.sim", "goalit.errors", "goalit.rng", "goalit.scenario", "goalit.plugins", "goalit.serve",
    "goalit.env", "goalit.experiments",
)  # fmt: skip


def test_api_reference_documents_the_public_surface(site: Path) -> None:
    """Every class and function in a public module's ``__all__`` has an entry in the API reference."""
    import importlib
    import inspect

    html = (site / "reference" / "api" / "index.html").read_text()
    missing = []
    for name in PUBLIC_MODULES:
        module = importlib.import_module(name)
        for member in getattr(module, "__all__", []):
            obj = getattr(module, member)
            if (inspect.isclass(obj) or inspect.isfunction(obj)) and f'id="{name}.{member}"' not in html:
                missing.append(f"{name}.{member}")
    assert not missing, f"public names without an API reference entry: {missing}"


def test_cli_reference_has_every_command(site: Path) -> None:
    from goalit.cli import build_parser

    html = (site / "reference" / "cli" / "index.html").read_text()
    commands = build_parser()._subparsers._group_actions[0].choices
    assert commands, "no subcommands found"
    assert html.count("show this help message") >= len(commands) + 1  # the --help texts themselves
    for name in commands:
        assert f'id="goalit-{name}"' in html, f"goalit {name} is not in the CLI reference"
