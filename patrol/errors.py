"""Patrol's exception hierarchy.

Two families that must never be confused:
- ``InputError``: the user gave us something wrong (journey, config, CLI). Exit code 2.
- ``RobotError``: the robot itself could not work (no browser, browser crashed,
  Appium unreachable). Exit code 3, and never reported as a finding about the app.
Findings about the app are *data* (``patrol.results.Finding``), not exceptions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .core.vocabulary import Kind, Reason

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_INPUT = 2
EXIT_ROBOT = 3


class PatrolError(Exception):
    """Base of every error Patrol raises on purpose."""

    exit_code = 1


@dataclass
class Problem:
    """One validation problem, positioned in its file."""

    file: str
    line: int
    column: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.field}: {self.message}"


class InputError(PatrolError):
    """Bad input from the user: exit code 2."""

    exit_code = EXIT_INPUT

    def __init__(self, message: str, problems: list[Problem] | None = None):
        super().__init__(message)
        self.problems = problems or []


class JourneyError(InputError):
    """A journey file does not validate."""


class ConfigError(InputError):
    """patrol.yaml does not validate."""


class RobotError(PatrolError):
    """The robot could not do its job; not a finding about the app."""

    exit_code = EXIT_ROBOT
    reason = "robot_error"


class BrowserNotFound(RobotError):
    reason = "browser_not_found"


class BrowserServerUnreachable(BrowserNotFound):
    """``browser.connect``: no Playwright browser server answers at the URL."""

    reason = "browser_server_unreachable"


class BrowserVersionMismatch(BrowserNotFound):
    """``browser.connect``: the browser server runs another Playwright version (it refuses the client)."""

    reason = "browser_version_mismatch"


class BrowserCrashed(RobotError):
    reason = "browser_crashed"


class AppiumUnreachable(RobotError):
    reason = "appium_unreachable"


class SessionNotCreated(RobotError):
    reason = "session_not_created"


class DeviceLost(RobotError):
    reason = "device_lost"


class ReportsUnavailable(RobotError):
    """The run folder cannot be written (``reports:`` unmounted, full, not a folder)."""

    reason = "reports_unavailable"


class ActionFailed(PatrolError):
    """An action could not be performed on the app (element missing, not clickable...).

    Raised by drivers; the runner turns it into a ``breakpoint`` finding (a ``stall``
    when the app froze rather than broke, e.g. ``frozen_screen``)."""

    def __init__(self, message: str, reason: Reason | str = Reason.ACTION_FAILED, evidence: Mapping[str, object] | None = None,
                 kind: Kind | str = Kind.BREAKPOINT):
        super().__init__(message)
        self.reason = Reason(reason)
        self.evidence: dict[str, object] = dict(evidence or {})
        self.kind = Kind(kind)
