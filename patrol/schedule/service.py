"""``patrol schedule``: Patrol as a long-running service.

Threads:

- the main thread waits for signals (SIGTERM/SIGINT: stop; SIGHUP: reload) and
  watches patrol.yaml and the journey files for changes;
- APScheduler's ``BackgroundScheduler`` (job store: the state database, table
  ``patrol_schedule_jobs``) submits firings to its thread pool; a firing runs
  ``patrol.service.patrol_once`` (the same path as ``patrol run``);
- one "robot" thread runs the asyncio event loop that drives one shared Chromium
  (``EnginePool``), at most ``concurrency`` journeys at once over all firings; CPU
  work (image diff, OCR) runs in worker threads, never on that loop;
- the incident dispatcher sends notifications continuously;
- the index writer refreshes reports/index.html (debounced);
- the Prometheus endpoint, when ``--metrics-port`` is given.

Jobs have explicit ids (``schedule:<name>``, ``journey:<name>``, ``patrol:retention``)
and are added with ``replace_existing``; a job whose timing did not change is kept as
it is in the store (with its next run time), so after downtime its missed firings
coalesce into one run when it is at most ``grace`` late. No journey ever runs twice
at once: APScheduler's ``max_instances=1`` per job, and a journey selected by two
schedules is skipped by the second while the first runs it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from .. import console
from ..config import load_config
from ..errors import InputError, PatrolError
from ..results import ERROR, FAILED, INTERRUPTED, PASSED, JourneyResult
from ..runner import Listener, Runner, RunOptions
from ..runner.runner import EnginePool
from ..store import state_settings
from .plan import Plan, build_plan

RETENTION_JOB = "patrol:retention"
WRITE_GRACE_S = 60.0  # after interrupting, how long firings get to write their reports
IDLE_BROWSER_CLOSE_S = 600.0  # close Chromium after this long without journeys
RECYCLE_AFTER = 500  # restart Chromium (when idle) after this many journeys

_SERVICE: SchedulerService | None = None


def fire(job_id: str, fingerprint: str = "") -> None:
    """The function every job calls (referenced by name in the job store)."""
    service = _SERVICE
    if service is not None:
        service.fire(job_id)


def tag(name: str) -> str:
    """``[name]`` as literal text in console markup."""
    return console.safe(f"[{name}]")


def _now_local() -> str:
    return datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S")


class RobotLoop:
    """A thread running the asyncio loop that drives the browsers."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="patrol-robot", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def call(self, coro, timeout: float | None = None):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def soon(self, fn: Callable, *args) -> None:
        self.loop.call_soon_threadsafe(fn, *args)

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


class IndexWriter:
    """Writes reports/index.html when asked, at most every ``interval`` seconds (a
    firing every minute should not rebuild a year of history every minute)."""

    def __init__(self, store, interval: float, on_error: Callable[[str], None]):
        self.store = store
        self.interval = interval
        self.on_error = on_error
        self._root: Path | None = None
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._last = 0.0
        self.thread = threading.Thread(target=self._loop, name="patrol-index", daemon=True)
        self.thread.start()

    def request(self, root: Path) -> None:
        self._root = Path(root)
        self._dirty.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            if not self._dirty.wait(0.5):
                continue
            wait = self._last + self.interval - time.monotonic()
            if wait > 0 and self._stop.wait(wait):
                break
            self.write()

    def write(self) -> None:
        from ..reports.index import write_index

        with self._lock:
            if not self._dirty.is_set() or self._root is None:
                return
            self._dirty.clear()
            try:
                write_index(self._root, store=self.store)
            except Exception as e:  # never let the index stop the patrols
                self.on_error(f"could not write {self._root / 'index.html'}: {type(e).__name__}: {e}")
            self._last = time.monotonic()

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(5)
        self.write()  # the final state, whatever the interval


class ServiceLog(Listener):
    """One line per journey (and per finding) with the time and the schedule."""

    ICONS = {PASSED: "[green]✓[/]", FAILED: "[red]✗[/]", ERROR: "[magenta]![/]", INTERRUPTED: "[yellow]⏹[/]"}

    def __init__(self, service: SchedulerService, schedule: str):
        self.service, self.schedule = service, schedule

    def journey_finished(self, journey, result: JourneyResult) -> None:
        from ..durations import format_ms

        s = console.safe
        icon = self.ICONS.get(result.status, "?")
        attempt = f" (attempt {result.attempt})" if result.attempt > 1 else ""
        self.service.log(f"{tag(self.schedule)} {icon} {s(result.name)}{attempt}: {result.status} in {format_ms(result.duration_ms)}")
        if result.robot_error:
            self.service.log(f"{tag(self.schedule)}   [magenta]robot error[/] ({s(result.robot_error['reason'])}): "
                             f"{s(result.robot_error['message'])}")
        for step in result.steps:
            for f in step.findings:
                colour = {"breakpoint": "red", "stall": "yellow", "render": "magenta"}.get(f.kind, "red")
                self.service.log(f"{tag(self.schedule)}   [{colour}]{f.kind}[/] ({s(f.reason)}) at "
                                 f"'{s(step.name or step.index)}': {s(f.message)}")


def _scheduler_class():
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.schedulers.base import STATE_RUNNING

    class Scheduler(BackgroundScheduler):
        """APScheduler's loop runs one more round after ``shutdown()`` (and would submit
        due jobs to a stopped pool); a stopping or paused scheduler fires nothing."""

        def _process_jobs(self):
            if self.state != STATE_RUNNING:
                return None
            return super()._process_jobs()

    return Scheduler


class SchedulerService:
    def __init__(self, config_path: str | None = None, *, metrics_port: int | None = None, metrics_addr: str = "0.0.0.0",
                 stop_timeout: float = 60.0, watch: bool = True, index_interval: float = 30.0,
                 say: Callable[[str], None] | None = None):
        self.config_path = config_path
        self.metrics_port = metrics_port
        self.metrics_addr = metrics_addr
        self.stop_timeout = stop_timeout
        self.watch = watch
        self.index_interval = index_interval
        self._say = say or console.say
        self.config = load_config(config_path)
        self.plan: Plan = build_plan(self.config)
        state = state_settings(self.config)
        if not state.enabled:
            raise InputError("patrol schedule keeps its jobs and the run history in the state database, "
                             "but patrol.yaml switches it off (state: false)")
        self.state_url = state.url
        self.store = None
        self.incidents = None
        self.metrics = None
        self.scheduler = None
        self.robot: RobotLoop | None = None
        self.pool: EnginePool | None = None
        self.slots: asyncio.Semaphore | None = None
        self.index: IndexWriter | None = None
        self.metrics_server = None
        self.metrics_url: str | None = None
        self._lock_fd: int | None = None
        self._cond = threading.Condition()
        self._busy: dict[str, str] = {}  # journey name -> schedule running it
        self._inflight = 0
        self._runners: set[Runner] = set()
        self._interrupting = False
        self._stopping = threading.Event()
        # Set by signal handlers: plain attributes only. A handler runs on the main thread
        # between two bytecodes, possibly while that thread holds a lock (the console's,
        # an Event's), so it must not take one: no logging, no Event.set() there.
        self._stop_flag: str | None = None  # the signal's name (or "request")
        self._hard_flag = False
        self._hup_flag = False
        self._dispatch_stop: threading.Event | None = None
        self._dispatch_thread: threading.Thread | None = None
        self._overlap_said: set[str] = set()
        self._snapshot: dict = {}
        self.started = False
        self.firings = 0  # firings that ran journeys (for the curious and the tests)

    # -- output ---------------------------------------------------------------------
    def log(self, markup: str) -> None:
        self._say(f"[dim]{_now_local()}[/] {markup}")

    def _log_error(self, text: str) -> None:
        self.log(f"[red]error:[/] {console.safe(text)}")

    # -- life -------------------------------------------------------------------------
    def start(self, *, process: bool = True) -> None:
        """Open the state database and the job store, sync the jobs; with
        ``process`` also start firing them, the dispatcher and the metrics endpoint."""
        global _SERVICE
        from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

        from ..metrics import Metrics
        from ..store import open_store
        from ..store.schema import SCHEDULE_JOBS_TABLE

        if _SERVICE is not None and _SERVICE is not self:
            raise PatrolError("a scheduler service is already running in this process")
        self.store = open_store(self.state_url)
        self._lock_instance()
        try:
            self.incidents = self._incident_service(self.config)
            self.metrics = Metrics(self.store)
            self.robot = RobotLoop()
            self.pool = EnginePool(self._make_engine, recycle_after=RECYCLE_AFTER, on_restart=self._engine_restarted)
            self.slots = asyncio.Semaphore(self.plan.concurrency)
            self.index = IndexWriter(self.store, self.index_interval, self._log_error)
            import logging

            logging.getLogger("apscheduler").setLevel(logging.ERROR)  # we say it ourselves, once
            self.scheduler = _scheduler_class()(
                jobstores={"default": SQLAlchemyJobStore(engine=self.store.engine, tablename=SCHEDULE_JOBS_TABLE)},
                executors={"default": ThreadPoolExecutor(max_workers=max(8, len(self.plan.specs) + 2))},
                job_defaults={"coalesce": True, "max_instances": 1},
                timezone=UTC,
            )
            self.scheduler.add_listener(self._on_event, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_ERROR)
            _SERVICE = self
            self.scheduler.start(paused=True)
            self._sync_jobs()
            self._snapshot = self._files_snapshot()
            if process:
                self._start_dispatcher()
                self._start_metrics()
                self.robot.soon(lambda: self.robot.loop.create_task(self._idle_browser_closer()))
                self.scheduler.resume()
            self.started = True
        except BaseException:
            self._teardown()
            raise

    def serve(self) -> int:
        """Run until SIGTERM/SIGINT; reload on SIGHUP or when the files change."""
        self.start()
        previous = self._install_signals()
        try:
            self._banner()
            last_gauges = 0.0
            pending_change: dict | None = None
            while self._stop_flag is None:
                time.sleep(0.25)
                if self._hup_flag:
                    self._hup_flag = False
                    self.reload("SIGHUP")
                if self.watch:
                    snap = self._files_snapshot()
                    if snap != self._snapshot:
                        # Reload once the files have stopped changing (an editor saving in steps).
                        if pending_change == snap:
                            pending_change = None
                            self.reload("a file changed")
                            self._snapshot = self._files_snapshot()
                        else:
                            pending_change = snap
                if time.monotonic() - last_gauges > 10:
                    last_gauges = time.monotonic()
                    self._update_next_fire()
            if self._stop_flag != "request":
                self.log(f"{self._stop_flag}: stopping (running journeys get {self.stop_timeout:g}s; "
                         "send it again to cut them short)")
        finally:
            try:
                self.stop()  # a second signal during this cuts running journeys short
            finally:
                self._restore_signals(previous)
        return 0

    def stop(self) -> None:
        """Stop taking work, let running journeys finish within ``stop_timeout``, cut
        the rest short (recorded as ``interrupted``), then close everything."""
        if not self.started:
            self._teardown()
            return
        self._stopping.set()
        try:
            self.scheduler.pause()
        except Exception:
            pass
        with self._cond:
            if self._inflight:
                names = ", ".join(sorted(self._busy)) or "-"
                self.log(f"stopping: waiting up to {self.stop_timeout:g}s for running journeys ({console.safe(names)})")
            deadline = time.monotonic() + self.stop_timeout
            while self._inflight and time.monotonic() < deadline and not self._hard_flag:
                self._cond.wait(0.2)
            if self._hard_flag and self._inflight:
                self.log("second signal: stopping now")
            if self._inflight:
                self.log(f"[yellow]cutting {len(self._busy)} journey(s) short[/]: they are recorded as interrupted")
                self._interrupting = True
                for runner in list(self._runners):
                    self.robot.soon(runner.interrupt)
                deadline = time.monotonic() + WRITE_GRACE_S
                while self._inflight and time.monotonic() < deadline:
                    self._cond.wait(0.2)
            if self._inflight:
                self._log_error(f"{self._inflight} firing(s) did not finish writing within {WRITE_GRACE_S:g}s")
        self._teardown()
        self.log("stopped")

    def _teardown(self) -> None:
        global _SERVICE
        if self.scheduler is not None:
            try:
                self.scheduler.shutdown(wait=False)
            except Exception:
                pass
        self._stop_dispatcher()
        if self.index is not None:
            self.index.stop()
        if self.robot is not None:
            if self.pool is not None:
                try:
                    self.robot.call(self.pool.close(), timeout=30)
                except Exception:
                    pass
            self.robot.stop()
        if self.metrics_server is not None:
            try:
                self.metrics_server.shutdown()
                self.metrics_server.server_close()
            except Exception:
                pass
        if self.store is not None:
            self.store.close()
        self._unlock_instance()
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
            now = datetime.now(UTC)
            due: list[str] = []
            for job in self.scheduler.get_jobs():
                if job.next_run_time is None or job.next_run_time > now:
                    continue
                latest, count, t = None, 0, job.next_run_time
                while t is not None and t <= now:
                    latest, count = t, count + 1
                    t = job.trigger.get_next_fire_time(t, now)
                late = (now - latest).total_seconds()
                label = job.name or job.id
                if late <= (job.misfire_grace_time or 0):
                    due.append(job.id)
                    if count > 1:
                        self.log(f"{tag(label)} {count} firings were missed; they coalesce into one run now")
                else:
                    self.log(f"{tag(label)} [yellow]missed[/] the firing of {latest.astimezone():%Y-%m-%d %H:%M:%S} "
                             f"({late:.0f}s late, grace {job.misfire_grace_time}s)")
                    self.metrics.firing(label, "missed")
                self.scheduler.modify_job(job.id, next_run_time=t)
            if not due:
                self.log("nothing is due now")
            threads = [threading.Thread(target=self.fire, args=(job_id,), name=f"patrol-once-{job_id}") for job_id in due]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            if self.incidents is not None:
                try:
                    stats = self.incidents.flush_deliveries()
                    from ..incidents.display import describe_flush

                    line = describe_flush(stats)
                    if line:
                        self.log(line)
                except Exception as e:
                    self._log_error(f"could not send notifications now ({type(e).__name__}: {e}); they stay queued")
            self._print_jobs()
        finally:
            self.stop()
        return 0

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
        with self._cond:
            free = [j for j in journeys if j.name not in self._busy]
            busy = [j for j in journeys if j.name in self._busy]
            for j in free:
                self._busy[j.name] = spec.name
            if free:
                self._inflight += 1
        if busy:
            self.metrics.firing(spec.name, "skipped_overlap")
            names = ", ".join(f"{j.name} (running for {self._busy.get(j.name, '?')})" for j in busy)
            self.log(f"{tag(spec.name)} skipping {console.safe(names)}: a journey never runs twice at once")
        if not free:
            return
        try:
            self._run_firing(plan, spec, free)
        finally:
            with self._cond:
                for j in free:
                    self._busy.pop(j.name, None)
                self._inflight -= 1
                self._overlap_said.discard(spec.job_id)
                self._cond.notify_all()

    def _run_firing(self, plan: Plan, spec, journeys) -> None:
        from ..durations import format_ms
        from ..service import patrol_once

        s = console.safe
        options = RunOptions(reports_root=plan.reports_root, base_url=spec.base_url, concurrency=plan.concurrency)
        runner = Runner(plan.config, options, [ServiceLog(self, spec.name), self.metrics], engines=self.pool, slots=self.slots)
        with self._cond:
            self._runners.add(runner)
            if self._interrupting:
                self.robot.soon(runner.interrupt)
        self.log(f"{tag(spec.name)} firing: {s(', '.join(j.name for j in journeys))}")
        try:
            outcome = patrol_once(plan.config, journeys, options, incidents=self.incidents, runner=runner,
                                  call=self.robot.call, flush=False, index=self.index.request, schedule=spec.name,
                                  say=lambda m: self.log(f"{tag(spec.name)} {m}"))
        except Exception as e:
            self.metrics.firing(spec.name, "failed")
            self._log_error(f"[{spec.name}] the firing failed: {type(e).__name__}: {e}")
            return
        finally:
            with self._cond:
                self._runners.discard(runner)
        run = outcome.run
        self.firings += 1
        self.metrics.firing(spec.name, "ran")
        self.metrics.run_recorded(run, spec.name)
        if outcome.record_error:
            self._log_error(f"[{spec.name}] {outcome.record_error}")
        colour = {"passed": "green", "failed": "red", "error": "magenta"}.get(run.status, "white")
        latest = run.latest()
        counts = {st: sum(1 for j in latest if j.status == st) for st in (PASSED, FAILED, ERROR, INTERRUPTED)}
        said = ", ".join(f"{n} {st}" for st, n in counts.items() if n)
        self.log(f"{tag(spec.name)} run {s(run.run_id)} [{colour}]{run.status}[/] ({said}) in "
                 f"{format_ms(run.duration_ms)}: {s(outcome.run_dir / 'index.html')}")

    def prune_now(self) -> None:
        from ..retention import prune

        if self._stopping.is_set():
            return
        try:
            stats = prune(self.plan.retention, self.plan.reports_root, self.store)
        except Exception as e:
            self._log_error(f"retention: {type(e).__name__}: {e}")
            return
        self.log(f"retention: {console.safe(stats.describe())}")
        if stats.reports or stats.runs or stats.screenshots:
            self.index.request(self.plan.reports_root)

    # -- jobs ----------------------------------------------------------------------------------
    def _wanted(self, plan: Plan) -> dict:
        wanted = {spec.job_id: spec for spec in plan.active}
        if plan.prune is not None:
            wanted[plan.prune.job_id] = plan.prune
        return wanted

    def _sync_jobs(self) -> None:
        wanted = self._wanted(self.plan)
        existing = {job.id: job for job in self.scheduler.get_jobs()}
        for job_id in existing:
            if job_id not in wanted:
                self.scheduler.remove_job(job_id)
                self.log(f"removed job {console.safe(job_id)} (no longer in the configuration)")
        for job_id, spec in wanted.items():
            job = existing.get(job_id)
            if job is not None and job.kwargs.get("fingerprint") == spec.fingerprint:
                if job.name != spec.name:
                    self.scheduler.modify_job(job_id, name=spec.name)
                continue  # unchanged: keep it with its next run time
            self.scheduler.add_job(
                fire, trigger=spec.trigger(), id=job_id, name=spec.name, replace_existing=True,
                kwargs={"job_id": job_id, "fingerprint": spec.fingerprint},
                coalesce=True, max_instances=1, misfire_grace_time=max(1, int(round(spec.grace))),
            )
            if job is not None:
                self.log(f"updated job {console.safe(job_id)}: {console.safe(spec.describe())}")
        self._update_next_fire()

    def jobs(self) -> list:
        return self.scheduler.get_jobs() if self.scheduler is not None else []

    def _update_next_fire(self) -> None:
        if self.metrics is None or self.scheduler is None:
            return
        try:
            for job in self.scheduler.get_jobs():
                self.metrics.scheduled(job.name or job.id, job.next_run_time)
        except Exception:
            pass

    def _on_event(self, event) -> None:
        from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED

        spec = self.plan.specs.get(event.job_id)
        label = spec.name if spec else event.job_id
        if event.code == EVENT_JOB_MISSED:
            self.metrics.firing(label, "missed")
            when = event.scheduled_run_time.astimezone()
            self.log(f"{tag(label)} [yellow]missed[/] the firing of {when:%Y-%m-%d %H:%M:%S}: "
                     "later than its grace time (the machine was busy or down)")
        elif event.code == EVENT_JOB_MAX_INSTANCES:
            self.metrics.firing(label, "skipped_overlap")
            with self._cond:
                first = event.job_id not in self._overlap_said
                self._overlap_said.add(event.job_id)
            if first:
                self.log(f"{tag(label)} still running: later firings are skipped until it finishes")
        elif event.code == EVENT_JOB_ERROR:
            self._log_error(f"[{label}] {type(event.exception).__name__}: {event.exception}")

    # -- reload ------------------------------------------------------------------------------------
    def reload(self, why: str = "SIGHUP") -> bool:
        """Re-read patrol.yaml and the journeys; on any problem keep what runs now."""
        try:
            config = load_config(self.config_path)
            plan = build_plan(config)
            state = state_settings(config)
            incidents = self._incident_service(config)
        except InputError as e:
            self._log_error(f"reload ({why}) refused, the running schedules stay as they were:")
            for p in e.problems or [e]:
                self.log(f"  {console.safe(p)}")
            return False
        except Exception as e:
            self._log_error(f"reload ({why}) failed, the running schedules stay as they were: {type(e).__name__}: {e}")
            return False
        if state.url != self.state_url:
            self.log("[yellow]state.url changed[/]: restart patrol schedule to use the new database")
        concurrency_changed = plan.concurrency != self.plan.concurrency
        self.config, self.plan = config, plan
        if concurrency_changed:
            self.slots = asyncio.Semaphore(plan.concurrency)  # firings from now on
        if incidents is not None:
            self.incidents = incidents
            if self._dispatch_thread is not None:
                self._stop_dispatcher()
                self._start_dispatcher()
        self._sync_jobs()
        self.log(f"reloaded ({console.safe(why)}): {len(self._wanted(plan))} job(s), concurrency {plan.concurrency}")
        return True

    def _files_snapshot(self) -> dict:
        from ..journey.loader import discover

        files = set(self.plan.watched)
        folder = self.plan.config.journeys_dir
        if folder.is_dir():
            files.update(p.resolve() for p in discover([str(folder)]))
        if self.config_path or self.plan.config.file:
            files.add(Path(self.config_path or self.plan.config.file).resolve())
        snap = {}
        for f in files:
            try:
                st = f.stat()
                snap[str(f)] = (st.st_mtime_ns, st.st_size)
            except OSError:
                snap[str(f)] = None
        return snap

    # -- parts ------------------------------------------------------------------------------------
    def _incident_service(self, config):
        from ..incidents.service import IncidentService
        from ..incidents.settings import incident_settings, public_url
        from ..notify.receivers import load_receivers

        if self.store is None:
            return None
        return IncidentService(self.store, incident_settings(config), load_receivers(config), public_url(config))

    def _make_engine(self, target: str):
        from ..drivers import engine_class

        return engine_class(target).from_config(self.plan.config, RunOptions())

    def _engine_restarted(self, target: str, why: str) -> None:
        self.metrics.restarted(target, why)
        if why == "crashed":
            self.log(f"[magenta]the {target} engine crashed[/]; started a new one")

    async def _idle_browser_closer(self) -> None:
        """Chromium is not kept running through a day of nothing (a nightly-only set-up)."""
        while True:
            await asyncio.sleep(30)
            pool = self.pool
            if pool is not None and pool.engines and not pool.busy() and time.monotonic() - pool.last_release > IDLE_BROWSER_CLOSE_S:
                await pool.close()

    def _start_dispatcher(self) -> None:
        if self.incidents is None:
            return
        stop = threading.Event()
        dispatcher = self.incidents.dispatcher()

        def loop() -> None:
            try:
                dispatcher.run_forever(stop, idle=2.0)
            except Exception as e:
                self._log_error(f"the notification dispatcher stopped: {type(e).__name__}: {e}")

        self._dispatch_stop = stop
        self._dispatch_thread = threading.Thread(target=loop, name="patrol-dispatcher", daemon=True)
        self._dispatch_thread.start()

    def _stop_dispatcher(self) -> None:
        if self._dispatch_stop is not None:
            self._dispatch_stop.set()
        if self._dispatch_thread is not None:
            self._dispatch_thread.join(15)
        self._dispatch_stop = self._dispatch_thread = None

    def _start_metrics(self) -> None:
        if self.metrics_port is None:
            return
        from prometheus_client import start_http_server

        try:
            server, _thread = start_http_server(self.metrics_port, addr=self.metrics_addr, registry=self.metrics.registry)
        except OSError as e:
            raise InputError(f"--metrics-port {self.metrics_port}: cannot listen on {self.metrics_addr}:{self.metrics_port}: {e}") from None
        self.metrics_server = server
        host = self.metrics_addr if self.metrics_addr not in ("", "0.0.0.0", "::") else "127.0.0.1"
        self.metrics_url = f"http://{host}:{server.server_port}/metrics"

    def _lock_instance(self) -> None:
        """One scheduler per state database: two would fire every job twice."""
        import fcntl

        from sqlalchemy.engine import make_url

        url = make_url(self.state_url)
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:" and not url.database.startswith("file:"):
            path = Path(url.database + ".scheduler.lock")
        else:
            path = self.config.root / ".patrol" / "scheduler.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            try:
                other = os.read(fd, 32).decode().strip() or "?"
            except OSError:
                other = "?"
            os.close(fd)
            raise InputError(f"another `patrol schedule` (pid {other}) is already running against this state database "
                             f"({path}); two would fire every job twice") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd

    def _unlock_instance(self) -> None:
        if self._lock_fd is not None:
            try:
                os.close(self._lock_fd)  # releases the lock
            except OSError:
                pass
            self._lock_fd = None

    # -- signals ----------------------------------------------------------------------------------------
    def request_stop(self, hard: bool = False, why: str = "request") -> None:
        """Ask ``serve()`` to stop (safe from a signal handler: sets attributes only)."""
        if self._stop_flag is not None or hard:
            self._hard_flag = True
        if self._stop_flag is None:
            self._stop_flag = why

    def _install_signals(self) -> dict:
        if threading.current_thread() is not threading.main_thread():
            return {}
        previous = {}

        def on_stop(signum, _frame):
            self.request_stop(why=signal.Signals(signum).name)

        def on_hup(_signum, _frame):
            self._hup_flag = True

        for sig, handler in ((signal.SIGTERM, on_stop), (signal.SIGINT, on_stop), (signal.SIGHUP, on_hup)):
            previous[sig] = signal.signal(sig, handler)
        return previous

    @staticmethod
    def _restore_signals(previous: dict) -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    # -- listing ----------------------------------------------------------------------------------------
    def _banner(self) -> None:
        jobs = self._wanted(self.plan)
        where = f", metrics at {self.metrics_url}" if self.metrics_url else ""
        self.log(f"[bold]patrol schedule[/] started (pid {os.getpid()}): {len(jobs)} job(s), "
                 f"concurrency {self.plan.concurrency}{where}")
        self._print_jobs()

    def _print_jobs(self) -> None:
        for job in self.jobs():
            when = job.next_run_time.astimezone(job.trigger.tz) if job.next_run_time else None
            shown = f"{when:%Y-%m-%d %H:%M:%S %Z}" if when else "paused"
            self.log(f"  {console.safe(job.id)}: next {shown}")
