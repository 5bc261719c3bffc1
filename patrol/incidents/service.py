"""The incident lifecycle, on top of the state store.

- Fingerprint = journey + step + kind + reason + target device; same fingerprint,
  same incident.
- A new failure is confirmed by rerunning the journey at once (``incidents.confirm``
  reruns, 0 = off); the incident opens only if every attempt of the run shows it.
- Open incidents count repeats (no new notification) and resolve after
  ``resolve_after`` consecutive healthy runs of the journey (a run that did not get
  as far as the incident's step neither counts nor resets); a later failure opens a
  new incident.
- Flapping (Nagios-style, per journey and device): one notice when it starts, quiet
  while it flaps, one notice when it settles.
- Reminders for incidents still open every ``remind_every`` (off by default).
- The robot's own failures are ``robot.error`` / ``robot.recovered`` events, never
  incidents, and never count as healthy runs.

Every change and its outbox rows (one per interested receiver) are written in one
transaction; ``flush_deliveries()`` then sends them (``patrol.notify.dispatcher``).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Connection, RowMapping
from sqlalchemy.exc import SQLAlchemyError

from ..config import Config
from ..config.incidents import IncidentSettings
from ..config.maintenance import MaintenanceSpec
from ..core.isotime import iso, utcnow
from ..core.vocabulary import EventType, IncidentStatus, Outcome, ResolvedBy, Status
from ..errors import InputError
from ..notify.dispatcher import Dispatcher, DispatchStats
from ..notify.formats import FORMATS
from ..notify.maintenance import hold_event
from ..notify.receivers import Receiver, load_receivers
from ..results import JourneyResult, RunResult
from ..secrets import MASKER
from ..store import StateStoreError, Store, console_repo, history, open_store, state_settings
from ..store import incident_repo as repo
from . import documents as D
from .fingerprint import Observation, evidence_summary, observations, severity
from .flapping import FlapChange, decide, percent_state_change

RunCtx = dict[str, Any]  # id, status, started_at, run_dir of the run being recorded
JourneyFilter = list[tuple[str, list[str]]]  # (journey, tags): which receivers want an event


@dataclass
class RecordResult:
    run_id: str
    already_recorded: bool = False
    opened: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)
    repeated: list[int] = field(default_factory=list)
    unconfirmed: list[tuple[str, str]] = field(default_factory=list)  # (journey, fingerprint)
    events: list[str] = field(default_factory=list)  # notified event types, in order
    queued: int = 0  # outbox rows written


@dataclass
class _Flap:
    """A journey's flapping state before this run, and what this run changes."""

    key: str
    state: RowMapping | None
    percent: float
    change: FlapChange | None

    @property
    def was(self) -> bool:
        return bool(self.state and self.state["flapping"])

    @property
    def now(self) -> bool:
        return (self.was or self.change == FlapChange.STARTED) and self.change != FlapChange.STOPPED


def outcome(j: JourneyResult) -> Outcome:
    """What an attempt says about the app."""
    if j.status == Status.ERROR:
        return Outcome.ROBOT_ERROR
    if j.status == Status.INTERRUPTED:
        return Outcome.INTERRUPTED
    return Outcome.FAILING if j.status == Status.FAILED or j.findings else Outcome.HEALTHY


def _groups(run: RunResult) -> list[list[JourneyResult]]:
    groups: dict[tuple[str, str, str], list[JourneyResult]] = {}
    for j in run.journeys:
        groups.setdefault((j.name, j.target, j.device), []).append(j)
    return [sorted(g, key=lambda j: j.attempt) for g in groups.values()]


def _attempts(groups: list[list[JourneyResult]]) -> list[history.Attempt]:
    return [history.Attempt(j, j is group[-1], outcome(j), list(observations(j))) for group in groups for j in group]


def _tags(row: Mapping[Any, Any]) -> JourneyFilter:
    return [(row["journey"], list(row["tags"] or []))]


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
        self.receivers = receivers or {}
        self.public_url = public_url
        self.clock = clock
        self.transport = transport  # httpx transport override (tests never need it; kept for embedding)
        # patrol.yaml's maintenance windows (the console's are in the database); None: windows not consulted.
        self.maintenance: tuple[MaintenanceSpec, ...] | None = maintenance

    # -- construction ----------------------------------------------------------------------
    @staticmethod
    def enabled(config: Config) -> bool:
        return state_settings(config).enabled

    @classmethod
    def from_config(cls, config: Config, *, resolve_secrets: bool = True, clock: Callable[[], datetime] = utcnow) -> IncidentService:
        state = state_settings(config)
        receivers = load_receivers(config, resolve_secrets=resolve_secrets)
        return cls(open_store(state.url), config.incidents, receivers, config.public_url, clock=clock,
                   maintenance=config.settings.maintenance)

    @property
    def confirm_count(self) -> int:
        return self.settings.confirm

    def dispatcher(self) -> Dispatcher:
        return Dispatcher(self.store, self.receivers, self.settings.delivery, tz=self.settings.tz, clock=self.clock,
                          transport=self.transport, maintenance=self.maintenance)

    def flush_deliveries(self, timeout: float | None = None) -> DispatchStats:
        """Send what can be sent, bounded by ``incidents.delivery.flush_timeout``."""
        with self.dispatcher() as d:
            return d.flush(timeout)

    # -- confirmation -----------------------------------------------------------------------
    def journeys_to_confirm(self, run: RunResult) -> list[str]:
        """Journeys whose latest attempt shows a failure with no open incident, that
        every attempt so far showed, and that still needs a confirmation rerun."""
        if self.settings.confirm <= 0:
            return []
        names: list[str] = []
        with self.store.read() as conn:
            for group in _groups(run):
                latest = group[-1]
                if outcome(latest) != Outcome.FAILING or len(group) >= 1 + self.settings.confirm:
                    continue
                seen = [set(observations(a)) for a in group]
                candidates = set.intersection(*seen) if seen else set()
                if not candidates:
                    continue
                if candidates - repo.open_fingerprints(conn, candidates) and latest.name not in names:
                    names.append(latest.name)
        return names

    # -- recording ------------------------------------------------------------------------------
    def record_run(self, run: RunResult) -> RecordResult:
        try:
            return self._record_run(run)
        except SQLAlchemyError as e:
            raise StateStoreError(f"could not record run {run.run_id} in the state database: "
                                  f"{MASKER.mask(str(e).splitlines()[0])}") from e

    def _record_run(self, run: RunResult) -> RecordResult:
        result = RecordResult(run.run_id)
        now = self.clock()
        with self.store.write() as conn:
            if history.is_recorded(conn, run.run_id):
                result.already_recorded = True
                return result
            groups = _groups(run)
            history.record_run(conn, run, now, _attempts(groups))
            run_ctx: RunCtx = {"id": run.run_id, "status": run.status, "started_at": run.started_at, "run_dir": run.run_dir}
            robot_failed: dict[str, list[dict[str, Any]]] = {}
            robot_ok: dict[str, list[JourneyResult]] = {}
            app_groups: list[list[JourneyResult]] = []
            for group in groups:
                latest = group[-1]
                said = outcome(latest)
                if said == Outcome.ROBOT_ERROR:
                    err = latest.robot_error or {}
                    robot_failed.setdefault(latest.target, []).append({
                        "name": latest.name, "file": latest.file, "tags": list(latest.tags), "device": latest.device,
                        "reason": str(err.get("reason") or "robot_error"), "message": MASKER.mask(str(err.get("message") or "")),
                    })
                elif said != Outcome.INTERRUPTED:
                    robot_ok.setdefault(latest.target, []).append(latest)
                    app_groups.append(group)
            # The robot's news first (it explains the rest), then the app's.
            self._robot(conn, robot_failed, robot_ok, run_ctx, now, result)
            for group in app_groups:
                self._lifecycle(conn, group, run_ctx, now, result)
            self._reminders(conn, now, result)
        return result

    # -- lifecycle of one journey ------------------------------------------------------------------
    def _lifecycle(self, conn: Connection, group: list[JourneyResult], run_ctx: RunCtx, now: datetime,
                   result: RecordResult) -> None:
        latest = group[-1]
        flap = self._flap(conn, latest)
        quiet = flap.now  # a flapping journey's incidents change without notifications
        journeys = [(latest.name, list(latest.tags))]
        open_rows = repo.open_for_journey(conn, latest.name, latest.target, latest.device, lock=True)
        self._update_open(conn, open_rows, latest, run_ctx, now, quiet, result)
        self._open_new(conn, group, {r["fingerprint"] for r in open_rows}, run_ctx, now, quiet, result)
        # Flapping notices come after this run's changes, so they describe the state now.
        self._flap_notices(conn, latest, flap, journeys, run_ctx, now, result)

    def _flap(self, conn: Connection, latest: JourneyResult) -> _Flap:
        window = self.settings.flapping
        key = repo.state_key(latest.name, latest.target, latest.device)
        state = repo.journey_state_row(conn, key)
        past = history.recent_outcomes(conn, latest.name, latest.target, latest.device, window.window)
        percent = percent_state_change([o == Outcome.FAILING for o in reversed(past)], window.window)
        return _Flap(key, state, percent, decide(bool(state and state["flapping"]), percent, window.start, window.stop))

    def _update_open(self, conn: Connection, open_rows: Sequence[RowMapping], latest: JourneyResult, run_ctx: RunCtx, now: datetime,
                     quiet: bool, result: RecordResult) -> None:
        """Open incidents seen again count a repeat; not seen, a healthy run towards resolving."""
        obs_latest = observations(latest)
        for row in open_rows:
            fp = row["fingerprint"]
            if fp in obs_latest:
                self._repeat(conn, row, obs_latest[fp], run_ctx, now)
                result.repeated.append(row["id"])
            elif self._healthy_for(row, latest):
                streak = row["healthy_streak"] + 1
                if streak >= self.settings.resolve_after:
                    repo.update_incident(conn, row["id"], status=IncidentStatus.RESOLVED, resolved_at=now,
                                         resolved_by=ResolvedBy.AUTO, healthy_streak=streak, last_run_id=run_ctx["id"])
                    self._emit(conn, EventType.RESOLVED, now, row["id"], [(latest.name, list(latest.tags))], run_ctx,
                               notify=not quiet, result=result)
                    result.resolved.append(row["id"])
                else:
                    repo.update_incident(conn, row["id"], healthy_streak=streak)

    def _open_new(self, conn: Connection, group: list[JourneyResult], open_fps: set[str], run_ctx: RunCtx, now: datetime,
                  quiet: bool, result: RecordResult) -> None:
        """New problems open incidents when every attempt (the confirmation reruns) showed them."""
        latest, confirm = group[-1], self.settings.confirm
        obs_latest = observations(latest)
        obs_all = [observations(a) for a in group]
        seen_fps: set[str] = set().union(*obs_all)
        for fp in sorted(seen_fps - open_fps, key=lambda f: (f not in obs_latest, f)):
            ob = obs_latest.get(fp)
            if ob is not None and (confirm == 0 or (len(obs_all) >= 1 + confirm and all(fp in o for o in obs_all))):
                inc_id = self._open(conn, ob, run_ctx, now)
                self._emit(conn, EventType.OPENED, now, inc_id, [(latest.name, list(latest.tags))], run_ctx,
                           notify=not quiet, result=result, extra={"attempts": len(group)})
                result.opened.append(inc_id)
            else:
                # Seen, but not in every attempt: a blip the confirmation did not reproduce.
                result.unconfirmed.append((latest.name, fp))

    def _flap_notices(self, conn: Connection, latest: JourneyResult, flap: _Flap, journeys: JourneyFilter,
                      run_ctx: RunCtx, now: datetime, result: RecordResult) -> None:
        """One notice when flapping starts, one when it stops; then save the journey's state."""
        open_now = repo.open_ids_recent_first(conn, latest.name, latest.target, latest.device)
        flap_incident = flap.state["flapping_incident_id"] if flap.state else None
        if flap.change is not None:
            fl = {
                "journey": latest.name, "target": latest.target, "device": latest.device, "percent": flap.percent,
                "window": self.settings.flapping.window, "state": Outcome.FAILING if open_now else Outcome.HEALTHY,
                "incidents": list(open_now),
            }
            if flap.change == FlapChange.STARTED:
                target_id = open_now[0] if open_now else repo.newest_id(conn, latest.name, latest.target, latest.device)
                event, flap_incident = EventType.FLAPPING, target_id
            else:
                target_id = open_now[0] if open_now else flap_incident
                event, flap_incident = EventType.FLAPPING_STOPPED, None
            self._emit(conn, event, now, target_id, journeys, run_ctx, notify=True, result=result, flapping=fl,
                       stream_key=flap.key)
        since = now if flap.change == FlapChange.STARTED else (flap.state["flapping_since"] if flap.state and flap.now else None)
        repo.save_journey_state(conn, flap.key, exists=flap.state is not None, journey=latest.name, flapping=flap.now,
                                flap_percent=flap.percent, updated_at=now, flapping_incident_id=flap_incident,
                                flapping_since=since)

    @staticmethod
    def _healthy_for(row: Mapping[Any, Any], latest: JourneyResult) -> bool:
        """Whether this run shows the incident's problem gone: the journey passed, or
        it got as far as the incident's step and the problem was not there."""
        if latest.status == Status.PASSED and not latest.findings:
            return True
        step = next((st for st in latest.steps if st.key == row["step_key"]), None)
        if step is None:
            return False
        return step.status not in (Status.SKIPPED, Status.RUNNING)

    def _open(self, conn: Connection, ob: Observation, run_ctx: RunCtx, now: datetime) -> int:
        f, step, j = ob.finding, ob.step, ob.journey
        return repo.insert_incident(
            conn,
            fingerprint=ob.fingerprint, status=IncidentStatus.OPEN, journey=j.name, journey_file=j.file, tags=list(j.tags),
            target=j.target, device=j.device, step_key=step.key, step_index=step.index, step_name=step.name,
            action=step.action, kind=f.kind, reason=f.reason, severity=severity(f), message=MASKER.mask(f.message),
            page_url=MASKER.mask(step.url or f.evidence.get("url") or "") or None,
            count=1, healthy_streak=0, opened_at=now, last_seen_at=now,
            first_run_id=run_ctx["id"], last_run_id=run_ctx["id"], last_notified_at=now,
            evidence=evidence_summary(f, step, j, run_ctx.get("run_dir")), previous_id=repo.previous_id(conn, ob.fingerprint),
        )

    def _repeat(self, conn: Connection, row: Mapping[Any, Any], ob: Observation, run_ctx: RunCtx, now: datetime) -> None:
        f, step, j = ob.finding, ob.step, ob.journey
        repo.update_incident(
            conn, row["id"],
            count=row["count"] + 1, last_seen_at=now, healthy_streak=0, last_run_id=run_ctx["id"],
            message=MASKER.mask(f.message), page_url=MASKER.mask(step.url or f.evidence.get("url") or "") or row["page_url"],
            evidence=evidence_summary(f, step, j, run_ctx.get("run_dir")),
        )
        self._emit(conn, EventType.SEEN, now, row["id"], [], run_ctx, notify=False,
                   payload={"run_id": run_ctx["id"], "count": row["count"] + 1, "message": MASKER.mask(f.message)})

    # -- robot ------------------------------------------------------------------------------------
    def _robot(self, conn: Connection, failed: dict[str, list[dict[str, Any]]], ok: dict[str, list[JourneyResult]],
               run_ctx: RunCtx, now: datetime, result: RecordResult) -> None:
        for target in sorted(set(failed) | set(ok)):
            st = repo.robot_state_row(conn, target)
            was_failing = bool(st and st["failing"])
            if target in failed:
                journeys = failed[target]
                if not was_failing:
                    robot = {"target": target, "since": iso(now), "journeys": [
                        {k: j[k] for k in ("name", "file", "device", "reason", "message")} for j in journeys]}
                    self._emit(conn, EventType.ROBOT_ERROR, now, None, [(j["name"], j["tags"]) for j in journeys], run_ctx,
                               notify=True, result=result, robot=robot, stream_key=f"robot:{target}")
                detail = {"journeys": [{k: j[k] for k in ("name", "reason", "message")} for j in journeys]}
                repo.save_robot_state(conn, target, exists=st is not None, failing=True, detail=detail, updated_at=now,
                                      since=st["since"] if st and was_failing else now)
                continue
            if st is not None and was_failing:
                earlier: list[dict[str, Any]] = list((st["detail"] or {}).get("journeys") or [])
                robot = {"target": target, "since": iso(st["since"]), "journeys": earlier}
                names: JourneyFilter = [(j.name, list(j.tags)) for j in ok[target]]
                names += [(str(j.get("name") or ""), []) for j in earlier]
                self._emit(conn, EventType.ROBOT_RECOVERED, now, None, names, run_ctx, notify=True, result=result,
                           robot=robot, stream_key=f"robot:{target}")
                repo.save_robot_state(conn, target, exists=True, failing=False, since=None, detail={}, updated_at=now)
            elif st is None:
                repo.save_robot_state(conn, target, exists=False, failing=False, since=None, detail={}, updated_at=now)

    # -- reminders ----------------------------------------------------------------------------------
    def _reminders(self, conn: Connection, now: datetime, result: RecordResult) -> None:
        every = self.settings.remind_every_s
        if not every:
            return
        for row in repo.due_reminders(conn, now - timedelta(seconds=every)):
            if repo.is_flapping(conn, repo.state_key(row["journey"], row["target"], row["device"])):
                continue
            if row.get("acknowledged_at") is not None:
                continue  # someone said (in the console) they are on it
            repo.update_incident(conn, row["id"], last_notified_at=now)
            self._emit(conn, EventType.REMINDER, now, row["id"], _tags(row), None, notify=True, result=result)

    # -- events and the outbox ----------------------------------------------------------------------
    def _emit(self, conn: Connection, event_type: EventType, now: datetime, incident_id: int | None,
              journeys: JourneyFilter, run_ctx: RunCtx | None, *, notify: bool, result: RecordResult | None = None,
              flapping: dict[str, Any] | None = None, robot: dict[str, Any] | None = None,
              extra: dict[str, Any] | None = None, payload: dict[str, Any] | None = None,
              stream_key: str | None = None) -> int:
        uid = uuid.uuid4().hex
        journey = None
        if payload is None:
            inc_obj = None
            if incident_id is not None:
                row = repo.get(conn, incident_id)
                assert row is not None  # written in this transaction
                inc_obj = D.incident_object(row, self.public_url)
                journey = row["journey"]
            if flapping:
                journey = flapping["journey"]
            run_obj = D.run_object(run_ctx, self.public_url) if run_ctx else None
            payload = D.build(event_type, uid, now, incident=inc_obj, run=run_obj, flapping=flapping, robot=robot)
            if extra and payload["data"].get("run"):
                payload["data"]["run"].update(MASKER.mask_obj(extra))
        if notify and self._silenced(conn, journeys, now):
            notify = False  # a console silence: on the timeline, sent to nobody
        event_id = repo.insert_event(conn, uid=uid, incident_id=incident_id, type=event_type, at=now,
                                     run_id=run_ctx["id"] if run_ctx else None, journey=journey, notified=notify,
                                     payload=payload)
        if not notify:
            return event_id
        if incident_id is not None:
            stream = f"incident:{incident_id}"
        else:
            stream = "s:" + hashlib.sha256((stream_key or event_type).encode()).hexdigest()[:24]
        subscription = D.SUBSCRIPTION[event_type]
        wanted = [(r.name, r.format) for r in self.receivers.values()
                  if FORMATS[r.format].handles(event_type) and r.wants(subscription, journeys)]
        queued = repo.queue_deliveries(conn, event_id, stream, wanted, now)
        if queued and self.maintenance is not None:
            hold_event(conn, self.maintenance, event_id, journeys, now)  # sent (once) when the window ends
        if result is not None:
            result.events.append(event_type)
            result.queued += queued
        return event_id

    @staticmethod
    def _silenced(conn: Connection, journeys: JourneyFilter, now: datetime) -> bool:
        """Whether a console silence covers one of these journeys (by name or tag)."""
        active = console_repo.active_silences(conn, now)
        if not active or not journeys:
            return False
        for name, tags in journeys:
            for s in active:
                if (s["scope"] == "journey" and s["value"] == name) or (s["scope"] == "tag" and s["value"] in tags):
                    return True
        return False

    # -- by hand -------------------------------------------------------------------------------------
    def resolve(self, incident_id: int, note: str | None = None) -> dict[str, Any]:
        now = self.clock()
        result = RecordResult("manual")
        with self.store.write() as conn:
            row = repo.get(conn, incident_id)
            if row is None:
                raise InputError(f"there is no incident #{incident_id} (see `patrol incidents --all`)")
            if row["status"] != IncidentStatus.OPEN:
                raise InputError(f"incident #{incident_id} is already resolved ({iso(row['resolved_at'])}, {row['resolved_by']})")
            repo.update_incident(conn, incident_id, status=IncidentStatus.RESOLVED, resolved_at=now,
                                 resolved_by=ResolvedBy.MANUAL, resolve_note=MASKER.mask(note) if note else None)
            self._emit(conn, EventType.RESOLVED, now, incident_id, _tags(row), None, notify=True, result=result)
            return {"incident": dict(row), "queued": result.queued}

    # -- reading (CLI) -----------------------------------------------------------------------------------
    def list_incidents(self, status: IncidentStatus | None = IncidentStatus.OPEN, limit: int = 50) -> list[dict[str, Any]]:
        with self.store.read() as conn:
            rows = repo.newest(conn, status, limit)
            flapping = repo.flapping_keys(conn)
        for r in rows:
            r["flapping"] = repo.state_key(r["journey"], r["target"], r["device"]) in flapping and r["status"] == IncidentStatus.OPEN
        return rows

    def robot_status(self) -> list[dict[str, Any]]:
        with self.store.read() as conn:
            return repo.failing_robots(conn)

    def incident_detail(self, incident_id: int) -> dict[str, Any]:
        with self.store.read() as conn:
            row = repo.get(conn, incident_id)
            if row is None:
                raise InputError(f"there is no incident #{incident_id} (see `patrol incidents --all`)")
            evs = repo.timeline(conn, incident_id)
            dels = repo.deliveries_of(conn, incident_id)
            run_rows = history.runs_by_id(conn, {row["first_run_id"], row["last_run_id"]} | {e["run_id"] for e in evs if e["run_id"]})
            st = repo.journey_state_row(conn, repo.state_key(row["journey"], row["target"], row["device"]))
        return {"incident": dict(row), "object": D.incident_object(row, self.public_url), "events": evs,
                "deliveries": dels, "runs": run_rows, "journey_state": dict(st) if st else None}

    def counts(self) -> dict[str, int]:
        with self.store.read() as conn:
            return repo.counts(conn)
