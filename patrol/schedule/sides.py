"""The service's side parts: the instance lock (one scheduler per state database,
taken by the scheduler), and what ``patrol schedule`` (cli/) starts beside the
scheduler: the notification dispatcher thread, the Prometheus endpoint (also
``patrol worker``'s) and the console. The scheduler imports neither the console nor the
fleet."""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server
from sqlalchemy.engine import make_url

from ..errors import InputError

if TYPE_CHECKING:
    import uvicorn
    from starlette.types import ASGIApp

    from ..incidents.service import IncidentService
    from ..metrics import Metrics

DISPATCH_IDLE_S = 2.0
DISPATCH_JOIN_S = 15.0


class InstanceLock:
    """One scheduler per state database: two would fire every job twice."""

    def __init__(self, state_url: str, root: Path) -> None:
        self.path = self._where(state_url, root)
        self._fd: int | None = None

    @staticmethod
    def _where(state_url: str, root: Path) -> Path:
        url = make_url(state_url)
        db = url.database
        if url.get_backend_name() == "sqlite" and db and db != ":memory:" and not db.startswith("file:"):
            return Path(db + ".scheduler.lock")
        return root / ".patrol" / "scheduler.lock"

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            try:
                other = os.read(fd, 32).decode().strip() or "?"
            except OSError:
                other = "?"
            os.close(fd)
            raise InputError(f"another `patrol schedule` (pid {other}) is already running against this state database "
                             f"({self.path}); two would fire every job twice") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)  # releases the lock
            except OSError:
                pass
            self._fd = None


class DispatcherThread:
    """Sends notifications continuously while the service runs."""

    def __init__(self, on_error: Callable[[str], None]) -> None:
        self.on_error = on_error
        self._stop: threading.Event | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self, incidents: IncidentService | None) -> None:
        if incidents is None:
            return
        stop = threading.Event()
        # On the incident service's clock, like every other dispatcher (tests inject one there).
        dispatcher = incidents.dispatcher()

        def loop() -> None:
            try:
                dispatcher.run_forever(stop, idle=DISPATCH_IDLE_S)
            except Exception as e:
                self.on_error(f"the notification dispatcher stopped: {type(e).__name__}: {e}")

        self._stop = stop
        self._thread = threading.Thread(target=loop, name="patrol-dispatcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._stop is not None:
            self._stop.set()
        if self._thread is not None:
            self._thread.join(DISPATCH_JOIN_S)
        self._stop = self._thread = None

    def restart(self, incidents: IncidentService | None) -> None:
        """With new receivers or settings (a reload)."""
        if self.running:
            self.stop()
            self.start(incidents)


class MetricsServer:
    """``--metrics-port``: the Prometheus endpoint."""

    def __init__(self, port: int | None, addr: str) -> None:
        self.port, self.addr = port, addr
        self.url: str | None = None
        self._server: WSGIServer | None = None

    def start(self, metrics: Metrics) -> None:
        if self.port is None:
            return
        try:
            server, _thread = start_http_server(self.port, addr=self.addr, registry=metrics.registry)
        except OSError as e:
            raise InputError(f"--metrics-port {self.port}: cannot listen on {self.addr}:{self.port}: {e}") from None
        self._server = server
        host = self.addr if self.addr not in ("", "0.0.0.0", "::") else "127.0.0.1"
        self.url = f"http://{host}:{server.server_port}/metrics"

    def stop(self) -> None:
        if self._server is not None:
            try:
                self._server.shutdown()
                self._server.server_close()
            except Exception:
                pass
            self._server = None


class ConsoleServer:
    """``--console-port``: the console (``patrol serve``) inside the scheduler, over its
    database connection and incident service, with pause/resume/run now on its jobs."""

    def __init__(self, port: int | None, host: str = "127.0.0.1") -> None:
        self.port, self.host = port, host
        self.url: str | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self, make_app: Callable[[], ASGIApp]) -> None:
        """``make_app`` builds the console over the running service."""
        if self.port is None:
            return
        import socket

        import uvicorn

        app = make_app()
        sock = socket.socket()
        try:
            sock.bind((self.host, self.port))
        except OSError as e:
            sock.close()
            raise InputError(f"--console-port {self.port}: cannot listen on {self.host}:{self.port}: {e}") from None
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", proxy_headers=True))
        self._server = server
        self._thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="patrol-console", daemon=True)
        self._thread.start()
        for _ in range(200):  # a few seconds at most: it binds nothing new, the socket is ours already
            if server.started:
                break
            threading.Event().wait(0.025)
        self.url = f"http://{self.host}:{sock.getsockname()[1]}/"

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(10)
        self._server = self._thread = None
