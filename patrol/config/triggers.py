"""When a schedule fires: crontab expressions (standard weekday numbering), intervals
on a fixed grid, optional active hours/weekdays and jitter, as one APScheduler
trigger (``PatrolTrigger``) that pickles into the job store.

- Crontab day-of-week numbers follow crontab (0 and 7 = Sunday), not APScheduler 3's
  historical Monday = 0; ``@daily``-style aliases are understood.
- Intervals are laid on a grid anchored at 2000-01-01 00:00 in the schedule's time
  zone (``every: 5m`` fires at :00, :05, ...), so a restart or a reload never shifts
  them.
- Jitter delays each firing by a random 0..jitter, drawn per firing from the grid
  time, so it never accumulates into drift.
- Active hours/weekdays skip fire times outside the window (the next fire time is the
  first grid/cron time inside it).
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta, tzinfo
from typing import NotRequired, TypedDict

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from .window import DAY_NAMES, window_parts

_CRON_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")  # crontab: 0 and 7 = sun
ALIASES = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}
GRID_ORIGIN = datetime(2000, 1, 1)
_EPS = timedelta(microseconds=1)


class CronError(ValueError):
    pass


def _weekday_field(value: str) -> str:
    """Crontab day-of-week (0/7 = Sunday, names allowed) -> APScheduler's, as names."""
    if value in ("*", "?"):
        return "*"
    days: list[int] = []  # APScheduler numbering, mon = 0
    for part in value.split(","):
        part = part.strip().lower()
        step = 1
        if "/" in part:
            part, _, s = part.partition("/")
            if not s.isdigit() or int(s) < 1:
                raise CronError(f"bad step in day-of-week '{value}'")
            step = int(s)
        if part in ("*", "?"):
            lo, hi = 0, 6
        elif "-" in part:
            a, _, b = part.partition("-")
            lo, hi = _cron_day(a, value), _cron_day(b, value)
            if hi == 0 and lo > 0:
                hi = 7  # "5-0": Friday to Sunday
            if lo > hi:
                raise CronError(f"day-of-week range '{part}' goes backwards")
        else:
            lo = hi = _cron_day(part, value)
        for n in range(lo, hi + 1, step):
            day = (n - 1) % 7  # crontab 1 (mon) -> 0; 0/7 (sun) -> 6
            if day not in days:
                days.append(day)
    return ",".join(DAY_NAMES[d] for d in sorted(days))


def _cron_day(token: str, whole: str) -> int:
    if token.isdigit() and 0 <= int(token) <= 7:
        return int(token)
    if token[:3] in _CRON_DAY_NAMES:
        return _CRON_DAY_NAMES.index(token[:3])
    raise CronError(f"'{token}' in day-of-week '{whole}' is not a day (0-7 or sun-sat)")


def cron_trigger(expression: str, tz: tzinfo) -> CronTrigger:
    """A standard 5-field crontab expression (or @daily...) in a time zone."""
    expr = ALIASES.get(expression.strip().lower(), expression.strip())
    fields = expr.split()
    if len(fields) != 5:
        raise CronError(f"expected 5 fields (minute hour day month weekday), got {len(fields)}")
    minute, hour, day, month, weekday = fields
    try:
        return CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=_weekday_field(weekday), timezone=tz)
    except ValueError as e:
        raise CronError(str(e)) from None


def interval_trigger(seconds: float, tz: tzinfo) -> IntervalTrigger:
    origin = GRID_ORIGIN.replace(tzinfo=tz) if not hasattr(tz, "localize") else tz.localize(GRID_ORIGIN)
    return IntervalTrigger(seconds=seconds, start_date=origin, timezone=tz)


class TriggerState(TypedDict):
    """What a ``PatrolTrigger`` pickles into the job store (a state from before a key
    was added lacks it: the default applies)."""

    version: int
    inner: BaseTrigger
    tz: tzinfo
    hours: NotRequired[tuple[tuple[int, int], ...]]
    days: NotRequired[tuple[int, ...] | None]
    jitter_s: NotRequired[float]
    seed: NotRequired[str]


class PatrolTrigger(BaseTrigger):  # type: ignore[misc]  # APScheduler 3 ships no type hints
    """An inner cron/interval trigger plus active windows and drift-free jitter."""

    def __init__(self, inner: BaseTrigger, tz: tzinfo, *, hours: Iterable[tuple[int, int]] = (),
                 days: Iterable[int] | None = None, jitter_s: float = 0.0, seed: str = ""):
        self.inner = inner
        self.seed = seed
        self.tz = tz
        # (start minute, end minute) of the day; end may be < start (overnight)
        self.hours: tuple[tuple[int, int], ...] = tuple((a, b) for a, b in hours)
        self.days = tuple(sorted(set(days))) if days is not None else None  # 0 = Monday
        self.jitter_s = float(jitter_s or 0.0)

    # -- APScheduler interface ------------------------------------------------------
    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        base = self._next_base(previous_fire_time, now)
        if base is None:
            return None
        if self.jitter_s:
            # Seeded by the grid time: the same firing always gets the same delay, so
            # recomputing it (listing, restarts) agrees with what will happen.
            delay = random.Random(f"{self.seed}:{base.timestamp():.0f}").uniform(0, self.jitter_s)
            return base + timedelta(seconds=delay)
        return base

    def _next_base(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        if previous_fire_time is not None:
            # Times after the previous firing (which may carry jitter: step past its grid
            # time, not past the jitter, so jitter never shifts the grid).
            start = self._unjitter(previous_fire_time) + _EPS
        else:
            start = now
        t: datetime | None = self.inner.get_next_fire_time(None, start)
        for _ in range(2000):
            if t is None or self.allowed(t):
                return t
            opening = self._next_opening(t)
            if opening is None:
                return None
            t = self.inner.get_next_fire_time(None, opening)
        return None

    def _unjitter(self, fire_time: datetime) -> datetime:
        if not self.jitter_s:
            return fire_time
        # The grid time is the latest inner fire time at or before this one.
        probe = fire_time - timedelta(seconds=self.jitter_s) - _EPS
        t = self.inner.get_next_fire_time(None, probe)
        best = t
        while t is not None and t <= fire_time:
            best = t
            t = self.inner.get_next_fire_time(None, t + _EPS)
        return best if best is not None and best <= fire_time else fire_time

    # -- windows ---------------------------------------------------------------------
    def allowed(self, t: datetime) -> bool:
        local = t.astimezone(self.tz)
        if self.days is not None and local.weekday() not in self.days:
            return False
        if not self.hours:
            return True
        minute = local.hour * 60 + local.minute + local.second / 60
        return any(_in_window(minute, a, b) for a, b in self.hours)

    def _next_opening(self, t: datetime) -> datetime | None:
        """The first moment after ``t`` when the window is open."""
        local = t.astimezone(self.tz)
        starts = sorted({a for a, _ in self.hours}) or [0]
        for day_offset in range(0, 9):
            day = (local + timedelta(days=day_offset)).date()
            for a in starts:
                candidate = _local(day, a, self.tz)
                if candidate > t and self.allowed(candidate):
                    return candidate
        return None

    def period_s(self) -> float:
        """Typical seconds between two firings (without windows): the default grace."""
        if isinstance(self.inner, IntervalTrigger):
            return float(self.inner.interval_length)
        now = datetime.now(self.tz)
        times: list[datetime] = []
        t = self.inner.get_next_fire_time(None, now)
        while t is not None and len(times) < 6:
            times.append(t)
            t = self.inner.get_next_fire_time(t, t + _EPS)
        gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:])]
        return min(gaps) if gaps else 86400.0

    def upcoming(self, count: int, now: datetime | None = None) -> list[datetime]:
        now = now or datetime.now(self.tz)
        out: list[datetime] = []
        prev = None
        while len(out) < count:
            t = self.get_next_fire_time(prev, now if prev is None else max(now, prev + _EPS))
            if t is None:
                break
            out.append(t.astimezone(self.tz))
            prev = t
        return out

    def __getstate__(self) -> TriggerState:
        return {"version": 1, "inner": self.inner, "tz": self.tz, "hours": self.hours, "days": self.days,
                "jitter_s": self.jitter_s, "seed": self.seed}

    def __setstate__(self, state: TriggerState) -> None:
        self.inner = state["inner"]
        self.tz = state["tz"]
        self.hours = tuple((a, b) for a, b in state.get("hours", ()))
        self.days = state.get("days")
        self.jitter_s = state.get("jitter_s", 0.0)
        self.seed = state.get("seed", "")

    def __str__(self) -> str:
        extra = window_parts(self.hours, self.days)
        if self.jitter_s:
            extra.append(f"jitter {self.jitter_s:g}s")
        return f"{self.inner}" + (f" ({'; '.join(extra)})" if extra else "")

    def __repr__(self) -> str:
        return f"<PatrolTrigger {self}>"


def _in_window(minute: float, a: int, b: int) -> bool:
    if a == b:
        return True  # 00:00-24:00 style: all day
    if a < b:
        return a <= minute < b
    return minute >= a or minute < b  # overnight, e.g. 22:00-06:00


def _local(day: date, minute_of_day: int, tz: tzinfo) -> datetime:
    naive = datetime.combine(day, time(minute_of_day // 60 % 24, minute_of_day % 60))
    if hasattr(tz, "localize"):  # a pytz zone
        local: datetime = tz.localize(naive)
        return local
    return naive.replace(tzinfo=tz)
