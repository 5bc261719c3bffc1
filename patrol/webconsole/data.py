"""What the console's pages and API read and change, over the state database, the run
folders and the baselines. Every change writes its audit entry in the same transaction."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import NotRequired, TypedDict

from sqlalchemy import RowMapping, select

from ..core.isotime import utcnow
from ..core.jsontypes import JsonObject, json_number, json_objects
from ..errors import InputError
from ..maintenance import storage as window_repo
from ..maintenance.settings import MaintenanceSpec
from ..maintenance.windows import Window, WindowError, new_window
from ..maintenance.windows import state as window_state
from ..notify.outbox import requeue
from ..store import Store, history, outbox_repo
from ..store import console_repo as repo
from ..store.schema import audit_log, journey_runs, runs, step_results
from ..visual.approve import Screen, approve_screen, latest_screens
from ..visual.baselines import BaselineStore, Environment
from .auth import SESSION_HOURS, Principal, dummy_verify, new_token, token_hash, verify_password

GRID_RUNS = 30  # runs per journey in the overview's status grid
RUN_NOW_WITHIN = timedelta(minutes=2)  # a "run now" starts its run this soon (else the run was a timed firing)
# A run's start is kept to the millisecond, the audit entry to the microsecond: a run that
# started within the same millisecond as its "run now" may read as a hair earlier.
START_PRECISION = timedelta(milliseconds=1)


class Refused(Exception):
    """A request the console answers with an error page or JSON error (status, words)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class RunCell(TypedDict):
    """One run of a journey in the overview's status grid."""

    status: str
    run_id: str
    at: datetime | None


class JourneyStatus(TypedDict):
    """A journey on the overview (and ``GET /api/v1/journeys``): status now, pass rates, its last runs."""

    journey: str
    target: str
    device: str
    runs7: int
    pass7: int
    runs30: int
    pass30: int
    status: str
    run_id: str
    at: datetime | None
    cells: list[RunCell]
    rate7: float | None
    rate30: float | None


class Deliveries(TypedDict):
    """The outbox as the console shows it: counts per status and the newest rows."""

    counts: dict[str, int]
    deliveries: list[dict[str, object]]


class WindowValues(TypedDict):
    """A maintenance window as a form or an API body gives it: the keys of ``new_window``."""

    name: str
    scope: str
    value: str | None
    timezone: str
    cron: NotRequired[str]
    duration_s: NotRequired[float]
    starts_at: NotRequired[datetime]
    ends_at: NotRequired[datetime]


class Console:
    def __init__(self, store: Store, baselines: BaselineStore, *, clock: Callable[[], datetime] = utcnow,
                 maintenance: tuple[MaintenanceSpec, ...] = ()) -> None:
        self.store = store
        self.baselines = baselines
        self.clock = clock
        self.maintenance = maintenance  # patrol.yaml's windows (shown; changed by editing the file)

    # -- who ------------------------------------------------------------------------------------------
    def sign_in(self, name: str, password: str) -> tuple[str, Principal] | None:
        """A new session's cookie value and its user, or None for a wrong name or password."""
        with self.store.read() as conn:
            row = repo.user_by_name(conn, name)
        if row is None:
            dummy_verify(password)
            return None
        if not verify_password(row["password_hash"], password):
            return None
        cookie, csrf, now = new_token(), new_token(), self.clock()
        with self.store.write() as conn:
            repo.end_expired_sessions(conn, now)
            repo.add_session(conn, token_hash(cookie), row["id"], csrf, now, now + timedelta(hours=SESSION_HOURS))
            repo.audit(conn, now, row["name"], "page", "sign_in", f"user:{row['name']}")
        return cookie, Principal(row["id"], row["name"], row["role"], "page", csrf)

    def session(self, cookie: str) -> Principal | None:
        if not cookie:
            return None
        with self.store.read() as conn:
            row = repo.session_user(conn, token_hash(cookie), self.clock())
        return Principal(row["id"], row["name"], row["role"], "page", row["csrf"]) if row else None

    def sign_out(self, cookie: str) -> None:
        with self.store.write() as conn:
            repo.end_session(conn, token_hash(cookie))

    def token(self, token: str) -> Principal | None:
        if not token:
            return None
        with self.store.write() as conn:
            row = repo.token_user(conn, token_hash(token))
            if row is None:
                return None
            repo.touch_token(conn, row["token_id"], self.clock())
        return Principal(row["id"], row["name"], row["role"], "api")

    # -- reading --------------------------------------------------------------------------------------
    def overview(self) -> list[JourneyStatus]:
        """Every journey seen in 30 days: status now, 7/30-day pass rates, its last run."""
        now = self.clock()
        with self.store.read() as conn:
            rows = history.latest_attempts_since(conn, now - timedelta(days=30))
        seen: dict[tuple[str, str, str], list[RunCell]] = {}
        for r in rows:
            if r.latest:
                seen.setdefault((r.journey, r.target, r.device), []).append(
                    {"status": r.status, "run_id": r.run_id, "at": r.started_at})
        journeys: list[JourneyStatus] = []
        for (journey, target, device), cells in seen.items():
            week = [c for c in cells if c["at"] and c["at"] >= now - timedelta(days=7)]
            runs7, pass7 = len(week), sum(c["status"] == "passed" for c in week)
            runs30, pass30 = len(cells), sum(c["status"] == "passed" for c in cells)
            last = cells[-1]
            journeys.append({
                "journey": journey, "target": target, "device": device, "runs7": runs7, "pass7": pass7,
                "runs30": runs30, "pass30": pass30, "status": last["status"], "run_id": last["run_id"], "at": last["at"],
                "cells": cells[-GRID_RUNS:],  # the status grid: the last runs, oldest first
                "rate7": _rate(pass7, runs7), "rate30": _rate(pass30, runs30)})
        return sorted(journeys, key=lambda j: (j["status"] == "passed", j["journey"]))

    def runs(self, limit: int = 100) -> list[dict[str, object]]:
        with self.store.read() as conn:
            return [dict(r) for r in repo.recent_runs(conn, limit)]

    def run_rows(self, limit: int = 200, *, journey: str | None = None, result: str | None = None,
                 day: date | None = None) -> list[dict[str, object]]:
        """The runs list: each run with its journeys (latest attempts), result, first failing step,
        duration and trigger; filtered by journey, result and the UTC day it started."""
        q = select(runs.c.id, runs.c.started_at, runs.c.status, runs.c.duration_ms, runs.c.schedule)
        if journey:
            q = q.where(runs.c.id.in_(select(journey_runs.c.run_id).where(journey_runs.c.journey == journey)))
        if result:
            q = q.where(runs.c.status == result)
        if day is not None:
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            q = q.where(runs.c.started_at >= start, runs.c.started_at < start + timedelta(days=1))
        q = q.order_by(runs.c.started_at.desc(), runs.c.recorded_at.desc()).limit(limit)
        with self.store.read() as conn:
            found = conn.execute(q).mappings().all()
            ids = [r["id"] for r in found]
            attempts = conn.execute(
                select(journey_runs.c.id, journey_runs.c.run_id, journey_runs.c.journey, journey_runs.c.status)
                .where(journey_runs.c.run_id.in_(ids), journey_runs.c.latest.is_(True)).order_by(journey_runs.c.id)
            ).mappings().all() if ids else []
            failing = conn.execute(
                select(step_results.c.journey_run_id, step_results.c.step_index, step_results.c.name)
                .where(step_results.c.journey_run_id.in_([a["id"] for a in attempts]), step_results.c.status == "failed")
                .order_by(step_results.c.journey_run_id, step_results.c.step_index)
            ).mappings().all() if attempts else []
            starts = [r["started_at"] for r in found if r["schedule"] and r["started_at"]]
            asked = conn.execute(
                select(audit_log.c.at, audit_log.c.actor, audit_log.c.target)
                .where(audit_log.c.action == "schedule.run", audit_log.c.at >= min(starts) - RUN_NOW_WITHIN,
                       audit_log.c.at <= max(starts) + START_PRECISION)
            ).mappings().all() if starts else []
        first_fail: dict[int, dict[str, object]] = {}
        for f in failing:
            first_fail.setdefault(f["journey_run_id"], dict(f))
        by_run: dict[str, list[dict[str, object]]] = {}
        for a in attempts:
            by_run.setdefault(a["run_id"], []).append(
                {"journey": a["journey"], "status": a["status"], "failed_step": first_fail.get(a["id"])})
        return [{**r, "journeys": by_run.get(r["id"], []), "trigger": _trigger(r["schedule"], r["started_at"], asked)} for r in found]

    def journey_names(self) -> list[str]:
        with self.store.read() as conn:
            return sorted(str(n) for n in conn.execute(select(journey_runs.c.journey).distinct()).scalars())

    def run(self, run_id: str) -> tuple[dict[str, object], dict[str, object], Path]:
        """A recorded run, its report.json (read back: narrowed where read) and its folder."""
        with self.store.read() as conn:
            found = history.runs_by_id(conn, [run_id]).get(run_id)
        if not found or not found.get("run_dir"):
            raise Refused(404, f"there is no run {run_id}")
        run_dir = Path(str(found["run_dir"]))
        try:
            report: object = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise Refused(410, f"the report of run {run_id} is no longer there (removed by retention?)") from None
        if not isinstance(report, dict):
            raise Refused(410, f"the report of run {run_id} is not a report (a JSON object)")
        return found, report, run_dir

    def run_file(self, run_id: str, name: str) -> Path:
        """A file inside a run's folder; anything that resolves outside it is refused."""
        _, _, run_dir = self.run(run_id)
        root = run_dir.resolve()
        if any(ord(c) < 0x20 or c == "\x7f" for c in name):  # a NUL (or other control byte) is no file name
            raise Refused(404, "no such file")
        try:
            path = (root / name).resolve()
        except (OSError, ValueError):
            raise Refused(404, "no such file") from None
        if not path.is_relative_to(root) or path.suffix.lower() not in {".png", ".jpg", ".jpeg", ".zip", ".json"}:
            raise Refused(404, "no such file")
        if not path.is_file():
            raise Refused(404, "no such file")
        return path

    def screens(self, run_id: str) -> list[Screen]:
        _, report, _ = self.run(run_id)
        return latest_screens(report)

    def screens_now(self, run_id: str) -> list[tuple[Screen, str]]:
        """Each approvable screen with how it stands now: what the visual check said, or
        ``approved`` once its baseline is this run's screenshot (approved since)."""
        _, report, run_dir = self.run(run_id)
        out: list[tuple[Screen, str]] = []
        for s in latest_screens(report):
            state = s.status
            if s.status != "match":
                held = self.baselines.load(s.journey, s.baseline, s.device)
                try:
                    shot: bytes | None = (run_dir / s.screenshot).read_bytes()
                except OSError:
                    shot = None
                if held is not None and shot is not None and held[0] == shot:
                    state = "approved"
            out.append((s, state))
        return out

    def live_approval(self, run_id: str, s: Screen) -> int | None:
        """The approval of this run's screen that still stands (for Undo in the compare view)."""
        for a in self.approvals():
            if (a["run_id"] == run_id and a["step_index"] == s.step_index and a["journey"] == s.journey
                    and a["baseline"] == s.baseline and a["device"] == s.device and a["undone_at"] is None
                    and isinstance(a["id"], int)):
                return a["id"]
        return None

    def screen(self, run_id: str, key: str) -> tuple[Screen, dict[str, object]]:
        """One approvable screen of a run and its report step."""
        _, report, _ = self.run(run_id)
        for s in latest_screens(report):
            if s.key == key:
                return s, _step(report, s)
        raise Refused(404, f"run {run_id} has no screen {key}")

    def approvals(self) -> list[dict[str, object]]:
        with self.store.read() as conn:
            return repo.approvals(conn)

    def audit(self, limit: int = 300) -> list[dict[str, object]]:
        with self.store.read() as conn:
            return repo.audit_entries(conn, limit)

    # -- baselines --------------------------------------------------------------------------------------
    def approve(self, who: Principal, run_id: str, keys: list[str]) -> list[int]:
        """Approve the run's screens named by ``keys`` exactly as ``patrol baseline approve``
        does, keeping what each replaced for undo."""
        _, report, run_dir = self.run(run_id)
        by_key = {s.key: s for s in latest_screens(report)}
        unknown = [k for k in keys if k not in by_key]
        if unknown or not keys:
            raise Refused(400, f"nothing to approve: unknown screen(s) {', '.join(unknown)}" if unknown else "choose at least one screen")
        ids: list[int] = []
        now = self.clock()
        with self.store.write() as conn:
            for k in keys:
                s = by_key[k]
                before = self.baselines.load(s.journey, s.baseline, s.device)
                path = approve_screen(self.baselines, run_dir, s)
                ids.append(repo.add_approval(
                    conn, journey=s.journey, baseline=s.baseline, device=s.device, run_id=run_id, step_index=s.step_index,
                    previous_png=before[0] if before else None,
                    previous_env=before[1].to_dict() if before and before[1] else None,
                    approved_sha256=hashlib.sha256(path.read_bytes()).hexdigest(), approved_by=who.name, approved_at=now))
                repo.audit(conn, now, who.name, who.via, "baseline.approve", f"{s.journey}/{s.baseline}.{s.device}",
                           {"run": run_id, "step": s.step_index, "approval": ids[-1]})
        return ids

    def undo(self, who: Principal, approval_id: int) -> None:
        now = self.clock()
        with self.store.write() as conn:
            row = repo.approval(conn, approval_id)
            if row is None:
                raise Refused(404, f"there is no approval #{approval_id}")
            if row["undone_at"] is not None:
                raise Refused(409, f"approval #{approval_id} was already undone by {row['undone_by']}")
            if repo.newer_live_approval(conn, row):
                raise Refused(409, "a newer approval of this screen stands: undo that one first")
            if row["previous_png"] is None:
                self.baselines.remove(row["journey"], row["baseline"], row["device"])
            else:
                env = Environment.from_dict(row["previous_env"] or {})
                self.baselines.save(row["journey"], row["baseline"], row["device"], row["previous_png"], env)
            repo.mark_undone(conn, approval_id, who.name, now)
            repo.audit(conn, now, who.name, who.via, "baseline.undo", f"{row['journey']}/{row['baseline']}.{row['device']}",
                       {"approval": approval_id, "run": row["run_id"]})


    # -- incidents --------------------------------------------------------------------------------------
    def record(self, who: Principal, action: str, target: str, detail: JsonObject | None = None) -> None:
        """An audit entry for a change made elsewhere (the incident service's own transaction)."""
        with self.store.write() as conn:
            repo.audit(conn, self.clock(), who.name, who.via, action, target, detail)

    def acknowledge(self, who: Principal, incident_id: int) -> None:
        now = self.clock()
        with self.store.write() as conn:
            row = repo.incident(conn, incident_id)
            if row is None:
                raise Refused(404, f"there is no incident #{incident_id}")
            if row["status"] != "open":
                raise Refused(409, f"incident #{incident_id} is already resolved")
            if row["acknowledged_at"] is not None:
                raise Refused(409, f"incident #{incident_id} was already acknowledged by {row['acknowledged_by']}")
            repo.acknowledge(conn, incident_id, who.name, now)
            repo.audit(conn, now, who.name, who.via, "incident.acknowledge", f"incident:{incident_id}")

    def incident_actions(self, incident_id: int) -> Sequence[Mapping[str, object]]:
        """Who acknowledged, resolved or silenced the incident, and when (its timeline's people part)."""
        with self.store.read() as conn:
            row = repo.incident(conn, incident_id)
            return repo.incident_actions(conn, row, self.clock()) if row is not None else []

    def silences(self) -> list[dict[str, object]]:
        with self.store.read() as conn:
            return repo.active_silences(conn, self.clock())

    def silence(self, who: Principal, scope: str, value: str, seconds: float, reason: str | None) -> int:
        if scope not in ("journey", "tag") or not value:
            raise Refused(400, "silence a journey or a tag: choose which and name it")
        if not 0 < seconds <= 30 * 86400:
            raise Refused(400, "a silence lasts more than nothing and at most 30 days")
        now = self.clock()
        with self.store.write() as conn:
            sid = repo.add_silence(conn, scope=scope, value=value, until=now + timedelta(seconds=seconds), reason=reason,
                                   created_by=who.name, created_at=now)
            repo.audit(conn, now, who.name, who.via, "silence.add", f"{scope}:{value}", {"silence": sid, "seconds": seconds})
        return sid

    def end_silence(self, who: Principal, silence_id: int) -> None:
        now = self.clock()
        with self.store.write() as conn:
            if not repo.end_silence(conn, silence_id, now):
                raise Refused(404, f"there is no active silence #{silence_id}")
            repo.audit(conn, now, who.name, who.via, "silence.end", f"silence:{silence_id}")

    # -- deliveries ------------------------------------------------------------------------------------------
    def deliveries(self, status: str | None = None, limit: int = 200) -> Deliveries:
        """The outbox: counts per status and the newest rows (held ones are pending, due when their window ends)."""
        with self.store.read() as conn:
            rows = outbox_repo.newest_with_events(conn, status, limit)
            counts = outbox_repo.status_counts(conn)
        return {"counts": counts, "deliveries": rows}

    def retry(self, who: Principal, ids: list[int] | None) -> int:
        """Dead deliveries (these, or all) back to pending, as ``patrol deliveries retry`` does."""
        try:
            n = requeue(self.store, ids, self.clock())
        except InputError as e:
            raise Refused(409, str(e)) from None
        self.record(who, "delivery.retry", ",".join(map(str, ids)) if ids else "all dead", {"requeued": n})
        return n

    # -- maintenance windows -------------------------------------------------------------------------------
    def windows(self, include_ended: bool = False) -> list[dict[str, object]]:
        """patrol.yaml's windows and the console's/CLI's, each with how it stands now and its next spans."""
        now = self.clock()
        with self.store.read() as conn:
            rows = window_repo.all_windows(conn) if include_ended else window_repo.live_windows(conn, now)
        shown = [Window.from_spec(s) for s in self.maintenance] + [Window.from_row(r) for r in reversed(rows)]
        return [{"id": w.id, "name": w.name, "source": w.source, "scope": w.scope, "value": w.value, "what": w.what,
                 "when": w.when, "state": window_state(w, now), "created_by": w.created_by, "timezone": w.timezone,
                 "cron": w.cron, "duration_s": w.duration_s, "starts_at": w.starts_at, "ends_at": w.ends_at,
                 "ended_at": w.ended_at, "active": w.active_until(now) is not None,
                 "next": [{"start": a, "end": b} for a, b in w.occurrences(now, 3)]} for w in shown]

    def add_window(self, who: Principal, values: WindowValues) -> int:
        now = self.clock()
        try:
            row = new_window(now=now, **values)
        except WindowError as e:
            raise Refused(400, str(e)) from None
        with self.store.write() as conn:
            wid = window_repo.add_window(conn, created_by=who.name, **row)
            repo.audit(conn, now, who.name, who.via, "maintenance.add", f"maintenance:{wid}",
                       {"name": row["name"], "scope": row["scope"], "value": row["value"]})
        return wid

    def end_window(self, who: Principal, window_id: int) -> None:
        now = self.clock()
        with self.store.write() as conn:
            if not window_repo.end_window(conn, window_id, now):
                raise Refused(404, f"there is no window #{window_id} still going")
            window_repo.held_due_now(conn, now)  # the dispatcher sends what it held (once per incident) on its next round
            repo.audit(conn, now, who.name, who.via, "maintenance.end", f"maintenance:{window_id}")


def _trigger(name: object, at: object, asked: Sequence[RowMapping]) -> str:
    """What started a run (its ``schedule`` name, started ``at``): ``patrol run`` (no schedule), its
    schedule, or someone's "run now" (the console's audit entry for that schedule shortly before the run started)."""
    if not name:
        return "patrol run"
    for a in asked:
        if (isinstance(at, datetime) and str(a["target"]).split(":", 1)[-1] == name
                and at - RUN_NOW_WITHIN <= a["at"] <= at + START_PRECISION):
            return f"run now by {a['actor']} ({name})"
    return f"schedule {name}"


def _rate(passed: int, total: int) -> float | None:
    return round(100.0 * passed / total, 1) if total else None


def _step(report: Mapping[str, object], s: Screen) -> dict[str, object]:
    for j in json_objects(report, "journeys"):
        if j.get("name") == s.journey and int(json_number(j, "attempt") or 1) == s.attempt:
            for step in json_objects(j, "steps"):
                if json_number(step, "index") == s.step_index:
                    return dict(step)
    return {}
