"""What a driver can do beyond its core, and what each kind of journey target offers.

Every driver navigates, acts on a located element, waits, reads elements and answers
dialogs, takes screenshots and drains its evidence (the ``Driver`` core). The rest is a
``Capability``: a driver declares the ones it has (``Driver.capabilities``), an action,
a check or a journey key declares the ones it needs (``needs``), and ``patrol validate``
refuses a step that needs one its journey's target lacks, so "not supported" is a
validation error, never a surprise at run time.

This module sits at the bottom: the journey loader (which must not import drivers) and
the drivers both read the same table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum


class Capability(StrEnum):
    """The value is how messages name it ("needs frames")."""

    FRAMES = "frames"  # frame: on a step or group (iframes)
    WINDOWS = "popups and windows"  # switch_to: popup | main
    HOVER = "hover"  # hover: a pointer that rests on something
    DRAG = "drag and drop"  # drag: {from, to}
    UPLOADS = "file uploads"  # upload: into an <input type=file>
    APP_CONTROL = "app control"  # launch:, activate:, terminate: (an app's lifecycle)
    NETWORK = "network evidence"  # network: every request of a step, first/third party, blocking


# The driver methods each capability is: a driver declares a capability exactly when it
# implements them (``tests/test_capabilities.py`` holds every driver class to it, and
# every "not supported" raise in ``patrol/drivers/`` to one of these methods).
METHODS: dict[Capability, tuple[str, ...]] = {
    Capability.FRAMES: ("within_frame",),
    Capability.WINDOWS: ("switch_to",),
    Capability.HOVER: ("hover",),
    Capability.DRAG: ("drag",),
    Capability.UPLOADS: ("upload",),
    Capability.APP_CONTROL: ("app_control",),
    Capability.NETWORK: ("watch_network",),
}

NONE: frozenset[Capability] = frozenset()


@dataclass(frozen=True)
class Profile:
    """A kind of journey target and the capabilities its driver has."""

    name: str
    journeys: str  # how a message names its journeys: "web journeys"
    offers: frozenset[Capability]


# Playwright on Chromium.
WEB = Profile("web", "web journeys", frozenset({
    Capability.FRAMES, Capability.WINDOWS, Capability.HOVER, Capability.DRAG, Capability.UPLOADS, Capability.NETWORK,
}))
# Appium on a native app (UiAutomator2, XCUITest, any other native driver).
APP_NATIVE = Profile("app-native", "native app journeys", frozenset({Capability.APP_CONTROL}))
# Appium on a browser (the chromium driver, Chrome on Android, Safari on iOS).
APP_BROWSER = Profile("app-browser", "app journeys in a browser session", NONE)
# An app journey whose session is not known when it is validated (its capabilities come
# from a patrol.yaml device): what either kind of app session may have.
APP = Profile("app", "app journeys", APP_NATIVE.offers | APP_BROWSER.offers)

# The kinds a session really turns out to be (APP is only "not known yet").
PROFILES = (WEB, APP_NATIVE, APP_BROWSER)

# Appium capabilities that make a session an app session rather than a browser on the device.
APP_CAPS = ("appium:app", "appium:appPackage", "appium:appActivity", "appium:bundleId", "appium:appWaitPackage")


def is_browser_session(caps: Mapping[str, object]) -> bool:
    """A browser on the device (or the chromium driver): web content, CSS works."""
    return bool(caps.get("browserName")) and not any(caps.get(k) for k in APP_CAPS)


def profile_for(target: str, session: Mapping[str, object] | None = None) -> Profile:
    """The profile of a journey target; for an app, its Appium capabilities (normalised,
    ``appium:`` prefixes added) decide native or browser when the journey gives them."""
    if target != "app":
        return WEB
    if session is None:
        return APP
    return APP_BROWSER if is_browser_session(session) else APP_NATIVE


def lacking(needs: Iterable[Capability], profile: Profile) -> list[Capability]:
    """What of ``needs`` the profile does not offer, in declaration order."""
    wanted = set(needs)
    return [c for c in Capability if c in wanted and c not in profile.offers]


def refusal(key: str, missing: Capability, profile: Profile) -> str:
    """The validate message: ``'frame' needs frames, which app journeys don't have (it
    works in web journeys)``."""
    where = [p.journeys for p in PROFILES if missing in p.offers]
    return (f"'{key}' needs {missing}, which {profile.journeys} don't have"
            + (f" (it works in {' and '.join(where)})" if where else ""))
