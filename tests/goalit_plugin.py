"""Install the example plug-in package (examples/plugin) into a temporary directory, as
``pip install --target DIR`` would lay it out: the package and a ``*.dist-info`` whose
``entry_points.txt`` is written from the ``[project.entry-points]`` table of its pyproject.toml.
Putting DIR on sys.path / PYTHONPATH makes ``importlib.metadata`` see it; the shared venv is untouched."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "plugin"


def install_example(target: Path) -> Path:
    """Lay out the example package and its dist-info in ``target``; returns ``target``."""
    meta = tomllib.loads((EXAMPLE / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    target.mkdir(parents=True, exist_ok=True)
    pkg = EXAMPLE / "src" / "goalit_example_plugin"
    shutil.copytree(pkg, target / pkg.name, ignore=shutil.ignore_patterns("__pycache__"))
    dist = target / f"{meta['name'].replace('-', '_')}-{meta['version']}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {meta['name']}\nVersion: {meta['version']}\n", encoding="utf-8"
    )
    lines = []
    for group, eps in meta["entry-points"].items():
        lines.append(f"[{group}]")
        lines += [f"{name} = {value}" for name, value in eps.items()]
    (dist / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (dist / "INSTALLER").write_text("goalit-tests\n", encoding="utf-8")
    return target
