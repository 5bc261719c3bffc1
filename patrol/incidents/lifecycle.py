"""The incident lifecycle: a run's verdicts applied to the store, in one transaction.

``record_run`` writes the run's history (``runs.RunHistory``), the robot's own news
(``robot.error`` / ``robot.recovered``, never incidents), then what the policy
(``policy.IncidentPolicy``) decides for the app: repeats, resolutions, confirmed new
incidents or reopened ones, flapping notices and due reminders, each change with its
event (``events.EventLog``) and its outbox rows (``outbox.Outbox``). Nothing is sent here: the outbox
sends once the transaction is committed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TypedDict

from sqlalchemy import Connection, RowMapping
from sqlalchemy.exc import SQLAlchemyError

from ..config.incidents import IncidentSettings
from ..core.isotime import iso
from ..core.jsontypes import json_objects, json_str
from ..core.vocabulary import EventType, IncidentStatus, Outcome, ResolvedBy, Severity
from ..errors import InputError
from ..results import JourneyResult, RunResult
from ..secrets import MASKER
from ..store import StateStoreError, Store
from ..store import incident_repo as repo
from ..store.incident_repo import IncidentRow, RowDict
from .documents import RunCtx
from .events import EventLog
from .fingerprint import Observation, evidence_summary, severity
from .flapping import FlapChange
from .grouping import AffectedEntry, CauseDoc, affected_entries, cause_doc, merge_affected, merge_cause, summary
from .outbox import Outbox
from .policy import (
    FlapReading,
    IncidentPolicy,
    JourneyFilter,
    RobotFailure,
    affected_of,
    attempt_groups,
    count_healthy,
    journey_filter,
    split_run,
)
from .runs import RunHistory


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


class Resolved(TypedDict):
    incident: RowDict  # as it was before
    queued: int  # notifications queued


@dataclass(frozen=True)
class _Flap:
    """A journey's flapping state before this run, and what the policy read from its runs."""

    key: str
    state: RowMapping | None
    reading: FlapReading

    @property
    def percent(self) -> float:
        return self.reading.percent

    @property
    def change(self) -> FlapChange | None:
        return self.reading.change

    @property
    def now(self) -> bool:
        return self.reading.now


class IncidentLifecycle:
    """Applies the policy to the store: one run (or one resolution by hand) per transaction."""

    def __init__(self, store: Store, policy: IncidentPolicy, outbox: Outbox, history: RunHistory | None = None,
                 public_url: str | None = None) -> None:
        self.store = store
        self.policy = policy
        self.outbox = outbox
        self.history = history or RunHistory(policy.settings.group_by)
        self.public_url = public_url
        self.events = EventLog(policy, outbox, public_url)

    @property
    def settings(self) -> IncidentSettings:
        return self.policy.settings

    # -- confirmation -----------------------------------------------------------------------
    def journeys_to_confirm(self, run: RunResult) -> list[str]:
        """Journeys whose latest attempt shows a failure with no open incident, that
        every attempt so far showed, and that still needs a confirmation rerun."""
        if self.settings.confirm <= 0:
            return []
        names: list[str] = []
        with self.store.read() as conn:
            for group in attempt_groups(run):
                candidates = self.policy.rerun_could_confirm(group)
                if not candidates:
                    continue
                latest = group[-1]
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
        now = self.policy.now()
        with self.store.write() as conn:
            if self.history.is_recorded(conn, run.run_id):
                result.already_recorded = True
                return result
            groups = attempt_groups(run)
            self.history.record(conn, run, groups, now)
            run_ctx = RunCtx(id=run.run_id, status=run.status, started_at=run.started_at, run_dir=run.run_dir)
            split = split_run(groups)
            # The robot's news first (it explains the rest), then the app's.
            self._robot(conn, split.robot_failed, split.robot_ok, run_ctx, now, result)
            if split.app_groups:
                self._lifecycle(conn, split.app_groups, run_ctx, now, result)
            self.remind(conn, now, result)
        return result

    # -- lifecycle of the run's journeys ---------------------------------------------------------------
    def _lifecycle(self, conn: Connection, app_groups: list[list[JourneyResult]], run_ctx: RunCtx, now: datetime,
                   result: RecordResult) -> None:
        """Open incidents seen again count a repeat, not seen a healthy run of each journey
        they affect; new problems, confirmed, open one incident per fingerprint (per cause:
        every journey and step that shows it); then each journey's flapping notices."""
        flaps = [self._flap(conn, group[-1]) for group in app_groups]
        flapping = {f.key for f in flaps if f.now}  # a flapping journey's incidents change without notifications
        open_rows = {r["fingerprint"]: r for r in repo.open_incidents(conn, lock=True)}
        triage = self.policy.triage(app_groups, set(open_rows))
        result.unconfirmed.extend(triage.unconfirmed)
        ran = {repo.state_key(g[-1].name, g[-1].target, g[-1].device): g[-1] for g in app_groups}
        for fp, row in open_rows.items():
            self._update_open(conn, row, triage.seen.get(fp), ran, flapping, len(app_groups), run_ctx, now, result)
        for fp in triage.new:
            self._open_new(conn, fp, triage.seen[fp], flapping, len(app_groups), run_ctx, now, result)
        # Flapping notices come after this run's changes, so they describe the state now.
        for group, flap in zip(app_groups, flaps, strict=True):
            latest = group[-1]
            self._flap_notices(conn, latest, flap, [(latest.name, list(latest.tags))], run_ctx, now, result)

    def _flap(self, conn: Connection, latest: JourneyResult) -> _Flap:
        key = repo.state_key(latest.name, latest.target, latest.device)
        state = repo.journey_state_row(conn, key)
        recent = self.history.recent_outcomes(conn, latest, self.settings.flapping.window)
        return _Flap(key, state, self.policy.flapping(bool(state and state["flapping"]), recent))

    def _update_open(self, conn: Connection, row: IncidentRow, obs: list[Observation] | None, ran: dict[str, JourneyResult],
                     flapping: set[str], journeys_in_run: int, run_ctx: RunCtx, now: datetime, result: RecordResult) -> None:
        """Seen again: a repeat. Not seen: a healthy run of each affected journey that got as
        far as its steps; resolved when every journey that had it is healthy ``resolve_after``
        times in a row (the cause is gone from all of them)."""
        affected = affected_of(row)
        fresh = affected_entries(obs, now, run_ctx["id"]) if obs else {}
        if fresh:
            affected = merge_affected(affected, fresh, now, run_ctx["id"])
        healthier = count_healthy(affected, fresh, ran)
        streak = min(e["healthy_streak"] for e in affected)
        if obs:
            self._repeat(conn, row, obs, affected, journeys_in_run, run_ctx, now)
            result.repeated.append(row["id"])
        elif self.policy.resolves(affected, healthier):
            repo.update_incident(conn, row["id"], status=IncidentStatus.RESOLVED, resolved_at=now,
                                 resolved_by=ResolvedBy.AUTO, healthy_streak=streak, last_run_id=run_ctx["id"],
                                 affected=affected if row["affected"] is not None else None)
            keys = [k for k in ran if any(k == repo.state_key(e["journey"], e["target"], e["device"]) for e in affected)]
            self._emit(conn, EventType.RESOLVED, now, row["id"], journey_filter(affected), run_ctx,
                       notify=not (keys and all(k in flapping for k in keys)), result=result)
            result.resolved.append(row["id"])
        elif healthier:
            repo.update_incident(conn, row["id"], healthy_streak=streak,
                                 affected=affected if row["affected"] is not None else None)

    def _open_new(self, conn: Connection, fp: str, obs: list[Observation], flapping: set[str],
                  journeys_in_run: int, run_ctx: RunCtx, now: datetime, result: RecordResult) -> None:
        """A confirmed new problem: one incident for every journey and step that showed it
        (a cause back within ``group_window`` of its incident's resolution reopens that one)."""
        cause = cause_doc(obs, self.settings.group_by)
        fresh = affected_entries(obs, now, run_ctx["id"])
        affected = list(fresh.values())
        keys = list(fresh)
        quiet = all(k in flapping for k in keys)
        attempts = max(ob.journey.attempt for ob in obs)
        since = self.policy.reopen_since(cause.get("key"), now)
        earlier = repo.resolved_since(conn, fp, since) if since is not None else None
        if earlier is not None:
            affected = merge_affected(affected_of(earlier), fresh, now, run_ctx["id"])
            self._repeat(conn, earlier, obs, affected, journeys_in_run, run_ctx, now, reopen=True)
            inc_id = int(earlier["id"])
            extra: dict[str, object] = {"attempts": attempts, "reopened": True}
        else:
            inc_id = self._open(conn, obs, cause, affected, journeys_in_run, run_ctx, now)
            extra = {"attempts": attempts}
        self._emit(conn, EventType.OPENED, now, inc_id, journey_filter(affected), run_ctx, notify=not quiet, result=result,
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
    def _robot(self, conn: Connection, failed: dict[str, list[RobotFailure]], ok: dict[str, list[JourneyResult]],
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
    def remind(self, conn: Connection, now: datetime, result: RecordResult) -> None:
        """A reminder for each open incident due one (every run checks, inside its transaction)."""
        cutoff = self.policy.reminder_cutoff(now)
        if cutoff is None:
            return
        for row in repo.due_reminders(conn, cutoff):
            flapping = repo.is_flapping(conn, repo.state_key(row["journey"], row["target"], row["device"]))
            if not self.policy.reminder_due(row, flapping=flapping, now=now):
                continue  # flapping (notices paused), or someone said (in the console) they are on it
            repo.update_incident(conn, row["id"], last_notified_at=now)
            self._emit(conn, EventType.REMINDER, now, row["id"], journey_filter(affected_of(row)), None, notify=True,
                       result=result)

    # -- events and the outbox ----------------------------------------------------------------------
    def _emit(self, conn: Connection, event_type: EventType, now: datetime, incident_id: int | None,
              journeys: JourneyFilter, run_ctx: RunCtx | None, *, notify: bool, result: RecordResult | None = None,
              flapping: dict[str, object] | None = None, robot: dict[str, object] | None = None,
              extra: dict[str, object] | None = None, payload: dict[str, object] | None = None,
              stream_key: str | None = None) -> int:
        written = self.events.write(conn, event_type, now, incident_id, journeys, run_ctx, notify=notify,
                                    flapping=flapping, robot=robot, extra=extra, payload=payload, stream_key=stream_key)
        if written.notified and result is not None:
            result.events.append(event_type)
            result.queued += written.queued
        return written.event_id

    # -- by hand -------------------------------------------------------------------------------------
    def resolve(self, incident_id: int, note: str | None = None) -> Resolved:
        now = self.policy.now()
        result = RecordResult("manual")
        with self.store.write() as conn:
            row = repo.get(conn, incident_id)
            if row is None:
                raise InputError(f"there is no incident #{incident_id} (see `patrol incidents --all`)")
            if row["status"] != IncidentStatus.OPEN:
                raise InputError(f"incident #{incident_id} is already resolved ({iso(row['resolved_at'])}, {row['resolved_by']})")
            repo.update_incident(conn, incident_id, status=IncidentStatus.RESOLVED, resolved_at=now,
                                 resolved_by=ResolvedBy.MANUAL, resolve_note=MASKER.mask(note) if note else None)
            self._emit(conn, EventType.RESOLVED, now, incident_id, journey_filter(affected_of(row)), None, notify=True,
                       result=result)
            return Resolved(incident=dict(row), queued=result.queued)

