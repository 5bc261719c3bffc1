"""WebSocket evidence for the web driver: every socket the page opened, per step.

Playwright tells when a socket opens, each frame in and out, and when it closes, but
not who closed it or with which code. A small in-page hook (``CLOSE_HOOK``, an init
script) reports each close the page sees (code, reason, whether the app itself
called ``close()``) through a binding; a close with no page report (the document went
away) is the navigation's when the frame navigated after the socket opened.

Sockets are kept per page and URL (a *channel*): a socket opened again to the same
URL after one closed (not by a navigation) is a reconnect. A channel is *down* from
a close the app did not ask for until its next message: a live quote that closes
after every handshake stays down however often the page reconnects.

Whether the screen was busy meanwhile is asked of the page (``probe``) right after a
close, and every ``SAMPLE_EVERY_S`` while a channel is down or has been silent for
``SILENT_AFTER_S``: a socket quiet for minutes on an idle page is no stall, one
quiet while the page shows "connecting…" is. Healthy sockets cost nothing more.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypedDict
from urllib.parse import urlsplit

from ..core.evidence import NAVIGATION, PAGE, SERVER, SocketClose, WebSocketRecord
from ..core.urls import RequestPolicy, mask_url

if TYPE_CHECKING:
    from ._network import SeenSocket

BINDING = "__patrolSocketClosed"
SILENT_AFTER_S = 1.5  # a socket silent this long is watched (a quote a second is not): was the screen busy meanwhile?
SAMPLE_EVERY_S = 0.5
PROBE_TIMEOUT_S = 2.0  # a page whose script hangs answers no probe
MAX_CLOSES = 20  # per socket and step in the evidence
MAX_REASON = 200

# Reports every close the page sees: code, reason, and whether the app asked for it.
# A Proxy keeps ``instanceof WebSocket``, its constants and subclasses working.
CLOSE_HOOK = """(() => {
  const Native = window.WebSocket;
  if (typeof Native !== 'function' || typeof Proxy !== 'function') return;
  const asked = new WeakSet();
  const close = Native.prototype.close;
  Native.prototype.close = function (...args) { asked.add(this); return close.apply(this, args); };
  const Hooked = new Proxy(Native, {
    construct(target, args, newTarget) {
      const ws = Reflect.construct(target, args, newTarget === Hooked ? target : newTarget);
      ws.addEventListener('close', e => {
        const send = window['BINDING'];
        if (typeof send !== 'function') return;
        try {
          Promise.resolve(send({url: ws.url, code: e.code, reason: String(e.reason || '').slice(0, MAX_REASON),
                                byPage: asked.has(ws)})).catch(() => {});
        } catch (err) { /* the page is going away */ }
      });
      return ws;
    }
  });
  Object.defineProperty(Native.prototype, 'constructor', {value: Hooked, writable: true, configurable: true});
  window.WebSocket = Hooked;
})();""".replace("BINDING", BINDING).replace("MAX_REASON", str(MAX_REASON))

def socket_name(url: str) -> str:
    """How a person names a socket: its path (the query holds tokens and ids)."""
    return "WebSocket " + (urlsplit(url).path or "/")


def silence_words(url: str, silent_ms: float) -> str:
    return f"{socket_name(url)}: no message for {silent_ms / 1000:.1f} s"


class SilentSocket(TypedDict):
    """One of the app's sockets that has said nothing for a while (``SocketRecorder.silent``)."""

    url: str
    silent_ms: int
    down: bool


class SocketPage(Protocol):
    """What the recorder reads of the page a socket belongs to (Playwright's ``Page``;
    an app journey's stand-in): whether it closed, and its main frame's navigations."""

    @property
    def main_frame(self) -> object: ...
    def is_closed(self) -> bool: ...


@dataclass
class _Close:
    at: float  # monotonic
    code: int | None = None
    reason: str = ""
    by: str = SERVER
    error: str | None = None
    told: bool = False  # the page reported it


@dataclass
class _Channel:
    page: SocketPage
    url: str
    shown: str
    counts: bool
    opened_at: float
    live: dict[SeenSocket, float] = field(default_factory=dict)  # open Playwright WebSocket -> when it opened
    silence_start: float | None = None  # the last message in, or the first open since none came
    had_close: bool = False  # the next open is a reconnect
    down: list[_Close] = field(default_factory=list)  # unasked closes since the last message
    down_busy: bool = False
    busy_since: float | None = None  # busy samples during the current silence
    busy_last: float | None = None
    last_sample_busy: bool = False
    # this step's
    connections: int = 0
    reconnects: int = 0
    frames_in: int = 0
    frames_out: int = 0
    closes: list[_Close] = field(default_factory=list)
    longest_silence: float = 0.0
    busy_silence: float = 0.0
    answered_busy_silence: float = 0.0
    errors: list[str] = field(default_factory=list)
    unmatched: list[dict[str, object]] = field(default_factory=list)  # page reports before Playwright's close


Probe = Callable[[SocketPage], Awaitable[bool]]  # page -> is the screen busy


@dataclass
class SocketRecorder:
    policy: RequestPolicy = field(default_factory=RequestPolicy)
    probe: Probe | None = None
    navigated_since: Callable[[object, float], bool] = lambda frame, t: False
    clock: Callable[[], float] = time.monotonic
    _window: float = 0.0
    _channels: dict[tuple[object, str], _Channel] = field(default_factory=dict)
    _wake: asyncio.Event | None = None
    _task: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self._window = self.clock()

    # -- listeners ---------------------------------------------------------------------
    def on_websocket(self, page: SocketPage, ws: SeenSocket) -> None:
        now, url = self.clock(), ws.url
        ch = self._channels.get((page, url))
        if ch is None:
            counts = self.policy.is_first_party(url) and not (self.policy.ignore and self.policy.is_ignored(url))
            ch = self._channels[(page, url)] = _Channel(page, url, mask_url(url), counts, now)
        if not ch.live and ch.silence_start is None:
            ch.opened_at = now
        if ch.had_close:
            ch.reconnects += 1
        ch.connections += 1
        ch.live[ws] = now
        if ch.silence_start is None:
            ch.silence_start = now
        ws.on("framereceived", lambda _payload: self._message(ch))
        ws.on("framesent", lambda _payload: self._sent(ch))
        ws.on("socketerror", lambda error: ch.errors.append(str(error)[:MAX_REASON]))
        ws.on("close", lambda _ws: self._closed(ch, ws))
        self._start_watching()

    def _message(self, ch: _Channel) -> None:
        now = self.clock()
        ch.frames_in += 1
        before = ch.busy_silence
        ch.busy_silence = 0.0
        self._end_silence(ch, now)
        ch.answered_busy_silence = max(ch.answered_busy_silence, ch.busy_silence)
        ch.busy_silence = max(before, ch.busy_silence)
        ch.silence_start = now
        ch.down.clear()
        ch.down_busy = False

    def _sent(self, ch: _Channel) -> None:
        ch.frames_out += 1

    def _end_silence(self, ch: _Channel, now: float) -> None:
        if ch.silence_start is None:
            return
        ch.longest_silence = max(ch.longest_silence, now - ch.silence_start)
        if ch.busy_since is not None:
            end = now if ch.last_sample_busy else (ch.busy_last or now)
            ch.busy_silence = max(ch.busy_silence, end - ch.silence_start)
        ch.busy_since = ch.busy_last = None
        ch.last_sample_busy = False

    def _closed(self, ch: _Channel, ws: SeenSocket) -> None:
        now = self.clock()
        opened = ch.live.pop(ws, now)
        try:
            gone = ch.page.is_closed() or self.navigated_since(ch.page.main_frame, opened)
        except Exception:
            gone = True
        close = _Close(now, by=NAVIGATION if gone else SERVER, error=ch.errors.pop() if ch.errors else None)
        if ch.unmatched:
            self._tell(close, ch.unmatched.pop(0))
        ch.closes.append(close)
        if close.by == NAVIGATION:
            # A new document: what it opens is a new connection run, not a reconnect.
            self._end_silence(ch, now)
            ch.silence_start, ch.had_close, ch.down, ch.down_busy = None, False, [], False
            return
        ch.had_close = True
        if close.by == SERVER:
            ch.down.append(close)
            if self._wake is not None:
                self._wake.set()  # ask the page at once whether it is waiting

    def on_page_close(self, source: object, info: object) -> None:
        """The in-page hook's report of a close (the binding's callback)."""
        if not isinstance(info, dict):
            return
        page = source.get("page") if isinstance(source, dict) else getattr(source, "page", None)
        ch = self._channels.get((page, str(info.get("url"))))
        if ch is None:
            return
        close = next((c for c in reversed(ch.closes) if not c.told and c.by != NAVIGATION), None)
        if close is None:
            ch.unmatched.append(info)  # it came before Playwright's own close event
            return
        self._tell(close, info)
        if close.by == PAGE and close in ch.down:
            ch.down.remove(close)
            ch.down_busy = ch.down_busy and bool(ch.down)

    @staticmethod
    def _tell(close: _Close, info: dict[str, object]) -> None:
        code = info.get("code")
        close.code = code if isinstance(code, int) and not isinstance(code, bool) else None
        close.reason = str(info.get("reason") or "")[:MAX_REASON]
        close.told = True
        if info.get("byPage") and close.by == SERVER:
            close.by = PAGE

    # -- is the screen busy meanwhile ---------------------------------------------------
    def _start_watching(self) -> None:
        if self._task is not None or self.probe is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._wake = asyncio.Event()
        self._task = loop.create_task(self._watch())

    async def _watch(self) -> None:
        assert self._wake is not None and self.probe is not None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), SAMPLE_EVERY_S)
            self._wake.clear()
            now = self.clock()
            watched = [ch for ch in self._channels.values() if ch.counts and (ch.down or (
                ch.live and ch.silence_start is not None and now - ch.silence_start >= SILENT_AFTER_S))]
            for page in {id(ch.page): ch.page for ch in watched}.values():
                try:
                    busy = bool(await asyncio.wait_for(self.probe(page), PROBE_TIMEOUT_S))
                except Exception:  # a page going away, or one whose script hangs
                    busy = False
                t = self.clock()
                for ch in watched:
                    if ch.page is not page:
                        continue
                    ch.last_sample_busy = busy
                    if busy:
                        ch.busy_since = ch.busy_since or t
                        ch.busy_last = t
                        ch.down_busy = ch.down_busy or bool(ch.down)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    # -- what the driver and checks read --------------------------------------------------
    def failing_since(self) -> float | None:
        """When (monotonic) the first of the app's own sockets that is down while the
        screen is busy went down; None when none is."""
        times = [ch.down[0].at for ch in self._channels.values() if ch.counts and ch.down and ch.down_busy]
        return min(times) if times else None

    def silent(self, older_than_s: float = SILENT_AFTER_S) -> list[SilentSocket]:
        """The app's own sockets with no message for ``older_than_s`` now (open or down), longest first."""
        now = self.clock()
        quiet = sorted(((now - ch.silence_start, ch) for ch in self._channels.values()
                        if ch.counts and ch.silence_start is not None and (ch.live or ch.down)
                        and now - ch.silence_start >= older_than_s), key=lambda pair: -pair[0])
        return [{"url": ch.shown, "silent_ms": round(gap * 1000), "down": bool(ch.down)} for gap, ch in quiet[:5]]

    def drain(self) -> list[WebSocketRecord]:
        """This step's sockets; a new window starts now. A silence still going on counts
        whole in this step and again, longer, in the next."""
        now = self.clock()
        out = []

        def ms(t: float) -> float:
            return round((t - self._window) * 1000, 1)

        for key, ch in list(self._channels.items()):
            active = ch.connections or ch.live or ch.closes or ch.down
            if not active:
                continue
            longest, busy = ch.longest_silence, ch.busy_silence
            if ch.silence_start is not None and (ch.live or ch.down):
                longest = max(longest, now - ch.silence_start)
                if ch.busy_since is not None:
                    end = now if ch.last_sample_busy else (ch.busy_last or now)
                    busy = max(busy, end - ch.silence_start)
            out.append(WebSocketRecord(
                url=ch.shown, first_party=ch.counts, opened_at_ms=ms(ch.opened_at), connections=ch.connections,
                reconnects=ch.reconnects, frames_in=ch.frames_in, frames_out=ch.frames_out,
                closes=tuple(SocketClose(ms(c.at), c.code, c.reason, c.by, c.error) for c in ch.closes[-MAX_CLOSES:]),
                open=bool(ch.live), longest_silence_ms=round(longest * 1000, 1), busy_silence_ms=round(busy * 1000, 1),
                answered_busy_silence_ms=round(ch.answered_busy_silence * 1000, 1),
                down_since_ms=ms(ch.down[0].at) if ch.down else None, down_while_busy=ch.down_busy))
            ch.connections = ch.reconnects = ch.frames_in = ch.frames_out = 0
            ch.closes, ch.longest_silence, ch.busy_silence, ch.answered_busy_silence = [], 0.0, 0.0, 0.0
            if not ch.live and not ch.down and not ch.had_close:
                del self._channels[key]  # gone with its page: nothing left to tell
        self._window = now
        return out
