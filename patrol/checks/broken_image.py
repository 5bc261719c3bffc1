from __future__ import annotations

from ..results import RENDER, Finding
from . import register
from .base import Check
from .detectors import detector_on


@register
class BrokenImage(Check):
    """An image in view that failed to load or has zero natural size."""

    name = "broken_image"
    always = True
    summary = "an image on screen failed to load"

    def enabled(self, sc):
        return detector_on(sc, self.name)

    async def run(self, sc, params):
        broken = [b for b in await sc.driver.broken_images() if sc.first_time("broken_image", b["src"])]
        if not broken:
            return []
        first = broken[0]
        label = f"#{first['id']}" if first.get("id") else first.get("alt") or "an image"
        more = f" (and {len(broken) - 1} more)" if len(broken) > 1 else ""
        return [
            Finding(kind=RENDER, reason="broken_image", message=f"{label} did not load: {first['src']}{more}",
                    evidence={"broken": broken[:10], "url": sc.evidence.url})
        ]
