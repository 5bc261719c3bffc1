"""The maintenance feature's queries: the windows made in the console or with ``patrol maintenance``
(``maintenance_windows``) and the outbox deliveries they hold. The tables themselves stay in
``store/schema.py``: one metadata, and the Alembic migrations, create every table of the state
database. Plain functions over a connection, like the store's repos; the caller owns the
transaction (so a change and its audit entry commit together)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TypedDict

from sqlalchemy import Connection, delete, insert, select, update

from ..store.console_repo import RowDict
from ..store.schema import deliveries, events, incidents, maintenance_windows


class HeldDelivery(TypedDict):
    """A delivery held by a maintenance window, with its event and incident (``held``)."""

    id: int
    receiver: str
    stream: str
    next_attempt_at: datetime
    type: str
    journey: str | None
    payload: object  # the event document (JSON)
    incident_id: int | None
    incident_journey: str | None
    tags: object  # the incident's tags (JSON)
    incident_status: str | None



# A held delivery is a pending row due when its window ends, marked by its last_error (shown by `patrol deliveries`).
HELD = "held by maintenance"


def add_window(conn: Connection, **values: object) -> int:
    key = conn.execute(insert(maintenance_windows).values(**values)).inserted_primary_key
    assert key is not None  # the table has an integer primary key
    return int(key[0])


def live_windows(conn: Connection, now: datetime) -> list[RowDict]:
    """Windows not ended by hand whose one-off end (if any) is still ahead."""
    q = select(maintenance_windows).where(maintenance_windows.c.ended_at.is_(None)).where(
        (maintenance_windows.c.ends_at.is_(None)) | (maintenance_windows.c.ends_at > now)).order_by(maintenance_windows.c.id)
    return [dict(r) for r in conn.execute(q).mappings()]


def all_windows(conn: Connection, limit: int = 200) -> list[RowDict]:
    q = select(maintenance_windows).order_by(maintenance_windows.c.id.desc()).limit(limit)
    return [dict(r) for r in conn.execute(q).mappings()]


def end_window(conn: Connection, window_id: int, now: datetime) -> bool:
    res = conn.execute(update(maintenance_windows).where(maintenance_windows.c.id == window_id,
                                                         maintenance_windows.c.ended_at.is_(None)).values(ended_at=now))
    return bool(res.rowcount)


def hold(conn: Connection, event_id: int, until: datetime, why: str) -> None:
    conn.execute(update(deliveries).where(deliveries.c.event_id == event_id, deliveries.c.status == "pending")
                 .values(next_attempt_at=until, last_error=f"{HELD}: {why}"))


def held(conn: Connection) -> list[HeldDelivery]:
    """Held deliveries, oldest first, with their event and incident (journey, tags, status)."""
    q = (select(deliveries.c.id, deliveries.c.receiver, deliveries.c.stream, deliveries.c.next_attempt_at,
                events.c.type, events.c.journey, events.c.payload, events.c.incident_id,
                incidents.c.journey.label("incident_journey"), incidents.c.tags, incidents.c.status.label("incident_status"))
         .join(events, events.c.id == deliveries.c.event_id)
         .outerjoin(incidents, incidents.c.id == events.c.incident_id)
         .where(deliveries.c.status == "pending", deliveries.c.attempts == 0, deliveries.c.last_error.like(HELD + "%"))
         .order_by(deliveries.c.id))
    return [HeldDelivery(id=r["id"], receiver=r["receiver"], stream=r["stream"], next_attempt_at=r["next_attempt_at"],
                         type=r["type"], journey=r["journey"], payload=r["payload"], incident_id=r["incident_id"],
                         incident_journey=r["incident_journey"], tags=r["tags"], incident_status=r["incident_status"])
            for r in conn.execute(q).mappings()]


def rehold(conn: Connection, delivery_ids: Sequence[int], until: datetime) -> None:
    conn.execute(update(deliveries).where(deliveries.c.id.in_(delivery_ids)).values(next_attempt_at=until))


def unhold(conn: Connection, delivery_id: int, now: datetime) -> None:
    conn.execute(update(deliveries).where(deliveries.c.id == delivery_id).values(
        next_attempt_at=now, queued_at=now, last_error=None))


def drop_held(conn: Connection, delivery_ids: Sequence[int]) -> None:
    """Held messages that are not to be sent any more (the window swallowed them): gone from the
    outbox; their events stay on the timeline, marked as not notified."""
    if not delivery_ids:
        return
    event_ids = select(deliveries.c.event_id).where(deliveries.c.id.in_(delivery_ids)).scalar_subquery()
    conn.execute(update(events).where(events.c.id.in_(event_ids)).values(notified=False))
    conn.execute(delete(deliveries).where(deliveries.c.id.in_(delivery_ids)))


def held_due_now(conn: Connection, now: datetime) -> None:
    """A window ended by hand: every held delivery is looked at again at once."""
    conn.execute(update(deliveries).where(deliveries.c.status == "pending", deliveries.c.last_error.like(HELD + "%"))
                 .values(next_attempt_at=now))
