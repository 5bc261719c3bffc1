"""App journeys without a server: journey keys, patrol.yaml's appium section, the
capabilities Patrol sends, masking, Chrome's logs, the frozen-screen watch."""

from __future__ import annotations

import asyncio
import json
import os
import textwrap

import pytest
from conftest import ROOT


def parse(text: str, file: str = "j.yaml"):
    from patrol.journey import parse_text

    return parse_text(textwrap.dedent(text), file)


def problems(text: str, file: str = "j.yaml") -> list[str]:
    from patrol.errors import JourneyError

    with pytest.raises(JourneyError) as e:
        parse(text, file)
    return [str(p) for p in e.value.problems]


NATIVE = """\
    name: native
    target: app
    capabilities:
      platformName: Android
      automationName: UiAutomator2
      appPackage: com.example.bank
      appActivity: .MainActivity
      appium:udid: emulator-5554
      goog:chromeOptions: {args: [x]}
    steps:
      - tap: {accessibility_id: 登录}
      - fill: {selector: {id: com.example.bank:id/amount}, text: "100"}
      - tap: {uiautomator: 'new UiSelector().text("转账")'}
      - tap: {ios_predicate: "label == '转账'"}
      - tap: {xpath: "//*[@text='确认']"}
      - tap: {text: 转账}
      - swipe: {dy: 400}
      - press: Back
      - terminate: com.android.chrome
      - launch: true
      - activate: true
"""


def test_capabilities_get_appium_prefixes_and_app_actions_parse():
    j = parse(NATIVE)
    assert j.target == "app"
    assert j.options["capabilities"] == {
        "platformName": "Android",
        "appium:automationName": "UiAutomator2",
        "appium:appPackage": "com.example.bank",
        "appium:appActivity": ".MainActivity",
        "appium:udid": "emulator-5554",
        "goog:chromeOptions": {"args": ["x"]},
    }
    actions = [(s.action, s.params) for s in j.steps[-3:]]
    assert actions == [("terminate", "com.android.chrome"), ("launch", None), ("activate", None)]


def test_capability_mistakes_are_positioned():
    found = problems("""\
        name: bad
        target: app
        capabilities:
          automationName: UiAutomator2
          app: x.apk
          appium:app: y.apk
        steps:
          - tap: {id: a}
    """)
    assert any("j.yaml:4:" in p and "missing 'platformName'" in p for p in found), found
    assert any("j.yaml:6:" in p and "'appium:app' is the same capability as 'app'" in p for p in found), found
    found = problems("name: web\ncapabilities: {platformName: Android}\nsteps:\n  - goto: http://x/\n")
    assert any("capabilities are for app journeys" in p for p in found), found
    found = problems("name: web\nsteps:\n  - launch: true\n")
    assert any("'launch' needs app control, which web journeys don't have" in p for p in found), found


def test_css_needs_a_browser_session():
    found = problems("""\
        name: native-css
        target: app
        capabilities: {platformName: Android, appPackage: com.example.bank}
        redact: [{css: "#account"}]
        steps:
          - tap: {css: "#login"}
          - tap: "#plain-selector"
    """)
    assert any("j.yaml:4:" in p and "css locators need a browser session" in p for p in found), found
    assert any("j.yaml:6:" in p and "css locators need a browser session" in p for p in found), found
    assert any("j.yaml:7:" in p and "app journeys need a named locator" in p for p in found), found
    # A browser on the device (the chromium driver here): CSS is fine.
    j = parse("""\
        name: browser
        target: app
        capabilities: {platformName: linux, automationName: chromium, browserName: chrome}
        steps:
          - goto: http://127.0.0.1/
          - tap: {css: "#login"}
    """)
    assert j.steps[1].params.strategy == "css"


def test_relative_app_path_is_taken_from_the_journey_folder(tmp_path):
    from patrol.journey import load_journey

    (tmp_path / "apps").mkdir()
    (tmp_path / "apps" / "bank.apk").write_bytes(b"PK")
    path = tmp_path / "j.yaml"
    path.write_text("name: j\ntarget: app\ncapabilities: {platformName: Android, app: apps/bank.apk}\n"
                    "steps:\n  - tap: {id: a}\n", encoding="utf-8")
    assert load_journey(path).options["capabilities"]["appium:app"] == str(tmp_path / "apps" / "bank.apk")


def _config(tmp_path, text: str):
    from patrol.config import load_config

    cfg = tmp_path / "patrol.yaml"
    cfg.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_config(str(cfg))


def _engine(config):
    from patrol.drivers.app.appium import AppiumEngine
    from patrol.runner import RunOptions

    return AppiumEngine.from_config(config, RunOptions())


def test_server_url_precedence_and_device_entries(tmp_path, monkeypatch):
    from patrol.errors import ConfigError, SessionNotCreated

    monkeypatch.delenv("PATROL_APPIUM_URL", raising=False)
    monkeypatch.setenv("GRID_KEY", "grid-key-123456")
    config = _config(tmp_path, """\
        appium:
          url: http://10.1.2.3:4723/
          session_timeout: 2m
          devices:
            pixel:
              url: https://patrol:${secret:GRID_KEY}@grid.example/wd/hub
              capabilities: {platformName: Android, udid: R5CT, appium:newCommandTimeout: 90}
    """)
    engine = _engine(config)
    assert (engine.url, engine.url_source, engine.session_timeout_ms) == ("http://10.1.2.3:4723", "patrol.yaml appium.url", 120_000)
    monkeypatch.setenv("PATROL_APPIUM_URL", "http://127.0.0.1:4799")
    engine = _engine(config)
    assert (engine.url, engine.url_source) == ("http://127.0.0.1:4799", "PATROL_APPIUM_URL")

    j = parse("""\
        name: on-pixel
        target: app
        appium_device: pixel
        capabilities: {appPackage: com.example.bank, udid: OVERRIDE}
        steps:
          - tap: {id: a}
    """)
    url, source, caps = engine.session_plan(j)
    assert url == "https://patrol:grid-key-123456@grid.example/wd/hub"
    assert source == "patrol.yaml appium.devices.pixel.url"
    assert caps == {"platformName": "Android", "appium:udid": "OVERRIDE", "appium:newCommandTimeout": 90,
                    "appium:appPackage": "com.example.bank"}
    from patrol.drivers.app._appium_support import mask_url

    assert mask_url(url) == "https://patrol:******@grid.example/wd/hub"

    other = parse("name: x\ntarget: app\nappium_device: nope\nsteps:\n  - tap: {id: a}\n")
    with pytest.raises(SessionNotCreated, match="no such entry .known: pixel"):
        engine.session_plan(other)
    bare = parse("name: x\ntarget: app\ncapabilities: {platformName: Android}\nsteps:\n  - tap: {id: a}\n")
    assert engine.session_plan(bare)[0] == "http://127.0.0.1:4799"

    for text, where in (("appium: {port: 4723}\n", "appium.port"),
                        ("appium: {url: localhost:4723}\n", "appium.url"),
                        ("appium: {devices: {a: {caps: {}}}}\n", "appium.devices.a.caps"),
                        ("appium: {command_timeout: soon}\n", "appium.command_timeout")):
        monkeypatch.delenv("PATROL_APPIUM_URL")
        with pytest.raises(ConfigError) as e:
            _engine(_config(tmp_path, text))
        assert "patrol.yaml:1:" in str(e.value) and where in str(e.value), str(e.value)
        monkeypatch.setenv("PATROL_APPIUM_URL", "http://127.0.0.1:4799")
    monkeypatch.setenv("PATROL_APPIUM_URL", "127.0.0.1:4723")
    with pytest.raises(ConfigError, match="PATROL_APPIUM_URL"):
        _engine(_config(tmp_path, "state: false\n"))


def test_chromium_driver_gets_the_machines_browser_and_never_downloads(monkeypatch):
    from patrol.config import Config

    monkeypatch.setenv("PATROL_APPIUM_URL", "http://127.0.0.1:4799")
    j = parse((ROOT / "journeys" / "app" / "login.yaml").read_text(encoding="utf-8"))
    _url, _src, caps = _engine(Config()).session_plan(j)
    assert caps["platformName"] == "linux" and caps["appium:automationName"] == "chromium"
    assert caps["appium:executable"] == "/usr/bin/chromedriver"
    assert caps["appium:autodownloadEnabled"] is False
    assert isinstance(caps["appium:chromedriverPort"], int)
    opts = caps["goog:chromeOptions"]
    assert opts["binary"] == "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"):
        assert arg in opts["args"]
    assert opts["mobileEmulation"]["deviceMetrics"] == {"width": 390, "height": 844, "pixelRatio": 2.0,
                                                        "mobile": True, "touch": True}
    assert "Mobile" in opts["mobileEmulation"]["userAgent"]
    assert caps["goog:loggingPrefs"] == {"browser": "ALL", "performance": "ALL"}
    # The journey's own choices win.
    from patrol.drivers.app import _appium_support as sup

    mine = sup.chromium_defaults({"goog:chromeOptions": {"args": ["--headless=old"], "mobileEmulation": {"deviceName": "x"}},
                                  "appium:executable": "/opt/cd"}, None, headed=False, chromium="/c", chromedriver="/usr/bin/chromedriver")
    assert mine["appium:executable"] == "/opt/cd"
    assert mine["goog:chromeOptions"]["mobileEmulation"] == {"deviceName": "x"}
    assert "--headless=old" in mine["goog:chromeOptions"]["args"] and "--headless=new" not in mine["goog:chromeOptions"]["args"]


def test_capabilities_are_shown_with_secrets_masked():
    from patrol import secrets
    from patrol.drivers.app._appium_support import caps_text

    value = secrets.interpolate("${secret:APP_TOKEN}", {"APP_TOKEN": "tok-98765"})
    text = caps_text({"appium:app": f"https://store.example/app.apk?t={value}",
                      "lt:options": {"user": "qa", "accessKey": "plain-but-a-key", "apiKey": "k2", "password": "p"},
                      "appium:udid": "R5CT"})
    data = json.loads(text)
    assert data["appium:app"] == "https://store.example/app.apk?t=******"
    assert data["lt:options"] == {"user": "qa", "accessKey": "******", "apiKey": "******", "password": "******"}
    assert data["appium:udid"] == "R5CT"


def test_chrome_logs_become_driver_events():
    from patrol.drivers.app._appium_support import ChromeLogReader
    from patrol.drivers.base import DriverEvents

    def perf(method, **params):
        return {"message": json.dumps({"message": {"method": method, "params": params}})}

    events = DriverEvents()
    reader = ChromeLogReader()
    reader.performance([
        perf("Network.requestWillBeSent", requestId="1", request={"url": "http://b/api/transfer", "method": "POST"}),
        perf("Network.responseReceived", requestId="1", type="Fetch", response={"url": "http://b/api/transfer", "status": 500}),
        perf("Network.responseReceived", requestId="2", type="Document", response={"url": "http://b/x", "status": 404}),
        perf("Network.responseReceived", requestId="3", type="Fetch", response={"url": "http://b/api/ok", "status": 200}),
        perf("Network.requestWillBeSent", requestId="4", request={"url": "http://b/api/nav", "method": "GET"}),
        perf("Network.loadingFailed", requestId="4", type="XHR", errorText="net::ERR_CONNECTION_RESET"),
        perf("Network.loadingFailed", requestId="5", type="Fetch", errorText="net::ERR_ABORTED"),
        perf("Network.loadingFailed", requestId="6", type="Image", errorText="net::ERR_FAILED"),
    ], events)
    ChromeLogReader.browser([
        {"level": "SEVERE", "source": "javascript", "message": "http://b/transfer 3:40 Uncaught TypeError: x is undefined"},
        {"level": "SEVERE", "source": "network", "message": "Failed to load resource: 500"},
        {"level": "WARNING", "source": "javascript", "message": "meh"},
    ], events, "http://b/transfer")
    assert [r.to_json() for r in events.failed_requests] == [
        {"url": "http://b/api/transfer", "method": "POST", "status": 500, "error": "HTTP 500"},
        {"url": "http://b/api/nav", "method": "GET", "status": None, "error": "net::ERR_CONNECTION_RESET"},
    ]
    assert [d.to_json() for d in events.bad_documents] == [{"url": "http://b/x", "status": 404}]
    assert [e.to_json() for e in events.page_errors] == [
        {"message": "Uncaught TypeError: x is undefined", "url": "http://b/transfer"}]


class _Screens:
    """A stand-in driver whose screenshots follow a script."""

    def __init__(self, shots, busy=False):
        self.shots, self.busy = list(shots), busy

    async def _shot(self):
        return self.shots.pop(0) if len(self.shots) > 1 else self.shots[0]

    async def busy_indicator_visible(self):
        return self.busy


def test_frozen_screen_watch(monkeypatch):
    from patrol.drivers.app import app_watcher

    monkeypatch.setattr(app_watcher, "FREEZE_SAMPLE_S", 0.01)
    monkeypatch.setattr(app_watcher, "FREEZE_MIN_S", 0.03)

    async def watch(shots, busy=False, samples=6):
        screens = _Screens(shots, busy)
        w = app_watcher.FreezeWatch(screens._shot, screens.busy_indicator_visible)
        for _ in range(samples):
            await w.sample()
            await asyncio.sleep(0.012)
        return w

    frozen = asyncio.run(watch([b"a"]))
    assert frozen.frozen() and frozen.busy is False and frozen.samples == 6
    moving = asyncio.run(watch([b"a", b"a", b"b", b"b"]))
    assert not moving.frozen() and moving.changed
    spinner = asyncio.run(watch([b"a"], busy=True))
    assert spinner.frozen() and spinner.busy is True  # a still spinner is spinner_stuck, not frozen
    short = asyncio.run(watch([b"a"], samples=2))
    assert not short.frozen()


def test_app_journeys_are_in_the_schema():
    import jsonschema
    import yaml

    from patrol.journey.schema import build_schema

    schema = build_schema()
    text = json.dumps(schema)
    for word in ("capabilities", "appium_device", "launch", "activate", "terminate"):
        assert f'"{word}"' in text, word
    for path in sorted((ROOT / "journeys" / "app").glob("*.yaml")):
        jsonschema.validate(yaml.safe_load(path.read_text(encoding="utf-8")), schema)
    jsonschema.validate(yaml.safe_load(textwrap.dedent(NATIVE)), schema)


def test_appium_server_versions_are_pinned():
    from patrol import appium_server as a

    assert a.APPIUM_VERSION.startswith("3.")
    assert all(v[1].count(".") == 2 and not v[1].startswith(("^", "~")) for v in a.DRIVERS.values())
    assert a.node_ok((20, 19, 0)) and a.node_ok((22, 12, 0)) and a.node_ok((24, 0, 0))
    assert not a.node_ok((18, 20, 4)) and not a.node_ok((20, 18, 0)) and not a.node_ok((21, 0, 0))
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "\nappium:" in makefile and "patrol.appium_server install" in makefile
    assert os.path.exists(ROOT / ".gitignore") and "/.appium/" in (ROOT / ".gitignore").read_text()


class _Android:
    """A stand-in Appium session of an Android app (UiAutomator2's answers)."""

    capabilities = {"platformName": "Android", "automationName": "UiAutomator2", "platformVersion": "14",
                    "deviceModel": "Pixel 8"}

    def __init__(self):
        import cv2
        import numpy as np

        self.front, self.state = "com.example.bank", 4
        self.png = cv2.imencode(".png", np.zeros((20, 10, 3), np.uint8))[1].tobytes()
        self.calls = []

    @property
    def current_package(self):
        return self.front

    @property
    def current_activity(self):
        return ".MainActivity"

    def query_app_state(self, app_id):
        self.calls.append(("query_app_state", app_id))
        return self.state

    def terminate_app(self, app_id):
        self.calls.append(("terminate_app", app_id))
        self.state = 1
        return True

    def activate_app(self, app_id):
        self.calls.append(("activate_app", app_id))
        self.front, self.state = app_id, 4

    def find_elements(self, by, value):
        return []

    def get_screenshot_as_png(self):
        return self.png

    def get_window_size(self):
        return {"width": 10, "height": 20}

    def quit(self):
        pass


def test_app_state_breakpoints_from_what_android_says():
    from patrol.drivers.app import appium
    from patrol.errors import ActionFailed
    from patrol.journey.model import Locator

    journey = parse(NATIVE)
    session = _Android()
    driver = appium.AppiumDriver(appium.AppiumEngine(), session, journey.options["capabilities"], journey, "http://x")

    async def step():
        await driver.screenshot()
        return [s.to_json() for s in driver.drain_events().app_state]

    async def scenario():
        await driver.setup()
        assert driver.expected_app == "com.example.bank" and not driver.web
        assert await driver.current_url() == "app://com.example.bank/.MainActivity"
        assert await step() == []
        session.front, session.state = "com.android.settings", 3
        [left] = await step()
        assert left["reason"] == "app_left_foreground" and "com.android.settings is on screen" in left["message"]
        assert await step() == [], "reported once, not on every step"
        session.front, session.state = "com.google.android.permissioncontroller", 4
        [dialog] = await step()
        assert dialog["reason"] == "system_dialog"
        session.front, session.state = "com.example.bank", 4
        assert await step() == []
        # A crash while an action waits for its element ends the wait at once.
        session.front, session.state = "com.google.android.apps.nexuslauncher", 1
        t0 = asyncio.get_running_loop().time()
        try:
            await driver.click(Locator("id", "confirm"), timeout_ms=10_000)
        except ActionFailed as e:
            assert e.reason == "app_crashed" and "not running" in str(e), e
        else:
            raise AssertionError("the tap should have failed")
        assert asyncio.get_running_loop().time() - t0 < 3
        assert await step() == [], "the action's breakpoint already said it"
        # Closing the app on purpose is not a crash.
        await driver.app_control("launch", None, timeout_ms=1000)
        assert session.calls[-2:] == [("terminate_app", "com.example.bank"), ("activate_app", "com.example.bank")]
        await driver.app_control("terminate", None, timeout_ms=1000)
        session.front = "com.google.android.apps.nexuslauncher"
        assert await step() == []
        env = await driver.environment()
        assert env["browser"] == "Android 14 Pixel 8"

    asyncio.run(scenario())
