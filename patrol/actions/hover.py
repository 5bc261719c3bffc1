from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.capabilities import Capability
from ..drivers.base import hovering
from ..journey.model import Locator
from . import register
from .base import LOCATOR_SCHEMA, Action, ActionContext

if TYPE_CHECKING:
    from ..drivers.base import Driver
    from ..journey.parsing import Invalid, ParseContext, YamlPath


@register
class Hover(Action[Locator]):
    name = "hover"
    repeatable_on_timeout = True  # a timed-out hover never reached the element
    summary = "move the pointer over an element (menus and tooltips that open on hover)"
    schema = LOCATOR_SCHEMA
    needs = frozenset({Capability.HOVER})  # a touch screen has no pointer to rest on anything

    def parse(self, value: object, path: YamlPath, ctx: ParseContext) -> Locator | Invalid:
        return ctx.locator(value, path)

    async def perform(self, driver: Driver, params: Locator, ctx: ActionContext) -> None:
        await hovering(driver).hover(params, timeout_ms=ctx.timeout_ms)

    def describe(self, params: Locator) -> str:
        return f"hover over {params.describe()}"
