"""``request:`` steps (issue 20, API steps) against the real demo bank: status, header and
JSON-path expectations that hold and that fail (a breakpoint caused by the endpoint), a
stored value typed into the page by a later browser step, a request in the browser's
session after signing in through the UI, secrets masked in the evidence, and a journey
of request steps only that never starts Chromium."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest
from conftest import SECRET


def journey(tmp_path: Path, name: str, bank_url: str, steps: str) -> Path:
    f = tmp_path / f"{name}.yaml"
    f.write_text(f"name: {name}\nbase_url: {bank_url}\nsteps:\n" + textwrap.indent(textwrap.dedent(steps), "  "),
                 encoding="utf-8")
    return f


SIGN_IN = """\
- name: sign in
  request:
    method: POST
    url: /api/login
    json: {username: demo, password: "${secret:DEMO_PASSWORD}"}
    expect: {status: 200, json: {"$.ok": true}}
"""


@pytest.fixture
def no_browser(monkeypatch):
    """Chromium cannot start: a journey that tried would end as a robot error."""
    from patrol.drivers.web.playwright import PlaywrightEngine

    started: list[str] = []

    async def refuse(self):
        started.append("chromium")
        raise AssertionError("a journey of request: steps started Chromium")

    monkeypatch.setattr(PlaywrightEngine, "start", refuse)
    return started


def test_expectations_that_hold_pass_without_a_browser(bank, patrol, tmp_path, no_browser):
    f = journey(tmp_path, "probe", bank.url, SIGN_IN + """\
- name: account
  request:
    url: /api/account
    budget: 5s
    expect:
      status: [200, 203]
      headers: {content-type: {matches: "^application/json"}, cache-control: no-store, x-nothing: {exists: false}}
      json:
        "$.name": {exists: true}
        "$.total_assets": {number: ">= 0"}
        "$.currency": CNY
        "$.promo.link": /benefits
- request: GET /api/funds
""")
    p = patrol("run", str(f))
    assert p.code == 0, p.out + p.err
    steps = p.journey("probe")["steps"]
    assert [s["status"] for s in steps] == ["passed"] * 3
    evidence = steps[1]["artifacts"]["request"]
    assert evidence["request"]["method"] == "GET" and evidence["request"]["url"] == f"{bank.url}/api/account"
    assert evidence["response"]["status"] == 200 and json.loads(evidence["response"]["body"])["currency"] == "CNY"
    assert all(s["screenshot"] is None for s in steps)  # nothing to look at, nothing taken
    assert no_browser == []


@pytest.mark.parametrize(("expect", "reason", "words"), [
    ('{status: 201}', "expect_failed", "answered HTTP 200, expected 201"),
    ('{json: {"$.total_assets": {number: "< 0"}}}', "wrong_value", "$.total_assets is \"128460.52\", expected < 0"),
    ('{json: {"$.cards[0].id": {exists: true}}}', "wrong_value", "$.cards[0].id is missing"),
    ('{headers: {content-type: {matches: "text/html"}}}', "wrong_value", 'header content-type is "application/json'),
], ids=["status", "json-number", "json-missing", "header"])
def test_an_expectation_that_fails_is_a_breakpoint_caused_by_the_endpoint(bank, patrol, tmp_path, no_browser,
                                                                           expect, reason, words):
    f = journey(tmp_path, "probe", bank.url, SIGN_IN + f"""\
- name: account
  request: {{url: /api/account, expect: {expect}}}
- name: never reached
  request: GET /api/funds
""")
    p = patrol("run", str(f))
    assert p.code == 1, p.out + p.err
    steps = p.journey("probe")["steps"]
    assert [s["status"] for s in steps] == ["passed", "failed", "skipped"]
    (finding,) = steps[1]["findings"]
    assert (finding["kind"], finding["reason"], finding["fatal"]) == ("breakpoint", reason, True)
    assert words in finding["message"], finding["message"]
    cause = finding["cause"]
    assert (cause["kind"], cause["method"], cause["template"], cause["status"]) == ("request", "GET", "/api/account", 200)
    assert finding["evidence"]["response"]["status"] == 200  # the answer is the evidence
    assert no_browser == []


@pytest.mark.faults("api_500=account")
def test_a_failing_endpoint_is_the_same_cause_a_browser_step_sees(faulty_bank, patrol, tmp_path):
    """The account API answering 500: the request step's cause groups with the one the
    home page's fetch of it names (one incident about the endpoint, not two)."""
    probe = journey(tmp_path, "probe", faulty_bank.url, SIGN_IN + "- request: GET /api/account\n")
    ui = journey(tmp_path, "ui", faulty_bank.url, """\
- include: flows/open_login.yaml
  with: {user: demo, password: "${secret:DEMO_PASSWORD}"}
- name: sign in
  click: "#login-submit"
  expect: {visible: "#total-assets"}
""")
    from conftest import copy_flows

    copy_flows(tmp_path)
    p = patrol("run", str(probe), str(ui))
    assert p.code == 1, p.out + p.err
    from patrol.causes import Cause

    def keys(name: str) -> set[str]:
        return {Cause.from_dict(f["cause"]).group_key() for s in p.journey(name)["steps"] for f in s["findings"]}

    api = keys("probe")
    assert len(api) == 1 and next(iter(api)).startswith("backend failed"), api
    assert api <= keys("ui"), (api, keys("ui"))


def test_a_stored_value_is_typed_by_a_later_browser_step(bank, patrol, tmp_path):
    """The user name the login API answers with is what the login form is filled with."""
    f = journey(tmp_path, "mixed", bank.url, """\
- name: who
  request:
    method: POST
    url: /api/login
    json: {username: demo, password: "${secret:DEMO_PASSWORD}"}
    store: {user: "$.user"}
- goto: /login
- fill: {selector: "#username", text: "${vars.user}"}
- fill: {selector: "#password", text: "${secret:DEMO_PASSWORD}"}
- name: sign in
  click: "#login-submit"
  expect: {url: /home, visible: "#total-assets"}
""")
    p = patrol("run", str(f))
    assert p.code == 0, p.out + p.err
    steps = p.journey("mixed")["steps"]
    assert steps[0]["stored"] == {"user": "demo"}
    assert steps[0]["screenshot"] is None  # the API call shows nothing: the blank tab is not judged
    assert steps[4]["screenshot"] is not None  # a browser journey: the browser steps are seen


def test_a_browser_session_request_carries_the_cookies_of_the_ui_sign_in(bank, patrol, tmp_path):
    from conftest import copy_flows

    copy_flows(tmp_path)
    ui_sign_in = """\
- include: flows/open_login.yaml
  with: {user: demo, password: "${secret:DEMO_PASSWORD}"}
- name: sign in
  click: "#login-submit"
  expect: {visible: "#total-assets"}
"""
    shared = journey(tmp_path, "shared", bank.url, ui_sign_in + """\
- name: account in the browser's session
  request: {url: /api/account, session: browser, expect: {status: 200, json: {"$.currency": CNY}}}
""")
    own = journey(tmp_path, "own", bank.url, ui_sign_in + """\
- name: account with a jar of its own
  request: {url: /api/account, expect: {status: 200}}
""")
    p = patrol("run", str(shared), str(own))
    assert p.code == 1, p.out + p.err
    assert p.journey("shared")["status"] == "passed"
    # Without session: browser the request has none of the browser's cookies: the bank says 401.
    assert p.findings("own") == [("account with a jar of its own", "breakpoint", "http_error")]
    (finding,) = p.journey("own")["steps"][-1]["findings"]
    assert finding["cause"]["status"] == 401 and finding["cause"]["problem"] == "error"


def test_secrets_are_masked_in_the_evidence(bank, patrol, tmp_path, monkeypatch, no_browser):
    token = "tok-" + os.urandom(8).hex()
    monkeypatch.setenv("PROBE_TOKEN", token)
    f = journey(tmp_path, "masked", bank.url, SIGN_IN + """\
- name: account
  request:
    url: /api/account?key=${secret:PROBE_TOKEN}
    headers: {X-Probe: "${secret:PROBE_TOKEN}", Authorization: Bearer abc}
    expect: {json: {"$.currency": EUR}}
""")
    p = patrol("run", str(f))
    assert p.code == 1, p.out + p.err
    steps = p.journey("masked")["steps"]
    assert json.loads(steps[0]["artifacts"]["request"]["request"]["body"])["password"] == "******"
    (finding,) = steps[1]["findings"]
    shown = finding["evidence"]["request"]
    assert shown["headers"] == {"X-Probe": "******", "Authorization": "******"}
    assert token not in shown["url"]
    written = "".join(p.read_text(encoding="utf-8", errors="replace") for p in p.run_dir.rglob("*") if p.is_file())
    for secret in (token, SECRET):
        assert secret not in written and secret not in p.out + p.err
    assert no_browser == []


@pytest.mark.faults("slow_api=account:900")
def test_a_slow_answer_over_its_budget_is_a_stall_caused_by_the_endpoint(faulty_bank, patrol, tmp_path, no_browser):
    f = journey(tmp_path, "slow", faulty_bank.url, SIGN_IN + """\
- name: account
  request: {url: /api/account, budget: 400ms}
- name: funds
  request: {url: /api/funds, budget: 5s}
""")
    p = patrol("run", str(f))
    assert p.code == 1, p.out + p.err
    steps = p.journey("slow")["steps"]
    (finding,) = steps[1]["findings"]
    assert (finding["kind"], finding["reason"], finding["fatal"]) == ("stall", "over_budget", False)
    assert finding["cause"]["problem"] == "slow" and finding["cause"]["template"] == "/api/account"
    assert finding["evidence"]["duration_ms"] >= 900 and finding["evidence"]["budget_ms"] == 400
    assert steps[2]["status"] == "passed"  # slow is not broken: the journey goes on


def test_a_bad_request_step_is_a_positioned_validation_error(tmp_path, patrol):
    f = tmp_path / "bad.yaml"
    f.write_text(textwrap.dedent("""\
        name: bad
        base_url: http://127.0.0.1:9
        steps:
          - request:
              url: /x
              expect: {json: {"$.a..b": 1}}
          - request: GET /x/${vars.nope}
          - request:
              url: /x
              expect: {statuss: 200, json: {"$.n": {number: ">= abc"}}}
        """), encoding="utf-8")
    app = tmp_path / "app.yaml"
    app.write_text("name: app\ntarget: app\ncapabilities: {platformName: Android, appPackage: com.example.bank}\n"
                   "steps:\n  - request: {url: 'http://127.0.0.1:9/x', session: browser}\n", encoding="utf-8")
    p = patrol("validate", str(f), str(app))
    assert p.code == 2, p.out + p.err
    errors = p.err.splitlines()
    assert any(e.startswith(f"{f}:6:") and "only .name, [N] and ['name'] are understood" in e for e in errors), errors
    assert any(e.startswith(f"{f}:7:") and "unknown variable 'nope'" in e for e in errors), errors
    assert any(e.startswith(f"{f}:10:") and "unknown key 'statuss'" in e and "did you mean 'status'" in e
               for e in errors), errors
    assert any(e.startswith(f"{f}:10:") and 'expected a comparison such as ">= 0"' in e for e in errors), errors
    assert any(e.startswith(f"{app}:5:") and "session: browser" in e for e in errors), errors
    assert "Traceback" not in p.err
