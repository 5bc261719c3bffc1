"""The login journey's actions as a bare Playwright script: the peer Patrol's
overhead is measured against (same browser, same flags, a screenshot per step)."""

import os
import sys

from playwright.sync_api import sync_playwright

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic", "--disable-default-apps", "--disable-dev-shm-usage",
        "--hide-scrollbars", "--font-render-hinting=none"]

base, out = sys.argv[1], sys.argv[2]
with sync_playwright() as pw:
    browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
    page = browser.new_page(viewport={"width": 1280, "height": 800}, locale="zh-CN")

    def shot(n: int) -> None:
        page.screenshot(path=f"{out}/{n}.png")

    page.goto(base + "/login")
    page.locator("#login-form").wait_for()
    shot(1)
    page.fill("#username", "demo")
    shot(2)
    page.fill("#password", os.environ["DEMO_PASSWORD"])
    shot(3)
    page.click("#login-submit")
    page.wait_for_url("**/home")
    page.locator("#total-assets").wait_for()
    shot(4)
    for n, element in ((5, "#nav-chart"), (6, "#promo-banner")):
        page.locator(element).scroll_into_view_if_needed()
        page.locator(element).wait_for()
        shot(n)
    browser.close()
