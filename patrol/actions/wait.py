from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from ..core.vocabulary import Reason
from ..durations import format_ms
from ..errors import ActionFailed
from ..journey.parsing import INVALID
from . import register
from .base import Action, ActionContext

if TYPE_CHECKING:
    from ..drivers.base import Driver
    from ..journey.parsing import Invalid, ParseContext, YamlPath

WARNING = "an explicit wait makes the journey slow and still flaky; wait for something instead: wait_for / expect visible"


@register
class Wait(Action[float]):
    name = "wait"
    summary = "pause for a fixed time (2s, 500ms); prefer wait_for or an expectation"
    schema = {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*(ms|s|m|h|d)\s*$"}

    def parse(self, value: object, path: YamlPath, ctx: ParseContext) -> float | Invalid:
        ms = ctx.duration(value, path)
        if ms is INVALID:
            return INVALID
        ctx.warn(path, WARNING)  # legal, and nearly always a mistake someone will pay for later
        return ms

    async def perform(self, driver: Driver, params: float, ctx: ActionContext) -> None:
        if params > ctx.timeout_ms:
            # The runner would call the step hung; say what is wrong instead.
            raise ActionFailed(f"wait {format_ms(params)} is longer than the step timeout {format_ms(ctx.timeout_ms)}",
                               reason=Reason.ACTION_TIMEOUT)
        await asyncio.sleep(params / 1000)

    def describe(self, params: float) -> str:
        return f"wait {format_ms(params)}"
