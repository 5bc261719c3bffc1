"""``patrol fleet status``: who leads, which workers listen to which queues, how deep
the queues are, which firings run where, and how long the oldest task has waited."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ..core.jsontypes import JsonObject, json_object
from ..store import fleet_repo
from .app import broker_url, make_app
from .leader import LeaderLock

if TYPE_CHECKING:
    from ..config import Config
    from ..store import Store

# kombu keeps a Redis queue's priorities in lists beside it: the name, then name + sep + step.
_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")


@dataclass
class FleetStatus:
    leader: str | None = None
    leader_expires_s: float | None = None
    workers: dict[str, list[str]] = field(default_factory=dict)  # worker -> its queues
    busy: dict[str, int] = field(default_factory=dict)  # worker -> tasks it runs now
    queues: dict[str, int] = field(default_factory=dict)  # queue -> tasks waiting in the broker
    running: list[dict[str, object]] = field(default_factory=list)  # firings running, with worker and lease
    oldest_waiting: dict[str, object] | None = None
    firings: dict[str, int] = field(default_factory=dict)  # firings by state
    problems: list[str] = field(default_factory=list)  # what could not be asked

    def as_json(self) -> JsonObject:
        def clean(row: dict[str, object] | None) -> dict[str, object] | None:
            return None if row is None else {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}

        return json_object({"leader": self.leader, "leader_expires_s": self.leader_expires_s, "workers": self.workers,
                "busy": self.busy, "queues": self.queues, "running": [clean(r) for r in self.running],
                "oldest_waiting": clean(self.oldest_waiting), "firings": self.firings, "problems": self.problems})


def gather(config: Config, store: Store, state_url: str, *, timeout: float = 1.5) -> FleetStatus:
    out = FleetStatus()
    _broker_side(config, state_url, out, timeout)
    try:
        with store.read() as conn:
            out.running = fleet_repo.running(conn)
            out.oldest_waiting = fleet_repo.oldest_waiting(conn)
            out.firings = fleet_repo.counts(conn)
    except Exception as e:
        out.problems.append(f"state database: {type(e).__name__}: {e}")
    return out


def _broker_side(config: Config, state_url: str, out: FleetStatus, timeout: float) -> None:
    import redis

    url = broker_url(config)
    lock = LeaderLock(url, state_url)
    try:
        out.leader, out.leader_expires_s = lock.holder()
        client: redis.Redis = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        app = make_app(config)
        inspect = app.control.inspect(timeout=timeout)
        for worker, queues in (inspect.active_queues() or {}).items():
            out.workers[worker_name(worker)] = sorted(q["name"] for q in queues)
        for worker, tasks in (inspect.active() or {}).items():
            out.busy[worker_name(worker)] = len(tasks)
        names = set(config.settings.fleet.queues) | {q for qs in out.workers.values() for q in qs}
        for name in sorted(names):
            out.queues[name] = sum(int(client.llen(name + suffix)) for suffix in _PRIORITY_SUFFIXES)
        client.close()
        app.close()
    except Exception as e:
        out.problems.append(f"broker: {type(e).__name__}: {e}")
    finally:
        lock.client.close()


def worker_name(node: str) -> str:
    """The name a worker was given (``--name w1``), as its leases and attempts say it: Celery puts
    ``celery@`` before a node name without an ``@`` of its own."""
    return node.removeprefix("celery@")


def waited_s(row: dict[str, object] | None, now: datetime | None = None) -> float | None:
    enqueued = None if row is None else row["enqueued_at"]
    if not isinstance(enqueued, datetime):
        return None
    return ((now or datetime.now(UTC)) - enqueued).total_seconds()
