"""Helpers for the scheduler, concurrency, history and metrics tests: small fast
journeys written into a test's folder, `patrol schedule` as a real process, and
reading the state database back."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from conftest import ROOT

from patrol.core.net import free_port

# Generous budgets: these tests are about scheduling, not about a loaded CI box being slow.
TINY = """\
name: {name}
base_url: {base_url}
tags: [{tags}]
detectors: {{forbidden_text: false, broken_image: false}}
budgets: {{step: {timeout}, timeout: {timeout}, journey: {journey}}}
steps:
{steps}
"""
LOGIN_STEPS = """\
  - name: open login
    goto: /login
    expect: {visible: "#login-form"}
  - name: user
    fill: {selector: "#username", text: demo}
  - name: password
    fill: {selector: "#password", text: "${secret:DEMO_PASSWORD}"}
  - name: sign in
    click: "#login-submit"
    expect: {url: /home, visible: "#total-assets"}
"""
OPEN_STEPS = """\
  - name: open login
    goto: /login
    expect: {visible: "#login-form"}
"""


def write_journey(folder: Path, name: str, *, base_url: str = "http://127.0.0.1:9", tags: tuple = (),
                  steps: str = LOGIN_STEPS, timeout: str = "15s", journey: str = "60s", extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(TINY.format(name=name, base_url=base_url, tags=", ".join(tags), steps=steps, timeout=timeout,
                                journey=journey) + extra, encoding="utf-8")
    return path


def rows(db: Path, sql: str, *args) -> list[tuple]:
    con = sqlite3.connect(str(db))
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


class Service:
    """`patrol schedule` in its own process (signals are real), output in a file."""

    def __init__(self, folder: Path, *args: str):
        self.log = folder / "schedule.log"
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
        self.out = open(self.log, "w", encoding="utf-8")
        self.proc = subprocess.Popen([sys.executable, "-m", "patrol", "schedule", *args], cwd=folder, env=env,
                                     stdout=self.out, stderr=subprocess.STDOUT, text=True,
                                     start_new_session=True)

    @property
    def text(self) -> str:
        return self.log.read_text(encoding="utf-8")

    def wait_for(self, pattern: str, count: int = 1, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.text
            if len(re.findall(pattern, text)) >= count:
                return text
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"{pattern!r} x{count} not seen within {timeout}s:\n{self.text}")

    def stop(self, sig, timeout: float = 90.0) -> int:
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        finally:
            self.out.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.out.close()


def service_with_console(folder: Path) -> tuple[Service, str]:
    """`patrol schedule --no-watch` in ``folder`` with its console on a free port, once the
    console is up: the service (the caller stops it) and the console's URL."""
    port = free_port()
    svc = Service(folder, "--console-port", str(port), "--no-watch")
    url = f"http://127.0.0.1:{port}"
    try:
        svc.wait_for(re.escape(f"console at {url}/"), timeout=60)
    except BaseException:
        svc.kill()
        raise
    return svc, url


def run_until(folder: Path, pattern: str, *args: str, count: int = 1, timeout: float = 60.0) -> str:
    """`patrol schedule *args` in ``folder`` until ``pattern`` is logged ``count`` times, then
    stopped with SIGTERM; it must exit 0. Its output."""
    svc = Service(folder, *args)
    try:
        svc.wait_for(pattern, count, timeout)
        code = svc.stop(signal.SIGTERM)
    finally:
        svc.kill()
    out = svc.text
    assert code == 0, out
    return out


def config(folder: Path, text: str) -> Path:
    path = folder / "patrol.yaml"
    path.write_text(text, encoding="utf-8")
    return path


__all__ = ["ROOT", "LOGIN_STEPS", "OPEN_STEPS", "Service", "config", "rows", "run_until", "service_with_console", "write_journey"]
