"""A worker's finished run is kept until the state database takes it.

When PostgreSQL restarts (or blinks) while a journey runs, ``patrol_once`` cannot
record the run. The run's reports are already on disk and its result in memory, so
the worker holds on to it and tries again with backoff: the run, its incident changes
and their outbox rows go in together (one transaction, ``IncidentService.record_run``,
which a retry cannot record twice), then the firing is marked finished. Before each
try it renews its lease: a firing another worker took over meanwhile (this worker's
lease ran out while the database was away) keeps that worker's run, never two.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError

from ..store import StateStoreError, fleet_repo, history

if TYPE_CHECKING:
    from ..incidents.service import IncidentService
    from ..results import RunResult
    from ..store import Store

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
        deadline = self.monotonic() + self.patience_s
        wait = FIRST_WAIT_S
        while True:
            try:
                return self._once(run, key=key, schedule=schedule, recorded=recorded)
            except (StateStoreError, SQLAlchemyError) as e:
                if self.monotonic() + wait > deadline:
                    self.say(f"[red]error:[/] run {run.run_id} could not be recorded for {self.patience_s:g}s "
                             f"({type(e).__name__}); its firing runs again when its task comes back")
                    return Settle.GAVE_UP
                self.say(f"[yellow]the state database is away[/] ({type(e).__name__}): holding run {run.run_id}, "
                         f"trying again in {wait:g}s")
                self.sleep(wait)
                wait = min(LONGEST_WAIT_S, wait * 2)

    def _once(self, run: RunResult, *, key: str, schedule: str, recorded: bool) -> str:
        now = datetime.now(UTC)
        with self.store.write() as conn:
            if not fleet_repo.renew(conn, key=key, run_id=run.run_id, until=now + timedelta(seconds=self.lease_s)):
                return Settle.TAKEN_OVER
        if not recorded and self.incidents is not None:
            self.incidents.record_run(run)  # idempotent: a run already recorded is left as it is
            with self.store.write() as conn:
                history.set_schedule(conn, run.run_id, schedule)
        with self.store.write() as conn:
            fleet_repo.finish(conn, key=key, run_id=run.run_id, now=datetime.now(UTC))
        return Settle.RECORDED
