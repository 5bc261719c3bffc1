"""Issue 26: a page that hangs never hangs Patrol. Real Chromium against the demo bank
with its hostile faults (a script that loops forever, alert() in a loop, a 150,000-row
table), no journey budget set: the hard timeout holds, the journey ends with the right
finding, and the next journey of the same run passes. Under `patrol schedule` (a real
process) a frozen journey holds no slot past its journey limit; through a real Appium
server the same frozen page is the app twin, ``app_not_responding``."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from appium_fixtures.server import APP_JOURNEYS, appium_env, appium_server, project_config  # noqa: F401
from conftest import copy_flows
from schedule_support import LOGIN_STEPS, OPEN_STEPS, config, rows, run_until, write_journey

STEP_S, HARD_S = 5.0, 8.0


def journey(folder: Path, name: str, url: str, teardown: bool = False) -> Path:
    """The issue's journey on the page the fault breaks (home): sign in, expect what the
    page shows visible and its text, then wait for it."""
    copy_flows(folder)
    data = {
        "name": name, "base_url": url, "budgets": {"step": f"{STEP_S:g}s", "timeout": f"{HARD_S:g}s"},
        "detectors": {"forbidden_text": False},
        "steps": [
            {"include": "flows/open_login.yaml", "with": {"user": "demo", "password": "${secret:DEMO_PASSWORD}"}},
            {"name": "sign in", "click": "#login-submit",
             "expect": {"visible": "#total-assets", "text_of": {"selector": ".brand", "contains": "银行"}}},
            {"name": "wait for the balance", "wait_for": "#total-assets"},
            # The faults strike 0.3 s after the page loaded: a journey quicker than that
            # would be gone before; a customer reading the page a second is not.
            {"name": "read it", "wait": "1s"},
            {"name": "open funds", "click": "#nav-funds"},
        ],
    }
    if teardown:
        data["teardown"] = [{"name": "back to login", "goto": "/login", "expect": {"visible": "#login-submit"}}]
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def healthy(folder: Path, url: str) -> Path:
    data = {"name": "healthy", "base_url": url, "budgets": {"step": f"{STEP_S:g}s", "timeout": f"{HARD_S:g}s"},
            "detectors": {"forbidden_text": False},
            "steps": [{"name": "open the page", "goto": "/login", "expect": {"visible": "#login-submit"}}]}
    path = folder / "zz-healthy.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def only_finding(j: dict) -> tuple[dict, dict]:
    found = [(s, f) for s in j["steps"] for f in s["findings"]]
    assert len(found) == 1, found
    return found[0]


@pytest.mark.faults("frozen_script=home")
def test_a_frozen_page_is_page_unresponsive_within_the_hard_timeout_and_the_journey_ends(faulty_bank, patrol, tmp_path):
    frozen = journey(tmp_path, "frozen", faulty_bank.url, teardown=True)
    t0 = time.monotonic()
    p = patrol("run", str(frozen), str(healthy(tmp_path, faulty_bank.url)))
    took = time.monotonic() - t0
    assert p.code == 1, p.out + p.err
    j, nxt = p.report["journeys"]
    assert (j["name"], j["status"], nxt["name"], nxt["status"]) == ("frozen", "failed", "healthy", "passed"), p.out
    step, f = only_finding(j)
    assert (f["kind"], f["reason"]) == ("stall", "page_unresponsive"), f
    assert f["message"].startswith("the page stopped responding: its script has been running for 8."), f["message"]
    # From the freeze (0.3 s after the page loaded, at the latest the start of the hung
    # step) to the finding: the hard timeout, plus 2 s.
    assert step["duration_ms"] <= (HARD_S + 2) * 1000, step
    assert HARD_S * 1000 <= f["evidence"]["unresponsive_ms"] <= (HARD_S + 2) * 1000, f["evidence"]
    shot = f["evidence"]["screenshot"]
    assert shot and (p.run_dir / shot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The journey ended at the hung step; its teardown ran in a fresh tab.
    after = j["steps"][j["steps"].index(step) + 1:]
    assert all(s["status"] == "skipped" for s in after), after
    assert [s["status"] for s in j["teardown"]] == ["passed"], j["teardown"]
    assert took < 60, took  # the whole run, two journeys and a Chromium start


@pytest.mark.faults("dialog_flood=home")
def test_a_dialog_flood_is_a_breakpoint_naming_the_dialog(faulty_bank, patrol, tmp_path):
    flood = journey(tmp_path, "flood", faulty_bank.url)
    p = patrol("run", str(flood), str(healthy(tmp_path, faulty_bank.url)))
    assert p.code == 1, p.out + p.err
    j, nxt = p.report["journeys"]
    assert (j["status"], nxt["status"]) == ("failed", "passed"), p.out
    step, f = only_finding(j)
    assert (f["kind"], f["reason"]) == ("breakpoint", "dialog_flood"), f
    assert "系统维护通知" in f["message"] and f["evidence"]["dialogs"] > 5, f
    assert step["duration_ms"] <= (HARD_S + 2) * 1000, step


@pytest.mark.faults("huge_dom=home")
def test_a_huge_dom_is_slow_but_answers_over_budget_as_before(faulty_bank, patrol, tmp_path):
    huge = journey(tmp_path, "huge", faulty_bank.url)
    p = patrol("run", str(huge), str(healthy(tmp_path, faulty_bank.url)))
    j, nxt = p.report["journeys"]
    assert nxt["status"] == "passed", p.out
    reasons = {f["reason"] for s in j["steps"] for f in s["findings"]}
    assert "page_unresponsive" not in reasons and "dialog_flood" not in reasons, j
    # Slow as today: over its budget, or (a loaded machine, a page parsing for longer than
    # the hard timeout) still loading when the hard timeout ran out.
    said = [(s["name"], f["reason"], f["message"]) for s in j["steps"] for f in s["findings"]]
    assert reasons and reasons <= {"over_budget", "spinner_stuck"}, said
    if reasons == {"over_budget"}:
        assert all(s["status"] != "skipped" for s in j["steps"]), j  # the journey went on


def _spans(db: Path, journey: str) -> list[tuple[float, float]]:
    """(start, end) of each attempt of the journey, in seconds, oldest first."""
    out = []
    for started, duration in rows(db, "SELECT started_at, duration_ms FROM journey_runs WHERE journey = ? "
                                      "ORDER BY started_at", journey):
        start = datetime.fromisoformat(started).timestamp()
        out.append((start, start + duration / 1000))
    return out


@pytest.mark.faults("frozen_script=home")
def test_under_the_scheduler_a_frozen_journey_holds_no_slot_past_its_limit(faulty_bank, tmp_path):
    """Two schedules every second: one journey's page freezes after sign-in (its hard
    timeout is longer than its 8 s journey limit, so the limit is what ends it), the
    other keeps firing and passing meanwhile; the frozen one fires again after its limit."""
    folder = tmp_path / "journeys"
    write_journey(folder, "quick", base_url=faulty_bank.url, tags=("quick",), steps=OPEN_STEPS)
    # The page freezes 0.3 s after it loaded: a moment later, whatever the journey asks of it hangs.
    wait = ('  - name: wait for the balance\n    wait_for: "#total-assets"\n'
            '  - name: read it\n    wait: 1s\n'
            '  - name: open funds\n    click: "#nav-funds"\n')
    write_journey(folder, "frozen", base_url=faulty_bank.url, tags=("hangs",), steps=LOGIN_STEPS + wait,
                  timeout="30s", journey="8s")
    # A failing firing is confirmed by a rerun as usual, at once: the default 5 s wait before it is not what is tested.
    config(tmp_path, "state: {url: 'sqlite:///state.db'}\nconcurrency: 2\nincidents: {confirm_delay: 0s}\n"
                     "schedules:\n  hangs: {every: 1s, tags: [hangs]}\n  quick: {every: 1s, tags: [quick]}\n")
    out = run_until(tmp_path, r"\[hangs\] run \S+ failed", "--no-watch", count=2, timeout=300)
    db = tmp_path / "state.db"
    frozen, quick = _spans(db, "frozen"), _spans(db, "quick")
    assert len(frozen) >= 2, out
    for start, end in frozen:
        assert end - start <= 8 + 30, f"a frozen attempt held its slot {end - start:.1f}s: {frozen}"
    reasons = [f["reason"] for (found,) in rows(db, "SELECT s.findings FROM step_results s JOIN journey_runs j "
                                                  "ON j.id = s.journey_run_id WHERE j.journey = 'frozen'")
               for f in json.loads(found)]
    # Cut off by its limit (and, when its action was what hung, that action never finished).
    assert reasons.count("journey_timeout") == len(frozen) and set(reasons) <= {"journey_timeout", "action_timeout"}, \
        reasons
    # The other schedule kept firing while the first frozen attempt held its slot...
    first_start, first_end = frozen[0]
    during = [s for s, _ in quick if first_start <= s <= first_end]
    assert len(during) >= 2, (frozen, quick)
    assert {st for (st,) in rows(db, "SELECT status FROM journey_runs WHERE journey = 'quick'")} == {"passed"}
    # ...and the frozen journey's own next firing came after its limit, never overlapping.
    runs = rows(db, "SELECT id FROM runs WHERE schedule = 'hangs' ORDER BY started_at")
    assert len(runs) >= 2, out
    for (_, end), (next_start, _) in zip(frozen, frozen[1:]):
        assert end <= next_start + 0.05, frozen


@pytest.mark.faults("frozen_script=home")
def test_an_app_whose_ui_thread_freezes_is_app_not_responding_within_the_hard_timeout(appium_env, faulty_bank, patrol,
                                                                                       tmp_path):
    """The app twin, through a real Appium server's chromium driver (the bank's mobile
    layout): the webview's script loops forever after sign-in, Appium's calls into it
    stop coming back, and the step is ``app_not_responding`` within the hard timeout."""
    data = yaml.safe_load((APP_JOURNEYS / "login.yaml").read_text(encoding="utf-8"))
    data.update(name="frozen-app", base_url=faulty_bank.url, redact=[],
                budgets={"step": f"{STEP_S:g}s", "timeout": f"{HARD_S:g}s"}, detectors={"forbidden_text": False})
    data["steps"] = data["steps"][:4] + [{"name": "wait for the balance", "wait_for": {"css": "#total-assets"}},
                                         {"name": "open funds", "tap": {"css": "#nav-funds"}}]
    data["steps"][3]["expect"] = {"visible": {"css": "#total-assets"}}
    path = tmp_path / "frozen-app.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    cfg = project_config(tmp_path)
    t0 = time.monotonic()
    p = patrol("--config", str(cfg), "run", str(path))
    took = time.monotonic() - t0
    assert p.code == 1, p.out + p.err
    (j,) = p.report["journeys"]
    step, f = only_finding(j)
    assert (f["kind"], f["reason"]) == ("stall", "app_not_responding"), f
    # From the first call the frozen webview held (sent at most a poll after the freeze;
    # the step began before it, with the sign-in's page load) to the finding.
    assert HARD_S * 1000 <= f["evidence"]["unresponsive_ms"] <= (HARD_S + 2) * 1000, f["evidence"]
    assert f["message"].startswith("the app stopped responding: its UI thread has not answered for 8."), f
    assert all(s["status"] == "skipped" for s in j["steps"][j["steps"].index(step) + 1:])
    assert took < 120, took
