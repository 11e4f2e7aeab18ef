"""docs/howto-add-a-policy.md runs: its ```python blocks, in order, in one namespace."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

from goalit.sim import policies

DOC = Path(__file__).resolve().parents[2] / "docs" / "howto-add-a-policy.md"


def test_howto_add_a_policy_runs(capsys):
    code = re.findall(r"^```python\n(.*?)^```", DOC.read_text(encoding="utf-8"), flags=re.S | re.M)
    assert len(code) == 3
    mod = types.ModuleType("howto_policy")  # dataclasses look their module up in sys.modules
    sys.modules[mod.__name__] = mod
    ns = mod.__dict__
    try:
        for k, block in enumerate(code):
            exec(compile(block, f"{DOC}:block{k}", "exec"), ns)  # noqa: S102 - the doc's own example
        res = ns["every_epoch"]
        assert res.metrics["unfinished"] == 0 and res.policy["name"] == "most-memory"
        assert res.metrics["players_per_decision_mean"] >= 1.0
        assert ns["res"].metrics["players_per_decision_max"] == 1
    finally:
        policies.POLICIES.pop("most-memory", None)
        sys.modules.pop(mod.__name__, None)
    out = capsys.readouterr().out
    assert "completed," in out and "players per decision every 0.5 s" in out
