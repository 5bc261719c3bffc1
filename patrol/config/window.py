"""A schedule's active window (hours of the day, weekdays) as it is shown: one
wording for ``patrol schedule`` listings and the triggers' own text. Imports nothing
of Patrol's, so the triggers (below the config parser) can use it too."""

from __future__ import annotations

from collections.abc import Iterable

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # APScheduler's order: mon = 0


def hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def window_parts(hours: Iterable[tuple[int, int]], days: Iterable[int] | None) -> list[str]:
    """``["hours 08:00-20:00", "days mon,tue"]``: what is set of the window."""
    parts = []
    spans = list(hours)
    if spans:
        parts.append("hours " + ",".join(f"{hhmm(a)}-{hhmm(b)}" for a, b in spans))
    if days is not None:
        parts.append("days " + ",".join(DAY_NAMES[d] for d in days))
    return parts
