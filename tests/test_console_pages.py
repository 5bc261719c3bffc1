"""The console's first screens (issue 21), in real Chromium at 1280x800 and 390x844 against
``patrol serve`` over real patrols of the demo bank: a run with one failed step (the balance
reads NaN) shows that step's finding and screenshot inside the first viewport; the compare
view of a layout shift has Approve inside the first viewport (and pinned when scrolled); no
page overflows sideways; no word in a table cell is broken; the overview's status grid
clicks through to runs and times are shown in the viewer's time zone; the runs list filters."""

from __future__ import annotations

import json
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from conftest import JOURNEYS, config_with_copied_baselines, copy_flows
from test_console import BROKEN_WORDS, _cli, browser  # noqa: F401 (a module fixture of its own here)
from test_console_timeline import PASSWORD, serve

VIEWPORTS = ((1280, 800), (390, 844))

class Site:
    def __init__(self) -> None:
        self.url = ""
        self.one_failure: dict = {}
        self.shifted: dict = {}
        self.api: dict = {}


def _patrol(root, journey, bank_url: str, out: str) -> dict:
    code = _cli("--config", str(root / "patrol.yaml"), "run", str(journey), "--base-url", bank_url, "--output", str(root / out))
    assert code == 1
    return json.loads((root / out / "report.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from patrol.demo.server import DemoBank

    root = tmp_path_factory.mktemp("pages")
    config_with_copied_baselines(root, f"\nstate: {{url: 'sqlite:///{root}/state.db'}}\nincidents:\n  confirm: 0\n")
    # The login journey up to its home screen: with the NaN balance, one step fails.
    short = root / "journeys"
    short.mkdir()
    copy_flows(short)
    login = (JOURNEYS / "login.yaml").read_text(encoding="utf-8")
    (short / "login.yaml").write_text(login[: login.index("  - name: view net-value chart")], encoding="utf-8")
    s = Site()
    with DemoBank(port=0, faults=["nan_balance"]) as bank:
        s.one_failure = _patrol(root, short / "login.yaml", bank.url, "run-nan")
    with DemoBank(port=0, faults=["layout_shift"]) as bank:
        s.shifted = _patrol(root, JOURNEYS / "login.yaml", bank.url, "run-shift")
    with DemoBank(port=0, faults=["api_status=account:500"]) as bank:  # an incident grouped by its cause
        s.api = _patrol(root, short / "login.yaml", bank.url, "run-api")
    failed = [st for j in s.one_failure["journeys"] for st in j["steps"] if st["status"] == "failed"]
    assert [st["name"] for st in failed] == ["sign in"], failed
    for live in serve(root, {"qa": "approver"}):
        s.url = live.url
        yield s


def _page(browser, site, w: int, h: int, **context):
    page = browser.new_context(viewport={"width": w, "height": h}, **context).new_page()
    page.goto(site.url + "/login")
    page.fill("input[name=name]", "qa")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(site.url + "/")
    return page


def _inside(page, selector: str, h: int) -> None:
    box = page.locator(selector).first.bounding_box()
    assert box and box["y"] >= 0 and box["y"] + box["height"] <= h, f"{page.url}: {selector} at {box}, viewport {h}"


def _clean(page) -> None:
    sizes = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert sizes[0] <= sizes[1], f"{page.url}: horizontal overflow {sizes}"
    assert page.evaluate(BROKEN_WORDS) == [], f"{page.url}: words broken inside table cells"


@pytest.mark.parametrize(("w", "h"), VIEWPORTS)
def test_the_failed_step_its_finding_and_screenshot_are_on_the_first_screen(browser, site, w, h):
    page = _page(browser, site, w, h)
    page.goto(f"{site.url}/runs/{site.one_failure['run_id']}")
    fail = page.locator("#verdict .fail")
    assert fail.count() == 1
    assert "at step 4 · sign in" in fail.locator("h2").inner_text()
    assert "forbidden_text" in fail.locator(".finding-line").inner_text() and "NaN" in fail.locator(".finding-line").inner_text()
    _inside(page, "#verdict .finding-line", h)
    shot = page.locator("#verdict img.failing-shot")
    shot.evaluate("i => i.decode()")
    assert shot.evaluate("i => i.naturalWidth") > 0
    _inside(page, "#verdict img.failing-shot", h)
    # The passing steps are a strip of small thumbnails; every step is numbered once.
    assert page.locator("ul.strip li.mini").count() == 3
    assert not re.search(r"\b(\d+)\. \1\.", page.inner_text("main")), "doubled numbering"
    _clean(page)
    page.context.close()


@pytest.mark.parametrize(("w", "h"), VIEWPORTS)
def test_approve_is_on_the_first_screen_of_the_compare_view_and_stays_pinned(browser, site, w, h):
    page = _page(browser, site, w, h)
    run = site.shifted["run_id"]
    page.goto(f"{site.url}/runs/{run}")
    page.locator("#verdict a.button", has_text="Compare").first.click()
    page.wait_for_url("**/compare?screen=*")
    _inside(page, "#approve", h)
    # The shift is one annotated change (the banner outlined with its words, the content below marked
    # as moved unchanged), not close-ups of moved content.
    shift = page.locator("#shift")
    assert page.locator("li.zoom").count() == 0, "no close-ups of a shift"
    assert shift.locator("g.mark.appeared").count() == 1, shift.inner_html()
    assert "限时活动：新客理财专享" in shift.locator("g.mark.appeared text").text_content()
    assert "moved down 320 px, unchanged" in shift.locator("g.mark.region text").last.text_content()
    page.mouse.wheel(0, 3000)
    page.wait_for_timeout(100)
    _inside(page, "#approve", h)
    _clean(page)
    page.context.close()


@pytest.mark.parametrize(("w", "h"), VIEWPORTS)
def test_overview_runs_and_incident_pages_fit_and_answer_at_the_top(browser, site, w, h):
    page = _page(browser, site, w, h, timezone_id="Asia/Shanghai")
    # Overview: the status grid first, a cell per run, clicking through to the run.
    row = page.locator("table.status-grid tr[data-journey=login]")
    assert row.locator("a.cell").count() == 3 and row.locator("a.cell.failed").count() == 3
    _inside(page, "table.status-grid tr[data-journey=login] a.cell", h)
    when = page.locator("table.runs time").first
    stamp = datetime.fromisoformat(when.get_attribute("datetime")).astimezone(ZoneInfo("Asia/Shanghai"))
    assert when.get_attribute("data-local") == "1" and stamp.strftime("%H:%M") in when.inner_text(), when.inner_text()
    _clean(page)
    row.locator("a.cell").last.click()
    page.wait_for_url("**/runs/*")
    # Runs list: journeys, result, failing step, duration, trigger; filters.
    page.goto(site.url + "/runs")
    first = page.locator("table.runs tbody tr").first
    text = first.inner_text()
    assert "login" in text and "failed" in text and "patrol run" in text and re.search(r"\d+(\.\d+)?\s?m?s", text), text
    assert page.locator(f"table.runs tr[data-run='{site.one_failure['run_id']}']").inner_text().count("4 sign in") == 1
    _clean(page)
    page.goto(site.url + "/runs?result=passed")
    assert page.locator("table.runs tbody tr").count() == 0 and "match these filters" in page.inner_text("main")
    page.goto(site.url + "/runs?journey=login&result=failed&date=" + datetime.now().astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%d"))
    assert page.locator("table.runs tbody tr").count() == 3
    page.goto(site.url + "/runs?date=2001-01-01")
    assert page.locator("table.runs tbody tr").count() == 0
    assert page.goto(site.url + "/runs?date=yesterday").status == 400
    # Incident: the cause line and its screenshot at the top; age and acknowledged state in the list.
    page.goto(site.url + "/incidents")
    assert page.locator("span.age").first.inner_text().endswith("ago") or "just now" in page.locator("span.age").first.inner_text()
    assert "not acknowledged" in page.inner_text("main")
    _clean(page)
    page.locator("main .list a[href^='/incidents/']").first.click()
    page.wait_for_url("**/incidents/*")
    _inside(page, ".verdict .cause", h)
    page.locator(".verdict img.shot").first.evaluate("i => i.decode()")
    box = page.locator(".verdict img.shot").first.bounding_box()
    assert box and box["y"] < h, "the screenshot starts on the first screen"
    _clean(page)
    page.context.close()


def test_the_broken_word_check_sees_a_word_broken_in_a_cell(browser):
    """The check above can fail: the durations table as it was ("Budge t" in a narrow cell)."""
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.set_content("""<main><table><tr><td style="width:40px;max-width:40px;overflow-wrap:anywhere">Budget</td>
        <td>fine words</td></tr></table></main>""")
    assert page.evaluate(BROKEN_WORDS) == ["Budget"]
    page.close()


def test_an_incident_grouped_by_cause_leads_with_its_cause_and_the_failing_request(browser, site):
    """The account API answers 500: the incident names the cause (not the symptom), its affected
    step, and the failing request stands out in the step's waterfall; the list shows the cause too."""
    page = _page(browser, site, 390, 844)
    page.goto(site.url + "/incidents")
    item = page.locator("main .list li", has_text="/api/account")
    assert "first-party API failing" in item.locator(".cause-line").inner_text()
    item.locator("a[href^='/incidents/']").click()
    page.wait_for_url("**/incidents/*")
    cause = page.locator(".verdict .cause").inner_text()
    assert "first-party API failing" in cause and "GET /api/account" in cause and "500" in cause, cause
    _inside(page, ".verdict .cause", 844)
    assert "step 4 sign in" in page.locator("ul.affected").inner_text()
    bad = page.locator("table.waterfall tr.bad", has_text="/api/account")
    assert bad.count() >= 1 and "500" in bad.first.inner_text()
    _clean(page)
    page.context.close()


def test_a_visual_incident_shows_its_screenshot_diff_and_compare_link(browser, site):
    """The layout shift's incident: on-call sees the screenshot and the diff at the top, and the
    compare link opens the compare view of that very screen (with its Approve button)."""
    page = _page(browser, site, 1280, 800)
    page.goto(site.url + "/incidents")
    item = page.locator("main .list li", has_text="visual_diff").first
    item.locator("a[href^='/incidents/']").click()
    page.wait_for_url("**/incidents/*")
    shots = page.locator(".verdict img.shot, .shots img.shot")
    alts = [shots.nth(i).get_attribute("alt") for i in range(shots.count())]
    assert any(a and a.startswith("screenshot") for a in alts) and "difference from the baseline" in alts, alts
    for i in range(shots.count()):
        assert shots.nth(i).evaluate("i => i.decode().then(() => i.naturalWidth)") > 0
    compare = page.locator("a.button", has_text="Compare view")
    assert compare.count() == 1 and "screen=" in (compare.get_attribute("href") or "")
    compare.click()
    page.wait_for_url("**/compare?screen=*")
    assert page.locator("button", has_text="Approve").count() >= 1
    page.context.close()
