"""``maintenance:`` in patrol.yaml, read back as ``config.settings[MAINTENANCE]``: windows when
patrols still run and record (and incidents may open) but nothing is sent; what is still open when
a window ends is sent once. Problems are positioned like every other section's.

patrol.yaml::

    maintenance:
      nightly-deploy:                # the window's name
        cron: "0 22 * * *"           # recurring: when it starts (5-field crontab or @daily...)
        duration: 1h                 # and how long it lasts
        timezone: Europe/Berlin      # of the cron expression and of from/to without an offset
        journey: checkout            # only this journey, or
        # tag: payments              # only journeys with this tag; neither: every journey
      db-migration:
        from: 2026-12-01 22:00       # one-off: from .. to
        to: 2026-12-01 23:30
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from ..config.model import FeatureSection
from ..config.reader import Fields, Reader
from ..config.schedules import NAME_RE, cron_problem

KEYS = {
    "from": "start of a one-off window (2026-12-01 22:00, an ISO date and time)",
    "to": "end of a one-off window",
    "cron": "start of a recurring window (crontab: minute hour day month weekday, or @daily...)",
    "duration": "how long a recurring window lasts, e.g. 1h",
    "timezone": "IANA time zone of cron and of from/to written without an offset (default UTC)",
    "journey": "only this journey (default: every journey)",
    "tag": "only journeys with this tag",
}
MAX_DURATION_MS = 7 * 86_400_000


@dataclass(frozen=True)
class MaintenanceSpec:
    """One window as written: one-off (``starts_at``..``ends_at``, aware UTC) or
    recurring (``cron`` + ``duration_s`` in ``timezone``); ``scope`` all/journey/tag."""

    name: str
    scope: str = "all"
    value: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    cron: str | None = None
    duration_s: float | None = None
    timezone: str = "UTC"


def parse_when(value: object, timezone: str) -> datetime | None:
    """A date and time as YAML or a person writes it; without an offset it is in ``timezone``."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=ZoneInfo(timezone))
    return dt.astimezone(UTC)


def _scope(f: Fields, name: str) -> tuple[str, str | None]:
    journey, tag = f.string("journey", None), f.string("tag", None)
    if journey is not None and tag is not None:
        f.error("tag", f"maintenance window {name!r}: give journey or tag, not both")
    if journey is not None:
        return "journey", journey
    return ("tag", tag) if tag is not None else ("all", None)


def _window(r: Reader, name: str, raw: object) -> MaintenanceSpec | None:
    path = ("maintenance", name)
    f = r.fields(raw, path, KEYS, expected="a mapping (from/to, or cron and duration)")
    timezone = f.timezone("timezone", "UTC")
    scope, value = _scope(f, name)
    one_off, recurring = "from" in f or "to" in f, "cron" in f or "duration" in f
    if one_off == recurring:
        r.error(path, f"maintenance window {name!r}: give either from and to (one-off) or cron and duration (recurring)")
        return None
    if one_off:
        ends: dict[str, datetime] = {}
        for key in ("from", "to"):
            when = parse_when(f.raw.get(key), timezone) if key in f else None
            if when is None:
                f.error(key, f"expected a date and time such as 2026-12-01 22:00 (got {f.raw.get(key)!r})"
                        if key in f else "missing: a one-off window needs from and to")
                return None
            ends[key] = when
        if ends["to"] <= ends["from"]:
            f.error("to", "the window must end after it starts")
            return None
        return MaintenanceSpec(name, scope, value, starts_at=ends["from"], ends_at=ends["to"], timezone=timezone)
    cron = f.string("cron", None)
    ms = f.duration_ms("duration", None, minimum_ms=60_000, maximum_ms=MAX_DURATION_MS)
    if cron is None or ms is None:
        if cron is None and "cron" not in f:
            r.error(path, f"maintenance window {name!r}: a recurring window needs cron")
        if "duration" not in f:
            r.error(path, f"maintenance window {name!r}: a recurring window needs duration (e.g. 1h)")
        return None
    problem = cron_problem(cron, timezone)
    if problem:
        f.error("cron", f"{cron!r}: {problem}")
        return None
    return MaintenanceSpec(name, scope, value, cron=cron, duration_s=ms / 1000.0, timezone=timezone)


@dataclass(frozen=True)
class MaintenanceSettings:
    """The section: its windows, in the order written."""

    windows: tuple[MaintenanceSpec, ...] = ()


def parse_maintenance(r: Reader, raw: object) -> MaintenanceSettings:
    if raw is None:
        return MaintenanceSettings()
    if not isinstance(raw, dict):
        r.error(("maintenance",), "expected a mapping of window names to windows")
        return MaintenanceSettings()
    out: list[MaintenanceSpec] = []
    for name, body in raw.items():
        if not isinstance(name, str) or not NAME_RE.match(name):
            r.error(("maintenance", name), f"{name!r}: a window name is letters, digits, '-', '_' or '.'", key=True)
            continue
        spec = _window(r, name, body)
        if spec is not None:
            out.append(spec)
    return MaintenanceSettings(tuple(out))


MAINTENANCE = FeatureSection("maintenance", "windows when patrols run but nothing is sent (deploys)", MaintenanceSettings,
                             parse_maintenance, MaintenanceSettings())
