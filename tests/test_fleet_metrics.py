"""Prometheus metrics of a fleet (issue 13) with real parts: a private redis-server and
PostgreSQL, `patrol worker --metrics-port` and `patrol schedule --metrics-port` as real
processes (real Chromium against the demo bank), scraped over HTTP and read with
prometheus_client's own parser.

The worker: a task sent before the worker starts (its queue wait is at least that
delay), after a lost worker left its attempt behind (found, recorded interrupted), then
sent again once done. The leader: a journey that overlaps itself every 3 s (sent,
skipped for overlap), a slot missed while the leader is paused (SIGSTOP: a busy machine),
the leader gauge on the leader and on a standby. Duplicate and broker-refused firings
are counted by the fleet side itself, in-process, on a Redis the test stops."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fleet_support import Proc, fleet_project, procs, query, wait_until  # noqa: F401  (procs: fixture)
from pg_server import pg_server, postgres_url  # noqa: F401  (fixtures)
from prometheus_client.parser import text_string_to_metric_families
from redis_server import RedisServer, redis_server, redis_url  # noqa: F401  (fixtures)
from schedule_support import OPEN_STEPS, write_journey

from patrol.config import load_config
from patrol.core.net import free_port

pytestmark = pytest.mark.xdist_group("fleet")  # one redis-server and one PostgreSQL for the fleet's files

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Samples:
    """Every sample of a /metrics page, parsed by prometheus_client's own parser."""
    r = httpx.get(url, timeout=10)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(r.text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def scrape_when(url: str, ready) -> Samples | None:
    samples = scrape(url)
    return samples if ready(samples) else None


# -- the worker ---------------------------------------------------------------------------------------------------
def _send(config_path: Path, postgres_url: str, slot: datetime):
    """The scheduler's side, run by the test: one firing of `quick`, its task sent to `web`."""
    from patrol.fleet.dispatch import FleetDispatch
    from patrol.schedule.plan import build_plan
    from patrol.store import open_store

    plan = build_plan(load_config(str(config_path)))
    spec, journeys = plan.lookup("schedule:tick")
    store = open_store(postgres_url)
    dispatch = FleetDispatch(plan.config, store)
    return plan, spec, journeys, store, dispatch


def _lost_worker_left_an_attempt(store, key: str, slot: datetime) -> None:
    """What a worker killed mid-journey leaves behind: a running attempt whose lease ran out."""
    from patrol.store import fleet_repo

    row = {"job_id": "schedule:tick", "schedule": "tick", "journey": "quick", "fire_time": slot, "queue": "web"}
    with store.write() as conn:
        claim = fleet_repo.claim(conn, key=key, worker="ghost@test", run_id="ghost-run",
                                 now=datetime.now(UTC) - timedelta(seconds=10), lease_s=3, row_if_missing=row)
    assert claim.verdict == fleet_repo.Verdict.RUN


def test_a_worker_serves_its_tasks_queue_wait_durations_and_runs(bank, tmp_path, postgres_url, redis_url, procs):
    from patrol.fleet.app import TASK
    from patrol.fleet.dispatch import payload
    from patrol.store import fleet_repo

    config_path = fleet_project(tmp_path, postgres_url, redis_url, "{cron: '0 2 * * *'}", visibility="20s")  # fired by the test only
    write_journey(tmp_path / "journeys", "quick", base_url=bank.url, steps=OPEN_STEPS)
    slot = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
    _plan, spec, journeys, store, dispatch = _send(config_path, postgres_url, slot)
    try:
        sent_at = time.monotonic()
        assert dispatch.dispatch(spec, journeys, slot).sent == [("quick", "web")]
        key = fleet_repo.firing_key(spec.job_id, "quick", slot)
        _lost_worker_left_an_attempt(store, key, slot)
        time.sleep(2.0)  # the task waits in the queue at least this long: no worker yet
        port = free_port()
        worker = Proc(tmp_path, "w1", "worker", "--concurrency", "1", "--name", "w1@test", "--metrics-port", str(port),
                      "--metrics-addr", "127.0.0.1")
        procs.append(worker)
        url = f"http://127.0.0.1:{port}/metrics"
        worker.wait_for(f"metrics at {url}")
        wait_until(lambda: query(postgres_url, "SELECT state FROM fleet_firings") == [("finished",)], 50)
        waited_at_most = time.monotonic() - sent_at
        # The same task once more (a redelivery of a firing that has its run): done, nothing runs, no wait observed.
        dispatch.app.send_task(TASK, kwargs=payload(key, spec, journeys[0], slot, "web", datetime.now(UTC)),
                               queue="web", routing_key="web")
        seen = wait_until(lambda: scrape_when(url, lambda s: value(s, "patrol_fleet_tasks_total", queue="web",
                                                                  verdict="done") == 1), 30)
    finally:
        dispatch.close()
        store.close()

    assert value(seen, "patrol_fleet_tasks_total", queue="web", verdict="ran") == 1
    assert value(seen, "patrol_fleet_queue_wait_seconds_count", queue="web") == 1  # the run only, not the redelivery
    wait = value(seen, "patrol_fleet_queue_wait_seconds_sum", queue="web")
    assert 2.0 <= wait <= waited_at_most, (wait, waited_at_most)
    assert value(seen, "patrol_fleet_queue_wait_seconds_bucket", queue="web", le="1.0") == 0
    assert value(seen, "patrol_fleet_task_duration_seconds_count", queue="web") == 1
    assert 0 < value(seen, "patrol_fleet_task_duration_seconds_sum", queue="web") < waited_at_most
    assert value(seen, "patrol_fleet_tasks_running") == 0
    assert value(seen, "patrol_fleet_interrupted_attempts_total") == 1  # the lost worker's attempt
    # The runner series, from the journeys this worker ran.
    assert value(seen, "patrol_runs_total", schedule="tick", status="passed") == 1
    assert value(seen, "patrol_journey_runs_total", journey="quick", status="passed") == 1
    assert value(seen, "patrol_step_duration_seconds_count", journey="quick", step="open login") == 1
    assert value(seen, "patrol_running_journeys") == 0
    # Bounded labels: queues and verdicts, never a firing key; the state database's series are the schedulers'.
    fleet_labels = {k for (name, labels) in seen if name.startswith("patrol_fleet_") for k, _ in labels}
    assert fleet_labels == {"queue", "verdict", "le"}
    assert not any("|" in v for (_, labels) in seen for _, v in labels)
    assert not any(name == "patrol_state_database_up" for name, _ in seen)
    assert query(postgres_url, "SELECT worker, status FROM fleet_attempts ORDER BY attempt") == [
        ("ghost@test", "interrupted"), ("w1@test", "finished")]


def test_worker_metrics_port_problems_are_input_errors(tmp_path, postgres_url):
    config_path = fleet_project(tmp_path, postgres_url, "redis://127.0.0.1:9/0", "{cron: '0 2 * * *'}", visibility="20s")
    write_journey(tmp_path / "journeys", "quick")
    base = [sys.executable, "-m", "patrol", "worker", "--config", str(config_path), "--metrics-addr", "127.0.0.1"]
    done = subprocess.run([*base, "--metrics-port", "70000"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--metrics-port: a TCP port" in done.stdout + done.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([*base, "--metrics-port", str(port)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr


# -- the leader -----------------------------------------------------------------------------------------------------
def _pause_over_a_slot(leader: Proc, postgres_url: str, period: float = 3.0) -> datetime:
    """SIGSTOP the leader just before one of its slots and SIGCONT it past the slot's 1 s
    grace, before the next slot: that slot is missed. The slot grid is read from the
    firings it sent (exact fire times). Tries again when the test itself was too slow."""
    for _ in range(4):
        last = query(postgres_url, "SELECT max(fire_time) FROM fleet_firings")[0][0].replace(tzinfo=UTC).timestamp()
        slot = last + period
        while slot - time.time() < 1.5:
            slot += period
        time.sleep(max(0.0, slot - 1.0 - time.time()))
        os.kill(leader.proc.pid, signal.SIGSTOP)
        try:
            if time.time() > slot - 0.3:  # paused too late: the slot may have fired
                continue
            time.sleep(max(0.0, slot + 1.8 - time.time()))
        finally:
            os.kill(leader.proc.pid, signal.SIGCONT)
        return datetime.fromtimestamp(slot, UTC)
    raise AssertionError("could not pause the leader before a slot")


def test_the_leader_counts_sent_skipped_and_missed_firings_and_says_it_leads(bank, tmp_path, postgres_url, redis_url,
                                                                            procs):
    fleet_project(tmp_path, postgres_url, redis_url, "{every: 3s, grace: 1s}", visibility="20s")
    write_journey(tmp_path / "journeys", "slow", base_url=bank.url, steps=OPEN_STEPS + "  - name: linger\n    wait: 4s\n")
    ports = free_port(), free_port()
    procs.append(Proc(tmp_path, "w1", "worker", "--concurrency", "1", "--name", "w1@test"))
    leader = Proc(tmp_path, "leader", "schedule", "--no-watch", "--metrics-port", str(ports[0]), "--metrics-addr", "127.0.0.1")
    procs.append(leader)
    leader.wait_for("leading")
    standby = Proc(tmp_path, "standby", "schedule", "--no-watch", "--metrics-port", str(ports[1]),
                   "--metrics-addr", "127.0.0.1")
    procs.append(standby)
    urls = [f"http://127.0.0.1:{p}/metrics" for p in ports]
    standby.wait_for(f"metrics at {urls[1]}")

    def firings(result: str) -> float:
        return value(scrape(urls[0]), "patrol_schedule_firings_total", schedule="tick", result=result) or 0

    # 4 s of lingering on a 3 s period: the journey's next slot finds it waiting or running.
    wait_until(lambda: firings("sent") >= 1 and firings("skipped_overlap") >= 1, 40)
    wait_until(lambda: query(postgres_url, "SELECT count(*) FROM fleet_firings")[0][0] >= 1, 10)
    for _ in range(3):  # a machine so loaded that the leader woke past the next slot too: that one fired, again
        missed_slot = _pause_over_a_slot(leader, postgres_url)
        if wait_until(lambda: firings("missed") >= 1, 6, fail=False):
            break
    assert firings("missed") >= 1, leader.text
    leading, standing_by = scrape(urls[0]), scrape(urls[1])

    assert value(leading, "patrol_fleet_leader") == 1 and value(standing_by, "patrol_fleet_leader") == 0
    assert "missed" in leader.text and "leading" not in standby.text
    # A missed slot is not sent: no firing of it in the state database.
    fire_times = [t.replace(tzinfo=UTC) for (t,) in query(postgres_url, "SELECT fire_time FROM fleet_firings")]
    assert all(abs((t - missed_slot).total_seconds()) > 0.5 for t in fire_times), (missed_slot, fire_times)
    # Sent firings are those the state database has, less any that still waits to be said.
    sent = value(leading, "patrol_schedule_firings_total", schedule="tick", result="sent")
    assert 1 <= sent <= len(fire_times)
    assert value(leading, "patrol_schedule_firings_total", schedule="tick", result="ran") is None  # a fleet sends
    # The standby fires nothing and counts nothing.
    assert not any(name == "patrol_schedule_firings_total" for name, _ in standing_by)


# -- the fleet side, in-process: a duplicate slot and a broker that refuses ----------------------------------------------
def test_the_fleet_side_counts_each_firing_once_per_result(tmp_path, postgres_url):
    from patrol.fleet.scheduling import FleetSide
    from patrol.metrics import Metrics
    from patrol.schedule.jobs import JobSync
    from patrol.schedule.plan import build_plan
    from patrol.schedule.service import fire
    from patrol.store import open_store

    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    broker = RedisServer(binary).start()  # this test's own: it stops it
    store = open_store(postgres_url)
    jobs = JobSync(store, lambda m: None)
    side = None
    try:
        config_path = fleet_project(tmp_path, postgres_url, broker.url(0), "{cron: '0 2 * * *'}", visibility="20s")
        for name in ("a", "b", "c"):
            write_journey(tmp_path / "journeys", name)
        plan = build_plan(load_config(str(config_path)))
        spec, journeys = plan.lookup("schedule:tick")
        a, b, c = sorted(journeys, key=lambda j: j.name)
        metrics = Metrics()
        jobs.open(4, lambda event: None, 0)
        side = FleetSide(plan.config, store, postgres_url, lambda m: None, metrics)

        def count(result: str) -> float | None:
            return metrics.registry.get_sample_value("patrol_schedule_firings_total", {"schedule": "tick", "result": result})

        side.tick(jobs, plan, fire, resume=False)
        assert side.leading and metrics.registry.get_sample_value("patrol_fleet_leader") == 1
        slot = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
        assert len(side.fire(spec, [a, b], slot).sent) == 2
        assert count("sent") == 1  # one firing, two tasks
        assert side.fire(spec, [a, b], slot).duplicate == ["a", "b"]  # the same slot again (a second leader)
        assert count("duplicate") == 1
        later = slot + timedelta(days=1)
        assert side.fire(spec, [a, b], later).busy == ["a", "b"]  # nothing took the first tasks: still waiting
        assert count("skipped_overlap") == 1
        broker.stop()  # the broker goes away between two looks at the leader lock
        done = side.fire(spec, [a, c], later + timedelta(days=1))
        assert done.busy == ["a"] and [name for name, _ in done.failed] == ["c"]
        assert (count("skipped_overlap"), count("failed"), count("sent")) == (2, 1, 1)
        assert query(postgres_url, "SELECT state FROM fleet_firings WHERE journey = 'c'") == [("dropped",)]
        side.close()
        side = None
        assert metrics.registry.get_sample_value("patrol_fleet_leader") == 0
    finally:
        if side is not None:
            side.close()
        jobs.shutdown()
        store.close()
        broker.stop()
        shutil.rmtree(broker.root, ignore_errors=True)
