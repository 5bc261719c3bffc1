"""``patrol schedule`` with a fleet: it fires only while it holds the leader lock, and
a firing becomes tasks (``dispatch``) instead of journeys run here: ``FleetExecutor``
is the scheduler's executor (``patrol.schedule.executor``) when patrol.yaml has ``fleet:``. What became of each
firing (sent, skipped for overlap, a duplicate, failed) and whether this scheduler leads
are counted in its metrics.

The leader also looks for lost workers every ``SWEEP_EVERY_S``: a running firing whose
lease ran out (its worker renews it every third of ``fleet.lease``; a worker killed by
kill -9 or the OOM killer stops) and stays run out for half a lease more (at least one
more sweep) gets its attempt marked ``interrupted`` and is sent again, or, when the
journey's next slot has already come, recorded ``missed`` so that slot patrols. The half
lease is for live workers after the database was away: a lease cannot be renewed while it
is, and every worker renews within a third of a lease once it is back (the leader also
starts over when its own look fails). A dead worker's journey is thus patrolled again
within about ``1.5 x lease + 2 x SWEEP_EVERY_S`` (55 s with the default 30 s lease), not
when the broker hands its task out again after ``visibility_timeout``."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from .. import console
from ..metrics import FiringResult
from ..schedule.executor import Firing, Host
from ..schedule.service_log import tag
from ..store import StateStoreError, fleet_repo
from .app import TASK, broker_url
from .dispatch import Dispatched, FleetDispatch, payload
from .leader import LeaderLock

if TYPE_CHECKING:
    from ..config import Config
    from ..config.schedules import ScheduleSpec
    from ..journey.model import Journey
    from ..metrics import Metrics
    from ..schedule.jobs import JobSync
    from ..schedule.plan import Plan
    from ..store import Store

SWEEP_EVERY_S = 5.0


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
        from ..errors import RobotError
        from . import extras

        absent = extras.missing(postgres=extras.uses_postgres(state_url))
        if absent:  # exit 3 with the install, not an import error from Celery's first use
            raise RobotError(extras.problem("patrol schedule with a fleet: section", absent))
        self.log = log
        self.metrics = metrics
        self.dispatcher = FleetDispatch(config, store)
        self.leader = LeaderLock(broker_url(config), state_url)
        self._last_sweep = float("-inf")
        self.lost_after_s = max(config.settings.fleet.lease_s / 2, SWEEP_EVERY_S)
        # key -> (the expired lease, first seen, monotonic); None while the database is away
        self._suspects: dict[str, tuple[object, float]] | None = {}

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
        if now and time.monotonic() - self._last_sweep >= SWEEP_EVERY_S:
            self._last_sweep = time.monotonic()
            self.rescue(plan)

    def rescue(self, plan: Plan, now: datetime | None = None) -> list[tuple[str, fleet_repo.Rescue]]:
        """Firings whose worker was lost (their lease ran out): sent again, or missed past their slot."""
        now = now or datetime.now(UTC)
        store = self.dispatcher.store
        done: list[tuple[str, fleet_repo.Rescue]] = []
        seen = time.monotonic()
        try:
            with store.read() as conn:
                expired = fleet_repo.expired(conn, now)
            suspects = {}
            for row in expired:
                key = str(row["key"])
                lease, first = (self._suspects or {}).get(key, (row["lease_until"], seen))
                if lease != row["lease_until"]:  # renewed and run out again: a new suspicion
                    first = seen
                if seen - first >= self.lost_after_s:
                    done.append((key, self._rescue_one(plan, row, now)))
                else:
                    suspects[key] = (row["lease_until"], first)
            self._suspects = suspects
        except StateStoreError as e:  # the database is away: leases could not be renewed either, start over
            if self._suspects is not None:  # said once while it is away
                self.log(f"[yellow]could not look for lost workers[/] ({console.safe(str(e))})")
            self._suspects = None
        return done

    def _rescue_one(self, plan: Plan, row: dict[str, object], now: datetime) -> fleet_repo.Rescue:
        store, key = self.dispatcher.store, str(row["key"])
        spec, journeys = plan.lookup(str(row["job_id"]))
        journey = next((j for j in journeys if j.name == row["journey"]), None)
        fire_time = row["fire_time"]
        assert isinstance(fire_time, datetime)
        resend = spec is not None and journey is not None and not _slot_passed(spec, fire_time, now)
        with store.write() as conn:
            verdict, cut = fleet_repo.rescue(conn, key=key, now=now, resend=resend)
        label = tag(str(row["schedule"]))
        who = console.safe(f"{row['journey']} ({row['worker']}, run {cut})")
        if verdict == fleet_repo.Rescue.FINISHED:
            self.log(f"{label} {who}: its worker was lost after recording the run; the firing is finished")
        elif verdict == fleet_repo.Rescue.MISSED:
            self.log(f"{label} [magenta]{who} was cut short[/] (its worker stopped renewing its lease): recorded as "
                     "interrupted; the slot has passed, so it is missed and the next slot patrols")
        elif verdict == fleet_repo.Rescue.RESEND:
            assert spec is not None and journey is not None
            queue = str(row["queue"])
            try:
                self.dispatcher.app.send_task(TASK, kwargs=payload(key, spec, journey, fire_time, queue, now),
                                              queue=queue, routing_key=queue)
            except Exception as e:  # the broker is down: dropped (and said), not left blocking the journey
                with store.write() as conn:
                    fleet_repo.drop(conn, key, datetime.now(UTC))
                self.log(f"[red]error:[/] {label} could not send {who} again: {console.safe(f'{type(e).__name__}: {e}')}")
                return verdict
            self.log(f"{label} [magenta]{who} was cut short[/] (its worker stopped renewing its lease): recorded as "
                     "interrupted; sent again")
        return verdict

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


class FleetExecutor:
    """Sends a firing to the workers, one task per journey keyed by its slot, while this
    scheduler leads (its ``leadership``); the workers keep a journey from running twice."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.side = FleetSide(host.config, host.store, host.state_url, host.log, host.metrics)

    @property
    def leadership(self) -> FleetSide:
        return self.side

    def execute(self, firing: Firing) -> bool:
        spec = firing.spec
        try:
            done = self.side.fire(spec, firing.journeys, firing.slot)
        except Exception as e:  # the state database or the broker is away: said, and the next firing tries again
            self.host.metrics.firing(spec.name, FiringResult.FAILED)
            self.host.log_error(f"[{spec.name}] the firing could not be sent: {type(e).__name__}: {e}")
            return False
        return bool(done.sent)  # counted in the metrics by the fleet side (sent, skipped_overlap, duplicate, failed)

    def close(self) -> None:
        self.side.close()


def _slot_passed(spec: ScheduleSpec, fire_time: datetime, now: datetime) -> bool:
    """Whether the journey's next slot after ``fire_time`` has come (then that slot patrols, not a re-send)."""
    try:
        following = spec.trigger(jitter=False).get_next_fire_time(fire_time, fire_time)
    except Exception:
        return False
    return following is not None and following <= now
