"""A private Alertmanager for the tests: Debian's ``prometheus-alertmanager`` on a
loopback port of its own, its configuration and storage in a temporary folder,
clustering off. Alerts are grouped by ``alertname``, ``kind`` and ``reason`` and go
to a receiver that sends nothing (the tests read Alertmanager's API).

``alertmanager`` (module scope) yields an ``Alertmanager``; it skips the test, saying
why, only when the binary is missing (``make test`` installs it).
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from processes import find_binary, served, stop_process

from patrol.core.net import free_port

BINARY_NAMES = ("prometheus-alertmanager", "alertmanager")
GROUP_BY = ("alertname", "kind", "reason")
CONFIG = f"""\
route:
  receiver: nobody
  group_by: [{", ".join(GROUP_BY)}]
  group_wait: 1h
receivers:
  - name: nobody
"""


class Alertmanager:
    def __init__(self, binary: str):
        self.binary = binary
        self.root = Path(tempfile.mkdtemp(prefix="patrol-alertmanager-"))
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.root / "alertmanager.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Alertmanager:
        (self.root / "alertmanager.yml").write_text(CONFIG, encoding="utf-8")
        (self.root / "data").mkdir()
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [self.binary, f"--config.file={self.root / 'alertmanager.yml'}", f"--storage.path={self.root / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address=", "--log.level=warn"],
                stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"Alertmanager did not start on port {self.port}: {self.log.read_text(errors='replace')}")

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None

    # -- its API -----------------------------------------------------------------------------
    def alerts(self, **filters: str) -> list[dict[str, Any]]:
        """Active alerts (resolved ones are not listed), with their silenced/inhibited state."""
        r = httpx.get(f"{self.url}/api/v2/alerts", params=filters, timeout=5)
        r.raise_for_status()
        alerts: list[dict[str, Any]] = r.json()
        return alerts

    def groups(self) -> list[dict[str, Any]]:
        r = httpx.get(f"{self.url}/api/v2/alerts/groups", timeout=5)
        r.raise_for_status()
        groups: list[dict[str, Any]] = r.json()
        return groups

    def silence(self, label: str, value: str, minutes: int = 30) -> str:
        now = datetime.now(UTC)
        body = {"matchers": [{"name": label, "value": value, "isRegex": False, "isEqual": True}],
                "startsAt": now.isoformat(), "endsAt": (now + timedelta(minutes=minutes)).isoformat(),
                "createdBy": "patrol tests", "comment": f"{label}={value}"}
        r = httpx.post(f"{self.url}/api/v2/silences", json=body, timeout=5)
        r.raise_for_status()
        silence_id: str = r.json()["silenceID"]
        return silence_id

    def wait_for(self, condition: Any, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The active alerts once ``condition(alerts)`` holds (Alertmanager takes a posted alert in at once,
        but a loaded machine may be slow to answer)."""
        deadline = time.monotonic() + timeout
        alerts = self.alerts()
        while not condition(alerts) and time.monotonic() < deadline:
            time.sleep(0.1)
            alerts = self.alerts()
        return alerts


@pytest.fixture(scope="module")
def alertmanager() -> Iterator[Alertmanager]:
    binary = find_binary(*BINARY_NAMES)
    if binary is None:
        pytest.skip("Alertmanager is not installed (Debian's prometheus-alertmanager; `make test` installs it)")
    with served(Alertmanager(binary).start()) as server:
        yield server
