"""The results CSV: append-only, one fsynced line per finished point, crash-safe and resumable.

Layout: a header line, then one line per point, columns ``ROW_KEYS + metric columns``. Every line is
written by a single ``os.write`` loop of the complete line (ending in ``\\n``) followed by ``fsync``,
so after a crash (Ctrl-C, ``kill -9``, power loss) the file holds whole rows plus at most one torn
last line without its newline. ``ResultStore.open`` drops that torn tail, drops lines that do not parse
and duplicates of a ``(config_hash, seed)`` key, and returns the keys already done; a sweep then runs
only the missing points. An exclusive ``flock`` keeps two sweeps from writing one file at once.
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from goalit.errors import GoalitInputError

ROW_KEYS = ("experiment", "policy", "seed", "config_hash", "config")
Key = tuple[str, int]


def format_value(v: Any) -> str:
    """One CSV cell: shortest round-trip floats, JSON for lists/dicts, '' for None."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if hasattr(v, "item") and not isinstance(v, (list, tuple, dict)):  # NumPy scalar
        return format_value(v.item())
    if isinstance(v, (list, tuple, dict)):
        return json.dumps(v, separators=(",", ":"), default=_plain)
    return str(v).replace("\r", " ").replace("\n", " ")


def _plain(v: Any) -> Any:
    if hasattr(v, "tolist"):
        return v.tolist()
    raise TypeError(f"not serialisable: {type(v).__name__}")


def encode_line(columns: Sequence[str], row: dict[str, Any]) -> bytes:
    """The CSV line (with its newline) of ``row``; unknown keys are an error."""
    extra = set(row) - set(columns)
    if extra:
        raise ValueError(f"row has columns outside the schema: {', '.join(sorted(extra))}")
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([format_value(row.get(c)) for c in columns])
    return buf.getvalue().encode("utf-8")


def read_rows(path: str | Path) -> list[dict[str, str]]:
    """All complete rows of a results CSV as dicts of strings (a torn last line is ignored)."""
    data = Path(path).read_bytes()
    end = data.rfind(b"\n")
    if end < 0:
        return []
    text = data[: end + 1].decode("utf-8", errors="replace")
    lines = text.splitlines()
    header = next(csv.reader([lines[0]]))
    out = []
    for fields in csv.reader(lines[1:]):
        if len(fields) == len(header):
            out.append(dict(zip(header, fields, strict=True)))
    return out


class ResultStore:
    """Append-only CSV of sweep rows keyed by ``(config_hash, seed)``."""

    def __init__(self, path: str | Path, columns: Sequence[str]) -> None:
        self.path = Path(path)
        self.columns = tuple(ROW_KEYS) + tuple(c for c in columns if c not in ROW_KEYS)
        self.header = encode_line(self.columns, {c: c for c in self.columns})
        self._fd: int | None = None
        self.repaired = 0  # lines dropped while opening (torn tail, unparsable, duplicates)

    # -- lifecycle -----------------------------------------------------------------------------------
    def open(self) -> set[Key]:
        """Lock and repair the file (creating it with its header if needed); return the keys done."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise GoalitInputError(f"{self.path}: another sweep is writing this file") from None
        self._fd = fd
        try:
            return self._repair()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # releases the lock
            self._fd = None

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------------------------
    def append(self, row: dict[str, Any]) -> None:
        """Write one complete line and fsync it."""
        assert self._fd is not None, "store not open"
        self._write_all(encode_line(self.columns, row))
        os.fsync(self._fd)

    @property
    def _open_fd(self) -> int:
        """The store's file descriptor (writing and repair run only while the store is open)."""
        assert self._fd is not None, "store not open"
        return self._fd

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self._open_fd, view)
            view = view[n:]

    # -- recovery --------------------------------------------------------------------------------------
    def _repair(self) -> set[Key]:
        data = Path(self.path).read_bytes()
        if not data:
            self._write_all(self.header)
            os.fsync(self._open_fd)
            _fsync_dir(self.path.parent)
            return set()
        end = data.rfind(b"\n")
        complete = data[: end + 1] if end >= 0 else b""
        torn = len(data) - len(complete)
        if not complete.startswith(self.header):
            if complete == b"" and self.header.startswith(data):  # torn header of a brand-new file
                self._rewrite([])
                return set()
            raise GoalitInputError(
                f"{self.path}: its columns differ from this version's results schema; write to a new --out"
            )
        body = complete[len(self.header) :]
        keep: list[bytes] = []
        done: set[Key] = set()
        dropped = 0
        for line in body.splitlines(keepends=True):
            key = self._parse_key(line)
            if key is None or key in done:
                dropped += 1
                continue
            done.add(key)
            keep.append(line)
        self.repaired = dropped + (1 if torn else 0)
        if dropped:
            self._rewrite(keep)
        elif torn:
            os.ftruncate(self._open_fd, len(complete))
            os.fsync(self._open_fd)
        return done

    def _parse_key(self, line: bytes) -> Key | None:
        try:
            fields = next(csv.reader([line.decode("utf-8")]))
        except (UnicodeDecodeError, csv.Error, StopIteration):
            return None
        if len(fields) != len(self.columns):
            return None
        rec = dict(zip(self.columns, fields, strict=True))
        try:
            return (rec["config_hash"], int(rec["seed"]))
        except ValueError:
            return None

    def _rewrite(self, lines: Iterable[bytes]) -> None:
        """Atomically replace the file with the header and ``lines`` (keeps the lock on the new file)."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(self.header)
            for line in lines:
                f.write(line)
            f.flush()
            os.fsync(f.fileno())
        new_fd = os.open(tmp, os.O_RDWR | os.O_APPEND)
        fcntl.flock(new_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.replace(tmp, self.path)
        _fsync_dir(self.path.parent)
        old, self._fd = self._fd, new_fd
        if old is not None:
            os.close(old)

    def sort(self, order: Sequence[Key]) -> None:
        """Rewrite the rows in ``order`` (rows not in it keep their relative order, at the end).

        Parallel sweeps append rows in completion order; sorting once a sweep is complete makes the
        file's bytes independent of scheduling (except for wall-clock columns).
        """
        assert self._fd is not None, "store not open"
        data = Path(self.path).read_bytes()
        body = data[len(self.header) :].splitlines(keepends=True)
        rank = {k: i for i, k in enumerate(order)}
        keyed = [(self._parse_key(line), line) for line in body]
        keyed.sort(key=lambda kl: rank.get(kl[0], len(rank)) if kl[0] is not None else len(rank) + 1)
        sorted_lines = [line for _, line in keyed]
        if sorted_lines != body:
            self._rewrite(sorted_lines)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
