from __future__ import annotations

from typing import TYPE_CHECKING

from ..causes import Cause, Problem
from ..core.vocabulary import Kind, Reason
from ..results import Finding
from . import register
from .base import Check
from .detectors import detector_on

if TYPE_CHECKING:
    from ..step.evidence import StepContext


@register
class BrokenImage(Check):
    """An image in view that failed to load or has zero natural size."""

    name = "broken_image"
    order = -10
    always = True
    summary = "an image on screen failed to load"

    def enabled(self, sc: StepContext) -> bool:
        return detector_on(sc, self.name)

    async def run(self, sc: StepContext, params: object) -> list[Finding]:
        broken = [b for b in await sc.driver.broken_images() if sc.first_time("broken_image", str(b["src"]))]
        if not broken:
            return []
        first = broken[0]
        label = f"#{first['id']}" if first.get("id") else first.get("alt") or "an image"
        more = f" (and {len(broken) - 1} more)" if len(broken) > 1 else ""
        return [
            Finding(kind=Kind.RENDER, reason=Reason.BROKEN_IMAGE, message=f"{label} did not load: {first['src']}{more}",
                    evidence={"broken": broken[:10], "url": sc.evidence.url},
                    cause=Cause.of_request("GET", str(first["src"]), Problem.FAILED, resource_type="image"))
        ]
