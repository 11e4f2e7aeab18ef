"""Start real LLM server processes on 127.0.0.1: two engines, one spec.

- ``engine = "llama-cpp-python"``: ``python -m llama_cpp.server`` (docs/real-llm.md section 2). One process
  serves several quantization levels of the same GGUF family under model aliases (it keeps one model
  loaded and reloads on an alias switch) and runs one request at a time (``interrupt_requests`` is False
  so a new request never cuts a running stream).
- ``engine = "llama-server"``: llama.cpp's own HTTP server (``tools/server`` of the llama.cpp that the
  llama-cpp-python sdist vendors, built by ``scripts/install-llama-server``). One process serves one model
  with ``slots`` parallel sequences and continuous batching (iteration-level: every decode step runs one
  token of every active slot, new prompts join the running batch), plus ``/tokenize``, ``/health`` and
  ``/metrics``. Prompt caching is off so every request pays its own prefill, as the cost model assumes;
  each slot gets ``n_ctx`` tokens of KV cache.

``n_threads`` should be set explicitly: llama.cpp's default is half the cores.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from goalit.errors import GoalitInputError
from goalit.serve.procs import Child, ProcessGroup, free_port, wait_http

ENGINES = ("llama-server", "llama-cpp-python")
BINARY_ENV = "GOALIT_LLAMA_SERVER"  # path of a llama-server binary (overrides the repository's .tools/)


def llama_server_binary() -> Path:
    """The ``llama-server`` binary: $GOALIT_LLAMA_SERVER, else the repository's ``.tools/llama-server/bin``
    (built by ``scripts/install-llama-server``, which ``./dev`` runs), else ``llama-server`` on the PATH."""
    env = os.environ.get(BINARY_ENV)
    if env:
        if not os.access(env, os.X_OK):
            raise GoalitInputError(f"${BINARY_ENV}: {env} is not an executable llama-server")
        return Path(env)
    repo = Path(__file__).resolve().parents[3]
    local = repo / ".tools" / "llama-server" / "bin" / "llama-server"
    if local.exists():
        return local
    found = shutil.which("llama-server")
    if found:
        return Path(found)
    raise GoalitInputError(
        f"llama-server not found ({local} missing, nothing on the PATH, ${BINARY_ENV} unset): "
        "run scripts/install-llama-server (./dev does) or use engine llama-cpp-python"
    )


@dataclass(frozen=True)
class LlamaServerSpec:
    """What one server process serves: ``models`` maps alias -> GGUF path (one model for llama-server).

    ``slots``: parallel sequences of a llama-server (its continuous batch is at most this large).
    """

    name: str
    models: dict[str, Path]
    port: int = 0  # 0: pick a free port
    n_ctx: int = 1024
    n_threads: int = 2
    host: str = "127.0.0.1"
    engine: str = "llama-cpp-python"
    slots: int = 4
    cpus: tuple[int, ...] | None = None  # logical CPUs the process is pinned to (None: any)

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise GoalitInputError(f"engine must be one of {', '.join(ENGINES)}, not {self.engine!r}")
        if self.engine == "llama-server" and len(self.models) != 1:
            raise GoalitInputError(f"{self.name}: a llama-server process serves exactly one model")

    def argv(self, port: int, work_dir: Path) -> list[str]:
        """The command line of this server on ``port`` (writes the llama_cpp.server config file)."""
        if self.engine == "llama-server":
            ((alias, path),) = self.models.items()
            return [
                str(llama_server_binary()), "-m", str(path), "--alias", alias, "--host", self.host,
                "--port", str(port), "-c", str(self.n_ctx * self.slots), "-np", str(self.slots),
                "--no-kv-unified", "-cb", "--no-cache-prompt", "-t", str(self.n_threads),
                "-tb", str(self.n_threads), "--no-webui", "--metrics", "--log-disable",
            ]  # fmt: skip
        cfg = work_dir / f"{self.name}.json"
        cfg.write_text(json.dumps(self.settings(port), indent=1), encoding="utf-8")
        return [sys.executable, "-m", "llama_cpp.server", "--config_file", str(cfg)]

    @property
    def ready_path(self) -> str:
        """GET path that answers 200 once the model is loaded."""
        return "/health" if self.engine == "llama-server" else "/v1/models"

    def settings(self, port: int) -> dict:
        """The server's JSON config (``--config_file``)."""
        return {
            "host": self.host,
            "port": port,
            "interrupt_requests": False,
            "models": [
                {"model": str(path), "model_alias": alias, "n_ctx": self.n_ctx, "n_threads": self.n_threads,
                 "n_threads_batch": self.n_threads, "verbose": False}
                for alias, path in self.models.items()
            ],
        }  # fmt: skip


def start_llama_servers(
    group: ProcessGroup,
    specs: list[LlamaServerSpec],
    work_dir: Path,
    timeout_s: float = 120.0,
    attempts: int = 3,
) -> list[tuple[Child, str]]:
    """Start every spec in ``group`` at once, then wait until each answers (``spec.ready_path``).

    Returns (child, base URL) per spec. A free port is picked when ``spec.port`` is 0; a server that
    fails to come up (e.g. its port was taken meanwhile) is stopped and started again on a new port.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    out: list[tuple[Child, str] | None] = [None] * len(specs)
    todo = list(range(len(specs)))
    for attempt in range(attempts):
        started = []
        for k in todo:
            spec = specs[k]
            port = spec.port or free_port(spec.host)
            argv = spec.argv(port, work_dir)
            child = group.start(spec.name, argv, cpus=spec.cpus)
            started.append((k, child, f"http://{spec.host}:{port}"))
        failed, last = [], None
        for k, child, url in started:
            try:
                wait_http(f"{url}{specs[k].ready_path}", child, timeout_s=timeout_s)
                out[k] = (child, url)
            except Exception as err:  # port taken or a slow start: stop it and retry on another port
                group.stop(child)
                failed.append(k)
                last = err
        if not failed:
            return out  # type: ignore[return-value]
        if attempt == attempts - 1 or any(specs[k].port for k in failed):
            raise last  # type: ignore[misc]
        todo = failed
    raise AssertionError("unreachable")  # pragma: no cover


def start_llama_server(
    group: ProcessGroup, spec: LlamaServerSpec, work_dir: Path, timeout_s: float = 120.0
) -> tuple[Child, str]:
    """Start one server (see ``start_llama_servers``)."""
    return start_llama_servers(group, [spec], work_dir, timeout_s)[0]
