"""The demo bank itself: real HTTP on a free port, plus two real-Chromium checks."""

from __future__ import annotations

import base64
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from patrol.demo import DEFAULT_PASSWORD, FAULTS, DemoBank, FaultSet, parse_fault
from patrol.demo.data import luhn_ok

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
VALID_CARD = "6222021234567890128"
INVALID_CARD = "6222021234567890123"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bank(monkeypatch_module):
    monkeypatch_module.delenv("DEMO_PASSWORD", raising=False)
    with DemoBank() as b:
        yield b


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


@pytest.fixture(autouse=True)
def _healthy(request):
    yield
    if "bank" in request.fixturenames:
        request.getfixturevalue("bank").faults.clear()


def login(base_url: str, password: str = DEFAULT_PASSWORD) -> httpx.Client:
    c = httpx.Client(base_url=base_url, timeout=10)
    r = c.post("/api/login", json={"username": "demo", "password": password})
    assert r.status_code == 200, r.text
    return c


@pytest.fixture
def client(bank):
    c = login(bank.url)
    yield c
    c.close()


@pytest.fixture
def anon(bank):
    with httpx.Client(base_url=bank.url, timeout=10) as c:
        yield c


# --------------------------------------------------------------------- fault specs
def test_parse_fault_accepts_documented_forms():
    assert parse_fault("slow_api=800") == ("slow_api", "800")
    assert parse_fault("slow_api=transfer:3000") == ("slow_api", "transfer:3000")
    assert parse_fault("slow_api=transfer:3000,funds:200") == ("slow_api", "transfer:3000,funds:200")
    assert parse_fault("api_500=cards") == ("api_500", "cards")
    assert parse_fault("dead_button=transfer-confirm") == ("dead_button", "transfer-confirm")
    assert parse_fault("blank_page=home") == ("blank_page", "home")
    assert parse_fault("nan_balance") == ("nan_balance", None)
    assert parse_fault("error_toast") == ("error_toast", None)
    assert parse_fault("error_toast=网络开小差了") == ("error_toast", "网络开小差了")
    assert parse_fault("layout_shift") == ("layout_shift", None)
    assert parse_fault("frozen_spinner=funds") == ("frozen_spinner", "funds")
    assert set(FAULTS) == {"slow_api", "api_500", "dead_button", "blank_page", "nan_balance", "no_chart",
                           "error_toast", "broken_image", "layout_shift", "frozen_spinner",
                           "static_500", "broken_font", "api_status", "third_party",
                           "frozen_script", "dialog_flood", "huge_dom", "ws_drop", "ws_delay", "slow_hero", "clipped_text",
                           "restyle", "as_of"}
    assert parse_fault("frozen_script=login,home") == ("frozen_script", "login,home")
    assert parse_fault("ws_drop") == ("ws_drop", None) and parse_fault("ws_delay=8000") == ("ws_delay", "8000")
    assert parse_fault("clipped_text=amount,overlap") == ("clipped_text", "amount,overlap")


@pytest.mark.parametrize("spec, words", [
    ("bogus", ["unknown fault 'bogus'", "slow_api", "frozen_spinner"]),
    ("slow_api=abc", ["slow_api", "'abc'", "milliseconds"]),
    ("slow_api", ["needs a value"]),
    ("slow_api=wire:100", ["unknown endpoint 'wire'", "transfer"]),
    ("api_500=nowhere", ["unknown endpoint 'nowhere'", "claim"]),
    ("blank_page=", ["needs a value"]),
    ("blank_page=attic", ["unknown page 'attic'", "confirm"]),
    ("dead_button=no-such-button", ["unknown button id", "transfer-confirm"]),
    ("nan_balance=1", ["takes no value"]),
    ("layout_shift=soon", ["not a whole number"]),
    ("ws_delay", ["needs a value"]),
    ("ws_delay=8000,9000", ["not a whole number"]),
    ("ws_drop=1", ["takes no value"]),
    ("clipped_text=wrap", ["unknown item 'wrap'", "amount", "overlap"]),
    ("clipped_text", ["needs a value"]),
    ("", ["empty fault"]),
])
def test_parse_fault_rejects_with_clear_message(spec, words):
    with pytest.raises(ValueError) as e:
        parse_fault(spec)
    for w in words:
        assert w in str(e.value)


def test_faultset_queries_and_bad_constructor_spec():
    fs = FaultSet(["slow_api=100,transfer:3000", "api_500=cards,claim", "error_toast"])
    assert fs.api_delay("transfer") == 3.0
    assert fs.api_delay("funds") == 0.1
    assert fs.api_fails("claim") and not fs.api_fails("funds")
    assert fs.toast() == "系统繁忙"
    fs.clear("slow_api")
    assert fs.api_delay("transfer") == 0.0
    fs.clear()
    assert fs.active() == {}
    with pytest.raises(ValueError, match="milliseconds"):
        DemoBank(faults=["slow_api=abc"])


# --------------------------------------------------------------------- sessions
def test_login_required_for_pages_and_api(anon):
    for path in ["/home", "/funds", "/funds/880001", "/funds/880001/sign", "/transfer",
                 "/transfer/confirm", "/transfer/success", "/cards/bind", "/benefits"]:
        r = anon.get(path)
        assert r.status_code == 302, path
        assert r.headers["location"].startswith("/login?next=" + path), path
    assert anon.get("/", follow_redirects=True).url.path == "/login"
    for method, path in [("GET", "/api/account"), ("GET", "/api/nav"), ("GET", "/api/funds"),
                         ("GET", "/api/cards"), ("POST", "/api/transfer"), ("GET", "/api/benefits")]:
        r = anon.request(method, path, json={})
        assert r.status_code == 401, path
        assert r.headers["content-type"].startswith("application/json")
        assert "error" in r.json()
    login_page = anon.get("/login")
    assert login_page.status_code == 200
    for el in ['id="login-form"', 'id="username"', 'id="password"', 'id="login-submit"', 'id="spinner"']:
        assert el in login_page.text
    assert anon.get("/static/app.js").status_code == 200
    assert anon.get("/static/pages/home.html").status_code == 404
    assert anon.get("/static/../server.py").status_code == 404


def test_login_credentials_and_cookie(anon):
    r = anon.post("/api/login", json={"username": "demo", "password": "wrong"})
    assert r.status_code == 401 and r.json()["error"] == "用户名或密码错误"
    r = anon.post("/api/login", json={"username": "demo", "password": DEFAULT_PASSWORD})
    assert r.status_code == 200
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and DEFAULT_PASSWORD not in cookie
    assert anon.get("/home").status_code == 200
    anon.post("/api/logout", json={})
    assert anon.get("/api/account").status_code == 401


def test_password_comes_from_environment(monkeypatch):
    monkeypatch.setenv("DEMO_PASSWORD", "s3cret-from-env")
    with DemoBank() as b:
        with httpx.Client(base_url=b.url) as c:
            assert c.post("/api/login", json={"username": "demo", "password": DEFAULT_PASSWORD}).status_code == 401
        login(b.url, "s3cret-from-env").close()


# --------------------------------------------------------------------- flows at the API
def test_home_data(client):
    acc = client.get("/api/account").json()
    assert acc["total_assets"] == "128460.52"
    assert acc["name"] and acc["account_no"].startswith("6217")
    assert client.get(acc["promo"]["image"]).status_code == 200
    assert len(client.get("/api/nav").json()["points"]) == 90


def test_luhn_card_binding(client):
    assert luhn_ok(VALID_CARD) and not luhn_ok(INVALID_CARD) and not luhn_ok("12ab")
    r = client.post("/api/cards", json={"card_no": INVALID_CARD, "holder": "张晓明"})
    assert r.status_code == 400 and r.json()["error"] == "卡号无效"
    r = client.post("/api/cards", json={"card_no": VALID_CARD, "holder": ""})
    assert r.status_code == 400
    r = client.post("/api/cards", json={"card_no": "6222 0212 3456 7890 128", "holder": "张晓明"})
    assert r.status_code == 200 and r.json()["card"]["last4"] == "0128"
    assert any(c["last4"] == "0128" for c in client.get("/api/cards").json()["cards"])


def test_transfer_buy_and_claim(client, bank):
    for bad in ["0", "-5", "abc", "1.234", "", "60000"]:
        assert client.post("/api/transfer", json={"amount": bad, "card": "cmb-5566"}).status_code == 400, bad
    r = client.post("/api/transfer", json={"amount": "100.00", "card": "cmb-5566"})
    tid = r.json()["transfer"]["id"]
    assert client.get(f"/api/transfer/{tid}").json()["transfer"]["amount"] == "100.00"
    assert client.get("/api/account").json()["total_assets"] == "128560.52"
    r = client.post("/api/funds/880002/buy", json={"amount": "1000.00", "agree": True})
    assert r.status_code == 200 and r.json()["order"]["fund"] == "巡航科技成长混合"
    assert client.post("/api/funds/880002/buy", json={"amount": "1000.00"}).status_code == 400
    assert client.get("/api/funds/999999").status_code == 404
    # Claiming is idempotent in a session and fresh in the next one.
    assert client.post("/api/benefits/b102/claim", json={}).status_code == 200
    assert client.post("/api/benefits/b102/claim", json={}).json()["already_claimed"] is True
    other = login(bank.url)
    with contextlib.closing(other):
        listed = {b["id"]: b["claimed"] for b in other.get("/api/benefits").json()["benefits"]}
        assert listed == {"b101": False, "b102": False, "b103": False}
        assert other.get("/api/account").json()["total_assets"] == "128460.52"


def test_id_photo_upload_checks_that_an_image_arrived(client):
    card = client.post("/api/cards", json={"card_no": VALID_CARD, "holder": "张晓明"}).json()["card"]["id"]
    photo = (ROOT / "journeys" / "files" / "id-photo.png").read_bytes()

    def send(body, card_id=card):
        return client.post(f"/api/cards/{card_id}/photo", json=body)

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    r = send({"name": "C:\\fakepath\\me.png", "data": b64(photo)})
    assert r.status_code == 200 and r.json()["photo"] == {"name": "me.png", "size": len(photo)}, r.text
    for body, status, code in [
        ({"data": b64(photo)}, 400, "no_photo"),
        ({"name": "x.png", "data": "%%%"}, 400, "bad_photo"),
        ({"name": "x.png", "data": ""}, 400, "empty_photo"),
        ({"name": "x.txt", "data": b64(b"hello")}, 400, "not_an_image"),
        ({"name": "big.png", "data": b64(photo[:8] + bytes(600 * 1024))}, 413, "photo_too_large"),
    ]:
        r = send(body)
        assert (r.status_code, r.json()["code"]) == (status, code), body
    assert send({"name": "me.png", "data": b64(photo)}, "card-nope").status_code == 404


def test_compare_prospectus_and_the_risk_document(client, anon):
    assert 'id="compare-zone"' in client.get("/funds/compare").text
    assert 'id="prospectus-title"' in client.get("/funds/880002/prospectus").text
    risk = client.get("/funds/880002/risk")
    assert risk.status_code == 200 and 'id="risk-agree"' in risk.text
    assert "巡航科技成长混合 风险揭示书" in risk.text and 'id="main-nav"' not in risk.text  # a document, not a page
    assert client.get("/funds/999999/risk").status_code == 404
    r = anon.get("/funds/880002/risk", follow_redirects=False)
    assert r.status_code == 302 and r.headers["location"].startswith("/login?next=")


# --------------------------------------------------------------------- admin endpoint
def test_admin_endpoint_set_clear_and_validation(anon, bank):
    assert anon.get("/__admin/faults").json()["faults"] == {}
    r = anon.post("/__admin/faults", json={"set": {"slow_api": "800", "nan_balance": None, "api_500": "claim"}})
    assert r.status_code == 200
    assert r.json()["faults"] == {"slow_api": "800", "nan_balance": None, "api_500": "claim"}
    r = anon.post("/__admin/faults", json={"clear": ["slow_api"]})
    assert set(r.json()["faults"]) == {"nan_balance", "api_500"}
    # All-or-nothing: one bad item changes nothing.
    r = anon.post("/__admin/faults", json={"clear": "all", "set": {"slow_api": "abc"}})
    assert r.status_code == 400 and "milliseconds" in r.json()["error"]
    assert set(bank.faults.active()) == {"nan_balance", "api_500"}
    for body in [{"set": {"bogus": "1"}}, {"set": ["slow_api"]}, {"clear": 5}, {"clear": ["bogus"]},
                 {"other": 1}, {}]:
        r = anon.post("/__admin/faults", json=body)
        assert r.status_code == 400, body
        assert r.json()["error"], body
    r = anon.post("/__admin/faults", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert anon.post("/__admin/faults", json={"clear": "all"}).json()["faults"] == {}
    anon.post("/__admin/faults", json={"set": {"error_toast": None}})
    assert bank.faults.active() == {"error_toast": "系统繁忙"}
    assert anon.delete("/__admin/faults").json()["faults"] == {}


# --------------------------------------------------------------------- faults over HTTP
def test_slow_api_delays_all_or_one_endpoint(client, bank):
    bank.faults.set("slow_api", "funds:400")
    t = time.monotonic()
    assert client.get("/api/funds").status_code == 200
    assert time.monotonic() - t >= 0.38
    t = time.monotonic()
    client.get("/api/benefits")
    assert time.monotonic() - t < 0.3
    bank.faults.set("slow_api", "250")
    t = time.monotonic()
    client.get("/api/benefits")
    assert time.monotonic() - t >= 0.23


def test_api_500_and_data_faults(client, bank):
    bank.faults.set("api_500", "transfer,funds")
    r = client.post("/api/transfer", json={"amount": "100", "card": "cmb-5566"})
    assert r.status_code == 500 and r.headers["content-type"].startswith("application/json")
    assert client.get("/api/funds").status_code == 500
    assert client.get("/api/benefits").status_code == 200
    bank.faults.set("nan_balance")
    bank.faults.set("broken_image")
    bank.faults.set("no_chart")
    acc = client.get("/api/account").json()
    assert acc["total_assets"] == "128,460.52"  # a display string: Number() of it is NaN
    assert client.get(acc["promo"]["image"]).status_code == 404
    assert "points" not in client.get("/api/nav").json()


def test_page_faults_blank_and_config(client, bank):
    healthy = client.get("/home").text
    assert 'id="content"' in healthy and 'id="spinner"' in healthy and 'aria-busy="true"' in healthy
    bank.faults.set("blank_page", "home")
    r = client.get("/home")
    assert r.status_code == 200
    body = re.search(r"<body[^>]*>(.*)</body>", r.text, re.S).group(1)
    assert 'id="content"' not in body and not re.sub(r"<script>.*?</script>|<[^>]+>|\s", "", body)
    assert 'id="content"' in client.get("/funds").text
    bank.faults.update({"dead_button": "transfer-confirm", "frozen_spinner": "funds",
                        "error_toast": "服务繁忙", "layout_shift": "300"})
    page = client.get("/funds").text
    for needle in ['"dead": ["transfer-confirm"]', '"frozen": true', '"toast": "服务繁忙"', '"shift": 300']:
        assert needle in page
    assert '"frozen": false' in client.get("/transfer").text


def test_module_cli_serves_and_stops_on_sigterm():
    bad = subprocess.run([sys.executable, "-m", "patrol.demo", "--fault", "slow_api=abc"],
                         capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert bad.returncode == 2 and "milliseconds" in bad.stderr
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("DEMO_PASSWORD", None)
    proc = subprocess.Popen([sys.executable, "-m", "patrol.demo", "--port", "0", "--fault", "nan_balance"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    try:
        banner = [proc.stdout.readline() for _ in range(5)]
        url = re.search(r"http://\S+", banner[0]).group(0)
        assert httpx.get(url + "/login").status_code == 200
        assert httpx.get(url + "/__admin/faults").json()["faults"] == {"nan_balance": None}
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert DEFAULT_PASSWORD in "".join(banner) and "stopped" in out
    assert err == ""


# --------------------------------------------------------------------- real Chromium
@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def _logged_in_page(browser, bank, **context_args):
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, **context_args)
    page = ctx.new_page()
    page.goto(bank.url + "/login")
    page.fill("#username", "demo")
    page.fill("#password", DEFAULT_PASSWORD)
    page.click("#login-submit")
    page.wait_for_url("**/home")
    page.locator("#total-assets").wait_for(state="visible")
    return ctx, page


def test_home_pixels_are_deterministic(browser, bank):
    ctx, page = _logged_in_page(browser, bank)
    try:
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        shots = []
        for _ in range(2):
            page.goto(bank.url + "/home")
            page.locator("#total-assets").wait_for(state="visible")
            assert page.locator("#spinner").count() == 0
            assert page.locator("#page-error").is_hidden()
            assert page.locator("#total-assets").inner_text() == "¥ 128,460.52"
            page.wait_for_load_state("networkidle")
            shots.append(page.screenshot(full_page=True))
        assert shots[0] == shots[1]
        assert page.evaluate("document.getElementById('promo-banner').naturalWidth") > 0
        assert errors == []
    finally:
        ctx.close()


def test_faults_seen_in_the_browser(browser, bank):
    ctx, page = _logged_in_page(browser, bank)
    f = bank.faults
    try:
        f.update({"nan_balance": None, "no_chart": None, "broken_image": None, "error_toast": "网络开小差了"})
        page.goto(bank.url + "/home")
        page.locator("#total-assets").wait_for(state="visible")
        assert page.locator("#total-assets").inner_text() == "¥ NaN"
        assert page.locator("#toast").inner_text() == "网络开小差了"
        assert page.locator("#toast").is_visible()
        assert page.evaluate("document.getElementById('promo-banner').naturalWidth") == 0
        painted = page.evaluate("""() => { const c = document.getElementById('nav-chart');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            for (let i = 3; i < d.length; i += 4) if (d[i]) return true; return false; }""")
        assert painted is False

        f.update({"api_500": "account"}, "all")
        page.goto(bank.url + "/home")
        page.locator("#page-error").wait_for(state="visible")
        assert "加载失败" in page.locator("#page-error").inner_text()
        assert page.locator("#content").is_hidden() and page.locator("#spinner").count() == 0

        f.update({"blank_page": "home"}, "all")
        page.goto(bank.url + "/home")
        assert page.evaluate("document.body.innerText.trim()") == ""

        f.update({"frozen_spinner": "funds"}, "all")
        page.goto(bank.url + "/funds")
        page.wait_for_load_state("networkidle")
        assert page.locator("#spinner").is_visible() and page.locator("#content").is_hidden()

        # Where the button stands without the late banner, then with it: measured on two
        # loads, so a loaded machine that only looks after the shift cannot blur it.
        f.update({"dead_button": "transfer-confirm"}, "all")
        page.goto(bank.url + "/transfer/confirm?amount=100.00&card=cmb-5566")
        button = page.locator("#transfer-confirm")
        button.wait_for(state="visible")
        y0 = button.bounding_box()["y"]
        f.update({"dead_button": "transfer-confirm", "layout_shift": "150"}, "all")
        page.goto(bank.url + "/transfer/confirm?amount=100.00&card=cmb-5566")
        page.locator("#late-banner").wait_for(state="visible")
        assert button.bounding_box()["y"] - y0 >= 280
        button.click()
        page.wait_for_timeout(300)
        assert "/transfer/confirm" in page.url

        f.clear()
        page.goto(bank.url + "/transfer/confirm?amount=100.00&card=cmb-5566")
        page.click("#transfer-confirm")
        page.wait_for_url("**/transfer/success?id=*")
        page.locator("#transfer-success").wait_for(state="visible")
        assert page.locator("#success-amount").inner_text() == "¥ 100.00"
    finally:
        ctx.close()


def test_large_transfers_ask_a_confirm_dialog_and_cancel_moves_nothing(browser, bank):
    ctx, page = _logged_in_page(browser, bank)
    seen: list[str] = []

    def dismiss(dialog):
        seen.append(dialog.message)
        dialog.dismiss()

    try:
        page.on("dialog", dismiss)
        page.goto(bank.url + "/transfer/confirm?amount=999.99&card=cmb-5566")
        page.click("#transfer-confirm")
        page.wait_for_url("**/transfer/success?id=*")
        assert seen == [], "below 1,000.00 no dialog"
        page.goto(bank.url + "/transfer/confirm?amount=1000.00&card=icbc-3307")
        page.click("#transfer-confirm")
        page.locator("#transfer-cancelled").wait_for(state="visible")
        assert seen == ["确认从工商银行（尾号 3307）转入 ¥ 1,000.00？"]
        assert "/transfer/confirm" in page.url
        assert ctx.request.get(bank.url + "/api/account").json()["total_assets"] == "129460.51"  # only the 999.99
    finally:
        ctx.close()


def test_the_fund_tools_menu_opens_on_hover_only(browser, bank):
    ctx, page = _logged_in_page(browser, bank)
    try:
        page.goto(bank.url + "/funds")
        page.locator("#fund-tools-button").wait_for(state="visible")
        assert page.locator("#tool-compare").is_hidden()
        page.hover("#fund-tools")
        assert page.locator("#tool-compare").is_visible()
        page.mouse.move(0, 0)
        assert page.locator("#tool-compare").is_hidden()
    finally:
        ctx.close()
