"""App driver: an Appium server (local, a grid or a device cloud) through the Appium
Python client. One ``AppiumEngine`` per run, one Appium session per journey.

Where the server is: ``PATROL_APPIUM_URL`` wins, else ``patrol.yaml``::

    appium:
      url: http://127.0.0.1:4723     # default server
      session_timeout: 5m            # creating a session (installing the app, booting a simulator)
      command_timeout: 60s           # one command; a device silent for longer is lost
      devices:                       # named devices journeys pick with `appium_device: NAME`
        pixel-8:
          url: http://grid.example:4444/wd/hub       # optional: another server, grid, device cloud
          capabilities: {platformName: Android, appium:udid: emulator-5554}

Two kinds of session, one interface, the strategy chosen once when the session starts:
- native apps (``appium_native``: UiAutomator2, XCUITest, Espresso...): locators ``id``,
  ``accessibility_id``, ``xpath``, ``uiautomator``, ``ios_predicate``; taps, swipes and
  scrolls are W3C pointer actions (touch); the app's state is watched (``app_watcher``:
  it left the foreground, crashed, a system dialog came on top);
- browser sessions (``appium_web``: the chromium driver on this machine, Chrome on
  Android, Safari on iOS): the same plus ``css``, URLs, and the page's failed requests
  and uncaught errors from Chrome's logs.
Both watch for a screen that stays frozen while something waits for it to change.

Text on screen (``{text: 转账}``) and ``{point: [x, y]}`` are found by the tap action (OCR
of the screenshot) and reach this driver as ``tap_point`` in screenshot pixels.

What is the robot's fault is a ``RobotError`` (exit 3), never a finding: the server is
unreachable (``AppiumUnreachable``), the session could not be created
(``SessionNotCreated``, the capabilities echoed with secrets masked), the session or
device went away mid-run (``DeviceLost``).
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Concatenate, ParamSpec, TypeVar

import httpx
from selenium.common.exceptions import NoSuchElementException, TimeoutException, WebDriverException

from ...config.resolve import resolve_tree, resolve_url
from ...core.evidence import DialogRecord
from ...core.geometry import Box
from ...core.layout import ScreenLayout
from ...core.vocabulary import Kind, Reason, Target
from ...errors import ActionFailed, AppiumUnreachable, ConfigError, RobotError, SessionNotCreated
from ...journey.model import Journey, Locator
from ...secrets import MASKER
from ..base import DialogAnswer, Driver, DriverEvents, Engine, EngineOptions, ScreenEnvironment
from ..chromium import find_chromium
from . import _appium_support as sup
from .app_network import AppCapture
from .app_watcher import Watcher
from .appium_native import AndroidStrategy, IOSStrategy, NativeStrategy
from .appium_session import POLL_S, AppiumSession, off_loop, returned_capabilities
from .appium_web import WebStrategy

if TYPE_CHECKING:
    from appium.webdriver.webdriver import WebDriver
    from appium.webdriver.webelement import WebElement

    from ...config import Config
    from ...config.sections import AppiumDevice
    from ...core.tracecontext import TraceContext

DEFAULT_URL = "http://127.0.0.1:4723"
# How often ``answers`` looks whether the calls it waits on came back.
ANSWER_POLL_S = 0.05
P = ParamSpec("P")
T = TypeVar("T")
# Found on the screenshot by the tap action (OCR), never by the driver.
SCREEN_LOCATORS = ("text", "point")


@dataclass(frozen=True)
class DeviceEntry:
    """A patrol.yaml ``appium.devices`` entry, its ``${...}`` resolved."""

    url: str | None  # another server, grid or device cloud; None: the engine's
    capabilities: sup.Capabilities


class AppiumEngine(Engine):
    """The connection settings for a run; sessions are made per journey."""

    name = "appium"

    def __init__(self, url: str = DEFAULT_URL, url_source: str = "default",
                 devices: dict[str, DeviceEntry] | None = None, session_timeout_ms: float = 300_000,
                 command_timeout_ms: float = 60_000, headed: bool = False) -> None:
        self.url = url.rstrip("/")
        self.url_source = url_source
        self.devices = devices or {}
        self.session_timeout_ms = session_timeout_ms
        self.command_timeout_ms = command_timeout_ms
        self.headed = headed
        self.config: Config | None = None
        self.version = ""
        self._reachable: dict[str, str] = {}  # url -> server version, once it answered

    # -- configuration --------------------------------------------------------------------
    @classmethod
    def from_config(cls, config: Config, options: EngineOptions) -> AppiumEngine:
        section = config.settings.appium  # checked at load; ${...} resolved here
        url, source = DEFAULT_URL, "the default"
        if section.url is not None:
            url = resolve_url(config, ("appium", "url"), section.url, sup.mask_url).rstrip("/")
            source = "patrol.yaml appium.url"
        env = os.environ.get("PATROL_APPIUM_URL")
        if env:
            if not env.startswith(("http://", "https://")):
                raise ConfigError(f"PATROL_APPIUM_URL={sup.mask_url(env)!r}: expected an http:// or https:// URL")
            url, source = env, "PATROL_APPIUM_URL"
        devices = _config_devices(config, section.devices)
        engine = cls(url, source, devices, section.session_timeout_ms, section.command_timeout_ms,
                     headed=options.headed)
        engine.config = config
        return engine

    async def start(self) -> None:
        # Nothing to start: servers are checked when a journey needs one (a run may only
        # use device-cloud entries, and the default server need not exist then).
        self._reachable.clear()

    async def close(self) -> None:
        self._reachable.clear()

    async def healthy(self) -> bool:
        return True

    # -- sessions -------------------------------------------------------------------------
    def session_plan(self, journey: Journey) -> tuple[str, str, sup.Capabilities]:
        """(server URL, where the URL came from, capabilities to send) for a journey."""
        opts = journey.options
        device_name = journey.text_option("appium_device")
        url, source = self.url, self.url_source
        layers: list[Mapping[str, object]] = []
        if device_name:
            device = self.devices.get(device_name)
            if device is None:
                known = ", ".join(sorted(self.devices)) or "none"
                raise SessionNotCreated(
                    f"the journey names appium_device '{device_name}' but patrol.yaml appium.devices has no such "
                    f"entry (known: {known})")
            if device.url:
                url, source = device.url, f"patrol.yaml appium.devices.{device_name}.url"
            layers.append(device.capabilities)
        if "capabilities" not in opts and not device_name:
            raise SessionNotCreated(
                "an app journey needs 'capabilities:' (platformName, appium:automationName, appium:app...) "
                "or 'appium_device:' naming a patrol.yaml appium.devices entry")
        layers.append(journey.option("capabilities", dict) or {})
        caps = sup.merge(*layers)
        if sup.is_chromium_driver(caps):
            try:
                chromium = find_chromium(self.config.settings.browser.executable if self.config else None)
            except RobotError:
                chromium = None
            caps = sup.chromium_defaults(caps, journey.device, headed=self.headed, chromium=chromium,
                                         chromedriver=sup.find_chromedriver())
        return url.rstrip("/"), source, caps

    async def _check_server(self, url: str, source: str) -> None:
        if url in self._reachable:
            return
        where = f"{sup.mask_url(url)} (from {source})"
        try:
            async with httpx.AsyncClient(timeout=10.0) as client:
                r = await client.get(f"{url}/status")
        except httpx.HTTPError as e:
            raise AppiumUnreachable(
                f"cannot reach the Appium server at {where}: {sup.reason(e)}. Start one (`appium --address 127.0.0.1 "
                f"--port 4723`; `make appium` installs Appium 3 into .appium/) or point PATROL_APPIUM_URL at yours"
            ) from None
        version = ""
        try:
            version = str(((r.json() or {}).get("value") or {}).get("build", {}).get("version", ""))
        except (ValueError, AttributeError):
            pass
        self._reachable[url] = version
        self.version = self.version or version

    async def new_driver(self, journey: Journey) -> AppiumDriver:
        url, source, caps = self.session_plan(journey)
        await self._check_server(url, source)
        # appium.network.capture: the journey's listener on the capture proxy (None: off, as before).
        capture = await AppCapture.open(self.config, journey)
        try:
            if capture is not None and sup.is_chromium_driver(caps):
                caps = capture.browser_capabilities(caps)  # this machine's Chrome: Patrol points it at the proxy
            session = await asyncio.to_thread(self._create_session, url, source, caps)
        except BaseException:
            if capture is not None:
                await capture.close()
            raise
        driver = AppiumDriver(self, session, caps, journey, url, capture)
        try:
            await driver.setup()
        except BaseException:
            await driver.close()
            raise
        return driver

    def _create_session(self, url: str, source: str, caps: sup.Capabilities) -> WebDriver:
        # the Appium client takes ~300 ms to import: loaded with the first session, not with the engine
        from appium import webdriver
        from appium.options.common import AppiumOptions
        from appium.webdriver.client_config import AppiumClientConfig

        options = AppiumOptions()
        options.load_capabilities(caps)
        client = AppiumClientConfig(remote_server_addr=url, timeout=max(30.0, self.session_timeout_ms / 1000),
                                    keep_alive=True)
        try:
            return webdriver.Remote(url, options=options, client_config=client)
        except Exception as e:
            if sup.is_connection_error(e):
                self._reachable.pop(url, None)
                raise AppiumUnreachable(f"the Appium server at {sup.mask_url(url)} (from {source}) went away while "
                                        f"creating the session: {sup.reason(e)}") from None
            message = MASKER.mask(sup.server_message(e))
            raise SessionNotCreated(
                f"Appium at {sup.mask_url(url)} could not create a session: {message}\n"
                f"capabilities sent: {sup.caps_text(caps)}"
            ) from None


def strategy_for(session: WebDriver, caps: sup.Capabilities, *, server_url: str,
                 command_timeout_s: float) -> AppiumSession:
    """The one decision between a browser and a native app (and which native platform)."""
    if sup.is_browser_session(caps):
        return WebStrategy(session, caps, server_url=server_url, command_timeout_s=command_timeout_s)
    returned = returned_capabilities(session)
    platform = str(returned.get("platformName") or caps.get("platformName") or "").lower()
    cls = {"android": AndroidStrategy, "ios": IOSStrategy}.get(platform, NativeStrategy)
    return cls(session, caps, server_url=server_url, command_timeout_s=command_timeout_s)


def answers_alerts(
    action: Callable[Concatenate[AppiumDriver, P], Coroutine[object, None, T]],
) -> Callable[Concatenate[AppiumDriver, P], Coroutine[object, None, T]]:
    """An action of a journey that armed a ``dialog:``: an alert open before it is
    answered first (it would block the action), one it opened is answered after it."""

    async def wrapper(self: AppiumDriver, /, *args: P.args, **kwargs: P.kwargs) -> T:
        await self.answer_open_alert()
        result = await action(self, *args, **kwargs)
        await self.answer_open_alert()
        return result

    functools.update_wrapper(wrapper, action)  # the name and doc stay the action's
    return wrapper


class AppiumDriver(Driver):
    """The ``Driver`` interface over one Appium session: the strategy does what differs
    between a native app and a browser, the watcher looks behind the screen."""

    platform = Target.APP

    def __init__(self, engine: AppiumEngine, session: WebDriver, caps: sup.Capabilities, journey: Journey, url: str,
                 capture: AppCapture | None = None) -> None:
        self.engine = engine
        self.session = session
        self.journey = journey
        self.s = strategy_for(session, caps, server_url=url,
                              command_timeout_s=max(5.0, engine.command_timeout_ms / 1000))
        self.web, self.touch, self.os = self.s.web, self.s.touch, self.s.os
        self.capabilities = self.s.capabilities
        self.watcher = Watcher(self.s.look, self.s.shot, self.s.busy)
        self.s.on_wait = self._on_wait
        self._closed = False
        self._dialog_answer: DialogAnswer | None = None
        self.capture = capture  # the app's requests and WebSockets through the capture proxy
        if capture is not None:
            capture.watch_busy(self.s.busy)

    @property
    def expected_app(self) -> str | None:
        """The app the journey expects in front (native Android/iOS), None when unwatched."""
        return self.s.expected_app

    async def setup(self) -> None:
        await self.s.setup(self.journey)

    async def _on_wait(self) -> None:
        """While an action waits: an alert is answered (when armed), a gone app ends the wait."""
        await self.answer_open_alert()
        await self.watcher.observe_during_wait()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await asyncio.wait_for(off_loop(self.session.quit), 30)
        except Exception:
            pass
        if self.capture is not None:
            await self.capture.close()

    def _element_locator(self, loc: Locator) -> None:
        if loc.strategy in SCREEN_LOCATORS:
            raise ActionFailed(f"{loc.describe()} is found on the screenshot by the tap action, not by the Appium "
                               "driver", reason=Reason.BAD_LOCATOR)

    # -- actions ----------------------------------------------------------------------------------
    @answers_alerts
    async def goto(self, url: str, *, timeout_ms: float) -> None:
        try:
            with self.s.webdriver_errors(f"open {url}", unsupported=f"opening {url}"):
                await self.s.goto(url, timeout_ms)
        except TimeoutException:
            raise self.s.fail(f"open {url}: timed out after {timeout_ms / 1000:.1f}s",
                              reason=Reason.ACTION_TIMEOUT) from None

    @answers_alerts
    async def click(self, locator: Locator, *, timeout_ms: float) -> None:
        self._element_locator(locator)
        deadline = time.monotonic() + timeout_ms / 1000

        async def tap() -> None:
            el = await self.s.find(locator, max(0.0, (deadline - time.monotonic()) * 1000))
            await self.s.call(f"tap {locator.describe()}", el.click)

        await self.s.retry(f"tap {locator.describe()}", tap, timeout_ms)

    @answers_alerts
    async def fill(self, locator: Locator, text: str, *, timeout_ms: float) -> None:
        self._element_locator(locator)
        deadline = time.monotonic() + timeout_ms / 1000

        async def type_in() -> None:
            el = await self.s.find(locator, max(0.0, (deadline - time.monotonic()) * 1000))
            await self.s.call(f"clear {locator.describe()}", el.clear)
            await self.s.call(f"type into {locator.describe()}", el.send_keys, text)

        await self.s.retry(f"fill {locator.describe()}", type_in, timeout_ms)

    @answers_alerts
    async def press(self, key: str, locator: Locator | None, *, timeout_ms: float) -> None:
        what = f"press {key}" + (f" in {locator.describe()}" if locator else "")
        char = sup.webdriver_key(key)
        with self.s.webdriver_errors(what):
            if locator is not None:
                self._element_locator(locator)
                if char is None:
                    raise self.s.fail(f"{what}: unknown key '{key}'", reason=Reason.BAD_KEY)
                el = await self.s.find(locator, timeout_ms)
                await self.s.call(what, el.send_keys, char)
            elif await self.s.press_key(key, char, what, timeout_ms):
                pass
            elif char is not None:
                await self.s.call(what, self.s.key_actions, char)
            else:
                raise self.s.fail(f"{what}: unknown key '{key}' (Enter, Tab, Escape, Backspace, Arrow*, Back, Home, "
                                  f"Search, AppSwitch, VolumeUp/Down, or one character)", reason=Reason.BAD_KEY)

    @answers_alerts
    async def select(self, locator: Locator, by: str, choice: str, *, timeout_ms: float) -> None:
        self._element_locator(locator)
        what = f"select {choice} in {locator.describe()}"
        el = await self.s.find(locator, timeout_ms)
        try:
            await self.s.select(el, by, choice, what, timeout_ms)
        except NoSuchElementException:
            raise self.s.fail(f"{what}: there is no option {choice!r}", reason=Reason.ELEMENT_NOT_FOUND) from None
        except WebDriverException as e:
            raise self.s.translate(what, e) from None

    @answers_alerts
    async def scroll(self, locator: Locator | None, dx: int, dy: int, *, timeout_ms: float) -> None:
        """W3C actions: touch swipes on a phone (native, or a browser emulating one), the
        mouse wheel in a desktop browser. ``scroll``/``swipe`` by (dx, dy) moves the
        content that far (the finger moves the other way); with a selector, swipes until
        the element is in view."""
        with self.s.webdriver_errors("scroll", unsupported="scrolling"):
            if locator is not None:
                self._element_locator(locator)
                await self.s.bring_into_view(locator, dy, timeout_ms)
            else:
                await self.s.scroll_by(dx, dy)

    @answers_alerts
    async def tap_point(self, x: float, y: float, *, timeout_ms: float) -> None:
        """Tap at screenshot pixel coordinates (words or points found on the screenshot)."""
        sx, sy = await self.s.scale_xy()
        with self.s.webdriver_errors(f"tap at ({x:.0f}, {y:.0f})", unsupported="tapping on screen"):
            await self.s.pointer([(x / sx, y / sy, 0), "down", "up"], "tap on screen")

    @answers_alerts
    async def wait_for(self, locator: Locator, state: str, *, timeout_ms: float) -> None:
        self._element_locator(locator)
        deadline = time.monotonic() + timeout_ms / 1000
        watch = self.watcher.freeze_watch()
        while not await self._state_is(locator, state):
            if time.monotonic() >= deadline:
                break
            await watch.sample()
            await self._on_wait()
            await asyncio.sleep(POLL_S)
        else:
            return
        evidence: dict[str, object] = {"locator": locator.describe(), "state": state, "waited_ms": timeout_ms}
        if watch.stalled:
            raise ActionFailed(
                f"the screen stayed frozen for {watch.seconds:.1f}s while waiting for {locator.describe()} to be "
                f"{state}: all {watch.samples} screenshots were identical",
                reason=Reason.FROZEN_SCREEN, kind=Kind.STALL, evidence={**evidence, "screenshots": watch.samples})
        reason = Reason.ELEMENT_NOT_FOUND if state in ("visible", "attached") else "element_still_there"
        raise self.s.fail(f"{locator.describe()} did not become {state} within {timeout_ms / 1000:.1f}s",
                          reason=reason, **evidence)

    async def _state_is(self, locator: Locator, state: str) -> bool:
        if state == "visible":
            return await self.s.first(locator, visible=True) is not None
        if state == "hidden":
            return await self.s.first(locator, visible=True) is None
        present = bool(await self.s.elements(locator))
        return present if state == "attached" else not present

    @answers_alerts
    async def back(self, *, timeout_ms: float) -> None:
        with self.s.webdriver_errors("back"):
            await self.s.call("back", self.session.back, timeout_s=timeout_ms / 1000 + 10)

    @answers_alerts
    async def app_control(self, command: str, app_id: str | None, *, timeout_ms: float) -> None:
        await self.s.app_control(command, app_id, timeout_ms)

    # -- dialogs ------------------------------------------------------------------------------------
    async def answer_dialogs(self, answer: DialogAnswer | None) -> None:
        """Arm how alerts (a native alert over the app, or a page's alert/confirm/prompt
        in a browser session) are answered, through the WebDriver alert API. One already
        open is answered now; later ones before and after every action and while an
        action or expectation waits. Unarmed (None), alerts are left alone: an action one
        blocks fails saying so."""
        self._dialog_answer = answer
        await self.answer_open_alert()

    async def answer_open_alert(self) -> None:
        """Answer the open alert as armed (nothing when unarmed or none is open): a
        dialog without the expected words is dismissed; each one is recorded."""
        answer = self._dialog_answer
        if answer is None:
            return
        message = await self.s.alert_text()
        if message is None:
            return
        matched = answer.matches(message)
        accept = answer.accept and matched
        typed = await self.s.answer_alert(accept, answer.prompt)
        self.watcher.events.dialogs.append(DialogRecord(
            # Appium cannot tell an alert from a confirm: a prompt is one that took text.
            type="prompt" if typed else "alert", message=MASKER.mask(message),
            answer="accepted" if accept else "dismissed", armed=True, expected=answer.text, matched=matched))

    # -- looking ----------------------------------------------------------------------------------
    async def is_visible(self, locator: Locator) -> bool:
        self._element_locator(locator)
        await self.answer_open_alert()
        visible = await self.s.first(locator, visible=True) is not None
        await self.watcher.observe()
        await self.watcher.expecting(locator.describe(), visible)
        return visible

    async def current_url(self) -> str:
        await self.watcher.observe()
        return await self.s.current_url()

    # Element assertions and ``store:`` read the UI tree: an element's text (a native
    # label's text, a web element's visible text), an attribute, a field's value.
    async def _displayed(self, locator: Locator) -> list[WebElement]:
        self._element_locator(locator)
        await self.answer_open_alert()
        return [el for el in (await self.s.elements(locator))[:50] if await self.s.displayed(el)]

    async def texts_of(self, locator: Locator) -> list[str]:
        return [str(await self.s.quiet("read text", _text_of, el, default="") or "")
                for el in await self._displayed(locator)]

    async def attributes_of(self, locator: Locator, name: str) -> list[str | None]:
        values = [await self.s.quiet(f"read {name}", el.get_attribute, name, default=None)
                  for el in await self._displayed(locator)]
        return [None if v is None else str(v) for v in values]

    async def values_of(self, locator: Locator) -> list[str]:
        # A native text field's value is its text; a web field's is its "value" property.
        out = []
        for el in await self._displayed(locator):
            value = await self.s.quiet("read value", el.get_attribute, "value", default=None)
            out.append(str(value) if value is not None else str(await self.s.quiet("read text", _text_of, el, default="") or ""))
        return out

    async def answers(self) -> bool | None:
        """Once every quick Appium call already waiting when asked has come back: the
        app's UI thread answers (a frozen one holds UiAutomator2 and chromedriver calls
        until the runner's watcher calls it ``app_not_responding``). No extra command is
        sent: a session runs one command at a time."""
        asked = time.monotonic()
        while (oldest := self.s.oldest_call()) is not None and oldest <= asked:
            await asyncio.sleep(ANSWER_POLL_S)
        return True

    async def screenshot(self) -> bytes:
        png = await self.s.shot()
        await self.watcher.observe(force=not self.watcher.observed_since_drain)
        return png

    async def busy_indicator_visible(self) -> bool:
        return await self.s.busy()

    async def element_boxes(self, locators: list[Locator]) -> list[Box]:
        boxes: list[Box] = []
        for loc in locators:
            if loc.strategy in SCREEN_LOCATORS:
                continue
            try:
                els = await self.s.elements(loc)
            except ActionFailed:
                continue
            if els:
                boxes += await self.s.boxes(els)
        return boxes

    async def environment(self) -> ScreenEnvironment:
        return await self.s.environment()

    async def text_boxes(self, text: str) -> list[Box]:
        """Where the UI tree says the words are (screenshot pixels)."""
        return await self.s.text_boxes(text)

    async def picture_boxes(self) -> list[Box] | None:
        """Elements whose words are only pixels (canvas, images) in a browser; None in a
        native app, where any view may draw its own text (the whole screen is read)."""
        return await self.s.picture_boxes()

    async def screen_layout(self) -> ScreenLayout | None:
        """The page's elements in a browser session; None in a native app (not yet read
        from the UI tree)."""
        return await self.s.screen_layout()

    async def broken_images(self) -> list[dict[str, object]]:
        return await self.s.broken_images()

    async def text_layout(self, ignore: Sequence[str]) -> list[dict[str, object]] | None:
        return await self.s.text_layout(ignore)

    async def prepare_for_screenshot(self) -> None:
        await self.s.prepare_for_screenshot()

    # -- what the app did on its own ------------------------------------------------------------
    def failure_seen(self) -> bool:
        return self.watcher.failure_seen() or (self.capture is not None and self.capture.failure_seen())

    def failed_at(self) -> float | None:
        return self.capture.failed_at() if self.capture is not None else None

    def trace_with(self, context: TraceContext | None) -> None:
        """The running step's trace context: with capture on, the proxy adds it to the
        app's own requests (traceparent, tracestate, baggage), never a third party's."""
        if self.capture is not None:
            self.capture.network.trace = context

    def drain_events(self) -> DriverEvents:
        events = self.watcher.drain()
        if self.capture is not None:
            self.capture.drain_into(events)
        return events


def _text_of(el: WebElement) -> str:
    """An element's text (a native label's, a web element's visible text): one client call."""
    return el.text


# -- configuration helpers ----------------------------------------------------------------
def _config_devices(config: Config, raw: Mapping[str, AppiumDevice]) -> dict[str, DeviceEntry]:
    devices: dict[str, DeviceEntry] = {}
    for name, entry in raw.items():  # patrol.yaml appium.devices, checked at load
        path = ("appium", "devices", name)
        url = None if entry.url is None else resolve_url(config, path + ("url",), entry.url, sup.mask_url).rstrip("/")
        caps = sup.mapping(resolve_tree(config, path + ("capabilities",), dict(entry.capabilities)))
        devices[str(name)] = DeviceEntry(url, sup.normalise(caps))
    return devices
