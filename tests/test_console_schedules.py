"""The schedules page (issue 12): `patrol schedule --console-port P` serves the console
from the scheduler process; its jobs with their next three fire times and last result,
pause/resume, and Run now: a run appears. Real process, real Chromium, the demo bank."""

from __future__ import annotations

import re
import signal
import time

import httpx
from schedule_support import OPEN_STEPS, config, service_with_console, write_journey
from test_console import PASSWORD, _cli
from test_console_timeline import sign_in_http
from test_demo_bank import CHROMIUM, CHROMIUM_ARGS


def _sign_in(browser, url: str, name: str):
    page = browser.new_context().new_page()
    page.goto(url + "/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(url + "/")
    return page


def test_schedules_page_runs_now_pauses_and_resumes(bank, tmp_path):
    from playwright.sync_api import sync_playwright

    write_journey(tmp_path / "journeys", "alpha", base_url=bank.url, steps=OPEN_STEPS)
    cfg = config(tmp_path, "state: {url: 'sqlite:///state.db'}\n"
                           "schedules:\n  yearly: {cron: '0 3 1 1 *', journeys: [alpha]}\n")
    for name, role in (("ada", "admin"), ("vic", "viewer")):
        assert _cli("--config", str(cfg), "users", "add", name, "--role", role, "--password-stdin", stdin=PASSWORD + "\n") == 0
    svc, url = service_with_console(tmp_path)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            page = _sign_in(browser, url, "ada")
            page.goto(url + "/schedules")
            job = page.locator("li.job[data-job='schedule:yearly']")
            assert job.locator(".next time").count() == 3 and "never" in job.locator(".last").inner_text()
            assert "alpha" in job.inner_text() and "cron '0 3 1 1 *'" in job.inner_text()
            job.locator("button:has-text('Run now')").click()
            page.wait_for_url("**/schedules?done=run")
            deadline = time.monotonic() + 60
            while "never" in job.locator(".last").inner_text() and time.monotonic() < deadline:
                time.sleep(0.5)
                page.reload()
            assert job.locator(".last .status").inner_text() == "passed", svc.text
            run_id = job.locator(".last a").inner_text()
            page.goto(url + "/runs")
            row = page.locator(f"table.runs tr[data-run='{run_id}']")
            assert row.count() == 1 and "run now by ada (yearly)" in row.inner_text(), row.inner_text()
            page.goto(url + "/")  # the overview says when each journey runs next
            row = page.locator("table.status-grid tr[data-journey=alpha]")
            assert "not scheduled" not in row.inner_text() and row.locator("time").count() == 1, row.inner_text()
            assert row.locator(f"a.cell.passed[href='/runs/{run_id}']").count() == 1, "its run in the status grid"
            page.goto(url + "/schedules")
            job.locator("button:has-text('Pause')").click()
            assert "paused" in job.inner_text() and job.locator(".next time").count() == 0
            job.locator("button:has-text('Resume')").click()
            assert "paused" not in job.inner_text() and job.locator(".next time").count() == 3
            page.goto(url + "/audit")
            audit = page.inner_text("main")
            assert all(f"schedule.{a}" in audit for a in ("run", "pause", "resume"))
            browser.close()
        viewer = httpx.Client(base_url=url, follow_redirects=False)
        r = sign_in_http(viewer, "vic")
        viewer.headers["cookie"] = r.headers["set-cookie"].split(";")[0]
        csrf = re.search(r'name="csrf" value="([^"]+)"', viewer.get("/schedules").text).group(1)
        assert "Run now" not in viewer.get("/schedules").text
        r = viewer.post("/schedules/schedule:yearly/run", data={"csrf": csrf})
        assert r.status_code == 403
        assert svc.stop(signal.SIGTERM) == 0, svc.text
    finally:
        svc.kill()
    assert svc.text.count("firing: alpha") == 1, "one run: the one asked for"
