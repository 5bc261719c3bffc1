"""``patrol schedule`` with a fleet: it fires only while it holds the leader lock, and
a firing becomes tasks (``dispatch``) instead of journeys run here. What became of each
firing (sent, skipped for overlap, a duplicate, failed) and whether this scheduler leads
are counted in its metrics."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from .. import console
from ..metrics import FiringResult
from ..schedule.service_log import tag
from .app import broker_url
from .dispatch import Dispatched, FleetDispatch
from .leader import LeaderLock

if TYPE_CHECKING:
    from ..config import Config
    from ..config.schedules import ScheduleSpec
    from ..journey.model import Journey
    from ..metrics import Metrics
    from ..schedule.jobs import JobSync
    from ..schedule.plan import Plan
    from ..store import Store


def firing_results(done: Dispatched) -> list[FiringResult]:
    """What one firing counts as in ``patrol_schedule_firings_total``: once under each
    result its journeys had (one sent and one still running: sent and skipped_overlap),
    so firings are counted as the scheduler without a fleet counts them."""
    results = [(done.sent, FiringResult.SENT), (done.busy, FiringResult.SKIPPED_OVERLAP),
               (done.duplicate, FiringResult.DUPLICATE), (done.failed, FiringResult.FAILED)]
    return [result for journeys, result in results if journeys]


class FleetSide:
    def __init__(self, config: Config, store: Store, state_url: str, log: Callable[[str], None],
                 metrics: Metrics | None = None) -> None:
        self.log = log
        self.metrics = metrics
        self.dispatcher = FleetDispatch(config, store)
        self.leader = LeaderLock(broker_url(config), state_url)

    @property
    def leading(self) -> bool:
        return self.leader.leading

    def tick(self, jobs: JobSync, plan: Plan, fire: Callable[..., None], *, resume: bool = True) -> None:
        """Take, keep or lose the leader lock; start or stop firing with it."""
        was = self.leader.leading
        now = self.leader.tick()
        if self.metrics is not None:
            self.metrics.leading(now)
        if now and not was:
            jobs.sync(plan, fire)  # the job store is shared: only the leader writes it
            if resume:
                jobs.resume()
            self.log(f"[bold]leading[/] the fleet's schedules ({console.safe(self.leader.name)})")
        elif was and not now:
            jobs.pause()
            self.log("[yellow]lost the leader lock[/]: not firing until this scheduler leads again")

    def standby_note(self) -> str:
        try:
            holder, _ = self.leader.holder()
        except Exception as e:
            return f"the broker cannot be reached ({type(e).__name__})"
        return f"standby: {console.safe(holder or '?')} leads"

    def fire(self, spec: ScheduleSpec, journeys: list[Journey], slot: datetime) -> Dispatched:
        if not self.leader.leading:  # lost the lock since APScheduler took the job: the new leader fires it
            return Dispatched()
        done = self.dispatcher.dispatch(spec, journeys, slot)
        label = tag(spec.name)
        when = f"{slot.astimezone():%H:%M:%S}"
        if done.sent:
            sent = ", ".join(f"{name} → {queue}" for name, queue in done.sent)
            self.log(f"{label} firing of {when} sent: {console.safe(sent)}")
        if done.duplicate:
            self.log(f"{label} firing of {when} was sent already: {console.safe(', '.join(done.duplicate))}")
        if done.busy:
            self.log(f"{label} skipping {console.safe(', '.join(done.busy))}: its previous firing is still waiting "
                     "or running (a journey never runs twice at once)")
        for name, why in done.failed:
            self.log(f"[red]error:[/] {label} could not send {console.safe(name)}: {console.safe(why)}")
        if self.metrics is not None:
            for result in firing_results(done):
                self.metrics.firing(spec.name, result)
        return done

    def close(self) -> None:
        self.leader.release()
        if self.metrics is not None:
            self.metrics.leading(False)
        self.dispatcher.close()

