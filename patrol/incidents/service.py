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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import desc, func, insert, select, update

from ..config import Config
from ..errors import InputError
from ..results import ERROR, FAILED, INTERRUPTED, PASSED, SKIPPED, JourneyResult, RunResult
from ..secrets import MASKER
from ..store import StateStoreError, Store, open_store, state_settings
from ..store.schema import deliveries, events, incidents, journey_runs, journey_state, robot_state, runs, step_results
from . import documents as D
from .fingerprint import Observation, evidence_summary, observations, severity
from .flapping import decide, percent_state_change
from .settings import IncidentSettings, incident_settings, public_url

HEALTHY, FAILING, ROBOT, UNKNOWN = "healthy", "failing", "robot_error", "interrupted"


def utcnow() -> datetime:
    return datetime.now(UTC)


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


def _outcome(j: JourneyResult) -> str:
    if j.status == ERROR:
        return ROBOT
    if j.status == INTERRUPTED:
        return UNKNOWN
    return FAILING if j.status == FAILED or j.findings else HEALTHY


def _groups(run: RunResult) -> list[list[JourneyResult]]:
    groups: dict[tuple[str, str, str], list[JourneyResult]] = {}
    for j in run.journeys:
        groups.setdefault((j.name, j.target, j.device), []).append(j)
    return [sorted(g, key=lambda j: j.attempt) for g in groups.values()]


def _state_key(name: str, target: str, device: str) -> str:
    return f"{name}\x1f{target}\x1f{device}"


class IncidentService:
    def __init__(
        self,
        store: Store,
        settings: IncidentSettings | None = None,
        receivers: dict | None = None,
        public_url: str | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
        transport=None,
    ):
        self.store = store
        self.settings = settings or IncidentSettings()
        self.receivers = receivers or {}
        self.public_url = public_url
        self.clock = clock
        self.transport = transport  # httpx transport override (tests never need it; kept for embedding)

    # -- construction ----------------------------------------------------------------------
    @staticmethod
    def enabled(config: Config) -> bool:
        return state_settings(config).enabled

    @classmethod
    def from_config(cls, config: Config, *, resolve_secrets: bool = True, clock: Callable[[], datetime] = utcnow) -> IncidentService:
        from ..notify.receivers import load_receivers

        state = state_settings(config)
        settings = incident_settings(config)
        receivers = load_receivers(config, resolve_secrets=resolve_secrets)
        pub = public_url(config)
        return cls(open_store(state.url), settings, receivers, pub, clock=clock)

    @property
    def confirm_count(self) -> int:
        return self.settings.confirm

    def dispatcher(self):
        from ..notify.dispatcher import Dispatcher

        return Dispatcher(self.store, self.receivers, self.settings.delivery, tz=self.settings.tz, clock=self.clock,
                          transport=self.transport)

    def flush_deliveries(self, timeout: float | None = None):
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
                if _outcome(latest) != FAILING or len(group) >= 1 + self.settings.confirm:
                    continue
                seen = [set(observations(a)) for a in group]
                candidates = set.intersection(*seen) if seen else set()
                if not candidates:
                    continue
                open_fps = set(conn.execute(
                    select(incidents.c.fingerprint).where(incidents.c.status == "open", incidents.c.fingerprint.in_(candidates))
                ).scalars())
                if candidates - open_fps and latest.name not in names:
                    names.append(latest.name)
        return names

    # -- recording ------------------------------------------------------------------------------
    def record_run(self, run: RunResult) -> RecordResult:
        from sqlalchemy.exc import SQLAlchemyError

        try:
            return self._record_run(run)
        except SQLAlchemyError as e:
            raise StateStoreError(f"could not record run {run.run_id} in the state database: "
                                  f"{MASKER.mask(str(e).splitlines()[0])}") from e

    def _record_run(self, run: RunResult) -> RecordResult:
        result = RecordResult(run.run_id)
        now = self.clock()
        with self.store.write() as conn:
            if conn.execute(select(runs.c.id).where(runs.c.id == run.run_id)).first():
                result.already_recorded = True
                return result
            self._insert_run(conn, run, now)
            run_ctx = {"id": run.run_id, "status": run.status, "started_at": run.started_at, "run_dir": run.run_dir}
            robot_failed: dict[str, list[dict]] = {}
            robot_ok: dict[str, list[JourneyResult]] = {}
            app_groups: list[list[JourneyResult]] = []
            for group in _groups(run):
                latest = group[-1]
                for j in group:
                    self._insert_attempt(conn, run.run_id, j, j is latest)
                outcome = _outcome(latest)
                if outcome == ROBOT:
                    err = latest.robot_error or {}
                    robot_failed.setdefault(latest.target, []).append({
                        "name": latest.name, "file": latest.file, "tags": list(latest.tags), "device": latest.device,
                        "reason": str(err.get("reason") or "robot_error"), "message": MASKER.mask(str(err.get("message") or "")),
                    })
                    continue
                if outcome == UNKNOWN:
                    continue
                robot_ok.setdefault(latest.target, []).append(latest)
                app_groups.append(group)
            # The robot's news first (it explains the rest), then the app's.
            self._robot(conn, robot_failed, robot_ok, run_ctx, now, result)
            for group in app_groups:
                self._lifecycle(conn, group, run_ctx, now, result)
            self._reminders(conn, now, result)
        return result

    def _insert_run(self, conn, run: RunResult, now: datetime) -> None:
        latest = run.latest()
        summary = {
            "journeys": len(latest),
            "attempts": len(run.journeys),
            "passed": sum(1 for j in latest if j.status == PASSED),
            "failed": sum(1 for j in latest if j.status == FAILED),
            "errors": sum(1 for j in latest if j.status == ERROR),
            "findings": sum(len(j.findings) for j in latest),
        }
        conn.execute(insert(runs).values(
            id=run.run_id,
            started_at=D.parse_iso(run.started_at),
            finished_at=D.parse_iso(run.finished_at),
            recorded_at=now,
            status=run.status,
            duration_ms=run.duration_ms,
            run_dir=run.run_dir,
            report_path=str(Path(run.run_dir) / "index.html") if run.run_dir else None,
            summary=summary,
        ))

    def _insert_attempt(self, conn, run_id: str, j: JourneyResult, latest: bool) -> None:
        jr_id = conn.execute(insert(journey_runs).values(
            run_id=run_id, journey=j.name, file=j.file, attempt=j.attempt, latest=latest, target=j.target,
            device=j.device, tags=list(j.tags), status=j.status, outcome=_outcome(j),
            started_at=D.parse_iso(j.started_at), duration_ms=j.duration_ms,
            robot_error=MASKER.mask_obj(j.robot_error) if j.robot_error else None,
            fingerprints=list(observations(j)),
        )).inserted_primary_key[0]
        rows = [
            dict(journey_run_id=jr_id, step_index=s.index, name=s.name, action=s.action, status=s.status,
                 duration_ms=s.duration_ms, budget_ms=s.budget_ms, url=MASKER.mask(s.url) if s.url else None,
                 screenshot=s.screenshot,
                 findings=[MASKER.mask_obj({"kind": f.kind, "reason": f.reason, "message": f.message, "fatal": f.fatal})
                           for f in s.findings])
            for s in j.steps
        ]
        if rows:
            conn.execute(insert(step_results), rows)

    # -- lifecycle of one journey ------------------------------------------------------------------
    def _lifecycle(self, conn, group: list[JourneyResult], run_ctx: dict, now: datetime, result: RecordResult) -> None:
        s = self.settings
        latest = group[-1]
        key = _state_key(latest.name, latest.target, latest.device)
        obs_latest = observations(latest)
        obs_all = [observations(a) for a in group]
        where = (incidents.c.journey == latest.name, incidents.c.target == latest.target, incidents.c.device == latest.device)
        q = select(incidents).where(incidents.c.status == "open", *where).order_by(incidents.c.id)
        if conn.dialect.name == "postgresql":
            q = q.with_for_update()
        open_rows = conn.execute(q).mappings().all()

        state = conn.execute(select(journey_state).where(journey_state.c.key == key)).mappings().first()
        was_flapping = bool(state and state["flapping"])
        history = conn.execute(
            select(journey_runs.c.outcome)
            .where(journey_runs.c.journey == latest.name, journey_runs.c.target == latest.target,
                   journey_runs.c.device == latest.device, journey_runs.c.latest.is_(True),
                   journey_runs.c.outcome.in_((HEALTHY, FAILING)))
            .order_by(desc(journey_runs.c.id)).limit(s.flapping.window)
        ).scalars().all()
        percent = percent_state_change([o == FAILING for o in reversed(history)], s.flapping.window)
        change = decide(was_flapping, percent, s.flapping.start, s.flapping.stop)
        flapping_now = (was_flapping or change == "started") and change != "stopped"
        quiet = flapping_now
        journeys_filter = [(latest.name, list(latest.tags))]

        open_fps = {r["fingerprint"] for r in open_rows}
        for row in open_rows:
            fp = row["fingerprint"]
            if fp in obs_latest:
                self._repeat(conn, row, obs_latest[fp], run_ctx, now)
                result.repeated.append(row["id"])
            elif self._healthy_for(row, latest):
                streak = row["healthy_streak"] + 1
                if streak >= s.resolve_after:
                    conn.execute(update(incidents).where(incidents.c.id == row["id"]).values(
                        status="resolved", resolved_at=now, resolved_by="auto", healthy_streak=streak, last_run_id=run_ctx["id"]))
                    self._emit(conn, D.RESOLVED, now, row["id"], journeys_filter, run_ctx, notify=not quiet, result=result)
                    result.resolved.append(row["id"])
                else:
                    conn.execute(update(incidents).where(incidents.c.id == row["id"]).values(healthy_streak=streak))

        seen_fps: set[str] = set().union(*obs_all)
        for fp in sorted(seen_fps - open_fps, key=lambda f: (f not in obs_latest, f)):
            ob = obs_latest.get(fp)
            if ob is not None and (s.confirm == 0 or (len(obs_all) >= 1 + s.confirm and all(fp in o for o in obs_all))):
                inc_id = self._open(conn, ob, group, run_ctx, now)
                self._emit(conn, D.OPENED, now, inc_id, journeys_filter, run_ctx, notify=not quiet, result=result,
                           extra={"attempts": len(group)})
                result.opened.append(inc_id)
            else:
                # Seen, but not in every attempt: a blip the confirmation did not reproduce.
                result.unconfirmed.append((latest.name, fp))

        # Flapping notices come after this run's changes, so they describe the state now.
        open_now = conn.execute(select(incidents.c.id).where(incidents.c.status == "open", *where).order_by(desc(incidents.c.last_seen_at), desc(incidents.c.id))).scalars().all()
        flap_incident = state["flapping_incident_id"] if state else None
        if change is not None:
            fl = {
                "journey": latest.name, "target": latest.target, "device": latest.device, "percent": percent,
                "window": s.flapping.window, "state": FAILING if open_now else HEALTHY, "incidents": list(open_now),
            }
            if change == "started":
                target_id = open_now[0] if open_now else conn.execute(
                    select(incidents.c.id).where(*where).order_by(desc(incidents.c.id)).limit(1)).scalar()
                self._emit(conn, D.FLAPPING, now, target_id, journeys_filter, run_ctx, notify=True, result=result,
                           flapping=fl, stream_key=key)
                flap_incident = target_id
            else:
                target_id = open_now[0] if open_now else flap_incident
                self._emit(conn, D.FLAPPING_STOPPED, now, target_id, journeys_filter, run_ctx, notify=True, result=result,
                           flapping=fl, stream_key=key)
                flap_incident = None
        values = dict(journey=latest.name, flapping=flapping_now, flap_percent=percent, updated_at=now,
                      flapping_incident_id=flap_incident,
                      flapping_since=(now if change == "started" else (state["flapping_since"] if state and flapping_now else None)))
        if state is None:
            conn.execute(insert(journey_state).values(key=key, **values))
        else:
            conn.execute(update(journey_state).where(journey_state.c.key == key).values(**values))

    @staticmethod
    def _healthy_for(row, latest: JourneyResult) -> bool:
        """Whether this run shows the incident's problem gone: the journey passed, or
        it got as far as the incident's step and the problem was not there."""
        if latest.status == PASSED and not latest.findings:
            return True
        step = next((st for st in latest.steps if st.key == row["step_key"]), None)
        if step is None:
            return False
        return step.status not in (SKIPPED, "running")

    def _open(self, conn, ob: Observation, group: list[JourneyResult], run_ctx: dict, now: datetime) -> int:
        f, step, j = ob.finding, ob.step, ob.journey
        previous = conn.execute(
            select(incidents.c.id).where(incidents.c.fingerprint == ob.fingerprint).order_by(desc(incidents.c.id)).limit(1)
        ).scalar()
        return conn.execute(insert(incidents).values(
            fingerprint=ob.fingerprint, status="open", journey=j.name, journey_file=j.file, tags=list(j.tags),
            target=j.target, device=j.device, step_key=step.key, step_index=step.index, step_name=step.name,
            action=step.action, kind=f.kind, reason=f.reason, severity=severity(f), message=MASKER.mask(f.message),
            page_url=MASKER.mask(step.url or f.evidence.get("url") or "") or None,
            count=1, healthy_streak=0, opened_at=now, last_seen_at=now,
            first_run_id=run_ctx["id"], last_run_id=run_ctx["id"], last_notified_at=now,
            evidence=evidence_summary(f, step, j, run_ctx.get("run_dir")), previous_id=previous,
        )).inserted_primary_key[0]

    def _repeat(self, conn, row, ob: Observation, run_ctx: dict, now: datetime) -> None:
        f, step, j = ob.finding, ob.step, ob.journey
        conn.execute(update(incidents).where(incidents.c.id == row["id"]).values(
            count=row["count"] + 1, last_seen_at=now, healthy_streak=0, last_run_id=run_ctx["id"],
            message=MASKER.mask(f.message), page_url=MASKER.mask(step.url or f.evidence.get("url") or "") or row["page_url"],
            evidence=evidence_summary(f, step, j, run_ctx.get("run_dir")),
        ))
        self._emit(conn, D.SEEN, now, row["id"], [], run_ctx, notify=False,
                   payload={"run_id": run_ctx["id"], "count": row["count"] + 1, "message": MASKER.mask(f.message)})

    # -- robot ------------------------------------------------------------------------------------
    def _robot(self, conn, failed: dict[str, list[dict]], ok: dict[str, list[JourneyResult]], run_ctx, now, result) -> None:
        for target in sorted(set(failed) | set(ok)):
            st = conn.execute(select(robot_state).where(robot_state.c.target == target)).mappings().first()
            if target in failed:
                journeys = failed[target]
                if not (st and st["failing"]):
                    robot = {"target": target, "since": D.iso(now), "journeys": [
                        {k: j[k] for k in ("name", "file", "device", "reason", "message")} for j in journeys]}
                    self._emit(conn, D.ROBOT_ERROR, now, None, [(j["name"], j["tags"]) for j in journeys], run_ctx,
                               notify=True, result=result, robot=robot, stream_key=f"robot:{target}")
                values = dict(failing=True, detail={"journeys": [{k: j[k] for k in ("name", "reason", "message")} for j in journeys]},
                              updated_at=now, since=st["since"] if st and st["failing"] else now)
            else:
                if not (st and st["failing"]):
                    if st is None:
                        conn.execute(insert(robot_state).values(target=target, failing=False, since=None, detail={}, updated_at=now))
                    continue
                detail = st["detail"] or {}
                robot = {"target": target, "since": D.iso(st["since"]), "journeys": list(detail.get("journeys") or [])}
                names = [(j.name, list(j.tags)) for j in ok[target]] + [(j.get("name"), []) for j in robot["journeys"]]
                self._emit(conn, D.ROBOT_RECOVERED, now, None, names, run_ctx, notify=True, result=result,
                           robot=robot, stream_key=f"robot:{target}")
                values = dict(failing=False, since=None, detail={}, updated_at=now)
            if st is None:
                conn.execute(insert(robot_state).values(target=target, **values))
            else:
                conn.execute(update(robot_state).where(robot_state.c.target == target).values(**values))

    # -- reminders ----------------------------------------------------------------------------------
    def _reminders(self, conn, now: datetime, result: RecordResult) -> None:
        every = self.settings.remind_every_s
        if not every:
            return
        cutoff = now - timedelta(seconds=every)
        rows = conn.execute(select(incidents).where(incidents.c.status == "open", incidents.c.last_notified_at <= cutoff)).mappings().all()
        for row in rows:
            key = _state_key(row["journey"], row["target"], row["device"])
            flapping = conn.execute(select(journey_state.c.flapping).where(journey_state.c.key == key)).scalar()
            if flapping:
                continue
            conn.execute(update(incidents).where(incidents.c.id == row["id"]).values(last_notified_at=now))
            self._emit(conn, D.REMINDER, now, row["id"], [(row["journey"], list(row["tags"] or []))], None, notify=True, result=result)

    # -- events and the outbox ----------------------------------------------------------------------
    def _emit(self, conn, event_type: str, now: datetime, incident_id: int | None, journeys: list, run_ctx: dict | None, *,
              notify: bool, result: RecordResult | None = None, flapping: dict | None = None, robot: dict | None = None,
              extra: dict | None = None, payload: dict | None = None, stream_key: str | None = None) -> int:
        uid = uuid.uuid4().hex
        journey = None
        if payload is None:
            inc_obj = None
            if incident_id is not None:
                row = conn.execute(select(incidents).where(incidents.c.id == incident_id)).mappings().one()
                inc_obj = D.incident_object(row, self.public_url)
                journey = row["journey"]
            if flapping:
                journey = flapping["journey"]
            run_obj = D.run_object(run_ctx, self.public_url) if run_ctx else None
            payload = D.build(event_type, uid, now, incident=inc_obj, run=run_obj, flapping=flapping, robot=robot)
            if extra and payload["data"].get("run"):
                payload["data"]["run"].update(MASKER.mask_obj(extra))
        event_id = conn.execute(insert(events).values(
            uid=uid, incident_id=incident_id, type=event_type, at=now, run_id=run_ctx["id"] if run_ctx else None,
            journey=journey, notified=notify, payload=payload,
        )).inserted_primary_key[0]
        if not notify:
            return event_id
        from ..notify.formats import FORMATS

        if incident_id is not None:
            stream = f"incident:{incident_id}"
        else:
            stream = "s:" + hashlib.sha256((stream_key or event_type).encode()).hexdigest()[:24]
        subscription = D.SUBSCRIPTION[event_type]
        rows = []
        for r in self.receivers.values():
            if FORMATS[r.format].handles(event_type) and r.wants(subscription, journeys):
                rows.append(dict(event_id=event_id, receiver=r.name, format=r.format, stream=stream, status="pending",
                                 attempts=0, parts_done=0, created_at=now, queued_at=now, next_attempt_at=now))
        if rows:
            conn.execute(insert(deliveries), rows)
        if result is not None:
            result.events.append(event_type)
            result.queued += len(rows)
        return event_id

    # -- by hand -------------------------------------------------------------------------------------
    def resolve(self, incident_id: int, note: str | None = None) -> dict[str, Any]:
        now = self.clock()
        result = RecordResult("manual")
        with self.store.write() as conn:
            row = conn.execute(select(incidents).where(incidents.c.id == incident_id)).mappings().first()
            if row is None:
                raise InputError(f"there is no incident #{incident_id} (see `patrol incidents --all`)")
            if row["status"] != "open":
                raise InputError(f"incident #{incident_id} is already resolved ({D.iso(row['resolved_at'])}, {row['resolved_by']})")
            conn.execute(update(incidents).where(incidents.c.id == incident_id).values(
                status="resolved", resolved_at=now, resolved_by="manual", resolve_note=MASKER.mask(note) if note else None))
            self._emit(conn, D.RESOLVED, now, incident_id, [(row["journey"], list(row["tags"] or []))], None,
                       notify=True, result=result)
            return {"incident": dict(row), "queued": result.queued}

    # -- reading (CLI) -----------------------------------------------------------------------------------
    def list_incidents(self, status: str | None = "open", limit: int = 50) -> list[dict]:
        q = select(incidents).order_by(desc(incidents.c.id)).limit(limit)
        if status:
            q = q.where(incidents.c.status == status)
        with self.store.read() as conn:
            rows = [dict(r) for r in conn.execute(q).mappings()]
            flapping = {r["key"] for r in conn.execute(select(journey_state).where(journey_state.c.flapping.is_(True))).mappings()}
        for r in rows:
            r["flapping"] = _state_key(r["journey"], r["target"], r["device"]) in flapping and r["status"] == "open"
        return rows

    def robot_status(self) -> list[dict]:
        with self.store.read() as conn:
            return [dict(r) for r in conn.execute(select(robot_state).where(robot_state.c.failing.is_(True))).mappings()]

    def incident_detail(self, incident_id: int) -> dict[str, Any]:
        with self.store.read() as conn:
            row = conn.execute(select(incidents).where(incidents.c.id == incident_id)).mappings().first()
            if row is None:
                raise InputError(f"there is no incident #{incident_id} (see `patrol incidents --all`)")
            evs = [dict(e) for e in conn.execute(select(events).where(events.c.incident_id == incident_id).order_by(events.c.id)).mappings()]
            dels = [dict(d) for d in conn.execute(
                select(deliveries, events.c.type.label("event_type"))
                .join(events, events.c.id == deliveries.c.event_id)
                .where(events.c.incident_id == incident_id).order_by(deliveries.c.id)).mappings()]
            run_ids = {row["first_run_id"], row["last_run_id"]} | {e["run_id"] for e in evs if e["run_id"]}
            run_rows = {r["id"]: dict(r) for r in conn.execute(select(runs).where(runs.c.id.in_(run_ids))).mappings()}
            key = _state_key(row["journey"], row["target"], row["device"])
            st = conn.execute(select(journey_state).where(journey_state.c.key == key)).mappings().first()
        return {"incident": dict(row), "object": D.incident_object(row, self.public_url), "events": evs,
                "deliveries": dels, "runs": run_rows, "journey_state": dict(st) if st else None}

    def counts(self) -> dict[str, int]:
        with self.store.read() as conn:
            return dict(conn.execute(select(incidents.c.status, func.count()).group_by(incidents.c.status)).all())
