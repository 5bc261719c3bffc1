"""A Playwright browser server for the fleet's workers (patrol.yaml ``browser.connect``),
with this machine's Chromium and Patrol's Chromium switches::

    PATROL_BROWSER_TOKEN=... python -m patrol.browser_server [--host 0.0.0.0] [--port 3000] [--chromium PATH] [--arg=--lang=zh-CN]

With ``PATROL_BROWSER_TOKEN`` set, a client must give it (``?token=`` in its URL) or
is answered 401; without it, a server on an address other machines reach says so at
start, since anyone who reaches the port could then drive a browser on this machine.

It runs the ``run-server`` of the Playwright driver Patrol's client uses (so the
versions match) on a private loopback port, and in front of it, on ``--host:--port``, a
small proxy that sets each connection's launch options: this machine's Chromium
(``--chromium``, PATROL_CHROMIUM, or the usual places), ``drivers.chromium.ARGS`` plus
every ``--arg``, and of what the client asked only ``headless`` and the launch timeout.
``run-server`` alone cannot: it takes an executable and arguments only from a client,
and only when started ``--unsafe``, which would let anyone who reaches the port run a
program of their choosing (a Chromium switch can name one too). The ``--unsafe`` server
here listens on loopback only, and what reaches it through the proxy is rewritten.

Each connection (one worker's engine) gets a Chromium of its own, closed when it
disconnects, so a worker that reconnects gets a fresh browser. SIGTERM, SIGINT and
SIGHUP stop the server and every Chromium; the server also dies with this process
when it is SIGKILLed (``PR_SET_PDEATHSIG``), and its Chromiums with it.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import ipaddress
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib.metadata import version as package_version
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .appium_server import STOP_SIGNALS, descendants, die_with_parent, stop_tree
from .core.net import free_port
from .errors import EXIT_INPUT, EXIT_OK, EXIT_ROBOT, RobotError

DEFAULT_PORT = 3000
HEAD_TIMEOUT_S = 10.0  # a client that sends no request head within this is dropped
ANSWER_TIMEOUT_S = 30.0  # the backend answers the handshake (101, or 428 for a mismatch) within this
START_TIMEOUT_S = 30.0
# run-server closes its Chromiums and exits on SIGINT; on SIGTERM or SIGHUP it closes
# them and goes on serving (Playwright's own handlers), so SIGINT is its stop signal.
BACKEND_STOP = signal.SIGINT
BACKEND_GRACE_S = 10.0
_CLIENT_HEADERS = {"x-playwright-launch-options", "x-playwright-browser"}  # set here, never by a client
_CLIENT_PARAMS = {"launch-options", "browser", "token"}  # the same, as query parameters (they win over headers)
# A server others can reach should want a token: ``?token=`` in every client's URL
# (``browser.connect: ws://host:3000/?token=${secret:BROWSER_TOKEN}``). From the
# environment, not a switch: a command line is visible to every user of the machine.
TOKEN_ENV = "PATROL_BROWSER_TOKEN"


@dataclass(frozen=True)
class ServerBrowser:
    """The Chromium every connection gets."""

    executable: str
    args: tuple[str, ...]

    def launch_options(self, asked: str) -> str:
        """As JSON: this machine's Chromium and switches; of the client's options (JSON,
        maybe empty or bad) only ``headless`` and ``timeout``."""
        try:
            client = json.loads(asked) if asked else {}
        except ValueError:
            client = {}
        client = client if isinstance(client, dict) else {}
        options: dict[str, object] = {"executablePath": self.executable, "args": list(self.args)}
        if isinstance(client.get("headless"), bool):
            options["headless"] = client["headless"]
        timeout = client.get("timeout")
        if isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout > 0:
            options["timeout"] = timeout
        return json.dumps(options)


def rewrite_head(head: bytes, browser: ServerBrowser) -> bytes | None:
    """A client's WebSocket upgrade request as the backend gets it (launch options and
    browser name replaced); None when the head is not one."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    headers = [line for line in lines[1:] if line]
    if len(parts) != 3 or any(line[:1] in (" ", "\t") or ":" not in line for line in headers):
        return None  # folded or broken header lines: nothing to guess about
    method, target, http = parts
    named = {line.split(":", 1)[0].strip().lower(): line.split(":", 1)[1].strip() for line in headers}
    if method != "GET" or named.get("upgrade", "").lower() != "websocket":
        return None
    url = urlsplit(target)
    params = parse_qsl(url.query, keep_blank_values=True)
    asked = next((v for k, v in params if k == "launch-options"), "") or named.get("x-playwright-launch-options", "")
    query = urlencode([(k, v) for k, v in params if k not in _CLIENT_PARAMS])
    kept = [line for line in headers if line.split(":", 1)[0].strip().lower() not in _CLIENT_HEADERS]
    kept += ["x-playwright-browser: chromium", f"x-playwright-launch-options: {browser.launch_options(asked)}"]
    request = f"{method} {urlunsplit(('', '', url.path or '/', query, ''))} {http}"
    return ("\r\n".join([request, *kept]) + "\r\n\r\n").encode("latin-1")


def authorized(head: bytes, token: str | None) -> bool:
    """Whether the request carries the server's token (``?token=``); any request does
    when the server has none."""
    if not token:
        return True
    parts = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
    if len(parts) != 3:
        return False
    given = next((v for k, v in parse_qsl(urlsplit(parts[1]).query, keep_blank_values=True) if k == "token"), "")
    return hmac.compare_digest(given.encode(), token.encode())


UNAUTHORIZED = (b"HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n"
                b"this browser server wants its token: ws://host:port/?token=...")


def plain_answer(head: bytes) -> bytes:
    """What a plain HTTP request gets (a health check): the answers of ``run-server``."""
    target = head.split(b" ", 2)[1] if head.count(b" ") >= 2 else b"/"
    body = json.dumps({"wsEndpointPath": "/"}).encode() if target == b"/json" else b"Running"
    kind = b"application/json" if target == b"/json" else b"text/plain"
    return (b"HTTP/1.1 200 OK\r\nContent-Type: " + kind + b"\r\nContent-Length: " + str(len(body)).encode()
            + b"\r\nConnection: close\r\n\r\n" + body)


@dataclass
class Proxy:
    """The public side: every connection's request head checked and rewritten, then
    bytes relayed both ways. A plain HTTP request is answered here, never forwarded
    (a second request on a kept-alive connection would pass unread)."""

    browser: ServerBrowser
    backend_port: int
    token: str | None = None
    writers: set[asyncio.StreamWriter] = field(default_factory=set)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self.tasks.add(task)  # the server's task for this connection
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT_S)
            forwarded = rewrite_head(head, self.browser)
            if forwarded is not None and not authorized(head, self.token):
                writer.write(UNAUTHORIZED)
                await writer.drain()
            elif forwarded is None:
                writer.write(plain_answer(head))
                await writer.drain()
            else:
                await self._forward(forwarded, reader, writer)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, OSError):
            pass  # a client that went away or never spoke
        finally:
            self.writers.discard(writer)
            if task is not None:
                self.tasks.discard(task)
            writer.close()

    async def _forward(self, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            b_reader, b_writer = await asyncio.open_connection("127.0.0.1", self.backend_port)
        except OSError:
            writer.write(b"HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\n\r\nthe Playwright server is not running")
            await writer.drain()
            return
        try:
            b_writer.write(head)
            await b_writer.drain()
            answer = await asyncio.wait_for(b_reader.readuntil(b"\r\n\r\n"), ANSWER_TIMEOUT_S)
            writer.write(answer)
            if answer.startswith(b"HTTP/1.1 101 "):
                await asyncio.gather(_copy(reader, b_writer), _copy(b_reader, writer))
            else:  # refused (428 version mismatch, 400 wrong path): its body, then nothing more
                writer.write(await asyncio.wait_for(b_reader.read(), ANSWER_TIMEOUT_S))
                await writer.drain()
        finally:
            b_writer.close()

    async def close_all(self) -> None:
        """Every connection closed, its task ended (not left for ``asyncio.run`` to cancel)."""
        for writer in list(self.writers):
            writer.close()
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=5)


async def _copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    try:
        while data := await src.read(65536):
            dst.write(data)
            await dst.drain()
    except OSError:
        pass
    finally:
        dst.close()  # the other direction then reads the end of its stream too


def start_backend(max_clients: int | None) -> tuple[subprocess.Popen[bytes], int]:
    """The driver's ``run-server --unsafe`` on a free loopback port, in its own session
    (a Ctrl-C reaches this process, which stops the tree in order) and dying with this
    process. Its own output ("Listening on" the private port) would mislead: dropped;
    its errors go to stderr."""
    from playwright._impl._driver import compute_driver_executable

    node, cli = compute_driver_executable()
    port = free_port("127.0.0.1")
    cmd = [node, cli, "run-server", "--host", "127.0.0.1", "--port", str(port), "--path", "/", "--unsafe"]
    if max_clients:
        cmd += ["--max-clients", str(max_clients)]
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True,
                                preexec_fn=die_with_parent(BACKEND_STOP))
    except OSError as e:
        raise RobotError(f"cannot start Playwright's driver ({node}): {e}") from None
    return proc, port


def stop_backend(proc: subprocess.Popen[bytes]) -> None:
    """run-server and every Chromium it runs: asked (SIGINT: it closes them, then exits),
    then whatever is left of the tree read beforehand (Playwright starts each Chromium
    in a process group of its own) is killed."""
    tree = descendants(proc.pid)
    try:
        proc.send_signal(BACKEND_STOP)
        proc.wait(BACKEND_GRACE_S)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    stop_tree(proc, grace_s=5.0)  # run-server itself, if it did not exit
    for pid in tree:
        if _running(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except OSError:
        return False


async def wait_listening(proc: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RobotError(f"Playwright's run-server exited at start (code {proc.returncode})")
        try:
            _r, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise RobotError(f"Playwright's run-server did not listen within {START_TIMEOUT_S:.0f}s")


async def serve(host: str, port: int, browser: ServerBrowser, max_clients: int | None = None,
                token: str | None = None) -> int:
    """In the foreground until SIGTERM, SIGINT or SIGHUP (0), or until the backend exits
    by itself (EXIT_ROBOT); either way nothing it started is left running."""
    stop = asyncio.Event()
    got: list[int] = []
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        got.append(signum)
        stop.set()

    for sig in STOP_SIGNALS:  # before anything starts: a signal at start stops it all too
        loop.add_signal_handler(sig, on_signal, sig)
    proc, backend_port = start_backend(max_clients)  # in this (main) thread: PR_SET_PDEATHSIG follows it
    proxy = Proxy(browser, backend_port, token)
    try:
        await wait_listening(proc, backend_port)
        try:
            server = await asyncio.start_server(proxy.handle, host, port)
        except OSError as e:
            raise RobotError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
        bound = server.sockets[0].getsockname()[1]
        print(f"Playwright {package_version('playwright')} browser server at ws://{host}:{bound}/ with "
              f"{browser.executable}; each connection gets its own Chromium; Ctrl-C stops it", flush=True)
        if token:
            print(f"clients need the token ({TOKEN_ENV}): ws://{host}:{bound}/?token=...", flush=True)
        elif not _loopback(host):
            print(f"warning: no token ({TOKEN_ENV}), so anyone who reaches {host}:{bound} can drive a browser "
                  "on this machine", file=sys.stderr, flush=True)
        while not stop.is_set() and proc.poll() is None:
            try:
                await asyncio.wait_for(stop.wait(), 0.5)
            except TimeoutError:
                pass
        server.close()
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
        stop_backend(proc)
        await proxy.close_all()
    if not got:
        print(f"Playwright's run-server exited by itself (code {proc.returncode})", file=sys.stderr, flush=True)
        return EXIT_ROBOT
    print(f"browser server stopped ({signal.Signals(got[0]).name})", flush=True)
    return EXIT_OK


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m patrol.browser_server", description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT})")
    p.add_argument("--chromium", metavar="PATH", help="Chromium to run (default: PATROL_CHROMIUM, then the usual places)")
    p.add_argument("--arg", action="append", default=[], metavar="ARG",
                   help="one more Chromium switch, written --arg=--lang=zh-CN (repeatable)")
    p.add_argument("--max-clients", type=int, metavar="N", help="connections served at once; more wait (default: no limit)")
    return p


def _bad_input(args: argparse.Namespace) -> str | None:
    if not 0 <= args.port <= 65535:
        return f"--port {args.port}: expected 0 to 65535"
    if args.max_clients is not None and args.max_clients < 1:
        return f"--max-clients {args.max_clients}: expected 1 or more"
    if args.chromium and not (os.path.isfile(args.chromium) and os.access(args.chromium, os.X_OK)):
        return f"--chromium {args.chromium}: no executable file there"
    return None


def main(argv: list[str] | None = None) -> int:
    from .drivers.chromium import ARGS, find_chromium

    args = parser().parse_args(argv)
    problem = _bad_input(args)
    if problem:
        print(f"browser server: {problem}", file=sys.stderr)
        return EXIT_INPUT
    try:
        browser = ServerBrowser(find_chromium(args.chromium), tuple(ARGS + args.arg))
        return asyncio.run(serve(args.host, args.port, browser, args.max_clients, os.environ.get(TOKEN_ENV) or None))
    except RobotError as e:
        print(f"browser server: {e}", file=sys.stderr, flush=True)
        return EXIT_ROBOT


if __name__ == "__main__":
    sys.exit(main())
