"""`patrol validate`: every kind of bad input gives file:line:column: field: message
and exit code 2, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from patrol.checks.text import TextSpec
from patrol.cli import main
from patrol.journey.loader import parse_text
from patrol.journey.model import Expectation, Locator
from patrol.journey.placeholders import Scope, substitute
from patrol.journey.schema import SCHEMA_PATH, build_schema

ROOT = Path(__file__).resolve().parents[1]


def validate(tmp_path, text: str, capsys, env=None, monkeypatch=None):
    f = tmp_path / "j.yaml"
    f.write_text(text, encoding="utf-8")
    code = main(["validate", str(f)])
    out = capsys.readouterr()
    return code, out.err, str(f)


GOOD_HEAD = "name: t\nbase_url: http://127.0.0.1:1\nsteps:\n"


@pytest.mark.parametrize(
    "body, line, col, field, words",
    [
        # unknown action (with a suggestion)
        ("  - clik: '#a'\n", 4, 5, "steps.0.clik", ["unknown key 'clik'", "goto", "click", "did you mean 'click'"]),
        # bad duration
        ("  - goto: /\n    budget: 5x\n", 5, 13, "steps.0.budget", ["'5x' is not a duration", "ms, s, m, h, d"]),
        # wrong type
        ("  - goto: [1, 2]\n", 4, 11, "steps.0.goto", ["expected a string, got a list"]),
        # empty step
        ("  - {}\n", 4, 5, "steps.0", ["empty step", "goto"]),
        # two actions in one step
        ("  - goto: /\n    click: '#a'\n", 5, 5, "steps.0.click", ["exactly one action"]),
        # unknown expect key
        ("  - goto: /\n    expect: {visibel: '#a'}\n", 5, 14, "steps.0.expect.visibel", ["unknown key 'visibel'", "visible", "url"]),
        # wait_for state must be one of the allowed values
        ("  - wait_for: {selector: '#a', state: gone}\n", 4, 39, "steps.0.wait_for.state", ["'gone' is not allowed", "visible, hidden, attached, detached"]),
        # bare number as a budget is ambiguous
        ("  - goto: /\n    budget: 5\n", 5, 13, "steps.0.budget", ["expected a duration with a unit"]),
        # missing fill text
        ("  - fill: {selector: '#a'}\n", 4, 11, "steps.0.fill", ["missing required key 'text'"]),
        # unknown locator strategy
        ("  - click: {css_selector: '#a'}\n", 4, 13, "steps.0.click.css_selector", ["unknown locator strategy", "accessibility_id"]),
    ],
)
def test_step_problems(tmp_path, capsys, body, line, col, field, words):
    code, err, f = validate(tmp_path, GOOD_HEAD + body, capsys)
    assert code == 2
    assert "Traceback" not in err
    expected_prefix = f"{f}:{line}:{col}: {field}: "
    lines = [ln for ln in err.splitlines() if ln.startswith(expected_prefix)]
    assert lines, f"no line starting {expected_prefix!r} in:\n{err}"
    for w in words:
        assert w in lines[0], (w, lines[0])


@pytest.mark.parametrize(
    "text, line, col, field, words",
    [
        ("name: t\nsteps: []\n", 2, 8, "steps", ["at least one step"]),
        ("name: T X\nsteps:\n  - goto: http://x/\n", 1, 7, "name", ["not a valid name"]),
        ("steps:\n  - goto: http://x/\n", 1, 1, "(journey)", ["missing required key 'name'"]),
        ("name: t\nbase_url: ftp://x\nsteps:\n  - goto: /\n", 2, 11, "base_url", ["http:// or https://"]),
        ("name: t\ndevice: tablet\nsteps:\n  - goto: http://x/\n", 2, 9, "device", ["'tablet' is not allowed", "desktop, mobile"]),
        ("name: t\ntarget: desktop\nsteps:\n  - goto: http://x/\n", 2, 9, "target", ["allowed values: web, app"]),
        ("name: t\nbudgets: {step: 3s, timeout: 1s}\nsteps:\n  - goto: http://x/\n", 2, 30, "budgets.timeout", ["at least the step budget"]),
        ("name: t\nstepz: []\nsteps:\n  - goto: http://x/\n", 2, 1, "stepz", ["unknown key 'stepz'", "did you mean 'steps'"]),
        ("name: t\nsteps:\n  - goto: /login\n", 3, 11, "steps.0.goto", ["no base_url"]),
        ("name: t\nsteps:\n  - goto: http://x/\n  - goto: [\n", 5, 1, "(file)", ["YAML syntax error"]),
        ("- just\n- a list\n", 1, 1, "(journey)", ["a journey file is a mapping"]),
        ("name: t\nbase_url: ${PATROL_TEST_SURELY_UNSET}\nsteps:\n  - goto: /\n", 2, 11, "base_url", ["PATROL_TEST_SURELY_UNSET is not set"]),
    ],
)
def test_journey_problems(tmp_path, capsys, text, line, col, field, words):
    code, err, f = validate(tmp_path, text, capsys)
    assert code == 2
    assert "Traceback" not in err
    prefix = f"{f}:{line}:{col}: {field}: "
    lines = [ln for ln in err.splitlines() if ln.startswith(prefix)]
    assert lines, f"no line starting {prefix!r} in:\n{err}"
    for w in words:
        assert w in lines[0]


def test_every_problem_reported_at_once(tmp_path, capsys):
    code, err, f = validate(tmp_path, GOOD_HEAD + "  - clik: x\n  - goto: /\n    budget: 5x\n", capsys)
    assert code == 2
    assert len([ln for ln in err.splitlines() if ln.startswith(f)]) == 2


def test_expectations_keep_the_order_written_and_are_filled_at_run_time():
    """``expect:`` is a tuple of (check, parsed params) in the order written; a key written
    twice keeps YAML's last value in its first place; placeholders are filled by the same
    typed pass as the action's, and a step with none stays the same object."""
    journey = parse_text(GOOD_HEAD + "  - goto: /\n    store: {who: {text_of: '#n'}}\n"
                         "  - goto: /\n    expect:\n      url: /home\n      visible: '#a'\n"
                         "      text: 'hello ${vars.who}'\n      visible: '#b'\n", "order.yaml")
    first, second = journey.steps
    assert first.expect == () and first.expectation("expect_url") is None
    assert [e.check for e in second.expect] == ["expect_url", "expect_visible", "text"]
    assert second.expectation("expect_visible") == Expectation("expect_visible", Locator("css", "#b"))
    filled = substitute(second.expect, Scope(vars={"who": "Ann"}))
    assert filled == (*second.expect[:2], Expectation("text", TextSpec(("hello Ann",))))
    assert substitute(first.expect, Scope()) == ()


def test_missing_file_and_empty_folder(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nope.yaml")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["validate", str(tmp_path)]) == 2
    assert "no journey files" in capsys.readouterr().err


def test_shipped_journeys_validate_and_match_schema(capsys, monkeypatch):
    monkeypatch.setenv("DEMO_PASSWORD", "x-secret-x")
    assert main(["validate", str(ROOT / "journeys")]) == 0
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert schema == build_schema(), "journey.schema.json is stale: run `patrol schema > patrol/journey/journey.schema.json`"
    for f in sorted((ROOT / "journeys").glob("*.yaml")):
        jsonschema.validate(yaml.safe_load(f.read_text(encoding="utf-8")), schema)


def test_bad_cli_arguments_exit_2(tmp_path):
    r = subprocess.run([sys.executable, "-m", "patrol", "run", "--concurrency", "lots"], capture_output=True, text=True)
    assert r.returncode == 2 and "invalid int value" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "patrol", "run", str(ROOT / "journeys"), "--base-url", "nope"],
                       capture_output=True, text=True, env={"DEMO_PASSWORD": "x", "PATH": "/usr/bin:/bin"})
    assert r.returncode == 2 and "--base-url" in r.stderr and "Traceback" not in r.stderr
