"""Helpers of the gateway tests: test configuration files and gateway processes (fixtures: conftest.py)."""

from __future__ import annotations

import sys
from pathlib import Path

DATA = Path(__file__).parent / "data"
PROFILE = DATA / "smollm2-cpu.toml"
LEVELS = ("q8_0", "q4_0")
ALIASES = {lv: f"smollm2-{lv}" for lv in LEVELS}
SRC = str(Path(__file__).resolve().parents[2] / "src")


def write_config(path: Path, urls: list[str], gateway: dict | None = None, names=("edge-a", "edge-b")):
    """A gateway config over ``urls`` (each serving both test levels) using the test profiles."""
    gw = {"probe_interval_s": 0.5, "probe_timeout_s": 2.0, "request_timeout_s": 30.0, **(gateway or {})}
    lines = ['llm = "test-smollm2"', 'model = "smollm2"', f'profiles = ["{PROFILE}"]', "", "[gateway]"]
    lines += [f"{k} = {v!r}" if not isinstance(v, str) else f'{k} = "{v}"' for k, v in gw.items()]
    for name, url in zip(names, urls, strict=False):
        levels = ", ".join(f'{lv} = "{a}"' for lv, a in ALIASES.items())
        lines += ["", "[[backends]]", f'name = "{name}"', f'url = "{url}"', 'hardware = "test-cpu"',
                  f"levels = {{ {levels} }}"]  # fmt: skip
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def start_gateway(group, config: Path, *args: str, timeout_s: float = 60.0) -> str:
    """Start ``goalit serve`` as a real process in ``group``; returns its base URL once /health answers."""
    from goalit.serve.procs import free_port, wait_http

    port = free_port()
    argv = [sys.executable, "-m", "goalit", "serve", "--config", str(config), "--port", str(port), *args]
    child = group.start(f"gateway-{port}", argv, env={"PYTHONPATH": SRC})
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/health", child, timeout_s=timeout_s)
    return url
