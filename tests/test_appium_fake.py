"""Native locators and actions on a real Appium 3 server with its fake driver: what
Patrol does is read back from the server (element state, its W3C actions log, its
HTTP log), never assumed."""

from __future__ import annotations

import asyncio

import pytest
from appium_fixtures.server import app_config, appium_env, appium_server, fake_journey, server_requests  # noqa: F401

FAKE_SCREEN = (400, 852)  # the fake driver's screenshot; its window is 390x844 points


def _journey(tmp_path, steps="- tap: {id: login}\n", extra=""):
    from patrol.journey import load_journey

    return load_journey(fake_journey(tmp_path, "fake-bank", steps, extra=extra))


def _engine(url):
    from patrol.config import Config
    from patrol.drivers.app.appium import AppiumEngine
    from patrol.runner import RunOptions

    return AppiumEngine.from_config(Config(), RunOptions())


def _actions(session) -> list[dict]:
    """The fake driver's log of every W3C action sequence it received."""
    return [seq for batch in session.get_log("actions") for seq in batch]


def test_native_locators_and_actions_reach_the_server(appium_env, tmp_path):
    from patrol.errors import ActionFailed
    from patrol.journey.model import Locator

    journey = _journey(tmp_path)
    mark = len(appium_env.log_text())

    async def scenario():
        engine = _engine(appium_env.url)
        driver = await engine.new_driver(journey)
        s = driver.session
        try:
            assert driver.platform == "app" and not driver.web
            # Taps by id, accessibility id and XPath: each element counted one tap.
            await driver.click(Locator("id", "login"), timeout_ms=2000)
            await driver.click(Locator("accessibility_id", "transfer"), timeout_ms=2000)
            await driver.click(Locator("xpath", "//MockButton[@id='confirm']"), timeout_ms=2000)
            for el_id in ("login", "transfer", "confirm"):
                assert s.find_element("id", el_id).get_attribute("clicks") == "1", el_id
            # Typing replaces the field's text.
            await driver.fill(Locator("id", "amount"), "100", timeout_ms=2000)
            await driver.fill(Locator("accessibility_id", "amount"), "250.50", timeout_ms=2000)
            assert s.find_element("id", "amount").text == "250.50"
            # A key into a field.
            await driver.press("Enter", Locator("id", "search"), timeout_ms=2000)
            assert s.find_element("id", "search").text == "\ue007"
            # Visibility and waiting.
            assert await driver.is_visible(Locator("id", "transfer"))
            assert not await driver.is_visible(Locator("id", "nowhere"))
            await driver.wait_for(Locator("id", "nowhere"), "hidden", timeout_ms=1000)
            await driver.wait_for(Locator("id", "nowhere"), "attached", timeout_ms=1000)

            # W3C pointer actions, in the window's points (screenshot pixels scaled back).
            before = len(_actions(s))
            await driver.tap_point(200, 426, timeout_ms=2000)  # screenshot pixels
            await driver.scroll(None, 0, 300, timeout_ms=2000)  # content moves up 300: finger moves up
            await driver.press("Enter", None, timeout_ms=2000)  # no field: W3C key actions
            tap, swipe, keys = _actions(s)[before:]
            assert tap["type"] == "pointer" and tap["parameters"] == {"pointerType": "touch"}
            moves = [a for a in tap["actions"] if a["type"] == "pointerMove"]
            assert (moves[0]["x"], moves[0]["y"]) == (round(200 * 390 / 400), round(426 * 844 / 852))
            assert [a["type"] for a in tap["actions"]] == ["pointerMove", "pointerDown", "pause", "pointerUp"]
            sm = [a for a in swipe["actions"] if a["type"] == "pointerMove"]
            assert sm[0]["y"] - sm[1]["y"] == 300 and sm[0]["x"] == sm[1]["x"] == 195 and sm[1]["duration"] > 0
            assert keys["type"] == "key" and [a["value"] for a in keys["actions"]] == ["\ue007", "\ue007"]

            # Strategies the fake driver does not know still reach the server as named.
            for loc in (Locator("uiautomator", 'new UiSelector().text("转账")'),
                        Locator("ios_predicate", "label == '转账'")):
                with pytest.raises(ActionFailed) as e:
                    await driver.click(loc, timeout_ms=500)
                assert e.value.reason == "bad_locator", e.value
            # CSS is for browser sessions.
            with pytest.raises(ActionFailed) as e:
                await driver.click(Locator("css", "#login"), timeout_ms=500)
            assert e.value.reason == "bad_locator" and "browser session" in str(e.value)
            # Commands this driver lacks are "not supported", not a crash.
            with pytest.raises(ActionFailed) as e:
                await driver.back(timeout_ms=1000)
            assert e.value.reason == "not_supported"

            # Boxes for redaction/masks come back in screenshot pixels.
            [box] = await driver.element_boxes([Locator("id", "account-no")])
            assert box == (round(20 * 400 / 390), round(420 * 852 / 844), round(200 * 400 / 390), round(30 * 852 / 844))
            env = await driver.environment()
            assert env["viewport"] == (390, 844) and env["scale"] == round(400 / 390, 3)
            assert "Fake" in env["browser"]
            png = await driver.screenshot()
            assert png[:8] == b"\x89PNG\r\n\x1a\n"
            assert (int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")) == FAKE_SCREEN
        finally:
            await driver.close()

    asyncio.run(scenario())
    sent = server_requests(appium_env, mark)
    finds = [body for method, path, body in sent if path.endswith(("/element", "/elements")) and isinstance(body, dict)]
    used = {(b["using"], b["value"]) for b in finds}
    assert ("id", "login") in used and ("accessibility id", "transfer") in used
    assert ("xpath", "//MockButton[@id='confirm']") in used
    assert ("-android uiautomator", 'new UiSelector().text("转账")') in used
    assert ("-ios predicate string", "label == '转账'") in used
    assert any(path.endswith("/value") and body and body.get("text") == "250.50" for _m, path, body in sent)
    assert any(path.endswith("/actions") for _m, path, _b in sent)


def test_fake_app_journey_through_patrol_run(appium_env, app_config, patrol, tmp_path):
    """A native journey file end to end: steps, redaction by id, visible expectations,
    and a wait on a screen that never changes is a frozen-screen stall."""
    from patrol.core.png import decode_png
    from patrol.runner.redaction import REDACT_COLOUR

    mark = len(appium_env.log_text())
    path = fake_journey(tmp_path, "fake-bank", """\
        - name: sign in
          tap: {accessibility_id: login}
          expect: {visible: {id: transfer}}
        - name: amount
          fill: {selector: {xpath: "//MockInputField[@id='amount']"}, text: "100"}
        - name: swipe up
          swipe: {dy: 200}
        - name: tap the middle
          tap: {point: [0.5, 0.5]}
        - name: wait for the receipt
          wait_for: {id: nowhere}
        - name: never reached
          tap: {id: confirm}
        """, extra="redact: [{id: account-no}]\n")
    p = patrol("--config", str(app_config), "run", str(path))
    assert p.code == 1, p.out + p.err
    j = p.journey("fake-bank")
    assert j["target"] == "app" and j["robot_error"] is None
    assert [s["status"] for s in j["steps"]] == ["passed"] * 4 + ["failed", "skipped"]
    assert p.findings("fake-bank") == [("wait for the receipt", "stall", "frozen_screen")]
    f = j["steps"][4]["findings"][0]
    assert "frozen" in f["message"] and f["evidence"]["screenshots"] >= 3
    # Every step has a PNG of the device's screen, with the account number painted over.
    first = j["steps"][0]
    assert first["url"] == "app://fake"
    img = decode_png((p.run_dir / first["screenshot"]).read_bytes())
    assert img.shape[:2] == (FAKE_SCREEN[1], FAKE_SCREEN[0])
    [(x, y, w, h)] = first["artifacts"]["redacted"]
    assert (x, y) == (round(20 * 400 / 390), round(420 * 852 / 844))
    assert (img[y:y + h, x:x + w] == REDACT_COLOUR).all()
    # Read back from the server: the strategies and the tap/swipe it received.
    sent = server_requests(appium_env, mark)
    bodies = [b for _m, _p, b in sent if isinstance(b, dict)]
    assert {"using": "accessibility id", "value": "login"} in bodies
    assert {"using": "xpath", "value": "//MockInputField[@id='amount']"} in bodies
    pointers = [b["actions"][0] for b in bodies if "actions" in b and b["actions"][0]["type"] == "pointer"]
    swipe, tap = pointers[-2], pointers[-1]
    assert [a["type"] for a in swipe["actions"]].count("pointerMove") == 2
    assert (tap["actions"][0]["x"], tap["actions"][0]["y"]) == (195, 422)


def test_visible_expectation_on_a_frozen_screen_is_one_stall(app_config, patrol, tmp_path):
    path = fake_journey(tmp_path, "frozen", """\
        - name: open
          tap: {id: transfer}
          expect: {visible: {accessibility_id: receipt}}
        """, timeout="4s")
    p = patrol("--config", str(app_config), "run", str(path))
    assert p.code == 1, p.out + p.err
    # The expectation that failed because the screen froze is folded into the stall.
    assert p.findings("frozen") == [("open", "stall", "frozen_screen")]
    f = p.journey("frozen")["steps"][0]["findings"][0]
    assert f["fatal"] is True and "receipt" in f["message"]
    assert any("did not become visible" in c for c in f["evidence"].get("consequences", []))



def test_element_assertions_and_stored_values_read_the_apps_ui_tree(app_config, patrol, tmp_path):
    """text_of, number_of, count, attribute, value and store: in a native journey, read from
    the Appium server's elements (a field's text, an element's attribute)."""
    path = fake_journey(tmp_path, "fake-elements", """\
        - name: sign in
          tap: {id: login}
          store: {taps: {attribute: {selector: {id: login}, name: clicks}}}
          expect:
            attribute: {selector: {id: login}, name: clicks, equals: "1"}
            count: {selector: {id: transfer}, equals: 1}
        - name: amount
          fill: {selector: {id: amount}, text: "1,250.50"}
          store: {amount: {value: {id: amount}}}
          expect:
            number_of: {selector: {id: amount}, equals: "1000 + 250.5"}
            value: {selector: {id: amount}, equals: "1,250.50"}
        - name: the stored value again
          fill: {selector: {id: search}, text: "taps=${vars.taps}"}
          expect:
            text_of: {selector: {id: search}, equals: taps=1}
        - name: a wrong amount
          tap: {id: confirm}
          budget: 5s
          expect:
            number_of: {selector: {id: amount}, equals: "${vars.amount} + 1"}
        """, timeout="2s")
    p = patrol("--config", str(app_config), "run", str(path))
    steps = {s["name"]: s for s in p.journey("fake-elements")["steps"]}
    assert steps["sign in"]["stored"] == {"taps": "1"}, steps["sign in"]["findings"]
    assert steps["amount"]["stored"] == {"amount": "1,250.50"} and steps["amount"]["status"] == "passed", steps["amount"]
    assert steps["the stored value again"]["status"] == "passed", steps["the stored value again"]["findings"]
    assert p.findings("fake-elements") == [("a wrong amount", "render", "wrong_value")]
    assert "expected equals 1,251.50, but the page shows 1,250.50" in steps["a wrong amount"]["findings"][0]["message"]
