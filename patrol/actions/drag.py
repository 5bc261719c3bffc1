from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.capabilities import Capability
from ..drivers.base import dragging
from ..journey.model import Locator
from ..journey.parsing import INVALID, Invalid
from . import register
from .base import LOCATOR_SCHEMA, Action, ActionContext

if TYPE_CHECKING:
    from ..drivers.base import Driver
    from ..journey.parsing import ParseContext, YamlPath


@register
class Drag(Action[tuple[Locator, Locator]]):
    name = "drag"
    summary = "drag an element and drop it on another: {from: SELECTOR, to: SELECTOR}"
    schema = {
        "type": "object",
        "required": ["from", "to"],
        "properties": {"from": LOCATOR_SCHEMA, "to": LOCATOR_SCHEMA},
        "additionalProperties": False,
    }
    needs = frozenset({Capability.DRAG})  # the app drivers cannot drag (yet)

    def parse(self, value: object, path: YamlPath, ctx: ParseContext) -> tuple[Locator, Locator] | Invalid:
        given = ctx.mapping(value, path, {"from": "the element to drag", "to": "where to drop it"}, ("from", "to"))
        if given is INVALID:
            return INVALID
        source = ctx.locator(given["from"], path + ("from",))
        target = ctx.locator(given["to"], path + ("to",))
        return INVALID if isinstance(source, Invalid) or isinstance(target, Invalid) else (source, target)

    async def perform(self, driver: Driver, params: tuple[Locator, Locator], ctx: ActionContext) -> None:
        source, target = params
        await dragging(driver).drag(source, target, timeout_ms=ctx.timeout_ms)

    def describe(self, params: tuple[Locator, Locator]) -> str:
        source, target = params
        return f"drag {source.describe()} to {target.describe()}"
