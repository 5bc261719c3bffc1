"""The APScheduler side: the scheduler with its job store in the state database
(table ``patrol_schedule_jobs``), and the sync from the plan's wanted jobs.

Jobs have explicit ids (``schedule:<name>``, ``journey:<name>``, ``patrol:retention``)
and are added with ``replace_existing``; a job whose timing did not change is kept
as it is in the store (with its next run time), so after downtime its missed
firings coalesce into one run when it is at most ``grace`` late."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from .. import console
from ..config.schedules import ScheduleSpec
from ..store import Store
from ..store.schema import SCHEDULE_JOBS_TABLE
from .plan import Plan

if TYPE_CHECKING:  # APScheduler 3 ships no type hints: mypy sees its names, untyped
    from apscheduler.events import JobExecutionEvent, JobSubmissionEvent
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.job import Job
    from apscheduler.schedulers.background import BackgroundScheduler


def wanted_jobs(plan: Plan) -> dict[str, ScheduleSpec]:
    wanted = {spec.job_id: spec for spec in plan.active}
    if plan.prune is not None:
        wanted[plan.prune.job_id] = plan.prune
    return wanted


def _scheduler_class() -> type[BackgroundScheduler]:
    # APScheduler loads when the service starts, not when a command imports this module
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.schedulers.base import STATE_RUNNING

    class Scheduler(BackgroundScheduler):  # type: ignore[misc]  # APScheduler 3 is untyped
        """APScheduler's loop runs one more round after ``shutdown()`` (and would submit
        due jobs to a stopped pool); a stopping or paused scheduler fires nothing."""

        def _process_jobs(self) -> float | None:
            if self.state != STATE_RUNNING:
                return None
            wait: float | None = super()._process_jobs()
            return wait

    return Scheduler


_slot = threading.local()


def current_slot() -> datetime | None:
    """The fire time the job running on this thread was scheduled for (the fleet
    keys each firing by it); None outside a job."""
    value: datetime | None = getattr(_slot, "when", None)
    return value


def _executor_class() -> type[ThreadPoolExecutor]:
    from apscheduler.executors.base import run_job
    from apscheduler.executors.pool import ThreadPoolExecutor

    class SlotExecutor(ThreadPoolExecutor):  # type: ignore[misc]  # APScheduler 3 is untyped
        """APScheduler's thread pool, telling the job which slot it fires (APScheduler
        passes the run times to its executor only)."""

        def _do_submit_job(self, job: Job, run_times: list[datetime]) -> None:
            def run() -> object:
                _slot.when = run_times[-1] if run_times else None
                try:
                    return run_job(job, job._jobstore_alias, run_times, self._logger.name)
                finally:
                    _slot.when = None

            def callback(f: Future[object]) -> None:
                exc = f.exception()
                if exc:
                    self._run_job_error(job.id, exc, exc.__traceback__)
                else:
                    self._run_job_success(job.id, f.result())

            self._pool.submit(run).add_done_callback(callback)

    return SlotExecutor


@dataclass
class Due:
    """What ``patrol schedule --once`` fires now, and what it says about the rest."""

    job_ids: list[str] = field(default_factory=list)
    coalesced: list[tuple[str, int]] = field(default_factory=list)  # (label, missed firings)
    missed: list[tuple[str, datetime, float, int]] = field(default_factory=list)  # (label, when, late s, grace s)


class JobSync:
    def __init__(self, store: Store, log: Callable[[str], None]) -> None:
        self.store = store
        self.log = log
        self.scheduler: BackgroundScheduler | None = None

    def open(self, workers: int, listener: Callable[[JobExecutionEvent | JobSubmissionEvent], None],
             mask: int) -> None:
        """Create the scheduler on the job store and start it paused (nothing fires yet);
        ``listener`` hears the job events ``mask`` selects (executed, missed, failed; max instances)."""
        # APScheduler loads when the service starts, not when a command imports this module
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

        logging.getLogger("apscheduler").setLevel(logging.ERROR)  # we say it ourselves, once
        self.scheduler = scheduler = _scheduler_class()(
            jobstores={"default": SQLAlchemyJobStore(engine=self.store.engine, tablename=SCHEDULE_JOBS_TABLE)},
            executors={"default": _executor_class()(max_workers=workers)},
            job_defaults={"coalesce": True, "max_instances": 1},
            timezone=UTC,
            # The job store is the state database: when it blinks, look again in a second (APScheduler's
            # 10 s would skip the slots that fall due meanwhile, and the next slot would not fire on time).
            jobstore_retry_interval=1,
        )
        scheduler.add_listener(listener, mask)
        scheduler.start(paused=True)

    def _opened(self) -> BackgroundScheduler:
        if self.scheduler is None:
            raise RuntimeError("the job scheduler is not open")
        return self.scheduler

    def sync(self, plan: Plan, fire: Callable[..., None]) -> None:
        """Make the job store hold exactly the plan's jobs (``fire`` is what they call)."""
        wanted = wanted_jobs(plan)
        scheduler = self._opened()
        existing = {job.id: job for job in scheduler.get_jobs()}
        for job_id in existing:
            if job_id not in wanted:
                scheduler.remove_job(job_id)
                self.log(f"removed job {console.safe(job_id)} (no longer in the configuration)")
        for job_id, spec in wanted.items():
            job = existing.get(job_id)
            if job is not None and job.kwargs.get("fingerprint") == spec.fingerprint:
                if job.name != spec.name:
                    scheduler.modify_job(job_id, name=spec.name)
                continue  # unchanged: keep it with its next run time
            scheduler.add_job(
                fire, trigger=spec.trigger(), id=job_id, name=spec.name, replace_existing=True,
                kwargs={"job_id": job_id, "fingerprint": spec.fingerprint},
                coalesce=True, max_instances=1, misfire_grace_time=max(1, int(round(spec.grace))),
            )
            if job is not None:
                self.log(f"updated job {console.safe(job_id)}: {console.safe(spec.describe())}")

    def jobs(self) -> list[Job]:
        return list(self.scheduler.get_jobs()) if self.scheduler is not None else []

    def job(self, job_id: str) -> Job | None:
        """The job with this id; None when there is none (or no scheduler yet)."""
        return self.scheduler.get_job(job_id) if self.scheduler is not None else None

    def next_fire_times(self) -> list[tuple[str, datetime | None]]:
        return [(job.name or job.id, job.next_run_time) for job in self.jobs()]

    def take_due(self, now: datetime) -> Due:
        """The jobs due at ``now`` (missed firings coalesced; later than the grace:
        skipped), each moved on to its first firing after ``now``."""
        due = Due()
        for job in self.jobs():
            if job.next_run_time is None or job.next_run_time > now:
                continue
            latest, count, t = job.next_run_time, 0, job.next_run_time
            while t is not None and t <= now:
                latest, count = t, count + 1
                t = job.trigger.get_next_fire_time(t, now)
            late = (now - latest).total_seconds()
            label = job.name or job.id
            grace = job.misfire_grace_time or 0
            if late <= grace:
                due.job_ids.append(job.id)
                if count > 1:
                    due.coalesced.append((label, count))
            else:
                due.missed.append((label, latest, late, grace))
            self._opened().modify_job(job.id, next_run_time=t)
        return due

    def pause(self) -> None:
        try:
            self._opened().pause()
        except Exception:
            pass

    def resume(self) -> None:
        self._opened().resume()

    def shutdown(self) -> None:
        if self.scheduler is not None:
            try:
                self.scheduler.shutdown(wait=False)
            except Exception:
                pass
