"""The runner's orchestration rules, without a browser: a scripted app behind the fake
driver (patrol/drivers/fake.py), the real loader, runner, checks, reports and state
database. What only a browser proves (that a real 5xx, a real crash, a real spinner
are seen) stays in the Chromium tests."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from patrol.config import load_config
from patrol.core.evidence import FailedRequest, PageError
from patrol.drivers.fake import FakeApp, FakeElement, FakeEngine, FakeScreen, Reaction
from patrol.journey import load_all
from patrol.journey.model import Journey
from patrol.results import JourneyResult, RunResult, StepResult
from patrol.runner import Listener, Runner, RunOptions
from patrol.runner.runner import EnginePool

# The always-on pixel detectors judge real screenshots; the fake's are patterns.
QUIET = "detectors: {blank_screen: false, broken_image: false, forbidden_text: false}\n"

LOGIN_STEPS = """\
  - name: open login
    goto: /login
    expect: {visible: "#form"}
  - name: enter name
    fill: {selector: "#user", text: demo}
  - name: sign in
    click: "#submit"
    expect: {url: /home, visible: "#total"}
  - name: open cards
    click: "#cards"
    expect: {visible: "#card-list"}
"""


class _NoCpuWait:
    """The fake driver takes no CPU: how long the machine kept the robot waiting says
    nothing about orchestration, so these tests do not measure it."""

    def begin(self) -> None:
        pass

    def stop(self) -> None:
        return None


@pytest.fixture(autouse=True)
def _no_cpu_wait(monkeypatch):
    from patrol.runner import runner as runner_module
    monkeypatch.setattr(runner_module, "CpuWait", _NoCpuWait)


def bank(**reactions: Reaction) -> FakeApp:
    """A tiny bank: login -> home -> cards. ``reactions`` override what an action does,
    keyed "path|action selector" (e.g. ``{"/login|click #submit": Reaction(...)}``)."""
    app = FakeApp({
        "/login": FakeScreen(elements={"#form": FakeElement(), "#user": FakeElement(), "#submit": FakeElement()},
                             on={"click #submit": Reaction(go="/home")}),
        "/home": FakeScreen(elements={"#total": FakeElement(), "#cards": FakeElement()},
                            on={"click #cards": Reaction(go="/cards")}),
        "/cards": FakeScreen(elements={"#card-list": FakeElement()}),
    })
    for key, reaction in reactions.items():
        path, _, what = key.partition("|")
        if what:
            app.screen(path).on[what] = reaction
        else:
            app.screen(path).enter = reaction
    return app


def journey_file(folder: Path, name: str, steps: str = LOGIN_STEPS, *, step: str = "500ms", timeout: str = "600ms",
                 journey: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    budgets = f"step: {step}, timeout: {timeout}" + (f", journey: {journey}" if journey else "")
    path = folder / f"{name}.yaml"
    path.write_text(f"name: {name}\nbase_url: http://fake.test\nbudgets: {{{budgets}}}\nsteps:\n{steps}", encoding="utf-8")
    return path


class Harness:
    def __init__(self, tmp_path: Path, app: FakeApp, config: str = "", **engine: Any):
        cfg = tmp_path / "patrol.yaml"
        cfg.write_text(QUIET + config, encoding="utf-8")
        self.tmp = tmp_path
        self.config = load_config(str(cfg))
        self.app = app
        self.engines: list[FakeEngine] = []
        factory = FakeEngine.factory(app, **engine)

        def make(target: str) -> FakeEngine:
            self.engines.append(factory(target))
            return self.engines[-1]

        self.pool = EnginePool(make)

    def runner(self, *, concurrency: int = 1, listeners: list[Listener] | None = None, name: str = "run") -> Runner:
        return Runner(self.config, RunOptions(output=self.tmp / name, concurrency=concurrency), listeners or [], engines=self.pool)

    def run(self, *paths: Path, concurrency: int = 1, listeners: list[Listener] | None = None) -> RunResult:
        runner = self.runner(concurrency=concurrency, listeners=listeners)

        async def go() -> RunResult:
            try:
                return await runner.run(load_all([str(p) for p in paths]))
            finally:
                await self.pool.close()

        return asyncio.run(go())


def statuses(j: JourneyResult) -> list[str]:
    return [s.status for s in j.steps]


def found(j: JourneyResult) -> list[tuple[str, str, str]]:
    return [(s.name, f.kind, f.reason) for s in j.steps for f in s.findings]


def test_a_healthy_journey_passes_with_a_screenshot_per_step_and_closes_its_driver(tmp_path):
    h = Harness(tmp_path, bank())
    run = h.run(journey_file(tmp_path / "j", "login"))
    j = run.journeys[0]
    assert run.status == "passed" and j.status == "passed", found(j)
    assert statuses(j) == ["passed"] * 4
    for s in j.steps:
        assert (Path(run.run_dir) / s.screenshot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert j.steps[-1].url == "http://fake.test/cards"
    engine = h.engines[0]
    assert engine.starts == 1 and len(engine.drivers) == 1 and not engine.open_drivers


def test_a_fatal_finding_skips_the_later_steps(tmp_path):
    app = bank()
    del app.screens["/home"].elements["#total"]  # signed in, but the page never shows the total
    h = Harness(tmp_path, app)
    j = h.run(journey_file(tmp_path / "j", "login")).journeys[0]
    assert j.status == "failed"
    assert found(j) == [("sign in", "breakpoint", "expect_failed")]
    assert statuses(j) == ["passed", "passed", "failed", "skipped"]
    assert "click #cards" not in app.calls, "nothing is done after the flow broke"


def test_an_action_that_fails_is_a_breakpoint_and_its_expectations_are_not_judged(tmp_path):
    app = bank(**{"/login|click #submit": Reaction(fail="element_not_visible")})
    h = Harness(tmp_path, app)
    j = h.run(journey_file(tmp_path / "j", "login")).journeys[0]
    assert found(j) == [("sign in", "breakpoint", "element_not_visible")], "no expect_failed for url/visible as well"
    assert statuses(j) == ["passed", "passed", "failed", "skipped"]


@pytest.mark.parametrize("fault, reason", [
    (Reaction(failed_requests=[FailedRequest("http://fake.test/api/login", "POST", 500)]), "request_failed"),
    (Reaction(page_errors=[PageError("TypeError: x is undefined")]), "page_error"),
])
def test_an_expectation_that_failed_because_of_a_5xx_or_a_script_error_is_folded_into_the_cause(tmp_path, fault, reason):
    h = Harness(tmp_path, bank(**{"/login|click #submit": fault}))  # the click "works" but the app stays on /login
    j = h.run(journey_file(tmp_path / "j", "login")).journeys[0]
    assert found(j) == [("sign in", "breakpoint", reason)], "one problem, one finding"
    consequences = j.steps[2].findings[0].evidence["consequences"]
    # The first failed expectation ends the step's live checks: #total is not also waited for.
    assert len(consequences) == 1 and "/home" in consequences[0], consequences
    assert statuses(j) == ["passed", "passed", "failed", "skipped"]


def test_over_budget_is_a_stall_that_does_not_end_the_journey(tmp_path):
    h = Harness(tmp_path, bank(**{"/login|click #submit": Reaction(go="/home", delay_s=0.3)}))
    j = h.run(journey_file(tmp_path / "j", "login", step="150ms", timeout="2s")).journeys[0]
    assert found(j) == [("sign in", "stall", "over_budget")]
    assert j.steps[2].findings[0].evidence["budget_ms"] == 150
    assert statuses(j) == ["passed", "passed", "failed", "passed"], "a stall is not a breakpoint"


def test_a_broken_step_is_not_also_over_budget(tmp_path):
    h = Harness(tmp_path, bank(**{"/login|click #submit": Reaction(delay_s=0.3, fail="action_failed")}))
    j = h.run(journey_file(tmp_path / "j", "login", step="150ms", timeout="2s")).journeys[0]
    assert found(j) == [("sign in", "breakpoint", "action_failed")]


def test_a_journey_over_its_time_limit_is_cut_off_with_a_picture_and_the_hung_action_is_a_breakpoint(tmp_path):
    app = bank(**{"/home|click #cards": Reaction(hang=True)})
    h = Harness(tmp_path, app)
    folder = tmp_path / "j"
    hang = journey_file(folder, "hang", timeout="60s", journey="1s")
    others = [journey_file(folder, f"ok-{i}", LOGIN_STEPS.split("  - name: open cards")[0]) for i in range(3)]
    t0 = time.monotonic()
    run = h.run(hang, *others, concurrency=4)
    by = {j.name: j for j in run.journeys}
    j = by["hang"]
    assert j.status == "failed"
    assert ("open cards", "stall", "journey_timeout") in found(j)
    assert ("open cards", "breakpoint", "action_timeout") in found(j), "the action never finished"
    step = j.steps[3]
    assert step.screenshot.endswith("-hung.png") and (Path(run.run_dir) / step.screenshot).exists()
    assert 0.9 < j.duration_ms / 1000 < 5
    assert time.monotonic() - t0 < 10, "not held up by the action's own 60 s timeout"
    for i in range(3):
        assert by[f"ok-{i}"].status == "passed", "the others are not held up by it"
        assert by[f"ok-{i}"].duration_ms < j.duration_ms


def test_a_journey_cut_off_while_waiting_in_an_expectation_is_a_timeout_but_no_action_timeout(tmp_path):
    app = bank()
    del app.screens["/cards"].elements["#card-list"]
    h = Harness(tmp_path, app)
    j = h.run(journey_file(tmp_path / "j", "slow", timeout="30s", journey="800ms")).journeys[0]
    assert found(j) == [("open cards", "stall", "journey_timeout")], "the click finished: only the wait was cut"


def test_a_robot_error_is_an_error_with_no_findings(tmp_path):
    h = Harness(tmp_path, bank(**{"/login|click #submit": Reaction(robot_error="the driver lost its session")}))
    run = h.run(journey_file(tmp_path / "j", "login"))
    j = run.journeys[0]
    assert j.status == "error" and run.status == "error"
    assert j.robot_error == {"reason": "robot_error", "message": "the driver lost its session"}
    assert not j.findings, "a robot failure is never a finding about the app"
    assert statuses(j) == ["passed", "passed", "error", "skipped"]


def test_an_engine_that_cannot_start_is_a_robot_error_for_every_journey(tmp_path):
    h = Harness(tmp_path, bank(), start_error="no browser here")
    folder = tmp_path / "j"
    run = h.run(journey_file(folder, "a"), journey_file(folder, "b"))
    assert run.status == "error"
    for j in run.journeys:
        assert j.status == "error" and j.robot_error["message"] == "no browser here" and not j.findings
        assert statuses(j) == ["skipped"] * 4


def test_an_engine_crash_mid_journey_is_a_robot_error_and_the_next_journey_gets_a_new_engine(tmp_path):
    # The engine dies after "enter name"; the next action finds it gone.
    app = bank(**{"/login|fill #user": Reaction(crash=True)})
    h = Harness(tmp_path, app)
    folder = tmp_path / "j"
    run = h.run(journey_file(folder, "victim"), journey_file(folder, "later"))
    by = {j.name: j for j in run.journeys}
    victim = by["victim"]
    assert victim.status == "error" and victim.robot_error["reason"] == "browser_crashed", victim
    assert not victim.findings
    assert statuses(victim) == ["passed", "passed", "error", "skipped"]
    # The crash is scripted on every login; "later" crashes too, on an engine restarted for it.
    engine = h.engines[0]
    assert engine.starts == 2 and by["later"].status == "error"
    assert run.status == "error"


def test_an_expectation_that_failed_because_the_engine_died_is_a_robot_error_not_a_finding(tmp_path):
    # The click goes through, then the browser dies: the dying page never shows #total.
    app = bank(**{"/login|click #submit": Reaction(crash=True)})
    h = Harness(tmp_path, app)
    j = h.run(journey_file(tmp_path / "j", "login")).journeys[0]
    assert j.status == "error" and j.robot_error["reason"] == "browser_crashed"
    assert not j.findings, "what failed there failed because the browser went away"
    assert statuses(j) == ["passed", "passed", "error", "skipped"]


class _InterruptWhen(Listener):
    def __init__(self, when: Callable[[Journey, StepResult], bool]):
        self.when = when
        self.runner: Runner | None = None

    def step_finished(self, journey: Journey, result: JourneyResult, step: StepResult) -> None:
        if self.runner is not None and self.when(journey, step):
            asyncio.get_running_loop().call_later(0.2, self.runner.interrupt)


def test_an_interrupted_run_marks_running_journeys_interrupted_and_never_starts_the_waiting_ones(tmp_path):
    app = bank(**{"/home|click #cards": Reaction(hang=True)})
    h = Harness(tmp_path, app)
    folder = tmp_path / "j"
    paths = [journey_file(folder, "first", timeout="60s"), journey_file(folder, "waiting")]
    listener = _InterruptWhen(lambda journey, step: journey.name == "first" and step.index == 3)
    runner = h.runner(listeners=[listener])
    listener.runner = runner

    async def go() -> RunResult:
        try:
            return await runner.run(load_all([str(p) for p in paths]))
        finally:
            await h.pool.close()

    t0 = time.monotonic()
    run = asyncio.run(go())
    assert time.monotonic() - t0 < 10
    by = {j.name: j for j in run.journeys}
    assert by["first"].status == "interrupted"
    assert statuses(by["first"]) == ["passed", "passed", "passed", "interrupted"]
    assert by["waiting"].status == "interrupted" and by["waiting"].started_at is None
    assert statuses(by["waiting"]) == ["skipped"] * 4
    assert not by["first"].findings and run.status == "failed"
    assert not h.engines[0].open_drivers, "the interrupted journey's driver was closed"


def _confirming(tmp_path: Path, app: FakeApp, on_attempt_1: Callable[[], None], delay: str = "0s") -> tuple[Any, Harness]:
    from patrol.application.core import Patrol
    from patrol.application.startup import incident_service

    h = Harness(tmp_path, app, f"state: {{url: sqlite:///state.db}}\nincidents: {{confirm: 1, confirm_delay: {delay}}}\n")

    class Fix(Listener):
        def journey_finished(self, journey: Journey, result: JourneyResult) -> None:
            if result.attempt == 1:
                on_attempt_1()

    path = journey_file(tmp_path / "j", "login")
    incidents = incident_service(h.config)
    options = RunOptions(output=tmp_path / "run", reports_root=tmp_path / "reports")
    runner = Runner(h.config, options, [Fix()], engines=h.pool)
    outcome = Patrol(runner, incidents=incidents, say=lambda s: None).run(load_all([str(path)]))
    asyncio.run(h.pool.close())
    return outcome, h


def test_a_failure_the_confirmation_rerun_does_not_reproduce_passes_the_run(tmp_path):
    app = bank(**{"/login|click #submit": Reaction(failed_requests=[FailedRequest("/api/login", "POST", 503)])})

    def fixed() -> None:
        app.screens["/login"].on["click #submit"] = Reaction(go="/home")

    outcome, _ = _confirming(tmp_path, app, fixed)
    assert [(j.attempt, j.status) for j in outcome.run.journeys] == [(1, "failed"), (2, "passed")]
    assert outcome.run.status == "passed" and outcome.exit_code == 0
    assert outcome.record is not None and not outcome.record.opened


def test_a_failure_the_confirmation_rerun_reproduces_fails_the_run_and_opens_an_incident(tmp_path):
    app = bank()
    del app.screens["/home"].elements["#total"]
    outcome, _ = _confirming(tmp_path, app, lambda: None)
    assert [(j.attempt, j.status) for j in outcome.run.journeys] == [(1, "failed"), (2, "failed")]
    assert outcome.run.status == "failed" and outcome.exit_code == 1
    assert len(outcome.record.opened) == 1
    report = (tmp_path / "run" / "report.json").read_text(encoding="utf-8")
    assert report.count('"attempt": 2') == 1, "both attempts are in the report"


def test_the_confirmation_rerun_waits_and_the_run_time_includes_it(tmp_path):
    from datetime import datetime

    app = bank()
    del app.screens["/home"].elements["#total"]
    outcome, _ = _confirming(tmp_path, app, lambda: None, delay="1s")
    first, rerun = outcome.run.journeys
    first_end = datetime.fromisoformat(first.started_at) .timestamp() + first.duration_ms / 1000
    assert datetime.fromisoformat(rerun.started_at).timestamp() - first_end >= 1.0
    run_end = datetime.fromisoformat(outcome.run.finished_at).timestamp()
    assert run_end >= datetime.fromisoformat(rerun.started_at).timestamp() + rerun.duration_ms / 1000 - 0.01
    assert outcome.run.duration_ms >= first.duration_ms + 1000 + rerun.duration_ms
    report = json.loads((tmp_path / "run" / "report.json").read_text(encoding="utf-8"))
    assert [j["attempts"] for j in report["journeys"]] == [2, 2]
    assert report["journeys"][1]["confirmation"] == "confirmed: every attempt showed the same failure"
    html = (tmp_path / "run" / "index.html").read_text(encoding="utf-8")
    assert "attempt 2 of 2 (confirmation)" in html and "All runs" not in html  # --output: no index beside it


def test_a_429_retry_after_lengthens_the_wait_before_confirming():
    from patrol.application.judge import confirm_delay
    from patrol.results import Finding, JourneyResult, RunResult, StepResult

    limited = Finding(kind="breakpoint", reason="http_error", message="429",
                      evidence={"failed_requests": [{"status": 429, "retry_after_s": 30}]})
    run = RunResult("r", "2026-01-01T00:00:00+00:00", journeys=[
        JourneyResult("a", "a.yaml", steps=[StepResult(1, "s", "goto", findings=[limited])]),
        JourneyResult("b", "b.yaml", steps=[StepResult(1, "s", "goto")])])
    assert confirm_delay(5.0, run, {"a"}) == 30.0
    assert confirm_delay(5.0, run, {"b"}) == 5.0
    limited.evidence["failed_requests"][0]["retry_after_s"] = 3600
    assert confirm_delay(5.0, run, {"a"}) == 120.0  # never longer than two minutes


class _SlowVerdict:
    """An always-on check whose verdict takes ``seconds`` (like OCR on a big screen)."""

    def __init__(self, seconds: float):
        from patrol.checks.base import Check

        outer = self

        class Slow(Check):
            name = "zz_slow_verdict"
            always = True

            async def look(self, sc: Any, params: Any) -> Any:
                async def verdict() -> list[Any]:
                    outer.started += 1
                    await asyncio.sleep(seconds)
                    outer.reached += 1
                    return []

                return verdict

        self.check, self.started, self.reached = Slow(), 0, 0

    def __enter__(self) -> _SlowVerdict:
        from patrol.checks import CHECKS

        CHECKS[self.check.name] = self.check
        return self

    def __exit__(self, *exc: object) -> None:
        from patrol.checks import CHECKS

        CHECKS.pop(self.check.name, None)


def test_verdicts_reached_after_the_last_action_are_not_the_journeys_time(tmp_path):
    """The customer's journey is within its limit; Patrol's judging after it is not a stall."""
    h = Harness(tmp_path, bank())
    with _SlowVerdict(0.4) as slow:
        j = h.run(journey_file(tmp_path / "j", "login", journey="1s")).journeys[0]
    assert slow.reached == 4, "every step's verdict was reached"
    assert j.status == "passed" and not found(j), found(j)
    assert statuses(j) == ["passed"] * 4


def test_steps_whose_verdicts_were_not_reached_are_not_reported_passed(tmp_path):
    app = bank(**{"/home|click #cards": Reaction(hang=True)})
    h = Harness(tmp_path, app)
    listener = _InterruptWhen(lambda journey, step: False)
    runner = h.runner(listeners=[listener])

    async def go() -> RunResult:
        asyncio.get_running_loop().call_later(1.0, runner.interrupt)
        try:
            return await runner.run(load_all([str(journey_file(tmp_path / "j", "login", timeout="60s"))]))
        finally:
            await h.pool.close()

    with _SlowVerdict(30) as slow:
        run = asyncio.run(go())
    j = run.journeys[0]
    assert slow.started >= 1 and slow.reached == 0
    assert j.status == "interrupted"
    assert "passed" not in statuses(j), "no step whose checks never finished is called passed"
    assert statuses(j)[-1] == "interrupted"


class _FailedApp:
    """Just what ``wait_for_condition`` asks of a driver: an app that already failed
    (``failed_at``: when, or None where the driver does not know)."""

    def __init__(self, failed_at: float | None):
        self.at, self.polls = failed_at, 0

    def failure_seen(self) -> bool:
        return True

    def failed_at(self) -> float | None:
        return self.at

    async def wait_until(self, predicate: Callable[[], Any], *, timeout_ms: float, interval_s: float = 0.1) -> bool:
        from patrol.drivers.base import Driver
        return await Driver.wait_until(self, predicate, timeout_ms=timeout_ms, interval_s=0.01)  # type: ignore[arg-type]


@pytest.mark.parametrize("failed_s_ago, gives_up_at_once", [(5.0, True), (None, False)])
def test_the_failure_grace_counts_from_the_failure_not_from_when_the_wait_noticed_it(failed_s_ago, gives_up_at_once):
    """A script that failed during the action (5 s ago) is not waited for another grace:
    the expectation gives up on its first look. Where the driver cannot say when, the
    grace starts when the wait notices."""
    from types import SimpleNamespace

    from patrol.checks.base import FAILURE_GRACE_S, wait_for_condition

    app = _FailedApp(None if failed_s_ago is None else time.monotonic() - failed_s_ago)

    async def never() -> bool:
        app.polls += 1
        return False

    sc = SimpleNamespace(driver=app, timeout_ms=60_000)
    t0 = time.monotonic()
    assert asyncio.run(wait_for_condition(sc, never)) is False  # type: ignore[arg-type]
    if gives_up_at_once:
        assert app.polls == 2  # the first look, and the final answer
    else:
        assert app.polls > 2 and time.monotonic() - t0 >= FAILURE_GRACE_S
