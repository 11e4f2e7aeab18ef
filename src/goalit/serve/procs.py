"""Child processes started by goalit (LLM servers, gateways), tracked and stopped by PID.

``ProcessGroup`` remembers every process it started and stops each one (SIGTERM, then SIGKILL after a
grace period) by its PID, in reverse start order, on ``close()``; use it as a context manager so this
happens on errors and Ctrl-C too. On Linux each child also gets ``PR_SET_PDEATHSIG = SIGTERM``, so it is
stopped by the kernel even if the parent is killed with SIGKILL. ``handle_signals()`` turns SIGTERM and
SIGHUP into ``KeyboardInterrupt`` so the ``finally`` blocks run.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from goalit.errors import GoalitError

PR_SET_PDEATHSIG = 1


class ProcessError(GoalitError):
    """A child process did not start or died."""


def _pdeathsig() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _child_setup(cpus: tuple[int, ...] | None):
    """The child's set-up between fork and exec: parent-death signal, and the CPUs it may run on
    (``sched_setaffinity``; inherited by its threads and across exec)."""

    def setup() -> None:
        _pdeathsig()
        if cpus:
            os.sched_setaffinity(0, cpus)

    return setup


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class Child:
    """One started process: its name, PID handle, command and log file."""

    name: str
    popen: subprocess.Popen
    argv: list[str]
    log_path: Path | None = None

    @property
    def pid(self) -> int:
        return int(self.popen.pid)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, n: int = 20) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        lines = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(lines[-n:])


@dataclass
class ProcessGroup:
    """Start, watch and stop child processes by PID."""

    log_dir: Path | None = None
    grace_s: float = 5.0
    children: list[Child] = field(default_factory=list)

    def start(
        self,
        name: str,
        argv: Sequence[str],
        env: dict[str, str] | None = None,
        cpus: tuple[int, ...] | None = None,
    ) -> Child:
        """Start ``argv`` with stdout+stderr to ``log_dir/name.log`` (or discarded), pinned to ``cpus``
        (logical CPU ids, Linux) if given."""
        log_path = None
        log: IO[bytes] | None = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            log_path = self.log_dir / f"{name}.log"
            log = open(log_path, "wb")  # noqa: SIM115 - closed below, the child keeps its copy
        try:
            popen = subprocess.Popen(
                list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL if log is None else log,
                stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}, start_new_session=True,
                preexec_fn=_child_setup(cpus) if sys.platform.startswith("linux") else None,
            )  # fmt: skip
        finally:
            if log is not None:
                log.close()
        child = Child(name, popen, list(argv), log_path)
        self.children.append(child)
        return child

    def stop(self, child: Child, sig: int = signal.SIGTERM) -> int | None:
        """Stop one child by PID: ``sig``, then SIGKILL after ``grace_s``; returns its exit code."""
        p = child.popen
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p.pid, sig)
            try:
                p.wait(timeout=self.grace_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p.pid, signal.SIGKILL)
                p.wait()
        return p.returncode

    def close(self) -> None:
        """Stop every child, newest first (SIGCONT first, in case one was paused)."""
        for child in reversed(self.children):
            if child.alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.pid, signal.SIGCONT)
            self.stop(child)

    def pids(self) -> list[int]:
        return [c.pid for c in self.children]

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def pid_running(pid: int) -> bool:
    """True if a process with this PID exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError, ProcessLookupError):
        return False


def wait_http(url: str, child: Child | None = None, timeout_s: float = 60.0, expect: int = 200) -> float:
    """Poll GET ``url`` until it answers ``expect``; the seconds waited. Raises on death or timeout."""
    t0 = time.perf_counter()
    while True:
        if child is not None and not child.alive():
            code = child.popen.returncode
            raise ProcessError(
                f"{child.name} exited with code {code} before answering {url}:\n{child.log_tail()}"
            )
        try:
            if httpx.get(url, timeout=2.0).status_code == expect:
                return time.perf_counter() - t0
        except httpx.HTTPError:
            pass
        if time.perf_counter() - t0 > timeout_s:
            raise ProcessError(f"{url} did not answer within {timeout_s:g} s")
        time.sleep(0.1)


@contextlib.contextmanager
def handle_signals() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise ``KeyboardInterrupt`` (like Ctrl-C), so cleanup runs."""

    def raise_interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        for s in old:
            signal.signal(s, raise_interrupt)
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def machine_ticks() -> tuple[int, int]:
    """(busy, total) CPU clock ticks of the whole machine since boot (``/proc/stat``)."""
    with open("/proc/stat", encoding="ascii") as fh:
        v = [int(x) for x in fh.readline().split()[1:]]
    total = sum(v[:8])
    return total - v[3] - (v[4] if len(v) > 4 else 0), total


def process_ticks(pids: list[int]) -> int:
    """User + system CPU ticks of the given processes (all threads; a vanished process counts 0)."""
    out = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            out += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return out


class BackgroundLoad:
    """Share of the machine's CPU time used by processes *other than* ``pids`` between start and stop.

    0: only our processes ran; 0.5 on 2 CPUs: one CPU was busy elsewhere on average. NaN without /proc.
    """

    _m0: tuple[int, int] | None  # (busy, total) machine ticks at start; None without /proc
    _p0: int  # ticks of ``pids`` at start

    def __init__(self, pids: list[int]) -> None:
        self.pids = list(pids)

    def start(self) -> BackgroundLoad:
        try:
            self._m0, self._p0 = machine_ticks(), process_ticks(self.pids)
        except OSError:
            self._m0 = None
        return self

    def stop(self) -> float:
        if self._m0 is None:
            return float("nan")
        (b1, t1), p1 = machine_ticks(), process_ticks(self.pids)
        (b0, t0), p0 = self._m0, self._p0
        return max(0.0, ((b1 - b0) - (p1 - p0)) / (t1 - t0)) if t1 > t0 else 0.0


def wait_quiet(pids: list[int], max_share: float, timeout_s: float, window_s: float = 1.0) -> float:
    """Wait until processes other than ``pids`` use at most ``max_share`` of the machine over a window.

    Gives up after ``timeout_s`` (the run goes on; the load is reported). Returns the last window's share.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        meter = BackgroundLoad(pids).start()
        time.sleep(window_s)
        share = meter.stop()
        if not share > max_share or time.monotonic() >= deadline:
            return share
