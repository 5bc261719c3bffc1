from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.capabilities import Capability
from ..drivers.base import windows
from . import register
from .base import Action, ActionContext

if TYPE_CHECKING:
    from ..drivers.base import Driver
    from ..journey.parsing import Invalid, ParseContext, YamlPath

WINDOWS = ("popup", "main")


@register
class SwitchTo(Action[str]):
    name = "switch_to"
    summary = "popup: go on in the newest tab/window the journey opened (waits for it); main: back to the first"
    schema = {"enum": list(WINDOWS)}
    needs = frozenset({Capability.WINDOWS})

    def parse(self, value: object, path: YamlPath, ctx: ParseContext) -> str | Invalid:
        return ctx.choice(value, path, WINDOWS)

    async def perform(self, driver: Driver, params: str, ctx: ActionContext) -> None:
        await windows(driver).switch_to(params, timeout_ms=ctx.timeout_ms)

    def describe(self, params: str) -> str:
        return "switch to the popup" if params == "popup" else "switch to the main window"
