"""The one interface the runner and the checks drive. Playwright (web) and Appium
(app) implement it; nothing above this layer imports either library.

An ``Engine`` owns the expensive shared thing (a Chromium process, an Appium server
connection) and hands out one ``Driver`` per journey (a browser context, an Appium
session), so journeys never share cookies or storage.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypedDict, cast

from ..core.capabilities import NONE, Capability
from ..core.evidence import DriverEvents as DriverEvents  # re-exported: the driver hands them out
from ..core.geometry import Box
from ..core.vocabulary import Reason
from ..errors import ActionFailed
from ..journey.model import Journey, Locator

if TYPE_CHECKING:
    from ..config import Config
    from ..core.layout import ScreenLayout
    from ..core.vitals import PageVitals
    from ._busy import BusyState


class ScreenEnvironment(TypedDict):
    """What the pixels depend on (``Driver.environment``): a baseline records it."""

    browser: str  # browser (or device) and version
    viewport: tuple[int, int]
    scale: float


class ScriptLocation(TypedDict):
    """Where the page's script was running when interrupted (``Driver.script_running``)."""

    function: str
    url: str  # token-masked
    line: int


@dataclass(frozen=True)
class DialogAnswer:
    """How the next JavaScript dialog(s) are answered (``dialog:`` in a journey)."""

    accept: bool
    text: str | None = None  # words the dialog must contain; otherwise it is dismissed
    prompt: str | None = None  # what to type into a prompt() before accepting

    def matches(self, message: str) -> bool:
        """The dialog says what the journey expects (spaces ignored: line breaks vary)."""
        if self.text is None:
            return True
        return "".join(self.text.split()) in "".join(message.split())


class Driver(ABC):
    """The core every driver has (navigate, act on a located element, wait, read
    elements, answer dialogs, screenshot, evidence) and optional capabilities
    (``core.capabilities``): the methods of a capability the driver lacks keep raising
    "not supported" here, a last guard ``patrol validate`` makes unreachable."""

    platform: str = "web"
    # False for a driver with nothing to look at (``drivers/http.py``: request: steps only):
    # the runner then takes no screenshot.
    has_screen: bool = True
    # What this driver has beyond the core; exactly the capabilities whose methods it implements.
    capabilities: frozenset[Capability] = NONE

    @abstractmethod
    async def goto(self, url: str, *, timeout_ms: float) -> None: ...

    @abstractmethod
    async def click(self, locator: Locator, *, timeout_ms: float) -> None: ...

    @abstractmethod
    async def fill(self, locator: Locator, text: str, *, timeout_ms: float) -> None: ...

    @abstractmethod
    async def press(self, key: str, locator: Locator | None, *, timeout_ms: float) -> None: ...

    @abstractmethod
    async def select(self, locator: Locator, by: str, choice: str, *, timeout_ms: float) -> None: ...

    @abstractmethod
    async def scroll(self, locator: Locator | None, dx: int, dy: int, *, timeout_ms: float) -> None: ...

    @abstractmethod
    async def wait_for(self, locator: Locator, state: str, *, timeout_ms: float) -> None: ...

    @abstractmethod
    async def back(self, *, timeout_ms: float) -> None: ...

    @abstractmethod
    async def is_visible(self, locator: Locator) -> bool:
        """Visible right now (no waiting)."""

    @abstractmethod
    async def current_url(self) -> str: ...

    @abstractmethod
    async def screenshot(self) -> bytes:
        """PNG of what a person sees now (viewport / device screen)."""

    @abstractmethod
    async def busy_indicator_visible(self) -> bool:
        """A spinner / progress indicator is on screen (the app is still 'loading')."""

    async def busy_state(self) -> BusyState | None:
        """Why the screen looks still loading, when it does (``_busy.BusyState``: what shows
        it, the app's own requests pending, its silent sockets); None when nothing says
        so. Asked when an expectation waited in vain (spinner_stuck)."""
        return {"busy": ["a loading indicator"], "pending_requests": []} if await self.busy_indicator_visible() else None

    async def save_trace(self, path: Path, failed: bool) -> bool:
        """End the journey's trace, when the driver records one: written to ``path`` when
        its trace setting keeps it (``on``, or ``retain-on-failure`` and ``failed``),
        else discarded. True when written."""
        return False

    @abstractmethod
    def drain_events(self) -> DriverEvents: ...

    def failure_seen(self) -> bool:
        """The app already failed during this step (5xx, failed request, crash)."""
        return False

    def failed_at(self) -> float | None:
        """When (``time.monotonic``) the app first failed in this step, where the driver
        knows; None: the caller counts from when it noticed."""
        return None

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def answer_dialogs(self, answer: DialogAnswer | None) -> None:
        """Arm how the next JavaScript dialog(s) are answered; None: back to the default
        (dismissed, and still recorded in ``DriverEvents.dialogs``)."""

    @abstractmethod
    async def texts_of(self, locator: Locator) -> list[str]:
        """The visible text of every element the locator matches (now, no waiting)."""

    @abstractmethod
    async def attributes_of(self, locator: Locator, name: str) -> list[str | None]:
        """Attribute ``name`` of every element the locator matches (None where absent)."""

    @abstractmethod
    async def values_of(self, locator: Locator) -> list[str]:
        """The current value of every form field the locator matches."""

    @contextlib.asynccontextmanager
    async def within_frame(self, frame: Locator | None) -> AsyncIterator[None]:
        """While inside, every locator-taking call resolves inside that iframe (nested
        calls nest frames). None: no frame, a no-op: the runner enters it for every step,
        so it stays in the core; a frame is the ``frames`` capability (a driver with it
        overrides this; without it, a frame is refused here, the last guard)."""
        if frame is not None:
            raise ActionFailed(f"frames ({frame.describe()}) are not supported by this driver", reason=Reason.NOT_SUPPORTED)
        yield

    # -- optional hooks: the defaults mean "not knowable here" ---------------------------------
    async def tap_point(self, x: float, y: float, *, timeout_ms: float) -> None:
        """Click at screenshot pixel coordinates (used by OCR text locators)."""
        raise NotImplementedError

    async def element_boxes(self, locators: list[Locator]) -> list[Box]:
        """Boxes (x, y, w, h, in screenshot pixels) of the elements, for masks and redaction."""
        return []

    async def environment(self) -> ScreenEnvironment:
        """What the pixels depend on: browser (or device) version, viewport, scale."""
        return {"browser": "", "viewport": (0, 0), "scale": 1.0}

    async def text_boxes(self, text: str) -> list[Box]:
        """Where the UI tree says ``text`` is (screenshot pixels): a hint for where to
        look; the OCR of that area is what decides. [] where not knowable."""
        return []

    async def text_boxes_each(self, texts: Sequence[str]) -> list[list[Box]]:
        """``text_boxes`` of each of ``texts``, in order. A driver that can ask its UI
        tree for all of them in one call does (a call per word is a round trip each)."""
        return list(await asyncio.gather(*(self.text_boxes(t) for t in texts)))

    async def picture_boxes(self) -> list[Box] | None:
        """Boxes of on-screen elements whose text only pixels carry (canvas, images,
        SVG). None when the driver has no UI tree to ask: then the whole screen is read."""
        return None

    async def picture_and_text_boxes(self, texts: Sequence[str]) -> tuple[list[Box] | None, list[list[Box]]]:
        """``picture_boxes`` and, when there are any (not None), ``text_boxes_each(texts)``:
        the forbidden-text check's hints. A driver that can read both in one call does."""
        pictures = await self.picture_boxes()
        return pictures, ([] if pictures is None else await self.text_boxes_each(texts))

    async def broken_images(self) -> list[dict[str, object]]:
        """Images on screen that failed to load (web: ``src``, ``alt``, ``id``, ``box``, as
        the page script answers them); [] where not knowable."""
        return []

    async def screen_layout(self) -> ScreenLayout | None:
        """The elements on screen with their boxes and text (the DOM, the UI tree), in one
        call to the page; None where not knowable."""
        return None

    async def text_layout(self, ignore: Sequence[str]) -> list[dict[str, object]] | None:
        """Text on screen a person cannot read whole: cut by its box, sticking out of
        it, off the screen's edge, or drawn over other text (``_text_layout``), except
        inside the ``ignore`` selectors; None where not knowable."""
        return None

    def step_vitals(self) -> PageVitals | None:
        """The Web Vitals of the step just drained (``drain_events``), as the page
        measured them; None where the driver does not measure them."""
        return None

    async def prepare_for_screenshot(self) -> None:  # noqa: B027  (optional hook: most drivers need nothing)
        """Make the screen deterministic before comparing pixels (animations, caret)."""

    async def page_busy(self, horizon_ms: float) -> list[str] | None:
        """What may still change the screen within ``horizon_ms`` (requests in flight,
        timers due, animation frames, DOM changes a moment ago): [] when the page is
        quiet. None when the driver cannot tell: then only a quiet window of unchanged
        screenshots says the screen is still."""
        return None

    def screen_changes(self) -> int | None:
        """How many times the page had changed what it shows (DOM changes, animation
        frames) as of the last ``page_busy`` read; equal at two reads: nothing changed in
        between. None where the driver cannot tell."""
        return None

    # -- a page or app that stops answering (runner/hang.py watches these) -------------
    async def answers(self) -> bool | None:
        """Wait until the page's (app's) own UI thread has run a trivial request: True
        once it has. Never returns for a frozen page: the caller bounds the wait. None:
        this driver cannot tell."""
        return None

    # Whether ``script_running`` can tell a script that never ends from a page busy
    # laying out (the web); where it cannot, a page is unresponsive on time alone.
    sees_scripts: bool = False

    async def script_running(self, within_s: float) -> ScriptLocation | None:
        """Where the page's script is running now (function, url, line), interrupting it
        for a moment; None when no script runs within ``within_s`` or the driver cannot tell."""
        return None

    def dialogs_seen(self) -> int:
        """Unexpected dialogs (not armed, or not saying what the journey expected) the
        page opened since the journey started."""
        return 0

    def last_dialog(self) -> dict[str, str] | None:
        """The last dialog the page opened (``type``, ``message``), if any."""
        return None

    async def last_screen(self) -> bytes | None:
        """A picture of the screen of a page that does not answer, when the browser
        (device) can still capture it within a moment; None when it cannot."""
        return None

    async def abandon_page(self) -> None:  # noqa: B027  (optional hook)
        """Close the page that stopped answering; later calls (teardown) work on a fresh one."""

    async def wait_until(self, predicate: Callable[[], Awaitable[bool]], *, timeout_ms: float, interval_s: float = 0.1) -> bool:
        """Poll an async predicate until it holds or the timeout passes."""
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            if await predicate():
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(interval_s)


# -- optional capabilities (``core.capabilities``): a driver has one when it declares it -------
class Hovers(Protocol):
    async def hover(self, locator: Locator, *, timeout_ms: float) -> None:
        """Move the pointer over an element (menus and tooltips that open on hover)."""


class Uploads(Protocol):
    async def upload(self, locator: Locator, files: list[str], *, timeout_ms: float) -> None:
        """Put files (absolute paths) into a file input, as choosing them in the picker does."""


class Drags(Protocol):
    async def drag(self, source: Locator, target: Locator, *, timeout_ms: float) -> None:
        """Drag one element and drop it on another."""


class Windows(Protocol):
    async def switch_to(self, which: str, *, timeout_ms: float) -> None:
        """``popup``: the newest tab/window the journey opened (waiting for one up to the
        timeout); ``main``: the first one. Every later call works on that page."""


class ControlsApps(Protocol):
    async def app_control(self, command: str, app_id: str | None, *, timeout_ms: float) -> None:
        """launch / activate / terminate an app (app journeys); ``None`` is the journey's own app."""


def _capable(driver: Driver, capability: Capability) -> Driver:
    """The driver, when it declares ``capability``; else "not supported": the last guard,
    which ``patrol validate`` makes unreachable for a validated journey."""
    if capability not in driver.capabilities:
        raise ActionFailed(f"{capability} is not supported by this driver ({type(driver).__name__})",
                           reason=Reason.NOT_SUPPORTED)
    return driver


# Each a checked view of a driver as one capability (tests/test_capabilities.py holds every
# driver's declared capabilities to the methods it implements, so the cast is sound).
def hovering(driver: Driver) -> Hovers:
    return cast(Hovers, _capable(driver, Capability.HOVER))


def uploading(driver: Driver) -> Uploads:
    return cast(Uploads, _capable(driver, Capability.UPLOADS))


def dragging(driver: Driver) -> Drags:
    return cast(Drags, _capable(driver, Capability.DRAG))


def windows(driver: Driver) -> Windows:
    return cast(Windows, _capable(driver, Capability.WINDOWS))


def app_control(driver: Driver) -> ControlsApps:
    return cast(ControlsApps, _capable(driver, Capability.APP_CONTROL))


class EngineOptions(Protocol):
    """What a run asks of every engine it starts (``RunOptions`` satisfies it)."""

    headed: bool


class Engine(ABC):
    """Starts once per run, hands out a Driver per journey."""

    name: str = "engine"
    version: str = ""

    @classmethod
    def from_config(cls, config: Config, options: EngineOptions) -> Engine:
        """The engine as patrol.yaml configures it (not started). Engines a run makes
        by journey target override it; test engines are built directly."""
        raise NotImplementedError(f"{cls.__name__} is not built from patrol.yaml")

    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def new_driver(self, journey: Journey) -> Driver: ...

    @abstractmethod
    async def close(self) -> None: ...

    async def healthy(self) -> bool:
        return True

    async def restart(self) -> None:
        await self.close()
        await self.start()

    async def answers(self) -> bool:
        """One round trip to the engine (a browser, a server) within a moment; where the
        engine has no such question, whether it is healthy."""
        return await self.healthy()
