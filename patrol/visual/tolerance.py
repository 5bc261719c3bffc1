"""How much of a screenshot may differ from its baseline: ``area_tolerance`` as
written in a journey (``"120px"``, ``"0.2%"``), parsed without any image library so
journeys load light."""

from __future__ import annotations

import re
from typing import NamedTuple, Protocol

_TOLERANCE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(px|%)\s*$", re.IGNORECASE)


class Counted(Protocol):
    """What a tolerance is held against: a comparison's counts (compare.Comparison),
    named here so this module needs nothing of the comparator."""

    @property
    def size_mismatch(self) -> bool: ...
    @property
    def diff_pixels(self) -> int: ...
    @property
    def total_pixels(self) -> int: ...


class AreaTolerance(NamedTuple):
    """("px", count) or ("ratio", share 0..1); a tuple, so it compares like one."""

    kind: str
    amount: float


def parse_area_tolerance(value: object) -> AreaTolerance:
    """How much differing area is acceptable.

    "120px" / 120 -> ("px", 120); "0.2%" -> ("ratio", 0.002); None / 0 / "0" -> ("px", 0).
    Anything else raises ValueError."""
    if value is None:
        return AreaTolerance("px", 0)
    if isinstance(value, bool):
        raise ValueError(f"area tolerance must be like '120px' or '0.2%', got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"area tolerance cannot be negative, got {value!r}")
        return AreaTolerance("px", value)
    if isinstance(value, float):
        if value == 0:
            return AreaTolerance("px", 0)
        raise ValueError(f"area tolerance must be like '120px' or '0.2%' (a bare number is ambiguous), got {value!r}")
    if not isinstance(value, str):
        raise ValueError(f"area tolerance must be like '120px' or '0.2%', got {type(value).__name__} {value!r}")
    text = value.strip()
    if text == "0":
        return AreaTolerance("px", 0)
    m = _TOLERANCE_RE.match(text)
    if not m:
        raise ValueError(
            f"area tolerance {value!r} is not understood: use a pixel count like '120px' or a "
            f"percentage of the screenshot like '0.2%'"
        )
    number, unit = m.group(1), m.group(2).lower()
    if unit == "px":
        if "." in number:
            raise ValueError(f"area tolerance {value!r}: a pixel count must be a whole number")
        return AreaTolerance("px", int(number))
    pct = float(number)
    if pct > 100:
        raise ValueError(f"area tolerance {value!r}: a percentage cannot exceed 100%")
    return AreaTolerance("ratio", pct / 100.0)


def within_tolerance(c: Counted, tolerance: tuple[str, float]) -> bool:
    """True when the counted differences fit the tolerance; a size mismatch never does."""
    kind, amount = tolerance
    if c.size_mismatch:
        return False
    if kind == "px":
        return c.diff_pixels <= amount
    if kind == "ratio":
        return c.diff_pixels <= amount * c.total_pixels + 1e-9
    raise ValueError(f"unknown tolerance kind {kind!r} (expected 'px' or 'ratio')")
