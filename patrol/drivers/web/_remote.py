"""A browser on another machine: the web engine connects to a Playwright browser server
(``python -m patrol.browser_server``, or ``playwright run-server`` of the same
Playwright version) instead of launching Chromium (patrol.yaml ``browser.connect``,
``PATROL_BROWSER_CONNECT`` wins).

Each connection gets a Chromium of its own on the server, closed when the connection
closes, so a reconnect is a fresh browser. What cannot be done is reported as the
robot's problem, never the app's: no server at the URL (``BrowserServerUnreachable``),
a server of another Playwright version (``BrowserVersionMismatch``: it answers the
WebSocket handshake with 428 and a box saying both versions), a server that cannot
start a browser (``BrowserNotFound``). The URL is written down with its password and
token-like values masked.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from dataclasses import dataclass
from importlib.metadata import version as package_version
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from playwright.async_api import Browser, Playwright
from playwright.async_api import Error as PlaywrightError

from ...config.sections import WS_URL
from ...core.text import first_line
from ...core.urls import mask_url
from ...errors import BrowserNotFound, BrowserServerUnreachable, BrowserVersionMismatch, ConfigError, RobotError
from ...secrets import MASKER, MissingVariable, interpolate, mask

if TYPE_CHECKING:
    from ...config import Config

ENV = "PATROL_BROWSER_CONNECT"
# Connecting includes the server launching a Chromium (about a second; slower when loaded).
# `patrol run` tries twice (warm-up, first journey) before a silent host is reported.
CONNECT_TIMEOUT_MS = 30_000.0
PROBE_TIMEOUT_S = 5.0
# Read by `playwright run-server` (and Patrol's browser server) as the launch options.
LAUNCH_OPTIONS_HEADER = "x-playwright-launch-options"
_MISMATCH = re.compile(r"server version: v?(\d+\.\d+)")
# Node's socket errors, as a person would say them.
_WHY = {
    "ECONNREFUSED": "nothing listens on that port (connection refused)",
    "ENOTFOUND": "the host name does not resolve",
    "EAI_AGAIN": "the host name does not resolve (DNS did not answer)",
    "EHOSTUNREACH": "the host is unreachable",
    "ENETUNREACH": "the network is unreachable",
    "ECONNRESET": "the connection was reset",
    "ETIMEDOUT": "the connection timed out",
}


@dataclass(frozen=True)
class Endpoint:
    url: str  # resolved (its password registered with the masker)
    source: str  # where it was set, for the messages

    @property
    def shown(self) -> str:
        return mask(mask_url(self.url))


def playwright_version() -> str:
    """The Playwright Patrol runs (a server must have the same major.minor)."""
    return package_version("playwright")


def endpoint_of(config: Config) -> Endpoint | None:
    """The browser server to connect to, None to launch this machine's Chromium (also
    when ``connect`` is a ``${VAR:-}`` left empty). A bad value is a ``ConfigError``:
    positioned for patrol.yaml, naming the variable for the environment."""
    env = os.environ.get(ENV, "").strip()
    if env:
        if not WS_URL.match(env):
            raise ConfigError(f"{ENV}={mask_url(env)!r}: expected the ws:// or wss:// URL of a Playwright "
                              "browser server, e.g. ws://browser.internal:3000/")
        return _registered(Endpoint(env, ENV))
    raw = config.settings.browser.connect
    if raw is None:
        return None
    try:
        url = interpolate(raw).strip()
    except MissingVariable as e:
        raise config.problem(("browser", "connect"), str(e)) from None
    if not url:
        return None
    if not WS_URL.match(url):
        raise config.problem(("browser", "connect"), "expected the ws:// or wss:// URL of a Playwright browser "
                                                     f"server, got {mask(mask_url(url))!r}")
    return _registered(Endpoint(url, "patrol.yaml browser.connect"))


def _registered(endpoint: Endpoint) -> Endpoint:
    password = urlsplit(endpoint.url).password
    if password:
        MASKER.add(password)
    return endpoint


async def connect(pw: Playwright, endpoint: Endpoint, *, headless: bool, timeout_ms: float = CONNECT_TIMEOUT_MS) -> Browser:
    """The server's Chromium for this engine. ``headless`` goes as a launch option (a
    server without a display cannot honour false: it says so and that is the error)."""
    headers = {LAUNCH_OPTIONS_HEADER: json.dumps({"headless": headless})}
    try:
        browser = await pw.chromium.connect(endpoint.url, timeout=timeout_ms, headers=headers)
    except PlaywrightError as e:
        raise connect_error(endpoint, str(e), timeout_ms) from None
    return browser


def connect_error(endpoint: Endpoint, text: str, timeout_ms: float) -> RobotError:
    """Playwright's connect error as the robot error a person can act on."""
    shown = endpoint.shown
    text = mask(text.replace(endpoint.url, shown))
    where = f"the browser server at {shown} ({endpoint.source})"
    mismatch = _MISMATCH.search(text)
    if mismatch or "version mismatch" in text:
        server = mismatch.group(1) if mismatch else "another version"
        ours = playwright_version()
        return BrowserVersionMismatch(
            f"{where} runs Playwright {server}, Patrol uses Playwright {ours}: run the browser server from "
            f"Playwright {_minor(ours)} (`python -m patrol.browser_server` of this Patrol, or "
            f"`npx playwright@{_minor(ours)} run-server`)")
    why = _unreachable(text, timeout_ms)
    if why is not None:
        return BrowserServerUnreachable(
            f"cannot reach {where}: {why}; check that `python -m patrol.browser_server` (or `playwright "
            "run-server`) runs there and that this machine can reach its host and port")
    return BrowserNotFound(f"{where} could not start a browser: {_detail(text)}")


def _detail(text: str) -> str:
    """Playwright's first line, and the words of the box it draws around the cause (a
    headed launch on a server without a display, a missing executable...)."""
    detail = first_line(text.removeprefix("BrowserType.connect: "))
    boxed = " ".join(line.strip("║ ") for line in text.splitlines() if line.startswith("║") and line.strip("║ "))
    return f"{detail} ({boxed.removesuffix(' <3 Playwright Team')})" if boxed else detail


def _unreachable(text: str, timeout_ms: float) -> str | None:
    """Why nothing usable answered, or None when a server answered (and failed later)."""
    for code, words in _WHY.items():
        if code in text:
            return words
    if re.search(r"Timeout [\d.]+ms exceeded", text):
        return f"no answer within {timeout_ms / 1000:g}s"
    status = re.search(r"WebSocket error: \S+ (\d{3} [^\n]*)", text)
    if status:
        code = status.group(1)
        if code.startswith("401"):
            hint = (" (the browser server wants its token: add ?token=... to browser.connect, e.g. "
                    "${secret:BROWSER_TOKEN})")
        elif code.startswith("40"):
            hint = " (is the path right? Patrol's browser server listens on /)"
        else:
            hint = ""
        return f"it answered {code.strip()} instead of a Playwright connection{hint}"
    if "WebSocket error" in text:
        return first_line(text.removeprefix("BrowserType.connect: "))
    return None


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


async def answers(browser: Browser) -> bool:
    """The server still answers for this browser: one round trip (a remote browser has
    no local process to ask the kernel about, and a host that vanished without closing
    the connection leaves it looking connected)."""
    try:
        session = await asyncio.wait_for(browser.new_browser_cdp_session(), PROBE_TIMEOUT_S)
        await asyncio.wait_for(session.detach(), PROBE_TIMEOUT_S)
    except (PlaywrightError, TimeoutError):
        return False
    return True
