"""Escalation (``incidents.escalation``) in the dispatcher's fake time, against real
HTTP receivers on 127.0.0.1: the chat hears at once and again every 10 minutes while
nobody acknowledges, the pager after 15 minutes; acknowledging stops both; a
maintenance window or a silence holds them; the patrol.yaml section's problems are
positioned."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pg_server import pg_server, postgres_url  # noqa: F401  (fixtures)
from receivers import DEAD_BUTTON, Answer, ReceiverServer, confirmed_run, make_run, receiver, service, whsec
from sqlalchemy import select
from test_alertmanager import api_500

from patrol.config import load_config
from patrol.config.escalation import EscalationLevel, EscalationSettings
from patrol.config.incidents import FlappingSettings
from patrol.core.clock import FakeClock
from patrol.errors import ConfigError
from patrol.incidents import documents as D
from patrol.maintenance import storage as window_repo
from patrol.maintenance.windows import new_window
from patrol.store import console_repo, incident_repo
from patrol.store.schema import deliveries

PD_KEY = "R" * 32
START = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)
LADDER = EscalationSettings((EscalationLevel(0, ("chat",), repeat_s=600), EscalationLevel(900, ("pager",))))


@pytest.fixture
def srv():
    with ReceiverServer() as s:
        yield s


def setup(tmp_path, srv, escalation=LADDER, url=None):
    clock = FakeClock(START, autoadvance=True)
    receivers = {"chat": receiver("chat", "webhook", srv.url("/chat"), secret=whsec()),
                 "pager": receiver("pager", "pagerduty", srv.url("/pd"), secret=PD_KEY),
                 "audit": receiver("audit", "webhook", srv.url("/audit"), secret=whsec())}  # in no level: hears everything at once
    svc = service(tmp_path, receivers, clock=clock, resolve_after=1, escalation=escalation, url=url)
    return svc, clock


def at(svc, clock, minutes):
    """Move the fake time to ``minutes`` after START and deliver what is due."""
    clock.advance((START + timedelta(minutes=minutes) - clock.now()).total_seconds())
    return svc.flush_deliveries(1)


def add_window(svc, clock, name, scope, value, from_minute, to_minute):
    """A maintenance window from ``from_minute`` to ``to_minute`` after START, made in the console by alice."""
    with svc.store.write() as conn:
        window_repo.add_window(conn, **new_window(name, scope, value, starts_at=START + timedelta(minutes=from_minute),
                                                   ends_at=START + timedelta(minutes=to_minute), now=clock.now()),
                                created_by="alice")


def chat(srv):
    return [r.json["type"] for r in srv.accepted("/chat")]


def pages(srv):
    return [r.json["event_action"] for r in srv.accepted("/pd")]


def waiting(svc, receiver_name):
    with svc.store.read() as conn:
        return [dict(r) for r in conn.execute(select(deliveries).where(
            deliveries.c.receiver == receiver_name, deliveries.c.status == "pending").order_by(deliveries.c.id)).mappings()]


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request, tmp_path):
    """The state database: SQLite in the test's folder, or the suite's PostgreSQL."""
    return None if request.param == "sqlite" else request.getfixturevalue("postgres_url")


def test_unacknowledged_the_chat_is_reminded_and_the_pager_rings_after_15_minutes(tmp_path, srv, state_url):
    svc, clock = setup(tmp_path, srv, url=state_url)
    svc.record_run(confirmed_run(DEAD_BUTTON))
    stats = at(svc, clock, 0)
    assert chat(srv) == [D.OPENED] and pages(srv) == [] and len(srv.accepted("/audit")) == 1
    assert stats.pending == 0  # what waits for its time is not reported as late...
    with svc.store.read() as conn:
        assert incident_repo.delivery_backlog(conn) == []  # ...nor counted by the pending-deliveries gauge
    (held,) = waiting(svc, "pager")
    assert held["last_error"] == "scheduled: escalation level 2 (15m unacknowledged): due 2026-11-21 03:15:00 UTC unless acknowledged"
    at(svc, clock, 9)
    assert chat(srv) == [D.OPENED] and pages(srv) == []
    at(svc, clock, 10)
    assert chat(srv) == [D.OPENED, D.REMINDER] and pages(srv) == []
    reminder = srv.accepted("/chat")[1].json
    assert reminder["data"]["escalation"] == {"level": 1, "after": "0m", "unacknowledged_for": "10m", "renotify": 1}
    assert reminder["id"] != srv.accepted("/chat")[0].json["id"]  # a message of its own, not a duplicate
    at(svc, clock, 14)
    assert pages(srv) == []
    at(svc, clock, 15)
    assert pages(srv) == ["trigger"] and chat(srv) == [D.OPENED, D.REMINDER]
    trigger = srv.accepted("/pd")[0].json
    assert trigger["payload"]["custom_details"]["incident_id"] == 1
    assert trigger["payload"]["custom_details"]["Escalation"] == "level 2, unacknowledged for 15m"
    at(svc, clock, 20)
    assert chat(srv) == [D.OPENED, D.REMINDER, D.REMINDER] and pages(srv) == ["trigger"]
    assert len(srv.accepted("/audit")) == 1  # receivers in no level: as before, no reminders

    svc.record_run(confirmed_run())  # healthy: resolved, told to everyone who was told it opened
    at(svc, clock, 21)
    assert chat(srv)[-1] == D.RESOLVED and pages(srv) == ["trigger", "resolve"]
    at(svc, clock, 45)
    assert chat(srv) == [D.OPENED, D.REMINDER, D.REMINDER, D.RESOLVED] and pages(srv) == ["trigger", "resolve"]
    assert waiting(svc, "chat") == [] and waiting(svc, "pager") == []


def test_acknowledging_stops_the_reminders_and_the_pager_never_rings(tmp_path, srv):
    svc, clock = setup(tmp_path, srv)
    svc.record_run(confirmed_run(DEAD_BUTTON))
    at(svc, clock, 0)
    at(svc, clock, 5)
    with svc.store.write() as conn:
        console_repo.acknowledge(conn, 1, "alice", clock.now())
    for minute in (10, 15, 30, 60):
        at(svc, clock, minute)
    assert chat(srv) == [D.OPENED] and pages(srv) == []
    assert waiting(svc, "chat") == [] and waiting(svc, "pager") == []
    svc.record_run(confirmed_run())  # resolved: the pager never heard of it, so it hears nothing now either
    at(svc, clock, 61)
    assert chat(srv) == [D.OPENED, D.RESOLVED] and pages(srv) == []


def test_resolved_before_the_level_is_due_the_pager_hears_nothing(tmp_path, srv):
    svc, clock = setup(tmp_path, srv)
    svc.record_run(confirmed_run(DEAD_BUTTON))
    at(svc, clock, 0)
    svc.record_run(confirmed_run())
    for minute in (1, 15, 16):
        at(svc, clock, minute)
    assert chat(srv) == [D.OPENED, D.RESOLVED] and pages(srv) == []
    assert waiting(svc, "pager") == []


def test_a_flapping_notice_goes_only_to_the_levels_already_told(tmp_path, srv):
    events = {"opened", "resolved", "flapping"}
    receivers = {"chat": receiver("chat", "webhook", srv.url("/chat"), secret=whsec(), events=events),
                 "pager": receiver("pager", "pagerduty", srv.url("/pd"), secret=PD_KEY, events=events)}
    clock = FakeClock(START, autoadvance=True)
    svc = service(tmp_path, receivers, clock=clock, resolve_after=1, escalation=LADDER,
                  flapping=FlappingSettings(window=5, start=20, stop=5))
    for minute in range(4):  # failing, healthy, failing, healthy: flapping from the second run
        svc.record_run(confirmed_run(DEAD_BUTTON if minute % 2 == 0 else None))
        at(svc, clock, minute)
    assert chat(srv) == [D.OPENED, D.FLAPPING] and pages(srv) == []


def test_a_chat_that_is_down_does_not_hold_the_pager_back(tmp_path, srv):
    srv.default("/chat", Answer(503))
    svc, clock = setup(tmp_path, srv)
    svc.record_run(confirmed_run(DEAD_BUTTON))
    for minute in (0, 5, 14):
        at(svc, clock, minute)
    assert pages(srv) == [] and srv.at("/chat") and not srv.accepted("/chat")
    at(svc, clock, 15)
    assert pages(srv) == ["trigger"]


def test_a_maintenance_window_holds_the_escalation_until_it_ends(tmp_path, srv):
    svc, clock = setup(tmp_path, srv)
    svc.record_run(confirmed_run(DEAD_BUTTON))
    at(svc, clock, 0)
    add_window(svc, clock, "deploy", "journey", "transfer", 12, 40)  # from 03:12 to 03:40
    at(svc, clock, 10)
    assert chat(srv) == [D.OPENED, D.REMINDER]  # before the window
    for minute in (15, 20, 30, 39):
        at(svc, clock, minute)
    assert chat(srv) == [D.OPENED, D.REMINDER] and pages(srv) == []
    (held,) = waiting(svc, "pager")
    assert held["last_error"].startswith("scheduled: held by window deploy until 2026-11-21 03:40:00 UTC")
    at(svc, clock, 41)  # the window is over: what it held goes, once
    assert pages(srv) == ["trigger"] and chat(srv) == [D.OPENED, D.REMINDER, D.REMINDER]


def test_a_window_on_any_journey_a_grouped_incident_affects_holds_its_escalation(tmp_path, srv):
    svc, clock = setup(tmp_path, srv)
    svc.record_run(make_run(*api_500("transfer", "confirm transfer"), *api_500("buy_fund", "login")))  # one incident
    at(svc, clock, 0)
    add_window(svc, clock, "funds", "journey", "buy_fund", 12, 40)
    for minute in (15, 39):
        at(svc, clock, minute)
    assert chat(srv) == [D.OPENED] and pages(srv) == []  # the reminder due at 10 min waits too
    at(svc, clock, 40)
    assert pages(srv) == ["trigger"] and chat(srv) == [D.OPENED, D.REMINDER]


def test_opened_inside_a_window_the_chat_gets_its_15_minutes_before_the_pager(tmp_path, srv):
    svc, clock = setup(tmp_path, srv)
    add_window(svc, clock, "deploy", "all", None, -1, 30)
    svc.record_run(confirmed_run(DEAD_BUTTON))
    at(svc, clock, 0)
    at(svc, clock, 20)
    assert chat(srv) == [] and pages(srv) == []
    at(svc, clock, 30)
    assert chat(srv) == [D.OPENED] and pages(srv) == []  # the window's held message, once
    at(svc, clock, 44)
    assert pages(srv) == []
    at(svc, clock, 45)
    assert pages(srv) == ["trigger"]


def test_a_silence_holds_the_escalation_and_it_goes_on_when_the_silence_ends(tmp_path, srv):
    svc, clock = setup(tmp_path, srv)
    svc.record_run(confirmed_run(DEAD_BUTTON))
    at(svc, clock, 0)
    with svc.store.write() as conn:
        console_repo.add_silence(conn, scope="journey", value="transfer", until=START + timedelta(minutes=25),
                                 reason="known", created_by="alice", created_at=clock.now())
    for minute in (10, 15, 24):
        at(svc, clock, minute)
    assert chat(srv) == [D.OPENED] and pages(srv) == []
    assert waiting(svc, "pager")[0]["last_error"].startswith("scheduled: held by silence #1 until 2026-11-21 03:25:00 UTC")
    at(svc, clock, 25)
    assert pages(srv) == ["trigger"] and chat(srv) == [D.OPENED, D.REMINDER]


# -- patrol.yaml --------------------------------------------------------------------------------
RECEIVERS = """\
receivers:
  team-chat: {format: alertmanager_api, url: 'http://127.0.0.1:9'}
  oncall: {format: pagerduty, secret: RRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRR}
"""


def load(tmp_path, text):
    (tmp_path / "patrol.yaml").write_text(text, encoding="utf-8")
    return load_config(str(tmp_path / "patrol.yaml"))


def problems(tmp_path, text):
    with pytest.raises(ConfigError) as e:
        load(tmp_path, text)
    return [(p.field, p.line, p.message) for p in e.value.problems]


def test_the_section_is_read_into_levels(tmp_path):
    c = load(tmp_path, "incidents:\n  escalation:\n    - {after: 0m, receivers: [team-chat], repeat: 10m}\n"
                       "    - {after: 15m, receivers: oncall}\n" + RECEIVERS)
    assert c.settings.incidents.escalation == EscalationSettings((EscalationLevel(0.0, ("team-chat",), 600.0),
                                                         EscalationLevel(900.0, ("oncall",), None)))
    assert load(tmp_path, RECEIVERS).settings.incidents.escalation == EscalationSettings()


def test_every_problem_is_positioned_and_says_what_to_write(tmp_path):
    got = problems(tmp_path, "incidents:\n  escalation:\n"
                             "    - {after: 15m, receivers: [team-chat], repeat: 10s}\n"  # line 3
                             "    - {after: 5m, receivers: [oncal, team-chat]}\n"  # line 4
                             "    - {receivers: [oncall], every: 1m}\n" + RECEIVERS)  # line 5
    fields = {(f, line) for f, line, _ in got}
    assert ("incidents.escalation.0.repeat", 3) in fields
    assert ("incidents.escalation.1.after", 4) in fields
    assert ("incidents.escalation.1.receivers", 4) in fields
    assert ("incidents.escalation.2.every", 5) in fields
    assert ("incidents.escalation.2", 5) in fields
    text = " | ".join(m for _, _, m in got)
    assert "expected at least 1m" in text and "levels go in order" in text
    assert "receiver 'team-chat' is already in level 1" in text and "after is required" in text
    assert "unknown key 'every'" in text


def test_an_unknown_receiver_is_named_with_a_suggestion(tmp_path):
    got = problems(tmp_path, "incidents:\n  escalation:\n    - {after: 0m, receivers: [team-chat, oncal]}\n" + RECEIVERS)
    assert got == [("incidents.escalation.0.receivers.1", 3,
                    "unknown receiver 'oncal' (did you mean 'oncall'?); receivers: oncall, team-chat")]


def test_a_list_is_expected(tmp_path):
    got = problems(tmp_path, "incidents:\n  escalation: {after: 15m}\n" + RECEIVERS)
    assert [(f, line) for f, line, _ in got] == [("incidents.escalation", 2)]
    assert "expected a list of levels" in got[0][2]


def test_patrol_yaml_s_escalation_reaches_the_dispatcher(tmp_path):
    from patrol.incidents.service import IncidentService

    c = load(tmp_path, f"state: {{url: 'sqlite:///{tmp_path}/state.db'}}\n"
                       "incidents:\n  escalation:\n    - {after: 0m, receivers: [team-chat]}\n"
                       "    - {after: 15m, receivers: [oncall]}\n" + RECEIVERS)
    with IncidentService.from_config(c).dispatcher() as d:
        assert d.timed.escalation is c.settings.incidents.escalation and d.timed.escalation.level_of("oncall") == 1
