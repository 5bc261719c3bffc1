from __future__ import annotations

from . import register
from .base import Action


@register
class Back(Action):
    name = "back"
    summary = "go back (browser history / the device's back button)"
    schema = {"enum": [True, None, {}]}

    def parse(self, value, path, ctx):
        if value not in (True, None, {}):
            return ctx.error(path, "write 'back: true'")
        return True

    async def perform(self, driver, params, ctx):
        await driver.back(timeout_ms=ctx.timeout_ms)

    def describe(self, params):
        return "back"
