"""Redaction: ``redact: [selectors or regions]`` (journey-wide or per step) paints
those areas solid on every screenshot *before* it is written, compared, OCR'd or
sent. Account numbers and names on a bank's pages never leave the machine.

It is a screen filter: the runner applies it to the raw screenshot, and every
later stage only ever sees the painted image. Its pixels come from the same
``boxes_for`` as visual masks and OCR regions, so an area means the same pixels
everywhere.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..checks.screen import Area, boxes_for, parse_areas
from ..core.geometry import Box, Region
from ..core.jsontypes import growing_list, json_list
from ..core.png import png_dimensions
from ..errors import RobotError
from ..journey.loader import journey_key, step_key
from ..journey.model import Locator
from ..journey.parsing import Invalid, ParseContext, YamlPath
from .screen_filters import screen_filter

if TYPE_CHECKING:
    from ..step.evidence import StepContext

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


@journey_key("redact", "areas painted over on every screenshot (selectors or [x, y, w, h] regions)", SCHEMA)
def _journey_redact(value: object, path: YamlPath, ctx: ParseContext) -> list[Area] | Invalid:
    return parse_areas(value, path, ctx)


@step_key("redact", "areas painted over on this step's screenshot", SCHEMA)
def _step_redact(value: object, path: YamlPath, ctx: ParseContext) -> list[Area] | Invalid:
    return parse_areas(value, path, ctx)


def paint(png: bytes, boxes: Sequence[Box]) -> bytes:
    """``png`` with each box (clipped to the screen) painted ``REDACT_COLOUR``."""
    from ..core.png import decode_png, encode_png

    img = decode_png(png).copy()
    h, w = img.shape[:2]
    for box in boxes:
        x, y, bw, bh = box.clip(w, h)
        if bw > 0 and bh > 0:
            img[y : y + bh, x : x + bw] = REDACT_COLOUR
    return encode_png(img)


@screen_filter
async def redact_filter(sc: StepContext, png: bytes) -> bytes:
    areas = [a for a in json_list(sc.journey.options, "redact") + json_list(sc.step.options, "redact")
             if isinstance(a, (Locator, Region))]
    if not areas:
        return png
    size = png_dimensions(png)
    if size is None:  # not a PNG: nothing can be painted, and nothing may leave unpainted
        raise RobotError("redaction: the screenshot is not a PNG, so it cannot be painted")
    boxes = await boxes_for(sc.driver, areas, *size)
    growing_list(sc.report, "redacted").extend([list(b) for b in boxes])
    # Decode, paint, encode: CPU work, off the event loop that drives the browsers.
    return await asyncio.to_thread(paint, png, boxes) if boxes else png
