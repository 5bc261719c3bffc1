"""The fleet (issue 13) with real parts: a private redis-server and PostgreSQL the tests
start, `patrol worker` and `patrol schedule` as real processes (Celery workers, real
Chromium) patrolling the real demo bank; what happened is read back from PostgreSQL.

Timings: schedules fire every 3 s; the tests' fleet has a 12 s visibility timeout
and a 3 s lease, so a lost worker's task comes back within ~15 s."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, timedelta

import pytest
from fleet_support import Proc, fleet_project, procs, query, wait_until  # noqa: F401  (procs: fixture)
from pg_server import pg_server, postgres_url  # noqa: F401  (fixtures)
from redis_server import redis_server, redis_url  # noqa: F401  (fixtures)
from schedule_support import OPEN_STEPS, write_journey

from patrol.config import load_config
from patrol.errors import ConfigError

pytestmark = pytest.mark.xdist_group("fleet")  # one redis-server and one PostgreSQL for the file

def slow_steps(wait: str) -> str:
    return OPEN_STEPS + f"  - name: linger\n    wait: {wait}\n"


# -- patrol.yaml fleet: ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("body, line, col, words", [
    ("fleet:\n  broker: http://x:6379\n", 2, 11, "redis:// or rediss://"),
    ("fleet:\n  queues: [web, 'app:']\n", 1, 1, "missing key 'broker'"),
    ("fleet:\n  broker: redis://h/0\n  queues: [web, 'phone']\n", 3, 17, "app:<device>"),
    ("fleet:\n  broker: redis://h/0\n  visibility_timeout: 1m\n  lease: 2m\n", 4, 10, "shorter than visibility_timeout"),
    ("fleet:\n  broker: redis://h/0\n  brokr: x\n", 3, 3, "did you mean 'broker'"),
    ("fleet:\n  broker: redis://h/0\n  visibility_timeout: soon\n", 3, 23, "visibility_timeout"),
])
def test_a_bad_fleet_section_is_a_positioned_problem(tmp_path, body, line, col, words):
    path = tmp_path / "patrol.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_config(str(path))
    assert f"{path}:{line}:{col}" in str(e.value), str(e.value)
    assert words in str(e.value)


def test_a_fleet_section_parses_and_none_means_no_fleet(tmp_path):
    path = tmp_path / "patrol.yaml"
    path.write_text("fleet:\n  broker: redis://:${secret:REDIS_PW}@r:6379/1\n  queues: [web, 'app:pixel-8']\n"
                    "  visibility_timeout: 2h\n  lease: 30s\n", encoding="utf-8")
    fleet = load_config(str(path)).settings.fleet
    assert fleet.enabled and fleet.broker == "redis://:${secret:REDIS_PW}@r:6379/1"
    assert fleet.queues == ("web", "app:pixel-8") and fleet.visibility_timeout_s == 7200 and fleet.lease_s == 30
    path.write_text("concurrency: 2\n", encoding="utf-8")
    assert not load_config(str(path)).settings.fleet.enabled


def test_worker_without_a_fleet_is_an_input_error(tmp_path):
    (tmp_path / "patrol.yaml").write_text("concurrency: 1\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "patrol", "worker", "--config", str(tmp_path / "patrol.yaml")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "needs a fleet" in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


# -- the fleet, for real ----------------------------------------------------------------------------------------------
def test_two_workers_and_two_schedulers_one_run_per_firing_and_a_standby_takes_over(bank, tmp_path, postgres_url,
                                                                                    redis_url, procs):
    fleet_project(tmp_path, postgres_url, redis_url, "{every: 3s}")
    journeys = tmp_path / "journeys"
    write_journey(journeys, "quick", base_url=bank.url, steps=OPEN_STEPS)
    write_journey(journeys, "slow", base_url=bank.url, steps=slow_steps("4s"))  # 3 s period: overlaps itself
    for name in ("w1", "w2"):
        procs.append(Proc(tmp_path, name, "worker", "--concurrency", "1", "--name", f"{name}@test"))
    for p in procs:
        p.wait_for("patrol worker")
    leader = Proc(tmp_path, "leader", "schedule", "--no-watch")
    procs.append(leader)
    leader.wait_for("leading")
    started = time.time()
    standby = Proc(tmp_path, "standby", "schedule", "--no-watch")
    procs.append(standby)
    time.sleep(13)
    assert "leading" not in standby.text  # one active scheduler
    leader.kill9()
    killed_at = time.time()
    standby.wait_for("leading", timeout=30)
    took_over_s = time.time() - killed_at
    time.sleep(max(10.0, 60 - (time.time() - started)))  # a minute of firings in all
    standby.stop()
    settle = "SELECT count(*) FROM fleet_firings WHERE state IN ('queued', 'running')"
    wait_until(lambda: query(postgres_url, settle)[0][0] == 0, 40)
    for p in procs[:2]:
        p.stop()

    firings = query(postgres_url, "SELECT key, journey, fire_time, state, run_id, attempts FROM fleet_firings "
                                  "ORDER BY fire_time")
    runs = query(postgres_url, "SELECT id, schedule, status FROM runs")
    assert took_over_s <= 30
    assert all(f[3] == "finished" for f in firings), firings
    # Exactly one recorded run per firing, and each run is its firing's.
    assert sorted(f[4] for f in firings) == sorted(r[0] for r in runs)
    assert all(r[1] == "tick" and r[2] == "passed" for r in runs), runs
    # Over a minute of 3 s slots; a journey still running at its next slot skips it (slow always does, quick
    # does on a loaded machine), so the counts are floors, not exact.
    for name, least in (("quick", 3), ("slow", 2)):
        times = [f[2].replace(tzinfo=UTC) for f in firings if f[1] == name]
        assert len(times) >= least, (name, times)
        gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:])]
        # No slot fired twice (also by the dying leader and the new one), every slot is on the 3 s grid.
        assert all(g >= 2.9 and abs(g / 3 - round(g / 3)) < 0.05 for g in gaps), (name, gaps)
    # Fired on both sides of the kill; the slot the new leader fires first is on the same grid.
    stamps = [f[2].replace(tzinfo=UTC).timestamp() for f in firings]
    assert any(t > killed_at for t in stamps) and any(t < killed_at for t in stamps)
    # No journey overlaps itself: its recorded attempts, in time, one after the other.
    spans = query(postgres_url, "SELECT journey, started_at, duration_ms FROM journey_runs ORDER BY journey, started_at")
    for a, b in zip(spans, spans[1:]):
        if a[0] == b[0]:
            assert a[1] + timedelta(milliseconds=a[2]) <= b[1], (a, b)
    # The slow journey was still running at some of its slots: those were skipped, not queued behind it.
    assert "skipping slow" in leader.text + standby.text
    workers = {r[0] for r in query(postgres_url, "SELECT DISTINCT worker FROM fleet_attempts")}
    assert len(workers) == 2, workers


def test_a_worker_killed_mid_journey_the_other_runs_the_firing_again_and_the_cut_attempt_is_interrupted(
        bank, tmp_path, postgres_url, redis_url, procs):
    # Fired by the test itself; the journey lingers 10 s, the broker gives a lost worker's task on after 20 s.
    fleet_project(tmp_path, postgres_url, redis_url, "{cron: '0 2 * * *'}", visibility="20s")
    write_journey(tmp_path / "journeys", "slow", base_url=bank.url, steps=slow_steps("10s"))
    workers = {name: Proc(tmp_path, name, "worker", "--concurrency", "1", "--name", f"{name}@test") for name in ("w1", "w2")}
    procs.extend(workers.values())
    for p in workers.values():
        p.wait_for("patrol worker")

    from datetime import datetime

    from patrol.fleet.dispatch import FleetDispatch
    from patrol.schedule.plan import build_plan
    from patrol.store import open_store

    plan = build_plan(load_config(str(tmp_path / "patrol.yaml")))
    spec, journeys = plan.lookup("schedule:tick")
    store = open_store(postgres_url)
    dispatch = FleetDispatch(plan.config, store)
    slot = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
    assert dispatch.dispatch(spec, journeys, slot).sent == [("slow", "web")]
    assert dispatch.dispatch(spec, journeys, slot).duplicate == ["slow"]  # the same slot is sent once
    dispatch.close()
    store.close()
    running = wait_until(lambda: query(postgres_url, "SELECT worker FROM fleet_firings WHERE state = 'running'"), 60)
    doomed = running[0][0]
    other = next(name for name in workers if f"{name}@test" != doomed)

    status = subprocess.run([sys.executable, "-m", "patrol", "fleet", "status", "--json", "--config",
                             str(tmp_path / "patrol.yaml")], capture_output=True, text=True, timeout=60)
    assert status.returncode == 0, status.stdout + status.stderr
    seen = json.loads(status.stdout)
    assert seen["leader"] is None and seen["problems"] == []  # no scheduler in this test
    assert seen["workers"] == {"w1@test": ["web"], "w2@test": ["web"]}
    assert seen["busy"] == {doomed: 1, f"{other}@test": 0}
    assert [(r["journey"], r["worker"], r["attempts"]) for r in seen["running"]] == [("slow", doomed, 1)]
    assert seen["queues"] == {"web": 0} and seen["oldest_waiting"] is None
    assert query(postgres_url, "SELECT state FROM fleet_firings") == [("running",)]  # still mid-journey
    workers[doomed.split("@")[0]].kill9()

    wait_until(lambda: query(postgres_url, "SELECT state FROM fleet_firings") == [("finished",)], 60)
    attempts = query(postgres_url, "SELECT attempt, worker, status, run_id FROM fleet_attempts ORDER BY attempt")
    assert [(a[0], a[1], a[2]) for a in attempts] == [(1, doomed, "interrupted"), (2, f"{other}@test", "finished")]
    runs = query(postgres_url, "SELECT id, status FROM runs")
    assert runs == [(attempts[1][3], "passed")]  # one finished run; the cut-short attempt is no run and no incident
    assert query(postgres_url, "SELECT count(*) FROM incidents") == [(0,)]
    assert "was cut short" in workers[other].text and "recorded as interrupted" in workers[other].text


# -- the firing's claims, on the real PostgreSQL ---------------------------------------------------------------------------
def test_claims_run_once_wait_for_a_live_lease_take_over_a_dead_one_and_finish_a_recorded_run(postgres_url):
    from datetime import datetime

    from sqlalchemy import insert

    from patrol.store import fleet_repo, open_store
    from patrol.store.schema import runs

    store = open_store(postgres_url)
    t0 = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
    key = fleet_repo.firing_key("schedule:tick", "home", t0)
    row = {"job_id": "schedule:tick", "schedule": "tick", "journey": "home", "fire_time": t0, "queue": "web"}

    def enqueue(key, at):
        with store.write() as conn:
            return fleet_repo.enqueue(conn, key=key, now=at, stale_after_s=3600, **{**row, "fire_time": at})

    def claim(worker, run_id, at):
        with store.write() as conn:
            return fleet_repo.claim(conn, key=key, worker=worker, run_id=run_id, now=at, lease_s=30, row_if_missing=row)

    assert enqueue(key, t0) == fleet_repo.Enqueue.NEW
    assert enqueue(key, t0) == fleet_repo.Enqueue.DUPLICATE
    assert claim("a", "r1", t0).verdict == fleet_repo.Verdict.RUN
    # The journey's next slot while this one runs: skipped, it never overlaps itself.
    assert enqueue(fleet_repo.firing_key("schedule:tick", "home", t0 + timedelta(seconds=60)),
                   t0 + timedelta(seconds=60)) == fleet_repo.Enqueue.BUSY
    busy = claim("b", "r2", t0 + timedelta(seconds=10))  # a's lease holds 20 s more
    assert busy.verdict == fleet_repo.Verdict.BUSY and busy.retry_in_s == 20
    taken = claim("b", "r2", t0 + timedelta(seconds=31))  # a stopped renewing: lost
    assert (taken.verdict, taken.attempt, taken.interrupted) == (fleet_repo.Verdict.RUN, 2, ["r1"])
    with store.write() as conn:  # a comes back: the firing is no longer its own
        assert not fleet_repo.renew(conn, key=key, run_id="r1", until=t0 + timedelta(seconds=90))
        assert not fleet_repo.finish(conn, key=key, run_id="r1", now=t0 + timedelta(seconds=32))
        # b records its run, then dies before marking the firing finished.
        conn.execute(insert(runs).values(id="r2", recorded_at=t0, status="passed", summary={}))
    done = claim("c", "r3", t0 + timedelta(seconds=90))
    assert done.verdict == fleet_repo.Verdict.DONE  # not run a second time
    assert claim("d", "r4", t0 + timedelta(seconds=91)).verdict == fleet_repo.Verdict.DONE
    with store.read() as conn:
        assert [(f["state"], f["run_id"], f["attempts"]) for f in fleet_repo.firings(conn)] == [("finished", "r2", 2)]
        assert [(a["run_id"], a["worker"], a["status"]) for a in fleet_repo.attempts(conn, key)] == [
            ("r1", "a", "interrupted"), ("r2", "b", "finished")]
    store.close()


# -- the broker and the state database restart under a running fleet -----------------------------------------------
SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # a Standard Webhooks secret (base64 of 24 bytes)


def firing_rows(url: str) -> list[tuple]:
    return query(url, "SELECT key, journey, fire_time, state, run_id FROM fleet_firings ORDER BY fire_time")


def test_redis_restarted_mid_run_workers_and_scheduler_reconnect_and_the_running_journey_is_recorded(
        bank, tmp_path, postgres_url, redis_server, redis_url, procs):
    fleet_project(tmp_path, postgres_url, redis_url, "{every: 3s}")
    write_journey(tmp_path / "journeys", "slow", base_url=bank.url, steps=slow_steps("6s"))
    worker = Proc(tmp_path, "w1", "worker", "--concurrency", "1", "--name", "w1@test")
    procs.append(worker)
    worker.wait_for("patrol worker")
    leader = Proc(tmp_path, "leader", "schedule", "--no-watch")
    procs.append(leader)
    leader.wait_for("leading")
    running = wait_until(lambda: [f for f in firing_rows(postgres_url) if f[3] == "running"], 60)
    cut_key, cut_run = running[0][0], running[0][4]

    redis_server.stop()  # mid-journey: the broker (and every queued task, the leader lock) is gone
    time.sleep(2)
    redis_server.start()  # the same port, empty (no persistence)
    back_at = time.time()

    # The journey that was running when the broker went away is recorded as its firing's run.
    wait_until(lambda: any(f[0] == cut_key and f[3] == "finished" for f in firing_rows(postgres_url)), 60)
    assert query(postgres_url, "SELECT id, status FROM runs WHERE id = :id", id=cut_run) == [(cut_run, "passed")]
    # Both reconnected: a slot fired after the restart is sent, taken and recorded.
    later = wait_until(lambda: [f for f in firing_rows(postgres_url)
                                if f[2].replace(tzinfo=UTC).timestamp() > back_at and f[3] == "finished"], 60)
    assert query(postgres_url, "SELECT status FROM runs WHERE id = :id", id=later[0][4]) == [("passed",)]
    leader.stop()
    worker.stop()
    finished = [f for f in firing_rows(postgres_url) if f[3] == "finished"]
    runs = query(postgres_url, "SELECT id FROM runs")
    assert sorted(f[4] for f in finished) == sorted(r[0] for r in runs)  # one run per finished firing, no other
    assert "Traceback" not in worker.text + leader.text


def test_postgresql_restarted_mid_run_the_worker_holds_its_run_and_nothing_is_lost_from_the_outbox(
        bank, tmp_path, pg_server, postgres_url, redis_url, procs):
    from receivers import ReceiverServer

    fleet_project(tmp_path, postgres_url, redis_url, "{cron: '0 2 * * *'}", visibility="60s")
    with ReceiverServer() as receiver:
        with open(tmp_path / "patrol.yaml", "a", encoding="utf-8") as f:
            f.write(f"receivers:\n  oncall: {{format: webhook, url: '{receiver.url()}', secret: '{SECRET}'}}\n")
        # Lingers while the database goes down, then fails: its run, incident and message wait for the database.
        steps = slow_steps("5s") + "  - name: see the missing thing\n    wait_for: '#nowhere'\n"
        write_journey(tmp_path / "journeys", "broken", base_url=bank.url, steps=steps)
        worker = Proc(tmp_path, "w1", "worker", "--concurrency", "1", "--name", "w1@test")
        scheduler = Proc(tmp_path, "scheduler", "schedule", "--no-watch")  # its dispatcher sends the outbox
        procs.extend([worker, scheduler])
        worker.wait_for("patrol worker")
        scheduler.wait_for("leading")

        from datetime import datetime

        from patrol.fleet.dispatch import FleetDispatch
        from patrol.schedule.plan import build_plan
        from patrol.store import open_store

        plan = build_plan(load_config(str(tmp_path / "patrol.yaml")))
        spec, journeys = plan.lookup("schedule:tick")
        store = open_store(postgres_url)
        dispatch = FleetDispatch(plan.config, store)
        assert dispatch.dispatch(spec, journeys, datetime(2026, 11, 30, 2, 0, tzinfo=UTC)).sent == [("broken", "web")]
        dispatch.close()
        store.close()
        wait_until(lambda: query(postgres_url, "SELECT state FROM fleet_firings") == [("running",)], 60)

        pg_server.down()
        try:
            worker.wait_for("holding run", timeout=60)  # the journey ended while the database was away
            time.sleep(2)
        finally:
            pg_server.up()

        wait_until(lambda: query(postgres_url, "SELECT state FROM fleet_firings") == [("finished",)], 90)
        runs = query(postgres_url, "SELECT id, status FROM runs")
        assert [r[1] for r in runs] == ["failed"]
        assert query(postgres_url, "SELECT run_id, status FROM fleet_attempts") == [(runs[0][0], "finished")]
        incidents = query(postgres_url, "SELECT journey, status FROM incidents")
        assert incidents == [("broken", "open")]
        sent = receiver.wait_for("/hook", 1, timeout=60)  # the outbox row survived and was delivered, once
        time.sleep(3)
        assert len(receiver.at("/hook")) == 1
        assert "opened" in json.dumps(sent[0].json) and "broken" in json.dumps(sent[0].json)
        assert query(postgres_url, "SELECT status FROM deliveries") == [("sent",)]
        assert "Traceback" not in worker.text + scheduler.text


def test_a_worker_whose_reports_location_is_unavailable_says_so_and_drops_the_firing(tmp_path, bank):
    """The shared reports location is not mounted: a robot error in the worker's log, the
    firing dropped (not left claimed), its attempt recorded as an error, no run, no incident."""
    from datetime import datetime

    from patrol.fleet.dispatch import payload
    from patrol.fleet.worker import WorkerRuntime
    from patrol.store import fleet_repo

    state = tmp_path / "state.db"
    (tmp_path / "patrol.yaml").write_text(
        f"state: {{url: 'sqlite:///{state}'}}\nreports: /dev/null/reports\n"
        "fleet: {broker: 'redis://127.0.0.1:9/0'}\nschedules:\n  tick: {cron: '0 2 * * *'}\n", encoding="utf-8")
    write_journey(tmp_path / "journeys", "home", base_url=bank.url, steps=OPEN_STEPS)
    said: list[str] = []
    runtime = WorkerRuntime(str(tmp_path / "patrol.yaml"), 1, "w@test", say=said.append)
    try:
        spec, journeys = runtime.plan.lookup("schedule:tick")
        slot = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
        key = fleet_repo.firing_key(spec.job_id, "home", slot)
        outcome = runtime.run_task(payload(key, spec, journeys[0], slot, "web", slot))
    finally:
        runtime.close()
    assert outcome.verdict == "error"
    log = "\n".join(said)
    assert "reports_unavailable" in log or "cannot write the run folder /dev/null/reports" in log, log
    assert "mounted" in log and "Traceback" not in log
    url = f"sqlite:///{state}"
    assert query(url, "SELECT state FROM fleet_firings") == [("dropped",)]
    assert query(url, "SELECT status FROM fleet_attempts") == [("error",)]
    assert query(url, "SELECT count(*) FROM runs") == [(0,)] and query(url, "SELECT count(*) FROM incidents") == [(0,)]
