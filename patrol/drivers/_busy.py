"""Is the page still loading? The web driver's answer, apart from its plumbing.

Two independent signs, so it works on apps nobody here wrote:

- what is on screen: ARIA (``aria-busy``, an unfinished progressbar, a status region
  saying "loading"), the class names common UI kits give their spinners, and the app's
  own ``busy:`` selectors (patrol.yaml and the journey add up) — see
  ``_page_scripts.BUSY_INDICATORS``;
- what is not: first-party requests still pending while the screen does not change
  (an app whose spinner is a bare ``<div>`` still waits for its API).

The runner's expectation checks ask it when what they waited for never came: a busy
screen is then ``spinner_stuck`` (a stall, with the pending requests as evidence),
not ``expect_failed``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NotRequired, TypedDict

from ..core.urls import RequestPolicy, mask_url
from ._websocket import SilentSocket, silence_words

if TYPE_CHECKING:
    from playwright.async_api import Request

# Requests that stay open by design: never "still loading".
LONG_LIVED = ("eventsource", "websocket", "media", "ping", "beacon")
# A request younger than this is the page working, not waiting.
PENDING_AFTER_S = 1.0
# A short page read answered this late: the page is still busy working (parsing, laying out).
SLOW_ANSWER_S = 1.0
# Two screenshots this far apart that are identical: the screen is not moving.
STILL_GAP_S = 0.5


class PendingRequest(TypedDict):
    """One of the app's own requests still waiting for its answer."""

    method: str
    url: str  # token-masked
    resource_type: str
    pending_ms: int


class BusyState(TypedDict):
    """Why the screen looks still loading (``Driver.busy_state``): what shows it, the
    app's own requests still pending, and its sockets silent meanwhile (when any)."""

    busy: list[str]
    pending_requests: list[PendingRequest]
    silent_websockets: NotRequired[list[SilentSocket]]


@dataclass
class BusyWatch:
    """One journey's busy selectors and request policy, and when each request started."""

    selectors: tuple[str, ...] = ()
    policy: RequestPolicy = field(default_factory=RequestPolicy)
    started: dict[Request, float] = field(default_factory=dict)  # Playwright request -> monotonic start

    def on_request(self, request: Request) -> None:
        self.started[request] = time.monotonic()

    def on_done(self, request: Request) -> None:
        self.started.pop(request, None)

    def pending(self, now: float | None = None, older_than_s: float = PENDING_AFTER_S) -> list[PendingRequest]:
        """First-party requests still waiting for their answer, oldest first (at most 5)."""
        now = time.monotonic() if now is None else now
        rows: list[PendingRequest] = []
        for request, t0 in sorted(self.started.items(), key=lambda kv: kv[1]):
            if now - t0 < older_than_s or _kind(request) in LONG_LIVED or not self.policy.counts(request.url):
                continue
            rows.append({"method": request.method, "url": mask_url(request.url), "resource_type": _kind(request),
                         "pending_ms": round((now - t0) * 1000)})
        return rows[:5]


def _kind(request: Request) -> str:
    return str(request.resource_type or "")


def describe(state: BusyState) -> str:
    """A busy state in a few words: what shows it, and the oldest pending request."""
    words = list(state.get("busy") or [])[:2]
    pending = state.get("pending_requests") or []
    if pending:
        p = pending[0]
        words.append(f"{p['method']} {p['url']} pending for {p['pending_ms'] / 1000:.1f}s")
    silent = state.get("silent_websockets") or []
    if silent:
        words.append(silence_words(silent[0]["url"], silent[0]["silent_ms"]))
    return "; ".join(words)
