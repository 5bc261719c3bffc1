"""The event log: each incident change, flapping notice and robot notice as an ``events`` row
(its document as receivers get it) and, when it is to be told, its outbox rows, in the caller's
transaction. A console silence over its journeys keeps it on the timeline, sent to nobody."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from ..core.jsontypes import json_str
from ..core.vocabulary import EventType
from ..store import console_repo
from ..store import incident_repo as repo
from . import documents as D
from .documents import RunCtx
from .outbox import Outbox
from .policy import IncidentPolicy, JourneyFilter


@dataclass(frozen=True)
class Written:
    event_id: int
    notified: bool  # False: on the timeline only (quiet, or silenced)
    queued: int  # outbox rows written


class EventLog:
    def __init__(self, policy: IncidentPolicy, outbox: Outbox, public_url: str | None = None) -> None:
        self.policy = policy
        self.outbox = outbox
        self.public_url = public_url  # the links in the event's document

    def write(self, conn: Connection, event_type: EventType, now: datetime, incident_id: int | None,
              journeys: JourneyFilter, run_ctx: RunCtx | None, *, notify: bool,
              flapping: dict[str, object] | None = None, robot: dict[str, object] | None = None,
              extra: dict[str, object] | None = None, payload: dict[str, object] | None = None,
              stream_key: str | None = None) -> Written:
        """``payload``: the event's own (no document is built); ``extra``: added to the run's part."""
        uid = uuid.uuid4().hex
        journey = None
        if payload is None:
            inc_obj = None
            if incident_id is not None:
                row = repo.get(conn, incident_id)
                assert row is not None  # written in this transaction
                inc_obj = D.incident_object(row, self.public_url)
                journey = row["journey"]
            if flapping:
                journey = json_str(flapping, "journey")
            run_obj = D.run_object(run_ctx, self.public_url) if run_ctx else None
            if extra and run_obj:
                run_obj.update(extra)  # masked with the whole document
            payload = D.build(event_type, uid, now, incident=inc_obj, run=run_obj, flapping=flapping, robot=robot)
        # An incident is silenced when every journey it is about is (a grouped one still pages
        # for the journeys nobody silenced); a robot notice when one of its journeys is.
        if notify and journeys and self.policy.silenced(console_repo.live_silences(conn, now), journeys, now,
                                                        every=incident_id is not None):
            notify = False
        event_id = repo.insert_event(conn, uid=uid, incident_id=incident_id, type=event_type, at=now,
                                     run_id=run_ctx["id"] if run_ctx else None, journey=journey, notified=notify,
                                     payload=payload)
        if not notify:
            return Written(event_id, False, 0)
        queued = self.outbox.queue(conn, event_id, event_type, journeys, now, incident_id=incident_id,
                                   stream_key=stream_key)
        return Written(event_id, True, queued)
