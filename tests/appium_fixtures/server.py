"""One real Appium 3 server per test session (127.0.0.1, a free port), started from
the project's APPIUM_HOME (`make appium`), stopped at the end; plus helpers."""

from __future__ import annotations

import json
import os
import shutil
import textwrap
from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
APP_XML = HERE / "bank.xml"
APP_JOURNEYS = ROOT / "journeys" / "app"

_server = None


def _stop() -> None:
    global _server
    if _server is not None:
        _server.stop()
        _server = None


@pytest.fixture(scope="session")
def appium_server(request, tmp_path_factory):
    """The session's Appium server (shared by every test module that asks)."""
    global _server
    from patrol.appium_server import AppiumServer, appium_home, installed

    if _server is None:
        if not installed():
            message = f"Appium is not installed in {appium_home()}: run `make appium`"
            if os.environ.get("CI"):
                pytest.fail(message)
            pytest.skip(message)
        log = tmp_path_factory.mktemp("appium") / "appium.log"
        # session_discovery: tests list the server's sessions (to kill one mid-run).
        _server = AppiumServer(log_file=log, allow_insecure=("session_discovery",)).start()
    request.addfinalizer(_stop)
    return _server


@pytest.fixture
def appium_env(appium_server, monkeypatch):
    """PATROL_APPIUM_URL pointing at the test server."""
    monkeypatch.setenv("PATROL_APPIUM_URL", appium_server.url)
    return appium_server


@pytest.fixture
def app_config(appium_env, tmp_path):
    """The project's patrol.yaml for a test (see ``project_config``), with
    PATROL_APPIUM_URL at the test server."""
    return project_config(tmp_path)


def project_config(tmp_path: Path, **changes) -> Path:
    """The project's patrol.yaml with the committed baselines copied (no test can change
    them), incidents off (no confirmation reruns), and ``changes`` on top."""
    data = yaml.safe_load((ROOT / "patrol.yaml").read_text(encoding="utf-8")) or {}
    baselines = tmp_path / "baselines"
    if not baselines.exists():
        shutil.copytree(ROOT / "baselines", baselines)
    data.setdefault("visual", {})["baselines"] = str(baselines)
    data["state"] = False
    for key, value in changes.items():
        data[key] = value
    cfg = tmp_path / "patrol-test.yaml"
    cfg.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return cfg


def fake_journey(tmp_path: Path, name: str, steps: str, *, extra: str = "", timeout: str = "3s") -> Path:
    """A native-app journey on Appium's fake driver and the XML bank app."""
    text = textwrap.dedent(f"""\
        name: {name}
        target: app
        device: {{width: 390, height: 844, scale: 1, mobile: true}}
        capabilities:
          platformName: Fake
          automationName: Fake
          deviceName: Fake Phone
          app: {APP_XML}
        budgets: {{step: {timeout}, timeout: {timeout}}}
        detectors: {{forbidden_text: false, blank_screen: false}}
        """) + textwrap.dedent(extra) + "steps:\n" + textwrap.indent(textwrap.dedent(steps), "  ")
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def server_requests(server, since: int = 0) -> list[tuple[str, str, dict | None]]:
    """(method, path, body) of every HTTP request the server logged after byte ``since``."""
    out = []
    for line in server.log_text()[since:].splitlines():
        marker = "[HTTP] --> "
        if marker not in line:
            continue
        rest = line.split(marker, 1)[1].strip()
        method, _, rest = rest.partition(" ")
        path, _, body = rest.partition(" ")
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = body
        out.append((method, path, parsed))
    return out
