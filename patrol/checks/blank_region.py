from __future__ import annotations

import asyncio
from functools import partial
from typing import TYPE_CHECKING

from ..core.geometry import Box, Region
from ..core.png import png_dimensions
from ..core.vocabulary import Kind, Reason
from ..journey.model import Locator
from ..journey.parsing import Invalid, ParseContext
from ..results import Finding
from ..visual.blank import REGION_BLANK_SHARE, blank_share, colour_name
from . import register
from .base import Check, Verdict, parsed_as
from .screen import boxes_for

if TYPE_CHECKING:
    from .. import yamlpos
    from ..step.evidence import StepContext


@register
class NotBlank(Check):
    """``expect: {not_blank: SELECTOR_OR_REGION}`` — e.g. the net-value canvas drew something."""

    name = "not_blank"
    expect_key = "not_blank"
    settle = True  # a chart that is still drawing is not "blank"
    summary = "a selector or [x, y, w, h] region that must not be one flat colour"
    schema = {"oneOf": [{"$ref": "#/$defs/locator"}, {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4}]}

    def parse(self, value: object, path: yamlpos.Path, ctx: ParseContext) -> Region | Locator | Invalid:
        return ctx.region(value, path) if isinstance(value, list) else ctx.locator(value, path)

    async def look(self, sc: StepContext, params: object) -> list[Finding] | Verdict:
        target = params if isinstance(params, Region) else parsed_as(params, Locator)
        size = png_dimensions(sc.evidence.screenshot_png) if sc.evidence.screenshot_png is not None else None
        if size is None:
            return []
        boxes = await boxes_for(sc.driver, [target], *size)
        what = target.describe() if isinstance(target, Locator) else f"region {target.as_list()}"
        if not boxes:
            return [Finding(kind=Kind.RENDER, reason=Reason.BLANK_REGION,
                            message=f"{what} is not on the screen, so nothing was drawn there", evidence={"target": what})]
        return partial(self.judge, sc, what, boxes[0])

    async def judge(self, sc: StepContext, what: str, box: Box) -> list[Finding]:
        img = await asyncio.to_thread(sc.evidence.image)
        if img is None:
            return []
        h, w = img.shape[:2]
        x, y, bw, bh = box
        # Look inside the element's frame: a border is not content.
        inset = max(2, int(min(bw, bh) * 0.02))
        crop = img[max(0, y + inset): min(h, y + bh - inset), max(0, x + inset): min(w, x + bw - inset)]
        share, colour = await asyncio.to_thread(blank_share, crop, step=1)
        if crop.size and share < REGION_BLANK_SHARE:
            return []
        return [
            Finding(
                kind=Kind.RENDER,
                reason=Reason.BLANK_REGION,
                message=f"{what} is blank: {share:.1%} of it is one colour ({colour_name(colour)}); nothing was drawn",
                evidence={"target": what, "box": [x, y, bw, bh], "blank_share": round(share, 4), "colour": list(colour)},
            )
        ]
