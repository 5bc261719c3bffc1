"""A private PostgreSQL server for the tests: Debian's binaries, a cluster in a
temporary folder, a loopback port of its own, run as an unprivileged user (PostgreSQL
refuses to run as root; the user is created once, like a package would).

``postgres_url`` (session scope) yields a SQLAlchemy URL of a fresh database; tests
that want one database each call ``PgServer.new_database``.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from patrol.core.net import free_port

USER = "patrol-pgtest"


def pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _ensure_user() -> None:
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER],
                       check=True, capture_output=True)


def _as_user(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", USER, "--", *cmd]
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)  # type: ignore[call-overload]


class PgServer:
    def __init__(self, bin_dir: Path):
        self.bin = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="patrol-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.password = "pg-" + secrets.token_hex(6)

    def start(self) -> PgServer:
        if os.geteuid() == 0:
            _ensure_user()
            shutil.chown(self.root, USER)
        pwfile = self.root / "pw"
        pwfile.write_text(self.password, encoding="utf-8")
        if os.geteuid() == 0:
            shutil.chown(pwfile, USER)
        _as_user([str(self.bin / "initdb"), "-D", str(self.data), "-U", "patrol", "--pwfile", str(pwfile),
                  "-A", "scram-sha-256", "-E", "UTF8", "--no-sync"])
        self.up()
        return self

    def up(self) -> None:
        """Start the (initialised) server; ``down`` then ``up`` is a restart with a gap."""
        self._ctl("start", "-w", "-t", "60", "-l", str(self.root / "log"),
                  "-o", f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
                        " -c synchronous_commit=off -c full_page_writes=off")

    def down(self) -> None:
        """Stop the server, keeping its data (fast: open connections are cut)."""
        self._ctl("stop", "-w", "-t", "30", "-m", "fast")

    def _ctl(self, *args: str) -> None:
        _as_user([str(self.bin / "pg_ctl"), "-D", str(self.data), *args])

    def restart(self) -> None:
        self._ctl("restart", "-w", "-t", "60", "-m", "fast")

    def stop(self) -> None:
        try:
            self._ctl("stop", "-w", "-t", "30", "-m", "fast")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://patrol:{self.password}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        import psycopg

        name = "t_" + secrets.token_hex(5)
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=patrol password={self.password} dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    bin_dir = pg_bin()
    if bin_dir is None:
        pytest.fail("PostgreSQL is not installed: `make test` installs Debian's postgresql")
    server = PgServer(bin_dir).start()
    deadline = time.monotonic() + 30
    while not (server.root / f".s.PGSQL.{server.port}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(pg_server: PgServer) -> str:
    """A fresh, empty database on the private server."""
    return pg_server.new_database()
