"""The ``python:`` step against the real demo bank in Chromium: a function of the
journey's own reads the page and the back end, stores values later steps use, and
fails like any action (a breakpoint naming the function, the traceback in the
evidence, never on the console)."""

from __future__ import annotations

import os
import shutil
import textwrap
from pathlib import Path

import pytest
from conftest import SECRET

from patrol.cli import main

ROOT = Path(__file__).resolve().parents[1]
FLOWS = ROOT / "journeys" / "flows"

HEAD = """\
name: {name}
base_url: {url}
budgets: {{step: 5s, timeout: 5s}}
detectors: {{blank_screen: false, broken_image: false, forbidden_text: false}}
steps:
"""
SIGN_IN = f"""\
  - include: {FLOWS}/open_login.yaml
    with: {{password: "${{secret:DEMO_PASSWORD}}"}}
  - name: sign in
    click: "#login-submit"
    expect: {{url: /home}}
"""


def journey(folder: Path, name: str, url: str, steps: str, *, sign_in: bool = True) -> Path:
    """A journey in ``folder`` with the shipped example helpers beside it (steps/)."""
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "steps").exists():
        shutil.copytree(ROOT / "journeys" / "steps", folder / "steps")
    path = folder / f"{name}.yaml"
    body = (SIGN_IN if sign_in else "  - goto: /login\n") + textwrap.indent(textwrap.dedent(steps), "  ")
    path.write_text(HEAD.format(name=name, url=url) + body, encoding="utf-8")
    return path


def step(p, journey_name: str, name: str) -> dict:
    return next(s for s in p.journey(journey_name)["steps"] if s["name"] == name)


def test_python_steps_read_the_page_and_the_api_and_later_steps_use_what_they_stored(bank, patrol, tmp_path):
    path = journey(tmp_path, "helpers", bank.url, """\
        - name: open funds
          goto: /funds
        - name: count funds                  # async: awaits the Playwright page
          python: {call: steps.bank_helpers:count_funds, stores: [fund_count]}
        - name: enough funds                 # sync: reads what the step before stored
          python: {call: steps.bank_helpers:at_least, args: {name: fund_count, min: 4}}
        - name: args are filled in           # float("${vars.fund_count}") would raise
          python: {call: steps.bank_helpers:at_least, args: {name: fund_count, min: "${vars.fund_count}"}}
        - name: balance from the api         # sync: blocking HTTP with the page's cookie
          python: {call: steps.bank_helpers:balance_from_api, stores: [api_balance]}
        - name: home shows the api's balance
          goto: /home
          expect:
            number_of: {selector: "#total-assets", equals: "${vars.api_balance}"}
        """)
    p = patrol("run", str(path))
    assert p.code == 0, p.out + p.err
    steps = p.journey("helpers")["steps"]
    assert [s["status"] for s in steps] == ["passed"] * len(steps), [(s["name"], s["findings"]) for s in steps]
    assert step(p, "helpers", "count funds")["screenshot"], "a python step is captured like any action"


def test_a_failing_function_is_a_breakpoint_naming_it_with_the_traceback_in_the_evidence(bank, patrol, tmp_path):
    (tmp_path / "leaky.py").write_text(textwrap.dedent("""\
        import os

        def explode(ctx):
            raise RuntimeError("login as demo with " + os.environ["DEMO_PASSWORD"] + "\\nsecond line")
        """), encoding="utf-8")
    path = journey(tmp_path, "fails", bank.url, """\
        - name: open funds
          goto: /funds
        - name: count funds
          python: steps.bank_helpers:count_funds
        - name: too few funds
          python: {call: steps.bank_helpers:at_least, args: {name: fund_count, min: 99}}
        - name: never reached
          goto: /home
        """)
    p = patrol("run", str(path))
    assert p.code == 1, p.out + p.err
    assert p.findings("fails") == [("too few funds", "breakpoint", "action_failed")]
    [finding] = step(p, "fails", "too few funds")["findings"]
    # The value the step before stored (4 funds on the page) is what the function read.
    assert finding["message"] == ("could not python steps.bank_helpers:at_least: steps.bank_helpers:at_least raised "
                                  "AssertionError: fund_count is 4, expected at least 99"), finding["message"]
    tb = finding["evidence"]["traceback"]
    assert tb.startswith("Traceback") and "bank_helpers.py" in tb and "python_step.py" not in tb, tb
    assert finding["evidence"]["function"] == "steps.bank_helpers:at_least"
    assert step(p, "fails", "never reached")["status"] == "skipped"
    assert "Traceback" not in p.out + p.err

    # A secret in the exception's text is masked in the message and in the traceback.
    path = journey(tmp_path, "leaks", bank.url, "- name: explode\n  python: leaky:explode\n")
    p = patrol("run", str(path))
    [finding] = step(p, "leaks", "explode")["findings"]
    assert "leaky:explode raised RuntimeError: login as demo with *" in finding["message"], finding["message"]
    assert SECRET not in finding["message"] and SECRET not in finding["evidence"]["traceback"]
    assert "second line" not in finding["message"] and "second line" in finding["evidence"]["traceback"]
    for f in p.run_dir.rglob("*"):
        if f.is_file():
            assert SECRET.encode() not in f.read_bytes(), f"the password leaked into {f}"


def test_a_module_that_is_not_there_is_a_breakpoint_saying_where_it_looked(bank, patrol, tmp_path):
    (tmp_path / "odd.py").write_text("VALUE = 1\n\ndef ok(ctx):\n    return 42\n", encoding="utf-8")
    cases = {
        "no-module": ("nowhere.helpers:run", "there is no Python module 'nowhere.helpers' (looked in "),
        "no-function": ("odd:missing", "module odd ("),
        "not-callable": ("odd:VALUE", "odd:VALUE is not a function but int 1"),
        "bad-return": ("odd:ok", "odd:ok returned int 42; return a dict of values to store, or None"),
    }
    paths = [str(journey(tmp_path, name, bank.url, f"- name: call\n  python: {target}\n", sign_in=False))
             for name, (target, _) in cases.items()]
    p = patrol("run", *paths)
    assert p.code == 1, p.out + p.err
    for name, (_target, words) in cases.items():
        [finding] = step(p, name, "call")["findings"]
        assert (finding["kind"], finding["reason"]) == ("breakpoint", "action_failed")
        assert words in finding["message"], (name, finding["message"])
    missing = step(p, "no-module", "call")["findings"][0]["message"]
    assert str(tmp_path) in missing and "installed packages" in missing
    assert "has no function 'missing'" in step(p, "no-function", "call")["findings"][0]["message"]
    assert "Traceback" not in p.out + p.err


def test_a_helper_is_found_beside_the_journey_or_in_the_project_folder_and_reimported_when_edited(bank, patrol, tmp_path):
    """Two folders with a helpers.py of the same name each get their own; an edited
    one is imported again; the current folder (patrol's cwd: tmp_path) is searched too."""
    a, b = tmp_path / "a", tmp_path / "b"
    for folder in (a, b):
        folder.mkdir()
        (folder / "helpers.py").write_text(f"def which(ctx):\n    raise ValueError('{folder.name}')\n", encoding="utf-8")
    (tmp_path / "project_helpers.py").write_text("def which(ctx):\n    raise ValueError('project')\n", encoding="utf-8")
    steps = "- name: call\n  python: helpers:which\n"
    ja = journey(a, "ja", bank.url, steps, sign_in=False)
    jb = journey(b, "jb", bank.url, steps, sign_in=False)
    jp = journey(b, "jp", bank.url, "- name: call\n  python: project_helpers:which\n", sign_in=False)

    def said(path: Path, name: str) -> str:
        p = patrol("run", str(path))
        return step(p, name, "call")["findings"][0]["message"].rpartition(": ")[2]

    assert (said(ja, "ja"), said(jb, "jb"), said(ja, "ja"), said(jp, "jp")) == ("a", "b", "a", "project")
    edited = b / "helpers.py"
    edited.write_text("def which(ctx):\n    raise ValueError('b, edited')\n", encoding="utf-8")
    st = edited.stat()
    os.utime(edited, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))  # a later mtime, whatever the clock's grain
    assert said(jb, "jb") == "b, edited"


def test_a_slow_sync_function_is_cut_off_at_the_step_timeout(bank, patrol, tmp_path):
    (tmp_path / "slow.py").write_text("import time\n\ndef crawl(ctx):\n    time.sleep(3)\n", encoding="utf-8")
    # The Python step alone: a page load under a 1 s timeout could break first on a loaded machine.
    head = HEAD.format(name="slow", url=bank.url).replace("{step: 5s, timeout: 5s}", "{step: 1s, timeout: 1s}")
    path = tmp_path / "slow.yaml"
    path.write_text(head + "  - name: crawl\n    python: slow:crawl\n", encoding="utf-8")
    p = patrol("run", str(path))
    [finding] = step(p, "slow", "crawl")["findings"]
    assert (finding["kind"], finding["reason"]) == ("breakpoint", "action_timeout")
    assert "slow:crawl did not finish within 1.0s" in finding["message"]
    assert step(p, "slow", "crawl")["duration_ms"] < 2500


@pytest.mark.parametrize("value, line, col, words", [
    ("steps.bank_helpers.count_funds", 4, 13, ["expected package.module:function", "a colon goes before the function"]),
    ("'steps.bank_helpers:'", 4, 13, ["expected package.module:function (e.g. steps.bank_helpers:count_funds)"]),
    ("'1steps:run'", 4, 13, ["expected package.module:function"]),
    ("steps.class:run", 4, 13, ["'class' is a Python keyword"]),
    ("{call: 'a:b', arg: {x: 1}}", 4, 27, ["unknown key 'arg'", "did you mean 'args'"]),
    ("{args: {x: 1}}", 4, 13, ["missing required key 'call'"]),
    ("{call: 'a:b', args: [1]}", 4, 33, ["expected a mapping of names to values, got a list"]),
    ("{call: 'a:b', stores: [ok, 'no-dash']}", 4, 40, ["'no-dash' cannot be a value's name"]),
    ("{call: 'a b:c'}", 4, 20, ["expected package.module:function"]),
])
def test_a_bad_python_step_is_a_positioned_validate_error(tmp_path, capsys, value, line, col, words):
    f = tmp_path / "j.yaml"
    f.write_text(f"name: t\nbase_url: http://127.0.0.1:1\nsteps:\n  - python: {value}\n", encoding="utf-8")
    assert main(["validate", str(f)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    found = next((ln for ln in err.splitlines() if ln.startswith(f"{f}:{line}:{col}:")), None)
    assert found is not None, err
    for w in words:
        assert w in found, found


def test_validate_never_imports_the_function_and_knows_what_it_stores(tmp_path, capsys):
    (tmp_path / "boom.py").write_text("raise SystemExit('imported at validate time')\n", encoding="utf-8")
    f = tmp_path / "j.yaml"
    f.write_text("name: t\nbase_url: http://127.0.0.1:1\nsteps:\n"
                 "  - python: {call: 'boom:go', stores: [total]}\n"
                 "  - fill: {selector: '#amount', text: '${vars.total}'}\n", encoding="utf-8")
    assert main(["validate", str(f)]) == 0, capsys.readouterr().err
    assert "boom" not in __import__("sys").modules
