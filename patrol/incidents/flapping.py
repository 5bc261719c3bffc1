"""Flap detection, as Nagios does it.

Over the last ``window`` states of a journey (21 by default, so 20 possible state
changes), each change between two consecutive runs counts with a weight that
grows linearly from 0.8 for the oldest to 1.2 for the newest, so recent changes
matter more. The percent state change is the weighted sum over the 20 slots.
A journey starts flapping at ``start`` percent (20%) and stops below ``stop``
(5%); the gap between the two keeps it from flapping about flapping.
"""

from __future__ import annotations

from enum import StrEnum


class FlapChange(StrEnum):
    STARTED = "started"
    STOPPED = "stopped"


def percent_state_change(states: list[bool], window: int = 21) -> float:
    """``states`` oldest first (True = failing); fewer than ``window`` is fine
    (the missing, older slots count as no change)."""
    if window < 2:
        return 0.0
    history = list(states)[-window:]
    slots = window - 1
    offset = slots - (len(history) - 1)  # align the changes we have with the newest slots
    total = 0.0
    for i in range(len(history) - 1):
        if history[i] != history[i + 1]:
            x = offset + i  # 0 = oldest slot ... slots-1 = newest
            total += 0.8 + 0.4 * x / slots
    return round(total * 100.0 / slots, 2)


def decide(flapping: bool, percent: float, start: float, stop: float) -> FlapChange | None:
    """Whether the journey starts or stops flapping now (None: no change)."""
    if not flapping and percent >= start:
        return FlapChange.STARTED
    if flapping and percent < stop:
        return FlapChange.STOPPED
    return None
