"""History and trends in reports/index.html, and retention, from runs recorded in the
state database over weeks (the runs are built, not patrolled: no browser needed)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select

from patrol.config.incidents import IncidentSettings
from patrol.incidents.service import IncidentService
from patrol.reports import write_all
from patrol.reports.index import write_index
from patrol.results import BREAKPOINT, Finding, JourneyResult, RunResult, StepResult
from patrol.retention.prune import prune
from patrol.retention.settings import RetentionSettings
from patrol.store import open_store
from patrol.store.schema import deliveries, events, incidents, journey_runs, runs, step_results

NOW = datetime.now(UTC).replace(microsecond=0)
STEPS = ["open login", "sign in", "confirm transfer"]


def _run(root: Path, when: datetime, journeys: list[JourneyResult], *, folder: bool = True) -> RunResult:
    run_id = when.strftime("%Y%m%d-%H%M%S-") + f"{len(journeys):02x}{when.microsecond % 256:02x}"
    run = RunResult(run_id, when.isoformat(), finished_at=(when + timedelta(seconds=30)).isoformat(), duration_ms=30000.0,
                    journeys=journeys, run_dir=str(root / run_id))
    run.compute_status()
    if folder:
        (root / run_id / "j").mkdir(parents=True, exist_ok=True)
        (root / run_id / "j" / "01-open-login.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"x" * 1000)
        write_all(run, root / run_id)
    return run


def _journey(name: str, when: datetime, durations: list[float], *, fail: bool = False) -> JourneyResult:
    steps = []
    for i, (step, ms) in enumerate(zip(STEPS, durations), 1):
        sr = StepResult(i, step, "click", status="passed", duration_ms=ms, budget_ms=3000.0, screenshot="j/01-open-login.png")
        if fail and i == 2:
            sr.status = "failed"
            sr.findings = [Finding(kind=BREAKPOINT, reason="expect_failed", message="the button did nothing", evidence={}, fatal=True)]
        steps.append(sr)
    if fail:
        steps[2].status = "skipped"
        steps[2].duration_ms = None
    return JourneyResult(name, f"journeys/{name}.yaml", started_at=when.isoformat(), duration_ms=sum(d for d in durations),
                         status="failed" if fail else "passed", steps=steps)


def _service(tmp_path: Path, when: list[datetime]) -> IncidentService:
    store = open_store(f"sqlite:///{tmp_path}/state.db")
    return IncidentService(store, IncidentSettings(confirm=0), {}, None, clock=lambda: when[0])


def test_index_shows_pass_rates_step_trends_incidents_and_links(tmp_path):
    root = tmp_path / "reports"
    clock = [NOW]
    svc = _service(tmp_path, clock)
    # 20 days of a nightly patrol: `transfer`'s confirm step creeps from 0.6s towards its 3s budget;
    # `login` is steady but failed on 2 of the last 7 nights (one of them still open as an incident).
    for day in range(20, 0, -1):
        when = NOW - timedelta(days=day, hours=-2)
        clock[0] = when + timedelta(minutes=1)
        creep = 600 + (20 - day) * 120
        login_fails = day in (5, 1)
        svc.record_run(_run(root, when, [
            _journey("login", when, [400, 800, 500], fail=login_fails),
            _journey("transfer", when, [420, 810, creep]),
        ]))
    write_index(root, store=svc.store)
    html = (root / "index.html").read_text(encoding="utf-8")

    login = html.split('id="journey-login"', 1)[1].split('class="jcard"', 1)[0]
    transfer = html.split('id="journey-transfer"', 1)[1].split('class="jcard"', 1)[0]
    assert "7d 71% (5/7)" in login and "30d 90% (18/20)" in login
    assert "7d 100% (7/7)" in transfer and "30d 100% (20/20)" in transfer
    # Pictures, not only numbers: one chart per step, with the budget line where it is in range.
    assert transfer.count('<svg class="spark"') == 3 and "stroke-dasharray" in transfer
    assert "per day, 30 days" in transfer
    # The creeping step is called out before it becomes a stall; the steady ones are not.
    creeping = re.findall(r"<td>([^<]+)<div class=\"creep\"[^>]*>▲ creeping: ([^<]+)</div>", transfer)
    assert [name for name, _ in creeping] == ["confirm transfer"], creeping
    assert "p95 up" in creeping[0][1] and "of its 3.00s budget" in creeping[0][1]
    assert "creeping" not in login
    # The open incident, with a link to the run that last showed it.
    incident = re.search(r'<div class="incident critical"><b>#(\d+)</b> breakpoint/expect_failed at “sign in”[^<]*'
                         r'<a href="([^"]+)">latest run</a>', login)
    assert incident, login
    assert (root / incident.group(2)).exists()
    # Every run of each journey links to its report.
    links = re.findall(r'<a class="(passed|failed)" href="([^"]+)"', login)
    assert len(links) == 20 and all((root / href).exists() for _, href in links)
    assert [s for s, _ in links].count("failed") == 2
    # The run table comes from the database, newest first, each with its report link.
    table = html.split("<h2>Runs</h2>", 1)[1]
    ids = re.findall(r'<a href="(\d{8}-\d{6}-\w+)/index.html">', table)
    assert len(ids) == 20 and ids == sorted(ids, reverse=True)


def test_a_fresh_install_charts_single_runs(tmp_path):
    root = tmp_path / "reports"
    clock = [NOW]
    svc = _service(tmp_path, clock)
    for i in range(4):
        when = NOW - timedelta(minutes=10 * (4 - i))
        svc.record_run(_run(root, when, [_journey("login", when, [400, 800 + i * 10, 500])]))
    write_index(root, store=svc.store)
    html = (root / "index.html").read_text(encoding="utf-8")
    assert "per run, 30 days" in html and html.count("<polyline") == 6  # p50 + p95 per step


def _count(store, table) -> int:
    from sqlalchemy import func

    with store.read() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_retention_prunes_by_age_but_never_what_an_open_incident_needs(tmp_path, patrol):
    root = tmp_path / "reports"
    clock = [NOW]
    svc = _service(tmp_path, clock)

    def record(days: float, fail: bool = False) -> RunResult:
        when = NOW - timedelta(days=days)
        clock[0] = when
        run = _run(root, when, [_journey("login", when, [400, 800, 500], fail=fail)])
        svc.record_run(run)
        return run

    ancient = record(500)  # older than runs: 400d -> record and folder gone
    old_report = record(200)  # older than reports: 180d -> folder gone, record (durations) kept
    old_shots = record(40)  # older than screenshots: 30d -> images gone, report kept
    incident_run = record(45, fail=True)  # opens an incident that is still open: untouchable
    fresh = record(2)
    orphan = root / "20250101-000000-abcd"  # a folder from a run never recorded (state: false back then)
    orphan.mkdir(parents=True)
    (orphan / "report.json").write_text(json.dumps({"run_id": orphan.name, "started_at": "2025-01-01T00:00:00+00:00"}))
    outside = tmp_path / "elsewhere"  # an --output folder outside the reports folder is never touched
    outside_run = RunResult("outside-run", (NOW - timedelta(days=300)).isoformat(), run_dir=str(outside))
    outside.mkdir()
    (outside / "report.json").write_text("{}")
    (outside / "x.png").write_bytes(b"png")
    clock[0] = NOW - timedelta(days=300)
    svc.record_run(outside_run)
    with svc.store.write() as conn:  # an old sent delivery goes, a pending one stays
        ev = conn.execute(insert(events).values(uid="e1", type="incident.opened", at=NOW - timedelta(days=100),
                                                notified=True, payload={})).inserted_primary_key[0]
        for status in ("sent", "pending"):
            conn.execute(insert(deliveries).values(
                event_id=ev, receiver="r", format="slack", stream="s", status=status, attempts=1, parts_done=0,
                created_at=NOW - timedelta(days=100), queued_at=NOW - timedelta(days=100),
                next_attempt_at=NOW - timedelta(days=100)))
    with svc.store.read() as conn:
        assert conn.execute(select(incidents.c.status, incidents.c.first_run_id)).all() == [("open", incident_run.run_id)]

    cfg = tmp_path / "patrol.yaml"
    cfg.write_text(f"state: {{url: 'sqlite:///{tmp_path}/state.db'}}\nreports: {root}\n"
                   "retention: {screenshots: 30d, reports: 180d, runs: 400d, deliveries: 90d}\n", encoding="utf-8")
    p = patrol("--config", str(cfg), "schedule", "--prune")
    assert p.code == 0, p.out + p.err
    assert "kept 1 old run(s) that open incidents or pending notifications refer to" in p.out

    def pngs(run):
        return list((root / run.run_id).rglob("*.png"))

    assert not (root / ancient.run_id).exists() and not (root / old_report.run_id).exists()
    assert (root / old_shots.run_id / "report.json").exists() and not pngs(old_shots)
    assert pngs(incident_run) and (root / incident_run.run_id / "report.json").exists()
    assert pngs(fresh)
    assert not orphan.exists()
    assert (outside / "x.png").exists() and (outside / "report.json").exists()
    with svc.store.read() as conn:
        kept = dict(conn.execute(select(runs.c.id, runs.c.report_pruned_at)).all())
        shots = dict(conn.execute(select(runs.c.id, runs.c.screenshots_pruned_at)).all())
        statuses = conn.execute(select(deliveries.c.status)).scalars().all()
    assert ancient.run_id not in kept, "the run record went, with its attempts and steps (cascade)"
    assert kept[old_report.run_id] is not None and shots[old_shots.run_id] is not None
    assert kept[incident_run.run_id] is None and shots[incident_run.run_id] is None
    assert statuses == ["pending"]
    assert _count(svc.store, journey_runs) == 4 and _count(svc.store, step_results) == 4 * 3
    # Idempotent: a second pass has nothing left to do.
    again = prune(RetentionSettings(), root, svc.store)
    assert again.reports == again.runs == again.screenshots == 0
    # The index marks what retention removed.
    html = (root / "index.html").read_text(encoding="utf-8")
    assert f"{old_report.run_id} <span class=\"muted\">(report pruned)</span>" in html
