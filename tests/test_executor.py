"""Where a scheduler's firings run is the executor the CLI composes (`patrol schedule`):
the local one without a fleet, the fleet's with patrol.yaml `fleet:`. The scheduler only
schedules: started without the fleet's executor over a fleet's patrol.yaml, it refuses
(two paths to run firings would fire every job twice). No browser: nothing fires."""

from __future__ import annotations

from pathlib import Path

import pytest
from schedule_support import write_journey

from patrol.cli.schedule import executor
from patrol.errors import InputError
from patrol.schedule.local import LocalExecutor
from patrol.schedule.service import SchedulerService


def _project(folder: Path, extra: str = "") -> str:
    write_journey(folder / "journeys", "signin")  # never fired: nothing is due
    path = folder / "patrol.yaml"
    path.write_text("state: {url: 'sqlite:///" + str(folder / "state.db") + "'}\n"
                    "schedules:\n  nightly: {cron: '0 2 * * *'}\n" + extra, encoding="utf-8")
    return str(path)


def test_without_a_fleet_the_cli_composes_the_local_executor_and_no_leader(tmp_path):
    service = SchedulerService(_project(tmp_path), say=lambda m: None, executor=executor)
    service.start(process=False)
    try:
        assert isinstance(service.executor, LocalExecutor) and service.leadership is None
        assert "schedule:nightly" in [job.id for job in service.jobs()]  # synced here: no leader to wait for
    finally:
        service.stop()
    assert service.executor is None and not service.started


def test_a_fleet_project_is_refused_by_a_scheduler_without_the_fleets_executor(tmp_path):
    service = SchedulerService(_project(tmp_path, "fleet: {broker: 'redis://127.0.0.1:9/0'}\n"), say=lambda m: None)
    with pytest.raises(InputError, match="fleet: section, which this scheduler was started without"):
        service.start(process=False)
    assert not service.started and service.executor is None
