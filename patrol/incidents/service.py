"""The incident lifecycle, on top of the state store.

- Grouped by cause (``incidents.group_by: cause``, the default): findings with the
  same cause (a request's URL template, a file, a page error... ``patrol.causes``)
  are one incident across steps, journeys and runs, listing what they affect; a
  problem of the step itself, and every one with ``group_by: step``, is fingerprinted
  journey + step + kind + reason + target device. Same fingerprint, same incident.
- A new failure is confirmed by rerunning the journey at once (``incidents.confirm``
  reruns, 0 = off); the incident opens only if every attempt of the run shows it.
- Open incidents count repeats (no new notification) and resolve after
  ``resolve_after`` consecutive healthy runs of every journey they affect (a run that
  did not get as far as the incident's steps neither counts nor resets); a later
  failure opens a new incident, except that a cause back within ``group_window`` of
  its incident's resolution reopens it.
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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypedDict

import httpx
from sqlalchemy import Connection, RowMapping
from sqlalchemy.exc import SQLAlchemyError

from ..config import Config
from ..config.incidents import IncidentSettings
from ..core.isotime import iso, utcnow
from ..core.jsontypes import json_objects, json_str
from ..core.vocabulary import EventType, IncidentStatus, Outcome, ResolvedBy, Severity, Status
from ..errors import InputError
from ..maintenance.settings import MAINTENANCE, MaintenanceSpec
from ..maintenance.windows import hold_event
from ..notify.dispatcher import Dispatcher, DispatchStats
from ..notify.formats import FORMATS
from ..notify.receivers import Receiver, load_receivers
from ..results import JourneyResult, RunResult
from ..secrets import MASKER
from ..store import StateStoreError, Store, console_repo, history, open_store, state_settings
from ..store import incident_repo as repo
from ..store.incident_repo import IncidentRow, RowDict
from . import documents as D
from .documents import RunCtx
from .fingerprint import Observation, evidence_summary, observations, severity
from .flapping import FlapChange, decide, percent_state_change
from .grouping import AffectedEntry, CauseDoc, affected_entries, cause_doc, merge_affected, merge_cause, read_affected, summary

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


class _RobotFailure(TypedDict):
    """A journey the robot could not run, as its robot.error notice names it."""

    name: str
    file: str | None
    tags: list[str]
    device: str
    reason: str
    message: str


class Resolved(TypedDict):
    incident: RowDict  # as it was before
    queued: int  # notifications queued


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


def _attempts(groups: list[list[JourneyResult]], group_by: str) -> list[history.Attempt]:
    return [history.Attempt(j, j is group[-1], outcome(j), list(observations(j, group_by))) for group in groups for j in group]


def _tags(row: IncidentRow) -> JourneyFilter:
    """The journeys an incident is about (every affected one, for a grouped incident)."""
    return _journeys(_affected(row))


def _affected(row: IncidentRow) -> list[AffectedEntry]:
    """The journeys and steps an incident affects; an incident about its one step (opened
    before grouping, or stored without it) affects its own journey and step."""
    if row["affected"]:
        return read_affected(row["affected"])
    return [AffectedEntry(journey=row["journey"], target=row["target"], device=row["device"], tags=list(row["tags"]),
                          steps=[{"index": row["step_index"], "key": row["step_key"], "name": row["step_name"],
                                  "reason": row["reason"]}],
                          first_seen=iso(row["opened_at"]), last_seen=iso(row["last_seen_at"]), count=row["count"],
                          healthy_streak=row["healthy_streak"], last_run_id=row["last_run_id"])]


def _journeys(affected: list[AffectedEntry]) -> JourneyFilter:
    out: JourneyFilter = []
    for e in affected:
        if all(e["journey"] != name for name, _ in out):
            out.append((e["journey"], list(e["tags"])))
    return out


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
        return cls(open_store(state.url), config.settings.incidents, receivers, config.public_url, clock=clock,
                   maintenance=config.settings[MAINTENANCE].windows)

    @property
    def confirm_count(self) -> int:
        return self.settings.confirm

    def dispatcher(self) -> Dispatcher:
        return Dispatcher(self.store, self.receivers, self.settings.delivery, tz=self.settings.tz, clock=self.clock,
                          transport=self.transport, maintenance=self.maintenance, escalation=self.settings.escalation)

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
                seen = [set(observations(a, self.settings.group_by)) for a in group]
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
            history.record_run(conn, run, now, _attempts(groups, self.settings.group_by))
            run_ctx = RunCtx(id=run.run_id, status=run.status, started_at=run.started_at, run_dir=run.run_dir)
            robot_failed: dict[str, list[_RobotFailure]] = {}
            robot_ok: dict[str, list[JourneyResult]] = {}
            app_groups: list[list[JourneyResult]] = []
            for group in groups:
                latest = group[-1]
                said = outcome(latest)
                if said == Outcome.ROBOT_ERROR:
                    err = latest.robot_error or {}
                    robot_failed.setdefault(latest.target, []).append(_RobotFailure(
                        name=latest.name, file=latest.file, tags=list(latest.tags), device=latest.device,
                        reason=str(err.get("reason") or "robot_error"), message=MASKER.mask(str(err.get("message") or "")),
                    ))
                elif said != Outcome.INTERRUPTED:
                    robot_ok.setdefault(latest.target, []).append(latest)
                    app_groups.append(group)
            # The robot's news first (it explains the rest), then the app's.
            self._robot(conn, robot_failed, robot_ok, run_ctx, now, result)
            if app_groups:
                self._lifecycle(conn, app_groups, run_ctx, now, result)
            self._reminders(conn, now, result)
        return result

    # -- lifecycle of the run's journeys ---------------------------------------------------------------
    def _lifecycle(self, conn: Connection, app_groups: list[list[JourneyResult]], run_ctx: RunCtx, now: datetime,
                   result: RecordResult) -> None:
        """Open incidents seen again count a repeat, not seen a healthy run of each journey
        they affect; new problems, confirmed, open one incident per fingerprint (per cause:
        every journey and step that shows it); then each journey's flapping notices."""
        group_by, confirm = self.settings.group_by, self.settings.confirm
        flaps = [self._flap(conn, group[-1]) for group in app_groups]
        flapping = {f.key for f in flaps if f.now}  # a flapping journey's incidents change without notifications
        open_rows = {r["fingerprint"]: r for r in repo.open_incidents(conn, lock=True)}
        seen: dict[str, list[Observation]] = {}  # fingerprint -> one observation per journey that showed it
        new: list[str] = []  # confirmed new fingerprints, in the order they were first seen
        for group in app_groups:
            latest = group[-1]
            obs_latest = observations(latest, group_by)
            obs_all = [observations(a, group_by) for a in group]
            for fp in sorted(set().union(*obs_all), key=lambda f: (f not in obs_latest, f)):
                ob = obs_latest.get(fp)
                if fp in open_rows:
                    if ob is not None:
                        seen.setdefault(fp, []).append(ob)
                elif ob is not None and (confirm == 0 or (len(obs_all) >= 1 + confirm and all(fp in o for o in obs_all))):
                    if fp not in seen:
                        new.append(fp)
                    seen.setdefault(fp, []).append(ob)
                else:
                    # Seen, but not in every attempt: a blip the confirmation did not reproduce.
                    result.unconfirmed.append((latest.name, fp))
        ran = {repo.state_key(g[-1].name, g[-1].target, g[-1].device): g[-1] for g in app_groups}
        for fp, row in open_rows.items():
            self._update_open(conn, row, seen.get(fp), ran, flapping, len(app_groups), run_ctx, now, result)
        for fp in new:
            self._open_new(conn, fp, seen[fp], group_by, flapping, len(app_groups), run_ctx, now, result)
        # Flapping notices come after this run's changes, so they describe the state now.
        for group, flap in zip(app_groups, flaps, strict=True):
            latest = group[-1]
            self._flap_notices(conn, latest, flap, [(latest.name, list(latest.tags))], run_ctx, now, result)

    def _flap(self, conn: Connection, latest: JourneyResult) -> _Flap:
        window = self.settings.flapping
        key = repo.state_key(latest.name, latest.target, latest.device)
        state = repo.journey_state_row(conn, key)
        past = history.recent_outcomes(conn, latest.name, latest.target, latest.device, window.window)
        percent = percent_state_change([o == Outcome.FAILING for o in reversed(past)], window.window)
        return _Flap(key, state, percent, decide(bool(state and state["flapping"]), percent, window.start, window.stop))

    def _update_open(self, conn: Connection, row: IncidentRow, obs: list[Observation] | None, ran: dict[str, JourneyResult],
                     flapping: set[str], journeys_in_run: int, run_ctx: RunCtx, now: datetime, result: RecordResult) -> None:
        """Seen again: a repeat. Not seen: a healthy run of each affected journey that got as
        far as its steps; resolved when every journey that had it is healthy ``resolve_after``
        times in a row (the cause is gone from all of them)."""
        affected = _affected(row)
        fresh = affected_entries(obs, now, run_ctx["id"]) if obs else {}
        if fresh:
            affected = merge_affected(affected, fresh, now, run_ctx["id"])
        healthier = False
        for entry in affected:
            key = repo.state_key(entry["journey"], entry["target"], entry["device"])
            latest = ran.get(key)
            if key not in fresh and latest is not None and self._healthy_for(entry, latest):
                entry["healthy_streak"] += 1
                healthier = True
        streak = min(e["healthy_streak"] for e in affected)
        if obs:
            self._repeat(conn, row, obs, affected, journeys_in_run, run_ctx, now)
            result.repeated.append(row["id"])
        elif healthier and streak >= self.settings.resolve_after:
            repo.update_incident(conn, row["id"], status=IncidentStatus.RESOLVED, resolved_at=now,
                                 resolved_by=ResolvedBy.AUTO, healthy_streak=streak, last_run_id=run_ctx["id"],
                                 affected=affected if row["affected"] is not None else None)
            keys = [k for k in ran if any(k == repo.state_key(e["journey"], e["target"], e["device"]) for e in affected)]
            self._emit(conn, EventType.RESOLVED, now, row["id"], _journeys(affected), run_ctx,
                       notify=not (keys and all(k in flapping for k in keys)), result=result)
            result.resolved.append(row["id"])
        elif healthier:
            repo.update_incident(conn, row["id"], healthy_streak=streak,
                                 affected=affected if row["affected"] is not None else None)

    def _open_new(self, conn: Connection, fp: str, obs: list[Observation], group_by: str, flapping: set[str],
                  journeys_in_run: int, run_ctx: RunCtx, now: datetime, result: RecordResult) -> None:
        """A confirmed new problem: one incident for every journey and step that showed it
        (a cause back within ``group_window`` of its incident's resolution reopens that one)."""
        cause = cause_doc(obs, group_by)
        fresh = affected_entries(obs, now, run_ctx["id"])
        affected = list(fresh.values())
        keys = list(fresh)
        quiet = all(k in flapping for k in keys)
        attempts = max(ob.journey.attempt for ob in obs)
        earlier = None
        if cause.get("key") and self.settings.group_window_s > 0:
            earlier = repo.resolved_since(conn, fp, now - timedelta(seconds=self.settings.group_window_s))
        if earlier is not None:
            affected = merge_affected(_affected(earlier), fresh, now, run_ctx["id"])
            self._repeat(conn, earlier, obs, affected, journeys_in_run, run_ctx, now, reopen=True)
            inc_id = int(earlier["id"])
            extra: dict[str, object] = {"attempts": attempts, "reopened": True}
        else:
            inc_id = self._open(conn, obs, cause, affected, journeys_in_run, run_ctx, now)
            extra = {"attempts": attempts}
        self._emit(conn, EventType.OPENED, now, inc_id, _journeys(affected), run_ctx, notify=not quiet, result=result,
                   extra=extra)
        result.opened.append(inc_id)

    def _flap_notices(self, conn: Connection, latest: JourneyResult, flap: _Flap, journeys: JourneyFilter,
                      run_ctx: RunCtx, now: datetime, result: RecordResult) -> None:
        """One notice when flapping starts, one when it stops; then save the journey's state."""
        open_now = repo.open_ids_recent_first(conn, latest.name, latest.target, latest.device)
        flap_incident = flap.state["flapping_incident_id"] if flap.state else None
        if flap.change is not None:
            fl: dict[str, object] = {
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
    def _healthy_for(entry: AffectedEntry, latest: JourneyResult) -> bool:
        """Whether this run shows the problem gone from one journey it affects: the
        journey passed, or it got as far as one of the incident's steps there and the
        problem was not there."""
        if latest.status == Status.PASSED and not latest.findings:
            return True
        keys = {s["key"] for s in entry["steps"]}
        return any(st.key in keys and st.status not in (Status.SKIPPED, Status.RUNNING) for st in latest.steps)

    def _open(self, conn: Connection, obs: list[Observation], cause: CauseDoc, affected: list[AffectedEntry],
              journeys_in_run: int, run_ctx: RunCtx, now: datetime) -> int:
        lead = obs[0]
        f, step, j = lead.finding, lead.step, lead.journey
        fatal = any(ff.fatal for ob in obs for _, ff in ob.steps)
        return repo.insert_incident(
            conn,
            fingerprint=lead.fingerprint, status=IncidentStatus.OPEN, journey=j.name, journey_file=j.file, tags=list(j.tags),
            target=j.target, device=j.device, step_key=step.key, step_index=step.index, step_name=step.name,
            action=step.action, kind=f.kind, reason=f.reason, severity=Severity.CRITICAL if fatal else severity(f),
            message=MASKER.mask(summary(cause, affected, f.message, journeys_in_run)),
            page_url=MASKER.mask(step.url or json_str(f.evidence, "url") or "") or None,
            count=1, healthy_streak=0, opened_at=now, last_seen_at=now,
            first_run_id=run_ctx["id"], last_run_id=run_ctx["id"], last_notified_at=now,
            evidence=evidence_summary(f, step, j, run_ctx["run_dir"]), previous_id=repo.previous_id(conn, lead.fingerprint),
            cause=cause, affected=affected,
        )

    def _repeat(self, conn: Connection, row: IncidentRow, obs: list[Observation], affected: list[AffectedEntry],
                journeys_in_run: int, run_ctx: RunCtx, now: datetime, *, reopen: bool = False) -> None:
        lead = obs[0]
        f, step, j = lead.finding, lead.step, lead.journey
        grouped = row["affected"] is not None
        cause = merge_cause(row["cause"], cause_doc(obs, str((row["cause"] or {}).get("group_by") or "step"))) if grouped else None
        message = MASKER.mask(summary(cause, affected, f.message, journeys_in_run) if grouped else f.message)
        values: dict[str, object] = dict(
            count=row["count"] + 1, last_seen_at=now, healthy_streak=0, last_run_id=run_ctx["id"], message=message,
            page_url=MASKER.mask(step.url or json_str(f.evidence, "url") or "") or row["page_url"],
            evidence=evidence_summary(f, step, j, run_ctx["run_dir"]),
        )
        if grouped:
            values.update(cause=cause, affected=affected)
        if reopen:
            values.update(status=IncidentStatus.OPEN, resolved_at=None, resolved_by=None, resolve_note=None,
                          last_notified_at=now)
        repo.update_incident(conn, row["id"], **values)
        if not reopen:
            self._emit(conn, EventType.SEEN, now, row["id"], [], run_ctx, notify=False,
                       payload={"run_id": run_ctx["id"], "count": row["count"] + 1, "message": message})

    # -- robot ------------------------------------------------------------------------------------
    def _robot(self, conn: Connection, failed: dict[str, list[_RobotFailure]], ok: dict[str, list[JourneyResult]],
               run_ctx: RunCtx, now: datetime, result: RecordResult) -> None:
        for target in sorted(set(failed) | set(ok)):
            st = repo.robot_state_row(conn, target)
            was_failing = bool(st and st["failing"])
            if target in failed:
                journeys = failed[target]
                if not was_failing:
                    robot: dict[str, object] = {"target": target, "since": iso(now), "journeys": [
                        {"name": j["name"], "file": j["file"], "device": j["device"], "reason": j["reason"],
                         "message": j["message"]} for j in journeys]}
                    self._emit(conn, EventType.ROBOT_ERROR, now, None, [(j["name"], j["tags"]) for j in journeys], run_ctx,
                               notify=True, result=result, robot=robot, stream_key=f"robot:{target}")
                detail = {"journeys": [{"name": j["name"], "reason": j["reason"], "message": j["message"]} for j in journeys]}
                repo.save_robot_state(conn, target, exists=st is not None, failing=True, detail=detail, updated_at=now,
                                      since=st["since"] if st and was_failing else now)
                continue
            if st is not None and was_failing:
                earlier = json_objects(st["detail"] or {}, "journeys")
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
            if row["acknowledged_at"] is not None:
                continue  # someone said (in the console) they are on it
            repo.update_incident(conn, row["id"], last_notified_at=now)
            self._emit(conn, EventType.REMINDER, now, row["id"], _tags(row), None, notify=True, result=result)

    # -- events and the outbox ----------------------------------------------------------------------
    def _emit(self, conn: Connection, event_type: EventType, now: datetime, incident_id: int | None,
              journeys: JourneyFilter, run_ctx: RunCtx | None, *, notify: bool, result: RecordResult | None = None,
              flapping: dict[str, object] | None = None, robot: dict[str, object] | None = None,
              extra: dict[str, object] | None = None, payload: dict[str, object] | None = None,
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
                journey = json_str(flapping, "journey")
            run_obj = D.run_object(run_ctx, self.public_url) if run_ctx else None
            if extra and run_obj:
                run_obj.update(extra)  # masked with the whole document
            payload = D.build(event_type, uid, now, incident=inc_obj, run=run_obj, flapping=flapping, robot=robot)
        # An incident is silenced when every journey it is about is (a grouped one still pages
        # for the journeys nobody silenced); a robot notice when one of its journeys is.
        if notify and self._silenced(conn, journeys, now, every=incident_id is not None):
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
    def _silenced(conn: Connection, journeys: JourneyFilter, now: datetime, *, every: bool = False) -> bool:
        """Whether a console silence covers one of these journeys (by name or tag), or
        with ``every``, all of them."""
        active = console_repo.live_silences(conn, now)
        if not active or not journeys:
            return False
        covered = [any((s["scope"] == "journey" and s["value"] == name) or (s["scope"] == "tag" and s["value"] in tags)
                       for s in active) for name, tags in journeys]
        return all(covered) if every else any(covered)

    # -- by hand -------------------------------------------------------------------------------------
    def resolve(self, incident_id: int, note: str | None = None) -> Resolved:
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
            return Resolved(incident=dict(row), queued=result.queued)

    # -- reading (CLI) -----------------------------------------------------------------------------------
    def list_incidents(self, status: IncidentStatus | None = IncidentStatus.OPEN, limit: int = 50) -> list[dict[str, Any]]:
        with self.store.read() as conn:
            rows = repo.newest(conn, status, limit)
            flapping = repo.flapping_keys(conn)
        for r in rows:
            key = repo.state_key(str(r["journey"]), str(r["target"]), str(r["device"]))
            r["flapping"] = key in flapping and r["status"] == IncidentStatus.OPEN
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
            run_ids = {r for r in (row["first_run_id"], row["last_run_id"]) if r} | {str(e["run_id"]) for e in evs if e["run_id"]}
            run_rows = history.runs_by_id(conn, run_ids)
            st = repo.journey_state_row(conn, repo.state_key(row["journey"], row["target"], row["device"]))
        return {"incident": dict(row), "object": D.incident_object(row, self.public_url), "events": evs,
                "deliveries": dels, "runs": run_rows, "journey_state": dict(st) if st else None}

    def counts(self) -> dict[str, int]:
        with self.store.read() as conn:
            return repo.counts(conn)
