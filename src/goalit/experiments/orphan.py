"""Workers exit when the process that started them is gone (``kill -9``, SIGTERM, a crash).

A sweep's rows are written by its parent only, so a worker whose parent died computes for nobody and
holds the terminal's stdout open. :func:`exit_with_parent` starts (once per process) a daemon thread
that checks every ``POLL_S`` seconds that the parent is alive and otherwise ends the worker with
``os._exit`` (no cleanup needed: workers write no files). ``PR_SET_PDEATHSIG`` is not used: it fires
when the *thread* that forked the worker ends, which for a pool (loky, Dask nannies) is not the
sweep's end.
"""

from __future__ import annotations

import os
import threading
import time

POLL_S = 0.5

_watched: set[int] = set()
_lock = threading.Lock()


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists (a zombie counts as gone: it is our reaped-to-be parent)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def exit_with_parent(parent_pid: int) -> None:
    """Make this process exit soon after ``parent_pid`` ends; idempotent, no-op in the parent itself."""
    if parent_pid == os.getpid():
        return
    with _lock:
        if parent_pid in _watched:
            return
        _watched.add(parent_pid)
    threading.Thread(target=_watch, args=(parent_pid,), name="goalit-orphan-watch", daemon=True).start()


def _watch(parent_pid: int) -> None:
    while alive(parent_pid):
        time.sleep(POLL_S)
    os._exit(1)
