"""Before pixels are compared, let the screen settle: animations and caret off, then
wait (bounded) until the screenshots stop changing.

"Settled" means identical consecutive screenshots spanning a quiet window, not just
two in a row: a late banner that pushes the page down half a second after load is
exactly what customers see and what a two-shot check taken too early would miss.
"""

from __future__ import annotations

import asyncio
import time

SETTLE_INTERVAL_S = 0.15
QUIET_WINDOW_MS = 750


async def settle_screen(driver, timeout_ms: float, quiet_ms: float = QUIET_WINDOW_MS) -> tuple[bytes, dict]:
    await driver.prepare_for_screenshot()
    t0 = time.monotonic()
    previous = await driver.screenshot()
    shots = 1
    stable_since = time.monotonic()
    while True:
        await asyncio.sleep(SETTLE_INTERVAL_S)
        current = await driver.screenshot()
        shots += 1
        now = time.monotonic()
        waited = (now - t0) * 1000
        if current != previous:
            stable_since = now
        elif (now - stable_since) * 1000 >= quiet_ms:
            return current, {"settled": True, "waited_ms": round(waited, 1), "screenshots": shots}
        if waited >= timeout_ms:
            return current, {"settled": False, "waited_ms": round(waited, 1), "screenshots": shots}
        previous = current
