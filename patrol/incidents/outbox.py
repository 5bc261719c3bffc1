"""The outbox: who hears of an event, written beside it, and sending what was written.

``queue`` runs inside the transaction that writes the event (one row per interested
receiver; a maintenance window holds them until it ends); ``flush`` and the ``Dispatcher``
send them afterwards, in order per incident and receiver (``patrol.notify.dispatcher``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from datetime import datetime

import httpx
from sqlalchemy import Connection

from ..config.incidents import IncidentSettings
from ..core.isotime import utcnow
from ..core.vocabulary import EventType
from ..maintenance.settings import MaintenanceSpec
from ..maintenance.windows import hold_event
from ..notify.dispatcher import Dispatcher, DispatchStats
from ..notify.formats import FORMATS
from ..notify.receivers import Receiver
from ..store import Store
from ..store import incident_repo as repo
from .documents import SUBSCRIPTION
from .policy import JourneyFilter


def stream_of(event_type: EventType, incident_id: int | None, stream_key: str | None = None) -> str:
    """The ordering key of an event's deliveries: its incident, else what it is about
    (a robot's target, a journey's flapping) or its type."""
    if incident_id is not None:
        return f"incident:{incident_id}"
    return "s:" + hashlib.sha256((stream_key or event_type).encode()).hexdigest()[:24]


class Outbox:
    """The receivers of patrol.yaml, the delivery rows for them and their sending."""

    def __init__(
        self,
        store: Store,
        receivers: Mapping[str, Receiver] | None = None,
        settings: IncidentSettings | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
        transport: httpx.BaseTransport | None = None,
        maintenance: tuple[MaintenanceSpec, ...] | None = (),
    ) -> None:
        self.store = store
        self.receivers = dict(receivers or {})
        self.settings = settings or IncidentSettings()
        self.clock = clock
        self.transport = transport  # httpx transport override (tests never need it; kept for embedding)
        # patrol.yaml's maintenance windows (the console's are in the database); None: windows not consulted.
        self.maintenance = maintenance

    def queue(self, conn: Connection, event_id: int, event_type: EventType, journeys: JourneyFilter, now: datetime,
              *, incident_id: int | None = None, stream_key: str | None = None) -> int:
        """One pending row per receiver that wants this event about these journeys; how many."""
        subscription = SUBSCRIPTION[event_type]
        wanted = [(r.name, r.format) for r in self.receivers.values()
                  if FORMATS[r.format].handles(event_type) and r.wants(subscription, journeys)]
        queued = repo.queue_deliveries(conn, event_id, stream_of(event_type, incident_id, stream_key), wanted, now)
        if queued and self.maintenance is not None:
            hold_event(conn, self.maintenance, event_id, journeys, now)  # sent (once) when the window ends
        return queued

    def dispatcher(self) -> Dispatcher:
        return Dispatcher(self.store, self.receivers, self.settings.delivery, tz=self.settings.tz, clock=self.clock,
                          transport=self.transport, maintenance=self.maintenance, escalation=self.settings.escalation)

    def flush(self, timeout: float | None = None) -> DispatchStats:
        """Send what can be sent, bounded by ``incidents.delivery.flush_timeout``."""
        with self.dispatcher() as d:
            return d.flush(timeout)
