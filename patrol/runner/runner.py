"""The orchestrator: runs journeys step by step against a Driver, gathers evidence,
asks the checks for findings, and returns a ``RunResult``. It knows nothing about
Playwright, Appium, report formats or incidents."""

from __future__ import annotations

import asyncio
import importlib
import secrets as _random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from ..actions import ACTIONS, ActionContext
from ..causes import fold, lasting_file
from ..checks import CHECKS
from ..checks.base import Verdict, robot_wait_owed
from ..checks.screen import locate_on_screen
from ..config import Config
from ..config.web import NetworkSettings
from ..core.jsontypes import growing_list, json_list, json_objects
from ..core.tracecontext import STEP_TRACE, SendsTraceContext
from ..core.urls import mask_url
from ..core.vocabulary import Reason, Status
from ..drivers import Driver, Engine, engine_class
from ..errors import ActionFailed, RobotError
from ..journey.model import DEFAULT_JOURNEY_MS, Group, Journey, Locator, Node, Step, VarCondition, leaves
from ..journey.placeholders import MissingValue, Scope, substitute
from ..results import (
    BREAKPOINT,
    ERROR,
    FAILED,
    INTERRUPTED,
    PASSED,
    RUNNING,
    SKIPPED,
    STALL,
    Finding,
    JourneyResult,
    RunResult,
    StepResult,
)
from ..secrets import MissingVariable
from ..step.artifacts import ArtifactStore, slug
from ..step.cpu_wait import CpuWait
from ..step.evidence import JourneyMemory, StepContext, StepEvidence
from ..step.options import RunOptions
from ..step.settle import settle_screen
from .hang import Hang, watch_for_hang
from .judging import Judging
from .program import Frames, Program, within_frames
from .screen_filters import SCREEN_FILTERS
from .tracing import Export, JourneyTrace, settings_for
from .values import store_values

# Findings that explain why a later expectation failed; the expectation is then a
# consequence, folded into the cause's evidence (one problem, one finding).
ROOT_CAUSES = {"request_failed", "http_error", "page_error", "resource_failed", "console_error", "websocket_closed",
               "app_crashed", "app_left_foreground", "system_dialog", "frozen_screen"}
# Less than this of the robot waiting for a CPU in a step is not worth a line of the report.
ROBOT_WAIT_WORTH_SAYING_MS = 100.0

# What a broken app looks like on screen: folded into a cause that breaks the flow
# (a failed script explains the spinner, the white page and the element that never came),
# and the time a step lost to a request that failed (a font load retried until reset).
SYMPTOMS = {Reason.EXPECT_FAILED, Reason.WRONG_VALUE, Reason.BLANK_SCREEN, Reason.BLANK_REGION, Reason.SPINNER_STUCK,
            Reason.ELEMENT_NOT_FOUND, Reason.ELEMENT_NOT_VISIBLE, Reason.ACTION_TIMEOUT, Reason.TEXT_NOT_FOUND,
            Reason.MISSING_TEXT, Reason.FORBIDDEN_TEXT, Reason.OVER_BUDGET}
# Extra time Patrol gives a driver call beyond the hard timeout before it declares
# the action hung (the driver's own timeout should fire first).
HANG_GRACE_S = 10.0
# After a page stopped answering: how long its step's own work may take to end once
# cancelled, the last picture of it (through the screen filters), and closing its tab.
HANG_CANCEL_S = 2.0
HANG_SCREEN_S = 3.0
HANG_CLOSE_S = 30.0
# Past its time limit a journey has this long (plus its teardown's own limit) to finish;
# once cut off, this long for its clean-up (trace, closing its tab).
JOURNEY_GRACE_S = 60.0
CUT_OFF_S = 30.0
# A browser that does not answer a round trip within this long is restarted after a cut-off.
ENGINE_ANSWER_S = 10.0
# What the screen filters and evidence checks load on first use (NumPy, OpenCV, the
# OCR engine): imported on a side thread while the browser starts, when this process
# mostly waits, instead of inside the first step.
WARM_UP_MODULES = ("patrol.visual.compare", "patrol.visual.blank", "patrol.ocr.engine", "patrol.ocr.match")


@dataclass
class Progress:
    """Where a journey is, so a journey cut off by its time limit can say what hung."""

    step: int = 0
    phase: str = ""  # "action" (the action and live checks) or "checks"
    action: Step | None = None




class Listener:
    """Observer of a run's progress (console, metrics...). All methods optional."""

    def run_started(self, run: RunResult, journeys: list[Journey]) -> None: ...
    def journey_started(self, journey: Journey, result: JourneyResult) -> None: ...
    def step_finished(self, journey: Journey, result: JourneyResult, step: StepResult) -> None: ...
    def journey_finished(self, journey: Journey, result: JourneyResult) -> None: ...
    def run_finished(self, run: RunResult) -> None: ...


def new_run_id() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y%m%d-%H%M%S-") + _random.token_hex(2)


def _now_iso() -> str:
    # Milliseconds: history and overlap checks order journeys that start within a second.
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class EnginePool:
    """The engines (a Chromium, an Appium connection) journeys get their drivers from,
    one per target, started on first use.

    A run owns one by default and closes it when it ends; a long-running service
    shares one between runs, so every firing's journeys share one Chromium. A crashed
    engine is restarted for the next journey; an engine that has handed out
    ``recycle_after`` drivers is restarted when it is idle (months of uptime without
    a browser that only ever grows)."""

    ENGINE_CLOSE_TIMEOUT_S = 20.0

    def __init__(self, factory: Callable[[str], Engine], *, recycle_after: int = 0,
                 on_restart: Callable[[str, str], None] | None = None):
        self._factory = factory
        self.recycle_after = recycle_after
        self.on_restart = on_restart  # (target, why): metrics, logs
        self.engines: dict[str, Engine] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.active: dict[str, int] = {}
        self.generation: dict[str, int] = {}  # bumped on every (re)start
        self._handed: dict[str, int] = {}
        self.last_release = time.monotonic()

    async def acquire(self, target: str) -> Engine:
        lock = self._locks.setdefault(target, asyncio.Lock())
        async with lock:
            engine = self.engines.get(target)
            if engine is None:
                engine = self._factory(target)
                await engine.start()
                self.engines[target] = engine
                self._started(target)
            elif not await engine.healthy():
                # The browser crashed under an earlier journey: start a fresh one so
                # the rest of the run goes on.
                await self._restart(target, engine, "crashed")
            elif self.recycle_after and self._handed.get(target, 0) >= self.recycle_after and not self.active.get(target):
                await self._restart(target, engine, "recycled")
            self.active[target] = self.active.get(target, 0) + 1
            self._handed[target] = self._handed.get(target, 0) + 1
            return engine

    def release(self, target: str) -> None:
        self.active[target] = max(0, self.active.get(target, 0) - 1)
        self.last_release = time.monotonic()

    def _started(self, target: str) -> None:
        self.generation[target] = self.generation.get(target, 0) + 1
        self._handed[target] = 0

    async def _restart(self, target: str, engine: Engine, why: str) -> None:
        if type(engine).restart is not Engine.restart:
            await engine.restart()  # the engine knows better
        else:
            try:
                await asyncio.wait_for(engine.close(), self.ENGINE_CLOSE_TIMEOUT_S)
            except (TimeoutError, Exception):
                pass  # a dead browser that will not even close: start a new one anyway
            await engine.start()
        self._started(target)
        if self.on_restart is not None:
            self.on_restart(target, why)

    async def recover(self, target: str) -> None:
        """After a journey had to be cut off: a browser that no longer answers is started
        again (the journeys on it had lost it anyway)."""
        engine = self.engines.get(target)
        if engine is None:
            return
        try:
            answers = await asyncio.wait_for(engine.answers(), ENGINE_ANSWER_S)
        except (TimeoutError, Exception):
            answers = False
        if not answers:
            lock = self._locks.setdefault(target, asyncio.Lock())
            async with lock:
                if self.engines.get(target) is engine:
                    await self._restart(target, engine, "not answering")

    def busy(self) -> bool:
        return any(self.active.values())

    async def close(self) -> None:
        engines, self.engines = dict(self.engines), {}
        for engine in engines.values():
            try:
                await asyncio.wait_for(engine.close(), self.ENGINE_CLOSE_TIMEOUT_S)
            except (TimeoutError, Exception):
                pass


class Runner:
    def __init__(self, config: Config | None = None, options: RunOptions | None = None, listeners: list[Listener] | None = None,
                 *, engines: EnginePool | None = None, slots: asyncio.Semaphore | None = None):
        self.config = config or Config()
        self.options = options or RunOptions()
        self.listeners = listeners or []
        # A pool given by the caller (a service) outlives this runner's runs; our own
        # is closed at the end of each run.
        self._owns_engines = engines is None
        self.engines = engines or EnginePool(self._make_engine)
        # Journeys at once: a service shares one limit between all its runs.
        self._slots = slots
        self._interrupted = False
        self._run_id = ""  # for ${run.id}
        self._tasks: set[asyncio.Task[JourneyResult]] = set()
        self._cut_off: set[asyncio.Future[JourneyResult]] = set()  # journeys being cut off at their limit's grace
        self.settle_timeout_ms = self.config.settings.visual.settle_timeout_ms
        self._traces: dict[int, JourneyTrace] = {}  # id(JourneyMemory) -> the attempt's trace (tracing:)
        self._exports: set[int] = set()
        self._export_list: list[Export] = []

    def _emit(self, name: str, *args: object) -> None:
        for listener in self.listeners:
            getattr(listener, name)(*args)

    # -- engines -------------------------------------------------------------------
    def _make_engine(self, target: str) -> Engine:
        return engine_class(target).from_config(self.config, self.options)

    async def _engine(self, target: str) -> Engine:
        return await self.engines.acquire(target)

    async def close(self) -> None:
        if self._owns_engines:
            await self.engines.close()

    # -- interruption ----------------------------------------------------------------
    @property
    def interrupted(self) -> bool:
        return self._interrupted

    def interrupt(self) -> None:
        """Cut the journeys short (a service stopping): running ones end as
        ``interrupted`` with what they did so far, waiting ones never start. The run
        still finishes and returns its result. Call it on the runner's event loop."""
        self._interrupted = True
        for task in list(self._tasks):
            task.cancel()

    def _slots_for_run(self) -> asyncio.Semaphore:
        return self._slots if self._slots is not None else asyncio.Semaphore(max(1, self.options.concurrency))

    async def _gather(self, journeys: list[Journey], store: ArtifactStore, dirs: dict[int, str], attempt: int) -> list[JourneyResult]:
        sem = self._slots_for_run()

        async def one(j: Journey) -> JourneyResult:
            try:
                if self._interrupted:
                    raise asyncio.CancelledError
                async with sem:
                    return await self._within_limit(j, store, dirs[id(j)], attempt)
            except asyncio.CancelledError:
                if not self._interrupted:
                    raise
                return self._never_started(j, attempt)

        tasks = [asyncio.ensure_future(one(j)) for j in journeys]
        self._tasks.update(tasks)
        try:
            return list(await asyncio.gather(*tasks))
        finally:
            self._tasks.difference_update(tasks)

    async def _within_limit(self, journey: Journey, store: ArtifactStore, journey_dir: str, attempt: int) -> JourneyResult:
        """``run_journey``, which never holds its slot past the journey's time limit plus a
        grace (its teardown, trace and tab): whatever it still waits for then, it is cut
        off as ``journey_timeout`` with what it did, and Chromium restarted if it no longer
        answers. The limit inside ``run_journey`` ends the steps first; this is the bound
        on everything after them."""
        task = asyncio.ensure_future(self.run_journey(journey, store, journey_dir, attempt=attempt))
        limit_ms = journey.budgets.journey_ms or DEFAULT_JOURNEY_MS
        try:
            await asyncio.wait([task], timeout=limit_ms / 1000 + _grace_s(journey))
        except asyncio.CancelledError:  # interrupted: the journey ends as interrupted, with its result
            task.cancel()
            await asyncio.wait([task])
            if task.cancelled() or task.exception() is not None:
                raise
            return task.result()
        if not task.done():
            self._cut_off.add(task)
            task.cancel()
            await asyncio.wait([task], timeout=CUT_OFF_S)
            if not task.done():
                task.cancel()  # its own clean-up hangs too: abandon it
                await asyncio.wait([task], timeout=CUT_OFF_S)
            self._cut_off.discard(task)
            await self.engines.recover(engine_target(journey))
        if task.done() and not task.cancelled():
            return task.result()
        result = self._never_started(journey, attempt)
        result.status = FAILED
        return result

    def _never_started(self, journey: Journey, attempt: int) -> JourneyResult:
        result = JourneyResult(
            name=journey.name, file=journey.file, target=journey.target, device=journey.device.name,
            tags=list(journey.tags), status=INTERRUPTED, started_at=None, duration_ms=0.0, attempt=attempt,
            steps=_step_results(journey.steps), teardown=_step_results(journey.teardown_steps),
        )
        self._emit("journey_finished", journey, result)
        return result

    # -- run -------------------------------------------------------------------------
    def run_dir(self, run_id: str) -> Path:
        return Path(self.options.output) if self.options.output else Path(self.options.reports_root) / run_id

    async def run(self, journeys: list[Journey]) -> RunResult:
        run_id = self.options.run_id or new_run_id()
        run = RunResult(run_id=run_id, started_at=_now_iso())
        self._run_id = run_id
        run_dir = self.run_dir(run_id)
        run.run_dir = str(run_dir.resolve())
        run.listed = not self.options.output
        store = ArtifactStore(run_dir)
        if any(engine_target(j) != "http" for j in journeys):  # a run of API probes loads no eyes
            _warm_up(self.config.settings.ocr.lang if any(_reads_screen(j, self.config) for j in journeys) else None,
                     self.config.settings.ocr.engine)
        self._emit("run_started", run, journeys)
        t0 = time.monotonic()
        journeys = [j.with_base_url(self.options.base_url) for j in journeys]
        dirs = _journey_dirs(journeys)
        try:
            run.journeys = await self._gather(journeys, store, dirs, attempt=1)
        finally:
            await self.close()
        await self._flush_traces(run)
        run.duration_ms = round((time.monotonic() - t0) * 1000, 1)
        run.finished_at = _now_iso()
        run.compute_status()
        self._emit("run_finished", run)
        return run

    async def confirm(self, run: RunResult, journeys: list[Journey], attempt: int = 2) -> list[JourneyResult]:
        """Run these journeys again at once, into the same run folder, as attempt N.

        A failure seen once may be a blip; incidents are opened only when it repeats.
        Both attempts stay in the run (and its report)."""
        store = ArtifactStore(Path(run.run_dir) if run.run_dir else self.run_dir(run.run_id))
        self._run_id = run.run_id
        journeys = [j.with_base_url(self.options.base_url) for j in journeys]
        dirs = {id(j): f"{d}-attempt{attempt}" for j, d in ((j, _journey_dirs([j])[id(j)]) for j in journeys)}
        try:
            results = await self._gather(journeys, store, dirs, attempt=attempt)
        finally:
            await self.close()
        await self._flush_traces(run)
        run.journeys.extend(results)
        # The run's time is the customer's patrol, reruns included.
        run.finished_at = _now_iso()
        run.duration_ms = round((datetime.fromisoformat(run.finished_at) - datetime.fromisoformat(run.started_at))
                                .total_seconds() * 1000, 1)
        run.compute_status()
        return results

    async def run_journey(self, journey: Journey, store: ArtifactStore, journey_dir: str, attempt: int = 1) -> JourneyResult:
        result = JourneyResult(
            name=journey.name, file=journey.file, target=journey.target, device=journey.device.name,
            tags=list(journey.tags), started_at=_now_iso(), attempt=attempt,
            steps=_step_results(journey.steps), teardown=_step_results(journey.teardown_steps),
        )
        self._emit("journey_started", journey, result)
        t0 = time.monotonic()
        driver = None
        engine = None
        generation = None
        progress = Progress()
        judging = Judging(record=lambda sc, sr: self._record(sc, sr, result))
        memory = JourneyMemory(scope=Scope(run_id=self._run_id))
        self._start_trace(journey, result, memory, attempt)
        try:
            engine = await self._engine(engine_target(journey))
            generation = self.engines.generation.get(engine_target(journey))
            driver = await engine.new_driver(journey)
            steps = self._steps(journey, driver, store, journey_dir, result, progress, judging, memory)
            if journey.budgets.journey_ms:
                await asyncio.wait_for(steps, timeout=journey.budgets.journey_ms / 1000)
            else:
                await steps
            # The verdicts still being reached are Patrol's time, not the customer's: they
            # are not part of the journey's time limit.
            await judging.drain()
            result.status = FAILED if result.findings else PASSED
            await self._teardown(journey, driver, store, journey_dir, result, memory)
            await self._check_engine_survived(journey, engine, generation, result)
        except TimeoutError:
            await judging.finish(HANG_GRACE_S)  # the steps before the cut keep their verdicts
            await self._journey_timed_out(journey, driver, store, journey_dir, result, progress)
            result.status = FAILED
            await self._teardown(journey, driver, store, journey_dir, result, memory)
            await self._check_engine_survived(journey, engine, generation, result)
        except RobotError as e:
            # Steps whose verdicts were not reached stay running: the journey's error is their status.
            await judging.finish(HANG_GRACE_S, record_unjudged=False)
            result.status = ERROR
            result.robot_error = {"reason": e.reason, "message": str(e)}
            _cut_short(result, ERROR)
        except asyncio.CancelledError:
            if asyncio.current_task() in self._cut_off:  # past its limit and its grace (_within_limit)
                judging.abort()
                await self._journey_timed_out(journey, driver, store, journey_dir, result, progress)
                result.status = FAILED
                _cut_short(result, FAILED)
            else:
                judging.abort(record_unjudged=False)  # they end "interrupted", like the step that was running
                result.status = INTERRUPTED
                _cut_short(result, INTERRUPTED)
                if not self._interrupted:
                    raise
        finally:
            await self._close_journey(journey, driver, engine, store, journey_dir, result)
            result.duration_ms = round((time.monotonic() - t0) * 1000, 1)
            self._end_trace(memory, result)
            self._emit("journey_finished", journey, result)
        return result

    # -- tracing (OpenTelemetry) --------------------------------------------------------
    def _start_trace(self, journey: Journey, result: JourneyResult, memory: JourneyMemory, attempt: int) -> None:
        settings = settings_for(self.config.settings.tracing, journey)
        if not settings.on:
            return
        run_dir = self.run_dir(self._run_id)
        public = self.config.public_url
        report = f"{public.rstrip('/')}/{run_dir.name}/index.html" if public else str(run_dir.resolve() / "index.html")
        own = journey.options.get("network")
        network = self.config.settings.network.under(own if isinstance(own, NetworkSettings) else None)
        try:
            trace = JourneyTrace.start(settings, journey, self._run_id, attempt, report, network.first_party)
        except (MissingVariable, ValueError) as e:  # tracing.otlp with a ${VAR} that resolved to nothing usable
            raise self.config.problem(("tracing", "otlp"), str(e)) from None
        self._traces[id(memory)] = trace
        result.trace_id, result.trace_link = trace.trace_id, trace.link
        if id(trace.export) not in self._exports:
            self._exports.add(id(trace.export))
            self._export_list.append(trace.export)

    def _end_trace(self, memory: JourneyMemory, result: JourneyResult) -> None:
        trace = self._traces.pop(id(memory), None)
        if trace is not None:
            trace.end(result)

    def _begin_step_trace(self, sc: StepContext) -> None:
        """The step's span, and its trace context where the step's requests pick it up."""
        trace = self._traces.get(id(sc.memory))
        context = trace.begin_step(id(sc), sc.step) if trace is not None else None
        STEP_TRACE.set(context)
        if isinstance(sc.driver, SendsTraceContext):
            sc.driver.trace_with(context)

    async def _flush_traces(self, run: RunResult) -> None:
        """The run's spans sent (waiting a bounded time, off the event loop); a collector that
        did not take them is one warning of the run."""
        for export in self._export_list:
            await asyncio.to_thread(export.flush)
            if export.pending_warning and export.pending_warning not in run.warnings:
                run.warnings.append(export.pending_warning)
                export.pending_warning = None

    async def _close_journey(self, journey: Journey, driver: Driver | None, engine: Engine | None,
                             store: ArtifactStore, journey_dir: str, result: JourneyResult) -> None:
        """The trace saved, the context closed, and the engine handed back (restarted when the journey
        was cut off at its limit: what hung may have been the browser itself)."""
        if driver is not None:
            result.trace = await _save_trace(driver, store, journey_dir, result)
            try:
                await asyncio.wait_for(driver.close(), 15)
            except (TimeoutError, Exception):
                pass  # a context on a dead browser: nothing left to close
        if engine is not None:
            if result.status == FAILED and any(f.reason == Reason.JOURNEY_TIMEOUT for s in result.steps for f in s.findings):
                await self.engines.recover(engine_target(journey))
            self.engines.release(engine_target(journey))

    async def _check_engine_survived(self, journey: Journey, engine: Engine | None, generation: int | None,
                                     result: JourneyResult) -> None:
        """A browser that died under the journey explains its last failure: that is
        the robot's problem (robot_error), never a finding about the app."""
        if engine is None or result.status == PASSED:
            return  # every step passed: whatever happened to the browser afterwards did not touch this journey
        try:
            healthy = await engine.healthy()
        except Exception:
            healthy = False
        if healthy and self.engines.generation.get(engine_target(journey)) == generation:
            return
        result.status = ERROR
        result.robot_error = {"reason": "browser_crashed",
                              "message": f"{getattr(engine, 'name', 'the engine')} crashed or was killed during the journey"}
        last = next((s for s in reversed(result.steps) if s.status not in (SKIPPED,)), None)
        if last is not None and last.status in (FAILED, RUNNING):
            last.status = ERROR
            last.findings = []  # what failed there failed because the browser went away

    async def _steps(self, journey: Journey, driver: Driver, store: ArtifactStore, journey_dir: str, result: JourneyResult,
                     progress: Progress, judging: Judging, memory: JourneyMemory) -> None:
        await self._program(journey, driver, store, journey_dir, result, progress, judging, memory).run(journey.body)
        memory.steps_done = True

    def _program(self, journey: Journey, driver: Driver, store: ArtifactStore, journey_dir: str, result: JourneyResult,
                 progress: Progress, judging: Judging, memory: JourneyMemory) -> Program:
        """The walk over the journey's steps (groups, conditions, repeats, frames); a
        step that breaks the flow ends it, and the steps after it stay "skipped"."""
        async def run_step(step: Step, frames: Frames) -> bool:
            judging.raise_if_failed()
            progress.step, progress.phase, progress.action = step.index, "action", step
            sc = self._step_context(journey, step, driver, store, journey_dir, memory)
            return await self._run_step(sc, _result_of(result, step), progress, judging, frames)

        def note(steps: list[Step], words: str, skipped: bool) -> None:
            for step in steps:
                sr = _result_of(result, step)
                sr.notes.append(words)
                if skipped and not sr.runs:
                    sr.status = SKIPPED

        async def exhausted(group: Group) -> None:
            await judging.drain()  # the group's last step is recorded: the finding goes after its own
            assert group.repeat is not None and group.repeat.until is not None
            last = _result_of(result, list(leaves(group.steps))[-1])
            last.findings.append(Finding(
                kind=BREAKPOINT, reason=Reason.EXPECT_FAILED, fatal=True,
                message=f"{group.label}: {group.repeat.until.describe()} still did not hold after {group.repeat.max} rounds",
                evidence={"rounds": group.repeat.max, "url": last.url, "screenshot": last.screenshot}))
            last.status = FAILED

        return Program(driver, memory.scope, self.config, run_step, note, exhausted)

    async def _teardown(self, journey: Journey, driver: Driver | None, store: ArtifactStore, journey_dir: str,
                        result: JourneyResult, memory: JourneyMemory) -> None:
        """``teardown:`` always runs once the journey's steps are over, broken or not, with
        its own time limit; its findings stay on its own steps, apart from the journey's."""
        if not journey.teardown or driver is None:
            return
        judging = Judging(record=lambda sc, sr: self._record(sc, sr, result))
        walk = self._program(journey, driver, store, journey_dir, result, Progress(), judging, memory).run(journey.teardown)
        limit_s = _teardown_limit_s(journey)
        try:
            await asyncio.wait_for(walk, limit_s)
            await judging.drain()
        except (TimeoutError, RobotError) as e:
            await judging.finish(HANG_GRACE_S)
            for sr in result.teardown:
                if sr.status == RUNNING:
                    sr.status = ERROR if isinstance(e, RobotError) else FAILED
                    sr.notes.append(f"teardown cut off: {e}" if isinstance(e, RobotError)
                                    else f"teardown cut off after {limit_s:g}s")

    def _step_context(self, journey: Journey, step: Step, driver: Driver, store: ArtifactStore, journey_dir: str,
                      memory: JourneyMemory) -> StepContext:
        return StepContext(journey, step, driver, self.config, StepEvidence(), journey.budgets.timeout_ms, store, self.options,
                           journey_dir=journey_dir, memory=memory)

    async def _run_step(self, sc: StepContext, sr: StepResult, progress: Progress, judging: Judging,
                        frames: Frames = ()) -> bool:
        """One step in four phases: act (the action, then live checks, timed), capture
        (the screenshot, through the screen filters), judge (evidence checks: what needs
        the live page now, their verdicts on the pixels in ``judging`` while the journey
        goes on), record (``_record``, once the verdicts are in). True when the flow
        broke here (a fatal finding: verdicts never are)."""
        sr.status = RUNNING
        sr.runs += 1
        sr.budget_ms = sc.step.budget_ms if sc.step.budget_ms is not None else sc.journey.budgets.step_ms
        t0 = time.monotonic()
        self._begin_step_trace(sc)  # before the work starts: its task takes the step's trace context along
        # The step, and beside it a watcher asking the page whether it still answers
        # (hang.py): a page that stops answering cuts the step off within its hard timeout.
        work = asyncio.ensure_future(self._step_phases(sc, sr, progress, frames))
        watch = asyncio.ensure_future(watch_for_hang(sc.driver, sc.timeout_ms / 1000, app=sc.journey.target == "app"))
        try:
            await asyncio.wait([work, watch], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (work, watch):
                if not task.done():
                    task.cancel()  # the journey was cut off (its limit, a stopping service), or one of them won
        if work.done() and not work.cancelled():
            parts = work.result()  # a robot error ends the journey as before
            judging.add(sc, sr, parts)
            return _fatal(sc.findings, parts) and not sc.step.optional
        await asyncio.wait([work], timeout=HANG_CANCEL_S)  # Playwright calls end at once when cancelled
        await self._hung(sc, sr, watch.result(), t0)
        judging.add(sc, sr, [])
        return True

    async def _step_phases(self, sc: StepContext, sr: StepResult, progress: Progress,
                           frames: Frames) -> list[list[Finding] | Verdict]:
        """Act, capture, look: the step as it runs when the page answers."""
        findings = await self._act(sc, sr, progress, frames)
        sr.duration_ms = round(sc.evidence.duration_ms, 1)
        await self._capture(sc, sr)
        error = sc.evidence.action_error
        if error is not None:
            action = ACTIONS[sc.step.action]
            findings.insert(0, Finding(kind=error.kind, reason=error.reason,
                                       message=f"could not {action.describe(sc.step.params)}: {error}",
                                       evidence={**error.evidence, "url": sc.evidence.url}, fatal=True))
        sc.findings = findings
        return await self._look(sc)

    async def _hung(self, sc: StepContext, sr: StepResult, hang: Hang, t0: float) -> None:
        """The page stopped answering (or flooded dialogs): the finding, with the last
        picture of the screen Patrol could get, then the hung tab is closed. The journey
        ends here; teardown runs in a fresh tab."""
        driver = sc.driver
        sr.duration_ms = round((time.monotonic() - t0) * 1000, 1)
        sc.evidence.duration_ms = sr.duration_ms
        shot = None
        try:
            png = await asyncio.wait_for(driver.last_screen(), HANG_SCREEN_S)
            if png is not None:
                png = await asyncio.wait_for(self._filtered(sc, png), HANG_SCREEN_S)
                sc.evidence.screenshot_png = png
                shot = sc.artifacts.write(sc.artifacts.step_file(sc.journey_dir, sc.step.index, sc.step.key, ".png"), png)
        except (TimeoutError, RobotError):
            shot = None  # a screen the filters (redaction) could not go over is never written
        if shot is None and sc.memory.last_screenshot is not None:
            shot = sc.memory.last_screenshot  # the last good one, already through the filters
            sc.notes.append("the page could no longer be captured: the screenshot is the last one taken before it hung")
        sr.screenshot = shot
        try:
            sc.evidence.url = await asyncio.wait_for(driver.current_url(), HANG_SCREEN_S)  # an app asks the device
        except (TimeoutError, RobotError):
            sc.evidence.url = ""
        sr.url = mask_url(sc.evidence.url)
        sc.evidence.events = driver.drain_events()
        sc.findings = [Finding(kind=hang.kind, reason=hang.reason, message=hang.message, fatal=True,
                               evidence={**hang.evidence, "url": sr.url, "screenshot": shot,
                                         "hard_timeout_ms": sc.timeout_ms})]
        try:
            await asyncio.wait_for(driver.abandon_page(), HANG_CLOSE_S)
        except TimeoutError:
            raise RobotError(f"the browser did not close a tab that stopped answering within {HANG_CLOSE_S:g}s") from None

    async def _filtered(self, sc: StepContext, png: bytes) -> bytes:
        for screen_filter in SCREEN_FILTERS:
            png = await screen_filter(sc, png)
        return png

    def _record(self, sc: StepContext, sr: StepResult, result: JourneyResult) -> None:
        """The step's result, once every check's verdict is in."""
        findings = sc.findings
        settle = sc.evidence.settle
        if settle is not None and not settle.settled:
            findings.append(Finding(
                kind=STALL, reason=Reason.SCREEN_UNSETTLED,
                message=f"the screen was still changing after {settle.waited_ms / 1000:.1f}s, so it could not be compared",
                evidence={**settle.to_dict()}))
        # Then what follows from a named cause (a failed font and its visual diff) becomes its evidence.
        earlier = tuple(f.cause for st in result.steps if st is not sr for f in st.findings if lasting_file(f.cause))
        folded = fold(_fold_consequences(findings), earlier)
        if sc.step.optional and folded:
            sr.notes += [f"optional step failed ({f.kind}, {f.reason}): {f.message}" for f in folded]
            folded = []
        sr.findings += folded
        for f in sr.findings:
            f.evidence.setdefault("screenshot", sr.screenshot)
            for img in json_objects(f.evidence, "images"):
                if img.get("path") is None:
                    img["path"] = sr.screenshot
        sr.artifacts.update(sc.report)
        sr.status = FAILED if sr.findings else (SKIPPED if sc.step.optional and sr.notes and findings else PASSED)
        sr.notes += sc.notes
        if (sc.evidence.robot_cpu_wait_ms or 0) >= ROBOT_WAIT_WORTH_SAYING_MS:
            sr.artifacts["robot_cpu_wait_ms"] = sc.evidence.robot_cpu_wait_ms  # how overloaded the robot was here
        trace = self._traces.get(id(sc.memory))
        if trace is not None:
            for f in sr.findings:  # where on-call finds what the backend did meanwhile
                f.evidence.setdefault("trace_id", trace.trace_id)
                if trace.link:
                    f.evidence.setdefault("trace_link", trace.link)
            trace.end_step(id(sc), sr)
        self._emit("step_finished", sc.journey, result, sr)

    async def _act(self, sc: StepContext, sr: StepResult, progress: Progress, frames: Frames) -> list[Finding]:
        """The action, then the live checks (waiting for what the step expects) and the
        values it stores, timed together: that is how long the customer waited."""
        evidence = sc.evidence
        findings: list[Finding] = []
        cpu_wait = evidence.cpu_wait = CpuWait()
        counted = asyncio.create_task(asyncio.to_thread(cpu_wait.begin))  # alongside the action, off the loop
        t0 = time.monotonic()
        try:
            sc.step = _resolved(sc.step, sc.memory.scope)
        except MissingValue as e:
            evidence.action_error = ActionFailed(str(e), reason=Reason.ACTION_FAILED)
        if evidence.action_error is None:
            try:
                async with within_frames(sc.driver, frames):
                    actx = await self._perform(sc)
                    progress.phase = "checks"  # a journey cut off from here on was waiting, not hung in the action
                    findings, sr.stored = list(actx.findings), {**sr.stored, **actx.stored}  # what the action found (request:)
                    if evidence.action_error is None and not any(f.fatal for f in findings):
                        findings += await self._live_checks(sc)
                    if evidence.action_error is None and sc.step.store and not any(f.fatal for f in findings):
                        await self._store(sc, sr)
            except ActionFailed as e:  # the frame itself is not there
                evidence.action_error = e
        evidence.duration_ms = (time.monotonic() - t0) * 1000
        await counted
        evidence.robot_cpu_wait_ms = await asyncio.to_thread(cpu_wait.stop)
        return findings

    async def _perform(self, sc: StepContext) -> ActionContext:
        """The action, with what it left besides (findings, report entries, stored values) in the context returned."""
        step, evidence = sc.step, sc.evidence
        action = ACTIONS[step.action]
        actx = ActionContext(sc.journey.base_url, sc.timeout_ms, find_on_screen=self._find_on_screen,
                             run_id=sc.memory.scope.run_id, vars=sc.memory.scope.vars, report=sc.report)
        try:
            await asyncio.wait_for(action.perform(sc.driver, step.params, actx), timeout=sc.timeout_ms / 1000 + HANG_GRACE_S)
        except ActionFailed as e:
            evidence.action_error = e
            if e.reason == Reason.ACTION_TIMEOUT and action.repeatable_on_timeout:
                evidence.action_error = await self._again_if_starved(sc, actx, e)
        except TimeoutError:
            evidence.action_error = ActionFailed(
                f"{action.describe(step.params)}: did not finish within {sc.timeout_ms / 1000 + HANG_GRACE_S:.0f}s",
                reason=Reason.ACTION_TIMEOUT,
            )
        return actx

    async def _again_if_starved(self, sc: StepContext, actx: ActionContext, error: ActionFailed) -> ActionFailed | None:
        """An action that timed out before it reached its element while the robot itself
        waited for a CPU (step/cpu_wait.py) is done again with that time, up to one more
        timeout: the timeout is the app's, as for expectations. None when it then worked."""
        more, starved = await robot_wait_owed(sc)
        if not more:
            return error
        action = ACTIONS[sc.step.action]
        try:
            await asyncio.wait_for(action.perform(sc.driver, sc.step.params, replace(actx, timeout_ms=more)),
                                   timeout=more / 1000 + HANG_GRACE_S)
        except ActionFailed as again:
            return error if again.reason == Reason.ACTION_TIMEOUT else again  # the first timeout says it fully
        except TimeoutError:
            return error
        sc.notes.append(f"{action.describe(sc.step.params)} needed up to {more / 1000:.2f}s more than its timeout: "
                        f"the robot had waited {starved / 1000:.2f}s for a CPU of its own machine (overloaded)")
        return None

    async def _live_checks(self, sc: StepContext) -> list[Finding]:
        findings: list[Finding] = []
        for expectation in sc.step.expect:
            check = CHECKS[expectation.check]
            if check.phase == "live" and not any(f.fatal for f in findings):
                findings += await check.run(sc, expectation.params)
        return findings

    async def _store(self, sc: StepContext, sr: StepResult) -> None:
        try:
            sr.stored.update(await store_values(sc.step.store, sc.driver, sc.memory.scope.vars, timeout_ms=sc.timeout_ms))
        except ActionFailed as e:
            sc.evidence.action_error = e

    async def _find_on_screen(self, driver: Driver, locator: Locator, timeout_ms: float) -> tuple[float, float]:
        return await locate_on_screen(driver, locator, timeout_ms=timeout_ms, config=self.config)

    async def _capture(self, sc: StepContext, sr: StepResult) -> None:
        """The screenshot a person would see now: settled first when a pixel check asks
        for it, then through every screen filter (redaction) before it is written."""
        evidence, driver = sc.evidence, sc.driver
        evidence.url = await driver.current_url()
        sr.url = mask_url(evidence.url)  # what reports, incidents and messages show: tokens masked
        if not driver.has_screen or not ACTIONS[sc.step.action].on_screen:  # request: nothing on screen to look at
            evidence.events = driver.drain_events()
            return
        if evidence.action_error is None and any(CHECKS[e.check].settle for e in sc.step.expect):
            png, evidence.settle = await settle_screen(driver, self.settle_timeout_ms)
        else:
            png = await driver.screenshot()
        for screen_filter in SCREEN_FILTERS:
            png = await screen_filter(sc, png)
        evidence.screenshot_png = png
        sr.screenshot = sc.artifacts.write(sc.artifacts.step_file(sc.journey_dir, sc.step.index, sc.step.key, ".png"), png)
        sc.memory.last_screenshot = sr.screenshot
        evidence.events = driver.drain_events()

    async def _look(self, sc: StepContext) -> list[list[Finding] | Verdict]:
        """Evidence checks, in order: each one's findings, or its verdict still to reach.
        Always-on detectors first, the step's own expectations after (visual last), so
        an expectation knows what is already wrong with this screen."""
        parts: list[list[Finding] | Verdict] = []
        for check in sorted(CHECKS.values(), key=lambda c: (bool(c.expect_key), c.order, c.name)):
            if check.phase != "evidence":
                continue
            broken = _fatal(sc.findings, parts)
            expectation = sc.step.expectation(check.name)
            if expectation is not None:
                if broken:
                    continue  # the flow already broke here: what it expected cannot be judged
                parts.append(await check.look(sc, expectation.params))
            elif check.always and check.enabled(sc) and (check.runs_on_broken_step or not broken):
                parts.append(await check.look(sc, None))
        return parts

    async def _journey_timed_out(self, journey: Journey, driver: Driver | None, store: ArtifactStore, journey_dir: str,
                                 result: JourneyResult, progress: Progress) -> None:
        """The journey ran past its time limit: keep a picture of where it hung. When
        the step's action itself never finished, that is also a breakpoint."""
        # The step whose action or live checks were running when the limit struck (earlier
        # steps may still be waiting for their verdicts; they are not what hung).
        current = result.steps[progress.step - 1] if progress.step else None
        sr = current if current is not None and current.status == RUNNING else next(
            (s for s in result.steps if s.status == RUNNING), None)
        if sr is None:
            return
        shot = None
        if driver is not None:
            try:
                # A page that hangs would hold a screenshot forever: the browser's own capture first.
                png = await asyncio.wait_for(driver.last_screen(), HANG_SCREEN_S)
                if png is None:
                    png = await asyncio.wait_for(driver.screenshot(), HANG_SCREEN_S)
                shot = store.write(store.step_file(journey_dir, sr.index, sr.key, "-hung.png"), png)
            except Exception:
                shot = None
        sr.screenshot = shot or sr.screenshot
        sr.status = FAILED
        limit_ms = journey.budgets.journey_ms or 0.0
        sr.findings.append(Finding(
            kind=STALL, reason=Reason.JOURNEY_TIMEOUT,
            message=f"the journey was cut off after {limit_ms / 1000:g}s while this step was still running",
            evidence={"journey_timeout_ms": journey.budgets.journey_ms, "screenshot": shot}, fatal=True))
        if not sr.url and driver is not None:
            try:
                sr.url = await asyncio.wait_for(driver.current_url(), 5)
            except Exception:
                pass
        step = progress.action
        if progress.phase == "action" and step is not None and progress.step == sr.index:
            action = ACTIONS[step.action]
            sr.findings.append(Finding(
                kind=BREAKPOINT, reason=Reason.ACTION_TIMEOUT,
                message=(f"could not {action.describe(step.params)}: it never finished "
                         f"(cut off with the journey after {limit_ms / 1000:g}s)"),
                evidence={"journey_timeout_ms": journey.budgets.journey_ms, "screenshot": shot, "url": sr.url}, fatal=True))


async def _save_trace(driver: Driver, store: ArtifactStore, journey_dir: str, result: JourneyResult) -> str | None:
    """The journey's browser trace, kept in its folder when its trace setting says so
    (by default only for a journey that failed or broke); its path in the run folder."""
    relative = f"{journey_dir}/trace.zip"
    try:
        kept = await asyncio.wait_for(driver.save_trace(store.run_dir / relative, result.status in (FAILED, ERROR)), 60)
    except Exception:
        return None  # a trace never costs the journey its result
    return relative if kept else None


def engine_target(journey: Journey) -> str:
    """The engine a journey runs on: its target's, except a web journey whose every step
    needs no browser (``request:`` steps; conditions only on stored values), which runs on
    plain HTTP ("http") and never starts Chromium."""
    if journey.target != "web":
        return str(journey.target)
    nodes = [*journey.body, *journey.teardown]

    def browserless(nodes: list[Node]) -> bool:
        for node in nodes:
            if isinstance(node, Group):
                conditions = [node.condition, node.repeat.until if node.repeat else None]
                if node.frame is not None or not browserless(node.steps):
                    return False
            else:
                conditions = [node.condition]
                if node.frame is not None or node.store or node.expect \
                        or not ACTIONS[node.action].without_browser(node.params):
                    return False
            if any(c is not None and not isinstance(c, VarCondition) for c in conditions):
                return False
        return True

    return "http" if nodes and browserless(nodes) else str(journey.target)


def _teardown_limit_s(journey: Journey) -> float:
    return len(journey.teardown_steps) * (journey.budgets.timeout_ms / 1000 * 2 + HANG_GRACE_S)


def _grace_s(journey: Journey) -> float:
    """After the journey's limit: its teardown, its last verdicts, its trace and tab."""
    return JOURNEY_GRACE_S + HANG_GRACE_S + _teardown_limit_s(journey)


def _warm_up(ocr_lang: str | None, ocr_engine: str = "tesseract") -> None:
    """``ocr_lang``: also load the OCR models (``ocr_engine``'s) for it (the run reads screens)."""
    def load() -> None:
        try:
            for name in WARM_UP_MODULES:
                importlib.import_module(name)
            if ocr_lang is not None:
                importlib.import_module("patrol.ocr.engine").warm_up(ocr_lang, ocr_engine)
        except Exception:
            return  # the step that needs it will say what is wrong

    threading.Thread(target=load, name="patrol-warm-up", daemon=True).start()


def _reads_screen(journey: Journey, config: Config) -> bool:
    """Whether the journey's checks will OCR: text expectations or the forbidden-text scan."""
    detectors = journey.option("detectors", dict) or {}
    if detectors.get("forbidden_text", config.settings.detectors.on("forbidden_text")):
        return True
    return any(e.check in ("text", "not_text") for step in journey.steps for e in step.expect)


def _fatal(findings: list[Finding], parts: list[list[Finding] | Verdict]) -> bool:
    return any(f.fatal for f in findings) or any(f.fatal for part in parts if isinstance(part, list) for f in part)


def _cut_short(result: JourneyResult, status: Status) -> None:
    """The step that was running when the journey ended early gets the journey's
    status (error / interrupted); the steps after it stay skipped."""
    for s in result.steps:
        if s.status == RUNNING:
            s.status = status


def _fold_consequences(findings: list[Finding]) -> list[Finding]:
    """One problem, one finding: what the screen showed because of a cause goes into
    the cause's evidence (``consequences``). A cause that does not break the flow (a
    font that did not load) explains no broken flow: it absorbs only what looks wrong."""
    findings = _fold_broken_images(findings)
    causes = [f for f in findings if f.reason in ROOT_CAUSES]
    # Without a failed request or a crash, a page stuck loading is the cause of what it
    # then shows (a blank screen, an element that never came).
    causes = causes or [f for f in findings if f.reason == Reason.SPINNER_STUCK]
    if not causes:
        return findings
    cause = next((f for f in causes if f.fatal), causes[0])
    out = []
    for f in findings:
        if f.reason in SYMPTOMS and (cause.fatal or not f.fatal) and f is not cause:
            growing_list(cause.evidence, "consequences").append(f.message)
            continue
        out.append(f)
    return out


def _fold_broken_images(findings: list[Finding]) -> list[Finding]:
    """A picture that did not load is one finding: the broken image on screen (what
    the customer sees), with its failed request in the evidence."""
    shown = [f for f in findings if f.reason == Reason.BROKEN_IMAGE]
    srcs = {mask_url(str(b.get("src"))) for f in shown for b in json_objects(f.evidence, "broken")}
    out = []
    for f in findings:
        requests = json_list(f.evidence, "requests")
        if (shown and f.reason == Reason.RESOURCE_FAILED and not f.fatal and requests
                and all(isinstance(r, dict) and r.get("type") == "image" and r.get("url") in srcs for r in requests)):
            growing_list(shown[0].evidence, "requests").extend(requests)
            continue
        out.append(f)
    return out


def _journey_dirs(journeys: list[Journey]) -> dict[int, str]:
    dirs: dict[int, str] = {}
    used: set[str] = set()
    for j in journeys:
        base = slug(j.name)
        name, n = base, 2
        while name in used:
            name, n = f"{base}-{n}", n + 1
        used.add(name)
        dirs[id(j)] = name
    return dirs


def _step_results(steps: list[Step]) -> list[StepResult]:
    return [StepResult(s.index, s.name, s.action, status=SKIPPED, phase=s.phase) for s in steps]


def _result_of(result: JourneyResult, step: Step) -> StepResult:
    """The step's result: setup and steps count from 1, teardown after them."""
    if step.phase == "teardown":
        return result.teardown[step.index - len(result.steps) - 1]
    return result.steps[step.index - 1]


def _resolved(step: Step, scope: Scope) -> Step:
    """The step with ``${vars.X}``, ``${run.id}``... filled in (the same step when it has none)."""
    params, expect = substitute(step.params, scope), substitute(step.expect, scope)
    if params is step.params and expect == step.expect:
        return step
    return replace(step, params=params, expect=expect)
