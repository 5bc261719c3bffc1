"""What an app session does on its own, watched between and during actions: the app
left the foreground, crashed, a system dialog came on top (``AppStateWatch``), and a
screen that stays frozen while something waits for it to change (``FreezeWatch``).
``Watcher`` rate-limits the looking and turns what it saw into ``DriverEvents``.

It knows nothing of Appium: the session strategy hands it the functions to call."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from ...core.evidence import AppStateEvent
from ...core.vocabulary import Kind, Reason
from ...errors import ActionFailed
from ..base import DriverEvents

OBSERVE_EVERY_S = 0.5  # web: read Chrome's logs; native: ask which app is in front
FREEZE_SAMPLE_S = 1.0  # one screenshot a second while a wait for a change is on
FREEZE_MIN_S = 2.0
FREEZE_MIN_SAMPLES = 3

Shoot = Callable[[], Awaitable[bytes]]
Ask = Callable[[], Awaitable[bool]]
Look = Callable[[DriverEvents], Awaitable[None]]

# Packages that are the system's own UI on top of the app, not another app.
ANDROID_SYSTEM_UI = (
    "android", "com.android.systemui", "com.android.permissioncontroller", "com.google.android.permissioncontroller",
    "com.android.packageinstaller", "com.google.android.packageinstaller",
)
IOS_SYSTEM_UI = ("com.apple.springboard",)
APP_STATE_WORDS = {0: "not installed", 1: "not running", 2: "running in the background (suspended)",
                   3: "running in the background", 4: "running in the foreground"}


class FreezeWatch:
    """Screenshots while something waits for the screen to change; frozen when every
    one of them was identical for the whole wait."""

    def __init__(self, shoot: Shoot, busy: Ask, delay_s: float = 0.0) -> None:
        self.shoot, self.busy_now = shoot, busy
        self.t0 = time.monotonic()
        self.next_at = self.t0 + delay_s
        self.first: bytes | None = None
        self.first_at = 0.0
        self.last_at = 0.0
        self.samples = 0
        self.changed = False
        self.busy: bool | None = None

    async def sample(self) -> None:
        now = time.monotonic()
        if self.changed or now < self.next_at:
            return
        png = await self.shoot()
        self.next_at = time.monotonic() + FREEZE_SAMPLE_S
        if self.first is None:
            self.first, self.first_at = png, now
        elif png != self.first:
            self.changed = True
        self.samples += 1
        self.last_at = now
        if self.frozen() and self.busy is None:
            # A spinner that does not move is "still loading" (spinner_stuck), not a frozen app.
            self.busy = await self.busy_now()

    def frozen(self) -> bool:
        return (not self.changed and self.samples >= FREEZE_MIN_SAMPLES
                and self.last_at - self.first_at >= FREEZE_MIN_S)

    @property
    def stalled(self) -> bool:
        """Frozen, and not because a spinner is (still) on screen."""
        return self.frozen() and not self.busy

    @property
    def seconds(self) -> float:
        return max(0.0, self.last_at - self.t0)


class AppStateWatch:
    """Whether the journey's app is still the one in front (native Android/iOS): each
    change is reported once, and an app the journey closed on purpose is no crash."""

    def __init__(self, system_ui: tuple[str, ...]) -> None:
        self.system_ui = system_ui
        self.expected: str | None = None
        self.reported: str | None = None

    def expect(self, app: str | None) -> None:
        self.expected, self.reported = app, None

    def closed(self, app: str) -> None:
        if app == self.expected:
            self.expected = None  # the journey closed it on purpose
        self.reported = None

    async def check(self, front: str | None, state_of: Callable[[str], Awaitable[int]],
                    events: DriverEvents) -> None:
        expected = self.expected
        if not expected or front is None:
            return
        if front == expected:
            self.reported = None
            return
        state = await state_of(expected)
        reason, message = self.classify(expected, front, state)
        if self.reported == reason:
            return
        self.reported = reason
        events.app_state.append(AppStateEvent(reason, message, app=expected, foreground=front, app_state=state))

    def classify(self, expected: str, front: str, state: int) -> tuple[Reason, str]:
        if state in (0, 1):
            return Reason.APP_CRASHED, (f"the app {expected} is {APP_STATE_WORDS[state]} any more (it crashed or "
                                        f"was closed); {front} is on screen")
        if front in self.system_ui:
            return Reason.SYSTEM_DIALOG, f"a system dialog ({front}) is on top of the app {expected}"
        return Reason.APP_LEFT_FOREGROUND, (f"the app {expected} left the foreground: {front} is on screen now "
                                            f"(the app is {APP_STATE_WORDS.get(state, 'in an unknown state')})")


class Watcher:
    """The driver's eyes behind the screen, rate-limited; what they saw waits in
    ``events`` until the runner drains it after the step."""

    def __init__(self, look: Look, shoot: Shoot, busy: Ask) -> None:
        self.look, self.shoot, self.busy = look, shoot, busy
        self.events = DriverEvents()
        self.observed_at = 0.0
        self.observed_since_drain = False
        self.expectation: FreezeWatch | None = None
        self.expected_what = ""

    async def observe(self, force: bool = False) -> None:
        """Read what happened behind the screen (errors of the looking itself are not the app's)."""
        now = time.monotonic()
        if not force and now - self.observed_at < OBSERVE_EVERY_S:
            return
        self.observed_at, self.observed_since_drain = now, True
        await self.look(self.events)

    async def observe_during_wait(self) -> None:
        """While an action waits for an element: stop at once if the app is gone."""
        before = len(self.events.app_state)
        await self.observe()
        if len(self.events.app_state) > before:
            state = self.events.app_state.pop()
            raise ActionFailed(state.message, reason=state.reason, evidence=dict(state.details()))

    def freeze_watch(self, delay_s: float = 0.0) -> FreezeWatch:
        return FreezeWatch(self.shoot, self.busy, delay_s)

    async def expecting(self, what: str, visible: bool) -> None:
        """An expectation polls for ``what``: while it is not there, watch whether the screen moves."""
        if visible:
            self.expectation = None
            return
        if self.expectation is None or self.expected_what != what:
            self.expectation, self.expected_what = self.freeze_watch(delay_s=0.5), what
        await self.expectation.sample()

    def failure_seen(self) -> bool:
        ev = self.events  # an alert answered as the journey armed it is no failure: dialogs do not count
        return bool(ev.page_errors or ev.failed_requests or ev.bad_documents or ev.app_state)

    def drain(self) -> DriverEvents:
        watch, self.expectation = self.expectation, None
        if watch is not None and watch.stalled:
            self.events.app_state.append(frozen_event(watch, self.expected_what))
        events, self.events = self.events, DriverEvents()
        self.observed_since_drain = False
        return events


def frozen_event(watch: FreezeWatch, waiting_for: str) -> AppStateEvent:
    return AppStateEvent(
        Reason.FROZEN_SCREEN, kind=Kind.STALL, fatal=True,
        message=f"the screen stayed frozen for {watch.seconds:.1f}s while waiting for {waiting_for} "
                f"to appear: all {watch.samples} screenshots were identical",
        waiting_for=waiting_for, screenshots=watch.samples)
