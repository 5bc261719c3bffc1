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
class Select(Action[tuple[Locator, str, str]]):
    name = "select"
    repeatable_on_timeout = True  # a timed-out select never reached the element
    summary = "choose an option of a <select> by value or label"
    schema = {
        "type": "object",
        "required": ["selector"],
        "properties": {"selector": LOCATOR_SCHEMA, "value": {"type": "string"}, "label": {"type": "string"}},
        "additionalProperties": False,
    }

    def parse(self, value: object, path: YamlPath, ctx: ParseContext) -> tuple[Locator, str, str] | Invalid:
        allowed = {"selector": "the <select>", "value": "option value", "label": "option text"}
        given = ctx.mapping(value, path, allowed, ("selector",))
        if given is INVALID:
            return INVALID
        if ("value" in given) == ("label" in given):
            return ctx.error(path, "give exactly one of 'value' or 'label'")
        loc = ctx.locator(given["selector"], path + ("selector",))
        by = "value" if "value" in given else "label"
        choice = ctx.string(given[by], path + (by,))
        return INVALID if isinstance(loc, Invalid) or isinstance(choice, Invalid) else (loc, by, choice)

    async def perform(self, driver: Driver, params: tuple[Locator, str, str], ctx: ActionContext) -> None:
        loc, by, choice = params
        await driver.select(loc, by, choice, timeout_ms=ctx.timeout_ms)

    def describe(self, params: tuple[Locator, str, str]) -> str:
        loc, by, choice = params
        return f"select {by}={choice!r} in {loc.describe()}"
