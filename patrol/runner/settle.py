"""Before pixels are compared, let the screen settle: animations and caret off, then
wait (bounded) until the screenshots stop changing.

"Settled" means identical consecutive screenshots spanning a quiet window, not just
two in a row: a late banner that pushes the page down half a second after load is
exactly what customers see and what a two-shot check taken too early would miss.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..drivers.base import Driver

SETTLE_INTERVAL_S = 0.15
QUIET_WINDOW_MS = 750


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
    """The last screenshot, and whether the screen held still for ``quiet_ms`` before ``timeout_ms``."""
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
            return current, SettleResult(settled=True, waited_ms=round(waited, 1), screenshots=shots)
        if waited >= timeout_ms:
            return current, SettleResult(settled=False, waited_ms=round(waited, 1), screenshots=shots)
        previous = current
