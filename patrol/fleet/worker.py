"""``patrol worker``: what one worker process shares between its tasks (the plan, the
state database, one Chromium, the concurrency limit), and the task itself.

A task is one firing of one journey. It first claims the firing in the state
database (``fleet_repo.claim``): a firing already finished is acknowledged and
nothing runs; one another worker holds is looked at again when that lease would run
out; otherwise a new attempt starts, with a lease renewed by a heartbeat thread
while the journey runs through the application core (``application.core.Patrol``: run,
confirmation reruns, reports, incidents), and the firing is finished once its run is recorded.

Every task is counted in the worker's metrics (``WorkerMetrics``: tasks by verdict,
queue wait, task duration, running tasks, attempts found interrupted; its runner
feeds the same runner series as ``patrol schedule``'s), served by ``--metrics-port``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError

from .. import console
from ..application.core import Patrol
from ..config import load_config
from ..metrics import WorkerMetrics
from ..runner import Runner, RunOptions
from ..runner.runner import EnginePool, new_run_id
from ..schedule.plan import Plan, build_plan
from ..schedule.robot import RobotLoop
from ..schedule.service_log import ServiceLog, now_local, tag
from ..store import StateStoreError, Store, fleet_repo, open_store, state_settings
from .leader import identity
from .recording import Recorder, Settle

if TYPE_CHECKING:
    from celery import Celery
    from celery.app.task import Task

    from ..config.schedules import ScheduleSpec
    from ..drivers.base import Engine
    from ..incidents.service import IncidentService
    from ..journey.model import Journey

RECYCLE_AFTER = 500
CLAIM_RETRY_S = 3.0


@dataclass
class TaskOutcome:
    """What a task did (returned by the task, and said in the worker's log)."""

    verdict: str  # ran / done / busy / unknown / error
    run_id: str | None = None
    status: str | None = None
    retry_in_s: float = 0.0


class Heartbeat:
    """Renews an attempt's lease every third of it; ``lost`` when the firing is no
    longer this attempt's (the journey is then cut short: someone else runs it)."""

    def __init__(self, store: Store, key: str, run_id: str, lease_s: float, on_lost: Callable[[], None]) -> None:
        self.store, self.key, self.run_id, self.lease_s, self.on_lost = store, key, run_id, lease_s, on_lost
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"patrol-lease-{run_id}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _loop(self) -> None:
        while not self._stop.wait(self.lease_s / 3):
            try:
                with self.store.write() as conn:
                    ours = fleet_repo.renew(conn, key=self.key, run_id=self.run_id,
                                            until=datetime.now(UTC) + timedelta(seconds=self.lease_s))
            except Exception:
                continue  # the database is away for a moment: the lease has two more tries
            if not ours:
                self.lost = True
                self.on_lost()
                return


class WorkerRuntime:
    def __init__(self, config_path: str | None, concurrency: int, name: str | None = None,
                 say: Callable[[str], None] | None = None) -> None:
        self.config_path = config_path
        self._say = say or console.say
        self.config = load_config(config_path)
        self.plan: Plan = build_plan(self.config)
        self.lease_s = self.config.settings.fleet.lease_s
        self.name = name or identity()  # who holds a firing's lease (fleet status, attempts)
        self.concurrency = concurrency
        self.metrics = WorkerMetrics()
        self.store: Store = open_store(state_settings(self.config).url)
        self.incidents = self._incident_service()
        self.robot = RobotLoop()
        self.pool = EnginePool(self._make_engine, recycle_after=RECYCLE_AFTER, on_restart=self.metrics.restarted)
        self.slots = asyncio.Semaphore(concurrency)
        self._lock = threading.Lock()

    def log(self, markup: str) -> None:
        self._say(f"[dim]{now_local(datetime.now(UTC))}[/] {markup}")

    def _incident_service(self) -> IncidentService | None:
        from ..incidents.service import IncidentService

        return IncidentService.from_config(self.config, store=self.store)

    def _make_engine(self, target: str) -> Engine:
        from ..drivers import engine_class

        return engine_class(target).from_config(self.plan.config, RunOptions())

    def lookup(self, job_id: str, journey: str) -> tuple[ScheduleSpec | None, Journey | None]:
        """The schedule and journey a task names; re-reads patrol.yaml and the journeys
        once when this worker does not know them (they changed after it started)."""
        for reload in (False, True):
            if reload:
                with self._lock:
                    self.config = load_config(self.config_path)
                    self.plan = build_plan(self.config)
            spec, journeys = self.plan.lookup(job_id)
            found = next((j for j in journeys if j.name == journey), None)
            if spec is not None and found is not None:
                return spec, found
        return None, None

    def run_task(self, task: Mapping[str, object]) -> TaskOutcome:
        """One delivery of a task, counted by its verdict (a task that raised: ``error``)."""
        queue = str(task.get("queue") or "web")  # the label: a queue name, never the firing key
        verdict = "error"
        self.metrics.tasks_running.inc()
        try:
            outcome = self._task(task, queue, datetime.now(UTC))
            verdict = outcome.verdict
            return outcome
        finally:
            self.metrics.tasks_running.dec()
            self.metrics.task_done(queue, verdict)

    def _task(self, task: Mapping[str, object], queue: str, received: datetime) -> TaskOutcome:
        key, label = str(task["key"]), str(task.get("schedule", "?"))
        spec, journey = self.lookup(str(task["job_id"]), str(task["journey"]))
        if spec is None or journey is None:
            with self.store.write() as conn:
                fleet_repo.drop(conn, key, datetime.now(UTC))
            self.log(f"{tag(label)} [yellow]dropped[/] {console.safe(key)}: no such schedule or journey in this "
                     "worker's patrol.yaml and journeys")
            return TaskOutcome("unknown")
        run_id = new_run_id()
        fire_time = datetime.fromisoformat(str(task["fire_time"]))
        try:
            with self.store.write() as conn:
                claim = fleet_repo.claim(conn, key=key, worker=self.name, run_id=run_id, now=datetime.now(UTC),
                                         lease_s=self.lease_s, row_if_missing={
                                             "job_id": spec.job_id, "schedule": spec.name, "journey": journey.name,
                                             "fire_time": fire_time, "queue": str(task.get("queue", "web"))})
        except (SQLAlchemyError, StateStoreError) as e:  # the database is away: the task waits, it is not lost
            self.log(f"{tag(label)} [yellow]the state database is away[/] ({type(e).__name__}): "
                     f"{console.safe(key)} is tried again in {CLAIM_RETRY_S:g}s")
            return TaskOutcome("busy", retry_in_s=CLAIM_RETRY_S)
        self.metrics.found_interrupted(len(claim.interrupted))
        for cut in claim.interrupted:
            self.log(f"{tag(label)} [magenta]run {console.safe(cut)} was cut short[/] (its worker was lost): "
                     "recorded as interrupted; running the firing again")
        if claim.verdict == fleet_repo.Verdict.DONE:
            self.log(f"{tag(label)} {console.safe(key)} already has its run: nothing to do")
            return TaskOutcome("done")
        if claim.verdict == fleet_repo.Verdict.BUSY:
            return TaskOutcome("busy", retry_in_s=claim.retry_in_s)
        enqueued = enqueued_at(task)
        if enqueued is not None:
            self.metrics.waited(queue, (received - enqueued).total_seconds())
        started = time.monotonic()
        try:
            return self._run(spec, journey, key, run_id)
        finally:
            self.metrics.task_took(queue, time.monotonic() - started)

    def _run(self, spec: ScheduleSpec, journey: Journey, key: str, run_id: str) -> TaskOutcome:
        plan = self.plan
        options = RunOptions(reports_root=plan.reports_root, base_url=spec.base_url, concurrency=self.concurrency,
                             run_id=run_id)
        runner = Runner(plan.config, options, [ServiceLog(self.log, spec.name), self.metrics], engines=self.pool,
                        slots=self.slots)
        self.log(f"{tag(spec.name)} running {console.safe(journey.name)} ({console.safe(key)})")
        lost = lambda: self.robot.soon(runner.interrupt)  # noqa: E731  # someone else runs this firing now
        beat = Heartbeat(self.store, key, run_id, self.lease_s, lost)
        try:
            with beat:
                outcome = Patrol(runner, incidents=self.incidents, call=self.robot.call, flush=False, index=True,
                                 schedule=spec.name, say=lambda m: self.log(f"{tag(spec.name)} {m}")).run([journey])
        except Exception as e:  # the robot broke down (not the app): said, and the firing does not stay claimed
            self.log(f"[red]error:[/] {tag(spec.name)} the firing failed: {console.safe(f'{type(e).__name__}: {e}')}")
            if not beat.lost and not self._recorder(spec.name).fail(key=key, run_id=run_id):
                self.log(f"[red]error:[/] {tag(spec.name)} could not end attempt {console.safe(run_id)}: the leader "
                         "takes its firing back once its lease has run out")
            return TaskOutcome("error", run_id)
        if outcome.record_error:
            self.log(f"[yellow]not recorded yet:[/] {console.safe(outcome.record_error)}")
        run = outcome.run
        if not beat.lost:
            settled = self._recorder(spec.name).settle(run, key=key, schedule=spec.name,
                                                      recorded=outcome.record_error is None)
            if settled != Settle.RECORDED:
                self.log(f"{tag(spec.name)} run {console.safe(run.run_id)} {settled}: not the firing's run")
                return TaskOutcome("error", run.run_id, str(run.status))
        self.metrics.run_recorded(run, spec.name)  # the firing's run (not one cut short or not its own)
        self.log(f"{tag(spec.name)} run {console.safe(run.run_id)} {run.status}: {console.safe(outcome.run_dir)}")
        return TaskOutcome("ran", run.run_id, str(run.status))

    def _recorder(self, schedule: str) -> Recorder:
        return Recorder(self.store, self.incidents, self.lease_s, lambda m: self.log(f"{tag(schedule)} {m}"))

    def close(self) -> None:
        try:
            self.robot.call(self.pool.close(), timeout=30)
        except Exception:
            pass
        self.robot.stop()
        self.store.close()


def enqueued_at(task: Mapping[str, object]) -> datetime | None:
    """When the scheduler sent the task (``enqueued_at``, ISO; a retried or redelivered
    task keeps its first); None when the task does not say (a task of an older scheduler)."""
    try:
        when = datetime.fromisoformat(str(task["enqueued_at"]))
    except (KeyError, ValueError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


_RUNTIME: WorkerRuntime | None = None


def install(runtime: WorkerRuntime | None) -> None:
    global _RUNTIME
    _RUNTIME = runtime


def register_task(app: Celery) -> Task:
    """The task every worker runs (its name is what the scheduler sends)."""
    from .app import TASK

    @app.task(name=TASK, bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)  # type: ignore[untyped-decorator]
    def run_firing(self: Task, **task: object) -> dict[str, str | None]:
        runtime = _RUNTIME
        assert runtime is not None, "the task runs in `patrol worker` only"
        outcome = runtime.run_task(task)
        if outcome.verdict == "busy":  # another worker runs it: look again when its lease would run out
            raise self.retry(countdown=max(1.0, outcome.retry_in_s + 1.0), kwargs=task)
        return {"verdict": outcome.verdict, "run_id": outcome.run_id, "status": outcome.status}

    return run_firing
