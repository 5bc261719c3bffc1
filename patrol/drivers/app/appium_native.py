"""Native app sessions (UiAutomator2, XCUITest, Espresso, the fake driver...):
locators ``id``, ``accessibility_id``, ``xpath``, ``uiautomator``, ``ios_predicate``;
taps, swipes and scrolls are W3C touch actions; element rects are window points,
scaled to screenshot pixels.

Android and iOS can say which app is in front, so their sessions watch the journey's
app (``app_watcher.AppStateWatch``); other platforms cannot, and are not watched."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from selenium.common.exceptions import WebDriverException

from ...core.capabilities import APP_NATIVE
from ...core.geometry import Box
from ...core.vocabulary import Reason
from ...errors import RobotError
from ...journey.model import Journey, Locator
from ..base import DriverEvents, ScreenEnvironment
from . import _appium_support as sup
from .app_watcher import ANDROID_SYSTEM_UI, IOS_SYSTEM_UI, AppStateWatch
from .appium_session import AppiumSession

if TYPE_CHECKING:
    from appium.webdriver.webdriver import WebDriver
    from appium.webdriver.webelement import WebElement

NATIVE_BY = {
    "id": "id",
    "accessibility_id": "accessibility id",
    "xpath": "xpath",
    "uiautomator": "-android uiautomator",
    "ios_predicate": "-ios predicate string",
}


class NativeStrategy(AppiumSession):
    """Any native platform; Android and iOS add what only they can do below."""

    capabilities = APP_NATIVE.offers  # app control
    busy_xpath: ClassVar[str | None] = None

    def __init__(self, session: WebDriver, requested: sup.Capabilities, *, server_url: str,
                 command_timeout_s: float) -> None:
        super().__init__(session, requested, server_url=server_url, command_timeout_s=command_timeout_s)
        self._env: ScreenEnvironment | None = None

    def by(self, loc: Locator) -> tuple[str, str]:
        if loc.strategy in NATIVE_BY:
            return NATIVE_BY[loc.strategy], loc.value
        if loc.strategy == "css":
            raise self.fail("css locators need a browser session (browserName in the capabilities, e.g. the "
                            "chromium driver); in a native app use id, accessibility_id, xpath, uiautomator, "
                            "ios_predicate, text or point", reason=Reason.BAD_LOCATOR)
        raise self.fail(f"locator strategy '{loc.strategy}' is not available in this app session",
                        reason=Reason.BAD_LOCATOR)

    async def setup(self, journey: Journey) -> None:
        return None

    async def goto(self, url: str, timeout_ms: float) -> None:
        await self.call(f"open {url}", self.session.get, url, timeout_s=timeout_ms / 1000 + 10)

    async def select(self, el: WebElement, by: str, choice: str, what: str, timeout_ms: float) -> None:
        tag = str(await self.call("element type", lambda: el.tag_name) or "")
        if "PickerWheel" in tag:  # iOS pickers take the value typed in
            await self.call(what, el.send_keys, choice)
            return
        await self.call(what, el.click)
        q = sup.xq(choice)
        option = Locator("xpath", f"//*[@text={q} or @label={q} or @name={q} or @value={q} or @content-desc={q}]")
        picked = await self.find(option, timeout_ms)
        await self.call(what, picked.click)

    async def window(self) -> tuple[float, float]:
        size = await self.call("window size", self.session.get_window_size)
        return float(size["width"]), float(size["height"])

    async def rect_in_view(self, el: WebElement) -> dict[str, float] | None:
        rect: dict[str, float] | None = await self.quiet("element rect", lambda: el.rect, default=None)
        return rect

    async def scroll_marker(self) -> object:
        return await self.shot()

    async def busy(self) -> bool:
        if self.busy_xpath is None:
            return False
        for el in (await self.quiet("busy?", self.session.find_elements, "xpath", self.busy_xpath, default=[]))[:3]:
            if await self.displayed(el):
                return True
        return False

    async def boxes(self, els: list[WebElement]) -> list[Box]:
        sx, sy = await self.scale_xy()
        out: list[Box] = []
        for el in els:
            r = await self.rect_in_view(el)
            if r and r["width"] > 0 and r["height"] > 0:
                out.append(Box(int(round(r["x"] * sx)), int(round(r["y"] * sy)),
                               int(round(r["width"] * sx)), int(round(r["height"] * sy))))
        return out

    async def environment(self) -> ScreenEnvironment:
        if self._env is None:
            sx, _sy = await self.scale_xy()
            w, h = await self.window()
            model = self.caps.get("deviceModel") or self.caps.get("deviceName") or ""
            version = self.caps.get("platformVersion") or ""
            label = " ".join(str(p) for p in (self.caps.get("platformName") or self.os, version, model) if p)
            self._env = {"browser": label, "viewport": (int(w), int(h)), "scale": round(sx, 3)}
        return self._env.copy()

    async def text_boxes(self, text: str) -> list[Box]:
        """Where the element attributes (text, content-desc, label, name, value) hold the words."""
        q = sup.xq(text)
        xpath = (f"//*[contains(@text, {q}) or contains(@content-desc, {q}) or contains(@label, {q}) "
                 f"or contains(@name, {q}) or contains(@value, {q})]")
        try:
            return (await self.boxes(await self.elements(Locator("xpath", xpath))))[:3]
        except RobotError:
            raise
        except Exception:
            return []

    async def current_url(self) -> str:
        return f"app://{self.app_id or self.os or 'app'}"

    async def app_control(self, command: str, app_id: str | None, timeout_ms: float) -> None:
        """launch (cold start: terminate, then activate), activate (bring to the front,
        starting it when needed) or terminate an app; the journey's own app by default."""
        target = app_id or self.app_id
        if not target:
            raise self.fail(f"'{command}': which app? The capabilities name none (appium:appPackage / "
                            f"appium:bundleId); write '{command}: com.example.app'", reason=Reason.BAD_APP)
        try:
            if command in ("launch", "terminate"):
                try:
                    await self.call(f"terminate {target}", self.session.terminate_app, target)
                except WebDriverException as e:
                    if command == "terminate" or sup.is_unsupported(e):
                        raise
            if command in ("launch", "activate"):
                await self.call(f"{command} {target}", self.session.activate_app, target)
                self.started(target)
            else:
                self.stopped(target)
        except WebDriverException as e:
            if sup.is_unsupported(e):
                raise self.unsupported(f"{command} app", e) from None
            raise self.fail(f"{command} {target}: {sup.first_line(e)}") from None

    def started(self, app: str) -> None:
        """The journey brought ``app`` to the front on purpose."""

    def stopped(self, app: str) -> None:
        """The journey closed ``app`` on purpose."""


class MobileStrategy(NativeStrategy):
    """Android and iOS: which app is in front can be asked, so the journey's app is watched."""

    system_ui: ClassVar[tuple[str, ...]] = ()

    def __init__(self, session: WebDriver, requested: sup.Capabilities, *, server_url: str,
                 command_timeout_s: float) -> None:
        super().__init__(session, requested, server_url=server_url, command_timeout_s=command_timeout_s)
        self.app_state = AppStateWatch(self.system_ui)
        self.probe_off = False

    @property
    def expected_app(self) -> str | None:
        return self.app_state.expected

    async def setup(self, journey: Journey) -> None:
        if self.app_id is None:
            self.app_id = await self.foreground_app()
        self.app_state.expect(self.app_id)

    async def foreground(self) -> str | None:
        """The app in front, as this platform names it."""
        raise NotImplementedError

    async def foreground_app(self) -> str | None:
        if self.probe_off:
            return None
        try:
            return await self.foreground()
        except RobotError:
            raise
        except Exception as e:
            if sup.is_unsupported(e):
                self.probe_off = True  # this driver cannot say: stop asking
        return None

    async def look(self, events: DriverEvents) -> None:
        if not self.app_state.expected:
            return
        front = await self.foreground_app()
        await self.app_state.check(front, self._state_of, events)

    async def _state_of(self, app: str) -> int:
        return int(await self.quiet("app state", self.session.query_app_state, app, default=-1))

    def started(self, app: str) -> None:
        self.app_state.expect(app)

    def stopped(self, app: str) -> None:
        self.app_state.closed(app)

    async def current_url(self) -> str:
        try:
            return await self.app_url()
        except RobotError:
            raise
        except Exception:
            return await super().current_url()

    async def app_url(self) -> str:
        return f"app://{await self.foreground_app() or ''}"


class AndroidStrategy(MobileStrategy):
    busy_xpath = "//android.widget.ProgressBar"
    system_ui = ANDROID_SYSTEM_UI

    async def goto(self, url: str, timeout_ms: float) -> None:
        args = {"url": url, **({"package": self.app_id} if self.app_id else {})}
        await self.call(f"open {url}", self.session.execute_script, "mobile: deepLink", args)

    async def press_key(self, key: str, char: str | None, what: str, timeout_ms: float) -> bool:
        if key not in sup.ANDROID_KEYCODES:
            return False
        await self.call(what, self.session.press_keycode, sup.ANDROID_KEYCODES[key])
        return True

    async def foreground(self) -> str | None:
        return str(await self.call("current package", lambda: self.session.current_package) or "") or None

    async def app_url(self) -> str:
        package = await self.call("current package", lambda: self.session.current_package)
        activity = await self.call("current activity", lambda: self.session.current_activity)
        return f"app://{package}/{activity}"


class IOSStrategy(MobileStrategy):
    busy_xpath = "//XCUIElementTypeActivityIndicator"
    system_ui = IOS_SYSTEM_UI

    async def goto(self, url: str, timeout_ms: float) -> None:
        args = {"url": url, **({"bundleId": self.app_id} if self.app_id else {})}
        await self.call(f"open {url}", self.session.execute_script, "mobile: deepLink", args)

    async def press_key(self, key: str, char: str | None, what: str, timeout_ms: float) -> bool:
        if await super().press_key(key, char, what, timeout_ms):
            return True
        if key in sup.IOS_BUTTONS:
            await self.call(what, self.session.execute_script, "mobile: pressButton", {"name": sup.IOS_BUTTONS[key]})
            return True
        if char is not None:
            await self.call(what, self.session.execute_script, "mobile: keys", {"keys": [char]})
            return True
        return False

    async def foreground(self) -> str | None:
        info = await self.call("active app", self.session.execute_script, "mobile: activeAppInfo")
        return str(sup.mapping(info).get("bundleId") or "") or None
