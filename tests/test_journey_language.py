"""The journey language against the real demo bank in Chromium: conditions, optional
steps, stored values with arithmetic, run data, repeats, set-up and teardown. Every
test asserts what the report says."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import JOURNEYS, SECRET

from patrol.cli import main

FLOWS = JOURNEYS / "flows"
HEAD = """\
name: {name}
base_url: {url}
budgets: {{step: 4s, timeout: 4s}}
detectors: {{blank_screen: false, broken_image: false, forbidden_text: false}}
"""
SIGN_IN = """\
  - include: {flows}/open_login.yaml
    with: {{password: "${{secret:DEMO_PASSWORD}}"}}
  - name: sign in
    click: "#login-submit"
    expect: {{url: /home, visible: "#total-assets"}}
"""


def write(tmp_path: Path, url: str, body: str, name: str = "lang") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text((HEAD + body).format(name=name, url=url, flows=FLOWS), encoding="utf-8")
    return path


def steps_by_name(p, name: str = "lang") -> dict[str, dict]:
    return {s["name"] or f"#{s['index']}": s for s in p.journey(name)["steps"]}


def test_a_condition_that_holds_runs_its_step_and_one_that_does_not_skips_it(bank, patrol, tmp_path):
    body = "steps:\n" + SIGN_IN + """\
  - name: open the promotion when offered
    if: {{visible: "#promo-link"}}
    click: "#promo-link"
    expect: {{url: /benefits}}
    store: {{where: {{url: "/(benefits)$"}}}}
  - name: close a welcome dialog this bank never shows
    if: {{visible: "#welcome-dialog"}}
    click: "#welcome-close"
  - name: only on the benefits page
    if: {{url: "/benefits$"}}
    goto: /home
  - name: by what the stored value says
    if: {{var: where, equals: benefits}}
    goto: /home
  - name: by words on screen (OCR)
    if: {{text: 总资产}}
    goto: /funds
  - name: a group the bank never offers
    if: {{not_visible: "a.fund-link"}}
    steps:
      - name: inside the group
        click: "#nowhere"
"""
    p = patrol("run", str(write(tmp_path, bank.url, body)))
    assert p.code == 0, p.out + p.err
    s = steps_by_name(p)
    assert s["open the promotion when offered"]["status"] == "passed"
    assert s["open the promotion when offered"]["notes"] == ['condition met: visible #promo-link']
    assert s["open the promotion when offered"]["url"].endswith("/benefits")
    skipped = s["close a welcome dialog this bank never shows"]
    assert skipped["status"] == "skipped" and skipped["runs"] == 0
    assert skipped["notes"] == ["condition not met: visible #welcome-dialog"]
    assert s["open the promotion when offered"]["stored"] == {"where": "benefits"}
    assert s["only on the benefits page"]["url"].endswith("/home")
    assert s["by what the stored value says"]["status"] == "passed"
    assert s["by what the stored value says"]["url"].endswith("/home")
    assert s["by words on screen (OCR)"]["status"] == "passed"
    assert s["inside the group"]["status"] == "skipped"
    assert s["inside the group"]["notes"] == ["condition not met: not visible a.fund-link"]


def test_a_stored_balance_is_checked_after_a_transfer_with_arithmetic(bank, patrol, tmp_path):
    body = "steps:\n" + SIGN_IN.replace('expect: {{url: /home, visible: "#total-assets"}}',
                                        'expect: {{url: /home, visible: "#total-assets"}}\n'
                                        '    store: {{balance: {{number_of: "#total-assets"}}}}') + """\
  - goto: /transfer
  - select: {{selector: "#source-card", value: cmb-5566}}
  - fill: {{selector: "#amount", text: "12.34"}}
  - click: "#transfer-next"
    expect: {{url: "/transfer/confirm*"}}
  - dialog: accept
  - click: "#transfer-confirm"
    expect: {{url: "/transfer/success*"}}
  - name: the balance went up by the amount
    goto: /home
    expect:
      number_of: {{selector: "#total-assets", equals: "${{vars.balance}} + 12.34"}}
  - name: a wrong sum is a finding that shows both numbers
    goto: /home
    budget: 10s
    expect:
      number_of: {{selector: "#total-assets", equals: "${{vars.balance}} - 12.34"}}
"""
    p = patrol("run", str(write(tmp_path, bank.url, body)))
    s = steps_by_name(p)
    assert s["sign in"]["stored"]["balance"] == "128460.52"
    assert s["the balance went up by the amount"]["status"] == "passed", s["the balance went up by the amount"]
    [wrong] = s["a wrong sum is a finding that shows both numbers"]["findings"]
    assert wrong["reason"] == "wrong_value"
    assert "128,448.18" in wrong["message"] and "128,472.86" in wrong["message"], wrong["message"]
    assert p.code == 1


def test_run_data_fills_unique_values_the_same_everywhere_in_a_journey(bank, patrol, tmp_path):
    body = """\
steps:
  - goto: /login
  - name: a unique user name
    fill: {{selector: "#username", text: "u-${{random:8}}-${{now:%Y}}"}}
    store: {{typed: {{value: "#username"}}}}
  - name: the same value later
    fill: {{selector: "#password", text: "${{run.id}}"}}
    expect:
      value: {{selector: "#username", equals: "u-${{random:8}}-${{now:%Y}}"}}
"""
    p = patrol("run", str(write(tmp_path, bank.url, body)))
    assert p.code == 0, p.out + p.err
    typed = steps_by_name(p)["a unique user name"]["stored"]["typed"]
    assert re.fullmatch(r"u-[a-z0-9]{8}-20\d\d", typed), typed
    again = patrol("run", str(write(tmp_path, bank.url, body)))
    assert steps_by_name(again)["a unique user name"]["stored"]["typed"] != typed  # a new one every run


def test_optional_steps_note_their_failure_and_the_journey_goes_on(bank, patrol, tmp_path):
    body = "steps:\n" + SIGN_IN + """\
  - name: dismiss a banner if there is one
    optional: true
    click: "#no-such-banner"
    budget: 8s
  - name: carry on
    click: "#nav-funds"
    expect: {{url: /funds}}
"""
    p = patrol("run", str(write(tmp_path, bank.url, body)))
    assert p.code == 0, p.out + p.err
    s = steps_by_name(p)
    optional = s["dismiss a banner if there is one"]
    assert optional["status"] == "skipped" and optional["findings"] == []
    assert optional["notes"] and optional["notes"][0].startswith("optional step failed (breakpoint")
    assert s["carry on"]["status"] == "passed"
    assert p.report["journeys"][0]["findings_count"] == 0


def test_repeat_runs_a_group_times_or_until_and_gives_up_after_max(bank, patrol, tmp_path):
    body = "steps:\n" + SIGN_IN + """\
  - repeat: {{times: 3}}
    steps:
      - name: to funds
        click: "#nav-funds"
      - name: and back
        goto: /home
  - name: open funds until the list shows
    repeat: {{until: {{visible: "a.fund-link"}}, max: 3}}
    steps:
      - name: funds page
        goto: /funds
  - name: never true
    repeat: {{until: {{url: "/nowhere"}}, max: 2}}
    steps:
      - name: round
        goto: /home
  - name: never reached
    goto: /funds
"""
    p = patrol("run", str(write(tmp_path, bank.url, body)))
    assert p.code == 1
    s = steps_by_name(p)
    assert s["to funds"]["runs"] == 3 and s["and back"]["runs"] == 3 and s["to funds"]["status"] == "passed"
    assert s["funds page"]["runs"] == 1
    assert s["round"]["runs"] == 2
    [stop] = s["round"]["findings"]
    assert (stop["kind"], stop["reason"]) == ("breakpoint", "expect_failed")
    assert "url matches '/nowhere' still did not hold after 2 rounds" in stop["message"]
    assert s["never reached"]["status"] == "skipped"


def test_setup_runs_first_and_teardown_runs_after_a_breakpoint_reported_apart(bank, patrol, tmp_path):
    body = "setup:\n" + SIGN_IN + """\
steps:
  - name: a dead button
    click: "#no-such-button"
  - name: never reached
    goto: /funds
teardown:
  - name: clean up
    goto: /home
    expect: {{visible: "#total-assets"}}
  - name: a clean-up that fails
    click: "#no-such-cleanup"
  - name: the rest of the clean-up still runs
    goto: /funds
"""
    p = patrol("run", str(write(tmp_path, bank.url, body)))
    assert p.code == 1
    j = p.journey("lang")
    assert [s["phase"] for s in j["steps"]][:5] == ["setup"] * 4 + ["steps"]
    assert [(f["kind"], f["reason"]) for s in j["steps"] for f in s["findings"]] == [("breakpoint", "action_timeout")]
    assert j["findings_count"] == 1  # the teardown's failure is not one of the journey's
    td = {s["name"]: s for s in j["teardown"]}
    assert td["clean up"]["status"] == "passed" and td["clean up"]["url"].endswith("/home")
    assert td["a clean-up that fails"]["status"] == "failed"
    assert td["a clean-up that fails"]["findings"][0]["reason"] == "action_timeout"
    assert td["the rest of the clean-up still runs"]["status"] == "skipped"
    html = (p.run_dir / "index.html").read_text(encoding="utf-8")
    assert "Teardown" in html and "a clean-up that fails" in html
    assert "teardown failed" in p.out


def test_stored_secret_values_are_masked_everywhere(bank, patrol, tmp_path):
    body = """\
steps:
  - goto: /login
  - fill: {{selector: "#username", text: "hidden-value-123"}}
    store: {{user: {{value: "#username", secret: true}}}}
  - fill: {{selector: "#password", text: "${{vars.user}}"}}
    store: {{pw: {{value: "#password"}}}}
"""
    p = patrol("run", str(write(tmp_path, bank.url, body)))
    assert p.code == 0, p.out + p.err
    s = p.journey("lang")["steps"]
    assert s[1]["stored"] == {"user": "******"} and s[2]["stored"] == {"pw": "******"}
    for f in p.run_dir.rglob("*"):
        if f.suffix in (".json", ".html", ".xml"):
            assert "hidden-value-123" not in f.read_text(encoding="utf-8"), f
    assert SECRET  # the bank's own password is masked the same way (see test_patrol_web)


def problems(capsys, path: Path) -> list[str]:
    code = main(["validate", str(path)])
    out = capsys.readouterr()
    assert code == 2, out.out + out.err
    return [line for line in (out.out + out.err).splitlines() if re.match(r"\S+\.yaml:\d+:\d+:", line)]


def test_validate_positions_an_unknown_variable_and_placeholder_and_app_frames(tmp_path, capsys):
    j = tmp_path / "j.yaml"
    j.write_text("""\
name: j
base_url: http://x
steps:
  - goto: /a
    store: {balance: {number_of: "#b"}}
  - fill: {selector: "#a", text: "${vars.balanse}"}
  - fill: {selector: "#a", text: "${run.number}"}
  - if: {var: later, equals: "1"}
    goto: /b
  - goto: /c
    store: {later: {url: "x"}}
""", encoding="utf-8")
    lines = problems(capsys, j)
    assert any(":6:" in x and "unknown variable 'balanse'" in x and "did you mean" in x.lower() for x in lines), lines
    assert any(":7:" in x and "unknown placeholder ${run.number}" in x for x in lines), lines
    assert any(":8:" in x and "unknown variable 'later'" in x for x in lines), lines
    app = tmp_path / "app.yaml"
    app.write_text("""\
name: app
target: app
steps:
  - frame: "#risk"
    steps:
      - click: {id: agree}
""", encoding="utf-8")
    [line] = problems(capsys, app)
    assert ":4:5:" in line and "'frame' needs frames, which app journeys don't have (it works in web journeys)" in line, line


def test_validate_explains_groups_and_repeats_with_positions(tmp_path, capsys):
    j = tmp_path / "j.yaml"
    j.write_text("""\
name: j
base_url: http://x
steps:
  - steps:
      - goto: /a
  - repeat: {until: {visible: "#x"}}
    steps:
      - goto: /a
  - repeat: {times: 2, max: 3}
    steps:
      - goto: /a
  - if: {visible: "#a", url: "/b"}
    goto: /b
""", encoding="utf-8")
    lines = problems(capsys, j)
    assert any(":4:5:" in x and "make a group" in x for x in lines), lines
    assert any(":6:" in x and "until needs max" in x for x in lines), lines
    assert any(":9:" in x and "max goes with until" in x for x in lines), lines
    assert any(":12:" in x and "a condition asks one thing" in x for x in lines), lines


def test_the_schema_knows_the_language(tmp_path):
    import jsonschema
    import yaml

    from patrol.journey.schema import build_schema

    journey = yaml.safe_load("""
name: all
base_url: http://x
setup:
  - goto: /login
steps:
  - click: "#a"
    if: {visible: "#a"}
    optional: true
    store: {n: {number_of: "#n"}, u: {url: "id=(\\\\d+)"}, alt: {attribute: {selector: img, name: alt}, secret: true}}
  - repeat: {until: {var: n, equals: "3"}, max: 4}
    frame: "#f"
    steps:
      - click: "#b"
teardown:
  - goto: /logout
""")
    jsonschema.validate(journey, build_schema())
    journey["steps"][1]["repeat"]["forever"] = True
    with __import__("pytest").raises(jsonschema.ValidationError):
        jsonschema.validate(journey, build_schema())


def test_teardown_runs_after_the_journey_time_limit_cut_it_off(bank, patrol, tmp_path):
    body = """\
steps:
  - goto: /login
  - name: hangs
    wait_for: {{selector: "#never", state: visible}}
teardown:
  - name: clean up
    goto: /home
"""
    path = write(tmp_path, bank.url, body)
    path.write_text(path.read_text(encoding="utf-8").replace("budgets: {step: 4s, timeout: 4s}",
                                                             "budgets: {step: 8s, timeout: 8s, journey: 2s}"),
                    encoding="utf-8")
    p = patrol("run", str(path))
    assert p.code == 1
    j = p.journey("lang")
    assert ("hangs", "stall", "journey_timeout") in p.findings("lang")
    [td] = j["teardown"]
    assert td["status"] == "passed" and td["runs"] == 1 and "/login" in td["url"]  # /home sends a stranger to /login
