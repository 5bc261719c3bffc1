"""One patrol, start to finish: run the journeys, confirm new failures with reruns,
write the reports, record the run in the state database (incidents, outbox), send
what can be sent, refresh ``reports/index.html``.

``patrol run`` calls it once; the scheduler (``patrol schedule``) calls it for every
firing, with a runner that shares one Chromium and one concurrency limit between
firings and an event loop of its own (``call``).
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

from . import console
from .config import Config
from .core.vocabulary import Status, Target
from .errors import EXIT_FINDINGS, EXIT_OK, EXIT_ROBOT, InputError
from .journey.model import Journey
from .results import RunResult
from .runner import Listener, Runner, RunOptions
from .runner.runner import engine_target

# The state database, incidents, notifications and report writers (SQLAlchemy, httpx,
# Jinja2: ~0.25 s of imports) load where they are used, so `patrol run` can start
# Chromium first and import them while it boots (``start_browser_while``).
if TYPE_CHECKING:
    from .incidents.service import IncidentService, RecordResult
    from .notify.dispatcher import DispatchStats

Say = Callable[[str], None]
T = TypeVar("T")


class RunCoroutine(Protocol):
    """Runs a coroutine to completion: ``asyncio.run``, or a submission to a service's loop."""

    def __call__(self, coro: Coroutine[object, object, T], /) -> T: ...


@dataclass
class PatrolOutcome:
    run: RunResult
    run_dir: Path
    record: RecordResult | None = None  # when the state database is on
    flush: DispatchStats | None = None  # when deliveries were flushed
    record_error: str | None = None  # the state database could not be written
    reports_error: str | None = None  # the run folder could not be written (disk full, read-only)

    @property
    def exit_code(self) -> int:
        if self.run.status == Status.ERROR or self.record_error or self.reports_error:
            return EXIT_ROBOT
        return EXIT_FINDINGS if self.run.status == Status.FAILED else EXIT_OK


def incident_service(config: Config) -> IncidentService | None:
    """The incident lifecycle + delivery (None when ``state: false`` in patrol.yaml)."""
    from .incidents.service import IncidentService

    if not IncidentService.enabled(config):
        return None
    return IncidentService.from_config(config)


def open_state(config: Config) -> IncidentService | None:
    """``incident_service``, then what the end of the run needs loaded ahead (report
    writers and their templates): `patrol run` does it while Chromium starts."""
    incidents = incident_service(config)
    from . import reports

    try:
        importlib.import_module(f"{__package__}.incidents.display")  # the lines a run prints about incidents
        reports.warm_up()
    except Exception:
        pass  # only a head start: writing the reports says what is wrong
    return incidents


def reports_root(config: Config) -> Path:
    return config.reports_dir


async def start_browser_while(runner: Runner, journeys: list[Journey], work: Callable[[], T]) -> T:
    """``work()`` (blocking: opening the state database) in a thread while Chromium
    starts for the web journeys on this loop, so its launch (~0.6 s, mostly waiting for
    the browser's processes) overlaps the imports and the database. Run the journeys
    on the same loop afterwards: they get the started browser. When ``work`` fails,
    the browser is closed and its error raised, as if nothing had started."""
    warm = asyncio.ensure_future(_start_browser(runner, journeys))
    await asyncio.sleep(0)  # let it import Playwright and spawn its driver before the thread takes the GIL
    try:
        return await asyncio.to_thread(work)
    except BaseException:
        await asyncio.wait([warm])
        await runner.close()
        raise


async def _start_browser(runner: Runner, journeys: list[Journey]) -> None:
    target = Target.WEB
    if not any(engine_target(j) == target for j in journeys):
        return  # no browser to warm up (app journeys, or API probes that run without one)
    try:
        await runner.engines.acquire(target)
    except Exception:
        return  # the first journey starts it again and reports what is wrong
    runner.engines.release(target)


def patrol_once(
    config: Config,
    journeys: list[Journey],
    options: RunOptions,
    *,
    incidents: IncidentService | None = None,
    listeners: list[Listener] | None = None,
    runner: Runner | None = None,
    call: RunCoroutine = asyncio.run,
    flush: bool = True,
    index: bool | Callable[[Path], None] = True,
    schedule: str | None = None,
    say: Say | None = None,
) -> PatrolOutcome:
    """Run → confirm → reports → incidents → (flush) → index.

    ``call`` runs a coroutine to completion (``asyncio.run``, or a submission to a
    service's own loop); ``index`` is True (write it now), False, or a callable
    that is asked to write it (a service debounces). ``schedule`` is recorded with
    the run."""
    say = say or console.say
    if not journeys:
        raise InputError("no journeys to run")
    runner = runner or Runner(config, options, listeners or [])
    _make_room(config, Path(options.reports_root), incidents, say)
    run = call(runner.run(journeys))
    assert run.run_dir is not None  # the runner made the run folder
    run_dir = Path(run.run_dir)
    if incidents is not None:
        _confirm(runner, run, journeys, incidents, call, say)
    outcome = _write_reports(run, run_dir)
    if incidents is not None:
        # The outcome and findings still reach the state database and on-call, as far as they can.
        _record(incidents, run, schedule, outcome, say)
        if flush and outcome.record_error is None:
            _flush(incidents, outcome, say)
    if outcome.reports_error is not None:
        console.error(f"reports_unavailable: {outcome.reports_error}")
    root = Path(options.reports_root)
    # The index reads the state database: when it could not take the run, the next run's index shows it.
    if (index and outcome.record_error is None and outcome.reports_error is None
            and run_dir.resolve().parent == root.resolve()):
        _write_index(index, root, incidents)
    return outcome


def _confirm(runner: Runner, run: RunResult, journeys: list[Journey], incidents: IncidentService,
             call: RunCoroutine, say: Say) -> None:
    """New failures are confirmed by immediate reruns before anyone is paged."""
    for attempt in range(2, 2 + incidents.confirm_count):
        if runner.interrupted:
            return
        names = set(incidents.journeys_to_confirm(run))
        if not names:
            return
        delay = confirm_delay(incidents.settings.confirm_delay_s, run, names)
        say(f"confirming {len(names)} failed journey(s) with a rerun before opening incidents"
            + (f" (in {delay:g}s)" if delay else ""))
        if delay:
            call(asyncio.sleep(delay))
        call(runner.confirm(run, [j for j in journeys if j.name in names], attempt=attempt))


def _write_reports(run: RunResult, run_dir: Path) -> PatrolOutcome:
    from .reports import write_all

    outcome = PatrolOutcome(run, run_dir, reports_error=_evidence_lost(run))
    try:
        write_all(run, run_dir)  # every file atomically: a reader never sees half a report
    except OSError as e:
        from .step.artifacts import reports_unavailable

        outcome.reports_error = str(reports_unavailable(run_dir, e))
    if outcome.reports_error is not None:
        run.status = Status.ERROR  # a run whose evidence could not be stored is never reported as passed
    return outcome


def _write_index(index: bool | Callable[[Path], None], root: Path, incidents: IncidentService | None) -> None:
    """``reports/index.html`` is derived from the state database and the run folders: when either is away for
    a moment, the run stands as recorded and the next run's index shows it."""
    from .store import StateStoreError

    try:
        if callable(index):
            index(root)
        else:
            from .reports.index import write_index

            write_index(root, store=incidents.store if incidents is not None else None)
    except (StateStoreError, OSError) as e:
        console.error(f"the reports index was not refreshed ({e}); the next run's index shows this run")


def _evidence_lost(run: RunResult) -> str | None:
    """The message of a journey that stopped because its evidence could not be written, if any."""
    for journey in run.latest():
        error = journey.robot_error or {}
        if error.get("reason") == "reports_unavailable":
            return str(error.get("message"))
    return None


def _make_room(config: Config, root: Path, incidents: IncidentService | None, say: Say) -> None:
    """``retention: {min_free: …}``: old run folders go, oldest first, until the reports disk has that much free."""
    settings = config.settings.retention
    if not settings.enabled or not settings.min_free:
        return
    from .retention import make_room

    try:
        stats = make_room(settings, root, incidents.store if incidents is not None else None)
    except Exception as e:  # only a head start: the run says what is wrong if the disk stays full
        console.error(f"retention could not make room in {root}: {type(e).__name__}: {e}")
        return
    if stats.reports or stats.screenshots:
        say(f"retention (min_free): {stats.describe()}")


def confirm_delay(configured_s: float, run: RunResult, names: set[str]) -> float:
    """How long to wait before confirming: the configured delay, or longer when the
    app answered 429 with a Retry-After (seconds; up to ``MAX_CONFIRM_DELAY_S``)."""
    from .config.incidents import MAX_CONFIRM_DELAY_S

    asked = [_retry_after(f.evidence) for j in run.latest() if j.name in names for f in j.findings]
    return min(MAX_CONFIRM_DELAY_S, max([configured_s, *(a for a in asked if a is not None)]))


def _retry_after(evidence: object) -> float | None:
    """The largest ``retry_after_s`` anywhere in a finding's evidence (the requests it names)."""
    found: list[float] = []
    if isinstance(evidence, dict):
        value = evidence.get("retry_after_s")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            found.append(float(value))
        found += [v for v in map(_retry_after, evidence.values()) if v is not None]
    elif isinstance(evidence, list):
        found += [v for v in map(_retry_after, evidence) if v is not None]
    return max(found) if found else None


def _record(incidents: IncidentService, run: RunResult, schedule: str | None, outcome: PatrolOutcome, say: Say) -> None:
    """Record the run in the state database (incident changes and their outbox rows
    in one transaction)."""
    from .incidents.display import describe_record
    from .store import StateStoreError, history

    try:
        outcome.record = incidents.record_run(run)
        if schedule is not None:
            with incidents.store.write() as conn:
                history.set_schedule(conn, run.run_id, schedule)
    except StateStoreError as e:
        if schedule is None:
            raise  # `patrol run`: the robot could not do its job (exit 3)
        outcome.record_error = str(e)  # the service says so and goes on with the next firing
        return
    line = describe_record(outcome.record, incidents)
    if line:
        say(line)


def _flush(incidents: IncidentService, outcome: PatrolOutcome, say: Say) -> None:
    """Send what can be sent before exiting, bounded."""
    from .incidents.display import describe_flush

    try:
        outcome.flush = incidents.flush_deliveries()
    except Exception as e:  # the outbox keeps them: the next run or `patrol deliveries flush` sends them
        console.error(f"could not send notifications now ({type(e).__name__}: {e}); they stay queued")
        return
    line = describe_flush(outcome.flush)
    if line:
        say(line)
