"""Typed reading of one YAML mapping of patrol.yaml, collecting every problem with
its ``file:line:column`` instead of stopping at the first.

A getter that finds a bad value records a ``Problem`` and returns the default, so a
section parser always builds its settings and the whole file is checked in one go;
``load_config`` raises one ``ConfigError`` with all problems at the end.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeGuard, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .. import yamlpos
from ..core.text import suggest, type_name
from ..durations import DurationError, parse_ms
from ..errors import Problem
from ..yamlpos import Path

T = TypeVar("T")

_URL = re.compile(r"^https?://[^\s/]+", re.IGNORECASE)


def has_variable(text: str) -> bool:
    """``${...}`` is resolved where the value is used (secrets need not be set to validate)."""
    return "${" in text


@dataclass
class Reader:
    """Problems of one file; positions come from ``located`` (None: no file)."""

    file: str
    located: yamlpos.Located | None = None
    problems: list[Problem] = field(default_factory=list)

    def error(self, path: Path, message: str, key: bool = False) -> None:
        line, col = self.located.pos(path, key=key) if self.located else (1, 1)
        self.problems.append(Problem(self.file, line, col, ".".join(map(str, path)) or "(file)", message))

    def fields(self, value: object, path: Path, keys: Mapping[str, str], *, expected: str) -> Fields:
        """The mapping at ``path`` (None: empty); unknown keys are problems with a suggestion."""
        if value is None:
            return Fields(self, path, {})
        if not isinstance(value, dict):
            self.error(path, f"expected {expected}, got {type_name(value)}")
            return Fields(self, path, {})
        known: dict[str, object] = {}
        for k, v in value.items():
            if isinstance(k, str) and k in keys:
                known[k] = v
            else:
                self.error(path + (k,), f"unknown key '{k}'{suggest(k, keys)}; allowed: {', '.join(keys)}", key=True)
        return Fields(self, path, known)


@dataclass
class Fields:
    """Typed getters over one mapping's known keys; a missing key gives the default."""

    reader: Reader
    path: Path
    raw: dict[str, object]

    def __contains__(self, key: str) -> bool:
        return key in self.raw

    def at(self, key: str) -> Path:
        return self.path + (key,)

    def error(self, key: str, message: str) -> None:
        self.reader.error(self.at(key), message)

    def boolean(self, key: str, default: bool) -> bool:
        value = self.raw.get(key, default)
        if not isinstance(value, bool):
            self.error(key, f"expected true or false, got {type_name(value)}")
            return default
        return value

    def string(self, key: str, default: T, *, pattern: re.Pattern[str] | None = None, hint: str = "") -> str | T:
        if key not in self.raw:
            return default
        value = self.raw[key]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            self.error(key, f"expected a non-empty string, got {type_name(value)}")
            return default
        if pattern is not None and not pattern.match(value):
            self.error(key, f"{value!r}: {hint}")
            return default
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.raw.get(key)
        if value is None:
            return ()
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            value = [value]
        if isinstance(value, list):  # `- 100` in YAML is a number; people mean the text "100"
            value = [str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v for v in value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            self.error(key, "expected a string or a list of strings")
            return ()
        return tuple(value)

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        value = self.raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.error(key, f"expected a whole number, {low} to {high} (got {value!r})")
            return default
        return value

    def duration_ms(self, key: str, default: T, *, minimum_ms: float = 0.0, maximum_ms: float | None = None,
                    allow_off: bool = False) -> float | T:
        if key not in self.raw:
            return default
        value = self.raw[key]
        if allow_off and value in (False, None, "off"):
            return default
        try:
            ms = parse_ms(value)
        except DurationError as e:
            self.error(key, f"{e}{' or off' if allow_off else ''}")
            return default
        if ms < minimum_ms or (maximum_ms is not None and ms > maximum_ms):
            limit = f"at least {_dur(minimum_ms)}" if maximum_ms is None else f"between {_dur(minimum_ms)} and {_dur(maximum_ms)}"
            self.error(key, f"{value!r}: expected {limit}")
            return default
        return ms

    def percent(self, key: str, default: float) -> float:
        if key not in self.raw:
            return default
        value = self.raw[key]
        text = "x" if isinstance(value, bool) else str(value).strip().removesuffix("%").strip()
        try:
            number = float(text)
        except ValueError:
            self.error(key, f"expected a percentage such as 20% (got {value!r})")
            return default
        if not 0 < number <= 100:
            self.error(key, "expected a percentage above 0% and at most 100%")
            return default
        return number

    def url(self, key: str, default: T, *, hint: str = "") -> str | T:
        """An http(s) URL; one with ``${...}`` is checked once resolved, where it is used."""
        value = self.string(key, None)
        if value is None:
            return default
        if not has_variable(value) and not _URL.match(value):
            self.error(key, f"expected an http:// or https:// URL{hint}, got {value!r}")
            return default
        return value

    def timezone(self, key: str, default: T) -> str | T:
        if key not in self.raw:
            return default
        name = self.raw[key]
        if not valid_zone(name):
            self.error(key, f"unknown time zone {name!r}; use an IANA name such as UTC or Asia/Shanghai")
            return default
        return str(name)


def valid_zone(name: object) -> TypeGuard[str]:
    """An IANA time zone name this machine knows."""
    if not isinstance(name, str) or not name.strip():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _dur(ms: float) -> str:
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms >= size and ms % size == 0:
            return f"{ms / size:g}{unit}"
    return f"{ms:g}ms"
