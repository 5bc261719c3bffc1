"""The capture proxy of app journeys: mitmproxy, run in-process as a library in a
thread of its own (its own event loop), listening where ``appium.network.listen``
says (a free loopback port by default). The device (or the chromium driver's
Chrome, which Patrol points at it itself) sends its traffic through it; Patrol's
addon tells a ``CaptureSink`` on the journey's event loop about every request and
WebSocket, and about TLS handshakes the app refused (a pinned certificate).

What the addon reports is what the proxy saw, in the words the web path uses: a
resource type guessed from the request (``Sec-Fetch-Dest`` from a browser, else the
Accept header and the path: a native app's call is an API call), errors in
Chromium's vocabulary (``net::ERR_CONNECTION_REFUSED``, ``net::ERR_ABORTED`` for a
request the app gave up on), so the web's rules apply unchanged.

mitmproxy keeps its CA in ``confdir`` (``mitmproxy-ca-cert.pem`` is what devices
install); Patrol's default is ``~/.cache/patrol/mitmproxy``, so a device set up once
stays set up. Bodies are streamed through, never kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar
from urllib.parse import urlsplit

from ...errors import RobotError

if TYPE_CHECKING:
    from mitmproxy.http import HTTPFlow
    from mitmproxy.master import Master
    from mitmproxy.tls import TlsData

T = TypeVar("T")
START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 5.0
CA_FILE = "mitmproxy-ca-cert.pem"  # the CA certificate devices trust (PEM); .cer is the same for Android

# What a browser's Sec-Fetch-Dest says, as the web path's resource types.
_DEST_TYPES = {"document": "document", "iframe": "document", "frame": "document", "script": "script",
               "style": "stylesheet", "image": "image", "font": "font", "audio": "media", "video": "media",
               "track": "media", "empty": "fetch", "manifest": "other", "worker": "script",
               "sharedworker": "script", "serviceworker": "script"}
_EXTENSION_TYPES = {".js": "script", ".mjs": "script", ".css": "stylesheet", ".png": "image", ".jpg": "image",
                    ".jpeg": "image", ".gif": "image", ".webp": "image", ".svg": "image", ".ico": "image",
                    ".woff": "font", ".woff2": "font", ".ttf": "font", ".otf": "font", ".mp4": "media",
                    ".mp3": "media", ".webm": "media", ".html": "document", ".htm": "document"}


class CaptureFailed(RobotError):
    """The capture proxy could not start, or the device's traffic cannot go through it."""

    reason = "capture_failed"


def default_confdir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "patrol" / "mitmproxy"


def parse_listen(listen: str | None) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8080`` for IPv6); None: a free loopback port."""
    if not listen:
        return "127.0.0.1", 0
    host, _, port = listen.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


def resource_type(method: str, url: str, headers: dict[str, str]) -> str:
    """The web path's resource type of a request the proxy saw."""
    if headers.get("upgrade", "").lower() == "websocket":
        return "websocket"
    dest = headers.get("sec-fetch-dest", "").lower()
    if dest in _DEST_TYPES:
        return _DEST_TYPES[dest]
    accept = headers.get("accept", "").lower()
    if accept.startswith("text/event-stream"):
        return "eventsource"
    if accept.startswith("text/html") and method == "GET":
        return "document"
    if accept.startswith("image/"):
        return "image"
    path = urlsplit(url).path.lower()
    ext = path[path.rfind("."):] if "." in path.rsplit("/", 1)[-1] else ""
    return _EXTENSION_TYPES.get(ext, "fetch")  # a native app's request is one of its API calls


def socket_url(url: str) -> str:
    """A WebSocket's URL as the app opened it (the proxy sees the HTTP upgrade)."""
    if url.startswith("http://"):
        return "ws://" + url[len("http://"):]
    if url.startswith("https://"):
        return "wss://" + url[len("https://"):]
    return url


def chromium_error(message: str) -> str:
    """A proxy error in Chromium's words (what the network rules know), the proxy's own after it."""
    low = message.lower()
    if "client disconnected" in low or "killed" in low:
        code = "net::ERR_ABORTED"  # the app gave up on it (it moved on): never a failure of its own
    elif "connect call failed" in low or "connection refused" in low:
        code = "net::ERR_CONNECTION_REFUSED"
    elif "name or service not known" in low or "nodename nor servname" in low or "getaddrinfo" in low \
            or "temporary failure in name resolution" in low:
        code = "net::ERR_NAME_NOT_RESOLVED"
    elif "timed out" in low or "timeout" in low:
        code = "net::ERR_CONNECTION_TIMED_OUT"
    elif "tls" in low or "ssl" in low or "certificate" in low:
        code = "net::ERR_SSL_PROTOCOL_ERROR"
    elif "server disconnected" in low or "connection reset" in low or "connection closed" in low:
        code = "net::ERR_EMPTY_RESPONSE"
    else:
        code = "net::ERR_FAILED"
    return f"{code} ({message.strip()[:300]})"


class CaptureSink(Protocol):
    """What the proxy tells, called on the sink's own event loop (keys are flow ids)."""

    def request(self, key: str, method: str, url: str, kind: str, navigation: bool) -> None: ...
    def response(self, key: str, status: int, headers: dict[str, str]) -> None: ...
    def finished(self, key: str, duration_ms: float | None) -> None: ...
    def failed(self, key: str, error: str) -> None: ...
    def ws_open(self, key: str, url: str) -> None: ...
    def ws_message(self, key: str, from_client: bool) -> None: ...
    def ws_close(self, key: str, code: int | None, reason: str, by_client: bool, error: str | None) -> None: ...
    def tls_refused(self, host: str, error: str) -> None: ...
    def tls_accepted(self, host: str) -> None: ...
    def trace_headers(self, url: str) -> dict[str, str]:
        """Headers to add to a request to ``url`` (the step's trace context); called in the proxy's thread."""
        ...


@dataclass
class _Route:
    sink: CaptureSink
    loop: asyncio.AbstractEventLoop
    seen: int = 0  # hooks called for this listener: the device's traffic reaches it


class _PatrolAddon:
    """mitmproxy's hooks (the proxy's thread), handed on to the sink of the listener
    the client connected to, on the sink's loop."""

    def __init__(self, hub: _Hub) -> None:
        self.hub = hub

    def _tell(self, spec: str, tell: Callable[[CaptureSink], None]) -> None:
        """``tell`` the sink of the listener ``spec`` names, on the sink's loop (what it
        says is read here, in the proxy's thread, before it goes)."""
        route = self.hub.routes.get(spec)
        if route is None:
            return
        route.seen += 1
        with contextlib.suppress(RuntimeError):  # the journey's loop closed: nobody listens any more
            route.loop.call_soon_threadsafe(tell, route.sink)

    def requestheaders(self, flow: HTTPFlow) -> None:
        req = flow.request
        req.stream = True  # bodies pass through as they come, never kept
        headers = {str(k).lower(): str(req.headers[k]) for k in req.headers}
        kind = resource_type(req.method, req.pretty_url, headers)
        navigation = kind == "document" and headers.get("sec-fetch-mode", "navigate") == "navigate"
        key, method = flow.id, req.method
        url = socket_url(req.pretty_url) if kind == "websocket" else req.pretty_url
        route = self.hub.routes.get(_spec(flow))
        if route is not None:
            # The step's trace context on the app's own requests (when tracing is on): read
            # here, in the proxy's thread, from what the journey last set.
            for name, value in route.sink.trace_headers(req.pretty_url).items():
                req.headers[name] = value
        self._tell(_spec(flow), lambda sink: sink.request(key, method, url, kind, navigation))

    def responseheaders(self, flow: HTTPFlow) -> None:
        resp = flow.response
        if resp is None:
            return
        resp.stream = True
        wanted = ("content-length", "retry-after", "content-type")
        key, status = flow.id, resp.status_code
        headers = {str(k).lower(): str(resp.headers[k]) for k in resp.headers if str(k).lower() in wanted}
        self._tell(_spec(flow), lambda sink: sink.response(key, status, headers))

    def response(self, flow: HTTPFlow) -> None:
        if flow.websocket is not None:
            return  # the socket's life ends it (websocket_end)
        resp = flow.response
        end = resp.timestamp_end if resp is not None else None
        key, took = flow.id, (end - flow.request.timestamp_start) * 1000 if end else None
        self._tell(_spec(flow), lambda sink: sink.finished(key, took))

    def error(self, flow: HTTPFlow) -> None:
        if flow.websocket is not None and flow.response is not None and flow.response.status_code == 101:
            return  # an open socket's error: websocket_end tells it
        key, error = flow.id, chromium_error(flow.error.msg if flow.error else "failed")
        self._tell(_spec(flow), lambda sink: sink.failed(key, error))

    def websocket_start(self, flow: HTTPFlow) -> None:
        key, url = flow.id, socket_url(flow.request.pretty_url)
        self._tell(_spec(flow), lambda sink: sink.ws_open(key, url))

    def websocket_message(self, flow: HTTPFlow) -> None:
        if flow.websocket is not None and flow.websocket.messages:
            key, from_client = flow.id, flow.websocket.messages[-1].from_client
            self._tell(_spec(flow), lambda sink: sink.ws_message(key, from_client))

    def websocket_end(self, flow: HTTPFlow) -> None:
        ws = flow.websocket
        if ws is None:
            return
        key, error = flow.id, flow.error.msg if flow.error else None
        code, reason, by_client = ws.close_code, str(ws.close_reason or ""), bool(ws.closed_by_client)
        spec = _spec(flow)
        self._tell(spec, lambda sink: sink.ws_close(key, code, reason, by_client, error))
        self._tell(spec, lambda sink: sink.finished(key, None))

    def tls_established_client(self, data: TlsData) -> None:
        host = _host(data)
        self._tell(data.context.client.proxy_mode.full_spec, lambda sink: sink.tls_accepted(host))

    def tls_failed_client(self, data: TlsData) -> None:
        host, error = _host(data), str(data.conn.error or "the handshake failed")
        self._tell(data.context.client.proxy_mode.full_spec, lambda sink: sink.tls_refused(host, error))


def _spec(flow: HTTPFlow) -> str:
    return flow.client_conn.proxy_mode.full_spec


def _host(data: TlsData) -> str:
    sni = data.context.client.sni
    if sni:
        return str(sni)
    address = data.context.server.address
    return str(address[0]) if address else "?"


class _Hub:
    """The process's one mitmproxy (its options and context are process-wide), in a
    thread of its own, with one listener (a ``regular@HOST:PORT`` mode) per capturing
    journey: what comes in on a listener goes to that journey's sink."""

    def __init__(self, confdir: Path, upstream_ca: str | None) -> None:
        self.confdir, self.upstream_ca = confdir, upstream_ca
        self.routes: dict[str, _Route] = {}
        self.master: Master | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None
        self.errors: list[str] = []  # what the proxy logged as errors (a port it could not listen on)
        self._ready = threading.Event()

    def start(self) -> None:
        try:
            self.confdir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise CaptureFailed(f"the capture proxy cannot keep its CA in {self.confdir}: {e.strerror or e}") from None
        self.thread = threading.Thread(target=self._run, name="patrol-capture-proxy", daemon=True)
        self.thread.start()
        if not self._ready.wait(START_TIMEOUT_S) or self.master is None:
            self.stop()
            raise CaptureFailed(f"the capture proxy did not start within {START_TIMEOUT_S:.0f}s"
                                + (f": {self.errors[-1]}" if self.errors else ""))

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self.loop = loop
        asyncio.set_event_loop(loop)
        handler = _ErrorLog(self.errors)
        log = logging.getLogger("mitmproxy")
        log.addHandler(handler)
        log.propagate = False  # the proxy's own chatter stays out of Patrol's output
        try:
            self.master = loop.run_until_complete(self._make())
            self._ready.set()
            loop.run_until_complete(self.master.run())
        except Exception as e:  # said by start(), never lost in the thread
            self.errors.append(str(e) or type(e).__name__)
        finally:
            self._ready.set()
            log.removeHandler(handler)
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _make(self) -> Master:
        # mitmproxy loads with the first capturing journey, never with the engine.
        from mitmproxy import addons, options
        from mitmproxy.master import Master

        opts = options.Options(confdir=str(self.confdir), mode=[])
        master = Master(opts)
        manager: _Addons = master.addons
        defaults: Callable[[], list[object]] = addons.default_addons
        manager.add(*defaults())
        manager.add(_PatrolAddon(self))
        extra: dict[str, object] = {"connection_strategy": "lazy"}
        if self.upstream_ca:
            extra["ssl_verify_upstream_trusted_ca"] = self.upstream_ca
        settings: _Options = opts
        settings.update(**extra)
        return master

    def call(self, coro: Coroutine[object, None, T]) -> T:
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(START_TIMEOUT_S)

    async def set_modes(self, specs: list[str]) -> dict[str, tuple[tuple[str, int] | None, str | None]]:
        """Listen as ``specs`` say; for each spec its address (None when it could not) and error."""
        from mitmproxy.addons.proxyserver import Proxyserver

        assert self.master is not None
        self.errors.clear()
        manager: _Addons = self.master.addons
        server = manager.get("proxyserver")
        if not isinstance(server, Proxyserver):
            raise CaptureFailed("mitmproxy runs without its proxy server addon")
        for _ in range(int(START_TIMEOUT_S / 0.01)):  # until run() brought the (first, empty) servers up
            if server.is_running:
                break
            await asyncio.sleep(0.01)
        settings: _Options = self.master.options
        settings.update(mode=specs)
        task = getattr(server, "_update_task", None)
        if task is not None:
            with contextlib.suppress(Exception):
                await task
        out: dict[str, tuple[tuple[str, int] | None, str | None]] = {}
        for instance in server.servers:
            spec = instance.mode.full_spec
            addrs = instance.listen_addrs
            error = str(instance.last_exception) if instance.last_exception else None
            out[spec] = ((str(addrs[0][0]), int(addrs[0][1])) if addrs else None, error)
        return out

    def stop(self) -> None:
        master, loop, thread = self.master, self.loop, self.thread
        if master is not None and loop is not None and not loop.is_closed():
            running: _Stoppable = master
            with contextlib.suppress(RuntimeError):
                running.shutdown()
        if thread is not None:
            thread.join(STOP_TIMEOUT_S)
        self.master, self.loop, self.thread = None, None, None


# What Patrol calls of mitmproxy's master, its addon manager and its options: methods
# mitmproxy leaves unannotated, given their signatures here (mypy checks they exist).
class _Addons(Protocol):
    def add(self, *addons: object) -> None: ...
    def get(self, name: str) -> object: ...


class _Options(Protocol):
    def update(self, **options: object) -> None: ...


class _Stoppable(Protocol):
    def shutdown(self) -> None: ...


class _ErrorLog(logging.Handler):
    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.ERROR)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record.getMessage()[:500])


_HUB: _Hub | None = None
_HUB_LOCK = threading.Lock()


@dataclass
class CaptureListener:
    """One journey's way into the proxy: where the device sends its traffic."""

    spec: str
    host: str
    port: int
    confdir: Path

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def ca_cert(self) -> Path:
        return self.confdir / CA_FILE

    def seen(self) -> int:
        """How many things the proxy saw on this listener (0: the device does not use it)."""
        route = _HUB.routes.get(self.spec) if _HUB is not None else None
        return route.seen if route is not None else 0

    def close(self) -> None:
        close_listener(self)


def open_listener(sink: CaptureSink, loop: asyncio.AbstractEventLoop, listen: str | None = None,
                  confdir: Path | None = None, upstream_ca: str | None = None) -> CaptureListener:
    """Start listening for one journey (the process's proxy starts with the first);
    blocking: call it off the event loop. ``CaptureFailed`` when it cannot."""
    global _HUB
    host, port = parse_listen(listen)
    if port == 0:
        port = _free_port(host)
    spec = f"regular@[{host}]:{port}" if ":" in host else f"regular@{host}:{port}"
    confdir = confdir or default_confdir()
    with _HUB_LOCK:
        if _HUB is not None and _HUB.confdir != confdir:
            if _HUB.routes:
                raise CaptureFailed(f"the capture proxy already runs with its CA in {_HUB.confdir}; one process has "
                                    f"one proxy (asked for {confdir})")
            _HUB.stop()
            _HUB = None
        if _HUB is None or _HUB.master is None:
            _HUB = _Hub(confdir, upstream_ca)
            _HUB.start()
        hub = _HUB
        if spec in hub.routes:
            raise CaptureFailed(f"the capture proxy's {spec.split('@', 1)[1]} is in use by another journey of this run "
                                "(one device, one listen address: give each device its own)")
        hub.routes[spec] = _Route(sink, loop)
        try:
            result = hub.call(hub.set_modes(list(hub.routes)))
        except Exception as e:
            hub.routes.pop(spec, None)
            raise CaptureFailed(f"the capture proxy could not listen on {spec.split('@', 1)[1]}: {e}") from None
        address, error = result.get(spec, (None, "no listener"))
        if address is None:
            hub.routes.pop(spec, None)
            with contextlib.suppress(Exception):
                hub.call(hub.set_modes(list(hub.routes)))
            why = error or (hub.errors[-1] if hub.errors else "it did not start")
            raise CaptureFailed(f"the capture proxy could not listen on {spec.split('@', 1)[1]}: {why}")
        return CaptureListener(spec, host, address[1], confdir)


def close_listener(listener: CaptureListener) -> None:
    """Stop listening for a journey; the proxy stops with the last listener."""
    global _HUB
    with _HUB_LOCK:
        hub = _HUB
        if hub is None or hub.routes.pop(listener.spec, None) is None:
            return
        if not hub.routes:
            hub.stop()
            _HUB = None
            return
        with contextlib.suppress(Exception):
            hub.call(hub.set_modes(list(hub.routes)))


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def spki_hash(cert_pem: Path) -> str | None:
    """Base64 SHA-256 of the CA's public key: Chrome's ``--ignore-certificate-errors-spki-list``
    (mitmproxy signs every host's certificate with the CA's own key)."""
    try:
        import base64
        import hashlib

        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        cert = x509.load_pem_x509_certificate(cert_pem.read_bytes())
        der = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return base64.b64encode(hashlib.sha256(der).digest()).decode()
    except Exception:
        return None




class _Nobody:
    """A sink that records nothing (``self_check``'s listener)."""

    def request(self, key: str, method: str, url: str, kind: str, navigation: bool) -> None: ...
    def response(self, key: str, status: int, headers: dict[str, str]) -> None: ...
    def finished(self, key: str, duration_ms: float | None) -> None: ...
    def failed(self, key: str, error: str) -> None: ...
    def ws_open(self, key: str, url: str) -> None: ...
    def ws_message(self, key: str, from_client: bool) -> None: ...
    def ws_close(self, key: str, code: int | None, reason: str, by_client: bool, error: str | None) -> None: ...
    def tls_refused(self, host: str, error: str) -> None: ...
    def tls_accepted(self, host: str) -> None: ...

    def trace_headers(self, url: str) -> dict[str, str]:
        return {}


def self_check(listen: str | None, confdir: Path | None = None, timeout_s: float = 5.0) -> CaptureListener:
    """Listen as configured and make one TLS handshake through the proxy trusting only
    its CA (what a set-up device does); ``CaptureFailed`` saying what failed. Blocking:
    the proxy runs in its own thread; the caller closes the listener it returns."""
    import ssl

    loop = asyncio.new_event_loop()  # never run: nothing is recorded
    listener = open_listener(_Nobody(), loop, listen, confdir)
    host = "127.0.0.1" if listener.host in ("0.0.0.0", "::", "") else listener.host
    probe_host = "patrol-doctor.invalid"  # never resolved: the proxy answers the handshake itself
    try:
        with socket.create_connection((host, listener.port), timeout=timeout_s) as raw:
            raw.sendall(f"CONNECT {probe_host}:443 HTTP/1.1\r\nHost: {probe_host}:443\r\n\r\n".encode())
            answer = raw.recv(4096).decode("latin-1")
            if " 200 " not in answer.split("\r\n", 1)[0] + " ":
                raise CaptureFailed(f"the proxy at {listener.address} answered CONNECT with "
                                    f"{answer.splitlines()[0] if answer else 'nothing'}")
            context = ssl.create_default_context(cafile=str(listener.ca_cert))
            with context.wrap_socket(raw, server_hostname=probe_host) as tls:
                tls.getpeercert()
    except CaptureFailed:
        listener.close()
        raise
    except (OSError, ssl.SSLError) as e:
        listener.close()
        raise CaptureFailed(f"a TLS handshake through the proxy at {listener.address} trusting its CA "
                            f"({listener.ca_cert}) failed: {e}") from None
    finally:
        loop.close()
    return listener
