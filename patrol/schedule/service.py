"""``patrol schedule``: Patrol as a long-running service, a thin composition of:

- ``jobs.JobSync``: APScheduler's ``BackgroundScheduler`` with its job store in the
  state database (table ``patrol_schedule_jobs``); it submits firings to its thread
  pool; a firing goes to the executor (``executor.Executor``) the CLI composed: the local
  one runs it here through the application core (``patrol.application.core.Patrol``,
  the same path as ``patrol run``), the fleet's sends it to the workers;
- ``overlap.Overlap``: no journey ever runs twice at once (APScheduler's
  ``max_instances=1`` per job, and, run here, a journey selected by two schedules is
  skipped by the second while the first runs it);
- ``control``: signals (SIGTERM/SIGINT: stop; SIGHUP: reload) and watching
  patrol.yaml and the journey files, from the main thread;
- ``robot.RobotLoop``: one thread running the asyncio loop that drives one shared
  Chromium (``EnginePool``), at most ``concurrency`` journeys at once over all firings;
- ``sides``: the instance lock (one scheduler per state database); the CLI starts the
  incident dispatcher thread, the Prometheus endpoint and the console from there beside
  the service (``on_reload`` and ``on_stopping`` tell it when to restart or stop them);
- ``index_writer.IndexWriter``: reports/index.html (debounced).

Time comes from an injected ``Clock`` (``patrol.core.clock``; the system's by default).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .. import console
from ..config import load_config
from ..core.clock import SYSTEM_CLOCK, Clock
from ..drivers import engine_class
from ..errors import InputError, PatrolError
from ..incidents.display import describe_flush
from ..incidents.service import IncidentService
from ..journey.loader import discover
from ..metrics import FiringResult, Metrics
from ..retention.prune import prune
from ..runner import Runner, RunOptions
from ..runner.runner import EnginePool
from ..store import Store, open_store, state_settings
from .control import FileWatch, Signals
from .executor import Executor, ExecutorFactory, Firing, Leadership
from .index_writer import IndexWriter
from .jobs import JobSync, current_slot, wanted_jobs
from .local import LocalExecutor
from .overlap import Overlap
from .plan import Plan, build_plan
from .robot import RobotLoop, close_idle_browsers
from .service_log import now_local, tag
from .sides import InstanceLock

if TYPE_CHECKING:
    from apscheduler.events import JobExecutionEvent, JobSubmissionEvent
    from apscheduler.job import Job

    from ..config import Config
    from ..drivers.base import Engine

RETENTION_JOB = "patrol:retention"
WRITE_GRACE_S = 60.0  # after interrupting, how long firings get to write their reports
RECYCLE_AFTER = 500  # restart Chromium (when idle) after this many journeys
LOOK_EVERY_S = 0.25  # the main thread's look at signals and files
GAUGES_EVERY_S = 10.0

_SERVICE: SchedulerService | None = None


def fire(job_id: str, fingerprint: str = "") -> None:
    """The function every job calls (referenced by name in the job store: keep it here)."""
    service = _SERVICE
    if service is not None:
        service.fire(job_id)


class _Parts:
    """What ``start()`` opens and ``_teardown()`` closes (None: not open)."""

    def __init__(self) -> None:
        self.store: Store | None = None
        self.lock: InstanceLock | None = None
        self.metrics: Metrics | None = None
        self.robot: RobotLoop | None = None
        self.pool: EnginePool | None = None
        self.index: IndexWriter | None = None
        self.jobs: JobSync | None = None


class SchedulerService:
    def __init__(self, config_path: str | None = None, *, stop_timeout: float = 60.0, watch: bool = True,
                 index_interval: float = 30.0, say: Callable[[str], None] | None = None, clock: Clock = SYSTEM_CLOCK,
                 executor: ExecutorFactory | None = None) -> None:
        self.config_path = config_path
        self.stop_timeout = stop_timeout
        self.watch = watch
        self.index_interval = index_interval
        self.clock = clock
        self._say = say or console.say
        self.config: Config = load_config(config_path)
        self.plan: Plan = build_plan(self.config)
        state = state_settings(self.config)
        if not state.enabled:
            raise InputError("patrol schedule keeps its jobs and the run history in the state database, "
                             "but patrol.yaml switches it off (state: false)")
        self.state_url: str = state.url
        self.parts = _Parts()
        self.incidents: IncidentService | None = None
        self.slots: asyncio.Semaphore | None = None
        self.overlap = Overlap(clock)
        self.signals = Signals()
        self._make_executor = executor or LocalExecutor  # the CLI chooses: here, or the fleet's workers
        self.files: FileWatch | None = None
        self._stopping = threading.Event()
        self.started = False
        self.firings = 0  # firings that ran journeys (for the curious and the tests)
        self.executor: Executor | None = None
        self.leadership: Leadership | None = None  # with patrol.yaml fleet: fire only while leading
        # What the CLI runs beside the service (dispatcher, metrics endpoint, console): told when a
        # reload took new settings, and when the firings are over and the parts are about to close.
        self.on_reload: list[Callable[[], None]] = []
        self.on_stopping: list[Callable[[], None]] = []
        self.addresses: list[str] = []  # said in the banner ("metrics at …")

    # -- the parts, once started ---------------------------------------------------------
    @property
    def store(self) -> Store:
        assert self.parts.store is not None, "the service is not started"
        return self.parts.store

    @property
    def metrics(self) -> Metrics:
        assert self.parts.metrics is not None, "the service is not started"
        return self.parts.metrics

    @property
    def pool(self) -> EnginePool:
        assert self.parts.pool is not None, "the service is not started"
        return self.parts.pool

    @property
    def robot(self) -> RobotLoop:
        assert self.parts.robot is not None, "the service is not started"
        return self.parts.robot

    @property
    def index(self) -> IndexWriter:
        assert self.parts.index is not None, "the service is not started"
        return self.parts.index

    @property
    def job_sync(self) -> JobSync:
        assert self.parts.jobs is not None, "the service is not started"
        return self.parts.jobs

    def jobs(self) -> list[Job]:
        return self.parts.jobs.jobs() if self.parts.jobs is not None else []

    # -- output ---------------------------------------------------------------------
    def log(self, markup: str) -> None:
        self._say(f"[dim]{now_local(self.clock.now())}[/] {markup}")

    def log_error(self, text: str) -> None:
        self.log(f"[red]error:[/] {console.safe(text)}")

    # -- life -------------------------------------------------------------------------
    def start(self, *, process: bool = True) -> None:
        """Open the state database and the job store, sync the jobs; with
        ``process`` also start firing them."""
        global _SERVICE
        if _SERVICE is not None and _SERVICE is not self:
            raise PatrolError("a scheduler service is already running in this process")
        parts = self.parts
        parts.store = open_store(self.state_url)
        fleet = self.config.settings.fleet.enabled  # then the leader lock, not this file lock, keeps it one
        parts.lock = None if fleet else InstanceLock(self.state_url, self.config.root)
        try:
            if parts.lock is not None:
                parts.lock.acquire()
            self._open_parts(parts.store)
            _SERVICE = self
            self.executor = self._make_executor(self)
            self.leadership = self.executor.leadership
            if fleet and self.leadership is None:
                raise InputError("patrol.yaml has a fleet: section, which this scheduler was started without")
            if self.leadership is not None:
                self.leadership.tick(self.job_sync, self.plan, fire, resume=process)
                if not self.leadership.leading:
                    self.log(f"{self.leadership.standby_note()}; this scheduler takes over when it stops")
            else:
                self.job_sync.sync(self.plan, fire)
            self._update_next_fire()
            self.files = FileWatch(self._watched_files)
            if process:
                self.robot.spawn(lambda: close_idle_browsers(lambda: self.parts.pool))
                if self.leadership is None:
                    self.job_sync.resume()
            self.started = True
        except BaseException:
            self._teardown()
            raise

    def _open_parts(self, store: Store) -> None:
        # APScheduler loads when the service starts, not when a command imports this module
        from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED

        parts = self.parts
        self.incidents = self._incident_service(self.config)
        parts.metrics = Metrics(store)
        parts.robot = RobotLoop()
        parts.pool = EnginePool(self._make_engine, recycle_after=RECYCLE_AFTER, on_restart=self._engine_restarted)
        self.slots = asyncio.Semaphore(self.plan.concurrency)
        parts.index = IndexWriter(store, self.index_interval, self.log_error, clock=self.clock)
        parts.jobs = JobSync(store, self.log)
        parts.jobs.open(max(8, len(self.plan.specs) + 2), self._on_event,
                        EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_ERROR)

    def serve(self) -> int:
        """Run until SIGTERM/SIGINT; reload on SIGHUP or when the files change (started
        first unless the caller started it to start what runs beside it)."""
        if not self.started:
            self.start()
        self.signals.install()
        try:
            self._banner()
            last_gauges = self.clock.monotonic()
            while self.signals.stop is None:
                self.clock.sleep(LOOK_EVERY_S)
                if self.leadership is not None:
                    self.leadership.tick(self.job_sync, self.plan, fire)
                if self.signals.take_hup():
                    self.reload("SIGHUP")
                if self.watch and self.files is not None and self.files.changed():
                    self.reload("a file changed")
                    self.files.reset()
                if self.clock.monotonic() - last_gauges > GAUGES_EVERY_S:
                    last_gauges = self.clock.monotonic()
                    self._update_next_fire()
            if self.signals.stop != "request":
                self.log(f"{self.signals.stop}: stopping (running journeys get {self.stop_timeout:g}s; "
                         "send it again to cut them short)")
        finally:
            try:
                self.stop()  # a second signal during this cuts running journeys short
            finally:
                self.signals.restore()
        return 0

    def request_stop(self, hard: bool = False, why: str = "request") -> None:
        """Ask ``serve()`` to stop (safe from a signal handler: sets attributes only)."""
        self.signals.request_stop(hard, why)

    def stop(self) -> None:
        """Stop taking work, let running journeys finish within ``stop_timeout``, cut
        the rest short (recorded as ``interrupted``), then close everything."""
        if not self.started:
            self._teardown()
            return
        self._stopping.set()
        self.job_sync.pause()
        overlap = self.overlap
        if overlap.inflight:
            names = ", ".join(overlap.running()) or "-"
            self.log(f"stopping: waiting up to {self.stop_timeout:g}s for running journeys ({console.safe(names)})")
        overlap.wait_idle(self.stop_timeout, give_up=lambda: self.signals.hard)
        if self.signals.hard and overlap.inflight:
            self.log("second signal: stopping now")
        if overlap.inflight:
            self.log(f"[yellow]cutting {len(overlap.running())} journey(s) short[/]: they are recorded as interrupted")
            overlap.interrupt_all(self.interrupt)
            if not overlap.wait_idle(WRITE_GRACE_S):
                self.log_error(f"{overlap.inflight} firing(s) did not finish writing within {WRITE_GRACE_S:g}s")
        self._teardown()
        self.log("stopped")

    def interrupt(self, runner: Runner) -> None:
        """Cut a firing run here short (recorded as interrupted)."""
        self.robot.soon(runner.interrupt)

    def _teardown(self) -> None:
        global _SERVICE
        parts = self.parts
        if parts.jobs is not None:
            parts.jobs.shutdown()
        if self.executor is not None:
            self.executor.close()
            self.executor = self.leadership = None
        for stopping in self.on_stopping:
            try:
                stopping()
            except Exception as e:
                self.log_error(f"stopping: {type(e).__name__}: {e}")
        self.on_stopping.clear()
        if parts.index is not None:
            parts.index.stop()
        if parts.robot is not None:
            if parts.pool is not None:
                try:
                    parts.robot.call(parts.pool.close(), timeout=30)
                except Exception:
                    pass
            parts.robot.stop()
        if parts.store is not None:
            parts.store.close()
        if parts.lock is not None:
            parts.lock.release()
        if _SERVICE is self:
            _SERVICE = None
        self.started = False

    # -- once ---------------------------------------------------------------------------
    def once(self) -> int:
        """Fire every job that is due now (missed firings coalesced, as in the
        service; later than its grace: skipped), wait for them, send what can be
        sent, and return. A job seen for the first time is only registered."""
        self.start(process=False)
        try:
            if self.leadership is not None and not self.leadership.leading:
                self.log(f"nothing fired: {self.leadership.standby_note()}")
                return 0
            due = self.job_sync.take_due(self.clock.now())
            for label, count in due.coalesced:
                self.log(f"{tag(label)} {count} firings were missed; they coalesce into one run now")
            for label, when, late, grace in due.missed:
                self.log(f"{tag(label)} [yellow]missed[/] the firing of {when.astimezone():%Y-%m-%d %H:%M:%S} "
                         f"({late:.0f}s late, grace {grace}s)")
                self.metrics.firing(label, FiringResult.MISSED)
            if not due.job_ids:
                self.log("nothing is due now")
            threads = [threading.Thread(target=self.fire, args=(job_id,), name=f"patrol-once-{job_id}")
                       for job_id in due.job_ids]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            self._flush_now()
            self._print_jobs()
        finally:
            self.stop()
        return 0

    def _flush_now(self) -> None:
        if self.incidents is None:
            return
        try:
            line = describe_flush(self.incidents.flush_deliveries())
        except Exception as e:
            self.log_error(f"could not send notifications now ({type(e).__name__}: {e}); they stay queued")
            return
        if line:
            self.log(line)

    # -- firing -------------------------------------------------------------------------------
    def fire(self, job_id: str) -> None:
        if job_id == RETENTION_JOB:
            self.prune_now()
            return
        if self._stopping.is_set():
            return
        plan = self.plan
        spec, journeys = plan.lookup(job_id)
        if spec is None or not spec.enabled:
            self.log(f"job {console.safe(job_id)} is no longer configured; skipped")
            return
        executor = self.executor
        assert executor is not None, "the service is not started"
        if executor.execute(Firing(plan, spec, journeys, current_slot() or self.clock.now())):
            self.firings += 1

    def prune_now(self) -> None:
        if self._stopping.is_set():
            return
        try:
            stats = prune(self.plan.retention, self.plan.reports_root, self.store)
        except Exception as e:
            self.log_error(f"retention: {type(e).__name__}: {e}")
            return
        self.log(f"retention: {console.safe(stats.describe())}")
        if stats.reports or stats.runs or stats.screenshots:
            self.index.request(self.plan.reports_root)

    # -- jobs ----------------------------------------------------------------------------------
    def _update_next_fire(self) -> None:
        if self.parts.metrics is None or self.parts.jobs is None:
            return
        try:
            for name, when in self.job_sync.next_fire_times():
                self.metrics.scheduled(name, when)
        except Exception:
            pass

    def _on_event(self, event: JobExecutionEvent | JobSubmissionEvent) -> None:  # missed, error | max instances
        from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED

        spec = self.plan.specs.get(event.job_id)
        label = spec.name if spec else event.job_id
        if event.code == EVENT_JOB_MISSED:
            self.metrics.firing(label, FiringResult.MISSED)
            when = event.scheduled_run_time.astimezone()
            self.log(f"{tag(label)} [yellow]missed[/] the firing of {when:%Y-%m-%d %H:%M:%S}: "
                     "later than its grace time (the machine was busy or down)")
        elif event.code == EVENT_JOB_MAX_INSTANCES:
            self.metrics.firing(label, FiringResult.SKIPPED_OVERLAP)
            if self.overlap.first_overlap(event.job_id):
                self.log(f"{tag(label)} still running: later firings are skipped until it finishes")
        elif event.code == EVENT_JOB_ERROR:
            self.log_error(f"[{label}] {type(event.exception).__name__}: {event.exception}")

    # -- reload ------------------------------------------------------------------------------------
    def reload(self, why: str = "SIGHUP") -> bool:
        """Re-read patrol.yaml and the journeys; on any problem keep what runs now."""
        try:
            config = load_config(self.config_path)
            plan = build_plan(config)
            state = state_settings(config)
            incidents = self._incident_service(config)
        except InputError as e:
            self.log_error(f"reload ({why}) refused, the running schedules stay as they were:")
            for line in [str(p) for p in e.problems] or [str(e)]:
                self.log(f"  {console.safe(line)}")
            return False
        except Exception as e:
            self.log_error(f"reload ({why}) failed, the running schedules stay as they were: {type(e).__name__}: {e}")
            return False
        if state.url != self.state_url:
            self.log("[yellow]state.url changed[/]: restart patrol schedule to use the new database")
        concurrency_changed = plan.concurrency != self.plan.concurrency
        self.config, self.plan = config, plan
        if concurrency_changed:
            self.slots = asyncio.Semaphore(plan.concurrency)  # firings from now on
        if incidents is not None:
            self.incidents = incidents
            for reloaded in self.on_reload:
                reloaded()
        if self.leadership is None or self.leadership.leading:  # a standby leaves the shared job store to the leader
            self.job_sync.sync(plan, fire)
        self._update_next_fire()
        self.log(f"reloaded ({console.safe(why)}): {len(wanted_jobs(plan))} job(s), concurrency {plan.concurrency}")
        return True

    def _watched_files(self) -> set[Path]:
        plan = self.plan
        files = set(plan.watched)
        folder = plan.config.journeys_dir
        if folder.is_dir():
            files.update(p.resolve() for p in discover([str(folder)]))
        config_file = self.config_path or plan.config.file
        if config_file:
            files.add(Path(config_file).resolve())
        return files

    # -- parts ------------------------------------------------------------------------------------
    def _incident_service(self, config: Config) -> IncidentService | None:
        if self.parts.store is None:
            return None
        return IncidentService.from_config(config, store=self.parts.store)

    def _make_engine(self, target: str) -> Engine:
        return engine_class(target).from_config(self.plan.config, RunOptions())

    def _engine_restarted(self, target: str, why: str) -> None:
        self.metrics.restarted(target, why)
        if why == "crashed":
            self.log(f"[magenta]the {target} engine crashed[/]; started a new one")

    # -- listing ----------------------------------------------------------------------------------------
    def _banner(self) -> None:
        jobs = wanted_jobs(self.plan)
        where = "".join(f", {address}" for address in self.addresses)
        self.log(f"[bold]patrol schedule[/] started (pid {os.getpid()}): {len(jobs)} job(s), "
                 f"concurrency {self.plan.concurrency}{where}")
        self._print_jobs()

    def _print_jobs(self) -> None:
        for job in self.jobs():
            when = job.next_run_time.astimezone(job.trigger.tz) if job.next_run_time else None
            shown = f"{when:%Y-%m-%d %H:%M:%S %Z}" if when else "paused"
            self.log(f"  {console.safe(job.id)}: next {shown}")
