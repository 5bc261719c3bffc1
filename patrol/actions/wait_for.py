from __future__ import annotations

from ..journey.parsing import INVALID
from . import register
from .base import LOCATOR_SCHEMA, Action

STATES = ("visible", "hidden", "attached", "detached")


@register
class WaitFor(Action):
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

    def parse(self, value, path, ctx):
        if isinstance(value, dict) and "selector" in value:
            if ctx.mapping(value, path, {"selector": "element", "state": "|".join(STATES)}) is INVALID:
                return INVALID
            loc = ctx.locator(value["selector"], path + ("selector",))
            state = ctx.choice(value.get("state", "visible"), path + ("state",), STATES)
            return INVALID if INVALID in (loc, state) else (loc, state)
        loc = ctx.locator(value, path)
        return INVALID if loc is INVALID else (loc, "visible")

    async def perform(self, driver, params, ctx):
        loc, state = params
        await driver.wait_for(loc, state, timeout_ms=ctx.timeout_ms)

    def describe(self, params):
        loc, state = params
        return f"wait for {loc.describe()} {state}"
