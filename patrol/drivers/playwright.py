"""Web driver: Playwright's async API on the machine's Chromium."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator, Awaitable
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from playwright.async_api import Browser, BrowserContext, CDPSession, Dialog, FrameLocator, Page, async_playwright
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Locator as PwLocator
from playwright.async_api import TimeoutError as PlaywrightTimeout

from ..core.geometry import Box
from ..core.text import first_line
from ..core.vocabulary import Reason
from ..errors import ActionFailed, BrowserCrashed, BrowserNotFound, RobotError
from ..journey.model import Journey, Locator
from . import _page_scripts as scripts
from .base import DialogAnswer, Driver, DriverEvents, Engine, EngineOptions
from .chromium import ARGS, find_chromium

if TYPE_CHECKING:
    from ..config import Config

_BROKEN_IMAGES_JS = scripts.for_playwright(scripts.BROKEN_IMAGES)
_TEXT_BOXES_JS = scripts.for_playwright(scripts.TEXT_BOXES)
_PICTURE_BOXES_JS = scripts.for_playwright(scripts.PICTURE_BOXES)
_PAGE_BUSY_JS = scripts.for_playwright(scripts.PAGE_BUSY)
_ADD_STILL_CSS_JS = scripts.for_playwright(scripts.ADD_STILL_CSS)
_PLAIN_SCREEN_JS = scripts.for_playwright(scripts.PLAIN_SCREEN)
_ELEMENT_BOXES_JS = scripts.for_playwright(scripts.ELEMENT_BOXES)
_STILL_CSS = scripts.STILL_CSS
T = TypeVar("T")
_STATES: dict[str, Literal["attached", "detached", "hidden", "visible"]] = {
    "attached": "attached", "detached": "detached", "hidden": "hidden", "visible": "visible"}



class PlaywrightEngine(Engine):
    name = "chromium"

    def __init__(self, executable: str | None = None, headless: bool = True, extra_args: list[str] | None = None):
        self.executable = executable
        self.headless = headless
        self.extra_args = extra_args or []
        self._pw: Any = None
        self.browser: Browser | None = None
        self.version = ""
        self._crashed = False
        self._pid: int | None = None

    @classmethod
    def from_config(cls, config: Config, options: EngineOptions) -> PlaywrightEngine:
        browser = config.browser  # checked at load
        headless = browser.headless and not options.headed
        engine = cls(browser.executable, headless=headless, extra_args=list(browser.args))
        return engine

    async def start(self) -> None:
        path = find_chromium(self.executable)
        try:
            self._pw = await async_playwright().start()
            self.browser = await self._pw.chromium.launch(
                executable_path=path,
                headless=self.headless,
                args=ARGS + self.extra_args,
                timeout=60_000,
            )
        except PlaywrightError as e:
            await self._stop_pw()
            first = str(e).strip().splitlines()[0] if str(e).strip() else repr(e)
            raise BrowserNotFound(f"could not start Chromium at {path}: {first}") from None
        self.version = self.browser.version
        self._crashed = False
        self.browser.on("disconnected", lambda _b: setattr(self, "_crashed", True))
        self._pid = await self._browser_pid()

    async def _browser_pid(self) -> int | None:
        """Chromium's own (browser) process, as Chromium reports it over CDP."""
        if self.browser is None:
            return None
        try:
            session = await self.browser.new_browser_cdp_session()
            try:
                info = await asyncio.wait_for(session.send("SystemInfo.getProcessInfo"), 10)
            finally:
                await session.detach()
        except Exception:
            return None
        return next((int(p["id"]) for p in info.get("processInfo", []) if p.get("type") == "browser"), None)

    async def healthy(self) -> bool:
        if self.browser is None or self._crashed or not self.browser.is_connected():
            return False
        # Killed a moment ago, before Playwright noticed the pipe close: ask the kernel.
        return self._pid is None or _process_alive(self._pid)

    async def new_driver(self, journey: Journey) -> PlaywrightDriver:
        if self.browser is None or not await self.healthy():
            raise BrowserCrashed("Chromium is not running (it crashed or was killed)")
        d = journey.device
        try:
            context = await self.browser.new_context(
                viewport={"width": d.width, "height": d.height},
                device_scale_factor=d.scale,
                is_mobile=d.mobile,
                has_touch=d.mobile,
                user_agent=d.user_agent,
                locale="zh-CN",
                timezone_id="Asia/Shanghai",
                reduced_motion="reduce",
                service_workers="block",
            )
            await context.add_init_script(scripts.QUIET_INIT)
            page = await context.new_page()
        except PlaywrightError as e:
            raise BrowserCrashed(f"Chromium could not open a new tab: {e}") from None
        return PlaywrightDriver(self, context, page)

    async def _stop_pw(self) -> None:
        if self._pw is not None:
            try:
                await self._pw.stop()
            except Exception:
                pass
            self._pw = None

    async def close(self) -> None:
        if self.browser is not None:
            try:
                await self.browser.close()
            except Exception:
                pass
            self.browser = None
        await self._stop_pw()

    def pid(self) -> int | None:
        """Chromium's main (browser) process id, None when not running (tests kill it
        to prove recovery; the benchmark measures its memory)."""
        return self._pid if self.browser is not None else None


class PlaywrightDriver(Driver):
    platform = "web"

    def __init__(self, engine: PlaywrightEngine, context: BrowserContext, page: Page):
        self.engine = engine
        self.context = context
        self.page = page  # the page every call works on (``switch_to`` changes it)
        self._events = DriverEvents()
        self._inflight: set[Any] = set()  # requests sent and not yet finished or failed
        self._cdp: CDPSession | None = None
        self._main = page
        self._pages: list[Page] = []  # open pages in the order they opened
        self._frames: list[Locator] = []  # ``within_frame`` nesting, outermost first
        self._dialog_answer: DialogAnswer | None = None
        self._watch(page)
        # Popups (target=_blank, window.open) get the same listeners as the main page.
        context.on("page", self._watch)

    # -- event capture -------------------------------------------------------------
    def _watch(self, page: Page) -> None:
        if page in self._pages:
            return
        self._pages.append(page)
        page.on("pageerror", lambda error: self._on_page_error(page, error))
        page.on("request", self._on_request)
        page.on("requestfinished", self._on_request_finished)
        page.on("requestfailed", self._on_request_failed)
        page.on("response", self._on_response)
        page.on("dialog", self._on_dialog)
        page.on("close", self._on_close)

    def _on_close(self, page: Page) -> None:
        if page in self._pages:
            self._pages.remove(page)
        if page is self.page and page is not self._main:
            self._use(self._main)  # a popup that closed itself: the customer is back on the main window

    def _on_page_error(self, page: Page, error: Any) -> None:
        self._events.page_errors.append({"message": str(error), "url": page.url})

    async def _on_dialog(self, dialog: Dialog) -> None:
        """Answer as the journey armed it (``dialog:``); unarmed, dismiss as Playwright
        would without a listener. A dialog whose words are not the expected ones is
        dismissed: never confirm a transfer whose text is wrong."""
        answer = self._dialog_answer
        message = dialog.message
        matched = answer is None or answer.matches(message)
        accept = answer is not None and answer.accept and matched
        self._events.dialogs.append({
            "type": dialog.type, "message": message, "answer": "accepted" if accept else "dismissed",
            "armed": answer is not None, "expected": answer.text if answer else None, "matched": matched,
        })
        try:
            if accept:
                await dialog.accept(answer.prompt if answer and answer.prompt is not None else "")
            else:
                await dialog.dismiss()
        except PlaywrightError:
            pass  # the page went away with its dialog

    def _on_request(self, request: Any) -> None:
        self._inflight.add(request)

    def _on_request_finished(self, request: Any) -> None:
        self._inflight.discard(request)

    def _on_request_failed(self, request: Any) -> None:
        self._inflight.discard(request)
        failure = request.failure or ""
        if any(b in failure for b in scripts.BENIGN_FAILURES):
            return
        if request.resource_type in ("fetch", "xhr", "document"):
            self._events.failed_requests.append(
                {"url": request.url, "method": request.method, "status": None, "error": failure}
            )

    def _on_response(self, response: Any) -> None:
        rtype = response.request.resource_type
        status = response.status
        if rtype == "document" and status >= 400:
            self._events.bad_documents.append({"url": response.url, "status": status})
        elif rtype in ("fetch", "xhr") and status >= 500:
            self._events.failed_requests.append(
                {"url": response.url, "method": response.request.method, "status": status, "error": f"HTTP {status}"}
            )

    def failure_seen(self) -> bool:
        ev = self._events
        return bool(ev.failed_requests or ev.bad_documents or ev.page_errors)

    def drain_events(self) -> DriverEvents:
        events, self._events = self._events, DriverEvents()
        return events

    # -- locators --------------------------------------------------------------------
    def _locator(self, loc: Locator) -> PwLocator:
        return self._every(loc).first

    def _every(self, loc: Locator) -> PwLocator:
        """Every element the locator matches (actions take the first), inside the
        frames ``within_frame`` entered."""
        return self._root().locator(_selector(loc))

    def _root(self) -> Page | FrameLocator:
        root: Page | FrameLocator = self.page
        for frame in self._frames:
            root = root.frame_locator(_selector(frame))
        return root

    @contextlib.asynccontextmanager
    async def within_frame(self, frame: Locator | None) -> AsyncIterator[None]:
        if frame is None:
            yield
            return
        _selector(frame)  # a strategy the web cannot use fails here, before anything runs
        self._frames.append(frame)
        try:
            yield
        finally:
            self._frames.pop()

    async def _guard(self, what: str, coro: Awaitable[T], timeout_ms: float) -> T:
        """Run a Playwright call; translate its errors into Patrol's vocabulary."""
        try:
            return await coro
        except PlaywrightTimeout:
            raise ActionFailed(f"{what}: timed out after {timeout_ms / 1000:.1f}s", reason=Reason.ACTION_TIMEOUT) from None
        except PlaywrightError as e:
            if not await self.engine.healthy() or _browser_gone(e):
                raise BrowserCrashed(f"Chromium went away during '{what}': {first_line(e)}") from None
            raise ActionFailed(f"{what}: {first_line(e)}", reason=Reason.ACTION_FAILED) from None

    async def goto(self, url: str, *, timeout_ms: float) -> None:
        await self._guard(f"open {url}", self.page.goto(url, timeout=timeout_ms, wait_until="load"), timeout_ms)

    async def click(self, locator: Locator, *, timeout_ms: float) -> None:
        # ``text``/``point`` locators never get here: the click action finds them on the
        # screenshot and calls tap_point (``_locator`` refuses them as bad_locator).
        await self._guard(f"click {locator.describe()}", self._locator(locator).click(timeout=timeout_ms), timeout_ms)

    async def hover(self, locator: Locator, *, timeout_ms: float) -> None:
        await self._guard(f"hover over {locator.describe()}", self._locator(locator).hover(timeout=timeout_ms), timeout_ms)

    async def upload(self, locator: Locator, files: list[str], *, timeout_ms: float) -> None:
        await self._guard(f"upload into {locator.describe()}",
                          self._locator(locator).set_input_files(files, timeout=timeout_ms), timeout_ms)

    async def drag(self, source: Locator, target: Locator, *, timeout_ms: float) -> None:
        await self._guard(f"drag {source.describe()} to {target.describe()}",
                          self._locator(source).drag_to(self._locator(target), timeout=timeout_ms), timeout_ms)

    async def answer_dialogs(self, answer: DialogAnswer | None) -> None:
        self._dialog_answer = answer

    async def switch_to(self, which: str, *, timeout_ms: float) -> None:
        if which == "main":
            self._use(self._main)
            return
        # The newest tab the journey is not on already; none yet: wait for one to open.
        popups = [p for p in self._pages if p is not self._main and p is not self.page]
        if not popups:
            try:
                # Opened a moment ago or about to open: the context announces every new page.
                popup = await self.context.wait_for_event("page", timeout=timeout_ms)
            except PlaywrightTimeout:
                raise ActionFailed(f"switch to popup: no new tab or window opened within {timeout_ms / 1000:.1f}s",
                                   reason=Reason.ELEMENT_NOT_FOUND) from None
            self._watch(popup)
        else:
            popup = popups[-1]
        await self._guard("switch to popup", popup.wait_for_load_state("load", timeout=timeout_ms), timeout_ms)
        self._use(popup)

    def _use(self, page: Page) -> None:
        if page is not self.page:
            self.page = page
            self._cdp = None  # a CDP session belongs to one page
            self._frames.clear()

    async def tap_point(self, x: float, y: float, *, timeout_ms: float) -> None:
        # Screenshot pixels -> CSS pixels.
        scale = await self._scale()
        await self._guard("click on screen", self.page.mouse.click(x / scale, y / scale), timeout_ms)

    async def _scale(self) -> float:
        return float(await self.page.evaluate("window.devicePixelRatio"))

    async def fill(self, locator: Locator, text: str, *, timeout_ms: float) -> None:
        await self._guard(f"fill {locator.describe()}", self._locator(locator).fill(text, timeout=timeout_ms), timeout_ms)

    async def press(self, key: str, locator: Locator | None, *, timeout_ms: float) -> None:
        if locator is None:
            await self._guard(f"press {key}", self.page.keyboard.press(key), timeout_ms)
        else:
            await self._guard(
                f"press {key} in {locator.describe()}", self._locator(locator).press(key, timeout=timeout_ms), timeout_ms
            )

    async def select(self, locator: Locator, by: str, choice: str, *, timeout_ms: float) -> None:
        element = self._locator(locator)
        chosen = (element.select_option(value=choice, timeout=timeout_ms) if by == "value"
                  else element.select_option(label=choice, timeout=timeout_ms))
        await self._guard(f"select {choice} in {locator.describe()}", chosen, timeout_ms)

    async def scroll(self, locator: Locator | None, dx: int, dy: int, *, timeout_ms: float) -> None:
        if locator is not None:
            await self._guard(
                f"scroll to {locator.describe()}",
                self._locator(locator).scroll_into_view_if_needed(timeout=timeout_ms),
                timeout_ms,
            )
        else:
            await self._guard("scroll", self.page.mouse.wheel(dx, dy), timeout_ms)
            await asyncio.sleep(0.05)

    async def wait_for(self, locator: Locator, state: str, *, timeout_ms: float) -> None:
        await self._guard(
            f"wait for {locator.describe()} {state}",
            self._locator(locator).wait_for(state=_STATES[state], timeout=timeout_ms),
            timeout_ms,
        )

    async def back(self, *, timeout_ms: float) -> None:
        await self._guard("back", self.page.go_back(timeout=timeout_ms, wait_until="load"), timeout_ms)

    async def is_visible(self, locator: Locator) -> bool:
        try:
            return await self._locator(locator).is_visible()
        except PlaywrightError:
            return False

    async def current_url(self) -> str:
        return self.page.url

    async def screenshot(self) -> bytes:
        try:
            shot = await self._plain_capture()
            if shot is not None:
                return shot
            return await self.page.screenshot(type="png", animations="disabled", caret="hide", timeout=15_000)
        except PlaywrightError as e:
            if not await self.engine.healthy():
                raise BrowserCrashed(f"Chromium went away while taking a screenshot: {first_line(e)}") from None
            raise RobotError(f"could not take a screenshot: {first_line(e)}") from None

    async def _plain_capture(self) -> bytes | None:
        """When the screen needs no preparation (``PLAIN_SCREEN``): the viewport as
        Chromium paints it, PNG-encoded for speed (the same pixels as Playwright's
        screenshot in about half the time; bigger files). None: let Playwright's
        screenshot prepare the screen and decide."""
        try:
            if not await self.page.evaluate(_PLAIN_SCREEN_JS):
                return None
            if self._cdp is None:
                self._cdp = await self.context.new_cdp_session(self.page)
            shot = await asyncio.wait_for(
                self._cdp.send("Page.captureScreenshot", {"format": "png", "optimizeForSpeed": True}), 15)
            return base64.b64decode(shot["data"])
        except (PlaywrightError, TimeoutError):
            return None

    async def busy_indicator_visible(self) -> bool:
        try:
            return await self.page.locator(scripts.BUSY_SELECTOR).first.is_visible()
        except PlaywrightError:
            return False

    async def texts_of(self, locator: Locator) -> list[str]:
        try:
            return await self._every(locator).all_inner_texts()
        except PlaywrightError:
            return []

    async def attributes_of(self, locator: Locator, name: str) -> list[str | None]:
        try:
            values: list[str | None] = await self._every(locator).evaluate_all(
                "(els, name) => els.map(e => e.getAttribute(name))", name)
            return values
        except PlaywrightError:
            return []

    async def values_of(self, locator: Locator) -> list[str]:
        try:
            values: list[str] = await self._every(locator).evaluate_all("els => els.map(e => String(e.value ?? ''))")
            return values
        except PlaywrightError:
            return []

    async def element_boxes(self, locators: list[Locator]) -> list[Box]:
        selectors = [loc.value if loc.strategy == "css" else f'[id="{loc.value}"]' for loc in locators]
        try:
            scale, found = await self.page.evaluate(_ELEMENT_BOXES_JS, selectors)
        except PlaywrightError:
            scale, found = await self._scale(), [None] * len(selectors)
        boxes: list[Box] = []
        for selector, rects in zip(selectors, found):
            for r in rects if rects is not None else await self._playwright_boxes(selector):
                # Each edge rounded to the nearest device pixel, as the committed baselines were painted.
                x, y, w, h = (int(round(v * scale)) for v in r)
                boxes.append(Box(x, y, w, h))
        return boxes

    async def _playwright_boxes(self, selector: str) -> list[tuple[float, float, float, float]]:
        """CSS-pixel boxes of what Playwright's selector engine matches (slower: two calls per element)."""
        rects: list[tuple[float, float, float, float]] = []
        try:
            for handle in await self.page.locator(selector).all():
                box = await handle.bounding_box()
                if box:
                    rects.append((box["x"], box["y"], box["width"], box["height"]))
        except PlaywrightError:
            pass
        return rects

    async def environment(self) -> dict[str, Any]:
        size = self.page.viewport_size or {"width": 0, "height": 0}
        return {"browser": f"chromium {self.engine.version}", "viewport": (size["width"], size["height"]), "scale": await self._scale()}

    async def text_boxes(self, text: str) -> list[Box]:
        try:
            return [Box(*b) for b in await self.page.evaluate(_TEXT_BOXES_JS, text)]
        except PlaywrightError:
            return []

    async def picture_boxes(self) -> list[Box] | None:
        try:
            return [Box(*b) for b in await self.page.evaluate(_PICTURE_BOXES_JS)]
        except PlaywrightError:
            return None

    async def broken_images(self) -> list[dict[str, Any]]:
        try:
            images: list[dict[str, Any]] = await self.page.evaluate(_BROKEN_IMAGES_JS)
            return images
        except PlaywrightError:
            return []

    async def prepare_for_screenshot(self) -> None:
        try:
            await self.page.evaluate(_ADD_STILL_CSS_JS, _STILL_CSS)
        except PlaywrightError:
            pass

    async def page_busy(self, horizon_ms: float) -> list[str] | None:
        busy = ["network"] if self._inflight else []
        try:
            state: list[str] | None = await self.page.evaluate(_PAGE_BUSY_JS, horizon_ms)
        except PlaywrightError:
            return None
        return None if state is None else busy + state

    async def close(self) -> None:
        try:
            await self.context.close()
        except Exception:
            pass


def _selector(loc: Locator) -> str:
    """The Playwright selector for a web locator."""
    if loc.strategy == "css":
        return str(loc.value)
    if loc.strategy == "id":
        return f'[id="{loc.value}"]'
    if loc.strategy == "xpath":
        return f"xpath={loc.value}"
    if loc.strategy == "accessibility_id":
        return f'[aria-label="{loc.value}"]'
    raise ActionFailed(f"locator strategy '{loc.strategy}' is not available on the web", reason=Reason.BAD_LOCATOR)


_GONE = ("Target page, context or browser has been closed", "Browser has been closed", "Target closed",
         "Connection closed", "browser has disconnected", "Browser closed")


def _browser_gone(e: BaseException) -> bool:
    text = str(e)
    return any(g in text for g in _GONE)


def _process_alive(pid: int) -> bool:
    """Running (not gone, not a zombie waiting to be reaped)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
        return state not in (b"Z", b"X")
    except FileNotFoundError:
        return False
    except Exception:
        return True  # no /proc (not Linux): trust Playwright's own view
