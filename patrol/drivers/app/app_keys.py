"""Journey keys for app journeys (``target: app``), parsed by the loader:

- ``capabilities``: the Appium capabilities of the session — ``platformName``,
  ``appium:automationName``, ``appium:app`` or ``appium:appPackage``/``appium:appActivity``
  or ``appium:bundleId``, ``appium:udid``, any ``appium:`` extras and vendor options
  (``goog:chromeOptions``, ``bstack:options``...). A key without a prefix that is not a
  W3C capability gets ``appium:`` (``app`` is ``appium:app``), as Appium's clients do.
  A relative ``app`` path is taken relative to the journey file.
- ``appium_device``: the name of a device entry in ``patrol.yaml`` (``appium.devices``):
  its server URL (a local server, a grid, a device cloud) and its capabilities, under the
  journey's own.

Values may use ``${VAR}`` and ``${secret:NAME}``; secrets are masked wherever Patrol
writes capabilities (a session that could not be created echoes them, masked).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ...core.text import type_name
from ...journey.loader import journey_key
from ...journey.parsing import INVALID, Invalid, ParseContext, YamlPath
from ._appium_support import Capabilities, is_browser_session, prefixed

CAPABILITIES_SCHEMA = {
    "type": "object",
    "description": "Appium capabilities; keys without a prefix get appium: (app -> appium:app)",
    "properties": {
        "platformName": {"type": "string", "description": "Android, iOS, linux (chromium driver)..."},
        "appium:automationName": {"type": "string", "description": "UiAutomator2, XCUITest, Espresso, chromium..."},
        "automationName": {"type": "string"},
        "appium:app": {"type": "string", "description": "path or URL of the .apk/.ipa/.app, or a cloud app id"},
        "app": {"type": "string"},
        "appium:appPackage": {"type": "string"},
        "appPackage": {"type": "string"},
        "appium:appActivity": {"type": "string"},
        "appActivity": {"type": "string"},
        "appium:bundleId": {"type": "string"},
        "bundleId": {"type": "string"},
        "appium:udid": {"type": "string"},
        "udid": {"type": "string"},
        "browserName": {"type": "string", "description": "a browser session: chrome (chromium driver, Android), Safari (iOS)"},
    },
    "additionalProperties": True,
}
DEVICE_SCHEMA = {"type": "string", "minLength": 1, "description": "a device entry of patrol.yaml appium.devices"}


@journey_key("capabilities", "Appium capabilities of an app journey (platformName, appium:automationName, appium:app...)",
             CAPABILITIES_SCHEMA)
def _capabilities(value: object, path: YamlPath, ctx: ParseContext) -> Capabilities | Invalid:
    if ctx.target != "app":
        return ctx.error(path, "capabilities are for app journeys: add 'target: app'", key=True)
    if not isinstance(value, dict):
        return ctx.error(path, f"expected a mapping of Appium capabilities, got {type_name(value)}")
    caps: Capabilities = {}
    given: dict[str, str] = {}
    ok = True
    for key, v in value.items():
        if not isinstance(key, str) or not key.strip():
            ctx.error(path, f"capability names are strings, got {key!r}")
            ok = False
            continue
        name = prefixed(key)
        if name in caps:
            ctx.error(path + (key,), f"'{key}' is the same capability as '{given[name]}' ({name})", key=True)
            ok = False
            continue
        caps[name], given[name] = v, key
    raw = ctx.located.data if isinstance(ctx.located.data, dict) else {}
    platform = caps.get("platformName")
    if platform is None and "appium_device" not in raw:
        ctx.error(path, "missing 'platformName' (Android, iOS, or linux for the chromium driver), "
                        "or name a patrol.yaml device with 'appium_device'")
        ok = False
    elif platform is not None and (not isinstance(platform, str) or not platform.strip()):
        ctx.error(path + (given["platformName"],), f"platformName must be a string, got {type_name(platform)}")
        ok = False
    for name in ("appium:automationName", "appium:app", "appium:appPackage", "appium:appActivity",
                 "appium:bundleId", "appium:udid", "browserName"):
        if name in caps and not isinstance(caps[name], str):
            ctx.error(path + (given[name],), f"expected a string, got {type_name(caps[name])}")
            ok = False
    app = caps.get("appium:app")
    if isinstance(app, str) and app and "://" not in app and not Path(app).is_absolute():
        here = Path(ctx.file).resolve().parent / app
        if here.exists():
            caps["appium:app"] = str(here)
    if ok and "appium_device" not in raw and not is_browser_session(caps):
        ok = _refuse_css(raw, ctx)
    return caps if ok else INVALID


@journey_key("appium_device", "a device entry of patrol.yaml appium.devices (server URL + capabilities)", DEVICE_SCHEMA)
def _appium_device(value: object, path: YamlPath, ctx: ParseContext) -> str | Invalid:
    if ctx.target != "app":
        return ctx.error(path, "appium_device is for app journeys: add 'target: app'", key=True)
    return ctx.string(value, path)


def _refuse_css(raw: Mapping[str, object], ctx: ParseContext) -> bool:
    """CSS selectors need web content (a browser session, e.g. the chromium driver)."""
    ok = True

    def walk(node: object, path: YamlPath) -> None:
        nonlocal ok
        if isinstance(node, dict):
            if len(node) == 1 and "css" in node:
                ctx.error(path + ("css",), "css locators need a browser session (capabilities with browserName, "
                                           "e.g. the chromium driver); in a native app use id, accessibility_id, "
                                           "xpath, uiautomator, ios_predicate, text or point", key=True)
                ok = False
                return
            for k, v in node.items():
                walk(v, path + (k,))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, path + (i,))

    for top in ("steps", "redact"):
        if top in raw:
            walk(raw[top], (top,))
    return ok
