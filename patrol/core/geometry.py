"""Screen areas, one meaning everywhere.

A ``Region`` is an area *as the user wrote it*: pixels, or fractions of the screen.
Which one is decided once, by the journey parser (from the YAML), and travels with
the value; nothing below guesses again from the numbers. A ``Region`` becomes a
``Box`` (whole screenshot pixels) where the screen size is known, by
``Region.resolve``; the layers underneath (masks, redaction, OCR crops) accept
``Box`` only. Element boxes reported by drivers are ``Box`` from the start, so a
1x1 tracking pixel at (0, 0) is one pixel, never "the whole screen".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

# Float noise (0.1 * 1280 = 128.00000000000003) must not widen a box by a pixel.
_EPS = 1e-9


class Box(NamedTuple):
    """x, y, width, height in screenshot pixels."""

    x: int
    y: int
    w: int
    h: int

    @property
    def right(self) -> int:
        return self.x + self.w

    @property
    def bottom(self) -> int:
        return self.y + self.h

    @property
    def empty(self) -> bool:
        return self.w <= 0 or self.h <= 0

    def clip(self, width: int, height: int) -> Box:
        """This box cut to a width x height screen (empty when wholly outside)."""
        x0, y0 = max(0, self.x), max(0, self.y)
        x1, y1 = min(width, self.right), min(height, self.bottom)
        return Box(x0, y0, max(0, x1 - x0), max(0, y1 - y0))

    def pad(self, px: int, width: int, height: int) -> Box:
        """Grown by ``px`` on every side, then clipped to the screen."""
        return Box(self.x - px, self.y - px, self.w + 2 * px, self.h + 2 * px).clip(width, height)

    def scaled(self, factor: float) -> Box:
        """The same area on a screenshot ``factor`` times larger (CSS px -> device px),
        widened to whole pixels."""
        return _widen(self.x * factor, self.y * factor, self.w * factor, self.h * factor)


class Unit(StrEnum):
    PX = "px"
    FRACTION = "fraction"


@dataclass(frozen=True)
class Region:
    """[x, y, width, height] as written: pixels, or fractions 0-1 of the screen."""

    unit: Unit
    x: float
    y: float
    w: float
    h: float

    def __post_init__(self) -> None:
        values = (self.x, self.y, self.w, self.h)
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"region must be finite numbers, got {list(values)}")
        if self.w < 0 or self.h < 0:
            raise ValueError(f"region width and height cannot be negative, got {list(values)}")

    @classmethod
    def px(cls, x: float, y: float, w: float, h: float) -> Region:
        return cls(Unit.PX, x, y, w, h)

    @classmethod
    def fraction(cls, x: float, y: float, w: float, h: float) -> Region:
        return cls(Unit.FRACTION, x, y, w, h)

    def resolve(self, width: int, height: int) -> Box:
        """Whole pixels on a width x height screen: widened outward (a region never
        covers less than was asked for, which matters for redaction) and clipped."""
        if self.unit is Unit.FRACTION:
            box = _widen(self.x * width, self.y * height, self.w * width, self.h * height)
        else:
            box = _widen(self.x, self.y, self.w, self.h)
        return box.clip(width, height)

    def as_list(self) -> list[float]:
        return [self.x, self.y, self.w, self.h]

    def __str__(self) -> str:
        numbers = ", ".join(f"{v:g}" for v in self.as_list())
        return f"[{numbers}]" + (" (fractions)" if self.unit is Unit.FRACTION else " px")


def _widen(x: float, y: float, w: float, h: float) -> Box:
    x0, y0 = math.floor(x + _EPS), math.floor(y + _EPS)
    x1, y1 = math.ceil(x + w - _EPS), math.ceil(y + h - _EPS)
    return Box(int(x0), int(y0), int(max(x1, x0) - x0), int(max(y1, y0) - y0))
