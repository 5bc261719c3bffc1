from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..journey.model import Locator
from ..journey.parsing import INVALID
from . import register
from .base import LOCATOR_SCHEMA, Action, ActionContext

if TYPE_CHECKING:
    from ..drivers.base import Driver
    from ..journey.parsing import ParseContext


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

    def parse(self, value: Any, path: tuple[Any, ...], ctx: ParseContext) -> Any:
        if ctx.mapping(value, path, {"selector": "the field", "text": "what to type"}, ("selector", "text")) is INVALID:
            return INVALID
        loc = ctx.locator(value["selector"], path + ("selector",))
        text = ctx.string(value["text"], path + ("text",), allow_empty=True)
        return INVALID if INVALID in (loc, text) else (loc, text)

    async def perform(self, driver: Driver, params: tuple[Locator, str], ctx: ActionContext) -> None:
        loc, text = params
        await driver.fill(loc, text, timeout_ms=ctx.timeout_ms)

    def describe(self, params: tuple[Locator, str]) -> str:
        # The text may be a secret: the masker hides it wherever this line is written.
        return f"fill {params[0].describe()} with {params[1]!r}"


@register
class Type(Fill):
    name = "type"
