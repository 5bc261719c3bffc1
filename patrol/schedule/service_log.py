"""The service's console lines: a local timestamp, the schedule as ``[name]``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from .. import console
from ..durations import format_ms
from ..journey.model import Journey
from ..results import JourneyResult
from ..runner import Listener


def tag(name: str) -> str:
    """``[name]`` as literal text in console markup."""
    return console.safe(f"[{name}]")


def now_local(now: datetime) -> str:
    return now.astimezone().strftime("%Y-%m-%d %H:%M:%S")


class ServiceLog(Listener):
    """One line per journey (and per finding) with the time and the schedule."""

    def __init__(self, log: Callable[[str], None], schedule: str) -> None:
        self.log, self.schedule = log, schedule

    def journey_finished(self, journey: Journey, result: JourneyResult) -> None:
        s = console.safe
        where = tag(self.schedule)
        icon = console.ICONS.get(result.status, "?")
        attempt = f" (attempt {result.attempt})" if result.attempt > 1 else ""
        self.log(f"{where} {icon} {s(result.name)}{attempt}: {result.status} in {format_ms(result.duration_ms)}")
        if result.robot_error:
            self.log(f"{where}   [magenta]robot error[/] ({s(result.robot_error['reason'])}): "
                     f"{s(result.robot_error['message'])}")
        for step in result.steps:
            for f in step.findings:
                colour = console.KIND_COLOURS.get(f.kind, "red")
                self.log(f"{where}   [{colour}]{f.kind}[/] ({s(f.reason)}) at "
                         f"'{s(step.name or step.index)}': {s(f.message)}")
