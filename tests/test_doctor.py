"""`patrol doctor` on this machine, for real: what is here is ok, what is not is
missing with its fix, and the exit code says whether Patrol can work."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from patrol.appium_server import free_port


def doctor(tmp_path: Path, config: str, **env: str) -> tuple[int, dict[str, str], str]:
    """Exit code, {item: its line(s)}, and the whole output."""
    cfg = tmp_path / "patrol.yaml"
    cfg.write_text(config, encoding="utf-8")
    clean = {k: v for k, v in os.environ.items() if k not in ("PATROL_CHROMIUM", "PATROL_APPIUM_URL", "PATROL_CONFIG")}
    r = subprocess.run([sys.executable, "-m", "patrol", "--config", str(cfg), "doctor"], capture_output=True, text=True,
                       env={**clean, "COLUMNS": "300", **env}, cwd=tmp_path, timeout=120)
    out = r.stdout + r.stderr
    assert "Traceback" not in out, out
    items: dict[str, str] = {}
    name = ""
    for line in r.stdout.splitlines():
        if line.startswith(("ok ", "missing ", "optional ")):
            status, rest = line.split(None, 1)
            name = rest.split("  ")[0].strip()
            items[name] = f"{status} {rest}"
        elif line.strip().startswith("fix:") and name:
            items[name] += "\n" + line.strip()
    return r.returncode, items, out


@pytest.fixture
def appium_status() -> Iterator[str]:
    """A real HTTP server that answers /status the way Appium does."""

    class Status(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"value": {"ready": True, "build": {"version": "3.8.0"}}}).encode()
            self.send_response(200 if self.path == "/status" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Status)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_what_is_installed_and_reachable_is_ok(tmp_path, appium_status):
    from patrol.store import open_store

    open_store(f"sqlite:///{tmp_path / 'state.db'}")  # a database at the newest migration
    code, items, out = doctor(tmp_path, "state: {url: sqlite:///state.db}\n"
                                        "receivers:\n  am: {format: alertmanager_api, url: 'http://localhost:9093'}\n",
                              PATROL_APPIUM_URL=appium_status)
    assert code == 0, out
    assert items["chromium"].startswith("ok") and "Chromium" in items["chromium"], out
    assert items["tesseract"].startswith("ok")
    assert items["ocr language chi_sim"].startswith("ok") and items["ocr language eng"].startswith("ok")
    assert items["cjk fonts"].startswith("ok") and "CJK" in items["cjk fonts"]
    appium = items["appium server"]
    assert appium.startswith("ok") and "Appium 3.8.0" in appium and "PATROL_APPIUM_URL" in appium
    assert items["state database"].startswith("ok") and "migrations current" in items["state database"]
    assert items["receiver am"].startswith("ok") and "localhost resolves" in items["receiver am"]
    assert "everything Patrol needs is here" in out


def test_no_appium_configured_is_not_a_missing_piece(tmp_path):
    code, items, out = doctor(tmp_path, "state: false\n")
    assert code == 0, out
    assert items["appium server"].startswith("ok") and "not configured" in items["appium server"]
    assert "PATROL_APPIUM_URL" in items["appium server"]
    assert items["state database"].startswith("ok") and "off" in items["state database"]


def test_every_missing_piece_is_reported_with_its_fix_and_exit_1(tmp_path):
    dead_port = free_port()  # nothing listens there
    code, items, out = doctor(tmp_path, "ocr: {lang: chi_sim+eng+kor}\n"
                                        "state: {url: sqlite:///state.db}\n"
                                        "receivers:\n  hook: {format: alertmanager_webhook, url: 'http://no-such-host.invalid/alerts'}\n",
                              PATROL_CHROMIUM=str(tmp_path / "nonexistent"), PATROL_APPIUM_URL=f"http://127.0.0.1:{dead_port}")
    assert code == 1, out
    assert items["chromium"].startswith("missing") and "no Chromium at" in items["chromium"]
    assert "fix: install Debian's Chromium (apt-get install chromium chromium-driver)" in items["chromium"]
    assert items["ocr language kor"].startswith("missing") and "fix: apt-get install tesseract-ocr-kor" in items["ocr language kor"]
    assert items["ocr language chi_sim"].startswith("ok")
    assert items["appium server"].startswith("missing") and "not reachable" in items["appium server"]
    assert "fix: start it (python -m patrol.appium_server serve" in items["appium server"]
    assert items["receiver hook"].startswith("missing") and "does not resolve" in items["receiver hook"]
    assert "fix: correct the receiver's url" in items["receiver hook"]
    assert items["state database"].startswith("ok") and "created on the first run" in items["state database"]
    assert not (tmp_path / "state.db").exists(), "the doctor only looks"
    assert "4 required piece(s) missing" in out


def test_a_database_from_a_newer_patrol_is_missing_with_its_fix(tmp_path):
    import sqlite3

    with sqlite3.connect(tmp_path / "state.db") as db:
        db.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        db.execute("INSERT INTO alembic_version VALUES ('ffffffffffff')")
    code, items, out = doctor(tmp_path, "state: {url: sqlite:///state.db}\n")
    assert code == 1, out
    assert items["state database"].startswith("missing") and "ffffffffffff" in items["state database"]
    assert "fix: upgrade Patrol" in items["state database"]


def test_with_a_browser_server_the_doctor_asks_it_instead_of_this_machines_chromium(tmp_path):
    import socket

    port = free_port()
    code, items, out = doctor(tmp_path, f"browser: {{connect: 'ws://127.0.0.1:{port}/'}}\n",
                              PATROL_CHROMIUM="/nonexistent/chromium")  # no local Chromium is needed
    assert "chromium" not in items
    assert items["browser server"].startswith("missing") and "cannot connect" in items["browser server"]
    assert "python -m patrol.browser_server" in items["browser server"] and code == 1
    with socket.create_server(("127.0.0.1", 0)) as listening:
        port = listening.getsockname()[1]
        code, items, out = doctor(tmp_path, f"browser: {{connect: 'ws://127.0.0.1:{port}/'}}\n",
                                  PATROL_CHROMIUM="/nonexistent/chromium")
    assert items["browser server"].startswith("ok") and f"ws://127.0.0.1:{port}/ answers" in items["browser server"]
