"""`patrol schedule` against the real demo bank and real Chromium: firings every
second, restarts and coalescing, SIGTERM mid-run. Asserted from the state database."""

from __future__ import annotations

import json
import re
import signal
import time
from datetime import UTC, datetime, timedelta

import pytest
from rich.text import Text
from schedule_support import OPEN_STEPS, Service, config, rows, run_until, write_journey

from patrol.core.clock import FakeClock
from patrol.schedule.service import SchedulerService


def _intervals(db, journey: str) -> list[tuple[datetime, datetime]]:
    out = []
    for started, duration in rows(db, "SELECT started_at, duration_ms FROM journey_runs WHERE journey = ? ORDER BY started_at", journey):
        start = datetime.fromisoformat(started)
        out.append((start, start.timestamp() + duration / 1000))
    return out


def test_every_second_runs_exactly_the_selected_journeys_one_run_per_firing_never_overlapping(bank, tmp_path):
    folder = tmp_path / "journeys"
    for name in ("alpha", "beta"):
        write_journey(folder, name, base_url=bank.url, tags=("picked",))
    write_journey(folder, "gamma", base_url=bank.url, tags=("other",), steps=OPEN_STEPS)
    config(tmp_path, "state: {url: 'sqlite:///state.db'}\nconcurrency: 2\n"
                     "schedules:\n  fast: {every: 1s, tags: [picked]}\n")
    out = run_until(tmp_path, r"\[fast\] run \S+ passed", "--index-every", "1s", count=3, timeout=120)
    db = tmp_path / "state.db"
    runs = rows(db, "SELECT id, schedule, status FROM runs ORDER BY started_at")
    firings = re.findall(r"\[fast\] firing: (.*)", out)
    assert len(runs) == len(firings) >= 3, out  # one run record per firing
    assert all(schedule == "fast" for _, schedule, _ in runs)
    for run_id, _, status in runs:
        assert status == "passed", out
        journeys = sorted(j for (j,) in rows(db, "SELECT journey FROM journey_runs WHERE run_id = ?", run_id))
        assert journeys == ["alpha", "beta"], "exactly the selected journeys (by tag), gamma never"
    for journey in ("alpha", "beta"):
        spans = _intervals(db, journey)
        assert len(spans) == len(runs)
        for (_start, end), (next_start, _) in zip(spans, spans[1:]):
            assert end <= next_start.timestamp() + 0.05, f"{journey} overlapped itself: {spans}"
    # Firings due while a run was still going were skipped, not queued up (max_instances=1, coalesce).
    assert "later firings are skipped until it finishes" in out
    # History: reports/index.html shows each journey with its trend charts and a link to every run.
    index = (tmp_path / "reports" / "index.html").read_text(encoding="utf-8")
    assert 'id="journey-alpha"' in index and 'id="journey-beta"' in index and "journey-gamma" not in index
    assert index.count('<svg class="spark"') >= 8  # 4 steps x 2 journeys
    for run_id, _, _ in runs:
        assert f'href="{run_id}/index.html"' in index


def _jobs(db) -> list[tuple[str, float]]:
    return rows(db, "SELECT id, next_run_time FROM patrol_schedule_jobs ORDER BY id")


def test_restart_keeps_the_same_jobs_and_a_gap_longer_than_grace_coalesces_into_one_run(bank, tmp_path, patrol):
    folder = tmp_path / "journeys"
    write_journey(folder, "home", base_url=bank.url, steps=OPEN_STEPS)
    cfg = config(tmp_path, "state: {url: 'sqlite:///state.db'}\n"
                           "schedules:\n"
                           "  tick: {every: 1s, journeys: [home]}\n"  # grace: one period (1s)
                           "  nightly: {cron: '0 2 * * *', timezone: Asia/Shanghai, journeys: [home]}\n")
    db = tmp_path / "state.db"
    first = patrol("--config", str(cfg), "schedule", "--once")  # registers the jobs; nothing is due yet
    assert first.code == 0, first.out + first.err
    jobs = _jobs(db)
    assert [j for j, _ in jobs] == ["patrol:retention", "schedule:nightly", "schedule:tick"]
    assert rows(db, "SELECT count(*) FROM runs") == [(0,)]

    # The scheduler is "down" for 3+ firings of `tick`, longer than its 1s grace: `--once`
    # in-process on a clock 3.6 s ahead (the firing itself is real: Chromium, the bank).
    said: list[str] = []
    later = FakeClock(datetime.now(UTC) + timedelta(seconds=3.6))
    service = SchedulerService(str(cfg), say=lambda m: said.append(Text.from_markup(m).plain), clock=later)
    assert service.once() == 0
    second_out = "\n".join(said)
    assert re.search(r"\[tick\] [3-9] firings were missed; they coalesce into one run now", second_out), second_out
    runs = rows(db, "SELECT schedule, status FROM runs")
    assert runs == [("tick", "passed")], "the missed firings became exactly one run"
    after = _jobs(db)
    assert [j for j, _ in after] == [j for j, _ in jobs], "same jobs, no duplicates"
    assert dict(after)["schedule:nightly"] == dict(jobs)["schedule:nightly"], "an unchanged job keeps its next run time"
    assert dict(after)["schedule:tick"] >= dict(jobs)["schedule:tick"] + 3, "tick moved on past the missed firings"

    # A real service start and stop on the same database: still the same jobs, no duplicates.
    svc = Service(tmp_path, "--no-watch")
    try:
        svc.wait_for(r"patrol schedule\S* started")
        assert svc.stop(signal.SIGINT) == 0, svc.text
    finally:
        svc.kill()
    assert [j for j, _ in _jobs(db)] == [j for j, _ in jobs]

    # Changing a schedule replaces its job (same id) instead of adding one.
    config(tmp_path, cfg.read_text().replace("'0 2 * * *'", "'30 1 * * *'"))
    third = patrol("--config", str(cfg), "schedule", "--once")
    assert third.code == 0
    changed = dict(_jobs(db))
    assert sorted(changed) == [j for j, _ in jobs] and changed["schedule:nightly"] != dict(jobs)["schedule:nightly"]


def test_a_second_scheduler_on_the_same_database_is_refused(bank, tmp_path, patrol):
    write_journey(tmp_path / "journeys", "home", base_url=bank.url, steps=OPEN_STEPS)
    cfg = config(tmp_path, "state: {url: 'sqlite:///state.db'}\nschedules:\n  a: {cron: '0 2 * * *'}\n")
    svc = Service(tmp_path, "--no-watch")
    try:
        svc.wait_for(r"started")
        p = patrol("--config", str(cfg), "schedule", "--once")
        assert p.code == 2 and "already running against this state database" in p.err, p.err
        assert svc.stop(signal.SIGTERM) == 0
    finally:
        svc.kill()


def test_sigterm_mid_run_lets_quick_journeys_finish_marks_the_rest_interrupted_and_exits_0(faulty_bank, tmp_path):
    import httpx

    folder = tmp_path / "journeys"
    write_journey(folder, "quick", base_url=faulty_bank.url, steps=OPEN_STEPS)
    # The account API answers after 90s: this journey is still waiting when the service is told to
    # stop (far beyond the bound below, so a loaded machine cannot blur "cut short" and "waited").
    write_journey(folder, "slow", base_url=faulty_bank.url, timeout="120s", journey="150s")
    httpx.post(f"{faulty_bank.url}/__admin/faults", json={"set": {"slow_api": "account:90000"}}).raise_for_status()
    config(tmp_path, "state: {url: 'sqlite:///state.db'}\nconcurrency: 2\n"
                     "schedules:\n  both: {every: 1s, journeys: [quick, slow]}\n")
    svc = Service(tmp_path, "--no-watch", "--stop-timeout", "2s")
    try:
        svc.wait_for(r"✓ quick: passed", timeout=90)
        t0 = time.monotonic()
        code = svc.stop(signal.SIGTERM)
        stopped_in = time.monotonic() - t0
    finally:
        svc.kill()
    out = svc.text
    assert code == 0, out
    assert stopped_in < 45, f"bounded grace: stopped in {stopped_in:.1f}s"
    assert "recorded as interrupted" in out
    db = tmp_path / "state.db"
    (run_id, status, run_dir), = rows(db, "SELECT id, status, run_dir FROM runs")
    statuses = dict(rows(db, "SELECT journey, status FROM journey_runs WHERE run_id = ?", run_id))
    assert statuses == {"quick": "passed", "slow": "interrupted"}
    assert status == "failed"  # an interrupted journey is not a pass
    slow_steps = rows(db, "SELECT s.status FROM step_results s JOIN journey_runs j ON j.id = s.journey_run_id "
                          "WHERE j.journey = 'slow' ORDER BY s.step_index")
    assert [s for (s,) in slow_steps] == ["passed", "passed", "passed", "interrupted"]
    # The run's report is whole: parseable, with both journeys, and nothing half-written anywhere.
    report = json.loads((tmp_path / "reports" / run_id / "report.json").read_text(encoding="utf-8"))
    assert {j["name"]: j["status"] for j in report["journeys"]} == statuses
    assert not list((tmp_path / "reports").rglob("*.part")), "no half-written files"
    assert (tmp_path / "reports" / "index.html").exists()
    # No open incident from an interruption: it says nothing about the app.
    assert rows(db, "SELECT count(*) FROM incidents") == [(0,)]


def test_sighup_and_file_changes_reload_and_a_broken_file_keeps_what_runs(bank, tmp_path):
    write_journey(tmp_path / "journeys", "home", base_url=bank.url, steps=OPEN_STEPS)
    base = "state: {url: 'sqlite:///state.db'}\nschedules:\n  a: {cron: '0 2 * * *', journeys: [home]}\n"
    config(tmp_path, base)
    db = tmp_path / "state.db"
    svc = Service(tmp_path, "--no-watch")
    try:
        svc.wait_for(r"started")
        config(tmp_path, base + "  b: {cron: '0 3 * * *', journeys: [home]}\n")
        svc.proc.send_signal(signal.SIGHUP)
        svc.wait_for(r"reloaded \(SIGHUP\): 3 job")
        assert [j for j, _ in _jobs(db)] == ["patrol:retention", "schedule:a", "schedule:b"]
        config(tmp_path, base + "  b: {cron: 'every night', journeys: [home]}\n")
        svc.proc.send_signal(signal.SIGHUP)
        out = svc.wait_for(r"reload \(SIGHUP\) refused")
        assert f"{tmp_path / 'patrol.yaml'}:4:" in out.replace("\n", "")
        assert [j for j, _ in _jobs(db)] == ["patrol:retention", "schedule:a", "schedule:b"], "what ran keeps running"
        assert svc.stop(signal.SIGTERM) == 0
    finally:
        svc.kill()
    config(tmp_path, base)
    svc = Service(tmp_path)  # watching the files
    try:
        svc.wait_for(r"started")
        assert [j for j, _ in _jobs(db)] == ["patrol:retention", "schedule:a"]
        write_journey(tmp_path / "journeys", "own", base_url=bank.url, steps=OPEN_STEPS, extra="schedule: 10m\n")
        svc.wait_for(r"reloaded \(a file changed\): 3 job", timeout=30)
        assert [j for j, _ in _jobs(db)] == ["journey:own", "patrol:retention", "schedule:a"]
        assert svc.stop(signal.SIGTERM) == 0
    finally:
        svc.kill()


@pytest.mark.faults("slow_api=account:90000")
def test_a_second_sigterm_cuts_running_journeys_short_at_once(faulty_bank, tmp_path):
    # Without the second signal it would wait out the 60s stop timeout: far beyond the bound below.
    write_journey(tmp_path / "journeys", "slow", base_url=faulty_bank.url, timeout="120s", journey="150s")
    config(tmp_path, "state: {url: 'sqlite:///state.db'}\nschedules:\n  s: {every: 1s}\n")
    svc = Service(tmp_path, "--no-watch", "--stop-timeout", "60s")
    try:
        svc.wait_for(r"\[s\] firing: slow")
        time.sleep(1.5)
        svc.proc.send_signal(signal.SIGTERM)
        svc.wait_for(r"stopping: waiting up to 60s")
        t0 = time.monotonic()
        code = svc.stop(signal.SIGTERM)
        took = time.monotonic() - t0
    finally:
        svc.kill()
    assert code == 0 and took < 45, (took, svc.text)
    assert "second signal: stopping now" in svc.text
    assert rows(tmp_path / "state.db", "SELECT journey, status FROM journey_runs") == [("slow", "interrupted")]
