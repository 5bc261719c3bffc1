"""A private Redis for the fleet tests: Debian's redis-server on a loopback port of its
own, its files in a temporary folder, no persistence (a restart starts empty, like a
broker whose disk was lost: the tests that restart it say what survives).

``redis_server`` (session scope) yields a ``RedisServer``; ``redis_url`` a URL on a
database number of the test's own (0-15), flushed first.
"""

from __future__ import annotations

import itertools
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from processes import find_binary, served, stop_process

from patrol.core.net import free_port

_databases = itertools.count()


class RedisServer:
    def __init__(self, binary: str):
        self.binary = binary
        self.root = Path(tempfile.mkdtemp(prefix="patrol-redis-"))
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.root), "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--logfile", str(self.root / "redis.log"), "--protected-mode", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}: {(self.root / 'redis.log').read_text()}")

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def new_database(self) -> str:
        import redis

        db = next(_databases) % 16
        client = redis.Redis(host="127.0.0.1", port=self.port, db=db)
        client.flushdb()
        client.close()
        return self.url(db)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    binary = find_binary("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed: `make test` installs Debian's redis-server")
    with served(RedisServer(binary).start()) as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """A Redis database of the test's own, empty."""
    return redis_server.new_database()
