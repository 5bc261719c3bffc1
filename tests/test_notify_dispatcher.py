"""The outbox dispatcher against real HTTP receivers on 127.0.0.1: receiver down,
500, 429 + Retry-After, hangs, group-robot error codes, rate limits, leases."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta

import pytest
from receivers import (
    DEAD_BUTTON,
    Answer,
    ReceiverServer,
    confirmed_run,
    journey,
    make_run,
    receiver,
    service,
    whsec,
)
from sqlalchemy import select, update

from patrol.core.clock import FakeClock
from patrol.incidents import documents as D
from patrol.notify.dispatcher import parse_retry_after
from patrol.results import BREAKPOINT
from patrol.store.schema import deliveries, events

LOGIN_BROKEN = {"login": (BREAKPOINT, "request_failed", "POST /api/login HTTP 500")}


def rows(svc):
    with svc.store.read() as conn:
        return [dict(r) for r in conn.execute(
            select(deliveries, events.c.type, events.c.incident_id, events.c.uid)
            .join(events, events.c.id == deliveries.c.event_id).order_by(deliveries.c.id)).mappings()]


def fake_clock() -> FakeClock:
    """Backoffs, rate-limit waits and flush deadlines in fake time: a sleeping
    dispatcher moves it on, so a loaded machine changes nothing but the real duration."""
    return FakeClock(datetime.now(UTC), autoadvance=True)


def attempt_times(svc) -> list[float]:
    """When each delivery was last tried, on the dispatcher's (fake) clock."""
    return sorted(r["last_attempt_at"].timestamp() for r in rows(svc))


def hook(srv, path="/hook", **kw):
    kw.setdefault("secret", whsec())
    return {"hook": receiver("hook", "webhook", srv.url(path), **kw)}


def test_receiver_down_then_up_every_event_arrives_once_in_order(tmp_path):
    srv = ReceiverServer()
    srv.stop()  # down: connection refused
    svc = service(tmp_path, hook(srv), resolve_after=1, clock=fake_clock())  # 0.3 s of the dispatcher's time, however slow the machine
    svc.record_run(confirmed_run(DEAD_BUTTON))  # opened #1
    first = svc.flush_deliveries(0.3)
    assert first.sent == 0 and first.pending == 1 and "could not reach the receiver" in first.errors[0]
    svc.record_run(confirmed_run())  # resolved #1, queued behind opened #1
    svc.record_run(confirmed_run(LOGIN_BROKEN, name="login"))  # opened #2
    svc.record_run(confirmed_run(DEAD_BUTTON))  # opened #3 (same problem as #1, new incident)
    assert svc.flush_deliveries(0.3).pending == 4
    srv.start()  # up again, same port
    try:
        stats = svc.flush_deliveries(5)
        assert stats.pending == 0 and stats.dead == 0
        got = srv.accepted("/hook")
        assert len(got) == 4 and len({r.webhook_id for r in got}) == 4
        per_incident: dict[int, list[str]] = {}
        for r in got:
            doc = r.json
            assert doc["id"] == r.webhook_id
            per_incident.setdefault(doc["data"]["incident"]["id"], []).append(doc["type"])
        assert per_incident == {1: [D.OPENED, D.RESOLVED], 2: [D.OPENED], 3: [D.OPENED]}
        assert all(r["status"] == "sent" for r in rows(svc))
        # Every request ever made carried the id of one of these four events.
        assert {r.webhook_id for r in srv.at("/hook")} == {r.webhook_id for r in got}
    finally:
        srv.stop()


def test_500_is_retried_with_growing_backoff_and_the_same_webhook_id(tmp_path):
    with ReceiverServer() as srv:
        srv.script("/hook", Answer(500, b"upstream broke"), Answer(503, b"still broken"))
        svc = service(tmp_path, hook(srv), backoff_s=0.2, max_backoff_s=2)
        svc.record_run(confirmed_run(DEAD_BUTTON))
        stats = svc.flush_deliveries(5)
        assert stats.sent == 1 and stats.retrying == 2
        reqs = srv.at("/hook")
        assert [r.answered for r in reqs] == [500, 503, 200]
        assert len({r.webhook_id for r in reqs}) == 1
        assert len({r.headers["webhook-signature"] for r in reqs}) >= 2 or len({r.headers["webhook-timestamp"] for r in reqs}) == 1
        gaps = [b.at - a.at for a, b in zip(reqs, reqs[1:])]
        assert gaps[0] >= 0.1 and gaps[1] >= 0.2  # equal jitter: at least half of 0.2s, then of 0.4s
        (row,) = rows(svc)
        assert row["attempts"] == 3 and row["last_status"] == 200 and row["status"] == "sent"


def test_429_retry_after_is_honoured_for_the_whole_receiver(tmp_path):
    with ReceiverServer() as srv:
        srv.script("/hook", Answer(429, b'{"error":"slow down"}', {"Retry-After": "1"}))
        svc = service(tmp_path, hook(srv), backoff_s=0.05)
        svc.record_run(confirmed_run(DEAD_BUTTON))
        svc.record_run(confirmed_run(LOGIN_BROKEN, name="login"))
        stats = svc.flush_deliveries(5)
        assert stats.sent == 2
        first, *rest = srv.at("/hook")
        assert first.answered == 429 and len(rest) == 2
        assert all(r.at - first.at >= 0.95 for r in rest)  # not the 50ms backoff, and not the other message either
        assert first.webhook_id in {r.webhook_id for r in rest}


def test_retry_after_as_seconds_or_http_date():
    now = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    assert parse_retry_after("120", now) == 120
    assert parse_retry_after("Sat, 21 Nov 2026 10:00:30 GMT", now) == 30
    assert parse_retry_after("garbage", now) is None and parse_retry_after(None, now) is None


def test_a_hang_past_the_timeout_is_retried_and_counted_once_by_webhook_id(tmp_path):
    with ReceiverServer() as srv:
        hang = threading.Event()
        srv.script("/hook", Answer(hold=hang))  # it would answer, but only when the test lets it
        try:
            svc = service(tmp_path, hook(srv, timeout_s=0.3), backoff_s=0.05)
            svc.record_run(confirmed_run(DEAD_BUTTON))
            stats = svc.flush_deliveries(5)
            reqs = srv.at("/hook")
            assert stats.sent == 1 and reqs[0].answered is None  # sent while the first request still hung
            assert any("no answer within 0.3s" in e for e in stats.errors)
            assert len(reqs) == 2 and reqs[0].webhook_id == reqs[1].webhook_id
            assert len(srv.accepted("/hook")) == 1
        finally:
            hang.set()


def test_dingtalk_http_200_with_errcode(tmp_path):
    with ReceiverServer() as srv:
        srv.script("/ding", Answer(200, b'{"errcode":310000,"errmsg":"sign not match, more: [see doc]"}'))
        srv.script("/ding2", Answer(200, b'{"errcode":130101,"errmsg":"send too fast, exceed 20 times per minute"}'))
        svc = service(tmp_path, {
            "ding": receiver("ding", "dingtalk", srv.url("/ding", "access_token=abcdefgh12345"), secret="SECx"),
            "ding2": receiver("ding2", "dingtalk", srv.url("/ding2", "access_token=abcdefgh12345"), secret="SECx"),
        }, clock=fake_clock())
        svc.record_run(confirmed_run(DEAD_BUTTON))
        stats = svc.flush_deliveries(5)
        by = {r["receiver"]: r for r in rows(svc)}
        assert by["ding"]["status"] == "dead" and by["ding"]["attempts"] == 1
        assert "errcode 310000 sign not match" in by["ding"]["last_error"] and by["ding"]["last_status"] == 200
        assert by["ding2"]["status"] == "sent" and by["ding2"]["attempts"] == 2  # throttled: retried
        assert stats.dead == 1 and stats.sent == 1


@pytest.mark.parametrize("fmt, body", [("wecom", b'{"errcode":93000,"errmsg":"invalid webhook url"}'),
                                       ("feishu", b'{"code":19021,"msg":"sign match fail"}')])
def test_wecom_and_feishu_error_codes_are_failures(tmp_path, fmt, body):
    with ReceiverServer() as srv:
        srv.default("/bot", Answer(200, body))
        kw = {"secret": "s3"} if fmt == "feishu" else {}
        svc = service(tmp_path, {"bot": receiver("bot", fmt, srv.url("/bot"), **kw)}, clock=fake_clock())
        svc.record_run(confirmed_run(DEAD_BUTTON))
        svc.flush_deliveries(2)
        (row,) = rows(svc)
        assert row["status"] == "dead" and body.decode().split(",")[0].split(":")[1].strip('"') in row["last_error"]


def test_4xx_is_dead_at_once_and_retry_by_hand_requeues_it(tmp_path, capsys, monkeypatch):
    from patrol.cli import main

    monkeypatch.setenv("PATROL_TEST_HOOK_SECRET", whsec())
    with ReceiverServer() as srv:
        srv.script("/hook", Answer(400, b'{"error":"unknown field"}'))
        cfg = tmp_path / "patrol.yaml"
        cfg.write_text(
            "state: {url: sqlite:///state.db}\n"
            "incidents: {delivery: {backoff: 50ms, flush_timeout: 3s}}\n"
            "receivers:\n"
            "  hook:\n"
            "    format: webhook\n"
            f"    url: {srv.url('/hook', 'token=tok-abcdef123456')}\n"
            "    secret: ${secret:PATROL_TEST_HOOK_SECRET}\n", encoding="utf-8")
        from patrol.config import load_config
        from patrol.incidents.service import IncidentService

        svc = IncidentService.from_config(load_config(str(cfg)))
        svc.record_run(confirmed_run(DEAD_BUTTON))
        stats = svc.flush_deliveries(3)
        assert stats.dead == 1 and len(srv.at("/hook")) == 1
        (row,) = rows(svc)
        assert row["status"] == "dead" and row["last_status"] == 400 and "unknown field" in row["last_error"]

        assert main(["--config", str(cfg), "deliveries", "--dead"]) == 0
        out = capsys.readouterr().out
        assert "dead" in out and "hook" in out and "HTTP 400" in out and "incident.opened" in out
        assert "tok-abcdef123456" not in out and "token=******" in out

        assert main(["deliveries", "retry", str(row["id"]), "--config", str(cfg)]) == 0
        out = capsys.readouterr().out
        assert "re-queued 1" in out and "1 sent" in out
        assert rows(svc)[0]["status"] == "sent"
        ids = {r.webhook_id for r in srv.at("/hook")}
        assert len(ids) == 1  # the same event, the same webhook-id
        assert main(["--config", str(cfg), "deliveries", "retry", str(row["id"])]) == 2  # not dead any more
        assert "not dead" in capsys.readouterr().err


def test_failures_are_retried_until_max_age_then_dead(tmp_path):
    with ReceiverServer() as srv:
        srv.default("/hook", Answer(502, b"bad gateway"))
        svc = service(tmp_path, hook(srv), backoff_s=0.05, max_backoff_s=0.1, max_age_s=0.6, clock=fake_clock())
        svc.record_run(confirmed_run(DEAD_BUTTON))
        stats = svc.flush_deliveries(4)
        (row,) = rows(svc)
        assert row["status"] == "dead" and row["attempts"] >= 3
        assert row["last_error"].startswith(f"gave up after {row['attempts']} attempts") and "HTTP 502" in row["last_error"]
        assert stats.dead == 1


def test_order_per_incident_holds_across_failures(tmp_path):
    with ReceiverServer() as srv:
        srv.script("/hook", Answer(500))  # only the very first request fails: opened #1
        # #1 waits 0.5-1 s of the dispatcher's time; #2 is due at once. On the real clock a
        # loaded machine could take that long to get to #2 (then #1, older, rightly went first).
        svc = service(tmp_path, hook(srv), resolve_after=1, backoff_s=1.0, max_backoff_s=2.0, clock=fake_clock())
        svc.record_run(confirmed_run(DEAD_BUTTON))
        svc.record_run(confirmed_run())  # resolved, queued behind the failing opened
        svc.record_run(confirmed_run(LOGIN_BROKEN, name="login"))  # another incident: not held up
        svc.flush_deliveries(5)
        types = [(r.json["data"]["incident"]["id"], r.json["type"]) for r in srv.at("/hook")]
        assert types[0] == (1, D.OPENED)
        ok = [(r.json["data"]["incident"]["id"], r.json["type"]) for r in srv.accepted("/hook")]
        assert ok.index((1, D.OPENED)) < ok.index((1, D.RESOLVED))
        assert set(ok) == {(1, D.OPENED), (1, D.RESOLVED), (2, D.OPENED)}
        assert ok == [(2, D.OPENED), (1, D.OPENED), (1, D.RESOLVED)]  # #2 went while #1 waited to retry


def test_dingtalk_rate_limit_20_per_minute(tmp_path):
    with ReceiverServer() as srv:
        svc = service(tmp_path, {"ding": receiver("ding", "dingtalk", srv.url("/ding"), rate_limit=(20, 60.0))},
                      clock=fake_clock())
        names = [f"journey-{i:02d}" for i in range(25)]
        run = make_run(*[journey(name=n, fail=DEAD_BUTTON) for n in names],
                       *[journey(name=n, fail=DEAD_BUTTON, attempt=2) for n in names])
        assert len(svc.record_run(run).opened) == 25
        stats = svc.flush_deliveries(2)
        assert len(srv.at("/ding")) == 20 and stats.sent == 20 and stats.pending == 5 and stats.deferred >= 1
        # Another dispatcher (the next run) knows what was sent in the last minute.
        stats = svc.flush_deliveries(1)
        assert len(srv.at("/ding")) == 20 and stats.pending == 5


def test_feishu_rate_limit_5_per_second(tmp_path):
    with ReceiverServer() as srv:
        svc = service(tmp_path, {"fs": receiver("fs", "feishu", srv.url("/fs"), rate_limit=(5, 1.0))}, clock=fake_clock())
        names = [f"j{i:02d}" for i in range(12)]
        svc.record_run(make_run(*[journey(name=n, fail=DEAD_BUTTON) for n in names],
                                *[journey(name=n, fail=DEAD_BUTTON, attempt=2) for n in names]))
        stats = svc.flush_deliveries(6)
        times = attempt_times(svc)  # on the dispatcher's clock, which its rate limiter keeps to
        assert stats.sent == 12 and len(srv.at("/fs")) == 12 and len(times) == 12
        for i in range(len(times) - 5):
            assert times[i + 5] - times[i] >= 0.95  # never 6 within a second
        assert times[-1] - times[0] >= 1.9


def test_a_killed_dispatchers_lease_is_taken_over_but_a_live_ones_is_not(tmp_path):
    import socket

    with ReceiverServer() as srv:
        svc = service(tmp_path, hook(srv), clock=fake_clock())
        svc.record_run(confirmed_run(DEAD_BUTTON))
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        host = socket.gethostname()
        far = datetime.now(UTC) + timedelta(hours=1)
        with svc.store.write() as conn:
            conn.execute(update(deliveries).values(lease_owner=f"{host}:{os.getpid()}:other", lease_until=far))
        assert svc.flush_deliveries(0.5).sent == 0  # a live owner (this very process, another dispatcher)
        with svc.store.write() as conn:
            conn.execute(update(deliveries).values(lease_owner=f"{host}:{dead.pid}:gone", lease_until=far))
        assert svc.flush_deliveries(2).sent == 1
        assert len(srv.accepted("/hook")) == 1


def test_run_forever_delivers_until_stopped(tmp_path):
    with ReceiverServer() as srv:
        svc = service(tmp_path, hook(srv))
        d = svc.dispatcher()
        stop = threading.Event()
        t = threading.Thread(target=d.run_forever, args=(stop,), kwargs={"idle": 0.1}, daemon=True)
        t.start()
        try:
            svc.record_run(confirmed_run(DEAD_BUTTON))
            assert len(srv.wait_for("/hook", 1, timeout=5)) == 1
            svc.record_run(confirmed_run())
            svc.record_run(confirmed_run())
            assert len(srv.wait_for("/hook", 2, timeout=5)) == 2
        finally:
            stop.set()
            t.join(5)
        assert not t.is_alive()
        assert [r.json["type"] for r in srv.accepted("/hook")] == [D.OPENED, D.RESOLVED]


def test_a_receiver_removed_from_the_config_is_dead_with_a_reason(tmp_path):
    with ReceiverServer() as srv:
        svc = service(tmp_path, hook(srv), clock=fake_clock())
        svc.record_run(confirmed_run(DEAD_BUTTON))
        svc.receivers = {}
        svc.flush_deliveries(1)
        (row,) = rows(svc)
        assert row["status"] == "dead" and "no longer in patrol.yaml" in row["last_error"]


def test_a_healthy_receiver_gets_events_in_the_order_they_happened(tmp_path):
    with ReceiverServer() as srv:
        svc = service(tmp_path, hook(srv), resolve_after=1, clock=fake_clock())
        svc.record_run(confirmed_run(DEAD_BUTTON))  # opened #1
        svc.record_run(confirmed_run(LOGIN_BROKEN, name="login"))  # opened #2
        svc.record_run(confirmed_run())  # resolved #1
        svc.record_run(confirmed_run(name="login"))  # resolved #2
        svc.record_run(confirmed_run(DEAD_BUTTON))  # opened #3
        assert svc.flush_deliveries(5).sent == 5
        got = [(r.json["data"]["incident"]["id"], r.json["type"].split(".")[1]) for r in srv.accepted("/hook")]
        assert got == [(1, "opened"), (2, "opened"), (1, "resolved"), (2, "resolved"), (3, "opened")]
