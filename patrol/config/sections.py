"""The small sections of patrol.yaml as frozen, typed settings, each with a pure
parser (no browser, image or scheduler library is imported here)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from ..core.text import suggest
from ..core.urls import mask_url
from ..yamlpos import Path
from .reader import Fields, Reader, has_variable
from .web import PAGE_KEYS, PageSettings, parse_page

DETECTORS = ("blank_screen", "broken_image", "forbidden_text", "clipped_text", "overlapping_text")
_LANG = re.compile(r"^[A-Za-z0-9_]+(\+[A-Za-z0-9_]+)*$")
_DB_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+._-]*://")
_URL = re.compile(r"^https?://[^\s/]+", re.IGNORECASE)
WS_URL = re.compile(r"^wss?://[^\s/?#]+(/\S*)?$", re.IGNORECASE)
DEFAULT_STATE_URL = "sqlite:///.patrol/state.db"


@dataclass(frozen=True)
class BrowserConfig:
    executable: str | None = None  # auto-detected when None (PATROL_CHROMIUM overrides)
    headless: bool = True
    args: tuple[str, ...] = ()
    page: PageSettings = PageSettings()  # locale, time zone, colour scheme, trace
    # A Playwright browser server instead of this machine's Chromium (``drivers.web._remote``);
    # as written: ``${...}`` is resolved by the engine (PATROL_BROWSER_CONNECT wins).
    connect: str | None = None


@dataclass(frozen=True)
class BudgetDefaults:
    """Project-wide step budgets; None where patrol.yaml does not say."""

    step_ms: float | None = None
    timeout_ms: float | None = None
    journey_ms: float | None = None


@dataclass(frozen=True)
class ForbiddenTextConfig:
    add: tuple[str, ...] = ()
    allow: tuple[str, ...] = ()


@dataclass(frozen=True)
class DetectorsConfig:
    blank_screen: bool = True
    broken_image: bool = True
    forbidden_text: bool = True
    clipped_text: bool = True
    overlapping_text: bool = True

    def on(self, name: str) -> bool:
        return bool(getattr(self, name, True))


@dataclass(frozen=True)
class TextLayoutConfig:
    """``text_layout:``: selectors whose text the clipped/overlapping text detectors never judge."""

    ignore: tuple[str, ...] = ()


OCR_ENGINES = ("tesseract", "rapidocr", "both")


@dataclass(frozen=True)
class OcrConfig:
    lang: str = "chi_sim+eng"  # Tesseract languages, joined with +
    cache: str | None = ".patrol/ocr-cache"  # readings kept by pixels, relative to patrol.yaml; None: off
    # Who reads: Tesseract, RapidOCR, or Tesseract with RapidOCR asked where it did not find the words.
    engine: str = "tesseract"


@dataclass(frozen=True)
class VisualConfig:
    baselines: str = "baselines"  # folder, relative to patrol.yaml
    settle_timeout_ms: float = 5000.0  # longest wait for a still screen before a screenshot


@dataclass(frozen=True)
class StateConfig:
    url: str = DEFAULT_STATE_URL  # as written: ${...} is resolved by ``store.state_settings``
    enabled: bool = True


@dataclass(frozen=True)
class AppiumDevice:
    url: str | None = None  # as written: ${...} is resolved by the driver
    capabilities: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))
    description: str | None = None


@dataclass(frozen=True)
class AppNetworkCapture:
    """``appium.network``: the capture proxy app journeys send their traffic through."""

    capture: bool = False  # off: app journeys see no requests of their own (as before)
    listen: str | None = None  # HOST:PORT; None: a free loopback port (the chromium driver's Chrome is pointed at it)
    ca_dir: str | None = None  # where the proxy keeps its CA (devices trust it); None: ~/.cache/patrol/mitmproxy
    upstream_ca: str | None = None  # a PEM file of CAs the app's own servers are signed by (a test server's)


@dataclass(frozen=True)
class AppiumConfig:
    url: str | None = None  # None: the default local server (PATROL_APPIUM_URL wins)
    session_timeout_ms: float = 300_000.0
    command_timeout_ms: float = 60_000.0
    devices: Mapping[str, AppiumDevice] = field(default_factory=lambda: MappingProxyType({}))
    network: AppNetworkCapture = AppNetworkCapture()


# -- parsers ------------------------------------------------------------------------------
BROWSER_KEYS = {"connect": "ws:// URL of a Playwright browser server (python -m patrol.browser_server)",
                "executable": "path of Chromium", "headless": "true/false", "args": "extra Chromium arguments",
                **PAGE_KEYS}
# Set where the browser server starts, not here: its options for the same two things.
_SERVER_SIDE = {"executable": "--chromium PATH", "args": "--arg=ARG"}


def parse_browser(r: Reader, raw: object) -> BrowserConfig:
    f = r.fields(raw, ("browser",), BROWSER_KEYS, expected="a mapping with " + ", ".join(BROWSER_KEYS))
    page = parse_page(r, {k: v for k, v in f.raw.items() if k in PAGE_KEYS}, ("browser",), keys=BROWSER_KEYS)
    connect = _connect(f)
    return BrowserConfig(f.string("executable", None), f.boolean("headless", True), f.strings("args"), page, connect)


def _connect(f: Fields) -> str | None:
    """``browser.connect``: a ws(s):// URL (one with ``${...}`` is checked once resolved).
    The server launches the browser, so ``executable`` and ``args`` beside it would be
    silently ignored (a server refuses a client's executable and arguments unless
    started ``--unsafe``): each is a problem at its own position."""
    value = f.string("connect", None)
    if value is None:
        return None
    if not has_variable(value) and not WS_URL.match(value):
        f.error("connect", "expected the ws:// or wss:// URL of a Playwright browser server, "
                           f"e.g. ws://browser.internal:3000/, got {mask_url(value)!r}")
        return None
    for key, option in _SERVER_SIDE.items():
        if key in f:
            f.error(key, f"with browser.connect the browser server decides this: remove {key} here and start "
                         f"the server with it (python -m patrol.browser_server {option})")
    return value


def parse_budgets(r: Reader, raw: object) -> BudgetDefaults:
    f = r.fields(raw, ("budgets",), {"step": "stall budget per step", "timeout": "hard limit per action",
                                     "journey": "time limit of the whole journey (default 10m)"},
                 expected="a mapping with step, timeout, journey")
    step = f.duration_ms("step", None, minimum_ms=1)
    timeout = f.duration_ms("timeout", None, minimum_ms=1)
    if step is not None and timeout is not None and timeout < step:
        f.error("timeout", f"the hard timeout ({f.raw['timeout']}) must be at least the step budget ({f.raw['step']})")
    return BudgetDefaults(step, timeout, f.duration_ms("journey", None, minimum_ms=1))


def parse_forbidden_text(r: Reader, raw: object) -> ForbiddenTextConfig:
    if isinstance(raw, list):  # a plain list adds to the defaults
        raw = {"add": raw}
    f = r.fields(raw, ("forbidden_text",), {"add": "more forbidden text", "allow": "default entries to switch off"},
                 expected="a list of text, or a mapping with add and allow")
    return ForbiddenTextConfig(f.strings("add"), f.strings("allow"))


def parse_detectors(r: Reader, raw: object) -> DetectorsConfig:
    f = r.fields(raw, ("detectors",), {k: "true/false" for k in DETECTORS},
                 expected="a mapping like {blank_screen: false}")
    return DetectorsConfig(*(f.boolean(k, True) for k in DETECTORS))


def parse_text_layout(r: Reader, raw: object) -> TextLayoutConfig:
    f = r.fields(raw, ("text_layout",), {"ignore": "selectors whose text is never judged"},
                 expected="a mapping like {ignore: [\".ticker\"]}")
    return TextLayoutConfig(f.strings("ignore"))


def parse_ocr(r: Reader, raw: object) -> OcrConfig:
    f = r.fields(raw, ("ocr",), {
        "engine": "who reads the screen: tesseract (default), rapidocr, or both (Tesseract, and RapidOCR "
                  "where Tesseract did not find the words)",
        "lang": "Tesseract languages, e.g. chi_sim+eng",
        "cache": "folder of the OCR cache, or false"}, expected="a mapping with engine, lang, cache")
    lang = f.string("lang", OcrConfig.lang, pattern=_LANG,
                    hint="expected Tesseract language names joined with +, e.g. chi_sim+eng")
    cache = None if f.raw.get("cache", True) is False else f.string("cache", OcrConfig.cache)
    engine = OcrConfig.engine
    if "engine" in f:
        value = f.raw["engine"]
        if isinstance(value, str) and value.strip().lower() in OCR_ENGINES:
            engine = value.strip().lower()
        else:
            f.error("engine", f"{value!r} is not an OCR engine{suggest(str(value), OCR_ENGINES)}; "
                              f"expected one of: {', '.join(OCR_ENGINES)}")
    return OcrConfig(lang, cache, engine)


def parse_visual(r: Reader, raw: object) -> VisualConfig:
    f = r.fields(raw, ("visual",), {"baselines": "baseline folder", "settle_timeout": "longest wait for a still screen"},
                 expected="a mapping with baselines, settle_timeout")
    return VisualConfig(f.string("baselines", VisualConfig.baselines),
                        f.duration_ms("settle_timeout", VisualConfig.settle_timeout_ms, maximum_ms=600_000))


def parse_state(r: Reader, raw: object) -> StateConfig:
    if raw is False:
        return StateConfig(enabled=False)
    f = r.fields(raw, ("state",), {"url": "SQLAlchemy database URL", "enabled": "true/false"},
                 expected="a mapping like {url: sqlite:///.patrol/state.db}, or false to switch incidents off")
    url = f.string("url", DEFAULT_STATE_URL)
    if not has_variable(url) and not _DB_URL.match(url):
        f.error("url", f"expected an SQLAlchemy URL such as sqlite:///.patrol/state.db, got {url!r}")
        url = DEFAULT_STATE_URL
    return StateConfig(url, f.boolean("enabled", True))


def parse_public_url(r: Reader, raw: object) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or not _URL.match(raw):
        r.error(("public_url",), "expected the http(s) URL under which report folders are served, "
                                 "e.g. https://patrol.example.com/reports")
        return None
    return raw.rstrip("/")


def parse_console_url(r: Reader, raw: object) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or not _URL.match(raw):
        r.error(("console_url",), "expected the http(s) address of the Patrol console (patrol serve), "
                                  "e.g. https://patrol.example.com")
        return None
    return raw.rstrip("/")


class PublicUrl(str):
    """``public_url`` as Patrol hands it on (a plain string: where report folders are
    served, "" when none are), carrying ``console_url`` along, so every place that builds
    message links learns where the console is without one more parameter everywhere."""

    console: str | None

    def __new__(cls, public_url: str | None, console: str | None = None) -> PublicUrl:
        obj = super().__new__(cls, public_url or "")
        obj.console = console
        return obj


def link_base(public_url: str | None, console_url: str | None) -> str | None:
    """What ``Config.public_url`` gives: the plain setting, or both settings in one value."""
    return PublicUrl(public_url, console_url) if console_url else public_url


def console_url_of(public_url: str | None) -> str | None:
    return public_url.console if isinstance(public_url, PublicUrl) else None


def parse_appium(r: Reader, raw: object) -> AppiumConfig:
    keys = {"url": "the Appium server (PATROL_APPIUM_URL wins)",
            "session_timeout": "how long creating a session may take (default 5m)",
            "command_timeout": "how long one command may take before the device counts as lost (default 60s)",
            "devices": "named devices: {NAME: {url, capabilities}}",
            "network": "the capture proxy app journeys' traffic goes through: {capture, listen, ca_dir, upstream_ca}"}
    f = r.fields(raw, ("appium",), keys, expected="a mapping with " + ", ".join(keys))
    devices: dict[str, AppiumDevice] = {}
    dev_raw = f.raw.get("devices")
    if dev_raw is not None and not isinstance(dev_raw, dict):
        f.error("devices", "expected a mapping of device name -> {url, capabilities}")
    for name, entry in (dev_raw or {}).items() if isinstance(dev_raw, dict) else ():
        d = r.fields(entry, f.at("devices") + (name,), {"url": "server, grid or device cloud for this device",
                                                        "capabilities": "capabilities of this device",
                                                        "description": "what the device is"},
                     expected="a mapping with url and/or capabilities")
        caps = d.raw.get("capabilities") or {}
        if not isinstance(caps, dict):
            d.error("capabilities", "expected a mapping of Appium capabilities")
            caps = {}
        devices[str(name)] = AppiumDevice(d.url("url", None), MappingProxyType(dict(caps)), d.string("description", None))
    return AppiumConfig(f.url("url", None),
                        f.duration_ms("session_timeout", AppiumConfig.session_timeout_ms, minimum_ms=1),
                        f.duration_ms("command_timeout", AppiumConfig.command_timeout_ms, minimum_ms=1),
                        MappingProxyType(devices), _app_network(r, f.raw.get("network"), f.at("network")))


_LISTEN = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):([0-9]{1,5})$")
APP_NETWORK_KEYS = {
    "capture": "true: app journeys' requests and WebSockets are recorded through Patrol's proxy (default false)",
    "listen": "HOST:PORT the proxy listens on, which the device's proxy setting names (default: a free port "
              "on 127.0.0.1, which the chromium driver's Chrome is pointed at)",
    "ca_dir": "folder of the proxy's CA, which devices trust (default ~/.cache/patrol/mitmproxy)",
    "upstream_ca": "PEM file of the CAs the app's own servers are signed by, when not a public CA",
}


def _app_network(r: Reader, raw: object, at: Path) -> AppNetworkCapture:
    if raw is None:
        return AppNetworkCapture()
    f = r.fields(raw, at, APP_NETWORK_KEYS, expected="a mapping with " + ", ".join(APP_NETWORK_KEYS))
    listen = f.string("listen", None, pattern=_LISTEN,
                      hint="expected HOST:PORT, e.g. 0.0.0.0:8080 or 127.0.0.1:8080")
    if listen is not None and not 0 < int(listen.rsplit(":", 1)[1]) < 65536:
        f.error("listen", f"port {listen.rsplit(':', 1)[1]} is not between 1 and 65535")
        listen = None
    return AppNetworkCapture(f.boolean("capture", False), listen, f.string("ca_dir", None),
                             f.string("upstream_ca", None))


def top_level_scalars(r: Reader, data: Mapping[object, object]) -> tuple[int, str, str]:
    """(concurrency, journeys folder, reports folder); an empty value is the default."""
    f = Fields(r, (), {k: data[k] for k in ("concurrency", "journeys", "reports") if data.get(k) is not None})
    return f.integer("concurrency", 1, 1, 64), f.string("journeys", "journeys"), f.string("reports", "reports")
