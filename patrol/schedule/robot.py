"""The robot thread: one asyncio loop that drives the browsers of every firing
(CPU work such as image diff and OCR runs in worker threads, never on this loop)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from typing import TypeVar

from ..runner.runner import EnginePool

T = TypeVar("T")
IDLE_BROWSER_CLOSE_S = 600.0  # close Chromium after this long without journeys
IDLE_CHECK_S = 30.0


class RobotLoop:
    """A thread running the asyncio loop that drives the browsers."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="patrol-robot", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def call(self, coro: Coroutine[object, None, T], timeout: float | None = None) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def soon(self, fn: Callable[..., object], *args: object) -> None:
        self.loop.call_soon_threadsafe(fn, *args)

    def spawn(self, make: Callable[[], Coroutine[object, None, None]]) -> None:
        """Start a background task on the loop."""
        self.soon(lambda: self.loop.create_task(make()))

    def stop(self) -> None:
        if self.loop.is_closed():
            return

        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            self.call(cancel_all(), timeout=10)
        except Exception:
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        if not self.thread.is_alive():
            self.loop.close()


def browser_idle(pool: EnginePool | None, now: float, limit: float = IDLE_BROWSER_CLOSE_S) -> bool:
    """Engines are open and nothing used them for ``limit`` seconds (``now`` on the
    pool's clock: ``time.monotonic``, which stamps ``last_release``)."""
    return pool is not None and bool(pool.engines) and not pool.busy() and now - pool.last_release > limit


async def close_idle_browsers(pool: Callable[[], EnginePool | None]) -> None:
    """Chromium is not kept running through a day of nothing (a nightly-only set-up).
    On the loop's own timer: the pool stamps its releases with ``time.monotonic``."""
    while True:
        await asyncio.sleep(IDLE_CHECK_S)
        current = pool()
        if current is not None and browser_idle(current, time.monotonic()):
            await current.close()
