"""docs/env.md's examples run: every ```python block, in order, in one namespace."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("pettingzoo")

DOC = Path(__file__).resolve().parents[2] / "docs" / "env.md"


def blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", DOC.read_text(encoding="utf-8"), flags=re.S | re.M)


def test_env_docs_examples_run(capsys):
    code = blocks()
    assert len(code) >= 5
    namespace: dict = {"__name__": "env_docs"}
    for k, block in enumerate(code):
        exec(compile(block, f"{DOC}:block{k}", "exec"), namespace)  # noqa: S102 - the doc's own examples
    out = capsys.readouterr().out
    assert "random play: S =" in out and "mean latency" in out and "Hedge on 'small'" in out
