"""Patrol's incidents in a real Alertmanager (Debian's prometheus-alertmanager, started
on a loopback port by ``alertmanager_server``): an opened incident is listed with its
labels, grouped by them, silenced by an Alertmanager silence on the journey label,
kept alive by re-sends while open, and ended when it resolves.

Each test uses journeys of its own: the Alertmanager is shared by the module."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alertmanager_server import GROUP_BY, alertmanager  # noqa: F401  (fixture)
from receivers import DEAD_BUTTON, confirmed_run, journey, make_run, receiver, service
from sqlalchemy import select

from patrol.causes import Cause, Problem
from patrol.config import load_config
from patrol.core.clock import FakeClock
from patrol.core.isotime import parse_iso
from patrol.errors import ConfigError
from patrol.notify.formats import FORMATS, Context
from patrol.notify.formats.alertmanager_api import VALID_FOR_S, alerts_url
from patrol.results import BREAKPOINT
from patrol.store import outbox_repo
from patrol.store.schema import deliveries, events

PUBLIC = "https://patrol.example.com/reports"
FORM_GONE = {"open transfer": (BREAKPOINT, "expect_failed", "#transfer-form did not become visible within 3.0s")}
LOGIN_500 = {"login": (BREAKPOINT, "request_failed", "POST /api/login HTTP 500")}


def am_service(tmp_path, am, **kw):
    return service(tmp_path, {"am": receiver("am", "alertmanager_api", am.url)}, public_url=PUBLIC, **kw)


def of_journey(alerts, name):
    return [a for a in alerts if a["labels"].get("journey") == name]


def rows(svc):
    with svc.store.read() as conn:
        return [dict(r) for r in conn.execute(select(deliveries, events.c.type).join(events, events.c.id == deliveries.c.event_id)
                                              .order_by(deliveries.c.id)).mappings()]


def test_an_opened_incident_is_listed_with_its_labels_and_ends_when_it_resolves(tmp_path, alertmanager):
    am = alertmanager
    svc = am_service(tmp_path, am, resolve_after=1)
    svc.record_run(confirmed_run(DEAD_BUTTON, name="am-open", run_dir=str(tmp_path / "run-1")))
    sent = svc.flush_deliveries(10)
    assert (sent.sent, sent.dead, sent.pending) == (1, 0, 0), sent.errors  # the re-send waiting is not "pending"
    (alert,) = of_journey(am.wait_for(lambda a: of_journey(a, "am-open")), "am-open")
    assert alert["labels"] == {
        "alertname": "PatrolIncident", "journey": "am-open", "step": "confirm transfer", "step_index": "3",
        "kind": "breakpoint", "reason": "expect_failed", "target": "web", "device": "desktop",
        "severity": "critical", "source": "patrol"} | {k: v for k, v in alert["labels"].items()
                                                       if k in ("cause_kind", "host", "endpoint")}
    assert alert["status"]["state"] == "active"
    assert "confirm transfer" in alert["annotations"]["summary"]
    assert "did not become visible" in alert["annotations"]["description"]
    assert alert["annotations"]["incident_id"] == "1"
    assert alert["annotations"]["report"] == alert["generatorURL"] == f"{PUBLIC}/run-1/index.html"
    ends = parse_iso(alert["endsAt"])
    assert ends is not None and timedelta(seconds=VALID_FOR_S - 60) < ends - datetime.now(UTC) <= timedelta(seconds=VALID_FOR_S)
    # The re-send waits in the outbox, marked as scheduled (what `patrol deliveries` shows).
    resend = [r for r in rows(svc) if r["stream"].startswith("resend|")]
    assert len(resend) == 1 and resend[0]["status"] == "pending" and resend[0]["last_error"].startswith(outbox_repo.SCHEDULED)

    svc.record_run(confirmed_run(name="am-open"))  # healthy: resolves
    assert svc.flush_deliveries(10).sent == 1
    assert not of_journey(am.wait_for(lambda a: not of_journey(a, "am-open")), "am-open")


def api_500(name, step):
    """A journey (and its confirmation rerun) whose step broke on the app's API answering 500."""
    fail = {step: (BREAKPOINT, "request_failed", "GET /api/transfer/123 HTTP 500")}
    attempts = [journey(name, fail), journey(name, fail, attempt=2)]
    for st in (st for j in attempts for st in j.steps):
        for f in st.findings:
            f.cause = Cause.of_request("GET", "http://bank.test:8443/api/transfer/123", Problem.FAILED,
                                       resource_type="fetch", status=500)
    return attempts


def test_one_problem_across_journeys_is_one_alert_carrying_its_cause(tmp_path, alertmanager):
    am = alertmanager
    svc = am_service(tmp_path, am)
    svc.record_run(make_run(*api_500("am-cause-a", "confirm transfer"), *api_500("am-cause-b", "login")))
    assert svc.flush_deliveries(10).sent == 1
    alerts = am.wait_for(lambda a: of_journey(a, "am-cause-a"))
    (alert,) = of_journey(alerts, "am-cause-a") + of_journey(alerts, "am-cause-b")
    assert {k: alert["labels"].get(k) for k in ("cause_kind", "host", "endpoint", "reason")} == {
        "cause_kind": "request", "host": "bank.test:8443", "endpoint": "/api", "reason": "request_failed"}
    assert alert["annotations"]["journeys"] == "am-cause-a, am-cause-b"
    assert "GET /api/transfer/{id}" in alert["annotations"]["summary"]


def test_alerts_group_by_their_labels(tmp_path, alertmanager):
    am = alertmanager
    svc = am_service(tmp_path, am)
    svc.record_run(confirmed_run(DEAD_BUTTON, name="am-group-a"))
    svc.record_run(confirmed_run(FORM_GONE, name="am-group-b"))
    svc.record_run(confirmed_run(LOGIN_500, name="am-group-c"))
    assert svc.flush_deliveries(10).sent == 3
    am.wait_for(lambda a: all(of_journey(a, j) for j in ("am-group-a", "am-group-b", "am-group-c")))
    groups = {tuple(g["labels"].get(k) for k in GROUP_BY): {a["labels"]["journey"] for a in g["alerts"]
                                                           if a["labels"]["journey"].startswith("am-group")}
              for g in am.groups()}
    # Two steps of two journeys, one kind of failure: one group; the login 500 is another.
    assert groups[("PatrolIncident", "breakpoint", "expect_failed")] == {"am-group-a", "am-group-b"}
    assert groups[("PatrolIncident", "breakpoint", "request_failed")] == {"am-group-c"}


def test_an_alertmanager_silence_on_the_journey_label_silences_it_there(tmp_path, alertmanager):
    am = alertmanager
    svc = am_service(tmp_path, am)
    silence = am.silence("journey", "am-silenced")
    svc.record_run(confirmed_run(DEAD_BUTTON, name="am-silenced"))
    svc.record_run(confirmed_run(DEAD_BUTTON, name="am-loud"))
    assert svc.flush_deliveries(10).sent == 2
    alerts = am.wait_for(lambda a: of_journey(a, "am-silenced") and of_journey(a, "am-loud"))
    (quiet,), (loud,) = of_journey(alerts, "am-silenced"), of_journey(alerts, "am-loud")
    assert quiet["status"]["state"] == "suppressed" and quiet["status"]["silencedBy"] == [silence]
    assert loud["status"]["state"] == "active" and loud["status"]["silencedBy"] == []


def test_the_alert_is_re_sent_while_open_and_the_re_send_stops_when_it_resolves(tmp_path, alertmanager):
    am = alertmanager
    # The fake clock runs behind Alertmanager's: the resolution (at fake now) is in the past for it.
    clock = FakeClock(datetime.now(UTC) - timedelta(seconds=150), autoadvance=True)
    svc = am_service(tmp_path, am, resolve_after=1, clock=clock)
    svc.record_run(confirmed_run(DEAD_BUTTON, name="am-resend"))
    assert svc.flush_deliveries(5).sent == 1
    first = parse_iso(of_journey(am.wait_for(lambda a: of_journey(a, "am-resend")), "am-resend")[0]["endsAt"])
    assert svc.flush_deliveries(5).sent == 0  # not due yet
    clock.advance(61)
    assert svc.flush_deliveries(5).sent == 1  # the re-send
    again = am.wait_for(lambda a: parse_iso(of_journey(a, "am-resend")[0]["endsAt"]) != first)
    later = parse_iso(of_journey(again, "am-resend")[0]["endsAt"])
    assert first is not None and later is not None and timedelta(seconds=60) <= later - first <= timedelta(seconds=62)
    (resend,) = [r for r in rows(svc) if r["stream"].startswith("resend|")]
    assert resend["status"] == "pending" and resend["attempts"] == 1 and resend["last_status"] == 200

    svc.record_run(confirmed_run(name="am-resend"))
    assert svc.flush_deliveries(5).sent == 1  # the resolution
    assert not of_journey(am.wait_for(lambda a: not of_journey(a, "am-resend")), "am-resend")
    clock.advance(61)
    assert svc.flush_deliveries(5).sent == 0  # nothing fires any more: the re-send stops without sending
    (resend,) = [r for r in rows(svc) if r["stream"].startswith("resend|")]
    assert resend["status"] == "sent" and resend["attempts"] == 1 and "no longer" in resend["last_error"]
    assert not of_journey(am.alerts(), "am-resend")


def test_the_alert_carries_the_incidents_cause_as_labels(tmp_path):
    """Alertmanager routes by what the incident names as its cause (read from the
    incident document; one without a cause has no such labels)."""
    svc = service(tmp_path, {"am": receiver("am", "alertmanager_api", "http://127.0.0.1:9")})
    svc.record_run(confirmed_run(DEAD_BUTTON))
    with svc.store.read() as conn:
        doc = outbox_repo.event_payload(conn, 1)
    fmt, am = FORMATS["alertmanager_api"], svc.receivers["am"]
    plain = fmt.alert(doc, am, Context())  # type: ignore[attr-defined]
    doc["data"]["incident"]["cause"] = {"kind": "request", "host": "bank.example:8443",
                                        "endpoint": "/api/transfer/{id}", "title": "GET /api/transfer/{id} answered 500"}
    doc["data"]["incident"]["affected"] = [{"journey": "transfer", "tags": []}, {"journey": "buy_fund", "tags": []}]
    labels = fmt.alert(doc, am, Context())["labels"]  # type: ignore[attr-defined]
    assert labels == plain["labels"] | {"cause_kind": "request", "host": "bank.example:8443", "endpoint": "/api/transfer/{id}"}
    assert fmt.alert(doc, am, Context())["annotations"]["journeys"] == "transfer, buy_fund"  # type: ignore[attr-defined]
    (req,) = fmt.requests(doc, am, Context())
    assert req.url == "http://127.0.0.1:9/api/v2/alerts" and req.body.startswith(b"[{")


@pytest.mark.parametrize(("url", "endpoint"), [
    ("http://am:9093", "http://am:9093/api/v2/alerts"),
    ("http://am:9093/", "http://am:9093/api/v2/alerts"),
    ("http://am:9093/api/v2/alerts", "http://am:9093/api/v2/alerts"),
    ("https://proxy.example/alertmanager/", "https://proxy.example/alertmanager/api/v2/alerts"),
])
def test_the_url_is_alertmanagers_address_or_its_alerts_endpoint(url, endpoint):
    assert alerts_url(url) == endpoint


def test_the_old_format_name_is_a_config_error_naming_both_choices(tmp_path):
    (tmp_path / "patrol.yaml").write_text("receivers:\n  am:\n    format: alertmanager\n    url: http://am:9093\n",
                                          encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_config(str(tmp_path / "patrol.yaml"))
    (problem,) = e.value.problems
    assert (problem.field, problem.line) == ("receivers.am.format", 3)
    assert "alertmanager_api" in problem.message and "alertmanager_webhook" in problem.message


def test_resend_sets_how_often_the_alert_goes_again_and_how_long_each_send_holds(tmp_path):
    """With `patrol run` from cron every 5 minutes, the dispatcher runs with each run:
    ``resend: 5m`` makes each send valid for 20 minutes, so the alert does not end between runs."""
    c = load_config_text(tmp_path, "receivers:\n  am: {format: alertmanager_api, url: 'http://am:9093', resend: 5m}\n")
    am = c.settings.receivers["am"]
    assert am.resend_s == 300.0
    svc = service(tmp_path, {"am": receiver("am", "alertmanager_api", "http://127.0.0.1:9", resend_s=300.0)})
    svc.record_run(confirmed_run(DEAD_BUTTON))
    with svc.store.read() as conn:
        doc = outbox_repo.event_payload(conn, 1)
    opened = parse_iso(doc["data"]["incident"]["first_seen"])
    assert opened is not None
    alert = FORMATS["alertmanager_api"].alert(doc, svc.receivers["am"], Context(now=lambda: opened))  # type: ignore[attr-defined]
    assert parse_iso(alert["endsAt"]) == opened + timedelta(minutes=20)
    with pytest.raises(ConfigError) as e:
        load_config_text(tmp_path, "receivers:\n  hook: {format: alertmanager_webhook, url: 'http://x/y', resend: 5m}\n")
    assert [(p.field, p.message) for p in e.value.problems] == [
        ("receivers.hook.resend", "format alertmanager_webhook does not re-send; only alertmanager_api does")]


def load_config_text(tmp_path, text):
    (tmp_path / "patrol.yaml").write_text(text, encoding="utf-8")
    return load_config(str(tmp_path / "patrol.yaml"))


def test_the_robots_own_failure_is_an_alert_of_its_own_that_ends_when_it_recovers(tmp_path, alertmanager):
    am = alertmanager
    clock = FakeClock(datetime.now(UTC) - timedelta(seconds=150), autoadvance=True)
    svc = service(tmp_path, {"am": receiver("am", "alertmanager_api", am.url, events={"opened", "resolved", "robot_error"})},
                  clock=clock)
    robot = [a for a in am.alerts() if a["labels"]["alertname"] == "PatrolRobotError"]
    assert robot == []
    svc.record_run(make_run(journey("am-robot", robot="browser_missing")))
    assert svc.flush_deliveries(5).sent == 1
    alerts = am.wait_for(lambda a: any(x["labels"]["alertname"] == "PatrolRobotError" for x in a))
    (alert,) = [a for a in alerts if a["labels"]["alertname"] == "PatrolRobotError"]
    assert alert["labels"] == {"alertname": "PatrolRobotError", "target": "web", "severity": "error", "source": "patrol"}
    clock.advance(61)
    svc.record_run(make_run(journey("am-robot", robot="browser_missing")))  # still failing: nothing new...
    assert svc.flush_deliveries(5).sent == 1  # ...but the re-send keeps the alert alive
    svc.record_run(make_run(journey("am-robot")))  # the robot works again
    assert svc.flush_deliveries(5).sent == 1
    am.wait_for(lambda a: not any(x["labels"]["alertname"] == "PatrolRobotError" for x in a))
    assert not [a for a in am.alerts() if a["labels"]["alertname"] == "PatrolRobotError"]
    clock.advance(61)
    assert svc.flush_deliveries(5).sent == 0  # the re-send stopped: the robot no longer fails
