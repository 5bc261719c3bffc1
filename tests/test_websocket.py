"""Issue 27, WebSocket evidence: every socket of a step in its evidence (URL masked,
opened, closes with code and reason, reconnects, frames, the longest silence while the
screen was busy); a socket that keeps closing while the screen waits is the cause,
found within seconds of the first close; a silent one names the stall. Real Chromium
against the demo bank's live quote (/funds) and its ws_drop / ws_delay faults."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from pathlib import Path

import httpx
import pytest

from patrol.config import Config
from patrol.demo.live import parse_frames
from patrol.journey.loader import load_journey
from patrol.runner.runner import Listener, Runner
from patrol.step.options import RunOptions

REPORTED_WITHIN_S = 3.0  # the bound: from the first close to the finding
TIMEOUT = "15s"  # the hard timeout: long, so a fast finding is fast because the close was seen


def journey(folder: Path, url: str) -> Path:
    """Sign in, then open the funds page and wait for the live quote to show."""
    path = folder / "live.yaml"
    path.write_text(
        f"name: live\nbase_url: {url}\nbudgets: {{step: 3s, timeout: {TIMEOUT}}}\nsteps:\n"
        "  - name: open login page\n    goto: /login\n    expect: {visible: '#login-form'}\n"
        "  - name: enter username\n    fill: {selector: '#username', text: demo}\n"
        "  - name: enter password\n    fill: {selector: '#password', text: '${secret:DEMO_PASSWORD}'}\n"
        "  - name: sign in\n    click: '#login-submit'\n    expect: {url: /home, visible: '#total-assets'}\n"
        "  - name: open funds\n    click: '#nav-funds'\n    expect: {url: /funds, visible: '#live-quote-price'}\n",
        encoding="utf-8")
    return path


def step(result_steps, name: str):
    return next(s for s in result_steps if s.name == name)


class Stamps(Listener):
    """When each step's result was recorded (its findings final)."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}

    def step_finished(self, journey, result, step) -> None:
        self.at[step.name] = time.monotonic()


@pytest.mark.faults("ws_drop")
def test_a_socket_dropped_after_every_handshake_is_the_cause_within_seconds_of_its_first_close(faulty_bank, tmp_path):
    stamps = Stamps()
    runner = Runner(Config(), RunOptions(output=tmp_path / "run"), [stamps])
    run = asyncio.run(runner.run([load_journey(journey(tmp_path, faulty_bank.url))]))
    steps = run.journeys[0].steps
    funds = step(steps, "open funds")
    assert [(f.kind, f.reason) for f in funds.findings] == [("breakpoint", "websocket_closed")], funds.findings
    f = funds.findings[0]
    assert f.fatal and "WebSocket /live/quotes was closed by the server (code 1011 quote feed unavailable)" in f.message, f.message
    # The stuck "connecting…" screen is its consequence, not a second finding.
    assert any("still loading" in c for c in f.evidence["consequences"]), f.evidence
    assert f.cause.kind == "websocket" and f.cause.template and f.cause.template.startswith("/live/quotes"), f.cause
    first_close = faulty_bank.live.closes[0]
    took = stamps.at["open funds"] - first_close
    print(f"first close -> finding recorded: {took:.2f} s (step {funds.duration_ms / 1000:.2f} s)")
    assert took < REPORTED_WITHIN_S, f"reported {took:.2f} s after the first close"
    assert funds.duration_ms < 10_000, "not after the hard timeout"
    socket = funds.artifacts["websockets"][0]
    assert socket["url"].startswith("ws://") and "token=***" in socket["url"], socket["url"]
    assert socket["first_party"] and socket["frames_in"] == 0 and socket["down_while_busy"]
    closes = socket["closes"]
    assert closes and all(c["by"] == "server" and c["code"] == 1011 and c["reason"] == "quote feed unavailable"
                          for c in closes), closes
    assert socket["connections"] == socket["reconnects"] + 1 and socket["connections"] == len(closes) + socket["open"]


@pytest.mark.faults("ws_delay=8000")
def test_a_socket_silent_longer_than_the_budget_is_named_in_the_stall(faulty_bank, patrol, tmp_path):
    p = patrol("run", str(journey(tmp_path, faulty_bank.url)))
    assert p.findings("live") == [("open funds", "stall", "over_budget")], p.out
    funds = next(s for s in p.journey("live")["steps"] if s["name"] == "open funds")
    f = funds["findings"][0]
    assert "WebSocket /live/quotes: no message for 8." in f["message"] or "WebSocket /live/quotes: no message for 7.9" in f["message"], f["message"]
    assert f["cause"]["kind"] == "websocket" and f["cause"]["problem"] == "silent", f["cause"]
    silent = f["evidence"]["silent_websockets"][0]
    assert silent["answered_busy_silence_ms"] >= 7500 and silent["frames_in"] >= 1 and not silent["closes"], silent
    socket = funds["artifacts"]["websockets"][0]
    assert socket["open"] and socket["reconnects"] == 0 and socket["down_since_ms"] is None


@pytest.mark.faults("ws_delay=30000")
def test_a_screen_still_loading_at_the_timeout_names_the_silent_socket(faulty_bank, patrol, tmp_path):
    path = journey(tmp_path, faulty_bank.url)
    path.write_text(path.read_text(encoding="utf-8").replace(f"timeout: {TIMEOUT}", "timeout: 4s"), encoding="utf-8")
    p = patrol("run", str(path))
    assert p.findings("live") == [("open funds", "stall", "spinner_stuck")], p.out
    f = next(s for s in p.journey("live")["steps"] if s["name"] == "open funds")["findings"][0]
    assert re.search(r"WebSocket /live/quotes: no message for [3-9]\.\d s", f["message"]), f["message"]
    assert f["evidence"]["silent_websockets"][0]["url"].endswith("token=***")


def test_a_healthy_live_quote_is_evidence_and_no_finding(bank, patrol, tmp_path):
    p = patrol("run", str(journey(tmp_path, bank.url)))
    assert p.code == 0 and p.findings("live") == [], p.out
    funds = next(s for s in p.journey("live")["steps"] if s["name"] == "open funds")
    [socket] = funds["artifacts"]["websockets"]
    assert socket["open"] and socket["frames_in"] >= 1 and socket["frames_out"] == 0, socket
    assert socket["closes"] == [] and socket["reconnects"] == 0 and socket["down_since_ms"] is None
    assert socket["busy_silence_ms"] < 3000 and socket["opened_at_ms"] >= 0
    html = (p.run_dir / "index.html").read_text(encoding="utf-8")
    assert "WebSockets: 1" in html and "open when the step ended" in html
    # The stream token in the socket's URL is masked everywhere Patrol writes.
    assert socket["url"].endswith("token=***"), socket["url"]
    for name in ("report.json", "index.html"):
        text = (p.run_dir / name).read_text(encoding="utf-8")
        tokens = set(re.findall(r"token=([^&\"'<\s]+)", text))
        assert tokens <= {"***", "%2A%2A%2A"}, f"a stream token in {name}: {tokens}"


@pytest.mark.faults("ws_drop")
def test_a_page_that_does_not_wait_on_the_socket_goes_on_with_one_stall(faulty_bank, patrol, tmp_path):
    path = journey(tmp_path, faulty_bank.url)
    text = path.read_text(encoding="utf-8").replace("visible: '#live-quote-price'", "visible: \"a.fund-link[data-code='880002']\"")
    path.write_text(text + "  - name: open fund tools\n    hover: '#fund-tools'\n    expect: {visible: '#tool-compare'}\n",
                    encoding="utf-8")
    p = patrol("run", str(path))
    assert p.findings("live") == [("open funds", "stall", "websocket_closed")], "once per socket, and the journey went on"
    funds = next(s for s in p.journey("live")["steps"] if s["name"] == "open funds")
    f = funds["findings"][0]
    assert not f["fatal"] and "(the rest of the page went on)" in f["message"], f["message"]
    tools = next(s for s in p.journey("live")["steps"] if s["name"] == "open fund tools")
    assert tools["status"] == "passed" and tools["artifacts"]["websockets"][0]["down_since_ms"] is not None


# -- the live quote itself, and the recorder's rules, without a browser ------------------


def _upgrade(bank, token: str, cookie: str) -> socket.socket:
    s = socket.create_connection((bank.host, bank.port), timeout=5)
    key = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455's own example (section 1.3)
    s.sendall(f"GET /live/quotes?fund=880001&token={token} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
              f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
              f"Cookie: {cookie}\r\n\r\n".encode())
    return s


def _read(s: socket.socket, until: bytes) -> bytes:
    got = b""
    while until not in got:
        chunk = s.recv(4096)
        if not chunk:
            break
        got += chunk
    return got


@pytest.mark.parametrize("fault", [None, "ws_drop"])
def test_the_live_quote_needs_the_sessions_token_and_streams_or_drops(fault, tmp_path):
    from patrol.demo.server import COOKIE, DemoBank

    with DemoBank(port=0, faults=[fault] if fault else []) as bank, httpx.Client(base_url=bank.url) as client:
        client.post("/api/login", json={"username": "demo", "password": bank.password})
        page = client.get("/funds").text
        token = json.loads(re.search(r"__BANK__ = (.*?);</script>", page).group(1))["live"]["token"]
        cookie = f"{COOKIE}={client.cookies[COOKIE]}"
        for bad_token, bad_cookie in ((token, ""), ("0" * 32, cookie), ("令牌", cookie)):
            with _upgrade(bank, bad_token, bad_cookie) as s:
                assert _read(s, b"\r\n\r\n").startswith(b"HTTP/1.0 401"), (bad_token, bad_cookie)
        with _upgrade(bank, token, cookie) as s:
            head, _, rest = _read(s, b'"seq": 1}' if fault is None else b"unavailable").partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 101") and b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head, head
            frames = parse_frames(bytearray(rest))
        opcode, payload = frames[0]
        if fault is None:
            assert opcode == 1 and json.loads(payload) == {"type": "quote", "code": "880001", "name": "巡航稳健债券A",
                                                           "nav": "1.0832", "seq": 1}
            assert bank.live.closes == []
        else:
            assert opcode == 8 and payload == (1011).to_bytes(2, "big") + b"quote feed unavailable"
            assert len(bank.live.closes) == 1


class FakeSocket:
    def __init__(self, url: str) -> None:
        self.url, self.handlers = url, {}

    def on(self, event, handler) -> None:
        self.handlers[event] = handler

    def fire(self, event, arg=None) -> None:
        self.handlers[event](arg)


class FakePage:
    main_frame = "main"

    def is_closed(self) -> bool:
        return False


URL = "ws://127.0.0.1:8800/live/quotes?fund=880001&token=abcdef0123456789abcdef0123456789"


def recorder(navigations: list[float] | None = None):
    from patrol.core.urls import RequestPolicy
    from patrol.drivers._websocket import SocketRecorder

    now = [100.0]
    rec = SocketRecorder(RequestPolicy.for_journey("http://127.0.0.1:8800"), clock=lambda: now[0],
                         navigated_since=lambda frame, t: any(n >= t for n in navigations or []))
    return rec, now


def test_a_close_the_app_asked_for_or_a_message_after_a_reconnect_is_not_a_socket_down():
    rec, now = recorder()
    page, first = FakePage(), FakeSocket(URL)
    rec.on_websocket(page, first)
    now[0] += 0.5
    first.fire("close")
    rec.on_page_close({"page": page}, {"url": URL, "code": 1000, "reason": "", "byPage": True})
    [w] = rec.drain()
    assert w.down_since_ms is None and w.closed is not None and w.closed.by == "page" and w.closed.code == 1000
    again = FakeSocket(URL)
    rec.on_websocket(page, again)  # a reconnect (the previous one closed without a navigation)
    now[0] += 1.0
    again.fire("close")
    assert rec.drain()[0].down_since_ms == 1000.0 and rec.failing_since() is None, "down, but the screen was not busy"
    third = FakeSocket(URL)
    rec.on_websocket(page, third)
    now[0] += 2.0
    third.fire("framereceived", "{}")
    [w] = rec.drain()
    assert w.reconnects == 1 and w.frames_in == 1 and w.down_since_ms is None
    assert w.longest_silence_ms == 3500.0, "no message since the first connection opened, reconnects or not"
    assert w.url.endswith("token=***")


def test_a_socket_the_page_left_by_navigating_is_closed_by_the_navigation_and_opening_it_again_is_no_reconnect():
    navigations: list[float] = []
    rec, now = recorder(navigations)
    page, first = FakePage(), FakeSocket(URL)
    rec.on_websocket(page, first)
    now[0] += 1.0
    navigations.append(now[0])
    first.fire("close")
    rec.on_websocket(page, FakeSocket(URL))
    [w] = rec.drain()
    assert [c.by for c in w.closes] == ["navigation"] and w.reconnects == 0 and w.connections == 2
    assert w.down_since_ms is None and w.open
