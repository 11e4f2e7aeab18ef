"""Start real ``python -m llama_cpp.server`` processes on 127.0.0.1 (real-llm.md section 2).

One process is one edge server: it serves several quantization levels of the same GGUF family under
model aliases (it keeps one model loaded and reloads on an alias switch) and runs one request at a time
(``interrupt_requests`` is False so a new request never cuts a running stream). ``n_threads`` should be
set explicitly: llama.cpp's default is half the cores.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from goalit.serve.procs import Child, ProcessGroup, free_port, wait_http


@dataclass(frozen=True)
class LlamaServerSpec:
    """What one llama_cpp.server process serves: ``models`` maps alias -> GGUF path."""

    name: str
    models: dict[str, Path]
    port: int = 0  # 0: pick a free port
    n_ctx: int = 1024
    n_threads: int = 2
    host: str = "127.0.0.1"

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
    """Start every spec in ``group`` at once, then wait until each ``/v1/models`` answers.

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
            cfg = work_dir / f"{spec.name}.json"
            cfg.write_text(json.dumps(spec.settings(port), indent=1), encoding="utf-8")
            argv = [sys.executable, "-m", "llama_cpp.server", "--config_file", str(cfg)]
            started.append((k, group.start(spec.name, argv), f"http://{spec.host}:{port}"))
        failed, last = [], None
        for k, child, url in started:
            try:
                wait_http(f"{url}/v1/models", child, timeout_s=timeout_s)
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
