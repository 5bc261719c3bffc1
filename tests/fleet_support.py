"""The fleet's tests' shared parts (tests/test_fleet.py, tests/test_fleet_metrics.py):
patrol processes of their own session with their output in a file, a fleet project's
patrol.yaml, and reading PostgreSQL back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text


class Proc:
    """A patrol process of its own session (kill -9 takes its Chromium with it), output in a file."""

    def __init__(self, folder: Path, name: str, *args: str):
        self.log = folder / f"{name}.log"
        self.out = open(self.log, "w", encoding="utf-8")
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "220"}
        self.proc = subprocess.Popen([sys.executable, "-m", "patrol", *args, "--config", str(folder / "patrol.yaml")],
                                     cwd=folder, env=env, stdout=self.out, stderr=subprocess.STDOUT, text=True,
                                     start_new_session=True)

    @property
    def text(self) -> str:
        return self.log.read_text(encoding="utf-8")

    def wait_for(self, words: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if words in self.text:
                return
            assert self.proc.poll() is None, f"exited {self.proc.returncode} before saying {words!r}:\n{self.text}"
            time.sleep(0.1)
        raise AssertionError(f"{words!r} not seen within {timeout}s:\n{self.text}")

    def kill9(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float = 60.0) -> int:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)  # a paused one could not hear SIGTERM
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.out.close()
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # whatever it left (a Chromium) goes too
        except ProcessLookupError:
            pass
        return self.proc.returncode


@pytest.fixture
def procs():
    started: list[Proc] = []
    yield started
    for p in started:
        p.stop(timeout=20)


def fleet_project(folder: Path, postgres_url: str, redis_url: str, schedule: str, visibility: str = "12s") -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / "patrol.yaml"
    path.write_text(
        f"state: {{url: '{postgres_url}'}}\n"
        f"fleet: {{broker: '{redis_url}', queues: [web], visibility_timeout: {visibility}, lease: 3s}}\n"
        "incidents: {confirm: 0}\n"
        f"schedules:\n  tick: {schedule}\n", encoding="utf-8")
    return path


def query(url: str, sql: str, **args) -> list:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql), args)]
    finally:
        engine.dispose()


def wait_until(what, timeout: float, every: float = 0.3, fail: bool = True):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = what()
        if got:
            return got
        time.sleep(every)
    if fail:
        raise AssertionError(f"not within {timeout}s")
    return None
