"""Child processes are stopped by PID: SIGTERM, SIGKILL after the grace period, and on parent death."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from goalit.serve.procs import ProcessGroup, handle_signals, pid_running

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]
STUBBORN = [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('ready', flush=True); time.sleep(60)"]  # fmt: skip


def wait_gone(pid, timeout_s=10.0):
    t0 = time.monotonic()
    while pid_running(pid) and time.monotonic() - t0 < timeout_s:
        time.sleep(0.05)
    return not pid_running(pid)


def test_serve_procs_group_stops_every_child_even_a_stubborn_one(tmp_path):
    with ProcessGroup(log_dir=tmp_path, grace_s=0.5) as g:
        a = g.start("a", SLEEPER)
        b = g.start("b", STUBBORN)
        t0 = time.monotonic()
        while "ready" not in (tmp_path / "b.log").read_text() and time.monotonic() - t0 < 20:
            time.sleep(0.05)
        assert a.alive() and b.alive()
        pids = g.pids()
    assert not [p for p in pids if pid_running(p)]
    assert b.popen.returncode == -signal.SIGKILL and a.popen.returncode == -signal.SIGTERM


def test_serve_procs_children_die_with_their_parent(tmp_path):
    """A parent killed with SIGKILL cannot clean up; PR_SET_PDEATHSIG stops its children anyway."""
    src = os.path.join(os.path.dirname(__file__), "..", "..", "src")
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {os.path.abspath(src)!r})
        from goalit.serve.procs import ProcessGroup
        g = ProcessGroup()
        c = g.start("sleeper", {SLEEPER!r})
        print(c.pid, flush=True)
        time.sleep(60)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        child_pid = int(parent.stdout.readline())
        assert pid_running(child_pid)
        parent.kill()
        parent.wait()
        assert wait_gone(child_pid), "the child outlived its SIGKILLed parent"
    finally:
        if parent.poll() is None:
            parent.kill()


def test_serve_procs_sigterm_becomes_keyboard_interrupt():
    with pytest.raises(KeyboardInterrupt), handle_signals():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
