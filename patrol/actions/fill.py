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
class Fill(Action[tuple[Locator, str]]):
    name = "fill"
    repeatable_on_timeout = True  # a timed-out fill never reached the element
    summary = "type text into a field, replacing what is there"
    schema = {
        "type": "object",
        "required": ["selector", "text"],
        "properties": {"selector": LOCATOR_SCHEMA, "text": {"type": ["string", "number"]}},
        "additionalProperties": False,
    }

    def parse(self, value: object, path: YamlPath, ctx: ParseContext) -> tuple[Locator, str] | Invalid:
        given = ctx.mapping(value, path, {"selector": "the field", "text": "what to type"}, ("selector", "text"))
        if given is INVALID:
            return INVALID
        loc = ctx.locator(given["selector"], path + ("selector",))
        text = ctx.string(given["text"], path + ("text",), allow_empty=True)
        return INVALID if isinstance(loc, Invalid) or isinstance(text, Invalid) else (loc, text)

    async def perform(self, driver: Driver, params: tuple[Locator, str], ctx: ActionContext) -> None:
        loc, text = params
        await driver.fill(loc, text, timeout_ms=ctx.timeout_ms)

    def describe(self, params: tuple[Locator, str]) -> str:
        # The text may be a secret: the masker hides it wherever this line is written.
        return f"fill {params[0].describe()} with {params[1]!r}"


@register
class Type(Fill):
    name = "type"
