"""One patrol, start to finish, as named stages (``Patrol.run``):

1. ``make_room``: retention's ``min_free`` before anything is written;
2. ``run_journeys``: the runner runs them;
3. ``judge``: new failures are confirmed by immediate reruns before anyone is paged;
4. ``write_reports``: report.json, index.html, junit.xml in the run folder;
5. ``record``: the run history and the incidents it changes, with their outbox rows, in
   one transaction of the state database;
6. ``send``: what the outbox can send now (``patrol run``; a service's dispatcher sends);
7. ``write_index``: ``reports/index.html``.

``patrol run`` runs one; the scheduler runs one for every firing run here, with a
runner that shares one Chromium and one concurrency limit between firings and an event
loop of its own (``call``); a fleet worker runs one per task.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

from .. import console
from ..core.vocabulary import Status
from ..errors import EXIT_FINDINGS, EXIT_OK, EXIT_ROBOT, InputError
from ..journey.model import Journey
from ..results import RunResult
from ..runner import Runner
from .judge import confirm_delay

# The state database, incidents, notifications and report writers (SQLAlchemy, httpx,
# Jinja2: ~0.25 s of imports) load where they are used, so `patrol run` can start
# Chromium first and import them while it boots (``startup.start_browser_while``).
if TYPE_CHECKING:
    from ..incidents.service import IncidentService, RecordResult
    from ..notify.dispatcher import DispatchStats

Say = Callable[[str], None]
T = TypeVar("T")
IndexRequest = Callable[[Path], None]


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


class Patrol:
    """One patrol with ``runner`` (its configuration and run options are the runner's).

    ``incidents``: the state database's services (None: ``state: false``, then nothing
    is judged, recorded or sent); ``call`` runs a coroutine to completion
    (``asyncio.run``, or a submission to a service's own loop); ``flush``: send what
    the outbox can at the end (a service's dispatcher does it instead); ``index``: True
    (write ``reports/index.html`` now), False, or a callable asked to write it (a
    service debounces); ``schedule`` is recorded with the run, and a firing whose run
    the state database could not take goes on (``record_error``) where ``patrol run``
    stops with the robot's error."""

    def __init__(self, runner: Runner, *, incidents: IncidentService | None = None,
                 call: RunCoroutine = asyncio.run, say: Say | None = None, flush: bool = True,
                 index: bool | IndexRequest = True, schedule: str | None = None) -> None:
        self.runner = runner
        self.config = runner.config
        self.root = Path(runner.options.reports_root)
        self.incidents = incidents
        self.call = call
        self.say = say or console.say
        self.flush = flush
        self.index = index
        self.schedule = schedule

    def run(self, journeys: list[Journey]) -> PatrolOutcome:
        """Every stage in turn; the outcome and findings reach the state database and
        on-call as far as they can."""
        if not journeys:
            raise InputError("no journeys to run")
        self.make_room()
        run = self.run_journeys(journeys)
        self.judge(run, journeys)
        outcome = self.write_reports(run)
        self.record(outcome)
        self.send(outcome)
        if outcome.reports_error is not None:  # said after what the state database and on-call got
            console.error(f"reports_unavailable: {outcome.reports_error}")
        self.write_index(outcome)
        return outcome

    # -- the stages -------------------------------------------------------------------------
    def make_room(self) -> None:
        """``retention: {min_free: …}``: old run folders go, oldest first, until the reports disk has that much free."""
        from ..retention.settings import RETENTION

        settings = self.config.settings[RETENTION]
        if not settings.enabled or not settings.min_free:
            return
        from ..retention.prune import make_room

        store = self.incidents.store if self.incidents is not None else None
        try:
            stats = make_room(settings, self.root, store)
        except Exception as e:  # only a head start: the run says what is wrong if the disk stays full
            console.error(f"retention could not make room in {self.root}: {type(e).__name__}: {e}")
            return
        if stats.reports or stats.screenshots:
            self.say(f"retention (min_free): {stats.describe()}")

    def run_journeys(self, journeys: list[Journey]) -> RunResult:
        run = self.call(self.runner.run(journeys))
        assert run.run_dir is not None  # the runner made the run folder
        return run

    def judge(self, run: RunResult, journeys: list[Journey]) -> None:
        """New failures are confirmed by immediate reruns before anyone is paged."""
        incidents = self.incidents
        if incidents is None:
            return
        for attempt in range(2, 2 + incidents.confirm_count):
            if self.runner.interrupted:
                return
            names = set(incidents.journeys_to_confirm(run))
            if not names:
                return
            delay = confirm_delay(incidents.settings.confirm_delay_s, run, names)
            self.say(f"confirming {len(names)} failed journey(s) with a rerun before opening incidents"
                     + (f" (in {delay:g}s)" if delay else ""))
            if delay:
                self.call(asyncio.sleep(delay))
            self.call(self.runner.confirm(run, [j for j in journeys if j.name in names], attempt=attempt))

    def write_reports(self, run: RunResult) -> PatrolOutcome:
        from ..reports import write_all

        assert run.run_dir is not None
        run_dir = Path(run.run_dir)
        outcome = PatrolOutcome(run, run_dir, reports_error=_evidence_lost(run))
        try:
            write_all(run, run_dir)  # every file atomically: a reader never sees half a report
        except OSError as e:
            from ..step.artifacts import reports_unavailable

            outcome.reports_error = str(reports_unavailable(run_dir, e))
        if outcome.reports_error is not None:
            run.status = Status.ERROR  # a run whose evidence could not be stored is never reported as passed
        return outcome

    def record(self, outcome: PatrolOutcome) -> None:
        """The run history and the incident changes with their outbox rows, in one
        transaction, and the schedule that fired the run."""
        incidents = self.incidents
        if incidents is None:
            return
        from ..incidents.display import describe_record
        from ..store import StateStoreError, history

        run = outcome.run
        try:
            outcome.record = incidents.record_run(run)
            if self.schedule is not None:
                with incidents.store.write() as conn:
                    history.set_schedule(conn, run.run_id, self.schedule)
        except StateStoreError as e:
            if self.schedule is None:
                raise  # `patrol run`: the robot could not do its job (exit 3)
            outcome.record_error = str(e)  # the service says so and goes on with the next firing
            return
        line = describe_record(outcome.record, incidents)
        if line:
            self.say(line)

    def send(self, outcome: PatrolOutcome) -> None:
        """The outbox: send what can be sent before exiting, bounded."""
        incidents = self.incidents
        if incidents is None or not self.flush or outcome.record_error is not None:
            return
        from ..incidents.display import describe_flush

        try:
            outcome.flush = incidents.flush_deliveries()
        except Exception as e:  # the outbox keeps them: the next run or `patrol deliveries flush` sends them
            console.error(f"could not send notifications now ({type(e).__name__}: {e}); they stay queued")
            return
        line = describe_flush(outcome.flush)
        if line:
            self.say(line)

    def write_index(self, outcome: PatrolOutcome) -> None:
        """``reports/index.html`` is derived from the state database and the run folders: when either is away for
        a moment, the run stands as recorded and the next run's index shows it (so does a run the state database
        could not take). A run written elsewhere (``--output``) gets none."""
        index, root = self.index, self.root
        if (not index or outcome.record_error is not None or outcome.reports_error is not None
                or outcome.run_dir.resolve().parent != root.resolve()):
            return
        from ..store import StateStoreError

        try:
            if callable(index):
                index(root)
            else:
                from ..reports.index import write_index

                write_index(root, store=self.incidents.store if self.incidents is not None else None)
        except (StateStoreError, OSError) as e:
            console.error(f"the reports index was not refreshed ({e}); the next run's index shows this run")


def _evidence_lost(run: RunResult) -> str | None:
    """The message of a journey that stopped because its evidence could not be written, if any."""
    for journey in run.latest():
        error = journey.robot_error or {}
        if error.get("reason") == "reports_unavailable":
            return str(error.get("message"))
    return None
