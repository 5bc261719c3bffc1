"""Complete network evidence for the web driver: every request the page made (all
resource types), the console's errors and warnings, sorted into steps.

The Playwright driver feeds this recorder from its page listeners (plain synchronous
callbacks: nothing here awaits, so recording never slows a step) and drains it after
every step. Each request becomes one ``core.evidence.RequestRecord`` (its start
counted from the step's start: the previous step's screenshot), each console error or
warning one ``ConsoleMessage``.

Which requests may be findings is decided here once (``cause_of``), so the driver can
say at once that the app failed (``failure_seen``) and the network check only reads it.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Literal, Protocol, overload

from ..config.web import NetworkSettings
from ..core.evidence import ConsoleMessage, RequestRecord
from ..core.tracecontext import TraceContext
from ..core.urls import RequestPolicy, host_of, mask_url, site
from ..core.vocabulary import Reason
from ._page_scripts import BENIGN_FAILURES

if TYPE_CHECKING:
    from playwright.async_api import ConsoleMessage as PageConsoleMessage

# What the page cannot work without (a failed one is a breakpoint), and what only
# looks wrong without it (a render finding). Everything else is evidence only.
FLOW_RESOURCES = ("document", "script", "stylesheet")
LOOK_RESOURCES = ("font", "image")
API_CALLS = ("fetch", "xhr", "eventsource")
MAX_CONSOLE = 100  # per step: a page logging in a loop must not fill the report
MAX_TEXT = 1000


def cause_of(entry: RequestRecord, statuses: tuple[int, ...]) -> tuple[Reason | None, bool]:
    """The finding a finished request may be, and whether it breaks the flow. Only the
    app's own requests count: third-party, ignored and blocked ones are evidence."""
    if entry.blocked or entry.ignored or not entry.first_party or entry.cancelled:
        return None, False
    status, error = entry.status, entry.error
    if status is None and error is None:
        return None, False
    failed = status is None or status >= 400
    kind = entry.type
    if kind in FLOW_RESOURCES and failed:
        return Reason.RESOURCE_FAILED, True
    if kind in LOOK_RESOURCES and failed:
        return Reason.RESOURCE_FAILED, False
    if kind in API_CALLS:
        if status is None or status >= 500:
            return Reason.REQUEST_FAILED, True
        if status in statuses:
            return Reason.HTTP_ERROR, True
    return None, False


def glob_pattern(glob: str) -> re.Pattern[str]:
    """A ``network.block`` URL glob (``*`` any run, ``?`` one character) as a regular
    expression Playwright's router understands (Python's fnmatch regex is not JS)."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.compile(f"^{body}$")


# What the recorders read of Playwright's objects (``Request``, ``Response``,
# ``WebSocket``); the capture proxy's stand-ins (``app_network``) carry the same.
class SeenRequest(Protocol):
    @property
    def url(self) -> str: ...
    @property
    def method(self) -> str: ...
    @property
    def resource_type(self) -> str: ...
    @property
    def frame(self) -> object: ...  # Playwright raises for a service worker's request
    @property
    def failure(self) -> str | None: ...
    @property
    def timing(self) -> Mapping[str, object]: ...
    def is_navigation_request(self) -> bool: ...


class SeenResponse(Protocol):
    @property
    def request(self) -> object: ...  # the request it answers (a key of the recorder's)
    @property
    def status(self) -> int: ...
    @property
    def headers(self) -> Mapping[str, str]: ...


class SeenSocket(Protocol):
    """A WebSocket's URL and its events (a frame's payload, an error's text, the socket on close)."""

    @property
    def url(self) -> str: ...
    @overload
    def on(self, event: Literal["close"], f: Callable[[object], None]) -> None: ...
    @overload
    def on(self, event: Literal["framereceived"], f: Callable[[object], None]) -> None: ...
    @overload
    def on(self, event: Literal["framesent"], f: Callable[[object], None]) -> None: ...
    @overload
    def on(self, event: Literal["socketerror"], f: Callable[[object], None]) -> None: ...


@dataclass
class _Live:
    entry: RequestRecord
    t0: float  # monotonic start
    request: SeenRequest | None = None  # None: a WebSocket


def _browser_duration_ms(request: SeenRequest) -> float | None:
    """A finished request's time as the browser measured it (from its start to the
    response's last byte), or None. Better than when its events reached Patrol: on a
    loaded machine the start event can arrive late, and the request look quicker."""
    try:
        end = request.timing.get("responseEnd", -1)
    except Exception:  # a request without timing
        return None
    return float(end) if isinstance(end, (int, float)) and not isinstance(end, bool) and end >= 0 else None


@dataclass
class NetworkRecorder:
    settings: NetworkSettings
    policy: RequestPolicy
    clock: Callable[[], float] = time.monotonic
    _window: float = 0.0  # monotonic start of the current step's window
    _requests: list[RequestRecord] = field(default_factory=list)
    _console: list[ConsoleMessage] = field(default_factory=list)
    _live: dict[object, _Live] = field(default_factory=dict)  # request (or websocket) -> its entry
    _broken: bool = False  # a request that breaks the flow failed in this window
    _broken_at: float | None = None  # when (monotonic) the first such request failed
    _navigated: dict[object, float] = field(default_factory=dict)  # frame -> when its latest navigation began
    # The trace context a request to this URL is sent with (tracing:), None: none.
    traced: Callable[[str], TraceContext | None] = lambda _url: None

    def __post_init__(self) -> None:
        self._window = self.clock()

    def now_ms(self) -> float:
        return round((self.clock() - self._window) * 1000, 1)

    def navigated_since(self, frame: object, t: float) -> bool:
        """The frame began a navigation at or after ``t`` (monotonic): what it had open went with it."""
        return self._navigated.get(frame, -math.inf) >= t

    # -- listeners ---------------------------------------------------------------------
    def on_request(self, request: SeenRequest) -> None:
        url = request.url
        if request.is_navigation_request():
            self._navigated[request.frame] = self.clock()
            if not self.policy.own_site:
                # No base_url: the first page the journey opens is the app's own site.
                self.policy = replace(self.policy, own_site=site(host_of(url)))
        self._start(request, request.method, url, request.resource_type, request)

    def on_websocket(self, ws: SeenSocket) -> None:
        self._start(ws, "GET", ws.url, "websocket", None)
        ws.on("socketerror", lambda error: self._end(ws, None, str(error)))
        ws.on("close", lambda _ws: self._end(ws, None, None))

    def _start(self, key: object, method: str, url: str, kind: str, request: SeenRequest | None) -> None:
        now = self.clock()
        entry = RequestRecord(
            method=method, url=mask_url(url), type=kind, first_party=self.policy.is_first_party(url),
            start_ms=round((now - self._window) * 1000, 1), blocked=bool(self.policy.block) and self.policy.is_blocked(url),
            ignored=bool(self.policy.ignore) and self.policy.is_ignored(url), pending=True)
        context = self.traced(url) if kind != "websocket" else None
        if context is not None:
            entry.trace_id, entry.span_id = context.trace_id, context.span_id
        self._live[key] = _Live(entry, now, request)
        self._requests.append(entry)

    def on_response(self, response: SeenResponse) -> None:
        live = self._live.get(response.request)
        if live is None:
            return
        entry, status = live.entry, response.status
        entry.status = status
        headers = response.headers  # the headers Playwright already has: no round trip
        length = headers.get("content-length")
        if length and length.isdigit():
            entry.size = int(length)
        if status in (429, 503) and headers.get("retry-after"):
            entry.retry_after_s = _retry_after_s(headers["retry-after"])
        if status >= 400:
            entry.error = f"HTTP {status}"

    def _cancelled(self, live: _Live) -> bool:
        """An aborted request the page itself gave up on: a navigation, or an API call
        the app cancelled. A script, stylesheet or font aborted while the page stayed is
        Chromium refusing it (a 500 page served as the file): a failure."""
        if live.entry.type not in ("script", "stylesheet", "font") or live.request is None:
            return True
        try:
            frame = live.request.frame
        except Exception:  # a request of a service worker: no frame
            return True
        return self._navigated.get(frame, -math.inf) >= live.t0

    def on_finished(self, request: SeenRequest) -> None:
        self._end(request, None, None)

    def on_failed(self, request: SeenRequest) -> None:
        self._end(request, None, request.failure or "failed")

    def _end(self, key: object, status: int | None, error: str | None) -> None:
        live = self._live.pop(key, None)
        if live is None:
            return
        entry = live.entry
        now = self.clock()
        if error is not None:
            entry.error = error[:MAX_TEXT]
            if any(b in error for b in BENIGN_FAILURES) and self._cancelled(live):
                entry.cancelled = True
        if status is not None:
            entry.status = status
        measured = _browser_duration_ms(live.request) if error is None and live.request is not None else None
        entry.duration_ms = round(measured if measured is not None else (now - live.t0) * 1000, 1)
        entry.pending = False
        cause, fatal = cause_of(entry, self.settings.statuses)
        if cause is not None:
            entry.cause, entry.fatal, entry.at_ms = cause, fatal, round((now - self._window) * 1000, 1)
            if fatal and not self._broken:
                self._broken, self._broken_at = True, now

    def on_console(self, message: PageConsoleMessage) -> None:
        kind = message.type
        if kind not in ("error", "warning") or len(self._console) >= MAX_CONSOLE:
            return
        loc = message.location or {}
        where = f"{mask_url(str(loc.get('url') or ''))}:{loc.get('lineNumber', 0)}:{loc.get('columnNumber', 0)}"
        self._console.append(ConsoleMessage(kind, str(message.text)[:MAX_TEXT], where, self.now_ms()))

    # -- steps -------------------------------------------------------------------------
    def broken(self) -> bool:
        """A request the app needs failed in this step (the network check will say so)."""
        return self._broken

    def broken_at(self) -> float | None:
        """When (monotonic) the first request the app needs failed in this step."""
        return self._broken_at

    def pending(self) -> list[RequestRecord]:
        """The requests still running now (the app's own first), with how long so far."""
        now = self.clock()
        out = [replace(live.entry, duration_ms=round((now - live.t0) * 1000, 1)) for live in self._live.values()]
        return sorted(out, key=lambda e: (not e.first_party, -(e.duration_ms or 0.0)))

    def drain(self) -> tuple[list[RequestRecord], list[ConsoleMessage]]:
        """This step's requests and console messages; a new window starts now. A request
        still running is in this step as ``pending`` (its time so far) and again in the
        step it finishes in (with a negative start)."""
        now = self.clock()
        requests, console = self._requests, self._console
        self._requests, self._console, self._broken, self._broken_at = [], [], False, None
        where = {id(e): i for i, e in enumerate(requests)}
        for key, live in list(self._live.items()):
            if id(live.entry) in where:  # the step's copy stays as it is now, whatever comes later
                requests[where[id(live.entry)]] = replace(live.entry, duration_ms=round((now - live.t0) * 1000, 1))
            carried = replace(live.entry, start_ms=round((live.t0 - now) * 1000, 1))
            self._live[key] = _Live(carried, live.t0, live.request)
            self._requests.append(carried)
        self._window = now
        return requests, console


def _retry_after_s(value: str) -> float | None:
    """Retry-After in seconds from now (delta-seconds, or an HTTP date)."""
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, round(when.timestamp() - time.time(), 1))
