"""Maintenance windows (issue 12): patrols still run and record, incidents open,
nothing is sent; when the window ends what is still open is sent once, and an incident
that opened and resolved inside it is not sent at all. Real receivers on 127.0.0.1;
the end-to-end test patrols the real demo bank in real Chromium through the CLI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from receivers import DEAD_BUTTON, Clock, ReceiverServer, confirmed_run, receiver, service, whsec
from sqlalchemy import select
from test_incidents_e2e import DEAD, db_rows, lean_journey, write_config

from patrol.maintenance import storage as window_repo
from patrol.maintenance.settings import MAINTENANCE, MaintenanceSpec
from patrol.maintenance.windows import Window
from patrol.store.schema import audit_log, deliveries, events, incidents

SLOW = {"login": ("stall", "over_budget", "took 6.20s, over its budget of 3.00s", False)}


def _notified(svc) -> list[tuple[int | None, str]]:
    with svc.store.read() as conn:
        q = select(events.c.incident_id, events.c.type).where(events.c.notified.is_(True)).order_by(events.c.id)
        return [(i, t) for i, t in conn.execute(q)]


def _held(svc) -> list[tuple[int, str]]:
    with svc.store.read() as conn:
        return sorted((r["incident_id"], r["type"]) for r in window_repo.held(conn))


def test_a_window_holds_everything_then_sends_what_is_still_open_once(tmp_path):
    clock = Clock()
    with ReceiverServer() as srv:
        svc = service(tmp_path, {"hook": receiver("hook", "webhook", srv.url("/hook"), secret=whsec())}, clock=clock, confirm=1,
                      remind_every_s=60)
        svc.maintenance = (MaintenanceSpec("deploy", starts_at=clock.t - timedelta(minutes=5),
                                           ends_at=clock.t + timedelta(hours=1)),)
        svc.record_run(confirmed_run(DEAD_BUTTON))  # incident 1 (transfer) opens inside the window
        svc.record_run(confirmed_run(SLOW, name="login", tags=("auth",)))  # incident 2 (login)
        clock.advance(minutes=5)
        svc.record_run(confirmed_run(DEAD_BUTTON))  # still failing: a reminder for 1 is due, and held
        svc.resolve(2, "fixed during the deploy")  # 2 opened and resolved inside the window
        stats = svc.flush_deliveries(1.0)
        assert srv.at("/hook") == [] and stats.sent == 0, "nothing is sent during the window"
        assert [s for s in db_rows(tmp_path, incidents) if s["status"] == "open"][0]["id"] == 1, "incidents still open"
        assert _held(svc) == [(1, "incident.opened"), (1, "incident.reminder"), (2, "incident.opened"),
                              (2, "incident.reminder"), (2, "incident.resolved")]

        clock.advance(hours=1)  # the window is over
        svc.flush_deliveries(5.0)
        got = srv.wait_for("/hook", 1)
        assert [(r.json["type"], r.json["data"]["incident"]["id"]) for r in got] == [("incident.opened", 1)]
        assert _held(svc) == []
        svc.flush_deliveries(1.0)
        assert len(srv.at("/hook")) == 1, "sent once"
        # The timeline keeps every event; only what was sent is marked notified.
        assert _notified(svc) == [(1, "incident.opened")]
        with svc.store.read() as conn:
            assert conn.execute(select(deliveries.c.status)).scalars().all() == ["sent"]


def test_recurring_console_window_for_a_tag_holds_only_its_journeys(tmp_path):
    clock = Clock(datetime(2026, 11, 21, 10, 30, tzinfo=UTC))  # Saturday 11:30 in Berlin
    with ReceiverServer() as srv:
        svc = service(tmp_path, {"hook": receiver("hook", "webhook", srv.url("/hook"), secret=whsec())}, clock=clock, confirm=1)
        with svc.store.write() as conn:
            window_repo.add_window(conn, name="weekend deploys", scope="tag", value="money", cron="0 11 * * sat",
                                    duration_s=3600.0, timezone="Europe/Berlin", created_by="ada", created_at=clock.t)
        svc.record_run(confirmed_run(DEAD_BUTTON))  # transfer, tag money: held until 12:00 Berlin
        svc.record_run(confirmed_run(SLOW, name="login", tags=("auth",)))  # not covered: paged now
        svc.flush_deliveries(2.0)
        assert [r.json["data"]["incident"]["journey"]["name"] for r in srv.wait_for("/hook", 1)] == ["login"]
        with svc.store.read() as conn:
            (held,) = window_repo.held(conn)
        assert held["next_attempt_at"] == datetime(2026, 11, 21, 11, 0, tzinfo=UTC)
        clock.advance(minutes=31)
        svc.flush_deliveries(5.0)
        assert [r.json["data"]["incident"]["journey"]["name"] for r in srv.wait_for("/hook", 2)] == ["login", "transfer"]


def test_window_occurrences_in_a_time_zone():
    w = Window("nightly", cron="0 22 * * *", duration_s=7200.0, timezone="Europe/Berlin")
    at = datetime(2026, 3, 28, 21, 30, tzinfo=UTC)  # 22:30 Berlin (CET): inside
    assert w.active_until(at) == datetime(2026, 3, 28, 23, 0, tzinfo=UTC)  # 21:00 UTC + 2h
    # The next evening is summer time: 22:00 Berlin is 20:00 UTC.
    assert w.occurrences(at + timedelta(hours=3), 1) == [(datetime(2026, 3, 29, 20, 0, tzinfo=UTC),
                                                          datetime(2026, 3, 29, 22, 0, tzinfo=UTC))]
    assert w.active_until(datetime(2026, 3, 29, 12, 0, tzinfo=UTC)) is None
    assert Window("x", scope="tag", value="money").covers([("transfer", ["money"])])
    assert not Window("x", scope="journey", value="login").covers([("transfer", ["money"])])


@pytest.mark.parametrize(("text", "line", "col", "field", "words"), [
    ("maintenance:\n  deploy:\n    cron: '0 22 * * *'\n", 3, 5, "maintenance.deploy", "needs duration"),
    ("maintenance:\n  deploy:\n    from: 2026-12-01 22:00\n    to: 2026-12-01 21:00\n", 4, 9, "maintenance.deploy.to",
     "must end after it starts"),
    ("maintenance:\n  deploy:\n    from: tonight\n    to: 2026-12-01 21:00\n", 3, 11, "maintenance.deploy.from",
     "expected a date and time"),
    ("maintenance:\n  deploy:\n    cron: '0 25 * * *'\n    duration: 1h\n", 3, 11, "maintenance.deploy.cron", "'0 25 * * *'"),
    ("maintenance:\n  deploy:\n    cron: '@daily'\n    duration: 1h\n    timezone: Mars/Base\n", 5, 15,
     "maintenance.deploy.timezone", "unknown time zone"),
    ("maintenance:\n  deploy:\n    cron: '@daily'\n    duraton: 1h\n", 4, 5, "maintenance.deploy.duraton",
     "did you mean 'duration'?"),
    ("maintenance:\n  deploy:\n    for: 1h\n    journey: a\n    tag: b\n    from: 2026-12-01 22:00\n    to: 2026-12-01 23:00\n",
     3, 5, "maintenance.deploy.for", "unknown key 'for'"),
    ("maintenance:\n  deploy:\n    from: 2026-12-01 22:00\n    to: 2026-12-01 23:00\n    journey: a\n    tag: b\n", 6, 10,
     "maintenance.deploy.tag", "not both"),
])
def test_maintenance_in_patrol_yaml_problems_are_positioned(tmp_path, text, line, col, field, words):
    from patrol.config import load_config
    from patrol.errors import ConfigError

    cfg = tmp_path / "patrol.yaml"
    cfg.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_config(str(cfg))
    lines = [str(p) for p in e.value.problems]
    assert any(p.startswith(f"{cfg}:{line}:{col}: {field}: ") and words in p for p in lines), lines


def test_maintenance_in_patrol_yaml_is_read(tmp_path):
    from patrol.config import load_config

    cfg = tmp_path / "patrol.yaml"
    cfg.write_text("maintenance:\n  nightly:\n    cron: '0 22 * * *'\n    duration: 90m\n    timezone: Asia/Shanghai\n"
                   "    tag: payments\n  migration:\n    from: 2026-12-01 22:00\n    to: 2026-12-01T23:30:00+01:00\n"
                   "    timezone: Europe/Berlin\n", encoding="utf-8")
    nightly, migration = load_config(str(cfg)).settings[MAINTENANCE].windows
    assert (nightly.scope, nightly.value, nightly.cron, nightly.duration_s, nightly.timezone) == (
        "tag", "payments", "0 22 * * *", 5400.0, "Asia/Shanghai")
    assert migration.scope == "all" and migration.starts_at == datetime(2026, 12, 1, 21, 0, tzinfo=UTC)
    assert migration.ends_at == datetime(2026, 12, 1, 22, 30, tzinfo=UTC)


@pytest.mark.faults(DEAD)
def test_cli_window_over_a_failing_patrol_sends_nothing_then_one_message(faulty_bank, patrol, tmp_path):
    with ReceiverServer() as srv:
        cfg = str(write_config(tmp_path, srv, confirm=0, formats=False))
        journey = str(lean_journey(tmp_path))
        p = patrol("--config", cfg, "maintenance", "add", "deploy 4.2", "--for", "1h", "--journey", "transfer")
        assert p.code == 0 and "#1" in p.out and "active until" in p.out, p.out + p.err
        bad = patrol("--config", cfg, "maintenance", "add", "x", "--from", "2026-12-01 23:00", "--to", "2026-12-01 22:00")
        assert bad.code == 2 and "must end after it starts" in bad.err, bad.err
        for i in range(2):
            out = tmp_path / f"run{i}"
            p = patrol("--config", cfg, "run", journey, "--base-url", faulty_bank.url, "--output", str(out), output=out)
            assert p.code == 1, p.out + p.err
        assert db_rows(tmp_path, incidents)[0]["status"] == "open", "the incident opened, quietly"
        assert srv.at("/hook") == [], "nothing during the window"
        listed = patrol("--config", cfg, "deliveries")
        assert "held by maintenance" in listed.out, listed.out
        assert "deploy 4.2" in patrol("--config", cfg, "maintenance", "list").out
        ended = patrol("--config", cfg, "maintenance", "end", "1")
        assert ended.code == 0 and "sent 1" in ended.out, ended.out + ended.err
        assert [r.json["type"] for r in srv.wait_for("/hook", 1)] == ["incident.opened"]
        out = tmp_path / "run-after"
        p = patrol("--config", cfg, "run", journey, "--base-url", faulty_bank.url, "--output", str(out), output=out)
        assert p.code == 1 and len(srv.at("/hook")) == 1, "one message after the window, not one per run"
        assert patrol("--config", cfg, "maintenance", "end", "1").code == 2
        audit = [r["action"] for r in db_rows(tmp_path, audit_log)]
        assert audit == ["maintenance.add", "maintenance.end"]
