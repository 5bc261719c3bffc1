"""Issue 2 end to end: real Chromium against a real demo bank. Each fault the
skeleton's findings can see gives the right kind of finding at the right step."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml
from conftest import JOURNEYS, SECRET, copy_flows


def test_first_run_a_plain_patrol_run_passes_every_shipped_web_journey_and_sets_the_app_ones_aside(bank, patrol, tmp_path, monkeypatch):
    """A newcomer's first run: the demo bank is up, `patrol run` with no paths reads
    journeys/, which holds app journeys too; with no Appium server configured they are
    listed as not run and do not fail the run."""
    shutil.copytree(JOURNEYS, tmp_path / "journeys")  # the patrol fixture runs in tmp_path
    monkeypatch.setenv("DEMO_BANK_URL", bank.url)
    monkeypatch.delenv("PATROL_APPIUM_URL", raising=False)
    p = patrol("run")
    assert p.code == 0, p.out + p.err
    for name, file in (("login-app", "login.yaml"), ("transfer-app", "transfer.yaml")):
        line = f"{name} ({tmp_path / 'journeys' / 'app' / file}) not run: needs an Appium server (set appium.url or PATROL_APPIUM_URL)"
        assert line in p.out, p.out
    assert p.report["status"] == "passed"
    names = sorted(j["name"] for j in p.report["journeys"])
    assert names == ["bind_card", "buy_fund", "claim_benefit", "login", "transfer"]
    for j in p.report["journeys"]:
        assert j["status"] == "passed", j
        for s in j["steps"]:
            assert s["status"] == "passed" and s["findings"] == []
            assert (p.run_dir / s["screenshot"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            assert s["duration_ms"] >= 0
    # The three report files are there and agree.
    assert (p.run_dir / "index.html").exists()
    junit = (p.run_dir / "junit.xml").read_text(encoding="utf-8")
    assert 'failures="0"' in junit and "<testsuite name=\"transfer\"" in junit


def lean(folder, name: str = "transfer", timeout: str = "4s"):
    """A shipped journey with the same steps, a shorter hard timeout and without the
    pixel/OCR expectations (test_eyes_web proves those): the fault tests wait out
    the timeout, so it sets their pace."""
    d = yaml.safe_load((JOURNEYS / f"{name}.yaml").read_text(encoding="utf-8"))
    d["budgets"] = {"step": "3s", "timeout": timeout}
    for step in d["steps"]:
        for key in ("visual", "text", "not_blank"):
            (step.get("expect") or {}).pop(key, None)
    path = folder / f"{name}.yaml"
    copy_flows(folder)
    path.write_text(yaml.safe_dump(d, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _expect_single(p, journey, step, kind, reason):
    assert p.code == 1, p.out + p.err
    found = p.findings(journey)
    assert found[0] == (step, kind, reason), found
    j = p.journey(journey)
    names = [s["name"] for s in j["steps"]]
    i = names.index(step)
    if kind == "breakpoint" or reason == "spinner_stuck":
        assert all(s["status"] == "skipped" for s in j["steps"][i + 1:]), "a breakpoint ends the journey"
    assert all(s["status"] == "passed" for s in j["steps"][:i])
    return j["steps"][i]


@pytest.mark.faults("slow_api=transfer:3500")
def test_slow_api_is_a_stall_at_the_confirm_step(faulty_bank, patrol):
    p = patrol("run", str(JOURNEYS / "transfer.yaml"), "--base-url", faulty_bank.url)
    step = _expect_single(p, "transfer", "confirm transfer", "stall", "over_budget")
    assert step["duration_ms"] > 3000
    # A stall is not a breakpoint: the journey went on to the end.
    assert p.journey("transfer")["steps"][-1]["status"] == "passed"


@pytest.mark.faults("api_500=transfer")
def test_api_500_is_a_breakpoint_with_the_failed_request(faulty_bank, patrol, tmp_path):
    p = patrol("run", str(lean(tmp_path)), "--base-url", faulty_bank.url)
    step = _expect_single(p, "transfer", "confirm transfer", "breakpoint", "request_failed")
    ev = step["findings"][0]["evidence"]
    assert ev["status"] == 500 and ev["url"].endswith("/api/transfer")
    assert len(step["findings"]) == 1, "the expectation that failed because of it is folded in, not a second finding"


@pytest.mark.faults("dead_button=transfer-confirm")
def test_dead_button_is_a_breakpoint(faulty_bank, patrol):
    # The shipped journey, every eye check on: the fault is still one finding, its cause.
    p = patrol("run", str(JOURNEYS / "transfer.yaml"), "--base-url", faulty_bank.url)
    step = _expect_single(p, "transfer", "confirm transfer", "breakpoint", "expect_failed")
    assert "/transfer/success" in step["findings"][0]["message"]


@pytest.mark.faults("blank_page=transfer")
def test_blank_page_is_a_breakpoint(faulty_bank, patrol, tmp_path):
    p = patrol("run", str(lean(tmp_path)), "--base-url", faulty_bank.url)
    assert p.code == 1
    found = p.findings("transfer")
    # The white page is a script that crashed: the crash is the cause, reported once.
    assert found[0][:2] == ("open transfer page", "breakpoint") and found[0][2] in ("page_error", "expect_failed"), found
    assert all(s == "open transfer page" for s, _, _ in found)


@pytest.mark.faults("frozen_spinner=transfer")
def test_frozen_spinner_is_a_stall_that_ends_the_journey(faulty_bank, patrol, tmp_path):
    p = patrol("run", str(lean(tmp_path)), "--base-url", faulty_bank.url)
    step = _expect_single(p, "transfer", "open transfer page", "stall", "spinner_stuck")
    assert "spinner" in step["findings"][0]["message"]


def test_runtime_fault_switch_via_admin_endpoint(patrol, tmp_path):
    import httpx

    from patrol.demo.server import DemoBank

    with DemoBank(port=0) as b:
        httpx.post(f"{b.url}/__admin/faults", json={"set": {"api_500": "account"}}).raise_for_status()
        login = str(lean(tmp_path, "login"))
        p = patrol("run", login, "--base-url", b.url)
        assert ("sign in", "breakpoint", "request_failed") in p.findings("login")
        httpx.delete(f"{b.url}/__admin/faults").raise_for_status()
        assert patrol("run", login, "--base-url", b.url).code == 0


def test_secret_never_leaks(bank, patrol, tmp_path):
    # A journey that fails while typing the secret: the failure message would name it.
    j = tmp_path / "leaky.yaml"
    j.write_text(
        "name: leaky\nbase_url: " + bank.url + "\nbudgets: {step: 2s, timeout: 2s}\nsteps:\n"
        "  - goto: /login\n  - fill: {selector: '#username', text: demo}\n"
        "  - fill: {selector: '#password', text: '${secret:DEMO_PASSWORD}'}\n"
        "  - click: '#login-submit'\n    expect: {url: /home}\n"
        "  - name: type it where it does not fit\n    fill: {selector: '#nowhere', text: 'x ${secret:DEMO_PASSWORD} x'}\n",
        encoding="utf-8",
    )
    p = patrol("run", str(j), str(JOURNEYS / "login.yaml"), "--base-url", bank.url)
    assert p.code == 1
    assert ("type it where it does not fit", "breakpoint", "action_timeout") in p.findings("leaky")
    assert "******" in json.dumps(p.report, ensure_ascii=False)
    assert SECRET not in p.out and SECRET not in p.err
    for f in p.run_dir.rglob("*"):
        if f.is_file():
            assert SECRET.encode() not in f.read_bytes(), f"secret leaked into {f}"


def test_missing_browser_is_a_robot_error_exit_3(bank, tmp_path):
    env = {**os.environ, "PATROL_CHROMIUM": str(tmp_path / "no-such-chromium")}
    r = subprocess.run(
        [sys.executable, "-m", "patrol", "run", str(JOURNEYS / "login.yaml"), "--base-url", bank.url, "--output", str(tmp_path / "out")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )
    assert r.returncode == 3, r.stdout + r.stderr
    assert "no Chromium at" in r.stdout + r.stderr and "apt-get install chromium" in r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["status"] == "error"
    j = report["journeys"][0]
    assert j["robot_error"]["reason"] == "browser_not_found"
    assert all(not s["findings"] for s in j["steps"]), "a robot failure is never a finding about the app"


def test_reports_index_lists_runs_newest_first(bank, tmp_path):
    env = {**os.environ}
    # One step is enough to make a run; the index, not the journey, is under test.
    journey = tmp_path / "open.yaml"
    journey.write_text(f"name: open\nbase_url: {bank.url}\ndetectors: {{forbidden_text: false}}\nsteps:\n"
                       "  - goto: /login\n    expect: {visible: '#login-form'}\n", encoding="utf-8")
    for _ in range(2):
        r = subprocess.run([sys.executable, "-m", "patrol", "run", str(journey)],
                           capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
    runs = sorted(p.name for p in (tmp_path / "reports").iterdir() if p.is_dir())
    index = (tmp_path / "reports" / "index.html").read_text(encoding="utf-8")
    assert index.index(runs[1]) < index.index(runs[0])


def test_untrusted_text_is_escaped_in_the_html_report(tmp_path):
    from patrol.reports.html_report import render_run
    from patrol.reports.json_report import to_dict
    from patrol.results import Finding, JourneyResult, RunResult, StepResult

    evil = "<script>alert(1)</script>"
    step = StepResult(1, "s", "goto", status="failed", url=f"http://x/?q={evil}",
                      findings=[Finding(kind="breakpoint", reason="page_error", message=f"uncaught error: {evil}",
                                        evidence={"errors": [{"message": evil}]})])
    run = RunResult("r1", "2026-01-01T00:00:00", journeys=[JourneyResult("j", "j.yaml", steps=[step])])
    html = render_run(to_dict(run))
    assert evil not in html and "&lt;script&gt;" in html


def test_app_journeys_run_when_named_or_when_a_server_is_configured(patrol, monkeypatch, tmp_path):
    from patrol.appium_server import free_port

    monkeypatch.delenv("PATROL_APPIUM_URL", raising=False)
    app = JOURNEYS / "app"
    # A folder of app journeys only, and no server configured: nothing to run, said plainly.
    p = patrol("run", str(app))
    assert p.code == 2 and "no journey to run" in p.err and "PATROL_APPIUM_URL" in p.err, p.out + p.err
    # Named: run (against the default local server, whatever answers there).
    p = patrol("run", str(app / "login.yaml"))
    assert "not run" not in p.out and [j["name"] for j in p.report["journeys"]] == ["login-app"], p.out + p.err
    # Configured: the folder's app journeys run. No browser is needed to see it: nothing
    # listens at the configured URL, so each ends as the robot's error (exit 3).
    dead = f"http://127.0.0.1:{free_port()}"
    cfg = tmp_path / "appium.yaml"
    cfg.write_text(f"state: false\nappium: {{url: '{dead}'}}\n", encoding="utf-8")
    for args, env in ((["--config", str(cfg), "run", str(app)], None), (["run", str(app)], dead)):
        if env:
            monkeypatch.setenv("PATROL_APPIUM_URL", env)
        p = patrol(*args)
        assert p.code == 3 and "not run" not in p.out, p.out + p.err
        assert {j["name"]: j["robot_error"]["reason"] for j in p.report["journeys"]} == {
            "login-app": "appium_unreachable", "transfer-app": "appium_unreachable"}
