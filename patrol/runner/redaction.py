"""Redaction: ``redact: [selectors or regions]`` (journey-wide or per step) paints
those areas solid on every screenshot *before* it is written, compared, OCR'd or
sent. Account numbers and names on a bank's pages never leave the machine.

It is a screen filter: the runner applies it to the raw screenshot, and every
later stage only ever sees the painted image.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..journey.loader import journey_key, step_key
from ..journey.parsing import INVALID, ParseContext
from .runner import SCREEN_FILTERS

REDACT_COLOUR = (40, 40, 40, 255)  # RGBA, a dark grey a person reads as "hidden on purpose"
SCHEMA = {
    "type": "array",
    "items": {
        "oneOf": [
            {"$ref": "#/$defs/locator"},
            {"type": "array", "items": {"type": "number", "minimum": 0}, "minItems": 4, "maxItems": 4},
        ]
    },
}


def parse_areas(value: Any, path: tuple, ctx: ParseContext) -> Any:
    """A list of selectors/locators and [x, y, w, h] regions (pixels or fractions)."""
    if not isinstance(value, list):
        value = [value]
    out = []
    for i, item in enumerate(value):
        if isinstance(item, list):
            out.append(ctx.region(item, path + (i,)))
        else:
            out.append(ctx.locator(item, path + (i,)))
    return INVALID if INVALID in out else out


@journey_key("redact", "areas painted over on every screenshot (selectors or [x, y, w, h] regions)", SCHEMA)
def _journey_redact(value, path, ctx):
    return parse_areas(value, path, ctx)


@step_key("redact", "areas painted over on this step's screenshot", SCHEMA)
def _step_redact(value, path, ctx):
    return parse_areas(value, path, ctx)


def region_box(region: tuple, width: int, height: int) -> tuple[int, int, int, int]:
    kind, (x, y, w, h) = region
    if kind == "fraction":
        return int(x * width), int(y * height), int(round(w * width)), int(round(h * height))
    return int(x), int(y), int(w), int(h)


async def boxes_for(driver, areas: list, width: int, height: int) -> list[tuple[int, int, int, int]]:
    """Pixel boxes of a mixed list of locators and regions, on the current screen."""
    from ..journey.model import Locator

    locators = [a for a in areas if isinstance(a, Locator)]
    boxes = [region_box(a, width, height) for a in areas if not isinstance(a, Locator)]
    if locators:
        boxes += await driver.element_boxes(locators)
    return boxes


def paint(png: bytes, boxes: list[tuple[int, int, int, int]]) -> bytes:
    from ..visual.compare import decode_png, encode_png

    img = decode_png(png).copy()
    h, w = img.shape[:2]
    for x, y, bw, bh in boxes:
        x0, y0 = max(0, x), max(0, y)
        x1, y1 = min(w, x + bw), min(h, y + bh)
        if x1 > x0 and y1 > y0:
            img[y0:y1, x0:x1] = REDACT_COLOUR
    return encode_png(img)


async def redact_filter(sc, png: bytes) -> bytes:
    areas = list(sc.journey.options.get("redact", [])) + list(sc.step.options.get("redact", []))
    if not areas:
        return png
    from ..visual.compare import png_dimensions

    w, h = png_dimensions(png)
    boxes = await boxes_for(sc.driver, areas, w, h)
    sc.report.setdefault("redacted", []).extend([list(b) for b in boxes])
    # Decode, paint, encode: CPU work, off the event loop that drives the browsers.
    return await asyncio.to_thread(paint, png, boxes) if boxes else png


SCREEN_FILTERS.append(redact_filter)
