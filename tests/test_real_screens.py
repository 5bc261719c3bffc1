"""Screens as real apps make them (issue 9), in real Chromium: busy detection that is
not the demo bank's markup, the pointer parked before screenshots, the page's locale,
time zone, colour scheme and frozen clock, strict locators, and the browser trace.

Pages the demo bank does not have (other UI kits' spinners, a hover-styled button,
a page printing its locale) come from a small loopback server of this file's own;
the trace is taken on the demo bank's real login with its real secret."""

from __future__ import annotations

import json
import threading
import time
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from conftest import SECRET, copy_flows

from patrol.cli import main
from patrol.core.png import decode_png

QUIET = "detectors: {blank_screen: false, broken_image: false, forbidden_text: false}"
HOVER_RED = (220, 0, 0)
PLAIN_GREY = (230, 230, 230)

PAGES = {
    # A button that stays under the pointer after its click and turns red on hover.
    "/hover": """<style>body{margin:0} #toggle{position:absolute;left:40px;top:40px;width:240px;height:90px;border:0;
      background:rgb(230,230,230);font-size:20px} #toggle:hover{background:rgb(220,0,0)}</style>
      <button id="toggle" onclick="document.getElementById('out').textContent='shown'">toggle</button>
      <p id="out" style="position:absolute;top:200px;left:40px"></p>""",
    "/settings": """<p id="lang"></p><p id="tz"></p><p id="scheme"></p><p id="now"></p><script>
      document.getElementById('lang').textContent = 'lang=' + navigator.language;
      document.getElementById('tz').textContent = 'tz=' + Intl.DateTimeFormat().resolvedOptions().timeZone;
      document.getElementById('scheme').textContent = 'scheme=' + (matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light');
      document.getElementById('now').textContent = 'now=' + new Date().toISOString();</script>""",
    # Busy the ways real apps are, none of them the demo bank's ``.spinner``.
    "/busy/status": """<main><h1>Reports</h1><div role="status">Loading reports…</div></main>""",
    "/busy/ant": """<style>.ant-spin-dot{display:inline-block;width:20px;height:20px;background:#1677ff}</style>
      <div class="ant-spin ant-spin-spinning"><span class="ant-spin-dot"><i></i><i></i></span></div>""",
    "/busy/mui": """<span class="MuiCircularProgress-root MuiCircularProgress-indeterminate"
      style="display:inline-block;width:40px;height:40px"><svg viewBox="22 22 44 44" width="40" height="40">
      <circle cx="44" cy="44" r="20" fill="none" stroke="blue" stroke-width="4"></circle></svg></span>""",
    "/busy/own": """<div class="wheel-of-patience" style="width:50px;height:50px;background:#ccc"></div>""",
    "/busy/bar": """<div role="progressbar" aria-valuenow="30" aria-valuemax="100" style="width:300px;height:8px;background:#39f"></div>""",
    # No markup says "loading": the page waits on its own API, which never answers.
    "/busy/pending": """<div id="app"><h1>Reports</h1></div><script>fetch('/api/hang').then(r => r.text())</script>""",
    # Nothing loads and nothing is on its way: what was expected is simply not there.
    "/idle": """<div class="ant-spin-nested-loading"><div class="ant-spin-container"><h1>Reports</h1>
      <p role="status">All reports are up to date</p></div></div>""",
    "/items": """<button class="item">Alpha</button><button class="item">Beta</button><button class="item">Gamma</button>
      <p id="out"></p><script>for (const b of document.querySelectorAll('.item'))
      b.onclick = () => document.getElementById('out').textContent = 'picked ' + b.textContent;</script>""",
}


class _Pages(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/api/hang":
            time.sleep(30)  # a first-party request that never answers within the journey
            return
        body = PAGES.get(self.path)
        self.send_response(200 if body else 404)
        self.send_header("content-type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(f"<!doctype html><html><body>{body or 'not here'}</body></html>".encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def write(tmp_path: Path, text: str, name: str = "j.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def step(p, journey: str, name: str) -> dict:
    return next(s for s in p.journey(journey)["steps"] if s["name"] == name)


# -- the pointer ----------------------------------------------------------------------

def hover_journey(url: str, hover_first: bool = False) -> str:
    extra = "  - name: point at it\n    hover: \"#toggle\"\n    expect: {visual: hovered}\n" if hover_first else ""
    return f"""name: pointer
base_url: {url}
budgets: {{step: 5s, timeout: 5s}}
{QUIET}
steps:
  - goto: /hover
  - name: toggle
    click: "#toggle"
    expect: {{text_of: {{selector: "#out", equals: shown}}, visual: toggled}}
{extra}"""


def colour_at(p, journey: str, name: str, x: int, y: int) -> tuple[int, ...]:
    img = decode_png((p.run_dir / step(p, journey, name)["screenshot"]).read_bytes())
    return tuple(int(v) for v in img[y, x, :3])


def test_a_hover_styled_button_under_the_last_click_looks_the_same_in_every_run(site, patrol, tmp_path):
    """The pointer is parked off the page before the compared screenshot: the button
    under the last click shows its plain face, pixel for pixel, run after run."""
    path = write(tmp_path, hover_journey(site))
    shots = []
    for _ in range(3):
        p = patrol("run", str(path))
        assert p.code == 0, p.out + p.err
        assert colour_at(p, "pointer", "toggle", 160, 85) == PLAIN_GREY  # not the hover red
        shots.append((p.run_dir / step(p, "pointer", "toggle")["screenshot"]).read_bytes())
        assert step(p, "pointer", "toggle")["artifacts"]["visual"]["status"] in ("new", "match")
    first = decode_png(shots[0])
    assert all(np.array_equal(first, decode_png(s)) for s in shots[1:])


def test_a_hover_the_journey_asked_for_stays_on_the_screenshot(site, patrol, tmp_path):
    p = patrol("run", str(write(tmp_path, hover_journey(site, hover_first=True))))
    assert p.code == 0, p.out + p.err
    assert colour_at(p, "pointer", "point at it", 160, 85) == HOVER_RED
    assert colour_at(p, "pointer", "toggle", 160, 85) == PLAIN_GREY


# -- page settings and the clock --------------------------------------------------------

def settings_journey(url: str, extra: str = "") -> str:
    return f"""name: settings
base_url: {url}
{QUIET}
{extra}
steps:
  - name: look
    goto: /settings
    expect: {{visible: "#now"}}
    store:
      lang: {{text_of: "#lang"}}
      tz: {{text_of: "#tz"}}
      scheme: {{text_of: "#scheme"}}
      now: {{text_of: "#now"}}
"""


def test_the_page_has_the_documented_default_locale_time_zone_and_colour_scheme(site, patrol, tmp_path):
    p = patrol("run", str(write(tmp_path, settings_journey(site))))
    assert p.code == 0, p.out + p.err
    stored = step(p, "settings", "look")["stored"]
    assert (stored["lang"], stored["tz"], stored["scheme"]) == ("lang=zh-CN", "tz=Asia/Shanghai", "scheme=light")
    assert not stored["now"].startswith("now=2026-01-01")


def test_journey_browser_settings_override_patrol_yaml_and_the_clock_is_frozen(site, patrol, tmp_path):
    cfg = write(tmp_path, "state: false\nbrowser: {locale: fr-FR, timezone: Europe/Paris, color_scheme: dark}\n", "patrol.yaml")
    journey = settings_journey(site, "browser: {timezone: America/New_York}\nclock: 2026-01-01T09:00:00+08:00")
    p = patrol("--config", str(cfg), "run", str(write(tmp_path, journey)))
    assert p.code == 0, p.out + p.err
    stored = step(p, "settings", "look")["stored"]
    # locale and scheme from patrol.yaml, the time zone from the journey
    assert (stored["lang"], stored["tz"], stored["scheme"]) == ("lang=fr-FR", "tz=America/New_York", "scheme=dark")
    assert stored["now"] == "now=2026-01-01T01:00:00.000Z"


# -- busy detection ----------------------------------------------------------------------

def busy_journey(url: str, page: str, extra: str = "") -> str:
    return f"""name: busy
base_url: {url}
budgets: {{step: 2s, timeout: 2s}}
{QUIET}
{extra}
steps:
  - name: open
    goto: {page}
    expect: {{visible: "#report-chart"}}
"""


@pytest.mark.parametrize("page, shows", [
    ("/busy/status", 'status: "Loading reports…"'),
    ("/busy/ant", "spinner: div.ant-spin.ant-spin-spinning"),
    ("/busy/mui", "spinner: span.MuiCircularProgress-root"),
    ("/busy/bar", "progressbar: div"),
])
def test_a_spinner_of_a_common_ui_kit_that_never_goes_away_is_spinner_stuck(site, patrol, tmp_path, page, shows):
    p = patrol("run", str(write(tmp_path, busy_journey(site, page))))
    assert p.findings("busy") == [("open", "stall", "spinner_stuck")], p.out
    finding = step(p, "busy", "open")["findings"][0]
    assert any(b.startswith(shows) for b in finding["evidence"]["busy"]), finding["evidence"]
    assert "still loading after 2.0s" in finding["message"]


def test_the_apps_own_busy_selector_from_patrol_yaml_and_the_journey(site, patrol, tmp_path):
    page = busy_journey(site, "/busy/own")
    p = patrol("run", str(write(tmp_path, page)))
    assert p.findings("busy") == [("open", "breakpoint", "expect_failed")]  # unknown markup, nothing pending
    cfg = write(tmp_path, "state: false\nbusy: ['.nothing-like-it']\n", "patrol.yaml")
    p = patrol("--config", str(cfg), "run", str(write(tmp_path, busy_journey(site, "/busy/own", "busy: .wheel-of-patience"))))
    assert p.findings("busy") == [("open", "stall", "spinner_stuck")]
    assert step(p, "busy", "open")["findings"][0]["evidence"]["busy"][0].startswith("busy selector .wheel-of-patience")


def test_a_still_screen_waiting_on_the_apps_own_request_is_spinner_stuck_naming_it(site, patrol, tmp_path):
    p = patrol("run", str(write(tmp_path, busy_journey(site, "/busy/pending"))))
    assert p.findings("busy") == [("open", "stall", "spinner_stuck")], p.out
    finding = step(p, "busy", "open")["findings"][0]
    pending = finding["evidence"]["pending_requests"]
    assert pending[0]["method"] == "GET" and pending[0]["url"].endswith("/api/hang")
    assert pending[0]["pending_ms"] >= 1500
    assert "/api/hang pending for" in finding["message"]


def test_a_page_that_is_not_loading_is_expect_failed_not_spinner_stuck(site, patrol, tmp_path):
    """Ant Design's permanent wrappers and a status that says all is done are not busy."""
    p = patrol("run", str(write(tmp_path, busy_journey(site, "/idle"))))
    assert p.findings("busy") == [("open", "breakpoint", "expect_failed")]


@pytest.mark.faults("frozen_spinner=home")
def test_the_demo_banks_frozen_spinner_is_still_spinner_stuck(faulty_bank, patrol, tmp_path):
    copy_flows(tmp_path)
    journey = f"""name: bank
base_url: {faulty_bank.url}
budgets: {{step: 3s, timeout: 3s}}
{QUIET}
steps:
  - include: flows/open_login.yaml
    with: {{password: "${{secret:DEMO_PASSWORD}}"}}
  - name: sign in
    click: "#login-submit"
    expect: {{visible: "#total-assets"}}
"""
    p = patrol("run", str(write(tmp_path, journey)))
    assert ("sign in", "stall", "spinner_stuck") in p.findings("bank")
    finding = step(p, "bank", "sign in")["findings"][0]
    assert any("#spinner" in b for b in finding["evidence"]["busy"])


# -- strict locators -----------------------------------------------------------------------

def items_journey(url: str, target: str, expect: str = "{text_of: {selector: '#out', equals: picked Beta}}") -> str:
    return f"""name: items
base_url: {url}
budgets: {{step: 3s, timeout: 3s}}
{QUIET}
steps:
  - goto: /items
    expect:
      count: {{selector: .item, equals: 3}}
      visible: .item
  - name: pick
    click: {target}
    expect: {expect}
"""


def test_a_selector_matching_several_elements_is_an_ambiguous_locator_breakpoint(site, patrol, tmp_path):
    p = patrol("run", str(write(tmp_path, items_journey(site, ".item"))))
    assert p.findings("items") == [("pick", "breakpoint", "ambiguous_locator")]  # counting and visible: still fine
    finding = step(p, "items", "pick")["findings"][0]
    assert finding["evidence"]["count"] == 3
    assert [m for m in finding["evidence"]["matches"]] == [
        '<button class="item">Alpha</button>', '<button class="item">Beta</button>', '<button class="item">Gamma</button>']
    assert "matches 3 elements" in finding["message"] and "nth" in finding["message"]
    assert step(p, "items", "pick")["status"] == "failed"


@pytest.mark.parametrize("target, picked", [
    ("{css: .item, nth: 2}", "Beta"), ("{css: .item, first: true}", "Alpha"), ("{xpath: '//button', nth: 3}", "Gamma")])
def test_the_step_says_which_match_it_means(site, patrol, tmp_path, target, picked):
    expect = f"{{text_of: {{selector: '#out', equals: picked {picked}}}}}"
    p = patrol("run", str(write(tmp_path, items_journey(site, target, expect))))
    assert p.code == 0, p.out + p.err


@pytest.mark.parametrize("locator, at, words", [
    ("{css: .item, nth: 0}", "0}", "nth counts matches from 1"),
    ("{css: .item, nth: two}", "two", "nth counts matches from 1"),
    ("{css: .item, nth: 2, first: true}", "first", "give nth or first, not both"),
    ("{text: Beta, nth: 2}", "nth", "'nth' picks among the elements a web selector matches"),
    ("{nth: 2}", "{", "names exactly one strategy"),
])
def test_nth_and_first_problems_are_positioned(tmp_path, capsys, locator, at, words):
    """Each problem at the key or value it is about (``at``: where it starts on the line)."""
    line = f"  - click: {locator}"
    f = write(tmp_path, f"name: t\nbase_url: http://127.0.0.1:1\nsteps:\n  - goto: /\n{line}\n")
    assert main(["validate", str(f)]) == 2
    err = capsys.readouterr().err
    where = f"{f}:5:{line.index(at) + 1}:"
    assert any(e.startswith(where) and words in e for e in err.splitlines()), (where, err)


def test_nth_is_refused_in_app_journeys(tmp_path, capsys):
    f = write(tmp_path, "name: t\ntarget: app\nsteps:\n  - click: {id: a, nth: 2}\n")
    main(["validate", str(f)])
    assert "not available for app journeys" in capsys.readouterr().err


# -- traces ------------------------------------------------------------------------------

def login_journey(url: str, expect: str, extra: str = "") -> str:
    return f"""name: traced
base_url: {url}
budgets: {{step: 3s, timeout: 3s}}
{QUIET}
{extra}
steps:
  - include: flows/open_login.yaml
    with: {{password: "${{secret:DEMO_PASSWORD}}"}}
  - name: sign in
    click: "#login-submit"
    expect: {{visible: "{expect}"}}
"""


def test_a_failed_journey_keeps_a_trace_without_the_secret(bank, patrol, tmp_path):
    copy_flows(tmp_path)
    p = patrol("run", str(write(tmp_path, login_journey(bank.url, "#no-such-thing"))))
    assert p.code == 1
    trace = p.journey("traced")["trace"]
    assert trace == "traced/trace.zip"
    path = p.run_dir / trace
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        everything = b"".join(z.read(n) for n in names)
    assert "trace.trace" in names and "trace.network" in names
    with zipfile.ZipFile(path) as z:  # masked, and still the JSON lines the trace viewer reads
        assert all(json.loads(line) for n in ("trace.trace", "trace.network") for line in z.read(n).splitlines())
    assert b'"fill"' in everything and b"#password" in everything  # what the journey did is there...
    assert SECRET.encode() not in everything  # ...but never what it typed as a secret
    assert b"******" in everything  # (it was there, masked)
    assert not list(path.parent.glob("*.part"))
    html = (p.run_dir / "index.html").read_text(encoding="utf-8")
    assert 'href="traced/trace.zip"' in html


def test_a_passed_journey_keeps_no_trace_unless_asked(bank, patrol, tmp_path):
    copy_flows(tmp_path)
    p = patrol("run", str(write(tmp_path, login_journey(bank.url, "#total-assets"))))
    assert p.code == 0, p.out + p.err
    assert p.journey("traced")["trace"] is None
    assert not list(p.run_dir.rglob("*.zip"))
    p = patrol("run", str(write(tmp_path, login_journey(bank.url, "#total-assets", "browser: {trace: 'on'}"))))
    assert p.journey("traced")["trace"] == "traced/trace.zip" and (p.run_dir / "traced/trace.zip").exists()


def test_trace_off_keeps_none_even_for_a_failed_journey(bank, patrol, tmp_path):
    copy_flows(tmp_path)
    cfg = write(tmp_path, "state: false\nbrowser: {trace: 'off'}\n", "patrol.yaml")
    p = patrol("--config", str(cfg), "run", str(write(tmp_path, login_journey(bank.url, "#no-such-thing"))))
    assert p.code == 1
    assert p.journey("traced")["trace"] is None and not list(p.run_dir.rglob("*.zip"))


def test_the_incident_message_links_the_trace(tmp_path):
    from patrol.incidents.documents import incident_object
    from patrol.notify.text import message

    row = {"id": 1, "fingerprint": "f", "status": "open", "kind": "stall", "reason": "spinner_stuck", "severity": "critical",
           "message": "still loading", "journey": "j", "journey_file": "j.yaml", "tags": [], "target": "web",
           "device": "desktop", "step_index": 1, "step_name": "open", "step_key": "open", "action": "goto",
           "page_url": "http://x/", "opened_at": None, "last_seen_at": None, "count": 1, "healthy_streak": 0,
           "resolved_at": None, "resolved_by": None, "resolve_note": None, "previous_id": None, "last_run_id": "run-1",
           "evidence": {"run_dir": str(tmp_path / "run-1"), "screenshot": "j/01-open.png", "trace": "j/trace.zip"}}
    inc = incident_object(row, "https://patrol.example.com/runs")
    assert inc["evidence"]["trace"] == {"path": str(tmp_path / "run-1" / "j" / "trace.zip"),
                                        "url": "https://patrol.example.com/runs/run-1/j/trace.zip"}
    doc = {"type": "incident.opened", "data": {"incident": inc, "run": None, "patrol": {"version": "x"}}}
    links = {link.label: link.target for link in message(doc).links}
    assert links["Trace"] == "https://patrol.example.com/runs/run-1/j/trace.zip"
    assert json.loads(json.dumps(inc))  # JSON-able, as the webhook sends it
