"""An app journey's network evidence from the capture proxy (``capture_proxy``): the
same recorders the web driver feeds from Playwright (``_network.NetworkRecorder`` for
requests, ``_websocket.SocketRecorder`` for WebSockets), fed here with what the proxy
saw, so every request and socket of an app becomes the same typed record and the
web's rules (causes, slow requests in stalls, sockets down while the screen waits)
apply unchanged.

The recorders read Playwright's objects; the small stand-ins below carry the same
attributes. Everything here runs on the journey's event loop: the proxy's thread
hands each event over (``call_soon_threadsafe``).

TLS handshakes the app refused through the proxy are kept per host: a host whose
handshakes fail while others succeed is an app that pins its certificate; when none
succeeds the device may not trust Patrol's CA either. Either way the robot cannot
see that traffic, and says so (``CaptureFailed``), never a finding about the app.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ...config.web import NetworkSettings
from ...core.urls import RequestPolicy
from .._network import NetworkRecorder
from .._websocket import SocketRecorder
from . import _appium_support as sup
from .capture_proxy import CaptureFailed, CaptureListener, open_listener, spki_hash

if TYPE_CHECKING:
    from ...config import Config
    from ...core.tracecontext import TraceContext
    from ...journey.model import Journey
    from ..base import DriverEvents

log = logging.getLogger(__name__)

# Chrome's own calls home (autofill, password leak checks, sign-in, updates) would be in
# the app's evidence: a phone's browser makes them, but they are not the app's.
QUIET_CHROME = ("--disable-features=AutofillServerCommunication,PasswordLeakDetection,OptimizationHints,"
                "MediaRouter,Translate,ChromeWhatsNewUI", "--disable-client-side-phishing-detection",
                "--disable-domain-reliability", "--no-pings", "--disable-breakpad", "--password-store=basic",
                "--use-mock-keychain", "--disable-signin-frame-client-certs", "--disable-background-timer-throttling")


@dataclass(eq=False)
class _Exchange:
    """What the network recorder reads of a Playwright request."""

    method: str
    url: str
    resource_type: str
    navigation: bool
    frame: object = None  # an app has no frames: navigations are the app's as a whole
    failure: str | None = None
    timing: dict[str, float] = field(default_factory=dict)

    def is_navigation_request(self) -> bool:
        return self.navigation


@dataclass(eq=False)
class _Answer:
    """What the network recorder reads of a Playwright response."""

    request: _Exchange
    status: int
    headers: dict[str, str]


@dataclass(eq=False)
class _Socket:
    """What the socket recorder reads of a Playwright WebSocket: its URL and events."""

    url: str
    handlers: dict[str, list[Callable[[object], None]]] = field(default_factory=dict)

    def on(self, event: str, handler: Callable[[object], None]) -> None:
        self.handlers.setdefault(event, []).append(handler)

    def emit(self, event: str, payload: object = None) -> None:
        for handler in self.handlers.get(event, []):
            handler(payload)


class _App:
    """The app as the socket recorder's "page": it never closes, it has no frames."""

    main_frame = None

    def is_closed(self) -> bool:
        return False


class AppNetwork:
    """The ``CaptureSink`` of one app journey: the proxy's events into the recorders."""

    def __init__(self, settings: NetworkSettings, policy: RequestPolicy,
                 busy: Callable[[], Awaitable[bool]] | None = None) -> None:
        self.requests = NetworkRecorder(settings, policy)
        self.app = _App()

        async def probe(_page: object) -> bool:
            return bool(await busy()) if busy is not None else False

        self.sockets = SocketRecorder(policy=policy, probe=probe if busy is not None else None,
                                      navigated_since=self.requests.navigated_since)
        self._live: dict[str, _Exchange] = {}
        self._sockets: dict[str, _Socket] = {}
        self.tls_ok: set[str] = set()
        self.refused: dict[str, str] = {}  # host -> the proxy's words (TLS handshakes the app refused)
        self._told: set[str] = set()
        # The running step's trace context (tracing on): the app's own requests carry it.
        self.trace: TraceContext | None = None
        self.requests.traced = self._traced  # each request's evidence says which trace and span it went in

    # -- CaptureSink ----------------------------------------------------------------
    def request(self, key: str, method: str, url: str, kind: str, navigation: bool) -> None:
        exchange = self._live[key] = _Exchange(method, url, kind, navigation)
        self.requests.on_request(exchange)

    def response(self, key: str, status: int, headers: dict[str, str]) -> None:
        exchange = self._live.get(key)
        if exchange is not None:
            self.requests.on_response(_Answer(exchange, status, headers))

    def finished(self, key: str, duration_ms: float | None) -> None:
        exchange = self._live.pop(key, None)
        if exchange is None:
            return
        if duration_ms is not None:
            exchange.timing["responseEnd"] = duration_ms  # measured by the proxy, not when the event got here
        self.requests.on_finished(exchange)

    def failed(self, key: str, error: str) -> None:
        exchange = self._live.pop(key, None)
        if exchange is None:
            return
        exchange.failure = error
        self.requests.on_failed(exchange)
        socket = self._sockets.pop(key, None)
        if socket is not None:  # the handshake itself failed
            socket.emit("socketerror", error)
            socket.emit("close")

    def ws_open(self, key: str, url: str) -> None:
        socket = self._sockets[key] = _Socket(url)
        self.sockets.on_websocket(self.app, socket)

    def ws_message(self, key: str, from_client: bool) -> None:
        socket = self._sockets.get(key)
        if socket is not None:
            socket.emit("framesent" if from_client else "framereceived")

    def ws_close(self, key: str, code: int | None, reason: str, by_client: bool, error: str | None) -> None:
        socket = self._sockets.pop(key, None)
        if socket is None:
            return
        if error and not by_client:
            socket.emit("socketerror", error)
        socket.emit("close")
        # The proxy saw who closed it and with which code: what the web's in-page hook tells.
        self.sockets.on_page_close({"page": self.app}, {"url": socket.url, "code": code, "reason": reason,
                                                       "byPage": by_client})

    def tls_refused(self, host: str, error: str) -> None:
        self.refused[host] = error

    def tls_accepted(self, host: str) -> None:
        self.tls_ok.add(host)

    def _traced(self, url: str) -> TraceContext | None:
        context = self.trace
        return context if context is not None and context.sends_to(url, self.requests.policy) else None

    def trace_headers(self, url: str) -> dict[str, str]:
        context = self.trace  # one read: the journey's loop may set the next step's meanwhile
        if context is None or not context.sends_to(url, self.requests.policy):
            return {}
        return context.headers()

    # -- what the driver reads --------------------------------------------------------
    def check_tls(self) -> None:
        """A host the app would not talk to through the proxy: the robot cannot see
        (and the app cannot reach) it, which is the set-up's fault, not the app's."""
        new = [h for h in self.refused if h not in self._told and h not in self.tls_ok]
        if not new:
            return
        self._told.update(new)
        host = new[0]
        hosts = ", ".join(new[:5])
        if self.tls_ok:
            why = "the app pins its certificate"
            fix = ("capture cannot see a pinning app's traffic: test a build without pinning (a debug build's "
                   "network security config), or leave this host out of the device's proxy")
        else:
            why = "the app pins its certificate, or the device does not trust Patrol's CA"
            fix = "install the proxy's CA on the device (docs/mobile.md, 'Network capture'; `patrol doctor` checks it)"
        raise CaptureFailed(f"TLS handshakes to {hosts} fail through the proxy: {why} "
                            f"(the proxy saw: {self.refused[host][:200]}); {fix}")

    def broken(self) -> bool:
        return self.requests.broken() or self.sockets.failing_since() is not None

    def failed_at(self) -> float | None:
        times = [t for t in (self.requests.broken_at(), self.sockets.failing_since()) if t is not None]
        return min(times) if times else None

    async def close(self) -> None:
        await self.sockets.close()



class AppCapture:
    """One app journey's capture: its listener on the proxy and its recorders."""

    def __init__(self, network: AppNetwork, listener: CaptureListener) -> None:
        self.network, self.listener = network, listener

    @classmethod
    async def open(cls, config: Config | None, journey: Journey) -> AppCapture | None:
        """The journey's listener, when ``appium.network.capture`` is on (else None:
        the app path as it was). ``CaptureFailed`` (a robot error) when it cannot listen."""
        if config is None or not config.settings.appium.network.capture:
            return None
        section = config.settings.appium.network
        # An app journey's first party: its base_url's site and patrol.yaml network.first_party.
        settings = config.settings.network
        policy = RequestPolicy.for_journey(journey.base_url, settings.first_party, settings.ignore)
        network = AppNetwork(settings, policy)
        confdir = config.path(Path(section.ca_dir).expanduser()) if section.ca_dir else None
        upstream = str(config.path(section.upstream_ca)) if section.upstream_ca else None
        listener = await asyncio.to_thread(open_listener, network, asyncio.get_running_loop(), section.listen,
                                           confdir, upstream)
        return cls(network, listener)

    def browser_capabilities(self, caps: sup.Capabilities) -> sup.Capabilities:
        """This machine's Chrome (the chromium driver) pointed at the proxy: loopback too
        (Chrome bypasses proxies for it unless told), the proxy's certificates trusted,
        and no performance log (the proxy sees every request: Chrome's log would say the
        same failures twice)."""
        options = sup.mapping(caps.get("goog:chromeOptions"))
        own = [a for a in sup.text_list(options.get("args")) if not a.startswith(
            ("--proxy-server", "--proxy-bypass-list", "--ignore-certificate-errors-spki-list"))]
        args = [f"--proxy-server=http://{self.listener.address}", "--proxy-bypass-list=<-loopback>", *QUIET_CHROME]
        spki = spki_hash(self.listener.ca_cert)
        if spki:
            args.append(f"--ignore-certificate-errors-spki-list={spki}")
        options["args"] = own + args
        out = {**caps, "goog:chromeOptions": options}
        prefs = sup.mapping(out.get("goog:loggingPrefs"))
        prefs.pop("performance", None)
        out["goog:loggingPrefs"] = prefs
        return out

    def watch_busy(self, busy: Callable[[], Awaitable[bool]]) -> None:
        """How the socket recorder asks whether the screen shows it is loading."""

        async def probe(_app: object) -> bool:
            return bool(await busy())

        self.network.sockets.probe = probe

    def failure_seen(self) -> bool:
        return self.network.broken()

    def failed_at(self) -> float | None:
        return self.network.failed_at()

    def drain_into(self, events: DriverEvents) -> None:
        """The step's requests and WebSockets into its events; a host the app refused
        to talk to through the proxy ends the journey as the robot's (``CaptureFailed``)."""
        events.requests, _ = self.network.requests.drain()
        events.websockets = self.network.sockets.drain()
        self.network.check_tls()

    async def close(self) -> None:
        await self.network.close()
        if not self.listener.seen():
            log.warning("the capture proxy at %s saw no traffic during the journey: the device does not use it "
                        "(its proxy setting), so no requests were recorded", self.listener.address)
        await asyncio.to_thread(self.listener.close)
