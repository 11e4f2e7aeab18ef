"""Fixtures for the gateway tests: the GGUF ladder and real llama_cpp.server backends."""

from __future__ import annotations

from pathlib import Path

import pytest
from serve_helpers import ALIASES, LEVELS


@pytest.fixture(scope="session")
def ladder() -> dict[str, Path]:
    """GGUF files of the test levels (generated once into the goalit model cache)."""
    pytest.importorskip("llama_cpp")
    from goalit.calibrate.ladder import ensure_ladder

    return ensure_ladder(list(LEVELS))


@pytest.fixture(scope="session")
def backend_specs(ladder):
    """Two edge servers, each serving both levels with one thread (2 servers on 2 cores)."""
    from goalit.serve.llama_server import LlamaServerSpec

    models = {ALIASES[lv]: ladder[lv] for lv in LEVELS}
    return [LlamaServerSpec(name, models, n_ctx=512, n_threads=1) for name in ("edge-a", "edge-b")]


@pytest.fixture(scope="module")
def shared_backends(backend_specs, tmp_path_factory):
    """Two real backends shared by the tests of one module; every PID is checked gone afterwards."""
    from goalit.serve.llama_server import start_llama_servers
    from goalit.serve.procs import ProcessGroup, pid_running

    work = tmp_path_factory.mktemp("backends")
    group = ProcessGroup(log_dir=work)
    try:
        started = start_llama_servers(group, backend_specs, work)
        yield group, [url for _, url in started]
    finally:
        group.close()
        assert not [p for p in group.pids() if pid_running(p)]
