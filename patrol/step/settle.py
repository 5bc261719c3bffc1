"""Before pixels are compared, let the screen settle: animations and caret off, then
wait (bounded) until the screenshots stop changing.

"Settled" means identical consecutive screenshots spanning a quiet window, not just
two in a row: a late banner that pushes the page down half a second after load is
exactly what customers see and what a two-shot check taken too early would miss.

A driver that can see inside the page (``Driver.page_busy``) shortens the wait: when
nothing is pending before either of two identical screenshots (no request in flight,
no timer due within the quiet window, no animation frame or DOM change a moment ago),
no late change is on its way, and the screen is settled without waiting the window
out; when, besides, the page counted no DOM change or animation frame between the two
reads around one screenshot, that screenshot is the settled screen (no second one).
The late banner above is a timer due in half a second: the page stays busy until it
has fired and the screen shows it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..drivers.base import Driver

SETTLE_INTERVAL_S = 0.15
QUIET_INTERVAL_S = 0.03  # between the two screenshots of a page that says it is quiet
PROBE_INTERVAL_S = 0.025  # asking a busy page again: the screenshot waits for it to be quiet
QUIET_WINDOW_MS = 750
# A timer due a little after the quiet window would still have been caught by some
# window-only waits: look that much further ahead.
HORIZON_MARGIN_MS = 250


@dataclass(frozen=True)
class SettleResult:
    """How waiting for a still screen went (kept on ``StepEvidence.settle``)."""

    settled: bool  # False: still changing when the timeout ran out
    waited_ms: float
    screenshots: int  # taken while waiting

    def to_dict(self) -> dict[str, bool | float | int]:
        """JSON-able, for a finding's evidence."""
        return asdict(self)


async def settle_screen(driver: Driver, timeout_ms: float, quiet_ms: float = QUIET_WINDOW_MS) -> tuple[bytes, SettleResult]:
    """The last screenshot, and whether the screen held still for ``quiet_ms`` before
    ``timeout_ms`` (or, sooner, twice alike while the page said nothing was pending)."""
    await driver.prepare_for_screenshot()
    t0 = time.monotonic()
    horizon = quiet_ms + HORIZON_MARGIN_MS
    quiet_before = await _page_quiet(driver, horizon)
    changes = driver.screen_changes()
    previous = await driver.screenshot()
    shots = 1
    stable_since = time.monotonic()
    while True:
        quiet_now = await _wait_quiet(driver, horizon, QUIET_INTERVAL_S if quiet_before else 0.0, SETTLE_INTERVAL_S)
        if quiet_before and quiet_now and changes is not None and driver.screen_changes() == changes:
            # Quiet before the screenshot and after it, and no DOM change or animation frame
            # in between: a second screenshot would show the same pixels.
            waited = (time.monotonic() - t0) * 1000
            return previous, SettleResult(settled=True, waited_ms=round(waited, 1), screenshots=shots)
        current = await driver.screenshot()
        shots += 1
        now = time.monotonic()
        waited = (now - t0) * 1000
        if current != previous:
            stable_since = now
        elif (quiet_before and quiet_now) or (now - stable_since) * 1000 >= quiet_ms:
            return current, SettleResult(settled=True, waited_ms=round(waited, 1), screenshots=shots)
        if waited >= timeout_ms:
            return current, SettleResult(settled=False, waited_ms=round(waited, 1), screenshots=shots)
        previous, quiet_before, changes = current, quiet_now, driver.screen_changes()


async def _page_quiet(driver: Driver, horizon_ms: float) -> bool:
    """True only when the driver can tell and nothing in the page is pending."""
    return await driver.page_busy(horizon_ms) == []


async def _wait_quiet(driver: Driver, horizon_ms: float, least_s: float, most_s: float) -> bool:
    """Wait ``least_s``, then until the page says it is quiet (True) or ``most_s`` has
    passed (False); a driver that cannot tell waits ``most_s``, as before."""
    deadline = time.monotonic() + most_s
    await asyncio.sleep(least_s)
    while True:
        busy = await driver.page_busy(horizon_ms)
        if busy == []:
            return True
        left = deadline - time.monotonic()
        if busy is None or left <= PROBE_INTERVAL_S:
            await asyncio.sleep(max(0.0, left))
            return False
        await asyncio.sleep(PROBE_INTERVAL_S)
