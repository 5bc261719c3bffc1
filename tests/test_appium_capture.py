"""Issue 24: app journeys see the network through Patrol's capture proxy (mitmproxy,
in-process). A real Appium 3 server's chromium driver drives this machine's Chrome as
a phone, pointed at the proxy by Patrol (``--proxy-server``, loopback included), through
the demo bank with its real faults: the app's requests and WebSockets become the same
records as on the web, and the web's rules name the cause.

One patrol run (four journeys, four Appium sessions, two at a time) is shared by the
assertions: a healthy bank, an API answering 500, one answering 429, and one whose
account API takes 8 s and whose live quote's WebSocket is closed after every handshake."""

from __future__ import annotations

import json
import os
import re
import textwrap
from pathlib import Path

import pytest
from appium_fixtures.server import appium_server, project_config  # noqa: F401
from conftest import SECRET

from patrol.demo.server import DemoBank

SIGN_IN = """\
  - name: open login page
    goto: /login
    expect: {visible: {css: "#login-form"}}
  - name: enter username
    fill: {selector: {css: "#username"}, text: demo}
  - name: enter password
    fill: {selector: {css: "#password"}, text: "${secret:DEMO_PASSWORD}"}
  - name: sign in
    tap: {css: "#login-submit"}
    expect: {url: /home, visible: {css: "#total-assets"}}
"""
OPEN_FUNDS = """\
  - name: open funds
    tap: {css: "#nav-funds"}
    expect: {url: /funds, visible: {css: "#live-quote-price"}}
"""
# name -> (faults of its bank, steps after signing in)
JOURNEYS = {
    "cap-healthy": ([], OPEN_FUNDS),
    "cap-500": (["api_500=account"], ""),
    "cap-429": (["api_status=account:429"], ""),
    "cap-slow-ws": (["slow_api=account:8000", "ws_drop"], OPEN_FUNDS),
}


def journey_file(folder: Path, name: str, base_url: str, more_steps: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: {name}
        target: app
        base_url: {base_url}
        device: mobile
        capabilities: {{platformName: linux, appium:automationName: chromium, browserName: chrome}}
        budgets: {{step: 3s, timeout: 15s}}
        steps:
        """) + SIGN_IN + more_steps, encoding="utf-8")
    return path


class Captured:
    def __init__(self, code: int, run_dir: Path, banks: dict[str, DemoBank]) -> None:
        self.code, self.run_dir, self.banks = code, run_dir, banks
        self.report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))

    def journey(self, name: str) -> dict:
        return next(j for j in self.report["journeys"] if j["name"] == name)

    def step(self, journey: str, name: str) -> dict:
        return next(s for s in self.journey(journey)["steps"] if s["name"] == name)

    def findings(self, name: str) -> list[tuple[str, str, str]]:
        return [(s["name"], f["kind"], f["reason"]) for s in self.journey(name)["steps"] for f in s["findings"]]


@pytest.fixture(scope="module")
def captured(appium_server, tmp_path_factory):
    from patrol.cli import main

    folder = tmp_path_factory.mktemp("capture")
    os.environ["PATROL_APPIUM_URL"] = appium_server.url
    config = project_config(folder, appium={"network": {"capture": True, "ca_dir": str(folder / "ca")}})
    banks: dict[str, DemoBank] = {}
    paths = []
    try:
        for name, (faults, steps) in JOURNEYS.items():
            bank = banks[name] = DemoBank(port=0, faults=faults).__enter__()
            paths.append(str(journey_file(folder, name, bank.url, steps)))
        run_dir = folder / "run"
        cwd = Path.cwd()
        os.chdir(folder)
        try:
            code = main(["--config", str(config), "run", *paths, "--concurrency", "2", "--output", str(run_dir)])
        finally:
            os.chdir(cwd)
        yield Captured(code, run_dir, banks)
    finally:
        os.environ.pop("PATROL_APPIUM_URL", None)
        for bank in banks.values():
            bank.__exit__(None, None, None)


def requests_of(step: dict) -> list[dict]:
    return step["artifacts"]["network"]["requests"]


def own(step: dict, path: str) -> dict:
    return next(r for r in requests_of(step) if r["url"].split("?")[0].endswith(path) and r["first_party"])


def test_a_healthy_app_journey_records_every_request_and_socket_and_finds_nothing(captured):
    assert captured.findings("cap-healthy") == [], captured.journey("cap-healthy")
    assert captured.journey("cap-healthy")["status"] == "passed"
    sign_in = captured.step("cap-healthy", "sign in")
    login = own(sign_in, "/api/login")
    assert (login["method"], login["type"], login["status"], login["error"]) == ("POST", "fetch", 200, None), login
    assert login["duration_ms"] > 0 and login["start_ms"] is not None and not login["pending"]
    home = own(sign_in, "/home")
    assert home["type"] == "document" and home["status"] == 200, home
    assert own(sign_in, "/static/app.js")["type"] == "script"
    assert own(sign_in, "/api/account")["size"] and own(sign_in, "/api/account")["status"] == 200
    # Chrome's own calls home go through the proxy too: third party, evidence only.
    assert all(not r.get("cause") for r in requests_of(sign_in))
    funds = captured.step("cap-healthy", "open funds")
    [socket] = funds["artifacts"]["websockets"]
    assert socket["first_party"] and socket["open"] and socket["frames_in"] >= 1 and socket["closes"] == [], socket
    # Tokens are masked in the recorded evidence (the live quote's stream token), and
    # the password typed in is nowhere in what Patrol wrote.
    assert socket["url"].startswith("ws://") and socket["url"].endswith("token=***"), socket["url"]
    for f in captured.run_dir.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            assert SECRET.encode() not in data, f"the password leaked into {f}"
            if f.suffix in (".json", ".html"):
                tokens = set(re.findall(r"token=([^&\"'<\s]+)", data.decode("utf-8", "replace")))
                assert tokens <= {"***", "%2A%2A%2A"}, f"a stream token in {f}: {tokens}"


def test_an_api_answering_500_is_request_failed_naming_the_endpoint(captured):
    assert captured.findings("cap-500") == [("sign in", "breakpoint", "request_failed")], captured.journey("cap-500")
    f = captured.step("cap-500", "sign in")["findings"][0]
    assert f["message"].startswith("GET http://127.0.0.1:") and f["message"].endswith("/api/account HTTP 500"), f["message"]
    assert f["cause"]["kind"] == "request" and f["cause"]["template"] == "/api/account", f["cause"]
    # Found as soon as the proxy saw the 500: the step did not wait out its timeout.
    assert captured.step("cap-500", "sign in")["duration_ms"] < 8000


def test_an_api_answering_429_is_http_error_with_its_retry_after(captured):
    assert captured.findings("cap-429") == [("sign in", "breakpoint", "http_error")], captured.journey("cap-429")
    step = captured.step("cap-429", "sign in")
    f = step["findings"][0]
    assert f["message"].endswith("/api/account answered HTTP 429 (retry after 7s)"), f["message"]
    account = own(step, "/api/account")
    assert account["status"] == 429 and account["retry_after_s"] == 7 and account["cause"] == "http_error", account


def test_a_slow_api_is_named_in_the_stall_and_a_dead_websocket_is_the_cause(captured):
    findings = captured.findings("cap-slow-ws")
    assert findings == [("sign in", "stall", "over_budget"), ("open funds", "breakpoint", "websocket_closed")], findings
    stall = captured.step("cap-slow-ws", "sign in")["findings"][0]
    assert "GET /api/account 8." in stall["message"], stall["message"]
    slow = stall["evidence"]["slow_requests"][0]
    assert slow["url"].endswith("/api/account") and slow["duration_ms"] >= 8000, slow
    assert stall["cause"]["kind"] == "request" and stall["cause"]["problem"] == "slow", stall["cause"]
    dead = captured.step("cap-slow-ws", "open funds")["findings"][0]
    assert "WebSocket /live/quotes was closed by the server (code 1011 quote feed unavailable)" in dead["message"], dead
    assert dead["cause"]["kind"] == "websocket", dead["cause"]
    closes = dead["evidence"]["websocket"]["closes"]
    assert closes and all(c["by"] == "server" and c["code"] == 1011 for c in closes), closes
