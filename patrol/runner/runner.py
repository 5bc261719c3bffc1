"""The orchestrator: runs journeys step by step against a Driver, gathers evidence,
asks the checks for findings, and returns a ``RunResult``. It knows nothing about
Playwright, Appium, report formats or incidents."""

from __future__ import annotations

import asyncio
import secrets as _random
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from ..actions import ACTIONS, ActionContext
from ..checks import CHECKS
from ..config import Config
from ..drivers import Engine, engine_class
from ..errors import ActionFailed, RobotError
from ..journey.model import Journey, Step
from ..results import (
    BREAKPOINT,
    ERROR,
    FAILED,
    INTERRUPTED,
    PASSED,
    SKIPPED,
    STALL,
    Finding,
    JourneyResult,
    RunResult,
    StepResult,
)
from .artifacts import ArtifactStore, slug
from .evidence import StepContext, StepEvidence
from .settle import settle_screen

# Findings that explain why a later expectation failed; the expectation is then a
# consequence, folded into the cause's evidence (one problem, one finding).
ROOT_CAUSES = {"request_failed", "http_error", "page_error",
               "app_crashed", "app_left_foreground", "system_dialog", "frozen_screen"}
# Extra time Patrol gives a driver call beyond the hard timeout before it declares
# the action hung (the driver's own timeout should fire first).
HANG_GRACE_S = 10.0


@dataclass
class RunOptions:
    output: Path | None = None  # exact run folder
    reports_root: Path = Path("reports")
    base_url: str | None = None
    headed: bool = False
    concurrency: int = 1
    update_baselines: bool = False
    run_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Listener:
    """Observer of a run's progress (console, metrics...). All methods optional."""

    def run_started(self, run: RunResult, journeys: list[Journey]) -> None: ...
    def journey_started(self, journey: Journey, result: JourneyResult) -> None: ...
    def step_finished(self, journey: Journey, result: JourneyResult, step: StepResult) -> None: ...
    def journey_finished(self, journey: Journey, result: JourneyResult) -> None: ...
    def run_finished(self, run: RunResult) -> None: ...


def new_run_id() -> str:
    now = datetime.now(timezone.utc)
    return now.strftime("%Y%m%d-%H%M%S-") + _random.token_hex(2)


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# Screen filters run on every screenshot before anything stores, compares or sends
# it (redaction registers here). Signature: async (StepContext, png) -> png.
ScreenFilter = Callable[..., Any]
SCREEN_FILTERS: list[ScreenFilter] = []


class Runner:
    def __init__(self, config: Config | None = None, options: RunOptions | None = None, listeners: list[Listener] | None = None):
        self.config = config or Config()
        self.options = options or RunOptions()
        self.listeners = listeners or []
        self._engines: dict[str, Engine] = {}
        visual = self.config.section("visual") or {}
        from ..durations import parse_ms

        self.settle_timeout_ms = parse_ms(visual.get("settle_timeout", "5s"))
        self._engine_locks: dict[str, asyncio.Lock] = {}

    def _emit(self, name: str, *args: Any) -> None:
        for listener in self.listeners:
            getattr(listener, name)(*args)

    # -- engines -------------------------------------------------------------------
    def _make_engine(self, target: str) -> Engine:
        cls = engine_class(target)
        return cls.from_config(self.config, self.options)  # type: ignore[attr-defined]

    async def _engine(self, target: str) -> Engine:
        lock = self._engine_locks.setdefault(target, asyncio.Lock())
        async with lock:
            engine = self._engines.get(target)
            if engine is None:
                engine = self._make_engine(target)
                await engine.start()
                self._engines[target] = engine
            elif not await engine.healthy():
                # The browser crashed under an earlier journey: start a fresh one so
                # the rest of the run goes on.
                await engine.restart()
            return engine

    async def close(self) -> None:
        for engine in self._engines.values():
            await engine.close()
        self._engines.clear()

    # -- run -------------------------------------------------------------------------
    def run_dir(self, run_id: str) -> Path:
        return Path(self.options.output) if self.options.output else Path(self.options.reports_root) / run_id

    async def run(self, journeys: list[Journey]) -> RunResult:
        run_id = self.options.run_id or new_run_id()
        run = RunResult(run_id=run_id, started_at=_now_iso())
        run_dir = self.run_dir(run_id)
        run.run_dir = str(run_dir.resolve())
        store = ArtifactStore(run_dir)
        self._emit("run_started", run, journeys)
        t0 = time.monotonic()
        journeys = [j.with_base_url(self.options.base_url) for j in journeys]
        sem = asyncio.Semaphore(max(1, self.options.concurrency))
        dirs = _journey_dirs(journeys)

        async def one(j: Journey) -> JourneyResult:
            async with sem:
                return await self.run_journey(j, store, dirs[id(j)])

        try:
            run.journeys = list(await asyncio.gather(*(one(j) for j in journeys)))
        finally:
            await self.close()
        run.duration_ms = round((time.monotonic() - t0) * 1000, 1)
        run.finished_at = _now_iso()
        run.compute_status()
        self._emit("run_finished", run)
        return run

    async def confirm(self, run: RunResult, journeys: list[Journey], attempt: int = 2) -> list[JourneyResult]:
        """Run these journeys again at once, into the same run folder, as attempt N.

        A failure seen once may be a blip; incidents are opened only when it repeats.
        Both attempts stay in the run (and its report)."""
        store = ArtifactStore(Path(run.run_dir))
        journeys = [j.with_base_url(self.options.base_url) for j in journeys]
        dirs = {id(j): f"{d}-attempt{attempt}" for j, d in ((j, _journey_dirs([j])[id(j)]) for j in journeys)}
        sem = asyncio.Semaphore(max(1, self.options.concurrency))

        async def one(j: Journey) -> JourneyResult:
            async with sem:
                return await self.run_journey(j, store, dirs[id(j)], attempt=attempt)

        try:
            results = list(await asyncio.gather(*(one(j) for j in journeys)))
        finally:
            await self.close()
        run.journeys.extend(results)
        run.compute_status()
        return results

    async def run_journey(self, journey: Journey, store: ArtifactStore, journey_dir: str, attempt: int = 1) -> JourneyResult:
        result = JourneyResult(
            name=journey.name,
            file=journey.file,
            target=journey.target,
            device=journey.device.name,
            tags=list(journey.tags),
            started_at=_now_iso(),
            attempt=attempt,
            steps=[StepResult(s.index, s.name, s.action, status=SKIPPED) for s in journey.steps],
        )
        self._emit("journey_started", journey, result)
        t0 = time.monotonic()
        driver = None
        try:
            engine = await self._engine(journey.target)
            driver = await engine.new_driver(journey)
            steps = self._steps(journey, driver, store, journey_dir, result)
            if journey.budgets.journey_ms:
                await asyncio.wait_for(steps, timeout=journey.budgets.journey_ms / 1000)
            else:
                await steps
            result.status = FAILED if result.findings else PASSED
        except asyncio.TimeoutError:
            await self._journey_timed_out(journey, driver, store, journey_dir, result)
            result.status = FAILED
        except RobotError as e:
            result.status = ERROR
            result.robot_error = {"reason": e.reason, "message": str(e)}
        except asyncio.CancelledError:
            result.status = INTERRUPTED
            raise
        finally:
            if driver is not None:
                await driver.close()
            result.duration_ms = round((time.monotonic() - t0) * 1000, 1)
            self._emit("journey_finished", journey, result)
        return result

    async def _steps(self, journey: Journey, driver, store: ArtifactStore, journey_dir: str, result: JourneyResult) -> None:
        memory: dict = {}
        for step in journey.steps:
            step_result = result.steps[step.index - 1]
            await self._run_step(journey, step, driver, store, journey_dir, step_result, memory)
            self._emit("step_finished", journey, result, step_result)
            if any(f.fatal for f in step_result.findings):
                break  # the flow cannot go on; later steps stay "skipped"

    async def _run_step(self, journey: Journey, step: Step, driver, store: ArtifactStore, journey_dir: str, sr: StepResult, memory: dict) -> None:
        action = ACTIONS[step.action]
        timeout_ms = journey.budgets.timeout_ms
        actx = ActionContext(journey.base_url, timeout_ms)
        evidence = StepEvidence()
        sc = StepContext(journey, step, driver, self.config, evidence, timeout_ms, store, self.options,
                         journey_dir=journey_dir, memory=memory)
        findings: list[Finding] = []
        sr.status = "running"
        sr.budget_ms = step.budget_ms if step.budget_ms is not None else journey.budgets.step_ms

        t0 = time.monotonic()
        try:
            await asyncio.wait_for(action.perform(driver, step.params, actx), timeout=timeout_ms / 1000 + HANG_GRACE_S)
        except ActionFailed as e:
            evidence.action_error = e
        except asyncio.TimeoutError:
            evidence.action_error = ActionFailed(
                f"{action.describe(step.params)}: did not finish within {timeout_ms / 1000 + HANG_GRACE_S:.0f}s",
                reason="action_timeout",
            )
        if evidence.action_error is None:
            for check_name, params in step.expect.items():
                check = CHECKS[check_name]
                if check.phase == "live" and not any(f.fatal for f in findings):
                    findings += await check.run(sc, params)
        evidence.duration_ms = (time.monotonic() - t0) * 1000
        sr.duration_ms = round(evidence.duration_ms, 1)

        evidence.url = await driver.current_url()
        sr.url = evidence.url
        if evidence.action_error is None and any(getattr(CHECKS[c], "settle", False) for c in step.expect):
            png, settle = await settle_screen(driver, self.settle_timeout_ms)
            evidence.cache["settle"] = settle
        else:
            png = await driver.screenshot()
        for screen_filter in SCREEN_FILTERS:
            png = await screen_filter(sc, png)
        evidence.screenshot_png = png
        sr.screenshot = store.write(store.step_file(journey_dir, step.index, step.key, ".png"), png)
        evidence.events = driver.drain_events()

        if evidence.action_error is not None:
            e = evidence.action_error
            findings.insert(
                0,
                Finding(getattr(e, "kind", BREAKPOINT), e.reason, f"could not {action.describe(step.params)}: {e}",
                        {**e.evidence, "url": evidence.url}, True),
            )
        for check in CHECKS.values():
            if check.phase != "evidence":
                continue
            if check.name in step.expect:
                findings += await check.run(sc, step.expect[check.name])
            elif check.always and check.enabled(sc):
                if check.name == "budget" and any(f.fatal for f in findings):
                    continue  # a broken step is not also "slow"
                findings += await check.run(sc, None)

        settle = evidence.cache.get("settle")
        if settle and not settle["settled"]:
            findings.append(
                Finding(STALL, "screen_unsettled",
                        f"the screen was still changing after {settle['waited_ms'] / 1000:.1f}s, so it could not be compared",
                        dict(settle)))
        sr.findings = _fold_consequences(findings)
        for f in sr.findings:
            f.evidence.setdefault("screenshot", sr.screenshot)
            for img in f.evidence.get("images", []):
                if img.get("path") is None:
                    img["path"] = sr.screenshot
        sr.artifacts.update(sc.report)
        sr.status = FAILED if sr.findings else PASSED

    async def _journey_timed_out(self, journey, driver, store, journey_dir, result: JourneyResult) -> None:
        """The journey ran past its time limit: keep a picture of where it hung."""
        sr = next((s for s in result.steps if s.status == "running"), None)
        if sr is None:
            return
        shot = None
        if driver is not None:
            try:
                shot = store.write(store.step_file(journey_dir, sr.index, sr.key, "-hung.png"), await asyncio.wait_for(driver.screenshot(), 10))
            except Exception:
                shot = None
        sr.screenshot = shot or sr.screenshot
        sr.status = FAILED
        limit = journey.budgets.journey_ms / 1000
        sr.findings.append(
            Finding(STALL, "journey_timeout", f"the journey was cut off after {limit:.0f}s while this step was still running",
                    {"journey_timeout_ms": journey.budgets.journey_ms, "screenshot": shot}, True)
        )


def _fold_consequences(findings: list[Finding]) -> list[Finding]:
    causes = [f for f in findings if f.reason in ROOT_CAUSES]
    if not causes:
        return findings
    out = []
    for f in findings:
        if f.reason == "expect_failed":
            causes[0].evidence.setdefault("consequences", []).append(f.message)
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
