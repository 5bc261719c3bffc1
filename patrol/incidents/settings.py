"""The ``incidents`` section of patrol.yaml::

    incidents:
      confirm: 1            # reruns of a newly failing journey before opening (0 = off)
      resolve_after: 2      # consecutive healthy runs that resolve an incident
      remind_every: off     # e.g. 4h: remind about incidents still open
      timezone: UTC         # how times are written in messages (IANA name, e.g. Asia/Shanghai)
      flapping:
        window: 21          # runs of the journey looked at
        start: 20%          # weighted state changes at which it is flapping
        stop: 5%            # ...and below which it has settled
      delivery:
        flush_timeout: 10s  # how long `patrol run` waits for deliveries before exiting
        max_age: 24h        # a failing delivery is retried until it is this old, then dead
        backoff: 5s         # first retry delay; doubles per attempt, with jitter
        max_backoff: 10m
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..config import Config
from ..durations import DurationError, parse_ms


@dataclass
class FlappingSettings:
    window: int = 21
    start: float = 20.0  # percent
    stop: float = 5.0


@dataclass
class DeliverySettings:
    flush_timeout_s: float = 10.0
    max_age_s: float = 24 * 3600.0
    backoff_s: float = 5.0
    max_backoff_s: float = 600.0


@dataclass
class IncidentSettings:
    confirm: int = 1
    resolve_after: int = 2
    remind_every_s: float | None = None
    timezone: str = "UTC"
    flapping: FlappingSettings = field(default_factory=FlappingSettings)
    delivery: DeliverySettings = field(default_factory=DeliverySettings)

    @property
    def tz(self) -> tzinfo:
        return ZoneInfo(self.timezone)


class _Reader:
    def __init__(self, config: Config, base: tuple):
        self.config, self.base = config, base

    def mapping(self, value, path, allowed):
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.config.problem(path, "expected a mapping")
        for key in value:
            if key not in allowed:
                raise self.config.problem(path + (key,), f"unknown key; allowed: {', '.join(allowed)}", key=True)
        return value

    def integer(self, value, path, low, high=None):
        if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
            limit = f"{low}..{high}" if high is not None else f"{low} or more"
            raise self.config.problem(path, f"expected a whole number, {limit} (got {value!r})")
        return value

    def duration_s(self, value, path, allow_off=False, minimum_ms=1.0):
        if allow_off and (value is False or value is None or value == "off"):
            return None
        try:
            ms = parse_ms(value)
        except DurationError as e:
            hint = " or off" if allow_off else ""
            raise self.config.problem(path, f"{e}{hint}") from None
        if ms < minimum_ms:
            raise self.config.problem(path, f"must be at least {minimum_ms:.0f}ms")
        return ms / 1000.0

    def percent(self, value, path):
        text = str(value).strip()
        if isinstance(value, bool):
            text = "x"
        if text.endswith("%"):
            text = text[:-1].strip()
        try:
            number = float(text)
        except ValueError:
            raise self.config.problem(path, f"expected a percentage such as 20% (got {value!r})") from None
        if not 0 < number <= 100:
            raise self.config.problem(path, "expected a percentage above 0% and at most 100%")
        return number


def incident_settings(config: Config) -> IncidentSettings:
    base = ("incidents",)
    r = _Reader(config, base)
    raw = r.mapping(config.section("incidents"), base,
                    ("confirm", "resolve_after", "remind_every", "timezone", "flapping", "delivery"))
    s = IncidentSettings()
    if "confirm" in raw:
        s.confirm = r.integer(raw["confirm"], base + ("confirm",), 0, 5)
    if "resolve_after" in raw:
        s.resolve_after = r.integer(raw["resolve_after"], base + ("resolve_after",), 1, 1000)
    if "remind_every" in raw:
        s.remind_every_s = r.duration_s(raw["remind_every"], base + ("remind_every",), allow_off=True, minimum_ms=60_000)
    if "timezone" in raw:
        tz = raw["timezone"]
        try:
            if not isinstance(tz, str):
                raise ValueError
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise config.problem(base + ("timezone",), f"unknown time zone {tz!r}; use an IANA name such as UTC or Asia/Shanghai") from None
        s.timezone = tz
    fpath = base + ("flapping",)
    fraw = r.mapping(raw.get("flapping"), fpath, ("window", "start", "stop"))
    if "window" in fraw:
        s.flapping.window = r.integer(fraw["window"], fpath + ("window",), 3, 1000)
    if "start" in fraw:
        s.flapping.start = r.percent(fraw["start"], fpath + ("start",))
    if "stop" in fraw:
        s.flapping.stop = r.percent(fraw["stop"], fpath + ("stop",))
    if s.flapping.stop > s.flapping.start:
        raise config.problem(fpath, f"stop ({s.flapping.stop:g}%) must not be above start ({s.flapping.start:g}%)")
    dpath = base + ("delivery",)
    draw = r.mapping(raw.get("delivery"), dpath, ("flush_timeout", "max_age", "backoff", "max_backoff"))
    d = s.delivery
    if "flush_timeout" in draw:
        d.flush_timeout_s = r.duration_s(draw["flush_timeout"], dpath + ("flush_timeout",), minimum_ms=0)
    if "max_age" in draw:
        d.max_age_s = r.duration_s(draw["max_age"], dpath + ("max_age",))
    if "backoff" in draw:
        d.backoff_s = r.duration_s(draw["backoff"], dpath + ("backoff",), minimum_ms=10)
    if "max_backoff" in draw:
        d.max_backoff_s = r.duration_s(draw["max_backoff"], dpath + ("max_backoff",), minimum_ms=10)
    if d.max_backoff_s < d.backoff_s:
        raise config.problem(dpath, "max_backoff must not be shorter than backoff")
    return s


def public_url(config: Config) -> str | None:
    value = config.section("public_url")
    if value is None:
        return None
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise config.problem(("public_url",), "expected the http(s) URL under which report folders are served, e.g. https://patrol.example.com/reports")
    return value.rstrip("/")
