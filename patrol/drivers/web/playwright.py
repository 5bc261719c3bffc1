"""Web driver: Playwright's async API on the machine's Chromium."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeVar

from playwright.async_api import (
    Browser,
    BrowserContext,
    CDPSession,
    Dialog,
    FrameLocator,
    Page,
    Playwright,
    Request,
    Response,
    Route,
    async_playwright,
)
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Locator as PwLocator
from playwright.async_api import TimeoutError as PlaywrightTimeout

from ...config.tracing import TracingSettings
from ...config.web import NetworkSettings, PageSettings
from ...core.capabilities import WEB
from ...core.evidence import DialogRecord, PageError
from ...core.geometry import Box
from ...core.jsontypes import as_object, as_objects, as_texts, json_number
from ...core.layout import ScreenLayout
from ...core.text import first_line
from ...core.tracecontext import TraceContext
from ...core.urls import RequestPolicy, mask_url
from ...core.vitals import PageVitals
from ...core.vocabulary import Kind, Reason
from ...errors import ActionFailed, BrowserCrashed, BrowserNotFound, RobotError
from ...journey.model import Journey, Locator
from .. import _page_scripts as scripts
from .._busy import SLOW_ANSWER_S, STILL_GAP_S, BusyState, BusyWatch
from .._busy import describe as describe_busy
from .._network import NetworkRecorder, glob_pattern
from .._text_layout import TEXT_LAYOUT
from .._websocket import BINDING, CLOSE_HOOK, SocketRecorder
from ..base import DialogAnswer, Driver, DriverEvents, Engine, EngineOptions, ScreenEnvironment, ScriptLocation
from ..chromium import ARGS, find_chromium
from ..http import HttpAnswer, HttpCall, HttpFailed
from . import _remote
from ._remote import Endpoint
from ._strict import ambiguous
from ._trace import Tracer
from ._vitals import VITALS_INIT, VITALS_READ, VitalsReader

if TYPE_CHECKING:
    from ...config import Config

_BROKEN_IMAGES_JS = scripts.for_playwright(scripts.BROKEN_IMAGES)
_TEXT_LAYOUT_JS = scripts.for_playwright(TEXT_LAYOUT)
_TEXT_BOXES_JS = scripts.for_playwright(scripts.TEXT_BOXES)
_TEXT_BOXES_EACH_JS = scripts.for_playwright(scripts.TEXT_BOXES_EACH)
# The forbidden-text check's hints, in one read: the picture boxes, then each word's boxes.
_PICTURE_AND_TEXT_BOXES_JS = ("(arg) => [(() => {" + scripts.PICTURE_BOXES + "})(), ((arg) => {"
                              + scripts.TEXT_BOXES_EACH + "})(arg)]")
_PICTURE_BOXES_JS = scripts.for_playwright(scripts.PICTURE_BOXES)
_SCREEN_LAYOUT_JS = scripts.for_playwright(scripts.SCREEN_LAYOUT)
_PAGE_BUSY_JS = scripts.for_playwright(scripts.PAGE_BUSY)
_ADD_STILL_CSS_JS = scripts.for_playwright(scripts.ADD_STILL_CSS)
_ELEMENT_BOXES_JS = scripts.for_playwright(scripts.ELEMENT_BOXES)
# Whether the screen needs preparing, and the page's vitals since the last step, in one read.
_PLAIN_SCREEN_AND_VITALS_JS = ("(arg) => [(() => {" + scripts.PLAIN_SCREEN + "})(), ((arg) => {"
                               + VITALS_READ + "})(arg)]")
_STILL_CSS = scripts.STILL_CSS
_BUSY_INDICATORS_JS = scripts.for_playwright(scripts.BUSY_INDICATORS)
_SCHEMES: dict[str, Literal["dark", "light", "no-preference"]] = {
    "light": "light", "dark": "dark", "no-preference": "no-preference"}
T = TypeVar("T")
# The least a read of Patrol's own (a screenshot, an evaluate) may wait for a page that is
# slow but answers (a huge DOM on a loaded machine); the runner's watcher ends a hung one.
PAGE_CALL_MIN_S = 15.0
# Patrol's own scripts in the page say so in their ``//# sourceURL=``.
ROBOT_SCRIPT_PREFIX = "patrol-"
# A step's dialogs kept as evidence; the rest are only counted.
MAX_DIALOGS_KEPT = 50
# How long the browser may take to capture a page that stopped answering (it usually cannot).
LAST_FRAME_S = 1.5
_STATES: dict[str, Literal["attached", "detached", "hidden", "visible"]] = {
    "attached": "attached", "detached": "detached", "hidden": "hidden", "visible": "visible"}



class PlaywrightEngine(Engine):
    name = "chromium"

    def __init__(self, executable: str | None = None, headless: bool = True, extra_args: list[str] | None = None,
                 endpoint: Endpoint | None = None):
        self.executable = executable
        self.headless = headless
        self.extra_args = extra_args or []
        self.endpoint = endpoint  # a browser server to connect to instead of launching Chromium
        self.connect_timeout_ms = _remote.CONNECT_TIMEOUT_MS
        self._pw: Playwright | None = None
        self.browser: Browser | None = None
        self.version = ""
        self._crashed = False
        self._pid: int | None = None
        self.page_settings = PageSettings()  # patrol.yaml ``browser:`` (locale, time zone...), journeys' over it
        self.network = NetworkSettings()  # patrol.yaml ``network:``
        self.busy: tuple[str, ...] = ()  # patrol.yaml ``busy:``
        self.tracing = TracingSettings()  # patrol.yaml ``tracing:``

    @classmethod
    def from_config(cls, config: Config, options: EngineOptions) -> PlaywrightEngine:
        browser = config.settings.browser  # checked at load
        headless = browser.headless and not options.headed
        engine = cls(browser.executable, headless=headless, extra_args=list(browser.args),
                     endpoint=_remote.endpoint_of(config))
        engine.page_settings, engine.network, engine.busy = browser.page, config.settings.network, config.settings.busy
        engine.tracing = config.settings.tracing
        return engine

    async def start(self) -> None:
        if self.endpoint is not None:
            self._pw = await async_playwright().start()
            try:
                self.browser = await _remote.connect(self._pw, self.endpoint, headless=self.headless,
                                                     timeout_ms=self.connect_timeout_ms)
            except RobotError:
                await self._stop_pw()
                raise
        else:
            await self._launch()
        assert self.browser is not None
        self.version = self.browser.version
        self._crashed = False
        self.browser.on("disconnected", lambda _b: setattr(self, "_crashed", True))
        # A remote Chromium's pid is the server machine's: no use to this one's kernel.
        self._pid = None if self.endpoint is not None else await self._browser_pid()

    async def _launch(self) -> None:
        path = find_chromium(self.executable)
        try:
            self._pw = pw = await async_playwright().start()
            self.browser = await pw.chromium.launch(
                executable_path=path,
                headless=self.headless,
                args=ARGS + self.extra_args,
                timeout=60_000,
            )
        except PlaywrightError as e:
            await self._stop_pw()
            first = str(e).strip().splitlines()[0] if str(e).strip() else repr(e)
            raise BrowserNotFound(f"could not start Chromium at {path}: {first}") from None

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
        if self.endpoint is not None:
            return await _remote.answers(self.browser)
        # Killed a moment ago, before Playwright noticed the pipe close: ask the kernel.
        return self._pid is None or _process_alive(self._pid)

    async def answers(self) -> bool:
        """Chromium itself answers (a browser CDP session opened and closed): a browser
        whose process lives but hangs is no use to the next journey."""
        return await self.healthy() and self.browser is not None and await _remote.answers(self.browser)

    async def new_driver(self, journey: Journey) -> PlaywrightDriver:
        if self.browser is None or not await self.healthy():
            raise BrowserCrashed("Chromium is not running (it crashed or was killed)")
        d = journey.device
        settings = self.page_settings.under(journey.option("browser", PageSettings)).effective
        try:
            context = await self.browser.new_context(
                viewport={"width": d.width, "height": d.height},
                device_scale_factor=d.scale,
                is_mobile=d.mobile,
                has_touch=d.mobile,
                user_agent=d.user_agent,
                locale=settings.locale,
                timezone_id=settings.timezone,
                color_scheme=_SCHEMES[settings.color_scheme or "light"],
                reduced_motion="reduce",
                service_workers="block",
            )
            clock = journey.options.get("clock")
            if isinstance(clock, (int, float, str, datetime)):
                # Before the quiet watcher: it then wraps the clock's timers, which keep running.
                await context.clock.set_fixed_time(clock)
            await context.add_init_script(scripts.QUIET_INIT)
            await context.add_init_script(VITALS_INIT)
            tracer = Tracer(context, settings.trace or "off")
            await tracer.start(journey.name)
            page = await context.new_page()
        except PlaywrightError as e:
            raise BrowserCrashed(f"Chromium could not open a new tab: {e}") from None
        driver = PlaywrightDriver(self, context, page)
        driver.tracer = tracer
        driver.page_call_s = max(PAGE_CALL_MIN_S, journey.budgets.timeout_ms / 1000)
        network = self.network.under(journey.option("network", NetworkSettings))
        driver.busy_watch.selectors = self.busy + tuple(str(s) for s in journey.option("busy", tuple) or ())
        driver.busy_watch.policy = RequestPolicy.for_journey(journey.base_url, network.first_party, network.ignore)
        await driver.watch_network(network, RequestPolicy.for_journey(
            journey.base_url, network.first_party, network.ignore, network.block))
        own = journey.options.get("tracing")
        if self.tracing.under(own if isinstance(own, TracingSettings) else None).on:
            await driver.send_trace_context()
        return driver

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
    sees_scripts = True
    capabilities = WEB.offers  # frames, popups and windows, hover, drag, uploads, network evidence

    def __init__(self, engine: PlaywrightEngine, context: BrowserContext, page: Page):
        self.engine = engine
        self.context = context
        self.page = page  # the page every call works on (``switch_to`` changes it)
        self._events = DriverEvents()
        self._page_error_at: float | None = None  # when (monotonic) this step's first script error came
        self._inflight: set[Request] = set()  # requests sent and not yet finished or failed
        self.network = NetworkRecorder(NetworkSettings(), RequestPolicy())  # ``watch_network`` says which count
        self.sockets = SocketRecorder(probe=self._busy_on, navigated_since=self.network.navigated_since)
        self._cdp: CDPSession | None = None
        self._main = page
        self._pages: list[Page] = []  # open pages in the order they opened
        self._frames: list[Locator] = []  # ``within_frame`` nesting, outermost first
        self._dialog_answer: DialogAnswer | None = None
        self.tracer: Tracer | None = None
        self._trace: TraceContext | None = None  # the running step's (``tracing:``), set by the runner
        self.busy_watch = BusyWatch()
        self.vitals = VitalsReader()  # Web Vitals per step (``_vitals``), read with the screenshot
        self._step_vitals: PageVitals | None = None
        # The pointer rests where the last click left it, hovering what is there: parked
        # off the page before a screenshot, unless the journey put it there (``hover``).
        self._pointer = "parked"  # parked | incidental | intended
        # A page that stops answering (runner/hang.py): how long a read of Patrol's own may
        # wait for it (the hard timeout, at least PAGE_CALL_MIN_S), the probe's CDP session, its dialogs.
        self.page_call_s = 15.0
        self._screen_changes: int | None = None  # as of the last page_busy read
        self._probe: tuple[Page, CDPSession] | None = None
        self._script_at: ScriptLocation | None = None  # where the page's script was when paused
        self._robot_scripts: set[str] = set()  # script ids of Playwright's and Patrol's own (Debugger.scriptParsed)
        self._script_urls: dict[str, str] = {}  # the app's scripts: id -> url
        self._unexpected_dialogs = 0
        self._last_dialog: dict[str, str] | None = None
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
        page.on("console", self.network.on_console)
        page.on("websocket", self.network.on_websocket)
        page.on("websocket", lambda ws: self.sockets.on_websocket(page, ws))
        page.on("dialog", self._on_dialog)
        page.on("request", self.busy_watch.on_request)
        page.on("requestfinished", self.busy_watch.on_done)
        page.on("requestfailed", self.busy_watch.on_done)
        page.on("close", self._on_close)

    def _on_close(self, page: Page) -> None:
        if page in self._pages:
            self._pages.remove(page)
        if page is self.page and page is not self._main:
            self._use(self._main)  # a popup that closed itself: the customer is back on the main window

    def _on_page_error(self, page: Page, error: PlaywrightError) -> None:
        if self._page_error_at is None:
            self._page_error_at = time.monotonic()
        self._events.page_errors.append(PageError(str(error), mask_url(page.url), self.network.now_ms()))

    async def _on_dialog(self, dialog: Dialog) -> None:
        """Answer as the journey armed it (``dialog:``); unarmed, dismiss as Playwright
        would without a listener. A dialog whose words are not the expected ones is
        dismissed: never confirm a transfer whose text is wrong."""
        answer = self._dialog_answer
        message = dialog.message
        matched = answer is None or answer.matches(message)
        accept = answer is not None and answer.accept and matched
        if answer is None or not matched:
            self._unexpected_dialogs += 1
        self._last_dialog = {"type": dialog.type, "message": message}
        if len(self._events.dialogs) < MAX_DIALOGS_KEPT:  # a page calling alert() in a loop sends thousands
            self._events.dialogs.append(DialogRecord(
                type=dialog.type, message=message, answer="accepted" if accept else "dismissed",
                armed=answer is not None, expected=answer.text if answer else None, matched=matched))
        try:
            if accept:
                await dialog.accept(answer.prompt if answer and answer.prompt is not None else "")
            else:
                await dialog.dismiss()
        except PlaywrightError:
            pass  # the page went away with its dialog

    # Every request of every type goes to the network recorder (``_network``): the
    # step's complete network evidence, and which failures are the app's own.
    def _on_request(self, request: Request) -> None:
        self._inflight.add(request)
        self.network.on_request(request)

    def _on_request_finished(self, request: Request) -> None:
        self._inflight.discard(request)
        self.network.on_finished(request)

    def _on_request_failed(self, request: Request) -> None:
        self._inflight.discard(request)
        self.network.on_failed(request)

    def _on_response(self, response: Response) -> None:
        self.network.on_response(response)

    async def watch_network(self, settings: NetworkSettings, policy: RequestPolicy) -> None:
        """Which requests are the app's own, and the ``network.block`` ones never sent
        (aborted before they leave the browser; recorded as blocked). Called before the
        journey's first step."""
        self.network.settings, self.network.policy = settings, policy
        self.sockets.policy = policy
        # Who closed each WebSocket, with which code: the page says (``_websocket.CLOSE_HOOK``).
        try:
            await self.context.expose_binding(BINDING, self.sockets.on_page_close)
            await self.context.add_init_script(CLOSE_HOOK)
        except PlaywrightError as e:
            raise BrowserCrashed(f"Chromium went away while a tab was being prepared: {first_line(e)}") from None
        for glob in policy.block:
            await self.context.route(glob_pattern(glob), _abort_blocked)

    # -- trace context (``tracing:``) ------------------------------------------------
    def trace_with(self, context: TraceContext | None) -> None:
        """The running step's trace context: the app's own requests carry it from now on."""
        self._trace = context

    def _traced(self, url: str) -> TraceContext | None:
        """The trace context a request to ``url`` goes with: only the app's own (the site the
        recorder knows by now) and ``tracing.allow_origins``, never a third party."""
        context = self._trace
        return context if context is not None and context.sends_to(url, self.network.policy) else None

    async def send_trace_context(self) -> None:
        """Route the app's own requests through Patrol to add traceparent, tracestate and
        baggage (routed last, so it runs first and hands on to ``network.block``); the network
        evidence records which trace and span each request was sent in."""
        self.network.traced = self._traced
        await self.context.route(lambda url: self._traced(url) is not None, self._add_trace_headers)

    async def _add_trace_headers(self, route: Route, request: Request) -> None:
        context = self._traced(request.url)
        try:
            if context is None:  # the step changed while the request was on its way here
                await route.fallback()
            else:
                await route.fallback(headers={**request.headers, **context.headers()})
        except PlaywrightError:
            pass  # the page went away meanwhile

    def failure_seen(self) -> bool:
        return self.network.broken() or bool(self._events.page_errors) or self.sockets.failing_since() is not None

    def failed_at(self) -> float | None:
        times = [t for t in (self.network.broken_at(), self._page_error_at, self.sockets.failing_since()) if t is not None]
        return min(times) if times else None

    def drain_events(self) -> DriverEvents:
        events, self._events, self._page_error_at = self._events, DriverEvents(), None
        events.requests, events.console = self.network.drain()
        events.websockets = self.sockets.drain()
        self._step_vitals = self.vitals.step_done()
        return events

    def step_vitals(self) -> PageVitals | None:
        return self._step_vitals

    # -- locators --------------------------------------------------------------------
    def _locator(self, loc: Locator) -> PwLocator:
        """The one element an action works on: strict, as Playwright's locators are (a
        selector matching several is ``ambiguous_locator`` in ``_guard``) unless the
        step said which (``nth``/``first``)."""
        return self._every(loc)

    def _every(self, loc: Locator) -> PwLocator:
        """Every element the locator matches (narrowed by ``nth``/``first``), inside the
        frames ``within_frame`` entered."""
        found = self._root().locator(_selector(loc))
        if loc.nth is not None:
            return found.nth(loc.nth - 1)
        return found.first if loc.first else found

    def _root(self) -> Page | FrameLocator:
        root: Page | FrameLocator = self.page
        for frame in self._frames:
            inner = root.frame_locator(_selector(frame))
            root = inner.nth(frame.nth - 1) if frame.nth is not None else inner.first if frame.first else inner
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
            busy = await self.busy_state()
            if busy is not None:  # the element never came because the page never finished loading
                raise ActionFailed(f"{what}: still loading after {timeout_ms / 1000:.1f}s ({describe_busy(busy)})",
                                   reason=Reason.SPINNER_STUCK, evidence=dict(busy), kind=Kind.STALL) from None
            raise ActionFailed(f"{what}: timed out after {timeout_ms / 1000:.1f}s", reason=Reason.ACTION_TIMEOUT) from None
        except PlaywrightError as e:
            if not await self.engine.healthy() or _browser_gone(e):
                raise BrowserCrashed(f"Chromium went away during '{what}': {first_line(e)}") from None
            raise ambiguous(what, str(e)) or ActionFailed(f"{what}: {first_line(e)}", reason=Reason.ACTION_FAILED) from None

    async def goto(self, url: str, *, timeout_ms: float) -> None:
        await self._guard(f"open {url}", self.page.goto(url, timeout=timeout_ms, wait_until="load"), timeout_ms)

    async def click(self, locator: Locator, *, timeout_ms: float) -> None:
        # ``text``/``point`` locators never get here: the click action finds them on the
        # screenshot and calls tap_point (``_locator`` refuses them as bad_locator).
        self._pointer = "incidental"
        await self._guard(f"click {locator.describe()}", self._locator(locator).click(timeout=timeout_ms), timeout_ms)

    async def hover(self, locator: Locator, *, timeout_ms: float) -> None:
        await self._guard(f"hover over {locator.describe()}", self._locator(locator).hover(timeout=timeout_ms), timeout_ms)
        self._pointer = "intended"  # the journey wants what the hover shows: it stays

    async def upload(self, locator: Locator, files: list[str], *, timeout_ms: float) -> None:
        await self._guard(f"upload into {locator.describe()}",
                          self._locator(locator).set_input_files(files, timeout=timeout_ms), timeout_ms)

    async def drag(self, source: Locator, target: Locator, *, timeout_ms: float) -> None:
        self._pointer = "incidental"
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
        self._pointer = "incidental"
        await self._guard("click on screen", self.page.mouse.click(x / scale, y / scale), timeout_ms)

    async def _read(self, script: str, arg: object = None) -> object:
        """One of Patrol's own read-only page scripts, as ``page.evaluate`` answers it (plain
        JSON: the callers read it with ``_page_scripts``' checked readers). While a
        trace records, over the page's CDP session instead: the trace would keep every
        ``evaluate`` as an action with DOM snapshots before and after it (most of tracing's
        cost), and these reads are Patrol looking, not the journey acting."""
        if self.tracer is None or not self.tracer.recording:
            return await self._answer(self.page.evaluate(script, arg))
        if self._cdp is None:
            self._cdp = await self._answer(self.context.new_cdp_session(self.page))
        reply = await self._answer(self._cdp.send("Runtime.evaluate", {"expression": f"({script})({json.dumps(arg)})",
                                                                       "returnByValue": True}))
        if "exceptionDetails" in reply:
            raise PlaywrightError(str(reply["exceptionDetails"].get("text", "page script failed")))
        return reply.get("result", {}).get("value")

    async def _answer(self, call: Awaitable[T]) -> T:
        """A call into the page that has no timeout of its own (an evaluate, a count),
        bounded: a page whose script never yields would hold it forever. Past the bound,
        a PlaywrightError, as for a page that went away."""
        try:
            return await asyncio.wait_for(call, self.page_call_s)
        except TimeoutError:
            raise PlaywrightError(f"the page did not answer within {self.page_call_s:g}s") from None

    async def _scale(self) -> float:
        return float(await self._answer(self.page.evaluate("window.devicePixelRatio")))

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
        """Any match visible: an assertion about what is on screen, not an action on one element."""
        try:
            return await self._answer(self._every(locator).filter(visible=True).count()) > 0
        except PlaywrightError:
            return False

    async def current_url(self) -> str:
        return self.page.url

    async def screenshot(self) -> bytes:
        try:
            shot = await self._plain_capture()
            if shot is None:
                shot = await self.page.screenshot(type="png", animations="disabled", caret="hide",
                                                  timeout=self.page_call_s * 1000)
            return shot
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
            read = scripts.pair(await self._read(_PLAIN_SCREEN_AND_VITALS_JS, self.vitals.arg()))
            if read is None:
                return None
            plain, vitals = read
            self.vitals.seen(vitals)
            if not plain:
                return None
            if self._cdp is None:
                self._cdp = await self.context.new_cdp_session(self.page)
            shot = await asyncio.wait_for(
                self._cdp.send("Page.captureScreenshot", {"format": "png", "optimizeForSpeed": True}), 15)
            return base64.b64decode(shot["data"])
        except (PlaywrightError, TimeoutError):
            return None

    async def busy_indicator_visible(self) -> bool:
        return bool(await self._busy_indicators())

    async def _busy_indicators(self) -> list[str]:
        try:
            return as_texts(await self._read(_BUSY_INDICATORS_JS, list(self.busy_watch.selectors)))
        except PlaywrightError:
            return []

    async def _busy_on(self, page: object) -> bool:
        """A loading indicator on ``page`` now (asked about a page whose WebSocket is down or silent)."""
        return page is self.page and bool(await self._busy_indicators())

    async def busy_state(self) -> BusyState | None:
        asked = time.monotonic()
        indicators = await self._busy_indicators()
        answered_s = time.monotonic() - asked
        if answered_s >= SLOW_ANSWER_S:
            # A page too busy to answer a short read (a huge document parsing on a loaded
            # machine) is still working: what the step waited for may simply not have come yet.
            indicators = [*indicators, f"the page took {answered_s:.1f}s to answer a short read"]
        pending = self.busy_watch.pending()
        if indicators:
            silent = self.sockets.silent()
            state: BusyState = {"busy": indicators, "pending_requests": pending}
            if silent:
                state["silent_websockets"] = silent
            return state
        if pending and await self._screen_still():
            return {"busy": ["the screen did not change while the app's own requests were pending"],
                    "pending_requests": pending}
        return None

    async def _screen_still(self) -> bool:
        try:
            before = await self.screenshot()
            await asyncio.sleep(STILL_GAP_S)
            return before == await self.screenshot()
        except RobotError:
            return False

    async def save_trace(self, path: Path, failed: bool) -> bool:
        if self.tracer is None:
            return False
        try:
            return await self.tracer.save(path, failed)
        except PlaywrightError:
            return False  # the browser went away with its trace

    async def texts_of(self, locator: Locator) -> list[str]:
        try:
            return await self._answer(self._every(locator).all_inner_texts())
        except PlaywrightError:
            return []

    async def attributes_of(self, locator: Locator, name: str) -> list[str | None]:
        try:
            values: list[str | None] = await self._answer(self._every(locator).evaluate_all(
                "(els, name) => els.map(e => e.getAttribute(name))", name))
            return values
        except PlaywrightError:
            return []

    async def values_of(self, locator: Locator) -> list[str]:
        try:
            values: list[str] = await self._answer(
                self._every(locator).evaluate_all("els => els.map(e => String(e.value ?? ''))"))
            return values
        except PlaywrightError:
            return []

    async def element_boxes(self, locators: list[Locator]) -> list[Box]:
        selectors = [loc.value if loc.strategy == "css" else f'[id="{loc.value}"]' for loc in locators]
        try:
            read = scripts.pair(await self._read(_ELEMENT_BOXES_JS, selectors))
        except PlaywrightError:
            read = None
        ratio, found = read if read is not None else (None, None)
        scale = ratio if isinstance(ratio, (int, float)) else await self._scale()
        rows = found if isinstance(found, list) else [None] * len(selectors)
        boxes: list[Box] = []
        for selector, rects in zip(selectors, rows):
            read_rects = [r for r in map(scripts.numbers4, rects) if r is not None] if isinstance(rects, list) else None
            for r in read_rects if read_rects is not None else await self._playwright_boxes(selector):
                # Each edge rounded to the nearest device pixel, as the committed baselines were painted.
                x, y, w, h = (int(round(v * scale)) for v in r)
                boxes.append(Box(x, y, w, h))
        return boxes

    async def _playwright_boxes(self, selector: str) -> list[tuple[float, float, float, float]]:
        """CSS-pixel boxes of what Playwright's selector engine matches (slower: two calls per element)."""
        rects: list[tuple[float, float, float, float]] = []
        try:
            for handle in await self._answer(self.page.locator(selector).all()):
                box = await self._answer(handle.bounding_box())
                if box:
                    rects.append((box["x"], box["y"], box["width"], box["height"]))
        except PlaywrightError:
            pass
        return rects

    async def environment(self) -> ScreenEnvironment:
        size = self.page.viewport_size or {"width": 0, "height": 0}
        return {"browser": f"chromium {self.engine.version}", "viewport": (size["width"], size["height"]), "scale": await self._scale()}

    async def text_boxes(self, text: str) -> list[Box]:
        try:
            return scripts.boxes(await self._read(_TEXT_BOXES_JS, text))
        except PlaywrightError:
            return []

    async def text_boxes_each(self, texts: Sequence[str]) -> list[list[Box]]:
        try:
            found = await self._read(_TEXT_BOXES_EACH_JS, list(texts))
        except PlaywrightError:
            return [[] for _ in texts]
        return scripts.boxes_each(found)

    async def picture_and_text_boxes(self, texts: Sequence[str]) -> tuple[list[Box] | None, list[list[Box]]]:
        try:
            read = scripts.pair(await self._read(_PICTURE_AND_TEXT_BOXES_JS, list(texts)))
        except PlaywrightError:
            return None, []
        if read is None:
            return None, []
        pictures, found = read
        return scripts.boxes(pictures), scripts.boxes_each(found)

    async def picture_boxes(self) -> list[Box] | None:
        try:
            return scripts.boxes(await self._read(_PICTURE_BOXES_JS))
        except PlaywrightError:
            return None

    async def broken_images(self) -> list[dict[str, object]]:
        try:
            return as_objects(await self._read(_BROKEN_IMAGES_JS))
        except PlaywrightError:
            return []

    async def screen_layout(self) -> ScreenLayout | None:
        try:
            text = await self._read(_SCREEN_LAYOUT_JS)
        except PlaywrightError:
            return None
        return ScreenLayout.from_json(text) if isinstance(text, str) else None

    async def text_layout(self, ignore: Sequence[str]) -> list[dict[str, object]] | None:
        try:
            found = await self._read(_TEXT_LAYOUT_JS, {"ignore": list(ignore)})
        except PlaywrightError:
            return None
        return as_objects(found) if isinstance(found, list) else None

    async def prepare_for_screenshot(self) -> None:
        try:
            await self._answer(self.page.evaluate(_ADD_STILL_CSS_JS, _STILL_CSS))
            await self._park_pointer()
        except PlaywrightError:
            pass

    async def _park_pointer(self) -> None:
        """Move the pointer off the page (no hover, no mousemove inside it), so an element
        that happens to lie under the last click looks the same in every run."""
        if self._pointer == "incidental":
            await self._answer(self.page.mouse.move(-1, -1))
            self._pointer = "parked"

    async def page_busy(self, horizon_ms: float) -> list[str] | None:
        busy = ["network"] if self._inflight else []
        self._screen_changes = None
        try:
            state = scripts.pair(await self._read(_PAGE_BUSY_JS, horizon_ms))
        except PlaywrightError:
            return None
        if state is None:
            return None
        pending, changes = state
        self._screen_changes = changes if isinstance(changes, int) else None
        return busy + [str(p) for p in pending] if isinstance(pending, list) else None

    def screen_changes(self) -> int | None:
        return self._screen_changes

    # -- a page that stops answering (runner/hang.py) ----------------------------------
    async def answers(self) -> bool | None:
        """A trivial script over CDP (not traced, not Playwright's utility world): the
        renderer runs it between the page's own tasks, so a script that never yields (or
        a dialog left open) keeps it waiting."""
        try:
            session = await self._probe_session()
            await session.send("Runtime.evaluate", {"expression": "1", "returnByValue": True})
        except PlaywrightError:
            self._probe = None  # the page closed or navigated away: not frozen, ask the new one next time
        return True

    async def _probe_session(self) -> CDPSession:
        """The page's probe session, with the debugger on (from the first probe, while the
        page still answers: enabling it later would wait for the page) so that a script
        that never ends can be interrupted to say where it is; breakpoints and the app's
        own ``debugger;`` statements stay inactive."""
        page = self.page
        if self._probe is None or self._probe[0] is not page:
            session = await self.context.new_cdp_session(page)
            session.on("Debugger.paused", lambda event: self._on_paused(session, event))
            session.on("Debugger.scriptParsed", self._on_script)
            await session.send("Debugger.enable")
            await session.send("Debugger.setBreakpointsActive", {"active": False})
            self._probe = (page, session)
        return self._probe[1]

    def _on_script(self, event: dict[str, object]) -> None:
        """Which scripts are the app's own: Playwright's (its isolated world, its evaluations
        of Patrol's reads) are the robot looking, however long they take on a huge page."""
        context = event.get("executionContextAuxData")
        default = context.get("isDefault", True) if isinstance(context, dict) else True
        url = str(event.get("url", ""))
        if not default or "__playwright" in url or url.startswith(ROBOT_SCRIPT_PREFIX):
            self._robot_scripts.add(str(event.get("scriptId")))
        elif url:
            self._script_urls[str(event.get("scriptId"))] = url

    def _on_paused(self, session: CDPSession, event: dict[str, object]) -> None:
        """Paused at Patrol's request: where the app's script was, then on at once. The
        app's when its code is on the stack (a file or the document: Patrol's timer
        wrappers call the app's callbacks, eval'd code is called from the app's) and the
        code running is not the robot's (Playwright's queries walking a huge DOM)."""
        frames = as_objects(event.get("callFrames")) or [{}]
        self._script_at = None
        if str(_location(frames[0]).get("scriptId")) not in self._robot_scripts:
            for frame in frames:
                location = _location(frame)
                url = self._script_urls.get(str(location.get("scriptId")))
                if url:
                    self._script_at = {"function": str(frame.get("functionName") or "(anonymous)"),
                                       "url": mask_url(url), "line": int(json_number(location, "lineNumber") or 0) + 1}
                    break
        task = asyncio.ensure_future(session.send("Debugger.resume"))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())  # a page gone meanwhile

    async def script_running(self, within_s: float) -> ScriptLocation | None:
        """Interrupt the page's script (V8 takes a pause request between two statements,
        whatever the main thread is doing in JavaScript): where it was, or None when no
        script ran within ``within_s`` (the page is laying out or parsing, not looping)."""
        if self._probe is None or self._probe[0] is not self.page:
            return None
        self._script_at = None
        try:
            await asyncio.wait_for(self._probe[1].send("Debugger.pause"), within_s)
        except (PlaywrightError, TimeoutError):
            return None
        end = time.monotonic() + within_s
        while self._script_at is None and time.monotonic() < end:
            await asyncio.sleep(0.02)
        return self._script_at

    def dialogs_seen(self) -> int:
        return self._unexpected_dialogs

    def last_dialog(self) -> dict[str, str] | None:
        return self._last_dialog

    async def last_screen(self) -> bytes | None:
        """Chromium composites a frame only when the page's main thread commits one, so
        a frozen page usually gives nothing within a moment (None: the runner keeps the
        last screenshot it stored)."""
        try:
            session = await asyncio.wait_for(self.context.new_cdp_session(self.page), LAST_FRAME_S)
            shot = await asyncio.wait_for(session.send("Page.captureScreenshot", {"format": "png"}), LAST_FRAME_S)
            return base64.b64decode(shot["data"])
        except (PlaywrightError, TimeoutError, KeyError):
            return None

    async def abandon_page(self) -> None:
        """A fresh tab in the same context (cookies and storage kept, for teardown), then
        the hung ones closed without their unload handlers: Chromium ends their renderer."""
        hung = list(self._pages)
        try:
            fresh = await asyncio.wait_for(self.context.new_page(), 15)
        except (PlaywrightError, TimeoutError) as e:
            raise BrowserCrashed(f"Chromium could not open a new tab after the page stopped answering: {e}") from None
        self._watch(fresh)
        self._main, self._probe, self._cdp = fresh, None, None
        self._use(fresh)
        for page in hung:
            try:
                await asyncio.wait_for(page.close(run_before_unload=False), 10)
            except (PlaywrightError, TimeoutError):
                pass  # the engine's health check decides whether Chromium itself still answers

    async def send_in_session(self, call: HttpCall, *, timeout_ms: float) -> HttpAnswer:
        """A ``request: {session: browser}`` step: sent with the context's request API, so
        it carries (and keeps) the cookies of the pages the journey opened."""
        headers = dict(call.headers)
        data: str | None = None
        if call.has_json:
            data = json.dumps(call.json)
            if not any(k.lower() == "content-type" for k in headers):
                headers["Content-Type"] = "application/json"
        t0 = time.monotonic()
        try:
            response = await self.context.request.fetch(
                call.url, method=call.method, headers=headers, data=data,
                form=dict(call.form) if call.form is not None else None,
                timeout=timeout_ms, fail_on_status_code=False)
            try:
                body = await response.body()
                answer = HttpAnswer(response.status, {h["name"].lower(): h["value"] for h in response.headers_array},
                                    body, response.url, (time.monotonic() - t0) * 1000)
            finally:
                await response.dispose()
        except PlaywrightError as e:
            text = first_line(str(e))
            raise HttpFailed(text, unreachable=any(w in text for w in ("ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN"))) from None
        return answer

    async def close(self) -> None:
        await self.sockets.close()
        try:
            await self.context.close()
        except Exception:
            pass


async def _abort_blocked(route: Route) -> None:
    """A ``network.block`` request: never sent (the page sees a client-blocked load)."""
    try:
        await route.abort("blockedbyclient")
    except PlaywrightError:
        pass  # the page went away meanwhile


def _location(frame: dict[str, object]) -> dict[str, object]:
    """A CDP call frame's ``location`` (scriptId, lineNumber); {} when it has none."""
    return as_object(frame.get("location"))


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
