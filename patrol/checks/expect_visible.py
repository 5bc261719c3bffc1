from __future__ import annotations

from ..results import BREAKPOINT, STALL, Finding
from . import register
from .base import Check, wait_for_condition


@register
class ExpectVisible(Check):
    name = "expect_visible"
    phase = "live"
    expect_key = "visible"
    summary = "an element that must be visible after the action (waits up to the hard timeout)"
    schema = {"$ref": "#/$defs/locator"}

    def parse(self, value, path, ctx):
        return ctx.locator(value, path)

    async def run(self, sc, locator):
        driver = sc.driver
        if await wait_for_condition(sc, lambda: driver.is_visible(locator)):
            return []
        waited = f"{sc.timeout_ms / 1000:.1f}s"
        evidence = {"expected_visible": locator.describe(), "waited_ms": sc.timeout_ms, "url": await driver.current_url()}
        if await driver.busy_indicator_visible():
            # The customer is looking at a spinner that never goes away: the screen is
            # frozen in "loading", which is a stall, and the flow cannot go on.
            return [
                Finding(
                    kind=STALL,
                    reason="spinner_stuck",
                    message=f"still loading after {waited}: the loading spinner never went away and "
                    f"{locator.describe()} never appeared",
                    evidence=evidence,
                    fatal=True,
                )
            ]
        return [
            Finding(
                kind=BREAKPOINT,
                reason="expect_failed",
                message=f"{locator.describe()} did not become visible within {waited}",
                evidence=evidence,
                fatal=True,
            )
        ]
