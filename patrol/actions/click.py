from __future__ import annotations

from typing import TYPE_CHECKING

from ..journey.model import SCREEN_STRATEGIES, Locator
from . import register
from .base import LOCATOR_SCHEMA, Action, ActionContext

if TYPE_CHECKING:
    from ..drivers.base import Driver
    from ..journey.parsing import Invalid, ParseContext, YamlPath


@register
class Click(Action[Locator]):
    name = "click"
    repeatable_on_timeout = True  # a timed-out click never reached the element
    summary = "click (tap) an element, or words on screen with {text: ...}"
    schema = LOCATOR_SCHEMA

    def parse(self, value: object, path: YamlPath, ctx: ParseContext) -> Locator | Invalid:
        return ctx.locator(value, path)

    async def perform(self, driver: Driver, params: Locator, ctx: ActionContext) -> None:
        if params.strategy in SCREEN_STRATEGIES and ctx.find_on_screen is not None:
            # Words or a point on the screen, as a person sees it: where they are is read
            # from the screenshot, then the driver taps there.
            x, y = await ctx.find_on_screen(driver, params, ctx.timeout_ms)
            await driver.tap_point(x, y, timeout_ms=ctx.timeout_ms)
            return
        await driver.click(params, timeout_ms=ctx.timeout_ms)

    def describe(self, params: Locator) -> str:
        return f"click {params.describe()}"


@register
class Tap(Click):
    """The mobile word for click; same behaviour."""

    name = "tap"
