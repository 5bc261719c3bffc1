"""What the app did behind the screen while a step ran, as typed records: the
requests it made, its WebSockets, console messages, uncaught page errors, JavaScript
dialogs and the app's state (left the foreground, crashed, froze).

Drivers fill them (``drivers/``), checks read them (``checks/``), the report and the
store keep them as JSON: each record has ``to_json`` (the report's shape, kept stable)
and ``from_json``. They live here, at the bottom, so every layer may share them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NotRequired, TypedDict

from .vocabulary import Kind, Reason

# -- JSON shapes (the report's and the store's) ------------------------------------------


class RequestJson(TypedDict):
    method: str
    url: str
    type: str
    first_party: bool
    status: int | None
    error: str | None
    start_ms: float | None
    duration_ms: float | None
    size: int | None
    blocked: bool
    ignored: bool
    pending: bool
    retry_after_s: NotRequired[float]
    cause: NotRequired[str]
    fatal: NotRequired[bool]
    at_ms: NotRequired[float]
    cancelled: NotRequired[bool]
    trace_id: NotRequired[str]
    span_id: NotRequired[str]


class FailedRequestJson(TypedDict):
    url: str
    method: str
    status: int | None
    error: str | None
    at_ms: NotRequired[float]


class BadDocumentJson(TypedDict):
    url: str
    status: int


class ConsoleJson(TypedDict):
    type: str
    text: str
    location: str
    at_ms: float


class PageErrorJson(TypedDict):
    message: str
    url: NotRequired[str | None]
    at_ms: NotRequired[float]


class DialogJson(TypedDict):
    type: str
    message: str
    answer: str
    armed: bool
    expected: str | None
    matched: bool


class AppStateJson(TypedDict, total=False):
    reason: str
    message: str
    kind: str
    fatal: bool
    app: str
    foreground: str
    app_state: int
    waiting_for: str
    screenshots: int


class SocketCloseJson(TypedDict):
    at_ms: float
    code: int | None
    reason: str
    by: str
    error: str | None


class WebSocketJson(TypedDict):
    url: str
    first_party: bool
    opened_at_ms: float
    connections: int
    reconnects: int
    frames_in: int
    frames_out: int
    closes: list[SocketCloseJson]
    closed: SocketCloseJson | None
    open: bool
    longest_silence_ms: float
    busy_silence_ms: float
    answered_busy_silence_ms: float
    down_since_ms: float | None
    down_while_busy: bool


# -- requests ---------------------------------------------------------------------------


@dataclass
class RequestRecord:
    """One request of the step (web: every resource type and site). Mutable while it
    runs: the recorder fills in the answer; a drained step holds copies."""

    method: str
    url: str  # token-masked
    type: str  # document, script, stylesheet, font, image, media, fetch, xhr, websocket, other...
    first_party: bool = True
    status: int | None = None  # None: no answer
    error: str | None = None  # failure text or "HTTP 500"
    start_ms: float | None = None  # from the step's start (negative: began in an earlier step)
    duration_ms: float | None = None
    size: int | None = None  # bytes, from Content-Length; None when the server did not say
    blocked: bool = False
    ignored: bool = False
    pending: bool = False  # still running when the step ended
    retry_after_s: float | None = None  # 429/503 with Retry-After
    cause: Reason | None = None  # the finding it may be: resource_failed, http_error, request_failed
    fatal: bool = False  # ... and whether that breaks the flow
    at_ms: float | None = None  # when the failure was known
    cancelled: bool = False  # aborted because the page moved on: never a failure
    # tracing: the trace and the step's span its traceparent named (None: sent without one)
    trace_id: str | None = None
    span_id: str | None = None

    @property
    def failed(self) -> bool:
        return self.blocked or self.error is not None or (self.status or 0) >= 400

    def to_json(self) -> RequestJson:
        out: RequestJson = {
            "method": self.method, "url": self.url, "type": self.type, "first_party": self.first_party,
            "status": self.status, "error": self.error, "start_ms": self.start_ms, "duration_ms": self.duration_ms,
            "size": self.size, "blocked": self.blocked, "ignored": self.ignored, "pending": self.pending,
        }
        if self.retry_after_s is not None:
            out["retry_after_s"] = self.retry_after_s
        if self.cause is not None:
            out["cause"] = str(self.cause)
            out["fatal"] = self.fatal
            if self.at_ms is not None:
                out["at_ms"] = self.at_ms
        if self.cancelled:
            out["cancelled"] = True
        if self.trace_id and self.span_id:
            out["trace_id"], out["span_id"] = self.trace_id, self.span_id
        return out

    @classmethod
    def from_json(cls, raw: RequestJson) -> RequestRecord:
        cause = raw.get("cause")
        return cls(method=raw["method"], url=raw["url"], type=raw["type"], first_party=raw["first_party"],
                   status=raw["status"], error=raw["error"], start_ms=raw["start_ms"], duration_ms=raw["duration_ms"],
                   size=raw["size"], blocked=raw["blocked"], ignored=raw["ignored"], pending=raw["pending"],
                   retry_after_s=raw.get("retry_after_s"), cause=Reason(cause) if cause else None,
                   fatal=raw.get("fatal", False), at_ms=raw.get("at_ms"), cancelled=raw.get("cancelled", False),
                   trace_id=raw.get("trace_id"), span_id=raw.get("span_id"))


@dataclass(frozen=True)
class FailedRequest:
    """A fetch/XHR that failed or answered 5xx, as a driver without a complete request
    list (an app's web view, the fake driver) sees it."""

    url: str
    method: str = "GET"
    status: int | None = None
    error: str | None = None
    at_ms: float | None = None

    def to_json(self) -> FailedRequestJson:
        out: FailedRequestJson = {"url": self.url, "method": self.method, "status": self.status, "error": self.error}
        if self.at_ms is not None:
            out["at_ms"] = self.at_ms
        return out

    @classmethod
    def from_json(cls, raw: FailedRequestJson) -> FailedRequest:
        return cls(raw["url"], raw["method"], raw["status"], raw["error"], raw.get("at_ms"))


@dataclass(frozen=True)
class BadDocument:
    """The page itself answered an error status (drivers without a complete request list)."""

    url: str
    status: int

    def to_json(self) -> BadDocumentJson:
        return {"url": self.url, "status": self.status}

    @classmethod
    def from_json(cls, raw: BadDocumentJson) -> BadDocument:
        return cls(raw["url"], raw["status"])


# -- the page's own words ---------------------------------------------------------------


@dataclass(frozen=True)
class ConsoleMessage:
    """A console error or warning: its type, text, where it was logged (``url:line:column``)."""

    type: str  # error | warning
    text: str
    location: str
    at_ms: float

    def to_json(self) -> ConsoleJson:
        return {"type": self.type, "text": self.text, "location": self.location, "at_ms": self.at_ms}

    @classmethod
    def from_json(cls, raw: ConsoleJson) -> ConsoleMessage:
        return cls(raw["type"], raw["text"], raw["location"], raw["at_ms"])


@dataclass(frozen=True)
class PageError:
    """An uncaught script error of the page."""

    message: str
    url: str | None = None  # the page's (masked)
    at_ms: float | None = None

    def to_json(self) -> PageErrorJson:
        out: PageErrorJson = {"message": self.message}
        if self.url is not None:
            out["url"] = self.url
        if self.at_ms is not None:
            out["at_ms"] = self.at_ms
        return out

    @classmethod
    def from_json(cls, raw: PageErrorJson) -> PageError:
        return cls(raw["message"], raw.get("url"), raw.get("at_ms"))


@dataclass(frozen=True)
class DialogRecord:
    """A JavaScript dialog that opened, and how it was answered."""

    type: str  # alert | confirm | prompt | beforeunload
    message: str
    answer: str  # accepted | dismissed
    armed: bool  # the journey said how to answer (``dialog:``)
    expected: str | None  # the words the journey expected, if any
    matched: bool  # it said them (a dialog that did not was dismissed)

    def to_json(self) -> DialogJson:
        return {"type": self.type, "message": self.message, "answer": self.answer, "armed": self.armed,
                "expected": self.expected, "matched": self.matched}

    @classmethod
    def from_json(cls, raw: DialogJson) -> DialogRecord:
        return cls(raw["type"], raw["message"], raw["answer"], raw["armed"], raw["expected"], raw["matched"])


# -- the app ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AppStateEvent:
    """The app left the foreground, crashed, a system dialog covered it, or its screen
    froze (app drivers): each a finding of its own."""

    reason: Reason
    message: str
    kind: Kind = Kind.BREAKPOINT  # a frozen screen is a stall
    fatal: bool = True
    app: str | None = None  # the app that should be in front
    foreground: str | None = None  # what is in front instead
    app_state: int | None = None  # Appium's state of the app (0 not installed ... 4 foreground)
    waiting_for: str | None = None  # a frozen screen: what the journey waited for
    screenshots: int | None = None  # ... and how many identical screenshots said so

    def details(self) -> AppStateJson:
        """What the finding keeps beside its reason and message."""
        out: AppStateJson = {}
        if self.app is not None:
            out["app"] = self.app
        if self.foreground is not None:
            out["foreground"] = self.foreground
        if self.app_state is not None:
            out["app_state"] = self.app_state
        if self.waiting_for is not None:
            out["waiting_for"] = self.waiting_for
        if self.screenshots is not None:
            out["screenshots"] = self.screenshots
        return out

    def to_json(self) -> AppStateJson:
        out: AppStateJson = {"reason": str(self.reason), "message": self.message, "kind": str(self.kind),
                             "fatal": self.fatal}
        out.update(self.details())
        return out

    @classmethod
    def from_json(cls, raw: AppStateJson) -> AppStateEvent:
        return cls(Reason(raw["reason"]), raw["message"], Kind(raw.get("kind", Kind.BREAKPOINT)),
                   raw.get("fatal", True), raw.get("app"), raw.get("foreground"), raw.get("app_state"),
                   raw.get("waiting_for"), raw.get("screenshots"))


# -- WebSockets -------------------------------------------------------------------------

# Who closed a socket: the server (or the network) unasked, the app itself
# (``close()``), or the page going away (a navigation, a closed tab).
SERVER, PAGE, NAVIGATION = "server", "page", "navigation"


@dataclass(frozen=True)
class SocketClose:
    """One close of a socket: when (ms from the step's start), the code and reason the
    page saw (1006: no close frame; None: the page did not say), and who closed it."""

    at_ms: float
    code: int | None
    reason: str
    by: str
    error: str | None = None  # what Playwright reported as the socket's error, if anything

    def to_json(self) -> SocketCloseJson:
        return {"at_ms": self.at_ms, "code": self.code, "reason": self.reason, "by": self.by, "error": self.error}


    @classmethod
    def from_json(cls, raw: SocketCloseJson) -> SocketClose:
        return cls(raw["at_ms"], raw["code"], raw["reason"], raw["by"], raw["error"])


@dataclass(frozen=True)
class WebSocketRecord:
    """One page's WebSocket to one URL during one step (all its connections)."""

    url: str  # token-masked
    first_party: bool  # the app's own (and not ignored): may be a finding
    opened_at_ms: float  # its current connection run began (negative: in an earlier step)
    connections: int  # opened during the step
    reconnects: int  # of those, opened again after a close the page did not make by navigating
    frames_in: int
    frames_out: int
    closes: tuple[SocketClose, ...]  # during the step, oldest first
    open: bool  # a connection was open when the step ended
    longest_silence_ms: float  # the longest time without a message in (one that began earlier counts whole)
    busy_silence_ms: float  # the longest such silence while the screen showed it was loading
    # ... of those, the longest the socket ended with a message in this step: what the
    # screen waited for (a socket idle by design never ends its silence, and is not named).
    answered_busy_silence_ms: float
    down_since_ms: float | None  # closed unasked and no message since (None: working)
    down_while_busy: bool  # ... while the screen showed it was loading

    @property
    def closed(self) -> SocketClose | None:
        """The step's last close, None when it never closed in the step."""
        return self.closes[-1] if self.closes else None

    def failing_closes(self) -> list[SocketClose]:
        return [c for c in self.closes if c.by == SERVER]

    def to_json(self) -> WebSocketJson:
        return {"url": self.url, "first_party": self.first_party, "opened_at_ms": self.opened_at_ms,
                "connections": self.connections, "reconnects": self.reconnects, "frames_in": self.frames_in,
                "frames_out": self.frames_out, "closes": [c.to_json() for c in self.closes],
                "closed": self.closed.to_json() if self.closed else None, "open": self.open,
                "longest_silence_ms": self.longest_silence_ms, "busy_silence_ms": self.busy_silence_ms,
                "answered_busy_silence_ms": self.answered_busy_silence_ms,
                "down_since_ms": self.down_since_ms, "down_while_busy": self.down_while_busy}


    @classmethod
    def from_json(cls, raw: WebSocketJson) -> WebSocketRecord:
        return cls(url=raw["url"], first_party=raw["first_party"], opened_at_ms=raw["opened_at_ms"],
                   connections=raw["connections"], reconnects=raw["reconnects"], frames_in=raw["frames_in"],
                   frames_out=raw["frames_out"], closes=tuple(SocketClose.from_json(c) for c in raw["closes"]),
                   open=raw["open"], longest_silence_ms=raw["longest_silence_ms"],
                   busy_silence_ms=raw["busy_silence_ms"], answered_busy_silence_ms=raw["answered_busy_silence_ms"],
                   down_since_ms=raw["down_since_ms"], down_while_busy=raw["down_while_busy"])


# -- one step's --------------------------------------------------------------------------


class DriverEventsJson(TypedDict):
    page_errors: list[PageErrorJson]
    failed_requests: list[FailedRequestJson]
    bad_documents: list[BadDocumentJson]
    app_state: list[AppStateJson]
    dialogs: list[DialogJson]
    requests: list[RequestJson]
    console: list[ConsoleJson]
    websockets: list[WebSocketJson]


@dataclass
class DriverEvents:
    """What the app did on its own while a step ran (drained after every step)."""

    page_errors: list[PageError] = field(default_factory=list)  # uncaught JS errors
    failed_requests: list[FailedRequest] = field(default_factory=list)  # fetch/XHR failed or 5xx (no request list)
    bad_documents: list[BadDocument] = field(default_factory=list)  # document answered >= 400 (no request list)
    app_state: list[AppStateEvent] = field(default_factory=list)  # app left foreground, crashed...
    dialogs: list[DialogRecord] = field(default_factory=list)  # JavaScript dialogs that opened
    # Complete network evidence (web): every request of the step, whatever its type or
    # site; and the console's errors and warnings. Evidence, not events of note:
    # ``__bool__`` leaves them out.
    requests: list[RequestRecord] = field(default_factory=list)
    console: list[ConsoleMessage] = field(default_factory=list)
    # Every WebSocket of the step (web): connections, closes, frames, silences.
    websockets: list[WebSocketRecord] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.page_errors or self.failed_requests or self.bad_documents or self.app_state or self.dialogs)

    def to_json(self) -> DriverEventsJson:
        return {"page_errors": [e.to_json() for e in self.page_errors],
                "failed_requests": [r.to_json() for r in self.failed_requests],
                "bad_documents": [d.to_json() for d in self.bad_documents],
                "app_state": [s.to_json() for s in self.app_state], "dialogs": [d.to_json() for d in self.dialogs],
                "requests": [r.to_json() for r in self.requests], "console": [c.to_json() for c in self.console],
                "websockets": [w.to_json() for w in self.websockets]}

    @classmethod
    def from_json(cls, raw: DriverEventsJson) -> DriverEvents:
        return cls(page_errors=[PageError.from_json(e) for e in raw["page_errors"]],
                   failed_requests=[FailedRequest.from_json(r) for r in raw["failed_requests"]],
                   bad_documents=[BadDocument.from_json(d) for d in raw["bad_documents"]],
                   app_state=[AppStateEvent.from_json(s) for s in raw["app_state"]],
                   dialogs=[DialogRecord.from_json(d) for d in raw["dialogs"]],
                   requests=[RequestRecord.from_json(r) for r in raw["requests"]],
                   console=[ConsoleMessage.from_json(c) for c in raw["console"]],
                   websockets=[WebSocketRecord.from_json(w) for w in raw["websockets"]])
