"""Pure helpers of the Appium driver (no server needed): capabilities (normalising,
merging, the chromium driver's defaults, masking), key names, the translation of
WebDriver errors, and reading Chrome's logs into ``DriverEvents``."""

from __future__ import annotations

import json
import re
import shutil
import sys
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, TypeAlias
from urllib.parse import urlsplit, urlunsplit

from ...core.capabilities import is_browser_session as is_browser_session  # one rule, shared with validate
from ...core.evidence import BadDocument, FailedRequest, PageError
from ...core.jsontypes import json_number
from ...core.net import free_port
from ...core.text import first_line as _first_line
from ...secrets import MASK, MASKER
from .._page_scripts import BENIGN_FAILURES

if TYPE_CHECKING:
    from ...journey.model import Device
    from ..base import DriverEvents

# W3C capabilities that take no vendor prefix; every other capability without a
# prefix is an Appium one (``app`` -> ``appium:app``), as the Appium clients do.
W3C_CAPS = frozenset({
    "browserName", "browserVersion", "platformName", "acceptInsecureCerts", "pageLoadStrategy", "proxy",
    "setWindowRect", "timeouts", "strictFileInteractability", "unhandledPromptBehavior", "webSocketUrl",
    "userAgent",
})
# Capability keys whose values are credentials even when they did not come through
# ${secret:...} (cloud options: accessKey, password, token...).
_SECRET_KEY = re.compile(r"pass(word)?|secret|token|access_?key|api_?key|^key$|auth|credential", re.I)

# The machine's Chromium under Appium's chromium driver: headless, no network chatter.
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
    "--disable-default-apps", "--disable-dev-shm-usage", "--hide-scrollbars", "--font-render-hinting=none",
]
CHROMEDRIVER_CANDIDATES = ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")


def prefixed(name: str) -> str:
    return name if ":" in name or name in W3C_CAPS else f"appium:{name}"


# Appium capabilities as a journey or patrol.yaml gives them (any YAML value under a name).
Capabilities: TypeAlias = dict[str, object]


def normalise(caps: Mapping[str, object]) -> Capabilities:
    """``{app: x}`` -> ``{appium:app: x}``; W3C and vendor-prefixed keys stay."""
    return {prefixed(k): v for k, v in caps.items()}


def merge(*layers: Mapping[str, object]) -> Capabilities:
    """Later layers win; vendor option mappings (``goog:chromeOptions``, ``bstack:options``)
    are merged one level deep rather than replaced."""
    out: Capabilities = {}
    for layer in layers:
        for key, value in normalise(layer or {}).items():
            before = out.get(key)
            if isinstance(value, dict) and isinstance(before, dict):
                out[key] = {**before, **value}
            else:
                out[key] = value
    return out


def cap(caps: Mapping[str, object], name: str, default: object = None) -> object:
    return caps.get(prefixed(name), default)


def cap_text(caps: Mapping[str, object], name: str) -> str | None:
    """A capability that names something (``appPackage``, ``bundleId``): its text, None when unset."""
    value = cap(caps, name)
    return None if value is None else str(value)


def mapping(value: object) -> dict[str, object]:
    """A capability's nested options (``goog:chromeOptions``...) to read or extend: {} when it is not a mapping."""
    return {str(k): v for k, v in value.items()} if isinstance(value, dict) else {}


def text_list(value: object) -> list[str]:
    """A capability's list of words (``args``): each as text; [] when it is not a list."""
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else []


def is_chromium_driver(caps: Mapping[str, object]) -> bool:
    return str(cap(caps, "automationName", "")).lower() == "chromium"


def host_platform() -> str:
    return {"darwin": "mac", "win32": "windows"}.get(sys.platform, "linux")


def find_chromedriver() -> str | None:
    for path in CHROMEDRIVER_CANDIDATES:
        if shutil.which(path):
            return path
    return shutil.which("chromedriver")


def chromium_defaults(caps: Mapping[str, object], device: Device | None, *, headed: bool, chromium: str | None,
                      chromedriver: str | None) -> Capabilities:
    """What the chromium driver needs to drive this machine's Chromium as a phone
    without downloading anything; the journey's own values win."""
    out = dict(caps)
    out.setdefault("platformName", host_platform())
    if chromedriver:
        out.setdefault("appium:executable", chromedriver)
    out.setdefault("appium:autodownloadEnabled", False)
    # Each session its own chromedriver port: on the default one a second session's
    # chromedriver would kill the first's.
    out.setdefault("appium:chromedriverPort", free_port())
    out.setdefault("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    options = mapping(out.get("goog:chromeOptions"))
    if chromium:
        options.setdefault("binary", chromium)
    args = [a for a in CHROMIUM_ARGS if not (headed and a.startswith("--headless"))]
    own = text_list(options.get("args"))
    own_flags = {a.split("=", 1)[0] for a in own}
    options["args"] = [a for a in args if a.split("=", 1)[0] not in own_flags] + own
    if "mobileEmulation" not in options and device is not None:
        emulation: dict[str, object] = {
            "deviceMetrics": {"width": device.width, "height": device.height, "pixelRatio": device.scale,
                              "mobile": bool(device.mobile), "touch": bool(device.mobile)},
        }
        if device.user_agent:
            emulation["userAgent"] = device.user_agent
        options["mobileEmulation"] = emulation
    out["goog:chromeOptions"] = options
    return out




# -- masking ----------------------------------------------------------------------------
def mask_caps(obj: object, key: str = "") -> object:
    """Capabilities as they may be shown: secrets masked (by value and by key name)."""
    if isinstance(obj, dict):
        return {k: mask_caps(v, k) for k, v in obj.items()}
    if isinstance(obj, list):
        return [mask_caps(v, key) for v in obj]
    if isinstance(obj, str):
        if key and _SECRET_KEY.search(key.split(":")[-1]) and obj:
            return MASK
        return mask_url(MASKER.mask(obj))
    return obj


def mask_url(url: str) -> str:
    """``https://user:KEY@hub/wd/hub`` -> ``https://user:******@hub/wd/hub``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if not parts.scheme or parts.password is None:
        return MASKER.mask(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    netloc = f"{parts.username}:{MASK}@{host}"
    return MASKER.mask(urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)))


def caps_text(caps: Mapping[str, object]) -> str:
    return json.dumps(mask_caps(caps), ensure_ascii=False, sort_keys=True)


# -- errors ------------------------------------------------------------------------------
# Words in a WebDriver error that mean the session (device, app under automation,
# browser) is gone, not that one command failed.
_LOST = (
    "session is either terminated or not started", "invalid session id", "no such session",
    "instrumentation process is not running", "could not proxy command to the remote server",
    "socket hang up", "econnrefused", "econnreset", "chrome not reachable", "not connected to devtools",
    "target window already closed", "window was already closed", "device offline", "device not found",
    "session deleted because of page crash", "was terminated due to", "unable to connect to the remote",
    "xcodebuild exited", "wda is not running", "the device was disconnected",
)
_UNSUPPORTED = (
    "not yet been implemented", "not implemented", "unknown command", "unsupported execute method",
    "could not be found, or a request was received using an http method", "unknown method",
    "is not supported", "not supported for this session",
)


def first_line(e: BaseException | str, limit: int = 300) -> str:
    """An Appium/Selenium error's first line (the shared helper, capped for messages)."""
    return _first_line(e, limit)


# Selenium, urllib3 and http.client load inside the functions below: this module loads with
# every command (key names, capabilities), they are needed only once a session exists.
def is_connection_error(e: BaseException) -> bool:
    import http.client

    u3: ModuleType | None
    try:
        import urllib3.exceptions as u3
    except ImportError:  # pragma: no cover
        u3 = None
    if isinstance(e, (ConnectionError, http.client.RemoteDisconnected, http.client.IncompleteRead)):
        return True
    if u3 is not None and isinstance(e, (u3.MaxRetryError, u3.ProtocolError, u3.NewConnectionError)):
        return True
    return False


def is_session_lost(e: BaseException) -> bool:
    from selenium.common.exceptions import InvalidSessionIdException, NoSuchDriverException

    if isinstance(e, (InvalidSessionIdException, NoSuchDriverException)):
        return True
    text = str(getattr(e, "msg", None) or e).lower()
    return any(marker in text for marker in _LOST)


def is_unsupported(e: BaseException) -> bool:
    from selenium.common.exceptions import UnknownMethodException

    if isinstance(e, (UnknownMethodException, NotImplementedError)):
        return True
    text = str(getattr(e, "msg", None) or e).lower()
    return any(marker in text for marker in _UNSUPPORTED)


# -- keys ---------------------------------------------------------------------------------
# Key names as journeys write them (Playwright's names plus the phone's own buttons).
ANDROID_KEYCODES = {
    "Enter": 66, "Tab": 61, "Escape": 111, "Backspace": 67, "Delete": 112, "Space": 62,
    "ArrowUp": 19, "ArrowDown": 20, "ArrowLeft": 21, "ArrowRight": 22, "PageUp": 92, "PageDown": 93,
    "Home": 3, "Back": 4, "Menu": 82, "Search": 84, "AppSwitch": 187, "VolumeUp": 24, "VolumeDown": 25,
    "Camera": 27, "Power": 26,
}
IOS_BUTTONS = {"Home": "home", "VolumeUp": "volumeup", "VolumeDown": "volumedown"}


def webdriver_key(name: str) -> str | None:
    """A key name -> the character WebDriver sends for it (None when unknown)."""
    from selenium.webdriver.common.keys import Keys

    table = {
        "Enter": Keys.ENTER, "Tab": Keys.TAB, "Escape": Keys.ESCAPE, "Backspace": Keys.BACKSPACE,
        "Delete": Keys.DELETE, "Space": Keys.SPACE, "ArrowUp": Keys.ARROW_UP, "ArrowDown": Keys.ARROW_DOWN,
        "ArrowLeft": Keys.ARROW_LEFT, "ArrowRight": Keys.ARROW_RIGHT, "PageUp": Keys.PAGE_UP,
        "PageDown": Keys.PAGE_DOWN, "Home": Keys.HOME, "End": Keys.END,
    }
    if name in table:
        return table[name]
    if len(name) == 1:
        return name
    return None


# -- Chrome's logs -> DriverEvents ---------------------------------------------------------
_CALLS = ("Fetch", "XHR")


class ChromeLogReader:
    """Turns Chrome's ``performance`` and ``browser`` log entries into the same events
    the Playwright driver reports: failed/5xx fetches, error documents, uncaught errors."""

    def __init__(self) -> None:
        self._requests: dict[str, tuple[str, str]] = {}  # requestId -> (url, method)

    def performance(self, entries: Sequence[Mapping[str, object]], events: DriverEvents) -> None:
        for entry in entries:
            message = _devtools_message(entry)
            if message is None:
                continue
            method, params = message.get("method"), mapping(message.get("params"))
            if method == "Network.requestWillBeSent":
                if len(self._requests) > 5000:
                    self._requests.clear()
                req = mapping(params.get("request"))
                self._requests[_text(params, "requestId")] = (_text(req, "url"), _text(req, "method", "GET"))
            elif method == "Network.responseReceived":
                rtype, response = params.get("type"), mapping(params.get("response"))
                status = int(json_number(response, "status") or 0)
                url = _text(response, "url")
                if rtype == "Document" and status >= 400:
                    events.bad_documents.append(BadDocument(url, status))
                elif rtype in _CALLS and status >= 500:
                    method_ = self._requests.get(_text(params, "requestId"), (url, "GET"))[1]
                    events.failed_requests.append(FailedRequest(url, method_, status, f"HTTP {status}"))
            elif method == "Network.loadingFailed":
                error = _text(params, "errorText")
                if params.get("canceled") or any(b in error for b in BENIGN_FAILURES):
                    continue
                if params.get("type") in (*_CALLS, "Document"):
                    url, method_ = self._requests.get(_text(params, "requestId"), ("", "GET"))
                    events.failed_requests.append(FailedRequest(url, method_, None, error))

    @staticmethod
    def browser(entries: Sequence[Mapping[str, object]], events: DriverEvents, url: str) -> None:
        for entry in entries:
            if entry.get("level") != "SEVERE" or entry.get("source") != "javascript":
                continue
            message = str(entry.get("message", ""))
            # "http://host/app.js 12:5 Uncaught TypeError: ..." -> the error itself
            m = re.search(r"\bUncaught\b.*", message)
            events.page_errors.append(PageError(m.group(0) if m else message, url))


def _devtools_message(entry: Mapping[str, object]) -> dict[str, object] | None:
    """The DevTools event a performance log entry carries (its ``message`` is JSON text); None when it is not one."""
    raw = entry.get("message")
    if not isinstance(raw, (str, bytes)):
        return None
    try:
        outer = json.loads(raw)
    except ValueError:
        return None
    inner = outer.get("message") if isinstance(outer, dict) else None
    return mapping(inner) if isinstance(inner, dict) else None


def _text(obj: Mapping[str, object], key: str, default: str = "") -> str:
    """The text under ``key`` of a DevTools event; ``default`` when missing or not text."""
    value = obj.get(key, default)
    return value if isinstance(value, str) else default


# -- words for errors and queries -----------------------------------------------------------
def reason(e: BaseException) -> str:
    """Why a connection failed, in a few words (refused, unknown host, timed out...)."""
    chain: list[BaseException] = []
    seen: BaseException | None = e
    while seen is not None and len(chain) < 10:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    if any(isinstance(x, ConnectionRefusedError) or getattr(x, "errno", None) == 111 for x in chain):
        return "connection refused (nothing listens there)"
    lowered = " ".join(str(x) for x in chain).lower()
    if "connection refused" in lowered or "errno 111" in lowered:
        return "connection refused (nothing listens there)"
    if any(w in lowered for w in ("name or service not known", "nodename nor servname", "temporary failure in name")):
        return "unknown host"
    if "timed out" in lowered or "timeout" in lowered:
        return "timed out"
    return MASKER.mask(first_line(e, 200)) or type(e).__name__


def server_message(e: BaseException) -> str:
    """The server's own words for a failed session, without the client's stack."""
    text = str(getattr(e, "msg", None) or e).strip()
    text = text.split("\nStacktrace:")[0].strip()
    return " ".join(text.split())[:800] or type(e).__name__


def css_escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"')


def xq(text: str) -> str:
    """An XPath string literal for any text."""
    if "'" not in text:
        return f"'{text}'"
    if '"' not in text:
        return f'"{text}"'
    return "concat(" + ", \"'\", ".join(f"'{p}'" for p in text.split("'")) + ")"
