from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.vocabulary import Reason
from ..drivers._busy import describe as describe_busy
from ..journey.model import Locator
from ..results import BREAKPOINT, STALL, Finding
from . import register
from .base import Check, parsed_as, wait_for_condition

if TYPE_CHECKING:
    from .. import yamlpos
    from ..journey.parsing import Invalid, ParseContext
    from ..step.evidence import StepContext


@register
class ExpectVisible(Check):
    name = "expect_visible"
    phase = "live"
    expect_key = "visible"
    summary = "an element that must be visible after the action (waits up to the hard timeout)"
    schema = {"$ref": "#/$defs/locator"}

    def parse(self, value: object, path: yamlpos.Path, ctx: ParseContext) -> Locator | Invalid:
        return ctx.locator(value, path)

    async def run(self, sc: StepContext, params: object) -> list[Finding]:
        locator = parsed_as(params, Locator)
        driver = sc.driver
        if await wait_for_condition(sc, lambda: driver.is_visible(locator)):
            return []
        waited = f"{sc.timeout_ms / 1000:.1f}s"
        evidence: dict[str, object] = {"expected_visible": locator.describe(), "waited_ms": sc.timeout_ms,
                                       "url": await driver.current_url()}
        busy = await driver.busy_state()
        if busy is not None:
            # The customer is looking at a spinner that never goes away (or a screen
            # waiting on the app's own requests): frozen in "loading", which is a
            # stall, and the flow cannot go on.
            return [
                Finding(
                    kind=STALL,
                    reason=Reason.SPINNER_STUCK,
                    message=f"still loading after {waited} ({describe_busy(busy)}) and "
                    f"{locator.describe()} never appeared",
                    evidence={**evidence, **busy},
                    fatal=True,
                )
            ]
        return [
            Finding(
                kind=BREAKPOINT,
                reason=Reason.EXPECT_FAILED,
                message=f"{locator.describe()} did not become visible within {waited}",
                evidence=evidence,
                fatal=True,
            )
        ]
