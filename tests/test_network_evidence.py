"""Issue 9, complete network evidence: every request of every type and the console's
errors per step; only the app's own failures are findings (third party, ignored and
blocked requests are evidence); the cause is reported first and fast, its symptoms in
its evidence. Real Chromium against the demo bank and its faults."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SECRET

from patrol.application.judge import retry_after
from patrol.config.web import DEFAULT_ERROR_STATUSES
from patrol.core.evidence import ConsoleMessage, RequestRecord
from patrol.core.vocabulary import Reason
from patrol.drivers._network import cause_of, glob_pattern

DETECT_MS = 5000  # the cause within this of the step's start (the hard timeout is 10 s)
TOKEN = "tok9f8e7d6c5b4a3f2e1d0c9b8a7"


def journey(folder: Path, url: str, extra: str = "", *, home: str = "#total-assets") -> Path:
    """Sign in and see the home page, the hard timeout long (10 s) so an early finding
    is early because the cause was seen, not because the wait ran out."""
    path = folder / "net.yaml"
    path.write_text(
        f"name: net\nbase_url: {url}\nbudgets: {{step: 3s, timeout: 10s}}\n{extra}steps:\n"
        "  - name: open login page\n    goto: /login\n    expect: {visible: '#login-form'}\n"
        "  - name: enter username\n    fill: {selector: '#username', text: demo}\n"
        "  - name: enter password\n    fill: {selector: '#password', text: '${secret:DEMO_PASSWORD}'}\n"
        f"  - name: sign in\n    click: '#login-submit'\n    expect: {{url: /home, visible: '{home}'}}\n",
        encoding="utf-8")
    return path


def steps(p) -> dict[str, dict]:
    return {s["name"]: s for s in p.journey("net")["steps"]}


def requests_of(step: dict) -> list[dict]:
    return step["artifacts"]["network"]["requests"]


def one_finding(p, step_name: str) -> dict:
    step = steps(p)[step_name]
    assert [f["reason"] for f in step["findings"]] and len(step["findings"]) == 1, step["findings"]
    return step["findings"][0]


@pytest.mark.faults("static_500=app.js")
def test_a_failed_script_is_the_cause_reported_at_once_with_its_symptoms_inside(faulty_bank, patrol, tmp_path):
    p = patrol("run", str(journey(tmp_path, faulty_bank.url)))
    assert p.code == 1, p.out + p.err
    assert p.findings("net") == [("open login page", "breakpoint", "resource_failed")], "one cause, one finding"
    f = one_finding(p, "open login page")
    assert "app.js" in f["message"] and "HTTP 500" in f["message"] and f["fatal"]
    assert f["evidence"]["url"].endswith("/static/app.js") and f["evidence"]["status"] == 500
    # Without its script the login page never renders: that is folded in, not a second finding.
    assert f["evidence"]["consequences"], f["evidence"]
    step = steps(p)["open login page"]
    assert step["duration_ms"] < DETECT_MS, f"the failed script was known at once, the step still took {step['duration_ms']} ms"
    failed = [r for r in requests_of(step) if r.get("cause")]
    assert failed[0]["type"] == "script" and failed[0]["first_party"]
    assert requests_of(step)[0]["url"].endswith("/static/app.js"), "failed first in the waterfall"
    console = step["artifacts"]["network"]["console"]
    assert any(c["type"] == "error" and "app.js" in c["text"] for c in console), console
    html = (p.run_dir / "index.html").read_text(encoding="utf-8")
    assert 'class="net"' in html and "wf-row cause" in html


@pytest.mark.faults("blank_page=login")
def test_one_white_page_is_one_finding_its_crash_with_the_blank_screen_inside(faulty_bank, patrol, tmp_path):
    p = patrol("run", str(journey(tmp_path, faulty_bank.url)))
    assert p.findings("net") == [("open login page", "breakpoint", "page_error")], "one cause, one incident"
    consequences = " ".join(one_finding(p, "open login page")["evidence"]["consequences"])
    assert "blank" in consequences and "#login-form" in consequences, consequences
    assert steps(p)["open login page"]["duration_ms"] < DETECT_MS


@pytest.mark.faults("static_500=app.css")
def test_a_stylesheet_the_browser_refuses_is_a_failed_resource(faulty_bank, patrol, tmp_path):
    # A 500 answered as text/plain: Chromium aborts the load (no status reaches the page).
    p = patrol("run", str(journey(tmp_path, faulty_bank.url)))
    assert p.findings("net") == [("open login page", "breakpoint", "resource_failed")]
    assert "stylesheet" in one_finding(p, "open login page")["message"]


@pytest.mark.faults("broken_font")
def test_a_failed_font_is_a_render_finding_once_and_the_journey_goes_on(faulty_bank, patrol, tmp_path):
    p = patrol("run", str(journey(tmp_path, faulty_bank.url)))
    assert p.findings("net") == [("open login page", "render", "resource_failed")], "once per journey, not per page"
    f = one_finding(p, "open login page")
    assert not f["fatal"] and "brand.woff2" in f["message"] and "404" in f["message"]
    assert [s["status"] for s in p.journey("net")["steps"]] == ["failed", "passed", "passed", "passed"]
    fonts = [r for r in requests_of(steps(p)["sign in"]) if r["type"] == "font"]
    assert fonts and fonts[0]["status"] == 404, "the later page's failed font is still in its evidence"


@pytest.mark.faults("api_status=account:429")
def test_a_429_is_an_http_error_whose_retry_after_the_confirmation_rerun_honours(faulty_bank, patrol, tmp_path):
    p = patrol("run", str(journey(tmp_path, faulty_bank.url)))
    assert p.findings("net") == [("sign in", "breakpoint", "http_error")], "the error page it shows is folded in"
    f = one_finding(p, "sign in")
    assert "GET" in f["message"] and "/api/account" in f["message"] and "429" in f["message"]
    assert retry_after(f["evidence"]) == 7, f["evidence"]
    assert steps(p)["sign in"]["duration_ms"] < DETECT_MS


@pytest.mark.faults("api_status=account:404")
def test_4xx_statuses_that_count_are_a_setting_of_the_journey(faulty_bank, patrol, tmp_path):
    # An app that answers 404 as a normal "not found": this journey says only 401 counts.
    p = patrol("run", str(journey(tmp_path, faulty_bank.url, "network: {error_statuses: [401]}\n")))
    reasons = [r for _, _, r in p.findings("net")]
    assert "http_error" not in reasons and reasons, reasons  # the page's own error screen still fails the step
    assert any(r["status"] == 404 for r in requests_of(steps(p)["sign in"]))


@pytest.mark.faults("slow_api=account:4000")
def test_a_slow_request_is_named_in_the_stall(faulty_bank, patrol, tmp_path):
    p = patrol("run", str(journey(tmp_path, faulty_bank.url)))
    assert p.findings("net") == [("sign in", "stall", "over_budget")]
    f = one_finding(p, "sign in")
    assert "GET /api/account 4." in f["message"], f["message"]
    assert f["evidence"]["slow_requests"][0]["url"].endswith("/api/account")


@pytest.mark.faults("third_party")
def test_a_third_party_failure_is_evidence_never_a_finding(faulty_bank, patrol, tmp_path):
    p = patrol("run", str(journey(tmp_path, faulty_bank.url)))
    assert p.code == 0 and p.findings("net") == [], p.out
    assert faulty_bank.third_party_hits >= 1, "the fault fired: the page did ask the other site"
    theirs = [r for r in requests_of(steps(p)["open login page"]) if "__third_party__" in r["url"]]
    assert theirs and theirs[0]["status"] == 500 and not theirs[0]["first_party"] and "cause" not in theirs[0]
    assert steps(p)["open login page"]["artifacts"]["network"]["third_party"] >= 1


@pytest.mark.faults("third_party=200")
def test_a_blocked_request_is_never_sent(faulty_bank, patrol, tmp_path):
    path = journey(tmp_path, faulty_bank.url, "network: {block: ['*/__third_party__/*']}\n")
    p = patrol("run", str(path))
    assert p.code == 0 and p.findings("net") == [], p.out
    assert faulty_bank.third_party_hits == 0, "a blocked request reached the server"
    blocked = [r for s in p.journey("net")["steps"] if "network" in s["artifacts"] for r in requests_of(s)
               if "__third_party__" in r["url"]]
    assert blocked and all(r["blocked"] and r["status"] is None for r in blocked), blocked


def test_tokens_and_secrets_in_urls_are_masked_in_both_reports(bank, patrol, tmp_path):
    path = tmp_path / "leak.yaml"
    path.write_text(
        f"name: leak\nbase_url: {bank.url}\nsteps:\n"
        f"  - goto: /login?access_token={TOKEN}&note=${{secret:DEMO_PASSWORD}}\n    expect: {{visible: '#login-form'}}\n",
        encoding="utf-8")
    p = patrol("run", str(path))
    assert p.code == 0, p.out
    doc = next(r for r in p.report["journeys"][0]["steps"][0]["artifacts"]["network"]["requests"] if r["type"] == "document")
    assert "access_token=***" in doc["url"], doc["url"]
    for name in ("report.json", "index.html"):
        text = (p.run_dir / name).read_text(encoding="utf-8")
        assert TOKEN not in text and SECRET not in text, f"a token or the secret is in {name}"


def test_a_healthy_journey_has_its_complete_evidence_and_no_finding(bank, patrol, tmp_path):
    p = patrol("run", str(journey(tmp_path, bank.url)))
    assert p.code == 0 and p.findings("net") == [], p.out
    net = steps(p)["sign in"]["artifacts"]["network"]
    kinds = {r["type"] for r in net["requests"]}
    assert {"document", "script", "stylesheet", "fetch", "image"} <= kinds, kinds
    assert net["failed"] == 0 and net["third_party"] == 0
    for r in net["requests"]:
        assert r["first_party"] and r["status"] == 200 and r["duration_ms"] >= 0 and r["start_ms"] >= 0, r
    assert any(r["method"] == "POST" and r["url"].endswith("/api/login") for r in net["requests"])
    assert any(r["size"] for r in net["requests"]), "sizes from Content-Length"
    json.dumps(p.report)  # plain data


# -- the rules, without a browser ------------------------------------------------------


def entry(**kw):
    base = {"method": "GET", "url": "http://x/", "blocked": False, "ignored": False, "first_party": True, "status": 200,
            "error": None, "type": "fetch"}
    return RequestRecord(**{**base, **kw})


@pytest.mark.parametrize("kw, expected", [
    ({"type": "script", "status": 500}, ("resource_failed", True)),
    ({"type": "stylesheet", "status": None, "error": "net::ERR_ABORTED"}, ("resource_failed", True)),
    ({"type": "stylesheet", "status": None, "error": "net::ERR_ABORTED", "cancelled": True}, (None, False)),
    ({"type": "font", "status": 404}, ("resource_failed", False)),
    ({"type": "image", "status": None, "error": "net::ERR_CONNECTION_REFUSED"}, ("resource_failed", False)),
    ({"type": "fetch", "status": 503}, ("request_failed", True)),
    ({"type": "xhr", "status": 429}, ("http_error", True)),
    ({"type": "fetch", "status": 400}, (None, False)),  # a validation answer the page shows
    ({"type": "script", "status": 500, "first_party": False}, (None, False)),
    ({"type": "script", "status": 500, "ignored": True}, (None, False)),
    ({"type": "fetch", "status": None, "error": "net::ERR_BLOCKED_BY_CLIENT", "blocked": True}, (None, False)),
    ({"type": "other", "status": 404}, (None, False)),  # a favicon
])
def test_which_requests_may_be_findings(kw, expected):
    reason, fatal = cause_of(entry(**kw), DEFAULT_ERROR_STATUSES)
    assert (reason and str(reason), fatal) == expected


def test_block_globs_become_router_patterns_that_match_like_the_policy():
    pattern = glob_pattern("*://updates.example.org/*")
    assert pattern.match("https://updates.example.org/check?v=1")
    assert not pattern.match("https://example.org/updates.example.org")
    assert glob_pattern("*/a?c.js").match("http://x/abc.js") and not glob_pattern("*/a?c.js").match("http://x/a.c/d.js")


def test_the_demo_banks_network_faults_are_checked_like_the_others():
    from patrol.demo.faults import FaultSet, parse_fault

    assert parse_fault("static_500=app.js,app.css") == ("static_500", "app.js,app.css")
    assert parse_fault("api_status=transfer:429") == ("api_status", "transfer:429")
    assert parse_fault("third_party") == ("third_party", None) and parse_fault("broken_font") == ("broken_font", None)
    faults = FaultSet(["api_status=account:404,transfer:429", "third_party=200", "static_500=app.js"])
    assert (faults.api_status("transfer"), faults.api_status("account"), faults.api_status("cards")) == (429, 404, None)
    assert faults.third_party_status() == 200 and faults.static_fails("app.js") and not faults.static_fails("app.css")
    for spec, words in (("static_500=main.js", "unknown file 'main.js'"), ("api_status=transfer", "ENDPOINT:STATUS"),
                        ("api_status=transfer:418", "status '418'"), ("api_status=nope:429", "unknown endpoint"),
                        ("third_party=abc", "not an HTTP status"), ("broken_font=x", "takes no value")):
        with pytest.raises(ValueError, match=words):
            parse_fault(spec)


def test_the_waterfall_escapes_what_the_app_wrote():
    from patrol.checks.network import waterfall
    from patrol.drivers.base import DriverEvents
    from patrol.reports.html_report import render_run
    from patrol.reports.json_report import to_dict
    from patrol.results import JourneyResult, RunResult, StepResult

    evil = '"><script>alert(1)</script>'
    events = DriverEvents(
        requests=[entry(method="GET", url=f"http://x/a.js?q={evil}", type="script", status=500, error="HTTP 500",
                        start_ms=5.0, duration_ms=20.0, size=None, pending=False, cause=Reason.RESOURCE_FAILED, fatal=True),
                  entry(method="GET", url="http://x/slow", start_ms=0.0, duration_ms=900.0, size=10, pending=False)],
        console=[ConsoleMessage("error", evil, "http://x/:1:2", 6.0)])
    net = waterfall(events)
    assert [r["url"] for r in net["requests"]][1] == "http://x/slow" and net["span_ms"] == 900.0
    step = StepResult(1, "s", "goto", artifacts={"network": net})
    html = render_run(to_dict(RunResult("r1", "2026-01-01T00:00:00", journeys=[JourneyResult("j", "j.yaml", steps=[step])])))
    assert evil not in html and "&lt;script&gt;" in html and html.count('class="wf-row') == 2
