"""Schedules: crontab semantics, intervals, windows, jitter, validation with positions,
`patrol schedule --list`, journey-file schedules, retention settings. No browser."""

from __future__ import annotations

import pickle
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from schedule_support import OPEN_STEPS, config, write_journey

from patrol import yamlpos
from patrol.config import Config
from patrol.config.triggers import PatrolTrigger, cron_trigger, interval_trigger
from patrol.errors import ConfigError
from patrol.retention.settings import RETENTION
from patrol.schedule.settings import parse_schedules

SH = ZoneInfo("Asia/Shanghai")
SAT_NOON = datetime(2026, 11, 21, 12, 0, tzinfo=SH)  # a Saturday


def _cfg(tmp_path, text: str) -> Config:
    path = tmp_path / "patrol.yaml"
    path.write_text(text, encoding="utf-8")
    return Config(file=str(path), root=tmp_path, located=yamlpos.load(text, str(path)))


def _days(expr: str) -> list[str]:
    t = PatrolTrigger(cron_trigger(expr, SH), SH)
    return [d.strftime("%a") for d in t.upcoming(7, SAT_NOON)]


def test_crontab_weekdays_are_crontabs_not_apschedulers():
    # APScheduler 3 counts Monday as 0; a crontab's 0 and 7 are Sunday.
    assert _days("0 9 * * 0") == ["Sun"] * 7
    assert _days("0 9 * * 7") == ["Sun"] * 7
    assert _days("0 9 * * 1-5")[:5] == ["Mon", "Tue", "Wed", "Thu", "Fri"]
    assert set(_days("0 9 * * 5-0")) == {"Fri", "Sat", "Sun"}
    assert set(_days("0 9 * * sat,sun")) == {"Sat", "Sun"}
    daily = PatrolTrigger(cron_trigger("@daily", SH), SH).upcoming(2, SAT_NOON)
    assert [t.strftime("%d %H:%M") for t in daily] == ["22 00:00", "23 00:00"]


def test_nightly_cron_fires_at_2am_in_its_own_time_zone():
    t = PatrolTrigger(cron_trigger("0 2 * * *", SH), SH)
    times = t.upcoming(3, SAT_NOON)
    assert [x.strftime("%Y-%m-%d %H:%M %Z") for x in times] == [
        "2026-11-22 02:00 CST", "2026-11-23 02:00 CST", "2026-11-24 02:00 CST"]
    assert times[0].astimezone(ZoneInfo("UTC")).hour == 18  # 02:00 in Shanghai is 18:00 UTC the day before


def test_interval_grid_active_window_jitter_and_pickling():
    every5 = PatrolTrigger(interval_trigger(300, SH), SH, hours=[(8 * 60, 20 * 60)], days=[0, 1, 2, 3, 4])
    fri_evening = datetime(2026, 11, 20, 19, 52, tzinfo=SH)
    got = [x.strftime("%a %H:%M") for x in every5.upcoming(4, fri_evening)]
    assert got == ["Fri 19:55", "Mon 08:00", "Mon 08:05", "Mon 08:10"]  # on the 5-minute grid, weekend skipped
    overnight = PatrolTrigger(interval_trigger(3600, SH), SH, hours=[(22 * 60, 6 * 60)])
    assert [x.strftime("%H:%M") for x in overnight.upcoming(3, SAT_NOON)] == ["22:00", "23:00", "00:00"]

    jittered = PatrolTrigger(interval_trigger(300, SH), SH, jitter_s=60, seed="schedule:x")
    times = jittered.upcoming(50, SAT_NOON)
    for i, t in enumerate(times):
        grid = SAT_NOON + timedelta(minutes=5 * i)
        assert grid <= t < grid + timedelta(seconds=60), "jitter delays each firing from its grid time, never drifts"
    assert len({round((t - SAT_NOON).total_seconds()) % 300 for t in times}) > 10, "the delays vary"
    assert jittered.upcoming(5, SAT_NOON) == times[:5], "the same firing gets the same jitter (listing agrees with firing)"
    restored = pickle.loads(pickle.dumps(jittered))
    assert restored.upcoming(5, SAT_NOON) == times[:5]


def test_schedules_parse_with_defaults(tmp_path):
    cfg = _cfg(tmp_path, """\
schedules:
  nightly: {cron: "0 2 * * *", timezone: Asia/Shanghai, jitter: 5m, journeys: [journeys/], tags: [smoke]}
  smoke: {every: 5m, active: {hours: "08:00-20:00", days: weekdays}, grace: 2m}
""")
    nightly, smoke = parse_schedules(cfg)
    assert nightly.job_id == "schedule:nightly" and nightly.timezone == "Asia/Shanghai" and nightly.jitter_s == 300
    assert nightly.grace == 86400, "default grace: one period, so downtime coalesces into one catch-up run"
    assert smoke.every_s == 300 and smoke.grace == 120 and smoke.days == (0, 1, 2, 3, 4) and smoke.hours == ((480, 1200),)
    assert nightly.fingerprint != smoke.fingerprint


@pytest.mark.parametrize("text, where, words", [
    ('schedules:\n  a: {cron: "0 2 * *"}\n', ":2:", "expected 5 fields"),
    ('schedules:\n  a: {cron: "0 25 * * *"}\n', ":2:", "not a crontab expression"),
    ('schedules:\n  a: {every: 5}\n', ":2:14", "expected a duration with a unit"),
    ('schedules:\n  a: {every: 5m, cron: "* * * * *"}\n', ":2:", "exactly one of cron"),
    ('schedules:\n  a:\n    every: 5m\n    timezone: Mars/Olympus\n', ":4:15", "unknown time zone"),
    ('schedules:\n  a:\n    every: 1m\n    jitter: 2m\n', ":4:13", "must be shorter"),
    ('schedules:\n  a:\n    every: 1m\n    cadence: 2m\n', ":4:5", "unknown key"),
    ('schedules:\n  a:\n    every: 1m\n    active: {hours: "8-20"}\n', ":4:", "time window"),
    ('schedules:\n  a:\n    every: 1m\n    active: {days: [funday]}\n', ":4:", "is not a day"),
    ("schedules: [nightly]\n", ":1:12", "expected a mapping"),
    ("concurrency: 0\n", ":1:14", "1 to 64"),
])
def test_bad_schedules_are_refused_with_file_line_column(tmp_path, patrol, text, where, words):
    path = config(tmp_path, text)
    p = patrol("--config", str(path), "schedule", "--list")
    assert p.code == 2, p.out + p.err
    assert f"{path}{where}" in p.err and words in p.err, p.err


def test_selection_errors_point_at_the_entry(tmp_path, patrol):
    write_journey(tmp_path / "journeys", "home", steps=OPEN_STEPS)
    path = config(tmp_path, "schedules:\n  a:\n    every: 1m\n    journeys: [home, nosuch]\n")
    p = patrol("--config", str(path), "schedule", "--list")
    assert p.code == 2 and f"{path}:4:" in p.err and "'nosuch'" in p.err, p.err
    path = config(tmp_path, "schedules:\n  a:\n    every: 1m\n    tags: [nosuchtag]\n")
    p = patrol("--config", str(path), "schedule", "--list")
    assert p.code == 2 and "selects no journey with the tags nosuchtag" in p.err, p.err


def test_list_prints_every_job_with_three_fire_times_in_its_zone(tmp_path, patrol):
    folder = tmp_path / "journeys"
    write_journey(folder, "home", steps=OPEN_STEPS, tags=("smoke",))
    write_journey(folder, "login", tags=("auth",))
    write_journey(folder, "own", steps=OPEN_STEPS, extra='schedule: {cron: "*/10 * * * *", timezone: UTC}\n')
    path = config(tmp_path, """\
schedules:
  nightly: {cron: "0 2 * * *", timezone: Asia/Shanghai}
  smoke: {every: 5m, tags: [smoke], timezone: Asia/Shanghai}
  paused: {cron: "0 3 * * *", journeys: [login], enabled: false}
retention: {screenshots: 30d, runs: 400d, timezone: Asia/Shanghai}
""")
    p = patrol("--config", str(path), "schedule", "--list")
    assert p.code == 0, p.out + p.err
    out = p.out
    block = out.split("schedule:nightly", 1)[1].split("schedule:smoke", 1)[0]
    assert "journeys: home, login, own" in block
    assert block.count("02:00:00 CST") == 3
    smoke = out.split("schedule:smoke", 1)[1].split("schedule:paused", 1)[0]
    assert "journeys: home" in smoke and smoke.count(" CST") == 3
    assert "schedule:paused (disabled)" in out
    own = out.split("journey:own", 1)[1]
    assert own.count(" UTC") >= 3 and "journeys: own" in own
    assert "patrol:retention" in out and "03:30:00 CST" in out
    assert "screenshots 30d" in out and "runs 400d" in out


def test_a_bad_journey_schedule_is_a_journey_problem(tmp_path, patrol):
    bad = write_journey(tmp_path / "journeys", "own", steps=OPEN_STEPS, extra='schedule: "61 * * * *"\n')
    p = patrol("validate", str(bad))
    assert p.code == 2 and f"{bad}:" in p.err and "schedule" in p.err and "not a crontab expression" in p.err, p.err
    ok = write_journey(tmp_path / "journeys", "own", steps=OPEN_STEPS, extra="schedule: 5m\n")
    assert patrol("validate", str(ok)).code == 0


def test_retention_settings_are_checked(tmp_path):
    s = _cfg(tmp_path, "retention: {screenshots: 7d, reports: forever, runs: forever, prune: '0 4 * * *'}\n").settings[RETENTION]
    assert s.ages["screenshots"] == 7 * 86400 and s.ages["reports"] is None and s.prune_cron == "0 4 * * *"
    assert _cfg(tmp_path, "retention: false\n").settings[RETENTION].enabled is False
    with pytest.raises(ConfigError, match="runs must be kept at least as long as reports"):
        _ = _cfg(tmp_path, "retention: {reports: 90d, runs: 30d}\n").settings[RETENTION]
    with pytest.raises(ConfigError, match="patrol.yaml:1:26: retention.screenshots"):
        _ = _cfg(tmp_path, "retention: {screenshots: 30}\n").settings[RETENTION]


def test_schedule_needs_the_state_database(tmp_path, patrol):
    write_journey(tmp_path / "journeys", "home", steps=OPEN_STEPS)
    path = config(tmp_path, "state: false\nschedules:\n  a: {every: 1m}\n")
    p = patrol("--config", str(path), "schedule", "--once")
    assert p.code == 2 and "state database" in p.err, p.err


# -- the service's parts alone, on a fake clock (no browser, no sleeping) ----------------------------
def test_overlap_never_runs_a_journey_twice_and_stopping_waits_on_the_clock():
    import threading
    from types import SimpleNamespace

    from patrol.core.clock import FakeClock
    from patrol.schedule.overlap import Overlap

    clock = FakeClock()
    overlap = Overlap(clock)
    a, b = SimpleNamespace(name="alpha"), SimpleNamespace(name="beta")  # the service passes Journeys: a name is all it reads
    first = overlap.claim("nightly", [a, b])
    assert [j.name for j in first.free] == ["alpha", "beta"] and not first.busy
    second = overlap.claim("smoke", [b])
    assert not second.free and [(j.name, by) for j, by in second.busy] == [("beta", "nightly")]
    assert overlap.inflight == 1 and overlap.running() == ["alpha", "beta"]
    assert overlap.first_overlap("schedule:smoke") and not overlap.first_overlap("schedule:smoke")
    # Stopping waits up to its timeout on the clock: still busy once the fake time passes it.
    result: list[bool] = []
    waiter = threading.Thread(target=lambda: result.append(overlap.wait_idle(5.0)))
    waiter.start()
    clock.advance(4)
    waiter.join(0.3)
    assert waiter.is_alive(), "4 s of its 5 s: still waiting"
    clock.advance(2)
    waiter.join(10)
    assert result == [False]
    overlap.release("schedule:nightly", first.free)
    assert overlap.inflight == 0 and overlap.wait_idle(5.0) and overlap.claim("smoke", [b]).free == [b]


def test_index_writer_debounces_on_the_clock(tmp_path):
    import time

    from patrol.core.clock import FakeClock
    from patrol.schedule.index_writer import IndexWriter

    clock = FakeClock()
    errors: list[str] = []
    writer = IndexWriter(None, 30.0, errors.append, clock=clock)
    try:
        writer.request(tmp_path)
        _until(lambda: writer.writes == 1)  # the first request is written at once
        writer.request(tmp_path)
        _until(lambda: clock.sleepers == 1)  # the second waits for the interval, on the clock
        time.sleep(0.2)
        assert writer.writes == 1
        clock.advance(29)
        time.sleep(0.2)
        assert writer.writes == 1, "not before the interval is over"
        clock.advance(2)
        _until(lambda: writer.writes == 2)
    finally:
        writer.stop()
    assert not errors and (tmp_path / "index.html").exists()


def _until(condition, timeout: float = 30.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)
