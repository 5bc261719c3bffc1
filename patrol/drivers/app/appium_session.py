"""One Appium session, and what every kind of session shares: calling the client off
the event loop with the session's losses translated (``RobotError``), finding and
waiting for elements, screenshots in pixels, W3C pointer actions.

What differs between a native app and a browser on the device is a strategy
(``appium_native.NativeStrategy``, ``appium_web.WebStrategy``), chosen once when
the session starts; the methods left abstract here are the seams."""

from __future__ import annotations

import asyncio
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, ClassVar, TypeVar, TypeVarTuple

from selenium.common.exceptions import (
    InvalidSelectorException,
    NoAlertPresentException,
    UnexpectedAlertPresentException,
    WebDriverException,
)
from selenium.webdriver.common.alert import Alert
from selenium.webdriver.remote.command import Command

from ...core.capabilities import NONE, Capability
from ...core.geometry import Box
from ...core.layout import ScreenLayout
from ...core.png import png_dimensions
from ...core.vocabulary import Reason
from ...errors import ActionFailed, AppiumUnreachable, DeviceLost, RobotError
from ...journey.model import Journey, Locator
from ...secrets import MASKER
from ..base import DriverEvents, ScreenEnvironment
from . import _appium_support as sup

if TYPE_CHECKING:
    from appium.webdriver.webdriver import WebDriver
    from appium.webdriver.webelement import WebElement

POLL_S = 0.25
# (x, y, duration_ms) moves, "down", "up", ("pause", ms): one W3C pointer gesture.
Move = tuple[float, float, float] | tuple[str, float] | str
# One W3C action of a pointer or key source, as the WebDriver protocol writes it.
W3CAction = dict[str, str | int]
T = TypeVar("T")
D = TypeVar("D")
V = TypeVar("V")
Ts = TypeVarTuple("Ts")


def off_loop(fn: Callable[[*Ts], T], *args: *Ts) -> asyncio.Future[T]:
    """``fn`` in a thread of its own, as ``asyncio.to_thread`` would, but a daemon one:
    a call into a frozen app waits on Appium for minutes (its proxy to chromedriver,
    UiAutomator2's idle wait), and the process must not wait for it when it ends."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def give(value: T) -> None:
        if not future.done():
            future.set_result(value)

    def fail(error: BaseException) -> None:
        if not future.done():
            future.set_exception(error)

    def run() -> None:
        try:
            value = fn(*args)
        except BaseException as e:  # handed to the awaiting coroutine, as to_thread does
            _hand_over(loop, fail, e)
        else:
            _hand_over(loop, give, value)

    threading.Thread(target=run, name="patrol-appium-call", daemon=True).start()
    return future


def _hand_over(loop: asyncio.AbstractEventLoop, settle: Callable[[V], None], outcome: V) -> None:
    try:
        loop.call_soon_threadsafe(settle, outcome)
    except RuntimeError:
        pass  # the loop has closed: nobody waits for this answer any more


async def _nothing() -> None:
    return None



# chromedriver's answer when the page's renderer did not come back to it in time.
RENDERER_TIMED_OUT = "Timed out receiving message from renderer"

class AppiumSession(ABC):
    """The session plumbing plus the strategy seams (see the module's doc)."""

    web: ClassVar[bool] = False
    capabilities: ClassVar[frozenset[Capability]] = NONE  # what the AppiumDriver has on this session
    # Scrolling an element into view: native trees hold only what is on screen, so the
    # element counts once it is visible; a page holds it all along, hidden or not.
    scroll_needs_visible: ClassVar[bool] = True

    def __init__(self, session: WebDriver, requested: sup.Capabilities, *, server_url: str,
                 command_timeout_s: float) -> None:
        self.session = session
        self.requested = requested
        self.caps = returned_capabilities(session)
        self.server_url = server_url
        self.command_timeout_s = command_timeout_s
        self.os = str(self.caps.get("platformName") or requested.get("platformName") or "").lower()
        self.automation = str(self.caps.get("automationName") or sup.cap(requested, "automationName") or "").lower()
        self.app_id: str | None = sup.cap_text(requested, "appPackage") or sup.cap_text(requested, "bundleId")
        self.touch = True  # fingers on a phone; a browser on a desktop uses the mouse
        self.shot_size: tuple[int, int] | None = None
        # The watcher's breakpoint check while waiting (the driver sets it).
        self.on_wait: Callable[[], Awaitable[None]] = _nothing
        # When each quick call still waiting for the device was sent (``oldest_call``): an
        # app whose UI thread is frozen holds them (runner/hang.py, ``app_not_responding``).
        self.inflight: dict[object, float] = {}

    # -- plumbing -----------------------------------------------------------------------------
    async def call(self, what: str, fn: Callable[[*Ts], T], *args: *Ts, timeout_s: float | None = None) -> T:
        """Run one client call off the event loop; the session or server going away is
        a RobotError, every other WebDriver error is returned to the caller as raised."""
        limit = timeout_s or self.command_timeout_s
        # A call given its own time (an open, a back: they wait for the app up to the hard
        # timeout by design) is no sign of a frozen app; every other one should come back at once.
        token = object()
        if timeout_s is None:
            self.inflight[token] = time.monotonic()
        try:
            return await asyncio.wait_for(off_loop(fn, *args), limit)
        except TimeoutError:
            raise DeviceLost(f"the device did not answer '{what}' within {limit:.0f}s "
                             f"(Appium at {sup.mask_url(self.server_url)})") from None
        except Exception as e:
            self.raise_if_lost(e, what)
            if token in self.inflight and RENDERER_TIMED_OUT in str(e):
                # chromedriver gave up on a frozen renderer (its own limit can end just before the
                # hard timeout): that is the app, not the robot. The call stays waiting, so the
                # runner's watcher names it app_not_responding; outside a step it ends as before.
                await asyncio.sleep(limit)
            raise
        finally:
            self.inflight.pop(token, None)

    def oldest_call(self) -> float | None:
        """When (monotonic) the oldest quick call still waiting was sent; None: none waits."""
        return min(self.inflight.values(), default=None)

    def raise_if_lost(self, e: BaseException, what: str) -> None:
        if sup.is_connection_error(e):
            raise AppiumUnreachable(f"lost the Appium server at {sup.mask_url(self.server_url)} during '{what}': "
                                    f"{sup.reason(e)}") from None
        if sup.is_session_lost(e):
            raise DeviceLost(f"the Appium session ended during '{what}' (device or app under automation gone): "
                             f"{MASKER.mask(sup.first_line(e))}") from None

    async def quiet(self, what: str, fn: Callable[[*Ts], T], *args: *Ts, default: D) -> T | D:
        """A call whose failure means "not knowable here" (``default``), unless the session is lost."""
        try:
            return await self.call(what, fn, *args)
        except RobotError:
            raise
        except Exception:
            return default

    def fail(self, message: str, reason: str = Reason.ACTION_FAILED, **evidence: object) -> ActionFailed:
        return ActionFailed(message, reason=reason, evidence=evidence)

    def unsupported(self, what: str, e: BaseException) -> ActionFailed:
        return self.fail(f"{what} is not supported by this Appium driver ({self.automation or 'unknown'}): "
                         f"{sup.first_line(e)}", reason=Reason.NOT_SUPPORTED)

    def translate(self, what: str, e: BaseException, unsupported: str | None = None) -> ActionFailed:
        """A WebDriver error of an action: "not supported", or the action failed."""
        if sup.is_unsupported(e):
            return self.unsupported(unsupported or what, e)
        if isinstance(e, UnexpectedAlertPresentException):
            return blocked_by_alert(what, e)
        return self.fail(f"{what}: {sup.first_line(e)}")

    @contextmanager
    def webdriver_errors(self, what: str, unsupported: str | None = None) -> Iterator[None]:
        """WebDriver errors inside become ``translate``'s ActionFailed, never a traceback."""
        try:
            yield
        except WebDriverException as e:
            raise self.translate(what, e, unsupported) from None

    # -- locating -----------------------------------------------------------------------------
    async def elements(self, loc: Locator) -> list[WebElement]:
        by, value = self.by(loc)
        try:
            return await self.call(f"find {loc.describe()}", self.session.find_elements, by, value)
        except RobotError:
            raise
        except Exception as e:
            if isinstance(e, InvalidSelectorException) or sup.is_unsupported(e):
                raise self.fail(f"the server refused the locator {loc.describe()}: {sup.first_line(e)}",
                                reason=Reason.BAD_LOCATOR) from None
            return []

    async def displayed(self, el: WebElement) -> bool:
        return bool(await self.quiet("is displayed", el.is_displayed, default=False))

    async def first(self, loc: Locator, visible: bool) -> WebElement | None:
        for el in (await self.elements(loc))[:5]:
            if not visible or await self.displayed(el):
                return el
        return None

    async def find(self, loc: Locator, timeout_ms: float, *, visible: bool = True) -> WebElement:
        """The first (visible) element, waiting up to the timeout for it."""
        deadline = time.monotonic() + timeout_ms / 1000
        seen_hidden = False
        while True:
            els = await self.elements(loc)
            for el in els[:5]:
                if not visible or await self.displayed(el):
                    return el
            seen_hidden = seen_hidden or bool(els)
            await self.on_wait()
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(POLL_S)
        secs = timeout_ms / 1000
        if seen_hidden:
            raise self.fail(f"{loc.describe()} is there but not visible after {secs:.1f}s",
                            reason=Reason.ELEMENT_NOT_VISIBLE, locator=loc.describe(), waited_ms=timeout_ms)
        raise self.fail(f"{loc.describe()} was not found within {secs:.1f}s", reason=Reason.ELEMENT_NOT_FOUND,
                        locator=loc.describe(), waited_ms=timeout_ms)

    async def retry(self, what: str, fn: Callable[[], Awaitable[T]], timeout_ms: float) -> T:
        """Retry an element interaction (intercepted, stale, not interactable) until the timeout."""
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            try:
                return await fn()
            except (ActionFailed, RobotError):
                raise
            except WebDriverException as e:
                if sup.is_unsupported(e):
                    raise self.unsupported(what, e) from None
                alert = isinstance(e, UnexpectedAlertPresentException)
                if alert:
                    await self.on_wait()  # the driver answers it if a ``dialog:`` is armed
                if time.monotonic() >= deadline:
                    failure = blocked_by_alert(what, e) if alert else self.fail(f"{what}: {MASKER.mask(sup.first_line(e))}")
                    raise failure from None
                await asyncio.sleep(POLL_S)

    # -- alerts (over the app or the page; answered as a ``dialog:`` step armed it) ----------------
    async def alert_text(self) -> str | None:
        """The open alert's words; None when no alert is open."""
        try:
            return str(await self.call("read the alert", lambda: Alert(self.session).text) or "")
        except RobotError:
            raise
        except NoAlertPresentException:
            return None
        except WebDriverException as e:
            if sup.is_unsupported(e):
                raise self.unsupported("answering alerts", e) from None
            return None

    async def answer_alert(self, accept: bool, prompt: str | None) -> bool:
        """Accept (typing ``prompt`` first, when it is a prompt) or dismiss the open
        alert. True when the prompt's text was typed."""
        alert = Alert(self.session)
        typed = False
        if accept and prompt is not None:
            try:
                await self.call("type into the alert", alert.send_keys, prompt)
                typed = True
            except RobotError:
                raise
            except WebDriverException:
                pass  # no text field in this alert: it is just accepted
        what = "accept the alert" if accept else "dismiss the alert"
        try:
            await self.call(what, alert.accept if accept else alert.dismiss)
        except NoAlertPresentException:
            pass  # it went away on its own meanwhile
        except WebDriverException as e:
            raise self.translate(what, e, unsupported="answering alerts") from None
        return typed

    # -- pixels and gestures --------------------------------------------------------------------
    async def shot(self) -> bytes:
        try:
            png = await self.call("screenshot", self.session.get_screenshot_as_png)
        except RobotError:
            raise
        except Exception as e:
            raise RobotError(f"could not take a screenshot: {sup.first_line(e)}") from None
        self.shot_size = png_dimensions(png) or self.shot_size
        return png

    async def scale_xy(self) -> tuple[float, float]:
        """Screenshot pixels per window point."""
        if self.shot_size is None:
            await self.shot()
        w, h = await self.window()
        sw, sh = self.shot_size or (w, h)
        return (sw / w if w else 1.0), (sh / h if h else 1.0)

    async def pointer(self, moves: list[Move], what: str) -> None:
        """W3C pointer actions: (x, y, duration_ms) moves, "down", "up", ("pause", ms)."""
        actions: list[W3CAction] = []
        for m in moves:
            if isinstance(m, str):
                actions += ([{"type": "pointerDown", "button": 0}, {"type": "pause", "duration": 50}] if m == "down"
                            else [{"type": "pointerUp", "button": 0}])
            elif len(m) == 2:
                actions.append({"type": "pause", "duration": int(m[1])})
            else:
                x, y, ms = m
                actions.append({"type": "pointerMove", "duration": int(ms), "x": int(round(x)), "y": int(round(y)),
                                "origin": "viewport"})
        kind = "touch" if self.touch else "mouse"
        payload = {"actions": [{"type": "pointer", "id": "finger1" if kind == "touch" else "mouse",
                                "parameters": {"pointerType": kind}, "actions": actions}]}
        await self.call(what, self.session.execute, Command.W3C_ACTIONS, payload)

    async def scroll_by(self, dx: float, dy: float) -> None:
        """A swipe that moves the content by (dx, dy): the finger travels the other way."""
        w, h = await self.window()
        cx, cy = w / 2, h / 2
        # Start where the finger has room to travel; hold still before lifting so the
        # content does not fling on (the same swipe always scrolls the same amount).
        sx = min(max(cx + dx / 2, w * 0.05), w * 0.95)
        sy = min(max(cy + dy / 2, h * 0.05), h * 0.95)
        ex = min(max(sx - dx, w * 0.05), w * 0.95)
        ey = min(max(sy - dy, h * 0.05), h * 0.95)
        await self.pointer([(sx, sy, 0), "down", (ex, ey, 400), ("pause", 150), "up"], f"swipe by ({dx}, {dy})")
        await asyncio.sleep(0.1)

    async def bring_into_view(self, locator: Locator, dy: int, timeout_ms: float) -> None:
        """Swipe until the element is in view (towards ``dy`` while it is not in the tree yet)."""
        deadline = time.monotonic() + timeout_ms / 1000
        _w, h = await self.window()
        swipes = 0
        while True:
            el = await self.first(locator, visible=self.scroll_needs_visible)
            r = await self.rect_in_view(el) if el is not None else None
            if r is not None:
                top, bottom = r["y"], r["y"] + r["height"]
                if (top >= 0 and bottom <= h) or (r["height"] > h and top <= 0 and bottom >= h):
                    return
                delta = (top + r["height"] / 2) - h / 2 if r["height"] <= h else top
                delta = max(-0.6 * h, min(0.6 * h, delta))
            else:
                delta = -0.5 * h if dy < 0 else 0.5 * h
            before = await self.scroll_marker()
            if time.monotonic() >= deadline or swipes >= 15:
                break
            await self.scroll_by(0, delta)
            swipes += 1
            if await self.scroll_marker() == before:
                break  # nothing moved: the end of the screen
        raise self.fail(f"{locator.describe()} did not come into view after {swipes} swipe(s)",
                        reason=Reason.ELEMENT_NOT_FOUND, locator=locator.describe())

    def key_actions(self, char: str) -> None:
        """One key down and up through W3C actions (in the client's thread)."""
        self.session.execute(Command.W3C_ACTIONS, {"actions": [{
            "type": "key", "id": "keyboard",
            "actions": [{"type": "keyDown", "value": char}, {"type": "keyUp", "value": char}],
        }]})

    # -- the seams: what a native app and a browser session do differently ----------------------
    @abstractmethod
    def by(self, loc: Locator) -> tuple[str, str]:
        """A journey locator -> the WebDriver (using, value)."""

    @abstractmethod
    async def setup(self, journey: Journey) -> None: ...

    @abstractmethod
    async def goto(self, url: str, timeout_ms: float) -> None: ...

    @abstractmethod
    async def select(self, el: WebElement, by: str, choice: str, what: str, timeout_ms: float) -> None: ...

    async def press_key(self, key: str, char: str | None, what: str, timeout_ms: float) -> bool:
        """A key pressed with no element: the platform's own buttons. False: not one of them."""
        if key == "Back":
            await self.call("back", self.session.back, timeout_s=timeout_ms / 1000 + 10)
            return True
        return False

    @abstractmethod
    async def window(self) -> tuple[float, float]:
        """The window (native) or viewport (browser) in the coordinates gestures use."""

    @abstractmethod
    async def rect_in_view(self, el: WebElement) -> dict[str, float] | None:
        """The element's box in window/viewport coordinates."""

    @abstractmethod
    async def scroll_marker(self) -> object:
        """Something that changes when the content moved (the end of a list is reached when it does not)."""

    @abstractmethod
    async def busy(self) -> bool:
        """A spinner / progress indicator is on screen."""

    @abstractmethod
    async def boxes(self, els: list[WebElement]) -> list[Box]:
        """The elements' boxes in screenshot pixels."""

    @abstractmethod
    async def environment(self) -> ScreenEnvironment: ...

    @abstractmethod
    async def text_boxes(self, text: str) -> list[Box]: ...

    @abstractmethod
    async def current_url(self) -> str: ...

    async def look(self, events: DriverEvents) -> None:
        """What happened behind the screen since the last look (nothing knowable by default)."""
        return None

    async def picture_boxes(self) -> list[Box] | None:
        return None  # any native view may draw its own text: the whole screen is read

    async def broken_images(self) -> list[dict[str, object]]:
        return []

    async def screen_layout(self) -> ScreenLayout | None:
        return None

    async def text_layout(self, ignore: Sequence[str]) -> list[dict[str, object]] | None:
        return None

    async def prepare_for_screenshot(self) -> None:
        return None

    async def app_control(self, command: str, app_id: str | None, timeout_ms: float) -> None:
        raise self.fail(f"'{command}' needs a native app session; this one is a browser", reason=Reason.NOT_SUPPORTED)

    @property
    def expected_app(self) -> str | None:
        return None


def blocked_by_alert(what: str, e: BaseException) -> ActionFailed:
    """An action an unanswered alert stood in the way of."""
    text = getattr(e, "alert_text", None)
    said = f" ({MASKER.mask(str(text))!r})" if text else ""
    return ActionFailed(f"{what}: an alert is open on the screen{said}; a `dialog: accept` (or dismiss) step before "
                        f"this one answers it", evidence={"alert": MASKER.mask(str(text or ""))})


def returned_capabilities(session: WebDriver) -> sup.Capabilities:
    """The capabilities the server says the session has ({} when it says none)."""
    return sup.mapping(getattr(session, "capabilities", None))


def as_boxes(rows: object) -> list[Box]:
    """[[x, y, w, h], ...] from an in-page script -> Boxes (ints); a row that is not four numbers is left out."""
    boxes: list[Box] = []
    for row in rows if isinstance(rows, list) else []:
        numbers = [int(v) for v in row[:4] if isinstance(v, (int, float))] if isinstance(row, list) else []
        if len(numbers) == 4:
            boxes.append(Box(*numbers))
    return boxes
