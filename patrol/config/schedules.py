"""``schedules:`` in patrol.yaml and ``schedule:`` in a journey file, validated into
``ScheduleSpec``s (problems as ``file:line:column``).

patrol.yaml::

    schedules:
      nightly:                       # the schedule's name (its job id is schedule:nightly)
        cron: "0 2 * * *"            # 5-field crontab (0/7 = Sunday) or @daily, @hourly...
        timezone: Asia/Shanghai      # IANA zone (default: the machine's)
        jitter: 5m                   # start up to 5m late, at random (spreads load)
        journeys: [journeys/]        # paths (files, folders, globs) or journey names
        tags: [smoke]                # only those with any of these tags
      smoke:
        every: 5m                    # or an interval
        active: {hours: "08:00-22:00", days: mon-fri}
        grace: 2m                    # run a late firing up to 2m late (default: one period)
        base_url: https://staging.example.com

A journey file::

    schedule: "*/10 * * * *"         # or "5m", or {every: 5m, active: {...}, timezone: ...}

APScheduler (``patrol.config.triggers``) is imported only to check a cron expression
and to build triggers, never to parse an interval.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import tzinfo
from functools import cached_property
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from ..core.text import suggest, type_name
from ..durations import DurationError, parse_ms
from ..yamlpos import Path
from .reader import Reader, valid_zone
from .resolve import UrlProblem, expand_url
from .window import DAY_NAMES, window_parts

if TYPE_CHECKING:
    from .triggers import PatrolTrigger

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
TIMING_KEYS = {
    "cron": "crontab expression (minute hour day month weekday), or @daily, @hourly...",
    "every": "interval, e.g. 5m (instead of cron)",
    "timezone": "IANA time zone of the cron expression and active hours (default: the machine's)",
    "jitter": "start up to this much later, at random",
    "grace": "how late a firing may still run (default: one period)",
    "active": "{hours: '08:00-20:00' or a list, days: mon-fri or a list}: fire only then",
    "enabled": "false pauses the schedule",
}
SELECTION_KEYS = {
    "journeys": "journey files, folders, globs or names (default: the journeys folder)",
    "tags": "only journeys with any of these tags",
    "base_url": "run the journeys against this base URL",
}
MIN_INTERVAL_S = 1.0


class SpecProblem(Exception):
    def __init__(self, path: Path, message: str, key: bool = False):
        super().__init__(message)
        self.path, self.message, self.key = path, message, key


@dataclass(frozen=True)
class ScheduleSpec:
    job_id: str  # schedule:<name> or journey:<journey name>
    name: str
    origin: str  # patrol.yaml or the journey file
    cron: str | None = None
    every_s: float | None = None
    timezone: str = "UTC"
    jitter_s: float = 0.0
    grace_s: float | None = None  # None: one period
    hours: tuple[tuple[int, int], ...] = ()  # ((start minute, end minute), ...)
    days: tuple[int, ...] | None = None  # weekdays, 0 = Monday
    journeys: tuple[str, ...] = ()  # selection entries (paths, globs, names)
    tags: tuple[str, ...] = ()
    base_url: str | None = None  # in patrol.yaml as written: ${...} resolved by schedule.settings
    enabled: bool = True
    path: Path = field(default=(), compare=False)  # where in its file, for messages

    @property
    def tz(self) -> tzinfo:
        return _zone(self.timezone)

    def trigger(self, jitter: bool = True) -> PatrolTrigger:
        # APScheduler (under the triggers) loads when a trigger is built, not when patrol.yaml is read
        from .triggers import PatrolTrigger, cron_trigger, interval_trigger

        tz = self.tz
        inner = cron_trigger(self.cron, tz) if self.cron else interval_trigger(self.every_s or MIN_INTERVAL_S, tz)
        return PatrolTrigger(inner, tz, hours=self.hours, days=self.days,
                             jitter_s=self.jitter_s if jitter else 0.0, seed=self.job_id)

    @cached_property
    def period_s(self) -> float:
        if self.every_s is not None:
            return self.every_s  # what the interval trigger would say, without building one
        return float(self.trigger(jitter=False).period_s())

    @property
    def grace(self) -> float:
        """Misfire grace time (seconds): a firing later than this is skipped (and
        counted as missed). By default one period, so after any downtime the missed
        firings coalesce into exactly one run."""
        return max(1.0, self.grace_s if self.grace_s is not None else self.period_s)

    @property
    def fingerprint(self) -> str:
        """What decides when the job fires; a job in the store with another fingerprint
        is replaced, one with the same is kept (with its next run time)."""
        timing = [self.cron, self.every_s, self.timezone, self.jitter_s, self.grace, list(self.hours),
                  list(self.days) if self.days is not None else None]
        return hashlib.sha256(json.dumps(timing, default=str).encode()).hexdigest()[:16]

    def describe(self) -> str:
        what = f"cron '{self.cron}'" if self.cron else f"every {_dur(self.every_s or 0.0)}"
        extra = [self.timezone, *window_parts(self.hours, self.days)]
        if self.jitter_s:
            extra.append(f"jitter {_dur(self.jitter_s)}")
        extra.append(f"grace {_dur(self.grace)}")
        return f"{what} ({', '.join(extra)})"


def _dur(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def _zone(name: str) -> tzinfo:
    return ZoneInfo(name)


def cron_problem(expression: str, timezone: str) -> str | None:
    """What is wrong with a crontab expression, or None. APScheduler is imported here
    only, and only when a patrol.yaml has a cron expression to check."""
    from .triggers import CronError, cron_trigger

    try:
        cron_trigger(expression, ZoneInfo(timezone))
    except CronError as e:
        return str(e)
    return None


def local_zone_name() -> str:
    try:
        import tzlocal  # APScheduler's dependency: loaded only when a schedule needs the machine's zone

        return str(tzlocal.get_localzone_name() or "UTC")
    except Exception:
        return "UTC"


# -- parsing ----------------------------------------------------------------------------
def _duration_s(value: object, path: Path) -> float:
    try:
        return parse_ms(value) / 1000
    except DurationError as e:
        raise SpecProblem(path, str(e)) from None


def _strings(value: object, path: Path) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise SpecProblem(path, "expected a string or a list of strings")
    return tuple(v.strip() for v in value)


def _hours(value: object, path: Path) -> tuple[tuple[int, int], ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise SpecProblem(path, "expected a time window like '08:00-20:00', or a list of them")
    out = []
    for i, item in enumerate(items):
        p = path + (i,) if isinstance(value, list) else path
        m = re.match(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$", str(item))
        if not m:
            raise SpecProblem(p, f"{item!r} is not a time window; write it like '08:00-20:00' (overnight: '22:00-06:00')")
        h1, m1, h2, m2 = map(int, m.groups())
        if h1 > 24 or h2 > 24 or m1 > 59 or m2 > 59 or (h1 == 24 and m1) or (h2 == 24 and m2):
            raise SpecProblem(p, f"{item!r}: hours are 00-24 and minutes 00-59")
        out.append(((h1 * 60 + m1) % 1440, (h2 * 60 + m2) % 1440))
    return tuple(out)


def _days(value: object, path: Path) -> tuple[int, ...]:
    shortcuts = {"weekdays": "mon-fri", "weekends": "sat-sun", "daily": "mon-sun", "everyday": "mon-sun"}
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise SpecProblem(path, "expected days like mon-fri, or a list like [mon, wed, fri]")
    days: set[int] = set()
    for item in items:
        token = shortcuts.get(str(item).strip().lower(), str(item).strip().lower())
        a, _, b = token.partition("-")
        try:
            lo = DAY_NAMES.index(a[:3]) if len(a) >= 3 else -1
            hi = DAY_NAMES.index(b[:3]) if b else lo
        except ValueError:
            lo = hi = -1
        if lo < 0 or hi < 0:
            raise SpecProblem(path, f"{item!r} is not a day; use mon, tue, wed, thu, fri, sat, sun, ranges like mon-fri, "
                                    "weekdays or weekends")
        d = lo
        while True:
            days.add(d)
            if d == hi:
                break
            d = (d + 1) % 7
    return tuple(sorted(days))


def _as_mapping(raw: object, path: Path, selection: bool) -> tuple[Mapping[object, object], Callable[[str], Path]]:
    """The schedule as a mapping, and where each of its keys stands in the file."""
    if isinstance(raw, str) and not selection:
        text = raw.strip()
        as_map: dict[object, object] = {"every": text} if re.match(r"^\d+(\.\d+)?\s*(ms|s|m|h|d)$", text) else {"cron": text}
        return as_map, lambda k: path  # the string itself is what is wrong
    if isinstance(raw, dict):
        return raw, lambda k: path + (k,)
    hint = "a mapping with cron or every" + ("" if selection else ", a crontab string, or an interval like 5m")
    raise SpecProblem(path, f"expected {hint}, got {type_name(raw)}")


def _timing(raw: Mapping[object, object], keypath: Callable[[str], Path]) -> tuple[str, str | None, float | None]:
    """(time zone, cron, every seconds)."""
    tz_name = raw.get("timezone") or local_zone_name()
    if not valid_zone(tz_name):
        raise SpecProblem(keypath("timezone"), f"unknown time zone {tz_name!r}; use an IANA name such as Asia/Shanghai or UTC")
    if "cron" in raw:
        written = raw["cron"]
        if not isinstance(written, str):
            raise SpecProblem(keypath("cron"), "expected a crontab expression in quotes, e.g. \"0 2 * * *\"")
        cron = " ".join(written.split())
        problem = cron_problem(cron, tz_name)
        if problem:
            raise SpecProblem(keypath("cron"), f"not a crontab expression: {problem}")
        return tz_name, cron, None
    every = _duration_s(raw["every"], keypath("every"))
    if every < MIN_INTERVAL_S:
        raise SpecProblem(keypath("every"), f"the shortest interval is {MIN_INTERVAL_S:g}s")
    return tz_name, None, every


def _active(raw: Mapping[object, object], keypath: Callable[[str], Path]) -> tuple[tuple[tuple[int, int], ...], tuple[int, ...] | None]:
    if "active" not in raw:
        return (), None
    active = raw["active"]
    if not isinstance(active, dict) or not active or set(active) - {"hours", "days"}:
        raise SpecProblem(keypath("active"), "expected a mapping with hours ('08:00-20:00' or a list) and/or days (mon-fri or a list)")
    hours = _hours(active["hours"], keypath("active") + ("hours",)) if "hours" in active else ()
    days = _days(active["days"], keypath("active") + ("days",)) if "days" in active else None
    return hours, days


def _base_url(value: object, path: Path, resolve: bool) -> str | None:
    if value is None:
        return None
    if not resolve and isinstance(value, str) and "${" in value:
        return value  # resolved when the schedule runs (secrets need not be set to validate)
    try:
        return expand_url(value)
    except UrlProblem as e:
        raise SpecProblem(path, str(e)) from None


def parse_spec(raw: object, path: Path, *, job_id: str, name: str, origin: str, selection: bool,
               resolve: bool = True) -> ScheduleSpec:
    """One schedule (a mapping, or in a journey file also a cron string or interval)."""
    mapping, keypath = _as_mapping(raw, path, selection)
    allowed = {**TIMING_KEYS, **(SELECTION_KEYS if selection else {})}
    for key in mapping:
        if key not in allowed:
            raise SpecProblem(path + (key,), f"unknown key '{key}'{suggest(key, allowed)}; allowed: {', '.join(allowed)}",
                              key=True)
    if ("cron" in mapping) == ("every" in mapping):
        raise SpecProblem(path, "give exactly one of cron (e.g. '0 2 * * *') or every (e.g. 5m)")
    tz_name, cron, every = _timing(mapping, keypath)
    jitter = _duration_s(mapping["jitter"], keypath("jitter")) if "jitter" in mapping else 0.0
    grace = _duration_s(mapping["grace"], keypath("grace")) if "grace" in mapping else None
    if grace is not None and grace < 1:
        raise SpecProblem(keypath("grace"), "at least 1s")
    hours, days = _active(mapping, keypath)
    enabled = mapping.get("enabled", True)
    if not isinstance(enabled, bool):
        raise SpecProblem(keypath("enabled"), "expected true or false")
    journeys = _strings(mapping["journeys"], keypath("journeys")) if "journeys" in mapping else ()
    tags = _strings(mapping["tags"], keypath("tags")) if "tags" in mapping else ()
    spec = ScheduleSpec(job_id=job_id, name=name, origin=origin, cron=cron, every_s=every, timezone=tz_name,
                        jitter_s=jitter, grace_s=grace, hours=hours, days=days, journeys=journeys, tags=tags,
                        base_url=_base_url(mapping.get("base_url"), keypath("base_url"), resolve),
                        enabled=enabled, path=path)
    if jitter and jitter >= spec.period_s:
        raise SpecProblem(keypath("jitter"), f"the jitter ({_dur(jitter)}) must be shorter than the time between "
                                             f"firings ({_dur(spec.period_s)})")
    return spec


def parse_schedules(r: Reader, raw: object, origin: str) -> tuple[ScheduleSpec, ...]:
    """Every schedule in patrol.yaml; one problem per bad schedule, all schedules checked."""
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        r.error(("schedules",), "expected a mapping of schedule names to {cron|every, journeys, tags...}")
        return ()
    out = []
    for name, body in raw.items():
        path = ("schedules", name)
        if not isinstance(name, str) or not NAME_RE.match(name):
            r.error(path, "a schedule name is letters, digits, '.', '-' and '_'", key=True)
            continue
        try:
            out.append(parse_spec(body, path, job_id=f"schedule:{name}", name=name, origin=origin,
                                  selection=True, resolve=False))
        except SpecProblem as e:
            r.error(e.path, e.message, key=e.key)
    return tuple(out)
