"""A loopback reverse proxy that passes an app's traffic through and breaks it on
demand: per URL glob, at run time, from the test's own thread.

    with FaultProxy(upstream_port=8888) as proxy:
        proxy.status("/api/contents*", 500)
        proxy.status("/api/contents*", 429, retry_after=30)
        proxy.delay("/api/contents*", 8)
        proxy.hang("/lab/api/settings*")          # never answers: a spinner that never ends
        proxy.fail("/static/lab/main.*.js")       # aborts the connection (no answer at all)
        proxy.clear()

A glob matches the request target (path and query, e.g. ``/api/contents?content=1``),
or the whole URL when it starts with ``http`` (``http://localhost:*/__third_party__/*``).
Each fault that fired is in ``proxy.hits`` with its wall-clock time, so a test can say
how long Patrol took from the failure to the finding.

Every HTML page gets one extra tag: a script from a *third party*
(``http://localhost:PORT/__third_party__/analytics.js``, answered by the proxy itself: a
different host than the app's 127.0.0.1), so the suite can fail a third-party request
without the internet. Websockets (JupyterLab's events and kernels, Node-RED's comms)
are piped through untouched after the upgrade.

One upstream connection per request (``Connection: close`` both ways) keeps the
framing trivial: a response ends when the app closes. Responses are not compressed
(``Accept-Encoding`` is dropped) so HTML can be edited.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

THIRD_PARTY_PATH = "/__third_party__/"
THIRD_PARTY_SCRIPT = b"/* a third party's analytics script (served by the test proxy) */\nwindow.__thirdParty = true;\n"
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "accept-encoding", "te", "trailer"}


@dataclass(frozen=True)
class Fault:
    glob: str
    kind: str  # fail | status | delay | hang
    status: int = 0
    seconds: float = 0.0
    headers: tuple[tuple[str, str], ...] = ()
    method: str | None = None

    def matches(self, method: str, target: str, url: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        return fnmatch.fnmatchcase(url if self.glob.startswith("http") else target, self.glob)


@dataclass(frozen=True)
class Hit:
    at: float  # time.time() when the fault fired
    method: str
    url: str
    fault: Fault


@dataclass
class Request:
    method: str
    target: str
    version: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str:
        return next((v for k, v in self.headers if k.lower() == name), "")

    @property
    def is_websocket(self) -> bool:
        return self.header("upgrade").lower() == "websocket"


class FaultProxy:
    def __init__(self, upstream_port: int, *, upstream_host: str = "127.0.0.1", port: int = 0) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = port
        self.faults: list[Fault] = []
        self.hits: list[Hit] = []
        self.log: list[tuple[float, str, str, str]] = []  # (time, method, url, outcome)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._forever: asyncio.Event | None = None
        # asyncio holds a connection's task weakly once the client stops sending: a task
        # waiting on the app could be garbage-collected mid-answer. Hold them here.
        self._tasks: set[asyncio.Task[None]] = set()

    # -- the API a test uses -------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def third_party_url(self) -> str:
        return f"http://localhost:{self.port}{THIRD_PARTY_PATH}analytics.js"

    def fail(self, glob: str, *, method: str | None = None) -> Fault:
        return self._add(Fault(glob, "fail", method=method))

    def status(self, glob: str, code: int, *, retry_after: int | None = None, method: str | None = None) -> Fault:
        headers = (("Retry-After", str(retry_after)),) if retry_after is not None else ()
        return self._add(Fault(glob, "status", status=code, headers=headers, method=method))

    def delay(self, glob: str, seconds: float, *, method: str | None = None) -> Fault:
        return self._add(Fault(glob, "delay", seconds=seconds, method=method))

    def hang(self, glob: str, *, method: str | None = None) -> Fault:
        return self._add(Fault(glob, "hang", method=method))

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()
            self.hits.clear()
            self.log.clear()

    def first_hit(self, kind: str | None = None) -> Hit | None:
        with self._lock:
            return next((h for h in self.hits if kind is None or h.fault.kind == kind), None)

    def _add(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def _match(self, req: Request, url: str) -> Fault | None:
        with self._lock:
            fault = next((f for f in self.faults if f.matches(req.method, req.target, url)), None)
            if fault:
                self.hits.append(Hit(time.time(), req.method, url, fault))
            return fault

    def _note(self, req: Request, url: str, outcome: str) -> None:
        with self._lock:
            self.log.append((time.time(), req.method, url, outcome))

    # -- lifecycle: its own event loop in a thread, so Patrol's loop never waits on it ----

    def start(self) -> FaultProxy:
        self._thread = threading.Thread(target=self._run, name=f"fault-proxy-{self.upstream[1]}", daemon=True)
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("the fault proxy did not start")
        return self

    def stop(self) -> None:
        if self._loop and self._forever:
            self._loop.call_soon_threadsafe(self._forever.set)
        if self._thread:
            self._thread.join(10)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._forever = asyncio.Event()
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        # localhost resolves to ::1 first on some machines: the third party must answer there too.
        third = None
        with contextlib.suppress(OSError):
            third = await asyncio.start_server(self._handle, "::1", self.port)
        self._started.set()
        await self._forever.wait()
        for server in (self._server, third):
            if server:
                server.close()
                # Hanging connections never end by themselves: close them, then stop.
                with contextlib.suppress(AttributeError):
                    server.close_clients()  # Python 3.13+
        await asyncio.sleep(0)

    # -- one client connection = one request ---------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        try:
            req = await read_request(reader)
            if req is not None:
                await self._answer(req, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _answer(self, req: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host = req.header("host") or f"127.0.0.1:{self.port}"
        url = f"http://{host}{req.target}"
        fault = self._match(req, url)
        if fault is not None:
            if fault.kind == "fail":
                self._note(req, url, "aborted")
                abort(writer)
                return
            if fault.kind == "hang":
                self._note(req, url, "hanging")
                await reader.read()  # until the browser gives up (or the proxy stops)
                return
            if fault.kind == "status":
                self._note(req, url, str(fault.status))
                await respond(writer, fault.status, b"injected by the fault proxy\n", fault.headers)
                return
            await asyncio.sleep(fault.seconds)  # delay, then the real answer
        if req.target.startswith(THIRD_PARTY_PATH):
            self._note(req, url, "200 (third party)")
            await respond(writer, 200, THIRD_PARTY_SCRIPT, (("Content-Type", "application/javascript"),))
            return
        await self._forward(req, reader, writer, url)

    async def _forward(self, req: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, url: str) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        try:
            up_writer.write(encode_request(req))
            await up_writer.drain()
            if req.is_websocket:
                self._note(req, url, "websocket")
                await pipe_both(reader, writer, up_reader, up_writer)
                return
            status, headers = await read_head(up_reader)
            self._note(req, url, status.split(" ", 2)[1] if " " in status else status)
            if any(k.lower() == "content-type" and "text/html" in v for k, v in headers):
                body = await read_body(up_reader, headers)
                await send_head(writer, status, headers, len(inject(body, self.third_party_url)))
                writer.write(inject(body, self.third_party_url))
            else:
                await send_head(writer, status, headers, None)
                await pipe(up_reader, writer)
            await writer.drain()
        finally:
            with contextlib.suppress(Exception):
                up_writer.close()


# -- HTTP/1.1 framing, just enough for a browser and two app servers -----------------------


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    line = await reader.readline()
    if not line.strip():
        return None
    method, target, version = line.decode("latin-1").strip().split(" ", 2)
    req = Request(method, target, version, await read_headers(reader))
    length = int(req.header("content-length") or 0)
    if length:
        req.body = await reader.readexactly(length)
    return req


async def read_headers(reader: asyncio.StreamReader) -> list[tuple[str, str]]:
    headers = []
    while True:
        line = (await reader.readline()).decode("latin-1")
        if line in ("\r\n", "\n", ""):
            return headers
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))


async def read_head(reader: asyncio.StreamReader) -> tuple[str, list[tuple[str, str]]]:
    status = (await reader.readline()).decode("latin-1").strip()
    return status, await read_headers(reader)


async def read_body(reader: asyncio.StreamReader, headers: list[tuple[str, str]]) -> bytes:
    get = {k.lower(): v for k, v in headers}
    if "chunked" in get.get("transfer-encoding", "").lower():
        body = b""
        while size := int((await reader.readline()).split(b";")[0].strip() or b"0", 16):
            body += await reader.readexactly(size)
            await reader.readline()
        return body
    if "content-length" in get:
        return await reader.readexactly(int(get["content-length"]))
    return await reader.read()


def encode_request(req: Request) -> bytes:
    keep = [(k, v) for k, v in req.headers if k.lower() not in HOP_BY_HOP]
    if req.is_websocket:
        keep += [("Connection", "Upgrade")]
    else:
        keep += [("Connection", "close")]
    head = f"{req.method} {req.target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in keep) + "\r\n"
    return head.encode("latin-1") + req.body


async def send_head(writer: asyncio.StreamWriter, status: str, headers: list[tuple[str, str]], length: int | None) -> None:
    drop = HOP_BY_HOP | ({"content-length", "transfer-encoding"} if length is not None else set())
    keep = [(k, v) for k, v in headers if k.lower() not in drop]
    if length is not None:
        keep.append(("Content-Length", str(length)))
    head = status + "\r\n" + "".join(f"{k}: {v}\r\n" for k, v in keep) + "Connection: close\r\n\r\n"
    writer.write(head.encode("latin-1"))


async def respond(writer: asyncio.StreamWriter, status: int, body: bytes, headers: tuple[tuple[str, str], ...] = ()) -> None:
    words = {200: "OK", 404: "Not Found", 429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}
    all_headers = [("Content-Type", "text/plain"), *headers, ("Cache-Control", "no-store")]
    await send_head(writer, f"HTTP/1.1 {status} {words.get(status, 'Injected')}", all_headers, len(body))
    writer.write(body)
    await writer.drain()


def inject(html: bytes, script_url: str) -> bytes:
    tag = f'<script async src="{script_url}"></script>'.encode()
    at = html.lower().find(b"</head>")
    return html[:at] + tag + html[at:] if at >= 0 else html


def abort(writer: asyncio.StreamWriter) -> None:
    """Reset the connection: the browser sees a network error, not an HTTP answer."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while chunk := await reader.read(65536):
        writer.write(chunk)
        await writer.drain()


async def pipe_both(a_reader: asyncio.StreamReader, a_writer: asyncio.StreamWriter,
                    b_reader: asyncio.StreamReader, b_writer: asyncio.StreamWriter) -> None:
    async def one_way(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            await pipe(r, w)
        with contextlib.suppress(Exception):
            w.close()

    await asyncio.gather(one_way(a_reader, b_writer), one_way(b_reader, a_writer))
