"""What `patrol incidents` and the console read about incidents: the list, the robot's
state, one incident's whole story and the counts. Reads only; each in one read transaction."""

from __future__ import annotations

from typing import TypedDict

from ..core.vocabulary import IncidentStatus
from ..errors import InputError
from ..store import Store, history
from ..store import incident_repo as repo
from ..store.incident_repo import IncidentRow, RobotStateRow, RowDict
from . import documents as D


class ListedIncident(IncidentRow):
    """An incident in a list, with whether its journey is flapping now (open ones only)."""

    flapping: bool


class IncidentDetail(TypedDict):
    """One incident: its row, its document (as receivers get it), its events oldest first,
    its deliveries, the runs it names (by id) and its journey's flapping state."""

    incident: IncidentRow
    object: dict[str, object]
    events: list[RowDict]
    deliveries: list[RowDict]
    runs: dict[str, dict[str, object]]
    journey_state: RowDict | None


class IncidentQueries:
    def __init__(self, store: Store, public_url: str | None = None) -> None:
        self.store = store
        self.public_url = public_url  # the links in an incident's document

    def list_incidents(self, status: IncidentStatus | None = IncidentStatus.OPEN, limit: int = 50) -> list[ListedIncident]:
        """Newest first; ``status`` None: open and resolved."""
        with self.store.read() as conn:
            rows = repo.newest(conn, status, limit)
            flapping = repo.flapping_keys(conn)
        return [ListedIncident(**r, flapping=repo.state_key(r["journey"], r["target"], r["device"]) in flapping
                               and r["status"] == IncidentStatus.OPEN) for r in rows]

    def robot_status(self) -> list[RobotStateRow]:
        """The targets the robot is failing on."""
        with self.store.read() as conn:
            return repo.failing_robots(conn)

    def incident_detail(self, incident_id: int) -> IncidentDetail:
        with self.store.read() as conn:
            row = repo.get(conn, incident_id)
            if row is None:
                raise InputError(f"there is no incident #{incident_id} (see `patrol incidents --all`)")
            evs = repo.timeline(conn, incident_id)
            dels = repo.deliveries_of(conn, incident_id)
            run_ids = {r for r in (row["first_run_id"], row["last_run_id"]) if r} | {str(e["run_id"]) for e in evs if e["run_id"]}
            run_rows = history.runs_by_id(conn, run_ids)
            st = repo.journey_state_row(conn, repo.state_key(row["journey"], row["target"], row["device"]))
        return IncidentDetail(incident=row, object=D.incident_object(row, self.public_url), events=evs, deliveries=dels,
                              runs=run_rows, journey_state=dict(st) if st else None)

    def counts(self) -> dict[str, int]:
        """Incidents per status."""
        with self.store.read() as conn:
            return repo.counts(conn)
