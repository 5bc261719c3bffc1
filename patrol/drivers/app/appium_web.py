"""Browser sessions through Appium (``browserName``: the chromium driver on this
machine, Chrome on Android, Safari on iOS): CSS locators, URLs, the in-page scripts
the Playwright driver uses too, and the page's failed requests and uncaught errors
from Chrome's logs."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

from selenium.webdriver.remote.command import Command

from ...core.capabilities import APP_BROWSER
from ...core.geometry import Box
from ...core.layout import ScreenLayout
from ...core.vocabulary import Reason
from ...errors import RobotError
from ...journey.model import Journey, Locator
from .. import _page_scripts as scripts
from .._text_layout import TEXT_LAYOUT
from ..base import DriverEvents, ScreenEnvironment
from . import _appium_support as sup
from .appium_session import AppiumSession, as_boxes

if TYPE_CHECKING:
    from appium.webdriver.webdriver import WebDriver
    from appium.webdriver.webelement import WebElement

_BROKEN_IMAGES_JS = scripts.for_webdriver(scripts.BROKEN_IMAGES)
_TEXT_LAYOUT_JS = scripts.for_webdriver(TEXT_LAYOUT)
_TEXT_BOXES_JS = scripts.for_webdriver(scripts.TEXT_BOXES)
_PICTURE_BOXES_JS = scripts.for_webdriver(scripts.PICTURE_BOXES)
_SCREEN_LAYOUT_JS = scripts.for_webdriver(scripts.SCREEN_LAYOUT)
_BOXES_JS = """const d = devicePixelRatio; return arguments[0].map(e => { const r = e.getBoundingClientRect();
  return [Math.round(r.x * d), Math.round(r.y * d), Math.round(r.width * d), Math.round(r.height * d)]; })"""
_BUSY_JS = """return Array.from(document.querySelectorAll(arguments[0])).some(e => { const r = e.getBoundingClientRect();
  return r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== 'hidden'; })"""
_RECT_JS = ("const r = arguments[0].getBoundingClientRect(); "
            "return {x: r.x, y: r.y, width: r.width, height: r.height};")
_STILL_JS = ("const s = document.createElement('style'); s.textContent = arguments[0]; "
             "(document.head || document.documentElement).appendChild(s);"
             "if (document.activeElement && document.activeElement.blur) document.activeElement.blur();")


class WebStrategy(AppiumSession):
    capabilities = APP_BROWSER.offers  # none beyond the core: no frames, windows, hover, drag, uploads, app control
    web = True
    scroll_needs_visible = False

    def __init__(self, session: WebDriver, requested: sup.Capabilities, *, server_url: str,
                 command_timeout_s: float) -> None:
        super().__init__(session, requested, server_url=server_url, command_timeout_s=command_timeout_s)
        # Fingers on a phone's browser or Chrome emulating a phone; a mouse on a desktop.
        emulation = sup.mapping(sup.mapping(requested.get("goog:chromeOptions")).get("mobileEmulation"))
        emulated = bool(emulation.get("deviceName")) or bool(sup.mapping(emulation.get("deviceMetrics")).get("touch"))
        self.touch = self.os in ("android", "ios") or emulated
        self.logs = sup.ChromeLogReader()
        self._env: ScreenEnvironment | None = None

    def by(self, loc: Locator) -> tuple[str, str]:
        if loc.strategy == "css":
            return "css selector", loc.value
        if loc.strategy == "id":
            return "css selector", f'[id="{sup.css_escape(loc.value)}"]'
        if loc.strategy == "accessibility_id":
            return "css selector", f'[aria-label="{sup.css_escape(loc.value)}"]'
        if loc.strategy == "xpath":
            return "xpath", loc.value
        raise self.fail(f"locator strategy '{loc.strategy}' is not available in a browser session",
                        reason=Reason.BAD_LOCATOR)

    async def setup(self, journey: Journey) -> None:
        await self.call("set page load timeout", self.session.set_page_load_timeout, journey.budgets.timeout_ms / 1000)

    async def goto(self, url: str, timeout_ms: float) -> None:
        await self.call(f"open {url}", self.session.get, url, timeout_s=timeout_ms / 1000 + 10)

    async def select(self, el: WebElement, by: str, choice: str, what: str, timeout_ms: float) -> None:
        from selenium.webdriver.support.select import Select  # ~30 ms: only journeys that select load it

        def pick() -> None:
            s = Select(el)
            (s.select_by_value if by == "value" else s.select_by_visible_text)(choice)

        await self.call(what, pick)

    async def window(self) -> tuple[float, float]:
        w, h = await self.call("viewport", self.session.execute_script, "return [innerWidth, innerHeight]")
        return float(w), float(h)

    async def scroll_by(self, dx: float, dy: float) -> None:
        if self.touch:
            return await super().scroll_by(dx, dy)
        w, h = await self.window()
        wheel = {"type": "wheel", "id": "wheel", "actions": [
            {"type": "scroll", "x": int(w / 2), "y": int(h / 2), "deltaX": int(dx), "deltaY": int(dy), "duration": 0,
             "origin": "viewport"}]}
        await self.call("scroll", self.session.execute, Command.W3C_ACTIONS, {"actions": [wheel]})
        await asyncio.sleep(0.1)

    async def rect_in_view(self, el: WebElement) -> dict[str, float] | None:
        rect: dict[str, float] | None = await self.quiet("element box", self.session.execute_script, _RECT_JS, el,
                                                         default=None)
        return rect

    async def scroll_marker(self) -> object:
        return await self.call("scroll position", self.session.execute_script, "return [scrollX, scrollY]")

    async def busy(self) -> bool:
        return bool(await self.quiet("busy?", self.session.execute_script, _BUSY_JS, scripts.BUSY_SELECTOR, default=False))

    async def boxes(self, els: list[WebElement]) -> list[Box]:
        rects = await self.call("element boxes", self.session.execute_script, _BOXES_JS, els)
        return [b for b in as_boxes(rects) if b.w > 0 and b.h > 0]

    async def environment(self) -> ScreenEnvironment:
        if self._env is None:
            w, h, dpr = await self.call("viewport", self.session.execute_script,
                                        "return [innerWidth, innerHeight, devicePixelRatio]")
            name = str(self.caps.get("browserName") or "browser")
            label = f"{name} {self.caps.get('browserVersion', '')}".strip()
            if self.os and self.os not in ("linux", "mac", "windows"):
                label += f" on {self.os}"
            self._env = {"browser": label, "viewport": (int(w), int(h)), "scale": round(float(dpr), 3)}
        return self._env.copy()

    async def text_boxes(self, text: str) -> list[Box]:
        return as_boxes(await self.quiet("text boxes", self.session.execute_script, _TEXT_BOXES_JS, text, default=None))

    async def screen_layout(self) -> ScreenLayout | None:
        text = await self.quiet("screen layout", self.session.execute_script, _SCREEN_LAYOUT_JS, default=None)
        return ScreenLayout.from_json(text) if isinstance(text, str) else None

    async def picture_boxes(self) -> list[Box] | None:
        try:
            return as_boxes(await self.call("picture boxes", self.session.execute_script, _PICTURE_BOXES_JS))
        except RobotError:
            raise
        except Exception:
            return None

    async def broken_images(self) -> list[dict[str, object]]:
        found = await self.quiet("broken images", self.session.execute_script, _BROKEN_IMAGES_JS, default=None)
        return _rows(found) or []

    async def text_layout(self, ignore: Sequence[str]) -> list[dict[str, object]] | None:
        found = await self.quiet("text layout", self.session.execute_script, _TEXT_LAYOUT_JS, {"ignore": list(ignore)},
                                 default=None)
        return _rows(found)

    async def prepare_for_screenshot(self) -> None:
        await self.quiet("still the page", self.session.execute_script, _STILL_JS, scripts.STILL_CSS, default=None)

    async def current_url(self) -> str:
        return str(await self.quiet("current url", lambda: self.session.current_url, default=""))

    async def look(self, events: DriverEvents) -> None:
        """Chrome's logs: failed requests and uncaught errors (when the session logs them)."""
        if "goog:loggingPrefs" not in self.requested:
            return
        # Not asked when the capture proxy sees the requests (``AppCapture.browser_capabilities``).
        network_log = "performance" in sup.mapping(self.requested.get("goog:loggingPrefs"))
        try:
            perf = await self.call("performance log", self.session.get_log, "performance") if network_log else []
            browser = await self.call("browser log", self.session.get_log, "browser")
        except RobotError:
            raise
        except Exception:
            # This browser keeps no such logs: stop asking.
            self.requested = {k: v for k, v in self.requested.items() if k != "goog:loggingPrefs"}
            return
        self.logs.performance(perf or [], events)
        if browser:
            url = await self.call("current url", lambda: self.session.current_url)
            self.logs.browser(browser, events, url)


def _rows(found: object) -> list[dict[str, object]] | None:
    """An in-page script's list of objects (anything else in it left out); None when it did not answer a list."""
    return [row for row in found if isinstance(row, dict)] if isinstance(found, list) else None
