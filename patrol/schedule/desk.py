"""The console's view of the schedules: every job, its next three fire times, its last
result; with a running scheduler (``patrol schedule --console-port``) also pause,
resume and run now. ``patrol serve`` alone reads the plan and can only show it."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TypedDict

from ..config import Config
from ..store import Store
from ..store import console_repo as repo
from .plan import Plan, build_plan

if TYPE_CHECKING:
    from apscheduler.job import Job

    from .service import SchedulerService

NOT_LIVE = "pausing, resuming and running a schedule need the scheduler: start the console with patrol schedule --console-port P"


class DeskError(Exception):
    """A refused schedule action (unknown job, or no scheduler to do it)."""


class ScheduleRow(TypedDict):
    """One schedule as the console shows it (and the API sends it)."""

    id: str  # the job id: schedule:<name> or journey:<name>
    name: str
    describe: str
    origin: str
    enabled: bool
    paused: bool
    journeys: list[str]  # the journeys it selects, by name
    next: list[datetime]  # its next fire times (none when paused or disabled)
    last: repo.RowDict | None  # its newest run (id, status, when)


def _next_times(plan: Plan, job_id: str, now: datetime, count: int = 3) -> list[datetime]:
    spec = plan.specs.get(job_id)
    if spec is None or not spec.enabled:
        return []
    trigger = spec.trigger()
    times: list[datetime] = []
    t = trigger.get_next_fire_time(None, now)
    while t is not None and len(times) < count:
        times.append(t)
        t = trigger.get_next_fire_time(t, t + timedelta(microseconds=1))
    return times


class PlanDesk:
    """Read only: the schedules patrol.yaml and the journeys declare."""

    live = False

    def __init__(self, config: Config, store: Store) -> None:
        self.config, self.store = config, store

    def plan(self) -> Plan:
        return build_plan(self.config)

    def paused(self, job_id: str) -> bool:
        return False

    def jobs(self, now: datetime) -> list[ScheduleRow]:
        plan = self.plan()
        with self.store.read() as conn:
            last = repo.last_run_per_schedule(conn)
        out: list[ScheduleRow] = []
        for job_id, spec in sorted(plan.specs.items()):
            paused = self.paused(job_id)
            out.append({"id": job_id, "name": spec.name, "describe": spec.describe(), "origin": spec.origin,
                        "enabled": spec.enabled, "paused": paused,
                        "journeys": [j.name for j in plan.selected.get(job_id, [])],
                        "next": [] if paused else _next_times(plan, job_id, now), "last": last.get(spec.name)})
        return out

    def running(self) -> list[str]:
        return []

    def check(self, job_id: str) -> None:
        """Raise DeskError unless ``job_id`` can be paused, resumed or run now."""
        raise DeskError(NOT_LIVE)

    def pause(self, job_id: str) -> None:
        raise DeskError(NOT_LIVE)

    def resume(self, job_id: str) -> None:
        raise DeskError(NOT_LIVE)

    def run_now(self, job_id: str) -> None:
        raise DeskError(NOT_LIVE)


class ServiceDesk(PlanDesk):
    """Backed by the running scheduler: its plan, its job store, its firing path."""

    live = True

    def __init__(self, service: SchedulerService) -> None:
        super().__init__(service.config, service.store)
        self.service = service

    def plan(self) -> Plan:
        return self.service.plan

    def _job(self, job_id: str) -> Job:
        job = self.service.job_sync.job(job_id) if self.service.parts.jobs else None
        if job is None or job_id not in self.service.plan.specs:
            raise DeskError(f"there is no schedule {job_id}")
        return job

    def paused(self, job_id: str) -> bool:
        try:
            return self._job(job_id).next_run_time is None
        except DeskError:
            return False

    def running(self) -> list[str]:
        return list(self.service.overlap.running())

    def check(self, job_id: str) -> None:
        self._job(job_id)

    def pause(self, job_id: str) -> None:
        self._job(job_id).pause()

    def resume(self, job_id: str) -> None:
        self._job(job_id).resume()

    def run_now(self, job_id: str) -> None:
        """Fire the job at once, on the same path as a timed firing (overlap rules included)."""
        self._job(job_id)
        threading.Thread(target=self.service.fire, args=(job_id,), name=f"patrol-run-now-{job_id}", daemon=True).start()
