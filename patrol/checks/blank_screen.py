from __future__ import annotations

import asyncio
from functools import partial
from typing import TYPE_CHECKING

from ..core.vocabulary import Kind, Reason
from ..results import Finding
from ..visual.blank import SCREEN_BLANK_SHARE, blank_share, colour_name
from . import register
from .base import Check, Verdict
from .detectors import detector_on

if TYPE_CHECKING:
    from ..step.evidence import StepContext


@register
class BlankScreen(Check):
    """The whole screen is nearly one colour: a white page, a black screen."""

    name = "blank_screen"
    order = -20
    always = True
    summary = "the screen is nearly one colour"

    def enabled(self, sc: StepContext) -> bool:
        return detector_on(sc, self.name)

    async def look(self, sc: StepContext, params: object) -> Verdict:
        return partial(self.judge, sc)  # the pixels alone say it

    async def judge(self, sc: StepContext) -> list[Finding]:
        # Decoding the screenshot and counting colours is CPU work: off the event loop.
        img = await asyncio.to_thread(sc.evidence.image)
        if img is None:
            return []
        share, colour = await asyncio.to_thread(blank_share, img)
        if share < SCREEN_BLANK_SHARE:
            return []
        return [
            Finding(
                kind=Kind.RENDER,
                reason=Reason.BLANK_SCREEN,
                message=f"the screen is blank: {share:.1%} of it is one colour ({colour_name(colour)})",
                evidence={"blank_share": round(share, 4), "colour": list(colour), "url": sc.evidence.url},
            )
        ]
