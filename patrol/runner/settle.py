"""Before pixels are compared, let the screen settle: animations and caret off, then
wait (bounded) until two consecutive screenshots are identical."""

from __future__ import annotations

import asyncio
import time

SETTLE_INTERVAL_S = 0.15


async def settle_screen(driver, timeout_ms: float) -> tuple[bytes, dict]:
    await driver.prepare_for_screenshot()
    t0 = time.monotonic()
    previous = await driver.screenshot()
    shots = 1
    while True:
        await asyncio.sleep(SETTLE_INTERVAL_S)
        current = await driver.screenshot()
        shots += 1
        waited = (time.monotonic() - t0) * 1000
        if current == previous:
            return current, {"settled": True, "waited_ms": round(waited, 1), "screenshots": shots}
        if waited >= timeout_ms:
            return current, {"settled": False, "waited_ms": round(waited, 1), "screenshots": shots}
        previous = current
