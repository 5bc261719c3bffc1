"""The incident lifecycle at the service level: synthetic runs against a real
SQLite state database (fast), real HTTP only where delivery matters."""

from __future__ import annotations

import pytest
from receivers import (
    DEAD_BUTTON,
    Clock,
    ReceiverServer,
    confirmed_run,
    journey,
    make_run,
    receiver,
    service,
    whsec,
)
from sqlalchemy import select

from patrol.config.incidents import FlappingSettings
from patrol.incidents import documents as D
from patrol.incidents.fingerprint import fingerprint, observations
from patrol.incidents.flapping import decide, percent_state_change
from patrol.results import BREAKPOINT, RENDER, STALL
from patrol.store.schema import deliveries, events, incidents, journey_runs

SLOW_LOGIN = {"login": (STALL, "over_budget", "took 6.20s, over its budget of 3.00s", False)}


def notified(svc, incident_id=None):
    with svc.store.read() as conn:
        q = select(events.c.type).where(events.c.notified.is_(True)).order_by(events.c.id)
        if incident_id is not None:
            q = q.where(events.c.incident_id == incident_id)
        return list(conn.execute(q).scalars())


def all_incidents(svc):
    with svc.store.read() as conn:
        return [dict(r) for r in conn.execute(select(incidents).order_by(incidents.c.id)).mappings()]


# -- fingerprints ----------------------------------------------------------------------------------
def test_fingerprint_is_journey_step_kind_reason_and_device():
    a = fingerprint("transfer", "confirm", BREAKPOINT, "expect_failed", "web", "desktop")
    assert a == fingerprint("transfer", "confirm", BREAKPOINT, "expect_failed", "web", "desktop")
    others = {
        fingerprint("login", "confirm", BREAKPOINT, "expect_failed", "web", "desktop"),
        fingerprint("transfer", "next", BREAKPOINT, "expect_failed", "web", "desktop"),
        fingerprint("transfer", "confirm", STALL, "expect_failed", "web", "desktop"),
        fingerprint("transfer", "confirm", BREAKPOINT, "request_failed", "web", "desktop"),
        fingerprint("transfer", "confirm", BREAKPOINT, "expect_failed", "web", "mobile"),
    }
    assert a not in others and len(others) == 5
    # An unnamed step is known by its number; the message does not matter.
    j = journey(steps=("login", "", "confirm"), fail={"": (RENDER, "blank_screen", "white screen")})
    (fp,) = observations(j)
    assert fp == fingerprint("transfer", "#2", RENDER, "blank_screen", "web", "desktop")
    j2 = journey(steps=("login", "", "confirm"), fail={"": (RENDER, "blank_screen", "another text")})
    assert set(observations(j2)) == {fp}


# -- open, repeat, resolve, reopen ------------------------------------------------------------------------
def test_five_failing_runs_one_incident_then_two_healthy_runs_resolve_it(tmp_path):
    svc = service(tmp_path, {"hook": receiver("hook", "webhook", "http://127.0.0.1:9/x", secret=whsec())})
    for i in range(5):
        run = make_run(journey(fail=DEAD_BUTTON))
        assert svc.journeys_to_confirm(run) == (["transfer"] if i == 0 else [])
        if i == 0:
            run.journeys.append(journey(fail=DEAD_BUTTON, attempt=2))
        r = svc.record_run(run)
        assert r.opened == ([1] if i == 0 else []) and r.repeated == ([] if i == 0 else [1])
    (inc,) = all_incidents(svc)
    assert inc["status"] == "open" and inc["count"] == 5 and inc["step_name"] == "confirm transfer"
    assert inc["step_index"] == 3 and inc["kind"] == BREAKPOINT and inc["severity"] == "critical"
    assert notified(svc) == [D.OPENED]

    svc.record_run(confirmed_run())
    assert all_incidents(svc)[0]["status"] == "open"  # one healthy run is not enough
    r = svc.record_run(confirmed_run())
    assert r.resolved == [1]
    inc = all_incidents(svc)[0]
    assert inc["status"] == "resolved" and inc["resolved_by"] == "auto" and inc["healthy_streak"] == 2
    assert notified(svc) == [D.OPENED, D.RESOLVED]
    with svc.store.read() as conn:  # one outbox row per notified event and receiver
        assert len(conn.execute(select(deliveries.c.id)).all()) == 2

    # A later failure is a new incident (confirmed again), pointing at the old one.
    run = make_run(journey(fail=DEAD_BUTTON))
    assert svc.journeys_to_confirm(run) == ["transfer"]
    run.journeys.append(journey(fail=DEAD_BUTTON, attempt=2))
    assert svc.record_run(run).opened == [2]
    new = all_incidents(svc)[1]
    assert new["previous_id"] == 1 and new["fingerprint"] == inc["fingerprint"] and new["count"] == 1


def test_a_failure_in_between_resets_the_healthy_streak(tmp_path):
    svc = service(tmp_path, resolve_after=2)
    svc.record_run(confirmed_run(DEAD_BUTTON))
    svc.record_run(confirmed_run())
    svc.record_run(make_run(journey(fail=DEAD_BUTTON)))  # repeats: streak back to 0
    svc.record_run(confirmed_run())
    assert all_incidents(svc)[0]["status"] == "open"
    svc.record_run(confirmed_run())
    assert all_incidents(svc)[0]["status"] == "resolved"


def test_resolve_after_is_configurable(tmp_path):
    svc = service(tmp_path, resolve_after=3)
    svc.record_run(confirmed_run(DEAD_BUTTON))
    for _ in range(2):
        svc.record_run(confirmed_run())
    assert all_incidents(svc)[0]["status"] == "open"
    svc.record_run(confirmed_run())
    assert all_incidents(svc)[0]["status"] == "resolved"


def test_a_run_that_never_reached_the_step_neither_counts_nor_resets(tmp_path):
    svc = service(tmp_path)
    svc.record_run(confirmed_run(DEAD_BUTTON))
    svc.record_run(confirmed_run())  # healthy: streak 1
    login_broken = {"login": (BREAKPOINT, "request_failed", "POST /api/login HTTP 500")}
    r = svc.record_run(confirmed_run(login_broken))  # stops at step 1: confirm never ran
    assert r.opened == [2]
    transfer = all_incidents(svc)[0]
    assert transfer["status"] == "open" and transfer["healthy_streak"] == 1
    svc.record_run(confirmed_run())  # healthy: streak 2 -> resolved; the login incident is at 1
    by_id = {i["id"]: i for i in all_incidents(svc)}
    assert by_id[1]["status"] == "resolved" and by_id[2]["status"] == "open"


def test_another_problem_at_the_same_step_is_another_incident(tmp_path):
    svc = service(tmp_path)
    svc.record_run(confirmed_run(DEAD_BUTTON))
    api_500 = {"confirm transfer": (BREAKPOINT, "request_failed", "POST http://bank.test/api/transfer HTTP 500")}
    assert svc.record_run(confirmed_run(api_500)).opened == [2]
    svc.record_run(confirmed_run(api_500))
    by_id = {i["id"]: i for i in all_incidents(svc)}
    # The dead button is gone: the step ran and showed something else, twice.
    assert by_id[1]["status"] == "resolved" and by_id[2]["status"] == "open" and by_id[2]["count"] == 2


def test_devices_are_separate_incidents(tmp_path):
    svc = service(tmp_path)
    run = make_run(journey(fail=DEAD_BUTTON), journey(fail=DEAD_BUTTON, device="mobile"),
                   journey(fail=DEAD_BUTTON, attempt=2), journey(fail=DEAD_BUTTON, device="mobile", attempt=2))
    assert svc.record_run(run).opened == [1, 2]
    assert {i["device"] for i in all_incidents(svc)} == {"desktop", "mobile"}


def test_recording_the_same_run_twice_changes_nothing(tmp_path):
    svc = service(tmp_path)
    run = confirmed_run(DEAD_BUTTON)
    assert svc.record_run(run).opened == [1]
    again = svc.record_run(run)
    assert again.already_recorded and not again.opened
    assert all_incidents(svc)[0]["count"] == 1


# -- confirmation ----------------------------------------------------------------------------------------
def test_a_failure_the_confirmation_rerun_does_not_reproduce_opens_nothing(tmp_path):
    svc = service(tmp_path)
    run = make_run(journey(fail=DEAD_BUTTON))
    assert svc.journeys_to_confirm(run) == ["transfer"]
    run.journeys.append(journey(attempt=2))  # the rerun passed: a blip
    run.compute_status()
    r = svc.record_run(run)
    assert r.opened == [] and len(r.unconfirmed) == 1
    assert all_incidents(svc) == [] and notified(svc) == []
    with svc.store.read() as conn:  # both attempts are recorded
        rows = conn.execute(select(journey_runs.c.attempt, journey_runs.c.outcome, journey_runs.c.latest)
                            .order_by(journey_runs.c.id)).all()
    assert [tuple(r) for r in rows] == [(1, "failing", False), (2, "healthy", True)]


def test_only_new_failures_are_confirmed(tmp_path):
    svc = service(tmp_path)
    svc.record_run(confirmed_run(DEAD_BUTTON))
    assert svc.journeys_to_confirm(make_run(journey(fail=DEAD_BUTTON))) == []  # already open
    both = {**DEAD_BUTTON, **SLOW_LOGIN}
    assert svc.journeys_to_confirm(make_run(journey(fail=both))) == ["transfer"]  # a new one too
    assert svc.journeys_to_confirm(make_run(journey())) == []
    assert svc.journeys_to_confirm(make_run(journey(robot="browser_not_found"))) == []


def test_confirmation_needs_the_same_failure_in_every_attempt(tmp_path):
    svc = service(tmp_path)
    other = {"see success": (BREAKPOINT, "expect_failed", "#back-home did not become visible")}
    run = make_run(journey(fail=DEAD_BUTTON), journey(fail=other, attempt=2))
    assert svc.record_run(run).opened == []


def test_confirm_count_zero_opens_at_once_and_two_needs_three_attempts(tmp_path):
    off = service(tmp_path / "a", confirm=0)
    run = make_run(journey(fail=DEAD_BUTTON))
    assert off.journeys_to_confirm(run) == []
    assert off.record_run(run).opened == [1]

    two = service(tmp_path / "b", confirm=2)
    run = make_run(journey(fail=DEAD_BUTTON))
    assert two.journeys_to_confirm(run) == ["transfer"]
    run.journeys.append(journey(fail=DEAD_BUTTON, attempt=2))
    assert two.journeys_to_confirm(run) == ["transfer"]
    run.journeys.append(journey(fail=DEAD_BUTTON, attempt=3))
    assert two.journeys_to_confirm(run) == []
    assert two.record_run(run).opened == [1]


# -- robot errors ------------------------------------------------------------------------------------------
def test_robot_errors_never_open_incidents_nor_count_as_healthy(tmp_path):
    svc = service(tmp_path, {
        "app": receiver("app", "webhook", "http://127.0.0.1:9/app", secret=whsec()),
        "ops": receiver("ops", "webhook", "http://127.0.0.1:9/ops", secret=whsec(), events=["robot_error"]),
    })
    svc.record_run(confirmed_run(DEAD_BUTTON))
    svc.record_run(confirmed_run())  # healthy: streak 1
    for _ in range(3):
        r = svc.record_run(make_run(journey(robot="browser_not_found")))
        assert not r.opened and not r.resolved
    inc = all_incidents(svc)[0]
    assert inc["status"] == "open" and inc["healthy_streak"] == 1  # neither healthy nor a reset
    assert notified(svc) == [D.OPENED, D.ROBOT_ERROR]  # once per streak, not per run
    svc.record_run(confirmed_run())
    assert notified(svc) == [D.OPENED, D.ROBOT_ERROR, D.ROBOT_RECOVERED, D.RESOLVED]
    with svc.store.read() as conn:
        routed = conn.execute(select(events.c.type, deliveries.c.receiver).join(deliveries, deliveries.c.event_id == events.c.id)
                              .order_by(deliveries.c.id)).all()
    assert [tuple(r) for r in routed] == [
        (D.OPENED, "app"), (D.ROBOT_ERROR, "ops"), (D.ROBOT_RECOVERED, "ops"), (D.RESOLVED, "app")]
    with svc.store.read() as conn:
        robot_doc = conn.execute(select(events.c.payload).where(events.c.type == D.ROBOT_ERROR)).scalar_one()
    assert robot_doc["data"]["robot"]["journeys"][0]["reason"] == "browser_not_found"
    assert robot_doc["data"]["incident"] is None


# -- flapping ---------------------------------------------------------------------------------------------
def test_percent_state_change_is_nagios_weighted():
    assert percent_state_change([False] * 21) == 0.0
    alternating = [i % 2 == 0 for i in range(21)]
    assert percent_state_change(alternating) == pytest.approx(99.0)  # 20 changes, weights 0.8 .. 1.18
    # One change: newest weighs 1.18, oldest 0.8.
    newest = [False] * 20 + [True]
    oldest = [True] + [False] * 20
    assert percent_state_change(newest) == pytest.approx(1.18 * 5) and percent_state_change(oldest) == pytest.approx(4.0)
    # A short history counts as the newest slots.
    assert percent_state_change([False, True]) == pytest.approx(1.18 * 5)
    assert decide(False, 20.0, 20, 5) == "started" and decide(False, 19.9, 20, 5) is None
    assert decide(True, 5.0, 20, 5) is None and decide(True, 4.9, 20, 5) == "stopped"


def test_an_alternating_fault_sends_one_flapping_notice_not_a_page_per_change(tmp_path):
    svc = service(tmp_path, {"hook": receiver("hook", "webhook", "http://127.0.0.1:9/x", secret=whsec())},
                  resolve_after=1)
    for i in range(12):  # fail, pass, fail, pass...
        svc.record_run(confirmed_run(DEAD_BUTTON if i % 2 == 0 else None))
    sent = notified(svc)
    # resolve_after=1 pages on the first changes; once the weighted change rate
    # reaches 20% there is one flapping notice and then silence.
    assert sent.count(D.FLAPPING) == 1
    assert sent[-1] == D.FLAPPING
    before = sent.index(D.FLAPPING)
    assert before <= 4
    with svc.store.read() as conn:
        quiet = conn.execute(select(events.c.type).where(events.c.notified.is_(False), events.c.type.in_(
            (D.OPENED, D.RESOLVED)))).scalars().all()
    assert len(quiet) >= 6  # still on the timeline, just not sent

    # It settles: the state changes age out of the window; one notice saying so.
    for _ in range(21):
        svc.record_run(confirmed_run())
    sent = notified(svc)
    assert sent.count(D.FLAPPING) == 1 and sent.count(D.FLAPPING_STOPPED) == 1
    assert sent[-1] == D.FLAPPING_STOPPED
    with svc.store.read() as conn:
        doc = conn.execute(select(events.c.payload).where(events.c.type == D.FLAPPING_STOPPED)).scalar_one()
    assert doc["data"]["flapping"]["state"] == "healthy"


def test_flapping_with_default_resolve_after_pages_once_then_one_notice(tmp_path):
    svc = service(tmp_path)
    for i in range(8):
        svc.record_run(confirmed_run(DEAD_BUTTON if i % 2 == 0 else None))
    assert notified(svc) == [D.OPENED, D.FLAPPING]
    (inc,) = all_incidents(svc)
    assert inc["status"] == "open"  # never two healthy runs in a row


def test_flapping_thresholds_are_configurable(tmp_path):
    svc = service(tmp_path, resolve_after=1, flapping=FlappingSettings(window=21, start=50.0, stop=10.0))
    for i in range(6):
        svc.record_run(confirmed_run(DEAD_BUTTON if i % 2 == 0 else None))
    assert D.FLAPPING not in notified(svc)  # 5 changes ~ 29%: below 50%


# -- reminders ---------------------------------------------------------------------------------------------
def test_reminders_for_open_incidents_every_interval(tmp_path):
    clock = Clock()
    svc = service(tmp_path, clock=clock, remind_every_s=3600)
    svc.record_run(confirmed_run(DEAD_BUTTON))
    clock.advance(minutes=30)
    svc.record_run(make_run(journey(fail=DEAD_BUTTON)))
    assert notified(svc) == [D.OPENED]
    clock.advance(minutes=31)
    svc.record_run(make_run(journey(fail=DEAD_BUTTON)))
    assert notified(svc) == [D.OPENED, D.REMINDER]
    clock.advance(minutes=30)
    svc.record_run(make_run(journey(fail=DEAD_BUTTON)))
    assert notified(svc) == [D.OPENED, D.REMINDER]
    clock.advance(minutes=31)
    svc.record_run(make_run(journey(name="login")))  # any run checks reminders
    assert notified(svc) == [D.OPENED, D.REMINDER, D.REMINDER]


def test_reminders_are_off_by_default(tmp_path):
    clock = Clock()
    svc = service(tmp_path, clock=clock)
    svc.record_run(confirmed_run(DEAD_BUTTON))
    clock.advance(days=3)
    svc.record_run(make_run(journey(fail=DEAD_BUTTON)))
    assert notified(svc) == [D.OPENED]


# -- by hand, filters ----------------------------------------------------------------------------------------
def test_manual_resolve_notifies_and_a_later_failure_opens_a_new_incident(tmp_path):
    svc = service(tmp_path, {"hook": receiver("hook", "webhook", "http://127.0.0.1:9/x", secret=whsec())})
    svc.record_run(confirmed_run(DEAD_BUTTON))
    out = svc.resolve(1, "fixed by the deploy at 03:10")
    assert out["queued"] == 1
    inc = all_incidents(svc)[0]
    assert inc["resolved_by"] == "manual" and inc["resolve_note"] == "fixed by the deploy at 03:10"
    from patrol.errors import InputError

    with pytest.raises(InputError, match="already resolved"):
        svc.resolve(1)
    with pytest.raises(InputError, match="no incident #99"):
        svc.resolve(99)
    assert svc.record_run(confirmed_run(DEAD_BUTTON)).opened == [2]


def test_receivers_get_only_the_events_journeys_and_tags_they_want(tmp_path):
    svc = service(tmp_path, {
        "all": receiver("all", "webhook", "http://127.0.0.1:9/a", secret=whsec()),
        "opened-only": receiver("opened-only", "webhook", "http://127.0.0.1:9/b", secret=whsec(), events=["opened"]),
        "login-team": receiver("login-team", "webhook", "http://127.0.0.1:9/c", secret=whsec(), journeys=("log*",)),
        "money": receiver("money", "webhook", "http://127.0.0.1:9/d", secret=whsec(), tags=("money",)),
        "pd": receiver("pd", "pagerduty", "http://127.0.0.1:9/e", secret="k" * 32, events=["opened", "resolved", "reminder"]),
    }, remind_every_s=60)
    clock_run = confirmed_run(DEAD_BUTTON)
    svc.record_run(clock_run)
    with svc.store.read() as conn:
        got = sorted(conn.execute(select(deliveries.c.receiver)).scalars())
    assert got == ["all", "money", "opened-only", "pd"]
    login = confirmed_run({"login": (BREAKPOINT, "expect_failed", "x")}, name="login", tags=())
    svc.record_run(login)
    with svc.store.read() as conn:
        rows = conn.execute(select(deliveries.c.receiver).join(events, events.c.id == deliveries.c.event_id)
                            .where(events.c.incident_id == 2)).scalars().all()
    assert sorted(rows) == ["all", "login-team", "opened-only", "pd"]


def test_events_carry_links_when_public_url_is_set(tmp_path):
    svc = service(tmp_path, public_url="https://patrol.example.com/reports")
    run_dir = str(tmp_path / "runs" / "20261121-100000-abcd")
    svc.record_run(confirmed_run(DEAD_BUTTON, run_dir=run_dir))
    with svc.store.read() as conn:
        doc = conn.execute(select(events.c.payload).where(events.c.type == D.OPENED)).scalar_one()
    ev = doc["data"]["incident"]["evidence"]
    assert ev["screenshot"]["url"] == "https://patrol.example.com/reports/20261121-100000-abcd/transfer/03.png"
    assert ev["screenshot"]["path"] == f"{run_dir}/transfer/03.png"
    assert doc["data"]["run"]["report"]["url"].endswith("/20261121-100000-abcd/index.html")
    assert doc["data"]["run"]["attempts"] == 2


def test_webhook_documents_validate_against_the_published_schema(tmp_path):
    import json
    from pathlib import Path

    import jsonschema

    import patrol.notify

    schema = json.loads((Path(patrol.notify.__file__).parent / "schemas" / "webhook-v1.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    clock = Clock()
    svc = service(tmp_path, clock=clock, remind_every_s=60, resolve_after=1)
    svc.record_run(confirmed_run(DEAD_BUTTON, run_dir=str(tmp_path / "r1")))
    clock.advance(minutes=2)
    svc.record_run(make_run(journey(fail=DEAD_BUTTON)))  # reminder
    svc.record_run(confirmed_run())  # resolved
    svc.record_run(make_run(journey(robot="browser_not_found")))
    svc.record_run(confirmed_run())  # robot recovered
    for i in range(8):
        svc.record_run(confirmed_run(DEAD_BUTTON if i % 2 == 0 else None))
    with svc.store.read() as conn:
        docs = conn.execute(select(events.c.payload).where(events.c.notified.is_(True))).scalars().all()
    types = {d["type"] for d in docs}
    assert {D.OPENED, D.RESOLVED, D.REMINDER, D.FLAPPING, D.ROBOT_ERROR, D.ROBOT_RECOVERED} <= types
    validator = jsonschema.Draft202012Validator(schema)
    for doc in docs:
        errors = [e.message for e in validator.iter_errors(doc)]
        assert not errors, (doc["type"], errors)


def test_secrets_in_findings_are_masked_in_the_state_and_events(tmp_path):
    from patrol.secrets import MASKER

    MASKER.add("hunter2-secret-value")
    svc = service(tmp_path)
    leak = {"confirm transfer": (BREAKPOINT, "expect_failed", "password hunter2-secret-value shown on screen")}
    svc.record_run(confirmed_run(leak))
    with svc.store.read() as conn:
        blob = repr(conn.execute(select(events.c.payload)).scalars().all()) + repr(all_incidents(svc))
    assert "hunter2-secret-value" not in blob and "******" in blob


def test_lifecycle_events_arrive_in_order_per_incident_over_http(tmp_path):
    """Through a real receiver: opened, reminder, resolved for one incident, in order."""
    clock = Clock()
    with ReceiverServer() as srv:
        secret = whsec()
        svc = service(tmp_path, {"hook": receiver("hook", "webhook", srv.url("/hook"), secret=secret)},
                      clock=clock, remind_every_s=60)
        svc.record_run(confirmed_run(DEAD_BUTTON))
        clock.advance(minutes=2)
        svc.record_run(make_run(journey(fail=DEAD_BUTTON)))
        svc.record_run(confirmed_run())
        svc.record_run(confirmed_run())
        stats = svc.flush_deliveries()
        assert stats.sent == 3 and stats.pending == 0
        assert [r.json["type"] for r in srv.accepted("/hook")] == [D.OPENED, D.REMINDER, D.RESOLVED]
