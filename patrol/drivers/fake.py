"""A driver with no browser: scripted screens, elements, URLs, events and screenshots
held in memory (like Maestro's FakeDriver). The runner's orchestration rules (what
ends a journey, what folds into what, what is the robot's fault) are tested against
it in milliseconds; what only a real browser proves stays with Chromium.

A ``FakeApp`` is the script: screens by path, each with its elements and what an
action on an element does (a ``Reaction``: go elsewhere, take time, hang, fail,
report a 5xx or a script error, crash the engine)::

    app = FakeApp({
        "/login": FakeScreen(elements={"#form": FakeElement()},
                             on={"click #submit": Reaction(go="/home")}),
        "/home": FakeScreen(elements={"#total": FakeElement()}),
    })
    pool = EnginePool(FakeEngine.factory(app))
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ..core.capabilities import Capability
from ..core.evidence import BadDocument, DialogRecord, FailedRequest, PageError
from ..core.geometry import Box
from ..core.vocabulary import Reason
from ..errors import ActionFailed, BrowserCrashed, RobotError
from ..journey.model import Journey, Locator
from .base import DialogAnswer, Driver, DriverEvents, Engine, ScreenEnvironment

SCREEN_W, SCREEN_H = 64, 40  # small: the fake's screenshots are for orchestration, not pixels


@dataclass
class FakeElement:
    visible: bool = True
    box: Box = Box(4, 4, 16, 8)
    text: str = ""  # what text_of / store: text_of read
    value: str = ""  # a form field's value
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass
class Reaction:
    """What happens when an action touches something (or a screen is opened)."""

    go: str | None = None  # the app navigates to this path
    delay_s: float = 0.0  # the action takes this long
    hang: bool = False  # the action never finishes
    fail: str | None = None  # the action fails with this reason (an ActionFailed)
    robot_error: str | None = None  # the robot itself fails here (a RobotError with this message)
    crash: bool = False  # the engine dies once the action is done
    failed_requests: list[FailedRequest] = field(default_factory=list)  # fetch/XHR that failed or answered 5xx
    page_errors: list[PageError] = field(default_factory=list)  # uncaught script errors
    bad_documents: list[BadDocument] = field(default_factory=list)  # the page itself answered >= 400
    show: list[str] = field(default_factory=list)  # elements that appear on the current screen
    hide: list[str] = field(default_factory=list)  # elements that go away
    dialog: tuple[str, str] | None = None  # a JavaScript dialog opens: (type, message)
    popup: str | None = None  # a new tab/window opens on this path


@dataclass
class FakeScreen:
    elements: dict[str, FakeElement] = field(default_factory=dict)  # by Locator.describe()
    on: dict[str, Reaction] = field(default_factory=dict)  # "click #x", "fill #x", "press Enter"...
    enter: Reaction | None = None  # what opening the screen with goto does
    busy: bool = False  # a spinner is on screen
    broken_images: list[dict[str, object]] = field(default_factory=list)  # as the page script answers them


@dataclass
class FakeApp:
    """The scripted app; every driver of every engine made from it shares it, so a
    test can change it between runs (a fault fixed, a fault introduced)."""

    screens: dict[str, FakeScreen] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)  # every driver call, in order: what the test can assert on

    def screen(self, path: str) -> FakeScreen:
        return self.screens.setdefault(path, FakeScreen())


def png(width: int, height: int, seed: int) -> bytes:
    """A small, valid, non-blank RGB PNG whose pixels depend on ``seed``."""
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter: none
        for x in range(width):
            v = (x * 7 + y * 13 + seed * 31) & 0xFF
            rows += bytes((v, (v * 3 + seed) & 0xFF, (255 - v) & 0xFF))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(rows))) + chunk(b"IEND", b"")


class FakeDriver(Driver):
    # Every capability but complete network evidence (that is Playwright's own).
    capabilities = frozenset(Capability) - {Capability.NETWORK}

    def __init__(self, engine: FakeEngine, journey: Journey):
        self.engine = engine
        self.app = engine.app
        self.platform = "web" if journey.target == "web" else "android"
        self.url = "about:blank"
        self.path = ""
        self.hidden: set[str] = set()
        self.shown: set[str] = set()
        self.events = DriverEvents()
        self.closed = False
        self.frames: list[str] = []  # ``within_frame`` nesting (described locators)
        self.dialog_answer: DialogAnswer | None = None
        self.popups: list[str] = []  # paths of the tabs the journey opened
        self.main_url: str | None = None  # the main tab's URL while on a popup

    # -- the script -------------------------------------------------------------------
    @property
    def current(self) -> FakeScreen:
        return self.app.screen(self.path)

    def _element(self, locator: Locator) -> FakeElement | None:
        key = locator.describe()
        if key in self.hidden:
            return None
        element = self.current.elements.get(key)
        if element is None and key in self.shown:
            return FakeElement()
        return element

    def _alive(self, what: str) -> None:
        if not self.engine.alive:
            raise BrowserCrashed(f"the fake engine went away during '{what}'")

    async def _react(self, what: str, reaction: Reaction | None) -> None:
        self.app.calls.append(what)
        self._alive(what)
        if reaction is None:
            return
        if reaction.robot_error:
            raise RobotError(reaction.robot_error)
        if reaction.hang:
            await asyncio.Event().wait()  # never set: only a timeout or a cancel ends it
        if reaction.delay_s:
            await asyncio.sleep(reaction.delay_s)
        self.events.failed_requests += reaction.failed_requests
        self.events.page_errors += reaction.page_errors
        self.events.bad_documents += reaction.bad_documents
        if reaction.dialog is not None:
            self._dialog(*reaction.dialog)
        if reaction.popup is not None:
            self.popups.append(reaction.popup)
        if reaction.go is not None:
            self._navigate(reaction.go)
        self.hidden.update(reaction.hide)
        self.shown.difference_update(reaction.hide)
        self.shown.update(reaction.show)
        self.hidden.difference_update(reaction.show)
        if reaction.crash:
            self.engine.alive = False
        if reaction.fail:
            raise ActionFailed(f"{what}: failed ({reaction.fail})", reason=reaction.fail)

    def _dialog(self, kind: str, message: str) -> None:
        """Answered as ``PlaywrightDriver`` answers: as armed, a wrong text dismissed."""
        answer = self.dialog_answer
        matched = answer is None or answer.matches(message)
        accept = answer is not None and answer.accept and matched
        self.events.dialogs.append(DialogRecord(type=kind, message=message, answer="accepted" if accept else "dismissed",
                                                armed=answer is not None, expected=answer.text if answer else None,
                                                matched=matched))

    def _navigate(self, url: str) -> None:
        parts = urlsplit(url)
        self.path = parts.path or "/"
        self.url = url if parts.scheme else f"http://fake.test{url}"
        self.hidden.clear()
        self.shown.clear()

    async def _on_element(self, verb: str, locator: Locator, timeout_ms: float) -> None:
        what = f"{verb} {locator.describe()}"
        self._alive(what)
        if self.engine.waits_for_elements:
            deadline = asyncio.get_running_loop().time() + timeout_ms / 1000
            while not self._visible(locator):
                if asyncio.get_running_loop().time() >= deadline:
                    self.app.calls.append(what)
                    raise ActionFailed(f"{what}: timed out after {timeout_ms / 1000:.1f}s", reason=Reason.ACTION_TIMEOUT)
                await asyncio.sleep(0.02)
        if self._element(locator) is None or not self._visible(locator):
            self.app.calls.append(what)
            # A real driver waits for the element up to the timeout; the fake knows at once.
            raise ActionFailed(f"{what}: no such element on {self.path or 'the blank page'}", reason="element_not_found")
        await self._react(what, self.current.on.get(what))

    def _visible(self, locator: Locator) -> bool:
        element = self._element(locator)
        return element is not None and element.visible

    # -- Driver ---------------------------------------------------------------------------
    async def goto(self, url: str, *, timeout_ms: float) -> None:
        self._alive(f"goto {url}")
        self._navigate(url)
        await self._react(f"goto {self.path}", self.current.enter)

    async def click(self, locator: Locator, *, timeout_ms: float) -> None:
        await self._on_element("click", locator, timeout_ms)

    async def fill(self, locator: Locator, text: str, *, timeout_ms: float) -> None:
        await self._on_element("fill", locator, timeout_ms)

    async def press(self, key: str, locator: Locator | None, *, timeout_ms: float) -> None:
        await self._react(f"press {key}", self.current.on.get(f"press {key}"))

    async def select(self, locator: Locator, by: str, choice: str, *, timeout_ms: float) -> None:
        await self._on_element("select", locator, timeout_ms)

    async def scroll(self, locator: Locator | None, dx: int, dy: int, *, timeout_ms: float) -> None:
        await self._react("scroll", self.current.on.get("scroll"))

    async def wait_for(self, locator: Locator, state: str, *, timeout_ms: float) -> None:
        what = f"wait_for {locator.describe()}"
        self.app.calls.append(what)
        reaction = self.current.on.get(what)
        if reaction is not None:
            await self._react(what, reaction)
            return
        if self._visible(locator) != (state == "hidden"):
            return
        # Like a real wait: the whole timeout passes, then it fails.
        await asyncio.sleep(timeout_ms / 1000)
        raise ActionFailed(f"{what}: not {state} within {timeout_ms / 1000:g}s", reason="element_not_found")

    async def hover(self, locator: Locator, *, timeout_ms: float) -> None:
        await self._on_element("hover", locator, timeout_ms)

    async def upload(self, locator: Locator, files: list[str], *, timeout_ms: float) -> None:
        await self._on_element("upload", locator, timeout_ms)

    async def drag(self, source: Locator, target: Locator, *, timeout_ms: float) -> None:
        if self._element(target) is None:
            raise ActionFailed(f"drag to {target.describe()}: no such element on {self.path}", reason="element_not_found")
        await self._on_element("drag", source, timeout_ms)

    async def answer_dialogs(self, answer: DialogAnswer | None) -> None:
        self.app.calls.append(f"dialog {'default' if answer is None else 'accept' if answer.accept else 'dismiss'}")
        self.dialog_answer = answer

    async def switch_to(self, which: str, *, timeout_ms: float) -> None:
        self.app.calls.append(f"switch_to {which}")
        if which == "main":
            if self.main_url is not None:
                self._navigate(self.main_url)
                self.main_url = None
            return
        if not self.popups:
            await asyncio.sleep(timeout_ms / 1000)  # a real driver waits for one to open
            raise ActionFailed("switch to popup: no new tab or window opened", reason="element_not_found")
        if self.main_url is None:
            self.main_url = self.url
        self._navigate(self.popups[-1])

    @contextlib.asynccontextmanager
    async def within_frame(self, frame: Locator | None) -> AsyncIterator[None]:
        if frame is None:
            yield
            return
        self.app.calls.append(f"frame {frame.describe()}")
        self.frames.append(frame.describe())
        try:
            yield
        finally:
            self.frames.pop()
            self.app.calls.append(f"frame end {frame.describe()}")

    async def app_control(self, command: str, app_id: str | None, *, timeout_ms: float) -> None:
        what = f"{command} {app_id or 'the app'}"
        await self._react(what, self.current.on.get(what))

    async def back(self, *, timeout_ms: float) -> None:
        await self._react("back", self.current.on.get("back"))

    async def is_visible(self, locator: Locator) -> bool:
        return self._visible(locator)

    async def current_url(self) -> str:
        return self.url

    async def screenshot(self) -> bytes:
        # A dying browser's last frame: screenshots keep answering, so a crash shows
        # as a failed step first and the runner must notice the engine went away.
        return png(SCREEN_W, SCREEN_H, sum(self.path.encode()) % 251)

    async def busy_indicator_visible(self) -> bool:
        return self.current.busy

    def drain_events(self) -> DriverEvents:
        events, self.events = self.events, DriverEvents()
        return events

    def failure_seen(self) -> bool:
        ev = self.events
        return bool(ev.failed_requests or ev.bad_documents or ev.page_errors)

    def _shown(self, locator: Locator) -> list[FakeElement]:
        """The element a locator matches, when visible (the fake has one per locator)."""
        element = self._element(locator)
        return [element] if element is not None and element.visible else []

    async def texts_of(self, locator: Locator) -> list[str]:
        return [e.text for e in self._shown(locator)]

    async def attributes_of(self, locator: Locator, name: str) -> list[str | None]:
        return [e.attributes.get(name) for e in self._shown(locator)]

    async def values_of(self, locator: Locator) -> list[str]:
        return [e.value for e in self._shown(locator)]

    async def element_boxes(self, locators: list[Locator]) -> list[Box]:
        return [e.box for e in (self._element(loc) for loc in locators) if e is not None]

    async def broken_images(self) -> list[dict[str, object]]:
        return list(self.current.broken_images)

    async def environment(self) -> ScreenEnvironment:
        return {"browser": f"fake {self.engine.version}", "viewport": (SCREEN_W, SCREEN_H), "scale": 1.0}

    async def close(self) -> None:
        self.closed = True
        self.engine.open_drivers.discard(self)


class FakeEngine(Engine):
    """Hands out ``FakeDriver`` s over one ``FakeApp``. ``alive`` false is a crashed
    browser: ``healthy()`` says so and the pool restarts it for the next journey."""

    name = "fake"
    version = "1.0"

    def __init__(self, app: FakeApp, *, start_error: str | None = None, waits_for_elements: bool = False):
        self.app = app
        self.start_error = start_error  # the engine cannot start (no browser): a RobotError
        # True: an action waits for its element up to its timeout and then times out, as a
        # real driver does; False: it fails at once (element_not_found), for quick tests.
        self.waits_for_elements = waits_for_elements
        self.alive = False
        self.starts = 0
        self.closes = 0
        self.drivers: list[FakeDriver] = []
        self.open_drivers: set[FakeDriver] = set()

    @classmethod
    def factory(cls, app: FakeApp, *, start_error: str | None = None,
                waits_for_elements: bool = False) -> Callable[[str], FakeEngine]:
        """For ``EnginePool(factory)``: every target gets a fake engine over ``app``."""
        return lambda target: cls(app, start_error=start_error, waits_for_elements=waits_for_elements)

    async def start(self) -> None:
        if self.start_error:
            raise RobotError(self.start_error)
        self.alive = True
        self.starts += 1

    async def new_driver(self, journey: Journey) -> Driver:
        if not self.alive:
            raise BrowserCrashed("the fake engine is not running")
        driver = FakeDriver(self, journey)
        self.drivers.append(driver)
        self.open_drivers.add(driver)
        return driver

    async def healthy(self) -> bool:
        return self.alive

    async def close(self) -> None:
        self.alive = False
        self.closes += 1
