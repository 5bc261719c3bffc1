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

Two kinds of session, one interface:
- native apps (UiAutomator2, XCUITest, Espresso...): locators ``id``, ``accessibility_id``,
  ``xpath``, ``uiautomator``, ``ios_predicate``; taps, swipes and scrolls are W3C pointer
  actions (touch); the app's state is watched (it left the foreground, crashed, a system
  dialog came on top);
- browser sessions (``browserName``: the chromium driver on this machine, Chrome on
  Android, Safari on iOS): the same plus ``css``, URLs, and the page's failed requests
  and uncaught errors from Chrome's logs.

Text on screen (``{text: 转账}``, OCR) and ``{point: [x, y]}`` work in both.

What is the robot's fault is a ``RobotError`` (exit 3), never a finding: the server is
unreachable (``AppiumUnreachable``), the session could not be created
(``SessionNotCreated``, the capabilities echoed with secrets masked), the session or
device went away mid-run (``DeviceLost``).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from typing import Any

from ..errors import ActionFailed, AppiumUnreachable, DeviceLost, RobotError, SessionNotCreated
from ..journey.model import Journey, Locator
from ..results import STALL
from ..secrets import MASKER, MissingVariable, interpolate
from . import _appium_support as sup
from .base import Driver, DriverEvents, Engine

DEFAULT_URL = "http://127.0.0.1:4723"
CONFIG_KEYS = {
    "url": "the Appium server (PATROL_APPIUM_URL wins)",
    "session_timeout": "how long creating a session may take (default 5m)",
    "command_timeout": "how long one command may take before the device counts as lost (default 60s)",
    "devices": "named devices: {NAME: {url, capabilities}}",
}
DEVICE_KEYS = {"url": "server, grid or device cloud for this device", "capabilities": "capabilities of this device",
               "description": "what the device is"}

# Locator strategy -> (native "by", browser "by" builder)
NATIVE_BY = {
    "id": "id",
    "accessibility_id": "accessibility id",
    "xpath": "xpath",
    "uiautomator": "-android uiautomator",
    "ios_predicate": "-ios predicate string",
}
BUSY_CSS = "[aria-busy=true], .spinner, .loading, [role=progressbar]"
BUSY_NATIVE = {
    "android": ("xpath", "//android.widget.ProgressBar"),
    "ios": ("xpath", "//XCUIElementTypeActivityIndicator"),
}
# Packages that are the system's own UI on top of the app, not another app.
ANDROID_SYSTEM_UI = (
    "android", "com.android.systemui", "com.android.permissioncontroller", "com.google.android.permissioncontroller",
    "com.android.packageinstaller", "com.google.android.packageinstaller",
)
IOS_SYSTEM_UI = ("com.apple.springboard",)
APP_STATE_WORDS = {0: "not installed", 1: "not running", 2: "running in the background (suspended)",
                   3: "running in the background", 4: "running in the foreground"}

from . import _page_scripts as scripts

_STILL_CSS = scripts.STILL_CSS
_BROKEN_IMAGES_JS = scripts.for_webdriver(scripts.BROKEN_IMAGES)
_TEXT_BOXES_JS = scripts.for_webdriver(scripts.TEXT_BOXES)
_PICTURE_BOXES_JS = scripts.for_webdriver(scripts.PICTURE_BOXES)

POLL_S = 0.25
OBSERVE_EVERY_S = 0.5  # web: read Chrome's logs; native: ask which app is in front
FREEZE_SAMPLE_S = 1.0  # one screenshot a second while a wait for a change is on
FREEZE_MIN_S = 2.0
FREEZE_MIN_SAMPLES = 3

_BOXES_JS = """const d = devicePixelRatio; return arguments[0].map(e => { const r = e.getBoundingClientRect();
  return [Math.round(r.x * d), Math.round(r.y * d), Math.round(r.width * d), Math.round(r.height * d)]; })"""
_BUSY_JS = """return Array.from(document.querySelectorAll(arguments[0])).some(e => { const r = e.getBoundingClientRect();
  return r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== 'hidden'; })"""


class AppiumEngine(Engine):
    """The connection settings for a run; sessions are made per journey."""

    name = "appium"

    def __init__(self, url: str = DEFAULT_URL, url_source: str = "default", devices: dict | None = None,
                 session_timeout_ms: float = 300_000, command_timeout_ms: float = 60_000, headed: bool = False):
        self.url = url.rstrip("/")
        self.url_source = url_source
        self.devices = devices or {}
        self.session_timeout_ms = session_timeout_ms
        self.command_timeout_ms = command_timeout_ms
        self.headed = headed
        self.config = None
        self.version = ""
        self._reachable: dict[str, str] = {}  # url -> server version, once it answered

    # -- configuration --------------------------------------------------------------------
    @classmethod
    def from_config(cls, config, options) -> AppiumEngine:
        section = config.appium  # checked at load; ${...} resolved here
        url, source = DEFAULT_URL, "the default"
        if section.url is not None:
            url, source = _config_url(config, ("appium", "url"), section.url), "patrol.yaml appium.url"
        env = os.environ.get("PATROL_APPIUM_URL")
        if env:
            if not env.startswith(("http://", "https://")):
                from ..errors import ConfigError

                raise ConfigError(f"PATROL_APPIUM_URL={sup.mask_url(env)!r}: expected an http:// or https:// URL")
            url, source = env, "PATROL_APPIUM_URL"
        devices = _config_devices(config, section.devices)
        engine = cls(url, source, devices, section.session_timeout_ms, section.command_timeout_ms,
                     headed=bool(getattr(options, "headed", False)))
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
    def session_plan(self, journey: Journey) -> tuple[str, str, dict[str, Any]]:
        """(server URL, where the URL came from, capabilities to send) for a journey."""
        opts = journey.options
        device_name = opts.get("appium_device")
        url, source, layers = self.url, self.url_source, []
        if device_name:
            device = self.devices.get(device_name)
            if device is None:
                known = ", ".join(sorted(self.devices)) or "none"
                raise SessionNotCreated(
                    f"the journey names appium_device '{device_name}' but patrol.yaml appium.devices has no such "
                    f"entry (known: {known})")
            if device.get("url"):
                url, source = device["url"], f"patrol.yaml appium.devices.{device_name}.url"
            layers.append(device.get("capabilities") or {})
        if "capabilities" not in opts and not device_name:
            raise SessionNotCreated(
                "an app journey needs 'capabilities:' (platformName, appium:automationName, appium:app...) "
                "or 'appium_device:' naming a patrol.yaml appium.devices entry")
        layers.append(opts.get("capabilities") or {})
        caps = sup.merge(*layers)
        if sup.is_chromium_driver(caps):
            from .chromium import find_chromium

            try:
                chromium = find_chromium(self.config.browser.executable if self.config else None)
            except RobotError:
                chromium = None
            caps = sup.chromium_defaults(caps, journey.device, headed=self.headed, chromium=chromium,
                                         chromedriver=sup.find_chromedriver())
        return url.rstrip("/"), source, caps

    async def _check_server(self, url: str, source: str) -> None:
        if url in self._reachable:
            return
        import httpx

        where = f"{sup.mask_url(url)} (from {source})"
        try:
            async with httpx.AsyncClient(timeout=10.0) as client:
                r = await client.get(f"{url}/status")
        except httpx.HTTPError as e:
            raise AppiumUnreachable(
                f"cannot reach the Appium server at {where}: {_reason(e)}. Start one (`appium --address 127.0.0.1 "
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
        session = await asyncio.to_thread(self._create_session, url, source, caps)
        driver = AppiumDriver(self, session, caps, journey, url)
        try:
            await driver.setup()
        except BaseException:
            await driver.close()
            raise
        return driver

    def _create_session(self, url: str, source: str, caps: dict[str, Any]):
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
                                        f"creating the session: {_reason(e)}") from None
            message = MASKER.mask(_server_message(e))
            raise SessionNotCreated(
                f"Appium at {sup.mask_url(url)} could not create a session: {message}\n"
                f"capabilities sent: {sup.caps_text(caps)}"
            ) from None


class _FreezeWatch:
    """Screenshots while something waits for the screen to change; frozen when every
    one of them was identical for the whole wait."""

    def __init__(self, driver: AppiumDriver, delay_s: float = 0.0):
        self.driver = driver
        self.t0 = time.monotonic()
        self.next_at = self.t0 + delay_s
        self.first: bytes | None = None
        self.first_at = 0.0
        self.last_at = 0.0
        self.samples = 0
        self.changed = False
        self.busy: bool | None = None

    async def sample(self) -> None:
        now = time.monotonic()
        if self.changed or now < self.next_at:
            return
        png = await self.driver._shot()
        self.next_at = time.monotonic() + FREEZE_SAMPLE_S
        if self.first is None:
            self.first, self.first_at = png, now
        elif png != self.first:
            self.changed = True
        self.samples += 1
        self.last_at = now
        if self.frozen() and self.busy is None:
            # A spinner that does not move is "still loading" (spinner_stuck), not a frozen app.
            self.busy = await self.driver.busy_indicator_visible()

    def frozen(self) -> bool:
        return (not self.changed and self.samples >= FREEZE_MIN_SAMPLES
                and self.last_at - self.first_at >= FREEZE_MIN_S)

    @property
    def seconds(self) -> float:
        return max(0.0, self.last_at - self.t0)


class AppiumDriver(Driver):
    platform = "app"

    def __init__(self, engine: AppiumEngine, session, caps: dict[str, Any], journey: Journey, url: str):
        self.engine = engine
        self.session = session
        self.requested = caps
        self.journey = journey
        self.server_url = url
        returned = dict(getattr(session, "capabilities", None) or {})
        self.caps = returned
        self.web = sup.is_browser_session(caps)
        self.os = str(returned.get("platformName") or caps.get("platformName") or "").lower()
        automation = str(returned.get("automationName") or sup.cap(caps, "automationName") or "").lower()
        self.automation = automation
        # Fingers on a phone (native, a phone's browser, Chrome emulating a phone), a mouse on a desktop.
        emulation = (caps.get("goog:chromeOptions") or {}).get("mobileEmulation") or {}
        emulated_touch = bool(emulation.get("deviceName")) or bool((emulation.get("deviceMetrics") or {}).get("touch"))
        self.touch = not self.web or self.os in ("android", "ios") or emulated_touch
        self.command_timeout_s = max(5.0, engine.command_timeout_ms / 1000)
        self.app_id: str | None = sup.cap(caps, "appPackage") or sup.cap(caps, "bundleId")
        self.expected_app: str | None = None
        self._events = DriverEvents()
        self._logs = sup.ChromeLogReader()
        self._observed_at = 0.0
        self._observed_since_drain = False
        self._probe_off = self.web or self.os not in ("android", "ios")
        self._reported_state: str | None = None
        self._shot_size: tuple[int, int] | None = None
        self._env: dict | None = None
        self._expect_watch: _FreezeWatch | None = None
        self._expect_what = ""
        self._closed = False

    # -- plumbing -------------------------------------------------------------------------
    async def _call(self, what: str, fn: Callable, *args, timeout_s: float | None = None, **kwargs) -> Any:
        """Run one client call off the event loop; the session or server going away is
        a RobotError, every other WebDriver error is returned to the caller as raised."""
        limit = timeout_s or self.command_timeout_s
        try:
            return await asyncio.wait_for(asyncio.to_thread(fn, *args, **kwargs), limit)
        except TimeoutError:
            raise DeviceLost(f"the device did not answer '{what}' within {limit:.0f}s "
                             f"(Appium at {sup.mask_url(self.server_url)})") from None
        except Exception as e:
            self._raise_if_lost(e, what)
            raise

    def _raise_if_lost(self, e: BaseException, what: str) -> None:
        if sup.is_connection_error(e):
            raise AppiumUnreachable(f"lost the Appium server at {sup.mask_url(self.server_url)} during '{what}': "
                                    f"{_reason(e)}") from None
        if sup.is_session_lost(e):
            raise DeviceLost(f"the Appium session ended during '{what}' (device or app under automation gone): "
                             f"{MASKER.mask(sup.first_line(e))}") from None

    async def setup(self) -> None:
        if self.web:
            timeout_s = self.journey.budgets.timeout_ms / 1000
            await self._call("set page load timeout", self.session.set_page_load_timeout, timeout_s)
            return
        if self.app_id is None and not self._probe_off:
            self.app_id = await self._foreground_app()
        self.expected_app = self.app_id

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await asyncio.wait_for(asyncio.to_thread(self.session.quit), 30)
        except Exception:
            pass

    def _fail(self, message: str, reason: str = "action_failed", **evidence) -> ActionFailed:
        return ActionFailed(message, reason=reason, evidence=evidence)

    def _unsupported(self, what: str, e: BaseException) -> ActionFailed:
        return self._fail(f"{what} is not supported by this Appium driver ({self.automation or 'unknown'}): "
                          f"{sup.first_line(e)}", reason="not_supported")

    # -- locating -------------------------------------------------------------------------
    def _by(self, loc: Locator) -> tuple[str, str]:
        if self.web:
            if loc.strategy == "css":
                return "css selector", loc.value
            if loc.strategy == "id":
                return "css selector", f'[id="{_css_escape(loc.value)}"]'
            if loc.strategy == "accessibility_id":
                return "css selector", f'[aria-label="{_css_escape(loc.value)}"]'
            if loc.strategy == "xpath":
                return "xpath", loc.value
        else:
            if loc.strategy in NATIVE_BY:
                return NATIVE_BY[loc.strategy], loc.value
            if loc.strategy == "css":
                raise self._fail("css locators need a browser session (browserName in the capabilities, e.g. the "
                                 "chromium driver); in a native app use id, accessibility_id, xpath, uiautomator, "
                                 "ios_predicate, text or point", reason="bad_locator")
        raise self._fail(f"locator strategy '{loc.strategy}' is not available in "
                         f"{'a browser session' if self.web else 'this app session'}", reason="bad_locator")

    async def _elements(self, loc: Locator) -> list:
        by, value = self._by(loc)
        try:
            return await self._call(f"find {loc.describe()}", self.session.find_elements, by, value)
        except ActionFailed:
            raise
        except RobotError:
            raise
        except Exception as e:
            from selenium.common.exceptions import InvalidSelectorException

            if isinstance(e, InvalidSelectorException) or sup.is_unsupported(e):
                raise self._fail(f"the server refused the locator {loc.describe()}: {sup.first_line(e)}",
                                 reason="bad_locator") from None
            return []

    async def _displayed(self, el) -> bool:
        try:
            return bool(await self._call("is displayed", el.is_displayed))
        except RobotError:
            raise
        except Exception:
            return False

    async def _first(self, loc: Locator, visible: bool) -> Any:
        for el in (await self._elements(loc))[:5]:
            if not visible or await self._displayed(el):
                return el
        return None

    async def _find(self, loc: Locator, timeout_ms: float, *, visible: bool = True) -> Any:
        """The first (visible) element, waiting up to the timeout for it."""
        deadline = time.monotonic() + timeout_ms / 1000
        seen_hidden = False
        while True:
            els = await self._elements(loc)
            for el in els[:5]:
                if not visible or await self._displayed(el):
                    return el
            seen_hidden = seen_hidden or bool(els)
            await self._observe_during_wait()
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(POLL_S)
        secs = timeout_ms / 1000
        if seen_hidden:
            raise self._fail(f"{loc.describe()} is there but not visible after {secs:.1f}s", reason="element_not_visible",
                             locator=loc.describe(), waited_ms=timeout_ms)
        raise self._fail(f"{loc.describe()} was not found within {secs:.1f}s", reason="element_not_found",
                         locator=loc.describe(), waited_ms=timeout_ms)

    async def _retry(self, what: str, fn: Callable[[], Any], timeout_ms: float) -> Any:
        """Retry an element interaction (intercepted, stale, not interactable) until the timeout."""
        from selenium.common.exceptions import WebDriverException

        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            try:
                return await fn()
            except (ActionFailed, RobotError):
                raise
            except WebDriverException as e:
                if sup.is_unsupported(e):
                    raise self._unsupported(what, e) from None
                if time.monotonic() >= deadline:
                    raise self._fail(f"{what}: {MASKER.mask(sup.first_line(e))}", reason="action_failed") from None
                await asyncio.sleep(POLL_S)

    # -- actions --------------------------------------------------------------------------
    async def goto(self, url: str, *, timeout_ms: float) -> None:
        from selenium.common.exceptions import TimeoutException, WebDriverException

        try:
            if self.web or self.os not in ("android", "ios"):
                await self._call(f"open {url}", self.session.get, url, timeout_s=timeout_ms / 1000 + 10)
            else:
                key = "package" if self.os == "android" else "bundleId"
                args = {"url": url, **({key: self.app_id} if self.app_id else {})}
                await self._call(f"open {url}", self.session.execute_script, "mobile: deepLink", args)
        except TimeoutException:
            raise self._fail(f"open {url}: timed out after {timeout_ms / 1000:.1f}s", reason="action_timeout") from None
        except WebDriverException as e:
            if sup.is_unsupported(e):
                raise self._unsupported(f"opening {url}", e) from None
            raise self._fail(f"open {url}: {sup.first_line(e)}") from None

    async def click(self, locator: Locator, *, timeout_ms: float) -> None:
        if locator.strategy == "point":
            await self._shot()  # the screen's size in screenshot pixels
            w, h = self._shot_size or (0, 0)
            return await self.tap_point(locator.value[0] * w, locator.value[1] * h, timeout_ms=timeout_ms)
        if locator.strategy == "text":
            from ..checks.screen import locate_on_screen  # OCR lives with the checks

            x, y = await locate_on_screen(self, locator, timeout_ms=timeout_ms, config=self.engine.config)
            return await self.tap_point(x, y, timeout_ms=timeout_ms)
        deadline = time.monotonic() + timeout_ms / 1000

        async def tap():
            el = await self._find(locator, max(0.0, (deadline - time.monotonic()) * 1000))
            await self._call(f"tap {locator.describe()}", el.click)

        await self._retry(f"tap {locator.describe()}", tap, timeout_ms)

    async def fill(self, locator: Locator, text: str, *, timeout_ms: float) -> None:
        deadline = time.monotonic() + timeout_ms / 1000

        async def type_in():
            el = await self._find(locator, max(0.0, (deadline - time.monotonic()) * 1000))
            await self._call(f"clear {locator.describe()}", el.clear)
            await self._call(f"type into {locator.describe()}", el.send_keys, text)

        await self._retry(f"fill {locator.describe()}", type_in, timeout_ms)

    async def press(self, key: str, locator: Locator | None, *, timeout_ms: float) -> None:
        from selenium.common.exceptions import WebDriverException

        what = f"press {key}" + (f" in {locator.describe()}" if locator else "")
        char = sup.webdriver_key(key)
        try:
            if key == "Back" and locator is None and (self.web or self.os != "android"):
                return await self.back(timeout_ms=timeout_ms)
            if locator is not None:
                if char is None:
                    raise self._fail(f"{what}: unknown key '{key}'", reason="bad_key")
                el = await self._find(locator, timeout_ms)
                await self._call(what, el.send_keys, char)
            elif not self.web and self.os == "android" and key in sup.ANDROID_KEYCODES:
                await self._call(what, self.session.press_keycode, sup.ANDROID_KEYCODES[key])
            elif not self.web and self.os == "ios" and key in sup.IOS_BUTTONS:
                await self._call(what, self.session.execute_script, "mobile: pressButton", {"name": sup.IOS_BUTTONS[key]})
            elif not self.web and self.os == "ios" and char is not None:
                await self._call(what, self.session.execute_script, "mobile: keys", {"keys": [char]})
            elif char is not None:
                await self._call(what, self._key_actions, char)
            else:
                raise self._fail(f"{what}: unknown key '{key}' (Enter, Tab, Escape, Backspace, Arrow*, Back, Home, "
                                 f"Search, AppSwitch, VolumeUp/Down, or one character)", reason="bad_key")
        except WebDriverException as e:
            if sup.is_unsupported(e):
                raise self._unsupported(what, e) from None
            raise self._fail(f"{what}: {sup.first_line(e)}") from None

    def _key_actions(self, char: str) -> None:
        from selenium.webdriver.remote.command import Command

        self.session.execute(Command.W3C_ACTIONS, {"actions": [{
            "type": "key", "id": "keyboard",
            "actions": [{"type": "keyDown", "value": char}, {"type": "keyUp", "value": char}],
        }]})

    async def select(self, locator: Locator, by: str, choice: str, *, timeout_ms: float) -> None:
        from selenium.common.exceptions import NoSuchElementException, WebDriverException

        what = f"select {choice} in {locator.describe()}"
        el = await self._find(locator, timeout_ms)
        try:
            if self.web:
                from selenium.webdriver.support.select import Select

                def pick():
                    s = Select(el)
                    (s.select_by_value if by == "value" else s.select_by_visible_text)(choice)

                return await self._call(what, pick)
            tag = str(await self._call("element type", lambda: el.tag_name) or "")
            if "PickerWheel" in tag:  # iOS pickers take the value typed in
                return await self._call(what, el.send_keys, choice)
            await self._call(what, el.click)
            option = Locator("xpath", f"//*[@text={_xq(choice)} or @label={_xq(choice)} or @name={_xq(choice)} "
                                      f"or @value={_xq(choice)} or @content-desc={_xq(choice)}]")
            picked = await self._find(option, timeout_ms)
            await self._call(what, picked.click)
        except NoSuchElementException:
            raise self._fail(f"{what}: there is no option {choice!r}", reason="element_not_found") from None
        except WebDriverException as e:
            if sup.is_unsupported(e):
                raise self._unsupported(what, e) from None
            raise self._fail(f"{what}: {sup.first_line(e)}") from None

    async def scroll(self, locator: Locator | None, dx: int, dy: int, *, timeout_ms: float) -> None:
        """W3C actions: touch swipes on a phone (native, or a browser emulating one), the
        mouse wheel in a desktop browser. ``scroll``/``swipe`` by (dx, dy) moves the
        content that far (the finger moves the other way); with a selector, swipes until
        the element is in view."""
        from selenium.common.exceptions import WebDriverException

        try:
            if locator is not None:
                return await self._bring_into_view(locator, dy, timeout_ms)
            await self._scroll_by(dx, dy)
        except WebDriverException as e:
            if sup.is_unsupported(e):
                raise self._unsupported("scrolling", e) from None
            raise self._fail(f"scroll: {sup.first_line(e)}") from None

    async def _window(self) -> tuple[float, float]:
        if self.web:
            w, h = await self._call("viewport", self.session.execute_script, "return [innerWidth, innerHeight]")
            return float(w), float(h)
        size = await self._call("window size", self.session.get_window_size)
        return float(size["width"]), float(size["height"])

    async def _scroll_by(self, dx: float, dy: float) -> None:
        w, h = await self._window()
        cx, cy = w / 2, h / 2
        if not self.touch:
            from selenium.webdriver.remote.command import Command

            wheel = {"type": "wheel", "id": "wheel", "actions": [
                {"type": "scroll", "x": int(cx), "y": int(cy), "deltaX": int(dx), "deltaY": int(dy), "duration": 0,
                 "origin": "viewport"}]}
            await self._call("scroll", self.session.execute, Command.W3C_ACTIONS, {"actions": [wheel]})
            await asyncio.sleep(0.1)
            return
        # Start where the finger has room to travel; hold still before lifting so the
        # content does not fling on (the same swipe always scrolls the same amount).
        sx = min(max(cx + dx / 2, w * 0.05), w * 0.95)
        sy = min(max(cy + dy / 2, h * 0.05), h * 0.95)
        ex = min(max(sx - dx, w * 0.05), w * 0.95)
        ey = min(max(sy - dy, h * 0.05), h * 0.95)
        await self._pointer([(sx, sy, 0), "down", (ex, ey, 400), ("pause", 150), "up"], f"swipe by ({dx}, {dy})")
        await asyncio.sleep(0.1)

    async def _rect_in_view(self, el) -> dict | None:
        """The element's box in viewport/window coordinates."""
        try:
            if self.web:
                return await self._call("element box", self.session.execute_script,
                                        "const r = arguments[0].getBoundingClientRect(); "
                                        "return {x: r.x, y: r.y, width: r.width, height: r.height};", el)
            return await self._call("element rect", lambda: el.rect)
        except RobotError:
            raise
        except Exception:
            return None

    async def _bring_into_view(self, locator: Locator, dy: int, timeout_ms: float) -> None:
        deadline = time.monotonic() + timeout_ms / 1000
        w, h = await self._window()
        swipes = 0
        while True:
            el = await self._first(locator, visible=not self.web)
            r = await self._rect_in_view(el) if el is not None else None
            if r is not None:
                top, bottom = r["y"], r["y"] + r["height"]
                if (top >= 0 and bottom <= h) or (r["height"] > h and top <= 0 and bottom >= h):
                    return
                delta = (top + r["height"] / 2) - h / 2 if r["height"] <= h else top
                delta = max(-0.6 * h, min(0.6 * h, delta))
            else:
                delta = -0.5 * h if dy < 0 else 0.5 * h
            before = await self._scroll_marker()
            if time.monotonic() >= deadline or swipes >= 15:
                break
            await self._scroll_by(0, delta)
            swipes += 1
            if await self._scroll_marker() == before:
                break  # nothing moved: the end of the screen
        raise self._fail(f"{locator.describe()} did not come into view after {swipes} swipe(s)",
                         reason="element_not_found", locator=locator.describe())

    async def _scroll_marker(self) -> Any:
        if self.web:
            return await self._call("scroll position", self.session.execute_script, "return [scrollX, scrollY]")
        return await self._shot()

    async def _pointer(self, moves: list, what: str) -> None:
        """W3C pointer actions: (x, y, duration_ms) moves, "down", "up", ("pause", ms)."""
        from selenium.webdriver.remote.command import Command

        actions: list[dict] = []
        for m in moves:
            if m == "down":
                actions += [{"type": "pointerDown", "button": 0}, {"type": "pause", "duration": 50}]
            elif m == "up":
                actions.append({"type": "pointerUp", "button": 0})
            elif m[0] == "pause":
                actions.append({"type": "pause", "duration": int(m[1])})
            else:
                x, y, ms = m
                actions.append({"type": "pointerMove", "duration": int(ms), "x": int(round(x)), "y": int(round(y)),
                                "origin": "viewport"})
        kind = "touch" if self.touch else "mouse"
        payload = {"actions": [{"type": "pointer", "id": "finger1" if kind == "touch" else "mouse",
                                "parameters": {"pointerType": kind}, "actions": actions}]}
        await self._call(what, self.session.execute, Command.W3C_ACTIONS, payload)

    async def tap_point(self, x: float, y: float, *, timeout_ms: float) -> None:
        """Tap at screenshot pixel coordinates (OCR text, points)."""
        from selenium.common.exceptions import WebDriverException

        sx, sy = await self._scale_xy()
        try:
            await self._pointer([(x / sx, y / sy, 0), "down", "up"], "tap on screen")
        except WebDriverException as e:
            if sup.is_unsupported(e):
                raise self._unsupported("tapping on screen", e) from None
            raise self._fail(f"tap at ({x:.0f}, {y:.0f}): {sup.first_line(e)}") from None

    async def wait_for(self, locator: Locator, state: str, *, timeout_ms: float) -> None:
        deadline = time.monotonic() + timeout_ms / 1000
        watch = _FreezeWatch(self)
        while True:
            if await self._state_is(locator, state):
                return
            if time.monotonic() >= deadline:
                break
            await watch.sample()
            await self._observe_during_wait()
            await asyncio.sleep(POLL_S)
        secs = timeout_ms / 1000
        if watch.frozen() and not watch.busy:
            raise ActionFailed(
                f"the screen stayed frozen for {watch.seconds:.1f}s while waiting for {locator.describe()} to be "
                f"{state}: all {watch.samples} screenshots were identical",
                reason="frozen_screen", kind=STALL,
                evidence={"locator": locator.describe(), "state": state, "waited_ms": timeout_ms,
                          "screenshots": watch.samples},
            )
        reason = "element_not_found" if state in ("visible", "attached") else "element_still_there"
        raise self._fail(f"{locator.describe()} did not become {state} within {secs:.1f}s", reason=reason,
                         locator=locator.describe(), state=state, waited_ms=timeout_ms)

    async def _state_is(self, locator: Locator, state: str) -> bool:
        if locator.strategy in ("text", "point"):
            seen = await self._visible_now(locator)
            return seen if state in ("visible", "attached") else not seen
        if state == "visible":
            return await self._first(locator, visible=True) is not None
        if state == "hidden":
            return await self._first(locator, visible=True) is None
        present = bool(await self._elements(locator))
        return present if state == "attached" else not present

    async def back(self, *, timeout_ms: float) -> None:
        from selenium.common.exceptions import WebDriverException

        try:
            await self._call("back", self.session.back, timeout_s=timeout_ms / 1000 + 10)
        except WebDriverException as e:
            if sup.is_unsupported(e):
                raise self._unsupported("back", e) from None
            raise self._fail(f"back: {sup.first_line(e)}") from None

    async def app_control(self, command: str, app_id: str | None, *, timeout_ms: float) -> None:
        """launch (cold start: terminate, then activate), activate (bring to the front,
        starting it when needed) or terminate an app; the journey's own app by default."""
        from selenium.common.exceptions import WebDriverException

        if self.web:
            raise self._fail(f"'{command}' needs a native app session; this one is a browser", reason="not_supported")
        target = app_id or self.app_id
        if not target:
            raise self._fail(f"'{command}': which app? The capabilities name none (appium:appPackage / "
                             f"appium:bundleId); write '{command}: com.example.app'", reason="bad_app")
        try:
            if command in ("launch", "terminate"):
                try:
                    await self._call(f"terminate {target}", self.session.terminate_app, target)
                except WebDriverException as e:
                    if command == "terminate" or sup.is_unsupported(e):
                        raise
            if command in ("launch", "activate"):
                await self._call(f"{command} {target}", self.session.activate_app, target)
                self.expected_app = target
            elif target == self.expected_app:
                self.expected_app = None  # the journey closed it on purpose
            self._reported_state = None
        except WebDriverException as e:
            if sup.is_unsupported(e):
                raise self._unsupported(f"{command} app", e) from None
            raise self._fail(f"{command} {target}: {sup.first_line(e)}") from None

    # -- looking --------------------------------------------------------------------------
    async def _visible_now(self, locator: Locator) -> bool:
        if locator.strategy == "point":
            return True
        if locator.strategy == "text":
            from ..checks.screen import locate_on_screen

            try:
                await locate_on_screen(self, locator, timeout_ms=0, config=self.engine.config)
                return True
            except ActionFailed:
                return False
        return await self._first(locator, visible=True) is not None

    async def is_visible(self, locator: Locator) -> bool:
        visible = await self._visible_now(locator)
        await self._observe()
        if visible:
            self._expect_watch = None
        else:
            # An expectation is waiting for this element: watch whether the screen moves.
            if self._expect_watch is None or self._expect_what != locator.describe():
                self._expect_watch, self._expect_what = _FreezeWatch(self, delay_s=0.5), locator.describe()
            await self._expect_watch.sample()
        return visible

    async def current_url(self) -> str:
        await self._observe()
        if self.web:
            try:
                return str(await self._call("current url", lambda: self.session.current_url))
            except RobotError:
                raise
            except Exception:
                return ""
        try:
            if self.os == "android":
                package = await self._call("current package", lambda: self.session.current_package)
                activity = await self._call("current activity", lambda: self.session.current_activity)
                return f"app://{package}/{activity}"
            if self.os == "ios":
                return f"app://{await self._foreground_app() or ''}"
        except RobotError:
            raise
        except Exception:
            pass
        return f"app://{self.app_id or self.os or 'app'}"

    async def _shot(self) -> bytes:
        try:
            png = await self._call("screenshot", self.session.get_screenshot_as_png)
        except RobotError:
            raise
        except Exception as e:
            raise RobotError(f"could not take a screenshot: {sup.first_line(e)}") from None
        if png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) >= 24:
            self._shot_size = (int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big"))
        return png

    async def screenshot(self) -> bytes:
        png = await self._shot()
        await self._observe(force=not self._observed_since_drain)
        return png

    async def _scale_xy(self) -> tuple[float, float]:
        if self._shot_size is None:
            await self._shot()
        w, h = await self._window()
        sw, sh = self._shot_size or (w, h)
        return (sw / w if w else 1.0), (sh / h if h else 1.0)

    async def busy_indicator_visible(self) -> bool:
        try:
            if self.web:
                return bool(await self._call("busy?", self.session.execute_script, _BUSY_JS, BUSY_CSS))
            by = BUSY_NATIVE.get(self.os)
            if by is None:
                return False
            els = await self._call("busy?", self.session.find_elements, *by)
            for el in els[:3]:
                if await self._displayed(el):
                    return True
        except RobotError:
            raise
        except Exception:
            return False
        return False

    async def element_boxes(self, locators: list[Locator]) -> list[tuple[int, int, int, int]]:
        boxes: list[tuple[int, int, int, int]] = []
        sx = sy = None
        for loc in locators:
            if loc.strategy in ("text", "point"):
                continue
            try:
                els = await self._elements(loc)
            except ActionFailed:
                continue
            if not els:
                continue
            if self.web:
                rects = await self._call("element boxes", self.session.execute_script, _BOXES_JS, els)
                boxes += [tuple(int(v) for v in r) for r in rects if r[2] > 0 and r[3] > 0]
                continue
            if sx is None:
                sx, sy = await self._scale_xy()
            for el in els:
                try:
                    r = await self._call("element rect", lambda el=el: el.rect)
                except RobotError:
                    raise
                except Exception:
                    continue
                if r["width"] > 0 and r["height"] > 0:
                    boxes.append((int(round(r["x"] * sx)), int(round(r["y"] * sy)),
                                  int(round(r["width"] * sx)), int(round(r["height"] * sy))))
        return boxes

    async def environment(self) -> dict:
        if self._env is None:
            if self.web:
                w, h, dpr = await self._call("viewport", self.session.execute_script,
                                             "return [innerWidth, innerHeight, devicePixelRatio]")
                name = str(self.caps.get("browserName") or "browser")
                label = f"{name} {self.caps.get('browserVersion', '')}".strip()
                if self.os and self.os not in ("linux", "mac", "windows"):
                    label += f" on {self.os}"
                self._env = {"browser": label, "viewport": (int(w), int(h)), "scale": round(float(dpr), 3)}
            else:
                sx, _sy = await self._scale_xy()
                w, h = await self._window()
                model = self.caps.get("deviceModel") or self.caps.get("deviceName") or ""
                version = self.caps.get("platformVersion") or ""
                label = " ".join(str(p) for p in (self.caps.get("platformName") or self.os, version, model) if p)
                self._env = {"browser": label, "viewport": (int(w), int(h)), "scale": round(sx, 3)}
        return dict(self._env)

    async def text_boxes(self, text: str) -> list[tuple[int, int, int, int]]:
        """Where the UI tree says the words are (screenshot pixels): the DOM in a browser,
        the element attributes (text, content-desc, label, name, value) in an app."""
        try:
            if self.web:
                return [tuple(int(v) for v in b) for b in
                        await self._call("text boxes", self.session.execute_script, _TEXT_BOXES_JS, text) or []]
            q = _xq(text)
            xpath = (f"//*[contains(@text, {q}) or contains(@content-desc, {q}) or contains(@label, {q}) "
                     f"or contains(@name, {q}) or contains(@value, {q})]")
            return (await self.element_boxes([Locator("xpath", xpath)]))[:3]
        except RobotError:
            raise
        except Exception:
            return []

    async def picture_boxes(self) -> list[tuple[int, int, int, int]] | None:
        """Elements whose words are only pixels (canvas, images) in a browser. In a native
        app any view may draw its own text, so the whole screen is read (None)."""
        if not self.web:
            return None
        try:
            return [tuple(int(v) for v in b) for b in
                    await self._call("picture boxes", self.session.execute_script, _PICTURE_BOXES_JS) or []]
        except RobotError:
            raise
        except Exception:
            return None

    async def broken_images(self) -> list[dict]:
        if not self.web:
            return []
        try:
            return list(await self._call("broken images", self.session.execute_script, _BROKEN_IMAGES_JS) or [])
        except RobotError:
            raise
        except Exception:
            return []

    async def prepare_for_screenshot(self) -> None:
        if not self.web:
            return
        try:
            await self._call("still the page", self.session.execute_script,
                             "const s = document.createElement('style'); s.textContent = arguments[0]; "
                             "(document.head || document.documentElement).appendChild(s);"
                             "if (document.activeElement && document.activeElement.blur) document.activeElement.blur();",
                             _STILL_CSS)
        except RobotError:
            raise
        except Exception:
            pass

    # -- what the app did on its own ------------------------------------------------------
    def failure_seen(self) -> bool:
        return bool(self._events)

    def drain_events(self) -> DriverEvents:
        watch, self._expect_watch = self._expect_watch, None
        if watch is not None and watch.frozen() and not watch.busy:
            self._events.app_state.append({
                "reason": "frozen_screen", "kind": STALL, "fatal": True,
                "message": f"the screen stayed frozen for {watch.seconds:.1f}s while waiting for {self._expect_what} "
                           f"to appear: all {watch.samples} screenshots were identical",
                "waiting_for": self._expect_what, "screenshots": watch.samples,
            })
        events, self._events = self._events, DriverEvents()
        self._observed_since_drain = False
        return events

    async def _observe(self, force: bool = False) -> None:
        """Read what happened behind the screen: Chrome's logs (browser sessions), or
        which app is in front (native Android/iOS). Rate-limited; errors of the
        looking itself are not the app's."""
        now = time.monotonic()
        if not force and now - self._observed_at < OBSERVE_EVERY_S:
            return
        self._observed_at, self._observed_since_drain = now, True
        if self.web:
            await self._read_chrome_logs()
        elif not self._probe_off:
            await self._probe_app()

    async def _observe_during_wait(self) -> None:
        """While an action waits for an element: stop at once if the app is gone."""
        before = len(self._events.app_state)
        await self._observe()
        if len(self._events.app_state) > before:
            state = self._events.app_state.pop()
            raise ActionFailed(state["message"], reason=state["reason"],
                               evidence={k: v for k, v in state.items() if k not in ("message", "reason")})

    async def _read_chrome_logs(self) -> None:
        if "goog:loggingPrefs" not in self.requested:
            return
        try:
            perf = await self._call("performance log", self.session.get_log, "performance")
            browser = await self._call("browser log", self.session.get_log, "browser")
        except RobotError:
            raise
        except Exception:
            self.requested = {k: v for k, v in self.requested.items() if k != "goog:loggingPrefs"}
            return
        self._logs.performance(perf or [], self._events)
        if browser:
            url = await self._call("current url", lambda: self.session.current_url)
            self._logs.browser(browser, self._events, url)

    async def _foreground_app(self) -> str | None:
        try:
            if self.os == "android":
                return str(await self._call("current package", lambda: self.session.current_package) or "") or None
            if self.os == "ios":
                info = await self._call("active app", self.session.execute_script, "mobile: activeAppInfo")
                return str((info or {}).get("bundleId") or "") or None
        except RobotError:
            raise
        except Exception as e:
            if sup.is_unsupported(e):
                self._probe_off = True
        return None

    async def _probe_app(self) -> None:
        expected = self.expected_app
        if not expected:
            return
        front = await self._foreground_app()
        if self._probe_off or front is None:
            return
        if front == expected:
            self._reported_state = None
            return
        try:
            state = int(await self._call("app state", self.session.query_app_state, expected))
        except RobotError:
            raise
        except Exception:
            state = -1
        system_ui = ANDROID_SYSTEM_UI if self.os == "android" else IOS_SYSTEM_UI
        if state in (0, 1):
            reason = "app_crashed"
            message = (f"the app {expected} is {APP_STATE_WORDS[state]} any more (it crashed or was closed); "
                       f"{front} is on screen")
        elif front in system_ui:
            reason = "system_dialog"
            message = f"a system dialog ({front}) is on top of the app {expected}"
        else:
            reason = "app_left_foreground"
            message = (f"the app {expected} left the foreground: {front} is on screen now "
                       f"(the app is {APP_STATE_WORDS.get(state, 'in an unknown state')})")
        if self._reported_state == reason:
            return
        self._reported_state = reason
        self._events.app_state.append({"reason": reason, "message": message, "app": expected, "foreground": front,
                                       "app_state": state})


# -- configuration helpers ----------------------------------------------------------------
def _config_url(config, path: tuple, value: Any) -> str:
    if not isinstance(value, str):
        raise config.problem(path, "expected an http:// or https:// URL")
    try:
        url = interpolate(value)
    except MissingVariable as e:
        raise config.problem(path, str(e)) from None
    if not url.startswith(("http://", "https://")):
        raise config.problem(path, f"expected an http:// or https:// URL, got {sup.mask_url(url)!r}")
    return url.rstrip("/")


def _config_devices(config, raw: Any) -> dict[str, dict]:
    devices = {}
    for name, entry in raw.items():  # patrol.yaml appium.devices, checked at load
        path = ("appium", "devices", name)
        device: dict[str, Any] = {}
        if entry.url is not None:
            device["url"] = _config_url(config, path + ("url",), entry.url)
        device["capabilities"] = sup.normalise(_interpolate_tree(config, path + ("capabilities",), dict(entry.capabilities)))
        devices[str(name)] = device
    return devices


def _interpolate_tree(config, path: tuple, value: Any) -> Any:
    if isinstance(value, str):
        try:
            return interpolate(value)
        except MissingVariable as e:
            raise config.problem(path, str(e)) from None
    if isinstance(value, dict):
        return {k: _interpolate_tree(config, path + (k,), v) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate_tree(config, path + (i,), v) for i, v in enumerate(value)]
    return value


# -- small helpers ------------------------------------------------------------------------
def _reason(e: BaseException) -> str:
    chain, seen = [], e
    while seen is not None and len(chain) < 10:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    if any(isinstance(x, ConnectionRefusedError) or getattr(x, "errno", None) == 111 for x in chain):
        return "connection refused (nothing listens there)"
    text = " ".join(str(x) for x in chain)
    lowered = text.lower()
    if "connection refused" in lowered or "errno 111" in lowered:
        return "connection refused (nothing listens there)"
    if "name or service not known" in lowered or "nodename nor servname" in lowered or "temporary failure in name" in lowered:
        return "unknown host"
    if "timed out" in lowered or "timeout" in lowered:
        return "timed out"
    return MASKER.mask(sup.first_line(e, 200)) or type(e).__name__


def _server_message(e: BaseException) -> str:
    """The server's own words for a failed session, without the client's stack."""
    text = str(getattr(e, "msg", None) or e).strip()
    text = text.split("\nStacktrace:")[0].strip()
    return " ".join(text.split())[:800] or type(e).__name__


def _css_escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"')


def _xq(text: str) -> str:
    """An XPath string literal for any text."""
    if "'" not in text:
        return f"'{text}'"
    if '"' not in text:
        return f'"{text}"'
    return "concat(" + ", \"'\", ".join(f"'{p}'" for p in text.split("'")) + ")"
