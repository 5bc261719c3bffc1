"""Element assertions (the DOM, not OCR) against the real demo bank in Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest

from patrol.cli import main

HEAD = """\
name: elements
base_url: {url}
budgets: {{step: 5s, timeout: 5s}}
detectors: {{blank_screen: false, broken_image: false, forbidden_text: false}}
steps:
  - include: {flows}/open_login.yaml
    with: {{password: "${{secret:DEMO_PASSWORD}}"}}
  - name: sign in
    click: "#login-submit"
    expect:
      url: /home
      visible: "#total-assets"
      text_of: {{selector: "#total-assets", contains: "128,460.52"}}
      number_of: {{selector: "#total-assets", equals: "128460.52", approx: "128000 + 460"}}
      attribute: {{selector: "#promo-link", name: href, equals: /benefits}}
  - name: open funds
    click: "#nav-funds"
    expect:
      count: {{selector: "a.fund-link", min: 2, max: 50}}
  - name: open transfer
    goto: /transfer
    expect: {{visible: "#amount"}}
  - name: enter amount
    fill: {{selector: "#amount", text: "100"}}
    expect:
      value: {{selector: "#amount", equals: "100"}}
"""
FLOWS = Path(__file__).resolve().parents[1] / "journeys" / "flows"


def journey(tmp_path: Path, url: str, text: str = HEAD) -> Path:
    path = tmp_path / "elements.yaml"
    path.write_text(text.format(url=url, flows=FLOWS), encoding="utf-8")
    return path


def test_element_assertions_hold_on_a_healthy_bank(bank, patrol, tmp_path):
    p = patrol("run", str(journey(tmp_path, bank.url)))
    assert p.code == 0, p.out + p.err
    assert p.findings("elements") == []


@pytest.mark.faults("nan_balance")
def test_a_wrong_balance_is_a_wrong_value_finding_with_what_the_page_shows(faulty_bank, patrol, tmp_path):
    p = patrol("run", str(journey(tmp_path, faulty_bank.url)))
    assert p.code == 1
    found = p.findings("elements")
    assert ("sign in", "render", "wrong_value") in found
    step = next(s for s in p.journey("elements")["steps"] if s["name"] == "sign in")
    messages = [f["message"] for f in step["findings"] if f["reason"] == "wrong_value"]
    assert any("¥ NaN" in m and "128,460.52" in m for m in messages), messages
    # Not fatal: the customer sees a wrong number, the journey goes on.
    assert [s["status"] for s in p.journey("elements")["steps"]][-1] == "passed"


@pytest.mark.parametrize("expect, line, col, words", [
    ("text_of: {selector: '#a', equal: x}", 6, 33, ["unknown key 'equal'", "did you mean 'equals'"]),
    ("count: {selector: '#a', min: -1}", 6, 36, ["must be at least 0, got -1"]),
    ("number_of: {selector: '#a', equals: '1 +'}", 6, 43, ["ends too early"]),
    ("attribute: {selector: '#a', equals: x}", 6, 18, ["missing required key 'name'"]),
    ("text_of: {selector: '#a', matches: '('}", 6, 42, ["bad regular expression"]),
])
def test_element_assertion_problems_have_their_position(tmp_path, capsys, expect, line, col, words):
    f = tmp_path / "j.yaml"
    f.write_text(f"name: t\nbase_url: http://127.0.0.1:1\nsteps:\n  - goto: /\n    expect:\n      {expect}\n", encoding="utf-8")
    assert main(["validate", str(f)]) == 2
    err = capsys.readouterr().err
    line_text = next((ln for ln in err.splitlines() if ln.startswith(f"{f}:{line}:{col}:")), None)
    assert line_text is not None, err
    for w in words:
        assert w in line_text, line_text


def test_element_assertions_also_validate_in_app_journeys(tmp_path, capsys):
    f = tmp_path / "j.yaml"
    f.write_text("name: t\ntarget: app\nsteps:\n  - tap: {id: a}\n    expect:\n      count: {selector: {id: a}, min: 1}\n",
                 encoding="utf-8")
    assert main(["validate", str(f)]) == 0, capsys.readouterr().err
    f.write_text("name: t\ntarget: app\nsteps:\n  - tap: {id: a}\n    expect:\n      count: {selector: \"#a\", min: 1}\n",
                 encoding="utf-8")
    assert main(["validate", str(f)]) == 2
    assert f"{f}:6:25: steps.0.expect.count.selector: app journeys need a named locator" in capsys.readouterr().err
