"""Incidents and what hangs off them: the ``incidents``, ``journey_state`` (flapping),
``robot_state``, ``events`` tables and the writing of outbox rows (``deliveries``).
Every query on them the incident lifecycle and its readers need lives here;
callers pass the connection, so one recording is one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TypedDict

from sqlalchemy import ColumnElement, Connection, Insert, RowMapping, desc, func, insert, or_, select, update

from ..core.jsontypes import JsonObject, as_texts
from ..core.vocabulary import DeliveryStatus, IncidentStatus
from .outbox_repo import SCHEDULED
from .schema import deliveries, events, incidents, journey_state, robot_state

OPEN = IncidentStatus.OPEN
RowDict = dict[str, object]  # a row as a plain dict: what the CLI and the console show (values as stored)


class IncidentRow(TypedDict):
    """A row of ``incidents``, its JSON columns checked: ``evidence`` an object, ``cause`` an
    object or None, ``affected`` (a grouped incident's journeys) the objects of its list or None."""

    id: int
    fingerprint: str
    status: str
    journey: str
    journey_file: str | None
    tags: list[str]
    target: str
    device: str
    step_key: str
    step_index: int
    step_name: str
    action: str
    kind: str
    reason: str
    severity: str
    message: str
    page_url: str | None
    count: int
    healthy_streak: int
    opened_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None
    resolve_note: str | None
    first_run_id: str | None
    last_run_id: str | None
    last_notified_at: datetime | None
    evidence: JsonObject
    previous_id: int | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    cause: JsonObject | None
    affected: list[JsonObject] | None


def incident_row(r: RowMapping) -> IncidentRow:
    """An ``incidents`` row read into its record (the JSON columns narrowed)."""
    tags, evidence, cause, affected = r["tags"], r["evidence"], r["cause"], r["affected"]
    return IncidentRow(
        id=r["id"], fingerprint=r["fingerprint"], status=r["status"], journey=r["journey"], journey_file=r["journey_file"],
        tags=as_texts(tags), target=r["target"], device=r["device"],
        step_key=r["step_key"], step_index=r["step_index"], step_name=r["step_name"], action=r["action"], kind=r["kind"],
        reason=r["reason"], severity=r["severity"], message=r["message"], page_url=r["page_url"], count=r["count"],
        healthy_streak=r["healthy_streak"], opened_at=r["opened_at"], last_seen_at=r["last_seen_at"],
        resolved_at=r["resolved_at"], resolved_by=r["resolved_by"], resolve_note=r["resolve_note"],
        first_run_id=r["first_run_id"], last_run_id=r["last_run_id"], last_notified_at=r["last_notified_at"],
        evidence=evidence if isinstance(evidence, dict) else {}, previous_id=r["previous_id"],
        acknowledged_at=r["acknowledged_at"], acknowledged_by=r["acknowledged_by"],
        cause=cause if isinstance(cause, dict) else None,
        affected=[e for e in affected if isinstance(e, dict)] if isinstance(affected, list) else None,
    )


def state_key(journey: str, target: str, device: str) -> str:
    """The ``journey_state`` key of a journey on one device."""
    return f"{journey}\x1f{target}\x1f{device}"


def _new_id(conn: Connection, stmt: Insert) -> int:
    key = conn.execute(stmt).inserted_primary_key
    assert key is not None  # every table here has an integer primary key
    return int(key[0])


# -- incidents -----------------------------------------------------------------------------------------
def get(conn: Connection, incident_id: int) -> IncidentRow | None:
    row = conn.execute(select(incidents).where(incidents.c.id == incident_id)).mappings().first()
    return incident_row(row) if row is not None else None


def open_for_journey(conn: Connection, journey: str, target: str, device: str, *, lock: bool = False) -> list[IncidentRow]:
    """The journey's open incidents, oldest first; ``lock`` holds them for this transaction
    (PostgreSQL; SQLite's write transaction already holds the whole database)."""
    q = select(incidents).where(incidents.c.status == OPEN, *_journey(journey, target, device)).order_by(incidents.c.id)
    if lock and conn.dialect.name == "postgresql":
        q = q.with_for_update()
    return [incident_row(r) for r in conn.execute(q).mappings()]


def affects(row: RowMapping, journey: str, target: str, device: str) -> bool:
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


def _journey(journey: str, target: str, device: str) -> tuple[ColumnElement[bool], ...]:
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


def insert_incident(conn: Connection, **values: object) -> int:
    return _new_id(conn, insert(incidents).values(**values))


def update_incident(conn: Connection, incident_id: int, **values: object) -> None:
    conn.execute(update(incidents).where(incidents.c.id == incident_id).values(**values))


def due_reminders(conn: Connection, cutoff: datetime) -> list[IncidentRow]:
    """Open incidents last notified at or before ``cutoff``."""
    return [incident_row(r) for r in conn.execute(
        select(incidents).where(incidents.c.status == OPEN, incidents.c.last_notified_at <= cutoff)).mappings()]


def newest(conn: Connection, status: IncidentStatus | None, limit: int) -> list[IncidentRow]:
    q = select(incidents).order_by(desc(incidents.c.id)).limit(limit)
    if status:
        q = q.where(incidents.c.status == status)
    return [incident_row(r) for r in conn.execute(q).mappings()]


def all_open(conn: Connection, *, lock: bool = False) -> Sequence[RowMapping]:
    """Every open incident, oldest first; ``lock`` holds them for this transaction
    (PostgreSQL; SQLite's write transaction already holds the whole database)."""
    q = select(incidents).where(incidents.c.status == OPEN).order_by(incidents.c.id)
    if lock and conn.dialect.name == "postgresql":
        q = q.with_for_update()
    return conn.execute(q).mappings().all()


def open_incidents(conn: Connection, *, lock: bool = False) -> list[IncidentRow]:
    """``all_open`` read into records."""
    return [incident_row(r) for r in all_open(conn, lock=lock)]


def resolved_since(conn: Connection, fingerprint: str, since: datetime) -> IncidentRow | None:
    """The newest incident with this fingerprint resolved at or after ``since``."""
    row = conn.execute(select(incidents).where(incidents.c.fingerprint == fingerprint,
                                               incidents.c.status == IncidentStatus.RESOLVED,
                                               incidents.c.resolved_at >= since)
                       .order_by(desc(incidents.c.id)).limit(1)).mappings().first()
    return incident_row(row) if row is not None else None


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


def save_journey_state(conn: Connection, key: str, *, exists: bool, **values: object) -> None:
    if exists:
        conn.execute(update(journey_state).where(journey_state.c.key == key).values(**values))
    else:
        conn.execute(insert(journey_state).values(key=key, **values))


# -- the robot's own state per target ------------------------------------------------------------------
def robot_state_row(conn: Connection, target: str) -> RowMapping | None:
    return conn.execute(select(robot_state).where(robot_state.c.target == target)).mappings().first()


def save_robot_state(conn: Connection, target: str, *, exists: bool, **values: object) -> None:
    if exists:
        conn.execute(update(robot_state).where(robot_state.c.target == target).values(**values))
    else:
        conn.execute(insert(robot_state).values(target=target, **values))


class RobotStateRow(TypedDict):
    """A row of ``robot_state``: whether the robot fails on a target, since when, and on which journeys."""

    target: str
    failing: bool
    since: datetime | None
    detail: JsonObject  # {"journeys": [{name, reason, message}]}
    updated_at: datetime


def failing_robots(conn: Connection) -> list[RobotStateRow]:
    return [RobotStateRow(target=r["target"], failing=bool(r["failing"]), since=r["since"],
                          detail=r["detail"] if isinstance(r["detail"], dict) else {}, updated_at=r["updated_at"])
            for r in conn.execute(select(robot_state).where(robot_state.c.failing.is_(True))).mappings()]


# -- events and the outbox -----------------------------------------------------------------------------
def insert_event(conn: Connection, **values: object) -> int:
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


def timeline(conn: Connection, incident_id: int) -> list[RowDict]:
    """The incident's events, oldest first."""
    return [dict(e) for e in conn.execute(select(events).where(events.c.incident_id == incident_id)
                                          .order_by(events.c.id)).mappings()]


def deliveries_of(conn: Connection, incident_id: int) -> list[RowDict]:
    """The outbox rows of the incident's events, with each event's type as ``event_type``."""
    return [dict(d) for d in conn.execute(
        select(deliveries, events.c.type.label("event_type"))
        .join(events, events.c.id == deliveries.c.event_id)
        .where(events.c.incident_id == incident_id).order_by(deliveries.c.id)).mappings()]
