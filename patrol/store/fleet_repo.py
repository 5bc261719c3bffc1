"""The fleet's firings: ``fleet_firings`` (one row per firing of one journey, with the
lease of the worker running it) and ``fleet_attempts`` (every attempt at it). Every
query on them lives here; callers pass a write connection (one transaction each:
on PostgreSQL it holds the write lock, on SQLite ``BEGIN IMMEDIATE``), so two
workers deciding about one firing never both decide to run it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import Connection, and_, delete, func, insert, select, update

from .history import is_recorded
from .schema import fleet_attempts, fleet_firings

QUEUED, RUNNING, FINISHED, DROPPED = "queued", "running", "finished", "dropped"
MISSED = "missed"  # its worker was lost and its slot had passed when the leader noticed: the next slot patrols
ENDED = (FINISHED, DROPPED, MISSED)
ATTEMPT_FINISHED, ATTEMPT_INTERRUPTED, ATTEMPT_ERROR = "finished", "interrupted", "error"


def firing_key(job_id: str, journey: str, fire_time: datetime) -> str:
    """``<job id>|<journey>|<fire time, UTC ISO>``; hashed past the column's 255 characters."""
    key = f"{job_id}|{journey}|{fire_time.isoformat(timespec='seconds')}"
    return key if len(key) <= 255 else f"sha256:{hashlib.sha256(key.encode()).hexdigest()}"


class Enqueue(StrEnum):
    NEW = "new"  # recorded: send the task
    DUPLICATE = "duplicate"  # this firing was sent already (a second scheduler, or a restart)
    BUSY = "busy"  # the journey's previous firing is still waiting or running


def enqueue(conn: Connection, *, key: str, job_id: str, schedule: str, journey: str, fire_time: datetime, queue: str,
            now: datetime, stale_after_s: float) -> Enqueue:
    """Record a firing as queued, unless it exists or the journey still has a firing
    that is queued or running (enqueued less than ``stale_after_s`` ago: older ones
    were lost with their broker and block nothing)."""
    if conn.execute(select(fleet_firings.c.key).where(fleet_firings.c.key == key)).first() is not None:
        return Enqueue.DUPLICATE
    busy = conn.execute(select(fleet_firings.c.key).where(
        fleet_firings.c.journey == journey, fleet_firings.c.state.in_((QUEUED, RUNNING)),
        fleet_firings.c.enqueued_at > now - timedelta(seconds=stale_after_s)).limit(1)).first()
    if busy is not None:
        return Enqueue.BUSY
    conn.execute(insert(fleet_firings).values(
        key=key, job_id=job_id, schedule=schedule, journey=journey, fire_time=fire_time, queue=queue, state=QUEUED,
        enqueued_at=now, attempts=0))
    return Enqueue.NEW


def drop(conn: Connection, key: str, now: datetime) -> None:
    """A firing whose task could not be sent (or names a journey no longer configured)."""
    conn.execute(update(fleet_firings).where(fleet_firings.c.key == key).values(state=DROPPED, finished_at=now))


class Verdict(StrEnum):
    RUN = "run"  # a new attempt is ours: run the journey
    DONE = "done"  # the firing has its finished run: do nothing
    BUSY = "busy"  # another worker holds a live lease: look again later


@dataclass
class Claim:
    verdict: Verdict
    attempt: int = 0
    retry_in_s: float = 0.0
    interrupted: list[str] = field(default_factory=list)  # run ids of attempts cut short by a lost worker


def claim(conn: Connection, *, key: str, worker: str, run_id: str, now: datetime, lease_s: float,
          row_if_missing: Mapping[str, object]) -> Claim:
    """Decide about one delivery of a firing's task (see ``Verdict``). A running
    firing whose lease ran out lost its worker: when that attempt's run was recorded
    the firing is finished; otherwise the attempt is marked interrupted and run again."""
    row = conn.execute(select(fleet_firings).where(fleet_firings.c.key == key).with_for_update()).mappings().first()
    if row is None:  # the scheduler's row is gone (a restored database): the task still says what to run
        conn.execute(insert(fleet_firings).values(key=key, state=QUEUED, enqueued_at=now, attempts=0, **row_if_missing))
        row = conn.execute(select(fleet_firings).where(fleet_firings.c.key == key)).mappings().one()
    if row["state"] in ENDED:  # also a late redelivery of a firing the leader already rescued and finished
        return Claim(Verdict.DONE)
    interrupted: list[str] = []
    if row["state"] == RUNNING:
        lease_until = row["lease_until"]
        if lease_until is not None and lease_until > now and row["worker"] != worker:
            return Claim(Verdict.BUSY, retry_in_s=(lease_until - now).total_seconds())
        previous = row["run_id"]
        if previous and is_recorded(conn, previous):  # its worker died after recording it
            _end_attempt(conn, key, previous, ATTEMPT_FINISHED, now)
            conn.execute(update(fleet_firings).where(fleet_firings.c.key == key).values(state=FINISHED, finished_at=now))
            return Claim(Verdict.DONE)
        if previous:
            _end_attempt(conn, key, previous, ATTEMPT_INTERRUPTED, now)
            interrupted.append(previous)
    attempt = int(row["attempts"]) + 1
    conn.execute(update(fleet_firings).where(fleet_firings.c.key == key).values(
        state=RUNNING, worker=worker, run_id=run_id, attempts=attempt, lease_until=now + timedelta(seconds=lease_s),
        started_at=row["started_at"] or now))
    conn.execute(insert(fleet_attempts).values(firing_key=key, attempt=attempt, run_id=run_id, worker=worker,
                                               started_at=now, status=RUNNING))
    return Claim(Verdict.RUN, attempt=attempt, interrupted=interrupted)


def expired(conn: Connection, now: datetime) -> list[dict[str, object]]:
    """Running firings whose lease ran out: their worker stopped renewing it (killed, OOM, cut off)."""
    query = select(fleet_firings).where(fleet_firings.c.state == RUNNING, fleet_firings.c.lease_until < now)
    return [dict(r) for r in conn.execute(query.order_by(fleet_firings.c.fire_time)).mappings()]


class Rescue(StrEnum):
    RESEND = "resend"  # the attempt is interrupted and the firing queued again: send its task
    MISSED = "missed"  # the attempt is interrupted and the slot has passed: the next slot patrols
    FINISHED = "finished"  # its worker died after recording the run: the firing is finished
    ALIVE = "alive"  # renewed, finished or taken meanwhile: nothing to do


def rescue(conn: Connection, *, key: str, now: datetime, resend: bool) -> tuple[Rescue, str | None]:
    """The leader's decision about a firing whose lease ran out, made under the row's lock so a worker
    claiming it at the same moment waits: the lost attempt is ``interrupted`` (its run id is returned), then
    the firing is queued again (``resend``) or ``missed``. A task of the lost attempt that the broker hands
    out again later finds the firing queued (and runs it once), running (and waits) or ended (and drops)."""
    row = conn.execute(select(fleet_firings).where(fleet_firings.c.key == key).with_for_update()).mappings().first()
    if row is None or row["state"] != RUNNING or row["lease_until"] is None or row["lease_until"] >= now:
        return Rescue.ALIVE, None
    previous = row["run_id"]
    if previous and is_recorded(conn, previous):
        finish(conn, key=key, run_id=previous, now=now)
        return Rescue.FINISHED, previous
    if previous:
        _end_attempt(conn, key, previous, ATTEMPT_INTERRUPTED, now)
    if resend:
        conn.execute(update(fleet_firings).where(fleet_firings.c.key == key).values(
            state=QUEUED, worker=None, run_id=None, lease_until=None, enqueued_at=now))
        return Rescue.RESEND, previous
    conn.execute(update(fleet_firings).where(fleet_firings.c.key == key).values(
        state=MISSED, finished_at=now, lease_until=None))
    return Rescue.MISSED, previous


def state(conn: Connection, key: str) -> tuple[str, str | None] | None:
    """A firing's state and run id (None: no such firing)."""
    row = conn.execute(select(fleet_firings.c.state, fleet_firings.c.run_id).where(fleet_firings.c.key == key)).first()
    return (str(row[0]), row[1]) if row is not None else None


def _end_attempt(conn: Connection, key: str, run_id: str, status: str, now: datetime) -> None:
    conn.execute(update(fleet_attempts).where(
        fleet_attempts.c.firing_key == key, fleet_attempts.c.run_id == run_id,
        fleet_attempts.c.status == RUNNING).values(status=status, ended_at=now))


def renew(conn: Connection, *, key: str, run_id: str, until: datetime) -> bool:
    """Extend this attempt's lease; False when the firing is no longer this attempt's."""
    done = conn.execute(update(fleet_firings).where(
        fleet_firings.c.key == key, fleet_firings.c.run_id == run_id, fleet_firings.c.state == RUNNING,
    ).values(lease_until=until))
    return bool(done.rowcount)


def finish(conn: Connection, *, key: str, run_id: str, now: datetime) -> bool:
    """The attempt recorded its run: the firing is finished (False: not ours any more)."""
    done = conn.execute(update(fleet_firings).where(
        fleet_firings.c.key == key, fleet_firings.c.run_id == run_id, fleet_firings.c.state == RUNNING,
    ).values(state=FINISHED, finished_at=now, lease_until=None))
    _end_attempt(conn, key, run_id, ATTEMPT_FINISHED, now)
    return bool(done.rowcount)


def fail(conn: Connection, *, key: str, run_id: str, now: datetime) -> None:
    """The attempt broke down inside the robot (said in the worker's log): the firing
    is dropped rather than left claimed until its lease and queue time run out. An
    attempt whose run was recorded before the breakdown finishes its firing instead."""
    if is_recorded(conn, run_id):
        finish(conn, key=key, run_id=run_id, now=now)
        return
    _end_attempt(conn, key, run_id, ATTEMPT_ERROR, now)
    conn.execute(update(fleet_firings).where(fleet_firings.c.key == key, fleet_firings.c.run_id == run_id)
                 .values(state=DROPPED, finished_at=now, lease_until=None))


# -- reading ------------------------------------------------------------------------------------
def firings(conn: Connection, *, schedule: str | None = None) -> list[dict[str, object]]:
    query = select(fleet_firings).order_by(fleet_firings.c.fire_time, fleet_firings.c.journey)
    if schedule is not None:
        query = query.where(fleet_firings.c.schedule == schedule)
    return [dict(r) for r in conn.execute(query).mappings()]


def attempts(conn: Connection, key: str | None = None) -> list[dict[str, object]]:
    query = select(fleet_attempts).order_by(fleet_attempts.c.id)
    if key is not None:
        query = query.where(fleet_attempts.c.firing_key == key)
    return [dict(r) for r in conn.execute(query).mappings()]


def running(conn: Connection) -> list[dict[str, object]]:
    query = select(fleet_firings).where(fleet_firings.c.state == RUNNING).order_by(fleet_firings.c.started_at)
    return [dict(r) for r in conn.execute(query).mappings()]


def oldest_waiting(conn: Connection) -> dict[str, object] | None:
    row = conn.execute(select(fleet_firings).where(fleet_firings.c.state == QUEUED)
                       .order_by(fleet_firings.c.enqueued_at).limit(1)).mappings().first()
    return dict(row) if row is not None else None


def counts(conn: Connection) -> dict[str, int]:
    rows = conn.execute(select(fleet_firings.c.state, func.count()).group_by(fleet_firings.c.state)).all()
    return {str(state): int(n) for state, n in rows}


def prune(conn: Connection, before: datetime) -> int:
    """Finished and dropped firings older than ``before`` (their attempts go with them)."""
    old = and_(fleet_firings.c.state.in_(ENDED), fleet_firings.c.fire_time < before)
    keys = select(fleet_firings.c.key).where(old)
    conn.execute(delete(fleet_attempts).where(fleet_attempts.c.firing_key.in_(keys)))
    return int(conn.execute(delete(fleet_firings).where(old)).rowcount)
