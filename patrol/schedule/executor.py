"""Where a firing's journeys run, as the scheduler sees it: one ``Executor`` interface,
implemented here in this process (``local.LocalExecutor``) and by the fleet's workers
(``patrol.fleet.scheduling.FleetExecutor``, one task per journey). The scheduler only
schedules: ``SchedulerService.fire`` hands the firing to its executor without knowing
which kind it is; the CLI (``patrol schedule``) chooses and composes it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..config import Config
    from ..config.schedules import ScheduleSpec
    from ..core.clock import Clock
    from ..incidents.service import IncidentService
    from ..journey.model import Journey
    from ..metrics import Metrics
    from ..runner import Runner
    from ..runner.runner import EnginePool
    from ..store import Store
    from .index_writer import IndexWriter
    from .jobs import JobSync
    from .overlap import Overlap
    from .plan import Plan
    from .robot import RobotLoop


@dataclass(frozen=True)
class Firing:
    """One firing of a schedule: its journeys (those it selects now) and the slot it fires for."""

    plan: Plan
    spec: ScheduleSpec
    journeys: list[Journey]
    slot: datetime


class Leadership(Protocol):
    """Several schedulers over one fleet: only the one holding the leader lock schedules."""

    @property
    def leading(self) -> bool: ...
    def tick(self, jobs: JobSync, plan: Plan, fire: Callable[..., None], *, resume: bool = True) -> None: ...
    def standby_note(self) -> str: ...


class Executor(Protocol):
    @property
    def leadership(self) -> Leadership | None:
        """The leader lock when several schedulers share this executor's workers, else None."""
        ...

    def execute(self, firing: Firing) -> bool:
        """Run or send the firing's journeys; True when it ran or sent any (the firings counted)."""
        ...

    def close(self) -> None: ...


class Host(Protocol):
    """What the running scheduler lends its executor (read when a firing comes: a reload
    changes the plan, the incident service and the concurrency limit)."""

    @property
    def config(self) -> Config: ...
    @property
    def store(self) -> Store: ...
    @property
    def state_url(self) -> str: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def metrics(self) -> Metrics: ...
    @property
    def overlap(self) -> Overlap: ...
    @property
    def robot(self) -> RobotLoop: ...
    @property
    def pool(self) -> EnginePool: ...
    @property
    def slots(self) -> asyncio.Semaphore | None: ...
    @property
    def incidents(self) -> IncidentService | None: ...
    @property
    def index(self) -> IndexWriter: ...
    def log(self, markup: str) -> None: ...
    def log_error(self, text: str) -> None: ...
    def interrupt(self, runner: Runner) -> None: ...


ExecutorFactory = Callable[[Host], Executor]
