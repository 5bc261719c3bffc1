"""The outbox: sending, reading, re-queuing and pruning the ``deliveries`` table
(and the ``events`` it points to). Every query the dispatcher, ``patrol deliveries``
and retention need lives here; callers pass the connection, so each decides the
transaction (a claim is one write transaction of its own).

Writing outbox rows is ``incident_repo.queue_deliveries``: they go in the incident
change's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypedDict

from sqlalchemy import ColumnElement, Connection, RowMapping, and_, delete, func, insert, or_, select, update

from ..core.jsontypes import JsonObject
from ..core.vocabulary import DeliveryStatus
from .schema import deliveries, events


@dataclass(frozen=True)
class Delivery:
    """One outbox row, as the dispatcher sees it."""

    id: int
    event_id: int
    receiver: str
    format: str
    stream: str  # per-receiver ordering key (incident / robot target)
    status: DeliveryStatus
    attempts: int
    parts_done: int  # multi-message formats (WeCom text + image)
    queued_at: datetime  # max_age counts from here (reset by a retry by hand)
    next_attempt_at: datetime
    lease_owner: str | None
    lease_until: datetime | None


@dataclass(frozen=True)
class Attempt:
    """What one attempt at sending a delivery left behind."""

    attempts: int  # counting this one
    at: datetime
    status_code: int | None  # the receiver's HTTP answer, None without one
    parts_done: int

    def values(self) -> dict[str, object]:
        return dict(attempts=self.attempts, last_attempt_at=self.at, last_status=self.status_code,
                    parts_done=self.parts_done)


class StreamRow(TypedDict):
    """A delivery of one stream, as escalation reads it (``stream_rows``)."""

    id: int
    receiver: str
    status: str
    attempts: int
    sent_at: datetime | None
    next_attempt_at: datetime


def _delivery(row: RowMapping) -> Delivery:
    return Delivery(id=row["id"], event_id=row["event_id"], receiver=row["receiver"], format=row["format"],
                    stream=row["stream"], status=DeliveryStatus(row["status"]), attempts=row["attempts"],
                    parts_done=row["parts_done"], queued_at=row["queued_at"], next_attempt_at=row["next_attempt_at"],
                    lease_owner=row["lease_owner"], lease_until=row["lease_until"])


# -- the dispatcher ----------------------------------------------------------------------------------
def heads(conn: Connection, receiver: str | None = None) -> list[Delivery]:
    """The oldest pending delivery of each (receiver, stream), oldest first: a stream's
    later deliveries wait for its head (order per incident)."""
    d2 = deliveries.alias("d2")
    oldest = (
        select(func.min(d2.c.id))
        .where(and_(d2.c.status == DeliveryStatus.PENDING, d2.c.receiver == deliveries.c.receiver, d2.c.stream == deliveries.c.stream))
        .scalar_subquery()
    )
    q = select(deliveries).where(deliveries.c.status == DeliveryStatus.PENDING, deliveries.c.id == oldest)
    if receiver is not None:
        q = q.where(deliveries.c.receiver == receiver)
    return [_delivery(r) for r in conn.execute(q.order_by(deliveries.c.id)).mappings()]


def pending_count(conn: Connection, *, scheduled: bool = True) -> int:
    """Pending deliveries; ``scheduled=False`` leaves out those waiting for their time on
    purpose (an escalation level, a re-send), which nothing is late about."""
    q = select(func.count()).select_from(deliveries).where(deliveries.c.status == DeliveryStatus.PENDING)
    if not scheduled:
        q = q.where(or_(deliveries.c.last_error.is_(None), deliveries.c.last_error.not_like(SCHEDULED + "%")))
    n: int = conn.execute(q).scalar_one()
    return n


def attempts_since(conn: Connection, receiver: str, since: datetime) -> list[datetime]:
    """When the receiver's deliveries were last tried, for those tried after ``since``."""
    return list(conn.execute(select(deliveries.c.last_attempt_at).where(
        deliveries.c.receiver == receiver, deliveries.c.last_attempt_at > since)).scalars())


def claim(conn: Connection, delivery: Delivery, owner: str, until: datetime) -> bool:
    """Lease a pending delivery to ``owner`` until ``until``, provided nobody took it
    since it was read (same lease holder as then); False when someone did."""
    held = (deliveries.c.lease_owner.is_(None) if delivery.lease_owner is None
            else deliveries.c.lease_owner == delivery.lease_owner)
    res = conn.execute(update(deliveries).where(deliveries.c.id == delivery.id, deliveries.c.status == DeliveryStatus.PENDING, held)
                       .values(lease_owner=owner, lease_until=until))
    return res.rowcount == 1


def event_payload(conn: Connection, event_id: int) -> JsonObject:
    """The document the delivery sends (``incidents.documents.build`` wrote it)."""
    payload = conn.execute(select(events.c.payload).where(events.c.id == event_id)).scalar_one()
    return payload if isinstance(payload, dict) else {}


def save_progress(conn: Connection, delivery_id: int, owner: str, parts_done: int) -> None:
    """Parts sent so far, lease kept (a crash now does not resend them)."""
    _update_leased(conn, delivery_id, owner, parts_done=parts_done)


def release(conn: Connection, delivery_id: int, owner: str, parts_done: int) -> None:
    """Hand a delivery back untried (a rate limit deferred it), with the parts sent so far."""
    _release(conn, delivery_id, owner, parts_done=parts_done)


def mark_sent(conn: Connection, delivery_id: int, owner: str, attempt: Attempt) -> None:
    _release(conn, delivery_id, owner, status=DeliveryStatus.SENT, sent_at=attempt.at, **attempt.values())


def mark_dead(conn: Connection, delivery_id: int, owner: str, error: str, attempt: Attempt | None = None) -> None:
    """Given up (``attempt`` None: never sent, e.g. its receiver is gone)."""
    _release(conn, delivery_id, owner, status=DeliveryStatus.DEAD, last_error=error, **(attempt.values() if attempt else {}))


def mark_retry(conn: Connection, delivery_id: int, owner: str, attempt: Attempt, error: str, next_at: datetime) -> None:
    """Failed, to be tried again at ``next_at``."""
    _release(conn, delivery_id, owner, next_attempt_at=next_at, last_error=error, **attempt.values())


def _release(conn: Connection, delivery_id: int, owner: str, **values: object) -> None:
    _update_leased(conn, delivery_id, owner, lease_owner=None, lease_until=None, **values)


def _update_leased(conn: Connection, delivery_id: int, owner: str, **values: object) -> None:
    # Only while ``owner`` holds the lease: a dispatcher that lost it changes nothing.
    conn.execute(update(deliveries).where(deliveries.c.id == delivery_id, deliveries.c.lease_owner == owner)
                 .values(**values))


# -- scheduled deliveries: escalation levels, re-sends and re-notifications -------------------------
# A scheduled delivery is a pending row waiting for its time on purpose, marked by its last_error
# (shown by `patrol deliveries`); a failed attempt replaces the mark with the error, as for any row.
SCHEDULED = "scheduled"


def stream_rows(conn: Connection, stream: str, receivers: Sequence[str]) -> list[StreamRow]:
    """These receivers' deliveries of one stream (receiver, status, attempts, sent_at, next_attempt_at)."""
    q = (select(deliveries.c.id, deliveries.c.receiver, deliveries.c.status, deliveries.c.attempts, deliveries.c.sent_at,
                deliveries.c.next_attempt_at)
         .where(deliveries.c.stream == stream, deliveries.c.receiver.in_(list(receivers))).order_by(deliveries.c.id))
    return [StreamRow(id=r["id"], receiver=r["receiver"], status=r["status"], attempts=r["attempts"], sent_at=r["sent_at"],
                      next_attempt_at=r["next_attempt_at"]) for r in conn.execute(q).mappings()]


def schedule(conn: Connection, event_id: int, receiver: str, fmt: str, stream: str, at: datetime, note: str,
             now: datetime) -> None:
    """A new delivery of an event, due at ``at``."""
    conn.execute(insert(deliveries).values(
        event_id=event_id, receiver=receiver, format=fmt, stream=stream, status=DeliveryStatus.PENDING, attempts=0,
        parts_done=0, created_at=now, queued_at=at, next_attempt_at=at, last_error=f"{SCHEDULED}: {note}"))


def reschedule(conn: Connection, delivery_id: int, owner: str, at: datetime, note: str,
               attempt: Attempt | None = None) -> None:
    """Back to waiting until ``at`` (max age counts from then); ``attempt``: it was just sent."""
    sent = dict(sent_at=attempt.at, parts_done=0, **{k: v for k, v in attempt.values().items() if k != "parts_done"}) \
        if attempt else {}
    _release(conn, delivery_id, owner, next_attempt_at=at, queued_at=at, last_error=f"{SCHEDULED}: {note}", **sent)


def finish(conn: Connection, delivery_id: int, owner: str, note: str) -> None:
    """A scheduled delivery with nothing left to send: sent if it ever was, else gone."""
    row = conn.execute(select(deliveries.c.sent_at).where(deliveries.c.id == delivery_id)).first()
    if row is not None and row.sent_at is not None:
        _release(conn, delivery_id, owner, status=DeliveryStatus.SENT, last_error=note)
    else:
        conn.execute(delete(deliveries).where(deliveries.c.id == delivery_id, deliveries.c.lease_owner == owner))


# -- `patrol deliveries` -----------------------------------------------------------------------------
def newest_with_events(conn: Connection, status: str | None, limit: int) -> list[dict[str, object]]:
    """The newest deliveries, each with its event's ``event_type``, ``incident_id`` and ``uid``."""
    return [dict(r) for r in _newest_with_events(conn, status, limit)]


def _newest_with_events(conn: Connection, status: str | None, limit: int) -> Sequence[RowMapping]:
    q = (
        select(deliveries, events.c.type.label("event_type"), events.c.incident_id, events.c.uid)
        .join(events, events.c.id == deliveries.c.event_id)
        .order_by(deliveries.c.id.desc())
        .limit(limit)
    )
    if status:
        q = q.where(deliveries.c.status == status)
    return conn.execute(q).mappings().all()


class Listed(TypedDict):
    """A delivery as ``patrol deliveries`` lists it, with its event's type and incident."""

    id: int
    status: str
    receiver: str
    event_type: str
    incident_id: int | None
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    next_attempt_at: datetime
    last_attempt_at: datetime | None
    last_error: str | None
    last_status: int | None


def listed(conn: Connection, status: str | None, limit: int) -> list[Listed]:
    """``newest_with_events`` read into records."""
    return [Listed(id=r["id"], status=r["status"], receiver=r["receiver"], event_type=r["event_type"],
                   incident_id=r["incident_id"], attempts=r["attempts"], created_at=r["created_at"], sent_at=r["sent_at"],
                   next_attempt_at=r["next_attempt_at"], last_attempt_at=r["last_attempt_at"],
                   last_error=r["last_error"], last_status=r["last_status"])
            for r in _newest_with_events(conn, status, limit)]


def status_counts(conn: Connection) -> dict[str, int]:
    """Deliveries per status."""
    return {str(s): int(n) for s, n in conn.execute(select(deliveries.c.status, func.count()).group_by(deliveries.c.status))}


def statuses(conn: Connection, ids: Sequence[int]) -> dict[int, DeliveryStatus]:
    """The status of each of these deliveries that exists."""
    return {int(i): DeliveryStatus(s) for i, s in conn.execute(
        select(deliveries.c.id, deliveries.c.status).where(deliveries.c.id.in_(ids)))}


def requeue_dead(conn: Connection, ids: Sequence[int] | None, now: datetime) -> int:
    """Dead deliveries (these, or all of them) back to pending, due ``now``, lease
    dropped; ``queued_at`` restarts max age. How many were re-queued."""
    cond: ColumnElement[bool] = deliveries.c.id.in_(ids) if ids else deliveries.c.status == DeliveryStatus.DEAD
    res = conn.execute(update(deliveries).where(cond, deliveries.c.status == DeliveryStatus.DEAD).values(
        status=DeliveryStatus.PENDING, queued_at=now, next_attempt_at=now, lease_owner=None, lease_until=None))
    return res.rowcount
