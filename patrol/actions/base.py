"""The action interface. An action is one small module: it parses its value from the
journey file into params, describes itself in the JSON Schema, and performs itself
against the ``Driver`` interface (it never sees Playwright or Appium)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Generic, TypeVar
from urllib.parse import urljoin

from ..core.capabilities import NONE, Capability
from ..core.jsontypes import JsonObject
from ..journey.language import LOCATOR_SCHEMA as LOCATOR_SCHEMA  # the actions' modules take it from here

if TYPE_CHECKING:
    from ..drivers.base import Driver
    from ..journey.model import Locator
    from ..journey.parsing import Invalid, ParseContext, YamlPath
    from ..results import Finding

P = TypeVar("P")
# Where on screen a ``{text: ...}`` or ``{point: [x, y]}`` locator is, in screenshot
# pixels (x, y of the point to tap): the runner hands the action a finder that reads
# the screen (OCR), so no driver needs to know about OCR.
ScreenFinder = Callable[["Driver", "Locator", float], Awaitable[tuple[float, float]]]

@dataclass
class ActionContext:
    """What an action may know about where it runs."""

    base_url: str | None
    timeout_ms: float
    find_on_screen: ScreenFinder | None = None
    run_id: str = ""
    # The journey's stored values (``store:``), by name; an action may add to them.
    vars: dict[str, str] = field(default_factory=dict)
    # What an action leaves besides having acted (``request:``): findings about the app
    # with their cause, entries for the step's report, and the values it stored as the
    # report shows them (secrets masked).
    findings: list[Finding] = field(default_factory=list)
    report: dict[str, object] = field(default_factory=dict)
    stored: dict[str, str] = field(default_factory=dict)

    def absolute(self, url: str) -> str:
        if "://" in url or not self.base_url:
            return url
        return urljoin(self.base_url.rstrip("/") + "/", url.lstrip("/"))


class Action(Generic[P]):
    """``P`` is the parsed value the action performs with (a Locator, a URL...)."""

    name: ClassVar[str]
    summary: ClassVar[str]
    schema: ClassVar[JsonObject]
    # Driver capabilities the action needs beyond the core (``core.capabilities``): on a
    # journey target that lacks one, the step is a validate error.
    needs: ClassVar[frozenset[Capability]] = NONE
    # True when an ``action_timeout`` means nothing was done (the element never became
    # actionable), so doing it again is safe: the runner then gives back the time the
    # robot waited for a CPU meanwhile, as it does for expectations.
    repeatable_on_timeout: ClassVar[bool] = False
    # False for an action that neither acts on nor shows the screen (``request:``): its step
    # takes no screenshot, so the screen checks do not judge a page it never looked at.
    on_screen: ClassVar[bool] = True

    def parse(self, value: object, path: YamlPath, ctx: ParseContext) -> P | Invalid:
        """``P``, or ``INVALID`` after recording a problem in ``ctx``."""
        raise NotImplementedError

    async def perform(self, driver: Driver, params: P, ctx: ActionContext) -> None:
        raise NotImplementedError

    def describe(self, params: P) -> str:
        """One line for the console and report: what was done."""
        return f"{self.name} {params}"

    def without_browser(self, params: P) -> bool:
        """True when this step needs no browser at all (an HTTP call of its own): a
        journey of only such steps runs without starting one."""
        return False
