"""Time as a dependency: the scheduler and the dispatcher ask a ``Clock`` for the
wall time, the monotonic time and to sleep, so tests can drive them with a
``FakeClock`` instead of sleeping on the wall clock.

Stdlib only; imports nothing of Patrol's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    def now(self) -> datetime:
        """Wall time, an aware UTC datetime."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (for deadlines and intervals)."""
        ...

    def sleep(self, seconds: float) -> None: ...

    def wait(self, event: threading.Event, timeout: float | None) -> bool:
        """``event.wait(timeout)`` with the timeout measured on this clock."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def wait(self, event: threading.Event, timeout: float | None) -> bool:
        return event.wait(timeout)


SYSTEM_CLOCK = SystemClock()


class FakeClock:
    """A clock the test moves with ``advance()``. ``sleep``/``wait`` block (in real
    time) until the fake time reaches their end, the event is set, or ``real_timeout``
    passes (a safety net so a forgotten ``advance`` fails a test instead of hanging it).

    ``autoadvance``: a sleeper moves the time itself to its wake-up time (for code
    that only sleeps on one thread, where nothing else would advance it)."""

    def __init__(self, start: datetime | None = None, *, autoadvance: bool = False, real_timeout: float = 60.0):
        self._wall = start or datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
        self._mono = 1000.0
        self.autoadvance = autoadvance
        self.real_timeout = real_timeout
        self._cond = threading.Condition()
        self.sleepers = 0  # threads blocked in sleep()/wait() now (tests wait for them)

    def now(self) -> datetime:
        with self._cond:
            return self._wall

    def __call__(self) -> datetime:  # usable where a plain ``() -> datetime`` is expected
        return self.now()

    def monotonic(self) -> float:
        with self._cond:
            return self._mono

    def advance(self, seconds: float) -> None:
        with self._cond:
            self._mono += seconds
            self._wall += timedelta(seconds=seconds)
            self._cond.notify_all()

    def sleep(self, seconds: float) -> None:
        self._block(seconds, lambda: False)

    def wait(self, event: threading.Event, timeout: float | None) -> bool:
        if timeout is None:
            return event.wait(self.real_timeout)
        self._block(timeout, event.is_set)
        return event.is_set()

    def _block(self, seconds: float, done: Callable[[], bool]) -> None:
        real_deadline = time.monotonic() + self.real_timeout
        with self._cond:
            until = self._mono + max(0.0, seconds)
            if self.autoadvance and not done():
                self._mono, self._wall = until, self._wall + timedelta(seconds=max(0.0, seconds))
                self._cond.notify_all()
                return
            self.sleepers += 1
            try:
                while self._mono < until and not done():
                    left = real_deadline - time.monotonic()
                    if left <= 0:
                        raise TimeoutError(f"FakeClock: nobody advanced the time to {until} (now {self._mono})")
                    # Short real waits: an Event being set does not notify this condition.
                    self._cond.wait(min(left, 0.01))
            finally:
                self.sleepers -= 1
