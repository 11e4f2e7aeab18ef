"""Safe output writing: check an ``--out`` target before any work; write every file atomically.

* :func:`check_out_dir`: a directory a command writes into. It may not exist yet (its nearest existing
  ancestor must be a writable directory), be empty, or be a previous output of the same command
  (resume / rewrite); anything else (a file, a directory holding other files, an unwritable place) is
  refused with one line, before the command does any work.
* :func:`check_out_file`: a single output file; it must not exist, and its folder must be writable.
* :func:`write_atomic`: temporary name in the same folder, fsync, rename; on any exception (Ctrl-C
  included) the temporary file is removed and the target is as it was.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from goalit.errors import GoalitInputError

# What each command writes into its --out directory; a directory holding only these (and temporary
# files of an interrupted write) is a previous run of that command.
RUN_FILES: dict[str, frozenset[str]] = {
    "simulate": frozenset({"records.csv", "records.parquet", "summary.json"}),
    "reproduce": frozenset({"results.csv", "plan.json", "figures", "report.md"}),
    "testbed": frozenset({"summary.json", "requests.csv"}),
}


def _is_temp(name: str) -> bool:
    return name.endswith(".tmp")


def _writable_ancestor(p: Path, flag: str) -> None:
    """The nearest existing ancestor of ``p`` must be a writable directory."""
    q = p.absolute().parent
    while not q.exists() and not q.is_symlink() and q != q.parent:
        q = q.parent
    if not q.is_dir():
        raise GoalitInputError(f"{flag} {p}: {q} is not a directory")
    _probe(q, p, flag)


def _probe(folder: Path, target: Path, flag: str) -> None:
    """Create and remove a temporary file in ``folder``: the only test that holds for root and odd
    file systems (``os.access`` says yes to root everywhere, /proc refuses new files)."""
    if not os.access(folder, os.W_OK | os.X_OK):
        raise GoalitInputError(f"{flag} {target}: {folder} is not writable")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".goalit-probe.", suffix=".tmp", dir=folder)
    except OSError as err:
        raise GoalitInputError(f"{flag} {target}: {folder} is not writable ({err.strerror or err})") from None
    os.close(fd)
    os.unlink(tmp)


def check_out_dir(path: str | Path, command: str, flag: str = "--out") -> Path:
    """Refuse an output directory that would clobber something (see the module docstring)."""
    p = Path(path)
    if not str(path).strip():
        raise GoalitInputError(f"{flag}: empty path")
    own = RUN_FILES[command]
    if p.exists() or p.is_symlink():
        if not p.is_dir():
            raise GoalitInputError(f"{flag} {p}: exists and is not a directory")
        try:
            names = sorted(e.name for e in p.iterdir())
        except OSError as err:
            raise GoalitInputError(f"{flag} {p}: cannot list the directory ({err.strerror or err})") from None
        foreign = [n for n in names if n not in own and not _is_temp(n)]
        if foreign:
            raise GoalitInputError(
                f"{flag} {p}: directory holds {foreign[0]!r}, not a previous 'goalit {command}' output; "
                "choose a new or empty directory"
            )
        for n in names:
            if n in own and (p / n).is_dir() != (n == "figures"):
                raise GoalitInputError(f"{flag} {p}: {n!r} has the wrong type (a previous run would not)")
        _probe(p, p, flag)
        return p
    _writable_ancestor(p, flag)
    return p


def check_out_file(path: str | Path, flag: str = "--out") -> Path:
    """Refuse an output file that exists, or whose folder is missing or not writable."""
    p = Path(path)
    if not str(path).strip():
        raise GoalitInputError(f"{flag}: empty path")
    if p.exists() or p.is_symlink():
        kind = "a directory" if p.is_dir() else "a file"
        raise GoalitInputError(f"{flag} {p}: {kind} of that name exists; remove it or choose another name")
    folder = p.absolute().parent
    if not folder.is_dir():
        raise GoalitInputError(f"{flag} {p}: folder {folder} does not exist")
    _probe(folder, p, flag)
    return p


def write_atomic(path: str | Path, data: bytes | str, mode: int | None = None) -> Path:
    """Write ``data`` to ``path`` via a temporary file in the same folder, fsync and a rename."""
    p = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent if str(p.parent) else ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        if mode is None:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask  # mkstemp creates 0600; give the file the usual mode
        os.chmod(tmp, mode)
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p
