"""The overview's live part (issue 12): "Running now" over Server-Sent Events, and the
step-duration trend charts. With the scheduler (`patrol schedule --console-port`, a real
process) a run started from the console shows in the stream while it runs and leaves it
when done, and the overview page in real Chromium updates itself (no inline script: the
page's CSP would refuse it). Under plain `patrol serve` the stream says it cannot see runs."""

from __future__ import annotations

import json
import re
import signal
import time

import httpx
from playwright.sync_api import expect
from receivers import DEAD_BUTTON, confirmed_run
from schedule_support import OPEN_STEPS, config, service_with_console, write_journey
from test_console import PASSWORD, _cli
from test_console_timeline import serve, sign_in_http
from test_demo_bank import CHROMIUM, CHROMIUM_ARGS

SLOW_STEPS = OPEN_STEPS + "  - name: linger\n    wait: 4s\n"


def _events(client: httpx.Client, until, timeout: float = 30.0) -> list[dict]:
    """Read the running stream until ``until(events)`` holds (or the timeout); every ``running`` event's data."""
    seen: list[dict] = []
    deadline = time.monotonic() + timeout
    with client.stream("GET", "/events/running", timeout=timeout) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        event = ""
        for line in r.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "running":
                seen.append(json.loads(line[6:]))
                if until(seen):
                    break
            if time.monotonic() > deadline:
                break
    return seen


def _signed(url: str, name: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=url, follow_redirects=False)
    r = sign_in_http(client, name)
    assert r.status_code == 303, r.text
    client.headers["cookie"] = r.headers["set-cookie"].split(";")[0]
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/schedules").text)
    assert csrf
    return client, csrf.group(1)


def test_running_now_streams_a_run_started_from_the_console(bank, tmp_path):
    from playwright.sync_api import sync_playwright

    write_journey(tmp_path / "journeys", "slowpoke", base_url=bank.url, steps=SLOW_STEPS)
    cfg = config(tmp_path, "state: {url: 'sqlite:///state.db'}\nschedules:\n  nightly: {cron: '0 3 1 1 *', journeys: [slowpoke]}\n")
    assert _cli("--config", str(cfg), "users", "add", "ada", "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n") == 0
    svc, url = service_with_console(tmp_path)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            page = browser.new_context().new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))  # a script error
            page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
            page.goto(url + "/login")
            page.fill("input[name=name]", "ada")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(url + "/")
            running = page.locator("#running")
            assert "Nothing is running now." in running.inner_text()
            # The stream is open. (Locator waits, not wait_for_function: the console's CSP forbids
            # the string evaluation Playwright's polling would use.)
            page.locator("#running[data-events='1']").wait_for(state="attached")

            client, csrf = _signed(url, "ada")
            assert client.post("/schedules/schedule:nightly/run", data={"csrf": csrf}).status_code == 303
            # The open page is told, without a reload.
            page.wait_for_selector("#running li:has-text('slowpoke')", timeout=15000)
            assert "nightly" in running.inner_text() and "Nothing is running" not in running.inner_text()
            seen = _events(client, lambda s: any(e["running"] for e in s) and not s[-1]["running"])
            busy = next(e for e in seen if e["running"])
            assert busy["live"] is True and busy["running"] == [
                {"journey": "slowpoke", "schedules": ["nightly"]}], seen
            assert seen[-1] == {"live": True, "running": [], "note": "Nothing is running now."}, seen
            # ...and when it is over.
            expect(page.locator("#running li")).to_have_count(0, timeout=15000)
            assert "Nothing is running now." in running.inner_text() and not errors, errors
            browser.close()
        assert svc.stop(signal.SIGTERM) == 0, svc.text
    finally:
        svc.kill()


def test_plain_serve_says_it_sees_no_runs_and_draws_the_step_trends(tmp_path):
    (tmp_path / "patrol.yaml").write_text(f"state: {{url: 'sqlite:///{tmp_path}/state.db'}}\n", encoding="utf-8")
    from patrol.config import load_config
    from patrol.incidents.service import IncidentService

    svc = IncidentService.from_config(load_config(str(tmp_path / "patrol.yaml")))
    for i in range(3):
        run = confirmed_run(DEAD_BUTTON if i == 0 else None, run_dir=str(tmp_path / f"r{i}"))
        for j in run.journeys:
            for n, st in enumerate(j.steps):
                st.duration_ms, st.budget_ms = 100.0 * (n + 1) + i, 1000.0
        svc.record_run(run)
    for live in serve(tmp_path, {"vic": "viewer"}):
        client = httpx.Client(base_url=live.url, follow_redirects=False)
        r = sign_in_http(client, "vic")
        client.headers["cookie"] = r.headers["set-cookie"].split(";")[0]
        (first,) = _events(client, lambda s: True, timeout=10)
        assert first["live"] is False and first["running"] == [] and "patrol schedule --console-port" in first["note"]
        html = client.get("/").text
        # Said once, at the bottom: the page opens with the journeys, and opens no stream that has nothing to say.
        assert "does not see runs in progress" in html and 'data-stream="/events/running"' not in html
        assert html.index("does not see runs in progress") > html.index("Step durations")
        trends = html[html.index("Step durations"):]
        assert trends.count('<svg class="spark"') == 4, trends  # one chart per step of the journey
        assert "open transfer" in trends and "1.00s" in trends  # its budget
        assert "<script>" not in html and '<script src="/static/live.js" defer></script>' in html
