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
class Press(Action[tuple[Locator | None, str]]):
    name = "press"
    summary = "press a key (Enter, Tab, Escape, ArrowDown...), optionally in an element"
    schema = {
        "oneOf": [
            {"type": "string", "minLength": 1},
            {
                "type": "object",
                "required": ["key"],
                "properties": {"key": {"type": "string"}, "selector": LOCATOR_SCHEMA},
                "additionalProperties": False,
            },
        ]
    }

    def parse(self, value: object, path: YamlPath, ctx: ParseContext) -> tuple[Locator | None, str] | Invalid:
        if isinstance(value, str):
            alone = ctx.string(value, path)
            return INVALID if isinstance(alone, Invalid) else (None, alone)
        given = ctx.mapping(value, path, {"key": "the key", "selector": "element to focus first"}, ("key",))
        if given is INVALID:
            return INVALID
        key = ctx.string(given["key"], path + ("key",))
        loc = ctx.locator(given["selector"], path + ("selector",)) if "selector" in given else None
        return INVALID if isinstance(key, Invalid) or isinstance(loc, Invalid) else (loc, key)

    async def perform(self, driver: Driver, params: tuple[Locator | None, str], ctx: ActionContext) -> None:
        loc, key = params
        await driver.press(key, loc, timeout_ms=ctx.timeout_ms)

    def describe(self, params: tuple[Locator | None, str]) -> str:
        loc, key = params
        return f"press {key}" + (f" in {loc.describe()}" if loc else "")
