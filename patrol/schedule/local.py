"""The local executor: a firing runs in this process through the application core, on
the scheduler's robot loop, shared engines and concurrency limit, and no journey runs
twice at once (``overlap``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import console
from ..application.core import Patrol, PatrolOutcome
from ..core.vocabulary import Status
from ..durations import format_ms
from ..metrics import FiringResult
from ..runner import Runner, RunOptions
from .executor import Firing, Host, Leadership
from .service_log import ServiceLog, tag

if TYPE_CHECKING:
    from ..config.schedules import ScheduleSpec
    from ..journey.model import Journey
    from .plan import Plan


class LocalExecutor:
    def __init__(self, host: Host) -> None:
        self.host = host

    @property
    def leadership(self) -> Leadership | None:
        return None  # one scheduler per state database (its instance lock)

    def execute(self, firing: Firing) -> bool:
        host, spec = self.host, firing.spec
        claim = host.overlap.claim(spec.name, firing.journeys)
        if claim.busy:
            host.metrics.firing(spec.name, FiringResult.SKIPPED_OVERLAP)
            names = ", ".join(f"{j.name} (running for {by})" for j, by in claim.busy)
            host.log(f"{tag(spec.name)} skipping {console.safe(names)}: a journey never runs twice at once")
        if not claim.free:
            return False
        try:
            return self._run(firing.plan, spec, claim.free)
        finally:
            host.overlap.release(spec.job_id, claim.free)

    def _run(self, plan: Plan, spec: ScheduleSpec, journeys: list[Journey]) -> bool:
        host = self.host
        options = RunOptions(reports_root=plan.reports_root, base_url=spec.base_url, concurrency=plan.concurrency)
        say = host.log
        runner = Runner(plan.config, options, [ServiceLog(say, spec.name), host.metrics], engines=host.pool,
                        slots=host.slots)
        host.overlap.add_runner(runner, host.interrupt)
        say(f"{tag(spec.name)} firing: {console.safe(', '.join(j.name for j in journeys))}")
        try:
            patrol = Patrol(runner, incidents=host.incidents, call=host.robot.call, flush=False,
                            index=host.index.request, schedule=spec.name, say=lambda m: say(f"{tag(spec.name)} {m}"))
            outcome = patrol.run(journeys)
        except Exception as e:
            host.metrics.firing(spec.name, FiringResult.FAILED)
            host.log_error(f"[{spec.name}] the firing failed: {type(e).__name__}: {e}")
            return False
        finally:
            host.overlap.discard_runner(runner)
        self._done(spec, outcome)
        return True

    def _done(self, spec: ScheduleSpec, outcome: PatrolOutcome) -> None:
        host, run = self.host, outcome.run
        host.metrics.firing(spec.name, FiringResult.RAN)
        host.metrics.run_recorded(run, spec.name)
        if outcome.record_error:
            host.log_error(f"[{spec.name}] {outcome.record_error}")
        colour = console.RUN_COLOURS.get(run.status, "white")
        latest = run.latest()
        kinds = (Status.PASSED, Status.FAILED, Status.ERROR, Status.INTERRUPTED)
        counts = {st: sum(1 for j in latest if j.status == st) for st in kinds}
        said = ", ".join(f"{n} {st}" for st, n in counts.items() if n)
        host.log(f"{tag(spec.name)} run {console.safe(run.run_id)} [{colour}]{run.status}[/] ({said}) in "
                 f"{format_ms(run.duration_ms)}: {console.safe(outcome.run_dir / 'index.html')}")

    def close(self) -> None:
        pass  # the scheduler's stop waits for running firings (overlap) and closes the engines
