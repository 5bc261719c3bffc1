from __future__ import annotations

from typing import TYPE_CHECKING

from . import register
from .base import Action, ActionContext

if TYPE_CHECKING:
    from ..drivers.base import Driver
    from ..journey.parsing import Invalid, ParseContext, YamlPath


@register
class Back(Action[bool]):
    name = "back"
    summary = "go back (browser history / the device's back button)"
    schema = {"enum": [True, None, {}]}

    def parse(self, value: object, path: YamlPath, ctx: ParseContext) -> bool | Invalid:
        if value not in (True, None, {}):
            return ctx.error(path, "write 'back: true'")
        return True

    async def perform(self, driver: Driver, params: bool, ctx: ActionContext) -> None:
        await driver.back(timeout_ms=ctx.timeout_ms)

    def describe(self, params: bool) -> str:
        return "back"
