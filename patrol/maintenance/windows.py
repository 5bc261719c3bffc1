"""Maintenance windows: while one covers a journey, its events are recorded and its
messages wait in the outbox (held, due when the window ends). When it ends, each
held stream is sent once: an incident still open gets one message (the first held);
one that opened and resolved inside the window is not sent at all.

Windows come from patrol.yaml (``maintenance:``, ``settings``) and from the console or
``patrol maintenance add`` (the ``maintenance_windows`` table, ``storage``); both are evaluated here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import TypedDict
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from ..core.jsontypes import json_number, json_objects, json_str
from ..core.vocabulary import EventType, IncidentStatus
from . import storage as repo
from .settings import MaintenanceSpec
from .storage import HeldDelivery

JourneyFilter = list[tuple[str, list[str]]]
_EPS = timedelta(microseconds=1)
# Of a non-incident stream, a start whose matching end was held too: the state came back, nothing to say.
_PAIRS: dict[str, EventType] = {EventType.ROBOT_ERROR: EventType.ROBOT_RECOVERED, EventType.FLAPPING: EventType.FLAPPING_STOPPED}


@dataclass(frozen=True)
class Window(MaintenanceSpec):
    """A window as written (patrol.yaml's spec), and where it came from."""

    id: int | None = None  # None: from patrol.yaml
    created_by: str = "patrol.yaml"
    ended_at: datetime | None = None

    @classmethod
    def from_spec(cls, s: MaintenanceSpec) -> Window:
        return cls(**{f.name: getattr(s, f.name) for f in fields(s)})

    @classmethod
    def from_row(cls, r: Mapping[str, object]) -> Window:
        """A ``maintenance_windows`` row (or ``new_window``'s values with its id, maker and end)."""
        def at(key: str) -> datetime | None:
            value = r.get(key)
            return value if isinstance(value, datetime) else None

        wid = r.get("id")
        return cls(name=json_str(r, "name") or "", scope=json_str(r, "scope") or "all", value=json_str(r, "value"),
                   starts_at=at("starts_at"), ends_at=at("ends_at"), cron=json_str(r, "cron"),
                   duration_s=json_number(r, "duration_s"), timezone=json_str(r, "timezone") or "UTC",
                   id=wid if isinstance(wid, int) else None, created_by=json_str(r, "created_by") or "patrol.yaml",
                   ended_at=at("ended_at"))

    @property
    def source(self) -> str:
        return "patrol.yaml" if self.id is None else f"#{self.id}"

    @property
    def what(self) -> str:
        return "every journey" if self.scope == "all" else f"{self.scope} {self.value}"

    @property
    def when(self) -> str:
        if self.cron:
            return f"cron {self.cron} ({self.timezone}) for {_human(self.duration_s or 0)}"
        return f"{_fmt(self.starts_at)} to {_fmt(self.ends_at)}"

    def covers(self, journeys: Iterable[tuple[str, Sequence[str]]]) -> bool:
        if self.scope == "all":
            return True
        return any((self.scope == "journey" and self.value == name) or (self.scope == "tag" and self.value in tags)
                   for name, tags in journeys)

    def occurrences(self, after: datetime, count: int) -> list[tuple[datetime, datetime]]:
        """The next ``count`` (start, end) spans that end after ``after`` (an ongoing one first)."""
        if self.ended_at is not None and self.ended_at <= after:
            return []
        if not self.cron:
            ok = self.starts_at is not None and self.ends_at is not None and self.ends_at > after
            return [(self.starts_at, self.ends_at)] if ok and self.starts_at and self.ends_at else []
        from ..config.triggers import cron_trigger  # APScheduler loads only for a recurring window

        trigger = cron_trigger(self.cron, ZoneInfo(self.timezone))
        length = timedelta(seconds=self.duration_s or 0)
        spans: list[tuple[datetime, datetime]] = []
        t = trigger.get_next_fire_time(None, after - length + _EPS)
        while t is not None and len(spans) < count:
            start = t.astimezone(UTC)
            spans.append((start, start + length))
            t = trigger.get_next_fire_time(t, t + _EPS)
        return spans

    def active_until(self, now: datetime) -> datetime | None:
        """When the window covering ``now`` ends (overlapping recurrences joined), or None."""
        if self.ended_at is not None and self.ended_at <= now:
            return None
        end: datetime | None = None
        for start, stop in self.occurrences(now, 50):
            if start > (end or now):
                break
            end = stop
        return end


def windows(conn: Connection, specs: Iterable[MaintenanceSpec], now: datetime) -> list[Window]:
    """patrol.yaml's windows and the live ones made in the console or the CLI."""
    return [Window.from_spec(s) for s in specs] + [Window.from_row(r) for r in repo.live_windows(conn, now)]


def covering(all_windows: Iterable[Window], journeys: JourneyFilter, now: datetime) -> tuple[datetime, Window] | None:
    """The latest end among the windows covering these journeys now, and that window."""
    best: tuple[datetime, Window] | None = None
    for w in all_windows:
        if not w.covers(journeys):
            continue
        until = w.active_until(now)
        if until is not None and (best is None or until > best[0]):
            best = (until, w)
    return best


def hold_event(conn: Connection, specs: Iterable[MaintenanceSpec], event_id: int, journeys: JourneyFilter,
               now: datetime) -> bool:
    """Hold an event's fresh deliveries when a window covers its journeys (True: held)."""
    found = covering(windows(conn, specs, now), journeys, now)
    if found is None:
        return False
    until, w = found
    repo.hold(conn, event_id, until, f"window {w.name} ({w.source}) until {_fmt(until)}")
    return True


def _journeys(row: HeldDelivery) -> JourneyFilter:
    if row["incident_journey"]:
        tags = row["tags"]
        return [(row["incident_journey"], [str(t) for t in tags] if isinstance(tags, list) else [])]
    if row["journey"]:
        return [(row["journey"], [])]
    payload, robot = row["payload"], None
    data = payload.get("data") if isinstance(payload, dict) else None
    robot = data.get("robot") if isinstance(data, dict) else None
    return [(str(j.get("name") or ""), []) for j in json_objects(robot, "journeys")] if isinstance(robot, dict) else []


def _keep(rows: list[HeldDelivery]) -> HeldDelivery | None:
    """Which one of a stream's held messages is sent when its window ends (None: none)."""
    types = [r["type"] for r in rows]
    if rows[0]["incident_id"] is not None:
        if rows[0]["incident_status"] == IncidentStatus.OPEN:
            return rows[0]  # still open: one message, the first that was held (usually "opened")
        if EventType.OPENED in types:
            return None  # opened and resolved inside the window: nobody is paged
        return rows[-1]  # opened before, resolved inside: say it resolved
    if _PAIRS.get(types[0]) == types[-1]:
        return None
    return rows[-1]


def release(conn: Connection, specs: Iterable[MaintenanceSpec], now: datetime) -> int:
    """Release what windows no longer cover, one message per stream; re-hold what a
    window still covers. How many deliveries were released."""
    rows = [r for r in repo.held(conn) if r["next_attempt_at"] <= now]
    if not rows:
        return 0
    live = windows(conn, specs, now)
    streams: dict[tuple[str, str], list[HeldDelivery]] = {}
    for r in rows:
        found = covering(live, _journeys(r), now)
        if found is not None:
            repo.rehold(conn, [r["id"]], found[0])
        else:
            streams.setdefault((r["receiver"], r["stream"]), []).append(r)
    released = 0
    for group in streams.values():
        keep = _keep(group)
        repo.drop_held(conn, [r["id"] for r in group if r is not keep])
        if keep is not None:
            repo.unhold(conn, keep["id"], now)
            released += 1
    return released


def _fmt(dt: datetime | None) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if dt else "?"


def _human(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


class NewWindow(TypedDict):
    """The ``maintenance_windows`` values of a window made in the console or the CLI."""

    name: str
    scope: str
    value: str | None
    starts_at: datetime | None
    ends_at: datetime | None
    cron: str | None
    duration_s: float | None
    timezone: str
    created_at: datetime


class WindowError(ValueError):
    """A window that cannot be (wrong times, cron, scope): the words say what."""


def new_window(name: str, scope: str, value: str | None, *, starts_at: datetime | None = None,
               ends_at: datetime | None = None, cron: str | None = None, duration_s: float | None = None,
               timezone: str = "UTC", now: datetime) -> NewWindow:
    """The ``maintenance_windows`` values of a window made in the console or the CLI, checked."""
    from ..config.reader import valid_zone
    from ..config.schedules import cron_problem

    name = name.strip()
    if not name or len(name) > 128:
        raise WindowError("a window needs a name (at most 128 characters)")
    if scope not in ("all", "journey", "tag"):
        raise WindowError(f"scope {scope!r}: all, journey or tag")
    value = (value or "").strip() or None
    if (scope == "all") != (value is None):
        raise WindowError("name the journey or tag the window is for" if value is None else "a window for all journeys names none")
    if not valid_zone(timezone):
        raise WindowError(f"unknown time zone {timezone!r}; use an IANA name such as UTC or Europe/Berlin")
    if cron:
        problem = cron_problem(cron, timezone)
        if problem:
            raise WindowError(f"cron {cron!r}: {problem}")
        if not duration_s or not 60 <= duration_s <= 7 * 86400:
            raise WindowError("a recurring window lasts from 1 minute to 7 days (duration)")
        starts_at = ends_at = None
    else:
        if starts_at is None or ends_at is None:
            raise WindowError("a one-off window needs a start and an end (or a cron expression and a duration)")
        if ends_at <= starts_at or ends_at <= now:
            raise WindowError("the window must end after it starts, and in the future")
        duration_s = None
    return NewWindow(name=name, scope=scope, value=value, starts_at=starts_at, ends_at=ends_at, cron=cron or None,
                     duration_s=duration_s, timezone=timezone, created_at=now)


def state(w: Window, now: datetime) -> str:
    """How a window stands now, in words."""
    if w.ended_at is not None and w.ended_at <= now:
        return f"ended {_fmt(w.ended_at)}"
    until = w.active_until(now)
    if until is not None:
        return f"active until {_fmt(until)}"
    upcoming = w.occurrences(now, 1)
    return f"next {_fmt(upcoming[0][0])}" if upcoming else "over"
