"""One metric catalogue (goalit.sim.metric_catalogue): the simulator, docs/metrics.md, the CLI, the
experiments and the testbed all use exactly its keys."""

from __future__ import annotations

import ast
import importlib
import json
import re
from pathlib import Path

import pytest

from goalit.sim import SIM_METRICS, SimMetrics, simulate
from goalit.sim.metric_catalogue import metric_names

ROOT = Path(__file__).resolve().parents[2]
NAMES = metric_names()
PER_REQUEST = re.compile(r"^\w+\[k\]$")  # per-request record columns documented in the same table
SUMMARY_FIELDS = {"events"}  # run fields of summary() documented next to the metrics, not metrics


def _docs_table() -> dict[str, str]:
    """key -> unit of the first table under "## Simulation metrics" in docs/metrics.md."""
    text = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    section = text.split("## Simulation metrics", 1)[1]
    rows = [line for line in section.split("\n\n| key")[1].splitlines() if line.startswith("|")]
    out: dict[str, str] = {}
    for row in rows[1:]:  # rows[0] is the |---| line
        keys_cell, unit = (c.strip() for c in row.strip("|").split("|")[:2])
        for key in re.findall(r"`([^`]+)`", keys_cell):
            out[key] = unit
    return out


@pytest.fixture(scope="module")
def run():
    return simulate("small", policy="goalit", seed=0, rate=0.5, duration_s=20.0)


def test_catalogue_is_well_formed():
    assert len(set(NAMES)) == len(NAMES) > 30
    for m in SIM_METRICS:
        assert m.description and m.unit, m.name
        assert m.direction in ("higher", "lower", "none") and m.kind in (
            "count",
            "value",
            "share",
            "breakdown",
        )
        assert m.source in ("records", "decisions")


def test_docs_table_has_exactly_the_catalogue():
    docs = _docs_table()
    documented = {("conservation" if k == "conservation.*" else k): u for k, u in docs.items()}
    metrics = {k: u for k, u in documented.items() if not PER_REQUEST.match(k) and k not in SUMMARY_FIELDS}
    assert set(metrics) == set(NAMES), (
        f"only in docs/metrics.md: {sorted(set(metrics) - set(NAMES))}; "
        f"only in the catalogue: {sorted(set(NAMES) - set(metrics))}"
    )
    units = {m.name: m.unit for m in SIM_METRICS}
    assert {k: metrics[k] for k in NAMES} == units


def test_simulator_returns_typed_metrics(run):
    m = run.metrics
    assert isinstance(m, SimMetrics)
    assert tuple(m) == NAMES and list(m.keys()) == list(NAMES)
    assert m["completed"] == m.completed == run.completed and m.get("nope") is None
    for spec in SIM_METRICS:
        v = m[spec.name]
        if spec.kind == "count":
            assert v is None or (isinstance(v, int) and v >= 0), spec.name
        elif spec.kind == "share":
            assert v is None or 0.0 <= v <= 1.0, spec.name
        elif spec.kind == "value":
            assert v is None or isinstance(v, float), spec.name
        else:
            assert isinstance(v, dict) and all(isinstance(x, int) for x in v.values()), spec.name
    assert json.loads(json.dumps(m.as_dict())) == m.as_dict()


def test_summary_keys_follow_the_catalogue(run):
    keys = list(run.summary())
    assert keys[3 : 3 + len(NAMES)] == list(NAMES)  # after scenario, policy, seed: the bytes of --json


def test_from_dict_refuses_odd_keys(run):
    d = run.metrics.as_dict()
    with pytest.raises(ValueError, match="'steady' is not in the metric catalogue"):
        SimMetrics.from_dict({**d, "steady": 1.0})
    del d["reroutes"]
    with pytest.raises(ValueError, match="metric 'reroutes' has no value"):
        SimMetrics.from_dict(d)


def test_cli_reads_catalogue_keys():
    """Every metric attribute `goalit simulate` prints (``m.<key>``) is a catalogue key."""
    tree = ast.parse((ROOT / "src" / "goalit" / "cli" / "simulate.py").read_text(encoding="utf-8"))
    used = {
        n.attr for n in ast.walk(tree)
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "m"
    }  # fmt: skip
    assert len(used) > 20
    assert used <= set(NAMES), sorted(used - set(NAMES))


def test_experiments_columns_are_the_catalogue():
    from goalit.experiments import dynamic

    assert dynamic.METRIC_KEYS == metric_names("records", scalar_only=True)
    assert dynamic.DECISION_KEYS == metric_names("decisions")


def test_testbed_compares_catalogue_keys():
    tb = importlib.import_module("goalit.experiments.testbed")
    compare = importlib.import_module("goalit.experiments.testbed.compare")
    assert set(tb.METRICS) <= set(NAMES)
    picked = compare.pick_metrics(dict.fromkeys(NAMES, 0))
    assert picked and set(picked) <= set(NAMES)


def test_metrics_pickle_and_compare(run):
    """Results cross process boundaries (sweep workers): SimMetrics pickles and compares by value."""
    import pickle

    m = run.metrics
    assert pickle.loads(pickle.dumps(m)) == m
    assert m != SimMetrics.from_dict({**m.as_dict(), "reroutes": m.reroutes + 1})
