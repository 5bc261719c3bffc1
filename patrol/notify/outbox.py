"""Reading and re-queuing the outbox (the ``deliveries`` table)."""

from __future__ import annotations

from datetime import datetime

from ..core.vocabulary import DeliveryStatus
from ..errors import InputError
from ..store import Store
from ..store import outbox_repo as repo


def list_deliveries(store: Store, status: str | None = None, limit: int = 50) -> list[repo.Listed]:
    with store.read() as conn:
        return repo.listed(conn, status, limit)


def counts(store: Store) -> dict[str, int]:
    with store.read() as conn:
        return repo.status_counts(conn)


def requeue(store: Store, ids: list[int] | None, now: datetime) -> int:
    """Dead deliveries back to pending, due now; ``max_age`` counts afresh. The
    event keeps its id, so a receiver that did get it before can tell."""
    with store.write() as conn:  # checked and re-queued in one transaction
        if ids:
            found = repo.statuses(conn, ids)
            for i in ids:
                if i not in found:
                    raise InputError(f"there is no delivery {i} (see `patrol deliveries`)")
                if found[i] != DeliveryStatus.DEAD:
                    raise InputError(f"delivery {i} is {found[i]}, not dead; only dead deliveries are retried by hand")
        return repo.requeue_dead(conn, ids or None, now)
