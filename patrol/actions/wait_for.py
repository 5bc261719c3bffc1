from __future__ import annotations

from typing import TYPE_CHECKING

from ..journey.model import Locator
from ..journey.parsing import INVALID, Invalid
from . import register
from .base import LOCATOR_SCHEMA, Action, ActionContext

if TYPE_CHECKING:
    from ..drivers.base import Driver
    from ..journey.parsing import ParseContext, YamlPath

STATES = ("visible", "hidden", "attached", "detached")


@register
class WaitFor(Action[tuple[Locator, str]]):
    name = "wait_for"
    summary = "wait until an element is visible (or hidden/attached/detached)"
    schema = {
        "oneOf": [
            LOCATOR_SCHEMA,
            {
                "type": "object",
                "required": ["selector"],
                "properties": {"selector": LOCATOR_SCHEMA, "state": {"enum": list(STATES)}},
                "additionalProperties": False,
            },
        ]
    }

    def parse(self, value: object, path: YamlPath, ctx: ParseContext) -> tuple[Locator, str] | Invalid:
        if isinstance(value, dict) and "selector" in value:
            if ctx.mapping(value, path, {"selector": "element", "state": "|".join(STATES)}) is INVALID:
                return INVALID
            loc = ctx.locator(value["selector"], path + ("selector",))
            state = ctx.choice(value.get("state", "visible"), path + ("state",), STATES)
            return INVALID if isinstance(loc, Invalid) or isinstance(state, Invalid) else (loc, state)
        loc = ctx.locator(value, path)
        return INVALID if loc is INVALID else (loc, "visible")

    async def perform(self, driver: Driver, params: tuple[Locator, str], ctx: ActionContext) -> None:
        loc, state = params
        await driver.wait_for(loc, state, timeout_ms=ctx.timeout_ms)

    def describe(self, params: tuple[Locator, str]) -> str:
        loc, state = params
        return f"wait for {loc.describe()} {state}"
