"""The Prometheus endpoint of `patrol schedule --metrics-port`, scraped over HTTP after
real runs (a failing journey opens an incident whose notification cannot be sent)."""

from __future__ import annotations

import re
import socket
import time

import httpx
import pytest
from receivers import ReceiverServer
from schedule_support import config, write_journey

from patrol.cli.schedule import Beside
from patrol.schedule.service import SchedulerService


def _value(text: str, series: str) -> float | None:
    m = re.search(rf"^{re.escape(series)} (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.mark.faults("dead_button=login-submit")
def test_metrics_endpoint_serves_the_documented_series_after_a_run(faulty_bank, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    chat = ReceiverServer()
    write_journey(tmp_path / "journeys", "signin", base_url=faulty_bank.url, timeout="2s")
    cfg = config(tmp_path, f"""\
state: {{url: 'sqlite:///state.db'}}
incidents: {{confirm: 0}}
receivers:
  ops: {{format: slack, url: 'http://127.0.0.1:{_closed_port()}/hook'}}
  chat: {{format: slack, url: '{chat.url("/slack")}', rate_limit: 'off'}}
schedules:
  watch: {{every: 1s, journeys: [signin]}}
""")
    service = SchedulerService(str(cfg), watch=False, say=lambda m: None)
    service.start()
    beside = Beside(service, metrics_port=0, metrics_addr="127.0.0.1").start()  # as `patrol schedule` composes it
    try:
        deadline = time.monotonic() + 90
        while service.firings < 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert service.firings >= 1
        # The dispatcher runs beside the scheduler: the notification goes out with no `flush`.
        sent = chat.wait_for("/slack", 1, timeout=30)
        assert "signin" in sent[0].body.decode("utf-8")
        # Until a scrape shows the incident and the unsent `ops` notification (the state
        # collector caches its reads for 5 s): a condition, not a guess at how long it takes.
        deadline = time.monotonic() + 60
        while True:
            r = httpx.get(beside.metrics.url, timeout=10)
            seen = _value(r.text, 'patrol_open_incidents{journey="signin",kind="breakpoint",severity="critical"}')
            if (seen == 1 and (_value(r.text, 'patrol_pending_deliveries{receiver="ops"}') or 0) >= 1) \
                    or time.monotonic() > deadline:
                break
            time.sleep(0.25)
    finally:
        service.stop()
        chat.stop()
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert _value(text, 'patrol_runs_total{schedule="watch",status="failed"}') >= 1
    assert _value(text, 'patrol_journey_runs_total{journey="signin",status="failed"}') >= 1
    assert _value(text, 'patrol_findings_total{journey="signin",kind="breakpoint",reason="expect_failed"}') >= 1
    assert _value(text, 'patrol_step_duration_seconds_count{journey="signin",step="sign in"}') >= 1
    assert _value(text, 'patrol_step_duration_seconds_bucket{journey="signin",le="+Inf",step="open login"}') >= 1
    assert _value(text, 'patrol_journey_duration_seconds_count{journey="signin"}') >= 1
    # The Web Vitals of the step that opened the page, and every web step's layout shift.
    assert _value(text, 'patrol_step_web_vital_seconds_count{journey="signin",step="open login",vital="lcp"}') >= 1
    assert _value(text, 'patrol_step_layout_shift_count{journey="signin",step="open login"}') >= 1
    assert _value(text, 'patrol_open_incidents{journey="signin",kind="breakpoint",severity="critical"}') == 1
    assert _value(text, 'patrol_pending_deliveries{receiver="ops"}') >= 1
    assert _value(text, 'patrol_schedule_firings_total{result="ran",schedule="watch"}') >= 1
    assert _value(text, 'patrol_journey_last_run_timestamp_seconds{journey="signin"}') > time.time() - 300
    assert _value(text, "patrol_state_database_up") == 1
    assert 'patrol_build_info{version="' in text
    assert "patrol_schedule_next_fire_timestamp_seconds" in text
    assert "# TYPE patrol_step_duration_seconds histogram" in text
