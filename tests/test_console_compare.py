"""The compare view's close-ups (issues 12 and 21): a real patrol of the demo bank with a
local change (the balance reads NaN), the console serving it, real Chromium at 1280x800 and
390x844. The largest changed areas get a close-up each (baseline, actual, diff at the same
spot, the cluster outlined), reached from the area links; the rest are counted. A layout
shift gets no close-ups (tests/test_console.py). The 1280x800 picture is kept as an artifact
(PATROL_DOCS_PICTURES=1 writes it to docs/)."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
from urllib.parse import quote

import httpx
from conftest import JOURNEYS, ROOT, config_with_copied_baselines
from test_console_timeline import PASSWORD, serve
from test_demo_bank import CHROMIUM, CHROMIUM_ARGS

DOCS_PICTURE = ROOT / "docs" / "console-compare.png"


def _patrol(tmp_path, monkeypatch, fault: str = "nan_balance") -> dict:
    from patrol.cli import main
    from patrol.demo.server import DemoBank

    # The failure is confirmed by a rerun as usual, at once (the default 5 s wait is not what is tested here).
    config_with_copied_baselines(tmp_path, f"\nstate: {{url: 'sqlite:///{tmp_path}/state.db'}}\nincidents: {{confirm_delay: 0s}}\n")
    with DemoBank(port=0, faults=[fault]) as bank:
        monkeypatch.setattr("sys.stdout", io.StringIO())
        code = main(["--config", str(tmp_path / "patrol.yaml"), "run", str(JOURNEYS / "login.yaml"), "--base-url", bank.url,
                     "--output", str(tmp_path / "run")])
        monkeypatch.undo()
    assert code == 1
    return json.loads((tmp_path / "run" / "report.json").read_text(encoding="utf-8"))


def test_compare_view_zooms_to_the_changed_areas_worth_a_look(tmp_path, monkeypatch):
    """A local change (the balance reads NaN): close-ups of the largest changed areas, at most
    four, each at its cluster; the smaller ones are counted, not drawn."""
    from playwright.sync_api import sync_playwright

    from patrol.webconsole.zoom import MAX_CLOSE_UPS

    report = _patrol(tmp_path, monkeypatch)
    j = report["journeys"][-1]  # the last attempt: the one the compare view shows
    step = next(s for s in j["steps"] if any(f["reason"] == "visual_diff" for f in s["findings"]))
    finding = next(f for f in step["findings"] if f["reason"] == "visual_diff")
    clusters = finding["evidence"]["clusters"]
    assert clusters and finding["evidence"]["diff_ratio"] < 0.15, finding["message"]
    screen = quote(f"login/{j.get('attempt') or 1}/{step['index']}", safe="")
    for live in serve(tmp_path, {"qa": "approver"}):
        compare = f"{live.url}/runs/{report['run_id']}/compare?screen={screen}"
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
            page.goto(compare)
            page.fill("input[name=name]", "qa")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(compare)
            areas = page.locator("li.zoom")
            shown = areas.count()
            assert 1 <= shown <= min(MAX_CLOSE_UPS, len(clusters))
            boxes = [[c["x"], c["y"], c["width"], c["height"]] for c in clusters]
            largest = max(clusters, key=lambda c: c["pixels"])
            for i in range(shown):
                area = areas.nth(i)
                assert area.locator("svg.crop").count() == 3  # baseline, actual, diff
                outline = area.locator("rect.cluster").first
                box = [int(outline.get_attribute(k)) for k in ("x", "y", "width", "height")]
                assert box in boxes, box
                vx, vy, vw, vh = (int(v) for v in area.locator("svg.crop").first.get_attribute("viewBox").split())
                assert vx <= box[0] and vy <= box[1] and box[0] + box[2] <= vx + vw and box[1] + box[3] <= vy + vh
            first = [int(areas.first.locator("rect.cluster").first.get_attribute(k)) for k in ("x", "y", "width", "height")]
            assert first == [largest["x"], largest["y"], largest["width"], largest["height"]], "the largest change first"
            total = int(re.search(r"in (\d+) area", finding["message"]).group(1))
            if total > shown:
                assert f"and {total - shown} smaller area(s)" in page.inner_text("#areas-note")
            # The pictures the close-ups draw from are served to the signed-in user.
            cookies = {ck["name"]: ck["value"] for ck in page.context.cookies()}
            href = areas.first.locator("svg.crop image").nth(2).get_attribute("href")
            assert href.endswith("-diff.png")
            r = httpx.get(live.url + href, headers={"cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())})
            assert r.status_code == 200 and r.content[:4] == b"\x89PNG"
            page.click(f"nav.area-links a >> text={shown}")
            assert page.url.endswith(f"#area-{shown}") and areas.nth(shown - 1).is_visible()
            sizes = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
            assert sizes[0] <= sizes[1], sizes
            page.goto(compare)
            shot = tmp_path / "console-compare.png"
            page.screenshot(path=str(shot))
            if os.environ.get("PATROL_DOCS_PICTURES") == "1":
                DOCS_PICTURE.parent.mkdir(exist_ok=True)
                shutil.copyfile(shot, DOCS_PICTURE)
            phone = browser.new_context(viewport={"width": 390, "height": 844}, storage_state=page.context.storage_state()).new_page()
            phone.goto(compare)
            sizes = phone.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
            assert sizes[0] <= sizes[1], f"phone: horizontal overflow {sizes}"
            browser.close()
