"""Remote browsers (patrol.yaml ``browser.connect``): a worker uses a Playwright browser
server instead of launching Chromium. All real: `python -m patrol.browser_server` as a
process on a loopback port (Playwright's run-server behind Patrol's proxy, Debian's
Chromium), `patrol run` as a process against the demo bank, a run-server of another
Playwright version installed from npm for the mismatch, /proc for what is left after a
signal."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version as package_version
from pathlib import Path

import pytest
from conftest import ROOT, SECRET
from schedule_support import OPEN_STEPS, write_journey

from patrol.core.net import free_port

pytestmark = [pytest.mark.xdist_group("remote_browser"),
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")]

TOKEN = "tok-" + "7f3a9c1e5b2d4f60"  # a password in the server URL: must never be written down
START_S = 60.0


# -- processes ---------------------------------------------------------------------------------
@dataclass
class Server:
    proc: subprocess.Popen[str]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            raise


def start_server(folder: Path, port: int | None = None, **env: str) -> Server:
    port = port or free_port()
    log = folder / f"browser-server-{port}.log"
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.Popen([sys.executable, "-m", "patrol.browser_server", "--port", str(port)], cwd=ROOT,
                                stdout=out, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                                env={**{k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")},
                                     "PYTHONUNBUFFERED": "1", **env})  # a server machine: no display
    server = Server(proc, port, log)
    deadline = time.monotonic() + START_S
    while "browser server at" not in server.text():
        if proc.poll() is not None or time.monotonic() > deadline:
            server.stop(signal.SIGKILL)
            pytest.fail(f"the browser server did not start:\n{server.text()}")
        time.sleep(0.1)
    return server


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    s = start_server(tmp_path_factory.mktemp("browser-server"))
    yield s
    s.stop()


def _stat(pid: int) -> tuple[str, int, int] | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_bytes().decode("utf-8", "replace").rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[0], int(fields[1]), int(fields[19])


def tree(root: int) -> dict[int, tuple[int, str]]:
    """pid -> (start time, command line) of every process below ``root``."""
    parents = {int(e): st[1] for e in os.listdir("/proc") if e.isdigit() and (st := _stat(int(e))) is not None}
    found: dict[int, tuple[int, str]] = {}
    frontier = {root}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier and pid not in found}
        for pid in frontier:
            st = _stat(pid)
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            except OSError:
                continue
            if st is not None:
                found[pid] = (st[2], cmd)
    return found


def still_running(procs: dict[int, tuple[int, str]]) -> dict[int, str]:
    return {pid: cmd for pid, (started, cmd) in procs.items()
            if (st := _stat(pid)) is not None and st[2] == started and st[0] != "Z"}


def port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


HOLD = """
import asyncio, sys
from playwright.async_api import async_playwright
async def main():
    async with async_playwright() as p:
        # A client asking for another program and a switch of its own: neither may be used.
        b = await p.chromium.connect(sys.argv[1], timeout=60000, headers={"x-playwright-launch-options":
            '{"headless": true, "executablePath": "/bin/sh", "args": ["--patrol-test-evil"]}'})
        print("connected", b.version, flush=True)
        await asyncio.sleep(120)
asyncio.run(main())
"""


def hold_connection(url: str, folder: Path) -> tuple[subprocess.Popen[str], Path]:
    """A client process holding a connection (so the server runs a Chromium for it)."""
    log = folder / f"client-{time.monotonic_ns()}.log"
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.Popen([sys.executable, "-c", HOLD, url], stdout=out, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
    deadline = time.monotonic() + START_S
    while "connected" not in log.read_text(encoding="utf-8"):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the client did not connect:\n{log.read_text(encoding='utf-8')}")
        time.sleep(0.1)
    return proc, log


def chromiums(procs: dict[int, tuple[int, str]]) -> list[str]:
    return [cmd for _start, cmd in procs.values() if "chromium" in cmd.split(" ", 1)[0] and "--type=" not in cmd]


# -- patrol run --------------------------------------------------------------------------------
@dataclass
class Ran:
    code: int
    output: str
    report: dict | None
    run_dir: Path


def patrol_run(folder: Path, config: str, journey: Path, **env: str) -> Ran:
    (folder / "patrol.yaml").write_text(config, encoding="utf-8")
    run_dir = folder / f"run-{time.monotonic_ns()}"
    # No local Chromium to fall back on: a passing run used the server's.
    environ = {k: v for k, v in os.environ.items() if k != "PATROL_BROWSER_CONNECT"}
    environ.update(PATROL_CHROMIUM=str(folder / "no-local-chromium"), **env)
    done = subprocess.run([sys.executable, "-m", "patrol", "--config", str(folder / "patrol.yaml"), "run", str(journey),
                           "--output", str(run_dir)], cwd=folder, capture_output=True, text=True, timeout=300,
                          env=environ)
    report_file = run_dir / "report.json"
    report = json.loads(report_file.read_text(encoding="utf-8")) if report_file.exists() else None
    return Ran(done.returncode, done.stdout + done.stderr, report, run_dir)


def written_anywhere(run: Ran, text: str) -> list[str]:
    places = ["output"] if text in run.output else []
    return places + [str(f) for f in run.run_dir.rglob("*") if f.is_file() and text.encode() in f.read_bytes()]


def test_a_journey_runs_on_the_browser_server_with_screenshots(bank, server, tmp_path):
    journey = write_journey(tmp_path / "journeys", "remote-login", base_url=bank.url)
    config = "state: false\nbrowser:\n  connect: ${PATROL_TEST_BROWSER}\n"
    run = patrol_run(tmp_path, config, journey, PATROL_TEST_BROWSER=server.url)
    assert run.code == 0, run.output
    assert run.report is not None and run.report["status"] == "passed"
    j = run.report["journeys"][0]
    assert [s["status"] for s in j["steps"]] == ["passed"] * 4 and not j.get("robot_error")
    shots = [p for p in run.run_dir.rglob("*.png") if p.read_bytes().startswith(b"\x89PNG")]
    assert len(shots) >= 4, f"one screenshot per step expected, found {shots}"
    assert written_anywhere(run, SECRET) == []


def test_the_server_runs_its_own_chromium_with_patrols_switches_whatever_a_client_asks(server, tmp_path):
    client, _log = hold_connection(server.url, tmp_path)
    try:
        below = tree(server.proc.pid)
        browsers = chromiums(below)
        assert browsers, f"no Chromium below the server: {below}"
        for cmd in browsers:
            assert "--font-render-hinting=none" in cmd and "--disable-quic" in cmd and "--headless" in cmd
            assert "--patrol-test-evil" not in cmd
        assert not any(cmd.startswith("/bin/sh") for _s, cmd in below.values()), "a client chose the program"
    finally:
        client.kill()
        client.wait(10)


def test_the_engine_reconnects_to_a_browser_server_that_came_back(bank, tmp_path):
    """The server goes away under a worker: the engine is unhealthy, and the pool's
    restart connects again once a server listens there (a fresh Chromium)."""
    from patrol.drivers.web._remote import Endpoint
    from patrol.drivers.web.playwright import PlaywrightEngine
    from patrol.journey.loader import parse_text
    from patrol.runner.runner import EnginePool

    first = start_server(tmp_path)
    journey = parse_text(f"name: r\nbase_url: {bank.url}\nsteps:\n  - goto: /login\n", "r.yaml")
    restarts: list[str] = []
    pool = EnginePool(lambda _t: PlaywrightEngine(endpoint=Endpoint(first.url, "test")),
                      on_restart=lambda _t, why: restarts.append(why))

    async def open_login() -> str:
        engine = await pool.acquire("web")
        try:
            driver = await engine.new_driver(journey)
            await driver.goto(bank.url + "/login", timeout_ms=15_000)
            url = await driver.current_url()
            await driver.close()
            return url
        finally:
            pool.release("web")

    async def go() -> None:
        try:
            assert (await open_login()).endswith("/login")
            engine = pool.engines["web"]
            assert await engine.healthy() and engine.pid() is None  # no local process to watch
            assert first.stop() == 0
            deadline = time.monotonic() + 20
            while await engine.healthy():
                assert time.monotonic() < deadline, "the engine still says healthy with its server gone"
                await asyncio.sleep(0.2)
            servers.append(start_server(tmp_path, first.port))
            assert (await open_login()).endswith("/login")
            assert restarts == ["crashed"] and pool.generation["web"] == 2
        finally:
            await pool.close()

    servers = [first]
    try:
        asyncio.run(go())
    finally:
        for s in servers:
            s.stop()


# -- what cannot work is the robot's problem, said plainly ---------------------------------------
def test_an_unreachable_browser_server_is_a_robot_error_that_names_it(bank, tmp_path):
    port = free_port()
    journey = write_journey(tmp_path / "journeys", "remote-open", base_url=bank.url, steps=OPEN_STEPS)
    config = f"state: false\nbrowser:\n  connect: ws://patrol:${{secret:PATROL_TEST_TOKEN}}@127.0.0.1:{port}/\n"
    run = patrol_run(tmp_path, config, journey, PATROL_TEST_TOKEN=TOKEN)
    assert run.code == 3, run.output
    assert f"cannot reach the browser server at ws://***@127.0.0.1:{port}/ (patrol.yaml browser.connect)" in run.output
    assert "nothing listens on that port" in run.output and "python -m patrol.browser_server" in run.output
    assert "Traceback" not in run.output and "internal error" not in run.output
    j = run.report["journeys"][0]
    assert j["robot_error"]["reason"] == "browser_server_unreachable"
    assert all(not s["findings"] for s in j["steps"]), "a robot failure is never a finding about the app"
    assert written_anywhere(run, TOKEN) == []


@pytest.mark.parametrize("url, words", [
    ("ws://no-such-host.invalid:3000/", "the host name does not resolve"),
    ("ws://127.0.0.1:{silent}/", "no answer within 1.5s"),
    ("{server}not-here", "answered 400 Bad Request instead of a Playwright connection (is the path right?"),
], ids=["dns", "silent", "wrong-path"])
def test_what_the_engine_says_when_no_browser_server_answers(server, url, words):
    from patrol.drivers.web._remote import Endpoint
    from patrol.drivers.web.playwright import PlaywrightEngine
    from patrol.errors import BrowserServerUnreachable

    with socket.socket() as silent:  # accepts and never answers the handshake
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = url.format(silent=silent.getsockname()[1], server=server.url)
        engine = PlaywrightEngine(endpoint=Endpoint(url, "test"))
        engine.connect_timeout_ms = 1500

        with pytest.raises(BrowserServerUnreachable) as caught:
            asyncio.run(engine.start())
    assert words in str(caught.value), str(caught.value)
    assert engine.browser is None and engine._pw is None  # nothing left running


def test_a_browser_server_that_cannot_start_the_browser_asked_for_says_why(server):
    """`patrol run --headed` against a server without a display: the server answers, its
    Chromium cannot start, and the robot error carries Playwright's reason."""
    from patrol.drivers.web._remote import Endpoint
    from patrol.drivers.web.playwright import PlaywrightEngine
    from patrol.errors import BrowserNotFound, BrowserServerUnreachable

    engine = PlaywrightEngine(headless=False, endpoint=Endpoint(server.url, "test"))
    with pytest.raises(BrowserNotFound) as caught:
        asyncio.run(engine.start())
    assert not isinstance(caught.value, BrowserServerUnreachable)
    assert str(caught.value).startswith(f"the browser server at {server.url} (test) could not start a browser: ")
    assert "headed browser without having a XServer" in str(caught.value)


OTHER_PLAYWRIGHT_HOME = ROOT / ".realapps" / "playwright-core"


def other_playwright() -> tuple[str, Path]:
    """(minor, cli.js) of a playwright-core one minor version older than Patrol's, from npm
    (cached under .realapps/, gitignored)."""
    major, minor = package_version("playwright").split(".")[:2]
    other = f"{major}.{int(minor) - 1}"
    home = OTHER_PLAYWRIGHT_HOME / other
    cli = home / "node_modules" / "playwright-core" / "cli.js"
    if not cli.is_file():
        npm = shutil.which("npm")
        assert npm, "npm is needed to install playwright-core for the version mismatch test (apt-get install npm)"
        subprocess.run([npm, "install", "--prefix", str(home), "--no-audit", "--no-fund", "--loglevel=error",
                        f"playwright-core@~{other}.0"], check=True, timeout=300, capture_output=True)
    return other, cli


def test_a_browser_server_of_another_playwright_version_is_a_clear_robot_error(bank, tmp_path):
    from playwright._impl._driver import compute_driver_executable

    other, cli = other_playwright()
    port = free_port()
    log = tmp_path / "old-server.log"
    with open(log, "w", encoding="utf-8") as out:
        old = subprocess.Popen([compute_driver_executable()[0], str(cli), "run-server", "--host", "127.0.0.1",
                                "--port", str(port)], stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + START_S
        while "Listening on" not in log.read_text(encoding="utf-8"):
            assert old.poll() is None and time.monotonic() < deadline, log.read_text(encoding="utf-8")
            time.sleep(0.1)
        journey = write_journey(tmp_path / "journeys", "remote-open", base_url=bank.url, steps=OPEN_STEPS)
        run = patrol_run(tmp_path, "state: false\n", journey, PATROL_BROWSER_CONNECT=f"ws://127.0.0.1:{port}/")
    finally:
        os.killpg(old.pid, signal.SIGKILL)
        old.wait(10)
    ours = package_version("playwright")
    assert run.code == 3, run.output
    assert (f"the browser server at ws://127.0.0.1:{port}/ (PATROL_BROWSER_CONNECT) runs Playwright {other}, "
            f"Patrol uses Playwright {ours}") in run.output
    assert f"run the browser server from Playwright {'.'.join(ours.split('.')[:2])}" in run.output
    assert "Traceback" not in run.output
    assert run.report["journeys"][0]["robot_error"]["reason"] == "browser_version_mismatch"


# -- bad input: exit 2, positioned ----------------------------------------------------------------
@pytest.mark.parametrize("text, line, col, field, words", [
    ("browser:\n  connect: http://browser:3000/\n", 2, 12, "browser.connect", "expected the ws:// or wss:// URL"),
    ("browser:\n  connect: ws://browser:3000/\n  executable: /usr/bin/chromium\n", 3, 15, "browser.executable",
     "the browser server decides this"),
    ("browser: {connect: 'ws://b:3000/', args: [--lang=zh-CN]}\n", 1, 42, "browser.args", "--arg=ARG"),
    ("browser:\n  conect: ws://browser:3000/\n", 2, 3, "browser.conect", "did you mean 'connect'?"),
])
def test_a_bad_connect_is_exit_2_with_its_position(tmp_path, text, line, col, field, words):
    (tmp_path / "patrol.yaml").write_text(text, encoding="utf-8")
    (tmp_path / "journeys").mkdir()
    write_journey(tmp_path / "journeys", "a", steps=OPEN_STEPS)
    done = subprocess.run([sys.executable, "-m", "patrol", "validate"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    want = f"{tmp_path / 'patrol.yaml'}:{line}:{col}: {field}: "
    found = [x for x in done.stderr.splitlines() if x.startswith(want)]
    assert found and words in found[0], done.stderr
    assert "Traceback" not in done.stderr


def test_a_connect_variable_that_resolves_to_no_ws_url_is_exit_2_at_its_position(tmp_path):
    journey = write_journey(tmp_path / "journeys", "a", steps=OPEN_STEPS)
    config = "state: false\nbrowser:\n  connect: ${PATROL_TEST_BROWSER}\n"
    run = patrol_run(tmp_path, config, journey, PATROL_TEST_BROWSER=f"http://patrol:{TOKEN}@browser:3000/")
    assert run.code == 2, run.output
    assert f"{tmp_path / 'patrol.yaml'}:3:12: browser.connect: expected the ws:// or wss:// URL" in run.output
    assert TOKEN not in run.output and "Traceback" not in run.output
    assert "passed" not in run.output  # said before any journey is announced
    env_run = patrol_run(tmp_path, "state: false\n", journey, PATROL_BROWSER_CONNECT="browser:3000")
    assert env_run.code == 2 and "PATROL_BROWSER_CONNECT='browser:3000': expected the ws://" in env_run.output


# -- the helper's own life ----------------------------------------------------------------------
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda s: s.name)
def test_the_browser_server_stops_its_chromium_on_a_signal(tmp_path, sig):
    s = start_server(tmp_path)
    client, _log = hold_connection(s.url, tmp_path)
    try:
        below = tree(s.proc.pid)  # read before the signal: orphans are lost from the tree
        assert chromiums(below), f"no Chromium running below the server: {below}"
        backend_ports = [int(cmd.split("--port ")[1].split()[0]) for _st, cmd in below.values() if "run-server" in cmd]
        assert s.stop(sig) == 0, s.text()
        deadline = time.monotonic() + 20
        while still_running(below) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert still_running(below) == {}, f"left running after {sig.name}: {still_running(below)}"
        assert all(port_free(p) for p in [s.port, *backend_ports])
        assert f"browser server stopped ({sig.name})" in s.text()
    finally:
        client.kill()
        client.wait(10)


def test_the_browser_server_refuses_bad_options_with_exit_2(tmp_path):
    for args, words in ((["--port", "70000"], "--port 70000"), (["--chromium", str(tmp_path / "none")], "no executable")):
        done = subprocess.run([sys.executable, "-m", "patrol.browser_server", *args], capture_output=True, text=True,
                              timeout=60, cwd=ROOT)
        assert done.returncode == 2 and words in done.stderr, done.stderr
        assert "Traceback" not in done.stderr


def test_the_proxy_rewrites_what_a_client_asks_for():
    """What reaches run-server --unsafe: never a client's executable, switches or browser,
    whether asked in the header or in the query (which run-server prefers)."""
    from urllib.parse import quote

    from patrol.browser_server import ServerBrowser, rewrite_head

    browser = ServerBrowser("/usr/bin/chromium", ("--no-sandbox",))
    asked = '{"headless": false, "executablePath": "/bin/sh", "args": ["--gpu-launcher=/bin/sh"], "timeout": 5000}'
    common = "Host: b:3000\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nUser-Agent: Playwright/1.65.1\r\n"
    heads = {
        "header": f"GET /?x=1 HTTP/1.1\r\n{common}x-playwright-browser: firefox\r\nX-Playwright-Launch-Options: {asked}\r\n\r\n",
        "query": f"GET /?launch-options={quote(asked)}&browser=firefox&x=1 HTTP/1.1\r\n{common}"
                 "x-playwright-launch-options: {}\r\n\r\n",
    }
    for where, head in heads.items():
        out = rewrite_head(head.encode(), browser)
        assert out is not None, where
        lines = out.decode().split("\r\n")
        assert lines[0] == "GET /?x=1 HTTP/1.1", where
        ours = [x for x in lines if x.lower().startswith("x-playwright-")]
        assert len(ours) == 2 and ours[0] == "x-playwright-browser: chromium", (where, ours)
        options = json.loads(ours[1].split(":", 1)[1])
        # This machine's Chromium and switches; of the client's wishes only headless and the timeout.
        assert options == {"executablePath": "/usr/bin/chromium", "args": ["--no-sandbox"], "headless": False,
                           "timeout": 5000}, where
        assert "User-Agent: Playwright/1.65.1" in lines  # the version check still sees the client's version
    assert rewrite_head(b"GET / HTTP/1.1\r\nHost: b\r\n\r\n", browser) is None  # plain HTTP: answered, never forwarded
    assert rewrite_head(b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n folded: x\r\n\r\n", browser) is None


def test_the_proxy_lets_through_only_the_servers_token_and_never_forwards_it():
    from patrol.browser_server import ServerBrowser, authorized, rewrite_head

    def head(query: str) -> bytes:
        return f"GET /{query} HTTP/1.1\r\nHost: b\r\nUpgrade: websocket\r\n\r\n".encode()

    assert authorized(head(""), None) and authorized(head("?token=x"), None)  # no token set: anyone
    assert authorized(head("?token=s3cret-77"), "s3cret-77")
    assert not authorized(head(""), "s3cret-77")
    assert not authorized(head("?token=s3cret-7"), "s3cret-77")
    assert not authorized(head("?x=1&tok=s3cret-77"), "s3cret-77")
    out = rewrite_head(head("?token=s3cret-77&x=1"), ServerBrowser("/usr/bin/chromium", ()))
    assert out is not None and b"s3cret-77" not in out and out.startswith(b"GET /?x=1 HTTP/1.1")


def test_a_browser_server_with_a_token_refuses_a_wrong_one_and_serves_the_right_one(bank, tmp_path):
    token = "tok-" + secrets.token_hex(8)
    server = start_server(tmp_path, PATROL_BROWSER_TOKEN=token)
    try:
        assert token not in server.text()
        journey = write_journey(tmp_path / "journeys", "remote-login", base_url=bank.url)
        config = "state: false\nbrowser:\n  connect: ${PATROL_TEST_BROWSER}\n"
        wrong = patrol_run(tmp_path, config, journey, PATROL_TEST_BROWSER=f"{server.url}?token=not-{token}")
        assert wrong.code == 3, wrong.output
        assert "401 Unauthorized" in wrong.output and "?token=" in wrong.output, wrong.output
        assert written_anywhere(wrong, f"not-{token}") == []  # a token in the URL is masked wherever it is shown
        right = patrol_run(tmp_path, config, journey, PATROL_TEST_BROWSER=f"{server.url}?token={token}")
        assert right.code == 0, right.output
        assert right.report is not None and right.report["status"] == "passed"
        assert written_anywhere(right, token) == []
    finally:
        server.stop()
