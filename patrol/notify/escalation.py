"""Deliveries that wait for their time, decided when the dispatcher picks them up:

- **Escalation levels** (``incidents.escalation``): a receiver named in a level gets
  an incident's "opened" message once the incident has been open and unacknowledged
  for the level's ``after`` (and never sooner than the gap between the levels after
  the previous level was actually told: after a maintenance window, the chat gets its
  minutes before the pager rings). Acknowledged or resolved before then: it is never
  told, and gets none of the incident's later messages either.
- **Re-notifications** (a level's ``repeat``): a reminder to the level's receivers
  every ``repeat`` while the incident is open and unacknowledged.
- **Re-sends** (a format's ``resend_every_s``, e.g. ``alertmanager_api``): the firing
  alert again while it still fires, as Alertmanager expects of a client.

A maintenance window or a console silence covering the journey holds escalations and
re-notifications (looked at again at least every ``HOLD_RECHECK_S``, so a window or
silence ended by hand lets them go within a minute). Waiting rows are ordinary
pending outbox rows marked ``scheduled: ...`` (``patrol deliveries`` shows why); the
re-send and re-notification of an incident are one row each, in a stream of their
own, rescheduled after each send, so a resolution is never queued behind them.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import Connection

from ..config.escalation import EscalationSettings
from ..core.isotime import iso
from ..core.jsontypes import JsonObject
from ..core.vocabulary import DeliveryStatus, IncidentStatus
from ..core.vocabulary import EventType as E
from ..maintenance.settings import MaintenanceSpec
from ..maintenance.windows import covering, windows
from ..store import console_repo
from ..store import incident_repo as incidents
from ..store import outbox_repo as repo
from ..store.incident_repo import IncidentRow
from ..store.outbox_repo import Delivery
from .formats import Format
from .formats.alertmanager_labels import affected_journeys, firing
from .receivers import Receiver
from .text import Doc, summary_line

RESEND = "resend|"
RENOTIFY = "renotify|"
HOLD_RECHECK_S = 60.0
_INCIDENT = "incident:"
# Events that (re)start an alert's firing: what a re-send repeats.
_FIRES = frozenset({E.OPENED, E.REMINDER, E.ROBOT_ERROR, E.FLAPPING})


class Action(StrEnum):
    SEND = "send"
    WAIT = "wait"  # not yet: rescheduled
    STOP = "stop"  # nothing to send any more


@dataclass(frozen=True)
class Plan:
    action: Action
    doc: Doc | None = None
    until: datetime | None = None
    note: str = ""


def _hm(seconds: float) -> str:
    if seconds and seconds % 3600 == 0:
        return f"{seconds / 3600:g}h"
    return f"{seconds / 60:g}m" if seconds % 60 == 0 else f"{seconds:g}s"


def _at(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%d %H:%M:%S UTC")


def _resend_every(receiver: Receiver, fmt: Format) -> float | None:
    """How often a firing alert goes again to this receiver (None: once)."""
    return (receiver.resend_s or fmt.resend_every_s) if fmt.resend_every_s else None


class TimedDeliveries:
    def __init__(self, escalation: EscalationSettings | None, maintenance: tuple[MaintenanceSpec, ...] | None) -> None:
        self.escalation = escalation or EscalationSettings()
        self.maintenance = maintenance  # None: windows not consulted (as for the dispatcher)

    def concerns(self, row: Delivery, receiver: Receiver, fmt: Format) -> bool:
        """Whether this delivery's time is this module's business (else: sent as always)."""
        return (row.stream.startswith((RESEND, RENOTIFY)) or bool(_resend_every(receiver, fmt))
                or self.escalation.level_of(receiver.name) is not None)

    # -- before sending ---------------------------------------------------------------------------
    def plan(self, conn: Connection, row: Delivery, receiver: Receiver, doc: Doc, now: datetime) -> Plan:
        if row.stream.startswith(RESEND):
            if not self._still_firing(conn, doc):
                return Plan(Action.STOP, note="re-sent while it fired; it no longer does")
            return Plan(Action.SEND, doc)
        if row.stream.startswith(RENOTIFY):
            return self._renotify(conn, row, receiver, doc, now)
        level = self.escalation.level_of(receiver.name)
        inc_id = (doc["data"].get("incident") or {}).get("id")
        if level is None or inc_id is None:
            return Plan(Action.SEND, doc)
        stream = f"{_INCIDENT}{inc_id}"
        if doc["type"] != E.OPENED or row.stream != stream:  # its later news (flapping notices too)
            told = any(r["sent_at"] is not None for r in repo.stream_rows(conn, stream, [receiver.name]))
            if told:
                return Plan(Action.SEND, doc)
            return Plan(Action.STOP, note=f"not sent: escalation level {level + 1} was never reached")
        inc = incidents.get(conn, int(inc_id))
        if inc is None or inc["status"] != IncidentStatus.OPEN:
            return Plan(Action.STOP, note=f"not escalated: resolved before level {level + 1}")
        if inc["acknowledged_at"] is not None:
            return Plan(Action.STOP, note=f"not escalated: acknowledged at {_at(inc['acknowledged_at'])}")
        due = self._due(conn, inc, level, now)
        if due > now:
            after = self.escalation.levels[level].after_s
            return Plan(Action.WAIT, until=due, note=f"escalation level {level + 1} ({_hm(after)} unacknowledged): "
                                                     f"due {_at(due)} unless acknowledged")
        held = self._held(conn, inc, doc, now)
        if held is not None:
            return held
        if self.escalation.levels[level].after_s > 0:
            doc = copy.deepcopy(doc)
            doc["data"]["escalation"] = self._escalation_info(inc, level, now)
        return Plan(Action.SEND, doc)

    def _renotify(self, conn: Connection, row: Delivery, receiver: Receiver, doc: Doc, now: datetime) -> Plan:
        inc_id = (doc["data"].get("incident") or {}).get("id")
        inc = incidents.get(conn, int(inc_id)) if inc_id is not None else None
        if inc is None or inc["status"] != IncidentStatus.OPEN:
            return Plan(Action.STOP, note="re-notified while unacknowledged; resolved since")
        if inc["acknowledged_at"] is not None:
            return Plan(Action.STOP, note=f"re-notified while unacknowledged; acknowledged at {_at(inc['acknowledged_at'])}")
        held = self._held(conn, inc, doc, now)
        if held is not None:
            return held
        level = self.escalation.level_of(receiver.name)
        reminder = copy.deepcopy(doc)
        reminder["type"] = E.REMINDER
        reminder["timestamp"] = iso(now)
        # A message of its own: receivers that drop repeated ids (webhook-id) must not drop it.
        reminder["id"] = "msg_" + uuid.uuid5(uuid.NAMESPACE_URL, f"{doc['id']}/renotify/{row.attempts}").hex
        reminder["data"]["escalation"] = {**self._escalation_info(inc, level or 0, now), "renotify": row.attempts + 1}
        reminder["data"]["summary"] = summary_line(reminder)
        return Plan(Action.SEND, reminder)

    def _due(self, conn: Connection, inc: IncidentRow, level: int, now: datetime) -> datetime:
        levels = self.escalation.levels
        due: datetime = inc["opened_at"] + timedelta(seconds=levels[level].after_s)
        if level == 0:
            return due
        prev = levels[level - 1]
        gap = timedelta(seconds=levels[level].after_s - prev.after_s)
        rows = repo.stream_rows(conn, f"{_INCIDENT}{inc['id']}", prev.receivers)
        sent: list[datetime] = [r["sent_at"] for r in rows if r["sent_at"] is not None]
        if sent:
            return max(due, min(sent) + gap)
        # The previous level is itself waiting, untried (a window held it, or its own level): after it, then.
        # One that failed to send does not hold this level back: a chat that is down is when to escalate.
        waiting: list[datetime] = [max(now, r["next_attempt_at"]) for r in rows
                                   if r["status"] == DeliveryStatus.PENDING and r["attempts"] == 0]
        return max(due, min(waiting) + gap) if waiting else due

    def _held(self, conn: Connection, inc: IncidentRow, doc: Doc, now: datetime) -> Plan | None:
        """A window or a silence covering the incident's journeys now: wait (looked at again within a minute)."""
        journeys = [(str(inc["journey"]), list(inc["tags"] or []))]
        # A grouped incident: every journey it affects now (the row), or did when it opened (the document).
        journeys += affected_journeys({"affected": inc.get("affected")}) + affected_journeys(doc["data"].get("incident") or {})
        until: datetime | None = None
        why = ""
        if self.maintenance is not None:
            found = covering(windows(conn, self.maintenance, now), journeys, now)
            if found is not None:
                until, why = found[0], f"window {found[1].name}"
        for s in console_repo.live_silences(conn, now):
            if any((s["scope"] == "journey" and s["value"] == name) or (s["scope"] == "tag" and s["value"] in tags)
                   for name, tags in journeys):
                if until is None or s["until"] > until:
                    until, why = s["until"], f"silence #{s['id']}"
        if until is None:
            return None
        return Plan(Action.WAIT, until=min(until, now + timedelta(seconds=HOLD_RECHECK_S)),
                    note=f"held by {why} until {_at(until)}")

    def _escalation_info(self, inc: IncidentRow, level: int, now: datetime) -> JsonObject:
        return {"level": level + 1, "after": _hm(self.escalation.levels[level].after_s),
                "unacknowledged_for": _hm(max(0.0, round((now - inc["opened_at"]).total_seconds() / 60) * 60))}

    @staticmethod
    def _still_firing(conn: Connection, doc: Doc) -> bool:
        data = doc["data"]
        if doc["type"] == E.ROBOT_ERROR:
            state = incidents.robot_state_row(conn, str((data.get("robot") or {}).get("target")))
            return bool(state and state["failing"])
        inc = data.get("incident")
        if inc is not None:
            row = incidents.get(conn, int(inc["id"]))
            return row is not None and row["status"] == IncidentStatus.OPEN
        fl = data.get("flapping") or {}
        return incidents.is_flapping(conn, incidents.state_key(str(fl.get("journey")), str(fl.get("target")),
                                                                str(fl.get("device"))))

    # -- after a send ---------------------------------------------------------------------------------
    def next_round(self, row: Delivery, receiver: Receiver, fmt: Format, now: datetime) -> tuple[datetime, str] | None:
        """For a re-send or re-notification row just sent: when it goes again (it stays pending)."""
        every = _resend_every(receiver, fmt)
        if row.stream.startswith(RESEND) and every:
            return now + timedelta(seconds=every), f"re-sent every {_hm(every)} while it fires"
        if row.stream.startswith(RENOTIFY):
            repeat = self._repeat(receiver)
            if repeat:
                return now + timedelta(seconds=repeat), f"re-notified every {_hm(repeat)} while unacknowledged"
        return None

    def after_sent(self, conn: Connection, row: Delivery, receiver: Receiver, fmt: Format, doc: Doc, now: datetime) -> None:
        """Start the re-send and re-notification of what was just sent, once per receiver and stream."""
        if row.stream.startswith((RESEND, RENOTIFY)):
            return
        every = _resend_every(receiver, fmt)
        if every and doc["type"] in _FIRES and firing(doc):
            self._start(conn, row, receiver, RESEND + row.stream, now + timedelta(seconds=every),
                        f"re-sent every {_hm(every)} while it fires", now)
        repeat = self._repeat(receiver)
        if repeat and doc["type"] == E.OPENED and row.stream.startswith(_INCIDENT) and fmt.handles(E.REMINDER):
            self._start(conn, row, receiver, RENOTIFY + row.stream, now + timedelta(seconds=repeat),
                        f"re-notified every {_hm(repeat)} while unacknowledged", now)

    def _repeat(self, receiver: Receiver) -> float | None:
        level = self.escalation.level_of(receiver.name)
        return self.escalation.levels[level].repeat_s if level is not None else None

    @staticmethod
    def _start(conn: Connection, row: Delivery, receiver: Receiver, stream: str, at: datetime, note: str,
               now: datetime) -> None:
        if any(r["status"] == DeliveryStatus.PENDING for r in repo.stream_rows(conn, stream, [receiver.name])):
            return
        repo.schedule(conn, row.event_id, receiver.name, receiver.format, stream, at, note, now)
