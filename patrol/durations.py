"""Durations are written with a unit ("500ms", "5s", "1.5m", "2h", "30d"); a bare
number is refused because "5" could mean seconds or milliseconds."""

from __future__ import annotations

import re

_UNITS = {"ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0, "d": 86_400_000.0}
_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")


class DurationError(ValueError):
    pass


def parse_ms(value: object) -> float:
    """Parse a duration into milliseconds."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise DurationError(
            f"expected a duration with a unit such as 500ms, 5s, 2m (got {value!r})"
        )
    m = _RE.match(value)
    if not m:
        raise DurationError(
            f"{value!r} is not a duration; use a number and one of the units ms, s, m, h, d (e.g. 500ms, 5s, 2m)"
        )
    return float(m.group(1)) * _UNITS[m.group(2)]


def format_ms(ms: float | None) -> str:
    if ms is None:
        return "-"
    if ms < 1000:
        return f"{ms:.0f}ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f}s"
    return f"{ms / 60_000:.1f}m"
