from __future__ import annotations

from ..journey.parsing import INVALID
from . import register
from .base import LOCATOR_SCHEMA, Action


@register
class Fill(Action):
    name = "fill"
    summary = "type text into a field, replacing what is there"
    schema = {
        "type": "object",
        "required": ["selector", "text"],
        "properties": {"selector": LOCATOR_SCHEMA, "text": {"type": ["string", "number"]}},
        "additionalProperties": False,
    }

    def parse(self, value, path, ctx):
        if ctx.mapping(value, path, {"selector": "the field", "text": "what to type"}, ("selector", "text")) is INVALID:
            return INVALID
        loc = ctx.locator(value["selector"], path + ("selector",))
        text = ctx.string(value["text"], path + ("text",), allow_empty=True)
        return INVALID if INVALID in (loc, text) else (loc, text)

    async def perform(self, driver, params, ctx):
        loc, text = params
        await driver.fill(loc, text, timeout_ms=ctx.timeout_ms)

    def describe(self, params):
        # The text may be a secret: the masker hides it wherever this line is written.
        return f"fill {params[0].describe()} with {params[1]!r}"


@register
class Type(Fill):
    name = "type"
