"""A small validating reader over parsed TOML tables, producing one-line errors with field paths."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from goalit.errors import ScenarioError
from goalit.limits import check_number

_MISSING = object()


def _describe(value: Any) -> str:
    return type(value).__name__


class Table:
    """Read typed, range-checked fields of one TOML table; ``finish()`` rejects unknown keys.

    ``path`` is the dotted field path used in error messages, e.g. ``servers[1].ap``.
    """

    def __init__(self, data: Any, path: str, origin: str = "") -> None:
        self.origin = origin
        self.path = path
        if not isinstance(data, dict):
            self.fail(f"must be a table, not {_describe(data)}")
        self.data: dict[str, Any] = data
        self.used: set[str] = set()

    def _field(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def fail(self, problem: str, key: str | None = None) -> None:
        where = self._field(key) if key is not None else (self.path or "<top level>")
        prefix = f"{self.origin}: " if self.origin else ""
        raise ScenarioError(f"{prefix}{where}: {problem}")

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str, default: Any = _MISSING) -> Any:
        self.used.add(key)
        if key not in self.data:
            if default is _MISSING:
                self.fail("missing required key", key)
            return default
        return self.data[key]

    def number(
        self,
        key: str,
        default: Any = _MISSING,
        *,
        gt: float | None = None,
        ge: float | None = None,
        le: float | None = None,
        integer: bool = False,
    ) -> Any:
        value = self.raw(key, default)
        if value is default and key not in self.data:
            return value
        return check_number(value, lambda p: self.fail(p, key), gt=gt, ge=ge, le=le, integer=integer)

    def string(self, key: str, default: Any = _MISSING, choices: Iterable[str] | None = None) -> Any:
        value = self.raw(key, default)
        if key not in self.data:
            return value
        if not isinstance(value, str):
            self.fail(f"must be a string, not {_describe(value)}", key)
        if choices is not None:
            options = sorted(choices)
            if value not in options:
                self.fail(f"unknown value {value!r} (expected one of: {', '.join(options)})", key)
        return value

    def point(self, key: str, default: Any = _MISSING) -> Any:
        value = self.raw(key, default)
        if key not in self.data:
            return value
        if not isinstance(value, list) or len(value) != 2:
            self.fail("must be a list of two numbers [x, y]", key)
        return tuple(check_number(v, lambda p: self.fail(p, key)) for v in value)

    def table(self, key: str, default: Any = _MISSING) -> Any:
        value = self.raw(key, default)
        if key not in self.data:
            return value
        return Table(value, self._field(key), self.origin)

    def tables(self, key: str, default: Any = _MISSING) -> Any:
        value = self.raw(key, default)
        if key not in self.data:
            return value
        if not isinstance(value, list):
            self.fail(f"must be an array of tables, not {_describe(value)}", key)
        return [Table(v, f"{self._field(key)}[{i}]", self.origin) for i, v in enumerate(value)]

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            self.fail("unknown key", unknown[0])
