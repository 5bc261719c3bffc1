"""Web actions against the real demo bank in Chromium: hover, upload, drag, dialogs,
popups, keyboard chords, an explicit wait, and the driver's frames. Each journey is
written to a file and run through the real CLI; the report says what happened."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from conftest import SECRET

from patrol.cli import main
from patrol.journey.loader import load_journey
from patrol.journey.model import Locator

FLOWS = Path(__file__).resolve().parents[1] / "journeys" / "flows"
HEAD = """\
name: NAME
base_url: URL
budgets: {step: TIMEOUT, timeout: TIMEOUT}
detectors: {blank_screen: false, broken_image: false, forbidden_text: false}
steps:
  - include: FLOWS/open_login.yaml
    with: {password: "${secret:DEMO_PASSWORD}"}
  - name: sign in
    click: "#login-submit"
    expect: {url: /home, visible: "#total-assets"}
"""


def journey(folder: Path, name: str, url: str, steps: str, timeout: str = "5s") -> Path:
    path = folder / f"{name}.yaml"
    head = HEAD.replace("NAME", name).replace("URL", url).replace("TIMEOUT", timeout).replace("FLOWS", str(FLOWS))
    path.write_text(head + steps, encoding="utf-8")
    return path


def step(p, journey_name: str, step_name: str) -> dict:
    return next(s for s in p.journey(journey_name)["steps"] if s["name"] == step_name)


def validate_errors(capsys, path: Path) -> list[str]:
    code = main(["validate", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    return [line for line in err.splitlines() if line.strip()]


# ----------------------------------------------------------------------------- hover, drag
HOVER_AND_DRAG = """\
  - name: open funds
    click: "#nav-funds"
    expect: {url: /funds, visible: "#fund-tools-button"}
  - name: open fund tools
    hover: "#fund-tools"
    expect: {visible: "#tool-compare"}
  - name: open compare
    click: "#tool-compare"
    expect: {url: /funds/compare, visible: "#compare-fund-880002"}
  - name: drag a fund to compare
    drag: {from: "#compare-fund-880002", to: "#compare-zone"}
    expect:
      text_of: {selector: "#compare-count", equals: 已选 1 只}
      count: {selector: "#compare-list li", equals: 1}
  - name: drag another
    drag: {from: "#compare-fund-880004", to: "#compare-zone"}
    expect:
      text_of: {selector: "#compare-list", contains: 巡航货币A}
      count: {selector: "#compare-list li", equals: 2}
"""
NO_HOVER = """\
  - name: open funds
    click: "#nav-funds"
    expect: {visible: "#fund-tools-button"}
  - name: click the hidden menu item
    click: "#tool-compare"
"""


def test_hover_opens_the_menu_its_item_works_and_funds_drag_into_the_comparison(bank, patrol, tmp_path):
    good = journey(tmp_path, "hover_drag", bank.url, HOVER_AND_DRAG)
    bad = journey(tmp_path, "no_hover", bank.url, NO_HOVER, timeout="2s")
    p = patrol("run", str(good), str(bad))
    assert p.journey("hover_drag")["status"] == "passed", p.findings("hover_drag")
    # The menu only opens on hover: clicking its item without hovering breaks the flow.
    assert p.code == 1
    # (A short budget: on a loaded machine the steps before may also be stalls; only breakpoints are the point.)
    assert [f[:2] for f in p.findings("no_hover") if f[1] != "stall"] == [("click the hidden menu item", "breakpoint")]


# ----------------------------------------------------------------------------- upload
UPLOAD = """\
  - name: open bind card page
    click: "#nav-cards"
    expect: {visible: "#card-no"}
  - name: enter card number
    fill: {selector: "#card-no", text: "6222021234567890128"}
  - name: enter card holder
    fill: {selector: "#card-holder", text: 张晓明}
  - name: bind card
    click: "#bind-submit"
    expect: {visible: "#id-photo"}
  - name: choose ID photo
    upload: {selector: "#id-photo", files: photos/me.png}
  - name: upload ID photo
    click: "#id-photo-submit"
    expect: {text_of: {selector: "#id-photo-result", equals: "已上传：me.png（SIZE 字节）"}}
"""


def test_upload_sends_the_file_and_the_bank_shows_its_name_and_size(bank, patrol, tmp_path):
    photo = tmp_path / "photos" / "me.png"
    photo.parent.mkdir()
    photo.write_bytes((Path(__file__).resolve().parents[1] / "journeys" / "files" / "id-photo.png").read_bytes()
                      + b"\0" * 77)  # a size of its own: the bank must show exactly this file's
    path = journey(tmp_path, "upload", bank.url, UPLOAD.replace("SIZE", str(photo.stat().st_size)))
    p = patrol("run", str(path))
    assert p.code == 0, p.findings("upload")


def test_a_missing_upload_file_is_a_positioned_validate_error(tmp_path, capsys):
    (tmp_path / "here.png").write_bytes(b"x")
    f = tmp_path / "j.yaml"
    f.write_text("name: t\nbase_url: http://127.0.0.1:1\nsteps:\n"
                 "  - upload: {selector: '#f', files: [here.png, nope.png]}\n"
                 "  - upload: {selector: '#f', files: gone/x.png}\n", encoding="utf-8")
    errors = validate_errors(capsys, f)
    assert errors[0].startswith(f"{f}:4:48: steps.0.upload.files.1: no such file: nope.png (looked for {tmp_path}/nope.png)"), errors
    assert errors[1].startswith(f"{f}:5:37: steps.1.upload.files: no such file: gone/x.png"), errors
    assert len(errors) == 2, errors


def test_upload_paths_are_relative_to_the_file_that_names_them(tmp_path):
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "photo.png").write_bytes(b"x")
    (tmp_path / "flows" / "attach.yaml").write_text(
        "steps:\n  - upload: {selector: '#f', files: photo.png}\n", encoding="utf-8")
    (tmp_path / "j.yaml").write_text(
        "name: t\nbase_url: http://127.0.0.1:1\nsteps:\n  - include: flows/attach.yaml\n", encoding="utf-8")
    (step_,) = load_journey(tmp_path / "j.yaml").steps
    assert step_.params == (Locator("css", "#f"), (str(tmp_path / "flows" / "photo.png"),))


# ----------------------------------------------------------------------------- dialogs
TO_CONFIRM = """\
  - name: open transfer confirmation
    goto: /transfer/confirm?amount=2000.00&card=cmb-5566
    expect: {visible: "#confirm-amount"}
"""
BALANCE = """\
  - name: balance
    goto: /home
    expect: {text_of: {selector: "#total-assets", contains: "AMOUNT"}}
"""
DIALOGS = {
    "accepted": TO_CONFIRM + """\
  - name: arm
    dialog: {accept: true, text: "转入 ¥ 2,000.00"}
  - name: confirm transfer
    click: "#transfer-confirm"
    expect: {url: "/transfer/success*", visible: "#transfer-success"}
""" + BALANCE.replace("AMOUNT", "130,460.52"),
    "dismissed": TO_CONFIRM + """\
  - name: arm
    dialog: dismiss
  - name: confirm transfer
    click: "#transfer-confirm"
    expect: {visible: "#transfer-cancelled"}
""" + BALANCE.replace("AMOUNT", "128,460.52"),
    "wrong_text": TO_CONFIRM + """\
  - name: arm
    dialog: {accept: true, text: "转入 ¥ 9,999.00"}
  - name: confirm transfer
    click: "#transfer-confirm"
    expect: {visible: "#transfer-cancelled"}
""" + BALANCE.replace("AMOUNT", "128,460.52"),
    "unarmed": TO_CONFIRM + """\
  - name: confirm transfer
    click: "#transfer-confirm"
    expect: {visible: "#transfer-cancelled"}
""",
}
MESSAGE = "确认从招商银行（尾号 5566）转入 ¥ 2,000.00？"


def test_dialogs_are_answered_as_armed_and_a_wrong_text_is_never_confirmed(bank, patrol, tmp_path):
    paths = [journey(tmp_path, name, bank.url, steps) for name, steps in DIALOGS.items()]
    p = patrol("run", *map(str, paths))
    assert p.code == 1, p.out + p.err
    seen = {name: step(p, name, "confirm transfer")["artifacts"].get("dialogs") for name in DIALOGS}
    assert seen["accepted"] == [{"type": "confirm", "message": MESSAGE, "answer": "accepted", "armed": True,
                                 "expected": "转入 ¥ 2,000.00", "matched": True}]
    assert p.journey("accepted")["status"] == "passed", p.findings("accepted")
    # Dismissed: no transfer (the balance is what it was), and that is what was asked for.
    assert seen["dismissed"][0]["answer"] == "dismissed" and seen["dismissed"][0]["matched"]
    assert p.journey("dismissed")["status"] == "passed", p.findings("dismissed")
    # Unarmed: dismissed as a browser does with nobody to answer, but shown in the step's evidence.
    assert seen["unarmed"] == [{"type": "confirm", "message": MESSAGE, "answer": "dismissed", "armed": False,
                                "expected": None, "matched": True}]
    assert p.findings("unarmed") == []
    # The wrong words: dismissed (no money moved: the balance step passed) and a finding that quotes the dialog.
    assert seen["wrong_text"][0]["answer"] == "dismissed" and not seen["wrong_text"][0]["matched"]
    assert p.findings("wrong_text") == [("confirm transfer", "render", "wrong_value")]
    finding = step(p, "wrong_text", "confirm transfer")["findings"][0]
    assert MESSAGE in finding["message"] and "9,999.00" in finding["message"]
    assert finding["evidence"]["dialog"]["message"] == MESSAGE
    assert step(p, "wrong_text", "balance")["status"] == "passed"


# ----------------------------------------------------------------------------- popups
POPUP = """\
  - name: open sign page
    goto: /funds/880002/sign?amount=1000.00
    expect: {visible: "#prospectus-link"}
  - name: open prospectus
    click: "#prospectus-link"
  - name: read prospectus
    switch_to: popup
    expect:
      url: /funds/880002/prospectus
      text_of: {selector: "#prospectus-title", equals: 巡航科技成长混合 招募说明书}
  - name: back to sign page
    switch_to: main
    expect: {url: "/funds/880002/sign*", visible: "#sign-submit"}
  - name: agree
    click: "#agree"
  - name: agree to the risk disclosure
    frame: "#risk-frame"
    click: "#risk-agree"
  - name: sign and pay
    click: "#sign-submit"
    expect: {visible: "#buy-success"}
"""
NO_POPUP = """\
  - name: look for a popup
    switch_to: popup
"""


def test_switch_to_popup_reads_the_new_window_and_main_goes_back(bank, patrol, tmp_path):
    good = journey(tmp_path, "popup", bank.url, POPUP)
    none = journey(tmp_path, "no_popup", bank.url, NO_POPUP, timeout="1500ms")
    p = patrol("run", str(good), str(none))
    assert p.journey("popup")["status"] == "passed", p.findings("popup")
    # Screenshots and URLs follow the page the journey is on.
    assert step(p, "popup", "read prospectus")["url"].endswith("/funds/880002/prospectus")
    assert "/funds/880002/sign" in step(p, "popup", "back to sign page")["url"]
    assert [f for f in p.findings("no_popup") if f[1] != "stall"] == [("look for a popup", "breakpoint", "element_not_found")]
    message = step(p, "no_popup", "look for a popup")["findings"][0]["message"]
    assert "no new tab or window opened within 1.5s" in message


@pytest.mark.faults("blank_page=prospectus")
def test_a_script_error_in_a_popup_is_seen(faulty_bank, patrol, tmp_path):
    steps = POPUP.split("  - name: back to sign page")[0].replace(
        "    expect:\n      url: /funds/880002/prospectus\n"
        "      text_of: {selector: \"#prospectus-title\", equals: 巡航科技成长混合 招募说明书}\n", "")
    p = patrol("run", str(journey(tmp_path, "popup_error", faulty_bank.url, steps)))
    assert p.code == 1
    errors = [f for s in p.journey("popup_error")["steps"] for f in s["findings"] if f["reason"] == "page_error"]
    assert errors, p.findings("popup_error")
    assert "/funds/880002/prospectus" in errors[0]["evidence"]["errors"][0]["url"]


# ----------------------------------------------------------------------------- chords, wait
CHORDS = """\
  - name: back to the user name
    goto: /login
  - name: type a user
    fill: {selector: "#username", text: demo}
  - name: shift tab from the password
    press: {key: "Shift+Tab", selector: "#password"}
  - name: select all of it
    press: Control+A
  - name: type over it
    press: KeyZ
    expect: {value: {selector: "#username", equals: z}}
  - name: a short pause
    wait: 300ms
"""


def test_keyboard_chords_and_an_explicit_wait(bank, patrol, tmp_path):
    p = patrol("run", str(journey(tmp_path, "chords", bank.url, CHORDS)))
    assert p.code == 0, p.findings("chords")
    assert step(p, "chords", "a short pause")["duration_ms"] >= 300


def test_an_explicit_wait_is_a_positioned_warning_not_an_error(tmp_path, capsys):
    f = tmp_path / "j.yaml"
    f.write_text("name: t\nbase_url: http://127.0.0.1:1\nsteps:\n  - goto: /\n  - wait: 2s\n", encoding="utf-8")
    j = load_journey(f)
    assert j.steps[1].params == 2000
    assert j.warnings == [f"{f}:5:11: steps.1.wait: an explicit wait makes the journey slow and still flaky; "
                          "wait for something instead: wait_for / expect visible"]
    assert main(["validate", str(f)]) == 0
    assert f"warning {f}:5:11: steps.1.wait: an explicit wait makes the journey slow" in capsys.readouterr().out


@pytest.mark.parametrize("action, col, where, words", [
    ("dialog: maybe", 13, "steps.0.dialog", "'maybe' is not allowed; allowed values: accept, dismiss"),
    ("dialog: {accept: false, prompt: x}", 37, "steps.0.dialog.prompt", "only typed when it is accepted"),
    ("dialog: {accept: yes please}", 22, "steps.0.dialog.accept", "expected true or false"),
    ("switch_to: tab", 16, "steps.0.switch_to", "'tab' is not allowed; allowed values: popup, main"),
    ("drag: {from: '#a'}", 11, "steps.0.drag", "missing required key 'to'"),
    ("wait: 2", 11, "steps.0.wait", "expected a duration with a unit"),
    ("hover: ''", 12, "steps.0.hover", "selector must not be empty"),
])
def test_bad_values_of_the_new_actions_have_their_position(tmp_path, capsys, action, col, where, words):
    f = tmp_path / "j.yaml"
    f.write_text(f"name: t\nbase_url: http://127.0.0.1:1\nsteps:\n  - {action}\n", encoding="utf-8")
    errors = validate_errors(capsys, f)
    assert len(errors) == 1 and errors[0].startswith(f"{f}:4:{col}: {where}: "), errors
    assert words in errors[0], errors


@pytest.mark.parametrize("action", [
    "hover: {id: menu}", "upload: {selector: {id: f}, files: x.png}", "drag: {from: {id: a}, to: {id: b}}",
    "switch_to: popup",
])
def test_web_only_actions_are_a_positioned_error_in_an_app_journey(tmp_path, capsys, action):
    (tmp_path / "x.png").write_bytes(b"x")
    f = tmp_path / "j.yaml"
    f.write_text(f"name: t\ntarget: app\nsteps:\n  - tap: {{id: a}}\n  - {action}\n", encoding="utf-8")
    name = action.split(":")[0]
    errors = validate_errors(capsys, f)
    assert len(errors) == 1 and errors[0].startswith(f"{f}:5:5: steps.1.{name}: '{name}' needs "), errors
    assert errors[0].endswith(", which app journeys don't have (it works in web journeys)"), errors


# ----------------------------------------------------------------------------- frames
FRAMES = """\
  - name: open sign page
    goto: /funds/880002/sign?amount=1000.00
    expect: {visible: "#risk-frame"}
  - name: agree to the product terms
    click: "#agree"
  - name: sign without the risk box
    click: "#sign-submit"
    expect: {text_of: {selector: "#sign-error", equals: 请先阅读《风险揭示书》并勾选确认}}
  - name: read the risk disclosure
    frame: "#risk-frame"
    steps:
      - name: wait for the risk box
        wait_for: "#risk-agree"
        expect: {visible: "#risk-title"}
      - name: tick the risk box
        click: "#risk-agree"
  - name: sign and pay
    click: "#sign-submit"
    expect: {visible: "#buy-success"}
"""


def test_frame_steps_act_inside_the_risk_iframe_and_buying_needs_its_box(bank, patrol, tmp_path):
    p = patrol("run", str(journey(tmp_path, "frames", bank.url, FRAMES)))
    assert p.code == 0, p.findings("frames")
    names = [s["name"] for s in p.journey("frames")["steps"]]
    assert names[-3:] == ["wait for the risk box", "tick the risk box", "sign and pay"], names



def test_within_frame_resolves_every_locator_inside_the_risk_iframe(bank):
    """The sign page shows the risk disclosure in an iframe; buying needs its checkbox
    ticked. The driver reaches it only inside ``within_frame``."""
    from patrol.drivers.web.playwright import PlaywrightEngine
    from patrol.errors import ActionFailed
    from patrol.journey.loader import parse_text

    css = lambda s: Locator("css", s)  # noqa: E731

    async def go() -> None:
        engine = PlaywrightEngine()
        await engine.start()
        try:
            d = await engine.new_driver(parse_text(f"name: f\nbase_url: {bank.url}\nsteps:\n  - goto: /\n", "f.yaml"))
            await d.goto(bank.url + "/login", timeout_ms=5000)
            await d.fill(css("#username"), "demo", timeout_ms=5000)
            await d.fill(css("#password"), SECRET, timeout_ms=5000)
            await d.click(css("#login-submit"), timeout_ms=5000)
            await d.wait_for(css("#total-assets"), "visible", timeout_ms=5000)
            await d.goto(bank.url + "/funds/880002/sign?amount=1000.00", timeout_ms=5000)
            frame = css("#risk-frame")
            async with d.within_frame(frame):
                await d.wait_for(css("#risk-agree"), "visible", timeout_ms=5000)
                assert await d.texts_of(css("#risk-title")) == ["巡航科技成长混合 风险揭示书"]
                assert await d.attributes_of(css("#risk-agree"), "type") == ["checkbox"]
            # Outside the frame the page's own elements, and not the frame's.
            assert not await d.is_visible(css("#risk-agree")) and await d.is_visible(css("#agree"))
            await d.click(css("#agree"), timeout_ms=5000)
            await d.click(css("#sign-submit"), timeout_ms=5000)
            await d.wait_for(css("#sign-error"), "visible", timeout_ms=5000)
            assert await d.texts_of(css("#sign-error")) == ["请先阅读《风险揭示书》并勾选确认"]
            async with d.within_frame(frame):
                await d.click(css("#risk-agree"), timeout_ms=5000)
                with pytest.raises(ActionFailed):  # the frame's document has no sign button
                    await d.click(css("#sign-submit"), timeout_ms=500)
            await d.click(css("#sign-submit"), timeout_ms=5000)
            await d.wait_for(css("#buy-success"), "visible", timeout_ms=5000)
            await d.close()
        finally:
            await engine.close()

    t = time.monotonic()
    asyncio.run(go())
    assert time.monotonic() - t < 60


# ----------------------------------------------------------------------------- the fake driver
def test_the_fake_driver_answers_dialogs_opens_popups_and_nests_frames_like_the_real_one():
    from patrol.drivers.base import DialogAnswer
    from patrol.drivers.fake import FakeApp, FakeElement, FakeEngine, FakeScreen, Reaction
    from patrol.errors import ActionFailed
    from patrol.journey.loader import parse_text

    css = lambda s: Locator("css", s)  # noqa: E731
    app = FakeApp({"/pay": FakeScreen(elements={"#pay": FakeElement(), "#terms": FakeElement()},
                                      on={"click #pay": Reaction(dialog=("confirm", "Pay ¥ 20.00?")),
                                          "click #terms": Reaction(popup="/terms")})})

    async def go() -> None:
        engine = FakeEngine(app)
        await engine.start()
        d = await engine.new_driver(parse_text("name: f\nsteps:\n  - goto: http://x/\n", "f.yaml"))
        await d.goto("/pay", timeout_ms=100)
        await d.click(css("#pay"), timeout_ms=100)  # unarmed
        await d.answer_dialogs(DialogAnswer(accept=True, text="¥ 20.00"))
        await d.click(css("#pay"), timeout_ms=100)
        await d.answer_dialogs(DialogAnswer(accept=True, text="¥ 99.00"))
        await d.click(css("#pay"), timeout_ms=100)
        answers = [(x.answer, x.armed, x.matched) for x in d.drain_events().dialogs]
        assert answers == [("dismissed", False, True), ("accepted", True, True), ("dismissed", True, False)]
        with pytest.raises(ActionFailed):
            await d.switch_to("popup", timeout_ms=10)
        await d.click(css("#terms"), timeout_ms=100)
        await d.switch_to("popup", timeout_ms=100)
        assert await d.current_url() == "http://fake.test/terms"
        await d.switch_to("main", timeout_ms=100)
        assert await d.current_url() == "http://fake.test/pay"
        async with d.within_frame(css("#outer")), d.within_frame(css("#inner")):
            assert d.frames == ["#outer", "#inner"]
        assert d.frames == []
        # A driver without frames (the base behaviour, e.g. Appium) says so clearly; None is a no-op.
        from patrol.drivers.base import Driver

        async with Driver.within_frame(d, None):
            pass
        with pytest.raises(ActionFailed, match="not supported") as e:
            async with Driver.within_frame(d, css("#outer")):
                pass
        assert e.value.reason == "not_supported"

    asyncio.run(go())
    assert "frame #outer" in app.calls and app.calls.index("frame end #inner") < app.calls.index("frame end #outer")
