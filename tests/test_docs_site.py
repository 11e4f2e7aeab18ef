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
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-f", str(ROOT / "mkdocs.yml"),
         "-d", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    return out


def test_site_builds_with_every_page(site: Path) -> None:
    pages = sorted(p.relative_to(ROOT / "docs").with_suffix("") for p in (ROOT / "docs").glob("*.md"))
    for page in pages:
        target = site / "index.html" if page.name == "index" else site / page / "index.html"
        assert target.is_file(), f"docs/{page}.md was not built"


def test_api_reference_documents_the_public_surface(site: Path) -> None:
    import goalit

    html = (site / "reference" / "api" / "index.html").read_text()
    missing = [n for n in goalit.__all__ if not n.startswith("__") and f'id="goalit.{n}"' not in html]
    assert not missing, f"public names without an API reference entry: {missing}"


def test_cli_reference_has_every_command(site: Path) -> None:
    from goalit.cli import build_parser

    html = (site / "reference" / "cli" / "index.html").read_text()
    commands = build_parser()._subparsers._group_actions[0].choices
    assert commands, "no subcommands found"
    assert html.count("show this help message") >= len(commands) + 1  # the --help texts themselves
    for name in commands:
        assert f'id="goalit-{name}"' in html, f"goalit {name} is not in the CLI reference"
