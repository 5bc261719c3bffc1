"""A worker's finished run is kept until the state database takes it.

When PostgreSQL restarts (or blinks) while a journey runs, the application core cannot
record the run. The run's reports are already on disk and its result in memory, so
the worker holds on to it and tries again with backoff: the run, its incident changes
and their outbox rows go in together (one transaction, ``IncidentService.record_run``,
which a retry cannot record twice), then the firing is marked finished. Before each
try it renews its lease: a firing another worker took over meanwhile (this worker's
lease ran out while the database was away) keeps that worker's run, never two.

Every write after a run is tried for ``PATIENCE_S`` (10 minutes), waiting 1, 2, 4, 8,
then 15 s between tries (never longer than a third of the lease); the lease is renewed
with each try, so once the database is back the worker renews within a third of a lease,
before the leader would take the firing away from a worker that was only waiting for the
database. A run that was recorded always ends its firing ``finished``
(``fleet_repo.fail`` finishes it too).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.exc import SQLAlchemyError

from ..store import StateStoreError, fleet_repo, history

if TYPE_CHECKING:
    from ..incidents.service import IncidentService
    from ..results import RunResult
    from ..store import Store

T = TypeVar("T")

FIRST_WAIT_S = 1.0
LONGEST_WAIT_S = 15.0
PATIENCE_S = 600.0  # then the firing's task comes back to a worker (visibility timeout) and runs again


class Settle:
    """What became of a finished run (said in the worker's log)."""

    RECORDED = "recorded"
    TAKEN_OVER = "taken over"  # another worker runs the firing now: its run is the firing's
    GAVE_UP = "gave up"


@dataclass
class Recorder:
    store: Store
    incidents: IncidentService | None
    lease_s: float
    say: Callable[[str], None]
    patience_s: float = PATIENCE_S
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic

    def settle(self, run: RunResult, *, key: str, schedule: str, recorded: bool) -> str:
        """Record ``run`` (unless ``recorded``) and finish its firing, retrying while the
        state database is away."""
        settled = self._retrying(f"holding run {run.run_id}",
                                 lambda: self._once(run, key=key, schedule=schedule, recorded=recorded))
        if settled is None:
            self.say(f"[red]error:[/] run {run.run_id} could not be recorded for {self.patience_s:g}s; "
                     "the leader sends its firing again once its lease has run out")
            return Settle.GAVE_UP
        return settled

    def fail(self, *, key: str, run_id: str) -> bool:
        """The attempt broke down inside the robot: end it (the firing is dropped, or finished when its run
        was recorded after all), retrying while the database is away. False: gave up (the lease runs out
        and the leader takes the firing back)."""

        def once() -> bool:
            with self.store.write() as conn:
                fleet_repo.fail(conn, key=key, run_id=run_id, now=datetime.now(UTC))
            return True

        return bool(self._retrying(f"ending attempt {run_id}", once))

    def _retrying(self, holding: str, once: Callable[[], T]) -> T | None:
        """``once()`` until it gets through to the database, with backoff, for ``patience_s`` at most."""
        deadline = self.monotonic() + self.patience_s
        wait = FIRST_WAIT_S
        longest = max(FIRST_WAIT_S, min(LONGEST_WAIT_S, self.lease_s / 3))
        while True:
            try:
                return once()
            except (StateStoreError, SQLAlchemyError) as e:
                if self.monotonic() + wait > deadline:
                    return None
                self.say(f"[yellow]the state database is away[/] ({type(e).__name__}): {holding}, "
                         f"trying again in {wait:g}s")
                self.sleep(wait)
                wait = min(longest, wait * 2)

    def _once(self, run: RunResult, *, key: str, schedule: str, recorded: bool) -> str:
        now = datetime.now(UTC)
        with self.store.write() as conn:
            if not fleet_repo.renew(conn, key=key, run_id=run.run_id, until=now + timedelta(seconds=self.lease_s)):
                # The leader may have found the lease run out while the database was away and finished the
                # firing with this (recorded) run itself.
                return Settle.RECORDED if fleet_repo.state(conn, key) == (fleet_repo.FINISHED, run.run_id) \
                    else Settle.TAKEN_OVER
        if not recorded and self.incidents is not None:
            self.incidents.record_run(run)  # idempotent: a run already recorded is left as it is
            with self.store.write() as conn:
                history.set_schedule(conn, run.run_id, schedule)
        with self.store.write() as conn:
            fleet_repo.finish(conn, key=key, run_id=run.run_id, now=datetime.now(UTC))
        return Settle.RECORDED
