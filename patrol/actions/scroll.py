from __future__ import annotations

from typing import TYPE_CHECKING

from ..journey.model import Locator
from ..journey.parsing import INVALID, Invalid
from . import register
from .base import LOCATOR_SCHEMA, Action, ActionContext

if TYPE_CHECKING:
    from ..drivers.base import Driver
    from ..journey.parsing import ParseContext, YamlPath


@register
class Scroll(Action[tuple[Locator | None, int, int]]):
    name = "scroll"
    summary = "scroll an element into view, or the screen by dx/dy pixels"
    schema = {
        "type": "object",
        "properties": {"selector": LOCATOR_SCHEMA, "dx": {"type": "integer"}, "dy": {"type": "integer"}},
        "additionalProperties": False,
        "minProperties": 1,
    }

    def parse(self, value: object, path: YamlPath, ctx: ParseContext) -> tuple[Locator | None, int, int] | Invalid:
        allowed = {"selector": "element to bring into view", "dx": "pixels right", "dy": "pixels down"}
        given = ctx.mapping(value, path, allowed)
        if given is INVALID:
            return INVALID
        if not given:
            return ctx.error(path, "give a selector, or dx/dy in pixels")
        loc = ctx.locator(given["selector"], path + ("selector",)) if "selector" in given else None
        dx = ctx.number(given.get("dx", 0), path + ("dx",))
        dy = ctx.number(given.get("dy", 0), path + ("dy",))
        if isinstance(loc, Invalid) or isinstance(dx, Invalid) or isinstance(dy, Invalid):
            return INVALID
        return (loc, int(dx), int(dy))

    async def perform(self, driver: Driver, params: tuple[Locator | None, int, int], ctx: ActionContext) -> None:
        loc, dx, dy = params
        await driver.scroll(loc, dx, dy, timeout_ms=ctx.timeout_ms)

    def describe(self, params: tuple[Locator | None, int, int]) -> str:
        loc, dx, dy = params
        return f"scroll to {loc.describe()}" if loc else f"scroll by ({dx}, {dy})"


@register
class Swipe(Scroll):
    name = "swipe"
