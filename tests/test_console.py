"""The console (issue 12) end to end: `patrol serve` on a loopback port over a state
database and runs made by real patrols of the demo bank with a layout shift, driven
in real Chromium; and its security: every route refuses strangers, roles, CSRF,
inert untrusted text, no path traversal, an audit log of every change."""

from __future__ import annotations

import io
import json
import re
import shutil
import socket
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from conftest import JOURNEYS, ROOT
from test_console_timeline import sign_in_http
from test_demo_bank import CHROMIUM, CHROMIUM_ARGS

PASSWORD = "correct horse battery"
XSS = '"><img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'


def _cli(*argv: str, stdin: str | None = None) -> int:
    """The real CLI, in a thread of its own (Playwright's sync API owns this thread's loop)."""
    from patrol.cli import main

    out: list[int] = []
    saved = sys.stdin
    if stdin is not None:
        sys.stdin = io.StringIO(stdin)
    try:
        t = threading.Thread(target=lambda: out.append(main(list(argv))))
        t.start()
        t.join()
    finally:
        sys.stdin = saved
    return out[0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class World:
    def __init__(self, root: Path, bank) -> None:
        self.root, self.bank = root, bank
        self.cfg = root / "patrol.yaml"
        self.baselines = root / "baselines"
        self.runs: list[Path] = []
        self.url = ""

    def patrol(self) -> tuple[int, dict]:
        run_dir = self.root / f"run-{len(self.runs) + 1}"
        self.runs.append(run_dir)
        code = _cli("--config", str(self.cfg), "run", str(JOURNEYS / "login.yaml"), "--base-url", self.bank.url, "--output", str(run_dir))
        return code, json.loads((run_dir / "report.json").read_text(encoding="utf-8"))

    def run_id(self, i: int = 0) -> str:
        return json.loads((self.runs[i] / "report.json").read_text(encoding="utf-8"))["run_id"]

    def store(self):
        from patrol.config import load_config
        from patrol.store import open_from_config

        return open_from_config(load_config(str(self.cfg)))


def _findings(report: dict) -> set[tuple[str, str]]:
    return {(s["name"], f["reason"]) for j in report["journeys"] for s in j["steps"] for f in s["findings"]}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """One state database and baselines, a failing patrol (layout shift), users, and the console serving them."""
    import uvicorn

    from patrol.cli.serve import build_app
    from patrol.demo.server import DemoBank

    root = tmp_path_factory.mktemp("console")
    shutil.copytree(ROOT / "baselines", root / "baselines")
    text = (ROOT / "patrol.yaml").read_text(encoding="utf-8").replace("baselines: baselines", f"baselines: {root / 'baselines'}")
    (root / "patrol.yaml").write_text(text + "\nincidents:\n  confirm: 0\n", encoding="utf-8")
    with DemoBank(port=0, faults=["layout_shift"]) as bank:
        w = World(root, bank)
        code, report = w.patrol()
        assert code == 1 and ("sign in", "visual_diff") in _findings(report), report
        for name, role in (("ada", "admin"), ("qa", "approver"), ("vic", "viewer")):
            assert _cli("--config", str(w.cfg), "users", "add", name, "--role", role, "--password-stdin", stdin=PASSWORD + "\n") == 0
        port = _free_port()
        server = uvicorn.Server(uvicorn.Config(build_app(str(w.cfg)), host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        w.url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            if server.started:
                break
            time.sleep(0.05)
        w.app = server.config.app
        yield w
        server.should_exit = True
        thread.join(5)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def _signed_in(browser, world, name: str, **context):
    page = browser.new_context(**context).new_page()
    page.goto(world.url + "/")
    assert "/login" in page.url, "a stranger is sent to sign in"
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(world.url + "/")
    return page


def _http_session(world, name: str) -> tuple[httpx.Client, str]:
    """A plain HTTP client signed in as ``name`` and the session's CSRF token."""
    client = httpx.Client(base_url=world.url, follow_redirects=False)
    r = sign_in_http(client, name)
    assert r.status_code == 303, r.text
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" in cookie
    client.headers["cookie"] = cookie.split(";")[0]  # a Secure cookie: httpx's jar would keep it off plain http
    page = client.get("/incidents")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token, page.text
    return client, token.group(1)


def _history_count(world) -> int:
    from sqlalchemy import func, select

    from patrol.store.schema import baseline_history

    with world.store().read() as conn:
        return int(conn.execute(select(func.count()).select_from(baseline_history)).scalar_one())


# Words broken across lines inside table cells (cells of machine text, URLs and JSON, may break anywhere).
BROKEN_WORDS = """() => {
  const bad = [];
  for (const cell of document.querySelectorAll("main td:not(.machine), main th")) {
    const walk = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let n = walk.nextNode(); n; n = walk.nextNode()) {
      const re = /\\S+/g;
      for (let m = re.exec(n.data); m; m = re.exec(n.data)) {
        const r = document.createRange();
        r.setStart(n, m.index);
        r.setEnd(n, m.index + m[0].length);
        const tops = new Set([...r.getClientRects()].filter(x => x.width > 0).map(x => Math.round(x.top)));
        if (tops.size > 1) { bad.push(m[0]); }
      }
    }
  }
  return bad;
}"""


def _no_overflow(page) -> None:
    sizes = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert sizes[0] <= sizes[1], f"{page.url}: horizontal overflow {sizes}"


# -- security -----------------------------------------------------------------------------------------
def _example_path(path: str, run_id: str) -> str:
    path = path.replace("{run_id}", run_id).replace("{name:path}", "login/04-sign-in.png")
    return re.sub(r"\{[a-z_]+:int\}", "1", path)


def test_every_route_refuses_a_stranger(world):
    from starlette.routing import Mount, Route

    from patrol.webconsole.app import PUBLIC_PATHS

    checked = 0
    with httpx.Client(base_url=world.url, follow_redirects=False) as client:
        for route in world.app.routes:
            if isinstance(route, Mount) or route.path in PUBLIC_PATHS:
                assert route.path in PUBLIC_PATHS, f"{route.path}: a mount that is not declared public"
                continue
            assert isinstance(route, Route)
            for method in sorted(route.methods - {"HEAD"}):
                r = client.request(method, _example_path(route.path, world.run_id()))
                refused = r.status_code == 401 or (r.status_code == 303 and r.headers["location"].startswith("/login"))
                assert refused, f"{method} {route.path} answered a stranger with {r.status_code}"
                checked += 1
        # A forged session cookie is no better than none.
        r = client.get(f"/runs/{world.run_id()}/files/login/04-sign-in.png", headers={"cookie": "patrol_session=forged"})
        assert r.status_code == 303
    assert checked >= 15


def test_a_viewer_cannot_approve_and_nothing_is_written(world):
    client, csrf = _http_session(world, "vic")
    baseline = world.baselines / "login" / "home.desktop.png"
    before, count = baseline.read_bytes(), _history_count(world)
    screen = "login/1/4"
    r = client.post(f"/runs/{world.run_id()}/approve", data={"csrf": csrf, "screen": screen})
    assert r.status_code == 403 and "approver" in r.text
    assert client.get(f"/runs/{world.run_id()}").status_code == 200, "a viewer still reads"
    assert client.get("/audit").status_code == 403, "the audit log is for admins"
    assert baseline.read_bytes() == before and _history_count(world) == count


def test_a_change_without_the_csrf_token_is_refused(world):
    client, csrf = _http_session(world, "qa")
    baseline = world.baselines / "login" / "home.desktop.png"
    before, count = baseline.read_bytes(), _history_count(world)
    wrong = ("y" if csrf[0] == "x" else "x") + csrf[1:]  # never the token itself (1 in 64 began with x)
    for data in ({"screen": "login/1/4"}, {"screen": "login/1/4", "csrf": wrong}):
        r = client.post(f"/runs/{world.run_id()}/approve", data=data)
        assert r.status_code == 403 and "CSRF" in r.text
    assert baseline.read_bytes() == before and _history_count(world) == count
    # Signing in again is limited after repeated failures.
    stranger = httpx.Client(base_url=world.url, follow_redirects=False)
    codes = [sign_in_http(stranger, "nobody", "wrong-wrong").status_code for _ in range(6)]
    assert codes[:5] == [401] * 5 and codes[5] == 429


def test_path_traversal_is_refused_and_screens_are_served(world):
    client, _ = _http_session(world, "vic")
    run = world.run_id()
    ok = client.get(f"/runs/{run}/files/login/04-sign-in.png")
    assert ok.status_code == 200 and ok.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert "default-src 'none'" in ok.headers["content-security-policy"]
    for bad in ("../patrol.yaml", "..%2Fpatrol.yaml", "%2e%2e/%2e%2e/patrol.yaml", "login/../../baselines/login/home.desktop.png",
                "/etc/passwd", "%2Fetc%2Fpasswd", "report.json/../../patrol.yaml"):
        r = client.get(f"/runs/{run}/files/{bad}")
        assert r.status_code == 404, (bad, r.status_code)
        assert b"baselines" not in r.content[:200] and b"root:" not in r.content


def test_untrusted_text_renders_inert(world, browser):
    """A page's URL, OCR text and messages come from the patrolled app: escaped, and the CSP forbids inline script."""
    from sqlalchemy import update

    from patrol.store.schema import incidents

    run_dir = world.runs[0]
    report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    step = report["journeys"][0]["steps"][3]
    step["url"] = "http://bank.test/?q=" + XSS
    step["findings"].append({"kind": "render", "reason": "forbidden_text", "message": "saw " + XSS,
                             "evidence": {"text": XSS, "ocr_text": XSS}, "fatal": False})
    (run_dir / "report.json").write_text(json.dumps(report), encoding="utf-8")
    with world.store().write() as conn:
        conn.execute(update(incidents).where(incidents.c.id == 1).values(message=XSS, page_url="http://x/" + XSS))
    page = _signed_in(browser, world, "vic")
    errors: list[str] = []
    page.on("dialog", lambda d: (errors.append(d.message), d.dismiss()))
    for path in (f"/runs/{world.run_id()}", "/incidents/1", "/incidents", "/"):
        page.goto(world.url + path)
        assert XSS in page.inner_text("main"), f"{path}: the text is shown as text"
        assert page.evaluate("window.__pwned") is None, path
        assert page.locator("main img[onerror]").count() == 0 and page.locator("main script").count() == 0
    assert not errors
    page.context.close()


# -- the four defects of issue 21 -------------------------------------------------------------------------------
def test_a_deep_link_keeps_its_query_through_sign_in(world, browser):
    """A compare-view link from a message, opened signed out: after signing in, the compare view of that screen."""
    run = world.run_id()
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    page.goto(f"{world.url}/runs/{run}/compare?screen=login%2F1%2F4")
    assert "/login?next=" in page.url
    page.fill("input[name=name]", "vic")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**/runs/{run}/compare?screen=login%2F1%2F4")
    assert "Compare: login" in page.inner_text("main h1") and page.locator("#compare img[data-label=diff]").count() == 1
    page.context.close()
    with httpx.Client(base_url=world.url, follow_redirects=False) as client:
        r = client.get("/deliveries?status=dead")
        assert r.headers["location"] == "/login?next=%2Fdeliveries%3Fstatus%3Ddead"
        assert 'name="next" value="/deliveries?status=dead"' in client.get(r.headers["location"]).text
        # Only a path of this site: anything a browser could read as another host goes to the overview.
        for evil in ("//evil.example/", "https://evil.example/", "/\\evil.example", "/\t/evil.example", "javascript:alert(1)",
                     "evil.example", "/\n/evil.example"):
            form = client.get("/login", params={"next": evil}).text
            assert 'name="next" value="/"' in form, evil


def test_values_show_symbols_as_themselves_and_stay_inert(world, browser):
    """JSON-shown values (audit details, evidence lists) read ``< > & '`` as typed, not ``\\u003c``, and stay text."""
    client, csrf = _http_session(world, "ada")
    name = "toast fixed & redeployed <b>4.2</b> it's"
    r = client.post("/maintenance", data={"csrf": csrf, "name": name, "scope": "journey", "value": "nothing-here", "for": "1h"})
    assert r.status_code == 303, r.text
    windows = httpx.get(world.url + "/api/v1/maintenance", headers={"cookie": client.headers["cookie"]}).json()["windows"]
    wid = next(w["id"] for w in windows if w["name"] == name)
    assert client.post(f"/maintenance/{wid}/end", data={"csrf": csrf}).status_code == 303
    run_dir = world.runs[0]
    report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    report["journeys"][0]["steps"][3]["findings"].append(
        {"kind": "render", "reason": "text_mismatch", "message": "expected text missing", "fatal": False,
         "evidence": {"expected": ["<b>4.2</b>", "fish & chips"]}})
    (run_dir / "report.json").write_text(json.dumps(report), encoding="utf-8")
    page = _signed_in(browser, world, "ada")
    page.goto(world.url + "/audit")
    audit = page.inner_text("main")
    assert name in audit and "\\u00" not in audit
    page.goto(f"{world.url}/runs/{world.run_id()}")
    text = page.text_content("main") or ""
    assert '["<b>4.2</b>", "fish & chips"]' in text and "\\u00" not in text
    assert page.locator("main b").count() == 0, "shown as text, not markup"
    page.context.close()


def test_a_nul_or_invalid_byte_in_a_file_route_is_a_404_with_the_headers(world):
    client, _ = _http_session(world, "vic")
    run = world.run_id()
    for bad in ("login%00.png", "login/04-sign-in.png%00", "%00", "login%ff.png", "%c0%ae%c0%ae/patrol.yaml", "login%0a.png"):
        r = client.get(f"/runs/{run}/files/{bad}")
        assert r.status_code in (400, 404), (bad, r.status_code, r.text)
        assert "default-src 'none'" in r.headers["content-security-policy"] and r.headers["x-content-type-options"] == "nosniff", bad


def test_sign_in_is_protected_from_login_csrf(world, browser):
    """A cross-site form posting to /login (the attacker's name and password) does not sign the browser in."""
    with httpx.Client(base_url=world.url, follow_redirects=False) as client:
        r = client.post("/login", data={"name": "vic", "password": PASSWORD, "next": "/"})
        assert r.status_code == 403 and "patrol_session" not in r.headers.get("set-cookie", "")
        form = client.get("/login")
        token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
        r = client.post("/login", data={"name": "vic", "password": PASSWORD, "next": "/", "csrf": token},
                        headers={"cookie": "patrol_login_csrf=" + "x" * 43})
        assert r.status_code == 403, "the token must match the form's own cookie"
    page = browser.new_context().new_page()
    page.set_content(f"""<form method="post" action="{world.url}/login"><input name="name" value="vic">
        <input name="password" value="{PASSWORD}"><input name="next" value="/"><button>go</button></form>""")
    with page.expect_navigation():
        page.click("button")
    assert "did not come from this console" in page.inner_text("main")
    page.goto(world.url + "/")
    assert "/login" in page.url, "the victim's browser was not signed in"
    page.context.close()


def test_plain_http_off_loopback_says_why_sign_in_cannot_work(world, browser):
    """Over plain HTTP at a LAN name the Secure cookie is dropped by the browser: the sign-in page says so and how to fix it."""
    port = world.url.rsplit(":", 1)[1]
    b = browser.browser_type.launch(executable_path=CHROMIUM, headless=True,
                                    args=[*CHROMIUM_ARGS, "--host-resolver-rules=MAP console.lan 127.0.0.1"])
    try:
        page = b.new_page()
        page.goto(f"http://console.lan:{port}/")
        warning = page.locator("#cookie-warning")
        assert warning.is_visible() and "plain HTTP" in warning.inner_text() and "TLS" in warning.inner_text()
        page.fill("input[name=name]", "vic")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_load_state()
        assert "/login" in page.url and page.locator("#cookie-warning").is_visible()
        page.goto(f"http://127.0.0.1:{port}/login")
        assert page.locator("#cookie-warning").count() == 0, "on the machine itself the cookie is kept"
    finally:
        b.close()


def test_the_incident_page_and_api_do_not_show_the_servers_run_folder(world):
    client, _ = _http_session(world, "vic")
    folder = str(world.runs[0].resolve())
    html = client.get("/incidents/1").text
    assert folder not in html and str(world.root) not in html
    shot = re.search(r'<img class="shot" src="([^"]+)"', html)
    assert shot and client.get(shot.group(1)).status_code == 200, "the screenshot is served by the console instead"
    # The step's requests as a waterfall (from the run's report): signing in posted to the bank's API.
    waterfall = html[html.index('class="stack waterfall"'):]
    assert "POST http://127.0.0.1:" in waterfall and "/api/login" in waterfall and '<svg class="bar"' in waterfall
    api = httpx.get(world.url + "/api/v1/incidents/1", headers={"cookie": client.headers["cookie"]}).text
    assert folder not in api and str(world.root) not in api
    listed = httpx.get(world.url + "/api/v1/incidents?all=1", headers={"cookie": client.headers["cookie"]}).text
    assert folder not in listed


# -- approve, the next run passes, undo, it fails again --------------------------------------------------
def test_compare_approve_then_undo(world, browser):
    page = _signed_in(browser, world, "qa")
    run = world.run_id()
    page.goto(f"{world.url}/runs/{run}")
    page.click("a[href$='compare?screen=login/1/4']")
    assert "looks different from baseline" in page.inner_text("main")
    # The click returns once the page is there, not its pictures (slow on a busy machine).
    page.wait_for_function("() => [...document.querySelectorAll('#compare img')].every(i => i.complete)")
    for label in ("baseline", "actual", "diff"):
        img = page.locator(f"#compare img[data-label={label}]")
        assert img.evaluate("i => i.complete && i.naturalWidth") == 1280, label
    assert not page.locator(".modes .blend").is_visible(), "no slider beside side-by-side pictures"
    page.click("button[data-mode=slider]")
    page.fill(".modes .blend", "30")
    page.dispatch_event(".modes .blend", "input")
    assert page.locator("#compare .pane-actual").evaluate("e => e.style.width") == "30%"
    # The divider is drawn and both sides are named.
    assert page.locator("#compare .pane-actual").evaluate("e => getComputedStyle(e).borderRightWidth") == "3px"
    assert page.locator("#compare .label-actual").is_visible() and page.locator("#compare .label-baseline").is_visible()
    page.click("button[data-mode=onion]")
    assert page.locator("#compare .pane-actual").evaluate("e => e.style.opacity") == "0.3"
    page.click("#approve")
    page.wait_for_url(f"**/runs/{run}?approved=1")
    # The checklist says what happened: approved, no longer ticked.
    approved = page.locator("li.screen[data-screen='login/1/4']")
    assert "approved" in approved.inner_text() and not approved.locator("input[type=checkbox]").is_checked()
    shot = (world.runs[0] / "login" / "04-sign-in.png").read_bytes()
    assert (world.baselines / "login" / "home.desktop.png").read_bytes() == shot, "written as `patrol baseline approve` writes it"
    # The rest of the run from its checklist: the screen still different (promo) is checked already.
    page.click("text=Approve the checked screens")
    page.wait_for_url("**approved=*")
    code, report = world.patrol()
    assert code == 0, _findings(report)
    page.goto(world.url + "/baselines")
    assert page.locator("text=Undo").count() >= 2
    while page.locator("button:has-text('Undo')").count():
        page.locator("button:has-text('Undo')").first.click()
        page.wait_for_url(world.url + "/baselines")
    assert "undone by qa" in page.inner_text("main")
    code, report = world.patrol()
    assert code == 1 and {("sign in", "visual_diff"), ("view promo banner", "visual_diff")} <= _findings(report)
    page.context.close()
    _assert_audited(world, browser, "baseline.approve", "baseline.undo")


def test_reject_keeps_the_baseline_and_undo_from_the_compare_view_returns_to_it(world):
    client, csrf = _http_session(world, "qa")
    run = world.run_id()
    baseline = world.baselines / "login" / "home.desktop.png"
    before, count = baseline.read_bytes(), _history_count(world)
    r = client.post(f"/runs/{run}/reject", data={"csrf": csrf, "screen": "login/1/4"})
    assert r.status_code == 303 and "rejected=login" in r.headers["location"]
    assert "Kept the baseline of login/1/4" in client.get(r.headers["location"]).text
    assert baseline.read_bytes() == before and _history_count(world) == count, "rejecting writes nothing but the audit entry"
    viewer, viewer_csrf = _http_session(world, "vic")
    assert viewer.post(f"/runs/{run}/reject", data={"csrf": viewer_csrf, "screen": "login/1/4"}).status_code == 403
    # Approve, then the compare view offers Undo in place of Approve; undoing comes back to it.
    compare = f"/runs/{run}/compare?screen=login%2F1%2F4"
    assert client.post(f"/runs/{run}/approve", data={"csrf": csrf, "screen": "login/1/4"}).status_code == 303
    page = client.get(compare).text
    assert 'id="approve"' not in page and "Undo the approval" in page and ">approved<" in page
    undo = re.search(r'action="(/baselines/\d+/undo)"', page).group(1)
    back = re.search(r'name="back" value="([^"]+)"', page).group(1).replace("&amp;", "&")
    r = client.post(undo, data={"csrf": csrf, "back": back})
    assert r.status_code == 303 and r.headers["location"] == back and "/compare?screen=" in back
    assert baseline.read_bytes() == before and 'id="approve"' in client.get(compare).text
    # Only a path of this site is a place to come back to.
    assert client.post(f"/runs/{run}/approve", data={"csrf": csrf, "screen": "login/1/4"}).status_code == 303
    undo = re.search(r'action="(/baselines/\d+/undo)"', client.get(compare).text).group(1)
    assert client.post(undo, data={"csrf": csrf, "back": "https://evil.example/"}).headers["location"] == "/"
    assert baseline.read_bytes() == before
    admin, _ = _http_session(world, "ada")
    assert "baseline.reject" in {e["action"] for e in admin.get("/api/v1/audit").json()["entries"]}


# -- incidents ---------------------------------------------------------------------------------------------
def test_acknowledge_stops_reminders_silence_and_resolve(world, browser):
    from datetime import timedelta

    from patrol.config.incidents import IncidentSettings
    from patrol.core.isotime import utcnow
    from patrol.incidents.service import IncidentService, RecordResult
    from patrol.store.schema import events

    page = _signed_in(browser, world, "qa")
    page.goto(world.url + "/incidents")
    assert page.locator("a[href='/incidents/1']").count() == 1
    page.goto(world.url + "/incidents/1")
    page.click("text=Acknowledge")
    assert "Acknowledged by qa" in page.inner_text("main")
    # An hour later reminders are due: only the incident nobody acknowledged gets one.
    store = world.store()
    svc = IncidentService(store, IncidentSettings(remind_every_s=60), clock=lambda: utcnow() + timedelta(hours=1))
    with store.write() as conn:
        svc.lifecycle.remind(conn, svc.clock(), RecordResult("test"))
        reminded = {r.incident_id for r in conn.execute(events.select().where(events.c.type == "incident.reminder"))}
    assert 1 not in reminded and reminded, reminded
    page.goto(world.url + "/incidents")
    page.select_option("select[name=scope]", "journey")
    page.fill("input[name=value]", "login")
    page.fill("input[name=duration]", "1h")
    page.click("button:has-text('Silence')")
    assert "journey login until" in page.inner_text("main")
    page.goto(world.url + "/incidents/2")
    page.fill("input[name=note]", "fixed the banner")
    page.click("button:has-text('Resolve')")
    assert "fixed the banner" in page.inner_text("main")
    page.context.close()
    _assert_audited(world, browser, "incident.acknowledge", "silence.add", "incident.resolve")


def _assert_audited(world, browser, *actions: str) -> None:
    """The audit log (an admin's page) holds these changes: each test checks its own, so
    the tests need no order."""
    page = _signed_in(browser, world, "ada")
    page.goto(world.url + "/audit")
    text = page.inner_text("main")
    for action in ("user.add", "sign_in", *actions):
        assert action in text, action
    page.context.close()


def test_every_page_on_desktop_and_phone_without_overflow(world, browser, tmp_path):
    run = world.run_id()
    pages = {"overview": "/", "runs": "/runs", "run": f"/runs/{run}", "compare": f"/runs/{run}/compare?screen=login%2F1%2F4",
             "incidents": "/incidents?all=1", "incident": "/incidents/1", "baselines": "/baselines", "audit": "/audit",
             "maintenance": "/maintenance", "schedules": "/schedules", "deliveries": "/deliveries"}
    for w, h in ((1280, 800), (390, 844)):
        page = _signed_in(browser, world, "ada", viewport={"width": w, "height": h})
        for name, path in pages.items():
            page.goto(world.url + path)
            assert page.locator("main h1").count() == 1, path
            page.screenshot(path=str(tmp_path / f"{name}-{w}x{h}.png"), full_page=True)
            _no_overflow(page)
            assert page.evaluate(BROKEN_WORDS) == [], f"{path}: words broken inside table cells"
        page.context.close()
        login = browser.new_context(viewport={"width": w, "height": h}).new_page()
        login.goto(world.url + "/login")
        login.screenshot(path=str(tmp_path / f"login-{w}x{h}.png"))
        _no_overflow(login)
        login.context.close()
    assert len(list(tmp_path.glob("*.png"))) == 2 * len(pages) + 2


# -- maintenance windows in the console -------------------------------------------------------------------
def test_admin_adds_and_ends_a_maintenance_window_viewer_cannot(world, browser):
    page = _signed_in(browser, world, "ada")
    page.goto(world.url + "/maintenance")
    page.fill("input[name=name]", "deploy <b>4.2</b>")
    page.select_option("select[name=scope]", "tag")
    page.fill("input[name=value]", "smoke")
    page.fill("input[name=for]", "2h")
    page.click("button:has-text('Add window')")
    item = page.locator("li.window", has_text="deploy <b>4.2</b>")
    assert "active until" in item.inner_text() and "tag smoke" in item.inner_text()
    page.fill("input[name=name]", "weekly")
    page.fill("input[name=cron]", "0 22 * * fri")
    page.fill("input[name=duration]", "1h")
    page.fill("input[name=timezone]", "Europe/Berlin")
    page.click("button:has-text('Add window')")
    weekly = page.locator("li.window", has_text="weekly")
    assert "cron 0 22 * * fri (Europe/Berlin) for 1h" in weekly.inner_text() and weekly.locator("time").count() == 3
    page.fill("input[name=name]", "backwards")
    page.fill("input[name=from]", "2030-01-02 10:00")
    page.fill("input[name=to]", "2030-01-01 10:00")
    page.click("button:has-text('Add window')")
    assert "must end after it starts" in page.inner_text("main")
    page.goto(world.url + "/maintenance")
    item.locator("button:has-text('End now')").click()
    page.wait_for_url(world.url + "/maintenance")
    assert page.locator("li.window", has_text="deploy <b>4.2</b>").count() == 0
    page.goto(world.url + "/maintenance?all=1")
    assert "ended" in page.locator("li.window", has_text="deploy <b>4.2</b>").inner_text()
    page.goto(world.url + "/audit")
    assert "maintenance.add" in page.inner_text("main") and "maintenance.end" in page.inner_text("main")
    page.context.close()
    client, csrf = _http_session(world, "qa")
    assert "Add a window" not in client.get("/maintenance").text, "an approver reads but does not change windows"
    r = client.post("/maintenance", data={"csrf": csrf, "name": "sneaky", "for": "1h"})
    assert r.status_code == 403 and "sneaky" not in client.get("/maintenance").text


# -- the JSON API ------------------------------------------------------------------------------------------
def _token(world, capsys, name: str) -> str:
    capsys.readouterr()
    assert _cli("--config", str(world.cfg), "users", "token", name, "--label", "ci") == 0
    return capsys.readouterr().out.strip().splitlines()[-1]


def test_api_reads_and_changes_with_tokens_and_roles(world, capsys):
    run = world.run_id()
    api = {n: httpx.Client(base_url=world.url + "/api/v1", headers={"authorization": "Bearer " + _token(world, capsys, n)})
           for n in ("vic", "qa", "ada")}
    runs = api["vic"].get("/runs").json()["runs"]
    assert run in {r["id"] for r in runs}
    detail = api["vic"].get(f"/runs/{run}").json()
    assert "login/1/4" in {s["key"] for s in detail["screens"]} and detail["report"]["run_id"] == run
    assert {j["journey"] for j in api["vic"].get("/journeys").json()["journeys"]} == {"login"}
    incidents = api["vic"].get("/incidents", params={"all": "1"}).json()["incidents"]
    assert api["vic"].get(f"/incidents/{incidents[0]['id']}").json()["events"]
    assert api["vic"].get("/incidents/99999").status_code == 404
    # A viewer cannot approve; nothing is written.
    baseline = world.baselines / "login" / "home.desktop.png"
    before, count = baseline.read_bytes(), _history_count(world)
    r = api["vic"].post(f"/runs/{run}/approve", json={"screens": ["login/1/4"]})
    assert r.status_code == 403 and "approver" in r.json()["error"]
    assert baseline.read_bytes() == before and _history_count(world) == count
    # An approver approves and undoes.
    r = api["qa"].post(f"/runs/{run}/approve", json={"screens": ["login/1/4"]})
    assert r.status_code == 201, r.text
    assert baseline.read_bytes() == (world.runs[0] / "login" / "04-sign-in.png").read_bytes()
    assert api["qa"].post(f"/baselines/{r.json()['approvals'][0]}/undo").status_code == 200
    assert baseline.read_bytes() == before
    assert api["qa"].post(f"/runs/{run}/approve", content=b"{not json").status_code == 400
    # Silences (approver); maintenance windows (admin only).
    sid = api["qa"].post("/silences", json={"scope": "tag", "value": "nightly", "duration": "1h"}).json()["silence"]
    assert sid in {s["id"] for s in api["vic"].get("/silences").json()["silences"]}
    assert api["qa"].post(f"/silences/{sid}/end").status_code == 200
    assert api["qa"].post("/maintenance", json={"name": "x", "for": "1h"}).status_code == 403
    r = api["ada"].post("/maintenance", json={"name": "api window", "scope": "journey", "value": "login", "for": "30m"})
    assert r.status_code == 201, r.text
    windows = api["vic"].get("/maintenance").json()["windows"]
    assert any(w["name"] == "api window" and w["active"] for w in windows)
    assert api["ada"].post(f"/maintenance/{r.json()['window']}/end").status_code == 200
    assert api["ada"].post("/maintenance", json={"name": "bad", "cron": "0 25 * * *", "duration": "1h"}).status_code == 400
    sched = api["vic"].get("/schedules").json()
    assert sched["live"] is False and isinstance(sched["jobs"], list)
    r = api["ada"].post("/schedules/schedule:any/run")
    assert r.status_code == 409 and "--console-port" in r.json()["error"], "patrol serve alone cannot run schedules"
    assert api["qa"].post("/schedules/schedule:any/run").status_code == 403
    assert api["vic"].get("/audit").status_code == 403
    audit = api["ada"].get("/audit").json()["entries"]
    via_api = {(e["action"], e["actor"]) for e in audit if e["via"] == "api"}
    assert {("baseline.approve", "qa"), ("baseline.undo", "qa"), ("silence.add", "qa"), ("maintenance.add", "ada"),
            ("maintenance.end", "ada")} <= via_api


def test_api_cookie_requests_need_csrf_and_revoked_tokens_fail(world, capsys):
    client, csrf = _http_session(world, "qa")
    r = client.post("/api/v1/silences", json={"scope": "tag", "value": "t", "duration": "1h"})
    assert r.status_code == 403 and "CSRF" in r.json()["error"]
    r = client.post("/api/v1/silences", json={"scope": "tag", "value": "t", "duration": "1h"}, headers={"x-csrf-token": csrf})
    assert r.status_code == 201
    assert client.get("/api/v1/silences").status_code == 200, "reading needs no CSRF token"
    token = _token(world, capsys, "qa")
    bearer = {"authorization": "Bearer " + token}
    assert httpx.get(world.url + "/api/v1/runs", headers=bearer).status_code == 200
    with world.store().read() as conn:
        from patrol.store.console_repo import tokens_of, user_by_name

        tid = tokens_of(conn, user_by_name(conn, "qa")["id"])[-1]["id"]
    assert _cli("--config", str(world.cfg), "users", "revoke", str(tid)) == 0
    assert httpx.get(world.url + "/api/v1/runs", headers=bearer).status_code == 401
    assert httpx.get(world.url + "/api/v1/runs", headers={"authorization": "Bearer pt_forged"}).status_code == 401
    # A token is for the API: the pages want a session.
    assert httpx.get(world.url + "/runs", headers=bearer).status_code == 303


def test_openapi_document_lists_every_api_route(world, capsys):
    from starlette.routing import Route

    doc = httpx.get(world.url + "/api/v1/openapi.json",
                    headers={"authorization": "Bearer " + _token(world, capsys, "vic")}).json()
    assert doc["openapi"].startswith("3.") and doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    seen = 0
    for route in world.app.routes:
        if isinstance(route, Route) and route.path.startswith("/api/v1/"):
            path = re.sub(r":[a-z]+\}", "}", route.path)
            for method in route.methods - {"HEAD"}:
                op = doc["paths"][path][method.lower()]
                assert op["x-required-role"] == route.endpoint.required_role and op["summary"], (path, method)
                seen += 1
    assert seen >= 20
    assert doc["paths"]["/api/v1/silences"]["post"]["requestBody"]["content"]["application/json"]["schema"]["required"]


# -- deliveries (kept last: it records a synthetic failing journey in the world's database) ---------------
def test_deliveries_page_shows_a_dead_delivery_and_retry_sends_it(world, browser):
    from receivers import DEAD_BUTTON, Answer, ReceiverServer, confirmed_run, receiver, whsec

    from patrol.config.incidents import DeliverySettings, IncidentSettings
    from patrol.incidents.service import IncidentService

    with ReceiverServer() as srv:
        srv.script("/hook", Answer(status=410, body=b"gone <script>window.__pwned=3</script>"))
        hook = receiver("hook", "webhook", srv.url("/hook"), secret=whsec())
        settings = IncidentSettings(confirm=1, delivery=DeliverySettings(backoff_s=0.05, flush_timeout_s=3.0))
        svc = IncidentService(world.store(), settings, {"hook": hook})
        svc.record_run(confirmed_run(DEAD_BUTTON))
        assert svc.flush_deliveries(3.0).dead == 1
        page = _signed_in(browser, world, "qa")
        page.goto(world.url + "/deliveries?status=dead")
        item = page.locator("li.delivery", has_text="hook")
        assert "HTTP 410" in item.inner_text() and "<script>" in item.inner_text()
        assert page.evaluate("window.__pwned") is None
        item.locator("button:has-text('Retry')").click()
        page.wait_for_url("**/deliveries?retried=1")
        assert "pending" in page.locator("li.delivery", has_text="hook").first.inner_text()
        assert svc.flush_deliveries(3.0).sent == 1
        assert [r.answered for r in srv.at("/hook")] == [410, 200]
        page.context.close()
    with world.store().read() as conn:
        from patrol.store.console_repo import audit_entries

        assert ("delivery.retry", "qa") in {(e["action"], e["actor"]) for e in audit_entries(conn)}
