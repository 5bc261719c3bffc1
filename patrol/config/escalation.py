"""``incidents.escalation`` in patrol.yaml: who hears about an incident, and when,
while nobody has acknowledged it::

    incidents:
      escalation:
        - after: 0m                 # when the incident opens
          receivers: [team-chat]
          repeat: 10m               # re-notify these receivers every 10 minutes while unacknowledged (default off)
        - after: 15m                # still unacknowledged 15 minutes later
          receivers: [oncall-pagerduty]

A receiver named in a level hears about an incident only once its level is due (it
gets the incident's messages from then on, its resolution included); receivers
named in no level get every message as before. Acknowledging the incident stops
the escalation and the re-notifications; a maintenance window or a silence covering
the journey holds them until it ends. The dispatcher (``patrol schedule``, or the
next ``patrol run``) sends what is due.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..core.text import suggest, type_name
from .reader import Reader

MIN_REPEAT_MS = 60_000.0
MAX_AFTER_MS = 7 * 86400_000.0


@dataclass(frozen=True)
class EscalationLevel:
    after_s: float  # unacknowledged this long after opening
    receivers: tuple[str, ...]
    repeat_s: float | None = None  # re-notify while unacknowledged (None: once)


@dataclass(frozen=True)
class EscalationSettings:
    levels: tuple[EscalationLevel, ...] = ()

    def level_of(self, receiver: str) -> int | None:
        """The index of the level that names this receiver (None: not escalated, gets everything)."""
        for i, level in enumerate(self.levels):
            if receiver in level.receivers:
                return i
        return None

    def __bool__(self) -> bool:
        return bool(self.levels)


KEYS = {
    "after": "unacknowledged this long after opening (0m: at once)",
    "receivers": "receiver names (from the receivers section)",
    "repeat": "re-notify them this often while unacknowledged (duration or off)",
}


def parse_escalation(r: Reader, raw: object) -> EscalationSettings:
    """Levels in order of ``after``; every problem positioned."""
    path = ("incidents", "escalation")
    if raw is None or raw is False:
        return EscalationSettings()
    if not isinstance(raw, list):
        r.error(path, f"expected a list of levels such as [{{after: 0m, receivers: [chat]}}, "
                      f"{{after: 15m, receivers: [pagerduty]}}], got {type_name(raw)}")
        return EscalationSettings()
    levels: list[EscalationLevel] = []
    named: dict[str, int] = {}
    before = len(r.problems)
    for i, spec in enumerate(raw):
        f = r.fields(spec, path + (i,), KEYS, expected="a mapping with after and receivers")
        if not isinstance(spec, dict):
            continue
        if "after" not in f:
            r.error(path + (i,), "after is required (e.g. after: 15m; 0m for at once)")
        after = f.duration_ms("after", 0.0, maximum_ms=MAX_AFTER_MS)
        receivers = f.strings("receivers")
        if "receivers" not in f:
            r.error(path + (i,), "receivers is required: the receivers this level notifies")
        for name in receivers:
            if name in named:
                f.error("receivers", f"receiver {name!r} is already in level {named[name] + 1}; "
                                     "a receiver belongs to one level")
            named.setdefault(name, i)
        repeat = f.duration_ms("repeat", None, minimum_ms=MIN_REPEAT_MS, allow_off=True)
        if levels and after <= levels[-1].after_s * 1000:
            f.error("after", f"levels go in order: this one must come after the previous level's "
                             f"{levels[-1].after_s:g}s")
        levels.append(EscalationLevel(after / 1000, receivers, repeat / 1000 if repeat is not None else None))
    if len(r.problems) != before:
        return EscalationSettings()
    return EscalationSettings(tuple(levels))


def check_escalation_receivers(r: Reader, escalation: EscalationSettings, receivers: Mapping[str, object]) -> None:
    """Every receiver a level names is one of the receivers section's (positioned at the name)."""
    for i, level in enumerate(escalation.levels):
        for j, name in enumerate(level.receivers):
            if name not in receivers:
                known = ", ".join(sorted(receivers)) or "none are configured"
                r.error(("incidents", "escalation", i, "receivers", j),
                        f"unknown receiver {name!r}{suggest(name, receivers)}; receivers: {known}")
