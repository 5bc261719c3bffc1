"""Incidents and what hangs off them: the ``incidents``, ``journey_state`` (flapping),
``robot_state``, ``events`` tables and the writing of outbox rows (``deliveries``).
Every query on them the incident lifecycle and its readers need lives here;
callers pass the connection, so one recording is one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Insert, RowMapping, desc, func, insert, or_, select, update

from ..core.vocabulary import DeliveryStatus, IncidentStatus
from .outbox_repo import SCHEDULED
from .schema import deliveries, events, incidents, journey_state, robot_state

OPEN = IncidentStatus.OPEN


def state_key(journey: str, target: str, device: str) -> str:
    """The ``journey_state`` key of a journey on one device."""
    return f"{journey}\x1f{target}\x1f{device}"


def _new_id(conn: Connection, stmt: Insert) -> int:
    key = conn.execute(stmt).inserted_primary_key
    assert key is not None  # every table here has an integer primary key
    return int(key[0])


# -- incidents -----------------------------------------------------------------------------------------
def get(conn: Connection, incident_id: int) -> RowMapping | None:
    return conn.execute(select(incidents).where(incidents.c.id == incident_id)).mappings().first()


def open_for_journey(conn: Connection, journey: str, target: str, device: str, *, lock: bool = False) -> Sequence[RowMapping]:
    """The journey's open incidents, oldest first; ``lock`` holds them for this transaction
    (PostgreSQL; SQLite's write transaction already holds the whole database)."""
    q = select(incidents).where(incidents.c.status == OPEN, *_journey(journey, target, device)).order_by(incidents.c.id)
    if lock and conn.dialect.name == "postgresql":
        q = q.with_for_update()
    return conn.execute(q).mappings().all()


def affects(row: RowMapping | dict[str, Any], journey: str, target: str, device: str) -> bool:
    """Whether an incident is about this journey: the one it opened in, or one of those a
    grouped incident lists (``affected``)."""
    if (row["journey"], row["target"], row["device"]) == (journey, target, device):
        return True
    return any((e.get("journey"), e.get("target"), e.get("device")) == (journey, target, device)
               for e in row["affected"] or [] if isinstance(e, dict))


def open_ids_recent_first(conn: Connection, journey: str, target: str, device: str) -> list[int]:
    """Open incidents about the journey, the most recently seen first."""
    rows = conn.execute(select(incidents).where(incidents.c.status == OPEN)
                        .order_by(desc(incidents.c.last_seen_at), desc(incidents.c.id))).mappings()
    return [int(r["id"]) for r in rows if affects(r, journey, target, device)]


def newest_id(conn: Connection, journey: str, target: str, device: str) -> int | None:
    """The journey's newest incident, open or not (a grouped one that lists it, when newer)."""
    own = conn.execute(select(incidents.c.id).where(*_journey(journey, target, device))
                       .order_by(desc(incidents.c.id)).limit(1)).scalar()
    grouped = conn.execute(select(incidents).where(incidents.c.affected.is_not(None), incidents.c.id > (own or 0))
                           .order_by(desc(incidents.c.id)).limit(50)).mappings()
    return next((int(r["id"]) for r in grouped if affects(r, journey, target, device)), own)


def _journey(journey: str, target: str, device: str) -> tuple[Any, ...]:
    return incidents.c.journey == journey, incidents.c.target == target, incidents.c.device == device


def open_fingerprints(conn: Connection, candidates: Iterable[str]) -> set[str]:
    """Which of these fingerprints have an open incident."""
    return set(conn.execute(
        select(incidents.c.fingerprint).where(incidents.c.status == OPEN, incidents.c.fingerprint.in_(set(candidates)))
    ).scalars())


def previous_id(conn: Connection, fingerprint: str) -> int | None:
    """The newest earlier incident with this fingerprint."""
    return conn.execute(select(incidents.c.id).where(incidents.c.fingerprint == fingerprint)
                        .order_by(desc(incidents.c.id)).limit(1)).scalar()


def insert_incident(conn: Connection, **values: Any) -> int:
    return _new_id(conn, insert(incidents).values(**values))


def update_incident(conn: Connection, incident_id: int, **values: Any) -> None:
    conn.execute(update(incidents).where(incidents.c.id == incident_id).values(**values))


def due_reminders(conn: Connection, cutoff: datetime) -> Sequence[RowMapping]:
    """Open incidents last notified at or before ``cutoff``."""
    return conn.execute(select(incidents).where(incidents.c.status == OPEN, incidents.c.last_notified_at <= cutoff)
                        ).mappings().all()


def newest(conn: Connection, status: IncidentStatus | None, limit: int) -> list[dict[str, Any]]:
    q = select(incidents).order_by(desc(incidents.c.id)).limit(limit)
    if status:
        q = q.where(incidents.c.status == status)
    return [dict(r) for r in conn.execute(q).mappings()]


def all_open(conn: Connection, *, lock: bool = False) -> Sequence[RowMapping]:
    """Every open incident, oldest first; ``lock`` holds them for this transaction
    (PostgreSQL; SQLite's write transaction already holds the whole database)."""
    q = select(incidents).where(incidents.c.status == OPEN).order_by(incidents.c.id)
    if lock and conn.dialect.name == "postgresql":
        q = q.with_for_update()
    return conn.execute(q).mappings().all()


def resolved_since(conn: Connection, fingerprint: str, since: datetime) -> RowMapping | None:
    """The newest incident with this fingerprint resolved at or after ``since``."""
    return conn.execute(select(incidents).where(incidents.c.fingerprint == fingerprint,
                                                incidents.c.status == IncidentStatus.RESOLVED,
                                                incidents.c.resolved_at >= since)
                        .order_by(desc(incidents.c.id)).limit(1)).mappings().first()


def counts(conn: Connection) -> dict[str, int]:
    """Incidents per status."""
    return {str(s): int(n) for s, n in conn.execute(select(incidents.c.status, func.count()).group_by(incidents.c.status))}


def open_counts(conn: Connection) -> list[tuple[str, str, str, int]]:
    """``(journey, kind, severity, open incidents)`` (the metrics' gauge)."""
    rows = conn.execute(select(incidents.c.journey, incidents.c.kind, incidents.c.severity, func.count())
                        .where(incidents.c.status == OPEN)
                        .group_by(incidents.c.journey, incidents.c.kind, incidents.c.severity)).all()
    return [(str(j), str(k), str(s), int(n)) for j, k, s, n in rows]


# -- flapping state per journey and device ------------------------------------------------------------
def journey_state_row(conn: Connection, key: str) -> RowMapping | None:
    return conn.execute(select(journey_state).where(journey_state.c.key == key)).mappings().first()


def is_flapping(conn: Connection, key: str) -> bool:
    return bool(conn.execute(select(journey_state.c.flapping).where(journey_state.c.key == key)).scalar())


def flapping_keys(conn: Connection) -> set[str]:
    return set(conn.execute(select(journey_state.c.key).where(journey_state.c.flapping.is_(True))).scalars())


def save_journey_state(conn: Connection, key: str, *, exists: bool, **values: Any) -> None:
    if exists:
        conn.execute(update(journey_state).where(journey_state.c.key == key).values(**values))
    else:
        conn.execute(insert(journey_state).values(key=key, **values))


# -- the robot's own state per target ------------------------------------------------------------------
def robot_state_row(conn: Connection, target: str) -> RowMapping | None:
    return conn.execute(select(robot_state).where(robot_state.c.target == target)).mappings().first()


def save_robot_state(conn: Connection, target: str, *, exists: bool, **values: Any) -> None:
    if exists:
        conn.execute(update(robot_state).where(robot_state.c.target == target).values(**values))
    else:
        conn.execute(insert(robot_state).values(target=target, **values))


def failing_robots(conn: Connection) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(select(robot_state).where(robot_state.c.failing.is_(True))).mappings()]


# -- events and the outbox -----------------------------------------------------------------------------
def insert_event(conn: Connection, **values: Any) -> int:
    return _new_id(conn, insert(events).values(**values))


def queue_deliveries(conn: Connection, event_id: int, stream: str, receivers: Iterable[tuple[str, str]], now: datetime) -> int:
    """One pending outbox row per ``(receiver, format)``; how many were written."""
    rows = [dict(event_id=event_id, receiver=name, format=fmt, stream=stream, status=DeliveryStatus.PENDING,
                 attempts=0, parts_done=0, created_at=now, queued_at=now, next_attempt_at=now)
            for name, fmt in receivers]
    if rows:
        conn.execute(insert(deliveries), rows)
    return len(rows)


def delivery_backlog(conn: Connection) -> list[tuple[str, str, int]]:
    """``(receiver, status, rows)`` of pending and dead deliveries (the metrics' gauges); a
    delivery waiting for its time on purpose (an escalation level, a re-send) is not pending."""
    on_purpose = deliveries.c.last_error.like(SCHEDULED + ":%")
    rows = conn.execute(select(deliveries.c.receiver, deliveries.c.status, func.count())
                        .where(deliveries.c.status.in_((DeliveryStatus.PENDING, DeliveryStatus.DEAD)))
                        .where(or_(deliveries.c.last_error.is_(None), ~on_purpose))
                        .group_by(deliveries.c.receiver, deliveries.c.status)).all()
    return [(str(r), str(s), int(n)) for r, s, n in rows]


def timeline(conn: Connection, incident_id: int) -> list[dict[str, Any]]:
    """The incident's events, oldest first."""
    return [dict(e) for e in conn.execute(select(events).where(events.c.incident_id == incident_id)
                                          .order_by(events.c.id)).mappings()]


def deliveries_of(conn: Connection, incident_id: int) -> list[dict[str, Any]]:
    """The outbox rows of the incident's events, with each event's type as ``event_type``."""
    return [dict(d) for d in conn.execute(
        select(deliveries, events.c.type.label("event_type"))
        .join(events, events.c.id == deliveries.c.event_id)
        .where(events.c.incident_id == incident_id).order_by(deliveries.c.id)).mappings()]


def runs_in_use(conn: Connection) -> set[str]:
    """Runs that open incidents or pending notifications refer to (retention keeps them)."""
    keep: set[str] = set()
    open_rows = conn.execute(select(incidents.c.id, incidents.c.first_run_id, incidents.c.last_run_id)
                             .where(incidents.c.status == OPEN)).all()
    for r in open_rows:
        keep.update(x for x in (r.first_run_id, r.last_run_id) if x)
    pending = select(deliveries.c.event_id).where(deliveries.c.status == DeliveryStatus.PENDING)
    conds = [events.c.id.in_(pending)]
    if open_rows:
        conds.append(events.c.incident_id.in_([r.id for r in open_rows]))
    keep.update(x for x in conn.execute(select(events.c.run_id).where(or_(*conds))).scalars() if x)
    return keep
