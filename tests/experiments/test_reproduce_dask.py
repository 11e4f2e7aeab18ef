"""`reproduce` on a Dask LocalCluster of 2 worker processes writes the same rows as the local backend."""

from __future__ import annotations

import re

import pytest

from goalit.experiments.catalogue import TIMING_COLUMNS
from goalit.experiments.reproduce import reproduce
from goalit.experiments.store import read_rows

ONLY = ("convergence", "poa")


def _report(path):
    """The report without its one wall-clock figure (the points' wall time differs between backends)."""
    return re.sub(r"the points took [0-9.]+ min wall", "the points took X min wall", path.read_text())


def _rows(csv):
    return [{k: v for k, v in r.items() if k not in TIMING_COLUMNS} for r in read_rows(csv)]


@pytest.mark.slow
def test_reproduce_tiny_local_and_dask_local_cluster_give_the_same_rows(tmp_path):
    local = reproduce(tmp_path / "local", "tiny", seeds=1, jobs=1, experiments=ONLY, progress=False)
    dask = reproduce(tmp_path / "dask", "tiny", seeds=1, jobs=2, backend="dask", experiments=ONLY,
                     progress=False)  # fmt: skip
    assert local.sweep.computed == dask.sweep.computed == local.sweep.total > 0
    a, b = _rows(tmp_path / "local" / "results.csv"), _rows(tmp_path / "dask" / "results.csv")
    assert len(a) == local.sweep.total
    assert a == b
    assert _report(tmp_path / "dask" / "report.md") == _report(tmp_path / "local" / "report.md")
