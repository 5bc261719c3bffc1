"""App lifecycle (app journeys): ``launch`` (cold start), ``activate`` (bring to the
front, starting it when needed), ``terminate``. The value is an app id
(``com.example.bank`` / a bundle id), or ``true`` for the journey's own app (its
``appium:appPackage`` / ``appium:bundleId``, else the app in front when the session began)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.capabilities import Capability
from ..drivers.base import app_control
from . import register
from .base import Action, ActionContext

if TYPE_CHECKING:
    from ..drivers.base import Driver
    from ..journey.parsing import Invalid, ParseContext, YamlPath


class _AppAction(Action[str | None]):
    schema = {"oneOf": [{"const": True}, {"type": "string", "minLength": 1}]}
    needs = frozenset({Capability.APP_CONTROL})  # a native app session (not a browser, not a web journey)

    def parse(self, value: object, path: YamlPath, ctx: ParseContext) -> str | None | Invalid:
        if value is True or value is None:
            return None
        return ctx.string(value, path)

    async def perform(self, driver: Driver, params: str | None, ctx: ActionContext) -> None:
        await app_control(driver).app_control(self.name, params, timeout_ms=ctx.timeout_ms)

    def describe(self, params: str | None) -> str:
        return f"{self.name} {params or 'the app'}"


@register
class Launch(_AppAction):
    name = "launch"
    summary = "start the app fresh (terminate it if running, then start it): true or an app id"


@register
class Activate(_AppAction):
    name = "activate"
    summary = "bring the app to the front, starting it if needed: true or an app id"


@register
class Terminate(_AppAction):
    name = "terminate"
    summary = "stop the app: true or an app id"
