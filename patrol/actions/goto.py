from __future__ import annotations

from typing import TYPE_CHECKING

from . import register
from .base import Action, ActionContext

if TYPE_CHECKING:
    from ..drivers.base import Driver
    from ..journey.parsing import Invalid, ParseContext, YamlPath


@register
class Goto(Action[str]):
    name = "goto"
    summary = "open a URL (relative URLs are joined to the journey's base_url)"
    schema = {"type": "string", "minLength": 1}

    def parse(self, value: object, path: YamlPath, ctx: ParseContext) -> str | Invalid:
        return ctx.string(value, path)

    async def perform(self, driver: Driver, params: str, ctx: ActionContext) -> None:
        await driver.goto(ctx.absolute(params), timeout_ms=ctx.timeout_ms)

    def describe(self, params: str) -> str:
        return f"goto {params}"
