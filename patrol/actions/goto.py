from __future__ import annotations

from . import register
from .base import Action


@register
class Goto(Action):
    name = "goto"
    summary = "open a URL (relative URLs are joined to the journey's base_url)"
    schema = {"type": "string", "minLength": 1}

    def parse(self, value, path, ctx):
        return ctx.string(value, path)

    async def perform(self, driver, params, ctx):
        await driver.goto(ctx.absolute(params), timeout_ms=ctx.timeout_ms)

    def describe(self, params):
        return f"goto {params}"
