"""The ``fleet`` section of patrol.yaml: patrol from many machines (see ``patrol.fleet``)::

    fleet:
      broker: redis://redis.internal:6379/0   # Celery's broker (Redis); ${VAR} and ${secret:NAME} work
      queues: [web, "app:pixel-8"]            # what `patrol worker` listens to by default
      visibility_timeout: 2h                  # longer than the longest journey (and its confirmation reruns)
      lease: 30s                              # a worker that stops renewing its firing this long is gone

Without the section nothing changes: ``patrol schedule`` runs the journeys itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .reader import Reader, has_variable

KEYS = {
    "broker": "Redis URL of the Celery broker (redis:// or rediss://)",
    "queues": "queues `patrol worker` listens to by default: web, app, app:<device>",
    "visibility_timeout": "how long an unacknowledged task waits before another worker gets it; longer than any journey",
    "lease": "how long a running firing stays claimed without its worker renewing it",
}
DEFAULT_VISIBILITY_S = 7200.0
DEFAULT_LEASE_S = 30.0
_BROKER = re.compile(r"^rediss?://\S+$", re.IGNORECASE)
QUEUE_RE = re.compile(r"^(web|app(:[A-Za-z0-9][A-Za-z0-9_.-]*)?)$")
QUEUE_HINT = "expected web, app, or app:<device> (a patrol.yaml appium.devices name)"


@dataclass(frozen=True)
class FleetSettings:
    broker: str | None = None  # None: no fleet (the single-machine mode)
    queues: tuple[str, ...] = ("web",)
    visibility_timeout_s: float = DEFAULT_VISIBILITY_S
    lease_s: float = DEFAULT_LEASE_S

    @property
    def enabled(self) -> bool:
        return self.broker is not None


def parse_fleet(r: Reader, raw: object) -> FleetSettings:
    if raw is None or raw is False:
        return FleetSettings()
    f = r.fields(raw, ("fleet",), KEYS, expected="a mapping like {broker: redis://host:6379/0, queues: [web]}")
    if not f.raw and isinstance(raw, dict):
        r.error(("fleet",), "a fleet needs at least broker: redis://host:6379/0")
        return FleetSettings()
    broker = f.string("broker", None)
    if broker is None and "broker" not in f:
        f.reader.error(f.path, "missing key 'broker' (the Redis URL, e.g. redis://127.0.0.1:6379/0)", key=True)
    elif broker is not None and not has_variable(broker) and not _BROKER.match(broker):
        f.error("broker", f"expected a redis:// or rediss:// URL, got {broker!r}")
        broker = None
    queues = f.strings("queues") or ("web",)
    for i, queue in enumerate(queues):
        if not QUEUE_RE.match(queue):
            r.error(("fleet", "queues", i) if isinstance(f.raw.get("queues"), list) else ("fleet", "queues"),
                    f"{queue!r}: {QUEUE_HINT}")
    visibility = f.duration_ms("visibility_timeout", DEFAULT_VISIBILITY_S * 1000, minimum_ms=5000) / 1000
    lease = f.duration_ms("lease", DEFAULT_LEASE_S * 1000, minimum_ms=2000, maximum_ms=3_600_000) / 1000
    if "lease" in f and "visibility_timeout" in f and lease >= visibility:
        f.error("lease", f"the lease ({f.raw['lease']}) must be shorter than visibility_timeout "
                         f"({f.raw['visibility_timeout']}): a redelivered task would find its firing still claimed")
    return FleetSettings(broker, queues, visibility, lease)
