"""Alerts on a real Appium 3 server, answered as a journey's ``dialog:`` armed them:
native alerts on the fake driver (an XML app whose buttons open ``<alert>``s; which
answer Patrol sent is read back from the server's HTTP log, since the fake treats
dismiss like accept) and a page's ``confirm()`` in the demo bank through the chromium
driver. Plus a ``python:`` step handed the Appium session."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

import pytest
from appium_fixtures.server import APP_XML, app_config, appium_env, appium_server, fake_journey, server_requests  # noqa: F401

ALERT_APP = """\
<app width="390" height="844">
  <MockListView id="home" top="0" left="0" width="390" height="844">
    <MockButton id="delete" showAlert="confirm-delete" top="60" left="20" width="350" height="48">Delete payee</MockButton>
    <MockButton id="note" showAlert="ask-note" top="120" left="20" width="350" height="48">Add note</MockButton>
    <MockButton id="login" top="180" left="20" width="350" height="48">Login</MockButton>
  </MockListView>
  <alert id="confirm-delete" text="Delete payee Li Lei?"/>
  <alert id="ask-note" text="Add a note" hasPrompt="true"/>
</app>
"""


def alert_journey(tmp_path: Path, name: str, steps: str = "- tap: {id: login}\n") -> Path:
    app = tmp_path / "alert-app.xml"
    app.write_text(ALERT_APP, encoding="utf-8")
    path = fake_journey(tmp_path, name, steps)
    path.write_text(path.read_text(encoding="utf-8").replace(str(APP_XML), str(app)), encoding="utf-8")
    return path


def alert_calls(server, since: int) -> list[tuple[str, dict | None]]:
    """(what, body) of every alert command the server received: text, accept, dismiss."""
    return [(path.rpartition("/alert/")[2] + (f" {method}" if path.endswith("/text") else ""), body)
            for method, path, body in server_requests(server, since) if "/alert/" in path]


def test_alerts_are_answered_as_armed_and_block_actions_when_not(appium_env, tmp_path):
    from patrol.config import Config
    from patrol.drivers.app.appium import AppiumEngine
    from patrol.drivers.base import DialogAnswer
    from patrol.errors import ActionFailed
    from patrol.journey import load_journey
    from patrol.journey.model import Locator
    from patrol.runner import RunOptions

    journey = load_journey(alert_journey(tmp_path, "alerts"))
    delete, note, login = Locator("id", "delete"), Locator("id", "note"), Locator("id", "login")

    async def scenario() -> dict[str, list]:
        driver = await AppiumEngine.from_config(Config(), RunOptions()).new_driver(journey)
        s, seen = driver.session, {}
        try:
            # Unarmed: the alert stays; the next tap says what blocks it, nothing is answered.
            mark = len(appium_env.log_text())
            await driver.click(delete, timeout_ms=2000)
            with pytest.raises(ActionFailed) as e:
                await driver.click(login, timeout_ms=600)
            assert "an alert is open on the screen" in str(e.value) and "dialog: accept" in str(e.value)
            seen["unarmed"] = alert_calls(appium_env, mark)
            assert s.switch_to.alert.text == "Delete payee Li Lei?"
            # Armed while it is open: answered at once, and the tap goes through.
            mark = len(appium_env.log_text())
            await driver.answer_dialogs(DialogAnswer(accept=True, text="Delete payee"))
            await driver.click(login, timeout_ms=2000)
            assert s.find_element("id", "login").get_attribute("clicks") == "1"
            seen["open"] = alert_calls(appium_env, mark)
            # Armed before: the alert the tap opens is answered right after it.
            for answer, key in ((DialogAnswer(accept=False), "dismiss"), (DialogAnswer(accept=True, text="Transfer"), "wrong"),
                                (DialogAnswer(accept=True, prompt="for rent"), "prompt")):
                mark = len(appium_env.log_text())
                await driver.answer_dialogs(answer)
                await driver.click(note if key == "prompt" else delete, timeout_ms=2000)
                seen[key] = alert_calls(appium_env, mark)
            events = driver.drain_events()
            # Back to unarmed: the next alert is left open again.
            await driver.answer_dialogs(None)
            await driver.click(delete, timeout_ms=2000)
            assert s.switch_to.alert.text == "Delete payee Li Lei?"
            return {"seen": [seen], "dialogs": [d.to_json() for d in events.dialogs]}
        finally:
            await driver.close()

    out = asyncio.run(scenario())
    seen, dialogs = out["seen"][0], out["dialogs"]
    answers = {key: [(c, body) for c, body in calls if c != "text GET"] for key, calls in seen.items()}
    assert seen["unarmed"] == [], "unarmed, Patrol does not touch an alert"
    assert [c for c, _ in answers["open"]] == ["accept"]
    assert [c for c, _ in answers["dismiss"]] == ["dismiss"]
    # Words that are not the expected ones: dismissed, never accepted.
    assert [c for c, _ in answers["wrong"]] == ["dismiss"]
    assert [c for c, _ in answers["prompt"]] == ["text POST", "accept"]
    assert answers["prompt"][0][1]["text"] == "for rent"
    assert [(d["message"], d["answer"], d["matched"], d["type"]) for d in dialogs] == [
        ("Delete payee Li Lei?", "accepted", True, "alert"),
        ("Delete payee Li Lei?", "dismissed", True, "alert"),
        ("Delete payee Li Lei?", "dismissed", False, "alert"),
        ("Add a note", "accepted", True, "prompt"),
    ]
    assert dialogs[2]["expected"] == "Transfer" and all(d["armed"] for d in dialogs)


def test_a_dialog_step_in_an_app_journey_answers_the_alert_and_reports_it(app_config, patrol, tmp_path):
    path = alert_journey(tmp_path, "alert-journey", """\
        - dialog: {accept: true, text: Delete payee}
        - name: delete payee
          tap: {id: delete}
        - name: sign in
          tap: {id: login}
        - dialog: {accept: true, text: Transfer}
        - name: delete again
          tap: {id: delete}
        """)
    p = patrol("--config", str(app_config), "run", str(path))
    steps = {s["name"]: s for s in p.journey("alert-journey")["steps"]}
    assert steps["delete payee"]["status"] == "passed", steps["delete payee"]
    [shown] = steps["delete payee"]["artifacts"]["dialogs"]
    assert (shown["message"], shown["answer"], shown["matched"]) == ("Delete payee Li Lei?", "accepted", True)
    assert steps["sign in"]["status"] == "passed", "the alert no longer blocked the app"
    assert p.findings("alert-journey") == [("delete again", "render", "wrong_value")]
    assert "'Delete payee Li Lei?', not 'Transfer'" in steps["delete again"]["findings"][0]["message"]


def test_a_pages_confirm_is_answered_through_appium_in_a_browser_session(app_config, patrol, bank, tmp_path):
    text = (Path(__file__).resolve().parents[1] / "journeys" / "app" / "transfer.yaml").read_text(encoding="utf-8")
    head, _, _ = text.partition("  - name: open transfer page")
    path = tmp_path / "confirm.yaml"
    path.write_text(head.replace("name: transfer-app", "name: confirm-app") + textwrap.indent(textwrap.dedent("""\
        - name: large transfer
          goto: /transfer/confirm?amount=1000&card=cmb-5566
          expect: {visible: {css: "#transfer-confirm"}}
        - dialog: dismiss
        - name: cancel it
          tap: {css: "#transfer-confirm"}
          expect: {visible: {css: "#transfer-cancelled"}}
        - dialog: {accept: true, text: 确认从}
        - name: confirm it
          tap: {css: "#transfer-confirm"}
          expect: {url: "/transfer/success*", visible: {css: "#transfer-success"}}
        """), "  "), encoding="utf-8")
    p = patrol("--config", str(app_config), "run", str(path), "--base-url", bank.url)
    steps = {s["name"]: s for s in p.journey("confirm-app")["steps"]}
    assert steps["cancel it"]["status"] == "passed", steps["cancel it"]["findings"]
    assert steps["confirm it"]["status"] == "passed", steps["confirm it"]["findings"]
    [cancelled] = steps["cancel it"]["artifacts"]["dialogs"]
    [confirmed] = steps["confirm it"]["artifacts"]["dialogs"]
    assert cancelled["answer"] == "dismissed" and cancelled["message"].startswith("确认从")
    assert confirmed["answer"] == "accepted" and confirmed["matched"] is True


def test_a_python_step_in_an_app_journey_gets_the_appium_session(app_config, patrol, tmp_path):
    (tmp_path / "app_helpers.py").write_text(textwrap.dedent("""\
        def tap_login(ctx):
            assert ctx.page is None and ctx.driver.platform == "app"
            ctx.session.find_element("id", "login").click()
            return {"clicks": ctx.session.find_element("id", "login").get_attribute("clicks")}

        def expect_clicks(ctx):
            assert ctx.vars["clicks"] == ctx.args["clicks"], f"clicks is {ctx.vars['clicks']}"
        """), encoding="utf-8")
    path = alert_journey(tmp_path, "python-app", """\
        - name: tap through the session
          python: app_helpers:tap_login
        - name: tap again
          tap: {id: login}
        - name: one tap stored
          python: {call: app_helpers:expect_clicks, args: {clicks: "1"}}
        - name: two taps now
          python: app_helpers:tap_login
        - name: not three
          python: {call: app_helpers:expect_clicks, args: {clicks: "2"}}
        """)
    p = patrol("--config", str(app_config), "run", str(path))
    assert p.findings("python-app") == [("not three", "breakpoint", "action_failed")], p.out + p.err
    [finding] = next(s for s in p.journey("python-app")["steps"] if s["name"] == "not three")["findings"]
    assert finding["message"].endswith("app_helpers:expect_clicks raised AssertionError: clicks is 3")
