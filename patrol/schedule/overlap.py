"""No journey runs twice at once: which journeys are running for which schedule,
how many firings are in flight, and their runners (to cut them short on stop).

APScheduler's ``max_instances=1`` keeps one job from overlapping itself; this keeps
a journey selected by two schedules from running in both at once."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..core.clock import SYSTEM_CLOCK, Clock
from ..journey.model import Journey
from ..runner import Runner

WAIT_STEP_S = 0.2  # real seconds between looks while waiting for firings to end


@dataclass
class Claim:
    free: list[Journey]  # now marked running for this schedule
    busy: list[tuple[Journey, str]]  # running already: (journey, the schedule running it)


class Overlap:
    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        self.clock = clock
        self._cond = threading.Condition()
        self._busy: dict[str, str] = {}  # journey name -> schedule running it
        self._inflight = 0
        self._runners: set[Runner] = set()
        self._interrupting = False
        self._overlap_said: set[str] = set()  # job ids told "still running" once

    # -- firings ----------------------------------------------------------------------
    def claim(self, schedule: str, journeys: Sequence[Journey]) -> Claim:
        """Mark the journeys that are not running as running for ``schedule``."""
        with self._cond:
            free = [j for j in journeys if j.name not in self._busy]
            busy = [(j, self._busy.get(j.name, "?")) for j in journeys if j.name in self._busy]
            for j in free:
                self._busy[j.name] = schedule
            if free:
                self._inflight += 1
        return Claim(free, busy)

    def release(self, job_id: str, journeys: Sequence[Journey]) -> None:
        with self._cond:
            for j in journeys:
                self._busy.pop(j.name, None)
            self._inflight -= 1
            self._overlap_said.discard(job_id)
            self._cond.notify_all()

    def first_overlap(self, job_id: str) -> bool:
        """True the first time a job is found still running (say it once, not every second)."""
        with self._cond:
            first = job_id not in self._overlap_said
            self._overlap_said.add(job_id)
        return first

    # -- runners ------------------------------------------------------------------------
    def add_runner(self, runner: Runner, interrupt: Callable[[Runner], None]) -> None:
        with self._cond:
            self._runners.add(runner)
            if self._interrupting:
                interrupt(runner)

    def discard_runner(self, runner: Runner) -> None:
        with self._cond:
            self._runners.discard(runner)

    def interrupt_all(self, interrupt: Callable[[Runner], None]) -> None:
        """Cut running firings short, and any firing that starts from now on."""
        with self._cond:
            self._interrupting = True
            for runner in list(self._runners):
                interrupt(runner)

    # -- stopping -------------------------------------------------------------------------
    @property
    def inflight(self) -> int:
        with self._cond:
            return self._inflight

    def running(self) -> list[str]:
        with self._cond:
            return sorted(self._busy)

    def wait_idle(self, timeout: float, give_up: Callable[[], bool] = lambda: False) -> bool:
        """Wait until no firing is in flight, ``timeout`` (on the clock) passes or
        ``give_up()``; True when idle."""
        deadline = self.clock.monotonic() + timeout
        with self._cond:
            while self._inflight and self.clock.monotonic() < deadline and not give_up():
                self._cond.wait(WAIT_STEP_S)
            return not self._inflight
