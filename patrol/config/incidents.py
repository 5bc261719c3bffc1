"""The ``incidents`` section of patrol.yaml::

    incidents:
      confirm: 1            # reruns of a newly failing journey before opening (0 = off)
      confirm_delay: 5s     # wait before a rerun (longer when the app said Retry-After, up to 2m)
      resolve_after: 2      # consecutive healthy runs that resolve an incident
      remind_every: off     # e.g. 4h: remind about incidents still open
      timezone: UTC         # how times are written in messages (IANA name, e.g. Asia/Shanghai)
      group_by: cause       # one incident per cause across journeys (a slow API pages once); step: one per step
      group_window: 10m     # a cause back this soon after its incident resolved reopens it
      flapping:
        window: 21          # runs of the journey looked at
        start: 20%          # weighted state changes at which it is flapping
        stop: 5%            # ...and below which it has settled
      delivery:
        flush_timeout: 10s  # how long `patrol run` waits for deliveries before exiting
        max_age: 24h        # a failing delivery is retried until it is this old, then dead
        backoff: 5s         # first retry delay; doubles per attempt, with jitter
        max_backoff: 10m
      escalation:           # who hears when, while unacknowledged (see patrol.config.escalation)
        - {after: 0m, receivers: [team-chat], repeat: 10m}
        - {after: 15m, receivers: [oncall-pagerduty]}
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import tzinfo
from zoneinfo import ZoneInfo

from .escalation import EscalationSettings, parse_escalation
from .reader import Reader

MAX_CONFIRM_DELAY_S = 120.0


@dataclass(frozen=True)
class FlappingSettings:
    window: int = 21
    start: float = 20.0  # percent
    stop: float = 5.0


@dataclass(frozen=True)
class DeliverySettings:
    flush_timeout_s: float = 10.0
    max_age_s: float = 24 * 3600.0
    backoff_s: float = 5.0
    max_backoff_s: float = 600.0


@dataclass(frozen=True)
class IncidentSettings:
    confirm: int = 1
    # A rerun at once meets the same rate limit (429) or the same passing blip; a short
    # wait lets the app recover. A Retry-After the app sent counts, up to MAX_CONFIRM_DELAY_S.
    confirm_delay_s: float = 5.0
    resolve_after: int = 2
    remind_every_s: float | None = None
    timezone: str = "UTC"
    # cause: findings with the same cause (patrol.causes) are one incident across steps,
    # journeys and the runs within ``group_window_s``; step: one incident per step and symptom.
    group_by: str = "cause"
    group_window_s: float = 600.0
    flapping: FlappingSettings = field(default_factory=FlappingSettings)
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    escalation: EscalationSettings = field(default_factory=EscalationSettings)

    @property
    def tz(self) -> tzinfo:
        return ZoneInfo(self.timezone)


KEYS = {
    "confirm": "reruns of a newly failing journey before opening (0-5)",
    "confirm_delay": "wait before a confirmation rerun (duration; 0s: at once)",
    "resolve_after": "healthy runs that resolve an incident",
    "remind_every": "remind about open incidents (duration or off)",
    "timezone": "IANA time zone of times in messages",
    "group_by": "cause (one incident per cause across journeys) or step (one per step)",
    "group_window": "a cause back this soon after its incident resolved reopens it (duration)",
    "flapping": "{window, start, stop}",
    "delivery": "{flush_timeout, max_age, backoff, max_backoff}",
    "escalation": "levels [{after, receivers, repeat}]",
}


def parse_incidents(r: Reader, raw: object) -> IncidentSettings:
    f = r.fields(raw, ("incidents",), KEYS, expected="a mapping with " + ", ".join(KEYS))
    d = IncidentSettings()
    remind = f.duration_ms("remind_every", None, minimum_ms=60_000, allow_off=True)
    return IncidentSettings(
        confirm=f.integer("confirm", d.confirm, 0, 5),
        confirm_delay_s=f.duration_ms("confirm_delay", d.confirm_delay_s * 1000, maximum_ms=MAX_CONFIRM_DELAY_S * 1000) / 1000,
        resolve_after=f.integer("resolve_after", d.resolve_after, 1, 1000),
        remind_every_s=remind / 1000 if remind is not None else None,
        timezone=f.timezone("timezone", d.timezone),
        group_by=f.string("group_by", d.group_by, pattern=re.compile(r"^(cause|step)$"), hint="expected cause or step"),
        group_window_s=f.duration_ms("group_window", d.group_window_s * 1000, maximum_ms=86_400_000) / 1000,
        flapping=_flapping(r, f.raw.get("flapping")),
        delivery=_delivery(r, f.raw.get("delivery")),
        escalation=parse_escalation(r, f.raw.get("escalation")),
    )


def _flapping(r: Reader, raw: object) -> FlappingSettings:
    f = r.fields(raw, ("incidents", "flapping"), {"window": "runs looked at", "start": "percent", "stop": "percent"},
                 expected="a mapping with window, start, stop")
    d = FlappingSettings()
    s = FlappingSettings(f.integer("window", d.window, 3, 1000), f.percent("start", d.start), f.percent("stop", d.stop))
    if s.stop > s.start:
        r.error(f.path, f"stop ({s.stop:g}%) must not be above start ({s.start:g}%)")
        return d
    return s


def _delivery(r: Reader, raw: object) -> DeliverySettings:
    keys = {"flush_timeout": "wait for deliveries at exit", "max_age": "retry until this old",
            "backoff": "first retry delay", "max_backoff": "longest retry delay"}
    f = r.fields(raw, ("incidents", "delivery"), keys, expected="a mapping with " + ", ".join(keys))
    d = DeliverySettings()
    s = DeliverySettings(
        flush_timeout_s=f.duration_ms("flush_timeout", d.flush_timeout_s * 1000) / 1000,
        max_age_s=f.duration_ms("max_age", d.max_age_s * 1000, minimum_ms=1) / 1000,
        backoff_s=f.duration_ms("backoff", d.backoff_s * 1000, minimum_ms=10) / 1000,
        max_backoff_s=f.duration_ms("max_backoff", d.max_backoff_s * 1000, minimum_ms=10) / 1000,
    )
    if s.max_backoff_s < s.backoff_s:
        r.error(f.path, "max_backoff must not be shorter than backoff")
        return d
    return s
