"""Run history: the ``runs``, ``journey_runs`` (one row per attempt) and
``step_results`` tables. Every query on them lives here; callers pass the
connection, so a recording and the incident changes it causes share one
transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TypeAlias

from sqlalchemy import Connection, Row, RowMapping, desc, insert, select, update

from ..core.isotime import parse_iso
from ..core.vocabulary import Outcome, Status
from ..results import JourneyResult, RunResult
from ..secrets import MASKER
from .schema import journey_runs, runs, step_results

# The rows of the reads below, column by column (read by name: ``row.run_dir``).
# id, journey, target, device, status, outcome, latest, duration_ms, jstart, run_id, started_at, run_dir, report_pruned_at
AttemptRow: TypeAlias = Row[int, str, str, str, str, str, bool, float | None, datetime | None, str, datetime | None,
                            str | None, datetime | None]
# journey_run_id, step_index, name, status, duration_ms, budget_ms, vitals (JSON)
StepDurationRow: TypeAlias = Row[int, int, str, str, float | None, float | None, object]
# id, run_dir, report_pruned_at
ReportFolderRow: TypeAlias = Row[str, str | None, datetime | None]


@dataclass(frozen=True)
class Attempt:
    """One attempt of one journey, with what the incident layer made of it."""

    journey: JourneyResult
    latest: bool  # the attempt that decides the run's verdict
    outcome: Outcome
    fingerprints: list[str]


# -- writing ---------------------------------------------------------------------------------------
def is_recorded(conn: Connection, run_id: str) -> bool:
    return conn.execute(select(runs.c.id).where(runs.c.id == run_id)).first() is not None


def record_run(conn: Connection, run: RunResult, recorded_at: datetime, attempts: Iterable[Attempt]) -> None:
    """The run, its attempts and their steps (masked)."""
    _insert_run(conn, run, recorded_at)
    for attempt in attempts:
        _insert_attempt(conn, run.run_id, attempt)


def _insert_run(conn: Connection, run: RunResult, recorded_at: datetime) -> None:
    latest = run.latest()
    summary = {
        "journeys": len(latest),
        "attempts": len(run.journeys),
        "passed": sum(1 for j in latest if j.status == Status.PASSED),
        "failed": sum(1 for j in latest if j.status == Status.FAILED),
        "errors": sum(1 for j in latest if j.status == Status.ERROR),
        "findings": sum(len(j.findings) for j in latest),
    }
    conn.execute(insert(runs).values(
        id=run.run_id,
        started_at=parse_iso(run.started_at),
        finished_at=parse_iso(run.finished_at),
        recorded_at=recorded_at,
        status=run.status,
        duration_ms=run.duration_ms,
        run_dir=run.run_dir,
        report_path=str(Path(run.run_dir) / "index.html") if run.run_dir else None,
        summary=summary,
    ))


def _insert_attempt(conn: Connection, run_id: str, a: Attempt) -> None:
    j = a.journey
    key = conn.execute(insert(journey_runs).values(
        run_id=run_id, journey=j.name, file=j.file, attempt=j.attempt, latest=a.latest, target=j.target,
        device=j.device, tags=list(j.tags), status=j.status, outcome=a.outcome,
        started_at=parse_iso(j.started_at), duration_ms=j.duration_ms,
        robot_error=MASKER.mask_obj(j.robot_error) if j.robot_error else None,
        fingerprints=list(a.fingerprints),
    )).inserted_primary_key
    assert key is not None  # an integer primary key
    jr_id = key[0]
    rows = [
        dict(journey_run_id=jr_id, step_index=s.index, name=s.name, action=s.action, status=s.status,
             duration_ms=s.duration_ms, budget_ms=s.budget_ms, url=MASKER.mask(s.url) if s.url else None,
             screenshot=s.screenshot, vitals=s.artifacts.get("vitals"),
             findings=[MASKER.mask_obj({"kind": f.kind, "reason": f.reason, "message": f.message, "fatal": f.fatal})
                       for f in s.findings])
        for s in j.steps
    ]
    if rows:
        conn.execute(insert(step_results), rows)


def set_schedule(conn: Connection, run_id: str, schedule: str) -> None:
    """Which schedule fired the run."""
    conn.execute(update(runs).where(runs.c.id == run_id).values(schedule=schedule))


# -- reading -----------------------------------------------------------------------------------------
def recent_outcomes(conn: Connection, journey: str, target: str, device: str, limit: int) -> list[Outcome]:
    """The journey's last ``limit`` healthy/failing verdicts, newest first (robot
    errors and interruptions say nothing about the app)."""
    rows = conn.execute(
        select(journey_runs.c.outcome)
        .where(journey_runs.c.journey == journey, journey_runs.c.target == target,
               journey_runs.c.device == device, journey_runs.c.latest.is_(True),
               journey_runs.c.outcome.in_((Outcome.HEALTHY, Outcome.FAILING)))
        .order_by(desc(journey_runs.c.id)).limit(limit)
    ).scalars()
    return [Outcome(o) for o in rows]


def runs_by_id(conn: Connection, ids: Iterable[str]) -> dict[str, dict[str, object]]:
    return {r["id"]: dict(r) for r in conn.execute(select(runs).where(runs.c.id.in_(set(ids)))).mappings()}


def latest_attempts_since(conn: Connection, since: datetime) -> Sequence[AttemptRow]:
    """Every attempt of the runs started since ``since``, oldest run first, with its run's
    id, start, folder and pruning (``jstart`` is the attempt's own start)."""
    return conn.execute(
        select(journey_runs.c.id, journey_runs.c.journey, journey_runs.c.target, journey_runs.c.device,
               journey_runs.c.status, journey_runs.c.outcome, journey_runs.c.latest, journey_runs.c.duration_ms,
               journey_runs.c.started_at.label("jstart"), runs.c.id.label("run_id"), runs.c.started_at,
               runs.c.run_dir, runs.c.report_pruned_at)
        .join(runs, runs.c.id == journey_runs.c.run_id)
        .where(runs.c.started_at >= since)
        .order_by(runs.c.started_at, journey_runs.c.id)
    ).all()


def step_durations_since(conn: Connection, since: datetime) -> Sequence[StepDurationRow]:
    """Timed steps (passed or failed) of the runs started since ``since``."""
    return conn.execute(
        select(step_results.c.journey_run_id, step_results.c.step_index, step_results.c.name,
               step_results.c.status, step_results.c.duration_ms, step_results.c.budget_ms, step_results.c.vitals)
        .join(journey_runs, journey_runs.c.id == step_results.c.journey_run_id)
        .join(runs, runs.c.id == journey_runs.c.run_id)
        .where(runs.c.started_at >= since, step_results.c.status.in_((Status.PASSED, Status.FAILED)),
               step_results.c.duration_ms.is_not(None))
    ).all()


def report_folders(conn: Connection, ids: Iterable[str]) -> Sequence[ReportFolderRow]:
    """``(id, run_dir, report_pruned_at)`` of the given runs."""
    wanted = set(ids)
    if not wanted:
        return []
    return conn.execute(select(runs.c.id, runs.c.run_dir, runs.c.report_pruned_at).where(runs.c.id.in_(wanted))).all()


def folder_names_under(conn: Connection, prefix: str) -> set[str]:
    """Folder names of the runs whose folder path starts with ``prefix``."""
    dirs = conn.execute(select(runs.c.run_dir).where(runs.c.run_dir.startswith(prefix, autoescape=True))).scalars()
    return {Path(d).name for d in dirs if d}


def runs_under(conn: Connection, prefix: str, limit: int) -> Sequence[RowMapping]:
    """The newest ``limit`` runs whose folder path starts with ``prefix``."""
    return conn.execute(
        select(runs).where(runs.c.run_dir.startswith(prefix, autoescape=True))
        .order_by(runs.c.started_at.desc(), runs.c.id.desc()).limit(limit)
    ).mappings().all()


def latest_verdicts(conn: Connection, run_ids: Sequence[str]) -> dict[str, list[dict[str, object]]]:
    """Per run: ``[{name, status}]`` of its journeys' deciding attempts, in order."""
    out: dict[str, list[dict[str, object]]] = {}
    if not run_ids:
        return out
    for j in conn.execute(select(journey_runs.c.run_id, journey_runs.c.journey, journey_runs.c.status)
                          .where(journey_runs.c.run_id.in_(run_ids), journey_runs.c.latest.is_(True))
                          .order_by(journey_runs.c.id)):
        out.setdefault(j.run_id, []).append({"name": j.journey, "status": j.status})
    return out
