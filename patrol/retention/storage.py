"""Retention's queries: which runs are old, what was pruned of them, deleting old runs, sent
deliveries and closed events. The tables stay in ``store/schema.py`` (one metadata, and the
Alembic migrations, create every table of the state database). Plain functions over a connection;
the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TypeAlias

from sqlalchemy import Connection, Row, and_, delete, or_, select, update

from ..core.vocabulary import DeliveryStatus, IncidentStatus
from ..store.schema import deliveries, events, incidents, runs

# id, started_at, recorded_at, run_dir, screenshots_pruned_at, report_pruned_at
RecordedRunRow: TypeAlias = Row[str, datetime | None, datetime, str | None, datetime | None, datetime | None]


# -- runs ----------------------------------------------------------------------------------------
def runs_in_use(conn: Connection) -> set[str]:
    """Runs that open incidents or pending notifications refer to (retention keeps them)."""
    keep: set[str] = set()
    open_rows = conn.execute(select(incidents.c.id, incidents.c.first_run_id, incidents.c.last_run_id)
                             .where(incidents.c.status == IncidentStatus.OPEN)).all()
    for r in open_rows:
        keep.update(x for x in (r.first_run_id, r.last_run_id) if x)
    pending = select(deliveries.c.event_id).where(deliveries.c.status == DeliveryStatus.PENDING)
    conds = [events.c.id.in_(pending)]
    if open_rows:
        conds.append(events.c.incident_id.in_([r.id for r in open_rows]))
    keep.update(x for x in conn.execute(select(events.c.run_id).where(or_(*conds))).scalars() if x)
    return keep


def all_run_ids(conn: Connection) -> set[str]:
    return set(conn.execute(select(runs.c.id)).scalars())


def runs_recorded_before(conn: Connection, cutoff: datetime) -> Sequence[RecordedRunRow]:
    """``(id, started_at, recorded_at, run_dir, screenshots_pruned_at, report_pruned_at)``."""
    return conn.execute(select(runs.c.id, runs.c.started_at, runs.c.recorded_at, runs.c.run_dir,
                               runs.c.screenshots_pruned_at, runs.c.report_pruned_at)
                        .where(runs.c.recorded_at < cutoff)).all()


def mark_pruned(conn: Connection, run_id: str, *, screenshots_at: datetime | None = None,
                report_at: datetime | None = None) -> None:
    """Record what retention removed from a run's folder."""
    values: dict[str, datetime] = {}
    if screenshots_at is not None:
        values["screenshots_pruned_at"] = screenshots_at
    if report_at is not None:
        values["report_pruned_at"] = report_at
    if values:
        conn.execute(update(runs).where(runs.c.id == run_id).values(**values))


def delete_runs(conn: Connection, ids: Sequence[str]) -> int:
    """Delete runs; their attempts and steps go with them (ON DELETE CASCADE)."""
    return conn.execute(delete(runs).where(runs.c.id.in_(ids))).rowcount or 0


# -- the outbox ------------------------------------------------------------------------------------
def delete_finished_before(conn: Connection, cutoff: datetime) -> int:
    """Delete sent and dead deliveries created before ``cutoff``."""
    return conn.execute(delete(deliveries).where(
        deliveries.c.status.in_((DeliveryStatus.SENT, DeliveryStatus.DEAD)), deliveries.c.created_at < cutoff)).rowcount or 0


def delete_closed_events_before(conn: Connection, cutoff: datetime) -> int:
    """Delete events older than ``cutoff`` of no open incident (resolved incidents'
    timelines, robot notices) that no pending delivery still has to send."""
    open_ids = select(incidents.c.id).where(incidents.c.status == IncidentStatus.OPEN)
    pending = select(deliveries.c.event_id).where(deliveries.c.status == DeliveryStatus.PENDING)
    return conn.execute(delete(events).where(and_(
        events.c.at < cutoff,
        or_(events.c.incident_id.is_(None), events.c.incident_id.not_in(open_ids)),
        events.c.id.not_in(pending),
    ))).rowcount or 0
