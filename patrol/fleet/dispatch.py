"""The scheduler's side of a fleet: a firing becomes one task per journey, sent to
the journey's queue once its firing key is recorded (a second scheduler, or a new
leader re-firing a slot, finds the key and sends nothing)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ..store import fleet_repo
from .app import TASK, make_app, queue_for

if TYPE_CHECKING:
    from ..config import Config
    from ..config.schedules import ScheduleSpec
    from ..journey.model import Journey
    from ..store import Store


@dataclass
class Dispatched:
    sent: list[tuple[str, str]] = field(default_factory=list)  # (journey, queue)
    duplicate: list[str] = field(default_factory=list)  # this slot was sent already
    busy: list[str] = field(default_factory=list)  # the journey's previous firing is waiting or running
    failed: list[tuple[str, str]] = field(default_factory=list)  # (journey, why): the broker refused


def payload(key: str, spec: ScheduleSpec, journey: Journey, fire_time: datetime, queue: str, now: datetime) -> dict[str, str]:
    return {"key": key, "job_id": spec.job_id, "schedule": spec.name, "journey": journey.name,
            "fire_time": fire_time.isoformat(), "queue": queue, "enqueued_at": now.isoformat()}


class FleetDispatch:
    def __init__(self, config: Config, store: Store, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.store = store
        self.now = now
        self.app = make_app(config)
        settings = config.settings.fleet
        # A firing queued longer than this was lost with its broker: it no longer blocks its journey.
        self.stale_after_s = settings.visibility_timeout_s + settings.lease_s

    def dispatch(self, spec: ScheduleSpec, journeys: list[Journey], fire_time: datetime) -> Dispatched:
        out = Dispatched()
        for journey in journeys:
            now = self.now()
            queue = queue_for(journey)
            key = fleet_repo.firing_key(spec.job_id, journey.name, fire_time)
            with self.store.write() as conn:
                verdict = fleet_repo.enqueue(conn, key=key, job_id=spec.job_id, schedule=spec.name, journey=journey.name,
                                             fire_time=fire_time, queue=queue, now=now, stale_after_s=self.stale_after_s)
            if verdict == fleet_repo.Enqueue.DUPLICATE:
                out.duplicate.append(journey.name)
            elif verdict == fleet_repo.Enqueue.BUSY:
                out.busy.append(journey.name)
            else:
                try:
                    self.app.send_task(TASK, kwargs=payload(key, spec, journey, fire_time, queue, now), queue=queue,
                                       routing_key=queue)
                except Exception as e:  # the broker is down: the firing is dropped (and said), not left blocking
                    with self.store.write() as conn:
                        fleet_repo.drop(conn, key, self.now())
                    out.failed.append((journey.name, f"{type(e).__name__}: {e}"))
                    continue
                out.sent.append((journey.name, queue))
        return out

    def close(self) -> None:
        try:
            self.app.close()
        except Exception:
            pass
