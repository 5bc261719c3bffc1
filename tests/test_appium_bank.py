"""The demo bank's mobile layout patrolled through a real Appium 3 server: its chromium
driver drives this machine's Chromium (/usr/bin/chromedriver, Chrome's mobile
emulation of a 390x844 phone at 2x) through the shipped login and transfer journeys
in their ``target: app`` form. The bank's faults give the same findings as on the
web path, and the screens are compared with the committed mobile baselines."""

from __future__ import annotations

import asyncio

import pytest
from appium_fixtures.server import APP_JOURNEYS, app_config, appium_env, appium_server, project_config  # noqa: F401
from conftest import SECRET

PHONE_PNG = (780, 1688)  # 390x844 CSS pixels at 2x


def run(patrol, config, bank, *names, concurrency=2):
    paths = [str(APP_JOURNEYS / f"{n}.yaml") for n in names]
    return patrol("--config", str(config), "run", *paths, "--base-url", bank.url, "--concurrency", str(concurrency))


def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_healthy_bank_app_journeys_pass_and_match_the_mobile_baselines(app_config, patrol, bank):
    p = run(patrol, app_config, bank, "login", "transfer")
    assert p.code == 0, [(j["name"], p.findings(j["name"])) for j in (p.report or {}).get("journeys", [])] or p.out + p.err
    assert sorted(j["name"] for j in p.report["journeys"]) == ["login-app", "transfer-app"]
    compared = []
    for j in p.report["journeys"]:
        assert (j["target"], j["device"], j["status"]) == ("app", "mobile", "passed"), j
        for s in j["steps"]:
            assert s["status"] == "passed" and not s["findings"], s
            assert png_size(p.run_dir / s["screenshot"]) == PHONE_PNG
            visual = s["artifacts"].get("visual")
            if visual:
                assert visual["status"] == "match", visual
                assert visual["environment"]["viewport"] == [390, 844] and visual["environment"]["scale"] == 2.0
                assert visual["file"].endswith(".mobile.png")
                compared.append((j["name"], visual["baseline"]))
    assert sorted(compared) == [("login-app", "home"), ("login-app", "promo"), ("transfer-app", "confirm"),
                                ("transfer-app", "success"), ("transfer-app", "transfer-form")]
    # The account holder's name and number were painted over before anything was stored.
    sign_in = next(s for s in p.journey("login-app")["steps"] if s["name"] == "sign in")
    assert len(sign_in["artifacts"]["redacted"]) == 2
    for f in p.run_dir.rglob("*"):
        if f.is_file():
            assert SECRET.encode() not in f.read_bytes(), f"the password leaked into {f}"


# The slow API is slow enough that a busy machine's own CPU waits (which excuse a step
# over budget, step/cpu_wait.py) cannot cover it: the app's webview names no requests.
# clipped_text's amount is left out: nan_balance's "¥ NaN" fits its box (the web test has it).
@pytest.mark.faults("nan_balance", "no_chart", "slow_api=transfer:6000", "clipped_text=button,overlap")
def test_bank_faults_give_the_same_findings_as_on_the_web(app_config, patrol, faulty_bank):
    p = run(patrol, app_config, faulty_bank, "login", "transfer")
    assert p.code == 1, p.out + p.err
    login = p.findings("login-app")
    transfer = p.findings("transfer-app")
    # nan_balance: "¥ NaN" is read on screen; no_chart: the chart canvas is blank;
    # both change the home screen against its mobile baseline.
    assert ("sign in", "render", "forbidden_text") in login, login
    assert ("sign in", "render", "blank_region") in login, login
    assert ("sign in", "render", "visual_diff") in login, login
    # clipped_text: the logout button's label sticks out of its border (once per journey, on
    # the first page that has it); the chart's caption is drawn over its title.
    for found in (login, transfer):
        assert ("sign in", "render", "clipped_text") in found and ("sign in", "render", "overlapping_text") in found, found
    assert [f for f in login + transfer if f[2] == "clipped_text"] == [("sign in", "render", "clipped_text")] * 2
    # slow_api: the confirm step is a stall, not a breakpoint; the flow went on.
    assert ("confirm transfer", "stall", "over_budget") in transfer, transfer
    confirm = next(s for s in p.journey("transfer-app")["steps"] if s["name"] == "confirm transfer")
    assert confirm["duration_ms"] > 6000
    assert p.journey("transfer-app")["steps"][-1]["status"] != "skipped"
    assert not [f for f in login + transfer if f[1] == "breakpoint"], "no fault here breaks the flow"
    nan = next(f for s in p.journey("login-app")["steps"] for f in s["findings"] if f["reason"] == "forbidden_text")
    assert nan["evidence"]["text"] == "NaN"
    diff = next(f for s in p.journey("login-app")["steps"] for f in s["findings"] if f["reason"] == "visual_diff")
    assert [i["label"] for i in diff["evidence"]["images"]] == ["baseline", "actual", "diff"]
    for image in diff["evidence"]["images"]:
        assert png_size(p.run_dir / image["path"]) == PHONE_PNG


@pytest.mark.faults("dead_button=transfer-confirm")
def test_dead_button_is_a_breakpoint_on_the_app(appium_env, patrol, faulty_bank, tmp_path):
    # Only the breakpoint matters here: the OCR detectors are switched off to keep it quick.
    config = project_config(tmp_path, detectors={"forbidden_text": False})
    p = run(patrol, config, faulty_bank, "transfer", concurrency=1)
    assert p.code == 1, p.out + p.err
    found = p.findings("transfer-app")
    assert found[0] == ("confirm transfer", "breakpoint", "expect_failed"), found
    j = p.journey("transfer-app")
    names = [s["name"] for s in j["steps"]]
    i = names.index("confirm transfer")
    assert all(s["status"] == "passed" for s in j["steps"][:i])
    assert all(s["status"] == "skipped" for s in j["steps"][i + 1:]), "a breakpoint ends the journey"
    assert "/transfer/success" in j["steps"][i]["findings"][0]["message"]


@pytest.mark.faults("api_500=account", "blank_page=transfer")
def test_browser_session_reports_failed_requests_and_page_errors(appium_env, faulty_bank):
    """What the page did behind the screen, read from Chrome's logs through Appium."""
    from patrol.config import Config
    from patrol.drivers.app.appium import AppiumEngine
    from patrol.journey import load_journey
    from patrol.journey.model import Locator
    from patrol.runner import RunOptions

    journey = load_journey(APP_JOURNEYS / "login.yaml").with_base_url(faulty_bank.url)

    async def scenario():
        driver = await AppiumEngine.from_config(Config(), RunOptions()).new_driver(journey)
        try:
            assert driver.web and driver.touch
            await driver.goto(f"{faulty_bank.url}/login", timeout_ms=10_000)
            await driver.fill(Locator("css", "#username"), "demo", timeout_ms=5000)
            await driver.fill(Locator("id", "password"), SECRET, timeout_ms=5000)
            [box] = await driver.element_boxes([Locator("css", "#login-submit")])
            assert box[2] > 600, "boxes are in screenshot pixels (2x)"
            await driver.tap_point(box[0] + box[2] / 2, box[1] + box[3] / 2, timeout_ms=5000)
            assert await driver.wait_until(lambda: _on(driver, "/home"), timeout_ms=10_000)
            assert await driver.wait_until(_seen(driver), timeout_ms=10_000), "the 500 was noticed while waiting"
            events = driver.drain_events()
            assert {"url": f"{faulty_bank.url}/api/account", "method": "GET", "status": 500, "error": "HTTP 500"} \
                in [r.to_json() for r in events.failed_requests]
            await driver.goto(f"{faulty_bank.url}/transfer", timeout_ms=10_000)
            await driver.screenshot()
            events = driver.drain_events()
            assert events.page_errors and "Uncaught TypeError" in events.page_errors[0].message
            env = await driver.environment()
            assert env["browser"].startswith("chrome ") and env["viewport"] == (390, 844) and env["scale"] == 2.0
        finally:
            await driver.close()

    asyncio.run(scenario())


async def _on(driver, path: str) -> bool:
    return (await driver.current_url()).split("?")[0].endswith(path)


def _seen(driver):
    async def check() -> bool:
        await driver.is_visible(Locator_css("#total-assets"))
        return driver.failure_seen()

    return check


def Locator_css(value):
    from patrol.journey.model import Locator

    return Locator("css", value)
