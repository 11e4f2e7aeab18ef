"""Seeded fuzz corpus for the gateway's HTTP surface, sent over real loopback sockets.

The gateway runs as a real ``goalit serve`` process whose backends are closed ports: a well-formed
request is admitted by the parser and answered 503 (no backend up), a malformed one must get its 4xx.
Every answer must carry the JSON error body ``{"error": {"message", "type", "param", "code"}}``; the
gateway must stay up and its log must hold no traceback. Slow clients (nothing sent, headers or body
trickled or stalled) must be answered 408 within the configured timeouts.
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

# GOALIT_FUZZ_SRC: fuzz another checkout's gateway (e.g. main's, for before/after figures); a checkout
# without the client timeouts is given a config without them (GOALIT_FUZZ_NO_TIMEOUTS=1)
SRC = os.environ.get("GOALIT_FUZZ_SRC", str(Path(__file__).resolve().parents[1] / "src"))
NO_TIMEOUTS = os.environ.get("GOALIT_FUZZ_NO_TIMEOUTS") == "1"
PROFILE = Path(__file__).resolve().parent / "serve" / "data" / "smollm2-cpu.toml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(path: Path, header_timeout_s: float = 1.0, body_timeout_s: float = 1.0) -> Path:
    """A gateway over two closed ports (no backend up) with short client timeouts."""
    dead = [free_port(), free_port()]
    lines = ['llm = "test-smollm2"', 'model = "smollm2"', f'profiles = ["{PROFILE}"]', "", "[gateway]",
             "probe_interval_s = 60.0", "max_body_bytes = 65536"]  # fmt: skip
    if not NO_TIMEOUTS:
        lines += [f"header_timeout_s = {header_timeout_s}", f"body_timeout_s = {body_timeout_s}"]
    for k, port in enumerate(dead):
        lines += ["", "[[backends]]", f'name = "edge-{k}"', f'url = "http://127.0.0.1:{port}"',
                  'hardware = "test-cpu"', 'levels = { q8_0 = "smollm2-q8_0", q4_0 = "smollm2-q4_0" }']  # fmt: skip
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class GatewayProcess:
    """``python -m goalit serve`` on a free loopback port; ``log()`` is its stderr so far."""

    def __init__(self, config: Path, log_path: Path) -> None:
        self.port = free_port()
        self.log_path = log_path
        env = {**os.environ, "PYTHONPATH": SRC}
        self._log = open(log_path, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "goalit", "serve", "--config", str(config), "--port", str(self.port),
             "--log-level", "info"],
            stdout=subprocess.DEVNULL, stderr=self._log, env=env,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited: {self.log()}")
            try:
                status, _, _ = request(
                    self.port, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                )
                if status in (200, 503):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("gateway did not start")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


def request(port: int, raw: bytes, timeout_s: float = 30.0, pieces: list[tuple[bytes, float]] | None = None):
    """Send ``raw`` (or ``pieces``: (bytes, pause after)) and read the answer: (status, headers, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as s:
        try:
            for chunk, pause in pieces or [(raw, 0.0)]:
                if chunk:
                    s.sendall(chunk)
                if pause:
                    time.sleep(pause)
        except OSError:
            pass  # the server may close while we still send (413, 408): read its answer anyway
        data = b""
        try:
            while True:
                got = s.recv(65536)
                if not got:
                    break
                data += got
                if _complete(data):
                    break
        except (TimeoutError, ConnectionResetError):
            pass
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    if not lines or not lines[0].startswith(b"HTTP/"):
        return None, {}, data
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers[k.strip().lower().decode("latin-1")] = v.strip().decode("latin-1")
    return status, headers, body


def _complete(data: bytes) -> bool:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            return len(body) >= int(v.strip() or 0)
    return False


# ----------------------------------------------------------------------------------------------------
# the corpus

HUGE = ["1" * 400, "-" + "9" * 400, "1" * 5000, "1e400", "-1e400", "NaN", "Infinity", "-Infinity", "1" * 20]
STRINGS = [
    '"x"',
    '""',
    '"\\ud800"',
    '"a\\udfffb"',
    '"\\u0000"',
    '"' + "é" * 50 + '"',
    '"' + "x" * 70000 + '"',
]
VALUES = ["null", "true", "false", "0", "1", "-1", "0.5", "16", "[]", "{}", '["x"]', "[1]", '{"a": 1}',
          *HUGE, *STRINGS]  # fmt: skip
ROLES = ['"user"', '"system"', '"assistant"', '"wizard"', '""', "1", "null", '"\\ud800"']
GOALIT_KEYS = ["w_latency", "w_quality", "w_energy", "deadline_s", "max_perplexity", "speed"]


def _message(rng: random.Random) -> str:
    parts = []
    if rng.random() < 0.95:
        parts.append(f'"role": {rng.choice(ROLES)}')
    if rng.random() < 0.9:
        content = rng.choice(['"hello"', *STRINGS, "null", '[{"type": "text", "text": "hi"}]', "[1]", "5"])
        parts.append(f'"content": {content}')
    return "{" + ", ".join(parts) + "}"


def _body(rng: random.Random, chat: bool) -> bytes:
    fields = []
    if chat:
        if rng.random() < 0.9:
            msgs = [_message(rng) for _ in range(rng.randint(0, 3))]
            fields.append(
                f'"messages": [{", ".join(msgs)}]'
                if rng.random() < 0.9
                else f'"messages": {rng.choice(VALUES)}'
            )
    elif rng.random() < 0.85:
        fields.append('"prompt": ' + rng.choice(['"The capital of France is"', *STRINGS, *VALUES]))
    for key, p in (("max_tokens", 0.5), ("stream", 0.2), ("n", 0.1), ("model", 0.3), ("temperature", 0.2),
                   ("stop", 0.1), ("max_completion_tokens", 0.05)):  # fmt: skip
        if rng.random() < p:
            if key == "model":
                v = rng.choice(['"smollm2"', '"smollm2:q8_0"', '"smollm2:q2_k"', '"gpt-4"', "5", '"\\ud800"'])
            elif key == "max_tokens" and rng.random() < 0.5:
                v = rng.choice(["1", "16", "4096", "4097"])
            else:
                v = rng.choice(VALUES)
            fields.append(f'"{key}": {v}')
    if rng.random() < 0.4:
        g = []
        for k in rng.sample(GOALIT_KEYS, rng.randint(0, 3)):
            g.append(f'"{k}": {rng.choice(["0.1", "1", "30", "0", "-1", *HUGE, *VALUES[:6]])}')
        fields.append(
            f'"goalit": {{{", ".join(g)}}}' if rng.random() < 0.9 else f'"goalit": {rng.choice(VALUES)}'
        )
    text = "{" + ", ".join(fields) + "}"
    roll = rng.random()
    if roll < 0.08:
        text = text[: rng.randrange(len(text) + 1)]
    elif roll < 0.12:
        text = "[" * rng.choice([10, 100, 100000]) + "]" * 3
    elif roll < 0.15:
        text = rng.choice(["[1, 2]", '"x"', "null", "", "12", "{,}"])
    data = text.encode("utf-8", "surrogatepass")
    if rng.random() < 0.05:
        data = data.replace(b'"', b"\xff", 1)
    return data


@dataclass
class HttpCase:
    label: str
    raw: bytes
    well_formed_possible: bool = True
    pieces: list[tuple[bytes, float]] | None = None
    expect_status: int | None = None  # slow-client cases: exactly this status


def http_cases(rng: random.Random, n: int) -> Iterator[HttpCase]:
    for k in range(n):
        roll = rng.random()
        if roll < 0.8:
            chat = rng.random() < 0.5
            path = "/v1/chat/completions" if chat else "/v1/completions"
            body = _body(rng, chat)
            ctype = rng.choice(["application/json", "application/json", "text/plain", ""])
            head = f"POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            if ctype:
                head += f"Content-Type: {ctype}\r\n"
            head += f"Content-Length: {len(body)}\r\n\r\n"
            yield HttpCase(f"http#{k} POST {path} {body[:120]!r}", head.encode() + body)
        elif roll < 0.93:
            method = rng.choice(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"])
            path = rng.choice(["/v1/models", "/health", "/metrics", "/metrics?format=json", "/nope", "/v1/completions",
                               "/v1/chat/completions", "/%ff%fe", "/" + "a" * 5000])  # fmt: skip
            raw = f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n".encode()
            yield HttpCase(f"http#{k} {method} {path[:60]}", raw)
        else:
            raw = rng.choice([
                b"GARBAGE\r\n\r\n", b"POST /v1/completions HTTP/9.9\r\n\r\n", b"\x00\x01\x02\r\n\r\n",
                b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
                b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
                b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nX-" + b"a" * 100000 + b": 1\r\n\r\n",
                b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                b"5\r\n{\"pro\r\nZ\r\n",
            ])  # fmt: skip
            yield HttpCase(f"http#{k} raw {raw[:50]!r}", raw)


def slow_cases(header_timeout_s: float, body_timeout_s: float) -> list[HttpCase]:
    """Clients that send nothing, trickle or stall their headers or body: each must get 408."""
    body = b'{"prompt": "The capital of France is", "max_tokens": 4}'
    head = b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n\r\n"
    trickle = [(bytes([c]), header_timeout_s / 5) for c in head % len(body)]
    return [
        HttpCase("slow: connects, sends nothing", b"", pieces=[(b"", 0.0)], expect_status=408),
        HttpCase(
            "slow: half a request line, then stalls",
            b"",
            pieces=[(b"POST /v1/compl", 0.0)],
            expect_status=408,
        ),
        HttpCase("slow: headers trickled one byte at a time", b"", pieces=trickle, expect_status=408),
        HttpCase(
            "slow: headers without the blank line",
            b"",
            pieces=[(b"GET /health HTTP/1.1\r\nHost: x\r\n", 0.0)],
            expect_status=408,
        ),
        HttpCase(
            "slow: body stalls half way", b"", pieces=[(head % len(body) + body[:10], 0.0)], expect_status=408
        ),
        HttpCase(
            "slow: body trickled",
            b"",
            pieces=[(head % len(body), 0.0)]
            + [(body[i : i + 1], body_timeout_s / 4) for i in range(len(body))],
            expect_status=408,
        ),  # fmt: skip
    ]


# ----------------------------------------------------------------------------------------------------
# checking


@dataclass
class HttpFigures:
    cases: int = 0
    tracebacks: int = 0
    hangs: int = 0
    wrong_status: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


def check_answer(case: HttpCase, status: int | None, headers: dict, body: bytes, method: str) -> str:
    """'' if the answer keeps the promise, else what is wrong."""
    if status is None:
        return "no HTTP answer"
    if case.expect_status is not None:
        if status != case.expect_status:
            return f"status {status}, expected {case.expect_status}"
    elif status >= 500 and status != 503:
        return f"status {status}"
    elif 200 <= status < 300 and case.raw.startswith(b"POST /v1/"):
        return f"status {status} for a request with no backend up"
    if method == "HEAD":  # no body by definition
        return ""
    if status == 503 and b" /health" in case.raw[:20]:  # the health report itself (docs/serve.md)
        return "" if b'"status"' in body else f"health 503 without its report: {body[:100]!r}"
    if status >= 400 and method != "HEAD":
        try:
            err = json.loads(body)["error"]
            if not (isinstance(err, dict) and err.get("message") and "code" in err):
                return f"error body without message/code: {body[:100]!r}"
        except (ValueError, KeyError, TypeError):
            return f"{status} without a JSON error body: {body[:100]!r}"
    return ""


def run_http(seed: int, n: int, workdir: Path, slow: bool = True, log=None) -> HttpFigures:
    """Start a gateway, send ``n`` fuzzed requests (+ the slow clients), check answers and the log."""
    header_t, body_t = 1.0, 1.0
    workdir.mkdir(parents=True, exist_ok=True)
    gw = GatewayProcess(write_config(workdir / "gateway.toml", header_t, body_t), workdir / "gateway.log")
    figs = HttpFigures()
    try:
        cases = list(http_cases(random.Random(f"http:{seed}"), n)) + (
            slow_cases(header_t, body_t) if slow else []
        )
        for case in cases:
            t0 = time.monotonic()
            try:
                status, headers, body = request(gw.port, case.raw, timeout_s=20.0, pieces=case.pieces)
            except OSError as err:
                status, headers, body = None, {}, repr(err).encode()
            elapsed = time.monotonic() - t0
            figs.cases += 1
            figs.statuses[status or 0] = figs.statuses.get(status or 0, 0) + 1
            method = case.raw.split(b" ", 1)[0].decode("latin-1") if case.raw else ""
            problem = check_answer(case, status, headers, body, method)
            if elapsed > 15.0:
                figs.hangs += 1
                problem = problem or f"answered after {elapsed:.1f} s"
            elif problem:
                figs.wrong_status += 1
            if problem:
                figs.failures.append(f"{case.label}: {problem}")
                if log:
                    log(f"{case.label}: {problem}")
            if not gw.alive():
                figs.failures.append(f"{case.label}: the gateway died")
                break
        health = request(gw.port, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")[0]
        if health not in (200, 503):
            figs.failures.append(f"gateway unhealthy at the end: {health}")
    finally:
        text = gw.log()
        gw.close()
    figs.tracebacks = text.count("Traceback")
    if figs.tracebacks:
        figs.failures.append("traceback in the gateway log: " + text[text.index("Traceback") :][:2000])
    return figs


if __name__ == "__main__":  # pragma: no cover
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        f = run_http(0, int(sys.argv[1]), Path(tmp), log=print)
        print(f.cases, "tracebacks", f.tracebacks, "hangs", f.hangs, "wrong", f.wrong_status, f.statuses)
