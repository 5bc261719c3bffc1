"""The ``retention`` section of patrol.yaml, read back as ``config.settings[RETENTION]`` (what is
pruned, and when, is ``patrol.retention.prune``)::

    retention:
      screenshots: 30d     # PNGs in run folders (step screenshots, diffs); the report stays
      reports: 180d        # whole run folders (report.json, index.html, junit.xml)
      runs: 400d           # run records in the state database (history, trends, step durations)
      deliveries: 90d      # sent / dead notification deliveries
      prune: "30 3 * * *"  # when `patrol schedule` prunes (crontab, in `timezone`)
      timezone: Asia/Shanghai
      min_free: 2GB        # before each run, remove the oldest run folders until the reports disk has this free

Every age takes ``forever`` (keep); ``retention: false`` switches pruning off. Ages
must not decrease down the list (screenshots <= reports <= runs).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from ..config.model import FeatureSection
from ..config.reader import Reader
from ..config.schedules import cron_problem
from ..durations import DurationError, parse_ms

DEFAULTS = {"screenshots": "30d", "reports": "180d", "runs": "400d", "deliveries": "90d"}
AGE_KEYS = ("screenshots", "reports", "runs", "deliveries")
DEFAULT_PRUNE = "30 3 * * *"
KEYS = {
    "screenshots": "age of screenshots in run folders, or forever",
    "reports": "age of whole run folders, or forever",
    "runs": "age of run records, or forever",
    "deliveries": "age of sent/dead deliveries, or forever",
    "prune": "crontab of the pruning job, or off",
    "timezone": "IANA time zone of prune",
    "min_free": "free space to make on the reports disk before each run (e.g. 2GB), oldest run folders first",
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib|tb|tib)?\s*$", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 1 << 10, "kib": 1 << 10, "mb": 1 << 20, "mib": 1 << 20, "gb": 1 << 30, "gib": 1 << 30,
          "tb": 1 << 40, "tib": 1 << 40}


def parse_size(value: object) -> int | None:
    """Bytes from ``2GB``, ``500MB``, ``300KB`` (binary units, as ``df -h`` shows them) or a number; None if not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    m = _SIZE.match(str(value))
    if not m:
        return None
    return int(float(m.group(1)) * _UNITS[(m.group(2) or "b").lower()])


def _default_ages() -> Mapping[str, float | None]:
    return MappingProxyType({k: parse_ms(v) / 1000 for k, v in DEFAULTS.items()})


@dataclass(frozen=True)
class RetentionSettings:
    enabled: bool = True
    ages: Mapping[str, float | None] = field(default_factory=_default_ages)  # seconds; None = forever
    prune_cron: str | None = DEFAULT_PRUNE
    timezone: str | None = None
    min_free: int | None = None  # bytes to keep free on the reports disk (None: no such rule)

    def age(self, key: str) -> float | None:
        return self.ages.get(key) if self.enabled else None

    def describe(self) -> str:
        if not self.enabled:
            return "retention off (nothing is pruned)"

        def show(v: float | None) -> str:
            return "forever" if v is None else f"{v / 86400:g}d" if v % 86400 == 0 else f"{v:g}s"

        return ", ".join(f"{k} {show(self.ages.get(k))}" for k in AGE_KEYS)


def parse_retention(r: Reader, raw: object) -> RetentionSettings:
    if raw is False:
        return RetentionSettings(enabled=False, prune_cron=None)
    f = r.fields(raw, ("retention",), KEYS,
                 expected="a mapping like {screenshots: 30d, reports: 180d, runs: 400d}, or false")
    ages = dict(_default_ages())
    for key in AGE_KEYS:
        if key not in f:
            continue
        value = f.raw[key]
        if value in ("forever", "never", None, False):
            ages[key] = None
            continue
        try:
            seconds = parse_ms(value) / 1000
        except DurationError as e:
            f.error(key, f"{e}; or 'forever'")
            continue
        if seconds < 3600:
            f.error(key, "keep things at least 1h")
            continue
        ages[key] = seconds
    order = ("screenshots", "reports", "runs")
    for shorter, longer in zip(order, order[1:]):
        a, b = ages[shorter], ages[longer]
        if (a is None and b is not None) or (a is not None and b is not None and a > b):
            f.error(longer if longer in f else shorter, f"{longer} must be kept at least as long as {shorter}")
    timezone = f.timezone("timezone", None)
    min_free = None
    if "min_free" in f:
        min_free = parse_size(f.raw["min_free"])
        if min_free is None:
            f.error("min_free", "expected a size like 2GB, 500MB or 300KB")
    return RetentionSettings(True, MappingProxyType(ages), _prune(f.raw, f.error, timezone), timezone, min_free)


def _prune(raw: Mapping[str, object], error: Callable[[str, str], None], timezone: str | None) -> str | None:
    if "prune" not in raw:
        return DEFAULT_PRUNE
    prune = raw["prune"]
    if prune in (False, "off", "never"):
        return None
    if not isinstance(prune, str):
        error("prune", "expected a crontab expression like \"30 3 * * *\", or off")
        return DEFAULT_PRUNE
    problem = cron_problem(prune, timezone or "UTC")
    if problem:
        error("prune", f"not a crontab expression: {problem}")
        return DEFAULT_PRUNE
    return prune



RETENTION = FeatureSection("retention", "how long runs and screenshots are kept", RetentionSettings, parse_retention,
                           RetentionSettings())
