"""The fleet when the database blinks or a worker dies (issue 25), with real parts: the suite's private
PostgreSQL and redis-server, `patrol worker` and `patrol schedule` as real processes patrolling the demo bank.

- PostgreSQL stopped at the moment a worker writes the report index (after its run was recorded) and started
  4 s later: the firing ends `finished` with its run, and the next slot fires on time.
- A worker killed mid-journey with the recommended `visibility_timeout: 2h`: the leader notices the lost lease
  and the journey is patrolled again within 90 s; no slot runs twice, also when the broker hands the old task
  out again later.
"""

from __future__ import annotations

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
