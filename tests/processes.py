"""What the private servers of the tests (Alertmanager, Redis) share: finding a Debian
binary, stopping a server process politely, then firmly, and a fixture's hold on a
server (stopped, its temporary folder removed, whatever the tests did)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol, TypeVar


def find_binary(*names: str) -> str | None:
    """The first of ``names`` on PATH or in /usr/bin (Debian puts some servers there only)."""
    for name in names:
        found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
        if found:
            return found
    return None


def stop_process(proc: subprocess.Popen[bytes] | None, grace: float = 10.0) -> None:
    """Terminate ``proc`` and wait for it; kill it if it is still running after ``grace`` seconds."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class TemporaryServer(Protocol):
    root: Path

    def stop(self) -> None: ...


ServerT = TypeVar("ServerT", bound=TemporaryServer)


@contextmanager
def served(server: ServerT) -> Iterator[ServerT]:
    """``server`` (started) for the block; then stopped and its temporary folder removed."""
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)
