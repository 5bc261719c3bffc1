"""Issue 20, trace context and OpenTelemetry: a real OTLP/HTTP receiver on loopback
decodes what arrives (``otlp_receiver``); real Chromium patrols the traced demo bank
(its own server spans exported to the same receiver) with the ``slow_api`` fault and a
third-party script on another site (``localhost`` beside ``127.0.0.1``). One patrol,
shared by the assertions; a second, browserless one with the collector down."""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from otlp_receiver import OtlpReceiver, ReceivedSpan
from receivers import ReceiverServer, whsec

from patrol.config.tracing import TracingSettings
from patrol.core.tracecontext import TraceContext, origin_allowed
from patrol.core.urls import RequestPolicy

SLOW_MS = 2500  # the account API's delay: over the 1.5 s step budget, well within the 10 s timeout
LINK = "http://tempo.example/trace/{trace_id}"


@dataclass
class Patrolled:
    code: int
    out: str
    report: dict
    spans: list[ReceivedSpan]
    hook: list[dict]
    chat: list[str]
    third_party_hits: int
    html: str


def _run_cli(args: list[str], cwd: Path) -> tuple[int, str]:
    from patrol.cli import main

    out = io.StringIO()
    here = os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            code = main(args)
    finally:
        os.chdir(here)
    return code, out.getvalue()


def _journey(folder: Path, url: str) -> Path:
    path = folder / "traced.yaml"
    path.write_text(f"name: traced\nbase_url: {url}\nbudgets: {{step: 1500ms, timeout: 10s}}\n" + textwrap.dedent("""\
        steps:
          - name: open login page
            goto: /login
            expect: {visible: '#login-form'}
          - name: enter username
            fill: {selector: '#username', text: demo}
          - name: enter password
            fill: {selector: '#password', text: '${secret:DEMO_PASSWORD}'}
          - name: sign in
            click: '#login-submit'
            expect: {url: /home, visible: '#total-assets'}
          - name: fund list
            budget: 10s
            request: {url: /api/funds, session: browser}
        """), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def patrolled(tmp_path_factory) -> Patrolled:
    from patrol.demo.server import DemoBank

    folder = tmp_path_factory.mktemp("tracing")
    with OtlpReceiver() as otlp, ReceiverServer() as hooks, \
            DemoBank(port=0, faults=[f"slow_api=account:{SLOW_MS}", "third_party=200"], otlp=otlp.url) as bank:
        config = folder / "patrol.yaml"
        config.write_text(
            "state: {url: sqlite:///state.db}\n"
            "detectors: {forbidden_text: false}\n"
            "incidents: {confirm: 0, delivery: {backoff: 100ms, flush_timeout: 5s}}\n"
            f"receivers:\n  hook: {{format: webhook, url: '{hooks.url('/hook')}', secret: '{whsec()}', events: [opened]}}\n"
            f"  chat: {{format: slack, url: '{hooks.url('/slack')}', rate_limit: 'off'}}\n"
            f"tracing: {{enabled: true, otlp: '{otlp.url}', link: '{LINK}'}}\n", encoding="utf-8")
        journey = _journey(folder, bank.url)
        code, out = _run_cli(["--config", str(config), "run", str(journey), "--output", str(folder / "run")], folder)
        assert (folder / "run" / "report.json").exists(), out
        report = json.loads((folder / "run" / "report.json").read_text(encoding="utf-8"))

        def complete(spans: list[ReceivedSpan]) -> bool:
            names = {s.name for s in spans}
            return "journey traced" in names and "GET /api/funds" in names and "GET /api/account" in names
        spans = otlp.wait_for(complete)
        bank.tracing.flush()  # the bank's last spans
        spans = otlp.wait_for(complete)
        hook = [r.json for r in hooks.accepted("/hook")]
        chat = [json.dumps(r.json, ensure_ascii=False) for r in hooks.accepted("/slack")]
        html = (folder / "run" / "index.html").read_text(encoding="utf-8")
        return Patrolled(code, out, report, spans, hook, chat, bank.third_party_hits, html)


def _patrol_spans(p: Patrolled) -> dict[str, ReceivedSpan]:
    return {s.name: s for s in p.spans if s.service == "patrol"}


def _bank_spans(p: Patrolled, name: str) -> list[ReceivedSpan]:
    return [s for s in p.spans if s.service == "demo-bank" and s.name == name]


def test_journey_and_step_spans_arrive_with_status_timings_and_finding(patrolled):
    p = patrolled
    assert p.code == 1, p.out
    ours = _patrol_spans(p)
    journey = ours["journey traced"]
    assert journey.parent_span_id == "" and journey.status_code == 2  # the root, an error: the journey failed
    assert journey.attributes["patrol.status"] == "failed" and journey.attributes["patrol.report"].endswith("index.html")
    steps = {n: s for n, s in ours.items() if n.startswith("step ")}
    assert set(steps) == {"step open login page", "step enter username", "step enter password", "step sign in",
                          "step fund list"}
    for s in steps.values():
        assert s.trace_id == journey.trace_id and s.parent_span_id == journey.span_id
    sign_in = steps["step sign in"]
    assert sign_in.attributes["patrol.finding.kind"] == "stall"
    assert sign_in.attributes["patrol.finding.reason"] == "over_budget"
    assert sign_in.status_code == 2 and sign_in.ms >= SLOW_MS * 0.9, sign_in.ms
    assert steps["step fund list"].status_code != 2 and steps["step fund list"].attributes["patrol.status"] == "passed"
    assert p.report["journeys"][0]["trace_id"] == journey.trace_id
    assert p.report["journeys"][0]["trace_link"] == LINK.format(trace_id=journey.trace_id)


def test_the_banks_span_for_the_slow_request_is_a_child_of_the_step_span(patrolled):
    p = patrolled
    ours = _patrol_spans(p)
    account = _bank_spans(p, "GET /api/account")
    assert account, [s.name for s in p.spans]
    slow = max(account, key=lambda s: s.ms)
    assert slow.ms >= SLOW_MS * 0.9
    assert slow.trace_id == ours["journey traced"].trace_id
    assert slow.parent_span_id == ours["step sign in"].span_id
    assert slow.attributes["patrol.step"] if "patrol.step" in slow.attributes else True
    # The request: step's call carries it too (sent in the browser's session).
    funds = _bank_spans(p, "GET /api/funds")
    assert [s.parent_span_id for s in funds] == [ours["step fund list"].span_id]


def test_the_stall_and_its_incident_carry_the_trace_id_and_link(patrolled):
    p = patrolled
    trace_id = _patrol_spans(p)["journey traced"].trace_id
    link = LINK.format(trace_id=trace_id)
    step = next(s for s in p.report["journeys"][0]["steps"] if s["name"] == "sign in")
    stall = step["findings"][0]
    assert stall["kind"] == "stall" and stall["evidence"]["trace_id"] == trace_id
    opened = [d for d in p.hook if d["type"] == "incident.opened"]
    assert opened, p.hook
    assert opened[0]["data"]["incident"]["evidence"]["otel_trace"] == {"id": trace_id, "url": link}
    assert any(trace_id in text and link in text for text in p.chat), p.chat
    assert trace_id in p.out and link in p.out  # the console names it beside the finding
    assert trace_id in p.html and f'href="{link}"' in p.html  # and the report
    # Each recorded request of the step says which trace and span it was sent in.
    account = [r for r in step["artifacts"]["network"]["requests"] if r["url"].endswith("/api/account")]
    assert account and account[0]["trace_id"] == trace_id
    assert account[0]["span_id"] == _patrol_spans(p)["step sign in"].span_id


def test_no_trace_context_reached_the_third_party_host(patrolled):
    p = patrolled
    assert p.third_party_hits >= 1, "the page did load the other site's script"
    theirs = _bank_spans(p, "GET /__third_party__/analytics.js")
    assert theirs and all(s.parent_span_id == "" and s.trace_id != _patrol_spans(p)["journey traced"].trace_id
                          for s in theirs)
    assert all("baggage.patrol.journey" not in s.attributes for s in theirs)
    step = next(s for s in p.report["journeys"][0]["steps"] if s["name"] == "open login page")
    script = [r for r in step["artifacts"]["network"]["requests"] if "__third_party__" in r["url"]]
    assert script and "trace_id" not in script[0] and not script[0]["first_party"]


def test_only_first_party_and_allowed_origins_get_the_headers():
    policy = RequestPolicy.for_journey("https://bank.example.com/app", ("*.bank-api.net",))
    ctx = TraceContext("a" * 32, "b" * 16, "login", "sign in, now", "r1", ("https://partner.example:8443",), policy)
    assert ctx.sends_to("https://www.bank.example.com/api/x") and ctx.sends_to("https://eu.bank-api.net/y")
    assert ctx.sends_to("https://partner.example:8443/z") and not ctx.sends_to("https://partner.example/z")
    assert not ctx.sends_to("https://www.google-analytics.com/collect") and not ctx.sends_to("data:text/plain,x")
    headers = ctx.headers()
    assert headers["traceparent"] == f"00-{'a' * 32}-{'b' * 16}-01"
    assert headers["baggage"] == "patrol.journey=login,patrol.step=sign%20in%2C%20now"
    assert headers["tracestate"] == "patrol=r:r1"
    assert origin_allowed("https://API.partner.example/x", ("https://*.partner.example",))
    # Without a base_url nothing is known to be the app's own: only the allow-list.
    assert not TraceContext("a" * 32, "b" * 16, "j", "s").sends_to("https://anything.example/")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_collector_that_is_down_changes_nothing_but_one_warning(bank, tmp_path):
    """Browserless (request: steps only), so it costs milliseconds: the same findings and
    exit code with tracing off and with a collector nobody listens on; one warning."""
    from patrol.journey import parse_text
    from patrol.runner.tracing import MAX_QUEUED_SPANS, JourneyTrace, export_for

    journey = tmp_path / "probe.yaml"
    journey.write_text(f"name: probe\nbase_url: {bank.url}\nsteps:\n"
                       "  - request: {url: /api/account, expect: {status: 200}}\n"
                       "  - request: GET /api/funds\n", encoding="utf-8")
    dead = f"http://127.0.0.1:{_closed_port()}"
    outcomes = []
    for tracing in ("{enabled: false}", f"{{enabled: true, otlp: '{dead}'}}"):
        config = tmp_path / "patrol.yaml"
        config.write_text(f"state: false\ntracing: {tracing}\n", encoding="utf-8")
        run = tmp_path / f"run-{len(outcomes)}"
        code, out = _run_cli(["--config", str(config), "run", str(journey), "--output", str(run)], tmp_path)
        report = json.loads((run / "report.json").read_text(encoding="utf-8"))
        findings = [(s["name"], f["kind"], f["reason"]) for j in report["journeys"] for s in j["steps"]
                    for f in s["findings"]]
        outcomes.append((code, findings, report.get("warnings"), out + (run / "index.html").read_text(encoding="utf-8")))
    (code_off, found_off, warn_off, _), (code_on, found_on, warn_on, out_on) = outcomes
    assert (code_on, found_on) == (code_off, found_off) and code_on == 1 and found_on, outcomes
    assert warn_off == [] and len(warn_on) == 1 and dead in warn_on[0], warn_on
    assert out_on.count("spans could not be exported") == 2, out_on  # the console's line and the report's
    # Bounded memory: far more spans than the queue holds, to the dead collector.
    settings = TracingSettings(enabled=True, otlp=dead)
    export = export_for(settings)
    for _ in range(MAX_QUEUED_SPANS // 100 + 5):
        trace = JourneyTrace.start(settings, parse_text(journey.read_text(encoding="utf-8"), str(journey)), "r", 1, None)
        for i in range(100):
            trace.begin_step(i, trace.journey.steps[0])
        trace.end(_result())
        assert export.queued() <= MAX_QUEUED_SPANS
    assert export.queued() >= MAX_QUEUED_SPANS // 2


def _result():
    from patrol.results import JourneyResult

    return JourneyResult(name="probe", file="probe.yaml")


def test_the_tracing_section_and_a_journeys_own_over_it(tmp_path, monkeypatch):
    from patrol.config import load_config
    from patrol.errors import ConfigError
    from patrol.journey import parse_text
    from patrol.runner.tracing import endpoint_of, settings_for

    config = tmp_path / "patrol.yaml"
    config.write_text("tracing:\n  enabled: true\n  otlp: http://collector:4318\n  link: 'http://tempo/trace/{trace_id}'\n"
                      "  allow_origins: [https://api.partner.example]\n", encoding="utf-8")
    project = load_config(str(config)).settings.tracing
    assert endpoint_of(project) == "http://collector:4318/v1/traces"
    journey = parse_text("name: j\nbase_url: https://bank.example\ntracing: {enabled: false}\nsteps:\n  - goto: /\n", "j.yaml")
    assert settings_for(project, journey).on is False
    journey = parse_text("name: j\ntracing: {allow_origins: 'https://cdn.example'}\nsteps:\n  - goto: https://bank.example/\n", "j.yaml")
    assert settings_for(project, journey).allow_origins == ("https://api.partner.example", "https://cdn.example")
    assert settings_for(project, journey).link_to("abc") == "http://tempo/trace/abc"
    # Without otlp: the standard variables say where (the exporter reads them), else nowhere.
    assert endpoint_of(TracingSettings(enabled=True)) is None
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector.example:4318")
    assert endpoint_of(TracingSettings(enabled=True)) == ""
    config.write_text("tracing:\n  enabled: yes please\n  link: http://tempo/trace\n  allow_origins: [ftp://x]\n  otlp: grpc://c\n",
                      encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_config(str(config))
    text = str(e.value)
    for where in ("patrol.yaml:2:", "patrol.yaml:3:", "patrol.yaml:4:", "patrol.yaml:5:"):
        assert where in text, text
    assert "{trace_id}" in text and "ftp://x" in text


def test_the_console_links_only_an_http_trace_link():
    from patrol.webconsole.incident_pages import _otel_trace

    assert _otel_trace({"id": "ab" * 16, "url": "https://tempo.example/trace/abab"})["url"].startswith("https://")
    assert _otel_trace({"id": "ab" * 16, "url": "javascript:alert(1)"}) == {"id": "ab" * 16, "url": None}
    assert _otel_trace(None) is None and _otel_trace({"url": "https://x"}) is None
