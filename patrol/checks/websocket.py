"""WebSockets of the app's own: every one in the step's report, and the one that
closed (or kept reconnecting) while the screen waited for it named as the cause.

A socket is *down* from a close the app did not ask for (not ``close()``, not a
navigation) until its next message (``drivers._websocket``). Down alone is evidence:
apps reconnect, and a page that does not wait on the socket shows nothing wrong.
Down while the screen shows it is loading is ``websocket_closed``:

- a breakpoint when the step's flow broke on it (what the step waited for never came:
  the data can no longer arrive, as after a failed request, however often the page
  reconnects), fatal, with the stuck screen folded in as its consequence. The driver
  says the app failed as soon as the socket is down while the screen is busy, so the
  wait ends after the short failure grace, not the hard timeout;
- a stall when the flow went on but part of the screen stays loading (a live quote
  stuck on "connecting…"), not fatal, once per socket per journey.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..causes import Cause, Problem
from ..core.evidence import SocketClose, WebSocketRecord
from ..core.vocabulary import Reason
from ..drivers._websocket import socket_name
from ..results import BREAKPOINT, STALL, Finding
from . import register
from .base import Check

if TYPE_CHECKING:
    from ..step.evidence import StepContext

# Findings that say the screen was still loading when the step gave up on it.
BUSY_REASONS = (Reason.SPINNER_STUCK,)


@register
class WebSocketCheck(Check):
    name = "websocket"
    order = -35  # after the request causes (network), before the budget: a socket explains a stuck screen
    always = True
    summary = "a WebSocket of the app's own that closed or kept reconnecting while the screen was loading"

    async def run(self, sc: StepContext, params: object) -> list[Finding]:
        sockets = sc.evidence.events.websockets
        if sockets:
            sc.report["websockets"] = [w.to_json() for w in sockets]
        down = sorted((w for w in sockets if w.first_party and w.down_since_ms is not None),
                      key=lambda w: w.down_since_ms if w.down_since_ms is not None else 0.0)
        if not down:
            return []
        broke = any(f.fatal for f in sc.findings)
        waiting = any(f.reason in BUSY_REASONS for f in sc.findings)
        busy = waiting or any(w.down_while_busy for w in down) or await sc.driver.busy_indicator_visible()
        if not busy:
            return []
        socket = down[0]
        if not broke and not sc.first_time("websocket_closed", socket.url):
            return []
        first = next(iter(socket.failing_closes()), socket.closed)
        message = _message(socket, first, broke)
        evidence: dict[str, object] = {"url": socket.url, "down_since_ms": socket.down_since_ms, "websocket": socket.to_json()}
        if len(down) > 1:
            evidence["also"] = [w.url for w in down[1:5]]
        cause = Cause.of_websocket(socket.url, Problem.CLOSED, text=_code(first) or "closed")
        kind = BREAKPOINT if broke else STALL
        return [Finding(kind=kind, reason=Reason.WEBSOCKET_CLOSED, message=message, evidence=evidence, fatal=broke,
                        cause=cause)]


def _code(close: SocketClose | None) -> str:
    """What the page was told: the close code and reason, or the socket's error (a refused handshake)."""
    if close is None:
        return ""
    told = f"code {close.code}" + (f" {close.reason}" if close.reason else "") if close.code is not None else ""
    return "; ".join(w for w in (told, close.error or "") if w)


def _message(socket: WebSocketRecord, first: SocketClose | None, broke: bool) -> str:
    how = f" ({_code(first)})" if _code(first) else ""
    refused = first is not None and first.error is not None and first.code in (None, 1006)
    what = "could not connect" if refused else "was closed by the server"
    words = f"{socket_name(socket.url)} {what}{how} while the screen was loading"
    if socket.reconnects:
        times = "time" if socket.reconnects == 1 else "times"
        again = " and it closed again" if len(socket.failing_closes()) > 1 else ""
        words += f"; the page reconnected {socket.reconnects} {times}{again}"
    if not socket.frames_in:
        words += "; no message came"
    if not broke:
        words += " (the rest of the page went on)"
    return words
