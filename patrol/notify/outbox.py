"""Reading and re-queuing the outbox (the ``deliveries`` table)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select, update

from ..errors import InputError
from ..store import Store
from ..store.schema import deliveries, events


def list_deliveries(store: Store, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    q = (
        select(deliveries, events.c.type.label("event_type"), events.c.incident_id, events.c.uid)
        .join(events, events.c.id == deliveries.c.event_id)
        .order_by(deliveries.c.id.desc())
        .limit(limit)
    )
    if status:
        q = q.where(deliveries.c.status == status)
    with store.read() as conn:
        return [dict(r) for r in conn.execute(q).mappings()]


def counts(store: Store) -> dict[str, int]:
    with store.read() as conn:
        return dict(conn.execute(select(deliveries.c.status, func.count()).group_by(deliveries.c.status)).all())


def requeue(store: Store, ids: list[int] | None, now: datetime) -> int:
    """Dead deliveries back to pending, due now; ``max_age`` counts afresh. The
    event keeps its id, so a receiver that did get it before can tell."""
    with store.write() as conn:
        if ids:
            found = {r.id: r.status for r in conn.execute(select(deliveries.c.id, deliveries.c.status).where(deliveries.c.id.in_(ids)))}
            for i in ids:
                if i not in found:
                    raise InputError(f"there is no delivery {i} (see `patrol deliveries`)")
                if found[i] != "dead":
                    raise InputError(f"delivery {i} is {found[i]}, not dead; only dead deliveries are retried by hand")
            cond: ColumnElement[bool] = deliveries.c.id.in_(ids)
        else:
            cond = deliveries.c.status == "dead"
        res = conn.execute(
            update(deliveries).where(cond, deliveries.c.status == "dead").values(
                status="pending", queued_at=now, next_attempt_at=now, lease_owner=None, lease_until=None)
        )
        return res.rowcount
