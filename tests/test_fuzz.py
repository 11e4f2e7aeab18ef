"""Fast seeded slices of the fuzzers (``goalit_fuzz``, ``goalit_fuzz_http``): every surface, a few
seconds each. The long runs with per-surface figures are ``benchmarks/fuzz_inputs.py`` and
``benchmarks/fuzz_gateway.py``."""

from __future__ import annotations

import pytest

import goalit_fuzz as F

# (surface, cases, budget in s): the budget bounds a slow machine; the case count a fast one
SLICES = [("scenario", 120, 20.0), ("trace", 60, 20.0), ("flags", 60, 25.0), ("api", 150, 20.0)]


@pytest.mark.parametrize(("surface", "n", "budget"), SLICES, ids=[s[0] for s in SLICES])
def test_fuzz_slice_has_no_traceback_hang_wrong_exit_or_touched_output(surface, n, budget, tmp_path):
    figures = F.run_surface(surface, seed=15, n=n, workdir=tmp_path, timeout_s=60.0, budget_s=budget)
    assert figures.cases >= 10
    assert figures.exit_2 > 0  # the corpus does reach the error paths
    assert not figures.failures, "\n".join(o.describe() for o in figures.failures[:10])


@pytest.mark.slow
def test_fuzz_gateway_http_slice(tmp_path):
    pytest.importorskip("uvicorn")
    import goalit_fuzz_http as H

    figures = H.run_http(seed=15, n=150, workdir=tmp_path)
    assert figures.cases >= 150
    assert figures.statuses.get(400, 0) > 20 and figures.statuses.get(408, 0) >= 6
    assert not figures.failures, "\n".join(figures.failures[:10])
