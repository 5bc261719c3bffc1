"""The fleet when the database blinks or a worker dies (issue 25), with real parts: the suite's private
PostgreSQL and redis-server, `patrol worker` and `patrol schedule` as real processes patrolling the demo bank.

- PostgreSQL stopped at the moment a worker writes the report index (after its run was recorded) and started
  4 s later: the firing ends `finished` with its run, and the next slot fires on time.
- A worker killed mid-journey with the recommended `visibility_timeout: 2h`: the leader notices the lost lease
  and the journey is patrolled again within 90 s; no slot runs twice, also when the broker hands the old task
  out again later.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC
from pathlib import Path

import pytest
from fleet_support import Proc, fleet_project, procs, query, wait_until  # noqa: F401  (procs: fixture)
from pg_server import pg_server, postgres_url  # noqa: F401  (fixtures)
from redis_server import redis_server, redis_url  # noqa: F401  (fixtures)
from schedule_support import OPEN_STEPS, write_journey

pytestmark = pytest.mark.xdist_group("fleet")

# `patrol` with a pause in the worker's report-index write: the test takes the database away right there.
PAUSED_INDEX = '''\
import pathlib, runpy, sys, time
import patrol.reports.index as index

real, marker = index.write_index, pathlib.Path(sys.argv.pop(1))

def paused(*args, **kwargs):
    if not marker.with_suffix(".done").exists():
        marker.write_text("at the index")
        deadline = time.monotonic() + 120
        while marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        marker.with_suffix(".done").write_text("")
    return real(*args, **kwargs)

index.write_index = paused
sys.argv[0] = "patrol"
runpy.run_module("patrol", run_name="__main__")
'''


class HookedProc(Proc):
    """A `patrol` process like ``Proc``, started through a script of the test's own."""

    def __init__(self, folder: Path, name: str, script: Path, *args: str):
        self.log = folder / f"{name}.log"
        self.out = open(self.log, "w", encoding="utf-8")
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "220"}
        self.proc = subprocess.Popen([sys.executable, str(script), *args, "--config", str(folder / "patrol.yaml")],
                                     cwd=folder, env=env, stdout=self.out, stderr=subprocess.STDOUT, text=True,
                                     start_new_session=True)


def test_the_database_blinks_as_the_report_index_is_written_the_firing_finishes_and_the_next_slot_fires(
        bank, tmp_path, pg_server, postgres_url, redis_url, procs):
    fleet_project(tmp_path, postgres_url, redis_url, "{every: 5s}")
    write_journey(tmp_path / "journeys", "quick", base_url=bank.url, steps=OPEN_STEPS)
    script, marker = tmp_path / "paused_index.py", tmp_path / "index.marker"
    script.write_text(PAUSED_INDEX, encoding="utf-8")
    worker = HookedProc(tmp_path, "w1", script, str(marker), "worker", "--concurrency", "1", "--name", "w1@test")
    procs.append(worker)
    worker.wait_for("patrol worker")
    leader = Proc(tmp_path, "leader", "schedule", "--no-watch")
    procs.append(leader)
    wait_until(marker.exists, 120)
    # The run is recorded; the worker is about to write the index, then to finish the firing.
    blinked = query(postgres_url, "SELECT key, run_id FROM fleet_firings WHERE state = 'running'")
    assert len(blinked) == 1, blinked
    key, run_id = blinked[0]
    assert query(postgres_url, "SELECT id FROM runs WHERE id = :id", id=run_id) == [(run_id,)]
    pg_server.down()
    down_at = time.time()
    marker.unlink()
    time.sleep(4)
    pg_server.up()
    up_at = time.time()

    def finished():
        return query(postgres_url, "SELECT state, run_id, finished_at FROM fleet_firings WHERE key = :k", k=key)[0]

    _, finished_run, finished_at = wait_until(lambda: (row := finished())[0] == "finished" and row, 60)
    assert finished_run == run_id
    assert query(postgres_url, "SELECT status FROM fleet_attempts WHERE firing_key = :k", k=key) == [("finished",)]
    # The next slot fires on time: within one period (5 s) and some slack after the database came back.
    later = wait_until(lambda: query(postgres_url, "SELECT fire_time, state FROM fleet_firings WHERE fire_time > "
                                                   "(SELECT fire_time FROM fleet_firings WHERE key = :k) "
                                                   "ORDER BY fire_time", k=key), 60)
    next_fire = later[0][0].replace(tzinfo=UTC).timestamp()
    assert next_fire <= max(up_at, finished_at.replace(tzinfo=UTC).timestamp()) + 5 + 2, (later, up_at, finished_at)
    wait_until(lambda: query(postgres_url, "SELECT count(*) FROM fleet_firings WHERE state = 'finished'")[0][0] >= 2, 60)
    leader.stop()
    worker.stop()
    out = worker.text
    assert "Traceback" not in out and "the firing failed" not in out, out
    assert "the state database is away" in out or "index was not refreshed" in out, out
    states = query(postgres_url, "SELECT state FROM fleet_firings")
    assert all(s == "finished" for (s,) in states), states
    runs = {r for (r,) in query(postgres_url, "SELECT id FROM runs")}
    assert {r for (r,) in query(postgres_url, "SELECT run_id FROM fleet_firings")} == runs
    print(f"database away {up_at - down_at:.1f}s; firing finished {finished_at}; next slot {later[0][0]}")


def test_a_worker_killed_mid_journey_is_noticed_by_the_leader_and_a_late_redelivery_runs_nothing(
        bank, tmp_path, postgres_url, redis_url, procs):
    # The recommended visibility timeout: the broker would hand the lost task out again only after two hours.
    fleet_project(tmp_path, postgres_url, redis_url, "{cron: '0 2 * * *'}", visibility="2h")
    write_journey(tmp_path / "journeys", "slow", base_url=bank.url, steps=OPEN_STEPS + "  - name: linger\n    wait: 10s\n")
    workers = {name: Proc(tmp_path, name, "worker", "--concurrency", "1", "--name", name) for name in ("w1", "w2")}
    procs.extend(workers.values())
    for p in workers.values():
        p.wait_for("patrol worker")
    if os.geteuid() == 0:  # said Patrol's way, once, instead of Celery's SecurityWarning
        assert "runs as root: it needs no privileges" in workers["w1"].text
    assert "SecurityWarning" not in workers["w1"].text
    leader = Proc(tmp_path, "leader", "schedule", "--no-watch")
    procs.append(leader)
    leader.wait_for("leading")

    from datetime import datetime, timedelta

    from patrol.config import load_config
    from patrol.fleet.app import TASK, make_app
    from patrol.fleet.dispatch import FleetDispatch, payload
    from patrol.schedule.plan import build_plan
    from patrol.store import fleet_repo, open_store

    config = load_config(str(tmp_path / "patrol.yaml"))
    plan = build_plan(config)
    spec, journeys = plan.lookup("schedule:tick")
    store = open_store(postgres_url)
    dispatch = FleetDispatch(plan.config, store)
    # The latest 02:00 slot: the next one is hours away, so the lost firing is sent again, not missed.
    slot = datetime.now(UTC).replace(hour=2, minute=0, second=0, microsecond=0)
    slot -= timedelta(days=1) if slot > datetime.now(UTC) else timedelta(0)
    assert dispatch.dispatch(spec, journeys, slot).sent == [("slow", "web")]
    dispatch.close()
    store.close()
    running = wait_until(lambda: query(postgres_url, "SELECT worker FROM fleet_firings WHERE state = 'running'"), 60)
    doomed = running[0][0]
    other = next(name for name in workers if name != doomed)
    status = subprocess.run([sys.executable, "-m", "patrol", "fleet", "status", "--json", "--config",
                             str(tmp_path / "patrol.yaml")], capture_output=True, text=True, timeout=60)
    # One name everywhere: `--name w1` is w1 in the worker list, the leases and the attempts (not celery@w1).
    assert json.loads(status.stdout)["workers"] == {"w1": ["web"], "w2": ["web"]}, status.stdout
    time.sleep(1)  # mid-journey
    workers[doomed].kill9()
    killed_at = datetime.now(UTC)

    wait_until(lambda: query(postgres_url, "SELECT state FROM fleet_firings") == [("finished",)], 90)
    attempts = query(postgres_url, "SELECT attempt, worker, status, run_id, started_at FROM fleet_attempts ORDER BY attempt")
    assert [(a[0], a[1], a[2]) for a in attempts] == [(1, doomed, "interrupted"), (2, other, "finished")]
    again_s = (attempts[1][4].replace(tzinfo=UTC) - killed_at).total_seconds()
    assert again_s <= 90, again_s
    runs = query(postgres_url, "SELECT id, status FROM runs")
    assert runs == [(attempts[1][3], "passed")]
    assert "was cut short" in leader.text and "sent again" in leader.text, leader.text

    # The broker hands the lost task out again (as it would after the visibility timeout): nothing runs.
    key = fleet_repo.firing_key(spec.job_id, "slow", slot)
    app = make_app(config)
    try:
        app.send_task(TASK, kwargs=payload(key, spec, journeys[0], slot, "web", slot), queue="web", routing_key="web")
    finally:
        app.close()
    wait_until(lambda: "already has its run: nothing to do" in workers[other].text, 60)
    assert query(postgres_url, "SELECT count(*) FROM fleet_attempts") == [(2,)]
    assert query(postgres_url, "SELECT id, status FROM runs") == runs
    print(f"patrolled again {again_s:.1f}s after kill -9")


def test_the_leaders_rescue_of_a_lost_lease_on_the_real_postgresql(postgres_url):
    from datetime import datetime, timedelta

    from sqlalchemy import insert

    from patrol.store import fleet_repo, open_store
    from patrol.store.schema import runs

    store = open_store(postgres_url)
    t0 = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
    row = {"job_id": "schedule:tick", "schedule": "tick", "journey": "home", "queue": "web"}

    def started(key, run_id, at):
        with store.write() as conn:
            fleet_repo.enqueue(conn, key=key, now=at, stale_after_s=3600, fire_time=at, **row)
            return fleet_repo.claim(conn, key=key, worker="w1", run_id=run_id, now=at, lease_s=30,
                                    row_if_missing={**row, "fire_time": at})

    def rescue(key, at, resend):
        with store.write() as conn:
            return fleet_repo.rescue(conn, key=key, now=at, resend=resend)

    def claim(key, run_id, at, worker="w2"):
        with store.write() as conn:
            return fleet_repo.claim(conn, key=key, worker=worker, run_id=run_id, now=at, lease_s=30,
                                    row_if_missing={**row, "fire_time": t0})

    a, b, c = (fleet_repo.firing_key("schedule:tick", "home", t0 + timedelta(hours=h)) for h in (0, 1, 2))
    assert started(a, "r-a1", t0).verdict == fleet_repo.Verdict.RUN
    assert rescue(a, t0 + timedelta(seconds=29), True) == (fleet_repo.Rescue.ALIVE, None)  # a live lease is left alone
    late = t0 + timedelta(seconds=31)
    with store.read() as conn:
        assert [f["key"] for f in fleet_repo.expired(conn, late)] == [a]
    assert rescue(a, late, True) == (fleet_repo.Rescue.RESEND, "r-a1")
    assert rescue(a, late, True) == (fleet_repo.Rescue.ALIVE, None)  # decided once
    assert claim(a, "r-a2", late).verdict == fleet_repo.Verdict.RUN  # the re-sent task (or the old one) runs it once
    assert claim(a, "r-a3", late, worker="w3").verdict == fleet_repo.Verdict.BUSY  # the other of the two waits...
    with store.write() as conn:
        fleet_repo.finish(conn, key=a, run_id="r-a2", now=late)
    assert claim(a, "r-a4", late).verdict == fleet_repo.Verdict.DONE  # ...and then drops

    t1 = t0 + timedelta(hours=1)
    started(b, "r-b1", t1)
    assert rescue(b, t1 + timedelta(minutes=1), False) == (fleet_repo.Rescue.MISSED, "r-b1")
    assert claim(b, "r-b2", t1 + timedelta(minutes=2)).verdict == fleet_repo.Verdict.DONE  # a late redelivery: dropped

    t2 = t0 + timedelta(hours=2)
    started(c, "r-c1", t2)
    with store.write() as conn:  # its worker recorded the run, then died before finishing the firing
        conn.execute(insert(runs).values(id="r-c1", recorded_at=t2, status="passed", summary={}))
    assert rescue(c, t2 + timedelta(minutes=1), True) == (fleet_repo.Rescue.FINISHED, "r-c1")
    with store.read() as conn:
        states = {f["key"]: f["state"] for f in fleet_repo.firings(conn)}
        interrupted = [x["run_id"] for x in fleet_repo.attempts(conn) if x["status"] == "interrupted"]
    assert states == {a: "finished", b: "missed", c: "finished"}
    assert interrupted == ["r-a1", "r-b1"]
    store.close()


# -- without the fleet extras -----------------------------------------------------------------------------------------
HIDDEN = "import sys, runpy; sys.modules['celery'] = None; sys.argv[0] = 'patrol'; runpy.run_module('patrol', run_name='__main__')"


def _without_celery(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", HIDDEN, *args, "--config", str(folder / "patrol.yaml")], cwd=folder,
                          capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"})


def test_without_the_fleet_extras_worker_schedule_and_status_exit_3_with_the_fix_and_doctor_says_so(tmp_path):
    (tmp_path / "patrol.yaml").write_text("state: {url: 'sqlite:///state.db'}\nfleet: {broker: 'redis://127.0.0.1:9/0'}\n"
                                          "schedules:\n  a: {cron: '0 2 * * *', journeys: [home]}\n", encoding="utf-8")
    write_journey(tmp_path / "journeys", "home", steps=OPEN_STEPS)
    for command in (["worker"], ["fleet", "status"], ["schedule", "--no-watch"]):
        done = _without_celery(tmp_path, *command)
        out = done.stdout + done.stderr
        assert done.returncode == 3, out
        assert "needs Celery, not installed here" in out and "pip install 'patrol[fleet]'" in out, out
        assert "Traceback" not in out and "internal error" not in out, out
    done = _without_celery(tmp_path, "doctor")
    out = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == 1, out
    assert "missing fleet (celery, redis, psycopg) Celery not installed; patrol.yaml has a fleet: section" in out, out
    assert "fix: pip install 'patrol[fleet]'" in out, out
