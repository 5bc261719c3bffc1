"""The incident services over one store, assembled from patrol.yaml.

- ``policy.IncidentPolicy``: the rules (confirm, repeat, resolve, reopen, flapping,
  reminders, silences), pure, with an injected clock;
- ``lifecycle.IncidentLifecycle``: a run's verdicts applied to the store, with the events
  and their outbox rows, in one transaction;
- ``runs.RunHistory``: the runs and their attempts, recorded in that transaction;
- ``events.EventLog``: each change's event and, when it is told, its outbox rows;
- ``outbox.Outbox``: who hears of each event, and the sending (``patrol.notify.dispatcher``);
- ``queries.IncidentQueries``: what the CLI and the console read.

``IncidentService`` holds the five and answers with the names its callers use.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import httpx

from ..config import Config
from ..config.incidents import IncidentSettings
from ..core.isotime import utcnow
from ..core.vocabulary import IncidentStatus
from ..maintenance.settings import MAINTENANCE, MaintenanceSpec
from ..notify.dispatcher import Dispatcher, DispatchStats
from ..notify.receivers import Receiver, load_receivers
from ..results import RunResult
from ..store import Store, open_store, state_settings
from ..store.incident_repo import RobotStateRow
from .lifecycle import IncidentLifecycle, RecordResult, Resolved
from .outbox import Outbox
from .policy import IncidentPolicy
from .queries import IncidentDetail, IncidentQueries, ListedIncident
from .runs import RunHistory

__all__ = ["IncidentService", "RecordResult", "Resolved"]


class IncidentService:
    def __init__(
        self,
        store: Store,
        settings: IncidentSettings | None = None,
        receivers: dict[str, Receiver] | None = None,
        public_url: str | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
        transport: httpx.BaseTransport | None = None,
        maintenance: tuple[MaintenanceSpec, ...] | None = (),
    ) -> None:
        self.store = store
        self.settings = settings or IncidentSettings()
        self.public_url = public_url
        self.clock = clock
        self.policy = IncidentPolicy(self.settings, clock)
        self.outbox = Outbox(store, receivers, self.settings, clock=clock, transport=transport, maintenance=maintenance)
        self.history = RunHistory(self.settings.group_by)
        self.lifecycle = IncidentLifecycle(store, self.policy, self.outbox, self.history, public_url)
        self.queries = IncidentQueries(store, public_url)

    @staticmethod
    def enabled(config: Config) -> bool:
        return state_settings(config).enabled

    @classmethod
    def from_config(cls, config: Config, *, store: Store | None = None, resolve_secrets: bool = True,
                    clock: Callable[[], datetime] = utcnow) -> IncidentService:
        """From patrol.yaml: over ``store`` when the caller holds the state database open
        already (the scheduler, a worker), else over one opened from ``state.url``."""
        if store is None:
            store = open_store(state_settings(config).url)
        receivers = load_receivers(config, resolve_secrets=resolve_secrets)
        return cls(store, config.settings.incidents, receivers, config.public_url, clock=clock,
                   maintenance=config.settings[MAINTENANCE].windows)

    # The outbox's receivers and windows (a reloaded patrol.yaml replaces them).
    @property
    def receivers(self) -> dict[str, Receiver]:
        return self.outbox.receivers

    @receivers.setter
    def receivers(self, receivers: dict[str, Receiver]) -> None:
        self.outbox.receivers = receivers

    @property
    def maintenance(self) -> tuple[MaintenanceSpec, ...] | None:
        return self.outbox.maintenance

    @maintenance.setter
    def maintenance(self, specs: tuple[MaintenanceSpec, ...] | None) -> None:
        self.outbox.maintenance = specs

    @property
    def confirm_count(self) -> int:
        return self.settings.confirm

    # -- the lifecycle ------------------------------------------------------------------------------------
    def journeys_to_confirm(self, run: RunResult) -> list[str]:
        return self.lifecycle.journeys_to_confirm(run)

    def record_run(self, run: RunResult) -> RecordResult:
        return self.lifecycle.record_run(run)

    def resolve(self, incident_id: int, note: str | None = None) -> Resolved:
        return self.lifecycle.resolve(incident_id, note)

    # -- the outbox ---------------------------------------------------------------------------------------
    def dispatcher(self) -> Dispatcher:
        return self.outbox.dispatcher()

    def flush_deliveries(self, timeout: float | None = None) -> DispatchStats:
        """Send what can be sent, bounded by ``incidents.delivery.flush_timeout``."""
        return self.outbox.flush(timeout)

    # -- reading --------------------------------------------------------------------------------------------
    def list_incidents(self, status: IncidentStatus | None = IncidentStatus.OPEN, limit: int = 50) -> list[ListedIncident]:
        return self.queries.list_incidents(status, limit)

    def robot_status(self) -> list[RobotStateRow]:
        return self.queries.robot_status()

    def incident_detail(self, incident_id: int) -> IncidentDetail:
        return self.queries.incident_detail(incident_id)

    def counts(self) -> dict[str, int]:
        return self.queries.counts()
