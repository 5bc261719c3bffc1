from __future__ import annotations

from . import register
from .base import LOCATOR_SCHEMA, Action


@register
class Click(Action):
    name = "click"
    summary = "click (tap) an element, or words on screen with {text: ...}"
    schema = LOCATOR_SCHEMA

    def parse(self, value, path, ctx):
        return ctx.locator(value, path)

    async def perform(self, driver, params, ctx):
        await driver.click(params, timeout_ms=ctx.timeout_ms)

    def describe(self, params):
        return f"click {params.describe()}"


@register
class Tap(Click):
    """The mobile word for click; same behaviour."""

    name = "tap"
