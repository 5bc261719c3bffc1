"""`patrol record`: the pure parts (locator choice, events into steps, the YAML), bad
input, and the real thing: the recorder as a person starts it, a headed Chromium on a
virtual display, driven over its DevTools port like a person would use the window,
stopped with Ctrl+C; then the journey it wrote validates and passes against the bank."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, SECRET

from patrol.core.net import free_port
from patrol.recorder.locators import Candidate, choose_locator, stable_id
from patrol.recorder.steps import Recording, secret_name, url_pattern
from patrol.recorder.writer import quote, render

BASE = "http://127.0.0.1:8800"


def c(kind: str, selector: str, unique: bool = True, value: str = "") -> Candidate:
    return Candidate(kind, selector, unique, value)


def target(*candidates: Candidate, label: str = "", field: str = "") -> dict[str, object]:
    return {"candidates": [vars(x) for x in candidates], "label": label, "field": field}


# -- locator choice ------------------------------------------------------------------

def test_a_test_id_beats_everything_then_id_then_role_then_attr_then_text_then_css() -> None:
    everything = [c("css", "form > button"), c("text", 'text="Sign in"'), c("attr", 'button[name="go"]'),
                  c("role", 'role=button[name="Sign in"]'), c("id", "#login-submit", value="login-submit"),
                  c("testid", '[data-testid="login"]')]
    assert choose_locator(everything) == '[data-testid="login"]'
    assert choose_locator(everything[:5]) == "#login-submit"
    assert choose_locator(everything[:4]) == 'role=button[name="Sign in"]'
    assert choose_locator(everything[:3]) == 'button[name="go"]'
    assert choose_locator(everything[:2]) == 'text="Sign in"'
    assert choose_locator(everything[:1]) == "form > button"


def test_only_unique_candidates_and_stable_ids_count() -> None:
    assert choose_locator([c("id", "#dup", unique=False, value="dup"), c("role", 'role=button[name="Go"]', unique=False),
                           c("css", "#f > button:nth-of-type(2)")]) == "#f > button:nth-of-type(2)"
    assert choose_locator([c("id", "#ember123", value="ember123"), c("text", 'text="Go"')]) == 'text="Go"'
    assert choose_locator([]) is None
    assert stable_id("login-submit") and stable_id("amount")
    assert not any(stable_id(v) for v in (":r1:", "ember4521", "1abc", "mui-12", "order-20240101", ""))


def test_malformed_candidates_from_the_page_are_dropped() -> None:
    assert Candidate.parse({"kind": "nonsense", "selector": "#a", "unique": True}) is None
    assert Candidate.parse({"kind": "id", "selector": "  ", "unique": True}) is None
    assert Candidate.parse("#a") is None
    assert Candidate.parse({"kind": "id", "selector": "#a", "unique": "yes"}) == Candidate("id", "#a", False, "")


# -- events into steps ---------------------------------------------------------------

def field(selector: str, name: str) -> dict[str, object]:
    return target(c("id", selector, value=selector[1:]), label=name, field=name)


def test_typing_into_one_field_is_one_fill_with_the_final_text() -> None:
    r = Recording(BASE)
    r.opened(BASE + "/login")
    for i, text in enumerate(["d", "de", "dem", "demo"]):
        r.event({"type": "fill", "target": field("#username", "username"), "value": text}, at=i)
    r.event({"type": "fill", "target": field("#amount", "amount"), "value": "1"}, at=5)
    r.event({"type": "fill", "target": field("#username", "username"), "value": "demo2"}, at=6)
    assert [(s.action, s.params) for s in r.steps] == [
        ("goto", "/login"),
        ("fill", {"selector": "#username", "text": "demo"}),
        ("fill", {"selector": "#amount", "text": "1"}),
        ("fill", {"selector": "#username", "text": "demo2"}),  # back to a field: a new fill
    ]
    assert len({s.name for s in r.steps}) == 4, "step names stay unique"


def test_a_password_is_a_secret_placeholder_named_by_option_or_field() -> None:
    r = Recording(BASE, secret="DEMO_PASSWORD")
    r.event({"type": "fill", "target": field("#password", "password"), "secret": True, "value": "leak"}, at=0)
    r.event({"type": "fill", "target": field("#new-password", "new-password"), "secret": True}, at=1)
    r.event({"type": "fill", "target": field("#password", "password"), "secret": True}, at=2)
    texts = [s.params["text"] for s in r.steps if isinstance(s.params, dict)]
    assert texts == ["${secret:DEMO_PASSWORD}", "${secret:NEW_PASSWORD}", "${secret:DEMO_PASSWORD}"]
    assert "leak" not in repr(r.steps)
    assert secret_name("#pin-code") == "PIN_CODE" and secret_name("") == "PASSWORD" and secret_name("1x") == "SECRET_1X"


def test_a_navigation_soon_after_an_action_is_its_expectation_otherwise_a_goto() -> None:
    r = Recording(BASE)
    r.opened(BASE + "/login")
    r.event({"type": "click", "target": target(c("id", "#login-submit", value="login-submit"), label="登录")}, at=10)
    r.navigated(BASE + "/home", at=11)
    r.navigated(BASE + "/transfer/confirm?amount=100", at=12)  # a redirect chain: where it ended
    r.navigated(BASE + "/funds", at=30)  # typed into the address bar later
    r.navigated("https://elsewhere.example/x?y=1", at=60)
    r.navigated("about:blank", at=61)
    assert [(s.action, s.params, s.expect_url) for s in r.steps] == [
        ("goto", "/login", None),
        ("click", "#login-submit", "/transfer/confirm*"),
        ("goto", "/funds", None),
        ("goto", "https://elsewhere.example/x?y=1", None),
    ]
    assert url_pattern(BASE + "/home", BASE) == "/home"


def test_selects_keys_and_junk() -> None:
    r = Recording(BASE)
    sel = target(c("id", "#source-card", value="source-card"), label="card")
    r.event({"type": "select", "target": sel, "value": "cmb-5566", "label": "招商银行"}, at=0)
    r.event({"type": "press", "key": "Enter", "target": field("#amount", "amount")}, at=1)
    r.event({"type": "press", "key": "Escape", "target": None}, at=2)
    for junk in ({"type": "press", "key": "a"}, {"type": "click"}, {"type": "click", "target": "x"}, "x", None,
                 {"type": "fill", "target": field("#a", "a")}, {"type": "submit"}):
        r.event(junk, at=3)
    assert [(s.action, s.params) for s in r.steps] == [
        ("select", {"selector": "#source-card", "value": "cmb-5566"}),
        ("press", {"key": "Enter", "selector": "#amount"}),
        ("press", "Escape"),
    ]


def test_the_yaml_reads_back_as_written_whatever_was_typed() -> None:
    r = Recording(BASE)
    r.opened(BASE + "/login")
    nasty = 'a: "b" #c\n{x}\t\\ \u2028\x85\x9f end'
    r.event({"type": "fill", "target": field("#note", "note"), "value": nasty}, at=0)
    data = yaml.safe_load(render("rec", BASE + "/login", BASE, r.steps, datetime(2026, 1, 2, 3, 4)))
    assert data["name"] == "rec" and data["base_url"] == BASE
    assert data["steps"][1] == {"name": "fill note", "fill": {"selector": "#note", "text": nasty}}
    assert yaml.safe_load(quote("登录 ✓")) == "登录 ✓"


# -- bad input -----------------------------------------------------------------------

def patrol_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "patrol", *args], capture_output=True, text=True, timeout=120,
                          env=env, cwd=cwd or ROOT)


@pytest.mark.parametrize("args, message", [
    (["ftp://example.com/"], "is not an http(s) URL"),
    (["example.com/login"], "is not an http(s) URL"),
    (["http://127.0.0.1:1/", "--output", "/no/such/folder/rec.yaml"], "no folder"),
    (["http://127.0.0.1:1/", "--output", "rec.txt"], "ends in .yaml"),
    (["http://127.0.0.1:1/", "--name", "Bad Name"], "--name"),
    (["http://127.0.0.1:1/", "--secret", "not-a-name"], "--secret"),
])
def test_bad_input_is_exit_2_with_a_message(args: list[str], message: str, tmp_path: Path) -> None:
    done = patrol_cli("record", *args, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr


def test_an_existing_journey_is_not_overwritten_without_force(tmp_path: Path) -> None:
    (tmp_path / "rec.yaml").write_text("keep", encoding="utf-8")
    done = patrol_cli("record", "http://127.0.0.1:1/", "--output", str(tmp_path / "rec.yaml"))
    assert done.returncode == 2 and "already exists" in done.stderr
    assert (tmp_path / "rec.yaml").read_text(encoding="utf-8") == "keep"


def test_no_display_and_no_xvfb_is_exit_2(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["PATH"] = str(tmp_path)  # no Xvfb on it
    done = patrol_cli("record", "http://127.0.0.1:1/", "--output", str(tmp_path / "rec.yaml"), env=env)
    assert done.returncode == 2 and "no display" in done.stderr and "Traceback" not in done.stderr


def test_a_browser_that_cannot_start_is_exit_3(tmp_path: Path) -> None:
    env = dict(os.environ, PATROL_CHROMIUM="/bin/false")
    done = patrol_cli("record", "http://127.0.0.1:1/", "--output", str(tmp_path / "rec.yaml"), env=env)
    assert done.returncode == 3, done.stderr
    assert "could not start Chromium" in done.stderr and not (tmp_path / "rec.yaml").exists()


def test_a_url_nobody_answers_is_exit_2_and_no_file(tmp_path: Path) -> None:
    done = patrol_cli("record", f"http://127.0.0.1:{free_port()}/login", "--output", str(tmp_path / "rec.yaml"))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "could not open" in done.stderr and not (tmp_path / "rec.yaml").exists()


# -- the real thing ------------------------------------------------------------------



class Recorder:
    """`patrol record` in a session of its own, as a terminal runs it: Ctrl+C reaches
    its whole process group."""

    def __init__(self, url: str, output: Path, *extra: str):
        self.port = free_port()
        env = dict(os.environ, PYTHONUNBUFFERED="1", COLUMNS="200")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "patrol", "record", url, "--output", str(output), "--cdp-port", str(self.port), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT, start_new_session=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def out(self) -> str:
        return "".join(self.lines)

    def wait_for_output(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.out:
            assert self.proc.poll() is None, f"recorder exited {self.proc.returncode}:\n{self.out}"
            assert time.monotonic() < deadline, f"no {text!r} in:\n{self.out}"
            time.sleep(0.1)

    def wait_for_devtools(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/version", timeout=2).read()
                return
            except OSError:
                assert self.proc.poll() is None, f"recorder exited {self.proc.returncode}:\n{self.out}"
                assert time.monotonic() < deadline, f"no DevTools port:\n{self.out}"
                time.sleep(0.2)

    def wait(self, timeout: float = 60) -> int:
        """The exit code, once every line it printed has been read (the reader thread
        may still be behind the process's exit)."""
        code = self.proc.wait(timeout=timeout)
        self.reader.join(timeout=10)
        return code

    def interrupt(self, timeout: float = 60) -> int:
        os.killpg(self.proc.pid, signal.SIGINT)
        return self.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def use_the_bank(port: int, bank_url: str) -> None:
    """What the person does in the window: sign in, open the transfer page, choose a
    card, enter an amount, go on."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.connect_over_cdp(f"http://127.0.0.1:{port}")
        page = next(p for p in browser.contexts[0].pages if p.url.startswith(bank_url))
        page.wait_for_selector("#login-form")
        page.fill("#username", "demo")
        page.fill("#password", SECRET)
        page.click("#login-submit")
        page.wait_for_url("**/home")
        page.click("#nav-transfer")
        page.wait_for_url("**/transfer")
        page.select_option("#source-card", "cmb-5566")
        page.fill("#amount", "100")
        page.click("#transfer-next")
        page.wait_for_url("**/transfer/confirm*")
        page.wait_for_selector("#confirm-amount")


def test_a_recorded_journey_validates_and_passes(bank, tmp_path: Path, patrol) -> None:
    output = tmp_path / "rec.yaml"
    recorder = Recorder(f"{bank.url}/login", output, "--secret", "DEMO_PASSWORD")
    try:
        recorder.wait_for_devtools()
        recorder.wait_for_output("open /login")
        use_the_bank(recorder.port, bank.url)
        recorder.wait_for_output("#transfer-next")
        time.sleep(1)  # the navigation the click made reaches the recorder after the click
        assert recorder.interrupt() == 0, recorder.out
    finally:
        recorder.kill()
    assert f"wrote {output}" in recorder.out.replace("\n", "") and "steps" in recorder.out, recorder.out
    text = output.read_text(encoding="utf-8")
    assert "${secret:DEMO_PASSWORD}" in text
    assert SECRET not in text and SECRET not in recorder.out
    for selector in ("#username", "#password", "#login-submit", "#nav-transfer", "#source-card", "#amount",
                     "#transfer-next"):
        assert f'"{selector}"' in text, text
    steps = yaml.safe_load(text)["steps"]
    assert steps[0]["goto"] == "/login"
    assert [next(k for k in s if k != "name" and k != "expect") for s in steps] == [
        "goto", "fill", "fill", "click", "click", "select", "fill", "click"], text
    assert steps[3]["expect"] == {"url": "/home"} and steps[-1]["expect"] == {"url": "/transfer/confirm*"}

    assert patrol("validate", str(output)).code == 0
    ran = patrol("run", str(output), "--base-url", bank.url)
    assert ran.code == 0, ran.out + ran.err


@pytest.mark.parametrize("stop", ["close the window", "SIGTERM"])
def test_closing_the_window_or_sigterm_also_writes_the_journey(stop: str, bank, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    output = tmp_path / "rec.yaml"
    recorder = Recorder(f"{bank.url}/login", output)
    try:
        recorder.wait_for_devtools()
        recorder.wait_for_output("open /login")
        with sync_playwright() as pw:
            page = next(p for p in pw.chromium.connect_over_cdp(f"http://127.0.0.1:{recorder.port}").contexts[0].pages
                        if p.url.startswith(bank.url))
            page.fill("#username", "demo")
            page.fill("#password", SECRET)
            recorder.wait_for_output("#password")
            if stop == "close the window":
                page.close()
        if stop == "SIGTERM":
            recorder.proc.send_signal(signal.SIGTERM)
        assert recorder.wait(60) == 0, recorder.out
    finally:
        recorder.kill()
    assert "(3 steps)" in recorder.out, recorder.out
    text = output.read_text(encoding="utf-8")
    assert "${secret:PASSWORD}" in text and SECRET not in text and SECRET not in recorder.out


# -- the page script on a real page --------------------------------------------------

PAGE = """<!doctype html><meta charset=utf-8>
<form id="f" onsubmit="event.preventDefault()">
  <button data-testid="save">Save</button>
  <button type="button">Cancel</button>
  <button type="button">Delete</button><button type="button">Delete</button>
  <input name="q" placeholder="Search">
  <input id="amount">
  <label><input type="checkbox" id="agree-:r1:"> I agree</label>
  <div onclick="">Open menu</div>
  <a href="#x" data-code="880002">Fund</a> <a href="#y" data-code="880003">Fund</a>
  <input type="password" name="pin">
</form>"""


def test_the_page_script_reports_robust_locators_that_playwright_resolves() -> None:
    from playwright.sync_api import sync_playwright

    from patrol.drivers.chromium import ARGS, find_chromium
    from patrol.recorder.page_script import BINDING, RECORDER_JS

    r = Recording(BASE)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=find_chromium(), args=ARGS)
        page = browser.new_page()
        page.expose_binding(BINDING, lambda _source, event: r.event(event, at=time.monotonic()))
        page.add_init_script(RECORDER_JS)
        page.goto("data:text/html;charset=utf-8," + urllib.request.quote(PAGE))
        page.click("[data-testid=save]")
        page.click("text=Cancel")
        page.locator("text=Delete").nth(1).click()
        page.fill("[name=q]", "fu")
        page.fill("#amount", "12")
        page.press("#amount", "Enter")  # submits the form: its synthetic click on Save is not a step
        box = page.locator("label").bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + box["width"] - 3, box["y"] + box["height"] / 2)  # on the words: forwarded, one step
        page.click("label")  # Playwright clicks the checkbox itself
        page.click("text=Open menu")
        page.locator("a").first.click()
        page.fill("[name=pin]", "1234")
        page.wait_for_timeout(300)
        steps = [(s.action, s.params) for s in r.steps]
        assert steps == [
            ("click", '[data-testid="save"]'),
            ("click", 'role=button[name="Cancel"]'),
            ("click", "#f > button:nth-of-type(4)"),
            ("fill", {"selector": 'role=textbox[name="Search"]', "text": "fu"}),
            ("fill", {"selector": "#amount", "text": "12"}),
            ("press", {"key": "Enter", "selector": "#amount"}),
            ("click", 'text="I agree"'),
            ("click", 'role=checkbox[name="I agree"]'),
            ("click", 'text="Open menu"'),
            ("click", 'a[href="#x"]'),
            ("fill", {"selector": 'input[name="pin"]', "text": "${secret:PIN}"}),
        ], "\n".join(map(str, steps))
        for _action, params in steps:
            selector = params if isinstance(params, str) else params["selector"]
            assert page.locator(selector).count() == 1, selector
        browser.close()
